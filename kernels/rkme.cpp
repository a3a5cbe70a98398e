#include "kernels/rkme.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include <Eigen/Dense>

#include "kernels/error.h"
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

std::vector<double> beta_from_pass(const Context& ctx, ConstMatrixView<double> z, const DataPass& pass,
                                   std::int64_t n, double gamma, bool nonnegative) {
  const std::int64_t k = z.rows;
  Matrix<double> kzz(k, k);
  rbf_kernel_matrix(ctx, z, z, gamma, kzz.view());
  std::vector<double> c(pass.kzx_sum);
  for (double& v : c) v /= static_cast<double>(n);

  if (nonnegative) {
    SimplexQpResult qp = solve_simplex_qp(kzz.view(), c);
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

  KMeansOptions km;
  km.k = static_cast<int>(effective_rkme_size(options.k, n));
  km.max_iter = options.kmeans_max_iter;
  km.seed = ctx.seed;
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
  if (!offsets.empty() && (offsets.front() != 0 || offsets.back() != packed_z.rows)) {
    throw KernelError("batch inner products: offsets must start at 0 and end at the packed row count");
  }
  for (std::size_t m = 0; m + 1 < offsets.size(); ++m) {
    if (offsets[m + 1] < offsets[m]) throw KernelError("batch inner products: offsets must be non-decreasing");
  }
  // attraction[r] = sum_i beta_u[i] k(z_u[i], packed_z[r]) for every packed row r.
  std::vector<double> attraction(static_cast<std::size_t>(packed_z.rows));
  rbf_kernel_left_vecmul(ctx, beta_u, z_u, packed_z, gamma, attraction);
  for (std::size_t m = 0; m < out.size(); ++m) {
    double s = 0.0;
    for (std::int64_t r = offsets[m]; r < offsets[m + 1]; ++r)
      s += packed_beta[static_cast<std::size_t>(r)] * attraction[static_cast<std::size_t>(r)];
    out[m] = s;
  }
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

}  // namespace

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
