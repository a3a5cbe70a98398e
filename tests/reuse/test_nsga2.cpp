// NSGA-II over binary masks: dominance and fronts on known inputs, crowding
// distances, a front that is non-dominated and converges on a problem with a
// known Pareto set, determinism (seed and thread count), and bad options.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "engine/error.h"
#include "engine/reuse/nsga2.h"

namespace {

using lwd::BitMask;
using lwd::kernels::Context;

TEST(Nsga2, DominanceNeedsNoWorseEverywhereAndBetterSomewhere) {
  const std::vector<double> a{1, 2}, b{1, 3}, c{0, 4};
  EXPECT_TRUE(lwd::dominates(a, b));
  EXPECT_FALSE(lwd::dominates(b, a));
  EXPECT_FALSE(lwd::dominates(a, a));
  EXPECT_FALSE(lwd::dominates(a, c));
  EXPECT_FALSE(lwd::dominates(c, a));
}

TEST(Nsga2, FastNonDominatedSortGivesTheKnownFronts) {
  //               0       1       2       3       4
  const std::vector<std::vector<double>> points{{1, 5}, {2, 2}, {3, 3}, {5, 1}, {4, 4}};
  const auto fronts = lwd::non_dominated_fronts(points);
  ASSERT_EQ(fronts.size(), 3u);
  EXPECT_EQ(fronts[0], (std::vector<std::int64_t>{0, 1, 3}));
  EXPECT_EQ(fronts[1], (std::vector<std::int64_t>{2}));
  EXPECT_EQ(fronts[2], (std::vector<std::int64_t>{4}));
}

TEST(Nsga2, CrowdingDistanceIsInfiniteAtTheExtremesAndTheNormalisedGapInside) {
  const std::vector<std::vector<double>> points{{0, 4}, {1, 3}, {3, 1}, {4, 0}};
  const std::vector<std::int64_t> front{0, 1, 2, 3};
  const auto d = lwd::crowding_distances(points, front);
  EXPECT_TRUE(std::isinf(d[0]));
  EXPECT_TRUE(std::isinf(d[3]));
  EXPECT_DOUBLE_EQ(d[1], (3.0 - 0.0) / 4 + (4.0 - 1.0) / 4);
  EXPECT_DOUBLE_EQ(d[2], (4.0 - 1.0) / 4 + (3.0 - 0.0) / 4);
}

// Knapsack-like trade-off: minimise (-value, weight). Its Pareto set is known by enumeration.
const std::vector<double> kValue{6, 5, 8, 9, 6, 7, 3, 4};
const std::vector<double> kWeight{2, 3, 6, 7, 5, 9, 4, 2};

std::vector<double> value_and_weight(const BitMask& mask) {
  double value = 0, weight = 0;
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) {
      value += kValue[i];
      weight += kWeight[i];
    }
  return {-value, weight};
}

lwd::Nsga2Result run(std::uint64_t seed, int threads, int generations = 100) {
  lwd::Nsga2Options options;
  options.population_size = 40;
  options.generations = generations;
  options.seed = seed;
  options.min_ones = 0;
  return lwd::nsga2_minimise(8, 2, value_and_weight, {}, options, Context{.n_threads = threads, .seed = 0});
}

TEST(Nsga2, TheFrontIsNonDominatedWithinTheFinalPopulation) {
  const lwd::Nsga2Result result = run(5, 1);
  ASSERT_FALSE(result.front.empty());
  for (const auto& member : result.front)
    for (const auto& other : result.population)
      EXPECT_FALSE(lwd::dominates(other.objectives, member.objectives));
  for (std::size_t i = 0; i < result.front.size(); ++i)
    for (std::size_t j = 0; j < result.front.size(); ++j)
      if (i != j) {
        EXPECT_NE(result.front[i].mask, result.front[j].mask);
      }
}

TEST(Nsga2, TheFrontLiesOnTheTrueParetoSet) {
  // Every front member must be Pareto-optimal over all 256 masks.
  std::vector<std::vector<double>> all;
  for (int bits = 0; bits < 256; ++bits) {
    BitMask mask(8);
    for (int i = 0; i < 8; ++i) mask[i] = (bits >> i) & 1;
    all.push_back(value_and_weight(mask));
  }
  const lwd::Nsga2Result result = run(9, 2);
  // The true front has 24 objective points (by enumeration); a population of
  // 40 finds them all.
  std::set<std::vector<double>> found;
  for (const auto& member : result.front) {
    found.insert(member.objectives);
    for (const auto& point : all)
      EXPECT_FALSE(lwd::dominates(point, member.objectives)) << "front member (" << member.objectives[0] << ", "
                                                             << member.objectives[1] << ") is not Pareto-optimal";
  }
  EXPECT_EQ(found.size(), 24u);
}

TEST(Nsga2, TheSameSeedGivesTheSameResultWhateverTheThreadCount) {
  const lwd::Nsga2Result one = run(17, 1);
  const lwd::Nsga2Result two = run(17, 2);
  ASSERT_EQ(one.population.size(), two.population.size());
  for (std::size_t i = 0; i < one.population.size(); ++i) EXPECT_EQ(one.population[i].mask, two.population[i].mask);
  EXPECT_EQ(one.evaluations, two.evaluations);
}

TEST(Nsga2, RepairKeepsAtLeastMinOnesBitsSet) {
  lwd::Nsga2Options options;
  options.population_size = 10;
  options.generations = 20;
  options.min_ones = 2;
  // Minimising the number of set bits drives masks towards the bound.
  const auto count = [](const BitMask& m) { return std::vector<double>{static_cast<double>(std::count(m.begin(), m.end(), 1))}; };
  const auto result = lwd::nsga2_minimise(6, 1, count, {BitMask(6, 0)}, options, Context{});
  for (const auto& member : result.population) EXPECT_GE(std::count(member.mask.begin(), member.mask.end(), 1), 2);
  ASSERT_FALSE(result.front.empty());
  EXPECT_EQ(result.front.front().objectives[0], 2.0);
}

TEST(Nsga2, BadOptionsAreErrors) {
  lwd::Nsga2Options options;
  const Context ctx;
  EXPECT_THROW(lwd::nsga2_minimise(0, 2, value_and_weight, {}, options, ctx), lwd::Error);
  options.population_size = 1;
  EXPECT_THROW(lwd::nsga2_minimise(8, 2, value_and_weight, {}, options, ctx), lwd::Error);
  options.population_size = 10;
  options.min_ones = 9;
  EXPECT_THROW(lwd::nsga2_minimise(8, 2, value_and_weight, {}, options, ctx), lwd::Error);
  options.min_ones = 1;
  EXPECT_THROW(lwd::nsga2_minimise(8, 3, value_and_weight, {}, options, ctx), lwd::Error);  // wrong objective count
  EXPECT_THROW(lwd::nsga2_minimise(8, 2, value_and_weight, {BitMask(5, 1)}, options, ctx), lwd::Error);
  const auto nan_objective = [](const BitMask&) { return std::vector<double>{std::nan("")}; };
  EXPECT_THROW(lwd::nsga2_minimise(8, 1, nan_objective, {}, options, ctx), lwd::Error);
}

}  // namespace
