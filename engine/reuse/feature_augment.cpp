#include "engine/reuse/feature_augment.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "engine/error.h"
#include "kernels/parallel.h"

namespace lwd {
namespace {

void require_finite(kernels::ConstMatrixView<double> x, std::string_view who) {
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j)
      if (!std::isfinite(x(i, j))) throw Error(std::string(who) + ": the features hold a non-finite value");
}

kernels::Matrix<double> select_rows(kernels::ConstMatrixView<double> x, const std::vector<std::int64_t>& rows) {
  kernels::Matrix<double> out(static_cast<std::int64_t>(rows.size()), x.cols);
  for (std::size_t k = 0; k < rows.size(); ++k)
    std::copy(x.row(rows[k]), x.row(rows[k]) + x.cols, out.row(static_cast<std::int64_t>(k)));
  return out;
}

}  // namespace

RidgeCvResult fit_ridge_cv(kernels::ConstMatrixView<double> x, std::span<const double> y,
                           std::span<const double> alphas) {
  const std::int64_t n = x.rows;
  const std::int64_t p = x.cols;
  if (n < 2) throw Error("ridge CV needs at least 2 rows for leave-one-out, got " + std::to_string(n));
  if (p < 1) throw Error("ridge CV needs at least one feature");
  if (static_cast<std::int64_t>(y.size()) != n) {
    throw Error("ridge CV: " + std::to_string(y.size()) + " targets for " + std::to_string(n) + " rows");
  }
  if (alphas.empty()) throw Error("ridge CV needs at least one alpha");
  for (double a : alphas)
    if (!(std::isfinite(a) && a > 0)) throw Error("ridge CV: every alpha must be finite and > 0, got " + std::to_string(a));
  require_finite(x, "ridge CV");
  for (double v : y)
    if (!std::isfinite(v)) throw Error("ridge CV: the targets hold a non-finite value");

  Eigen::MatrixXd xc(n, p);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < p; ++j) xc(i, j) = x(i, j);
  const Eigen::RowVectorXd column_means = xc.colwise().mean();
  xc.rowwise() -= column_means;
  Eigen::VectorXd yc = Eigen::Map<const Eigen::VectorXd>(y.data(), n);
  yc.array() -= yc.mean();

  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(xc.transpose() * xc);
  const Eigen::VectorXd lambda = eigen.eigenvalues().cwiseMax(0.0);
  const Eigen::MatrixXd q = xc * eigen.eigenvectors();  // n x p
  const Eigen::VectorXd r = q.transpose() * yc;
  const Eigen::MatrixXd q_squared = q.array().square().matrix();

  RidgeCvResult result{fit_ridge(x, y, alphas[0]), alphas[0], {}};
  double best = std::numeric_limits<double>::infinity();
  std::size_t best_index = 0;
  for (std::size_t a = 0; a < alphas.size(); ++a) {
    const Eigen::VectorXd shrink = (lambda.array() + alphas[a]).inverse().matrix();
    const Eigen::VectorXd fitted = q * shrink.cwiseProduct(r);
    const Eigen::VectorXd leverage = (q_squared * shrink).array() + 1.0 / static_cast<double>(n);
    const Eigen::ArrayXd loo_residual = (yc - fitted).array() / (1.0 - leverage.array());
    double mse = loo_residual.square().mean();
    if (!std::isfinite(mse)) mse = std::numeric_limits<double>::infinity();
    result.loo_mse.push_back(mse);
    if (mse < best) {
      best = mse;
      best_index = a;
    }
  }
  result.alpha = alphas[best_index];
  if (best_index != 0) result.model = fit_ridge(x, y, result.alpha);
  return result;
}

std::vector<double> default_logistic_cs() {
  std::vector<double> cs;
  for (int i = 0; i < 10; ++i) cs.push_back(std::pow(10.0, -4.0 + 8.0 * i / 9.0));
  return cs;
}

LogisticCvResult fit_logistic_cv(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                                 std::int64_t num_classes, int folds, std::span<const double> cs_given,
                                 const kernels::Context& ctx) {
  const std::int64_t n = x.rows;
  if (n < 2) throw Error("logistic CV needs at least 2 rows, got " + std::to_string(n));
  if (static_cast<std::int64_t>(labels.size()) != n) {
    throw Error("logistic CV: " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " rows");
  }
  if (num_classes < 2) throw Error("logistic CV needs at least 2 classes, got " + std::to_string(num_classes));
  if (folds < 2) throw Error("logistic CV needs at least 2 folds, got " + std::to_string(folds));
  for (std::int64_t label : labels)
    if (label < 0 || label >= num_classes) {
      throw Error("logistic CV: label " + std::to_string(label) + " is outside 0.." + std::to_string(num_classes - 1));
    }
  require_finite(x, "logistic CV");
  const std::vector<double> default_cs = default_logistic_cs();
  const std::span<const double> cs = cs_given.empty() ? std::span<const double>(default_cs) : cs_given;
  for (double c : cs)
    if (!(std::isfinite(c) && c > 0)) throw Error("logistic CV: every C must be finite and > 0");
  const int k = static_cast<int>(std::min<std::int64_t>(folds, n));

  std::vector<int> fold_of(static_cast<std::size_t>(n));
  std::vector<std::int64_t> seen_per_class(static_cast<std::size_t>(num_classes), 0);
  for (std::int64_t i = 0; i < n; ++i)
    fold_of[static_cast<std::size_t>(i)] = static_cast<int>(seen_per_class[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])]++ % k);

  // scikit-learn's LogisticRegressionCV (the reference's reuser): lbfgs with
  // max_iter 1000 and tol 1e-4 on the same mean-loss objective, each fold
  // walking the C path from strong to weak regularisation and starting every
  // fit from the previous C's optimum. fit_logistic measures the tolerance in
  // standardised coordinates, so raw pixels (0..255) converge as fast as
  // probabilities do.
  LogisticFitOptions fit_options;
  fit_options.max_iter = 1000;
  fit_options.gradient_tol = 1e-4;

  const auto n_cs = static_cast<std::int64_t>(cs.size());
  std::vector<std::size_t> path_order(cs.size());
  std::iota(path_order.begin(), path_order.end(), std::size_t{0});
  std::stable_sort(path_order.begin(), path_order.end(), [&](std::size_t a, std::size_t b) { return cs[a] < cs[b]; });

  // Hits of every (C, fold) pair and each fold's models along the path; each
  // fold is one task that owns its slots, so the answer is thread-independent.
  std::vector<double> correct(static_cast<std::size_t>(n_cs * k), 0.0);
  std::vector<std::vector<std::optional<LinearModel>>> fold_models(static_cast<std::size_t>(k),
                                                                   std::vector<std::optional<LinearModel>>(cs.size()));
  std::vector<double> held_out(static_cast<std::size_t>(k), 0.0);
  for (int f = 0; f < k; ++f)
    held_out[static_cast<std::size_t>(f)] = static_cast<double>(std::count(fold_of.begin(), fold_of.end(), f));
  kernels::parallel_for_serial_blas(ctx, k, [&](std::int64_t fold) {
    const int f = static_cast<int>(fold);
    std::vector<std::int64_t> train_rows, test_rows;
    for (std::int64_t i = 0; i < n; ++i) (fold_of[static_cast<std::size_t>(i)] == f ? test_rows : train_rows).push_back(i);
    if (test_rows.empty() || train_rows.empty()) return;
    std::vector<std::int64_t> train_labels;
    for (std::int64_t i : train_rows) train_labels.push_back(labels[static_cast<std::size_t>(i)]);
    const kernels::Matrix<double> train_x = select_rows(x, train_rows);
    const kernels::Matrix<double> test_x = select_rows(x, test_rows);
    auto& models = fold_models[static_cast<std::size_t>(f)];
    const LinearModel* previous = nullptr;
    for (std::size_t ci : path_order) {
      LogisticFitOptions options = fit_options;
      options.l2 = 1.0 / (cs[ci] * static_cast<double>(train_rows.size()));
      models[ci] = previous == nullptr ? fit_logistic(train_x.view(), train_labels, num_classes, options)
                                       : fit_logistic(train_x.view(), train_labels, num_classes, options, *previous);
      previous = &*models[ci];
      const std::vector<std::int64_t> predicted = argmax_labels(models[ci]->predict(test_x.view()));
      double hits = 0;
      for (std::size_t t = 0; t < test_rows.size(); ++t)
        if (predicted[t] == labels[static_cast<std::size_t>(test_rows[t])]) hits += 1;
      correct[static_cast<std::size_t>(static_cast<std::int64_t>(ci) * k + f)] = hits;
    }
  });

  LogisticCvResult result{LinearModel(LinearModel::Type::kLogistic, kernels::Matrix<double>(1, x.cols, 0.0), {0.0}), 0.0, {}};
  std::int64_t best_index = 0;
  for (std::int64_t ci = 0; ci < n_cs; ++ci) {
    double mean_accuracy = 0.0;
    int used = 0;
    for (int f = 0; f < k; ++f)
      if (held_out[static_cast<std::size_t>(f)] > 0 && held_out[static_cast<std::size_t>(f)] < static_cast<double>(n)) {
        mean_accuracy += correct[static_cast<std::size_t>(ci * k + f)] / held_out[static_cast<std::size_t>(f)];
        ++used;
      }
    mean_accuracy /= std::max(used, 1);
    result.cv_accuracy.push_back(mean_accuracy);
    if (mean_accuracy > result.cv_accuracy[static_cast<std::size_t>(best_index)]) best_index = ci;
  }
  result.c = cs[static_cast<std::size_t>(best_index)];
  LogisticFitOptions options = fit_options;
  options.l2 = 1.0 / (result.c * static_cast<double>(n));
  // The refit starts from the folds' mean model at the chosen C, as scikit-learn's does.
  kernels::Matrix<double> mean_coef(num_classes, x.cols, 0.0);
  std::vector<double> mean_intercept(static_cast<std::size_t>(num_classes), 0.0);
  int fitted_folds = 0;
  for (const auto& models : fold_models) {
    const auto& model = models[static_cast<std::size_t>(best_index)];
    if (!model) continue;
    ++fitted_folds;
    for (std::int64_t c = 0; c < num_classes; ++c) {
      for (std::int64_t j = 0; j < x.cols; ++j) mean_coef(c, j) += model->coef()(c, j);
      mean_intercept[static_cast<std::size_t>(c)] += model->intercept()[static_cast<std::size_t>(c)];
    }
  }
  if (fitted_folds == 0) {
    result.model = fit_logistic(x, labels, num_classes, options);
  } else {
    for (std::int64_t c = 0; c < num_classes; ++c) {
      for (std::int64_t j = 0; j < x.cols; ++j) mean_coef(c, j) /= fitted_folds;
      mean_intercept[static_cast<std::size_t>(c)] /= fitted_folds;
    }
    const LinearModel start(LinearModel::Type::kLogistic, std::move(mean_coef), std::move(mean_intercept));
    result.model = fit_logistic(x, labels, num_classes, options, start);
  }
  return result;
}

FeatureAugmentReuser::FeatureAugmentReuser(std::vector<Learnware> learnwares, TaskType task, std::int64_t num_classes,
                                           const kernels::Context& ctx)
    : learnwares_(std::move(learnwares)),
      task_(task),
      num_classes_(num_classes),
      ctx_(ctx),
      shape_(check_learnware_list(learnwares_, "feature augmentation", /*same_output=*/false)) {
  if (task_ == TaskType::kClassification && num_classes_ < 2) {
    throw Error("feature augmentation: a classification task needs at least 2 classes, got " +
                std::to_string(num_classes_));
  }
}

kernels::Matrix<double> FeatureAugmentReuser::augment(kernels::ConstMatrixView<double> x) const {
  std::vector<kernels::Matrix<double>> outputs;
  std::int64_t width = x.cols;
  for (const Learnware& lw : learnwares_) {
    outputs.push_back(lw.predict(x));
    width += outputs.back().cols();
  }
  kernels::Matrix<double> out(x.rows, width);
  for (std::int64_t i = 0; i < x.rows; ++i) {
    double* dst = std::copy(x.row(i), x.row(i) + x.cols, out.row(i));
    for (const auto& o : outputs) dst = std::copy(o.row(i), o.row(i) + o.cols(), dst);
  }
  return out;
}

void FeatureAugmentReuser::fit(kernels::ConstMatrixView<double> x_raw, std::span<const double> y) {
  check_feature_shape(x_raw, shape_.input_dim, "the labelled data");
  check_targets(y, x_raw.rows, task_, num_classes_, "the labelled data");
  if (x_raw.rows < 2) throw Error("feature augmentation needs at least 2 labelled rows, got " + std::to_string(x_raw.rows));
  std::vector<double> means = finite_column_means(x_raw, "the labelled data");
  const kernels::Matrix<double> x = fill_non_finite(x_raw, means);
  const kernels::Matrix<double> augmented = augment(x.view());
  if (task_ == TaskType::kRegression) {
    RidgeCvResult fitted = fit_ridge_cv(augmented.view(), y);
    model_ = std::make_unique<LinearModel>(std::move(fitted.model));
    chosen_ = fitted.alpha;
  } else {
    std::vector<std::int64_t> labels;
    labels.reserve(y.size());
    for (double v : y) labels.push_back(static_cast<std::int64_t>(v));
    LogisticCvResult fitted = fit_logistic_cv(augmented.view(), labels, num_classes_, 5, {}, ctx_);
    model_ = std::make_unique<LinearModel>(std::move(fitted.model));
    chosen_ = fitted.c;
  }
  fill_means_ = std::move(means);
}

kernels::Matrix<double> FeatureAugmentReuser::predict(kernels::ConstMatrixView<double> x_raw) const {
  if (!model_) throw Error("feature augmentation: call fit with labelled data before predict");
  check_feature_shape(x_raw, shape_.input_dim, "the data to predict");
  const kernels::Matrix<double> x = fill_non_finite(x_raw, fill_means_);
  return model_->predict(augment(x.view()).view());
}

const LinearModel& FeatureAugmentReuser::fitted_model() const {
  if (!model_) throw Error("feature augmentation: not fitted yet");
  return *model_;
}

}  // namespace lwd
