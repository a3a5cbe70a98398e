#include "kernels/zca_whitening.h"

#include <cblas.h>
#include <lapacke.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/parallel.h"

namespace lwd::kernels {

namespace {

// Rows per block when whitening, columns per block of the covariance.
constexpr std::int64_t kWhitenRowsPerBlock = 128;
constexpr std::int64_t kCovColsPerBlock = 256;

void check_whitening_input(const char* fn, std::int64_t rows, std::int64_t cols, double reg_coef) {
  if (rows < 1 || cols < 1)
    throw KernelError(std::string(fn) + ": needs at least one row and one column (got " + std::to_string(rows) +
                      " x " + std::to_string(cols) + ")");
  if (!std::isfinite(reg_coef) || reg_coef < 0.0)
    throw KernelError(std::string(fn) + ": reg_coef must be finite and >= 0");
}

// W = base * I + U diag(f) U^T, U being D x r (row-major, columns = vectors).
// The fast path is one GEMM; the reference one plain loops.
Matrix<double> assemble_whitening(const std::vector<double>& u, const std::vector<double>& f, std::int64_t d,
                                  double base, bool fast) {
  const auto r = static_cast<std::int64_t>(f.size());
  Matrix<double> w(d, d, 0.0);
  if (fast && r > 0) {
    std::vector<double> scaled(u.size());
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t k = 0; k < r; ++k)
        scaled[static_cast<std::size_t>(i * r + k)] = u[static_cast<std::size_t>(i * r + k)] * f[static_cast<std::size_t>(k)];
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(d), static_cast<int>(d),
                  static_cast<int>(r), 1.0, scaled.data(), static_cast<int>(r), u.data(), static_cast<int>(r), 0.0,
                  w.data(), static_cast<int>(d));
    });
    // Exact symmetry: the GEMM's two triangles may round differently.
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < i; ++j) w(i, j) = w(j, i);
  } else {
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = i; j < d; ++j) {
        double acc = 0.0;
        for (std::int64_t k = 0; k < r; ++k)
          acc += u[static_cast<std::size_t>(i * r + k)] * f[static_cast<std::size_t>(k)] *
                 u[static_cast<std::size_t>(j * r + k)];
        w(i, j) = acc;
        w(j, i) = acc;
      }
  }
  for (std::int64_t i = 0; i < d; ++i) w(i, i) += base;
  return w;
}

// W = U diag(1 / sqrt(s + lambda)) U^T from the covariance S (D x D, row-major).
Matrix<double> zca_from_covariance(const char* fn, std::vector<double> cov, std::int64_t d, double reg_coef,
                                   bool use_lapack) {
  double trace = 0.0;
  for (std::int64_t i = 0; i < d; ++i) trace += cov[static_cast<std::size_t>(i * d + i)];
  const double lambda = reg_coef * trace / static_cast<double>(d);
  std::vector<double> eigenvalues(static_cast<std::size_t>(d));
  std::vector<double> u;  // row-major D x D, eigenvectors in columns
  if (use_lapack) {
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(d), cov.data(),
                                             static_cast<lapack_int>(d), eigenvalues.data());
      if (info != 0) throw KernelError(std::string(fn) + ": eigen-decomposition failed (LAPACK info " +
                                       std::to_string(info) + ")");
    });
    u = std::move(cov);
  } else {
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> s(cov.data(), d, d);
    const Eigen::MatrixXd dense = s;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(dense);
    if (solver.info() != Eigen::Success) throw KernelError(std::string(fn) + ": eigen-decomposition failed");
    u.resize(static_cast<std::size_t>(d * d));
    for (std::int64_t i = 0; i < d; ++i) {
      eigenvalues[static_cast<std::size_t>(i)] = solver.eigenvalues()(i);
      for (std::int64_t j = 0; j < d; ++j) u[static_cast<std::size_t>(i * d + j)] = solver.eigenvectors()(i, j);
    }
  }
  std::vector<double> inv_sqrt(static_cast<std::size_t>(d));
  for (std::int64_t k = 0; k < d; ++k) {
    // Rounding can leave the smallest eigenvalues of a singular S slightly
    // negative; lambda > 0 dominates them. Without a regulariser a singular S
    // has no whitening.
    const double v = std::max(eigenvalues[static_cast<std::size_t>(k)], 0.0) + lambda;
    if (!(v > 0.0) || !std::isfinite(v))
      throw KernelError(std::string(fn) + ": the covariance is singular (zero variance along some direction); "
                        "use reg_coef > 0");
    inv_sqrt[static_cast<std::size_t>(k)] = 1.0 / std::sqrt(v);
  }
  return assemble_whitening(u, inv_sqrt, d, 0.0, use_lapack);
}

// Fewer images than pixels: S = x^T x / n has rank <= n, so its eigenvectors
// with non-zero eigenvalues come from the n x n Gram matrix G = x x^T / n =
// V diag(s) V^T as u_k = x^T v_k / sqrt(n s_k), and on the rest of the space W
// is lambda^(-1/2) I:  W = lambda^(-1/2) I + U diag((s + lambda)^(-1/2) - lambda^(-1/2)) U^T.
// An eigen-decomposition of n x n instead of D x D (3072 x 3072 for colour).
Matrix<double> zca_from_gram(const Context& ctx, const std::vector<double>& xd, std::int64_t n, std::int64_t d,
                             double reg_coef) {
  std::vector<double> gram(static_cast<std::size_t>(n * n));
  const double inv_n = 1.0 / static_cast<double>(n);
  parallel_for_serial_blas(ctx, num_blocks(n, kCovColsPerBlock), [&](std::int64_t block) {
    const std::int64_t i0 = block * kCovColsPerBlock;
    const std::int64_t rows = std::min(kCovColsPerBlock, n - i0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(n),
                static_cast<int>(d), inv_n, xd.data() + i0 * d, static_cast<int>(d), xd.data(), static_cast<int>(d),
                0.0, gram.data() + i0 * n, static_cast<int>(n));
  });
  double trace = 0.0;
  for (std::int64_t i = 0; i < n; ++i) trace += gram[static_cast<std::size_t>(i * n + i)];
  const double lambda = reg_coef * trace / static_cast<double>(d);
  if (!(lambda > 0.0))
    throw KernelError("zca_whitening_matrix: the covariance is singular (fewer images than pixels, or zero "
                      "variance); use reg_coef > 0");
  std::vector<double> s(static_cast<std::size_t>(n));
  parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
    const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(n), gram.data(),
                                           static_cast<lapack_int>(n), s.data());
    if (info != 0)
      throw KernelError("zca_whitening_matrix: eigen-decomposition failed (LAPACK info " + std::to_string(info) + ")");
  });
  const double s_max = *std::max_element(s.begin(), s.end());
  std::vector<std::int64_t> kept;
  for (std::int64_t k = 0; k < n; ++k)
    if (s[static_cast<std::size_t>(k)] > 1e-12 * s_max) kept.push_back(k);
  const auto r = static_cast<std::int64_t>(kept.size());
  // U (d x r): column k is x^T v_k / sqrt(n s_k).
  std::vector<double> v(static_cast<std::size_t>(n * r));
  std::vector<double> f(static_cast<std::size_t>(r));
  const double base = 1.0 / std::sqrt(lambda);
  for (std::int64_t c = 0; c < r; ++c) {
    const std::int64_t k = kept[static_cast<std::size_t>(c)];
    const double sk = s[static_cast<std::size_t>(k)];
    const double norm = 1.0 / std::sqrt(static_cast<double>(n) * sk);
    for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * r + c)] = gram[static_cast<std::size_t>(i * n + k)] * norm;
    f[static_cast<std::size_t>(c)] = 1.0 / std::sqrt(sk + lambda) - base;
  }
  std::vector<double> u(static_cast<std::size_t>(d * r));
  if (r > 0)
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(d), static_cast<int>(r),
                  static_cast<int>(n), 1.0, xd.data(), static_cast<int>(d), v.data(), static_cast<int>(r), 0.0,
                  u.data(), static_cast<int>(r));
    });
  return assemble_whitening(u, f, d, base, true);
}


}  // namespace

Matrix<double> zca_whitening_matrix(const Context& ctx, ConstMatrixView<float> x, double reg_coef) {
  check_whitening_input("zca_whitening_matrix", x.rows, x.cols, reg_coef);
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<double> xd(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      const float v = x(i, j);
      if (!std::isfinite(v))
        throw KernelError("zca_whitening_matrix: non-finite value at row " + std::to_string(i) + ", column " +
                          std::to_string(j));
      xd[static_cast<std::size_t>(i * d + j)] = v;
    }
  if (n < d) return zca_from_gram(ctx, xd, n, d, reg_coef);
  // S = x^T x / n, one block of columns per task (each task owns its columns).
  std::vector<double> cov(static_cast<std::size_t>(d * d));
  const double inv_n = 1.0 / static_cast<double>(n);
  parallel_for_serial_blas(ctx, num_blocks(d, kCovColsPerBlock), [&](std::int64_t block) {
    const std::int64_t j0 = block * kCovColsPerBlock;
    const std::int64_t cols = std::min(kCovColsPerBlock, d - j0);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(d), static_cast<int>(cols),
                static_cast<int>(n), inv_n, xd.data(), static_cast<int>(d), xd.data() + j0, static_cast<int>(d), 0.0,
                cov.data() + j0, static_cast<int>(d));
  });
  return zca_from_covariance("zca_whitening_matrix", std::move(cov), d, reg_coef, true);
}

Matrix<double> zca_whitening_matrix_ref(ConstMatrixView<double> x, double reg_coef) {
  check_whitening_input("zca_whitening_matrix_ref", x.rows, x.cols, reg_coef);
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
  for (std::int64_t a = 0; a < d; ++a)
    for (std::int64_t b = 0; b < d; ++b) {
      double acc = 0.0;
      for (std::int64_t i = 0; i < n; ++i) acc += x(i, a) * x(i, b);
      cov[static_cast<std::size_t>(a * d + b)] = acc / static_cast<double>(n);
    }
  return zca_from_covariance("zca_whitening_matrix_ref", std::move(cov), d, reg_coef, false);
}

void apply_whitening(const Context& ctx, MatrixView<float> x, ConstMatrixView<double> w) {
  if (w.rows != x.cols || w.cols != x.cols)
    throw KernelError("apply_whitening: W is " + std::to_string(w.rows) + " x " + std::to_string(w.cols) +
                      " but x has " + std::to_string(x.cols) + " columns");
  const std::int64_t d = x.cols;
  std::vector<float> wf(static_cast<std::size_t>(d * d));
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) wf[static_cast<std::size_t>(i * d + j)] = static_cast<float>(w(i, j));
  parallel_for_serial_blas(ctx, num_blocks(x.rows, kWhitenRowsPerBlock), [&](std::int64_t block) {
    const std::int64_t r0 = block * kWhitenRowsPerBlock;
    const std::int64_t rows = std::min(kWhitenRowsPerBlock, x.rows - r0);
    std::vector<float> in(static_cast<std::size_t>(rows * d));
    for (std::int64_t i = 0; i < rows; ++i) std::copy_n(x.row(r0 + i), d, in.data() + i * d);
    std::vector<float> out(static_cast<std::size_t>(rows * d));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(d),
                static_cast<int>(d), 1.0f, in.data(), static_cast<int>(d), wf.data(), static_cast<int>(d), 0.0f,
                out.data(), static_cast<int>(d));
    for (std::int64_t i = 0; i < rows; ++i) std::copy_n(out.data() + i * d, d, x.row(r0 + i));
  });
}

}  // namespace lwd::kernels
