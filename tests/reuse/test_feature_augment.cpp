// Feature augmentation: ridge CV's leave-one-out errors equal brute-force
// refits, logistic CV, augmentation that helps when the learnware is
// informative, missing values filled with column means, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/model/xgboost_model.h"
#include "engine/reuse/feature_augment.h"
#include "engine/reuse/metrics.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::FeatureAugmentReuser;
using lwd::TaskType;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using namespace lwd::testing_reuse;

constexpr std::int64_t kDim = 3;

double target(const double* x) { return 3.0 * std::sin(2.0 * x[0]) + x[1] * x[1] - x[2]; }
std::int64_t label(const double* x) { return x[0] * x[0] + x[1] * x[1] > 1.5 ? 1 : 0; }

std::vector<double> targets(const Matrix<double>& x) {
  std::vector<double> y;
  for (std::int64_t i = 0; i < x.rows(); ++i) y.push_back(target(x.row(i)));
  return y;
}
std::vector<double> labels(const Matrix<double>& x) {
  std::vector<double> y;
  for (std::int64_t i = 0; i < x.rows(); ++i) y.push_back(static_cast<double>(label(x.row(i))));
  return y;
}
Matrix<double> column(const std::vector<double>& y) { return Matrix<double>(static_cast<std::int64_t>(y.size()), 1, y); }

// A learnware that learned the task from plenty of data: boosted trees.
lwd::Learnware informed_learnware(TaskType task) {
  const Matrix<double> x = gaussian_rows(3000, kDim, 0.0, 41);
  const std::vector<double> y = task == TaskType::kRegression ? targets(x) : labels(x);
  lwd::XGBoostTrainParams params;
  params.num_rounds = 80;
  params.nthread = 1;
  auto model = std::make_shared<lwd::XGBoostModel>(
      lwd::train_xgboost_model(x.view(), y, task, task == TaskType::kRegression ? 1 : 2, params));
  return lwd::make_learnware("informed", model, small_spec(x, 3));
}

TEST(RidgeCv, LeaveOneOutErrorsEqualBruteForceRefits) {
  const Matrix<double> x = gaussian_rows(25, 4, 0.5, 7);
  std::vector<double> y;
  for (std::int64_t i = 0; i < 25; ++i) y.push_back(x(i, 0) - 2 * x(i, 3) + 0.3 * std::cos(7.0 * i));
  const lwd::RidgeCvResult result = lwd::fit_ridge_cv(x.view(), y);
  ASSERT_EQ(result.loo_mse.size(), 5u);
  for (std::size_t a = 0; a < 5; ++a) {
    double sum_sq = 0;
    for (std::int64_t left_out = 0; left_out < 25; ++left_out) {
      Matrix<double> rest(24, 4);
      std::vector<double> rest_y;
      for (std::int64_t i = 0, r = 0; i < 25; ++i) {
        if (i == left_out) continue;
        std::copy(x.row(i), x.row(i) + 4, rest.row(r++));
        rest_y.push_back(y[static_cast<std::size_t>(i)]);
      }
      const auto model = lwd::fit_ridge(rest.view(), rest_y, lwd::kRidgeCvAlphas[a]);
      const double diff = model.predict(x.view().row_block(left_out, 1))(0, 0) - y[static_cast<std::size_t>(left_out)];
      sum_sq += diff * diff;
    }
    EXPECT_NEAR(result.loo_mse[a], sum_sq / 25, 1e-10 * (1 + sum_sq)) << "alpha " << lwd::kRidgeCvAlphas[a];
  }
  const auto best = std::min_element(result.loo_mse.begin(), result.loo_mse.end()) - result.loo_mse.begin();
  EXPECT_EQ(result.alpha, lwd::kRidgeCvAlphas[best]);
  EXPECT_EQ(result.model.coef(), lwd::fit_ridge(x.view(), y, result.alpha).coef());
}

TEST(RidgeCv, BadInputIsAnError) {
  const Matrix<double> one(1, 2, 1.0);
  EXPECT_THROW(lwd::fit_ridge_cv(one.view(), std::vector<double>{1.0}), lwd::Error);
  const Matrix<double> x = gaussian_rows(5, 2, 0.0, 1);
  EXPECT_THROW(lwd::fit_ridge_cv(x.view(), std::vector<double>(5, 1.0), std::vector<double>{0.0}), lwd::Error);
}

TEST(LogisticCv, SeparableDataIsFittedPerfectlyAndEveryCIsScored) {
  const Matrix<double> x = gaussian_rows(80, 2, 0.0, 9);
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < 80; ++i) y.push_back(x(i, 0) + x(i, 1) > 0 ? 1 : 0);
  const lwd::LogisticCvResult result = lwd::fit_logistic_cv(x.view(), y, 2);
  ASSERT_EQ(result.cv_accuracy.size(), 10u);
  for (double a : result.cv_accuracy) {
    EXPECT_GE(a, 0.0);
    EXPECT_LE(a, 1.0);
  }
  const auto best = std::max_element(result.cv_accuracy.begin(), result.cv_accuracy.end()) - result.cv_accuracy.begin();
  EXPECT_DOUBLE_EQ(result.c, lwd::default_logistic_cs()[static_cast<std::size_t>(best)]);
  EXPECT_GE(result.cv_accuracy[static_cast<std::size_t>(best)], 0.95);
  EXPECT_EQ(lwd::argmax_labels(result.model.predict(x.view())), y);
}

// Each fold walks its C path on one thread, so the chosen C and the refitted
// model are bit-identical whatever the thread count; columns in very different
// units (a pixel-like x255 column beside a 0..1 one) must not change that.
TEST(LogisticCv, TheAnswerIsTheSameOnOneAndTwoThreads) {
  Matrix<double> x = gaussian_rows(120, 3, 0.0, 21);
  std::vector<std::int64_t> y;
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    y.push_back(x(i, 0) + 0.5 * x(i, 1) > 0.3 ? (x(i, 2) > 0 ? 2 : 1) : 0);
    x(i, 0) = 255.0 * (x(i, 0) + 3.0);
  }
  const lwd::LogisticCvResult one = lwd::fit_logistic_cv(x.view(), y, 3, 5, {}, Context{.n_threads = 1});
  const lwd::LogisticCvResult two = lwd::fit_logistic_cv(x.view(), y, 3, 5, {}, Context{.n_threads = 2});
  EXPECT_EQ(one.c, two.c);
  EXPECT_EQ(one.cv_accuracy, two.cv_accuracy);
  ASSERT_EQ(one.model.coef().rows(), two.model.coef().rows());
  for (std::int64_t k = 0; k < one.model.coef().rows(); ++k)
    for (std::int64_t j = 0; j < x.cols(); ++j) EXPECT_EQ(one.model.coef()(k, j), two.model.coef()(k, j));
  EXPECT_EQ(one.model.intercept(), two.model.intercept());
  EXPECT_GE(*std::max_element(one.cv_accuracy.begin(), one.cv_accuracy.end()), 0.8);
}

TEST(FeatureAugmentation, RegressionIsNotWorseThanRidgeOnTheUsersFeaturesAlone) {
  const Matrix<double> train = gaussian_rows(60, kDim, 0.0, 51);
  const Matrix<double> test = gaussian_rows(1000, kDim, 0.0, 52);
  FeatureAugmentReuser reuser({informed_learnware(TaskType::kRegression)}, TaskType::kRegression, 0);
  reuser.fit(train.view(), targets(train));
  const double augmented = lwd::score_predictions(lwd::Metric::kMse, reuser.predict(test.view()).view(), column(targets(test)).view());
  const auto alone = lwd::fit_ridge_cv(train.view(), targets(train));
  const double plain = lwd::score_predictions(lwd::Metric::kMse, alone.model.predict(test.view()).view(), column(targets(test)).view());
  EXPECT_LE(augmented, 1.05 * plain);
  EXPECT_LT(augmented, 0.5 * plain) << "the learnware knows the non-linear target";
}

TEST(FeatureAugmentation, ClassificationIsNotWorseThanLogisticOnTheUsersFeaturesAlone) {
  const Matrix<double> train = gaussian_rows(80, kDim, 0.0, 61);
  const Matrix<double> test = gaussian_rows(1000, kDim, 0.0, 62);
  FeatureAugmentReuser reuser({informed_learnware(TaskType::kClassification)}, TaskType::kClassification, 2);
  reuser.fit(train.view(), labels(train));
  const Matrix<double> truth = column(labels(test));
  const double augmented = lwd::score_predictions(lwd::Metric::kAccuracy, reuser.predict(test.view()).view(), truth.view());
  std::vector<std::int64_t> train_labels;
  for (double v : labels(train)) train_labels.push_back(static_cast<std::int64_t>(v));
  const auto alone = lwd::fit_logistic_cv(train.view(), train_labels, 2);
  const double plain = lwd::score_predictions(lwd::Metric::kAccuracy, alone.model.predict(test.view()).view(), truth.view());
  EXPECT_GE(augmented, plain - 0.02);
  EXPECT_GT(augmented, 0.85);
}

TEST(FeatureAugmentation, TheAugmentedFeaturesAreTheDataFollowedByEachLearnwaresOutput) {
  const Matrix<double> data = gaussian_rows(50, 2, 0.0, 1);
  FeatureAugmentReuser reuser({ridge_learnware("a", {1.0, 0.0}, 0.0, data), ridge_learnware("b", {0.0, 2.0}, 1.0, data)},
                              TaskType::kRegression, 0);
  const Matrix<double> x(2, 2, std::vector<double>{1.0, 2.0, 3.0, 4.0});
  EXPECT_EQ(reuser.augment(x.view()), Matrix<double>(2, 4, std::vector<double>{1, 2, 1, 5, 3, 4, 3, 9}));
}

TEST(FeatureAugmentation, MissingValuesAreFilledWithTheLabelledColumnMeans) {
  const Matrix<double> data = gaussian_rows(50, 2, 0.0, 1);
  const std::vector<lwd::Learnware> learnwares{ridge_learnware("a", {1.0, -1.0}, 0.0, data)};
  Matrix<double> x = gaussian_rows(30, 2, 0.0, 2);
  std::vector<double> y;
  for (std::int64_t i = 0; i < 30; ++i) y.push_back(x(i, 0) * x(i, 1));
  Matrix<double> gappy = x;
  gappy(4, 1) = std::nan("");
  gappy(9, 0) = INFINITY;
  Matrix<double> filled = x;
  const auto means = lwd::finite_column_means(gappy.view(), "test");
  filled(4, 1) = means[1];
  filled(9, 0) = means[0];

  FeatureAugmentReuser with_gaps(learnwares, TaskType::kRegression, 0);
  with_gaps.fit(gappy.view(), y);
  FeatureAugmentReuser without(learnwares, TaskType::kRegression, 0);
  without.fit(filled.view(), y);
  EXPECT_EQ(with_gaps.fitted_model().coef(), without.fitted_model().coef());
  // At predict time gaps take the labelled rows' means too.
  Matrix<double> one_row(1, 2, std::vector<double>{std::nan(""), 0.5});
  Matrix<double> one_filled(1, 2, std::vector<double>{means[0], 0.5});
  EXPECT_EQ(with_gaps.predict(one_row.view()), with_gaps.predict(one_filled.view()));
}

TEST(FeatureAugmentation, LabelsOutOfRangeAndShapeMismatchesAreErrors) {
  const Matrix<double> data = gaussian_rows(50, 2, 0.0, 1);
  FeatureAugmentReuser reuser({ridge_learnware("a", {1.0, 0.0}, 0.0, data)}, TaskType::kClassification, 2);
  std::vector<double> y(50, 0.0);
  y[3] = 2.0;
  EXPECT_THROW(reuser.fit(data.view(), y), lwd::Error);
  y[3] = -1.0;
  EXPECT_THROW(reuser.fit(data.view(), y), lwd::Error);
  y[3] = 1.0;
  EXPECT_THROW(reuser.fit(data.view(), std::vector<double>(49, 0.0)), lwd::Error);
  EXPECT_THROW(reuser.predict(data.view()), lwd::Error) << "predict before fit";
  const Matrix<double> wide(50, 3, 0.0);
  EXPECT_THROW(reuser.fit(wide.view(), y), lwd::Error);
  EXPECT_THROW(FeatureAugmentReuser({}, TaskType::kRegression, 0), lwd::Error);
  EXPECT_THROW(FeatureAugmentReuser({ridge_learnware("a", {1.0, 0.0}, 0.0, data)}, TaskType::kClassification, 1), lwd::Error);
}

}  // namespace
