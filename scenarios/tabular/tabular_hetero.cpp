#include "scenarios/tabular/tabular_hetero.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/hetero/spec_world.h"
#include "engine/market/market.h"
#include "engine/market/statistical_search.h"
#include "engine/reuse/feature_align.h"
#include "scenarios/common/user_study.h"
#include "scenarios/market/market_builder.h"
#include "scenarios/tabular/store_user.h"

namespace lwd::scenarios {
namespace {

namespace ds = lwd::datasets;

constexpr const char* kFeatureAugmentTop1 = "feature-augment-top1";

std::string scenario_name(HeteroVariant v) {
  return v == HeteroVariant::kFeatureEngineering ? "tabular-hetero-fe" : "tabular-hetero-task";
}

// The paper's heterogeneous table (PAPER_RESULTS.md: the reference's README
// calls them MSE; its example code computes RMSE).
std::map<std::string, double> published_fe() {
  return {{kMeanInMarket, 1.149}, {kBestInMarket, 1.038}, {kTop1Reuse, 1.075}, {kAverageEnsemble, 1.064}};
}

ds::ChainKind user_chain(HeteroVariant v) {
  return v == HeteroVariant::kFeatureEngineering ? ds::ChainKind::kPfs : ds::ChainKind::kM5;
}

// The users' query: every table regression learnware of the user's label
// space, whatever its features ("label=log1p_units" is in the description of
// exactly those learnwares; market_builder.h). Input: set per user.
SemanticSpec hetero_query(ds::LabelSpace label) {
  SemanticSpec q = tabular_user_query(ds::FeatureSpace::kFull, label);
  q.name = "label=" + std::string(ds::to_string(label));
  q.input.reset();
  return q;
}

// What the runner's registry holds: the world search (as the market's
// search), the label-free and labelled reuse methods of `methods` except the
// aligning ones (every learnware reaches reuse aligned already: StudyUser::adapt),
// and feature augmentation of the top single alone.
MethodRegistry hetero_registry(const MethodRegistry& methods, SearchMethodEntry world_search) {
  MethodRegistry registry;
  registry.add_search(std::move(world_search));
  for (const ReuseMethodEntry& m : methods.reuse_methods()) {
    if (m.aligns_features) continue;
    registry.add_reuse(m);
  }
  if (const ReuseMethodEntry* augment = methods.find_reuse(kFeatureAugment)) {
    registry.add_reuse({kFeatureAugmentTop1, "Feature Augmentation (Top-1)", true,
                        "feature augmentation with the top single learnware's predictions alone",
                        [predict = augment->predict](const ReuseInput& in) {
                          ReuseInput one = in;
                          one.multiple = in.single.first(1);
                          one.mixture_weights = {};
                          return predict(one);
                        }});
  }
  return registry;
}

}  // namespace

TabularHeteroConfig tabular_hetero_config(HeteroVariant variant, const ScenarioOptions& options) {
  const std::string name = scenario_name(variant);
  check_params(options,
               {"users", "pipelines", "world", "epochs", "grid", "repeats", "curve", "max_search_num", "simulator_seed"},
               name);
  TabularHeteroConfig config;
  config.variant = variant;
  if (variant == HeteroVariant::kFeatureEngineering) {
    config.users = options.quick ? 4 : 41;
    config.pipelines = {ds::UserFeatureSpace::kPosDaily};
    config.curve = false;
    config.n_grid = {100, 1000};
    config.repeats = {3, 1};
  } else {
    config.pipelines = ds::all_user_feature_spaces();
    config.users = options.quick ? 3 : 30;
    config.curve = true;
    config.n_grid = {10, 30, 50, 75, 100, 200, 500, 1000, 2000};
    config.repeats = {10, 10, 10, 10, 10, 5, 3, 3, 3};
    if (options.quick) {
      config.n_grid = {30, 500};
      config.repeats = {2, 1};
    }
  }
  if (options.quick) config.world_options.epochs = 2;
  const std::vector<std::string> pipelines = param_list(options, "pipelines");
  if (!pipelines.empty()) {
    config.pipelines.clear();
    for (const std::string& p : pipelines) config.pipelines.push_back(ds::parse_user_feature_space(p));
    if (variant == HeteroVariant::kTask && !options.params.count("users"))
      config.users = static_cast<int>(config.pipelines.size()) * (options.quick ? 1 : 10);
  }
  config.users = static_cast<int>(param_int(options, "users", config.users));
  if (config.users < 1) throw Error("parameter users: must be at least 1");
  config.world = param_string(options, "world", config.world);
  hetero::world_model_kind(config.world);  // an unknown kind names the kinds
  config.world_options.epochs =
      static_cast<int>(param_int(options, "epochs", config.world_options.epochs));
  config.world_options.validate();
  apply_curve_params(options, config.n_grid, config.repeats, config.curve);
  apply_store_search_params(options, config.max_search_num, config.simulator_seed);
  return config;
}

ScenarioResult run_tabular_hetero(const TabularHeteroConfig& config, const ScenarioOptions& options,
                                  const MethodRegistry& methods, const kernels::Context& ctx) {
  const std::string name = scenario_name(config.variant);
  if (config.pipelines.empty()) throw Error(name + ": no user feature pipeline");
  ScenarioResult result;
  result.title = config.variant == HeteroVariant::kFeatureEngineering
                     ? "tabular-hetero-fe: PFS-like users whose features no learnware uses"
                     : "tabular-hetero-task: a chain the market never saw, three feature engineerings";
  result.run = begin_run_info(name, options, ctx);
  PhaseTimer timer(result.run.phases);

  const std::uint64_t simulator_seed = config.simulator_seed != 0 ? config.simulator_seed : ds::kDefaultMarketSeed;
  const ds::ChainKind chain_kind = user_chain(config.variant);
  const ds::ChainConfig chain = ds::default_chain_config(chain_kind, simulator_seed);
  const int stores = config.variant == HeteroVariant::kFeatureEngineering
                         ? config.users
                         : std::min(chain.num_stores, (config.users + static_cast<int>(config.pipelines.size()) - 1) /
                                                          static_cast<int>(config.pipelines.size()));
  if (stores > chain.num_stores)
    throw Error(name + ": " + std::to_string(stores) + " stores asked for, but the " +
                std::string(ds::to_string(chain_kind)) + " chain has " + std::to_string(chain.num_stores));
  if (config.users > stores * static_cast<int>(config.pipelines.size()))
    throw Error(name + ": " + std::to_string(config.users) + " users asked for, but " + std::to_string(stores) +
                " stores x " + std::to_string(config.pipelines.size()) + " pipelines give fewer");

  timer.start("open market");
  const Market market = Market::open(options.market_dir, kernels::Context{1, options.seed}, {}, options.db);

  // This scenario's market: the task variant leaves the users' chain out.
  std::set<std::string> excluded;
  if (config.variant == HeteroVariant::kTask) {
    const std::string prefix = "retail-" + std::string(ds::to_string(chain_kind)) + "-";
    for (const LearnwareRecord& r : market.list(LearnwareStatus::usable))
      if (r.name.rfind(prefix, 0) == 0) excluded.insert(r.id);
  }

  // The specification world, trained on this scenario's market.
  timer.start("specification world");
  std::int64_t undescribed = 0;
  const std::vector<hetero::WorldTable> tables =
      hetero::described_tables(market, [&](const std::string& id) { return !excluded.count(id); }, &undescribed);
  if (tables.size() < 2)
    throw Error(name + ": the market at " + options.market_dir.string() + " has " + std::to_string(tables.size()) +
                " table learnwares with feature descriptions (" + std::to_string(undescribed) +
                " without): build it with `lwdock market build --tabular`");
  hetero::WorldTrainOptions world_options = config.world_options;
  world_options.seed = options.seed;
  if (!options.quiet) {
    world_options.progress = [&name](int epoch, int epochs, double loss) {
      std::fprintf(stderr, "%s: specification world epoch %d/%d, InfoNCE %.4f\n", name.c_str(), epoch, epochs, loss);
    };
  }
  hetero::WorldTrainReport world_report;
  const std::shared_ptr<const hetero::WorldModel> world =
      hetero::train_world_model(config.world, tables, world_options, ctx, &world_report);
  const auto pack = std::make_shared<const SpecPack>(hetero::map_tables(*world, tables, ctx));

  // The members the users' query allows: the system specs of their label space.
  const SemanticSpec query = hetero_query(config.label);
  SearchRequest semantic_only;
  semantic_only.semantic = query;
  auto members = std::make_shared<std::vector<std::int64_t>>();
  for (const std::string& id : market.search(semantic_only).semantic_ids) {
    if (excluded.count(id)) continue;
    if (const std::optional<std::int64_t> m = pack->find(id)) members->push_back(*m);
  }
  std::sort(members->begin(), members->end());
  if (members->empty()) throw Error(name + ": no table learnware of label " + std::string(ds::to_string(config.label)));

  SearchMethodEntry world_search{
      kMarketSearch, "World search",
      "the user's RKME mapped into the specification world with their feature descriptions, searched against the "
      "system specs (singles and greedy mixture)",
      [world, pack, members](const SearchInput& in) {
        const RKMETableSpec& user = in.query->spec.get<RKMETableSpec>();
        const std::optional<std::vector<std::string>> descriptions = hetero::column_descriptions(
            in.query->semantic ? in.query->semantic->input : std::nullopt, user.dim());
        if (!descriptions) throw Error("the user's features are not all described");
        SearchResponse response;
        response.semantic_matches = static_cast<std::int64_t>(members->size());
        response.stat = hetero::search_world(*world, *pack, user, *descriptions, *members, in.query->options, in.ctx);
        return search_output_of(std::move(response));
      }};
  const MethodRegistry registry = hetero_registry(methods, std::move(world_search));

  XGBoostTrainParams model_params = market_tabular_model_params();
  model_params.nthread = 1;
  const ds::SplitConfig split;
  const StoreCurveGrid capped = store_curve_grid(chain, config.n_grid, config.repeats, config.curve);
  const std::vector<std::int64_t>& grid = capped.n;
  const std::vector<std::int64_t>& repeats = capped.repeats;

  StudySetup setup;
  setup.scenario = name;
  setup.users = config.users;
  setup.semantic_query = query;
  setup.semantic_query.input = tabular_user_input(config.pipelines.front());
  setup.excluded_ids = excluded;
  setup.task = TaskType::kRegression;
  setup.metric = Metric::kMse;
  setup.metric_label = "MSE (" + std::string(ds::to_string(config.label)) + ")";
  setup.higher_is_better = false;
  if (config.variant == HeteroVariant::kFeatureEngineering) {
    setup.published = published_fe();
    setup.published_source =
        "Beimingwu paper, heterogeneous table, different feature engineering (41 PFS users; the reference's "
        "example computes RMSE)";
  }
  setup.table_key = "world " + config.world;
  setup.table_title = std::string("Specification world ") + config.world + ", label " +
                      std::string(ds::to_string(config.label));
  std::string pipeline_names;
  for (const ds::UserFeatureSpace p : config.pipelines)
    pipeline_names += (pipeline_names.empty() ? "" : ", ") + std::string(ds::to_string(p));
  setup.notes = {
      std::string(ds::to_string(chain_kind)) + " stores 0.." + std::to_string(stores - 1) + " as users, features " +
          pipeline_names + " (no market learnware reads them), each predicting its own last " +
          std::to_string(split.test_days) + " days.",
      "Every learnware used (Mean / Best in Market, the search's) is first aligned to the user's features "
      "(feature_align.h: a map fitted on the two RKMEs alone, no label).",
      "Search: the user's RKME mapped into the specification world (" + config.world + ", trained on " +
          std::to_string(tables.size()) + " table learnwares of this market), against the " +
          std::to_string(members->size()) + " system specs of label " + std::string(ds::to_string(config.label)) +
          "."};
  if (!excluded.empty())
    setup.notes.push_back("The " + std::to_string(excluded.size()) + " learnwares of the " +
                          std::string(ds::to_string(chain_kind)) +
                          " chain are left out of this scenario's market (world, search, Mean / Best).");
  setup.max_search_num = config.max_search_num;
  setup.curve = config.curve && !grid.empty();
  setup.n_grid = grid;
  setup.repeats = repeats;
  setup.user_model_label = "User model (self-trained XGBoost)";
  setup.curve_x_label = "labelled rows n of the user";

  const auto make_user = [&](int user, const kernels::Context& c) {
    const std::size_t pipeline_index = static_cast<std::size_t>(user / stores);
    const int store = user % stores;
    const ds::UserFeatureSpace pipeline = config.pipelines[pipeline_index];
    StudyUser out = store_study_user(
        ds::build_user_features(ds::simulate_store(chain, store), pipeline, config.label), model_params,
        std::string(ds::to_string(chain_kind)) + " store " + std::to_string(store) + " (" +
            std::string(ds::to_string(pipeline)) + ")",
        c);
    out.input = tabular_user_input(pipeline);
    // Each learnware is aligned once per user (Mean / Best in Market, then
    // again when the search returns it), always with the user's seed: the
    // map does not depend on the order learnwares come in.
    auto aligned = std::make_shared<std::map<std::string, Learnware>>();
    // The RKME alignment fits to: the user's rows, on standardised columns
    // (user_spec_for_alignment; the query's RKME is the market's construction).
    out.adapt = [aligned, user_spec = user_spec_for_alignment(out.x_test.view(), market_table_rkme_options(), c),
                 columns = out.input, seed = c.seed](const Learnware& lw) {
      const auto it = aligned->find(lw.id);
      if (it != aligned->end()) return it->second;
      Learnware a = align_learnware(lw, user_spec, columns, FeatureAlignOptions{}, kernels::Context{1, seed});
      aligned->emplace(lw.id, a);
      return a;
    };
    return out;
  };
  run_user_study(setup, make_user, market, options, registry, ctx, result, timer);

  timer.stop();
  result.run.total_seconds = timer.total_seconds();
  result.run.config["market_dir"] = options.market_dir.string();
  result.run.config["user_chain"] = std::string(ds::to_string(chain_kind));
  result.run.config["user_stores"] = stores;
  result.run.config["pipelines"] = pipeline_names;
  result.run.config["label"] = std::string(ds::to_string(config.label));
  result.run.config["world"] = {{"model", config.world},
                                {"dim", world->dim()},
                                {"epochs", world_options.epochs},
                                {"tables", world_report.tables},
                                {"points", world_report.points},
                                {"train_seconds", world_report.seconds},
                                {"epoch_loss", world_report.epoch_loss},
                                {"system_specs_searched", members->size()},
                                {"left_out", excluded.size()}};
  result.run.config["simulator_seed"] = simulator_seed;
  result.run.config["user_model"] = "XGBoost, the market's settings (market_tabular_model_params), 1 thread";
  result.run.config["alignment"] = "FeatureAlignOptions defaults (engine/reuse/feature_align.h)";
  return result;
}

void register_tabular_hetero_scenarios(ScenarioRegistry& registry) {
  const std::vector<std::pair<std::string, std::string>> params = {
      {"users", "number of users (fe: PFS stores, default 41, quick 4; task: stores x pipelines, default 30, quick 3)"},
      {"pipelines", "user feature pipelines, comma-separated (fe: pos_daily; task: pos_daily,pos_trend,pos_promo)"},
      {"world", "specification world model: desc-pool (default) | token-mlp"},
      {"epochs", "token-mlp training epochs (default 10; quick 2)"},
      {"grid", "labelled-set sizes n (task: 10,30,50,75,100,200,500,1000,2000; quick 30,500)"},
      {"repeats", "repeats per n, comma-separated or one value"},
      {"curve", "1 or 0 (fe: 0 by default, task: 1)"},
      {"max_search_num", "most learnwares in a mixture (default 5)"},
      {"simulator_seed", "retail simulator seed (default: the market builder's)"}};
  registry.add({"tabular-hetero-fe",
                "heterogeneous tabular: 41 PFS-like stores whose features no learnware uses search the specification "
                "world and reuse aligned learnwares (table)",
                params,
                [](const ScenarioOptions& options, const MethodRegistry& methods, const kernels::Context& ctx) {
                  return run_tabular_hetero(tabular_hetero_config(HeteroVariant::kFeatureEngineering, options),
                                            options, methods, ctx);
                }});
  registry.add({"tabular-hetero-task",
                "heterogeneous tabular: the M5-like chain, left out of the market, x 3 feature engineerings = 30 "
                "users (table + labelled-data curve from n = 10)",
                params,
                [](const ScenarioOptions& options, const MethodRegistry& methods, const kernels::Context& ctx) {
                  return run_tabular_hetero(tabular_hetero_config(HeteroVariant::kTask, options), options, methods,
                                            ctx);
                }});
}

}  // namespace lwd::scenarios
