#include "engine/text/unicode_text.h"

namespace lwd::text {

char32_t next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  int length = 0;
  char32_t cp = 0;
  char32_t min_value = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min_value = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min_value = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min_value = 0x10000;
  } else {
    ++pos;
    return kReplacementCharacter;
  }
  if (pos + length > text.size()) {
    ++pos;
    return kReplacementCharacter;
  }
  for (int k = 1; k < length; ++k) {
    const unsigned char next = byte(pos + k);
    if ((next & 0xC0) != 0x80) {
      ++pos;
      return kReplacementCharacter;
    }
    cp = (cp << 6) | (next & 0x3F);
  }
  if (cp < min_value || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kReplacementCharacter;
  }
  pos += length;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Script script_of(char32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return Script::kLatin;
  if (cp < 0xC0) return Script::kNone;
  // Latin-1 letters except the multiplication and division signs, Latin
  // Extended-A/B, IPA is left out, Latin Extended Additional (Vietnamese).
  if (cp <= 0x24F) return (cp == 0xD7 || cp == 0xF7) ? Script::kNone : Script::kLatin;
  if (cp >= 0x1E00 && cp <= 0x1EFF) return Script::kLatin;
  if (cp >= 0x370 && cp <= 0x3FF) return (cp >= 0x386 && cp != 0x387) ? Script::kGreek : Script::kNone;
  if (cp >= 0x1F00 && cp <= 0x1FFF) return Script::kGreek;  // polytonic Greek
  if (cp >= 0x400 && cp <= 0x52F) return (cp >= 0x482 && cp <= 0x489) ? Script::kNone : Script::kCyrillic;
  if (cp >= 0x5D0 && cp <= 0x5EA) return Script::kHebrew;
  if ((cp >= 0x620 && cp <= 0x64A) || (cp >= 0x671 && cp <= 0x6D3)) return Script::kArabic;
  if (cp >= 0x904 && cp <= 0x939) return Script::kDevanagari;
  if ((cp >= 0xE01 && cp <= 0xE30) || (cp >= 0xE40 && cp <= 0xE45)) return Script::kThai;
  if ((cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3131 && cp <= 0x318E))
    return Script::kHangul;
  if ((cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x31F0 && cp <= 0x31FF))
    return Script::kKana;
  if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0x20000 && cp <= 0x2FA1F))
    return Script::kHan;
  return Script::kNone;
}

bool is_ideograph(char32_t cp) {
  const Script s = script_of(cp);
  return s == Script::kHan || s == Script::kKana;
}

bool is_word_character(char32_t cp) {
  if (cp >= '0' && cp <= '9') return true;
  if (cp >= 0x300 && cp <= 0x36F) return true;  // combining diacritics stay with their letter
  // Vowel signs and marks inside the Devanagari, Thai, Hebrew and Arabic
  // blocks are not letters but belong to the word.
  if ((cp >= 0x900 && cp <= 0x97F) || (cp >= 0xE01 && cp <= 0xE5B) || (cp >= 0x591 && cp <= 0x5F4) ||
      (cp >= 0x610 && cp <= 0x6DC))
    return true;
  const Script s = script_of(cp);
  return s != Script::kNone && s != Script::kHan && s != Script::kKana;
}

char32_t to_lower(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE) return cp == 0xD7 ? cp : cp + 32;
  if (cp >= 0x100 && cp <= 0x17F) {
    // Latin Extended-A pairs capitals and small letters at even/odd code
    // points, except the run 0x139..0x148 and 0x179..0x17E, which are shifted
    // by one; U+0130 (dotted I) and U+0178 (Y diaeresis) are special.
    if (cp == 0x130) return 'i';
    if (cp == 0x178) return 0xFF;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp % 2 == 1) ? cp + 1 : cp;
    if (cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;
    return (cp % 2 == 0) ? cp + 1 : cp;
  }
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;  // Greek capitals
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // Cyrillic А..Я
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;                 // Cyrillic Ѐ..Џ
  return cp;
}

}  // namespace lwd::text
