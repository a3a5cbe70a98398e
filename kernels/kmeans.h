// k-means: k-means++ seeding followed by Lloyd iterations. Deterministic for a
// given seed and independent of the thread count: assignments are per row, and
// centroid sums are reduced over fixed-size row blocks in block order.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

struct KMeansOptions {
  int k = 8;
  int max_iter = 100;
  // Stop when the total squared centroid movement falls to tol * (mean per-feature
  // variance of the data) -- the scale-free criterion scikit-learn uses.
  double tol = 1e-4;
  std::uint64_t seed = 0;
};

struct KMeansResult {
  Matrix<double> centroids;        // k x d
  std::vector<std::int32_t> labels;  // n, index of each row's centroid
  double inertia = 0.0;            // sum of squared distances to assigned centroids
  int iterations = 0;              // Lloyd iterations run
};

// Requires 1 <= k <= x.rows. Empty clusters are re-seeded with the row farthest
// from its centroid.
KMeansResult kmeans(const Context& ctx, ConstMatrixView<double> x, const KMeansOptions& options);

// Plain reference of the same algorithm (same seeding, same rules) with naive
// loops, single-threaded.
KMeansResult kmeans_ref(ConstMatrixView<double> x, const KMeansOptions& options);

}  // namespace lwd::kernels
