#include "engine/model/linear_model.h"

#include <cblas.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "kernels/parallel.h"

namespace lwd {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMatrix>;

ConstRowMap as_eigen(kernels::ConstMatrixView<double> m) {
  return ConstRowMap(m.data, m.rows, m.cols, Eigen::OuterStride<>(m.stride));
}

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(std::string(source) + ": " + what);
}

bool all_finite(kernels::ConstMatrixView<double> m) {
  for (std::int64_t i = 0; i < m.rows; ++i)
    for (std::int64_t j = 0; j < m.cols; ++j)
      if (!std::isfinite(m(i, j))) return false;
  return true;
}

void require_finite_input(kernels::ConstMatrixView<double> m, std::string_view who, std::string_view name) {
  for (std::int64_t i = 0; i < m.rows; ++i)
    for (std::int64_t j = 0; j < m.cols; ++j)
      if (!std::isfinite(m(i, j)))
        throw Error(std::string(who) + ": " + std::string(name) + " has a non-finite value at row " +
                    std::to_string(i) + ", column " + std::to_string(j));
}

// Row-wise softmax in place, shifted by the row maximum so exp never overflows.
void softmax_rows(RowMatrix& scores) {
  for (Eigen::Index i = 0; i < scores.rows(); ++i) {
    auto row = scores.row(i);
    row.array() = (row.array() - row.maxCoeff()).exp();
    row /= row.sum();
  }
}

// ---- JSON reading -----------------------------------------------------------

double finite_number(const nlohmann::json& value, std::string_view source, const std::string& where) {
  if (!value.is_number()) fail(source, where + " is not a number");
  const double v = value.get<double>();
  if (!std::isfinite(v)) fail(source, where + " is not finite");
  return v;
}

std::vector<double> number_list(const nlohmann::json& value, std::string_view source, const std::string& field) {
  if (!value.is_array()) fail(source, "field \"" + field + "\" must be a list of numbers");
  std::vector<double> out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i)
    out.push_back(finite_number(value[i], source, "\"" + field + "\"[" + std::to_string(i) + "]"));
  return out;
}

// ---- logistic objective -----------------------------------------------------

// The multinomial objective of fit_logistic, minimised in standardised
// coordinates. Raw features can differ in scale by orders of magnitude (pixels
// 0..255 beside probabilities 0..1), which makes the Hessian so ill-conditioned
// that L-BFGS needs hundreds of iterations. The exact change of variables
//   z_j = (x_j - mean_j) / h_j,   v_cj = w_cj h_j,   bt_c = b_c + sum_j w_cj mean_j
// leaves every score, hence the loss, unchanged, and the penalty becomes
// (lambda/2) sum v_cj^2 / h_j^2: the minimiser is the same W, b. With
// h_j^2 = var_j + lambda/q, where q = (1/C)(1 - 1/C) is a softmax output's
// variance at W = 0, every diagonal Hessian entry there equals q.
// A constant column (a pixel that is blank in every image) only shifts the
// scores by w_j x_j, which the intercept absorbs, so its optimal weight is 0:
// it is left out of the products and given weight 0.
//
// theta = [V | bt] (C x (d'+1) over the d' varying columns, row-major in a flat
// vector). Scores live in the objective's buffer so an L-BFGS run allocates once.
class LogisticObjective {
 public:
  LogisticObjective(ConstRowMap x, std::span<const std::int64_t> labels, std::int64_t num_classes, double l2)
      : labels_(labels), c_(num_classes), d_(x.cols()) {
    const auto n = static_cast<double>(x.rows());
    const double q = (1.0 / static_cast<double>(c_)) * (1.0 - 1.0 / static_cast<double>(c_));
    // Constant columns keep their value as the "mean", exactly.
    mean_ = x.row(0);
    for (Eigen::Index j = 0; j < d_; ++j)
      if ((x.col(j).array() != x(0, j)).any()) varying_.push_back(j);
    const auto dv = static_cast<Eigen::Index>(varying_.size());
    z_.resize(x.rows(), dv);
    scale_.resize(dv);
    for (Eigen::Index k = 0; k < dv; ++k) {
      const Eigen::Index j = varying_[static_cast<std::size_t>(k)];
      mean_(j) = x.col(j).mean();
      z_.col(k) = x.col(j).array() - mean_(j);
      const double variance = z_.col(k).squaredNorm() / n;
      const double h = std::sqrt(variance + l2 / q);
      scale_(k) = h > 0.0 && std::isfinite(h) ? h : 1.0;
      z_.col(k) /= scale_(k);
    }
    penalty_ = (l2 / scale_.array().square()).matrix();
    scores_.resize(x.rows(), c_);
  }

  Eigen::Index num_params() const { return c_ * (z_.cols() + 1); }

  // Coordinates of (W, b) in the standardised problem, and back.
  Eigen::VectorXd to_standardised(const RowMatrix& w, const Eigen::VectorXd& b) const {
    const Eigen::Index dv = z_.cols();
    Eigen::VectorXd theta(num_params());
    Eigen::Map<RowMatrix> params(theta.data(), c_, dv + 1);
    for (Eigen::Index k = 0; k < dv; ++k) params.col(k) = w.col(varying_[static_cast<std::size_t>(k)]) * scale_(k);
    params.col(dv) = b + w * mean_.transpose();
    return theta;
  }
  void to_original(const Eigen::VectorXd& theta, RowMatrix& w, Eigen::VectorXd& b) const {
    const Eigen::Index dv = z_.cols();
    Eigen::Map<const RowMatrix> params(theta.data(), c_, dv + 1);
    w = RowMatrix::Zero(c_, d_);
    for (Eigen::Index k = 0; k < dv; ++k) w.col(varying_[static_cast<std::size_t>(k)]) = params.col(k) / scale_(k);
    b = params.col(dv) - w * mean_.transpose();
  }

  double value_and_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& gradient) {
    const Eigen::Index d = z_.cols();
    const Eigen::Index n = z_.rows();
    Eigen::Map<const RowMatrix> params(theta.data(), c_, d + 1);
    // The two products are the whole cost; OpenBLAS runs them several times
    // faster than Eigen's portable kernels (it picks the CPU's at run time).
    if (d > 0) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(c_),
                  static_cast<int>(d), 1.0, z_.data(), static_cast<int>(d), params.data(), static_cast<int>(d + 1), 0.0,
                  scores_.data(), static_cast<int>(c_));
    } else {
      scores_.setZero();
    }
    scores_.rowwise() += params.col(d).transpose();

    double loss = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
      auto row = scores_.row(i);
      const auto label = static_cast<Eigen::Index>(labels_[static_cast<std::size_t>(i)]);
      const double top = row.maxCoeff();
      const double shifted_label_score = row(label) - top;
      row.array() = (row.array() - top).exp();
      const double sum = row.sum();
      // -log p_y = log(sum_c exp(s_c - top)) - (s_y - top), stable for any scores.
      loss += std::log(sum) - shifted_label_score;
      row /= sum;
      row(label) -= 1.0;  // the row becomes p - onehot(y), the score gradient
    }
    const double inv_n = 1.0 / static_cast<double>(n);
    loss *= inv_n;

    gradient.resize(num_params());
    Eigen::Map<RowMatrix> grad(gradient.data(), c_, d + 1);
    if (d > 0) {
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(c_), static_cast<int>(d),
                  static_cast<int>(n), inv_n, scores_.data(), static_cast<int>(c_), z_.data(), static_cast<int>(d), 0.0,
                  grad.data(), static_cast<int>(d + 1));
    }
    grad.leftCols(d).array() += params.leftCols(d).array().rowwise() * penalty_.array();
    grad.col(d) = inv_n * scores_.colwise().sum().transpose();
    const double penalty = 0.5 * (params.leftCols(d).array().square().rowwise() * penalty_.array()).sum();
    return loss + penalty;
  }

 private:
  std::span<const std::int64_t> labels_;
  Eigen::Index c_;
  Eigen::Index d_;                     // all columns
  std::vector<Eigen::Index> varying_;  // the columns that are not constant
  Eigen::RowVectorXd mean_;            // per column (a constant column's value)
  Eigen::RowVectorXd scale_, penalty_;  // per varying column
  RowMatrix z_;
  RowMatrix scores_;
};

// Limited-memory BFGS (Nocedal & Wright, Alg. 7.4/7.5) with a backtracking
// line search. Near the optimum the Armijo test compares objective values
// that differ below rounding, so a step is also accepted under Hager and
// Zhang's approximate Wolfe conditions, which look at the directional
// derivative instead; this is what lets the gradient reach ~1e-10.
void minimise_lbfgs(LogisticObjective& objective, Eigen::VectorXd& theta, int max_iter, double gradient_tol) {
  constexpr int kHistory = 10;
  constexpr double kArmijo = 1e-4;
  constexpr double kCurvature = 0.9;
  constexpr double kApproxWolfeDelta = 0.1;
  constexpr int kMaxBacktracks = 60;

  Eigen::VectorXd gradient;
  double value = objective.value_and_gradient(theta, gradient);
  std::deque<std::pair<Eigen::VectorXd, Eigen::VectorXd>> history;  // (s, y), newest last
  std::vector<double> alpha(kHistory);
  Eigen::VectorXd direction, trial, trial_gradient;

  for (int iter = 0; iter < max_iter; ++iter) {
    if (gradient.lpNorm<Eigen::Infinity>() <= gradient_tol) return;

    // Two-loop recursion: direction = -H gradient.
    direction = -gradient;
    for (int k = static_cast<int>(history.size()) - 1; k >= 0; --k) {
      const auto& [s, y] = history[static_cast<std::size_t>(k)];
      alpha[static_cast<std::size_t>(k)] = s.dot(direction) / s.dot(y);
      direction -= alpha[static_cast<std::size_t>(k)] * y;
    }
    if (!history.empty()) {
      const auto& [s, y] = history.back();
      direction *= s.dot(y) / y.squaredNorm();
    }
    for (std::size_t k = 0; k < history.size(); ++k) {
      const auto& [s, y] = history[k];
      const double beta = y.dot(direction) / s.dot(y);
      direction += (alpha[k] - beta) * s;
    }
    double slope = gradient.dot(direction);
    if (!(slope < 0.0)) {  // lost descent through rounding: restart from steepest descent
      history.clear();
      direction = -gradient;
      slope = -gradient.squaredNorm();
    }

    // Without curvature information the first step is scaled to move at most 1.
    double step = history.empty() ? std::min(1.0, 1.0 / direction.lpNorm<Eigen::Infinity>()) : 1.0;
    bool accepted = false;
    double trial_value = value;
    for (int b = 0; b < kMaxBacktracks; ++b, step *= 0.5) {
      trial = theta + step * direction;
      trial_value = objective.value_and_gradient(trial, trial_gradient);
      const double trial_slope = trial_gradient.dot(direction);
      const bool armijo = trial_value <= value + kArmijo * step * slope;
      const bool approx_wolfe = trial_value <= value + 1e-12 * std::abs(value) &&
                                trial_slope <= (1.0 - 2.0 * kApproxWolfeDelta) * -slope &&
                                trial_slope >= kCurvature * slope;
      if (armijo || approx_wolfe) {
        accepted = true;
        break;
      }
    }
    if (!accepted) {
      if (history.empty()) return;  // no decrease along steepest descent: at floating-point optimum
      history.clear();
      continue;
    }

    Eigen::VectorXd s = trial - theta;
    Eigen::VectorXd y = trial_gradient - gradient;
    theta.swap(trial);
    gradient.swap(trial_gradient);
    value = trial_value;
    // The objective is convex, so s.y >= 0; a pair with no measurable
    // curvature would make the update blow up, so it is skipped.
    if (s.dot(y) > 1e-12 * y.squaredNorm() && y.squaredNorm() > 0.0) {
      if (static_cast<int>(history.size()) == kHistory) history.pop_front();
      history.emplace_back(std::move(s), std::move(y));
    }
  }
}

}  // namespace

std::string_view to_string(LinearModel::Type type) { return type == LinearModel::Type::kRidge ? "ridge" : "logistic"; }

LinearModel::LinearModel(Type type, kernels::Matrix<double> coef, std::vector<double> intercept,
                         std::vector<double> classes)
    : type_(type), coef_(std::move(coef)), intercept_(std::move(intercept)), classes_(std::move(classes)) {
  const std::string who = "linear model (" + std::string(to_string(type_)) + ")";
  if (coef_.rows() < 1 || coef_.cols() < 1)
    throw Error(who + ": coef must have at least one row and one column, got " + std::to_string(coef_.rows()) + " x " +
                std::to_string(coef_.cols()));
  if (static_cast<std::int64_t>(intercept_.size()) != coef_.rows())
    throw Error(who + ": intercept has " + std::to_string(intercept_.size()) + " entries but coef has " +
                std::to_string(coef_.rows()) + " rows");
  if (!all_finite(coef_.cview())) throw Error(who + ": coef has a non-finite value");
  for (double v : intercept_)
    if (!std::isfinite(v)) throw Error(who + ": intercept has a non-finite value");
  if (!classes_.empty()) {
    if (type_ != Type::kLogistic) throw Error(who + ": \"classes\" only applies to logistic models");
    if (static_cast<std::int64_t>(classes_.size()) != output_dim())
      throw Error(who + ": classes has " + std::to_string(classes_.size()) + " entries but the model has " +
                  std::to_string(output_dim()) + " output columns");
    for (double v : classes_)
      if (!std::isfinite(v)) throw Error(who + ": classes has a non-finite value");
  }
}

TaskType LinearModel::task() const { return type_ == Type::kRidge ? TaskType::kRegression : TaskType::kClassification; }

std::int64_t LinearModel::output_dim() const {
  if (type_ == Type::kLogistic && coef_.rows() == 1) return 2;
  return coef_.rows();
}

kernels::Matrix<double> LinearModel::predict(kernels::ConstMatrixView<double> x) const {
  if (x.cols != input_dim())
    throw Error("linear model: input has " + std::to_string(x.cols) + " columns but the model takes " +
                std::to_string(input_dim()));
  kernels::Matrix<double> out(x.rows, output_dim());
  if (x.rows == 0) return out;
  const auto coef = as_eigen(coef_.cview());
  const Eigen::Map<const Eigen::RowVectorXd> intercept(intercept_.data(), coef_.rows());
  RowMatrix scores = as_eigen(x) * coef.transpose();
  scores.rowwise() += intercept;
  RowMap result(out.data(), out.rows(), out.cols());
  if (type_ == Type::kRidge) {
    result = scores;
  } else if (coef_.rows() == 1) {
    // Binary convention: s is the log-odds of class 1. 1/(1+exp(-s)) is stable
    // for either sign of s in IEEE arithmetic (exp overflow gives exactly 0).
    for (std::int64_t i = 0; i < x.rows; ++i) {
      const double p1 = 1.0 / (1.0 + std::exp(-scores(i, 0)));
      const double p0 = 1.0 / (1.0 + std::exp(scores(i, 0)));
      result(i, 0) = p0;
      result(i, 1) = p1;
    }
  } else {
    softmax_rows(scores);
    result = scores;
  }
  return out;
}

std::string LinearModel::to_json_text() const {
  nlohmann::ordered_json doc;
  doc["type"] = to_string(type_);
  auto coef = nlohmann::ordered_json::array();
  for (std::int64_t i = 0; i < coef_.rows(); ++i)
    coef.push_back(std::vector<double>(coef_.row(i), coef_.row(i) + coef_.cols()));
  doc["coef"] = std::move(coef);
  doc["intercept"] = intercept_;
  if (!classes_.empty()) doc["classes"] = classes_;
  return doc.dump() + "\n";
}

LinearModel LinearModel::parse(std::string_view json_text, std::string_view source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    // Non-finite numbers cannot be written in JSON; writers that try anyway
    // (Python's json module) emit NaN / Infinity, and huge literals overflow.
    const bool non_finite = e.id == 406 || json_text.find("NaN") != std::string_view::npos ||
                            json_text.find("Infinity") != std::string_view::npos;
    fail(source, std::string(non_finite ? "has a number that is not finite (every number must be finite): "
                                        : "not valid JSON: ") +
                     e.what());
  }
  if (!doc.is_object()) fail(source, "a linear model must be a JSON object");

  const auto type_it = doc.find("type");
  if (type_it == doc.end()) fail(source, "missing field \"type\" (\"ridge\" or \"logistic\")");
  if (!type_it->is_string()) fail(source, "field \"type\" must be the string \"ridge\" or \"logistic\"");
  const auto type_text = type_it->get<std::string>();
  Type type;
  if (type_text == "ridge") {
    type = Type::kRidge;
  } else if (type_text == "logistic") {
    type = Type::kLogistic;
  } else {
    fail(source, "field \"type\" is \"" + type_text + "\" (expected \"ridge\" or \"logistic\")");
  }

  const auto coef_it = doc.find("coef");
  if (coef_it == doc.end()) fail(source, "missing field \"coef\" (a list of rows, one per output)");
  if (!coef_it->is_array() || coef_it->empty()) fail(source, "field \"coef\" must be a non-empty list of rows");
  std::vector<double> coef_values;
  std::int64_t width = -1;
  for (std::size_t i = 0; i < coef_it->size(); ++i) {
    const auto& row = (*coef_it)[i];
    const std::string where = "\"coef\"[" + std::to_string(i) + "]";
    if (!row.is_array()) fail(source, "field " + where + " must be a list of numbers");
    if (width < 0) width = static_cast<std::int64_t>(row.size());
    if (static_cast<std::int64_t>(row.size()) != width)
      fail(source, "field \"coef\" is ragged: row 0 has " + std::to_string(width) + " entries, row " +
                       std::to_string(i) + " has " + std::to_string(row.size()));
    for (std::size_t j = 0; j < row.size(); ++j)
      coef_values.push_back(finite_number(row[j], source, where + "[" + std::to_string(j) + "]"));
  }
  if (width < 1) fail(source, "field \"coef\" has rows of width 0");

  const auto intercept_it = doc.find("intercept");
  if (intercept_it == doc.end()) fail(source, "missing field \"intercept\" (one number per row of \"coef\")");
  auto intercept = number_list(*intercept_it, source, "intercept");

  std::vector<double> classes;
  if (const auto it = doc.find("classes"); it != doc.end() && !it->is_null())
    classes = number_list(*it, source, "classes");

  const auto rows = static_cast<std::int64_t>(coef_it->size());
  try {
    return LinearModel(type, kernels::Matrix<double>(rows, width, std::move(coef_values)), std::move(intercept),
                       std::move(classes));
  } catch (const Error& e) {
    fail(source, e.what());
  }
}

LinearModel load_linear_model(const std::filesystem::path& path) {
  return LinearModel::parse(io::read_text_file(path), path.string());
}

LinearModel load_linear_model(const std::filesystem::path& path, const ModelConfig& config) {
  auto model = load_linear_model(path);
  const std::string source = path.string();
  if (model.task() != config.task)
    fail(source, "a " + std::string(to_string(model.type())) + " model does " + std::string(to_string(model.task())) +
                     " but the manifest says the task is " + std::string(to_string(config.task)));
  if (model.input_dim() != config.input_dim)
    fail(source, "the model takes " + std::to_string(model.input_dim()) + " input columns but the manifest says " +
                     "input_dim = " + std::to_string(config.input_dim));
  if (model.output_dim() != config.output_dim)
    fail(source, "the model gives " + std::to_string(model.output_dim()) + " output columns but the manifest says " +
                     "output_dim = " + std::to_string(config.output_dim));
  return model;
}

void save_linear_model(const LinearModel& model, const std::filesystem::path& path) {
  io::write_text_file_atomically(path, model.to_json_text());
}

LinearModel fit_ridge(kernels::ConstMatrixView<double> x, kernels::ConstMatrixView<double> y, double alpha) {
  constexpr std::string_view who = "fit_ridge";
  if (x.rows < 1 || x.cols < 1) throw Error("fit_ridge: X must have at least one row and one column");
  if (y.rows != x.rows)
    throw Error("fit_ridge: X has " + std::to_string(x.rows) + " rows but Y has " + std::to_string(y.rows));
  if (y.cols < 1) throw Error("fit_ridge: Y has no columns");
  if (!(alpha >= 0.0) || !std::isfinite(alpha)) throw Error("fit_ridge: alpha must be finite and >= 0");
  require_finite_input(x, who, "X");
  require_finite_input(y, who, "Y");

  const auto xm = as_eigen(x);
  const auto ym = as_eigen(y);
  const Eigen::RowVectorXd x_mean = xm.colwise().mean();
  const Eigen::RowVectorXd y_mean = ym.colwise().mean();
  const RowMatrix xc = xm.rowwise() - x_mean;
  const RowMatrix yc = ym.rowwise() - y_mean;

  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(x.cols, x.cols);
  gram.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
  gram.diagonal().array() += alpha;
  const Eigen::MatrixXd rhs = xc.transpose() * yc;

  const Eigen::LDLT<Eigen::MatrixXd, Eigen::Lower> ldlt(gram);
  // LDLT does not fail on a singular PSD matrix; a pivot at rounding level
  // means the centred X is rank deficient and alpha = 0 has no unique answer.
  const auto pivots = ldlt.vectorD();
  const double largest = std::max(pivots.maxCoeff(), 0.0);
  if (ldlt.info() != Eigen::Success || !(pivots.minCoeff() > largest * 1e-13 * static_cast<double>(x.cols)))
    throw Error("fit_ridge: the centred X is (numerically) rank deficient; use alpha > 0");
  const Eigen::MatrixXd weights = ldlt.solve(rhs);  // d x k
  if (!weights.allFinite()) throw Error("fit_ridge: the solve produced non-finite coefficients; use alpha > 0");

  kernels::Matrix<double> coef(y.cols, x.cols);
  RowMap(coef.data(), y.cols, x.cols) = weights.transpose();
  const Eigen::RowVectorXd intercept = y_mean - x_mean * weights;
  return LinearModel(LinearModel::Type::kRidge, std::move(coef),
                     std::vector<double>(intercept.data(), intercept.data() + intercept.size()));
}

LinearModel fit_ridge(kernels::ConstMatrixView<double> x, std::span<const double> y, double alpha) {
  return fit_ridge(x, kernels::ConstMatrixView<double>(y.data(), static_cast<std::int64_t>(y.size()), 1), alpha);
}

namespace {

LinearModel fit_logistic_from(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                              std::int64_t num_classes, const LogisticFitOptions& options, const LinearModel* start) {
  constexpr std::string_view who = "fit_logistic";
  if (x.rows < 1 || x.cols < 1) throw Error("fit_logistic: X must have at least one row and one column");
  if (static_cast<std::int64_t>(labels.size()) != x.rows)
    throw Error("fit_logistic: X has " + std::to_string(x.rows) + " rows but there are " +
                std::to_string(labels.size()) + " labels");
  if (num_classes < 2) throw Error("fit_logistic: num_classes must be at least 2, got " + std::to_string(num_classes));
  if (!(options.l2 >= 0.0) || !std::isfinite(options.l2)) throw Error("fit_logistic: l2 must be finite and >= 0");
  if (options.max_iter < 0) throw Error("fit_logistic: max_iter must be >= 0");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw Error("fit_logistic: label " + std::to_string(labels[i]) + " at row " + std::to_string(i) +
                  " is outside 0.." + std::to_string(num_classes - 1));
  require_finite_input(x, who, "X");

  const Eigen::Index d = x.cols;
  LogisticObjective objective(as_eigen(x), labels, num_classes, options.l2);
  RowMatrix w = RowMatrix::Zero(num_classes, d);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(num_classes);
  if (start != nullptr) {
    if (start->type() != LinearModel::Type::kLogistic || start->coef().rows() != num_classes || start->input_dim() != d)
      throw Error("fit_logistic: the warm start must be a " + std::to_string(num_classes) +
                  "-class logistic model over " + std::to_string(d) + " columns, got a " +
                  std::string(to_string(start->type())) + " model with " + std::to_string(start->coef().rows()) +
                  " rows over " + std::to_string(start->input_dim()) + " columns");
    w = as_eigen(start->coef().cview());
    b = Eigen::Map<const Eigen::VectorXd>(start->intercept().data(), num_classes);
  }
  Eigen::VectorXd theta = objective.to_standardised(w, b);
  // The products are small (C columns): OpenBLAS's own threads would cost
  // more than they gain and could change the bits with the thread count.
  kernels::parallel_for_serial_blas(kernels::Context{.n_threads = 1}, 1, [&](std::int64_t) {
    minimise_lbfgs(objective, theta, options.max_iter, options.gradient_tol);
  });
  objective.to_original(theta, w, b);

  kernels::Matrix<double> coef(num_classes, d);
  RowMap(coef.data(), num_classes, d) = w;
  // Softmax is invariant to a common shift of the intercepts (the one flat
  // direction of the objective); centring them makes the answer canonical.
  const Eigen::VectorXd intercept = b.array() - b.mean();
  return LinearModel(LinearModel::Type::kLogistic, std::move(coef),
                     std::vector<double>(intercept.data(), intercept.data() + intercept.size()));
}

}  // namespace

LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, const LogisticFitOptions& options) {
  return fit_logistic_from(x, labels, num_classes, options, nullptr);
}

LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, const LogisticFitOptions& options, const LinearModel& start) {
  return fit_logistic_from(x, labels, num_classes, options, &start);
}

LinearModel fit_logistic(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> labels,
                         std::int64_t num_classes, double l2, int max_iter) {
  LogisticFitOptions options;
  options.l2 = l2;
  options.max_iter = max_iter;
  return fit_logistic(x, labels, num_classes, options);
}

}  // namespace lwd
