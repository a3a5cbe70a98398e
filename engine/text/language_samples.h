// The sample texts the language detector builds its character n-gram
// profiles from. Written for this project (plain descriptive prose on everyday
// topics, so the profiles carry each language's function words and spelling
// rather than one domain's vocabulary); they are data, not tests.
#pragma once

#include <span>
#include <string_view>

namespace lwd::text {

struct LanguageSample {
  std::string_view code;  // langdetect's code
  std::string_view text;  // UTF-8
};

// Latin-script languages told apart by their n-gram profiles.
std::span<const LanguageSample> latin_language_samples();

// Pairs of (simplified, traditional) forms of common Han characters whose two
// forms differ; the counts of each side tell zh-cn from zh-tw.
struct HanVariantPair {
  std::string_view simplified;
  std::string_view traditional;
};
std::span<const HanVariantPair> han_variant_pairs();

}  // namespace lwd::text
