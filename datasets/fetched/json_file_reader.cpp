#include "datasets/fetched/json_file_reader.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "engine/error.h"

namespace lwd::datasets {

namespace {

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", u);
    return std::string("byte ") + hex;
  }
  return std::string("'") + c + "'";
}

// 'text', built by appending: GCC 12 misreports "'" + std::string(...) under -Wrestrict.
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

bool is_number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// JSON's grammar is stricter than from_chars: no leading '+', no leading zeros,
// digits on both sides of '.'. Checking it keeps "1." or "+1" from passing.
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  } else {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == digits) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == digits) return false;
  }
  return i == s.size();
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

JsonFileReader::JsonFileReader(const std::filesystem::path& file, std::size_t buffer_bytes)
    : path_(file), file_(std::fopen(file.c_str(), "rb"), &std::fclose), buffer_(std::max<std::size_t>(buffer_bytes, 64)) {
  if (!file_) throw Error(file.string() + ": cannot open: " + std::strerror(errno));
}

void JsonFileReader::fail(std::string_view message) const {
  throw Error(path_.string() + ": line " + std::to_string(line_) + ", byte " + std::to_string(offset()) + ": " +
              std::string(message));
}

bool JsonFileReader::refill() {
  consumed_before_buffer_ += end_;
  pos_ = 0;
  end_ = std::fread(buffer_.data(), 1, buffer_.size(), file_.get());
  if (end_ == 0 && std::ferror(file_.get())) fail("read error");
  return end_ > 0;
}

char JsonFileReader::get_raw(std::string_view context) {
  if (pos_ == end_ && !refill()) fail("unexpected end of file " + std::string(context));
  return buffer_[pos_++];
}

void JsonFileReader::skip_whitespace() {
  for (;;) {
    if (pos_ == end_ && !refill()) return;
    const char c = buffer_[pos_];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++pos_;
    } else if (c == '\n') {
      ++pos_;
      ++line_;
    } else {
      return;
    }
  }
}

char JsonFileReader::peek() {
  skip_whitespace();
  return pos_ == end_ ? '\0' : buffer_[pos_];
}

std::string JsonFileReader::describe_next() {
  skip_whitespace();
  return pos_ == end_ ? std::string("end of file") : describe_char(buffer_[pos_]);
}

void JsonFileReader::expect(char c, std::string_view context) {
  if (peek() != c || pos_ == end_) {
    fail("expected '" + std::string(1, c) + "' " + std::string(context) + ", found " + describe_next());
  }
  ++pos_;
}

bool JsonFileReader::consume_if(char c) {
  if (peek() != c || pos_ == end_) return false;
  ++pos_;
  return true;
}

bool JsonFileReader::next_element(char close, std::string_view context) {
  const char next = peek();
  if (pos_ == end_) fail("unexpected end of file " + std::string(context));
  if (next == ',') {
    ++pos_;
    return true;
  }
  if (next == close) {
    ++pos_;
    return false;
  }
  fail("expected ',' or '" + std::string(1, close) + "' " + std::string(context) + ", found " + describe_next());
}

std::uint32_t JsonFileReader::read_hex4(std::string_view context) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = get_raw(context);
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
    else fail("bad \\u escape " + std::string(context) + ": " + describe_char(c) + " is not a hex digit");
  }
  return v;
}

std::string JsonFileReader::read_string(std::string_view context, std::size_t max_bytes) {
  expect('"', context);
  std::string out;
  for (;;) {
    const char c = get_raw(context);
    if (c == '"') return out;
    if (static_cast<unsigned char>(c) < 0x20) fail("control " + describe_char(c) + " inside a string " + std::string(context));
    if (c == '\\') {
      const char e = get_raw(context);
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = read_hex4(context);
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
            if (get_raw(context) != '\\' || get_raw(context) != 'u') fail("unpaired UTF-16 surrogate " + std::string(context));
            const std::uint32_t low = read_hex4(context);
            if (low < 0xDC00 || low > 0xDFFF) fail("unpaired UTF-16 surrogate " + std::string(context));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired UTF-16 surrogate " + std::string(context));
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail("invalid escape \\" + std::string(1, e) + " " + std::string(context));
      }
    } else {
      out += c;
    }
    if (out.size() > max_bytes) fail("string longer than " + std::to_string(max_bytes) + " bytes " + std::string(context));
  }
}

std::string_view JsonFileReader::read_number_token(std::string_view context) {
  skip_whitespace();
  std::size_t n = 0;
  for (;;) {
    if (pos_ == end_ && !refill()) break;
    const char c = buffer_[pos_];
    if (!is_number_char(c)) break;
    if (n == sizeof token_) fail("number longer than " + std::to_string(sizeof token_) + " characters " + std::string(context));
    token_[n++] = c;
    ++pos_;
  }
  const std::string_view token(token_, n);
  if (n == 0) fail("expected a number " + std::string(context) + ", found " + describe_next());
  if (!is_json_number(token)) fail(quoted(token) + " is not a JSON number " + std::string(context));
  return token;
}

float JsonFileReader::read_float(std::string_view context) {
  const std::string_view token = read_number_token(context);
  float v = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size() || !std::isfinite(v)) {
    fail(quoted(token) + " does not fit a float " + std::string(context));
  }
  return v;
}

double JsonFileReader::read_double(std::string_view context) {
  const std::string_view token = read_number_token(context);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size() || !std::isfinite(v)) {
    fail(quoted(token) + " does not fit a double " + std::string(context));
  }
  return v;
}

std::int64_t JsonFileReader::read_integer(std::string_view context) {
  const std::string_view token = read_number_token(context);
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size()) {
    fail(quoted(token) + " is not a 64-bit integer " + std::string(context));
  }
  return v;
}

void JsonFileReader::skip_value() { skip_value_at_depth(0); }

void JsonFileReader::skip_value_at_depth(int depth) {
  if (depth > 256) fail("nesting deeper than 256 levels");
  const char c = peek();
  if (c == '"') {
    read_string("while skipping a value", std::size_t{1} << 30);
  } else if (c == '[') {
    ++pos_;
    if (consume_if(']')) return;
    do skip_value_at_depth(depth + 1);
    while (next_element(']', "in an array"));
  } else if (c == '{') {
    ++pos_;
    if (consume_if('}')) return;
    do {
      read_string("as an object key", std::size_t{1} << 30);
      expect(':', "after an object key");
      skip_value_at_depth(depth + 1);
    } while (next_element('}', "in an object"));
  } else if (c == 't' || c == 'f' || c == 'n') {
    const std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
    for (char w : word) {
      if (get_raw("in a literal") != w) fail("invalid literal (expected " + std::string(word) + ")");
    }
  } else {
    read_double("as a value");
  }
}

void JsonFileReader::expect_end() {
  skip_whitespace();
  if (pos_ != end_) fail("unexpected " + describe_next() + " after the end of the JSON value");
}

}  // namespace lwd::datasets
