// `lwdock dataset retail ...`: the seeded retail-sales simulator from the
// command line. `info` lists chains and feature spaces (the market's and the
// users'), `export` writes one store's features in either kind of space (and
// optionally labels) as CSV for `lwdock spec generate`,
// `transfer-table` runs the store-to-store transfer experiment and prints (or
// writes) the Markdown tables of datasets/README.md.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "datasets/retail/transfer.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/csv.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;

std::vector<std::string> chain_names() {
  std::vector<std::string> names;
  for (ds::ChainKind k : ds::all_chain_kinds()) names.emplace_back(ds::to_string(k));
  return names;
}

std::vector<std::string> feature_space_names() {
  std::vector<std::string> names;
  for (ds::FeatureSpace s : ds::all_feature_spaces()) names.emplace_back(ds::to_string(s));
  return names;
}

// The market's spaces, then the users' (export takes either).
std::vector<std::string> market_and_user_space_names() {
  std::vector<std::string> names = feature_space_names();
  for (ds::UserFeatureSpace s : ds::all_user_feature_spaces()) names.emplace_back(ds::to_string(s));
  return names;
}

bool is_user_space(const std::string& name) {
  for (ds::UserFeatureSpace s : ds::all_user_feature_spaces())
    if (name == ds::to_string(s)) return true;
  return false;
}

std::vector<std::string> label_space_names() {
  std::vector<std::string> names;
  for (ds::LabelSpace s : ds::all_label_spaces()) names.emplace_back(ds::to_string(s));
  return names;
}


struct InfoOptions {
  std::uint64_t seed = ds::kDefaultMarketSeed;
};

struct ExportOptions {
  std::string chain = "pfs";
  int store = 0;
  std::string space = "full";
  std::string label = "units";
  std::string split = "train";
  int test_days = ds::SplitConfig{}.test_days;
  std::uint64_t seed = ds::kDefaultMarketSeed;
  std::string output;
  std::string labels_output;
};

struct TransferOptions {
  std::string output;
  int stores_per_chain = 4;
  std::vector<std::string> spaces;
  std::vector<std::string> labels;
  std::uint64_t seed = ds::kDefaultMarketSeed;
  int rounds = ds::default_transfer_model_params().num_rounds;
};

void run_info(const InfoOptions& o) {
  std::printf("chains (seed %llu):\n", static_cast<unsigned long long>(o.seed));
  std::printf("  %-12s %6s %6s %6s  %-10s  %s\n", "chain", "stores", "items", "days", "start", "categories");
  for (const ds::ChainConfig& c : ds::default_market_config(o.seed)) {
    std::string categories;
    for (const ds::CategoryConfig& k : c.categories) categories += (categories.empty() ? "" : ",") + k.name;
    char start[16];
    std::snprintf(start, sizeof start, "%04d-%02u-%02u", static_cast<int>(c.start_date.year()),
                  static_cast<unsigned>(c.start_date.month()), static_cast<unsigned>(c.start_date.day()));
    std::printf("  %-12s %6d %6d %6d  %-10s  %s\n", std::string(ds::to_string(c.kind)).c_str(), c.num_stores,
                c.num_items, c.num_days, start, categories.c_str());
  }
  std::printf("feature spaces (rows: (day, item) from day %d; test split: the last %d days):\n", ds::kHistoryDays,
              ds::SplitConfig{}.test_days);
  const auto print_space = [](auto space) {
    std::string columns;
    for (const std::string& c : ds::feature_columns(space)) columns += (columns.empty() ? "" : ",") + c;
    std::printf("  %-14s %3lld  %s\n", std::string(ds::to_string(space)).c_str(),
                static_cast<long long>(ds::feature_width(space)), columns.c_str());
  };
  for (ds::FeatureSpace s : ds::all_feature_spaces()) print_space(s);
  std::printf("user feature spaces (no market learnware uses them; the same rows):\n");
  for (ds::UserFeatureSpace s : ds::all_user_feature_spaces()) print_space(s);
  std::printf("label spaces: units, log1p_units\n");
}

void run_export(const ExportOptions& o) {
  lwdock::check_output_path(o.output);
  if (!o.labels_output.empty()) lwdock::check_output_path(o.labels_output);
  const ds::ChainConfig config = ds::default_chain_config(ds::parse_chain_kind(o.chain), o.seed);
  const auto start = std::chrono::steady_clock::now();
  const ds::StoreSales store = ds::simulate_store(config, o.store);
  const ds::LabelSpace label = ds::parse_label_space(o.label);
  const ds::SplitConfig split{.test_days = o.test_days};
  const ds::StoreDataset data =
      is_user_space(o.space)
          ? ds::build_user_features(store, ds::parse_user_feature_space(o.space), label, split)
          : ds::build_features(store, ds::parse_feature_space(o.space), label, split);
  const bool train = o.split == "train";
  const lwd::kernels::Matrix<double>& x = train ? data.x_train : data.x_test;
  const std::vector<double>& y = train ? data.y_train : data.y_test;
  lwd::io::write_numeric_csv(o.output, x, data.column_names);
  if (!o.labels_output.empty())
    lwd::io::write_numeric_csv(o.labels_output,
                               lwd::kernels::Matrix<double>(static_cast<std::int64_t>(y.size()), 1, y),
                               {data.label_name});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "lwdock: %s, %s split, space %s: %lld rows x %lld columns -> %s%s%s (%.3f s)\n",
               store.store_id.c_str(), o.split.c_str(), o.space.c_str(), static_cast<long long>(x.rows()),
               static_cast<long long>(x.cols()), o.output.c_str(), o.labels_output.empty() ? "" : ", labels -> ",
               o.labels_output.c_str(), seconds);
}

void run_transfer(const TransferOptions& o, const lwd::kernels::Context& ctx) {
  if (!o.output.empty()) lwdock::check_output_path(o.output);
  ds::TransferOptions options;
  options.chains = ds::default_market_config(o.seed);
  options.stores_per_chain = o.stores_per_chain;
  if (!o.spaces.empty()) {
    options.feature_spaces.clear();
    for (const std::string& s : o.spaces) options.feature_spaces.push_back(ds::parse_feature_space(s));
  }
  if (!o.labels.empty()) {
    options.label_spaces.clear();
    for (const std::string& s : o.labels) options.label_spaces.push_back(ds::parse_label_space(s));
  }
  options.model_params.num_rounds = o.rounds;
  const auto start = std::chrono::steady_clock::now();
  const ds::TransferResult result = ds::run_transfer_experiment(options, ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string markdown = ds::transfer_table_markdown(result, options);
  if (o.output.empty()) {
    std::fputs(markdown.c_str(), stdout);
  } else {
    lwd::io::write_text_file_atomically(o.output, markdown);
  }
  std::fprintf(stderr, "lwdock: transfer experiment: %zu stores x %zu feature spaces x %zu label spaces, %.1f s with %d threads%s%s\n",
               result.store_ids.size(), options.feature_spaces.size(), options.label_spaces.size(), seconds,
               ctx.threads(), o.output.empty() ? "" : " -> ", o.output.c_str());
}

}  // namespace

void register_dataset_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* dataset = app.add_subcommand("dataset", "Data sources of the experiments");
  dataset->require_subcommand(1);
  CLI::App* retail = dataset->add_subcommand(
      "retail",
      "The seeded retail-sales simulator: 3 chains (pfs, m5, corporacion), 5 market and 3 user feature spaces, "
      "2 label spaces");
  retail->require_subcommand(1);

  {
    auto o = std::make_shared<InfoOptions>();
    CLI::App* cmd = retail->add_subcommand("info", "List the chains' defaults and the feature spaces' columns");
    cmd->add_option("--seed", o->seed, "Market seed")->capture_default_str()->check(lwdock::unsigned_integer());
    cmd->callback([o] { run_info(*o); });
  }
  {
    auto o = std::make_shared<ExportOptions>();
    CLI::App* cmd = retail->add_subcommand("export", "Write one store's features (and labels) as CSV with a header");
    cmd->add_option("--chain", o->chain, "Chain")->capture_default_str()->check(CLI::IsMember(chain_names()));
    cmd->add_option("--store", o->store, "Store index within the chain (pfs 0-59, m5 0-9, corporacion 0-53)")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(0));
    cmd->add_option("--space", o->space,
                    "Feature space: one of the market's five, or a user's (pos_daily, pos_trend, pos_promo: "
                    "the same rows, columns no market learnware uses)")
        ->capture_default_str()
        ->check(CLI::IsMember(market_and_user_space_names()));
    cmd->add_option("--label", o->label, "Label space (for --labels-out)")
        ->capture_default_str()
        ->check(CLI::IsMember(label_space_names()));
    cmd->add_option("--split", o->split, "Time split")->capture_default_str()->check(CLI::IsMember({"train", "test"}));
    cmd->add_option("--test-days", o->test_days, "Days at the end that form the test split")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    cmd->add_option("--seed", o->seed, "Market seed")->capture_default_str()->check(lwdock::unsigned_integer());
    cmd->add_option("-o,--output", o->output, "Feature CSV to write")->required();
    cmd->add_option("--labels-out", o->labels_output, "Also write the labels, one column, to this CSV");
    cmd->callback([o] { run_export(*o); });
  }
  {
    auto o = std::make_shared<TransferOptions>();
    CLI::App* cmd = retail->add_subcommand(
        "transfer-table",
        "Train a model per store, evaluate it on every store; print Markdown tables of MSE for same- vs other-chain pairs");
    cmd->add_option("--out", o->output, "Markdown file to write (default: standard output)");
    cmd->add_option("--stores-per-chain", o->stores_per_chain, "The first N stores of each chain take part")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(2));
    cmd->add_option("--space", o->spaces, "Feature space(s) (default: all five)")
        ->check(CLI::IsMember(feature_space_names()));
    cmd->add_option("--label", o->labels, "Label space(s) (default: both)")->check(CLI::IsMember(label_space_names()));
    cmd->add_option("--seed", o->seed, "Market seed")->capture_default_str()->check(lwdock::unsigned_integer());
    cmd->add_option("--rounds", o->rounds, "Boosting rounds per model")
        ->capture_default_str()
        ->check(lwdock::integer_at_least(1));
    cmd->callback([o, &ctx] { run_transfer(*o, ctx); });
  }
}
