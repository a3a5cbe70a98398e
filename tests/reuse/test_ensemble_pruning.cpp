// Ensemble pruning (MDEP): the objectives on a hand-checked example, a chosen
// ensemble never worse on its validation data than the best single member,
// a non-dominated front, determinism, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/reuse/ensemble_pruning.h"
#include "engine/reuse/metrics.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::BitMask;
using lwd::EnsemblePruningReuser;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using namespace lwd::testing_reuse;

constexpr std::int64_t kDim = 5;
constexpr std::int64_t kClasses = 3;

// The task: label = argmax(W* x). Member j uses W* plus noise of scale noise[j].
Matrix<double> true_coef() {
  return Matrix<double>(kClasses, kDim, std::vector<double>{1, -1, 0.5, 0, 2,  //
                                                            -1, 1, 1, -0.5, 0,  //
                                                            0, 0.5, -1, 1, -1});
}

std::vector<lwd::Learnware> noisy_classifiers(const std::vector<double>& noise, const Matrix<double>& data) {
  std::vector<lwd::Learnware> out;
  std::mt19937_64 rng(99);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (std::size_t j = 0; j < noise.size(); ++j) {
    Matrix<double> coef = true_coef();
    for (double& v : coef.values()) v += noise[j] * normal(rng);
    out.push_back(logistic_learnware("c" + std::to_string(j), coef, {0.0, 0.0, 0.0}, data, j + 1));
  }
  return out;
}

std::vector<double> true_labels(const Matrix<double>& x) {
  const auto labels = lwd::argmax_labels(lwd::LinearModel(lwd::LinearModel::Type::kLogistic, true_coef(), {0, 0, 0}).predict(x.view()));
  return std::vector<double>(labels.begin(), labels.end());
}

Matrix<double> as_column(const std::vector<double>& y) {
  return Matrix<double>(static_cast<std::int64_t>(y.size()), 1, y);
}

TEST(EnsemblePruningObjectives, ClassificationMarginsErrorsAndSizeByHand) {
  // 3 members, 3 rows; labels per member (columns) and the truth.
  const Matrix<std::int64_t> labels(3, 3, std::vector<std::int64_t>{0, 0, 1,   // row 0: votes 0,0,1 -> right, margin (2-1)/3
                                                                    1, 2, 2,   // row 1: votes 1,2,2 -> winner 2, truth 1: (1-2)/3
                                                                    2, 2, 2});  // row 2: unanimous 2, truth 2: 3/3
  const std::vector<std::int64_t> truth{0, 1, 2};
  const auto f = lwd::classification_pruning_objectives(labels, truth, 3, BitMask{1, 1, 1});
  const std::vector<double> margins{1.0 / 3, -1.0 / 3, 1.0};
  const double mean = (margins[0] + margins[1] + margins[2]) / 3;
  double var = 0;
  for (double m : margins) var += (m - mean) * (m - mean) / 3;
  ASSERT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[0], std::sqrt(var) / mean, 1e-12);
  EXPECT_EQ(f[1], 1.0);
  EXPECT_EQ(f[2], 3.0);

  // Member 0 alone: labels 0, 1, 2 -> all right, every margin 1, std 0.
  const auto single = lwd::classification_pruning_objectives(labels, truth, 3, BitMask{1, 0, 0});
  EXPECT_EQ(single, (std::vector<double>{0.0, 0.0, 1.0}));
  // A member wrong on every row: negative mean margin, so the first objective is the reference's 1e5.
  const Matrix<std::int64_t> wrong(2, 1, std::vector<std::int64_t>{1, 0});
  const auto bad = lwd::classification_pruning_objectives(wrong, std::vector<std::int64_t>{0, 1}, 2, BitMask{1});
  EXPECT_EQ(bad[0], 100000.0);
  EXPECT_EQ(bad[1], 2.0);
}

TEST(EnsemblePruningObjectives, RegressionIsTheMseOfTheMeanAndTheSize) {
  const Matrix<double> predictions(2, 3, std::vector<double>{1, 2, 6, 0, 4, 5});
  const std::vector<double> y{2, 3};
  const auto f = lwd::regression_pruning_objectives(predictions, y, BitMask{1, 1, 0});
  EXPECT_DOUBLE_EQ(f[0], ((1.5 - 2) * (1.5 - 2) + (2 - 3) * (2 - 3)) / 2);
  EXPECT_EQ(f[1], 2.0);
}

struct NoisyClassifiers : ::testing::Test {
  Matrix<double> data = gaussian_rows(200, kDim, 0.0, 1);
  Matrix<double> validation_x = gaussian_rows(300, kDim, 0.0, 2);
  std::vector<double> validation_y = true_labels(validation_x);
  std::vector<lwd::Learnware> members = noisy_classifiers({0.3, 0.8, 0.8, 1.2, 1.5, 2.0, 2.0, 3.0, 3.0, 4.0}, data);
  lwd::EnsemblePruningOptions options{.generations = 60};
};

TEST_F(NoisyClassifiers, ThePrunedEnsembleIsNeverWorseOnItsValidationDataThanTheBestMember) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    EnsemblePruningReuser reuser(members, Context{.n_threads = 2, .seed = seed}, options);
    reuser.fit(validation_x.view(), validation_y);
    const double ensemble_error =
        lwd::score_predictions(lwd::Metric::kError, reuser.predict(validation_x.view()).view(), as_column(validation_y).view());
    double best_single = 1.0;
    for (const auto& m : members)
      best_single = std::min(best_single, lwd::score_predictions(lwd::Metric::kError, m.predict(validation_x.view()).view(),
                                                                 as_column(validation_y).view()));
    EXPECT_LE(ensemble_error, best_single) << "seed " << seed;
    EXPECT_FALSE(reuser.selected().empty());
  }
}

TEST_F(NoisyClassifiers, TheFrontIsNonDominatedAndHoldsTheChosenEnsemble) {
  EnsemblePruningReuser reuser(members, Context{.seed = 4}, options);
  reuser.fit(validation_x.view(), validation_y);
  const auto& result = reuser.search_result();
  ASSERT_FALSE(result.front.empty());
  for (const auto& a : result.front)
    for (const auto& b : result.population) EXPECT_FALSE(lwd::dominates(b.objectives, a.objectives));
  BitMask chosen(members.size(), 0);
  for (auto j : reuser.selected()) chosen[static_cast<std::size_t>(j)] = 1;
  EXPECT_TRUE(std::any_of(result.front.begin(), result.front.end(), [&](const auto& s) { return s.mask == chosen; }));
}

TEST_F(NoisyClassifiers, TheSameSeedGivesTheSameEnsembleWhateverTheThreadCount) {
  EnsemblePruningReuser one(members, Context{.n_threads = 1, .seed = 8}, options);
  EnsemblePruningReuser two(members, Context{.n_threads = 2, .seed = 8}, options);
  one.fit(validation_x.view(), validation_y);
  two.fit(validation_x.view(), validation_y);
  EXPECT_EQ(one.selected(), two.selected());
  ASSERT_EQ(one.search_result().front.size(), two.search_result().front.size());
  for (std::size_t i = 0; i < one.search_result().front.size(); ++i)
    EXPECT_EQ(one.search_result().front[i].mask, two.search_result().front[i].mask);
}

TEST_F(NoisyClassifiers, LabelsOutOfRangeAreAnError) {
  EnsemblePruningReuser reuser(members, Context{}, options);
  std::vector<double> bad = validation_y;
  bad[7] = 3.0;  // three classes: 0, 1, 2
  try {
    reuser.fit(validation_x.view(), bad);
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 7"), std::string::npos) << e.what();
  }
  bad[7] = 0.5;
  EXPECT_THROW(reuser.fit(validation_x.view(), bad), lwd::Error);
}

TEST_F(NoisyClassifiers, ShapeMismatchesAndPredictBeforeFitAreErrors) {
  EnsemblePruningReuser reuser(members, Context{}, options);
  EXPECT_THROW(reuser.predict(validation_x.view()), lwd::Error);
  const std::vector<double> short_y(validation_y.begin(), validation_y.begin() + 10);
  EXPECT_THROW(reuser.fit(validation_x.view(), short_y), lwd::Error);
  const Matrix<double> narrow(300, kDim - 1, 0.0);
  EXPECT_THROW(reuser.fit(narrow.view(), validation_y), lwd::Error);
}

TEST(EnsemblePruning, RegressionEnsembleIsNeverWorseThanTheBestMember) {
  const Matrix<double> data = gaussian_rows(200, 3, 0.0, 5);
  const Matrix<double> x = gaussian_rows(250, 3, 0.0, 6);
  std::vector<double> y(250);
  for (std::int64_t i = 0; i < 250; ++i) y[static_cast<std::size_t>(i)] = 2 * x(i, 0) - x(i, 1) + 0.5 * x(i, 2);
  // Members with errors in opposite directions: their mean beats each of them.
  std::vector<lwd::Learnware> members{
      ridge_learnware("r0", {2.6, -1.0, 0.5}, 0.0, data), ridge_learnware("r1", {1.4, -1.0, 0.5}, 0.0, data),
      ridge_learnware("r2", {2.0, -0.2, 0.5}, 0.3, data), ridge_learnware("r3", {0.0, 0.0, 0.0}, 0.0, data),
      ridge_learnware("r4", {2.0, -1.0, 1.5}, -1.0, data)};
  EnsemblePruningReuser reuser(members, Context{.seed = 2}, {.generations = 40});
  reuser.fit(x.view(), y);
  const double ensemble_mse = lwd::score_predictions(lwd::Metric::kMse, reuser.predict(x.view()).view(), as_column(y).view());
  double best = INFINITY;
  for (const auto& m : members)
    best = std::min(best, lwd::score_predictions(lwd::Metric::kMse, m.predict(x.view()).view(), as_column(y).view()));
  EXPECT_LE(ensemble_mse, best);
  EXPECT_LT(ensemble_mse, 0.5 * best) << "r0 and r1 cancel each other's error";
  EXPECT_TRUE(std::find(reuser.selected().begin(), reuser.selected().end(), 3) == reuser.selected().end())
      << "the constant-zero member does not help";
}

TEST(EnsemblePruning, OneLearnwareIsSelectedAsIs) {
  const Matrix<double> data = gaussian_rows(100, 2, 0.0, 5);
  EnsemblePruningReuser reuser({ridge_learnware("only", {1.0, 1.0}, 0.0, data)}, Context{});
  const std::vector<double> y(100, 0.0);
  reuser.fit(data.view(), y);
  EXPECT_EQ(reuser.selected(), std::vector<std::int64_t>{0});
}

TEST(EnsemblePruning, AnEmptyListIsAnError) { EXPECT_THROW(EnsemblePruningReuser({}, Context{}), lwd::Error); }

}  // namespace
