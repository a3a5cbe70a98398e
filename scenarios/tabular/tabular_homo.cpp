#include "scenarios/tabular/tabular_homo.h"

#include <algorithm>
#include <map>
#include <string>

#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/reuse/baselines.h"
#include "scenarios/common/user_study.h"
#include "scenarios/tabular/store_user.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {
namespace {

namespace ds = lwd::datasets;

constexpr const char* kScenarioName = "tabular-homo";

// The paper's homogeneous table (PAPER_RESULTS.md), by row key.
std::map<std::string, double> published_mse() {
  return {{kMeanInMarket, 0.897}, {kBestInMarket, 0.756},    {kTop1Reuse, 0.830},
          {kJobSelector, 0.848},  {kAverageEnsemble, 0.816}};
}

std::string space_key(ds::FeatureSpace f, ds::LabelSpace l) {
  return std::string(ds::to_string(f)) + "/" + std::string(ds::to_string(l));
}

// PFS store `user` as a user of space (f, l): its test split to predict, its
// training split as the labelled pool, both through the market's pipeline.
StudyUser make_store_user(const ds::ChainConfig& chain, ds::FeatureSpace f, ds::LabelSpace l,
                          const XGBoostTrainParams& model_params, int user, const kernels::Context& ctx) {
  StudyUser out = store_study_user(ds::build_features(ds::simulate_store(chain, user), f, l), model_params,
                                   "PFS store " + std::to_string(user), ctx);
  out.own_learnware = tabular_learnware_name(ds::ChainKind::kPfs, user, f, l);
  return out;
}

}  // namespace

TabularHomoConfig tabular_homo_config(const ScenarioOptions& options) {
  check_params(options, {"users", "spaces", "grid", "repeats", "curve", "max_search_num", "simulator_seed"},
               kScenarioName);
  TabularHomoConfig config;
  if (options.quick) {
    config.users = 8;
    config.n_grid = {100, 1000, 5000};
    config.repeats = {3, 2, 1};
  }
  config.users = static_cast<int>(param_int(options, "users", config.users));
  if (config.users < 1) throw Error("parameter users: must be at least 1");
  const std::vector<std::string> spaces = param_list(options, "spaces");
  if (spaces.size() == 1 && spaces.front() == "all") {
    config.spaces.clear();
    config.spaces.push_back({ds::FeatureSpace::kFull, ds::LabelSpace::kLog1pUnits});
    for (ds::FeatureSpace f : ds::all_feature_spaces())
      for (ds::LabelSpace l : ds::all_label_spaces())
        if (!(f == ds::FeatureSpace::kFull && l == ds::LabelSpace::kLog1pUnits)) config.spaces.push_back({f, l});
  } else if (!spaces.empty() && !(spaces.size() == 1 && spaces.front() == "headline")) {
    config.spaces.clear();
    for (const std::string& item : spaces) {
      const auto slash = item.find('/');
      if (slash == std::string::npos)
        throw Error("parameter spaces: expected headline, all or FEATURES/LABEL items, got '" + item + "'");
      config.spaces.push_back(
          {ds::parse_feature_space(item.substr(0, slash)), ds::parse_label_space(item.substr(slash + 1))});
    }
  }
  apply_curve_params(options, config.n_grid, config.repeats, config.curve);
  apply_store_search_params(options, config.max_search_num, config.simulator_seed);
  return config;
}

ScenarioResult run_tabular_homo(const TabularHomoConfig& config, const ScenarioOptions& options,
                                const MethodRegistry& methods, const kernels::Context& ctx) {
  if (config.spaces.empty()) throw Error("tabular-homo: no feature/label space to run");
  if (methods.search_methods().empty()) throw Error("tabular-homo: no search method registered");
  ScenarioResult result;
  result.title = "tabular-homo: homogeneous sales forecasting (PFS-like users, whole market)";
  result.run = begin_run_info(kScenarioName, options, ctx);
  PhaseTimer timer(result.run.phases);

  // The users' chain, exactly as the market builder simulates it.
  const std::uint64_t simulator_seed = config.simulator_seed != 0 ? config.simulator_seed : ds::kDefaultMarketSeed;
  const ds::ChainConfig chain = ds::default_chain_config(ds::ChainKind::kPfs, simulator_seed);
  if (config.users > chain.num_stores)
    throw Error("tabular-homo: " + std::to_string(config.users) + " users asked for, but the PFS chain has " +
                std::to_string(chain.num_stores) + " stores");
  const ds::SplitConfig split;
  const StoreCurveGrid capped = store_curve_grid(chain, config.n_grid, config.repeats, config.curve);
  const std::int64_t train_rows = capped.train_rows;
  const std::vector<std::int64_t>& grid = capped.n;
  const std::vector<std::int64_t>& repeats = capped.repeats;
  XGBoostTrainParams model_params = market_tabular_model_params();
  model_params.nthread = 1;

  timer.start("open market");
  const Market market = Market::open(options.market_dir, kernels::Context{1, options.seed}, {}, options.db);
  nlohmann::json spaces = nlohmann::json::array();
  for (std::size_t sp = 0; sp < config.spaces.size(); ++sp) {
    // Named copies, not a structured binding: the lambda below captures them
    // (clang before 16 cannot capture a binding).
    const ds::FeatureSpace f = config.spaces[sp].first;
    const ds::LabelSpace l = config.spaces[sp].second;
    const std::string key = space_key(f, l);
    spaces.push_back(key);
    StudySetup setup;
    setup.scenario = kScenarioName;
    setup.users = config.users;
    setup.semantic_query = tabular_user_query(f, l);
    setup.task = TaskType::kRegression;
    setup.seed_path = {static_cast<std::uint64_t>(sp)};
    setup.metric = Metric::kMse;
    setup.metric_label = "MSE (" + std::string(ds::to_string(l)) + ")";
    setup.higher_is_better = false;
    setup.published = published_mse();
    setup.published_source = "Beimingwu paper, homogeneous tabular table (53 PFS users, LightGBM learnwares, MSE)";
    setup.table_key = key;
    setup.table_title = (sp == 0 ? "Headline: " : "") + std::string("features ") + std::string(ds::to_string(f)) +
                        ", label " + std::string(ds::to_string(l));
    setup.notes = {"PFS stores 0.." + std::to_string(config.users - 1) + " as users, each predicting its own last " +
                       std::to_string(split.test_days) + " days (rows no learnware saw).",
                   "The semantic filter returns the learnwares of this feature and label space, of every chain."};
    setup.own_learnware_noun = "store's learnware";
    setup.max_search_num = config.max_search_num;
    setup.curve = config.curve && sp == 0 && !grid.empty();
    setup.n_grid = grid;
    setup.repeats = repeats;
    setup.user_model_label = "User model (self-trained XGBoost)";
    setup.curve_x_label = "labelled rows n of the user";
    try {
      run_user_study(
          setup,
          [&](int user, const kernels::Context& c) { return make_store_user(chain, f, l, model_params, user, c); },
          market, options, methods, ctx, result, timer);
    } catch (const Error& e) {
      throw Error("space " + key + ": " + e.what());
    }
  }
  timer.stop();
  result.run.total_seconds = timer.total_seconds();
  result.run.config["market_dir"] = options.market_dir.string();
  result.run.config["user_stores"] = "pfs 0.." + std::to_string(config.users - 1);
  result.run.config["spaces"] = spaces;
  result.run.config["n_cap_train_rows"] = train_rows;
  result.run.config["simulator_seed"] = simulator_seed;
  result.run.config["user_model"] = "XGBoost, the market's settings (market_tabular_model_params), 1 thread";
  return result;
}

void register_tabular_scenarios(ScenarioRegistry& registry) {
  registry.add({kScenarioName,
                "homogeneous tabular: 53 PFS-like stores as users search the whole market (table + labelled-data curve)",
                {{"users", "number of PFS stores used as users (default 53; quick 8)"},
                 {"spaces", "headline (full/log1p_units, default) | all (ten tables) | F/L[,F/L...]"},
                 {"grid", "labelled-set sizes n, comma-separated (default 100,...,10000; quick 100,1000,5000)"},
                 {"repeats", "repeats per n, comma-separated or one value (default 10,10,10,3,...)"},
                 {"curve", "1 (default) or 0: skip the labelled-data curve"},
                 {"max_search_num", "most learnwares in a mixture (default 5)"},
                 {"simulator_seed", "retail simulator seed (default: the market builder's)"}},
                [](const ScenarioOptions& options, const MethodRegistry& methods, const kernels::Context& ctx) {
                  return run_tabular_homo(tabular_homo_config(options), options, methods, ctx);
                }});
}

}  // namespace lwd::scenarios
