// The "xgboost" model kind: boosters trained in-test with train_xgboost, saved
// as JSON, loaded back through load_model.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/model/model.h"
#include "engine/model/xgboost_model.h"
#include "tests/model/model_test_util.h"

namespace lwd {
namespace {

using kernels::Matrix;
using test::expect_error_mentions;
using test::file_model_config;
using test::ScratchDir;

struct Dataset {
  Matrix<double> x;
  std::vector<double> y;
};

// y = sin(x0) + x1^2 / 4 + noise.
Dataset regression_data(std::int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-3, 3);
  std::normal_distribution<double> noise(0, 0.05);
  Dataset d{Matrix<double>(n, 3), std::vector<double>(static_cast<std::size_t>(n))};
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < 3; ++j) d.x(i, j) = uniform(rng);
    d.y[static_cast<std::size_t>(i)] = std::sin(d.x(i, 0)) + d.x(i, 1) * d.x(i, 1) / 4 + noise(rng);
  }
  return d;
}

// Class = which of three centres a point was drawn around.
Dataset classification_data(std::int64_t per_class, std::int64_t num_classes, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0, 0.7);
  Dataset d{Matrix<double>(per_class * num_classes, 2), {}};
  for (std::int64_t c = 0; c < num_classes; ++c)
    for (std::int64_t i = 0; i < per_class; ++i) {
      const std::int64_t r = c * per_class + i;
      d.x(r, 0) = 3.0 * std::cos(2.0 * c) + normal(rng);
      d.x(r, 1) = 3.0 * std::sin(2.0 * c) + normal(rng);
      d.y.push_back(static_cast<double>(c));
    }
  return d;
}

XGBoostTrainParams small_params() {
  XGBoostTrainParams params;
  params.num_rounds = 30;
  params.max_depth = 3;
  params.eta = 0.3;
  params.seed = 42;
  params.nthread = 2;
  return params;
}

TEST(XGBoostModel, RegressorLoadedFromJsonPredictsLikeTheBoosterBeforeSaving) {
  ScratchDir dir;
  const auto data = regression_data(300, 1);
  const auto trained = train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, small_params());
  const auto before = trained.predict(data.x.cview());
  trained.save(dir.path() / "model.json");

  const auto config = file_model_config("xgboost", "model.json", TaskType::kRegression, 3, 1);
  const auto loaded = load_model(config, dir.path());
  EXPECT_EQ(loaded->kind(), "xgboost");
  const auto after = loaded->predict(data.x.cview());
  ASSERT_EQ(after.rows(), 300);
  ASSERT_EQ(after.cols(), 1);
  EXPECT_EQ(after, before);

  double squared_error = 0;
  for (std::int64_t i = 0; i < 300; ++i)
    squared_error += std::pow(after(i, 0) - data.y[static_cast<std::size_t>(i)], 2);
  EXPECT_LT(std::sqrt(squared_error / 300), 0.2);  // it learnt the function, not just a constant
}

TEST(XGBoostModel, MultiClassClassifierOutputsProbabilitiesThatSumToOne) {
  ScratchDir dir;
  const auto data = classification_data(80, 3, 2);
  const auto path = dir.path() / "classifier.json";
  const auto result = train_xgboost(data.x.cview(), data.y, TaskType::kClassification, 3, small_params(), path);
  EXPECT_EQ(result.rounds_trained, 30);
  EXPECT_EQ(result.best_rounds, 30);

  const auto config = file_model_config("xgboost", "classifier.json", TaskType::kClassification, 2, 3);
  const auto model = load_model(config, dir.path());
  const auto p = model->predict(data.x.cview());
  ASSERT_EQ(p.rows(), 240);
  ASSERT_EQ(p.cols(), 3);
  std::int64_t correct = 0;
  const auto labels = argmax_labels(p);
  for (std::int64_t i = 0; i < 240; ++i) {
    EXPECT_NEAR(p(i, 0) + p(i, 1) + p(i, 2), 1.0, 1e-6);
    correct += labels[static_cast<std::size_t>(i)] == static_cast<std::int64_t>(data.y[static_cast<std::size_t>(i)]);
  }
  EXPECT_GT(correct, 228);  // > 95 % on well separated training data
}

TEST(XGBoostModel, BinaryClassifierGivesTheComplementAndTheProbabilityOfClassOne) {
  const auto data = classification_data(60, 2, 3);
  const auto model = train_xgboost_model(data.x.cview(), data.y, TaskType::kClassification, 2, small_params());
  EXPECT_EQ(model.objective(), "binary:logistic");
  const auto p = model.predict(data.x.cview());
  ASSERT_EQ(p.cols(), 2);
  for (std::int64_t i = 0; i < p.rows(); ++i) EXPECT_DOUBLE_EQ(p(i, 0), 1.0 - p(i, 1));
  EXPECT_GT(p(data.x.rows() - 1, 1), 0.5);
  EXPECT_LT(p(0, 1), 0.5);
}

TEST(XGBoostModel, TrainingIsDeterministicForAFixedSeed) {
  const auto data = regression_data(200, 4);
  auto params = small_params();
  params.subsample = 0.7;  // make the seed matter
  params.colsample_bytree = 0.67;
  const auto first = train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, params).to_json_text();
  const auto second = train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, params).to_json_text();
  EXPECT_EQ(first, second);
  params.seed = 7;
  const auto other_seed = train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, params).to_json_text();
  EXPECT_NE(first, other_seed);
}

TEST(XGBoostModel, EarlyStoppingKeepsTheRoundsUpToTheBestValidationScore) {
  const auto train = regression_data(200, 5);
  const auto valid = regression_data(100, 6);
  auto params = small_params();
  params.num_rounds = 500;
  params.eta = 0.5;
  params.max_depth = 6;
  params.early_stopping_rounds = 5;
  params.validation = {valid.x.cview(), valid.y};
  XGBoostTrainResult result;
  const auto model = train_xgboost_model(train.x.cview(), train.y, TaskType::kRegression, 0, params, &result);
  EXPECT_LT(result.rounds_trained, 500);
  EXPECT_EQ(result.best_rounds, result.rounds_trained - 5);
  EXPECT_EQ(model.num_rounds(), result.best_rounds);
  EXPECT_GT(result.best_validation_score, 0.0);
}

TEST(XGBoostModel, EarlyStoppingWithoutAValidationSetIsAnError) {
  const auto data = regression_data(50, 7);
  auto params = small_params();
  params.early_stopping_rounds = 5;
  expect_error_mentions([&] { train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, params); },
                        {"validation set"});
}

TEST(XGBoostModel, LabelsOutsideTheClassRangeAreRejected) {
  auto data = classification_data(10, 3, 8);
  data.y[4] = 3.0;
  expect_error_mentions(
      [&] { train_xgboost_model(data.x.cview(), data.y, TaskType::kClassification, 3, small_params()); },
      {"row 4", "not a class index in 0..2"});
}

TEST(XGBoostModel, MissingModelFileIsAnErrorNamingIt) {
  ScratchDir dir;
  const auto config = file_model_config("xgboost", "nowhere.json", TaskType::kRegression, 3, 1);
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"nowhere.json", "not found"});
}

TEST(XGBoostModel, GarbageModelFileIsAnError) {
  ScratchDir dir;
  dir.write("garbage.json", "this is not a model at all, just some words long enough to be read as a header\n");
  dir.write("broken.json", R"({"learner": {"gradient_booster": 12}})");
  dir.write("empty.json", "");
  for (const char* name : {"garbage.json", "broken.json", "empty.json"}) {
    const auto config = file_model_config("xgboost", name, TaskType::kRegression, 3, 1);
    expect_error_mentions([&] { load_model(config, dir.path()); }, {name});
  }
}

TEST(XGBoostModel, ShapeOrTaskDisagreeingWithTheManifestIsAnError) {
  ScratchDir dir;
  const auto data = classification_data(20, 3, 9);
  train_xgboost(data.x.cview(), data.y, TaskType::kClassification, 3, small_params(), dir.path() / "m.json");
  auto config = file_model_config("xgboost", "m.json", TaskType::kClassification, 5, 3);
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"2 features", "input_dim = 5"});
  config.input_dim = 2;
  config.output_dim = 4;
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"3 output columns", "output_dim = 4"});
  config.output_dim = 3;
  config.task = TaskType::kRegression;
  expect_error_mentions([&] { load_model(config, dir.path()); }, {"multi:softprob", "regression"});
}

TEST(XGBoostModel, PredictRejectsAWidthMismatch) {
  const auto data = regression_data(50, 10);
  const auto model = train_xgboost_model(data.x.cview(), data.y, TaskType::kRegression, 0, small_params());
  const Matrix<double> x(2, 4, 0.0);
  expect_error_mentions([&] { model.predict(x.cview()); }, {"4 columns", "takes 3"});
}

}  // namespace
}  // namespace lwd
