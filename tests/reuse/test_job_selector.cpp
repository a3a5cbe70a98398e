// Job selector: the mixture weights, the herding budget, routing on a
// known-answer task (two learnwares trained on disjoint regions), trivial
// routing for one learnware, determinism, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/reuse/job_selector.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::JobSelectorReuser;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using namespace lwd::testing_reuse;

constexpr std::int64_t kDim = 4;

struct TwoRegions : ::testing::Test {
  // Region A around 0, region B around 6: far apart relative to the unit spread.
  Matrix<double> train_a = gaussian_rows(400, kDim, 0.0, 11);
  Matrix<double> train_b = gaussian_rows(400, kDim, 6.0, 12);
  Matrix<double> user_a = gaussian_rows(300, kDim, 0.0, 21);
  Matrix<double> user_b = gaussian_rows(300, kDim, 6.0, 22);
  std::vector<lwd::Learnware> learnwares{ridge_learnware("a", {1.0, 1.0, 1.0, 1.0}, 0.0, train_a, 1),
                                         ridge_learnware("b", {-1.0, 0.0, 2.0, 0.0}, 5.0, train_b, 2)};
  Context ctx{.n_threads = 2, .seed = 3};
  // A smaller herding budget than the default keeps the suite fast where the
  // test is not about routing quality.
  lwd::JobSelectorOptions quick{.herding_budget = 200};
};

TEST_F(TwoRegions, RoutesAtLeast95PercentOfRowsToTheLearnwareOfTheirRegion) {
  const Matrix<double> user = stack_rows(user_a, user_b);
  const lwd::JobSelection selection = JobSelectorReuser(learnwares, ctx).select(user.view());
  ASSERT_EQ(selection.routes.size(), 600u);
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < 600; ++i) right += selection.routes[static_cast<std::size_t>(i)] == (i < 300 ? 0 : 1);
  EXPECT_GE(right, 570) << "rows routed to the learnware of their own region";
  EXPECT_GT(selection.selector_rounds, 0);
}

TEST_F(TwoRegions, PredictionsComeFromTheRoutedLearnware) {
  const Matrix<double> user = stack_rows(user_a, user_b);
  const JobSelectorReuser reuser(learnwares, ctx, quick);
  const Matrix<double> out = reuser.predict(user.view());
  const lwd::JobSelection selection = reuser.select(user.view());
  const Matrix<double> by_a = learnwares[0].predict(user.view());
  const Matrix<double> by_b = learnwares[1].predict(user.view());
  ASSERT_EQ(out.rows(), 600);
  ASSERT_EQ(out.cols(), 1);
  for (std::int64_t i = 0; i < 600; ++i) {
    const double expected = selection.routes[static_cast<std::size_t>(i)] == 0 ? by_a(i, 0) : by_b(i, 0);
    EXPECT_DOUBLE_EQ(out(i, 0), expected) << "row " << i;
  }
}

TEST_F(TwoRegions, MixtureWeightsFollowWhereTheUsersDataComesFrom) {
  const auto only_a = lwd::job_selector_mixture_weights(learnwares, user_a.view(), ctx);
  EXPECT_GT(only_a[0], 0.95);
  const Matrix<double> mostly_b = stack_rows(gaussian_rows(100, kDim, 0.0, 31), gaussian_rows(300, kDim, 6.0, 32));
  const auto weights = lwd::job_selector_mixture_weights(learnwares, mostly_b.view(), ctx);
  EXPECT_NEAR(weights[0] + weights[1], 1.0, 1e-12);
  EXPECT_NEAR(weights[1], 0.75, 0.1);
}

TEST_F(TwoRegions, HerdsTheBudgetInProportionToTheWeightsAndAtLeastFivePointsEach) {
  const lwd::JobSelection selection = JobSelectorReuser(learnwares, ctx, quick).select(user_a.view());
  ASSERT_EQ(selection.herded_points.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto expected = std::max<std::int64_t>(5, static_cast<std::int64_t>(std::floor(200 * selection.weights[i])));
    EXPECT_EQ(selection.herded_points[i], expected);
  }
  EXPECT_EQ(std::min(selection.herded_points[0], selection.herded_points[1]), 5);
}

TEST_F(TwoRegions, TheSameSeedGivesTheSameRoutesWhateverTheThreadCount) {
  const Matrix<double> user = stack_rows(user_a, user_b);
  const auto first = JobSelectorReuser(learnwares, ctx, quick).select(user.view());
  const auto second = JobSelectorReuser(learnwares, Context{.n_threads = 1, .seed = 3}, quick).select(user.view());
  EXPECT_EQ(first.routes, second.routes);
  EXPECT_EQ(first.weights, second.weights);
  EXPECT_EQ(first.selector_rounds, second.selector_rounds);
}

TEST_F(TwoRegions, OneLearnwareTakesEveryRow) {
  const JobSelectorReuser reuser({learnwares[1]}, ctx);
  const lwd::JobSelection selection = reuser.select(user_a.view());
  EXPECT_TRUE(std::all_of(selection.routes.begin(), selection.routes.end(), [](auto r) { return r == 0; }));
  EXPECT_EQ(reuser.predict(user_a.view()), learnwares[1].predict(user_a.view()));
}

TEST_F(TwoRegions, DataOfTheWrongWidthIsAnError) {
  const Matrix<double> narrow = gaussian_rows(10, kDim - 1, 0.0, 5);
  EXPECT_THROW(JobSelectorReuser(learnwares, ctx, quick).predict(narrow.view()), lwd::Error);
}

TEST_F(TwoRegions, LearnwaresOfDifferentOutputWidthsAreAnError) {
  Matrix<double> coef(3, kDim, 0.0);
  auto classifier = logistic_learnware("c", coef, {0.0, 0.0, 0.0}, train_a);
  EXPECT_THROW(JobSelectorReuser({learnwares[0], classifier}, ctx), lwd::Error);
}

TEST(JobSelector, AnEmptyListIsAnError) {
  EXPECT_THROW(JobSelectorReuser({}, Context{}), lwd::Error);
}

}  // namespace

// route_jobs in a space other than the models' input: specs of two regions of
// a 3-d "embedding" space, a user whose rows come from the second region.
TEST(RouteJobs, RoutesRowsInTheSpecsSpaceAndChecksTheHerdedShape) {
  const lwd::RKMETableSpec a = small_spec(gaussian_rows(300, 3, -3.0, 1), 1);
  const lwd::RKMETableSpec b = small_spec(gaussian_rows(300, 3, 3.0, 2), 2);
  const std::vector<const lwd::RKMETableSpec*> specs = {&a, &b};
  const std::vector<std::string> names = {"a", "b"};
  const Matrix<double> user = gaussian_rows(200, 3, 3.0, 3);
  const Context ctx{2, 5};
  const std::vector<double> weights = lwd::job_selector_mixture_weights(specs, names, user.view(), ctx);
  EXPECT_GT(weights[1], 0.9);
  const lwd::HerdFn herd = [&](std::int64_t i, std::int64_t count, const Context& c) {
    return specs[static_cast<std::size_t>(i)]->herding(count, c);
  };
  lwd::JobSelectorOptions options;
  options.herding_budget = 300;
  const lwd::JobSelection selection = lwd::route_jobs(weights, herd, user.view(), ctx, options);
  const auto to_b = std::count(selection.routes.begin(), selection.routes.end(), 1);
  EXPECT_GE(to_b, 190);
  const lwd::JobSelection one_thread = lwd::route_jobs(weights, herd, user.view(), Context{1, 5}, options);
  EXPECT_EQ(one_thread.routes, selection.routes);

  const lwd::HerdFn short_herd = [&](std::int64_t i, std::int64_t count, const Context& c) {
    return specs[static_cast<std::size_t>(i)]->herding(std::max<std::int64_t>(1, count - 1), c);
  };
  EXPECT_THROW(lwd::route_jobs(weights, short_herd, user.view(), ctx, options), lwd::Error);
  EXPECT_THROW(lwd::job_selector_mixture_weights(specs, std::vector<std::string>{"a"}, user.view(), ctx), lwd::Error);
}
