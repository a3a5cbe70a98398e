// Random Fourier features of the RBF kernel k(a, b) = exp(-gamma ||a - b||²)
// [Rahimi & Recht 2007], applied to a weighted point set (Z, beta): the
// approximate kernel mean embedding
//
//   phi(Z, beta)_{2j}   = sqrt(1/m) Σ_i beta_i cos(w_j · z_i)
//   phi(Z, beta)_{2j+1} = sqrt(1/m) Σ_i beta_i sin(w_j · z_i),   j = 0..m-1,
//
// with w_j ~ N(0, 2·gamma·I) (the kernel's spectral density), so that
// E[phi(P) · phi(Q)] = <P, Q> and ||phi(P) − phi(Q)||² is an unbiased estimate
// of MMD²(P, Q) (docs/DESIGN.md §4.5). The cos/sin pairs have lower variance than
// the random-phase form cos(w·z + b) for the same number of features
// [Sutherland & Schneider 2015].
//
// Deterministic: the frequencies come from the portable seeded generator
// (kernels/random.h); the embedding's sums run in a fixed order per feature,
// and each parallel task owns a block of features, so results do not depend on
// the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

struct RffMap {
  std::int64_t dim = 0;        // input width d
  std::int64_t frequencies = 0;  // m; the embedding has 2m entries
  double gamma = 0.0;
  std::uint64_t seed = 0;
  std::vector<double> w;       // m x d, row-major: frequency j is row j

  std::int64_t features() const { return 2 * frequencies; }
};

// Draws the m frequencies for width d and gamma from `seed`. Throws
// KernelError unless d >= 1, m >= 1 and gamma is finite and > 0.
RffMap make_rff_map(std::int64_t dim, std::int64_t frequencies, double gamma, std::uint64_t seed);

// phi(Z, beta) into out (features() entries). Z is K x d with d = map.dim.
void rff_embed(const Context& ctx, const RffMap& map, ConstMatrixView<double> z, std::span<const double> beta,
               std::span<double> out);

// The plain float64 reference: one dot product, one cos and one sin per
// (point, frequency), summed in point order.
void rff_embed_ref(const RffMap& map, ConstMatrixView<double> z, std::span<const double> beta, std::span<double> out);

}  // namespace lwd::kernels
