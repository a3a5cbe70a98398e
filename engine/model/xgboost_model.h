// Model kind "xgboost": a gradient-boosted tree ensemble saved by XGBoost in
// its JSON model format, evaluated through XGBoost's C API.
//
// Outputs follow model.h:
//   regression      n x output_dim (output_dim = number of targets, usually 1);
//   classification  n x num_classes probabilities. "multi:softprob" gives them
//                   directly; "multi:softmax" is evaluated as margins and
//                   softmax-ed; "binary:logistic" / "binary:logitraw" give
//                   p(class 1), returned as the two columns [1 - p, p].
// The booster's feature count, objective and class count are checked against
// the manifest on load.
//
// Also the training helper the engine uses wherever it needs boosted trees
// (the job selector, dataset builders, tests).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "engine/model/model.h"
#include "kernels/matrix.h"

namespace lwd {

// Rows and targets held back for early stopping; empty x means none.
struct XGBoostValidationSet {
  kernels::ConstMatrixView<double> x;
  std::span<const double> y;
};

struct XGBoostTrainParams {
  int num_rounds = 100;
  int max_depth = 6;
  double eta = 0.3;
  double subsample = 1.0;         // row sampling per tree (seeded)
  double colsample_bytree = 1.0;  // column sampling per tree (seeded)
  double min_child_weight = 1.0;
  double lambda = 1.0;  // L2 on leaf weights
  std::uint64_t seed = 0;
  int nthread = 0;  // 0: XGBoost's default (all cores)
  // Stop when the validation metric (rmse / logloss / mlogloss) has not
  // improved for this many rounds; the saved model keeps the best rounds.
  // 0 disables early stopping. Requires a non-empty `validation`.
  int early_stopping_rounds = 0;
  XGBoostValidationSet validation;
};

struct XGBoostTrainResult {
  int rounds_trained = 0;              // rounds boosted before stopping
  int best_rounds = 0;                 // rounds kept in the saved model
  double best_validation_score = 0.0;  // lowest validation metric seen; 0 without a validation set
};

class XGBoostModel final : public Model {
 public:
  static constexpr std::string_view kKind = "xgboost";

  // Loads a model file (JSON, or any format XGBoost itself reads) and checks
  // it against the config's task, input_dim and output_dim. Throws lwd::Error
  // naming the path for a missing file, a file XGBoost cannot read, or a shape
  // mismatch.
  static XGBoostModel load(const std::filesystem::path& path, const ModelConfig& config);
  // The same from the bytes of a model file; `source` names it in errors.
  static XGBoostModel from_buffer(std::string_view model_bytes, const ModelConfig& config,
                                  std::string_view source = "<memory>");

  XGBoostModel(XGBoostModel&&) noexcept;
  XGBoostModel& operator=(XGBoostModel&&) noexcept;
  ~XGBoostModel() override;

  std::string_view kind() const override { return kKind; }
  TaskType task() const override { return task_; }
  std::int64_t input_dim() const override { return input_dim_; }
  std::int64_t output_dim() const override { return output_dim_; }
  // Thread-safe: calls on one model are serialised (XGBoost keeps prediction
  // buffers in the booster); parallelism comes from XGBoost's own threads.
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  const std::string& objective() const { return objective_; }
  // Boosting rounds in the ensemble.
  std::int64_t num_rounds() const;

  // XGBoost's JSON model text, and the same written atomically to `path`
  // (load() reads it back whatever the file name).
  std::string to_json_text() const;
  void save(const std::filesystem::path& path) const;

 private:
  struct Booster;  // owns the BoosterHandle
  XGBoostModel() = default;
  // Takes the booster, reads its objective and shape and checks them
  // against the config; errors name `source`.
  static XGBoostModel adopt(std::unique_ptr<Booster> booster, const ModelConfig& config, std::string source);
  friend XGBoostModel train_xgboost_model(kernels::ConstMatrixView<double>, std::span<const double>, TaskType,
                                          std::int64_t, const XGBoostTrainParams&, XGBoostTrainResult*);

  std::unique_ptr<Booster> booster_;
  std::unique_ptr<std::mutex> predict_mutex_;
  std::string source_;
  std::string objective_;
  TaskType task_ = TaskType::kRegression;
  std::int64_t input_dim_ = 0;
  std::int64_t output_dim_ = 0;
};

// Trains a booster and returns it as a model in memory (ready to predict).
//   regression:      objective reg:squarederror, y real, output_dim 1;
//   classification:  num_classes == 2 -> binary:logistic, > 2 -> multi:softprob;
//                    y holds class indices 0..num_classes-1 (as doubles),
//                    output_dim = num_classes.
// Deterministic for a given seed (tree_method "hist"; only the seed's low 31
// bits are used). Throws lwd::Error on bad shapes, non-finite data, bad
// labels, bad parameters or an XGBoost failure (with XGBoost's message).
XGBoostModel train_xgboost_model(kernels::ConstMatrixView<double> x, std::span<const double> y, TaskType task,
                                 std::int64_t num_classes, const XGBoostTrainParams& params,
                                 XGBoostTrainResult* result = nullptr);

// The same, saving the JSON model atomically at out_path.
XGBoostTrainResult train_xgboost(kernels::ConstMatrixView<double> x, std::span<const double> y, TaskType task,
                                 std::int64_t num_classes, const XGBoostTrainParams& params,
                                 const std::filesystem::path& out_path);

}  // namespace lwd
