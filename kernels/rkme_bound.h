// Bounds on the cross inner products <u, m> of the batched market search,
// cheap enough to compute for every member before the float32 screen, so the
// screen can leave out the members whose distance cannot matter
// (docs/DESIGN.md §4.3).
//
// For any nonzero direction w, |w.(x - y)| / |w| <= |x - y|, so every kernel
// value of a user point x_i and a member point y_j satisfies
//   k(x_i, y_j) <= exp(-gamma g_i^2),  g_i = max(0, (w.x_i - max_j w.y_j) / |w|),
// and
//   |<u, m>| <= (sum_j |b_j|) sum_i |a_i| exp(-gamma g_i^2).
// The direction is w = mean(u's points) - mean(m's points): for a member far
// from the user it separates the two point sets along the line between their
// centres, where the spread of either set is that of one coordinate, not the
// set's radius. The bound costs O(rows · d) per member against the cross
// product's O(rows · K · d).
#pragma once

#include <cstdint>
#include <span>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

// For each listed member m = members[t] of the RKMEs packed in (packed_z,
// packed_beta, offsets) as for rkme_batch_inner_products, an interval
// lower[t] <= <u, m> <= upper[t] of the inner product under the kernel
// exp(-gammas[t] |x - y|^2), where packed_z is the float32 mirror of the
// member rows the product is about (each value the float64 one rounded to
// nearest): the bound allows for that rounding, so it holds for the float64
// rows. lower[t] is 0 when every weight of u and of m is >= 0, else
// -upper[t]. A member with a non-finite value gets (-inf, inf); an empty
// member or user gets [0, 0].
void rkme_cross_bounds_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                           ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                           std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                           std::span<const double> gammas, std::span<double> lower, std::span<double> upper);

// Plain reference: the same bound, one member at a time, std::exp.
void rkme_cross_bounds_f32_ref(ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                               std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                               std::span<const double> gammas, std::span<double> lower, std::span<double> upper);

}  // namespace lwd::kernels
