// Reduced kernel mean embedding (RKME): a weighted point set (Z, beta) whose
// kernel mean embedding sum_i beta_i k(z_i, .) approximates that of the data,
// (1/n) sum_j k(x_j, .). The math follows docs/DESIGN.md §3.2-3.4 and the reference
// package's behaviour; numerics only, no file formats (those live in engine/spec).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

struct RkmeOptions {
  int k = 100;              // reduced set size K
  double gamma = 0.1;       // RBF bandwidth
  int steps = 3;            // alternating (Z gradient step, beta QP) rounds
  double step_size = 0.1;   // eta of the Z gradient step
  bool reduce = true;       // false: Z = X, beta = 1/n
  bool nonnegative_beta = true;  // false: beta = (Kzz + 1e-5 I)^-1 C
  int kmeans_max_iter = 100;
};

struct Rkme {
  Matrix<double> z;          // K x d
  std::vector<double> beta;  // K
  double gamma = 0.1;
  std::int64_t num_points = 0;  // rows of the data it summarises
};

// Replaces +-inf by NaN and each NaN by its column's mean over the finite
// entries. Throws KernelError naming the column if a column has no finite value.
void impute_non_finite_columns(MatrixView<double> x);

// The K actually used for n rows: K itself if K < n, else max(1, floor(2n/3)).
std::int64_t effective_rkme_size(std::int64_t k, std::int64_t n);

// Builds the RKME of x (n x d, finite; call impute_non_finite_columns first).
// ctx.seed seeds the k-means++ initialisation.
Rkme build_rkme(const Context& ctx, ConstMatrixView<double> x, const RkmeOptions& options);

// Given Z (K x d), the data and gamma: the beta of step 4 (QP on the simplex, or
// the regularised linear solve when nonnegative is false).
std::vector<double> rkme_optimal_beta(const Context& ctx, ConstMatrixView<double> z, ConstMatrixView<double> x,
                                      double gamma, bool nonnegative);

// One gradient step of step 5 on Z (in place), beta fixed.
void rkme_gradient_step(const Context& ctx, MatrixView<double> z, std::span<const double> beta,
                        ConstMatrixView<double> x, double gamma, double step_size);

// <P, Q> = beta_P^T k(Z_P, Z_Q) beta_Q with the given gamma.
double rkme_inner_product(const Context& ctx, ConstMatrixView<double> z_p, std::span<const double> beta_p,
                          ConstMatrixView<double> z_q, std::span<const double> beta_q, double gamma);

// MMD^2(P, Q) = <P,P> - 2<P,Q> + <Q,Q>.
double rkme_mmd2(const Context& ctx, ConstMatrixView<double> z_p, std::span<const double> beta_p,
                 ConstMatrixView<double> z_q, std::span<const double> beta_q, double gamma);

// Inner products of one RKME u with many RKMEs packed back to back: the rows of
// packed_z are the Z's of all of them, packed_beta their betas, and RKME m owns
// rows [offsets[m], offsets[m+1]). out[m] = <u, RKME m>, for all m at once: one
// fused kernel evaluation of u's Z against every packed row, then segmented
// weighted sums -- never one call per RKME. offsets has out.size() + 1 entries.
void rkme_batch_inner_products(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<double> packed_z, std::span<const double> packed_beta,
                               std::span<const std::int64_t> offsets, double gamma, std::span<double> out);

// The same inner products with the packed rows stored in float32 and the
// kernel values computed in float32 (SGEMM + single-precision exp, twice the
// SIMD lanes of float64), summed in float64: a screening pass for the market
// search, accurate to about 1e-5 relative. Both sides are shifted by the mean
// of z_u first (the RBF kernel is translation invariant), which keeps the
// ||a||^2 + ||b||^2 - 2ab cancellation small in single precision.
void rkme_batch_inner_products_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                                   ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                                   std::span<const std::int64_t> offsets, double gamma, std::span<double> out);
// Plain reference of the above: kernel values in float64 from the stored floats.
void rkme_batch_inner_products_f32_ref(ConstMatrixView<double> z_u, std::span<const double> beta_u,
                                       ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                                       std::span<const std::int64_t> offsets, double gamma, std::span<double> out);

// Kernel herding: n_samples points that follow the RKME. Draws 100 * n_samples
// candidates from N(z_i, 0.25^2 I), i with probability proportional to
// max(beta_i, 0), then greedily picks, for t = 0..T-1, the candidate maximising
// (t + 1) * sum_i beta_i k(z_i, x) - sum_{s < t} k(x_s, x). Seeded by ctx.seed.
Matrix<double> rkme_herding(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                            double gamma, std::int64_t n_samples);

// ---- plain references (naive loops, float64) used by the tests ----
// Same steps as build_rkme but every kernel value computed directly, given the
// initial centres (so the comparison does not depend on k-means).
Rkme build_rkme_ref(ConstMatrixView<double> x, const Matrix<double>& initial_z, const RkmeOptions& options);
void rkme_gradient_step_ref(MatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                            double gamma, double step_size);
double rkme_mmd2_ref(ConstMatrixView<double> z_p, std::span<const double> beta_p, ConstMatrixView<double> z_q,
                     std::span<const double> beta_q, double gamma);

}  // namespace lwd::kernels
