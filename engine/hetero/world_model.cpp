#include "engine/hetero/world_model.h"

// One thread inside Eigen: the models' products are small, and a result must
// not depend on how many threads OpenMP would give Eigen.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>

#include "engine/error.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/random.h"

namespace lwd::hetero {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

[[noreturn]] void fail(const std::string& message) { throw Error(message); }

using ConstRowMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

ConstRowMap as_eigen(kernels::ConstMatrixView<double> x) {
  return ConstRowMap(x.data, x.rows, x.cols, Eigen::OuterStride<>(x.stride));
}

kernels::Matrix<double> from_eigen(const RowMatrix& m) {
  kernels::Matrix<double> out(m.rows(), m.cols());
  Eigen::Map<RowMatrix>(out.data(), m.rows(), m.cols()) = m;
  return out;
}

void check_map_input(kernels::ConstMatrixView<double> x, std::span<const std::string> descriptions) {
  if (static_cast<std::int64_t>(descriptions.size()) != x.cols) {
    fail("the specification world needs one description per column: " + std::to_string(x.cols) +
         " columns, " + std::to_string(descriptions.size()) + " descriptions");
  }
  if (x.cols == 0) fail("the specification world cannot map a table without columns");
  for (std::int64_t i = 0; i < x.rows; ++i) {
    for (std::int64_t j = 0; j < x.cols; ++j) {
      if (!std::isfinite(x(i, j))) fail("the specification world cannot map a value that is not finite");
    }
  }
}

// The rows squashed: n x d.
RowMatrix squashed(kernels::ConstMatrixView<double> x) {
  return as_eigen(x).unaryExpr([](double v) { return squash_value(v); });
}

std::vector<double> json_doubles(const nlohmann::json& in, const char* field, std::size_t expected,
                                 std::string_view source) {
  if (!in.contains(field) || !in.at(field).is_array()) {
    fail(std::string(source) + ": the world model has no array '" + field + "'");
  }
  const nlohmann::json& a = in.at(field);
  if (a.size() != expected) {
    fail(std::string(source) + ": the world model's '" + field + "' has " + std::to_string(a.size()) +
         " values, expected " + std::to_string(expected));
  }
  std::vector<double> out;
  out.reserve(expected);
  for (const nlohmann::json& v : a) {
    if (!v.is_number()) fail(std::string(source) + ": the world model's '" + field + "' holds a value that is not a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(std::string(source) + ": the world model's '" + field + "' holds a value that is not finite");
    out.push_back(d);
  }
  return out;
}

int json_int(const nlohmann::json& in, const char* field, int lo, int hi, std::string_view source) {
  if (!in.contains(field) || !in.at(field).is_number_integer()) {
    fail(std::string(source) + ": the world model has no integer '" + field + "'");
  }
  const auto v = in.at(field).get<std::int64_t>();
  if (v < lo || v > hi) {
    fail(std::string(source) + ": the world model's '" + field + "' is " + std::to_string(v) + ", outside [" +
         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

double json_positive(const nlohmann::json& in, const char* field, std::string_view source) {
  if (!in.contains(field) || !in.at(field).is_number()) {
    fail(std::string(source) + ": the world model has no number '" + field + "'");
  }
  const double v = in.at(field).get<double>();
  if (!std::isfinite(v) || v <= 0) fail(std::string(source) + ": the world model's '" + field + "' must be finite and > 0");
  return v;
}

std::int64_t total_points(std::span<const WorldTable> tables) {
  std::int64_t n = 0;
  for (const WorldTable& t : tables) n += t.z.rows();
  return n;
}

// The scale that makes the mean squared distance between two market points
// (each table weighing the same, points by beta) kWorldMeanSquaredDistance,
// given the points' weighted second moment about their mean (trace).
double scale_for_spread(double trace_of_covariance) {
  // E||a - b||^2 = 2 trace(Cov) for independent draws.
  if (!(trace_of_covariance > 1e-12)) return 1.0;
  return std::sqrt(kWorldMeanSquaredDistance / (2.0 * trace_of_covariance));
}

// Each table's points weighted by beta / sum(beta) / tables (nonnegative
// part; a table whose weights sum to nothing counts its points alike).
std::vector<double> point_weights(const WorldTable& t, std::size_t tables) {
  std::vector<double> w(t.beta.size());
  double sum = 0;
  for (std::size_t i = 0; i < w.size(); ++i) sum += std::max(0.0, t.beta[i]);
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = (sum > 0 ? std::max(0.0, t.beta[i]) / sum : 1.0 / static_cast<double>(w.size())) /
           static_cast<double>(tables);
  }
  return w;
}

void check_tables(std::span<const WorldTable> tables) {
  if (tables.size() < 2) {
    fail("training the specification world needs at least two table learnwares with feature descriptions; "
         "the market has " + std::to_string(tables.size()));
  }
  for (const WorldTable& t : tables) {
    if (static_cast<std::int64_t>(t.descriptions.size()) != t.z.cols() || t.z.cols() == 0) {
      fail("learnware " + t.id + ": " + std::to_string(t.z.cols()) + " columns but " +
           std::to_string(t.descriptions.size()) + " feature descriptions");
    }
    if (static_cast<std::int64_t>(t.beta.size()) != t.z.rows() || t.z.rows() == 0) {
      fail("learnware " + t.id + ": its RKME has " + std::to_string(t.z.rows()) + " points and " +
           std::to_string(t.beta.size()) + " weights");
    }
    for (double v : t.z.values()) {
      if (!std::isfinite(v)) fail("learnware " + t.id + ": its RKME holds a value that is not finite");
    }
  }
}

// ---- desc-pool -------------------------------------------------------------

// h = mean_j s(x_j) t_j: n x E.
RowMatrix pooled(kernels::ConstMatrixView<double> x, std::span<const std::string> descriptions) {
  const kernels::Matrix<double> t = embed_column_descriptions(descriptions);
  return squashed(x) * as_eigen(t.view()) / static_cast<double>(x.cols);
}

class DescPoolModel final : public WorldModel {
 public:
  DescPoolModel(Eigen::VectorXd mean, RowMatrix projection, double scale)
      : mean_(std::move(mean)), projection_(std::move(projection)), scale_(scale) {}

  static std::unique_ptr<WorldModel> train(std::span<const WorldTable> tables, const WorldTrainOptions& options,
                                           const kernels::Context&, WorldTrainReport& report) {
    const int e = kColumnEmbeddingDim;
    if (options.dim > e) fail("desc-pool: --dim is at most " + std::to_string(e));
    // Two passes (mean, then covariance) so that no more than one table's
    // pooled rows are in memory at once.
    Eigen::VectorXd mean = Eigen::VectorXd::Zero(e);
    for (const WorldTable& t : tables) {
      const RowMatrix h = pooled(t.z.view(), t.descriptions);
      const std::vector<double> w = point_weights(t, tables.size());
      for (Eigen::Index i = 0; i < h.rows(); ++i) mean += w[static_cast<std::size_t>(i)] * h.row(i).transpose();
    }
    Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(e, e);
    for (const WorldTable& t : tables) {
      const RowMatrix c = pooled(t.z.view(), t.descriptions).rowwise() - mean.transpose();
      const std::vector<double> w = point_weights(t, tables.size());
      const Eigen::Map<const Eigen::VectorXd> wk(w.data(), static_cast<Eigen::Index>(w.size()));
      cov.noalias() += c.transpose() * wk.asDiagonal() * c;
    }
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
    if (eig.info() != Eigen::Success) fail("desc-pool: the eigendecomposition of the pooled covariance failed");
    // Eigenvalues ascending: the last `dim` columns, largest first; each
    // direction's sign fixed so that its largest entry is positive (the
    // solver's sign is arbitrary, the model's should not be).
    RowMatrix projection(options.dim, e);
    double trace = 0;
    for (int r = 0; r < options.dim; ++r) {
      Eigen::VectorXd v = eig.eigenvectors().col(e - 1 - r);
      Eigen::Index arg = 0;
      v.cwiseAbs().maxCoeff(&arg);
      if (v(arg) < 0) v = -v;
      projection.row(r) = v.transpose();
      trace += std::max(0.0, eig.eigenvalues()(e - 1 - r));
    }
    report.tables = static_cast<std::int64_t>(tables.size());
    report.points = total_points(tables);
    return std::make_unique<DescPoolModel>(std::move(mean), std::move(projection), scale_for_spread(trace));
  }

  static std::unique_ptr<WorldModel> from_json(const nlohmann::json& in, std::string_view source) {
    const int dim = json_int(in, "dim", 1, kColumnEmbeddingDim, source);
    const std::vector<double> mean = json_doubles(in, "mean", kColumnEmbeddingDim, source);
    const std::vector<double> proj =
        json_doubles(in, "projection", static_cast<std::size_t>(dim) * kColumnEmbeddingDim, source);
    const double scale = json_positive(in, "scale", source);
    return std::make_unique<DescPoolModel>(Eigen::Map<const Eigen::VectorXd>(mean.data(), kColumnEmbeddingDim),
                                           Eigen::Map<const RowMatrix>(proj.data(), dim, kColumnEmbeddingDim), scale);
  }

  std::string_view kind() const override { return "desc-pool"; }
  int dim() const override { return static_cast<int>(projection_.rows()); }

  kernels::Matrix<double> map(kernels::ConstMatrixView<double> x, std::span<const std::string> descriptions,
                              const kernels::Context&) const override {
    check_map_input(x, descriptions);
    const RowMatrix h = pooled(x, descriptions);
    const RowMatrix z = scale_ * ((h.rowwise() - mean_.transpose()) * projection_.transpose());
    return from_eigen(z);
  }

  nlohmann::json to_json() const override {
    return {{"dim", dim()},
            {"mean", std::vector<double>(mean_.data(), mean_.data() + mean_.size())},
            {"projection", std::vector<double>(projection_.data(), projection_.data() + projection_.size())},
            {"scale", scale_}};
  }

 private:
  Eigen::VectorXd mean_;
  RowMatrix projection_;  // dim x E
  double scale_;
};

// ---- token-mlp ---------------------------------------------------------------

// Views of a flat vector laid out as the parameters are, in the order P, Q,
// W1, b1, W2, b2: the parameters (const) and their gradient (writable).
template <class Scalar>
struct TokenMlpViews {
  using Mat = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const RowMatrix, RowMatrix>>;
  using Vec = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const Eigen::VectorXd, Eigen::VectorXd>>;
  Mat p, q, w1;
  Vec b1;
  Mat w2;
  Vec b2;

  TokenMlpViews(const TokenMlpShape& s, Scalar* at)
      : p(at, s.hidden, s.embed),
        q(at + s.hidden * s.embed, s.hidden, s.embed),
        w1(at + 2 * s.hidden * s.embed, s.hidden, s.hidden),
        b1(at + 2 * s.hidden * s.embed + s.hidden * s.hidden, s.hidden),
        w2(at + 2 * s.hidden * s.embed + s.hidden * s.hidden + s.hidden, s.dim, s.hidden),
        b2(at + 2 * s.hidden * s.embed + s.hidden * s.hidden + s.hidden + s.dim * s.hidden, s.dim) {}
};
using TokenMlpParams = TokenMlpViews<const double>;
using TokenMlpGrads = TokenMlpViews<double>;

// The forward pass of one view, kept for the backward pass. Columns are rows
// of the batch (H x n, D x n).
struct ViewPass {
  RowMatrix mv, nv;   // n x C: squashed values / observed counts, each over the row's observed count
  RowMatrix hm, a, r, z, zn;
  Eigen::VectorXd norm;
};

ViewPass forward_view(const TokenMlpParams& w, const RowMatrix& u, const RowMatrix& wq, const RowMatrix& values,
                      const RowMatrix& mask) {
  ViewPass v;
  const Eigen::VectorXd counts = mask.rowwise().sum().cwiseMax(1.0);
  v.mv = values.cwiseProduct(mask);
  v.mv.array().colwise() /= counts.array();
  v.nv = mask;
  v.nv.array().colwise() /= counts.array();
  v.hm = u * v.mv.transpose() + wq * v.nv.transpose();  // H x n
  v.a = (w.w1 * v.hm).colwise() + w.b1;
  v.r = v.a.cwiseMax(0.0);
  v.z = (w.w2 * v.r).colwise() + w.b2;
  v.norm = v.z.colwise().norm().transpose().cwiseMax(1e-12);
  v.zn = v.z.array().rowwise() / v.norm.transpose().array();
  return v;
}

void backward_view(const TokenMlpParams& w, const ViewPass& v, const RowMatrix& dzn,
                   kernels::ConstMatrixView<double> t, TokenMlpGrads& g) {
  // d/dz of z / ||z||: (dzn - zn (zn . dzn)) / ||z||.
  const Eigen::RowVectorXd dots = v.zn.cwiseProduct(dzn).colwise().sum();
  RowMatrix dz = dzn - (v.zn.array().rowwise() * dots.array()).matrix();
  dz.array().rowwise() /= v.norm.transpose().array();
  g.w2.noalias() += dz * v.r.transpose();
  g.b2 += dz.rowwise().sum();
  RowMatrix da = (w.w2.transpose() * dz).cwiseProduct((v.a.array() > 0.0).cast<double>().matrix());
  g.w1.noalias() += da * v.hm.transpose();
  g.b1 += da.rowwise().sum();
  const RowMatrix dhm = w.w1.transpose() * da;  // H x n
  const auto te = as_eigen(t);                  // C x E
  g.p.noalias() += (dhm * v.mv) * te;
  g.q.noalias() += (dhm * v.nv) * te;
}

class TokenMlpModel final : public WorldModel {
 public:
  TokenMlpModel(TokenMlpShape shape, std::vector<double> params, double radius)
      : shape_(shape), params_(std::move(params)), radius_(radius) {}

  static std::unique_ptr<WorldModel> train(std::span<const WorldTable> tables, const WorldTrainOptions& options,
                                           const kernels::Context&, WorldTrainReport& report);

  static std::unique_ptr<WorldModel> from_json(const nlohmann::json& in, std::string_view source) {
    TokenMlpShape shape;
    shape.embed = json_int(in, "embed", kColumnEmbeddingDim, kColumnEmbeddingDim, source);
    shape.hidden = json_int(in, "hidden", 1, 4096, source);
    shape.dim = json_int(in, "dim", 1, 4096, source);
    std::vector<double> params =
        json_doubles(in, "params", static_cast<std::size_t>(shape.parameter_count()), source);
    return std::make_unique<TokenMlpModel>(shape, std::move(params), json_positive(in, "radius", source));
  }

  std::string_view kind() const override { return "token-mlp"; }
  int dim() const override { return shape_.dim; }

  kernels::Matrix<double> map(kernels::ConstMatrixView<double> x, std::span<const std::string> descriptions,
                              const kernels::Context&) const override {
    check_map_input(x, descriptions);
    const kernels::Matrix<double> t = embed_column_descriptions(descriptions);
    return from_eigen(radius_ * unit_outputs(squashed(x), t.view()).transpose());
  }

  // Outputs on the unit sphere (D x n) of rows whose every column is observed.
  RowMatrix unit_outputs(const RowMatrix& values, kernels::ConstMatrixView<double> t) const {
    const TokenMlpParams w(shape_, params_.data());
    const RowMatrix u = w.p * as_eigen(t).transpose();
    const RowMatrix wq = w.q * as_eigen(t).transpose();
    const RowMatrix ones = RowMatrix::Ones(values.rows(), values.cols());
    return forward_view(w, u, wq, values, ones).zn;
  }

  nlohmann::json to_json() const override {
    return {{"embed", shape_.embed}, {"hidden", shape_.hidden}, {"dim", shape_.dim},
            {"radius", radius_}, {"params", params_}};
  }

 private:
  TokenMlpShape shape_;
  std::vector<double> params_;
  double radius_;
};

std::unique_ptr<WorldModel> TokenMlpModel::train(std::span<const WorldTable> tables, const WorldTrainOptions& options,
                                                 const kernels::Context&, WorldTrainReport& report) {
  TokenMlpShape shape;
  shape.hidden = options.hidden;
  shape.dim = options.dim;
  const int e = shape.embed;

  // Every distinct description of the market is one column of the batch
  // matrices; a table's columns are indices into them.
  std::map<std::string, std::int64_t> column_of;
  std::vector<std::string> all_descriptions;
  std::vector<std::vector<std::int64_t>> table_columns(tables.size());
  for (std::size_t k = 0; k < tables.size(); ++k) {
    for (const std::string& d : tables[k].descriptions) {
      auto [it, added] = column_of.emplace(d, static_cast<std::int64_t>(all_descriptions.size()));
      if (added) all_descriptions.push_back(d);
      table_columns[k].push_back(it->second);
    }
  }
  const std::int64_t c = static_cast<std::int64_t>(all_descriptions.size());
  const kernels::Matrix<double> t = embed_column_descriptions(all_descriptions);
  std::vector<RowMatrix> table_values;  // squashed RKME points
  std::vector<std::vector<double>> cumulative;  // beta's cumulative sums, for drawing points
  for (const WorldTable& tb : tables) {
    table_values.push_back(squashed(tb.z.view()));
    std::vector<double> w = point_weights(tb, 1);
    std::partial_sum(w.begin(), w.end(), w.begin());
    cumulative.push_back(std::move(w));
  }

  // Initial weights: P, Q ~ N(0, 1) (t is a unit vector, so each token
  // entry starts with unit variance), W1 ~ N(0, 2/H), W2 ~ N(0, 1/H), biases 0.
  kernels::Rng rng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<double> params(static_cast<std::size_t>(shape.parameter_count()), 0.0);
  {
    TokenMlpGrads init(shape, params.data());
    for (Eigen::Index i = 0; i < init.p.size(); ++i) init.p.data()[i] = rng.normal();
    for (Eigen::Index i = 0; i < init.q.size(); ++i) init.q.data()[i] = rng.normal();
    for (Eigen::Index i = 0; i < init.w1.size(); ++i) init.w1.data()[i] = rng.normal() * std::sqrt(2.0 / shape.hidden);
    for (Eigen::Index i = 0; i < init.w2.size(); ++i) init.w2.data()[i] = rng.normal() * std::sqrt(1.0 / shape.hidden);
  }
  std::vector<double> m(params.size(), 0.0), v(params.size(), 0.0), grad(params.size());
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::int64_t step = 0;

  const std::int64_t points = total_points(tables);
  const std::int64_t steps_per_epoch = std::max<std::int64_t>(1, (points + options.batch - 1) / options.batch);
  const std::int64_t n = options.batch;
  RowMatrix values(n, c), m1(n, c), m2(n, c);
  std::vector<std::int64_t> order;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    double loss_sum = 0;
    for (std::int64_t s = 0; s < steps_per_epoch; ++s) {
      values.setZero();
      m1.setZero();
      m2.setZero();
      for (std::int64_t b = 0; b < n; ++b) {
        const std::size_t k = rng.below(tables.size());
        const std::vector<double>& cum = cumulative[k];
        const double r = rng.uniform() * cum.back();
        const auto i = static_cast<Eigen::Index>(
            std::min<std::size_t>(std::upper_bound(cum.begin(), cum.end(), r) - cum.begin(), cum.size() - 1));
        const std::vector<std::int64_t>& cols = table_columns[k];
        const auto d = static_cast<std::int64_t>(cols.size());
        const std::int64_t keep =
            std::max<std::int64_t>(1, static_cast<std::int64_t>(std::lround(options.view_fraction * d)));
        for (RowMatrix* mask : {&m1, &m2}) {
          order.resize(static_cast<std::size_t>(d));
          std::iota(order.begin(), order.end(), 0);
          for (std::int64_t j = 0; j < keep; ++j) {  // a partial Fisher-Yates shuffle: `keep` distinct columns
            const std::int64_t pick = j + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(d - j)));
            std::swap(order[static_cast<std::size_t>(j)], order[static_cast<std::size_t>(pick)]);
            (*mask)(b, cols[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])]) += 1.0;
          }
        }
        for (std::int64_t j = 0; j < d; ++j) {
          values(b, cols[static_cast<std::size_t>(j)]) = table_values[k](i, j);
        }
      }
      // Two identical descriptions in one table share a column: the mask
      // counts both, the value is the last one's (a table with duplicate
      // descriptions is rare and its columns are then alike to the model).
      const double loss = token_mlp_batch_loss(shape, params, {values.data(), n, c}, t.view(), {m1.data(), n, c},
                                               {m2.data(), n, c}, options.temperature, &grad);
      loss_sum += loss;
      ++step;
      const double lr = options.learning_rate * std::sqrt(1 - std::pow(beta2, step)) / (1 - std::pow(beta1, step));
      for (std::size_t p = 0; p < params.size(); ++p) {
        m[p] = beta1 * m[p] + (1 - beta1) * grad[p];
        v[p] = beta2 * v[p] + (1 - beta2) * grad[p] * grad[p];
        params[p] -= lr * m[p] / (std::sqrt(v[p]) + eps);
      }
    }
    report.epoch_loss.push_back(loss_sum / static_cast<double>(steps_per_epoch));
    if (options.progress) options.progress(epoch + 1, options.epochs, report.epoch_loss.back());
  }
  (void)e;

  // The radius: the mean squared distance between two market points
  // (2 r^2 (1 - E[cos])) made kWorldMeanSquaredDistance.
  TokenMlpModel unit(shape, params, 1.0);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(shape.dim);
  double second = 0;
  for (std::size_t k = 0; k < tables.size(); ++k) {
    const kernels::Matrix<double> tk = embed_column_descriptions(tables[k].descriptions);
    const RowMatrix zn = unit.unit_outputs(table_values[k], tk.view());  // D x K
    const std::vector<double> w = point_weights(tables[k], tables.size());
    for (Eigen::Index i = 0; i < zn.cols(); ++i) {
      mean += w[static_cast<std::size_t>(i)] * zn.col(i);
      second += w[static_cast<std::size_t>(i)];  // |zn| = 1
    }
  }
  const double trace = second - mean.squaredNorm();  // trace of the covariance of unit vectors
  report.tables = static_cast<std::int64_t>(tables.size());
  report.points = points;
  return std::make_unique<TokenMlpModel>(shape, std::move(params), scale_for_spread(trace));
}

}  // namespace

double squash_value(double x) { return std::copysign(std::log1p(std::fabs(x)), x); }

kernels::Matrix<double> embed_column_descriptions(std::span<const std::string> descriptions) {
  static const text::HashingEncoder encoder([] {
    text::HashingOptions o;
    o.dim = kColumnEmbeddingDim;
    o.word_bigrams = true;
    o.char_ngram = 3;
    o.seed = 0;
    return o;
  }());
  kernels::Matrix<double> out(static_cast<std::int64_t>(descriptions.size()), kColumnEmbeddingDim);
  for (std::size_t i = 0; i < descriptions.size(); ++i) {
    const std::span<double> row(out.row(static_cast<std::int64_t>(i)), kColumnEmbeddingDim);
    encoder.encode_one(descriptions[i], row);
    double norm = 0;
    for (double v : row) norm += v * v;
    norm = std::sqrt(norm);
    if (norm > 0) {
      for (double& v : row) v /= norm;
    }
  }
  return out;
}

void WorldTrainOptions::validate() const {
  if (dim < 1 || dim > 1024) fail("the specification world's --dim must be in [1, 1024]");
  if (hidden < 1 || hidden > 4096) fail("the specification world's hidden width must be in [1, 4096]");
  if (epochs < 0 || epochs > 100000) fail("the specification world's --epochs must be in [0, 100000]");
  if (batch < 2) fail("the specification world's batch must hold at least 2 points");
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) fail("the specification world's learning rate must be > 0");
  if (!(temperature > 0) || !std::isfinite(temperature)) fail("the specification world's temperature must be > 0");
  if (!(view_fraction > 0 && view_fraction <= 1)) fail("the specification world's view fraction must be in (0, 1]");
}

std::int64_t TokenMlpShape::parameter_count() const {
  return 2LL * hidden * embed + static_cast<std::int64_t>(hidden) * hidden + hidden +
         static_cast<std::int64_t>(dim) * hidden + dim;
}

double token_mlp_batch_loss(const TokenMlpShape& shape, std::span<const double> params,
                            kernels::ConstMatrixView<double> squashed_values, kernels::ConstMatrixView<double> t,
                            kernels::ConstMatrixView<double> m1, kernels::ConstMatrixView<double> m2,
                            double temperature, std::vector<double>* grad) {
  if (static_cast<std::int64_t>(params.size()) != shape.parameter_count()) fail("token-mlp: wrong parameter count");
  const TokenMlpParams w(shape, params.data());
  const RowMatrix u = w.p * as_eigen(t).transpose();   // H x C
  const RowMatrix wq = w.q * as_eigen(t).transpose();  // H x C
  const RowMatrix values = as_eigen(squashed_values);
  const RowMatrix mask1 = as_eigen(m1), mask2 = as_eigen(m2);
  const ViewPass v1 = forward_view(w, u, wq, values, mask1);
  const ViewPass v2 = forward_view(w, u, wq, values, mask2);
  const Eigen::Index n = values.rows();
  const RowMatrix logits = v1.zn.transpose() * v2.zn / temperature;  // n x n: view-1 row a against view-2 row b
  // Row softmax (view 1 finds its view 2) and column softmax (the reverse).
  RowMatrix prow(n, n), pcol(n, n);
  double loss = 0;
  for (Eigen::Index a = 0; a < n; ++a) {
    const double mx = logits.row(a).maxCoeff();
    const double lse = mx + std::log((logits.row(a).array() - mx).exp().sum());
    prow.row(a) = (logits.row(a).array() - lse).exp().matrix();
    loss -= logits(a, a) - lse;
  }
  for (Eigen::Index b = 0; b < n; ++b) {
    const double mx = logits.col(b).maxCoeff();
    const double lse = mx + std::log((logits.col(b).array() - mx).exp().sum());
    pcol.col(b) = (logits.col(b).array() - lse).exp().matrix();
    loss -= logits(b, b) - lse;
  }
  loss /= 2.0 * static_cast<double>(n);
  if (grad != nullptr) {
    grad->assign(params.size(), 0.0);
    TokenMlpGrads g(shape, grad->data());
    RowMatrix dlogits = (prow + pcol) / (2.0 * static_cast<double>(n));
    dlogits.diagonal().array() -= 1.0 / static_cast<double>(n);
    dlogits /= temperature;
    const RowMatrix dzn1 = v2.zn * dlogits.transpose();  // D x n
    const RowMatrix dzn2 = v1.zn * dlogits;
    backward_view(w, v1, dzn1, t, g);
    backward_view(w, v2, dzn2, t, g);
  }
  return loss;
}

RKMETableSpec map_spec(const WorldModel& model, const RKMETableSpec& spec, std::span<const std::string> descriptions,
                       const kernels::Context& ctx) {
  kernels::Matrix<double> z = model.map(spec.z().view(), descriptions, ctx);
  return RKMETableSpec(std::move(z), spec.beta(), kSystemSpecGamma, spec.num_points());
}

// desc-pool first: the default (docs/DESIGN.md §5.6 says why).
const std::vector<WorldModelKind>& world_model_kinds() {
  static const std::vector<WorldModelKind> kinds = {
      {"desc-pool",
       "description embeddings weighted by the squashed values and averaged, projected on the market's top "
       "principal directions (no iterative training)",
       [](std::span<const WorldTable> tables, const WorldTrainOptions& o, const kernels::Context& ctx,
          WorldTrainReport& r) { return DescPoolModel::train(tables, o, ctx, r); },
       [](const nlohmann::json& in) { return DescPoolModel::from_json(in, "desc-pool"); }},
      {"token-mlp",
       "column tokens (squashed value x projected description embedding) averaged, a one-hidden-layer MLP, "
       "trained with a multi-view InfoNCE loss over overlapping column subsets of the market's RKME points",
       [](std::span<const WorldTable> tables, const WorldTrainOptions& o, const kernels::Context& ctx,
          WorldTrainReport& r) { return TokenMlpModel::train(tables, o, ctx, r); },
       [](const nlohmann::json& in) { return TokenMlpModel::from_json(in, "token-mlp"); }},
  };
  return kinds;
}

const WorldModelKind& world_model_kind(std::string_view name) {
  std::string names;
  for (const WorldModelKind& k : world_model_kinds()) {
    if (k.name == name) return k;
    names += (names.empty() ? "" : ", ") + k.name;
  }
  fail("unknown specification world model '" + std::string(name) + "' (kinds: " + names + ")");
}

std::unique_ptr<WorldModel> train_world_model(std::string_view kind, std::span<const WorldTable> tables,
                                              const WorldTrainOptions& options, const kernels::Context& ctx,
                                              WorldTrainReport* report) {
  options.validate();
  const WorldModelKind& k = world_model_kind(kind);
  check_tables(tables);
  WorldTrainReport local;
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<WorldModel> model = k.train(tables, options, ctx, local);
  local.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (report != nullptr) *report = std::move(local);
  return model;
}

nlohmann::json world_model_to_json(const WorldModel& model) {
  nlohmann::json out = model.to_json();
  out["kind"] = std::string(model.kind());
  return out;
}

std::unique_ptr<WorldModel> world_model_from_json(const nlohmann::json& in, std::string_view source) {
  if (!in.is_object() || !in.contains("kind") || !in.at("kind").is_string()) {
    fail(std::string(source) + ": the world model has no 'kind'");
  }
  const std::string kind = in.at("kind").get<std::string>();
  for (const WorldModelKind& k : world_model_kinds()) {
    if (k.name == kind) {
      try {
        return k.from_json(in);
      } catch (const Error& e) {
        fail(std::string(source) + ": " + e.what());
      }
    }
  }
  fail(std::string(source) + ": unknown world model kind '" + kind + "'");
}

}  // namespace lwd::hetero
