// `lwdock model train|predict`: fit a model kind the dock can package (linear
// or xgboost) on a labelled CSV, and run any model file on a CSV -- so a
// developer can go from a table to a learnware package with the CLI alone.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/kinds/model_kinds.h"
#include "engine/io/csv.h"
#include "engine/model/linear_model.h"
#include "engine/model/model.h"
#include "engine/model/xgboost_model.h"

namespace {

namespace fs = std::filesystem;
using lwd::kernels::Matrix;

struct TrainOptions {
  std::string kind = "xgboost";
  std::string task = "regression";
  std::string input;
  long long target_column = -1;
  std::string output;
  double alpha = 1.0;
  int rounds = 100;
  int max_depth = 6;
  double eta = 0.3;
  std::uint64_t seed = 0;
};

struct PredictOptions {
  std::string kind;
  std::string task = "regression";
  std::string model;
  std::string input;
  long long output_dim = 1;
  std::string output;
};

// Splits a table into features and the target column (negative: from the end).
void split_target(const Matrix<double>& table, long long target_column, const std::string& source, Matrix<double>& x,
                  std::vector<double>& y) {
  const std::int64_t cols = table.cols();
  if (cols < 2) throw lwd::Error(source + ": needs at least one feature column and a target column");
  const std::int64_t t = target_column < 0 ? cols + target_column : target_column;
  if (t < 0 || t >= cols) {
    throw lwd::Error(source + ": --target-column " + std::to_string(target_column) + " is outside the " +
                     std::to_string(cols) + " columns");
  }
  x = Matrix<double>(table.rows(), cols - 1);
  y.resize(static_cast<std::size_t>(table.rows()));
  for (std::int64_t i = 0; i < table.rows(); ++i) {
    std::int64_t c_out = 0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = table(i, c);
      if (!std::isfinite(v)) {
        throw lwd::Error(source + ": row " + std::to_string(i + 1) + " column " + std::to_string(c + 1) +
                         " is missing or not finite; training needs complete rows");
      }
      if (c == t) {
        y[static_cast<std::size_t>(i)] = v;
      } else {
        x(i, c_out++) = v;
      }
    }
  }
}

// Classification labels must be 0..C-1; returns C.
std::int64_t check_labels(const std::vector<double>& y, const std::string& source) {
  std::int64_t max_label = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double v = y[i];
    if (v < 0 || v != std::floor(v) || v > 1e6) {
      throw lwd::Error(source + ": row " + std::to_string(i + 1) +
                       ": classification labels must be integers 0..C-1, got " + std::to_string(v));
    }
    max_label = std::max(max_label, static_cast<std::int64_t>(v));
  }
  if (max_label < 1) throw lwd::Error(source + ": classification needs at least two classes (labels 0 and 1)");
  return max_label + 1;
}

void run_train(const TrainOptions& o, const lwd::kernels::Context& ctx) {
  const lwd::io::NumericTable table = lwd::io::read_numeric_csv(o.input);
  Matrix<double> x;
  std::vector<double> y;
  split_target(table.values, o.target_column, o.input, x, y);
  const lwd::TaskType task = lwd::parse_task_type(o.task);
  std::int64_t classes = 1;
  if (task == lwd::TaskType::kClassification) classes = check_labels(y, o.input);

  if (o.kind == "linear") {
    if (task == lwd::TaskType::kRegression) {
      lwd::save_linear_model(lwd::fit_ridge(x.view(), y, o.alpha), o.output);
    } else {
      std::vector<std::int64_t> labels(y.begin(), y.end());
      lwd::LogisticFitOptions fit;
      fit.l2 = o.alpha / static_cast<double>(x.rows());
      lwd::save_linear_model(lwd::fit_logistic(x.view(), labels, classes, fit), o.output);
    }
  } else {
    lwd::XGBoostTrainParams params;
    params.num_rounds = o.rounds;
    params.max_depth = o.max_depth;
    params.eta = o.eta;
    params.seed = o.seed;
    params.nthread = ctx.threads();
    lwd::train_xgboost(x.view(), y, task, classes, params, o.output);
  }
  std::fprintf(stderr, "trained %s %s model on %lld rows x %lld features%s -> %s\n", o.kind.c_str(), o.task.c_str(),
               static_cast<long long>(x.rows()), static_cast<long long>(x.cols()),
               task == lwd::TaskType::kClassification ? (", " + std::to_string(classes) + " classes").c_str() : "",
               o.output.c_str());
  std::fprintf(stderr, "package it with: lwdock package build --model %s --spec SPEC.json --semantic SEM.json -o PKG.zip\n",
               o.output.c_str());
}

void run_predict(const PredictOptions& o) {
  const lwd::io::NumericTable table = lwd::io::read_numeric_csv(o.input);
  lwd::ModelConfig config;
  config.kind = o.kind;
  config.task = lwd::parse_task_type(o.task);
  config.input_dim = table.values.cols();
  config.output_dim = o.output_dim;
  const fs::path model_path = fs::absolute(o.model);
  config.file = model_path.filename();
  const auto model = lwd::load_learnware_model(config, model_path.parent_path());
  lwd::io::write_numeric_csv(o.output, model->predict(table.values.view()));
  std::fprintf(stderr, "predicted %lld rows -> %s\n", static_cast<long long>(table.values.rows()), o.output.c_str());
}

}  // namespace

void register_model_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* model = app.add_subcommand("model", "Train a model the dock can package, or run a model file on a CSV");
  model->require_subcommand(1);
  {
    auto o = std::make_shared<TrainOptions>();
    CLI::App* cmd = model->add_subcommand("train", "Fit a linear or XGBoost model on a labelled numeric CSV");
    cmd->add_option("--kind", o->kind, "Model kind")->capture_default_str()->check(CLI::IsMember({"linear", "xgboost"}));
    cmd->add_option("--task", o->task, "regression, or classification with labels 0..C-1")
        ->capture_default_str()
        ->check(CLI::IsMember({"regression", "classification"}));
    cmd->add_option("-i,--input", o->input, "Numeric CSV with the features and the target")->required();
    cmd->add_option("--target-column", o->target_column, "Target column, 0-based; negative counts from the end")
        ->capture_default_str();
    cmd->add_option("-o,--output", o->output, "Model JSON to write")->required();
    cmd->add_option("--alpha", o->alpha, "linear: L2 penalty (ridge alpha; logistic: alpha / n)")
        ->capture_default_str()
        ->check(lwdock::finite_number_above(0.0, false));
    cmd->add_option("--rounds", o->rounds, "xgboost: boosting rounds")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    cmd->add_option("--max-depth", o->max_depth, "xgboost: tree depth")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    cmd->add_option("--eta", o->eta, "xgboost: learning rate")
        ->capture_default_str()
        ->check(lwdock::finite_number_above(0.0, true));
    cmd->add_option("--seed", o->seed, "xgboost: seed")->capture_default_str()->check(lwdock::unsigned_integer());
    cmd->callback([o, &ctx] { run_train(*o, ctx); });
  }
  {
    auto o = std::make_shared<PredictOptions>();
    CLI::App* cmd = model->add_subcommand("predict", "Run a model file on a numeric CSV (no header needed)");
    cmd->add_option("--kind", o->kind, "Model kind")->required()->check(CLI::IsMember({"linear", "xgboost"}));
    cmd->add_option("--task", o->task, "Model task")
        ->capture_default_str()
        ->check(CLI::IsMember({"regression", "classification"}));
    cmd->add_option("--model", o->model, "Model JSON")->required();
    cmd->add_option("--output-dim", o->output_dim, "Output columns (classes for classification)")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    cmd->add_option("-i,--input", o->input, "Numeric CSV of features")->required();
    cmd->add_option("-o,--output", o->output, "Predictions CSV to write")->required();
    cmd->callback([o] { run_predict(*o); });
  }
}
