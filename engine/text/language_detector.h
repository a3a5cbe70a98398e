// Language of a text, for the `language` field of a text specification, with
// codes spelled as the reference's detector (langdetect) spells them: "en",
// "fr", "zh-cn", "zh-tw", "ja", "ko", ...
//
// How a text is decided (at most its first 10 000 code points are read, as
// langdetect does):
//   1. Letters are counted by script (unicode_text.h). Fewer than 3 letters:
//      no language.
//   2. The script group with most letters decides the family:
//        Han + kana  -> "ja" when kana are at least 5% of them (Japanese
//                       mixes kana into every sentence, Chinese never does),
//                       else Chinese: "zh-tw" when traditional forms of the
//                       characters in language_samples.cpp outnumber the
//                       simplified ones, else "zh-cn";
//        Hangul -> "ko";  Greek -> "el";  Hebrew -> "he";  Thai -> "th"
//                       (scripts used by one language of langdetect's set);
//        Latin  -> step 3;
//        Cyrillic, Arabic, Devanagari -> no language: each serves several
//                       languages and we hold no profiles to tell them apart.
//   3. Latin script: a multinomial naive Bayes over the character 1-, 2- and
//      3-grams of the space-padded lower-case words, with profiles counted
//      from the sample texts of en, fr, de, es, it, pt, nl (add-one smoothing
//      over the union of all profiles' n-grams). The best language is
//      accepted only when at least 25% of the text's trigrams occur in its
//      profile: random characters, or a Latin-script language without a
//      profile (Polish, Vietnamese...), give no language rather than a wrong
//      one.
// A text without a language is what langdetect's failure gives the reference
// (an empty list), and the search treats it the same way.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lwd::text {

// The language of one text, or nothing (see above).
std::optional<std::string> detect_language(std::string_view text);

// The languages of a document collection: each document is detected on its
// own, and the languages of at least 10% of the documents that have one are
// returned (langdetect's reporting threshold), most documents first, ties by
// code. Empty when no document has a language. Documents count once each,
// not by their letters: a Chinese sentence has a fraction of the characters
// of its English translation.
std::vector<std::string> detect_languages(std::span<const std::string> documents);

// Every code detect_language can return, sorted.
const std::vector<std::string>& detectable_languages();

}  // namespace lwd::text
