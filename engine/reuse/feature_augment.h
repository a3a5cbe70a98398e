// Feature augmentation (labelled): the user's features with every learnware's
// prediction appended, then a linear model fitted on the user's labelled rows
// (the reference's FeatureAugmentReuser):
//   regression      ridge, alpha chosen from {0.01, 0.1, 1, 10, 100} by exact
//                   leave-one-out error (scikit-learn RidgeCV's default);
//   classification  L2 multinomial logistic regression, the inverse strength C
//                   chosen from 10 values log-spaced over [1e-4, 1e4] by
//                   stratified 5-fold accuracy, then refitted on all rows
//                   (scikit-learn LogisticRegressionCV's defaults).
// Missing values are filled with the column means of the labelled rows, at fit
// and at predict time (rows to predict may be too few to have means of their own).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/model/linear_model.h"
#include "engine/reuse/reuser.h"
#include "kernels/context.h"

namespace lwd {

inline constexpr double kRidgeCvAlphas[] = {0.01, 0.1, 1.0, 10.0, 100.0};

struct RidgeCvResult {
  LinearModel model;
  double alpha = 0.0;
  std::vector<double> loo_mse;  // per alpha, in the order given
};

// Ridge regression (intercept not penalised) with alpha chosen by exact
// leave-one-out MSE, ties to the first alpha. With X centred, the hat matrix
// is 11^T/n + Xc (Xc^T Xc + alpha I)^-1 Xc^T; one eigendecomposition of
// Xc^T Xc serves every alpha, and the LOO residual is r_i / (1 - H_ii).
// x: n x d finite with n >= 2; alphas non-empty, each finite and > 0.
RidgeCvResult fit_ridge_cv(kernels::ConstMatrixView<double> x, std::span<const double> y,
                           std::span<const double> alphas = kRidgeCvAlphas);

struct LogisticCvResult {
  LinearModel model;
  double c = 0.0;                   // chosen inverse regularisation strength
  std::vector<double> cv_accuracy;  // mean fold accuracy per C
};

// The C grid of scikit-learn's LogisticRegressionCV(Cs=10): logspace(-4, 4, 10).
std::vector<double> default_logistic_cs();

// Multinomial logistic regression with C chosen by stratified k-fold accuracy
// (ties to the smaller C). Fold assignment is deterministic: the j-th row of
// each class (in row order) goes to fold j mod k. C maps to fit_logistic's
// l2 as l2 = 1 / (C n), since scikit-learn minimises
// C sum_i loss_i + ||W||^2 / 2. labels in [0, num_classes); n >= 2;
// folds >= 2 (reduced to n when there are fewer rows). As in scikit-learn,
// each fold fits the Cs from the smallest up, each started from the previous
// C's model, and the final refit starts from the folds' mean model at the
// chosen C; L-BFGS stops at 1000 iterations or gradient 1e-4. Folds run in
// parallel on ctx; the answer does not depend on the thread count.
LogisticCvResult fit_logistic_cv(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                                 std::int64_t num_classes, int folds = 5,
                                 std::span<const double> cs = {}, const kernels::Context& ctx = {});

class FeatureAugmentReuser final : public Reuser {
 public:
  // task: the user's task; num_classes: classes of the user's labels
  // (classification only, >= 2). The learnwares must share the input width
  // and task; their outputs may differ in width (each is just more features).
  FeatureAugmentReuser(std::vector<Learnware> learnwares, TaskType task, std::int64_t num_classes,
                       const kernels::Context& ctx = {});

  std::string_view name() const override { return "feature augmentation"; }
  bool uses_labels() const override { return true; }
  void fit(kernels::ConstMatrixView<double> x, std::span<const double> y) override;
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  // The user's features followed by every learnware's outputs (x finite).
  kernels::Matrix<double> augment(kernels::ConstMatrixView<double> x) const;
  // After fit: the fitted linear model and the chosen alpha (regression) or C.
  const LinearModel& fitted_model() const;
  double chosen_regularisation() const { return chosen_; }

 private:
  std::vector<Learnware> learnwares_;
  TaskType task_;
  std::int64_t num_classes_;
  kernels::Context ctx_;
  LearnwareListShape shape_;
  std::unique_ptr<LinearModel> model_;
  double chosen_ = 0.0;
  std::vector<double> fill_means_;
};

}  // namespace lwd
