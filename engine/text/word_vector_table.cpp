#include "engine/text/word_vector_table.h"

#include <cmath>

#include "engine/error.h"
#include "engine/text/fingerprint.h"

namespace lwd::text {

InMemoryWordVectorTable::InMemoryWordVectorTable(std::vector<std::string> words, kernels::Matrix<float> vectors)
    : words_(std::move(words)), vectors_(std::move(vectors)) {
  if (words_.empty()) throw Error("word vector table: no words");
  if (vectors_.cols() < 1) throw Error("word vector table: vectors have width 0");
  if (static_cast<std::int64_t>(words_.size()) != vectors_.rows())
    throw Error("word vector table: " + std::to_string(words_.size()) + " words but " +
                std::to_string(vectors_.rows()) + " vectors");
  rank_of_.reserve(words_.size());
  for (std::size_t i = 0; i < words_.size(); ++i) {
    if (words_[i].empty()) throw Error("word vector table: word " + std::to_string(i) + " is empty");
    if (!rank_of_.emplace(words_[i], static_cast<std::int64_t>(i)).second)
      throw Error("word vector table: the word \"" + words_[i] + "\" appears twice");
  }
  for (std::int64_t i = 0; i < vectors_.rows(); ++i)
    for (std::int64_t j = 0; j < vectors_.cols(); ++j)
      if (!std::isfinite(vectors_(i, j)))
        throw Error("word vector table: the vector of \"" + words_[static_cast<std::size_t>(i)] +
                    "\" has a non-finite value at " + std::to_string(j));
}

std::string_view InMemoryWordVectorTable::word(std::int64_t rank) const {
  return words_.at(static_cast<std::size_t>(rank));
}

std::span<const float> InMemoryWordVectorTable::vector(std::int64_t rank) const {
  if (rank < 0 || rank >= vectors_.rows()) throw Error("word vector table: rank " + std::to_string(rank) + " out of range");
  return {vectors_.row(rank), static_cast<std::size_t>(vectors_.cols())};
}

std::optional<std::int64_t> InMemoryWordVectorTable::find(std::string_view word) const {
  const auto it = rank_of_.find(word);
  if (it == rank_of_.end()) return std::nullopt;
  return it->second;
}

std::string word_vector_table_fingerprint(const WordVectorTable& table) {
  Fingerprint f;
  f.add(std::string_view("word-vector-table/1"));
  f.add(table.size());
  f.add(table.dim());
  for (std::int64_t r = 0; r < table.size(); ++r) f.add(table.word(r));
  for (std::int64_t r = 0; r < table.size(); r = (r < 1024) ? r + 1 : r + 1021) {
    const auto v = table.vector(r);
    f.add_bytes(v.data(), v.size_bytes());
  }
  return f.hex();
}

ZipfWordProbability::ZipfWordProbability(std::int64_t vocabulary_size, double exponent) : exponent_(exponent) {
  if (vocabulary_size < 1) throw Error("Zipf word probabilities need a vocabulary of at least one word");
  if (!(std::isfinite(exponent) && exponent > 0))
    throw Error("Zipf exponent must be a finite number > 0 (got " + std::to_string(exponent) + ")");
  // Summed from the smallest term up, so the rounding does not depend on
  // where a large head swamps the tail.
  double harmonic = 0.0;
  for (std::int64_t k = vocabulary_size; k >= 1; --k) harmonic += std::pow(static_cast<double>(k), -exponent);
  log_normaliser_ = std::log(harmonic);
}

double ZipfWordProbability::operator()(std::int64_t rank) const {
  return std::exp(-exponent_ * std::log(static_cast<double>(rank + 1)) - log_normaliser_);
}

}  // namespace lwd::text
