#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/fast_exp.h"

using lwd::kernels::exp_nonpositive_inplace;
using lwd::kernels::exp_nonpositive_inplace_ref;

namespace {

std::vector<double> fast_exp_of(std::vector<double> x) {
  exp_nonpositive_inplace(x.data(), static_cast<std::int64_t>(x.size()));
  return x;
}

std::vector<double> std_exp_of(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::exp(x[i]);
  return y;
}

// Largest |fast - std::exp| / std::exp over the inputs, with the input where it occurs.
struct WorstError {
  double relative = 0.0;
  double at = 0.0;
};

WorstError worst_relative_error(const std::vector<double>& x) {
  const std::vector<double> fast = fast_exp_of(x);
  const std::vector<double> exact = std_exp_of(x);
  WorstError worst;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double rel = std::fabs(fast[i] - exact[i]) / exact[i];
    if (!(rel <= worst.relative)) worst = {rel, x[i]};
  }
  return worst;
}

}  // namespace

TEST(FastExp, MatchesStdExpWithin1e14RelativeOverWholeRange) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> uniform(-708.0, 0.0);
  std::vector<double> x(200000);
  for (double& v : x) v = uniform(rng);
  const WorstError worst = worst_relative_error(x);
  EXPECT_LE(worst.relative, 1e-14) << "at x = " << worst.at;
}

TEST(FastExp, MatchesStdExpForArgumentsNearZero) {
  // Kernel values of close points: tiny negative arguments, log-uniform in magnitude.
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> exponent(-300.0, 0.0);
  std::vector<double> x(50000);
  for (double& v : x) v = -std::pow(10.0, exponent(rng));
  const WorstError worst = worst_relative_error(x);
  EXPECT_LE(worst.relative, 1e-14) << "at x = " << worst.at;
}

TEST(FastExp, MatchesStdExpAtRangeReductionBoundaries) {
  // x = -(k + 1/2) ln2 is where the rounded multiple of ln2 switches from k to
  // k + 1, so |r| is largest there; probe both sides of every switch.
  std::vector<double> x;
  for (int k = 0; k < 1020; ++k) {
    const double boundary = -(k + 0.5) * 0.69314718055994530942;
    x.push_back(std::nextafter(boundary, 0.0));
    x.push_back(boundary);
    x.push_back(std::nextafter(boundary, -1.0));
  }
  const WorstError worst = worst_relative_error(x);
  EXPECT_LE(worst.relative, 1e-14) << "at x = " << worst.at;
}

TEST(FastExp, ZeroGivesExactlyOne) {
  const std::vector<double> y = fast_exp_of({0.0, -0.0});
  EXPECT_EQ(y[0], 1.0);
  EXPECT_EQ(y[1], 1.0);
}

TEST(FastExp, PositiveArgumentsAreClampedToOne) {
  const std::vector<double> y = fast_exp_of({1e-300, 0.5, 3.0, 800.0, std::numeric_limits<double>::infinity()});
  for (const double v : y) EXPECT_EQ(v, 1.0);
}

TEST(FastExp, ArgumentsBelowMinus708GiveZero) {
  const std::vector<double> y =
      fast_exp_of({-708.0001, -709.0, -745.2, -1e6, -std::numeric_limits<double>::infinity()});
  for (const double v : y) EXPECT_EQ(v, 0.0);
}

TEST(FastExp, Minus708IsStillComputed) {
  const std::vector<double> y = fast_exp_of({-708.0});
  EXPECT_NEAR(y[0] / std::exp(-708.0), 1.0, 1e-14);
}

TEST(FastExp, NaNPropagates) {
  const std::vector<double> y = fast_exp_of({std::numeric_limits<double>::quiet_NaN()});
  EXPECT_TRUE(std::isnan(y[0]));
}

TEST(FastExp, EveryLengthUpToVectorTailsIsComputed) {
  // Lengths around every SIMD width (2, 4, 8 lanes, unrolled) so vector bodies
  // and scalar tails are both exercised; the sentinel past the end must survive.
  for (std::int64_t n = 0; n <= 35; ++n) {
    std::vector<double> x(static_cast<std::size_t>(n) + 1);
    for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = -0.37 * static_cast<double>(i + 1);
    x.back() = -1.0;
    std::vector<double> expected = x;
    exp_nonpositive_inplace(x.data(), n);
    exp_nonpositive_inplace_ref(expected.data(), n);
    for (std::int64_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      EXPECT_NEAR(x[k] / expected[k], 1.0, 1e-14) << "n = " << n << ", i = " << i;
    }
    EXPECT_EQ(x.back(), -1.0) << "wrote past the end for n = " << n;
  }
}

TEST(FastExpRef, FollowsTheSameClampingContract) {
  std::vector<double> x = {2.0, 0.0, -1.0, -709.0, -std::numeric_limits<double>::infinity()};
  exp_nonpositive_inplace_ref(x.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_EQ(x[0], 1.0);
  EXPECT_EQ(x[1], 1.0);
  EXPECT_EQ(x[2], std::exp(-1.0));
  EXPECT_EQ(x[3], 0.0);
  EXPECT_EQ(x[4], 0.0);
}

namespace {

TEST(FastExpFloat, MatchesStdExpWithin3e7RelativeOverWholeRange) {
  std::vector<float> x;
  for (int i = 0; i <= 20000; ++i) x.push_back(-87.0f * static_cast<float>(i) / 20000.0f);
  std::vector<float> ref = x;
  exp_nonpositive_inplace(x.data(), static_cast<std::int64_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expected = std::exp(static_cast<double>(ref[i]));
    EXPECT_NEAR(x[i], expected, 3e-7 * expected) << "x = " << ref[i];
  }
}

TEST(FastExpFloat, FollowsTheClampingContractOfItsReference) {
  std::vector<float> x = {0.0f, 1.5f, -87.0f, -88.0f, -1000.0f, -0.5f, std::numeric_limits<float>::quiet_NaN()};
  std::vector<float> ref = x;
  exp_nonpositive_inplace(x.data(), static_cast<std::int64_t>(x.size()));
  exp_nonpositive_inplace_ref(ref.data(), static_cast<std::int64_t>(ref.size()));
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(x[1], 1.0f);
  EXPECT_GT(x[2], 0.0f);
  EXPECT_EQ(x[3], 0.0f);
  EXPECT_EQ(x[4], 0.0f);
  for (std::size_t i = 0; i + 1 < x.size(); ++i) EXPECT_NEAR(x[i], ref[i], 3e-7 * ref[i] + 1e-45) << i;
  EXPECT_TRUE(std::isnan(x.back()));
}

TEST(FastExpFloat, EveryLengthUpToVectorTailsIsComputed) {
  for (std::int64_t n = 0; n <= 70; ++n) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = -0.37f * static_cast<float>(i);
    std::vector<float> ref = x;
    exp_nonpositive_inplace(x.data(), n);
    exp_nonpositive_inplace_ref(ref.data(), n);
    for (std::int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(x[static_cast<std::size_t>(i)], ref[static_cast<std::size_t>(i)], 3e-7 * ref[static_cast<std::size_t>(i)]);
  }
}

}  // namespace
