#include "engine/model/model.h"

#include <string>

#include "engine/error.h"
#include "engine/model/linear_model.h"
#include "engine/model/package_paths.h"
#include "engine/model/process_model.h"
#include "engine/model/xgboost_model.h"

namespace lwd {

std::string_view to_string(TaskType task) {
  switch (task) {
    case TaskType::kRegression:
      return "regression";
    case TaskType::kClassification:
      return "classification";
  }
  throw Error("invalid TaskType value " + std::to_string(static_cast<int>(task)));
}

TaskType parse_task_type(std::string_view text) {
  if (text == "regression") return TaskType::kRegression;
  if (text == "classification") return TaskType::kClassification;
  throw Error("unknown task type \"" + std::string(text) + "\" (expected \"regression\" or \"classification\")");
}

const std::vector<std::string>& model_kinds() {
  static const std::vector<std::string> kinds = {std::string(LinearModel::kKind), std::string(XGBoostModel::kKind),
                                                 std::string(ProcessModel::kKind)};
  return kinds;
}

std::unique_ptr<Model> load_model(const ModelConfig& config, const std::filesystem::path& package_root) {
  if (config.kind == LinearModel::kKind) {
    const auto file = model_detail::resolve_inside_package(package_root, config.file, "model file");
    return std::make_unique<LinearModel>(load_linear_model(file, config));
  }
  if (config.kind == XGBoostModel::kKind) {
    const auto file = model_detail::resolve_inside_package(package_root, config.file, "model file");
    return std::make_unique<XGBoostModel>(XGBoostModel::load(file, config));
  }
  if (config.kind == ProcessModel::kKind) return std::make_unique<ProcessModel>(config, package_root);

  std::string known;
  for (const auto& kind : model_kinds()) known += (known.empty() ? "\"" : ", \"") + kind + "\"";
  throw Error("unknown model kind \"" + config.kind + "\" (known kinds: " + known + ")");
}

std::vector<std::int64_t> argmax_labels(const kernels::Matrix<double>& scores) {
  if (scores.cols() < 1 && scores.rows() > 0) throw Error("argmax_labels: scores have no columns");
  std::vector<std::int64_t> labels(static_cast<std::size_t>(scores.rows()));
  for (std::int64_t i = 0; i < scores.rows(); ++i) {
    const double* row = scores.row(i);
    std::int64_t best = 0;
    // Strict '>' keeps the lowest index on ties; a NaN never wins.
    for (std::int64_t j = 1; j < scores.cols(); ++j)
      if (row[j] > row[best] || (row[best] != row[best] && row[j] == row[j])) best = j;
    labels[static_cast<std::size_t>(i)] = best;
  }
  return labels;
}

namespace model_detail {

std::filesystem::path resolve_inside_package(const std::filesystem::path& package_root,
                                             const std::filesystem::path& relative, std::string_view what) {
  if (relative.empty()) throw Error(std::string(what) + " is not set in the model config");
  if (relative.is_absolute())
    throw Error(std::string(what) + " \"" + relative.string() + "\" must be relative to the package root");
  const auto normal = relative.lexically_normal();
  if (!normal.empty() && *normal.begin() == "..")
    throw Error(std::string(what) + " \"" + relative.string() + "\" points outside the package root");
  return (package_root / normal).lexically_normal();
}

}  // namespace model_detail
}  // namespace lwd
