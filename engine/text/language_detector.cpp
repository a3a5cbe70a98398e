#include "engine/text/language_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <unordered_map>

#include "engine/error.h"
#include "engine/text/language_samples.h"
#include "engine/text/unicode_text.h"

namespace lwd::text {
namespace {

constexpr std::size_t kMaxCodePointsRead = 10000;
constexpr std::int64_t kMinLetters = 3;
constexpr double kMinKanaShare = 0.05;
constexpr double kMinTrigramCoverage = 0.25;
constexpr double kMinReportedShare = 0.10;

// An n-gram of up to three code points in one integer. A bigram's key is at
// least 2^26 (its first code point is >= U+0020) and a trigram's at least
// 2^47, while unigrams stay below 2^21, so the lengths never collide.
std::uint64_t gram_key(char32_t a) { return a; }
std::uint64_t gram_key(char32_t a, char32_t b) { return (std::uint64_t{a} << 21) | b; }
std::uint64_t gram_key(char32_t a, char32_t b, char32_t c) {
  return (std::uint64_t{a} << 42) | (std::uint64_t{b} << 21) | c;
}

// Calls visit(key, is_trigram) for the 1-, 2- and 3-grams of each lower-case
// Latin word of `text`, the word padded with one space on each side.
template <class Visit>
void for_each_latin_gram(std::string_view text, Visit&& visit) {
  std::u32string padded = U" ";  // the current word between spaces, reused
  const auto flush = [&] {
    if (padded.size() == 1) return;
    padded.push_back(U' ');
    for (std::size_t i = 0; i < padded.size(); ++i) {
      if (padded[i] != U' ') visit(gram_key(padded[i]), false);
      if (i + 1 < padded.size()) visit(gram_key(padded[i], padded[i + 1]), false);
      if (i + 2 < padded.size()) visit(gram_key(padded[i], padded[i + 1], padded[i + 2]), true);
    }
    padded.resize(1);
  };
  std::size_t pos = 0;
  std::size_t read = 0;
  while (pos < text.size() && read < kMaxCodePointsRead) {
    const char32_t cp = next_code_point(text, pos);
    ++read;
    if (script_of(cp) == Script::kLatin) {
      padded.push_back(to_lower(cp));
    } else {
      flush();
    }
  }
  flush();
}

struct LatinProfiles {
  std::vector<std::string> codes;
  // n-gram -> index of its row in log_prob (codes.size() entries per row).
  std::unordered_map<std::uint64_t, std::uint32_t> gram_row;
  std::vector<double> log_prob;
  std::vector<double> unseen_log_prob;  // per language
  // Per row: bit l set when the n-gram is a trigram seen in language l's sample.
  std::vector<std::uint32_t> trigram_in_language;
};

LatinProfiles build_latin_profiles() {
  LatinProfiles profiles;
  const auto samples = latin_language_samples();
  const std::size_t n_lang = samples.size();
  if (n_lang > 32) throw Error("language detector: at most 32 Latin-script profiles fit the trigram masks");
  std::map<std::uint64_t, std::vector<double>> counts;  // ordered: row numbers do not depend on hashing
  std::vector<double> totals(n_lang, 0.0);
  std::map<std::uint64_t, std::uint32_t> trigram_mask;
  for (std::size_t l = 0; l < n_lang; ++l) {
    profiles.codes.emplace_back(samples[l].code);
    for_each_latin_gram(samples[l].text, [&](std::uint64_t key, bool is_trigram) {
      auto& row = counts[key];
      if (row.empty()) row.assign(n_lang, 0.0);
      row[l] += 1.0;
      totals[l] += 1.0;
      if (is_trigram) trigram_mask[key] |= std::uint32_t{1} << l;
    });
  }
  // Add-one smoothing over the union of the profiles' n-grams plus one slot
  // for everything unseen.
  const double vocabulary = static_cast<double>(counts.size()) + 1.0;
  for (std::size_t l = 0; l < n_lang; ++l) profiles.unseen_log_prob.push_back(-std::log(totals[l] + vocabulary));
  profiles.log_prob.reserve(counts.size() * n_lang);
  std::uint32_t row_index = 0;
  for (const auto& [key, row] : counts) {
    profiles.gram_row.emplace(key, row_index++);
    const auto mask = trigram_mask.find(key);
    profiles.trigram_in_language.push_back(mask == trigram_mask.end() ? 0 : mask->second);
    for (std::size_t l = 0; l < n_lang; ++l)
      profiles.log_prob.push_back(std::log(row[l] + 1.0) - std::log(totals[l] + vocabulary));
  }
  return profiles;
}

const LatinProfiles& latin_profiles() {
  static const LatinProfiles profiles = build_latin_profiles();
  return profiles;
}

std::optional<std::string> detect_latin_language(std::string_view text) {
  const LatinProfiles& profiles = latin_profiles();
  const std::size_t n_lang = profiles.codes.size();
  std::vector<double> score(n_lang, 0.0);
  std::vector<std::int64_t> covered(n_lang, 0);
  std::int64_t trigrams = 0;
  for_each_latin_gram(text, [&](std::uint64_t key, bool is_trigram) {
    const auto it = profiles.gram_row.find(key);
    trigrams += is_trigram ? 1 : 0;
    if (it == profiles.gram_row.end()) {
      for (std::size_t l = 0; l < n_lang; ++l) score[l] += profiles.unseen_log_prob[l];
      return;
    }
    const double* row = profiles.log_prob.data() + static_cast<std::size_t>(it->second) * n_lang;
    for (std::size_t l = 0; l < n_lang; ++l) score[l] += row[l];
    const std::uint32_t mask = profiles.trigram_in_language[it->second];
    for (std::size_t l = 0; l < n_lang; ++l) covered[l] += (mask >> l) & 1u;
  });
  if (trigrams == 0) return std::nullopt;
  const std::size_t best = static_cast<std::size_t>(std::max_element(score.begin(), score.end()) - score.begin());
  const double coverage = static_cast<double>(covered[best]) / static_cast<double>(trigrams);
  if (coverage < kMinTrigramCoverage) return std::nullopt;
  return profiles.codes[best];
}

std::string detect_chinese_variant(std::string_view text) {
  // Tally by code point, then look the marker pairs up.
  std::unordered_map<char32_t, std::int64_t> han_counts;
  std::size_t pos = 0;
  std::size_t read = 0;
  while (pos < text.size() && read < kMaxCodePointsRead) {
    const char32_t cp = next_code_point(text, pos);
    ++read;
    if (script_of(cp) == Script::kHan) ++han_counts[cp];
  }
  const auto count_of = [&](std::string_view utf8) {
    std::size_t p = 0;
    const auto it = han_counts.find(next_code_point(utf8, p));
    return it == han_counts.end() ? std::int64_t{0} : it->second;
  };
  std::int64_t simplified = 0;
  std::int64_t traditional = 0;
  for (const auto& pair : han_variant_pairs()) {
    simplified += count_of(pair.simplified);
    traditional += count_of(pair.traditional);
  }
  return traditional > simplified ? "zh-tw" : "zh-cn";
}

struct ScriptCounts {
  std::array<std::int64_t, 11> by_script{};  // indexed by Script
  std::int64_t letters = 0;
  std::int64_t operator[](Script s) const { return by_script[static_cast<std::size_t>(s)]; }
};

ScriptCounts count_scripts(std::string_view text) {
  ScriptCounts counts;
  std::size_t pos = 0;
  std::size_t read = 0;
  while (pos < text.size() && read < kMaxCodePointsRead) {
    const Script s = script_of(next_code_point(text, pos));
    ++read;
    if (s == Script::kNone) continue;
    ++counts.by_script[static_cast<std::size_t>(s)];
    ++counts.letters;
  }
  return counts;
}

std::optional<std::string> detect_with_counts(std::string_view text, const ScriptCounts& counts) {
  if (counts.letters < kMinLetters) return std::nullopt;
  const std::int64_t cjk = counts[Script::kHan] + counts[Script::kKana];
  // Script groups in a fixed order; the first with the most letters wins.
  const std::array<std::pair<std::int64_t, int>, 8> groups = {{
      {counts[Script::kLatin], 0},
      {cjk, 1},
      {counts[Script::kHangul], 2},
      {counts[Script::kGreek], 3},
      {counts[Script::kHebrew], 4},
      {counts[Script::kThai], 5},
      {counts[Script::kCyrillic], 6},
      {counts[Script::kArabic] + counts[Script::kDevanagari], 6},
  }};
  auto best = groups[0];
  for (const auto& g : groups)
    if (g.first > best.first) best = g;
  switch (best.second) {
    case 0:
      return detect_latin_language(text);
    case 1:
      if (static_cast<double>(counts[Script::kKana]) >= kMinKanaShare * static_cast<double>(cjk)) return "ja";
      return detect_chinese_variant(text);
    case 2:
      return "ko";
    case 3:
      return "el";
    case 4:
      return "he";
    case 5:
      return "th";
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> detect_language(std::string_view text) {
  return detect_with_counts(text, count_scripts(text));
}

std::vector<std::string> detect_languages(std::span<const std::string> documents) {
  std::map<std::string, double> weight;
  double total = 0.0;
  for (const std::string& document : documents) {
    if (const auto code = detect_language(document)) {
      weight[*code] += 1.0;
      total += 1.0;
    }
  }
  std::vector<std::pair<std::string, double>> kept;
  for (const auto& [code, w] : weight)
    if (w >= kMinReportedShare * total) kept.emplace_back(code, w);
  // Stable over the map's code order, so equal weights stay sorted by code.
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> codes;
  for (auto& [code, w] : kept) codes.push_back(std::move(code));
  return codes;
}

const std::vector<std::string>& detectable_languages() {
  static const std::vector<std::string> codes = [] {
    std::vector<std::string> all = {"zh-cn", "zh-tw", "ja", "ko", "el", "he", "th"};
    for (const auto& sample : latin_language_samples()) all.emplace_back(sample.code);
    std::sort(all.begin(), all.end());
    return all;
  }();
  return codes;
}

}  // namespace lwd::text
