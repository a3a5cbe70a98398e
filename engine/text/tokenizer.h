// Splitting text into word tokens, shared by the sentence encoders, the
// language-independent hashing features and the naive Bayes model, so a
// model's tokens and a spec's tokens are cut the same way.
//
// A token is either
//   - a maximal run of word characters (letters of the alphabetic scripts,
//     digits, combining marks), where a hyphen between two word characters
//     joins the run when keep_hyphenated is set ("well-known" is one token, as
//     in the 100-d word-vector vocabulary), or
//   - one Han ideograph or kana character: those scripts have no spaces, so a
//     character is the unit every later stage can rely on.
// Everything else (spaces, punctuation, symbols, apostrophes, malformed UTF-8)
// separates tokens. With lowercase set, cased letters are lower-cased (see
// unicode_text.h for which). Word tokens shorter than min_token_chars code
// points are dropped (scikit-learn's default token pattern drops 1-letter
// words); ideograph tokens are always kept.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lwd::text {

struct TokenizerOptions {
  bool lowercase = true;
  int min_token_chars = 1;
  bool keep_hyphenated = true;

  bool operator==(const TokenizerOptions&) const = default;
};

// Calls visit(std::string_view token) for each token in order. The view is
// valid only during the call (it points into a buffer reused between calls).
template <class Visit>
void for_each_token(std::string_view text, const TokenizerOptions& options, Visit&& visit);

// All tokens of `text`, in order.
std::vector<std::string> tokenize(std::string_view text, const TokenizerOptions& options = {});

namespace detail {
// The scanner behind for_each_token: the next token into `token`, from
// position `pos`; false at the end of the text.
bool next_token(std::string_view text, std::size_t& pos, const TokenizerOptions& options, std::string& token);
}  // namespace detail

template <class Visit>
void for_each_token(std::string_view text, const TokenizerOptions& options, Visit&& visit) {
  std::string token;
  std::size_t pos = 0;
  while (detail::next_token(text, pos, options, token)) visit(std::string_view(token));
}

}  // namespace lwd::text
