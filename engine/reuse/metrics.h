// The scores experiments report: mse, rmse (regression), accuracy and error
// rate (classification). Shared by `lwdock evaluate`, the market baselines and
// the scenario runners so every table scores the same way.
#pragma once

#include <string_view>

#include "kernels/matrix.h"

namespace lwd {

enum class Metric { kMse, kRmse, kAccuracy, kError };

// "mse", "rmse", "accuracy", "error"; parse throws lwd::Error listing them.
std::string_view to_string(Metric metric);
Metric parse_metric(std::string_view text);
bool higher_is_better(Metric metric);
bool is_classification_metric(Metric metric);

// Scores predictions against the truth.
//   mse / rmse:         predictions and truth have the same shape; the mean
//                       over all entries of the squared difference (rmse: its root).
//   accuracy / error:   truth is one column of class indices; predictions are
//                       either one column of labels or one column of scores per
//                       class (the label is the argmax, ties to the lowest).
// Throws lwd::Error for shapes that disagree, no rows, non-finite values, or
// labels that are not non-negative integers.
double score_predictions(Metric metric, kernels::ConstMatrixView<double> predictions,
                         kernels::ConstMatrixView<double> truth);

}  // namespace lwd
