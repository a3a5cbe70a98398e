// RKME construction, inner product, MMD^2 and herding (kernels/rkme.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/error.h"
#include "kernels/kmeans.h"
#include "kernels/random.h"
#include "kernels/rkme.h"

namespace lwd::kernels {
namespace {

Matrix<double> gaussian_data(std::int64_t n, std::int64_t d, std::uint64_t seed, double shift = 0.0) {
  Rng rng(seed);
  Matrix<double> x(n, d);
  for (auto& v : x.values()) v = rng.normal() + shift;
  return x;
}

// Two well-separated blobs, so that a good reduced set must cover both.
Matrix<double> two_blobs(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = rng.normal() * 0.5 + (i % 3 == 0 ? 4.0 : -2.0);
  return x;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

double mmd2(const Rkme& p, const Rkme& q, double gamma = 0.1) {
  return rkme_mmd2(Context{}, p.z.view(), p.beta, q.z.view(), q.beta, gamma);
}

Rkme empirical_embedding(const Matrix<double>& x) {
  RkmeOptions o;
  o.reduce = false;
  return build_rkme(Context{}, x.view(), o);
}

// ---- imputation ------------------------------------------------------------

TEST(ImputeNonFiniteColumns, ReplacesNanAndInfByColumnMeanOfFiniteValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Matrix<double> x(4, 2, std::vector<double>{1.0, nan, 3.0, 2.0, inf, 4.0, -inf, nan});
  impute_non_finite_columns(x.view());
  EXPECT_EQ(x(2, 0), 2.0);  // mean of 1 and 3
  EXPECT_EQ(x(3, 0), 2.0);
  EXPECT_EQ(x(0, 1), 3.0);  // mean of 2 and 4
  EXPECT_EQ(x(3, 1), 3.0);
  EXPECT_EQ(x(1, 1), 2.0);  // finite values untouched
}

TEST(ImputeNonFiniteColumns, AllNanColumnIsAnErrorNamingTheColumn) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Matrix<double> x(2, 3, std::vector<double>{1.0, 2.0, nan, 1.0, 2.0, std::numeric_limits<double>::infinity()});
  try {
    impute_non_finite_columns(x.view());
    FAIL() << "expected KernelError";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("column 2"), std::string::npos) << e.what();
  }
}

TEST(BuildRkme, RejectsNonFiniteDataThatWasNotImputed) {
  Matrix<double> x = gaussian_data(10, 2, 1);
  x(3, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(build_rkme(Context{}, x.view(), RkmeOptions{}), KernelError);
}

// ---- construction ------------------------------------------------------------

// Every construction: the properties below hold whichever one builds the spec.
constexpr RkmeConstruction kEveryConstruction[] = {RkmeConstruction::kHerdingDescent, RkmeConstruction::kKMeansPlusPlus,
                                                   RkmeConstruction::kReference};

// Default options but for the construction and, when given, K.
RkmeOptions options_for(RkmeConstruction c, int k = RkmeOptions{}.k) {
  RkmeOptions o;
  o.k = k;
  o.construction = c;
  return o;
}


TEST(EffectiveRkmeSize, KeepsKBelowNAndShrinksOtherwise) {
  EXPECT_EQ(effective_rkme_size(100, 1000), 100);
  EXPECT_EQ(effective_rkme_size(100, 100), 66);
  EXPECT_EQ(effective_rkme_size(100, 30), 20);
  EXPECT_EQ(effective_rkme_size(100, 1), 1);
  EXPECT_EQ(effective_rkme_size(5, 2), 1);
}

TEST(BuildRkme, BetaIsOnTheSimplexAndZHasKRows) {
  const Matrix<double> x = gaussian_data(500, 4, 2);
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c, 20);
    const Rkme r = build_rkme(Context{}, x.view(), o);
    EXPECT_EQ(r.z.rows(), 20) << rkme_construction_name(c);
    EXPECT_EQ(r.z.cols(), 4) << rkme_construction_name(c);
    EXPECT_EQ(r.num_points, 500) << rkme_construction_name(c);
    EXPECT_NEAR(sum(r.beta), 1.0, 1e-12) << rkme_construction_name(c);
    for (double b : r.beta) EXPECT_GE(b, 0.0) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, MatchesPlainReferenceGivenTheSameInitialCentres) {
  const Matrix<double> x = gaussian_data(300, 5, 3);
  RkmeOptions o;
  o.construction = RkmeConstruction::kKMeansPlusPlus;  // the start given to the reference below
  o.k = 12;
  o.gamma = 0.2;
  const Context ctx{.n_threads = 2, .seed = 7};
  const Rkme fast = build_rkme(ctx, x.view(), o);

  KMeansOptions km;
  km.k = o.k;
  km.max_iter = o.kmeans_max_iter;
  km.seed = ctx.seed;
  const Matrix<double> initial = kmeans(ctx, x.view(), km).centroids;
  const Rkme ref = build_rkme_ref(x.view(), initial, o);

  EXPECT_LT(max_abs_diff(fast.z.values(), ref.z.values()), 1e-9);
  EXPECT_LT(max_abs_diff(fast.beta, ref.beta), 1e-8);
  EXPECT_NEAR(mmd2(fast, ref, o.gamma), 0.0, 1e-12);
}

TEST(BuildRkme, UnconstrainedBetaMatchesReference) {
  const Matrix<double> x = gaussian_data(200, 3, 4);
  RkmeOptions o;
  o.construction = RkmeConstruction::kKMeansPlusPlus;  // the start given to the reference below
  o.k = 8;
  o.nonnegative_beta = false;
  const Context ctx{.seed = 1};
  const Rkme fast = build_rkme(ctx, x.view(), o);
  KMeansOptions km;
  km.k = o.k;
  km.seed = ctx.seed;
  const Rkme ref = build_rkme_ref(x.view(), kmeans(ctx, x.view(), km).centroids, o);
  EXPECT_LT(max_abs_diff(fast.beta, ref.beta), 1e-7);
  EXPECT_LT(max_abs_diff(fast.z.values(), ref.z.values()), 1e-9);
}

TEST(BuildRkme, GradientStepMatchesPlainReference) {
  const Matrix<double> x = gaussian_data(150, 7, 5);
  Matrix<double> z = gaussian_data(9, 7, 6);
  Matrix<double> z_ref = z;
  std::vector<double> beta(9);
  Rng rng(8);
  for (double& b : beta) b = rng.uniform();
  rkme_gradient_step(Context{.n_threads = 3}, z.view(), beta, x.view(), 0.15, 0.1);
  rkme_gradient_step_ref(z_ref.view(), beta, x.view(), 0.15, 0.1);
  EXPECT_LT(max_abs_diff(z.values(), z_ref.values()), 1e-12);
}

TEST(BuildRkme, IdenticalForOneAndSeveralThreads) {
  const Matrix<double> x = two_blobs(2000, 6, 9);
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c, 30);
    const Rkme one = build_rkme(Context{.n_threads = 1, .seed = 3}, x.view(), o);
    const Rkme two = build_rkme(Context{.n_threads = 2, .seed = 3}, x.view(), o);
    const Rkme three = build_rkme(Context{.n_threads = 3, .seed = 3}, x.view(), o);
    EXPECT_EQ(one.z, two.z) << rkme_construction_name(c);
    EXPECT_EQ(one.beta, two.beta) << rkme_construction_name(c);
    EXPECT_EQ(one.z, three.z) << rkme_construction_name(c);
    EXPECT_EQ(one.beta, three.beta) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, SingleRowGivesThatRowWithWeightOne) {
  const Matrix<double> x(1, 3, std::vector<double>{1.0, -2.0, 0.5});
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c);
    const Rkme r = build_rkme(Context{}, x.view(), o);
    ASSERT_EQ(r.z.rows(), 1) << rkme_construction_name(c);
    EXPECT_EQ(r.beta, std::vector<double>{1.0}) << rkme_construction_name(c);
    // With one centre the gradient pulls z towards the data point and is zero there.
    EXPECT_NEAR(r.z(0, 0), 1.0, 1e-12) << rkme_construction_name(c);
    EXPECT_NEAR(r.z(0, 1), -2.0, 1e-12) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, KAtLeastNShrinksToTwoThirdsOfN) {
  const Matrix<double> x = gaussian_data(30, 2, 10);
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c, 100);
    EXPECT_EQ(build_rkme(Context{}, x.view(), o).z.rows(), 20) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, OneDimensionalData) {
  const Matrix<double> x = gaussian_data(400, 1, 11);
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c, 10);
    const Rkme r = build_rkme(Context{}, x.view(), o);
    EXPECT_EQ(r.z.cols(), 1) << rkme_construction_name(c);
    EXPECT_LT(mmd2(r, empirical_embedding(x)), 1e-3) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, DuplicateRowsDoNotBreakIt) {
  // 200 rows but only 4 distinct points: fewer distinct values than K.
  Matrix<double> x(200, 2);
  for (std::int64_t i = 0; i < 200; ++i) {
    x(i, 0) = static_cast<double>(i % 4);
    x(i, 1) = static_cast<double>((i % 4) * (i % 4));
  }
  for (const RkmeConstruction c : kEveryConstruction) {
    const RkmeOptions o = options_for(c, 10);
    const Rkme r = build_rkme(Context{}, x.view(), o);
    for (double v : r.z.values()) EXPECT_TRUE(std::isfinite(v)) << rkme_construction_name(c);
    for (double b : r.beta) EXPECT_TRUE(std::isfinite(b)) << rkme_construction_name(c);
    EXPECT_NEAR(sum(r.beta), 1.0, 1e-12) << rkme_construction_name(c);
    EXPECT_LT(mmd2(r, empirical_embedding(x)), 1e-6) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, NoReduceKeepsEveryRowWithUniformWeights) {
  const Matrix<double> x = gaussian_data(7, 3, 12);
  for (const RkmeConstruction c : kEveryConstruction) {
    RkmeOptions o = options_for(c);
    o.reduce = false;
    const Rkme r = build_rkme(Context{}, x.view(), o);
    EXPECT_EQ(r.z, x) << rkme_construction_name(c);
    for (double b : r.beta) EXPECT_DOUBLE_EQ(b, 1.0 / 7.0) << rkme_construction_name(c);
  }
}

TEST(BuildRkme, InvalidOptionsAreRejected) {
  const Matrix<double> x = gaussian_data(10, 2, 13);
  RkmeOptions o;
  o.k = 0;
  EXPECT_THROW(build_rkme(Context{}, x.view(), o), KernelError);
  o = RkmeOptions{};
  o.gamma = -1.0;
  EXPECT_THROW(build_rkme(Context{}, x.view(), o), KernelError);
  o = RkmeOptions{};
  o.steps = -2;
  EXPECT_THROW(build_rkme(Context{}, x.view(), o), KernelError);
  EXPECT_THROW(build_rkme(Context{}, Matrix<double>(0, 2).view(), RkmeOptions{}), KernelError);
}

// ---- quality properties ---------------------------------------------------------

TEST(BuildRkme, CloserToTheDataThanARandomSubsetOfTheSameSize) {
  const Matrix<double> x = two_blobs(1500, 5, 14);
  RkmeOptions o;
  o.k = 25;
  const Rkme reduced = build_rkme(Context{.seed = 2}, x.view(), o);
  const Rkme full = empirical_embedding(x);
  const double ours = mmd2(reduced, full);

  Rng rng(99);
  for (int trial = 0; trial < 5; ++trial) {
    Rkme subset;
    subset.z = Matrix<double>(25, 5);
    for (std::int64_t i = 0; i < 25; ++i) {
      const auto row = static_cast<std::int64_t>(rng.below(1500));
      std::copy(x.row(row), x.row(row) + 5, subset.z.row(i));
    }
    subset.beta.assign(25, 1.0 / 25.0);
    EXPECT_LT(ours, mmd2(subset, full)) << "trial " << trial;
  }
}

// The reference Z update weights the data term by 2/n where the exact gradient of
// MMD² has 1/n, so a step is not guaranteed to lower MMD². What must hold: the
// steps neither diverge nor move the sketch away from its data by more than a
// small factor, at every step count the reference uses.
TEST(BuildRkme, GradientStepsKeepTheSketchCloseToItsData) {
  const Matrix<double> x = two_blobs(800, 4, 15);
  const Rkme full = empirical_embedding(x);
  RkmeOptions o;
  o.construction = RkmeConstruction::kKMeansPlusPlus;  // the reference Z update
  o.k = 15;
  o.steps = 0;
  const double before = mmd2(build_rkme(Context{.seed = 4}, x.view(), o), full);
  for (int steps : {1, 3, 10}) {
    o.steps = steps;
    const double after = mmd2(build_rkme(Context{.seed = 4}, x.view(), o), full);
    EXPECT_TRUE(std::isfinite(after)) << steps << " steps";
    EXPECT_LE(after, 1.5 * before) << steps << " steps";
  }
}

// ---- the gradient of MMD² and the herding-descent construction -----------------------

RkmeOptions herding_descent(int k, int steps = RkmeOptions{}.steps) {
  RkmeOptions o;
  o.k = k;
  o.steps = steps;
  o.construction = RkmeConstruction::kHerdingDescent;
  return o;
}

TEST(RkmeMmd2ToData, EqualsMmd2ToTheEmpiricalEmbeddingAndItsReference) {
  const Matrix<double> x = two_blobs(300, 4, 60);
  RkmeOptions o;
  o.k = 12;
  const Rkme r = build_rkme(Context{}, x.view(), o);
  const double fast = rkme_mmd2_to_data(Context{.n_threads = 2}, r.z.view(), r.beta, x.view(), o.gamma);
  EXPECT_NEAR(fast, mmd2(r, empirical_embedding(x)), 1e-14);
  EXPECT_NEAR(fast, rkme_mmd2_to_data_ref(r.z.view(), r.beta, x.view(), o.gamma), 1e-12);
}

// The gradient of MMD² with respect to Z against central differences of MMD²
// itself (computed by the plain reference, so neither side shares code with
// the other). beta is not on the simplex here: the formula holds for any beta.
TEST(RkmeMmd2Gradient, MatchesCentralFiniteDifferences) {
  const double gamma = 0.15;
  const Matrix<double> x = two_blobs(120, 3, 61);
  Matrix<double> z = gaussian_data(7, 3, 62);
  std::vector<double> beta(7);
  Rng rng(63);
  for (double& b : beta) b = 0.05 + 0.3 * rng.uniform();
  const Matrix<double> grad = rkme_mmd2_gradient(Context{.n_threads = 2}, z.view(), beta, x.view(), gamma);
  const double h = 1e-5;
  for (std::int64_t i = 0; i < z.rows(); ++i) {
    for (std::int64_t c = 0; c < z.cols(); ++c) {
      const double saved = z(i, c);
      z(i, c) = saved + h;
      const double up = rkme_mmd2_to_data_ref(z.view(), beta, x.view(), gamma);
      z(i, c) = saved - h;
      const double down = rkme_mmd2_to_data_ref(z.view(), beta, x.view(), gamma);
      z(i, c) = saved;
      const double numeric = (up - down) / (2.0 * h);
      EXPECT_NEAR(grad(i, c), numeric, 1e-7 + 1e-6 * std::abs(numeric)) << "z(" << i << ", " << c << ")";
    }
  }
}

TEST(RkmeMmd2Gradient, MatchesPlainReference) {
  const Matrix<double> x = gaussian_data(200, 6, 64);
  const Matrix<double> z = gaussian_data(11, 6, 65, 0.3);
  std::vector<double> beta(11);
  Rng rng(66);
  for (double& b : beta) b = rng.uniform() - 0.2;
  const Matrix<double> fast = rkme_mmd2_gradient(Context{.n_threads = 3}, z.view(), beta, x.view(), 0.1);
  const Matrix<double> ref = rkme_mmd2_gradient_ref(z.view(), beta, x.view(), 0.1);
  EXPECT_LT(max_abs_diff(fast.values(), ref.values()), 1e-13);
}

// What docs/DESIGN.md §3.2 says of the reference's update: it is not the
// gradient. With beta fixed its step is -eta times the gradient with the self
// term (the gradient of beta' K_zz beta) halved, so it is no gradient step of
// any length.
TEST(RkmeMmd2Gradient, TheReferenceUpdateIsTheGradientWithItsSelfTermHalved) {
  const double gamma = 0.1, eta = 0.1;
  const Matrix<double> x = two_blobs(150, 3, 67);
  const Matrix<double> z = gaussian_data(6, 3, 68);
  const std::vector<double> beta{0.1, 0.3, 0.05, 0.25, 0.2, 0.1};
  Matrix<double> stepped = z;
  rkme_gradient_step(Context{}, stepped.view(), beta, x.view(), gamma, eta);
  // The self term alone: the gradient against one row so far away that its
  // kernel values are 0.
  Matrix<double> far(1, 3, 1e6);
  const Matrix<double> grad = rkme_mmd2_gradient(Context{}, z.view(), beta, x.view(), gamma);
  const Matrix<double> self = rkme_mmd2_gradient(Context{}, z.view(), beta, far.view(), gamma);
  for (std::int64_t e = 0; e < z.size(); ++e) {
    const double reference_direction = (z.data()[e] - stepped.data()[e]) / eta;
    EXPECT_NEAR(reference_direction, grad.data()[e] - 0.5 * self.data()[e], 1e-12)
        << "entry " << e;
  }
}

TEST(RkmeHerdingStart, MatchesPlainReferenceWithAndWithoutSampling) {
  // 40 rows: all of them (sqrt(2 K n) >= n); 300 and 2600: a sample.
  for (const std::int64_t n : {40, 300, 2600}) {
    const Matrix<double> x = two_blobs(n, 3, 70 + static_cast<std::uint64_t>(n));
    const Matrix<double> fast = rkme_herding_start(Context{.n_threads = 2, .seed = 5}, x.view(), 25, 0.1);
    const Matrix<double> ref = rkme_herding_start_ref(x.view(), 25, 0.1, 5);
    EXPECT_EQ(fast, ref) << "n = " << n;
  }
}

TEST(RkmeHerdingStart, PicksDistinctDataRowsAndCoversBothBlobs) {
  const Matrix<double> x = two_blobs(600, 2, 72);
  const Matrix<double> z = rkme_herding_start(Context{}, x.view(), 9, 0.1);
  std::int64_t in_small_blob = 0;
  for (std::int64_t i = 0; i < z.rows(); ++i) {
    std::int64_t matches = 0;
    for (std::int64_t r = 0; r < x.rows(); ++r) matches += (x(r, 0) == z(i, 0) && x(r, 1) == z(i, 1)) ? 1 : 0;
    EXPECT_EQ(matches, 1) << "pick " << i;
    for (std::int64_t j = 0; j < i; ++j) EXPECT_FALSE(z(i, 0) == z(j, 0) && z(i, 1) == z(j, 1));
    in_small_blob += z(i, 0) > 1.0 ? 1 : 0;
  }
  // One row in three is in the blob at +4: about a third of the picks.
  EXPECT_GE(in_small_blob, 2);
  EXPECT_LE(in_small_blob, 5);
}

TEST(BuildRkme, HerdingDescentMatchesPlainReferenceGivenTheSameStart) {
  const Matrix<double> x = two_blobs(400, 5, 73);
  const RkmeOptions o = herding_descent(15);
  const Context ctx{.n_threads = 2, .seed = 3};
  const Rkme fast = build_rkme(ctx, x.view(), o);
  const Rkme ref = build_rkme_ref(x.view(), rkme_descent_start_ref(x.view(), 15, o, 3), o);
  EXPECT_LT(max_abs_diff(fast.z.values(), ref.z.values()), 1e-9);
  EXPECT_LT(max_abs_diff(fast.beta, ref.beta), 1e-8);
  EXPECT_EQ(fast.num_points, 400);
}

TEST(RkmeDescentStart, MatchesPlainReference) {
  for (const std::int64_t d : {2, 12}) {
    const Matrix<double> x = two_blobs(700, d, 80 + static_cast<std::uint64_t>(d));
    const RkmeOptions o = herding_descent(20);
    const Matrix<double> fast = rkme_descent_start(Context{.n_threads = 2, .seed = 4}, x.view(), 20, o);
    const Matrix<double> ref = rkme_descent_start_ref(x.view(), 20, o, 4);
    EXPECT_LT(max_abs_diff(fast.values(), ref.values()), 1e-12) << "d = " << d;
  }
}

bool is_data_row(const Matrix<double>& x, const double* z) {
  for (std::int64_t r = 0; r < x.rows(); ++r)
    if (std::equal(z, z + x.cols(), x.row(r))) return true;
  return false;
}

// The two candidate starts and the regimes each wins (rkme.h): k-means
// centroids where the kernel is wide against the data (2-d), the herding
// picks, data rows, where it is narrow (16-d Gaussians of unit spread).
TEST(RkmeDescentStart, CentroidsWhereTheKernelIsWideHerdingPicksWhereItIsNarrow) {
  const Matrix<double> low = gaussian_data(1000, 2, 81);
  const Matrix<double> low_start = rkme_descent_start(Context{}, low.view(), 30, herding_descent(30));
  std::int64_t rows_low = 0;
  for (std::int64_t i = 0; i < 30; ++i) rows_low += is_data_row(low, low_start.row(i)) ? 1 : 0;
  EXPECT_EQ(rows_low, 0);

  const Matrix<double> high = gaussian_data(1000, 16, 82);
  const Matrix<double> high_start = rkme_descent_start(Context{}, high.view(), 30, herding_descent(30));
  for (std::int64_t i = 0; i < 30; ++i) EXPECT_TRUE(is_data_row(high, high_start.row(i))) << "start row " << i;
}

TEST(BuildRkme, HerdingDescentIsIdenticalForOneTwoAndThreeThreads) {
  const Matrix<double> x = two_blobs(3000, 6, 74);  // more rows than the herding sample
  const RkmeOptions o = herding_descent(30);
  const Rkme one = build_rkme(Context{.n_threads = 1, .seed = 8}, x.view(), o);
  const Rkme two = build_rkme(Context{.n_threads = 2, .seed = 8}, x.view(), o);
  const Rkme three = build_rkme(Context{.n_threads = 3, .seed = 8}, x.view(), o);
  EXPECT_EQ(one.z, two.z);
  EXPECT_EQ(one.beta, two.beta);
  EXPECT_EQ(one.z, three.z);
  EXPECT_EQ(one.beta, three.beta);
}

// Every step is kept only when MMD² falls, so more steps never give a worse
// sketch, and the evaluations stay within three trials a step.
TEST(BuildRkme, HerdingDescentStepsOnlyEverLowerMmd2) {
  const Matrix<double> x = two_blobs(800, 4, 75);
  const Matrix<double> start = rkme_herding_start(Context{}, x.view(), 15, 0.1);
  double previous = std::numeric_limits<double>::infinity();
  for (int steps : {0, 1, 2, 4, 8, 16}) {
    RkmeDescentReport report;
    const Rkme r = rkme_descend(Context{}, x.view(), start, herding_descent(15, steps), &report);
    const double now = rkme_mmd2_to_data(Context{}, r.z.view(), r.beta, x.view(), 0.1);
    EXPECT_LE(now, previous) << steps << " steps";
    EXPECT_LE(report.steps, steps);
    EXPECT_LE(report.evaluations, 1 + 3 * steps);
    if (steps > 0) {
      EXPECT_GE(report.steps, 1) << "the first step from the herding start lowers MMD²";
    }
    previous = now;
  }
}

TEST(BuildRkme, HerdingDescentSketchesItsDataCloserThanTheReferenceConstruction) {
  const Matrix<double> x = two_blobs(1500, 8, 76);
  for (int k : {10, 40}) {
    RkmeOptions reference;
    reference.k = k;
    reference.construction = RkmeConstruction::kReference;
    const Rkme ours = build_rkme(Context{.seed = 1}, x.view(), herding_descent(k));
    const Rkme theirs = build_rkme(Context{.seed = 1}, x.view(), reference);
    const double a = rkme_mmd2_to_data(Context{}, ours.z.view(), ours.beta, x.view(), 0.1);
    const double b = rkme_mmd2_to_data(Context{}, theirs.z.view(), theirs.beta, x.view(), 0.1);
    EXPECT_LT(a, b) << "K = " << k;
  }
}

TEST(BuildRkme, ReferenceConstructionStartsFromTheReferenceKMeans) {
  const Matrix<double> x = two_blobs(500, 3, 77);
  RkmeOptions o;
  o.k = 20;
  o.construction = RkmeConstruction::kReference;
  const Context ctx{.n_threads = 2, .seed = 9};
  const Rkme fast = build_rkme(ctx, x.view(), o);
  KMeansOptions km;
  km.k = 20;
  km.seed = 9;
  km.reference_rules = true;
  const Rkme ref = build_rkme_ref(x.view(), kmeans_ref(x.view(), km).centroids, o);
  EXPECT_LT(max_abs_diff(fast.z.values(), ref.z.values()), 1e-9);
  EXPECT_LT(max_abs_diff(fast.beta, ref.beta), 1e-8);
  // ... which is not lwdock's default k-means.
  RkmeOptions ours = o;
  ours.construction = RkmeConstruction::kKMeansPlusPlus;
  EXPECT_NE(build_rkme(ctx, x.view(), ours).z, fast.z);
}

TEST(BuildRkme, HerdingDescentHandlesOneRowDuplicatesAndSmallN) {
  const Matrix<double> one(1, 3, std::vector<double>{1.0, -2.0, 0.5});
  const Rkme single = build_rkme(Context{}, one.view(), herding_descent(100));
  EXPECT_EQ(single.z, one);
  EXPECT_EQ(single.beta, std::vector<double>{1.0});

  Matrix<double> dup(200, 2);
  for (std::int64_t i = 0; i < 200; ++i) {
    dup(i, 0) = static_cast<double>(i % 4);
    dup(i, 1) = static_cast<double>((i % 4) * (i % 4));
  }
  const Rkme r = build_rkme(Context{}, dup.view(), herding_descent(10));
  for (double v : r.z.values()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(sum(r.beta), 1.0, 1e-12);
  EXPECT_LT(mmd2(r, empirical_embedding(dup)), 1e-6);

  const Matrix<double> small = gaussian_data(30, 2, 78);
  EXPECT_EQ(build_rkme(Context{}, small.view(), herding_descent(100)).z.rows(), 20);
}

TEST(BuildRkme, HerdingDescentWithUnconstrainedBetaMatchesReference) {
  const Matrix<double> x = gaussian_data(200, 3, 79);
  RkmeOptions o = herding_descent(8, 4);
  o.nonnegative_beta = false;
  const Rkme fast = build_rkme(Context{.seed = 2}, x.view(), o);
  const Rkme ref = build_rkme_ref(x.view(), rkme_descent_start_ref(x.view(), 8, o, 2), o);
  EXPECT_LT(max_abs_diff(fast.beta, ref.beta), 1e-7);
  EXPECT_LT(max_abs_diff(fast.z.values(), ref.z.values()), 1e-9);
}

// ---- inner product and MMD ---------------------------------------------------------

TEST(RkmeMmd2, IsZeroForTheSameSpec) {
  const Matrix<double> x = gaussian_data(300, 3, 16);
  RkmeOptions o;
  o.k = 10;
  const Rkme r = build_rkme(Context{}, x.view(), o);
  EXPECT_EQ(mmd2(r, r), 0.0);
}

TEST(RkmeMmd2, IsSymmetricAndMatchesReference) {
  const Matrix<double> a = gaussian_data(300, 3, 17);
  const Matrix<double> b = gaussian_data(200, 3, 18, 0.7);
  RkmeOptions o;
  o.k = 10;
  const Rkme p = build_rkme(Context{}, a.view(), o);
  const Rkme q = build_rkme(Context{}, b.view(), o);
  const double pq = mmd2(p, q);
  EXPECT_NEAR(pq, mmd2(q, p), 1e-15);
  const double ref = rkme_mmd2_ref(p.z.view(), p.beta, q.z.view(), q.beta, 0.1);
  EXPECT_NEAR(pq, ref, 1e-10 * std::abs(ref));
  EXPECT_GT(pq, 0.0);
}

TEST(RkmeMmd2, GrowsWithTheShiftBetweenDistributions) {
  const Matrix<double> base = gaussian_data(400, 2, 19);
  RkmeOptions o;
  o.k = 10;
  const Rkme p = build_rkme(Context{}, base.view(), o);
  double previous = 0.0;
  for (double shift : {0.5, 1.0, 2.0, 4.0}) {
    const Rkme q = build_rkme(Context{}, gaussian_data(400, 2, 20, shift).view(), o);
    const double d = mmd2(p, q);
    EXPECT_GT(d, previous) << "shift " << shift;
    previous = d;
  }
}

TEST(RkmeInnerProduct, RejectsDifferentWidths) {
  const Matrix<double> a = gaussian_data(3, 2, 21);
  const Matrix<double> b = gaussian_data(3, 3, 22);
  const std::vector<double> w(3, 1.0 / 3.0);
  EXPECT_THROW(rkme_inner_product(Context{}, a.view(), w, b.view(), w, 0.1), KernelError);
  EXPECT_THROW(rkme_inner_product(Context{}, a.view(), std::vector<double>(2, 0.5), a.view(), w, 0.1), KernelError);
}

// ---- herding ----------------------------------------------------------------------

TEST(RkmeHerding, ReturnsTheRequestedNumberOfSamplesNearTheSupport) {
  const Matrix<double> x = two_blobs(600, 3, 23);
  RkmeOptions o;
  o.k = 12;
  const Rkme r = build_rkme(Context{}, x.view(), o);
  const Matrix<double> s = rkme_herding(Context{.seed = 5}, r.z.view(), r.beta, r.gamma, 40);
  ASSERT_EQ(s.rows(), 40);
  ASSERT_EQ(s.cols(), 3);
  for (std::int64_t i = 0; i < s.rows(); ++i) {
    double nearest = std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < r.z.rows(); ++k) {
      double d2 = 0.0;
      for (std::int64_t j = 0; j < 3; ++j) d2 += (s(i, j) - r.z(k, j)) * (s(i, j) - r.z(k, j));
      nearest = std::min(nearest, d2);
    }
    EXPECT_LT(nearest, 9.0 * 3 * 0.25 * 0.25 * 4) << "sample " << i;  // within a few candidate std devs
  }
}

TEST(RkmeHerding, IsDeterministicForASeedAndDiffersAcrossSeeds) {
  const Matrix<double> x = gaussian_data(300, 2, 24);
  RkmeOptions o;
  o.k = 8;
  const Rkme r = build_rkme(Context{}, x.view(), o);
  const auto a = rkme_herding(Context{.n_threads = 1, .seed = 1}, r.z.view(), r.beta, r.gamma, 20);
  const auto b = rkme_herding(Context{.n_threads = 2, .seed = 1}, r.z.view(), r.beta, r.gamma, 20);
  const auto c = rkme_herding(Context{.seed = 2}, r.z.view(), r.beta, r.gamma, 20);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(RkmeHerding, SamplesFollowTheEmbeddingBetterThanRandomCandidates) {
  const Matrix<double> x = two_blobs(1000, 2, 25);
  RkmeOptions o;
  o.k = 20;
  const Rkme r = build_rkme(Context{}, x.view(), o);
  const Matrix<double> herded = rkme_herding(Context{.seed = 3}, r.z.view(), r.beta, r.gamma, 50);
  Rkme herded_embedding;
  herded_embedding.z = herded;
  herded_embedding.beta.assign(50, 1.0 / 50.0);
  // The same number of points from one blob only misses the other blob's mass.
  Rkme one_blob;
  one_blob.z = Matrix<double>(50, 2);
  Rng rng(4);
  for (auto& v : one_blob.z.values()) v = -2.0 + 0.5 * rng.normal();
  one_blob.beta.assign(50, 1.0 / 50.0);
  EXPECT_LT(mmd2(herded_embedding, r), 0.25 * mmd2(one_blob, r));
}

TEST(RkmeHerding, NegativeWeightsAreNeverSampledFrom) {
  Matrix<double> z(2, 1, std::vector<double>{0.0, 100.0});
  const std::vector<double> beta{1.0, -0.5};
  const Matrix<double> s = rkme_herding(Context{.seed = 6}, z.view(), beta, 0.1, 10);
  for (double v : s.values()) EXPECT_LT(std::abs(v), 5.0);
}

TEST(RkmeHerding, RejectsBadArguments) {
  Matrix<double> z(2, 1, std::vector<double>{0.0, 1.0});
  EXPECT_THROW(rkme_herding(Context{}, z.view(), std::vector<double>{-1.0, 0.0}, 0.1, 5), KernelError);
  EXPECT_THROW(rkme_herding(Context{}, z.view(), std::vector<double>{0.5, 0.5}, 0.1, 0), KernelError);
  EXPECT_THROW(rkme_herding(Context{}, z.view(), std::vector<double>{1.0}, 0.1, 3), KernelError);
}

}  // namespace
}  // namespace lwd::kernels

namespace lwd::kernels {
namespace {

TEST(RkmeBatchInnerProducts, EqualsOneInnerProductPerPackedSpec) {
  Rng rng(30);
  const std::int64_t d = 5;
  const Matrix<double> zu = gaussian_data(7, d, 31);
  std::vector<double> bu(7);
  for (double& b : bu) b = rng.uniform();
  // Specs of sizes 3, 1, 0 (empty segment), 6.
  const std::vector<std::int64_t> offsets{0, 3, 4, 4, 10};
  const Matrix<double> packed = gaussian_data(10, d, 32, 0.3);
  std::vector<double> pb(10);
  for (double& b : pb) b = rng.uniform() - 0.2;
  std::vector<double> out(4);
  rkme_batch_inner_products(Context{.n_threads = 2}, zu.view(), bu, packed.view(), pb, offsets, 0.3, out);
  for (std::size_t m = 0; m < 4; ++m) {
    const auto rows = offsets[m + 1] - offsets[m];
    const double expected =
        rows == 0 ? 0.0
                  : rkme_inner_product(Context{}, zu.view(), bu, packed.view().row_block(offsets[m], rows),
                                       std::span<const double>(pb).subspan(static_cast<std::size_t>(offsets[m]),
                                                                           static_cast<std::size_t>(rows)),
                                       0.3);
    EXPECT_NEAR(out[m], expected, 1e-12 * std::max(1.0, std::abs(expected))) << "spec " << m;
  }
}

// The float32 screening pass against its plain reference (float64 kernel values
// from the same stored floats), over awkward widths and segment layouts.
TEST(RkmeBatchInnerProductsF32, MatchesItsReferenceWithin1e5Relative) {
  for (std::int64_t d : {1, 3, 7, 8, 9, 16, 17, 31, 32, 33, 64}) {
    Rng rng(static_cast<std::uint64_t>(40 + d));
    const Matrix<double> zu = gaussian_data(13, d, 41 + static_cast<std::uint64_t>(d), 0.4);
    std::vector<double> bu(13);
    for (double& b : bu) b = rng.uniform();
    const std::vector<std::int64_t> offsets{0, 5, 5, 260, 300, 301};
    const Matrix<double> packed64 = gaussian_data(301, d, 43 + static_cast<std::uint64_t>(d), 0.6);
    std::vector<float> packed(packed64.values().begin(), packed64.values().end());
    std::vector<double> pb(301);
    for (double& b : pb) b = rng.uniform();
    const ConstMatrixView<float> pz(packed.data(), 301, d);
    std::vector<double> out(5), ref(5);
    rkme_batch_inner_products_f32(Context{.n_threads = 2}, zu.view(), bu, pz, pb, offsets, 0.2, out);
    rkme_batch_inner_products_f32_ref(zu.view(), bu, pz, pb, offsets, 0.2, ref);
    for (std::size_t m = 0; m < 5; ++m) EXPECT_NEAR(out[m], ref[m], 1e-5 * std::abs(ref[m]) + 1e-300) << "d=" << d << " m=" << m;
  }
}

TEST(RkmeBatchInnerProductsF32, IsIdenticalForOneAndTwoThreads) {
  const Matrix<double> zu = gaussian_data(20, 6, 50);
  const std::vector<double> bu(20, 0.05);
  const Matrix<double> packed64 = gaussian_data(2000, 6, 51);
  std::vector<float> packed(packed64.values().begin(), packed64.values().end());
  const std::vector<double> pb(2000, 0.01);
  std::vector<std::int64_t> offsets;
  for (std::int64_t o = 0; o <= 2000; o += 100) offsets.push_back(o);
  std::vector<double> a(20), b(20);
  const ConstMatrixView<float> pz(packed.data(), 2000, 6);
  rkme_batch_inner_products_f32(Context{.n_threads = 1}, zu.view(), bu, pz, pb, offsets, 0.1, a);
  rkme_batch_inner_products_f32(Context{.n_threads = 2}, zu.view(), bu, pz, pb, offsets, 0.1, b);
  EXPECT_EQ(a, b);
}

// A row's float32 value does not depend on where the pack puts it (in a whole
// block or the last, padded one; early or late in a tile), so a market whose
// members were reordered by a removal screens exactly as one opened afresh.
TEST(RkmeBatchInnerProductsF32, ARowsValueDoesNotDependOnItsPosition) {
  const std::int64_t d = 5, rows = 300;  // one whole tile and a partial one
  const Matrix<double> zu = gaussian_data(13, d, 60, 0.5);
  std::vector<double> bu(13);
  Rng rng(61);
  for (double& b : bu) b = rng.uniform();
  const Matrix<double> packed64 = gaussian_data(rows, d, 62, 0.7);
  std::vector<float> packed(packed64.values().begin(), packed64.values().end());
  std::vector<double> forward(static_cast<std::size_t>(rows)), backward(forward.size());
  rkme_batch_attraction_f32(Context{}, zu.view(), bu, ConstMatrixView<float>(packed.data(), rows, d), 0.2, 0, rows,
                            forward);
  std::vector<float> reversed(packed.size());
  for (std::int64_t r = 0; r < rows; ++r)
    std::copy_n(packed.data() + r * d, d, reversed.data() + (rows - 1 - r) * d);
  rkme_batch_attraction_f32(Context{}, zu.view(), bu, ConstMatrixView<float>(reversed.data(), rows, d), 0.2, 0, rows,
                            backward);
  for (std::int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(forward[static_cast<std::size_t>(r)], backward[static_cast<std::size_t>(rows - 1 - r)]) << "row " << r;
}

// The ends of the exponential's range: a row on a user point gets its weight
// (kernel value 1, to float32 rounding), a row whose kernel values all fall
// below the smallest normal float gets exactly 0 (its true value, ~1e-88, is
// far below anything the screen resolves).
TEST(RkmeBatchInnerProductsF32, CoincidentRowsGetTheirWeightAndFarRowsZero) {
  const Matrix<double> zu(2, 2, std::vector<double>{0.0, 0.0, 1.0, 0.0});
  const std::vector<double> bu{0.25, 0.75};
  // Row 0 on user point 0 (its other point at squared distance 1); row 1 at
  // squared distance >= 2000 from both, where gamma 0.1 gives exp(-200).
  const std::vector<float> packed{0.0f, 0.0f, 0.0f, 45.0f};
  std::vector<double> got(2), ref(2);
  const std::vector<double> pb{1.0, 1.0};
  const std::vector<std::int64_t> offsets{0, 1, 2};
  rkme_batch_inner_products_f32(Context{}, zu.view(), bu, ConstMatrixView<float>(packed.data(), 2, 2), pb, offsets,
                                0.1, got);
  rkme_batch_inner_products_f32_ref(zu.view(), bu, ConstMatrixView<float>(packed.data(), 2, 2), pb, offsets, 0.1, ref);
  EXPECT_NEAR(got[0], 0.25 + 0.75 * std::exp(-0.1), 1e-6);
  EXPECT_NEAR(got[0], ref[0], 1e-6);
  EXPECT_EQ(got[1], 0.0);
  EXPECT_LT(ref[1], 1e-80);
}

TEST(RkmeBatchInnerProductsF32, RejectsInconsistentArguments) {
  const Matrix<double> zu = gaussian_data(4, 3, 52);
  const std::vector<double> bu(4, 0.25);
  std::vector<float> packed(12, 0.0f);
  const std::vector<double> pb(4, 0.25);
  std::vector<double> out(1);
  const std::vector<std::int64_t> bad{0, 3};
  EXPECT_THROW(rkme_batch_inner_products_f32(Context{}, zu.view(), bu, ConstMatrixView<float>(packed.data(), 4, 3), pb,
                                             bad, 0.1, out),
               KernelError);
  EXPECT_THROW(rkme_batch_inner_products_f32(Context{}, zu.view(), bu, ConstMatrixView<float>(packed.data(), 3, 4),
                                             std::vector<double>(3, 0.3), std::vector<std::int64_t>{0, 3}, 0.1, out),
               KernelError);
}

TEST(RkmeBatchInnerProducts, RejectsInconsistentOffsets) {
  const Matrix<double> z = gaussian_data(4, 2, 33);
  const std::vector<double> b(4, 0.25);
  std::vector<double> out(2);
  EXPECT_THROW(rkme_batch_inner_products(Context{}, z.view(), b, z.view(), b, std::vector<std::int64_t>{0, 2}, 0.1,
                                         out),
               KernelError);
  EXPECT_THROW(rkme_batch_inner_products(Context{}, z.view(), b, z.view(), b, std::vector<std::int64_t>{0, 3, 2},
                                         0.1, out),
               KernelError);
  EXPECT_THROW(rkme_batch_inner_products(Context{}, z.view(), b, z.view(), b, std::vector<std::int64_t>{0, 2, 5},
                                         0.1, out),
               KernelError);
}

// The batch split between processes: rows computed in block-aligned parts
// and summed per RKME are the whole batch call's products bit for bit, for a
// user narrower than one kernel tile and one of five tiles (split into chunks), in float64
// and float32; a part that does not start on a block is refused.
TEST(RkmeBatchAttraction, PartsPutTogetherEqualTheWholeBatchBitForBit) {
  const std::int64_t d = 4, packed_rows = 2600;  // 21 kernel tiles: one chunk for the whole, two for a part
  const Matrix<double> packed = gaussian_data(packed_rows, d, 41);
  const std::vector<float> packed32(packed.values().begin(), packed.values().end());
  const ConstMatrixView<float> packed_f(packed32.data(), packed_rows, d);
  std::vector<double> beta(static_cast<std::size_t>(packed_rows));
  Rng rng(42);
  for (double& b : beta) b = rng.uniform();
  std::vector<std::int64_t> offsets{0};
  while (offsets.back() < packed_rows) offsets.push_back(std::min<std::int64_t>(packed_rows, offsets.back() + 1 + static_cast<std::int64_t>(offsets.size() % 9)));
  const std::size_t specs = offsets.size() - 1;
  for (const std::int64_t k : {20, 2100}) {
    const Matrix<double> zu = gaussian_data(k, d, 43 + static_cast<std::uint64_t>(k), 0.3);
    std::vector<double> bu(static_cast<std::size_t>(k), 1.0 / static_cast<double>(k));
    std::vector<double> whole(specs), whole32(specs);
    rkme_batch_inner_products(Context{}, zu.view(), bu, packed.view(), beta, offsets, 0.2, whole);
    rkme_batch_inner_products_f32(Context{}, zu.view(), bu, packed_f, beta, offsets, 0.2, whole32);
    for (const std::int64_t parts : {2, 3, 6}) {
      std::vector<double> rows(static_cast<std::size_t>(packed_rows)), rows32(rows.size());
      const std::int64_t blocks = (packed_rows + kRkmeBatchRowBlock - 1) / kRkmeBatchRowBlock;
      for (std::int64_t p = 0; p < parts; ++p) {
        const std::int64_t begin = std::min(packed_rows, blocks * p / parts * kRkmeBatchRowBlock);
        const std::int64_t end = std::min(packed_rows, blocks * (p + 1) / parts * kRkmeBatchRowBlock);
        rkme_batch_attraction(Context{}, zu.view(), bu, packed.view(), 0.2, begin, end,
                              std::span<double>(rows).subspan(static_cast<std::size_t>(begin),
                                                              static_cast<std::size_t>(end - begin)));
        rkme_batch_attraction_f32(Context{}, zu.view(), bu, packed_f, 0.2, begin, end,
                                  std::span<double>(rows32).subspan(static_cast<std::size_t>(begin),
                                                                    static_cast<std::size_t>(end - begin)));
      }
      std::vector<double> got(specs), got32(specs);
      rkme_segmented_sums(beta, offsets, rows, got);
      rkme_segmented_sums(beta, offsets, rows32, got32);
      EXPECT_EQ(got, whole) << "K " << k << ", " << parts << " parts";
      EXPECT_EQ(got32, whole32) << "K " << k << ", " << parts << " parts (float32)";
    }
  }
  std::vector<double> out(100);
  const Matrix<double> zu = gaussian_data(5, d, 44);
  const std::vector<double> bu(5, 0.2);
  EXPECT_THROW(rkme_batch_attraction(Context{}, zu.view(), bu, packed.view(), 0.2, 100, 200, out), KernelError);
}

}  // namespace
}  // namespace lwd::kernels
