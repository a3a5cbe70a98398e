#include "engine/model/xgboost_model.h"


#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/model/xgboost_api.h"

namespace lwd {
namespace {

// Every C API call returns 0 on success; on failure XGBoost keeps the reason
// in a thread-local string.
void check_xgb(int status, std::string_view context, std::string_view action) {
  if (status == 0) return;
  // The message is followed by a native stack trace, of no use to a user.
  std::string reason = xgboost_api().XGBGetLastError();
  if (const auto trace = reason.find("Stack trace:"); trace != std::string::npos) reason.erase(trace);
  while (!reason.empty() && std::isspace(static_cast<unsigned char>(reason.back()))) reason.pop_back();
  throw Error(std::string(context) + ": XGBoost failed to " + std::string(action) + ": " + reason);
}

class DMatrix {
 public:
  // XGBoost takes float32; the copy also makes a strided view contiguous.
  DMatrix(kernels::ConstMatrixView<double> x, std::string_view context) {
    std::vector<float> values(static_cast<std::size_t>(x.rows * x.cols));
    for (std::int64_t i = 0; i < x.rows; ++i)
      for (std::int64_t j = 0; j < x.cols; ++j)
        values[static_cast<std::size_t>(i * x.cols + j)] = static_cast<float>(x(i, j));
    check_xgb(xgboost_api().XGDMatrixCreateFromMat(values.data(), static_cast<bst_ulong>(x.rows), static_cast<bst_ulong>(x.cols),
                                     std::numeric_limits<float>::quiet_NaN(), &handle_),
              context, "build a DMatrix from the input rows");
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  ~DMatrix() {
    if (handle_ != nullptr) xgboost_api().XGDMatrixFree(handle_);
  }

  DMatrixHandle get() const { return handle_; }

  void set_labels(std::span<const double> y, std::string_view context) {
    std::vector<float> labels(y.begin(), y.end());
    check_xgb(xgboost_api().XGDMatrixSetFloatInfo(handle_, "label", labels.data(), static_cast<bst_ulong>(labels.size())), context,
              "set the labels");
  }

 private:
  DMatrixHandle handle_ = nullptr;
};

std::string number_text(double v) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  return std::string(buffer, end);
}

bool is_classification_objective(std::string_view objective) {
  return objective.starts_with("multi:") || objective.starts_with("binary:");
}

std::int64_t json_integer(const nlohmann::json& value) {
  // XGBoost writes its parameters as strings ("3"); accept numbers too.
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    std::int64_t out = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc() && ptr == text.data() + text.size()) return out;
  }
  throw Error("unexpected value " + value.dump() + " in XGBoost's configuration");
}

// The validation metric from an EvalOneIter line such as "[3]\tvalid-rmse:0.25".
double parse_eval_metric(const char* text, std::string_view context) {
  const std::string_view line(text);
  const auto colon = line.rfind(':');
  double value = 0.0;
  if (colon != std::string_view::npos) {
    const auto [ptr, ec] = std::from_chars(line.data() + colon + 1, line.data() + line.size(), value);
    if (ec == std::errc() && std::isfinite(value)) return value;
  }
  throw Error(std::string(context) + ": cannot read the validation metric from XGBoost's line \"" + std::string(line) +
              "\"");
}

void require_finite(kernels::ConstMatrixView<double> x, std::string_view context, std::string_view name) {
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j)
      if (!std::isfinite(x(i, j)))
        throw Error(std::string(context) + ": " + std::string(name) + " has a non-finite value at row " +
                    std::to_string(i) + ", column " + std::to_string(j));
}

void require_targets(std::span<const double> y, TaskType task, std::int64_t num_classes, std::string_view context,
                     std::string_view name) {
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double v = y[i];
    if (!std::isfinite(v))
      throw Error(std::string(context) + ": " + std::string(name) + " has a non-finite value at row " +
                  std::to_string(i));
    if (task == TaskType::kClassification && (v != std::floor(v) || v < 0 || v >= static_cast<double>(num_classes)))
      throw Error(std::string(context) + ": " + std::string(name) + " at row " + std::to_string(i) + " is " +
                  number_text(v) + ", not a class index in 0.." + std::to_string(num_classes - 1));
  }
}

}  // namespace

struct XGBoostModel::Booster {
  BoosterHandle handle = nullptr;

  Booster(const DMatrixHandle* cache, bst_ulong cache_size, std::string_view context) {
    check_xgb(xgboost_api().XGBoosterCreate(cache, cache_size, &handle), context, "create a booster");
  }
  explicit Booster(BoosterHandle adopted) : handle(adopted) {}
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (handle != nullptr) xgboost_api().XGBoosterFree(handle);
  }

  void set(const char* name, const std::string& value, std::string_view context) {
    check_xgb(xgboost_api().XGBoosterSetParam(handle, name, value.c_str()), context,
              "accept parameter " + std::string(name) + "=" + value);
  }
};

XGBoostModel::XGBoostModel(XGBoostModel&&) noexcept = default;
XGBoostModel& XGBoostModel::operator=(XGBoostModel&&) noexcept = default;
XGBoostModel::~XGBoostModel() = default;

XGBoostModel XGBoostModel::load(const std::filesystem::path& path, const ModelConfig& config) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": XGBoost model file not found (or not a regular file)");
  return from_buffer(io::read_text_file(path), config, path.string());
}

XGBoostModel XGBoostModel::from_buffer(std::string_view model_bytes, const ModelConfig& config,
                                       std::string_view source) {
  const std::string context(source);
  // XGBoost reads an empty buffer as a stream that ends early and reports it
  // poorly; say it plainly.
  if (model_bytes.empty()) throw Error(context + ": the XGBoost model file is empty");
  auto booster = std::make_unique<Booster>(nullptr, 0, context);
  check_xgb(xgboost_api().XGBoosterLoadModelFromBuffer(booster->handle, model_bytes.data(), model_bytes.size()), context,
            "read the model (expected an XGBoost JSON model)");
  return adopt(std::move(booster), config, context);
}

XGBoostModel XGBoostModel::adopt(std::unique_ptr<Booster> booster, const ModelConfig& config, std::string source) {
  const std::string& context = source;
  bst_ulong num_features = 0;
  check_xgb(xgboost_api().XGBoosterGetNumFeature(booster->handle, &num_features), context, "report its number of features");

  bst_ulong length = 0;
  const char* config_text = nullptr;
  check_xgb(xgboost_api().XGBoosterSaveJsonConfig(booster->handle, &length, &config_text), context, "report its configuration");
  std::string objective;
  std::int64_t num_class = 0;
  std::int64_t num_target = 1;
  try {
    const auto learner = nlohmann::json::parse(std::string_view(config_text, length)).at("learner");
    objective = learner.at("objective").at("name").get<std::string>();
    const auto& model_param = learner.at("learner_model_param");
    num_class = json_integer(model_param.at("num_class"));
    if (const auto it = model_param.find("num_target"); it != model_param.end()) num_target = json_integer(*it);
  } catch (const nlohmann::json::exception& e) {
    throw Error(context + ": cannot read the objective from XGBoost's configuration (" + e.what() + ")");
  }

  const auto n_features = static_cast<std::int64_t>(num_features);
  if (n_features != config.input_dim)
    throw Error(context + ": the booster takes " + std::to_string(n_features) +
                " features but the manifest says input_dim = " + std::to_string(config.input_dim));

  std::int64_t model_outputs = 0;
  if (config.task == TaskType::kClassification) {
    if (objective.starts_with("multi:")) {
      model_outputs = num_class;
    } else if (objective.starts_with("binary:")) {
      model_outputs = 2;
    } else {
      throw Error(context + ": objective \"" + objective +
                  "\" is not a classification objective but the manifest says the task is classification");
    }
  } else {
    if (is_classification_objective(objective))
      throw Error(context + ": objective \"" + objective +
                  "\" is a classification objective but the manifest says the task is regression");
    model_outputs = std::max<std::int64_t>(1, num_target);
  }
  if (model_outputs != config.output_dim)
    throw Error(context + ": the booster (objective \"" + objective + "\") gives " + std::to_string(model_outputs) +
                " output columns but the manifest says output_dim = " + std::to_string(config.output_dim));

  XGBoostModel model;
  model.booster_ = std::move(booster);
  model.predict_mutex_ = std::make_unique<std::mutex>();
  model.source_ = std::move(source);
  model.objective_ = std::move(objective);
  model.task_ = config.task;
  model.input_dim_ = n_features;
  model.output_dim_ = model_outputs;
  return model;
}

std::int64_t XGBoostModel::num_rounds() const {
  int rounds = 0;
  check_xgb(xgboost_api().XGBoosterBoostedRounds(booster_->handle, &rounds), source_, "report its number of rounds");
  return rounds;
}

std::string XGBoostModel::to_json_text() const {
  std::lock_guard lock(*predict_mutex_);
  bst_ulong length = 0;
  const char* bytes = nullptr;
  check_xgb(xgboost_api().XGBoosterSaveModelToBuffer(booster_->handle, R"({"format": "json"})", &length, &bytes), source_,
            "serialise the model as JSON");
  return std::string(bytes, length);
}

void XGBoostModel::save(const std::filesystem::path& path) const {
  io::write_text_file_atomically(path, to_json_text());
}

kernels::Matrix<double> XGBoostModel::predict(kernels::ConstMatrixView<double> x) const {
  const std::string context = "xgboost model " + source_;
  if (x.cols != input_dim_)
    throw Error(context + ": input has " + std::to_string(x.cols) + " columns but the model takes " +
                std::to_string(input_dim_));
  kernels::Matrix<double> out(x.rows, output_dim_);
  if (x.rows == 0) return out;

  const DMatrix data(x, context);
  // multi:softmax predicts labels; its margins, softmax-ed here, are the
  // class probabilities the interface promises.
  const bool margins = objective_ == "multi:softmax";
  const bool one_column_binary = objective_.starts_with("binary:");
  const std::int64_t expected = one_column_binary ? x.rows : x.rows * output_dim_;

  std::lock_guard lock(*predict_mutex_);
  bst_ulong length = 0;
  const float* values = nullptr;
  check_xgb(xgboost_api().XGBoosterPredict(booster_->handle, data.get(), margins ? 1 : 0, 0, 0, &length, &values), context,
            "predict");
  if (static_cast<std::int64_t>(length) != expected)
    throw Error(context + ": XGBoost returned " + std::to_string(length) + " values for " + std::to_string(x.rows) +
                " rows, expected " + std::to_string(expected));

  if (one_column_binary) {
    for (std::int64_t i = 0; i < x.rows; ++i) {
      double p = values[i];
      // logitraw gives the log-odds; logistic and hinge give p (hinge: 0 or 1).
      if (objective_ == "binary:logitraw") p = 1.0 / (1.0 + std::exp(-p));
      out(i, 0) = 1.0 - p;
      out(i, 1) = p;
    }
  } else {
    for (std::int64_t k = 0; k < out.size(); ++k) out.data()[k] = values[k];
    if (margins) {
      for (std::int64_t i = 0; i < x.rows; ++i) {
        double* row = out.row(i);
        double top = row[0];
        for (std::int64_t j = 1; j < output_dim_; ++j) top = std::max(top, row[j]);
        double sum = 0.0;
        for (std::int64_t j = 0; j < output_dim_; ++j) sum += (row[j] = std::exp(row[j] - top));
        for (std::int64_t j = 0; j < output_dim_; ++j) row[j] /= sum;
      }
    }
  }
  return out;
}

XGBoostModel train_xgboost_model(kernels::ConstMatrixView<double> x, std::span<const double> y, TaskType task,
                                 std::int64_t num_classes, const XGBoostTrainParams& params,
                                 XGBoostTrainResult* result) {
  const std::string context = "train_xgboost";
  if (x.rows < 1 || x.cols < 1) throw Error(context + ": X must have at least one row and one column");
  if (static_cast<std::int64_t>(y.size()) != x.rows)
    throw Error(context + ": X has " + std::to_string(x.rows) + " rows but y has " + std::to_string(y.size()));
  if (task == TaskType::kClassification && num_classes < 2)
    throw Error(context + ": classification needs num_classes >= 2, got " + std::to_string(num_classes));
  if (params.num_rounds < 1) throw Error(context + ": num_rounds must be >= 1");
  if (params.max_depth < 1) throw Error(context + ": max_depth must be >= 1");
  if (!(params.eta > 0.0 && params.eta <= 1.0)) throw Error(context + ": eta must be in (0, 1]");
  if (!(params.subsample > 0.0 && params.subsample <= 1.0)) throw Error(context + ": subsample must be in (0, 1]");
  if (!(params.colsample_bytree > 0.0 && params.colsample_bytree <= 1.0))
    throw Error(context + ": colsample_bytree must be in (0, 1]");
  if (!(params.min_child_weight >= 0.0)) throw Error(context + ": min_child_weight must be >= 0");
  if (!(params.lambda >= 0.0)) throw Error(context + ": lambda must be >= 0");
  if (params.nthread < 0) throw Error(context + ": nthread must be >= 0 (0 = all cores)");
  if (params.early_stopping_rounds < 0) throw Error(context + ": early_stopping_rounds must be >= 0");
  const bool has_validation = params.validation.x.rows > 0 || !params.validation.y.empty();
  if (params.early_stopping_rounds > 0 && !has_validation)
    throw Error(context + ": early stopping needs a validation set (params.validation)");
  require_finite(x, context, "X");
  require_targets(y, task, num_classes, context, "y");
  if (has_validation) {
    const auto& valid = params.validation;
    if (valid.x.cols != x.cols)
      throw Error(context + ": the validation set has " + std::to_string(valid.x.cols) + " columns but X has " +
                  std::to_string(x.cols));
    if (static_cast<std::int64_t>(valid.y.size()) != valid.x.rows || valid.x.rows < 1)
      throw Error(context + ": the validation set needs as many targets as rows (at least one), got " +
                  std::to_string(valid.x.rows) + " rows and " + std::to_string(valid.y.size()) + " targets");
    require_finite(valid.x, context, "the validation X");
    require_targets(valid.y, task, num_classes, context, "the validation y");
  }

  DMatrix train(x, context);
  train.set_labels(y, context);
  std::unique_ptr<DMatrix> valid;
  if (has_validation) {
    valid = std::make_unique<DMatrix>(params.validation.x, context);
    valid->set_labels(params.validation.y, context);
  }
  std::vector<DMatrixHandle> cache = {train.get()};
  if (valid) cache.push_back(valid->get());
  auto booster = std::make_unique<XGBoostModel::Booster>(cache.data(), static_cast<bst_ulong>(cache.size()), context);

  std::string objective;
  std::string metric;
  std::int64_t outputs = 1;
  if (task == TaskType::kRegression) {
    objective = "reg:squarederror";
    metric = "rmse";
  } else if (num_classes == 2) {
    objective = "binary:logistic";
    metric = "logloss";
    outputs = 2;
  } else {
    objective = "multi:softprob";
    metric = "mlogloss";
    outputs = num_classes;
    booster->set("num_class", std::to_string(num_classes), context);
  }
  booster->set("objective", objective, context);
  booster->set("eval_metric", metric, context);
  booster->set("tree_method", "hist", context);
  booster->set("max_depth", std::to_string(params.max_depth), context);
  booster->set("eta", number_text(params.eta), context);
  booster->set("subsample", number_text(params.subsample), context);
  booster->set("colsample_bytree", number_text(params.colsample_bytree), context);
  booster->set("min_child_weight", number_text(params.min_child_weight), context);
  booster->set("lambda", number_text(params.lambda), context);
  booster->set("seed", std::to_string(params.seed & 0x7fffffffU), context);
  booster->set("verbosity", "0", context);
  if (params.nthread > 0) booster->set("nthread", std::to_string(params.nthread), context);

  XGBoostTrainResult summary;
  double best_score = std::numeric_limits<double>::infinity();
  int best_round = -1;  // 0-based
  for (int round = 0; round < params.num_rounds; ++round) {
    check_xgb(xgboost_api().XGBoosterUpdateOneIter(booster->handle, round, train.get()), context, "boost a round");
    summary.rounds_trained = round + 1;
    if (!valid) continue;
    DMatrixHandle eval_sets[] = {valid->get()};
    const char* eval_names[] = {"valid"};
    const char* line = nullptr;
    check_xgb(xgboost_api().XGBoosterEvalOneIter(booster->handle, round, eval_sets, eval_names, 1, &line), context,
              "evaluate the validation set");
    const double score = parse_eval_metric(line, context);
    if (score < best_score) {
      best_score = score;
      best_round = round;
    }
    if (params.early_stopping_rounds > 0 && round - best_round >= params.early_stopping_rounds) break;
  }

  summary.best_rounds = summary.rounds_trained;
  if (valid) {
    summary.best_validation_score = best_score;
    if (params.early_stopping_rounds > 0) summary.best_rounds = best_round + 1;
  }
  if (summary.best_rounds < summary.rounds_trained) {
    // Keep only the rounds up to the best validation score.
    BoosterHandle sliced = nullptr;
    check_xgb(xgboost_api().XGBoosterSlice(booster->handle, 0, summary.best_rounds, 1, &sliced), context,
              "cut the model at its best round");
    booster = std::make_unique<XGBoostModel::Booster>(sliced);
  }

  ModelConfig config;
  config.kind = std::string(XGBoostModel::kKind);
  config.task = task;
  config.input_dim = x.cols;
  config.output_dim = outputs;
  if (result != nullptr) *result = summary;
  return XGBoostModel::adopt(std::move(booster), config, "trained booster");
}

XGBoostTrainResult train_xgboost(kernels::ConstMatrixView<double> x, std::span<const double> y, TaskType task,
                                 std::int64_t num_classes, const XGBoostTrainParams& params,
                                 const std::filesystem::path& out_path) {
  XGBoostTrainResult result;
  const auto model = train_xgboost_model(x, y, task, num_classes, params, &result);
  model.save(out_path);
  return result;
}

}  // namespace lwd
