// ZCA whitening of image rows (the image RKME's preprocessing after
// standardisation). The covariance and whitening products are fixed blocks of
// single-threaded BLAS calls, so results do not depend on the thread count.
#pragma once

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

// ZCA whitening matrix of the rows of x (n x D, already centred per channel):
// with S = x^T x / n and the regulariser lambda = reg_coef * trace(S) / D,
// W = U diag(s + lambda)^(-1/2) U^T for the eigen-decomposition S = U diag(s) U^T.
// W is D x D, symmetric, and W (S + lambda I) W = I. With fewer rows than
// columns the eigenvectors come from the n x n Gram matrix instead (same W,
// far cheaper for a few colour images). Throws KernelError for an empty x,
// non-finite entries, or a singular S without a regulariser.
Matrix<double> zca_whitening_matrix(const Context& ctx, ConstMatrixView<float> x, double reg_coef = 0.1);
// Same math with Eigen's eigen-solver and naive covariance loops.
Matrix<double> zca_whitening_matrix_ref(ConstMatrixView<double> x, double reg_coef = 0.1);
// x <- x W, row by row (W is D x D).
void apply_whitening(const Context& ctx, MatrixView<float> x, ConstMatrixView<double> w);

}  // namespace lwd::kernels
