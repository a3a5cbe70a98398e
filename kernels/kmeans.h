// k-means: greedy k-means++ seeding (the best of 2 + floor(ln k) D^2-sampled
// candidates per centre, as scikit-learn does) followed by Lloyd iterations;
// or, with KMeansOptions::reference_rules, the reference package's k-means.
// Deterministic for a given seed and independent of the thread count:
// assignments are per row, centroid sums per cluster in row order, and other
// sums over fixed-size row blocks combined in block order.
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
  // The k-means the reference package's table RKME starts from (fast_pytorch_kmeans
  // 0.2, init "random"), for exact comparisons with it: the centres start at k rows
  // drawn uniformly *with* replacement (a row drawn twice leaves all but the first
  // copy without rows), an empty cluster's centre becomes the zero vector, and tol
  // is absolute: iterations stop when the total squared centroid shift is at most
  // tol. The reference computes in float32; this, like the rest, in float64.
  bool reference_rules = false;
  // Lloyd from these k x d centres (row-major, k * d values) instead of a
  // seeding; empty: seed as above. seed is then unused.
  std::vector<double> initial_centroids;
  // Only the centroids are wanted (an RKME's start): the result's labels and
  // inertia are left empty and 0, which saves the assignment to the final
  // centroids (one Lloyd pass) and the inertia pass. The centroids are the same.
  bool centroids_only = false;
};

struct KMeansResult {
  Matrix<double> centroids;        // k x d
  std::vector<std::int32_t> labels;  // n, index of each row's centroid
  double inertia = 0.0;            // sum of squared distances to assigned centroids
  int iterations = 0;              // Lloyd iterations that updated the centroids
};

// Requires 1 <= k <= x.rows, finite data; throws KernelError otherwise. Stops
// after max_iter updates, when the assignments no longer change, or when the
// total squared centroid shift is within tol (see KMeansOptions). Empty clusters
// are re-seeded with the row farthest from its centroid (lowest index on ties),
// except under reference_rules.
// The final labels and inertia are those of the returned centroids (none with
// centroids_only).
KMeansResult kmeans(const Context& ctx, ConstMatrixView<double> x, const KMeansOptions& options);

// Plain reference of the same algorithm (same seeding, same rules) with naive
// loops, single-threaded.
KMeansResult kmeans_ref(ConstMatrixView<double> x, const KMeansOptions& options);

}  // namespace lwd::kernels
