#include "engine/reuse/reuser.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace lwd {

void Reuser::fit(kernels::ConstMatrixView<double>, std::span<const double>) {
  throw Error(std::string(name()) + " uses no labelled data; reuse with it needs only the data to predict");
}

LearnwareListShape check_learnware_list(const std::vector<Learnware>& learnwares, std::string_view reuser,
                                        bool same_output) {
  const std::string who(reuser);
  if (learnwares.empty()) throw Error(who + ": the learnware list is empty; give at least one learnware");
  const Learnware& first = learnwares.front();
  for (const Learnware& lw : learnwares)
    if (!lw.model) throw Error(who + ": learnware " + lw.id + " has no model");
  LearnwareListShape shape{first.task(), first.input_dim(), first.output_dim()};
  for (const Learnware& lw : learnwares) {
    if (lw.input_dim() != shape.input_dim) {
      throw Error(who + ": learnware " + lw.id + " takes " + std::to_string(lw.input_dim()) + " feature(s) but " +
                  first.id + " takes " + std::to_string(shape.input_dim) + "; reuse needs one feature space");
    }
    if (lw.task() != shape.task) {
      throw Error(who + ": learnware " + lw.id + " is a " + std::string(to_string(lw.task())) + " model but " +
                  first.id + " is a " + std::string(to_string(shape.task)) + " model");
    }
    if (same_output && lw.output_dim() != shape.output_dim) {
      throw Error(who + ": learnware " + lw.id + " has " + std::to_string(lw.output_dim()) + " output(s) but " +
                  first.id + " has " + std::to_string(shape.output_dim));
    }
  }
  return shape;
}

void check_feature_shape(kernels::ConstMatrixView<double> x, std::int64_t input_dim, std::string_view what) {
  if (x.rows < 1) throw Error(std::string(what) + " has no rows");
  if (x.cols != input_dim) {
    throw Error(std::string(what) + " has " + std::to_string(x.cols) + " column(s) but the learnwares take " +
                std::to_string(input_dim) + " feature(s)");
  }
}

void check_targets(std::span<const double> y, std::int64_t rows, TaskType task, std::int64_t num_classes,
                   std::string_view what) {
  const std::string who(what);
  if (static_cast<std::int64_t>(y.size()) != rows) {
    throw Error(who + " has " + std::to_string(y.size()) + " target(s) for " + std::to_string(rows) + " row(s)");
  }
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double v = y[i];
    if (!std::isfinite(v)) throw Error(who + ": the target of row " + std::to_string(i) + " is missing or not finite");
    if (task == TaskType::kClassification && (v != std::floor(v) || v < 0 || v >= static_cast<double>(num_classes))) {
      throw Error(who + ": label " + std::to_string(v) + " in row " + std::to_string(i) +
                  " is out of range; labels must be class indices 0.." + std::to_string(num_classes - 1));
    }
  }
}

std::vector<double> finite_column_means(kernels::ConstMatrixView<double> x, std::string_view what) {
  std::vector<double> means(static_cast<std::size_t>(x.cols), 0.0);
  for (std::int64_t j = 0; j < x.cols; ++j) {
    double sum = 0.0;
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < x.rows; ++i) {
      const double v = x(i, j);
      if (std::isfinite(v)) {
        sum += v;
        ++count;
      }
    }
    if (count == 0) {
      throw Error(std::string(what) + ": column " + std::to_string(j) +
                  " has no finite value, so its missing values cannot be filled");
    }
    means[static_cast<std::size_t>(j)] = sum / static_cast<double>(count);
  }
  return means;
}

kernels::Matrix<double> fill_non_finite(kernels::ConstMatrixView<double> x, std::span<const double> column_means) {
  kernels::Matrix<double> out(x.rows, x.cols);
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j) {
      const double v = x(i, j);
      out(i, j) = std::isfinite(v) ? v : column_means[static_cast<std::size_t>(j)];
    }
  return out;
}

kernels::Matrix<double> fill_non_finite_with_column_means(kernels::ConstMatrixView<double> x, std::string_view what) {
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j)
      if (!std::isfinite(x(i, j))) return fill_non_finite(x, finite_column_means(x, what));
  kernels::Matrix<double> out(x.rows, x.cols);
  for (std::int64_t i = 0; i < x.rows; ++i) std::copy(x.row(i), x.row(i) + x.cols, out.row(i));
  return out;
}

kernels::Matrix<double> softmax_rows(const kernels::Matrix<double>& scores) {
  kernels::Matrix<double> out(scores.rows(), scores.cols());
  for (std::int64_t i = 0; i < scores.rows(); ++i) {
    const double* s = scores.row(i);
    const double top = *std::max_element(s, s + scores.cols());
    double total = 0.0;
    for (std::int64_t j = 0; j < scores.cols(); ++j) total += out(i, j) = std::exp(s[j] - top);
    for (std::int64_t j = 0; j < scores.cols(); ++j) out(i, j) /= total;
  }
  return out;
}

}  // namespace lwd
