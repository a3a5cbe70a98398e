// Small stand-ins for the fetched MNIST and Brown packages, with the loaders'
// layouts: enough structure that models learn them and specs tell their
// classes apart, small enough for a test to build a market from them.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/mnist_digits.h"

namespace lwd::test {

// `per_digit` 28 x 28 images of each digit 0..9: digit d is a bright
// horizontal bar at rows 2d+3.. and a vertical bar at columns 2d+3.. (each
// shifted by up to one pixel), on noise of grey levels 0..40.
inline datasets::MnistDigits fixture_digits(int per_digit, std::uint32_t seed = 7) {
  constexpr int side = datasets::MnistDigits::kSide;
  datasets::MnistDigits out;
  out.pixels = kernels::Matrix<std::uint8_t>(10 * per_digit, datasets::MnistDigits::kPixels, std::uint8_t{0});
  std::mt19937 rng(seed);
  std::int64_t row = 0;
  for (int i = 0; i < per_digit; ++i) {
    for (int d = 0; d < 10; ++d, ++row) {
      const int shift = static_cast<int>(rng() % 3) - 1;
      const int band = 2 * d + 3 + shift;
      for (int y = 0; y < side; ++y) {
        for (int x = 0; x < side; ++x) {
          const bool on = (y >= band && y < band + 3) || (x >= band && x < band + 3);
          out.pixels(row, y * side + x) = static_cast<std::uint8_t>(on ? 200 + rng() % 56 : rng() % 41);
        }
      }
      out.labels.push_back(static_cast<std::uint8_t>(d));
    }
  }
  return out;
}

// The 15 Brown categories, `docs_per_category` documents each of
// `sentences` sentences: every sentence mixes English function words with
// words of its category's own vocabulary, so genre is learnable.
inline datasets::BrownCorpus fixture_brown(int docs_per_category, int sentences = 20, std::uint32_t seed = 11) {
  const std::vector<std::string> categories = {"adventure", "belles_lettres", "editorial", "fiction", "government",
                                               "hobbies",   "humor",          "learned",   "lore",    "mystery",
                                               "news",      "religion",       "reviews",   "romance", "science_fiction"};
  const std::vector<std::string> common = {"the", "of", "and", "to", "in", "is", "was", "it", "that", "with"};
  const std::vector<std::string> stems = {"river", "market", "garden", "letter", "engine", "window",
                                          "forest", "station", "harbor", "castle", "meadow", "bridge"};
  datasets::BrownCorpus corpus;
  corpus.categories = categories;
  std::mt19937 rng(seed);
  for (int c = 0; c < static_cast<int>(categories.size()); ++c) {
    for (int d = 0; d < docs_per_category; ++d) {
      datasets::BrownDocument doc;
      doc.id = "c" + std::to_string(c) + "d" + std::to_string(d);
      doc.category = categories[static_cast<std::size_t>(c)];
      doc.category_index = c;
      for (int s = 0; s < sentences; ++s) {
        doc.sentence_starts.push_back(static_cast<std::int64_t>(doc.words.size()));
        for (int w = 0; w < 8; ++w) {
          const bool own = w % 2 == 0;
          doc.words.push_back(own ? stems[rng() % stems.size()] + categories[static_cast<std::size_t>(c)].substr(0, 4)
                                  : common[rng() % common.size()]);
          doc.tags.push_back("nn");
        }
      }
      corpus.documents.push_back(std::move(doc));
    }
  }
  return corpus;
}

}  // namespace lwd::test
