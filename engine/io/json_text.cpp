#include "engine/io/json_text.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>

namespace lwd::io {

namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 if none.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
  if (n == 0 || c > 0xf4 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The lead byte fixes the length and the range of the second byte.
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;
    }
    if (i + n > text.size()) return false;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < lo || second > hi) return false;
    for (std::size_t k = 2; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

std::string excerpt(std::string_view text, std::size_t max_chars) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  for (std::size_t shown = 0; i < text.size() && shown < max_chars; ++shown) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = c >= 0x80 ? utf8_sequence(text, i) : 0; n > 0) {
      out.append(text.substr(i, n));  // one character of valid UTF-8, kept as it is
      i += n;
    } else {
      // Control characters and bytes that are not UTF-8: visible, and never a
      // line break or a terminal escape in the message.
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
      ++i;
    }
  }
  if (i < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string json_error_text(const std::exception& e) {
  std::string message = e.what();
  if (!message.empty() && message.front() == '[') {
    if (const auto close = message.find("] "); close != std::string::npos) message.erase(0, close + 2);
  }
  // nlohmann quotes the token it was reading: "...; last read: '<token>'" (parse
  // errors) or "number overflow parsing '<token>'"; the token can be megabytes.
  for (const std::string_view marker : {std::string_view("last read: '"), std::string_view("parsing '")}) {
    const auto at = message.find(marker);
    if (at == std::string::npos) continue;
    const auto start = at + marker.size();
    const auto end = message.rfind('\'');
    if (end == std::string::npos || end < start) continue;
    message = message.substr(0, start) + excerpt(std::string_view(message).substr(start, end - start)) +
              message.substr(end);
  }
  // The rest is the library's own wording; a cap keeps it one short line whatever it says.
  constexpr std::size_t kMaxMessage = 6 * kExcerptChars;
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + "...";
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  return message;
}

nlohmann::json parse_json(std::string_view text, std::string_view source, const JsonLimits& limits) {
  using json = nlohmann::json;
  std::uint64_t values = 0;
  // The callback sees every value before it enters the DOM, so throwing here
  // stops the parse while the DOM is still within the limits.
  const json::parser_callback_t count = [&](int depth, json::parse_event_t event, json&) {
    if (event == json::parse_event_t::key || event == json::parse_event_t::object_end ||
        event == json::parse_event_t::array_end)
      return true;
    if (depth > limits.max_depth) {
      throw Error(std::string(source) + ": JSON nested more than " + std::to_string(limits.max_depth) +
                  " levels deep; refused");
    }
    if (++values > limits.max_values) {
      throw Error(std::string(source) + ": JSON holds more than " + std::to_string(limits.max_values) +
                  " values; refused");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), count);
  } catch (const json::exception& e) {
    throw JsonSyntaxError(std::string(source) + ": invalid JSON: " + json_error_text(e));
  }
}

nlohmann::json parse_json(std::string_view text, std::string_view source, const JsonLimits& limits,
                          const std::function<void(std::string_view text)>& explain) {
  try {
    return parse_json(text, source, limits);
  } catch (const JsonSyntaxError&) {
    explain(text);
    throw;
  }
}

std::string read_text_file_limited(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what) {
  const auto too_big = [&](const std::string& size) {
    return Error(path.string() + ": is " + size + " bytes, more than the limit of " + std::to_string(max_bytes) +
                 " bytes for " + std::string(what) + "; refused");
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw too_big(std::to_string(st.st_size));
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw Error(path.string() + ": cannot read: it is a directory");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(path.string() + ": cannot open: " + std::generic_category().message(errno));
  // Read at most one byte past the limit: a file that grew since the check, or
  // a device or pipe, is cut off there instead of being read to the end.
  std::string content;
  char chunk[1 << 16];
  std::size_t n = 0;
  while (content.size() <= max_bytes && (n = std::fread(chunk, 1, sizeof chunk, f)) > 0) content.append(chunk, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw Error(path.string() + ": read failed: " + std::generic_category().message(err));
  if (content.size() > max_bytes) {
    throw Error(path.string() + ": holds more than the limit of " + std::to_string(max_bytes) + " bytes for " +
                std::string(what) + "; refused");
  }
  return content;
}

}  // namespace lwd::io
