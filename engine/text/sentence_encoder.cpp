#include "engine/text/sentence_encoder.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/text/fingerprint.h"
#include "engine/text/unicode_text.h"
#include "kernels/parallel.h"

namespace lwd::text {
namespace {

void add_tokenizer(Fingerprint& f, const TokenizerOptions& t) {
  f.add(t.lowercase).add(t.min_token_chars).add(t.keep_hyphenated);
}

void require_positive_finite(double value, std::string_view what) {
  if (!(std::isfinite(value) && value > 0))
    throw Error(std::string(what) + " must be a finite number > 0 (got " + std::to_string(value) + ")");
}

// Scales `row` to `norm` in place; a (numerically) zero row becomes exactly
// zero rather than an amplified rounding residue.
void scale_to_norm(std::span<double> row, double norm, double zero_below) {
  double sq = 0.0;
  for (double v : row) sq += v * v;
  const double length = std::sqrt(sq);
  if (length <= zero_below) {
    std::fill(row.begin(), row.end(), 0.0);
    return;
  }
  const double factor = norm / length;
  for (double& v : row) v *= factor;
}

constexpr std::int64_t kTableBlockRows = 4096;

}  // namespace

std::string TextEncoderId::key() const { return name + "/" + std::to_string(dim) + "/" + fingerprint; }

std::string TextEncoderId::describe() const {
  return name + " (dim " + std::to_string(dim) + ", fingerprint " + (fingerprint.empty() ? "none" : fingerprint) + ")";
}

// ---------------------------------------------------------------------------
SifEncoder::SifEncoder(const kernels::Context& ctx, std::shared_ptr<const WordVectorTable> table,
                       const SifOptions& options)
    : table_(std::move(table)),
      options_(options),
      probability_(table_ ? table_->size() : 1, options.zipf_exponent) {
  if (!table_) throw Error("SIF encoder: no word vectors given");
  require_positive_finite(options_.a, "SIF parameter a");
  require_positive_finite(options_.reference_length, "SIF reference length");
  require_positive_finite(options_.output_norm, "SIF output norm");
  const int d = table_->dim();
  const std::int64_t n = table_->size();
  if (d < 1 || n < 1) throw Error("SIF encoder: the word vector table is empty");

  // m and S over the whole vocabulary, in fixed blocks of rows whose partial
  // sums are added in block order (thread-count independent).
  const std::int64_t blocks = kernels::num_blocks(n, kTableBlockRows);
  std::vector<Eigen::MatrixXd> partial_s(static_cast<std::size_t>(blocks));
  std::vector<Eigen::VectorXd> partial_m(static_cast<std::size_t>(blocks));
  kernels::parallel_for(ctx, 0, blocks, [&](std::int64_t b) {
    const std::int64_t begin = b * kTableBlockRows;
    const std::int64_t rows = std::min(kTableBlockRows, n - begin);
    // Row r: sqrt(p) c vec, so that scaled^T scaled = sum p c^2 vec vec^T and
    // scaled^T sqrt(p) = sum p c vec. Row-major: each word's vector is one
    // contiguous write.
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> scaled(rows, d);
    Eigen::VectorXd sqrt_p(rows);
    for (std::int64_t r = 0; r < rows; ++r) {
      const double p = probability_(begin + r);
      const double c = options_.a / (options_.a + p);
      const auto v = table_->vector(begin + r);
      sqrt_p[r] = std::sqrt(p);
      const double s = c * sqrt_p[r];
      double* row = scaled.row(r).data();
      for (int j = 0; j < d; ++j) row[j] = s * v[static_cast<std::size_t>(j)];
    }
    Eigen::VectorXd m = scaled.transpose() * sqrt_p;
    // Lower triangle only: S is symmetric, and a rank update does half the
    // work of the full product.
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(d, d);
    s.selfadjointView<Eigen::Lower>().rankUpdate(scaled.transpose());
    partial_s[static_cast<std::size_t>(b)] = std::move(s);
    partial_m[static_cast<std::size_t>(b)] = std::move(m);
  });
  Eigen::MatrixXd second_moment = Eigen::MatrixXd::Zero(d, d);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
  for (std::int64_t b = 0; b < blocks; ++b) {
    second_moment += partial_s[static_cast<std::size_t>(b)];
    mean += partial_m[static_cast<std::size_t>(b)];
  }
  second_moment = second_moment.selfadjointView<Eigen::Lower>();
  const double inv_length = 1.0 / options_.reference_length;
  const Eigen::MatrixXd mm = mean * mean.transpose();
  Eigen::MatrixXd expected = mm + inv_length * (second_moment - mm);
  expected = 0.5 * (expected + expected.transpose());  // exact symmetry for the solver

  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(expected);
  if (solver.info() != Eigen::Success) throw Error("SIF encoder: eigen-decomposition of the embedding moment failed");
  Eigen::VectorXd u = solver.eigenvectors().col(d - 1);  // eigenvalues ascend
  u.normalize();
  const double along_mean = u.dot(mean);
  if (std::abs(along_mean) > 1e-12 * mean.norm() && mean.norm() > 0) {
    if (along_mean < 0) u = -u;
  } else {
    Eigen::Index largest = 0;
    for (Eigen::Index j = 1; j < u.size(); ++j)
      if (std::abs(u[j]) > std::abs(u[largest])) largest = j;
    if (u[largest] < 0) u = -u;
  }
  common_component_.assign(u.data(), u.data() + d);

  Fingerprint f;
  f.add(std::string_view("sif-encoder/1"));
  f.add(options_.a).add(options_.zipf_exponent).add(options_.reference_length).add(options_.output_norm);
  add_tokenizer(f, options_.tokenizer);
  f.add(std::string_view(word_vector_table_fingerprint(*table_)));
  id_ = TextEncoderId{std::string(kName), d, f.hex()};
}

double SifEncoder::word_weight(std::int64_t rank) const {
  return options_.a / (options_.a + probability_(rank));
}

std::vector<double> SifEncoder::weighted_average(std::string_view document, std::int64_t* tokens_found) const {
  const int d = table_->dim();
  std::vector<double> sum(static_cast<std::size_t>(d), 0.0);
  std::int64_t found = 0;
  const auto add_word = [&](std::string_view word) {
    const auto rank = table_->find(word);
    if (!rank) return false;
    const double weight = word_weight(*rank);
    const auto v = table_->vector(*rank);
    for (int j = 0; j < d; ++j) sum[static_cast<std::size_t>(j)] += weight * v[static_cast<std::size_t>(j)];
    ++found;
    return true;
  };
  for_each_token(document, options_.tokenizer, [&](std::string_view token) {
    if (add_word(token) || token.find('-') == std::string_view::npos) return;
    // "cross-border" is not in the vocabulary, "cross" and "border" are.
    std::size_t start = 0;
    while (start <= token.size()) {
      const std::size_t dash = std::min(token.find('-', start), token.size());
      if (dash > start) add_word(token.substr(start, dash - start));
      start = dash + 1;
    }
  });
  if (found > 0)
    for (double& v : sum) v /= static_cast<double>(found);
  if (tokens_found) *tokens_found = found;
  return sum;
}

kernels::Matrix<double> SifEncoder::encode(const kernels::Context& ctx, std::span<const std::string> documents) const {
  const std::int64_t n = static_cast<std::int64_t>(documents.size());
  const int d = table_->dim();
  kernels::Matrix<double> out(n, d);
  kernels::parallel_for(ctx, 0, n, [&](std::int64_t i) {
    std::vector<double> v = weighted_average(documents[static_cast<std::size_t>(i)]);
    double along = 0.0;
    double length_before = 0.0;
    for (int j = 0; j < d; ++j) {
      along += common_component_[static_cast<std::size_t>(j)] * v[static_cast<std::size_t>(j)];
      length_before += v[static_cast<std::size_t>(j)] * v[static_cast<std::size_t>(j)];
    }
    for (int j = 0; j < d; ++j) v[static_cast<std::size_t>(j)] -= along * common_component_[static_cast<std::size_t>(j)];
    std::span<double> row(out.row(i), static_cast<std::size_t>(d));
    std::copy(v.begin(), v.end(), row.begin());
    // A document lying along the common direction leaves only rounding
    // residue, which must not be blown up to full length.
    scale_to_norm(row, options_.output_norm, 1e-12 * std::sqrt(length_before));
  });
  return out;
}

// ---------------------------------------------------------------------------
HashingEncoder::HashingEncoder(const HashingOptions& options) : options_(options) {
  if (options_.dim < 1) throw Error("hashing encoder: dim must be >= 1 (got " + std::to_string(options_.dim) + ")");
  if (options_.char_ngram < 0)
    throw Error("hashing encoder: char_ngram must be >= 0 (got " + std::to_string(options_.char_ngram) + ")");
  require_positive_finite(options_.output_norm, "hashing encoder output norm");
  Fingerprint f;
  f.add(std::string_view("hashing-encoder/1"));
  f.add(options_.dim).add(options_.word_bigrams).add(options_.char_ngram).add(options_.seed).add(options_.output_norm);
  add_tokenizer(f, options_.tokenizer);
  id_ = TextEncoderId{std::string(kName), options_.dim, f.hex()};
}

void HashingEncoder::encode_one(std::string_view document, std::span<double> row) const {
  std::fill(row.begin(), row.end(), 0.0);
  const std::uint64_t dim = static_cast<std::uint64_t>(options_.dim);
  const auto add_feature = [&](char kind, std::string_view part1, std::string_view part2) {
    Fingerprint f;
    f.add(options_.seed);
    f.add_bytes(&kind, 1);
    f.add(part1);
    f.add(part2);
    const std::uint64_t h = f.value();
    row[static_cast<std::size_t>(h % dim)] += (h >> 63) ? -1.0 : 1.0;
  };
  std::string previous;
  std::u32string marked;
  std::string gram;
  bool have_previous = false;
  for_each_token(document, options_.tokenizer, [&](std::string_view token) {
    add_feature('w', token, {});
    if (options_.word_bigrams && have_previous) add_feature('b', previous, token);
    previous.assign(token);
    have_previous = true;
    if (options_.char_ngram < 1) return;
    marked.assign(1, U'<');
    for (std::size_t pos = 0; pos < token.size();) marked.push_back(next_code_point(token, pos));
    marked.push_back(U'>');
    if (marked.size() < 4) return;  // a one-character token: its word feature says it all
    const std::size_t n = static_cast<std::size_t>(options_.char_ngram);
    for (std::size_t i = 0; i + n <= marked.size(); ++i) {
      gram.clear();
      for (std::size_t k = 0; k < n; ++k) append_utf8(gram, marked[i + k]);
      add_feature('c', gram, {});
    }
  });
  for (double& x : row) x = (x < 0 ? -1.0 : 1.0) * std::log1p(std::abs(x));
  scale_to_norm(row, options_.output_norm, 0.0);
}

kernels::Matrix<double> HashingEncoder::encode(const kernels::Context& ctx,
                                               std::span<const std::string> documents) const {
  const std::int64_t n = static_cast<std::int64_t>(documents.size());
  kernels::Matrix<double> out(n, options_.dim);
  kernels::parallel_for(ctx, 0, n, [&](std::int64_t i) {
    encode_one(documents[static_cast<std::size_t>(i)],
               std::span<double>(out.row(i), static_cast<std::size_t>(options_.dim)));
  });
  return out;
}

}  // namespace lwd::text
