#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "kernels/context.h"
#include "kernels/error.h"
#include "kernels/kmeans.h"
#include "kernels/matrix.h"
#include "kernels/random.h"

namespace {

using lwd::kernels::ConstMatrixView;
using lwd::kernels::Context;
using lwd::kernels::KernelError;
using lwd::kernels::kmeans;
using lwd::kernels::kmeans_ref;
using lwd::kernels::KMeansOptions;
using lwd::kernels::KMeansResult;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

// Gaussian blobs with unit noise around centres spread by `spread`.
Matrix<double> blobs(std::int64_t n, std::int64_t d, std::int64_t n_blobs, double spread, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> centres(n_blobs, d);
  for (double& v : centres.values()) v = spread * rng.normal();
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t f = 0; f < d; ++f) x(i, f) = centres(i % n_blobs, f) + rng.normal();
  return x;
}

KMeansOptions options_with(int k, std::uint64_t seed, int max_iter = 100, double tol = 1e-4) {
  KMeansOptions o;
  o.k = k;
  o.seed = seed;
  o.max_iter = max_iter;
  o.tol = tol;
  return o;
}

double squared_distance(const double* a, const double* b, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t f = 0; f < d; ++f) s += (a[f] - b[f]) * (a[f] - b[f]);
  return s;
}

bool all_finite(const Matrix<double>& m) {
  return std::all_of(m.values().begin(), m.values().end(), [](double v) { return std::isfinite(v); });
}

// ---- agreement with the naive reference -------------------------------------

struct Shape {
  std::int64_t n, d;
  int k;
};

void PrintTo(const Shape& s, std::ostream* os) { *os << "n=" << s.n << " d=" << s.d << " k=" << s.k; }

class KMeansMatchesReference : public ::testing::TestWithParam<Shape> {};

TEST_P(KMeansMatchesReference, SameLabelsCentroidsAndIterations) {
  const Shape s = GetParam();
  const Matrix<double> x = blobs(s.n, s.d, std::max(1, s.k / 2), 2.0, 17 + static_cast<std::uint64_t>(s.n * s.d));
  const KMeansOptions o = options_with(s.k, 5);
  const KMeansResult fast = kmeans(Context{.n_threads = 2}, x.view(), o);
  const KMeansResult ref = kmeans_ref(x.view(), o);
  EXPECT_EQ(fast.labels, ref.labels);
  EXPECT_EQ(fast.iterations, ref.iterations);
  ASSERT_EQ(fast.centroids.rows(), ref.centroids.rows());
  ASSERT_EQ(fast.centroids.cols(), ref.centroids.cols());
  for (std::int64_t i = 0; i < fast.centroids.size(); ++i)
    EXPECT_NEAR(fast.centroids.data()[i], ref.centroids.data()[i], 1e-10) << "entry " << i;
  EXPECT_NEAR(fast.inertia, ref.inertia, 1e-12 * std::max(1.0, ref.inertia));
}

// Dimensions around SIMD widths, row counts around the row-block size.
INSTANTIATE_TEST_SUITE_P(Shapes, KMeansMatchesReference,
                         ::testing::Values(Shape{1, 1, 1}, Shape{10, 3, 2}, Shape{50, 1, 5}, Shape{255, 7, 8},
                                           Shape{256, 8, 16}, Shape{257, 9, 3}, Shape{513, 15, 31}, Shape{1000, 16, 1},
                                           Shape{1000, 17, 37}, Shape{2000, 33, 64}, Shape{700, 64, 100}),
                         [](const auto& info) {
                           return "n" + std::to_string(info.param.n) + "_d" + std::to_string(info.param.d) + "_k" +
                                  std::to_string(info.param.k);
                         });

TEST(KMeans, MatchesReferenceWhenSeedingCandidatesTieExactly) {
  // Isolated pairs of nearby rows with k close to n: choosing either row of a
  // pair leaves the same potential, so only the tie rule may decide.
  Rng rng(21);
  Matrix<double> x(80, 3);
  for (std::int64_t p = 0; p < 40; ++p) {
    double centre[3];
    for (double& v : centre) v = 3.0 * rng.normal();
    for (std::int64_t f = 0; f < 3; ++f) {
      const double half_gap = 0.5 + 0.1 * rng.uniform();
      x(2 * p, f) = centre[f] + half_gap;
      x(2 * p + 1, f) = centre[f] - half_gap;
    }
  }
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    const KMeansOptions o = options_with(60, seed);
    const KMeansResult fast = kmeans(Context{.n_threads = 2}, x.view(), o);
    const KMeansResult ref = kmeans_ref(x.view(), o);
    EXPECT_EQ(fast.labels, ref.labels) << "seed " << seed;
    EXPECT_EQ(fast.centroids, ref.centroids) << "seed " << seed;
  }
}

// ---- determinism ------------------------------------------------------------

TEST(KMeans, IsDeterministicForAGivenSeed) {
  const Matrix<double> x = blobs(1500, 6, 12, 1.0, 3);
  const KMeansResult a = kmeans(Context{.n_threads = 2}, x.view(), options_with(12, 99));
  const KMeansResult b = kmeans(Context{.n_threads = 2}, x.view(), options_with(12, 99));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.centroids, b.centroids);
  EXPECT_EQ(a.inertia, b.inertia);
}

TEST(KMeans, CentroidsOnlyGivesTheSameCentroidsWithoutLabels) {
  const Matrix<double> x = blobs(900, 6, 5, 0.8, 41);
  for (const bool reference : {false, true}) {
    KMeansOptions o;
    o.k = 7;
    o.seed = 5;
    o.reference_rules = reference;
    const KMeansResult full = kmeans(Context{.n_threads = 2}, x.view(), o);
    const KMeansResult full_ref = kmeans_ref(x.view(), o);
    o.centroids_only = true;
    const KMeansResult lean = kmeans(Context{.n_threads = 2}, x.view(), o);
    EXPECT_EQ(lean.centroids.values(), full.centroids.values());
    EXPECT_EQ(lean.iterations, full.iterations);
    EXPECT_TRUE(lean.labels.empty());
    const KMeansResult lean_ref = kmeans_ref(x.view(), o);
    EXPECT_EQ(lean_ref.centroids.values(), full_ref.centroids.values());
    EXPECT_TRUE(lean_ref.labels.empty());
  }
}

TEST(KMeans, IsBitIdenticalForOneTwoAndThreeThreads) {
  const Matrix<double> x = blobs(3001, 11, 20, 1.5, 4);
  const KMeansOptions o = options_with(25, 7);
  const KMeansResult one = kmeans(Context{.n_threads = 1}, x.view(), o);
  for (int threads : {2, 3}) {
    const KMeansResult many = kmeans(Context{.n_threads = threads}, x.view(), o);
    EXPECT_EQ(many.labels, one.labels) << threads << " threads";
    EXPECT_EQ(many.centroids, one.centroids) << threads << " threads";
    EXPECT_EQ(many.inertia, one.inertia) << threads << " threads";
    EXPECT_EQ(many.iterations, one.iterations) << threads << " threads";
  }
}

TEST(KMeans, DifferentSeedsCanGiveDifferentSeeding) {
  const Matrix<double> x = blobs(400, 4, 40, 1.0, 5);
  std::set<std::vector<double>> seedings;
  for (std::uint64_t seed = 0; seed < 5; ++seed)
    seedings.insert(kmeans(Context{}, x.view(), options_with(10, seed, 0)).centroids.values());
  EXPECT_GT(seedings.size(), 1u);
}

// ---- what the result means -----------------------------------------------------

TEST(KMeans, RecoversWellSeparatedBlobs) {
  const std::int64_t n_blobs = 6, d = 5;
  const Matrix<double> x = blobs(1200, d, n_blobs, 50.0, 6);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(static_cast<int>(n_blobs), 1));
  // Rows i and j share a blob iff i = j mod n_blobs; they must share a label too.
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    EXPECT_EQ(r.labels[static_cast<std::size_t>(i)], r.labels[static_cast<std::size_t>(i % n_blobs)]) << i;
  }
  std::set<std::int32_t> distinct(r.labels.begin(), r.labels.end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(n_blobs));
  // Unit-variance noise in d dimensions: inertia close to n * d.
  EXPECT_LT(r.inertia, 1.2 * static_cast<double>(x.rows() * d));
}

TEST(KMeans, SingleClusterIsTheMean) {
  const Matrix<double> x = blobs(321, 5, 3, 2.0, 7);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(1, 0));
  for (std::int64_t f = 0; f < x.cols(); ++f) {
    double mean = 0.0;
    for (std::int64_t i = 0; i < x.rows(); ++i) mean += x(i, f);
    mean /= static_cast<double>(x.rows());
    EXPECT_NEAR(r.centroids(0, f), mean, 1e-12);
  }
  EXPECT_TRUE(std::all_of(r.labels.begin(), r.labels.end(), [](std::int32_t l) { return l == 0; }));
}

TEST(KMeans, AsManyClustersAsRowsGivesZeroInertia) {
  const Matrix<double> x = blobs(60, 3, 60, 1.0, 8);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(60, 2));
  EXPECT_EQ(r.inertia, 0.0);
  std::set<std::int32_t> distinct(r.labels.begin(), r.labels.end());
  EXPECT_EQ(distinct.size(), 60u);
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::int64_t f = 0; f < x.cols(); ++f)
      EXPECT_EQ(r.centroids(r.labels[static_cast<std::size_t>(i)], f), x(i, f));
}

TEST(KMeans, LabelsPointToTheNearestCentroid) {
  const Matrix<double> x = blobs(900, 6, 9, 1.0, 9);
  const KMeansResult r = kmeans(Context{.n_threads = 2}, x.view(), options_with(9, 3));
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    const double assigned = squared_distance(x.row(i), r.centroids.row(r.labels[static_cast<std::size_t>(i)]), 6);
    for (std::int64_t j = 0; j < r.centroids.rows(); ++j)
      EXPECT_LE(assigned, squared_distance(x.row(i), r.centroids.row(j), 6) + 1e-9) << "row " << i;
  }
}

TEST(KMeans, InertiaIsTheSumOfSquaredDistancesToAssignedCentroids) {
  const Matrix<double> x = blobs(777, 4, 5, 1.0, 10);
  const KMeansResult r = kmeans(Context{.n_threads = 2}, x.view(), options_with(7, 4));
  double inertia = 0.0;
  for (std::int64_t i = 0; i < x.rows(); ++i)
    inertia += squared_distance(x.row(i), r.centroids.row(r.labels[static_cast<std::size_t>(i)]), 4);
  EXPECT_NEAR(r.inertia, inertia, 1e-12 * inertia);
}

TEST(KMeans, AtConvergenceEachCentroidIsTheMeanOfItsRows) {
  const Matrix<double> x = blobs(600, 3, 4, 1.0, 11);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(6, 5, 1000, 0.0));
  ASSERT_LT(r.iterations, 1000);
  for (std::int64_t j = 0; j < 6; ++j) {
    std::vector<double> sum(3, 0.0);
    int count = 0;
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      if (r.labels[static_cast<std::size_t>(i)] != j) continue;
      ++count;
      for (std::int64_t f = 0; f < 3; ++f) sum[static_cast<std::size_t>(f)] += x(i, f);
    }
    ASSERT_GT(count, 0);
    for (std::int64_t f = 0; f < 3; ++f)
      EXPECT_NEAR(r.centroids(j, f), sum[static_cast<std::size_t>(f)] / count, 1e-12);
  }
}

TEST(KMeans, ZeroIterationsReturnsSeedsThatAreDataRows) {
  const Matrix<double> x = blobs(300, 5, 10, 1.0, 12);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(10, 6, 0));
  EXPECT_EQ(r.iterations, 0);
  std::set<std::int64_t> rows_used;
  for (std::int64_t j = 0; j < 10; ++j) {
    std::int64_t match = -1;
    for (std::int64_t i = 0; i < x.rows() && match < 0; ++i)
      if (std::equal(x.row(i), x.row(i) + 5, r.centroids.row(j))) match = i;
    EXPECT_GE(match, 0) << "centroid " << j << " is not a data row";
    rows_used.insert(match);
  }
  EXPECT_EQ(rows_used.size(), 10u);  // k-means++ never draws an already chosen row
}

TEST(KMeans, RespectsTheIterationLimit) {
  const Matrix<double> x = blobs(2000, 8, 50, 0.5, 13);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(40, 7, 3, 0.0));
  EXPECT_EQ(r.iterations, 3);
}

TEST(KMeans, StopsEarlyOnceAssignmentsSettle) {
  const Matrix<double> x = blobs(500, 2, 5, 30.0, 14);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(5, 8, 100, 0.0));
  EXPECT_LT(r.iterations, 10);
}

// ---- degenerate data --------------------------------------------------------------

TEST(KMeans, DuplicateRowsWithFewerDistinctPointsThanKStayFinite) {
  // 3 distinct points repeated: k = 5 forces duplicate seeds and empty clusters.
  const double points[3][2] = {{0.0, 0.0}, {5.0, 1.0}, {-2.0, 7.0}};
  Matrix<double> x(60, 2);
  for (std::int64_t i = 0; i < 60; ++i)
    for (std::int64_t f = 0; f < 2; ++f) x(i, f) = points[i % 3][f];
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const KMeansResult r = kmeans(Context{.n_threads = 2}, x.view(), options_with(5, seed));
    EXPECT_TRUE(all_finite(r.centroids)) << "seed " << seed;
    EXPECT_EQ(r.inertia, 0.0) << "seed " << seed;
    for (std::int32_t label : r.labels) EXPECT_TRUE(label >= 0 && label < 5);
    const KMeansResult ref = kmeans_ref(x.view(), options_with(5, seed));
    EXPECT_TRUE(all_finite(ref.centroids)) << "seed " << seed;
    EXPECT_EQ(ref.inertia, 0.0) << "seed " << seed;
  }
}

TEST(KMeans, IdenticalRowsGiveThatRowAsEveryCentroid) {
  const Matrix<double> x(40, 3, 2.5);
  const KMeansResult r = kmeans(Context{}, x.view(), options_with(4, 1));
  for (double v : r.centroids.values()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(r.inertia, 0.0);
}

TEST(KMeans, AcceptsAStridedView) {
  const Matrix<double> x = blobs(500, 6, 8, 1.0, 15);
  Matrix<double> padded(500, 9, std::numeric_limits<double>::quiet_NaN());
  for (std::int64_t i = 0; i < 500; ++i)
    for (std::int64_t f = 0; f < 6; ++f) padded(i, f) = x(i, f);
  const ConstMatrixView<double> view(padded.data(), 500, 6, 9);
  const KMeansResult strided = kmeans(Context{.n_threads = 2}, view, options_with(8, 2));
  const KMeansResult packed = kmeans(Context{.n_threads = 2}, x.view(), options_with(8, 2));
  EXPECT_EQ(strided.labels, packed.labels);
  EXPECT_EQ(strided.centroids, packed.centroids);
}

// ---- reference rules (the reference package's k-means) -------------------------

KMeansOptions reference_options(int k, std::uint64_t seed, double tol = 1e-4) {
  KMeansOptions o = options_with(k, seed, 100, tol);
  o.reference_rules = true;
  return o;
}

TEST(KMeansReferenceRules, MatchesThePlainReference) {
  for (const Shape s : {Shape{300, 4, 10}, Shape{1000, 16, 100}, Shape{257, 9, 60}}) {
    const Matrix<double> x = blobs(s.n, s.d, 6, 2.0, 40 + static_cast<std::uint64_t>(s.k));
    const KMeansOptions o = reference_options(s.k, 3);
    const KMeansResult fast = kmeans(Context{.n_threads = 2}, x.view(), o);
    const KMeansResult ref = kmeans_ref(x.view(), o);
    EXPECT_EQ(fast.labels, ref.labels) << s.n << "x" << s.d;
    EXPECT_EQ(fast.iterations, ref.iterations) << s.n << "x" << s.d;
    for (std::int64_t i = 0; i < fast.centroids.size(); ++i)
      EXPECT_NEAR(fast.centroids.data()[i], ref.centroids.data()[i], 1e-10) << "entry " << i;
  }
}

TEST(KMeansReferenceRules, IsBitIdenticalForOneAndTwoThreads) {
  const Matrix<double> x = blobs(3000, 8, 10, 2.0, 41);
  const KMeansResult one = kmeans(Context{.n_threads = 1}, x.view(), reference_options(50, 7));
  const KMeansResult two = kmeans(Context{.n_threads = 2}, x.view(), reference_options(50, 7));
  EXPECT_EQ(one.labels, two.labels);
  EXPECT_EQ(one.centroids, two.centroids);
}

TEST(KMeansReferenceRules, ZeroIterationsReturnsRowsDrawnWithReplacement) {
  // 100 draws from 150 rows repeat some row (birthday bound): the seeds are
  // data rows, and not all distinct -- unlike k-means++, which never repeats one.
  const Matrix<double> x = blobs(150, 3, 5, 2.0, 42);
  KMeansOptions o = reference_options(100, 11);
  o.max_iter = 0;
  const KMeansResult r = kmeans(Context{}, x.view(), o);
  std::set<std::int64_t> rows;
  for (std::int64_t c = 0; c < 100; ++c) {
    std::int64_t found = -1;
    for (std::int64_t i = 0; i < x.rows() && found < 0; ++i)
      if (squared_distance(r.centroids.row(c), x.row(i), 3) == 0.0) found = i;
    ASSERT_GE(found, 0) << "centre " << c << " is not a data row";
    rows.insert(found);
  }
  EXPECT_LT(rows.size(), 100u);
}

TEST(KMeansReferenceRules, AnEmptyClusterGetsTheZeroVector) {
  // Every row equal: the first centre takes every row (lowest index on ties),
  // the others are left without rows and move to the origin.
  const Matrix<double> x(10, 2, 5.0);
  const KMeansResult r = kmeans(Context{}, x.view(), reference_options(3, 0));
  EXPECT_EQ(r.centroids, Matrix<double>(3, 2, std::vector<double>{5.0, 5.0, 0.0, 0.0, 0.0, 0.0}));
  EXPECT_EQ(r.centroids, kmeans_ref(x.view(), reference_options(3, 0)).centroids);
  for (std::int32_t label : r.labels) EXPECT_EQ(label, 0);
}

TEST(KMeansReferenceRules, ToleranceIsAbsolute) {
  // Scaling the data by 1000 scales the squared shifts by 10^6: with an absolute
  // tolerance that the unscaled run meets at once, the scaled run iterates on.
  const Matrix<double> x = blobs(500, 4, 5, 2.0, 43);
  Matrix<double> scaled = x;
  for (double& v : scaled.values()) v *= 1000.0;
  const KMeansOptions o = reference_options(20, 5, 1e3);
  EXPECT_LT(kmeans(Context{}, x.view(), o).iterations, kmeans(Context{}, scaled.view(), o).iterations);
}

TEST(KMeans, StartsFromGivenCentroidsAndMatchesTheReference) {
  const Matrix<double> x = blobs(900, 5, 6, 2.0, 44);
  KMeansOptions o = options_with(6, 0, 7);
  o.initial_centroids.assign(x.row(10), x.row(10) + 6 * 5);  // rows 10..15
  const KMeansResult fast = kmeans(Context{.n_threads = 2}, x.view(), o);
  const KMeansResult ref = kmeans_ref(x.view(), o);
  EXPECT_EQ(fast.labels, ref.labels);
  EXPECT_EQ(fast.centroids, ref.centroids);
  o.max_iter = 0;
  EXPECT_EQ(kmeans(Context{}, x.view(), o).centroids.values(), o.initial_centroids);
}

TEST(KMeansErrors, RejectsInitialCentroidsOfTheWrongSizeOrNonFinite) {
  const Matrix<double> x = blobs(50, 3, 2, 2.0, 45);
  KMeansOptions o = options_with(4, 0);
  o.initial_centroids.assign(11, 0.0);
  EXPECT_THROW(kmeans(Context{}, x.view(), o), KernelError);
  o.initial_centroids.assign(12, std::numeric_limits<double>::quiet_NaN());
  EXPECT_THROW(kmeans(Context{}, x.view(), o), KernelError);
}

// ---- input errors -----------------------------------------------------------------

TEST(KMeansErrors, RejectsZeroClusters) {
  const Matrix<double> x(10, 2, 1.0);
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(0, 0)), KernelError);
  EXPECT_THROW(kmeans_ref(x.view(), options_with(0, 0)), KernelError);
}

TEST(KMeansErrors, RejectsMoreClustersThanRows) {
  const Matrix<double> x(10, 2, 1.0);
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(11, 0)), KernelError);
  EXPECT_THROW(kmeans_ref(x.view(), options_with(11, 0)), KernelError);
}

TEST(KMeansErrors, RejectsEmptyData) {
  const Matrix<double> no_rows(0, 3);
  const Matrix<double> no_cols(5, 0);
  EXPECT_THROW(kmeans(Context{}, no_rows.view(), options_with(1, 0)), KernelError);
  EXPECT_THROW(kmeans(Context{}, no_cols.view(), options_with(1, 0)), KernelError);
}

TEST(KMeansErrors, RejectsNonFiniteData) {
  Matrix<double> x(10, 2, 1.0);
  x(3, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(2, 0)), KernelError);
  x(3, 1) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(2, 0)), KernelError);
}

TEST(KMeansErrors, RejectsNegativeIterationLimitAndTolerance) {
  const Matrix<double> x(10, 2, 1.0);
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(2, 0, -1)), KernelError);
  EXPECT_THROW(kmeans(Context{}, x.view(), options_with(2, 0, 10, -1e-4)), KernelError);
}

TEST(KMeansErrors, MessageNamesTheOffendingValue) {
  const Matrix<double> x(10, 2, 1.0);
  try {
    kmeans(Context{}, x.view(), options_with(11, 0));
    FAIL() << "expected KernelError";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("11"), std::string::npos) << e.what();
  }
}

}  // namespace
