#include "datasets/fetched/brown_corpus.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string_view>

#include "engine/error.h"

namespace lwd::datasets {

namespace {

bool is_plain_file_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::ifstream open_or_throw(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open");
  return in;
}

}  // namespace

std::string BrownDocument::text() const {
  std::string out;
  for (std::size_t s = 0; s < sentence_starts.size(); ++s) {
    const auto begin = static_cast<std::size_t>(sentence_starts[s]);
    const std::size_t end = s + 1 < sentence_starts.size() ? static_cast<std::size_t>(sentence_starts[s + 1]) : words.size();
    for (std::size_t w = begin; w < end; ++w) {
      if (w > begin) out += ' ';
      out += words[w];
    }
    out += '\n';
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_brown_categories(const std::filesystem::path& cats_file) {
  std::ifstream in = open_or_throw(cats_file);
  std::vector<std::pair<std::string, std::string>> entries;
  std::set<std::string> seen;
  std::string line;
  for (std::int64_t line_no = 1; std::getline(in, line); ++line_no) {
    std::vector<std::string_view> fields;
    std::string_view rest = line;
    while (!rest.empty()) {
      while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      std::size_t n = 0;
      while (n < rest.size() && !is_space(rest[n])) ++n;
      if (n > 0) fields.push_back(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    if (fields.empty()) continue;
    const std::string where = cats_file.string() + ":" + std::to_string(line_no) + ": ";
    if (fields.size() != 2) throw Error(where + "expected 'file_id category', got '" + line + "'");
    if (!is_plain_file_id(fields[0])) {
      throw Error(where + "file id '" + std::string(fields[0]) + "' is not a plain name ([a-z0-9_-])");
    }
    if (!seen.insert(std::string(fields[0])).second) throw Error(where + "file id '" + std::string(fields[0]) + "' listed twice");
    entries.emplace_back(std::string(fields[0]), std::string(fields[1]));
  }
  if (in.bad()) throw Error(cats_file.string() + ": read error");
  if (entries.empty()) throw Error(cats_file.string() + ": no 'file_id category' lines");
  return entries;
}

BrownDocument read_brown_document(const std::filesystem::path& file, std::string id, std::string category) {
  std::ifstream in = open_or_throw(file);
  BrownDocument doc;
  doc.id = std::move(id);
  doc.category = std::move(category);
  std::string line;
  for (std::int64_t line_no = 1; std::getline(in, line); ++line_no) {
    std::string_view rest = line;
    bool sentence_open = false;
    while (!rest.empty()) {
      while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
      std::size_t n = 0;
      while (n < rest.size() && !is_space(rest[n])) ++n;
      if (n == 0) break;
      const std::string_view token = rest.substr(0, n);
      rest.remove_prefix(n);
      const auto where = [&] { return file.string() + ":" + std::to_string(line_no) + ": "; };
      for (char c : token) {
        if (static_cast<unsigned char>(c) < 0x20) throw Error(where() + "control byte in token (not a text file?)");
      }
      const std::size_t slash = token.rfind('/');
      if (slash == std::string_view::npos || slash == 0 || slash + 1 == token.size()) {
        throw Error(where() + "token '" + std::string(token.substr(0, 80)) + "' is not word/tag");
      }
      if (!sentence_open) {
        doc.sentence_starts.push_back(static_cast<std::int64_t>(doc.words.size()));
        sentence_open = true;
      }
      doc.words.emplace_back(token.substr(0, slash));
      doc.tags.emplace_back(token.substr(slash + 1));
    }
  }
  if (in.bad()) throw Error(file.string() + ": read error");
  if (doc.words.empty()) throw Error(file.string() + ": no word/tag tokens (empty or truncated document)");
  return doc;
}

BrownCorpus load_brown_corpus(const std::filesystem::path& package_dir) {
  const auto entries = read_brown_categories(package_dir / "cats.txt");
  BrownCorpus corpus;
  std::set<std::string> categories;
  for (const auto& [id, category] : entries) categories.insert(category);
  corpus.categories.assign(categories.begin(), categories.end());
  corpus.documents.reserve(entries.size());
  for (const auto& [id, category] : entries) {
    const std::filesystem::path file = package_dir / id;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      throw Error(file.string() + ": missing (listed in " + (package_dir / "cats.txt").string() + ")");
    }
    BrownDocument doc = read_brown_document(file, id, category);
    doc.category_index = static_cast<int>(
        std::lower_bound(corpus.categories.begin(), corpus.categories.end(), category) - corpus.categories.begin());
    corpus.documents.push_back(std::move(doc));
  }
  return corpus;
}

}  // namespace lwd::datasets
