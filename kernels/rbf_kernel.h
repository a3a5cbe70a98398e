// Gaussian (RBF) kernel k(a, b) = exp(-gamma * ||a - b||^2) between the rows of
// two matrices, computed through GEMM: ||a||^2 + ||b||^2 - 2 a.b, clamped at 0,
// then a vectorised exp. Work is blocked so that each OpenMP task owns a tile of
// the output (or a fixed block of a reduction), keeping results independent of
// the thread count.
//
// Two storage precisions: float64, and float32 storage with float64 arithmetic
// (inputs are widened tile by tile, dot products and sums are float64).
//
// The fused variants never materialise the full |A| x |B| matrix; they keep one
// tile per thread. Every function has a plain *_ref counterpart (naive loops,
// float64, std::exp) used by the tests.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

// out(i, j) = k(a_i, b_j).  out is a.rows x b.rows.
void rbf_kernel_matrix(const Context& ctx, ConstMatrixView<double> a, ConstMatrixView<double> b,
                       double gamma, MatrixView<double> out);
void rbf_kernel_matrix(const Context& ctx, ConstMatrixView<float> a, ConstMatrixView<float> b,
                       double gamma, MatrixView<float> out);

// out = k(A, B) * W: out(i, m) = sum_j k(a_i, b_j) W(j, m).  W is b.rows x M,
// out is a.rows x M. With M = 1 this is k(Z, X) w.
void rbf_kernel_matmul(const Context& ctx, ConstMatrixView<double> a, ConstMatrixView<double> b,
                       double gamma, ConstMatrixView<double> w, MatrixView<double> out);
void rbf_kernel_matmul(const Context& ctx, ConstMatrixView<float> a, ConstMatrixView<float> b,
                       double gamma, ConstMatrixView<double> w, MatrixView<double> out);

// out = w^T k(A, B): out(j) = sum_i w_i k(a_i, b_j).  w has a.rows entries,
// out has b.rows entries.
void rbf_kernel_left_vecmul(const Context& ctx, std::span<const double> w, ConstMatrixView<double> a,
                            ConstMatrixView<double> b, double gamma, std::span<double> out);
// Entries [begin, end) of rbf_kernel_left_vecmul(w, a, b) into out (end - begin
// entries), each bit for bit the value the whole product gives it, for splitting
// one product between processes: begin is a multiple of kRbfRowBlock and end
// one too, or b.rows.
inline constexpr std::int64_t kRbfRowBlock = 128;
void rbf_kernel_left_vecmul_rows(const Context& ctx, std::span<const double> w, ConstMatrixView<double> a,
                                 ConstMatrixView<double> b, double gamma, std::int64_t begin, std::int64_t end,
                                 std::span<double> out);
void rbf_kernel_left_vecmul(const Context& ctx, std::span<const double> w, ConstMatrixView<float> a,
                            ConstMatrixView<float> b, double gamma, std::span<double> out);

// u^T k(A, B) v for weights u (a.rows) and v (b.rows).
double rbf_kernel_bilinear(const Context& ctx, std::span<const double> u, ConstMatrixView<double> a,
                           ConstMatrixView<double> b, std::span<const double> v, double gamma);
double rbf_kernel_bilinear(const Context& ctx, std::span<const double> u, ConstMatrixView<float> a,
                           ConstMatrixView<float> b, std::span<const double> v, double gamma);

// ---- plain references: direct ||a - b||^2, std::exp, float64 accumulation ----
template <class T>
void rbf_kernel_matrix_ref(ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma, MatrixView<T> out);
template <class T>
void rbf_kernel_matmul_ref(ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma,
                           ConstMatrixView<double> w, MatrixView<double> out);
template <class T>
void rbf_kernel_left_vecmul_ref(std::span<const double> w, ConstMatrixView<T> a, ConstMatrixView<T> b,
                                double gamma, std::span<double> out);
template <class T>
double rbf_kernel_bilinear_ref(std::span<const double> u, ConstMatrixView<T> a, ConstMatrixView<T> b,
                               std::span<const double> v, double gamma);

}  // namespace lwd::kernels
