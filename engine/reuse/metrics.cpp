#include "engine/reuse/metrics.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace lwd {
namespace {

std::string shape_text(kernels::ConstMatrixView<double> m) {
  return std::to_string(m.rows) + " x " + std::to_string(m.cols);
}

std::int64_t label_of(double v, std::string_view what, std::int64_t row) {
  if (!std::isfinite(v) || v < 0 || v != std::floor(v)) {
    throw Error(std::string(what) + ": row " + std::to_string(row) + " holds " + std::to_string(v) +
                ", not a class index (a non-negative integer)");
  }
  return static_cast<std::int64_t>(v);
}

}  // namespace

std::string_view to_string(Metric metric) {
  switch (metric) {
    case Metric::kMse: return "mse";
    case Metric::kRmse: return "rmse";
    case Metric::kAccuracy: return "accuracy";
    case Metric::kError: return "error";
  }
  return "?";
}

Metric parse_metric(std::string_view text) {
  for (Metric m : {Metric::kMse, Metric::kRmse, Metric::kAccuracy, Metric::kError})
    if (text == to_string(m)) return m;
  throw Error("unknown metric '" + std::string(text) + "' (expected mse, rmse, accuracy or error)");
}

bool higher_is_better(Metric metric) { return metric == Metric::kAccuracy; }

bool is_classification_metric(Metric metric) { return metric == Metric::kAccuracy || metric == Metric::kError; }

double score_predictions(Metric metric, kernels::ConstMatrixView<double> predictions,
                         kernels::ConstMatrixView<double> truth) {
  if (truth.rows < 1) throw Error("the truth has no rows");
  if (predictions.rows != truth.rows) {
    throw Error("the predictions have " + std::to_string(predictions.rows) + " row(s) but the truth has " +
                std::to_string(truth.rows));
  }
  for (std::int64_t i = 0; i < predictions.rows; ++i)
    for (std::int64_t j = 0; j < predictions.cols; ++j)
      if (!std::isfinite(predictions(i, j)))
        throw Error("the predictions hold a missing or non-finite value in row " + std::to_string(i));

  if (!is_classification_metric(metric)) {
    if (predictions.cols != truth.cols) {
      throw Error("the predictions are " + shape_text(predictions) + " but the truth is " + shape_text(truth));
    }
    double sum_sq = 0.0;
    for (std::int64_t i = 0; i < truth.rows; ++i)
      for (std::int64_t j = 0; j < truth.cols; ++j) {
        if (!std::isfinite(truth(i, j))) throw Error("the truth holds a missing or non-finite value in row " + std::to_string(i));
        const double diff = predictions(i, j) - truth(i, j);
        sum_sq += diff * diff;
      }
    const double mse = sum_sq / static_cast<double>(truth.rows * truth.cols);
    return metric == Metric::kMse ? mse : std::sqrt(mse);
  }

  if (truth.cols != 1) {
    throw Error(std::string(to_string(metric)) + " needs the truth as one column of class indices, got " +
                std::to_string(truth.cols) + " columns");
  }
  if (predictions.cols < 1) throw Error("the predictions have no columns");
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < truth.rows; ++i) {
    const std::int64_t expected = label_of(truth(i, 0), "the truth", i);
    std::int64_t predicted = 0;
    if (predictions.cols == 1) {
      predicted = label_of(predictions(i, 0), "the predictions", i);
    } else {
      for (std::int64_t j = 1; j < predictions.cols; ++j)
        if (predictions(i, j) > predictions(i, predicted)) predicted = j;
    }
    if (predicted == expected) ++hits;
  }
  const double accuracy = static_cast<double>(hits) / static_cast<double>(truth.rows);
  return metric == Metric::kAccuracy ? accuracy : 1.0 - accuracy;
}

}  // namespace lwd
