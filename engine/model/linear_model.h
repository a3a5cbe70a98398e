// Model kind "linear": ridge regression or multinomial logistic regression,
// stored as a small JSON file and evaluated with Eigen. Also the fitting
// routines the rest of the engine uses (feature-augmentation reuse, dataset
// builders, tests).
//
// File format (UTF-8 JSON object):
//   {"type": "ridge" | "logistic",
//    "coef": [[...], ...],      rows x input_dim, every row the same length
//    "intercept": [...],        one number per row of coef
//    "classes": [...]}          optional, logistic only: the original label of
//                               each output column (numbers), for the user's
//                               bookkeeping; predictions are column-indexed
// ridge:    predict(X) = X coef^T + intercept, output_dim = rows of coef.
// logistic: scores S = X coef^T + intercept, output = softmax(S) row-wise,
//           output_dim = number of classes. With C >= 2 rows, one row per
//           class (multinomial). With 1 row (the binary convention of
//           scikit-learn) the row scores class 1 against class 0 and the
//           output is the 2 columns [1 - sigmoid(s), sigmoid(s)].
// Every number must be finite; anything else is rejected on load with an
// lwd::Error naming the file and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"
#include "kernels/matrix.h"

namespace lwd {

class LinearModel final : public Model {
 public:
  static constexpr std::string_view kKind = "linear";
  enum class Type { kRidge, kLogistic };

  // Validates shapes and finiteness (throws lwd::Error): coef is rows x d
  // with rows, d >= 1; intercept has `rows` entries; classes is empty or, for
  // logistic, has one entry per output column.
  LinearModel(Type type, kernels::Matrix<double> coef, std::vector<double> intercept, std::vector<double> classes = {});

  std::string_view kind() const override { return kKind; }
  TaskType task() const override;
  std::int64_t input_dim() const override { return coef_.cols(); }
  std::int64_t output_dim() const override;
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  Type type() const { return type_; }
  const kernels::Matrix<double>& coef() const { return coef_; }
  const std::vector<double>& intercept() const { return intercept_; }
  const std::vector<double>& classes() const { return classes_; }

  // The JSON text of the format above; numbers round-trip exactly.
  std::string to_json_text() const;
  // Parses the format above; errors name `source` and the problem.
  static LinearModel parse(std::string_view json_text, std::string_view source = "<memory>");

 private:
  Type type_;
  kernels::Matrix<double> coef_;
  std::vector<double> intercept_;
  std::vector<double> classes_;
};

std::string_view to_string(LinearModel::Type type);

// Reads and parses a linear model file (errors name the path).
LinearModel load_linear_model(const std::filesystem::path& path);
// Same, and checks it against what the manifest says: the type must match the
// task (ridge: regression, logistic: classification) and the input and output
// widths must agree; a mismatch is an lwd::Error naming both values.
LinearModel load_linear_model(const std::filesystem::path& path, const ModelConfig& config);
// Writes the JSON file atomically (readers never see half a file).
void save_linear_model(const LinearModel& model, const std::filesystem::path& path);

// Ridge regression, closed form:  min_W,b ||Y - X W^T - 1 b^T||^2 + alpha ||W||^2.
// The intercept is not penalised: X and Y are centred, the normal equations
// (Xc^T Xc + alpha I) W^T = Xc^T Yc are solved by LDLT, b = mean(Y) - W mean(X).
// x: n x d, y: n x k (k outputs) with n >= 1; alpha >= 0 (alpha = 0 needs
// Xc of full column rank). Throws lwd::Error on bad shapes, non-finite input
// or a singular system.
LinearModel fit_ridge(kernels::ConstMatrixView<double> x, kernels::ConstMatrixView<double> y, double alpha);
// Single-output convenience: y has n entries.
LinearModel fit_ridge(kernels::ConstMatrixView<double> x, std::span<const double> y, double alpha);

struct LogisticFitOptions {
  double l2 = 1e-4;             // lambda in the objective below (intercepts are not penalised)
  int max_iter = 1000;          // L-BFGS iterations
  double gradient_tol = 1e-10;  // stop when max |gradient| <= gradient_tol, in the standardised coordinates below
};

// Multinomial logistic regression (one coefficient row per class, also for
// two classes), fitted by L-BFGS to
//   min_{W,b}  (1/n) sum_i -log softmax(W x_i + b)_{y_i}  +  (lambda/2) ||W||_F^2.
// labels are 0..num_classes-1; num_classes >= 2 (a class may be absent from
// the labels). With lambda > 0 the problem is strictly convex in W and the
// fit converges to the unique W; L-BFGS stops at gradient_tol, at max_iter,
// or when the objective cannot be decreased in floating point.
// The solver works on centred columns scaled to comparable curvature (an exact
// change of variables: the minimiser is the same), so features of very
// different scales (pixels 0..255 beside probabilities) cost no more
// iterations than standardised ones. gradient_tol bounds the gradient in those
// coordinates, so it means the same whatever the features' units: multiplying
// a column by s (and lambda's effect on it by 1/s^2) changes nothing but W.
LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, const LogisticFitOptions& options = {});
// Same, with L-BFGS started from `start` instead of zero (a warm start along a
// regularisation path: the optimum for a nearby lambda is close to this one's).
// `start` must be a multinomial logistic model of num_classes rows over x's
// columns. The optimum is the same; only the number of iterations changes.
LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, const LogisticFitOptions& options, const LinearModel& start);
// The brief's positional form: fit_logistic(X, labels, C, l2, max_iter).
LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, double l2, int max_iter);

}  // namespace lwd
