// Sentence encoders: fixed maps from a text to a vector, on which a text
// specification builds the ordinary table RKME. Two users' specs are
// comparable only when the same encoder made them, so every encoder carries a
// TextEncoderId (name, output width, fingerprint of everything that shapes its
// output) which the spec records.
//
//   SifEncoder      smooth inverse frequency (Arora, Liang & Ma, "A simple but
//                   tough-to-beat baseline for sentence embeddings", ICLR 2017)
//                   over pre-trained word vectors.
//   HashingEncoder  signed feature hashing of words, word bigrams and
//                   character trigrams: no data needed, any script; the
//                   fallback when the word vectors are not on the machine.
//
// Both return rows of the same L2 norm (output_norm), so a document's length
// does not move its embedding, and zero rows for texts with no usable token.
// The default norm sqrt(10) puts the reference's default RKME bandwidth
// (gamma = 0.1) in the kernel's informative range: two texts at cosine
// similarity c are at squared distance 20 (1 - c), so k = exp(-2 (1 - c))
// runs from 1 down to e^-4 instead of staying within [0.67, 1] as it would
// for unit vectors.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/tokenizer.h"
#include "engine/text/word_vector_table.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::text {

inline const double kDefaultEmbeddingNorm = std::sqrt(10.0);

struct TextEncoderId {
  std::string name;         // e.g. "sif", "hashing"
  std::int64_t dim = 0;     // output width
  std::string fingerprint;  // 16 hex digits; empty for specs made by the reference (see rkme_text_spec.h)

  bool operator==(const TextEncoderId&) const = default;
  // "name/dim/fingerprint": one string that differs whenever the ids differ;
  // what a market keys its text spec packs by.
  std::string key() const;
  // "sif (dim 100, fingerprint 0123abcd...)" for messages.
  std::string describe() const;
};

class SentenceEncoder {
 public:
  virtual ~SentenceEncoder() = default;
  virtual const TextEncoderId& id() const = 0;
  std::int64_t dim() const { return id().dim; }
  // Row i embeds documents[i]: documents.size() x dim. Deterministic, and
  // independent of ctx.n_threads (each document owns its row).
  virtual kernels::Matrix<double> encode(const kernels::Context& ctx, std::span<const std::string> documents) const = 0;
};

// ---------------------------------------------------------------------------
// SIF. For a document with in-vocabulary tokens w_1..w_n (a hyphenated token
// missing from the vocabulary counts as its parts):
//   v   = (1/n) sum_t  a / (a + p(w_t)) * vec(w_t)
//   v  <- v - (u . v) u                       (remove the common component)
//   out = output_norm * v / ||v||             (zero if v is zero)
// p(w) comes from the word's frequency rank by Zipf's law
// (ZipfWordProbability; the vector package ships ranks, not counts).
//
// The common component u is fixed per encoder, not computed per document
// set. Arora et al. take the first singular vector of the set being embedded,
// but then each user's embeddings would live in a space rotated by their own
// data, and the specs of two users could not be compared -- which is all a
// market does with them. Instead u is the first principal direction that SIF
// embeddings of the encoder's own language model have: for documents of L
// tokens drawn independently from p,
//   E[v v^T] = m m^T + (S - m m^T) / L,
//   m = sum_w p(w) c(w) vec(w),   S = sum_w p(w) c(w)^2 vec(w) vec(w)^T,
//   c(w) = a / (a + p(w)),
// and u is the eigenvector of its largest eigenvalue (uncentred, as SIF's
// SVD is), signed so that u . m >= 0 (if u . m = 0: its largest-magnitude
// entry positive). It is derived from the word vectors alone, so every user
// of the same vectors removes the same direction.
struct SifOptions {
  double a = 1e-3;               // Arora et al. recommend 1e-4 .. 1e-3
  double zipf_exponent = 1.0;
  double reference_length = 20;  // L above: tokens per document, a typical sentence
  double output_norm = kDefaultEmbeddingNorm;
  TokenizerOptions tokenizer{};  // lower case (the package's words are), hyphenated words kept
};

class SifEncoder final : public SentenceEncoder {
 public:
  static constexpr std::string_view kName = "sif";

  // Computes the fixed component u (one pass over the table; parallel over
  // fixed blocks of rows, summed in block order, so u does not depend on the
  // thread count). Throws lwd::Error on invalid options or a null table.
  SifEncoder(const kernels::Context& ctx, std::shared_ptr<const WordVectorTable> table, const SifOptions& options = {});

  const TextEncoderId& id() const override { return id_; }
  kernels::Matrix<double> encode(const kernels::Context& ctx, std::span<const std::string> documents) const override;

  // The steps of encode, exposed for tests and diagnostics:
  // the SIF weighted average before the component is removed (zero when no
  // token is in the vocabulary), and the number of tokens it averaged;
  std::vector<double> weighted_average(std::string_view document, std::int64_t* tokens_found = nullptr) const;
  // the fixed common component (unit length);
  std::span<const double> common_component() const { return common_component_; }
  // a / (a + p(rank)).
  double word_weight(std::int64_t rank) const;
  const SifOptions& options() const { return options_; }
  const WordVectorTable& table() const { return *table_; }

 private:
  std::shared_ptr<const WordVectorTable> table_;
  SifOptions options_;
  ZipfWordProbability probability_;
  std::vector<double> common_component_;
  TextEncoderId id_;
};

// ---------------------------------------------------------------------------
// Feature hashing. Each token t contributes the features "word t", "bigram
// (previous token, t)" and, for tokens of 2+ code points, the character
// n-grams of "<t>" (boundaries marked). A feature's 64-bit hash (fingerprint.h,
// salted by `seed`) picks bucket h mod dim and sign +-1 from its top bit; the
// signs make collisions cancel in expectation instead of piling up
// (Weinberger et al., 2009). Bucket totals x become sign(x) log(1 + |x|), so
// a word repeated a hundred times does not drown the rest, and the row is
// scaled to output_norm.
struct HashingOptions {
  int dim = 256;
  bool word_bigrams = true;
  int char_ngram = 3;       // 0: no character n-grams
  std::uint64_t seed = 0;
  double output_norm = kDefaultEmbeddingNorm;
  TokenizerOptions tokenizer{};
};

class HashingEncoder final : public SentenceEncoder {
 public:
  static constexpr std::string_view kName = "hashing";

  // Throws lwd::Error unless dim >= 1, char_ngram >= 0 and output_norm > 0.
  explicit HashingEncoder(const HashingOptions& options = {});

  const TextEncoderId& id() const override { return id_; }
  kernels::Matrix<double> encode(const kernels::Context& ctx, std::span<const std::string> documents) const override;
  // One document into `row` (dim entries), same as a row of encode.
  void encode_one(std::string_view document, std::span<double> row) const;
  const HashingOptions& options() const { return options_; }

 private:
  HashingOptions options_;
  TextEncoderId id_;
};

}  // namespace lwd::text
