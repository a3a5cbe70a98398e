// The model of a learnware, behind one interface whatever its kind. The dock
// needs three things of a model: the width of the rows it takes, the width of
// what it returns, and predictions for a batch of rows.
//
// Output conventions (shared by every kind, relied on by the checker and reuse):
//   regression      n x output_dim real values (output_dim is usually 1);
//   classification  n x num_classes scores, one column per class, larger is
//                   more likely (probabilities for xgboost/logistic, any real
//                   scores for a process model); the label is the argmax.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/sandbox.h"
#include "kernels/matrix.h"

namespace lwd {

enum class TaskType { kRegression, kClassification };

// "regression" / "classification"; parse throws lwd::Error naming the text.
std::string_view to_string(TaskType task);
TaskType parse_task_type(std::string_view text);

// What a package manifest says about its model (learnware.yaml, `model:`).
struct ModelConfig {
  std::string kind;             // "xgboost" | "linear" | "process"
  std::filesystem::path file;   // model file, relative to the package root
  TaskType task = TaskType::kRegression;
  std::int64_t input_dim = 0;   // columns of X
  std::int64_t output_dim = 0;  // columns of predict(X): 1 for regression, #classes for classification
  // kind "process" only: argv of the command; argv[0] relative to the package
  // root unless absolute. Its protocol is documented in process_model.h.
  std::vector<std::string> command;
  double timeout_seconds = 30.0;  // kind "process": wall-clock limit per predict call
  // Not from the manifest: the dock's limits on running the model (kind
  // "process"), which the caller sets from its own configuration (the
  // checker from CheckerOptions, reuse from the Market). timeout_seconds is
  // clamped to sandbox.wall_seconds_cap.
  SandboxLimits sandbox;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string_view kind() const = 0;
  virtual TaskType task() const = 0;
  virtual std::int64_t input_dim() const = 0;   // input_shape  = (input_dim,)
  virtual std::int64_t output_dim() const = 0;  // output_shape = (output_dim,)
  // x: rows x input_dim, finite. Returns rows x output_dim. Throws lwd::Error
  // (naming the model and the problem) on a width mismatch or a failed model.
  virtual kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const = 0;
};

// The kinds the dock knows, in one explicit list.
const std::vector<std::string>& model_kinds();

// Loads the model a manifest describes, with files resolved against
// `package_root`. Throws lwd::Error on an unknown kind, a missing or malformed
// model file, or a model whose own shape disagrees with the config.
std::unique_ptr<Model> load_model(const ModelConfig& config, const std::filesystem::path& package_root);

// Labels of classification scores: argmax of each row (ties: lowest index).
std::vector<std::int64_t> argmax_labels(const kernels::Matrix<double>& scores);

}  // namespace lwd
