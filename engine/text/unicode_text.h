// The little Unicode the text module needs, without ICU: UTF-8 decoding that
// never fails, a script of each letter by code-point block, and lower-casing of
// the cased alphabets that word vectors and tokenizers meet in practice.
//
// Text in the wild is messy, so decoding is lenient: a malformed byte sequence
// decodes to U+FFFD (one byte consumed), which every caller treats as a
// separator. Nothing here throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lwd::text {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// The code point starting at byte `pos` of `text` (pos < text.size()); `pos`
// moves past it. Overlong forms, surrogates and values above U+10FFFF are
// malformed.
char32_t next_code_point(std::string_view text, std::size_t& pos);

// Appends the UTF-8 form of `cp` (a valid scalar value) to `out`.
void append_utf8(std::string& out, char32_t cp);

// Script of a letter, by Unicode block. Digits, punctuation, symbols and
// spaces are kNone.
enum class Script { kNone, kLatin, kGreek, kCyrillic, kHebrew, kArabic, kDevanagari, kThai, kHangul, kKana, kHan };

Script script_of(char32_t cp);

// Characters written without spaces between words (Han ideographs and kana):
// tokenizers make each its own token.
bool is_ideograph(char32_t cp);

// Characters that belong inside a space-delimited word: ASCII letters and
// digits, letters of the alphabetic scripts above, combining marks.
bool is_word_character(char32_t cp);

// Lower case for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals;
// anything else is returned unchanged.
char32_t to_lower(char32_t cp);

}  // namespace lwd::text
