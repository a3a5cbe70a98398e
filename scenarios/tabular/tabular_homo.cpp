#include "scenarios/tabular/tabular_homo.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/reuse/baselines.h"
#include "engine/reuse/metrics.h"
#include "kernels/parallel.h"
#include "kernels/random.h"
#include "scenarios/common/progress.h"
#include "scenarios/common/user_study.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {
namespace {

namespace ds = lwd::datasets;
using kernels::Matrix;

constexpr const char* kScenarioName = "tabular-homo";

// The paper's homogeneous table (PAPER_RESULTS.md), by row key.
const std::map<std::string, double>& published_mse() {
  static const std::map<std::string, double> values = {
      {kMeanInMarket, 0.897}, {kBestInMarket, 0.756},    {kTop1Reuse, 0.830},
      {kJobSelector, 0.848},  {kAverageEnsemble, 0.816},
  };
  return values;
}

std::string space_key(ds::FeatureSpace f, ds::LabelSpace l) {
  return std::string(ds::to_string(f)) + "/" + std::string(ds::to_string(l));
}

// Everything one user contributes in one space.
struct UserSpaceResult {
  std::string error;  // non-empty: the user is left out of this space's table
  double mean_in_market = kNaN;
  double best_in_market = kNaN;
  bool best_is_own_store = false;
  std::int64_t semantic_matches = 0;
  // Per search method.
  std::vector<std::vector<double>> label_free;  // [search][label-free method] loss
  std::vector<int> mixture_size;                // 0: no mixture
  std::vector<int> top1_is_own_store;
  std::vector<std::string> method_errors;
  // Curve (headline space only): [grid][repeat], [search][labelled method][grid][repeat].
  std::vector<std::vector<double>> user_model;
  std::vector<std::vector<std::vector<std::vector<double>>>> labelled;
};

struct RunPlan {
  const TabularHomoConfig* config = nullptr;
  const ScenarioOptions* options = nullptr;
  const Market* market = nullptr;
  LearnwareCache* cache = nullptr;
  std::vector<const SearchMethodEntry*> searches;
  std::vector<const ReuseMethodEntry*> label_free;
  std::vector<const ReuseMethodEntry*> labelled;
  std::vector<std::int64_t> grid;     // capped at the training rows
  std::vector<std::int64_t> repeats;
  XGBoostTrainParams user_model_params;
};

Matrix<double> column(const std::vector<double>& values) {
  return Matrix<double>(static_cast<std::int64_t>(values.size()), 1, values);
}

double mse_of(const Matrix<double>& predictions, const Matrix<double>& truth) {
  return score_predictions(Metric::kMse, predictions.view(), truth.view());
}

UserSpaceResult run_user_space(const RunPlan& plan, const ds::StoreSales& store, int user, int space_index) {
  const TabularHomoConfig& config = *plan.config;
  const std::uint64_t seed = plan.options->seed;
  const auto [feature, label] = config.spaces[static_cast<std::size_t>(space_index)];
  const bool with_curve = config.curve && space_index == 0;
  const auto u = static_cast<std::uint64_t>(user);
  const auto s = static_cast<std::uint64_t>(space_index);

  UserSpaceResult out;
  const ds::StoreDataset data = ds::build_features(store, feature, label);
  const Matrix<double> truth = column(data.y_test);
  const std::string own_name = tabular_learnware_name(ds::ChainKind::kPfs, user, feature, label);
  auto is_own = [&](const Learnware& lw) { return lw.semantic && lw.semantic->name == own_name; };

  // 1. The user's RKME, of the rows they want predicted.
  const kernels::Context spec_ctx{1, derive_seed(seed, {u, s, 1})};
  const RKMETableSpec user_spec = RKMETableSpec::generate(spec_ctx, data.x_test, market_table_rkme_options());
  SearchRequest query;
  query.stat = user_spec;
  query.semantic = tabular_user_query(feature, label);
  query.options.max_search_num = config.max_search_num;

  // 3. Mean / Best in Market over what the semantic filter returns.
  SearchRequest semantic_only;
  semantic_only.semantic = query.semantic;
  const std::vector<std::string> matches = plan.market->search(semantic_only).semantic_ids;
  out.semantic_matches = static_cast<std::int64_t>(matches.size());
  if (matches.empty()) {
    out.error = "the semantic filter returned no learnware for " + space_key(feature, label);
    return out;
  }
  // Users start at different learnwares (models predict one call at a time,
  // so parallel users queueing on the same model would wait); the losses are
  // summed in match order whatever the start.
  std::vector<double> losses(matches.size(), kNaN);
  std::vector<char> own(matches.size(), 0);
  for (std::size_t k = 0; k < matches.size(); ++k) {
    const std::size_t i = (k + static_cast<std::size_t>(user)) % matches.size();
    const Learnware lw = plan.cache->get(matches[i]);
    losses[i] = mse_of(lw.predict(data.x_test.view()), truth);
    own[i] = is_own(lw) ? 1 : 0;
  }
  double total = 0.0;
  for (std::size_t i = 0; i < matches.size(); ++i) {
    total += losses[i];
    if (!(losses[i] >= out.best_in_market)) {  // also replaces the initial NaN
      out.best_in_market = losses[i];
      out.best_is_own_store = own[i] != 0;
    }
  }
  out.mean_in_market = total / static_cast<double>(matches.size());

  // Labelled draws for the curve, shared by the user model and every method.
  struct Draw {
    Matrix<double> x;
    std::vector<double> y;
  };
  std::vector<std::vector<Draw>> draws;
  if (with_curve) {
    out.user_model.resize(plan.grid.size());
    draws.resize(plan.grid.size());
    for (std::size_t g = 0; g < plan.grid.size(); ++g) {
      const std::int64_t n = plan.grid[g];
      for (std::int64_t r = 0; r < plan.repeats[g]; ++r) {
        const std::vector<std::int64_t> rows =
            sample_rows(data.x_train.rows(), n, derive_seed(seed, {u, s, 4, static_cast<std::uint64_t>(n),
                                                                   static_cast<std::uint64_t>(r)}));
        Draw d{Matrix<double>(static_cast<std::int64_t>(rows.size()), data.x_train.cols()), {}};
        for (std::size_t i = 0; i < rows.size(); ++i) {
          std::copy_n(data.x_train.row(rows[i]), data.x_train.cols(), d.x.row(static_cast<std::int64_t>(i)));
          d.y.push_back(data.y_train[static_cast<std::size_t>(rows[i])]);
        }
        // The self-trained baseline: the market's model settings on n rows.
        const kernels::Context model_ctx{1, derive_seed(seed, {u, s, 5, static_cast<std::uint64_t>(n),
                                                               static_cast<std::uint64_t>(r)})};
        UserModelBaseline model(TaskType::kRegression, 0, model_ctx, plan.user_model_params);
        model.fit(d.x.view(), d.y);
        out.user_model[g].push_back(mse_of(model.predict(data.x_test.view()), truth));
        draws[g].push_back(std::move(d));
      }
    }
  }

  // 2 and 4. Every search method, then every reuse method on what it found.
  for (std::size_t si = 0; si < plan.searches.size(); ++si) {
    const SearchMethodEntry& search = *plan.searches[si];
    std::vector<double> losses(plan.label_free.size(), kNaN);
    std::vector<std::vector<std::vector<double>>> labelled(plan.labelled.size());
    for (auto& per_method : labelled) {
      per_method.resize(plan.grid.size());
      for (std::size_t g = 0; g < plan.grid.size() && with_curve; ++g)
        per_method[g].assign(static_cast<std::size_t>(plan.repeats[g]), kNaN);
    }
    int mixture_size = 0, top1_own = 0;
    try {
      SearchInput in;
      in.market = plan.market;
      in.query = &query;
      in.ctx = kernels::Context{1, derive_seed(seed, {u, s, 2, si})};
      const SearchOutput found_ids = search.search(in);
      const FoundLearnwares found = resolve_search_output(
          found_ids, [&](const std::string& id) { return plan.cache->get(id); },
          static_cast<std::size_t>(config.max_search_num));
      mixture_size = found.has_mixture ? static_cast<int>(found.multiple.size()) : 0;
      top1_own = is_own(found.single.front()) ? 1 : 0;

      auto base_input = [&](std::uint64_t method_seed) {
        ReuseInput ri;
        ri.single = found.single;
        ri.multiple = found.multiple;
        ri.mixture_weights = found.mixture_weights;
        ri.x_test = data.x_test.view();
        ri.task = TaskType::kRegression;
        ri.ctx = kernels::Context{1, method_seed};
        return ri;
      };
      for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
        const ReuseMethodEntry& method = *plan.label_free[m];
        try {
          const ReuseInput ri = base_input(derive_seed(seed, {u, s, 3, si, m}));
          losses[m] = mse_of(method.predict(ri), truth);
        } catch (const std::exception& e) {
          out.method_errors.push_back(search.key + "/" + method.key + ": " + e.what());
        }
      }
      for (std::size_t m = 0; m < plan.labelled.size() && with_curve; ++m) {
        const ReuseMethodEntry& method = *plan.labelled[m];
        try {
          for (std::size_t g = 0; g < plan.grid.size(); ++g) {
            for (std::size_t r = 0; r < draws[g].size(); ++r) {
              ReuseInput ri = base_input(
                  derive_seed(seed, {u, s, 6, si, m, static_cast<std::uint64_t>(plan.grid[g]), r}));
              ri.x_labelled = draws[g][r].x.view();
              ri.y_labelled = draws[g][r].y;
              labelled[m][g][r] = mse_of(method.predict(ri), truth);
            }
          }
        } catch (const std::exception& e) {
          out.method_errors.push_back(search.key + "/" + method.key + ": " + e.what());
        }
      }
    } catch (const std::exception& e) {
      out.method_errors.push_back(search.key + ": " + e.what());
    }
    out.label_free.push_back(std::move(losses));
    out.labelled.push_back(std::move(labelled));
    out.mixture_size.push_back(mixture_size);
    out.top1_is_own_store.push_back(top1_own);
  }
  return out;
}

// Row key and label of (search, method): the default search keeps the plain
// names (and the published figures); others are marked.
std::string row_key(const RunPlan& plan, std::size_t search, const ReuseMethodEntry& method) {
  return search == 0 ? method.key : method.key + "@" + plan.searches[search]->key;
}
std::string row_label(const RunPlan& plan, std::size_t search, const ReuseMethodEntry& method) {
  return search == 0 ? method.label : method.label + " [search: " + plan.searches[search]->label + "]";
}

bool is_builtin_reuse(const std::string& key) {
  for (const char* k : {kTop1Reuse, kJobSelector, kAverageEnsemble, kEnsemblePruning, kFeatureAugment})
    if (key == k) return true;
  return false;
}

std::string percent_of(int count, int total) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d", count, total);
  return buf;
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
  config.max_search_num = static_cast<int>(param_int(options, "max_search_num", config.max_search_num));
  if (config.max_search_num < 1) throw Error("parameter max_search_num: must be at least 1");
  config.simulator_seed =
      static_cast<std::uint64_t>(param_int(options, "simulator_seed", static_cast<std::int64_t>(config.simulator_seed)));
  return config;
}

ScenarioResult run_tabular_homo(const TabularHomoConfig& config, const ScenarioOptions& options,
                                const MethodRegistry& methods, const kernels::Context& ctx) {
  if (config.spaces.empty()) throw Error("tabular-homo: no feature/label space to run");
  if (methods.search_methods().empty()) throw Error("tabular-homo: no search method registered");
  ScenarioResult result;
  result.title = "tabular-homo: homogeneous sales forecasting (PFS-like users, whole market)";
  result.run = begin_run_info(kScenarioName, options, ctx);
  RunInfo& run = result.run;
  PhaseTimer timer(run.phases);

  // The users' chain, exactly as the market builder simulates it.
  const std::uint64_t simulator_seed = config.simulator_seed != 0 ? config.simulator_seed : ds::kDefaultMarketSeed;
  const ds::ChainConfig chain = ds::default_chain_config(ds::ChainKind::kPfs, simulator_seed);
  if (config.users > chain.num_stores)
    throw Error("tabular-homo: " + std::to_string(config.users) + " users asked for, but the PFS chain has " +
                std::to_string(chain.num_stores) + " stores");
  const ds::SplitConfig split;
  const std::int64_t train_rows =
      static_cast<std::int64_t>(chain.num_days - ds::kHistoryDays - split.test_days) * chain.num_items;

  RunPlan plan;
  plan.config = &config;
  plan.options = &options;
  for (const SearchMethodEntry& s : methods.search_methods()) plan.searches.push_back(&s);
  for (const ReuseMethodEntry& m : methods.reuse_methods())
    (m.needs_labels ? plan.labelled : plan.label_free).push_back(&m);
  // The grid, capped at the rows a user has (a capped point that repeats a
  // smaller one is dropped).
  for (std::size_t g = 0; g < config.n_grid.size() && config.curve; ++g) {
    const std::int64_t n = std::min(config.n_grid[g], train_rows);
    if (std::find(plan.grid.begin(), plan.grid.end(), n) != plan.grid.end()) continue;
    plan.grid.push_back(n);
    plan.repeats.push_back(config.repeats[g]);
  }
  plan.user_model_params = market_tabular_model_params();
  plan.user_model_params.nthread = 1;

  timer.start("open market");
  Market market = Market::open(options.market_dir, kernels::Context{1, options.seed});
  plan.market = &market;
  LearnwareCache cache(market);
  plan.cache = &cache;

  // Load every learnware the users' semantic queries can return, once.
  timer.start("load learnwares");
  std::vector<std::string> to_load;
  std::vector<std::int64_t> matches_per_space;
  for (const auto& [f, l] : config.spaces) {
    SearchRequest request;
    request.semantic = tabular_user_query(f, l);
    const std::vector<std::string> ids = market.search(request).semantic_ids;
    matches_per_space.push_back(static_cast<std::int64_t>(ids.size()));
    if (ids.empty())
      throw Error("tabular-homo: the market at " + options.market_dir.string() + " has no usable learnware of " +
                  space_key(f, l) + " (build it with `lwdock market build`)");
    to_load.insert(to_load.end(), ids.begin(), ids.end());
  }
  {
    ProgressBar bar("tabular-homo: loading learnwares", static_cast<std::int64_t>(to_load.size()), options.quiet);
    for (const std::string& id : to_load) {
      cache.get(id);
      bar.advance();
    }
  }

  // Users in parallel; each (user, space) single-threaded with derived seeds.
  timer.start(config.curve ? "users (tables and curve)" : "users (tables)");
  const int n_spaces = static_cast<int>(config.spaces.size());
  std::vector<std::vector<UserSpaceResult>> per_user(static_cast<std::size_t>(config.users));
  {
    ProgressBar bar("tabular-homo: users x spaces", static_cast<std::int64_t>(config.users) * n_spaces, options.quiet);
    kernels::parallel_for(ctx, 0, config.users, [&](std::int64_t user) {
      const ds::StoreSales store = ds::simulate_store(chain, static_cast<int>(user));
      auto& results = per_user[static_cast<std::size_t>(user)];
      for (int sp = 0; sp < n_spaces; ++sp) {
        try {
          results.push_back(run_user_space(plan, store, static_cast<int>(user), sp));
        } catch (const std::exception& e) {
          UserSpaceResult failed;
          failed.error = e.what();
          results.push_back(std::move(failed));
        }
        bar.advance();
      }
    });
  }

  // Aggregate in user order.
  timer.start("aggregate");
  const std::map<std::string, double>& published = published_mse();
  for (int sp = 0; sp < n_spaces; ++sp) {
    const auto [f, l] = config.spaces[static_cast<std::size_t>(sp)];
    ResultTable table;
    table.key = space_key(f, l);
    table.title = (sp == 0 ? "Headline: " : "") + std::string("features ") + std::string(ds::to_string(f)) +
                  ", label " + std::string(ds::to_string(l));
    table.metric = "MSE (" + std::string(ds::to_string(l)) + ")";
    table.higher_is_better = false;
    table.published_source = "Beimingwu paper, homogeneous tabular table (53 PFS users, LightGBM learnwares, MSE)";

    std::vector<double> mean_in, best_in;
    std::vector<std::vector<std::vector<double>>> lf(plan.searches.size(),
                                                     std::vector<std::vector<double>>(plan.label_free.size()));
    int used = 0, best_own = 0;
    std::vector<int> with_mixture(plan.searches.size(), 0), mixture_members(plan.searches.size(), 0),
        top1_own(plan.searches.size(), 0);
    for (int user = 0; user < config.users; ++user) {
      const UserSpaceResult& r = per_user[static_cast<std::size_t>(user)][static_cast<std::size_t>(sp)];
      if (!r.error.empty()) {
        result.warnings.push_back("user " + std::to_string(user) + " (" + table.key + ") left out: " + r.error);
        continue;
      }
      for (const std::string& e : r.method_errors)
        result.warnings.push_back("user " + std::to_string(user) + " (" + table.key + "): " + e);
      ++used;
      mean_in.push_back(r.mean_in_market);
      best_in.push_back(r.best_in_market);
      best_own += r.best_is_own_store ? 1 : 0;
      for (std::size_t si = 0; si < plan.searches.size(); ++si) {
        for (std::size_t m = 0; m < plan.label_free.size(); ++m) lf[si][m].push_back(r.label_free[si][m]);
        with_mixture[si] += r.mixture_size[si] > 0 ? 1 : 0;
        mixture_members[si] += r.mixture_size[si];
        top1_own[si] += r.top1_is_own_store[si];
      }
    }
    table.rows.push_back({kMeanInMarket, "Mean in Market (Single)", published.at(kMeanInMarket), mean_std(mean_in),
                          "over the semantic filter's learnwares"});
    table.rows.push_back({kBestInMarket, "Best in Market (Single)", published.at(kBestInMarket), mean_std(best_in),
                          "oracle: best of them on the user's test rows"});
    for (std::size_t si = 0; si < plan.searches.size(); ++si) {
      for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
        const ReuseMethodEntry& method = *plan.label_free[m];
        ResultRow row;
        row.key = row_key(plan, si, method);
        row.label = row_label(plan, si, method);
        const auto pub = published.find(method.key);
        if (si == 0 && plan.searches[si]->key == kMarketSearch && pub != published.end()) row.published = pub->second;
        row.ours = mean_std(lf[si][m]);
        row.note = is_builtin_reuse(method.key) ? "" : "extension method";
        if (si > 0) row.note += (row.note.empty() ? "" : "; ") + std::string("search method ") + plan.searches[si]->key;
        table.rows.push_back(std::move(row));
      }
    }
    table.notes.push_back(std::to_string(used) + " users: PFS stores 0.." + std::to_string(config.users - 1) +
                          ", each predicting its own last " + std::to_string(split.test_days) +
                          " days (rows no learnware saw).");
    table.notes.push_back("Semantic filter: " + std::to_string(matches_per_space[static_cast<std::size_t>(sp)]) +
                          " learnwares of this feature and label space (every chain); the statistical search runs over them.");
    for (std::size_t si = 0; si < plan.searches.size(); ++si) {
      const std::string who = plan.searches.size() > 1 ? "Search " + plan.searches[si]->key + ": " : "";
      char buf[160];
      std::snprintf(buf, sizeof buf, "%.2f", with_mixture[si] > 0 ? static_cast<double>(mixture_members[si]) /
                                                                         with_mixture[si]
                                                                   : 0.0);
      table.notes.push_back(who + "a mixture was found for " + percent_of(with_mixture[si], used) +
                            " users (mean size " + buf + "; without one the multiple-learnware methods use the top " +
                            std::to_string(config.max_search_num) + " singles); the top single is the user's own store's learnware for " +
                            percent_of(top1_own[si], used) + " users.");
    }
    table.notes.push_back("Best in Market is the user's own store's learnware for " + percent_of(best_own, used) +
                          " users.");
    result.tables.push_back(std::move(table));
  }

  // The labelled-data curve (headline space).
  if (config.curve && !plan.grid.empty()) {
    const auto [f, l] = config.spaces.front();
    Curve curve;
    curve.key = space_key(f, l);
    curve.title = "tabular-homo: labelled-data curve (" + curve.key + ", " + std::to_string(config.users) + " PFS users)";
    curve.x_label = "labelled rows n of the user";
    curve.y_label = "MSE (" + std::string(ds::to_string(l)) + ")";
    curve.higher_is_better = false;
    for (std::int64_t n : plan.grid) curve.x.push_back(static_cast<double>(n));
    curve.repeats = plan.repeats;
    // Per grid point: each repeat's loss averaged over users, then mean ± std
    // over the repeats.
    auto over_repeats = [&](auto&& loss_of) {
      std::vector<MeanStd> points;
      for (std::size_t g = 0; g < plan.grid.size(); ++g) {
        std::vector<double> per_repeat;
        for (std::int64_t r = 0; r < plan.repeats[g]; ++r) {
          std::vector<double> users;
          for (int user = 0; user < config.users; ++user) {
            const UserSpaceResult& res = per_user[static_cast<std::size_t>(user)].front();
            if (!res.error.empty()) continue;
            users.push_back(loss_of(res, g, static_cast<std::size_t>(r)));
          }
          per_repeat.push_back(mean_std(users).mean);
        }
        points.push_back(mean_std(per_repeat));
      }
      return points;
    };
    curve.series.push_back({kUserModel, "User model (self-trained XGBoost)", true,
                            over_repeats([](const UserSpaceResult& r, std::size_t g, std::size_t rep) {
                              return g < r.user_model.size() && rep < r.user_model[g].size() ? r.user_model[g][rep]
                                                                                              : kNaN;
                            })});
    for (std::size_t si = 0; si < plan.searches.size(); ++si) {
      // Label-free methods: flat at their table value.
      for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
        const ResultRow* row = result.tables.front().find(row_key(plan, si, *plan.label_free[m]));
        CurveSeries series{row_key(plan, si, *plan.label_free[m]), row_label(plan, si, *plan.label_free[m]), false, {}};
        for (std::size_t g = 0; g < plan.grid.size(); ++g)
          series.points.push_back(MeanStd{row ? row->ours.mean : kNaN, 0.0, row ? row->ours.count : 0});
        curve.series.push_back(std::move(series));
      }
      for (std::size_t m = 0; m < plan.labelled.size(); ++m) {
        curve.series.push_back({row_key(plan, si, *plan.labelled[m]), row_label(plan, si, *plan.labelled[m]), true,
                                over_repeats([&](const UserSpaceResult& r, std::size_t g, std::size_t rep) {
                                  const auto& v = r.labelled[si][m];
                                  return g < v.size() && rep < v[g].size() ? v[g][rep] : kNaN;
                                })});
      }
    }
    result.curves.push_back(std::move(curve));
  }
  timer.stop();
  run.total_seconds = timer.total_seconds();

  nlohmann::json spaces = nlohmann::json::array();
  for (const auto& [f, l] : config.spaces) spaces.push_back(space_key(f, l));
  nlohmann::json search_keys = nlohmann::json::array(), reuse_keys = nlohmann::json::array();
  for (const auto* s : plan.searches) search_keys.push_back(s->key);
  for (const ReuseMethodEntry& m : methods.reuse_methods()) reuse_keys.push_back(m.key);
  run.config = {{"market_dir", options.market_dir.string()},
                {"users", config.users},
                {"user_stores", "pfs 0.." + std::to_string(config.users - 1)},
                {"spaces", spaces},
                {"curve", config.curve},
                {"n_grid", plan.grid},
                {"repeats", plan.repeats},
                {"n_cap_train_rows", train_rows},
                {"max_search_num", config.max_search_num},
                {"simulator_seed", simulator_seed},
                {"search_methods", search_keys},
                {"reuse_methods", reuse_keys},
                {"user_model", "XGBoost, the market's settings (market_tabular_model_params), 1 thread"},
                {"seeds", "per (user, space, purpose[, n, repeat]) = derive_seed(seed, {...})"}};
  run.extra = {{"learnwares_in_market", market.list(LearnwareStatus::usable).size()},
               {"learnwares_loaded", cache.size()},
               {"semantic_matches_per_space", matches_per_space},
               {"warnings", result.warnings.size()}};
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
