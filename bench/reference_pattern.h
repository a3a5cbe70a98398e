// Baselines that mirror how the reference Python engine evaluates RKMEs, so
// every suite can report "ours vs reference pattern" as a ratio from one run.
//
// The reference builds each kernel matrix in full (||a||^2 - 2 a b^T + ||b||^2,
// then exp), materialises the outer product beta_1^T beta_2 and sums the
// elementwise product; a distance recomputes both self products every time; the
// RKME gradient loops over centres one at a time with a full kernel row each.
// The arithmetic is the same as ours (GEMM through the same BLAS); only the
// evaluation pattern differs, which is what the ratio is meant to isolate.
#pragma once

#include <cblas.h>

#include <cmath>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::bench {

using kernels::ConstMatrixView;
using kernels::Matrix;

// Full kernel matrix the reference way (one GEMM, then exp elementwise).
inline Matrix<double> reference_kernel_matrix(ConstMatrixView<double> a, ConstMatrixView<double> b, double gamma) {
  Matrix<double> out(a.rows, b.rows);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(a.rows), static_cast<int>(b.rows),
              static_cast<int>(a.cols), -2.0, a.data, static_cast<int>(a.stride), b.data, static_cast<int>(b.stride),
              0.0, out.data(), static_cast<int>(b.rows));
  std::vector<double> na(static_cast<std::size_t>(a.rows)), nb(static_cast<std::size_t>(b.rows));
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t c = 0; c < a.cols; ++c) na[static_cast<std::size_t>(i)] += a(i, c) * a(i, c);
  for (std::int64_t j = 0; j < b.rows; ++j)
    for (std::int64_t c = 0; c < b.cols; ++c) nb[static_cast<std::size_t>(j)] += b(j, c) * b(j, c);
  for (std::int64_t i = 0; i < a.rows; ++i)
    for (std::int64_t j = 0; j < b.rows; ++j)
      out(i, j) = std::exp(-gamma * (out(i, j) + na[static_cast<std::size_t>(i)] + nb[static_cast<std::size_t>(j)]));
  return out;
}

// sum(k(Z1, Z2) * (beta1^T beta2)) with the outer product materialised.
inline double reference_inner_product(ConstMatrixView<double> z1, const std::vector<double>& b1,
                                      ConstMatrixView<double> z2, const std::vector<double>& b2, double gamma) {
  const Matrix<double> k = reference_kernel_matrix(z1, z2, gamma);
  Matrix<double> outer(z1.rows, z2.rows);
  for (std::int64_t i = 0; i < z1.rows; ++i)
    for (std::int64_t j = 0; j < z2.rows; ++j)
      outer(i, j) = b1[static_cast<std::size_t>(i)] * b2[static_cast<std::size_t>(j)];
  double s = 0.0;
  for (std::int64_t i = 0; i < k.size(); ++i) s += k.data()[i] * outer.data()[i];
  return s;
}

// dist(): both self products recomputed for every pair.
inline double reference_mmd2(ConstMatrixView<double> z1, const std::vector<double>& b1, ConstMatrixView<double> z2,
                             const std::vector<double>& b2, double gamma) {
  return reference_inner_product(z1, b1, z1, b1, gamma) - 2.0 * reference_inner_product(z1, b1, z2, b2, gamma) +
         reference_inner_product(z2, b2, z2, b2, gamma);
}

}  // namespace lwd::bench
