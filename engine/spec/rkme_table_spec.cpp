#include "engine/spec/rkme_table_spec.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "kernels/error.h"

namespace lwd {
namespace {

using nlohmann::json;

// The reference package's alias for the same specification, still found in
// older market entries.
constexpr std::string_view kLegacyTypeName = "RKMEStatSpecification";

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(std::string(source) + ": " + what);
}

std::string field_ref(std::string_view field) { return "field \"" + std::string(field) + "\""; }

std::string number_text(double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

void validate_parts(const kernels::Matrix<double>& z, const std::vector<double>& beta, double gamma,
                    std::int64_t num_points, std::string_view source) {
  if (z.rows() < 1) fail(source, field_ref("z") + " is empty (an RKME needs at least one point)");
  if (z.cols() < 1) fail(source, field_ref("z") + " has rows of width 0");
  if (static_cast<std::int64_t>(beta.size()) != z.rows())
    fail(source, field_ref("beta") + " has " + std::to_string(beta.size()) + " entries but \"z\" has " +
                     std::to_string(z.rows()) + " rows");
  for (std::int64_t i = 0; i < z.rows(); ++i)
    for (std::int64_t j = 0; j < z.cols(); ++j)
      if (!std::isfinite(z(i, j)))
        fail(source, field_ref("z") + ": z[" + std::to_string(i) + "][" + std::to_string(j) +
                         "] is a non-finite number (" + number_text(z(i, j)) + ")");
  for (std::size_t i = 0; i < beta.size(); ++i)
    if (!std::isfinite(beta[i]))
      fail(source, field_ref("beta") + ": beta[" + std::to_string(i) + "] is a non-finite number (" +
                       number_text(beta[i]) + ")");
  if (!(std::isfinite(gamma) && gamma > 0))
    fail(source, field_ref("gamma") + " must be a finite number > 0 (got " + number_text(gamma) + ")");
  if (num_points < 1)
    fail(source, field_ref("num_points") + " must be an integer >= 1 (got " + std::to_string(num_points) + ")");
}

const json& require_field(const json& in, std::string_view field, std::string_view source) {
  const auto it = in.find(std::string(field));
  if (it == in.end()) fail(source, "missing " + field_ref(field));
  return *it;
}

double read_number(const json& v, const std::string& what, std::string_view source) {
  if (!v.is_number()) fail(source, what + " must be a number, got " + v.type_name());
  const double x = v.get<double>();
  // nlohmann reads overflowing literals such as 1e999 as infinity.
  if (!std::isfinite(x)) fail(source, what + " is a non-finite number (" + number_text(x) + ")");
  return x;
}

std::int64_t read_count(const json& v, std::string_view source) {
  const std::string what = field_ref("num_points");
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) fail(source, what + " is too large");
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    // The reference writes an int; a float is accepted only when it is one.
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::abs(x) < 9007199254740992.0) return static_cast<std::int64_t>(x);
    fail(source, what + " must be an integer >= 1 (got " + number_text(x) + ")");
  }
  fail(source, what + " must be an integer >= 1, got " + v.type_name());
}

kernels::Matrix<double> read_z(const json& v, std::string_view source) {
  const std::string what = field_ref("z");
  if (!v.is_array()) fail(source, what + " must be an array of rows, got " + v.type_name());
  if (v.empty()) fail(source, what + " is empty (an RKME needs at least one point)");
  const std::size_t rows = v.size();
  std::size_t cols = 0;
  std::vector<double> values;
  for (std::size_t i = 0; i < rows; ++i) {
    const json& row = v[i];
    const std::string at = "z[" + std::to_string(i) + "]";
    if (!row.is_array()) fail(source, what + ": " + at + " must be an array of numbers, got " + row.type_name());
    if (row.empty()) fail(source, what + ": " + at + " is empty");
    if (i == 0) {
      cols = row.size();
      values.reserve(rows * cols);
    } else if (row.size() != cols) {
      fail(source, what + " has ragged rows: " + at + " has " + std::to_string(row.size()) + " entries but z[0] has " +
                       std::to_string(cols));
    }
    for (std::size_t j = 0; j < cols; ++j)
      values.push_back(read_number(row[j], what + ": " + at + "[" + std::to_string(j) + "]", source));
  }
  return kernels::Matrix<double>(static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols), std::move(values));
}

std::vector<double> read_beta(const json& v, std::string_view source) {
  const std::string what = field_ref("beta");
  if (!v.is_array()) fail(source, what + " must be an array of numbers, got " + v.type_name());
  std::vector<double> beta;
  beta.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    beta.push_back(read_number(v[i], what + ": beta[" + std::to_string(i) + "]", source));
  return beta;
}

// Python's json module writes NaN and +-Infinity as bare tokens, which no JSON
// parser accepts, and nlohmann refuses literals such as 1e999 that overflow a
// double. When parsing fails we look for such a token, so the user learns what
// is wrong with the spec instead of reading a bare syntax error.
struct NonFiniteToken {
  std::string token;
  std::string field;  // top-level key it belongs to, empty if unknown
  std::size_t line = 1;
  std::size_t column = 1;
  bool overflow = false;  // a numeric literal too large for a double
};

bool is_bare_token_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}

std::optional<NonFiniteToken> find_non_finite_token(std::string_view text) {
  std::size_t line = 1;
  std::size_t line_start = 0;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  std::size_t string_start = 0;
  std::string last_string;
  int last_string_depth = -1;
  std::string current_key;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        last_string = std::string(text.substr(string_start, i - string_start));
        last_string_depth = depth;
      }
    } else if (c == '"') {
      in_string = true;
      string_start = i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ':' && depth == 1 && last_string_depth == 1) {
      current_key = last_string;
    } else if (is_bare_token_char(c)) {
      std::size_t end = i;
      while (end < text.size() && is_bare_token_char(text[end])) ++end;
      const std::string token(text.substr(i, end - i));
      std::string_view magnitude = token;
      if (!magnitude.empty() && (magnitude.front() == '-' || magnitude.front() == '+')) magnitude.remove_prefix(1);
      const bool python_token = magnitude == "NaN" || magnitude == "Infinity";
      const bool numeric =
          !magnitude.empty() && ((magnitude.front() >= '0' && magnitude.front() <= '9') || magnitude.front() == '.');
      if (python_token || (numeric && std::isinf(std::strtod(token.c_str(), nullptr))))
        return NonFiniteToken{token, current_key, line, i - line_start + 1, !python_token};
      i = end - 1;
      continue;
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::nullopt;
}

template <class Json>
void fill_json(const RKMETableSpec& spec, Json& out) {
  if (spec.empty()) throw Error("cannot serialise an empty RKMETableSpec");
  Json rows = json_rows<Json>(spec.z());
  // Key order of the reference's json.dump(self.__dict__).
  out = Json::object();
  out["z"] = std::move(rows);
  out["beta"] = spec.beta();
  out["gamma"] = spec.gamma();
  out["num_points"] = spec.num_points();
  out["cuda_idx"] = -1;
  out["device"] = "cpu";
  out["type"] = RKMETableSpec::kTypeName;
}

}  // namespace

RKMETableSpec::RKMETableSpec(kernels::Matrix<double> z, std::vector<double> beta, double gamma, std::int64_t num_points)
    : z_(std::move(z)), beta_(std::move(beta)), gamma_(gamma), num_points_(num_points) {
  validate_parts(z_, beta_, gamma_, num_points_, "RKMETableSpec");
}

RKMETableSpec RKMETableSpec::generate(const kernels::Context& ctx, kernels::Matrix<double> x,
                                      const kernels::RkmeOptions& options) {
  if (x.rows() < 1 || x.cols() < 1)
    throw Error("cannot build an RKME of an empty table (" + std::to_string(x.rows()) + " rows x " +
                std::to_string(x.cols()) + " columns)");
  if (options.k < 1) throw Error("RKME size k must be >= 1 (got " + std::to_string(options.k) + ")");
  if (!(std::isfinite(options.gamma) && options.gamma > 0))
    throw Error("gamma must be a finite number > 0 (got " + number_text(options.gamma) + ")");
  if (options.steps < 0) throw Error("steps must be >= 0 (got " + std::to_string(options.steps) + ")");
  if (!(std::isfinite(options.step_size) && options.step_size >= 0))
    throw Error("step size must be a finite number >= 0 (got " + number_text(options.step_size) + ")");

  const std::int64_t n = x.rows();
  try {
    kernels::impute_non_finite_columns(x.view());
    kernels::Rkme rkme = kernels::build_rkme(ctx, x.cview(), options);
    return RKMETableSpec(std::move(rkme.z), std::move(rkme.beta), options.gamma, n);
  } catch (const kernels::KernelError& e) {
    throw Error(e.what());
  }
}

double RKMETableSpec::inner_product(const RKMETableSpec& other, const kernels::Context& ctx) const {
  if (empty() || other.empty()) throw Error("inner product of an empty RKMETableSpec");
  if (dim() != other.dim())
    throw Error("RKME specs have different widths (d=" + std::to_string(dim()) +
                " vs d=" + std::to_string(other.dim()) + ")");
  try {
    return kernels::rkme_inner_product(ctx, z_.cview(), beta_, other.z_.cview(), other.beta_, gamma_);
  } catch (const kernels::KernelError& e) {
    throw Error(e.what());
  }
}

double RKMETableSpec::dist(const RKMETableSpec& other, const kernels::Context& ctx) const {
  if (empty() || other.empty()) throw Error("distance to an empty RKMETableSpec");
  if (dim() != other.dim())
    throw Error("RKME specs have different widths (d=" + std::to_string(dim()) +
                " vs d=" + std::to_string(other.dim()) + ")");
  try {
    return kernels::rkme_mmd2(ctx, z_.cview(), beta_, other.z_.cview(), other.beta_, gamma_);
  } catch (const kernels::KernelError& e) {
    throw Error(e.what());
  }
}

kernels::Matrix<double> RKMETableSpec::herding(std::int64_t n, const kernels::Context& ctx) const {
  if (empty()) throw Error("herding from an empty RKMETableSpec");
  if (n < 1) throw Error("number of herded samples must be >= 1 (got " + std::to_string(n) + ")");
  try {
    return kernels::rkme_herding(ctx, z_.cview(), beta_, gamma_, n);
  } catch (const kernels::KernelError& e) {
    throw Error(e.what());
  }
}

std::string RKMETableSpec::to_json_text() const {
  return io::ordered_json_text([&](nlohmann::ordered_json& out) { fill_json(*this, out); });
}

void RKMETableSpec::to_json(json& out) const { fill_json(*this, out); }

RKMETableSpec RKMETableSpec::parse(std::string_view json_text, std::string_view source, const io::JsonLimits& limits) {
  const auto explain = [&](std::string_view text) {
    if (const auto bad = find_non_finite_token(text)) {
      const std::string where = bad->field.empty() ? std::string() : " in " + field_ref(io::excerpt(bad->field));
      const std::string kind =
          bad->overflow ? "non-finite number (overflows a double) " : "non-finite number (NaN/Infinity) ";
      fail(source, kind + io::excerpt(bad->token) + where + " at line " + std::to_string(bad->line) + ", column " +
                       std::to_string(bad->column) + "; a spec must hold finite numbers only");
    }
  };
  return from_json(io::parse_json(json_text, source, limits, explain), source);
}

RKMETableSpec RKMETableSpec::from_json(const json& in, std::string_view source) {
  if (!in.is_object()) fail(source, std::string("expected a JSON object, got ") + in.type_name());

  const json& type = require_field(in, "type", source);
  if (!type.is_string()) fail(source, field_ref("type") + " must be a string, got " + type.type_name());
  const auto& type_name = type.get_ref<const std::string&>();
  if (type_name != kTypeName && type_name != kLegacyTypeName)
    fail(source, field_ref("type") + " is \"" + io::excerpt(type_name) + "\", expected \"" + std::string(kTypeName) + "\"");

  const double gamma = read_number(require_field(in, "gamma", source), field_ref("gamma"), source);
  const std::int64_t num_points = read_count(require_field(in, "num_points", source), source);
  kernels::Matrix<double> z = read_z(require_field(in, "z", source), source);
  std::vector<double> beta = read_beta(require_field(in, "beta", source), source);

  validate_parts(z, beta, gamma, num_points, source);
  return RKMETableSpec(std::move(z), std::move(beta), gamma, num_points);
}

void RKMETableSpec::save(const std::filesystem::path& path) const {
  io::write_text_file_atomically(path, to_json_text());
}

RKMETableSpec RKMETableSpec::load(const std::filesystem::path& path) {
  return parse(io::read_text_file(path), path.string());
}

}  // namespace lwd
