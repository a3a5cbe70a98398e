#include "engine/text/tokenizer.h"

#include "engine/text/unicode_text.h"

namespace lwd::text {
namespace detail {

bool next_token(std::string_view text, std::size_t& pos, const TokenizerOptions& options, std::string& token) {
  while (pos < text.size()) {
    token.clear();
    const char32_t cp = next_code_point(text, pos);
    if (is_ideograph(cp)) {
      append_utf8(token, cp);
      return true;
    }
    if (!is_word_character(cp)) continue;

    append_utf8(token, options.lowercase ? to_lower(cp) : cp);
    int chars = 1;
    while (pos < text.size()) {
      std::size_t next = pos;
      const char32_t c = next_code_point(text, next);
      if (is_word_character(c)) {
        append_utf8(token, options.lowercase ? to_lower(c) : c);
        ++chars;
        pos = next;
        continue;
      }
      if (c == '-' && options.keep_hyphenated && next < text.size()) {
        std::size_t after = next;
        const char32_t following = next_code_point(text, after);
        if (is_word_character(following)) {
          token.push_back('-');
          ++chars;
          pos = next;  // the following character is taken by the next iteration
          continue;
        }
      }
      break;
    }
    if (chars >= options.min_token_chars) return true;
  }
  token.clear();
  return false;
}

}  // namespace detail

std::vector<std::string> tokenize(std::string_view text, const TokenizerOptions& options) {
  std::vector<std::string> tokens;
  for_each_token(text, options, [&](std::string_view token) { tokens.emplace_back(token); });
  return tokens;
}

}  // namespace lwd::text
