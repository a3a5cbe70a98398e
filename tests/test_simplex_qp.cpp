#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/matrix.h"
#include "kernels/random.h"
#include "kernels/simplex_qp.h"

namespace {

using lwd::kernels::KernelError;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;
using lwd::kernels::simplex_qp_kkt_residual;
using lwd::kernels::simplex_qp_objective;
using lwd::kernels::SimplexQpOptions;
using lwd::kernels::SimplexQpResult;
using lwd::kernels::solve_simplex_qp;

constexpr double kTol = 1e-9;

struct Problem {
  Matrix<double> k;
  std::vector<double> c;
};

Matrix<double> random_normal(Rng& rng, std::int64_t rows, std::int64_t cols) {
  Matrix<double> m(rows, cols);
  for (double& v : m.values()) v = rng.normal();
  return m;
}

// K = A A^T with A n x rank: PSD, singular whenever rank < n.
Problem gram_problem(std::int64_t n, std::int64_t rank, std::uint64_t seed) {
  Rng rng(seed);
  const Matrix<double> a = random_normal(rng, n, rank);
  Problem p{Matrix<double>(n, n), std::vector<double>(static_cast<std::size_t>(n))};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::int64_t t = 0; t < rank; ++t) s += a(i, t) * a(j, t);
      p.k(i, j) = s;
    }
  for (double& ci : p.c) ci = rng.normal();
  return p;
}

double rbf(const double* a, const double* b, std::int64_t d, double gamma) {
  double s = 0.0;
  for (std::int64_t t = 0; t < d; ++t) s += (a[t] - b[t]) * (a[t] - b[t]);
  return std::exp(-gamma * s);
}

// The RKME beta problem: K = k(Z, Z), c_i = mean_j k(z_i, x_j).
Problem rbf_problem(const Matrix<double>& z, const Matrix<double>& x, double gamma) {
  const std::int64_t n = z.rows();
  Problem p{Matrix<double>(n, n), std::vector<double>(static_cast<std::size_t>(n), 0.0)};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) p.k(i, j) = rbf(z.row(i), z.row(j), z.cols(), gamma);
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < x.rows(); ++j) s += rbf(z.row(i), x.row(j), z.cols(), gamma);
    p.c[static_cast<std::size_t>(i)] = s / static_cast<double>(x.rows());
  }
  return p;
}

Problem random_rbf_problem(std::int64_t n, double gamma, std::uint64_t seed) {
  Rng rng(seed);
  const Matrix<double> z = random_normal(rng, n, 4);
  const Matrix<double> x = random_normal(rng, 3 * n + 10, 4);
  return rbf_problem(z, x, gamma);
}

SimplexQpResult solve(const Problem& p, const SimplexQpOptions& options = {}) {
  return solve_simplex_qp(p.k.view(), p.c, options);
}

void expect_feasible(const std::vector<double>& x) {
  double sum = 0.0;
  for (double v : x) {
    EXPECT_GE(v, 0.0);
    sum += v;
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

// Solves the square system a y = b by Gaussian elimination with full pivoting,
// treating pivots below the threshold as zero. Returns false if the system is
// inconsistent; free variables of a consistent singular system are set to zero.
bool solve_dense(std::vector<std::vector<double>> a, std::vector<double> b, std::vector<double>& y) {
  const std::size_t n = b.size();
  double scale = 1.0;
  for (const auto& row : a)
    for (double v : row) scale = std::max(scale, std::abs(v));
  const double threshold = 1e-11 * scale;
  std::vector<std::size_t> col(n);
  std::iota(col.begin(), col.end(), 0);
  std::size_t rank = 0;
  for (; rank < n; ++rank) {
    std::size_t pr = rank, pc = rank;
    for (std::size_t i = rank; i < n; ++i)
      for (std::size_t j = rank; j < n; ++j)
        if (std::abs(a[i][j]) > std::abs(a[pr][pc])) pr = i, pc = j;
    if (std::abs(a[pr][pc]) <= threshold) break;
    std::swap(a[rank], a[pr]);
    std::swap(b[rank], b[pr]);
    for (auto& row : a) std::swap(row[rank], row[pc]);
    std::swap(col[rank], col[pc]);
    for (std::size_t i = rank + 1; i < n; ++i) {
      const double f = a[i][rank] / a[rank][rank];
      for (std::size_t j = rank; j < n; ++j) a[i][j] -= f * a[rank][j];
      b[i] -= f * b[rank];
    }
  }
  for (std::size_t i = rank; i < n; ++i)
    if (std::abs(b[i]) > 1e-9 * scale) return false;
  std::vector<double> z(n, 0.0);
  for (std::size_t i = rank; i-- > 0;) {
    double s = b[i];
    for (std::size_t j = i + 1; j < rank; ++j) s -= a[i][j] * z[j];
    z[i] = s / a[i][i];
  }
  y.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) y[col[i]] = z[i];
  return true;
}

// Minimum over every support set S of the equality-constrained minimiser on S
// (bordered KKT system [K_SS 1; 1^T 0]), keeping only feasible ones.
double brute_force_minimum(const Problem& p) {
  const std::int64_t n = p.k.rows();
  double best = std::numeric_limits<double>::infinity();
  for (std::uint32_t mask = 1; mask < (1u << n); ++mask) {
    std::vector<std::int64_t> s;
    for (std::int64_t i = 0; i < n; ++i)
      if (mask & (1u << i)) s.push_back(i);
    const std::size_t m = s.size();
    std::vector<std::vector<double>> a(m + 1, std::vector<double>(m + 1, 0.0));
    std::vector<double> b(m + 1, 0.0);
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < m; ++j) a[i][j] = p.k(s[i], s[j]);
      a[i][m] = a[m][i] = 1.0;
      b[i] = p.c[static_cast<std::size_t>(s[i])];
    }
    b[m] = 1.0;
    std::vector<double> y;
    if (!solve_dense(a, b, y)) continue;
    std::vector<double> x(static_cast<std::size_t>(n), 0.0);
    bool feasible = true;
    for (std::size_t i = 0; i < m; ++i) {
      if (y[i] < -1e-12) feasible = false;
      x[static_cast<std::size_t>(s[i])] = std::max(0.0, y[i]);
    }
    if (!feasible) continue;
    best = std::min(best, simplex_qp_objective(p.k.view(), p.c, x));
  }
  return best;
}

// ---- optimality on random problems -----------------------------------------

class SimplexQpRandomSizes : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(SimplexQpRandomSizes, FullRankGramProblemMeetsKktTolerance) {
  const std::int64_t n = GetParam();
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const Problem p = gram_problem(n, n + 2, 100 + seed);
    const SimplexQpResult r = solve(p);
    EXPECT_TRUE(r.converged);
    EXPECT_LE(r.kkt_residual, kTol);
    EXPECT_LE(simplex_qp_kkt_residual(p.k.view(), p.c, r.x), kTol);
    expect_feasible(r.x);
  }
}

TEST_P(SimplexQpRandomSizes, LowRankGramProblemMeetsKktTolerance) {
  const std::int64_t n = GetParam();
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const Problem p = gram_problem(n, std::max<std::int64_t>(1, n / 4), 200 + seed);
    const SimplexQpResult r = solve(p);
    EXPECT_TRUE(r.converged);
    EXPECT_LE(simplex_qp_kkt_residual(p.k.view(), p.c, r.x), kTol);
    expect_feasible(r.x);
  }
}

TEST_P(SimplexQpRandomSizes, RbfKernelProblemMeetsKktTolerance) {
  const std::int64_t n = GetParam();
  for (double gamma : {0.05, 0.5, 5.0}) {
    const Problem p = random_rbf_problem(n, gamma, 300 + static_cast<std::uint64_t>(n));
    const SimplexQpResult r = solve(p);
    EXPECT_TRUE(r.converged) << "gamma " << gamma;
    EXPECT_LE(simplex_qp_kkt_residual(p.k.view(), p.c, r.x), kTol) << "gamma " << gamma;
    expect_feasible(r.x);
  }
}

TEST_P(SimplexQpRandomSizes, ReportedObjectiveAndResidualMatchTheFreeFunctions) {
  const Problem p = random_rbf_problem(GetParam(), 0.5, 7);
  const SimplexQpResult r = solve(p);
  EXPECT_NEAR(r.objective, simplex_qp_objective(p.k.view(), p.c, r.x), 1e-12);
  EXPECT_NEAR(r.kkt_residual, simplex_qp_kkt_residual(p.k.view(), p.c, r.x), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Sizes, SimplexQpRandomSizes, ::testing::Values(1, 2, 3, 5, 10, 50, 200, 500),
                         [](const auto& info) { return std::to_string(info.param) + "_variables"; });

// ---- agreement with exhaustive search ----------------------------------------

TEST(SimplexQp, MatchesBruteForceOnTinyFullRankProblems) {
  for (std::int64_t n = 1; n <= 6; ++n)
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      const Problem p = gram_problem(n, n, 1000 * static_cast<std::uint64_t>(n) + seed);
      EXPECT_NEAR(solve(p).objective, brute_force_minimum(p), 1e-10) << "n " << n << " seed " << seed;
    }
}

TEST(SimplexQp, MatchesBruteForceOnTinyRankDeficientProblems) {
  for (std::int64_t n = 2; n <= 6; ++n)
    for (std::int64_t rank = 1; rank < n; ++rank)
      for (std::uint64_t seed = 0; seed < 4; ++seed) {
        const Problem p = gram_problem(n, rank, 5000 + 100 * static_cast<std::uint64_t>(n + rank) + seed);
        EXPECT_NEAR(solve(p).objective, brute_force_minimum(p), 1e-10)
            << "n " << n << " rank " << rank << " seed " << seed;
      }
}

TEST(SimplexQp, MatchesBruteForceOnTinyRbfProblems) {
  for (std::int64_t n = 1; n <= 6; ++n)
    for (double gamma : {0.1, 1.0, 10.0}) {
      const Problem p = random_rbf_problem(n, gamma, 77 + static_cast<std::uint64_t>(n));
      EXPECT_NEAR(solve(p).objective, brute_force_minimum(p), 1e-10) << "n " << n << " gamma " << gamma;
    }
}

// ---- warm starts ----------------------------------------------------------------

// From any start -- the answer itself, the answer of a nearby problem, a point
// whose support is too large or too small, a vertex, the centre, a start with
// negative entries -- the solver ends at the cold start's optimum.
TEST(SimplexQpWarmStart, EndsAtTheColdStartsOptimumFromAnyStart) {
  for (std::int64_t n : {1, 2, 7, 60, 200}) {
    for (double gamma : {0.05, 0.5, 5.0}) {
      const Problem p = random_rbf_problem(n, gamma, 900 + static_cast<std::uint64_t>(n));
      const SimplexQpResult cold = solve(p);
      Problem moved = p;  // the same points a little further apart: a nearby problem
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          if (i != j) moved.k(i, j) = std::pow(p.k(i, j), 1.05);
      const SimplexQpResult nearby = solve(moved);
      std::vector<std::vector<double>> starts{cold.x, nearby.x, std::vector<double>(static_cast<std::size_t>(n), 1.0)};
      std::vector<double> vertex(static_cast<std::size_t>(n), 0.0);
      vertex.back() = 1.0;
      starts.push_back(vertex);
      std::vector<double> mixed(static_cast<std::size_t>(n));
      Rng rng(11);
      for (double& v : mixed) v = rng.normal();
      mixed.front() = 0.5;  // at least one positive entry
      starts.push_back(mixed);
      for (std::size_t s = 0; s < starts.size(); ++s) {
        const SimplexQpResult warm = solve_simplex_qp(p.k.view(), p.c, SimplexQpOptions{.start = starts[s]});
        EXPECT_TRUE(warm.converged) << "n " << n << " gamma " << gamma << " start " << s;
        expect_feasible(warm.x);
        EXPECT_NEAR(warm.objective, cold.objective, 1e-12 * std::max(1.0, std::abs(cold.objective)))
            << "n " << n << " gamma " << gamma << " start " << s;
      }
    }
  }
}

TEST(SimplexQpWarmStart, ItsOwnOptimumIsReachedInFewerStepsThanFromAVertex) {
  const Problem p = random_rbf_problem(200, 0.05, 31);
  const SimplexQpResult cold = solve(p);
  const SimplexQpResult warm = solve_simplex_qp(p.k.view(), p.c, SimplexQpOptions{.start = cold.x});
  EXPECT_LE(warm.iterations, 2);
  EXPECT_GT(cold.iterations, 10);
}

TEST(SimplexQpWarmStart, ANonPositiveStartFallsBackToTheBestVertex) {
  const Problem p = random_rbf_problem(20, 0.5, 32);
  const std::vector<double> nothing(20, 0.0);
  const SimplexQpResult r = solve_simplex_qp(p.k.view(), p.c, SimplexQpOptions{.start = nothing});
  EXPECT_NEAR(r.objective, solve(p).objective, 1e-12);
}

TEST(SimplexQpErrors, RejectsAStartOfWrongLengthOrNotFinite) {
  const Matrix<double> k(2, 2, 0.0);
  const std::vector<double> c{0.0, 0.0};
  const std::vector<double> three{0.3, 0.3, 0.4};
  EXPECT_THROW(solve_simplex_qp(k.view(), c, SimplexQpOptions{.start = three}), KernelError);
  const std::vector<double> nan{0.5, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW(solve_simplex_qp(k.view(), c, SimplexQpOptions{.start = nan}), KernelError);
}

// ---- closed-form answers -------------------------------------------------------

TEST(SimplexQp, IdentityKernelGivesEuclideanProjectionOfC) {
  const std::vector<double> c = {0.9, -0.3, 0.5, 0.45, 2.0, -1.0, 1.7};
  const std::int64_t n = static_cast<std::int64_t>(c.size());
  Matrix<double> k(n, n);
  for (std::int64_t i = 0; i < n; ++i) k(i, i) = 1.0;
  // Projection onto the simplex: x_i = max(c_i - tau, 0) with tau from the sorted c.
  std::vector<double> sorted = c;
  std::sort(sorted.rbegin(), sorted.rend());
  double cumulative = 0.0, tau = 0.0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    cumulative += sorted[i];
    const double t = (cumulative - 1.0) / static_cast<double>(i + 1);
    if (sorted[i] - t > 0.0) tau = t;
  }
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(r.x[i], std::max(c[i] - tau, 0.0), 1e-12) << i;
}

TEST(SimplexQp, TwoVariablesMatchTheClampedLineMinimiser) {
  // x = (t, 1 - t): objective is quadratic in t with minimiser
  // t* = (K11 - K01 + c0 - c1) / (K00 - 2 K01 + K11), clamped to [0, 1].
  Matrix<double> k(2, 2, std::vector<double>{2.0, 0.5, 0.5, 1.0});
  const std::vector<double> c = {0.3, 0.1};
  const double t = (1.0 - 0.5 + 0.3 - 0.1) / (2.0 - 1.0 + 1.0);
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  EXPECT_NEAR(r.x[0], t, 1e-14);
  EXPECT_NEAR(r.x[1], 1.0 - t, 1e-14);
}

TEST(SimplexQp, UniformDiagonalWithEqualCGivesUniformWeights) {
  const std::int64_t n = 9;
  Matrix<double> k(n, n, 0.25);
  for (std::int64_t i = 0; i < n; ++i) k(i, i) = 1.0;
  const std::vector<double> c(static_cast<std::size_t>(n), 0.4);
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  for (double v : r.x) EXPECT_NEAR(v, 1.0 / static_cast<double>(n), 1e-14);
}

// ---- singular K -----------------------------------------------------------------

TEST(SimplexQp, ZeroKernelPutsAllWeightOnLargestC) {
  const Matrix<double> k(5, 5, 0.0);
  const std::vector<double> c = {0.1, 0.7, -0.2, 0.65, 0.0};
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  EXPECT_EQ(r.x, (std::vector<double>{0.0, 1.0, 0.0, 0.0, 0.0}));
  EXPECT_DOUBLE_EQ(r.objective, -0.7);
  EXPECT_EQ(r.kkt_residual, 0.0);
}

TEST(SimplexQp, ZeroKernelAndZeroCIsSolvedAtAVertex) {
  const Matrix<double> k(4, 4, 0.0);
  const std::vector<double> c(4, 0.0);
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.objective, 0.0);
  expect_feasible(r.x);
}

TEST(SimplexQp, RankOneKernelReachesTheLowerBound) {
  // K = v v^T: objective 1/2 (v.x)^2 - c.x. With c = 0 and v of mixed sign the
  // minimum 0 is attained by mixing a positive and a negative entry of v.
  const std::vector<double> v = {1.0, 2.0, -1.0, 3.0, -0.5, 0.25};
  const std::int64_t n = static_cast<std::int64_t>(v.size());
  Matrix<double> k(n, n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) k(i, j) = v[static_cast<std::size_t>(i)] * v[static_cast<std::size_t>(j)];
  const std::vector<double> c(static_cast<std::size_t>(n), 0.0);
  const SimplexQpResult r = solve_simplex_qp(k.view(), c);
  EXPECT_NEAR(r.objective, 0.0, 1e-14);
  EXPECT_LE(r.kkt_residual, kTol);
}

TEST(SimplexQp, RankOneKernelWithLinearTermMatchesBruteForce) {
  Rng rng(5);
  Problem p{Matrix<double>(6, 6), std::vector<double>(6)};
  std::vector<double> v(6);
  for (double& vi : v) vi = rng.normal();
  for (std::int64_t i = 0; i < 6; ++i)
    for (std::int64_t j = 0; j < 6; ++j) p.k(i, j) = v[static_cast<std::size_t>(i)] * v[static_cast<std::size_t>(j)];
  for (double& ci : p.c) ci = rng.normal();
  const SimplexQpResult r = solve(p);
  EXPECT_LE(r.kkt_residual, kTol);
  EXPECT_NEAR(r.objective, brute_force_minimum(p), 1e-10);
}

TEST(SimplexQp, DuplicatedPointsGiveTheSameOptimumAsDistinctOnes) {
  // Every point of Z repeated three times: the kernel matrix has rank n/3 and
  // the optimum splits each point's weight among its copies in any way.
  Rng rng(11);
  const Matrix<double> distinct = random_normal(rng, 30, 3);
  Matrix<double> repeated(90, 3);
  for (std::int64_t i = 0; i < 90; ++i)
    for (std::int64_t t = 0; t < 3; ++t) repeated(i, t) = distinct(i % 30, t);
  const Matrix<double> x = random_normal(rng, 200, 3);
  const Problem p_distinct = rbf_problem(distinct, x, 0.5);
  const Problem p_repeated = rbf_problem(repeated, x, 0.5);
  const SimplexQpResult r_distinct = solve(p_distinct);
  const SimplexQpResult r_repeated = solve(p_repeated);
  EXPECT_TRUE(r_repeated.converged);
  EXPECT_LE(r_repeated.kkt_residual, kTol);
  EXPECT_NEAR(r_repeated.objective, r_distinct.objective, 1e-12);
}

TEST(SimplexQp, NearlyDuplicatedRbfPointsMeetKktTolerance) {
  // Points a hair apart make k(Z, Z) singular to working precision.
  Rng rng(12);
  Matrix<double> z = random_normal(rng, 120, 2);
  for (std::int64_t i = 60; i < 120; ++i)
    for (std::int64_t t = 0; t < 2; ++t) z(i, t) = z(i - 60, t) + 1e-9 * rng.normal();
  const Matrix<double> x = random_normal(rng, 400, 2);
  const Problem p = rbf_problem(z, x, 0.1);
  const SimplexQpResult r = solve(p);
  EXPECT_TRUE(r.converged);
  EXPECT_LE(simplex_qp_kkt_residual(p.k.view(), p.c, r.x), kTol);
}

TEST(SimplexQp, WideRbfKernelWithAllEntriesNearOneMeetsKktTolerance) {
  // Tiny gamma: every kernel value is within 1e-4 of 1, so K is numerically of
  // very low rank and only differences of nearly equal numbers carry information.
  const Problem p = random_rbf_problem(100, 1e-5, 13);
  const SimplexQpResult r = solve(p);
  EXPECT_TRUE(r.converged);
  EXPECT_LE(simplex_qp_kkt_residual(p.k.view(), p.c, r.x), kTol);
}

// ---- solver contract -----------------------------------------------------------

TEST(SimplexQp, SolutionIsBitIdenticalAcrossRuns) {
  const Problem p = random_rbf_problem(80, 0.3, 21);
  EXPECT_EQ(solve(p).x, solve(p).x);
}

TEST(SimplexQp, AddingAConstantToKLeavesTheSolutionUnchanged) {
  // On the simplex x^T (K + a 11^T) x = x^T K x + a, so only the objective moves.
  Problem p = gram_problem(40, 40, 31);
  const SimplexQpResult before = solve(p);
  for (double& v : p.k.values()) v += 3.0;
  const SimplexQpResult after = solve(p);
  ASSERT_EQ(before.x.size(), after.x.size());
  for (std::size_t i = 0; i < before.x.size(); ++i) EXPECT_NEAR(before.x[i], after.x[i], 1e-9);
  EXPECT_NEAR(after.objective, before.objective + 1.5, 1e-12);
}

TEST(SimplexQp, AcceptsStridedMatrixView) {
  const Problem p = gram_problem(20, 10, 41);
  Matrix<double> padded(20, 23, -99.0);
  for (std::int64_t i = 0; i < 20; ++i)
    for (std::int64_t j = 0; j < 20; ++j) padded(i, j) = p.k(i, j);
  const lwd::kernels::ConstMatrixView<double> view(padded.data(), 20, 20, 23);
  EXPECT_EQ(solve_simplex_qp(view, p.c).x, solve(p).x);
}

TEST(SimplexQp, IterationLimitIsReportedAsNotConverged) {
  const Problem p = random_rbf_problem(50, 0.05, 51);
  SimplexQpOptions options;
  options.max_iter = 1;
  const SimplexQpResult r = solve(p, options);
  EXPECT_EQ(r.iterations, 1);
  EXPECT_FALSE(r.converged);
  EXPECT_GT(r.kkt_residual, kTol);
  expect_feasible(r.x);
}

// ---- residual and objective functions -------------------------------------------

TEST(SimplexQpKktResidual, ReportsHalfTheGapBetweenSupportAndOffSupportGradient) {
  // K = I, c = 0, x = e_0: g = (1, 0); the best common value is 1/2.
  Matrix<double> k(2, 2, std::vector<double>{1.0, 0.0, 0.0, 1.0});
  const std::vector<double> c = {0.0, 0.0};
  EXPECT_DOUBLE_EQ(simplex_qp_kkt_residual(k.view(), c, std::vector<double>{1.0, 0.0}), 0.5);
  EXPECT_DOUBLE_EQ(simplex_qp_kkt_residual(k.view(), c, std::vector<double>{0.5, 0.5}), 0.0);
}

TEST(SimplexQpKktResidual, ReportsPrimalInfeasibility) {
  Matrix<double> k(2, 2, 0.0);
  const std::vector<double> c = {0.0, 0.0};
  EXPECT_DOUBLE_EQ(simplex_qp_kkt_residual(k.view(), c, std::vector<double>{1.25, -0.25}), 0.25);
  EXPECT_DOUBLE_EQ(simplex_qp_kkt_residual(k.view(), c, std::vector<double>{0.6, 0.6}), 0.2);
}

TEST(SimplexQpKktResidual, IsRelativeToTheProblemScale) {
  Matrix<double> k(2, 2, std::vector<double>{100.0, 0.0, 0.0, 100.0});
  const std::vector<double> c = {0.0, 0.0};
  // g = (100, 0): absolute gap 100, half of it 50, relative to max|K| = 100.
  EXPECT_DOUBLE_EQ(simplex_qp_kkt_residual(k.view(), c, std::vector<double>{1.0, 0.0}), 0.5);
}

TEST(SimplexQpObjective, EvaluatesHalfQuadraticMinusLinear) {
  Matrix<double> k(2, 2, std::vector<double>{2.0, 1.0, 1.0, 4.0});
  const std::vector<double> c = {1.0, -1.0};
  // x = (0.25, 0.75): x^T K x = 0.125 + 0.375 + 2.25 = 2.75 and c^T x = -0.5.
  EXPECT_DOUBLE_EQ(simplex_qp_objective(k.view(), c, std::vector<double>{0.25, 0.75}), 1.375 - (0.25 - 0.75));
}

// ---- input errors ----------------------------------------------------------------

TEST(SimplexQpErrors, RejectsNonSquareK) {
  const Matrix<double> k(2, 3, 0.0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0}), KernelError);
}

TEST(SimplexQpErrors, RejectsEmptyK) {
  const Matrix<double> k(0, 0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{}), KernelError);
}

TEST(SimplexQpErrors, RejectsCOfWrongLength) {
  const Matrix<double> k(3, 3, 0.0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0}), KernelError);
}

TEST(SimplexQpErrors, RejectsNonFiniteK) {
  Matrix<double> k(2, 2, 0.0);
  k(1, 0) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0}), KernelError);
}

TEST(SimplexQpErrors, RejectsNonFiniteC) {
  const Matrix<double> k(2, 2, 0.0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, std::numeric_limits<double>::infinity()}),
               KernelError);
}

TEST(SimplexQpErrors, RejectsNonPositiveTolerance) {
  const Matrix<double> k(2, 2, 0.0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0}, SimplexQpOptions{.kkt_tol = 0.0}),
               KernelError);
}

TEST(SimplexQpErrors, RejectsNegativeIterationLimit) {
  const Matrix<double> k(2, 2, 0.0);
  EXPECT_THROW(solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0}, SimplexQpOptions{.max_iter = -1}),
               KernelError);
}

TEST(SimplexQpErrors, ResidualRejectsPointOfWrongLength) {
  const Matrix<double> k(2, 2, 0.0);
  EXPECT_THROW(simplex_qp_kkt_residual(k.view(), std::vector<double>{0.0, 0.0}, std::vector<double>{1.0}), KernelError);
}

TEST(SimplexQpErrors, ErrorMessageNamesTheProblem) {
  const Matrix<double> k(2, 3, 0.0);
  try {
    solve_simplex_qp(k.view(), std::vector<double>{0.0, 0.0});
    FAIL() << "expected KernelError";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find("square"), std::string::npos) << e.what();
  }
}

}  // namespace
