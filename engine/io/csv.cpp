#include "engine/io/csv.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace lwd::io {
namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Spellings of a missing value written by pandas, R and spreadsheets, besides
// the nan/inf forms that from_chars already understands.
bool is_missing_token(std::string_view s) {
  static constexpr std::array<std::string_view, 9> kTokens = {"NA",   "N/A",  "n/a",  "NULL", "null",
                                                              "None", "#N/A", "<NA>", "#NA"};
  for (std::string_view t : kTokens)
    if (s == t) return true;
  return false;
}

enum class FieldKind { number, text };

// Parses one trimmed field. Empty fields and missing-value tokens read as NaN;
// nan/inf spellings keep their value (the RKME builder imputes both).
FieldKind parse_field(std::string_view f, double& out) {
  if (f.empty() || is_missing_token(f)) {
    out = kMissing;
    return FieldKind::number;
  }
  std::string_view digits = f;
  if (digits.front() == '+') {
    digits.remove_prefix(1);
    if (digits.empty() || digits.front() == '+' || digits.front() == '-') return FieldKind::text;
  }
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, out, std::chars_format::general);
  if (ptr != end) return FieldKind::text;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves the value untouched on overflow/underflow; strtod gives
    // the IEEE answer (+-inf, or the nearest subnormal/zero).
    const std::string copy(digits);
    out = std::strtod(copy.c_str(), nullptr);
    return FieldKind::number;
  }
  return ec == std::errc() ? FieldKind::number : FieldKind::text;
}

std::string shorten(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

class CsvParser {
 public:
  CsvParser(std::string_view text, std::string_view source) : text_(text), source_(source) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // UTF-8 BOM from spreadsheet exports
  }

  NumericTable parse() {
    NumericTable table;
    std::vector<double> values;
    std::int64_t cols = -1;
    std::int64_t first_row_line = 0;  // line that fixed the column count
    bool has_header = false;

    std::string_view line;
    while (next_line(line)) {
      if (trim(line).empty()) continue;  // blank lines are skipped, as pandas does
      split(line);

      if (cols < 0) {
        cols = static_cast<std::int64_t>(fields_.size());
        first_row_line = line_no_;
        // A header is a first row with any field that is not a number; a row
        // of numbers and missing values is data.
        double scratch = 0;
        for (std::string_view f : fields_)
          if (parse_field(f, scratch) == FieldKind::text) has_header = true;
        if (has_header) {
          table.column_names.reserve(fields_.size());
          for (std::string_view f : fields_) table.column_names.emplace_back(f);
          continue;
        }
      }

      if (values.empty()) reserve_for(values, line, cols);
      if (static_cast<std::int64_t>(fields_.size()) != cols) {
        fail_at_line("row has " + std::to_string(fields_.size()) + " fields but " +
                     (has_header ? "the header" : "the first row") + " (line " + std::to_string(first_row_line) +
                     ") has " + std::to_string(cols));
      }
      for (std::size_t j = 0; j < fields_.size(); ++j) {
        double v = 0;
        if (parse_field(fields_[j], v) == FieldKind::text) {
          std::string where = "column " + std::to_string(j + 1);
          if (has_header) where += " (\"" + shorten(table.column_names[j]) + "\")";
          fail_at_line(where + ": \"" + shorten(fields_[j]) + "\" is not a number");
        }
        values.push_back(v);
      }
    }

    if (cols < 0) throw Error(std::string(source_) + ": no data rows (the file is empty)");
    const std::int64_t rows = static_cast<std::int64_t>(values.size()) / cols;
    if (rows == 0) throw Error(std::string(source_) + ": no data rows (only a header)");
    table.values = kernels::Matrix<double>(rows, cols, std::move(values));
    return table;
  }

 private:
  // Sizes the value buffer from the first data row's length, so a large file is
  // not copied through repeated growth; never more than the text could hold.
  void reserve_for(std::vector<double>& values, std::string_view first_row, std::int64_t cols) const {
    const std::size_t rows_estimate = text_.size() / (first_row.size() + 1) + 1;
    const std::size_t max_fields = text_.size() / 2 + 1;
    values.reserve(std::min(rows_estimate * static_cast<std::size_t>(cols) * 11 / 10, max_fields));
  }

  bool next_line(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    const char* start = text_.data() + pos_;
    const void* nl = std::memchr(start, '\n', text_.size() - pos_);
    const std::size_t len = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) : text_.size() - pos_;
    line = std::string_view(start, len);
    pos_ += len + 1;
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return true;
  }

  void split(std::string_view line) {
    fields_.clear();
    if (line.find('"') != std::string_view::npos) {
      split_quoted(line);
      return;
    }
    std::size_t begin = 0;
    while (true) {
      const std::size_t comma = line.find(',', begin);
      if (comma == std::string_view::npos) {
        fields_.push_back(trim(line.substr(begin)));
        return;
      }
      fields_.push_back(trim(line.substr(begin, comma - begin)));
      begin = comma + 1;
    }
  }

  // RFC 4180 quoting within one line ("" is an escaped quote). Rare in numeric
  // data, so it may allocate; the plain path above does not.
  void split_quoted(std::string_view line) {
    quoted_.clear();
    std::size_t i = 0;
    while (true) {
      while (i < line.size() && is_space(line[i])) ++i;
      std::string field;
      if (i < line.size() && line[i] == '"') {
        ++i;
        bool closed = false;
        while (i < line.size()) {
          if (line[i] == '"') {
            if (i + 1 < line.size() && line[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            closed = true;
            ++i;
            break;
          }
          field += line[i++];
        }
        if (!closed)
          fail_at_line("column " + std::to_string(quoted_.size() + 1) +
                       ": unterminated quoted field (fields spanning lines are not supported)");
        while (i < line.size() && is_space(line[i])) ++i;
        if (i < line.size() && line[i] != ',')
          fail_at_line("column " + std::to_string(quoted_.size() + 1) + ": unexpected text after a closing quote");
      } else {
        const std::size_t comma = line.find(',', i);
        const std::size_t end = comma == std::string_view::npos ? line.size() : comma;
        field = std::string(trim(line.substr(i, end - i)));
        i = end;
      }
      quoted_.push_back(std::move(field));
      if (i >= line.size()) break;
      ++i;  // the comma
      if (i == line.size()) {
        quoted_.emplace_back();  // trailing comma: one more, empty field
        break;
      }
    }
    for (const std::string& f : quoted_) fields_.push_back(f);
  }

  [[noreturn]] void fail_at_line(const std::string& what) const {
    throw Error(std::string(source_) + ":" + std::to_string(line_no_) + ": " + what);
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
  std::int64_t line_no_ = 0;
  std::vector<std::string_view> fields_;
  std::vector<std::string> quoted_;
};

bool needs_quoting(std::string_view name) {
  if (name.empty()) return false;
  if (is_space(name.front()) || is_space(name.back())) return true;
  return name.find_first_of(",\"") != std::string_view::npos;
}

void write_name(std::string& out, std::string_view name) {
  if (!needs_quoting(name)) {
    out += name;
    return;
  }
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

NumericTable parse_numeric_csv(std::istream& in, std::string_view source_name) {
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(std::string(source_name) + ": read failed");
  const std::string text = std::move(buffer).str();
  return CsvParser(text, source_name).parse();
}

NumericTable read_numeric_csv(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  return CsvParser(text, path.string()).parse();
}

void write_numeric_csv(const std::filesystem::path& path, const kernels::Matrix<double>& values,
                       const std::vector<std::string>& column_names) {
  if (!column_names.empty() && static_cast<std::int64_t>(column_names.size()) != values.cols())
    throw Error(path.string() + ": " + std::to_string(column_names.size()) + " column names for " +
                std::to_string(values.cols()) + " columns");
  for (const std::string& name : column_names)
    if (name.find_first_of("\r\n") != std::string::npos)
      throw Error(path.string() + ": column name \"" + shorten(name) + "\" contains a line break");

  write_file_atomically(path, [&](std::ostream& out) {
    std::string row;
    if (!column_names.empty()) {
      for (std::size_t j = 0; j < column_names.size(); ++j) {
        if (j > 0) row += ',';
        write_name(row, column_names[j]);
      }
      row += '\n';
      out << row;
    }
    // %.17g: enough digits that every double reads back bit for bit.
    char buf[32];
    for (std::int64_t i = 0; i < values.rows(); ++i) {
      row.clear();
      const double* r = values.row(i);
      for (std::int64_t j = 0; j < values.cols(); ++j) {
        if (j > 0) row += ',';
        const auto res = std::to_chars(buf, buf + sizeof buf, r[j], std::chars_format::general, 17);
        row.append(buf, res.ptr);
      }
      row += '\n';
      out.write(row.data(), static_cast<std::streamsize>(row.size()));
    }
  });
}

}  // namespace lwd::io
