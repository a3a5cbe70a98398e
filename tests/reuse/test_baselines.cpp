// Baselines and metrics: scores on known inputs, the self-trained user model,
// and mean/best in market over real packages in a market (only usable
// learnwares of the matching task and widths count).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/reuse/baselines.h"
#include "tests/reuse/reuse_fixture.h"

namespace {

using lwd::Metric;
using lwd::TaskType;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::testing_market::TempDir;
using namespace lwd::testing_reuse;

TEST(Metrics, RegressionScoresByHand) {
  const Matrix<double> pred(3, 1, std::vector<double>{1, 2, 3});
  const Matrix<double> truth(3, 1, std::vector<double>{1, 4, 0});
  EXPECT_DOUBLE_EQ(lwd::score_predictions(Metric::kMse, pred.view(), truth.view()), (0 + 4 + 9) / 3.0);
  EXPECT_DOUBLE_EQ(lwd::score_predictions(Metric::kRmse, pred.view(), truth.view()), std::sqrt(13 / 3.0));
}

TEST(Metrics, ClassificationScoresFromLabelsOrFromScores) {
  const Matrix<double> truth(4, 1, std::vector<double>{0, 1, 2, 1});
  const Matrix<double> labels(4, 1, std::vector<double>{0, 1, 1, 1});
  EXPECT_DOUBLE_EQ(lwd::score_predictions(Metric::kAccuracy, labels.view(), truth.view()), 0.75);
  EXPECT_DOUBLE_EQ(lwd::score_predictions(Metric::kError, labels.view(), truth.view()), 0.25);
  const Matrix<double> scores(4, 3, std::vector<double>{0.9, 0.1, 0, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8, 0.5, 0.5, 0});
  // Row 3 ties between 0 and 1: argmax takes 0, which is wrong.
  EXPECT_DOUBLE_EQ(lwd::score_predictions(Metric::kAccuracy, scores.view(), truth.view()), 0.75);
}

TEST(Metrics, MismatchesAndBadLabelsAreErrors) {
  const Matrix<double> three(3, 1, 1.0), two(2, 1, 1.0), wide(3, 2, 1.0);
  EXPECT_THROW(lwd::score_predictions(Metric::kMse, three.view(), two.view()), lwd::Error);
  EXPECT_THROW(lwd::score_predictions(Metric::kMse, wide.view(), three.view()), lwd::Error);
  const Matrix<double> fractional(3, 1, 0.5);
  EXPECT_THROW(lwd::score_predictions(Metric::kAccuracy, fractional.view(), three.view()), lwd::Error);
  EXPECT_THROW(lwd::score_predictions(Metric::kAccuracy, three.view(), wide.view()), lwd::Error);
  EXPECT_THROW(lwd::parse_metric("r2"), lwd::Error);
  EXPECT_EQ(lwd::parse_metric("rmse"), Metric::kRmse);
}

TEST(UserModel, LearnsFromTheLabelledRows) {
  const Matrix<double> x = gaussian_rows(300, 3, 0.0, 1);
  const Matrix<double> test = gaussian_rows(300, 3, 0.0, 2);
  auto f = [](const double* r) { return r[0] > 0 ? 2.0 + r[1] : -1.0; };
  std::vector<double> y, y_test;
  for (std::int64_t i = 0; i < 300; ++i) y.push_back(f(x.row(i))), y_test.push_back(f(test.row(i)));
  lwd::UserModelBaseline model(TaskType::kRegression, 0, Context{.n_threads = 1, .seed = 1});
  EXPECT_THROW(model.predict(test.view()), lwd::Error) << "predict before fit";
  model.fit(x.view(), y);
  const Matrix<double> truth(300, 1, y_test);
  double variance = 0, mean = 0;
  for (double v : y_test) mean += v / 300;
  for (double v : y_test) variance += (v - mean) * (v - mean) / 300;
  EXPECT_LT(lwd::score_predictions(Metric::kMse, model.predict(test.view()).view(), truth.view()), 0.2 * variance);
}

TEST(UserModel, LabelsOutOfRangeAreAnError) {
  const Matrix<double> x = gaussian_rows(20, 2, 0.0, 1);
  std::vector<double> y(20, 1.0);
  y[0] = 2.0;
  lwd::UserModelBaseline model(TaskType::kClassification, 2, Context{});
  EXPECT_THROW(model.fit(x.view(), y), lwd::Error);
}

struct MarketBaselinesTest : ::testing::Test {
  TempDir tmp;
  Matrix<double> data = gaussian_rows(200, 3, 0.0, 1);
  Matrix<double> x_test = gaussian_rows(100, 3, 0.0, 2);
  lwd::LinearModel exact = ridge_model({1.0, -2.0, 0.5}, 0.0);
  lwd::LinearModel off = ridge_model({1.0, -1.0, 0.5}, 1.0);
  lwd::LinearModel zero = ridge_model({0.0, 0.0, 0.0}, 0.0);
  std::vector<std::string> ids;

  lwd::Market make_market() {
    lwd::Market market = lwd::Market::create(tmp.path() / "market");
    for (const auto& [name, model] : {std::pair{"exact", &exact}, {"off", &off}, {"zero", &zero}})
      ids.push_back(market.add(linear_package(tmp.path(), name, *model, data)).id);
    // Neither of these matches a 3-column regression query.
    const Matrix<double> wide = gaussian_rows(200, 4, 0.0, 3);
    market.add(linear_package(tmp.path(), "wide", ridge_model({1, 1, 1, 1}, 0), wide));
    Matrix<double> coef(2, 3, 0.0);
    market.add(linear_package(tmp.path(), "classifier", lwd::LinearModel(lwd::LinearModel::Type::kLogistic, coef, {0, 0}), data));
    return market;
  }
};

TEST_F(MarketBaselinesTest, MeanAndBestInMarketOverTheMatchingLearnwares) {
  const lwd::Market market = make_market();
  ASSERT_EQ(market.list(lwd::LearnwareStatus::usable).size(), 5u);
  const Matrix<double> y = exact.predict(x_test.view());
  const auto result = lwd::evaluate_market_baselines(market, x_test.view(), y.view(), {TaskType::kRegression, 1, Metric::kMse});
  ASSERT_EQ(result.scores.size(), 3u);
  EXPECT_TRUE(result.failed.empty());
  double expected_mean = 0;
  for (const auto* model : {&exact, &off, &zero})
    expected_mean += lwd::score_predictions(Metric::kMse, model->predict(x_test.view()).view(), y.view()) / 3;
  EXPECT_NEAR(result.mean_in_market, expected_mean, 1e-12);
  EXPECT_EQ(result.best_in_market.id, ids[0]);
  EXPECT_NEAR(result.best_in_market.score, 0.0, 1e-20);
}

TEST_F(MarketBaselinesTest, AccuracyPicksTheHighestScoreAsBest) {
  lwd::Market market = lwd::Market::create(tmp.path() / "cls");
  Matrix<double> good(2, 3, std::vector<double>{0, 0, 0, 1, 0, 0});  // class 1 when x0 > 0
  Matrix<double> bad(2, 3, std::vector<double>{1, 0, 0, 0, 0, 0});   // the opposite
  const auto good_id = market.add(linear_package(tmp.path(), "good", lwd::LinearModel(lwd::LinearModel::Type::kLogistic, good, {0, 0}), data)).id;
  market.add(linear_package(tmp.path(), "bad", lwd::LinearModel(lwd::LinearModel::Type::kLogistic, bad, {0, 0}), data));
  Matrix<double> truth(x_test.rows(), 1);
  for (std::int64_t i = 0; i < x_test.rows(); ++i) truth(i, 0) = x_test(i, 0) > 0 ? 1 : 0;
  const auto result =
      lwd::evaluate_market_baselines(market, x_test.view(), truth.view(), {TaskType::kClassification, 2, Metric::kAccuracy});
  EXPECT_EQ(result.best_in_market.id, good_id);
  EXPECT_DOUBLE_EQ(result.best_in_market.score, 1.0);
  EXPECT_DOUBLE_EQ(result.mean_in_market, 0.5);
}

TEST_F(MarketBaselinesTest, AMetricOfTheOtherTaskOrNoMatchingLearnwareIsAnError) {
  const lwd::Market market = make_market();
  const Matrix<double> y = exact.predict(x_test.view());
  EXPECT_THROW(lwd::evaluate_market_baselines(market, x_test.view(), y.view(), {TaskType::kRegression, 1, Metric::kAccuracy}),
               lwd::Error);
  const Matrix<double> five = gaussian_rows(100, 5, 0.0, 9);
  EXPECT_THROW(lwd::evaluate_market_baselines(market, five.view(), y.view(), {TaskType::kRegression, 1, Metric::kMse}),
               lwd::Error);
}

}  // namespace
