#include "kernels/rkme.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include <Eigen/Dense>

#include "kernels/error.h"
#include "kernels/fast_exp.h"
#include "kernels/kmeans.h"
#include "kernels/random.h"
#include "kernels/rbf_kernel.h"
#include "kernels/simplex_qp.h"

namespace lwd::kernels {

namespace {

void require_finite(ConstMatrixView<double> x, const char* what) {
  for (std::int64_t i = 0; i < x.rows; ++i) {
    const double* row = x.row(i);
    for (std::int64_t j = 0; j < x.cols; ++j) {
      if (!std::isfinite(row[j])) {
        throw KernelError(std::string(what) + " has a non-finite value at row " + std::to_string(i) + ", column " +
                          std::to_string(j) + " (impute missing values first)");
      }
    }
  }
}

void require_valid_gamma(double gamma) {
  if (!(gamma > 0.0) || !std::isfinite(gamma)) {
    throw KernelError("gamma must be a finite positive number, got " + std::to_string(gamma));
  }
}

void require_same_width(ConstMatrixView<double> a, ConstMatrixView<double> b) {
  if (a.cols != b.cols) {
    throw KernelError("RKME widths differ: " + std::to_string(a.cols) + " vs " + std::to_string(b.cols) +
                      " columns");
  }
}

void require_weights(ConstMatrixView<double> z, std::span<const double> beta, const char* what) {
  if (static_cast<std::int64_t>(beta.size()) != z.rows) {
    throw KernelError(std::string(what) + ": beta has " + std::to_string(beta.size()) + " entries but Z has " +
                      std::to_string(z.rows) + " rows");
  }
}

// The quantities one pass over the data yields for the current Z:
//   kzx_x(i, :) = sum_j k(z_i, x_j) x_j      (K x d)
//   kzx_sum(i)  = sum_j k(z_i, x_j)          (K)
// Both come from a single fused k(Z, X) * [X | 1] product, so the K x n kernel
// matrix is never stored. C of the beta step is kzx_sum / n; the gradient step
// needs both. Z does not change between a beta step and the next gradient step,
// so each pass is used twice.
struct DataPass {
  Matrix<double> kzx_x;
  std::vector<double> kzx_sum;
};

class DataTerms {
 public:
  explicit DataTerms(ConstMatrixView<double> x) : x_(x), x_with_ones_(x.rows, x.cols + 1) {
    for (std::int64_t j = 0; j < x.rows; ++j) {
      std::copy(x.row(j), x.row(j) + x.cols, x_with_ones_.row(j));
      x_with_ones_(j, x.cols) = 1.0;
    }
  }

  DataPass evaluate(const Context& ctx, ConstMatrixView<double> z, double gamma) const {
    const std::int64_t d = x_.cols;
    Matrix<double> product(z.rows, d + 1);
    rbf_kernel_matmul(ctx, z, x_, gamma, x_with_ones_.view(), product.view());
    DataPass pass{Matrix<double>(z.rows, d), std::vector<double>(static_cast<std::size_t>(z.rows))};
    for (std::int64_t i = 0; i < z.rows; ++i) {
      std::copy(product.row(i), product.row(i) + d, pass.kzx_x.row(i));
      pass.kzx_sum[static_cast<std::size_t>(i)] = product(i, d);
    }
    return pass;
  }

  std::int64_t rows() const { return x_.rows; }

 private:
  ConstMatrixView<double> x_;
  Matrix<double> x_with_ones_;
};

// Step 4 given K_zz and C: the simplex QP, or the reference's regularised
// linear solve.
std::vector<double> beta_from_kernels(ConstMatrixView<double> kzz, std::span<const double> c, bool nonnegative,
                                      std::span<const double> warm = {}) {
  const std::int64_t k = kzz.rows;
  if (nonnegative) {
    SimplexQpResult qp = solve_simplex_qp(kzz, c, SimplexQpOptions{.start = warm});
    return std::move(qp.x);
  }
  // The reference's unconstrained variant: (Kzz + 1e-5 I)^-1 C. Kzz + 1e-5 I is
  // symmetric positive definite, so Cholesky is exact enough and cheap.
  Eigen::MatrixXd a(k, k);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < k; ++j) a(i, j) = kzz(i, j) + (i == j ? 1e-5 : 0.0);
  const Eigen::Map<const Eigen::VectorXd> rhs(c.data(), k);
  const Eigen::VectorXd beta = a.llt().solve(rhs);
  return std::vector<double>(beta.data(), beta.data() + k);
}

std::vector<double> beta_from_pass(const Context& ctx, ConstMatrixView<double> z, const DataPass& pass,
                                   std::int64_t n, double gamma, bool nonnegative) {
  const std::int64_t k = z.rows;
  Matrix<double> kzz(k, k);
  rbf_kernel_matrix(ctx, z, z, gamma, kzz.view());
  std::vector<double> c(pass.kzx_sum);
  for (double& v : c) v /= static_cast<double>(n);
  return beta_from_kernels(kzz.view(), c, nonnegative);
}

// g_i = -2 gamma beta_i [ sum_j beta_j k(z_i,z_j)(z_i - z_j) - (2/n) sum_j k(z_i,x_j)(z_i - x_j) ]
// with both sums expanded so they need only matrix products:
//   sum_j beta_j Kzz_ij (z_i - z_j) = z_i (Kzz beta)_i - (Kzz diag(beta) Z)_i
//   sum_j k(z_i,x_j)(z_i - x_j)      = z_i kzx_sum_i - kzx_x_i
void gradient_step_from_pass(const Context& ctx, MatrixView<double> z, std::span<const double> beta,
                             const DataPass& pass, std::int64_t n, double gamma, double step_size) {
  const std::int64_t k = z.rows;
  const std::int64_t d = z.cols;
  Matrix<double> kzz(k, k);
  rbf_kernel_matrix(ctx, ConstMatrixView<double>(z), ConstMatrixView<double>(z), gamma, kzz.view());

  Matrix<double> grad(k, d);
  const double data_scale = 2.0 / static_cast<double>(n);
  for (std::int64_t i = 0; i < k; ++i) {
    double kzz_beta = 0.0;
    for (std::int64_t j = 0; j < k; ++j) kzz_beta += kzz(i, j) * beta[static_cast<std::size_t>(j)];
    double* g = grad.row(i);
    const double* zi = z.row(i);
    for (std::int64_t c = 0; c < d; ++c) g[c] = zi[c] * kzz_beta;
    for (std::int64_t j = 0; j < k; ++j) {
      const double w = kzz(i, j) * beta[static_cast<std::size_t>(j)];
      const double* zj = z.row(j);
      for (std::int64_t c = 0; c < d; ++c) g[c] -= w * zj[c];
    }
    const double s = pass.kzx_sum[static_cast<std::size_t>(i)];
    const double* kx = pass.kzx_x.row(i);
    const double scale = -2.0 * gamma * beta[static_cast<std::size_t>(i)];
    for (std::int64_t c = 0; c < d; ++c) g[c] = scale * (g[c] - data_scale * (zi[c] * s - kx[c]));
  }
  for (std::int64_t i = 0; i < k; ++i) {
    double* zi = z.row(i);
    const double* g = grad.row(i);
    for (std::int64_t c = 0; c < d; ++c) zi[c] -= step_size * g[c];
  }
}

void validate_data(ConstMatrixView<double> x, const RkmeOptions& options) {
  if (x.rows < 1) throw KernelError("cannot build an RKME of zero rows");
  if (x.cols < 1) throw KernelError("cannot build an RKME of zero columns");
  if (options.k < 1) throw KernelError("RKME size K must be at least 1, got " + std::to_string(options.k));
  if (options.steps < 0) throw KernelError("RKME steps must be >= 0, got " + std::to_string(options.steps));
  if (!std::isfinite(options.step_size)) throw KernelError("RKME step size must be finite");
  require_valid_gamma(options.gamma);
  require_finite(x, "data");
}

// ---- descent (kHerdingDescent) ------------------------------------------------
//
// One trial point of the descent: Z with its best beta and what the next
// direction needs. objective = beta' K_zz beta - 2 C' beta, which is MMD² minus
// the constant ||mu_X||^2.
struct FitPoint {
  Matrix<double> z;
  Matrix<double> kzz;
  std::vector<double> c;           // C_i = (1/n) sum_j k(z_i, x_j)
  Matrix<double> data_mean;        // row i: (1/n) sum_j k(z_i, x_j) x_j
  std::vector<double> beta;
  std::vector<double> kzz_beta;    // K_zz beta
  double objective = 0.0;
};

// `warm`: a beta to start the QP from (the descent's current point), or empty.
void finish_fit_point(FitPoint& f, bool nonnegative, std::span<const double> warm) {
  const std::int64_t k = f.z.rows();
  f.beta = beta_from_kernels(f.kzz.view(), f.c, nonnegative, warm);
  f.kzz_beta.assign(static_cast<std::size_t>(k), 0.0);
  double quadratic = 0.0, linear = 0.0;
  for (std::int64_t i = 0; i < k; ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < k; ++j) s += f.kzz(i, j) * f.beta[static_cast<std::size_t>(j)];
    f.kzz_beta[static_cast<std::size_t>(i)] = s;
    quadratic += f.beta[static_cast<std::size_t>(i)] * s;
    linear += f.c[static_cast<std::size_t>(i)] * f.beta[static_cast<std::size_t>(i)];
  }
  f.objective = quadratic - 2.0 * linear;
}

FitPoint evaluate_fit_point(const Context& ctx, const DataTerms& data, Matrix<double> z, double gamma,
                            bool nonnegative, std::span<const double> warm = {}) {
  const DataPass pass = data.evaluate(ctx, z.view(), gamma);
  const std::int64_t k = z.rows(), d = z.cols();
  const double n = static_cast<double>(data.rows());
  FitPoint f;
  f.kzz = Matrix<double>(k, k);
  rbf_kernel_matrix(ctx, z.view(), z.view(), gamma, f.kzz.view());
  f.c.resize(static_cast<std::size_t>(k));
  f.data_mean = Matrix<double>(k, d);
  for (std::int64_t i = 0; i < k; ++i) {
    f.c[static_cast<std::size_t>(i)] = pass.kzx_sum[static_cast<std::size_t>(i)] / n;
    for (std::int64_t col = 0; col < d; ++col) f.data_mean(i, col) = pass.kzx_x(i, col) / n;
  }
  f.z = std::move(z);
  finish_fit_point(f, nonnegative, warm);
  return f;
}

// r_i = sum_j beta_j k(z_i,z_j)(z_i - z_j) - (1/n) sum_j k(z_i,x_j)(z_i - x_j),
// so that dMMD²/dz_i = -4 gamma beta_i r_i; both sums expanded into products:
//   z_i (K_zz beta)_i - (K_zz diag(beta) Z)_i   and   z_i C_i - data_mean_i.
Matrix<double> mmd2_residual(ConstMatrixView<double> z, ConstMatrixView<double> kzz, std::span<const double> beta,
                             std::span<const double> kzz_beta, std::span<const double> c,
                             ConstMatrixView<double> data_mean) {
  const std::int64_t k = z.rows, d = z.cols;
  Matrix<double> r(k, d);
  for (std::int64_t i = 0; i < k; ++i) {
    double* ri = r.row(i);
    const double* zi = z.row(i);
    for (std::int64_t col = 0; col < d; ++col) ri[col] = 0.0;
    for (std::int64_t j = 0; j < k; ++j) {
      const double w = kzz(i, j) * beta[static_cast<std::size_t>(j)];
      const double* zj = z.row(j);
      for (std::int64_t col = 0; col < d; ++col) ri[col] -= w * zj[col];
    }
    const double self = kzz_beta[static_cast<std::size_t>(i)];
    const double ci = c[static_cast<std::size_t>(i)];
    const double* mi = data_mean.row(i);
    for (std::int64_t col = 0; col < d; ++col) ri[col] += zi[col] * self - (zi[col] * ci - mi[col]);
  }
  return r;
}

Matrix<double> fit_point_residual(const FitPoint& f) {
  return mmd2_residual(f.z.view(), f.kzz.view(), f.beta, f.kzz_beta, f.c, f.data_mean.view());
}

// The descent of rkme_descend, over any way of evaluating a trial point and
// its residual (the fused kernels, or the plain reference's loops).
//
// Direction. The gradient of point i is -4 gamma beta_i r_i. Its curvature
// along z_i is about 4 gamma beta_i times the kernel mass around z_i, C_i from
// the data and (K_zz beta)_i from the other points -- equal on the support at
// the optimum of beta up to the QP's multiplier -- so the step divides by
// 4 gamma beta_i h_i with h_i = (C_i + (K_zz beta)_i) / 2: dz_i = r_i / h_i.
// Without the scaling a point's step would be proportional to beta_i, about
// 1/K, and points of small weight would not move at all; with it the data part
// of a length-1 step takes z_i about to the kernel-weighted mean of the data
// around it (a mean-shift step) and the self part adds the repulsion of the
// other points.
// A point with beta_i = 0 moves too (its gradient is zero, so the objective
// does not see it), towards the data, where a later beta may use it.
//
// Length. The directional derivative is slope = sum_i -4 gamma beta_i r_i.dz_i
// < 0. A trial at length t gives f(t); the parabola through f(0), slope and
// f(t) has its minimum at t* = -slope t^2 / (2 (f(t) - f(0) - slope t)). A trial
// that lowers the objective is kept and the next step starts from t* (within
// [t/2, 64t]); one that does not is retried at t* (within [t/10, t/2]), at most
// three trials a step. Beta is re-solved at every trial (its QP started from
// the current beta), so f(t) is the objective of the sketch that would be
// kept. The first step tries t = 1.
template <class Evaluate, class Residual>
Rkme descend(Evaluate&& evaluate, Residual&& residual, FitPoint start, double gamma, const RkmeOptions& options,
             RkmeDescentReport* report) {
  constexpr int kTrialsPerStep = 3;
  // A wide kernel (low dimension) makes the scaled step far too short: the
  // parabola then asks for lengths of 30 to 100 at once, and growing the length
  // by at most 2x a step would spend the first steps getting there.
  constexpr double kMaxLengthGrowth = 64.0;
  FitPoint current = std::move(start);
  RkmeDescentReport done;
  done.evaluations = 1;
  const std::int64_t k = current.z.rows(), d = current.z.cols();
  double length = 1.0;
  for (int step = 0; step < options.steps; ++step) {
    const Matrix<double> r = residual(current);
    Matrix<double> direction(k, d);
    double slope = 0.0;
    for (std::int64_t i = 0; i < k; ++i) {
      const double h = 0.5 * (current.c[static_cast<std::size_t>(i)] + current.kzz_beta[static_cast<std::size_t>(i)]);
      if (!(h > 0.0)) continue;  // no kernel mass anywhere near z_i: it cannot be moved meaningfully
      const double scale = -4.0 * gamma * current.beta[static_cast<std::size_t>(i)];
      for (std::int64_t col = 0; col < d; ++col) {
        direction(i, col) = r(i, col) / h;
        slope += scale * r(i, col) * direction(i, col);
      }
    }
    if (!(slope < 0.0)) break;  // stationary (or a beta of mixed sign made it ascend)
    bool moved = false;
    for (int trial = 0; trial < kTrialsPerStep && !moved; ++trial) {
      Matrix<double> trial_z = current.z;
      for (std::int64_t e = 0; e < trial_z.size(); ++e) trial_z.data()[e] += length * direction.data()[e];
      // Z moved a little: the QP starts from the current beta and its support.
      FitPoint candidate = evaluate(std::move(trial_z), std::span<const double>(current.beta));
      ++done.evaluations;
      const double curvature = candidate.objective - current.objective - slope * length;
      const double model_length = curvature > 0.0 ? -slope * length * length / (2.0 * curvature) : 2.0 * length;
      if (candidate.objective < current.objective) {
        current = std::move(candidate);
        moved = true;
        length = std::clamp(model_length, 0.5 * length, kMaxLengthGrowth * length);
      } else {
        length = std::clamp(model_length, 0.1 * length, 0.5 * length);
      }
    }
    if (!moved) break;
    ++done.steps;
  }
  if (report) *report = done;
  Rkme out;
  out.z = std::move(current.z);
  out.beta = std::move(current.beta);
  out.gamma = gamma;
  return out;
}

// The rows kernel herding picks from (see rkme_herding_start): all of them when
// the sample size reaches n, else that many drawn without replacement (partial
// Fisher-Yates), in row order.
std::vector<std::int64_t> herding_sample_rows(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  const auto affordable =
      static_cast<std::int64_t>(std::sqrt(kHerdingStartPasses * static_cast<double>(k) * static_cast<double>(n)));
  const std::int64_t size = std::max(k, std::min({n, kHerdingStartSample, affordable}));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  std::iota(rows.begin(), rows.end(), std::int64_t{0});
  if (size >= n) return rows;
  Rng rng(seed);
  for (std::int64_t i = 0; i < size; ++i) {
    const auto j = i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n - i)));
    std::swap(rows[static_cast<std::size_t>(i)], rows[static_cast<std::size_t>(j)]);
  }
  rows.resize(static_cast<std::size_t>(size));
  std::sort(rows.begin(), rows.end());
  return rows;
}

// The rows kernel herding picks from, copied (see herding_sample_rows).
Matrix<double> herding_sample(ConstMatrixView<double> x, std::int64_t k, std::uint64_t seed) {
  const std::vector<std::int64_t> rows = herding_sample_rows(x.rows, k, seed);
  Matrix<double> sample(static_cast<std::int64_t>(rows.size()), x.cols);
  for (std::int64_t s = 0; s < sample.rows(); ++s) {
    const double* row = x.row(rows[static_cast<std::size_t>(s)]);
    std::copy(row, row + x.cols, sample.row(s));
  }
  return sample;
}

// Kernel herding on the empirical distribution of `sample` (m x d): k of its
// rows, see rkme_herding_start.
Matrix<double> herding_picks(const Context& ctx, const Matrix<double>& sample, std::int64_t k, double gamma) {
  const std::int64_t m = sample.rows(), d = sample.cols();
  // density[s] = (1/m) sum_r k(x_r, x_s): the sample's kernel mean at each of its rows.
  const std::vector<double> uniform(static_cast<std::size_t>(m), 1.0 / static_cast<double>(m));
  std::vector<double> density(static_cast<std::size_t>(m));
  rbf_kernel_left_vecmul(ctx, uniform, sample.view(), sample.view(), gamma, density);

  // One pick's kernel row is m values: too little work for a kernel call (its
  // checks and tiles cost more than the row) or for a team of threads, so it
  // is computed here, squared differences then one vectorised exp.
  std::vector<double> repulsion(static_cast<std::size_t>(m), 0.0);
  std::vector<double> k_row(static_cast<std::size_t>(m));
  std::vector<char> picked(static_cast<std::size_t>(m), 0);
  Matrix<double> z(k, d);
  for (std::int64_t t = 0; t < k; ++t) {
    std::int64_t best = -1;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::int64_t s = 0; s < m; ++s) {
      if (picked[static_cast<std::size_t>(s)]) continue;
      const double score = static_cast<double>(t + 1) * density[static_cast<std::size_t>(s)] -
                           repulsion[static_cast<std::size_t>(s)];
      if (best < 0 || score > best_score) {
        best_score = score;
        best = s;
      }
    }
    picked[static_cast<std::size_t>(best)] = 1;
    std::copy(sample.row(best), sample.row(best) + d, z.row(t));
    if (t + 1 < k) {
      const double* zt = z.row(t);
      for (std::int64_t s = 0; s < m; ++s) {
        const double* xs = sample.row(s);
        double squared = 0.0;
        for (std::int64_t col = 0; col < d; ++col) squared += (xs[col] - zt[col]) * (xs[col] - zt[col]);
        k_row[static_cast<std::size_t>(s)] = -gamma * squared;
      }
      exp_nonpositive_inplace(k_row.data(), m);
      for (std::int64_t s = 0; s < m; ++s) repulsion[static_cast<std::size_t>(s)] += k_row[static_cast<std::size_t>(s)];
    }
  }
  return z;
}

void validate_herding_start(ConstMatrixView<double> x, std::int64_t k, double gamma) {
  require_valid_gamma(gamma);
  if (x.rows < 1 || x.cols < 1) throw KernelError("herding start needs data with at least one row and column");
  if (k < 1 || k > x.rows) {
    throw KernelError("herding start: k must be between 1 and the number of rows (" + std::to_string(x.rows) +
                      "), got " + std::to_string(k));
  }
}

// The start of kHerdingDescent (see rkme_descent_start): the herding picks or
// the centroids of kDescentStartLloydIterations Lloyd iterations from them,
// whichever has the lower objective (the picks on a tie), evaluated.
template <class Evaluate>
FitPoint descent_start_point(const Context& ctx, Evaluate&& evaluate, ConstMatrixView<double> x, std::int64_t k,
                             double gamma) {
  const Matrix<double> sample = herding_sample(x, k, ctx.seed);
  Matrix<double> picks = herding_picks(ctx, sample, k, gamma);
  KMeansOptions km;
  km.k = static_cast<int>(k);
  km.max_iter = kDescentStartLloydIterations;
  km.initial_centroids = picks.values();
  km.centroids_only = true;
  FitPoint centroids = evaluate(kmeans(ctx, x, km).centroids);
  FitPoint herded = evaluate(std::move(picks));
  return centroids.objective < herded.objective ? std::move(centroids) : std::move(herded);
}

}  // namespace

void impute_non_finite_columns(MatrixView<double> x) {
  for (std::int64_t j = 0; j < x.cols; ++j) {
    double sum = 0.0;
    std::int64_t finite = 0;
    for (std::int64_t i = 0; i < x.rows; ++i) {
      const double v = x(i, j);
      if (std::isfinite(v)) {
        sum += v;
        ++finite;
      }
    }
    if (finite == x.rows) continue;
    if (finite == 0) {
      throw KernelError("all values in column " + std::to_string(j) + " are missing or non-finite (NaN/Inf)");
    }
    const double mean = sum / static_cast<double>(finite);
    for (std::int64_t i = 0; i < x.rows; ++i) {
      if (!std::isfinite(x(i, j))) x(i, j) = mean;
    }
  }
}

std::int64_t effective_rkme_size(std::int64_t k, std::int64_t n) {
  if (k < n) return k;
  return std::max<std::int64_t>(1, (2 * n) / 3);
}

const char* rkme_construction_name(RkmeConstruction construction) {
  switch (construction) {
    case RkmeConstruction::kKMeansPlusPlus: return "kmeans++";
    case RkmeConstruction::kReference: return "reference";
    case RkmeConstruction::kHerdingDescent: return "herding-descent";
  }
  return "unknown";
}

Rkme build_rkme(const Context& ctx, ConstMatrixView<double> x, const RkmeOptions& options) {
  validate_data(x, options);
  const std::int64_t n = x.rows;
  Rkme out;
  out.gamma = options.gamma;
  out.num_points = n;

  if (!options.reduce) {
    out.z = Matrix<double>(n, x.cols);
    for (std::int64_t i = 0; i < n; ++i) std::copy(x.row(i), x.row(i) + x.cols, out.z.row(i));
    out.beta.assign(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n));
    return out;
  }

  const std::int64_t k = effective_rkme_size(options.k, n);
  if (options.construction == RkmeConstruction::kHerdingDescent) {
    const DataTerms data(x);
    const auto evaluate = [&](Matrix<double> trial, std::span<const double> warm = {}) {
      return evaluate_fit_point(ctx, data, std::move(trial), options.gamma, options.nonnegative_beta, warm);
    };
    Rkme fitted = descend(evaluate, fit_point_residual, descent_start_point(ctx, evaluate, x, k, options.gamma),
                          options.gamma, options, nullptr);
    out.z = std::move(fitted.z);
    out.beta = std::move(fitted.beta);
    return out;
  }

  KMeansOptions km;
  km.k = static_cast<int>(k);
  km.max_iter = options.kmeans_max_iter;
  km.seed = ctx.seed;
  km.reference_rules = options.construction == RkmeConstruction::kReference;
  km.centroids_only = true;
  out.z = kmeans(ctx, x, km).centroids;

  const DataTerms data(x);
  DataPass pass = data.evaluate(ctx, out.z.view(), options.gamma);
  out.beta = beta_from_pass(ctx, out.z.view(), pass, n, options.gamma, options.nonnegative_beta);
  for (int step = 0; step < options.steps; ++step) {
    gradient_step_from_pass(ctx, out.z.view(), out.beta, pass, n, options.gamma, options.step_size);
    pass = data.evaluate(ctx, out.z.view(), options.gamma);
    out.beta = beta_from_pass(ctx, out.z.view(), pass, n, options.gamma, options.nonnegative_beta);
  }
  return out;
}

Matrix<double> rkme_herding_start(const Context& ctx, ConstMatrixView<double> x, std::int64_t k, double gamma) {
  validate_herding_start(x, k, gamma);
  return herding_picks(ctx, herding_sample(x, k, ctx.seed), k, gamma);
}

Matrix<double> rkme_descent_start(const Context& ctx, ConstMatrixView<double> x, std::int64_t k,
                                  const RkmeOptions& options) {
  validate_data(x, options);
  const DataTerms data(x);
  const auto evaluate = [&](Matrix<double> trial, std::span<const double> warm = {}) {
    return evaluate_fit_point(ctx, data, std::move(trial), options.gamma, options.nonnegative_beta, warm);
  };
  return std::move(descent_start_point(ctx, evaluate, x, k, options.gamma).z);
}

Rkme rkme_descend(const Context& ctx, ConstMatrixView<double> x, Matrix<double> z, const RkmeOptions& options,
                  RkmeDescentReport* report) {
  validate_data(x, options);
  require_same_width(z.view(), x);
  if (z.rows() < 1) throw KernelError("RKME descent needs at least one centre");
  require_finite(z.view(), "initial Z");
  const DataTerms data(x);
  const auto evaluate = [&](Matrix<double> trial, std::span<const double> warm = {}) {
    return evaluate_fit_point(ctx, data, std::move(trial), options.gamma, options.nonnegative_beta, warm);
  };
  Rkme out = descend(evaluate, fit_point_residual, evaluate(std::move(z)), options.gamma, options, report);
  out.num_points = x.rows;
  return out;
}

double rkme_mmd2_to_data(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                         ConstMatrixView<double> x, double gamma) {
  require_valid_gamma(gamma);
  require_same_width(z, x);
  require_weights(z, beta, "MMD² to data");
  if (x.rows < 1) throw KernelError("MMD² to data needs at least one data row");
  const std::vector<double> uniform(static_cast<std::size_t>(x.rows), 1.0 / static_cast<double>(x.rows));
  return rbf_kernel_bilinear(ctx, beta, z, z, beta, gamma) - 2.0 * rbf_kernel_bilinear(ctx, beta, z, x, uniform, gamma) +
         rbf_kernel_bilinear(ctx, uniform, x, x, uniform, gamma);
}

Matrix<double> rkme_mmd2_gradient(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                                  ConstMatrixView<double> x, double gamma) {
  require_valid_gamma(gamma);
  require_same_width(z, x);
  require_weights(z, beta, "MMD² gradient");
  if (x.rows < 1) throw KernelError("MMD² gradient needs at least one data row");
  const std::int64_t k = z.rows, d = z.cols;
  const double n = static_cast<double>(x.rows);
  const DataPass pass = DataTerms(x).evaluate(ctx, z, gamma);
  Matrix<double> kzz(k, k);
  rbf_kernel_matrix(ctx, z, z, gamma, kzz.view());
  std::vector<double> c(static_cast<std::size_t>(k)), kzz_beta(static_cast<std::size_t>(k), 0.0);
  Matrix<double> data_mean(k, d);
  for (std::int64_t i = 0; i < k; ++i) {
    c[static_cast<std::size_t>(i)] = pass.kzx_sum[static_cast<std::size_t>(i)] / n;
    for (std::int64_t col = 0; col < d; ++col) data_mean(i, col) = pass.kzx_x(i, col) / n;
    for (std::int64_t j = 0; j < k; ++j) kzz_beta[static_cast<std::size_t>(i)] += kzz(i, j) * beta[static_cast<std::size_t>(j)];
  }
  Matrix<double> g = mmd2_residual(z, kzz.view(), beta, kzz_beta, c, data_mean.view());
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t col = 0; col < d; ++col) g(i, col) *= -4.0 * gamma * beta[static_cast<std::size_t>(i)];
  return g;
}

std::vector<double> rkme_optimal_beta(const Context& ctx, ConstMatrixView<double> z, ConstMatrixView<double> x,
                                      double gamma, bool nonnegative) {
  require_valid_gamma(gamma);
  require_same_width(z, x);
  if (z.rows < 1 || x.rows < 1) throw KernelError("RKME beta needs at least one centre and one data row");
  const DataTerms data(x);
  return beta_from_pass(ctx, z, data.evaluate(ctx, z, gamma), x.rows, gamma, nonnegative);
}

void rkme_gradient_step(const Context& ctx, MatrixView<double> z, std::span<const double> beta,
                        ConstMatrixView<double> x, double gamma, double step_size) {
  require_valid_gamma(gamma);
  require_same_width(z, x);
  require_weights(z, beta, "gradient step");
  if (x.rows < 1) throw KernelError("RKME gradient step needs at least one data row");
  const DataTerms data(x);
  const DataPass pass = data.evaluate(ctx, ConstMatrixView<double>(z), gamma);
  gradient_step_from_pass(ctx, z, beta, pass, x.rows, gamma, step_size);
}

double rkme_inner_product(const Context& ctx, ConstMatrixView<double> z_p, std::span<const double> beta_p,
                          ConstMatrixView<double> z_q, std::span<const double> beta_q, double gamma) {
  require_valid_gamma(gamma);
  require_same_width(z_p, z_q);
  require_weights(z_p, beta_p, "inner product");
  require_weights(z_q, beta_q, "inner product");
  return rbf_kernel_bilinear(ctx, beta_p, z_p, z_q, beta_q, gamma);
}

double rkme_mmd2(const Context& ctx, ConstMatrixView<double> z_p, std::span<const double> beta_p,
                 ConstMatrixView<double> z_q, std::span<const double> beta_q, double gamma) {
  const double pq = rkme_inner_product(ctx, z_p, beta_p, z_q, beta_q, gamma);
  const double pp = rkme_inner_product(ctx, z_p, beta_p, z_p, beta_p, gamma);
  const double qq = rkme_inner_product(ctx, z_q, beta_q, z_q, beta_q, gamma);
  return pp - 2.0 * pq + qq;
}

void rkme_batch_inner_products(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<double> packed_z, std::span<const double> packed_beta,
                               std::span<const std::int64_t> offsets, double gamma, std::span<double> out) {
  require_valid_gamma(gamma);
  require_same_width(z_u, packed_z);
  require_weights(z_u, beta_u, "batch inner products (user)");
  require_weights(packed_z, packed_beta, "batch inner products (packed)");
  if (offsets.size() != out.size() + 1) {
    throw KernelError("batch inner products: " + std::to_string(offsets.size()) + " offsets for " +
                      std::to_string(out.size()) + " outputs (need outputs + 1)");
  }
  detail::check_packed_offsets("batch inner products: ", offsets, packed_z.rows);
  // attraction[r] = sum_i beta_u[i] k(z_u[i], packed_z[r]) for every packed row r.
  std::vector<double> attraction(static_cast<std::size_t>(packed_z.rows));
  rbf_kernel_left_vecmul(ctx, beta_u, z_u, packed_z, gamma, attraction);
  rkme_segmented_sums(packed_beta, offsets, attraction, out);
}

static_assert(kRkmeBatchRowBlock % kRbfRowBlock == 0, "row blocks must start on a tile");

void rkme_segmented_sums(std::span<const double> packed_beta, std::span<const std::int64_t> offsets,
                         std::span<const double> attraction, std::span<double> out) {
  if (offsets.size() != out.size() + 1 || (!offsets.empty() && offsets.back() > static_cast<std::int64_t>(attraction.size())) ||
      attraction.size() != packed_beta.size())
    throw KernelError("segmented sums: offsets, weights and rows do not fit together");
  for (std::size_t m = 0; m < out.size(); ++m) {
    double s = 0.0;
    for (std::int64_t r = offsets[m]; r < offsets[m + 1]; ++r)
      s += packed_beta[static_cast<std::size_t>(r)] * attraction[static_cast<std::size_t>(r)];
    out[m] = s;
  }
}

void detail::check_packed_offsets(const std::string& where, std::span<const std::int64_t> offsets,
                                  std::int64_t packed_rows) {
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != packed_rows) {
    throw KernelError(where + "offsets must start at 0 and end at the packed row count");
  }
  for (std::size_t m = 0; m + 1 < offsets.size(); ++m) {
    if (offsets[m + 1] < offsets[m]) throw KernelError(where + "offsets must be non-decreasing");
  }
}

void detail::check_attraction_rows(const char* fn, std::int64_t user_cols, std::int64_t packed_cols,
                                   std::int64_t user_rows, std::size_t beta_u_size, std::int64_t packed_rows,
                                   double gamma, std::int64_t begin, std::int64_t end, std::size_t out_size) {
  const std::string where = std::string(fn) + ": ";
  require_valid_gamma(gamma);
  if (user_cols != packed_cols) throw KernelError(where + "widths differ");
  if (static_cast<std::int64_t>(beta_u_size) != user_rows) throw KernelError(where + "beta_u length != rows of z_u");
  if (begin < 0 || end < begin || end > packed_rows || begin % kRkmeBatchRowBlock != 0 ||
      (end % kRkmeBatchRowBlock != 0 && end != packed_rows))
    throw KernelError(where + "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                      std::to_string(packed_rows) + " do not start and end on a block of " +
                      std::to_string(kRkmeBatchRowBlock));
  if (out_size != static_cast<std::size_t>(end - begin)) throw KernelError(where + "out must have end - begin entries");
}

void rkme_batch_attraction(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                           ConstMatrixView<double> packed_z, double gamma, std::int64_t begin, std::int64_t end,
                           std::span<double> out) {
  detail::check_attraction_rows("rkme_batch_attraction", z_u.cols, packed_z.cols, z_u.rows, beta_u.size(),
                                packed_z.rows, gamma, begin, end, out.size());
  rbf_kernel_left_vecmul_rows(ctx, beta_u, z_u, packed_z, gamma, begin, end, out);
}

Matrix<double> rkme_herding(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                            double gamma, std::int64_t n_samples) {
  require_valid_gamma(gamma);
  require_weights(z, beta, "herding");
  if (n_samples < 1) throw KernelError("herding needs at least one sample, got " + std::to_string(n_samples));
  if (z.rows < 1) throw KernelError("herding needs an RKME with at least one point");
  const std::int64_t d = z.cols;

  // Candidates: centre i with probability proportional to max(beta_i, 0)
  // (negative weights cannot be sampled from), then N(z_i, 0.25^2 I).
  std::vector<double> cumulative(beta.size());
  double total = 0.0;
  for (std::size_t i = 0; i < beta.size(); ++i) {
    total += std::max(beta[i], 0.0);
    cumulative[i] = total;
  }
  if (!(total > 0.0)) throw KernelError("herding needs at least one positive weight in beta");

  const std::int64_t n_candidates = 100 * n_samples;
  Matrix<double> candidates(n_candidates, d);
  Rng rng(ctx.seed);
  for (std::int64_t c = 0; c < n_candidates; ++c) {
    const double u = rng.uniform() * total;
    auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
    std::int64_t centre = std::min<std::int64_t>(it - cumulative.begin(), z.rows - 1);
    // u * total can round up to total; step back to the last centre with weight.
    while (beta[static_cast<std::size_t>(centre)] <= 0.0) --centre;
    const double* zc = z.row(centre);
    double* out = candidates.row(c);
    for (std::int64_t j = 0; j < d; ++j) out[j] = zc[j] + 0.25 * rng.normal();
  }

  // Greedy herding. The attraction of each candidate to the RKME is computed
  // once; the repulsion of the points chosen so far is accumulated one chosen
  // point at a time (same sums as recomputing them every step, in the same order).
  std::vector<double> attraction(static_cast<std::size_t>(n_candidates));
  rbf_kernel_left_vecmul(ctx, beta, z, candidates.view(), gamma, attraction);
  std::vector<double> repulsion(static_cast<std::size_t>(n_candidates), 0.0);
  std::vector<double> k_row(static_cast<std::size_t>(n_candidates));
  const std::vector<double> one{1.0};

  Matrix<double> samples(n_samples, d);
  for (std::int64_t t = 0; t < n_samples; ++t) {
    std::int64_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::int64_t c = 0; c < n_candidates; ++c) {
      const double score = static_cast<double>(t + 1) * attraction[static_cast<std::size_t>(c)] -
                           repulsion[static_cast<std::size_t>(c)];
      if (score > best_score) {
        best_score = score;
        best = c;
      }
    }
    std::copy(candidates.row(best), candidates.row(best) + d, samples.row(t));
    if (t + 1 < n_samples) {
      rbf_kernel_left_vecmul(ctx, one, ConstMatrixView<double>(samples.row(t), 1, d), candidates.view(), gamma,
                             k_row);
      for (std::int64_t c = 0; c < n_candidates; ++c)
        repulsion[static_cast<std::size_t>(c)] += k_row[static_cast<std::size_t>(c)];
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------
// Plain references: every kernel value computed directly from its definition.

namespace {

double rbf_direct(const double* a, const double* b, std::int64_t d, double gamma) {
  double s = 0.0;
  for (std::int64_t c = 0; c < d; ++c) {
    const double diff = a[c] - b[c];
    s += diff * diff;
  }
  return std::exp(-gamma * s);
}

double inner_product_ref(ConstMatrixView<double> zp, std::span<const double> bp, ConstMatrixView<double> zq,
                         std::span<const double> bq, double gamma) {
  double s = 0.0;
  for (std::int64_t i = 0; i < zp.rows; ++i)
    for (std::int64_t j = 0; j < zq.rows; ++j)
      s += bp[static_cast<std::size_t>(i)] * bq[static_cast<std::size_t>(j)] *
           rbf_direct(zp.row(i), zq.row(j), zp.cols, gamma);
  return s;
}

std::vector<double> beta_ref(ConstMatrixView<double> z, ConstMatrixView<double> x, double gamma, bool nonnegative) {
  const std::int64_t k = z.rows;
  Matrix<double> kzz(k, k);
  std::vector<double> c(static_cast<std::size_t>(k), 0.0);
  for (std::int64_t i = 0; i < k; ++i) {
    for (std::int64_t j = 0; j < k; ++j) kzz(i, j) = rbf_direct(z.row(i), z.row(j), z.cols, gamma);
    for (std::int64_t j = 0; j < x.rows; ++j) c[static_cast<std::size_t>(i)] += rbf_direct(z.row(i), x.row(j), z.cols, gamma);
    c[static_cast<std::size_t>(i)] /= static_cast<double>(x.rows);
  }
  if (nonnegative) return solve_simplex_qp(kzz.view(), c).x;
  Eigen::MatrixXd a(k, k);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < k; ++j) a(i, j) = kzz(i, j) + (i == j ? 1e-5 : 0.0);
  const Eigen::VectorXd beta = a.fullPivLu().solve(Eigen::Map<const Eigen::VectorXd>(c.data(), k));
  return std::vector<double>(beta.data(), beta.data() + k);
}

// herding_picks from its definition: every kernel value direct, the
// repulsion summed afresh for every candidate.
Matrix<double> herding_picks_ref(const Matrix<double>& sample, std::int64_t k, double gamma) {
  const std::int64_t m = sample.rows(), d = sample.cols();
  const auto row = [&](std::int64_t s) { return sample.row(s); };
  std::vector<double> density(static_cast<std::size_t>(m), 0.0);
  for (std::int64_t s = 0; s < m; ++s) {
    for (std::int64_t r = 0; r < m; ++r) density[static_cast<std::size_t>(s)] += rbf_direct(row(r), row(s), d, gamma);
    density[static_cast<std::size_t>(s)] /= static_cast<double>(m);
  }
  std::vector<std::int64_t> chosen;
  Matrix<double> z(k, d);
  for (std::int64_t t = 0; t < k; ++t) {
    std::int64_t best = -1;
    double best_score = 0.0;
    for (std::int64_t s = 0; s < m; ++s) {
      if (std::find(chosen.begin(), chosen.end(), s) != chosen.end()) continue;
      double repulsion = 0.0;
      for (const std::int64_t u : chosen) repulsion += rbf_direct(row(u), row(s), d, gamma);
      const double score = static_cast<double>(t + 1) * density[static_cast<std::size_t>(s)] - repulsion;
      if (best < 0 || score > best_score) {
        best_score = score;
        best = s;
      }
    }
    chosen.push_back(best);
    std::copy(row(best), row(best) + d, z.row(t));
  }
  return z;
}

FitPoint evaluate_fit_point_ref(ConstMatrixView<double> x, Matrix<double> z, double gamma, bool nonnegative,
                                std::span<const double> warm = {}) {
  const std::int64_t k = z.rows(), d = z.cols();
  const double n = static_cast<double>(x.rows);
  FitPoint f;
  f.kzz = Matrix<double>(k, k);
  f.c.assign(static_cast<std::size_t>(k), 0.0);
  f.data_mean = Matrix<double>(k, d, 0.0);
  for (std::int64_t i = 0; i < k; ++i) {
    for (std::int64_t j = 0; j < k; ++j) f.kzz(i, j) = rbf_direct(z.row(i), z.row(j), d, gamma);
    for (std::int64_t j = 0; j < x.rows; ++j) {
      const double kij = rbf_direct(z.row(i), x.row(j), d, gamma);
      f.c[static_cast<std::size_t>(i)] += kij;
      for (std::int64_t col = 0; col < d; ++col) f.data_mean(i, col) += kij * x(j, col);
    }
    f.c[static_cast<std::size_t>(i)] /= n;
    for (std::int64_t col = 0; col < d; ++col) f.data_mean(i, col) /= n;
  }
  f.z = std::move(z);
  finish_fit_point(f, nonnegative, warm);
  return f;
}

// r_i of mmd2_residual from its definition, every kernel value direct.
Matrix<double> mmd2_residual_ref(ConstMatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                                 double gamma) {
  const std::int64_t k = z.rows, d = z.cols;
  const double n = static_cast<double>(x.rows);
  Matrix<double> r(k, d, 0.0);
  for (std::int64_t i = 0; i < k; ++i) {
    for (std::int64_t j = 0; j < k; ++j) {
      const double w = beta[static_cast<std::size_t>(j)] * rbf_direct(z.row(i), z.row(j), d, gamma);
      for (std::int64_t col = 0; col < d; ++col) r(i, col) += w * (z(i, col) - z(j, col));
    }
    for (std::int64_t j = 0; j < x.rows; ++j) {
      const double w = rbf_direct(z.row(i), x.row(j), d, gamma) / n;
      for (std::int64_t col = 0; col < d; ++col) r(i, col) -= w * (z(i, col) - x(j, col));
    }
  }
  return r;
}

}  // namespace

Matrix<double> rkme_herding_start_ref(ConstMatrixView<double> x, std::int64_t k, double gamma, std::uint64_t seed) {
  validate_herding_start(x, k, gamma);
  return herding_picks_ref(herding_sample(x, k, seed), k, gamma);
}

Matrix<double> rkme_descent_start_ref(ConstMatrixView<double> x, std::int64_t k, const RkmeOptions& options,
                                      std::uint64_t seed) {
  const Matrix<double> sample = herding_sample(x, k, seed);
  Matrix<double> picks = herding_picks_ref(sample, k, options.gamma);
  KMeansOptions km;
  km.k = static_cast<int>(k);
  km.max_iter = kDescentStartLloydIterations;
  km.initial_centroids = picks.values();
  km.centroids_only = true;
  FitPoint centroids = evaluate_fit_point_ref(x, kmeans_ref(x, km).centroids, options.gamma, options.nonnegative_beta);
  FitPoint herded = evaluate_fit_point_ref(x, std::move(picks), options.gamma, options.nonnegative_beta);
  return centroids.objective < herded.objective ? std::move(centroids.z) : std::move(herded.z);
}

double rkme_mmd2_to_data_ref(ConstMatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                             double gamma) {
  const std::vector<double> uniform(static_cast<std::size_t>(x.rows), 1.0 / static_cast<double>(x.rows));
  return rkme_mmd2_ref(z, beta, x, uniform, gamma);
}

Matrix<double> rkme_mmd2_gradient_ref(ConstMatrixView<double> z, std::span<const double> beta,
                                      ConstMatrixView<double> x, double gamma) {
  Matrix<double> g = mmd2_residual_ref(z, beta, x, gamma);
  for (std::int64_t i = 0; i < z.rows; ++i)
    for (std::int64_t col = 0; col < z.cols; ++col) g(i, col) *= -4.0 * gamma * beta[static_cast<std::size_t>(i)];
  return g;
}

void rkme_gradient_step_ref(MatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                            double gamma, double step_size) {
  const std::int64_t k = z.rows;
  const std::int64_t d = z.cols;
  const double n = static_cast<double>(x.rows);
  Matrix<double> grad(k, d);
  for (std::int64_t i = 0; i < k; ++i) {
    std::vector<double> term(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t j = 0; j < k; ++j) {
      const double w = beta[static_cast<std::size_t>(j)] * rbf_direct(z.row(i), z.row(j), d, gamma);
      for (std::int64_t c = 0; c < d; ++c) term[static_cast<std::size_t>(c)] += w * (z(i, c) - z(j, c));
    }
    for (std::int64_t j = 0; j < x.rows; ++j) {
      const double w = -2.0 * rbf_direct(z.row(i), x.row(j), d, gamma) / n;
      for (std::int64_t c = 0; c < d; ++c) term[static_cast<std::size_t>(c)] += w * (z(i, c) - x(j, c));
    }
    for (std::int64_t c = 0; c < d; ++c)
      grad(i, c) = -2.0 * gamma * beta[static_cast<std::size_t>(i)] * term[static_cast<std::size_t>(c)];
  }
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t c = 0; c < d; ++c) z(i, c) -= step_size * grad(i, c);
}

Rkme build_rkme_ref(ConstMatrixView<double> x, const Matrix<double>& initial_z, const RkmeOptions& options) {
  if (options.construction == RkmeConstruction::kHerdingDescent) {
    const auto evaluate = [&](Matrix<double> trial, std::span<const double> warm = {}) {
      return evaluate_fit_point_ref(x, std::move(trial), options.gamma, options.nonnegative_beta, warm);
    };
    const auto residual = [&](const FitPoint& f) { return mmd2_residual_ref(f.z.view(), f.beta, x, options.gamma); };
    Rkme fitted = descend(evaluate, residual, evaluate(initial_z), options.gamma, options, nullptr);
    fitted.num_points = x.rows;
    return fitted;
  }
  Rkme out;
  out.gamma = options.gamma;
  out.num_points = x.rows;
  out.z = initial_z;
  out.beta = beta_ref(out.z.view(), x, options.gamma, options.nonnegative_beta);
  for (int step = 0; step < options.steps; ++step) {
    rkme_gradient_step_ref(out.z.view(), out.beta, x, options.gamma, options.step_size);
    out.beta = beta_ref(out.z.view(), x, options.gamma, options.nonnegative_beta);
  }
  return out;
}

double rkme_mmd2_ref(ConstMatrixView<double> z_p, std::span<const double> beta_p, ConstMatrixView<double> z_q,
                     std::span<const double> beta_q, double gamma) {
  return inner_product_ref(z_p, beta_p, z_p, beta_p, gamma) - 2.0 * inner_product_ref(z_p, beta_p, z_q, beta_q, gamma) +
         inner_product_ref(z_q, beta_q, z_q, beta_q, gamma);
}

}  // namespace lwd::kernels
