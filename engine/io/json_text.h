// Reading JSON (and any text quoted back to the user) from hostile input: a
// bounded parse, and error messages that stay one short line.
//
// nlohmann's DOM costs tens of bytes per value, and its parse errors quote the
// whole token read so far ("last read: '...'"), which for a 10 MB string is
// 10 MB of message. parse_json() refuses a document that nests deeper or holds
// more values than the limits as soon as the parser reaches that point (the
// DOM never grows past them), and every message it throws names the source,
// the line and column, and quotes at most a few dozen characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "engine/error.h"

namespace lwd::io {

// Characters of user input an error message quotes at most.
inline constexpr std::size_t kExcerptChars = 40;

// `text` as it may appear in a one-line message: control characters and
// quotes escaped, cut after `max_chars` (then "..." and the total length).
std::string excerpt(std::string_view text, std::size_t max_chars = kExcerptChars);

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), which is what text written back out as
// YAML or JSON must be to read back the same.
bool is_valid_utf8(std::string_view text);

// A nlohmann exception's message without its "[json.exception...] " tag and
// with the quoted input (the "last read: '...'" part) cut to an excerpt.
std::string json_error_text(const std::exception& e);

struct JsonLimits {
  std::uint64_t max_values = std::uint64_t{1} << 24;  // values of any type: numbers, strings, arrays, objects
  int max_depth = 64;                                 // nesting of arrays and objects
};

// A document whose syntax is wrong (as opposed to one beyond the limits).
class JsonSyntaxError : public Error {
 public:
  using Error::Error;
};

// Parses `text`. Throws JsonSyntaxError ("SOURCE: invalid JSON: ...") for a
// syntax error and lwd::Error for a document beyond `limits`, both naming
// `source`; memory stays bounded by the limits whatever the input.
nlohmann::json parse_json(std::string_view text, std::string_view source, const JsonLimits& limits = {});
// The same for a reader that can explain a syntax error better than the JSON
// library (a NaN token, a number that overflows a double): on one, `explain`
// gets the text first and throws its own error, or returns to let the
// library's JsonSyntaxError stand.
nlohmann::json parse_json(std::string_view text, std::string_view source, const JsonLimits& limits,
                          const std::function<void(std::string_view text)>& explain);

// The compact text of the JSON object fill(out) writes, keys in the order written.
template <class Fill, class Json = nlohmann::ordered_json>
std::string ordered_json_text(Fill fill) {
  Json out;
  fill(out);
  return out.dump();
}

// The whole file, refusing one larger than `max_bytes` before reading it
// ("PATH: is N bytes, more than the limit of M bytes for WHAT").
std::string read_text_file_limited(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what);

}  // namespace lwd::io
