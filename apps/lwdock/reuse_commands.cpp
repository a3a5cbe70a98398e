// `lwdock reuse` and `lwdock evaluate`: deploy learnwares from a market on the
// user's data, and score predictions against the truth.
//
// --method is any reuse method of the registry (`lwdock methods list`: the
// engine's built-ins and the extensions of scenarios/extensions.cpp); the
// learnwares named are both its singles (top-1 takes the first) and its set.
//
// The methods that align features (align, align-augment, align-prune) take
// learnwares of another feature space: --data may then differ in width from
// the learnwares, and --user-semantic names the user's column descriptions
// (a semantic spec whose Input describes --data's columns; optional). Every
// other method needs --data as wide as the learnwares' input.
//
// Files (numeric CSV, header optional, as io/csv.h reads them):
//   --data X.csv        rows to predict, one column per feature;
//   --labeled XY.csv    labelled rows: the features, then the target in the
//                       last column (classification: class index 0..C-1);
//   -o predictions.csv  written atomically; regression: "prediction" (or
//                       prediction_0.. for several outputs); classification:
//                       "label", or with --scores one "score_<c>" column per class.
//   evaluate            --pred and --truth have the same rows; the value is
//                       printed alone on stdout.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/io/csv.h"
#include "engine/io/json_text.h"
#include "engine/kinds/spec_limits.h"
#include "engine/market/market.h"
#include "engine/reuse/method_registry.h"
#include "engine/reuse/metrics.h"

namespace {

using lwd::kernels::Matrix;

struct ReuseOptions {
  std::string market;
  std::string learnware_list;  // "ID[,ID...]", as given
  std::vector<std::string> learnwares;
  std::string method;
  std::string mode;
  std::string data;
  std::string labeled;
  std::string user_semantic;
  std::string output;
  std::uint64_t seed = 0;
  bool scores = false;
  lwdock::SandboxOptions sandbox;
  lwdock::DatabaseOptions db;
};

struct EvaluateOptions {
  std::string predictions;
  std::string truth;
  std::string metric;
};

// Splits the labelled file into features (all columns but the last) and targets.
void split_labeled(const Matrix<double>& table, const std::string& path, std::int64_t feature_count, Matrix<double>& x,
                   std::vector<double>& y) {
  if (table.cols() != feature_count + 1) {
    throw lwd::Error(path + ": expected " + std::to_string(feature_count + 1) + " columns (the " +
                     std::to_string(feature_count) + " features of --data, then the target), found " +
                     std::to_string(table.cols()));
  }
  x = Matrix<double>(table.rows(), feature_count);
  y.resize(static_cast<std::size_t>(table.rows()));
  for (std::int64_t i = 0; i < table.rows(); ++i) {
    std::copy(table.row(i), table.row(i) + feature_count, x.row(i));
    y[static_cast<std::size_t>(i)] = table(i, feature_count);
  }
}

// Classes of a classification target over regression learnwares: max label + 1, at least 2.
std::int64_t classes_in(const std::vector<double>& y) {
  double top = 1.0;
  for (double v : y)
    if (std::isfinite(v)) top = std::max(top, v);
  return static_cast<std::int64_t>(std::floor(top)) + 1;
}

std::vector<std::string> split_ids(const std::string& list) {
  std::vector<std::string> ids;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = list.find(',', start);
    ids.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return ids;
    start = comma + 1;
  }
}

// The user's column descriptions from --user-semantic FILE: its Input, which
// must describe every column of --data (`columns` of them).
lwd::FeatureSemantics user_columns(const std::string& path, std::int64_t columns) {
  const lwd::SpecLimits limits;
  const lwd::SemanticSpec semantic = lwd::SemanticSpec::parse(
      lwd::io::read_text_file_limited(path, limits.max_semantic_file_bytes, "a semantic specification"), path,
      limits.semantic_json());
  if (!semantic.input)
    throw lwd::Error(path + ": no Input (the descriptions of the columns of --data) in the semantic specification");
  if (semantic.input->dimension != columns)
    throw lwd::Error(path + ": Input describes " + std::to_string(semantic.input->dimension) + " column(s), --data has " +
                     std::to_string(columns));
  return *semantic.input;
}

// --method NAME as the registry knows it; an unknown name is a usage error
// listing the registered methods.
const lwd::ReuseMethodEntry& reuse_method(const std::string& name) {
  try {
    return lwdock::method_registry().reuse_method(name);
  } catch (const lwd::Error& e) {
    throw CLI::ValidationError("--method", e.what());
  }
}

void run_reuse(ReuseOptions& o, const lwd::kernels::Context& threads_ctx) {
  o.learnwares = split_ids(o.learnware_list);
  const lwd::SandboxLimits sandbox = o.sandbox.resolve();
  const lwd::ReuseMethodEntry& method = reuse_method(o.method);
  const bool needs_labels = method.needs_labels;
  if (needs_labels && o.labeled.empty()) {
    throw CLI::ValidationError("--labeled", "--method " + o.method + " needs labelled rows (--labeled XY.csv)");
  }
  if (!needs_labels && !o.labeled.empty()) {
    throw CLI::ValidationError("--labeled", "--method " + o.method + " uses no labelled rows; drop --labeled");
  }
  if (!method.aligns_features && !o.user_semantic.empty()) {
    throw CLI::ValidationError("--user-semantic", "--method " + o.method +
                                                      " does not align features; only the align methods read the "
                                                      "user's column descriptions");
  }
  if (!method.accepts_mode(o.mode)) {
    std::string modes;
    for (const std::string& m : method.modes) modes += (modes.empty() ? "" : ", ") + m;
    throw CLI::ValidationError("--mode", "'" + o.mode + "' is not a mode of --method " + o.method + " (" +
                                             (modes.empty() ? "it has none" : "its modes: " + modes) + ")");
  }
  if (o.learnwares.empty() ||
      std::any_of(o.learnwares.begin(), o.learnwares.end(), [](const std::string& id) { return id.empty(); })) {
    throw CLI::ValidationError("--learnwares", "give a comma-separated list of learnware ids without empty entries");
  }

  lwdock::check_output_path(o.output);
  const lwd::kernels::Context ctx{threads_ctx.n_threads, o.seed};
  const Matrix<double> x = lwd::io::read_numeric_csv(o.data).values;
  Matrix<double> labeled_x;
  std::vector<double> labeled_y;
  if (needs_labels) split_labeled(lwd::io::read_numeric_csv(o.labeled).values, o.labeled, x.cols(), labeled_x, labeled_y);
  std::optional<lwd::FeatureSemantics> columns;
  if (!o.user_semantic.empty()) columns = user_columns(o.user_semantic, x.cols());

  lwd::Market market = lwd::Market::open(o.market, ctx, {}, o.db.urls);
  market.sandbox_limits() = sandbox;
  const std::vector<lwd::Learnware> learnwares = lwd::load_learnwares(market, o.learnwares);
  if (!method.aligns_features) {
    for (const lwd::Learnware& lw : learnwares)
      if (lw.input_dim() != x.cols())
        throw lwd::Error(o.data + " has " + std::to_string(x.cols()) + " column(s) but learnware " + lw.id + " reads " +
                         std::to_string(lw.input_dim()) +
                         " (for learnwares of another feature space: --method align, align-augment or align-prune)");
  }
  const lwd::TaskType learnware_task = learnwares.front().task();
  const std::int64_t learnware_outputs = learnwares.front().output_dim();

  // The user's task decides the file's layout: a task mode names it (feature
  // augmentation may classify with regression learnwares), else it is the
  // learnwares' task.
  const bool task_mode = o.mode == "regression" || o.mode == "classification";
  const bool classification = task_mode ? o.mode == "classification" : learnware_task == lwd::TaskType::kClassification;
  // The named learnwares are both the singles (top-1: the first) and the set.
  lwd::ReuseInput in;
  in.single = learnwares;
  in.multiple = learnwares;
  in.x_test = x.view();
  in.x_labelled = labeled_x.view();
  in.y_labelled = labeled_y;
  in.task = classification ? lwd::TaskType::kClassification : lwd::TaskType::kRegression;
  if (classification && learnware_task == lwd::TaskType::kRegression) in.num_classes = classes_in(labeled_y);
  in.ctx = ctx;
  in.mode = o.mode;
  in.user_columns = columns ? &*columns : nullptr;
  std::string note;
  in.note = &note;
  const Matrix<double> predicted = method.predict(in);

  std::vector<std::string> header;
  Matrix<double> table;
  if (classification && !o.scores) {
    const std::vector<std::int64_t> labels = lwd::argmax_labels(predicted);
    table = Matrix<double>(predicted.rows(), 1);
    for (std::int64_t i = 0; i < predicted.rows(); ++i) table(i, 0) = static_cast<double>(labels[static_cast<std::size_t>(i)]);
    header = {"label"};
  } else {
    table = predicted;
    const std::string stem = classification ? "score_" : "prediction";
    if (!classification && predicted.cols() == 1) {
      header = {stem};
    } else {
      for (std::int64_t j = 0; j < predicted.cols(); ++j)
        header.push_back(stem + (classification ? "" : "_") + std::to_string(j));
    }
  }
  lwd::io::write_numeric_csv(o.output, table, header);

  const std::string detail = note.empty() ? "" : "; " + note;
  std::fprintf(stderr, "wrote %lld prediction(s) to %s (%s over %zu learnware(s)%s; %lld %s output(s))\n",
               static_cast<long long>(table.rows()), o.output.c_str(), o.method.c_str(), o.learnwares.size(),
               detail.c_str(), static_cast<long long>(learnware_outputs),
               std::string(lwd::to_string(learnware_task)).c_str());
}

void run_evaluate(const EvaluateOptions& o) {
  const lwd::Metric metric = lwd::parse_metric(o.metric);
  const Matrix<double> predictions = lwd::io::read_numeric_csv(o.predictions).values;
  const Matrix<double> truth = lwd::io::read_numeric_csv(o.truth).values;
  double value = 0.0;
  try {
    value = lwd::score_predictions(metric, predictions.view(), truth.view());
  } catch (const lwd::Error& e) {
    throw lwd::Error(o.predictions + " vs " + o.truth + ": " + e.what());
  }
  std::printf("%.10g\n", value);
}

}  // namespace

void register_reuse_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  {
    auto o = std::make_shared<ReuseOptions>();
    CLI::App* cmd = app.add_subcommand(
        "reuse", "Deploy learnwares from a market on your data (with or without a few labelled rows)");
    cmd->add_option("--market", o->market, "Market directory")->required();
    lwdock::add_database_options(cmd, o->db);
    cmd->add_option("--learnwares", o->learnware_list, "Learnware ids, comma-separated (ID[,ID...])")->required();
    cmd->add_option("--method", o->method, "How to reuse them: a registered reuse method (listed below)")
        ->required();
    cmd->add_option("--mode", o->mode,
                    "One of the method's modes (listed below; e.g. averaging: mean | vote_by_label | vote_by_prob; "
                    "ensemble-pruning, feature-augment: regression | classification; default: from the "
                    "learnwares' task)");
    cmd->add_option("--data", o->data, "CSV of the rows to predict")->required();
    cmd->add_option("--labeled", o->labeled,
                    "CSV of labelled rows: the features, then the target (the methods that need labels: "
                    "ensemble-pruning, feature-augment, ...)");
    cmd->add_option("--user-semantic", o->user_semantic,
                    "Semantic spec JSON whose Input describes the columns of --data (the align methods: it matches "
                    "your columns with the learnwares' by their descriptions)");
    cmd->add_option("-o,--output", o->output, "Predictions CSV to write")->required();
    cmd->add_option("--seed", o->seed, "Seed of herding, the job selector and the pruning search")
        ->capture_default_str()
        ->check(lwdock::unsigned_integer());
    cmd->add_flag("--scores", o->scores, "Classification: write one score column per class instead of the label");
    lwdock::add_sandbox_options(cmd, o->sandbox);
    cmd->footer(lwdock::reuse_methods_help());
    cmd->callback([o, &ctx] { run_reuse(*o, ctx); });
  }
  {
    auto o = std::make_shared<EvaluateOptions>();
    CLI::App* cmd = app.add_subcommand("evaluate", "Score predictions against the truth; prints the value");
    cmd->add_option("--pred", o->predictions,
                    "Predictions CSV (accuracy/error: one label column, or one score column per class)")
        ->required();
    cmd->add_option("--truth", o->truth, "Truth CSV (accuracy/error: one column of class indices)")->required();
    cmd->add_option("--metric", o->metric, "Score to compute")
        ->required()
        ->check(CLI::IsMember({"mse", "rmse", "accuracy", "error"}));
    cmd->callback([o] { run_evaluate(*o); });
  }
}
