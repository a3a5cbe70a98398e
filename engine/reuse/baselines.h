// The baselines every reuse experiment reports next to the reusers:
//   user model      an XGBoost model trained by the user on their n labelled rows;
//   mean in market  the average score, on the user's test data, of every usable
//                   learnware of the matching type (RKME table spec and model of
//                   the user's width, same task, same output width);
//   best in market  the best of those scores (what an oracle picking one
//                   learnware with the test labels would get).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/xgboost_model.h"
#include "engine/package/package.h"
#include "engine/reuse/metrics.h"
#include "engine/reuse/reuser.h"
#include "kernels/context.h"

namespace lwd {

class Market;

class UserModelBaseline final : public Reuser {
 public:
  // params.seed and params.nthread are taken from ctx. num_classes: >= 2 for
  // classification, ignored for regression.
  UserModelBaseline(TaskType task, std::int64_t num_classes, const kernels::Context& ctx,
                    XGBoostTrainParams params = {});

  std::string_view name() const override { return "user model"; }
  bool uses_labels() const override { return true; }
  void fit(kernels::ConstMatrixView<double> x, std::span<const double> y) override;
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

 private:
  TaskType task_;
  std::int64_t num_classes_;
  XGBoostTrainParams params_;
  std::unique_ptr<XGBoostModel> model_;
  std::vector<double> fill_means_;
};

struct MarketBaselineQuery {
  TaskType task = TaskType::kRegression;
  std::int64_t output_dim = 1;  // learnwares must have exactly this many outputs (classification: classes)
  Metric metric = Metric::kMse;
};

struct LearnwareScore {
  std::string id;
  double score = std::numeric_limits<double>::quiet_NaN();
};

struct MarketBaselines {
  Metric metric = Metric::kMse;
  std::vector<LearnwareScore> scores;                       // every matching learnware, in id order
  std::vector<std::pair<std::string, std::string>> failed;  // matching, but loading or predicting failed: id, why
  double mean_in_market = std::numeric_limits<double>::quiet_NaN();
  LearnwareScore best_in_market;
};

// Scores every usable learnware of the matching type on (x_test, y_test).
// y_test is rows x output_dim for mse/rmse, one column of class indices for
// accuracy/error. Non-finite entries of x_test are filled with its column
// means. Throws lwd::Error for a metric that does not fit the task, shapes
// that disagree, or when no learnware could be scored.
MarketBaselines evaluate_market_baselines(const Market& market, kernels::ConstMatrixView<double> x_test,
                                          kernels::ConstMatrixView<double> y_test, const MarketBaselineQuery& query,
                                          const PackageLimits& limits = {});

}  // namespace lwd
