// Reduced kernel mean embedding (RKME): a weighted point set (Z, beta) whose
// kernel mean embedding sum_i beta_i k(z_i, .) approximates that of the data,
// (1/n) sum_j k(x_j, .). The math follows docs/DESIGN.md §3.2-3.4 and the reference
// package's behaviour; numerics only, no file formats (those live in engine/spec).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

// How build_rkme finds Z (docs/DESIGN.md §3.2). Every construction ends with the
// beta of the final Z; they differ in where Z starts and how it moves.
enum class RkmeConstruction {
  // lwdock's construction before herding-descent became the default
  // (results/README.md compares the reproductions made with each): Z starts
  // at the centroids of k-means with greedy k-means++ seeding (seeded by
  // ctx.seed), then `steps` rounds of the reference's Z update (a fixed step of
  // step_size along a direction that is not the gradient of MMD², §3.2) each
  // followed by the beta QP.
  kKMeansPlusPlus,
  // The reference package's construction, for exact comparisons with it: k-means
  // from K rows drawn with replacement under its rules
  // (KMeansOptions::reference_rules), then the same rounds as kKMeansPlusPlus.
  kReference,
  // The default: the closest sketch (bench/README.md, "Spec fidelity"), in
  // about the reference algorithm's time. Z starts at K data
  // rows picked by kernel herding or at the k-means centroids a few Lloyd
  // iterations make of them, whichever is closer (rkme_descent_start), then up
  // to `steps` descent steps on MMD² (rkme_descend): the gradient scaled per
  // point, the step length found by a line search, a step kept only when MMD²
  // falls, beta re-solved at every trial point. step_size and kmeans_max_iter
  // are unused.
  kHerdingDescent,
};

struct RkmeOptions {
  int k = 100;              // reduced set size K
  double gamma = 0.1;       // RBF bandwidth
  int steps = 3;            // Z update rounds, each followed by the beta QP (kHerdingDescent: at most this many descent steps)
  double step_size = 0.1;   // eta of the reference's Z update
  bool reduce = true;       // false: Z = X, beta = 1/n
  bool nonnegative_beta = true;  // false: beta = (Kzz + 1e-5 I)^-1 C
  int kmeans_max_iter = 100;
  RkmeConstruction construction = RkmeConstruction::kHerdingDescent;
};

// The construction's name on the command line and in a market's build settings:
// "kmeans++", "reference" or "herding-descent".
const char* rkme_construction_name(RkmeConstruction construction);

// The herding start's sample (rkme_herding_start): at most this many rows, and
// at most sqrt(kHerdingStartPasses * K * n), so that its m x m kernel costs no
// more than kHerdingStartPasses passes of K centres over the n rows.
inline constexpr std::int64_t kHerdingStartSample = 2000;
inline constexpr double kHerdingStartPasses = 2.0;
// Lloyd iterations from the herding picks for the other candidate start
// (rkme_descent_start). 8 rather than 10: the start is most of the
// construction's time, and at K = 100 ten iterations made it up to 7 % slower
// than the reference's algorithm on two shapes for slightly closer sketches in
// 3-d only (bench/README.md, "Spec fidelity").
inline constexpr int kDescentStartLloydIterations = 8;

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

// Builds the RKME of x (n x d, finite; call impute_non_finite_columns first)
// by options.construction. ctx.seed seeds the start (k-means seeding, or the
// herding sample).
Rkme build_rkme(const Context& ctx, ConstMatrixView<double> x, const RkmeOptions& options);

// The start of kHerdingDescent: k rows of x picked by kernel herding on the
// empirical distribution of a sample S of m = max(k, min(n, kHerdingStartSample,
// sqrt(kHerdingStartPasses k n))) rows (all of them when m = n, else drawn
// without replacement, seeded by ctx.seed): for t = 0..k-1 the row s of S not
// yet picked maximising
//   (t + 1) * (1/|S|) sum_{r in S} k(x_r, x_s) - sum_{u < t} k(z_u, x_s)
// (lowest index on ties). The picks follow the data's density, unlike k-means++
// seeding, and spread out, unlike a uniform draw. k <= n.
Matrix<double> rkme_herding_start(const Context& ctx, ConstMatrixView<double> x, std::int64_t k, double gamma);

// The start of kHerdingDescent: the herding picks (rkme_herding_start), or the
// centroids of at most kDescentStartLloydIterations Lloyd iterations of k-means
// from them, whichever sketches x closer (MMD² with its best beta; the picks on
// a tie). Centroids average rows into the middle of their clusters: with a kernel
// narrow against the data's spread (high dimension) no data lie there and the
// picks win; with a wide one (low dimension) the centroids do.
Matrix<double> rkme_descent_start(const Context& ctx, ConstMatrixView<double> x, std::int64_t k,
                                  const RkmeOptions& options);

struct RkmeDescentReport {
  int steps = 0;        // descent steps taken (accepted)
  int evaluations = 0;  // trial points evaluated (one pass over the data and one beta QP each)
};

// Descent on MMD²(Z, beta; X) from the given Z, beta re-solved (step 4) at
// every trial point, so the objective is MMD² of Z with its best beta. Each
// step moves z_i along the negative gradient divided by
//   4 gamma beta_i (C_i + (K_zz beta)_i) / 2
// -- a Newton-like scaling for each point that makes the step with length 1
// close to the kernel-weighted mean of the data around z_i, with the other
// points' repulsion added (docs/DESIGN.md §3.2) -- and tries at most three
// lengths along it, each from a quadratic model of the objective on the line,
// keeping the first that lowers MMD². Stops after options.steps steps, or when
// no length lowers it. Uses options.gamma and nonnegative_beta.
Rkme rkme_descend(const Context& ctx, ConstMatrixView<double> x, Matrix<double> z, const RkmeOptions& options,
                  RkmeDescentReport* report = nullptr);

// MMD² between the RKME (Z, beta) and the empirical embedding of x (1/n each row).
double rkme_mmd2_to_data(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                         ConstMatrixView<double> x, double gamma);

// The gradient of MMD²(Z, beta; X) with respect to Z, beta fixed (K x d):
//   dMMD²/dz_i = -4 gamma beta_i [ sum_j beta_j k(z_i,z_j)(z_i - z_j) - (1/n) sum_j k(z_i,x_j)(z_i - x_j) ].
Matrix<double> rkme_mmd2_gradient(const Context& ctx, ConstMatrixView<double> z, std::span<const double> beta,
                                  ConstMatrixView<double> x, double gamma);

// Given Z (K x d), the data and gamma: the beta of step 4 (QP on the simplex, or
// the regularised linear solve when nonnegative is false).
std::vector<double> rkme_optimal_beta(const Context& ctx, ConstMatrixView<double> z, ConstMatrixView<double> x,
                                      double gamma, bool nonnegative);

// One step of the reference's Z update (step 5; not the gradient of MMD², see
// docs/DESIGN.md §3.2) on Z (in place), beta fixed.
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
// The batch split between processes (the market search over several ranks):
// rkme_batch_attraction[_f32] gives, for the packed rows r in [begin, end),
// out[r - begin] = sum_i beta_u[i] k(z_u[i], packed_z[r]), each bit for bit the
// value the whole batch call computes for row r; rkme_segmented_sums then sums
// the rows of every RKME as the batch calls do. So rows computed in parts and
// put back together give exactly the whole call's inner products. begin is a
// multiple of kRkmeBatchRowBlock (where both passes' row tiles start), end
// one too or packed_z.rows.
inline constexpr std::int64_t kRkmeBatchRowBlock = 256;
void rkme_batch_attraction(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                           ConstMatrixView<double> packed_z, double gamma, std::int64_t begin, std::int64_t end,
                           std::span<double> out);
void rkme_batch_attraction_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<float> packed_z, double gamma, std::int64_t begin, std::int64_t end,
                               std::span<double> out);
// out[m] = sum over r in [offsets[m], offsets[m+1]) of packed_beta[r] * attraction[r], in row order.
void rkme_segmented_sums(std::span<const double> packed_beta, std::span<const std::int64_t> offsets,
                         std::span<const double> attraction, std::span<double> out);
namespace detail {
// Throws KernelError (its message prefixed by `where`) unless the offsets of
// packed RKMEs start at 0, never decrease and end at packed_rows.
void check_packed_offsets(const std::string& where, std::span<const std::int64_t> offsets, std::int64_t packed_rows);
// Throws KernelError unless the arguments of rkme_batch_attraction[_f32] fit.
void check_attraction_rows(const char* fn, std::int64_t user_cols, std::int64_t packed_cols, std::int64_t user_rows,
                           std::size_t beta_u_size, std::int64_t packed_rows, double gamma, std::int64_t begin,
                           std::int64_t end, std::size_t out_size);
}  // namespace detail

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
// initial centres (so the comparison does not depend on k-means or herding):
// the reference's rounds, or with kHerdingDescent the descent of rkme_descend
// (initial_z then being the start, rkme_descent_start_ref).
Rkme build_rkme_ref(ConstMatrixView<double> x, const Matrix<double>& initial_z, const RkmeOptions& options);
Matrix<double> rkme_herding_start_ref(ConstMatrixView<double> x, std::int64_t k, double gamma, std::uint64_t seed);
Matrix<double> rkme_descent_start_ref(ConstMatrixView<double> x, std::int64_t k, const RkmeOptions& options,
                                      std::uint64_t seed);
double rkme_mmd2_to_data_ref(ConstMatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                             double gamma);
Matrix<double> rkme_mmd2_gradient_ref(ConstMatrixView<double> z, std::span<const double> beta,
                                      ConstMatrixView<double> x, double gamma);
void rkme_gradient_step_ref(MatrixView<double> z, std::span<const double> beta, ConstMatrixView<double> x,
                            double gamma, double step_size);
double rkme_mmd2_ref(ConstMatrixView<double> z_p, std::span<const double> beta_p, ConstMatrixView<double> z_q,
                     std::span<const double> beta_q, double gamma);

}  // namespace lwd::kernels
