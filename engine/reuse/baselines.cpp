#include "engine/reuse/baselines.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/store/spec_pack.h"

namespace lwd {

UserModelBaseline::UserModelBaseline(TaskType task, std::int64_t num_classes, const kernels::Context& ctx,
                                     XGBoostTrainParams params)
    : task_(task), num_classes_(task == TaskType::kClassification ? num_classes : 0), params_(params) {
  if (task_ == TaskType::kClassification && num_classes_ < 2) {
    throw Error("user model: a classification task needs at least 2 classes, got " + std::to_string(num_classes));
  }
  params_.seed = ctx.seed;
  params_.nthread = ctx.threads();
}

void UserModelBaseline::fit(kernels::ConstMatrixView<double> x_raw, std::span<const double> y) {
  if (x_raw.rows < 1 || x_raw.cols < 1) throw Error("user model: the labelled data is empty");
  check_targets(y, x_raw.rows, task_, num_classes_, "the labelled data");
  std::vector<double> means = finite_column_means(x_raw, "the labelled data");
  const kernels::Matrix<double> x = fill_non_finite(x_raw, means);
  model_ = std::make_unique<XGBoostModel>(
      train_xgboost_model(x.view(), y, task_, task_ == TaskType::kClassification ? num_classes_ : 1, params_));
  fill_means_ = std::move(means);
}

kernels::Matrix<double> UserModelBaseline::predict(kernels::ConstMatrixView<double> x_raw) const {
  if (!model_) throw Error("user model: call fit with labelled data before predict");
  check_feature_shape(x_raw, model_->input_dim(), "the data to predict");
  return model_->predict(fill_non_finite(x_raw, fill_means_).view());
}

MarketBaselines evaluate_market_baselines(const Market& market, kernels::ConstMatrixView<double> x_raw,
                                          kernels::ConstMatrixView<double> y_test, const MarketBaselineQuery& query,
                                          const PackageLimits& limits) {
  if (is_classification_metric(query.metric) != (query.task == TaskType::kClassification)) {
    throw Error("metric " + std::string(to_string(query.metric)) + " does not score a " +
                std::string(to_string(query.task)) + " task");
  }
  if (x_raw.rows < 1) throw Error("the test data has no rows");
  if (y_test.rows != x_raw.rows) {
    throw Error("the test data has " + std::to_string(x_raw.rows) + " row(s) but its truth has " +
                std::to_string(y_test.rows));
  }
  const kernels::Matrix<double> x = fill_non_finite_with_column_means(x_raw, "the test data");
  const std::string wanted_key = spec_pack_key(RKMETableSpec::kTypeName, x.cols());

  MarketBaselines out;
  out.metric = query.metric;
  for (const LearnwareRecord& record : market.list(LearnwareStatus::usable)) {
    if (std::find(record.spec_keys.begin(), record.spec_keys.end(), wanted_key) == record.spec_keys.end()) continue;
    try {
      const Learnware lw = load_learnware(market, record.id, limits);
      if (lw.task() != query.task || lw.input_dim() != x.cols() || lw.output_dim() != query.output_dim) continue;
      out.scores.push_back({record.id, score_predictions(query.metric, lw.predict(x.view()).view(), y_test)});
    } catch (const Error& e) {
      out.failed.emplace_back(record.id, e.what());
    }
  }
  if (out.scores.empty()) {
    throw Error("no usable " + std::string(to_string(query.task)) + " learnware with " + std::to_string(x.cols()) +
                " input(s) and " + std::to_string(query.output_dim) + " output(s) could be scored" +
                (out.failed.empty() ? std::string() : " (first failure: " + out.failed.front().second + ")"));
  }
  double total = 0.0;
  out.best_in_market = out.scores.front();
  for (const LearnwareScore& s : out.scores) {
    total += s.score;
    const bool better = higher_is_better(query.metric) ? s.score > out.best_in_market.score
                                                       : s.score < out.best_in_market.score;
    if (better) out.best_in_market = s;
  }
  out.mean_in_market = total / static_cast<double>(out.scores.size());
  return out;
}

}  // namespace lwd
