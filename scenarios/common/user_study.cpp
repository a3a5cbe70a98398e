#include "scenarios/common/user_study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <numeric>

#include "engine/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"
#include "scenarios/common/progress.h"

namespace lwd::scenarios {

Learnware LearnwareCache::get(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = loaded_.find(id);
  if (it == loaded_.end()) it = loaded_.emplace(id, load_learnware(market_, id)).first;
  return it->second;
}

std::size_t LearnwareCache::size() const {
  std::lock_guard lock(mutex_);
  return loaded_.size();
}

std::vector<std::int64_t> sample_rows(std::int64_t total, std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(total, 0)));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  kernels::Rng rng(seed);
  const std::int64_t take = std::clamp<std::int64_t>(n, 0, total);
  for (std::int64_t i = 0; i < take; ++i) {
    const auto j = i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(total - i)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  order.resize(static_cast<std::size_t>(take));
  return order;
}

std::vector<std::int64_t> counts_in_ratio(std::int64_t n, std::span<const double> ratios) {
  std::vector<std::int64_t> counts;
  std::vector<std::pair<double, std::size_t>> remainders;
  std::int64_t given = 0;
  for (std::size_t c = 0; c < ratios.size(); ++c) {
    const double exact = static_cast<double>(n) * ratios[c];
    counts.push_back(static_cast<std::int64_t>(std::floor(exact)));
    given += counts.back();
    remainders.push_back({exact - std::floor(exact), c});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; given < n && k < remainders.size(); ++k, ++given) ++counts[remainders[k].second];
  return counts;
}

void apply_curve_params(const ScenarioOptions& options, std::vector<std::int64_t>& grid,
                        std::vector<std::int64_t>& repeats, bool& curve) {
  auto ints = [&](const std::string& key) {
    std::vector<std::int64_t> out;
    for (const std::string& item : param_list(options, key)) {
      ScenarioOptions one;
      one.params[key] = item;
      out.push_back(param_int(one, key, 0));
    }
    return out;
  };
  if (options.params.count("grid")) grid = ints("grid");
  if (options.params.count("repeats")) repeats = ints("repeats");
  if (repeats.size() == 1 && grid.size() > 1) repeats.resize(grid.size(), repeats[0]);
  if (grid.size() != repeats.size())
    throw Error("parameters grid and repeats: " + std::to_string(grid.size()) + " grid point(s) but " +
                std::to_string(repeats.size()) + " repeat count(s)");
  for (std::size_t i = 0; i < grid.size(); ++i) {
    if (grid[i] < 2) throw Error("parameter grid: every n must be at least 2");
    if (repeats[i] < 1) throw Error("parameter repeats: every count must be at least 1");
  }
  curve = param_int(options, "curve", curve ? 1 : 0) != 0;
}

RunInfo begin_run_info(const std::string& scenario, const ScenarioOptions& options, const kernels::Context& ctx) {
  RunInfo run;
  run.scenario = scenario;
  run.started_at = utc_timestamp_now();
  run.git = current_git_state();
  run.machine = current_machine();
  run.threads = ctx.threads();
  run.seed = options.seed;
  run.quick = options.quick;
  run.command_line = options.command_line;
  return run;
}

namespace {

// Everything one user contributes.
struct UserOutcome {
  std::string error;  // non-empty: the user is left out
  std::string description;
  double mean_in_market = kNaN;
  double best_in_market = kNaN;
  bool best_is_own = false;
  std::string best_name;                        // the oracle's pick
  std::vector<std::string> top1_name;           // per search: its best single
  std::vector<std::vector<std::string>> multiple_names;  // per search: the learnwares the multiple methods used
  std::vector<int> top1_is_own;                 // per search
  std::vector<std::vector<double>> label_free;  // [search][label-free method]
  std::vector<int> mixture_size;                // per search; 0: no mixture
  std::vector<std::string> method_errors;
  std::vector<std::vector<double>> user_model;  // [grid][repeat]
  std::vector<std::vector<std::vector<std::vector<double>>>> labelled;  // [search][method][grid][repeat]
};

struct Plan {
  const StudySetup* setup = nullptr;
  const ScenarioOptions* options = nullptr;
  const Market* market = nullptr;
  LearnwareCache* cache = nullptr;
  std::vector<std::string> semantic_ids;  // what the user query's semantic filter returns
  std::vector<const SearchMethodEntry*> searches;
  std::vector<const ReuseMethodEntry*> label_free, labelled;
};

kernels::Matrix<double> truth_column(std::span<const double> y) {
  return kernels::Matrix<double>(static_cast<std::int64_t>(y.size()), 1, std::vector<double>(y.begin(), y.end()));
}

// A learnware as the per-user record names it: its semantic name, else its id.
std::string name_of(const Learnware& lw) { return lw.semantic && !lw.semantic->name.empty() ? lw.semantic->name : lw.id; }

UserOutcome run_user(const Plan& plan,
                     const std::function<StudyUser(int, const kernels::Context&)>& make_user, int user) {
  const StudySetup& setup = *plan.setup;
  // derive_seed(run seed, {user, seed_path..., purpose...}).
  auto seed_for = [&](std::initializer_list<std::uint64_t> purpose) {
    std::vector<std::uint64_t> parts{static_cast<std::uint64_t>(user)};
    parts.insert(parts.end(), setup.seed_path.begin(), setup.seed_path.end());
    parts.insert(parts.end(), purpose);
    return derive_seed(plan.options->seed, parts);
  };
  UserOutcome out;
  StudyUser data = make_user(user, kernels::Context{1, seed_for({1})});
  auto is_own = [&](const Learnware& lw) {
    return !data.own_learnware.empty() && lw.semantic && lw.semantic->name == data.own_learnware;
  };
  out.description = data.description;
  const kernels::Matrix<double> truth = truth_column(data.y_test);
  auto score = [&](const kernels::Matrix<double>& predictions) {
    return score_predictions(setup.metric, predictions.view(), truth.view());
  };
  auto adapt = [&](Learnware lw) { return data.adapt ? data.adapt(lw) : lw; };

  // Mean / Best in Market over the semantic filter's learnwares. Users start
  // at different learnwares (parallel users queueing on one model would
  // wait); the scores are summed in match order whatever the start.
  const std::vector<std::string>& matches = plan.semantic_ids;
  std::vector<double> scores(matches.size(), kNaN);
  std::vector<char> own(matches.size(), 0);
  std::vector<std::string> names(matches.size());
  for (std::size_t k = 0; k < matches.size(); ++k) {
    const std::size_t i = (k + static_cast<std::size_t>(user)) % matches.size();
    const Learnware lw = adapt(plan.cache->get(matches[i]));
    scores[i] = score(lw.predict(data.x_test.view()));
    own[i] = is_own(lw) ? 1 : 0;
    names[i] = name_of(lw);
  }
  double total = 0.0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const double s = scores[i];
    total += s;
    const bool better = setup.higher_is_better ? s > out.best_in_market : s < out.best_in_market;
    if (better || std::isnan(out.best_in_market)) {
      out.best_in_market = s;
      out.best_is_own = own[i] != 0;
      out.best_name = names[i];
    }
  }
  out.mean_in_market = total / static_cast<double>(matches.size());

  // The labelled draws and the self-trained model.
  std::vector<std::int64_t> grid;
  for (std::int64_t n : setup.n_grid) grid.push_back(std::min(n, data.max_labelled));
  std::vector<std::vector<std::vector<std::int64_t>>> draws(setup.curve ? grid.size() : 0);
  out.user_model.resize(draws.size());
  for (std::size_t g = 0; g < draws.size(); ++g) {
    for (std::int64_t r = 0; r < setup.repeats[g]; ++r) {
      const auto n = static_cast<std::uint64_t>(setup.n_grid[g]), rr = static_cast<std::uint64_t>(r);
      draws[g].push_back(data.draw(grid[g], seed_for({4, n, rr})));
      const kernels::Context model_ctx{1, seed_for({5, n, rr})};
      out.user_model[g].push_back(score(data.user_model(draws[g].back(), model_ctx)));
    }
  }

  SearchRequest query = data.query;
  query.semantic = setup.semantic_query;
  if (data.input) query.semantic->input = data.input;
  query.options.max_search_num = setup.max_search_num;
  for (std::size_t si = 0; si < plan.searches.size(); ++si) {
    const SearchMethodEntry& search = *plan.searches[si];
    std::vector<double> label_free(plan.label_free.size(), kNaN);
    std::vector<std::vector<std::vector<double>>> labelled(plan.labelled.size());
    for (auto& per_method : labelled) {
      per_method.resize(draws.size());
      for (std::size_t g = 0; g < draws.size(); ++g) per_method[g].assign(draws[g].size(), kNaN);
    }
    int mixture_size = 0, top1_own = 0;
    std::string top1;
    std::vector<std::string> multiple;
    try {
      SearchInput in;
      in.market = plan.market;
      in.query = &query;
      in.ctx = kernels::Context{1, seed_for({2, si})};
      const FoundLearnwares found = resolve_search_output(
          search.search(in), [&](const std::string& id) { return adapt(plan.cache->get(id)); },
          static_cast<std::size_t>(setup.max_search_num));
      mixture_size = found.has_mixture ? static_cast<int>(found.multiple.size()) : 0;
      top1_own = is_own(found.single.front()) ? 1 : 0;
      top1 = name_of(found.single.front());
      for (const Learnware& lw : found.multiple) multiple.push_back(name_of(lw));
      auto base_input = [&](std::uint64_t method_seed) {
        ReuseInput ri;
        ri.single = found.single;
        ri.multiple = found.multiple;
        ri.mixture_weights = found.mixture_weights;
        ri.x_test = data.x_test.view();
        ri.spec_rows_test = data.spec_rows_test.view();
        ri.user_image_spec = query.spec.get_if<RKMEImageSpec>();
        ri.task = setup.task;
        ri.num_classes = setup.num_classes;
        ri.ctx = kernels::Context{1, method_seed};
        return ri;
      };
      for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
        try {
          label_free[m] = score(plan.label_free[m]->predict(base_input(seed_for({3, si, m}))));
        } catch (const std::exception& e) {
          out.method_errors.push_back(search.key + "/" + plan.label_free[m]->key + ": " + e.what());
        }
      }
      for (std::size_t m = 0; m < plan.labelled.size(); ++m) {
        try {
          for (std::size_t g = 0; g < draws.size(); ++g) {
            for (std::size_t r = 0; r < draws[g].size(); ++r) {
              ReuseInput ri = base_input(seed_for({6, si, m, static_cast<std::uint64_t>(setup.n_grid[g]), r}));
              const kernels::Matrix<double> x = gather_rows(data.x_pool.view(), draws[g][r]);
              std::vector<double> y;
              for (const std::int64_t row : draws[g][r]) y.push_back(data.y_pool[static_cast<std::size_t>(row)]);
              ri.x_labelled = x.view();
              ri.y_labelled = y;
              labelled[m][g][r] = score(plan.labelled[m]->predict(ri));
            }
          }
        } catch (const std::exception& e) {
          out.method_errors.push_back(search.key + "/" + plan.labelled[m]->key + ": " + e.what());
        }
      }
    } catch (const std::exception& e) {
      out.method_errors.push_back(search.key + ": " + e.what());
    }
    out.label_free.push_back(std::move(label_free));
    out.labelled.push_back(std::move(labelled));
    out.mixture_size.push_back(mixture_size);
    out.top1_is_own.push_back(top1_own);
    out.top1_name.push_back(std::move(top1));
    out.multiple_names.push_back(std::move(multiple));
  }
  return out;
}

// A UserOutcome as bytes, for the ranks that ran other users (options.comm):
// every field, numbers bit for bit, so the aggregate is the one-rank aggregate.
void put_strings(dist::ByteWriter& w, const std::vector<std::string>& v) {
  w.put<std::uint64_t>(v.size());
  for (const std::string& s : v) w.put_string(s);
}
std::vector<std::string> get_strings(dist::ByteReader& r) {
  std::vector<std::string> v(r.get<std::uint64_t>());
  for (std::string& s : v) s = r.get_string();
  return v;
}
template <class T, class Put>
void put_list(dist::ByteWriter& w, const std::vector<T>& v, Put&& put) {
  w.put<std::uint64_t>(v.size());
  for (const T& item : v) put(item);
}
template <class T, class Get>
std::vector<T> get_list(dist::ByteReader& r, Get&& get) {
  std::vector<T> v(r.get<std::uint64_t>());
  for (T& item : v) item = get();
  return v;
}

void encode(dist::ByteWriter& w, const UserOutcome& o) {
  w.put_string(o.error);
  w.put_string(o.description);
  w.put(o.mean_in_market);
  w.put(o.best_in_market);
  w.put<std::uint8_t>(o.best_is_own ? 1 : 0);
  w.put_string(o.best_name);
  put_strings(w, o.top1_name);
  put_list(w, o.multiple_names, [&](const auto& names) { put_strings(w, names); });
  put_list(w, o.top1_is_own, [&](int v) { w.put<std::int32_t>(v); });
  put_list(w, o.label_free, [&](const auto& v) { w.put_doubles(v); });
  put_list(w, o.mixture_size, [&](int v) { w.put<std::int32_t>(v); });
  put_strings(w, o.method_errors);
  put_list(w, o.user_model, [&](const auto& v) { w.put_doubles(v); });
  put_list(w, o.labelled, [&](const auto& per_method) {
    put_list(w, per_method, [&](const auto& per_grid) { put_list(w, per_grid, [&](const auto& v) { w.put_doubles(v); }); });
  });
}

UserOutcome decode(dist::ByteReader& r) {
  UserOutcome o;
  o.error = r.get_string();
  o.description = r.get_string();
  o.mean_in_market = r.get<double>();
  o.best_in_market = r.get<double>();
  o.best_is_own = r.get<std::uint8_t>() != 0;
  o.best_name = r.get_string();
  o.top1_name = get_strings(r);
  o.multiple_names = get_list<std::vector<std::string>>(r, [&] { return get_strings(r); });
  o.top1_is_own = get_list<int>(r, [&] { return static_cast<int>(r.get<std::int32_t>()); });
  o.label_free = get_list<std::vector<double>>(r, [&] { return r.get_doubles(); });
  o.mixture_size = get_list<int>(r, [&] { return static_cast<int>(r.get<std::int32_t>()); });
  o.method_errors = get_strings(r);
  o.user_model = get_list<std::vector<double>>(r, [&] { return r.get_doubles(); });
  o.labelled = get_list<std::vector<std::vector<std::vector<double>>>>(r, [&] {
    return get_list<std::vector<std::vector<double>>>(
        r, [&] { return get_list<std::vector<double>>(r, [&] { return r.get_doubles(); }); });
  });
  return o;
}

std::string row_key(const Plan& plan, std::size_t search, const ReuseMethodEntry& method) {
  return search == 0 ? method.key : method.key + "@" + plan.searches[search]->key;
}
std::string row_label(const Plan& plan, std::size_t search, const ReuseMethodEntry& method) {
  return search == 0 ? method.label : method.label + " [search: " + plan.searches[search]->label + "]";
}

// A study's users share the learnwares' feature space, so the methods that
// align features (for users of another space) are not among its rows.
bool runs_in_study(const StudySetup& setup, const ReuseMethodEntry& method) {
  return !method.aligns_features && !setup.skipped_methods.count(method.key);
}

bool is_builtin_reuse(const std::string& key) {
  for (const char* k : {kTop1Reuse, kJobSelector, kAverageEnsemble, kEnsemblePruning, kFeatureAugment})
    if (key == k) return true;
  return false;
}

}  // namespace

void run_user_study(const StudySetup& setup,
                    const std::function<StudyUser(int user, const kernels::Context& ctx)>& make_user,
                    const Market& market, const ScenarioOptions& options, const MethodRegistry& methods,
                    const kernels::Context& ctx, ScenarioResult& result, PhaseTimer& timer) {
  if (setup.users < 1) throw Error(setup.scenario + ": no users to run");
  if (methods.search_methods().empty()) throw Error(setup.scenario + ": no search method registered");
  if (setup.curve && setup.n_grid.size() != setup.repeats.size())
    throw Error(setup.scenario + ": the grid and the repeats differ in length");

  Plan plan;
  plan.setup = &setup;
  plan.options = &options;
  plan.market = &market;
  LearnwareCache cache(market);
  plan.cache = &cache;
  for (const SearchMethodEntry& s : methods.search_methods()) plan.searches.push_back(&s);
  for (const ReuseMethodEntry& m : methods.reuse_methods())
    if (runs_in_study(setup, m)) (m.needs_labels ? plan.labelled : plan.label_free).push_back(&m);

  // What the users' semantic query finds: every user asks with the same tags.
  const std::string phase_key = setup.table_key.empty() ? "" : " (" + setup.table_key + ")";
  timer.start("load learnwares" + phase_key);
  {
    SearchRequest semantic_only;
    semantic_only.semantic = setup.semantic_query;
    for (std::string& id : market.search(semantic_only).semantic_ids)
      if (!setup.excluded_ids.count(id)) plan.semantic_ids.push_back(std::move(id));
  }
  if (plan.semantic_ids.empty())
    throw Error(setup.scenario + ": the market at " + options.market_dir.string() +
                " has no usable learnware for the users' semantic query (build it with `lwdock market build`)");
  {
    ProgressBar bar(setup.scenario + ": loading learnwares", static_cast<std::int64_t>(plan.semantic_ids.size()),
                    options.quiet);
    for (const std::string& id : plan.semantic_ids) {
      cache.get(id);
      bar.advance();
    }
  }

  timer.start((setup.curve ? "users, table and curve" : "users, table") + phase_key);
  std::vector<UserOutcome> outcomes(static_cast<std::size_t>(setup.users));
  {
    // Several ranks (options.comm): users are handed out one at a time to
    // whichever thread of whichever rank is free (a SharedCounter), since
    // users differ in cost (their store's rows, their spec's size) and a
    // fixed deal leaves one rank waiting on the other; then every rank
    // receives every other rank's outcomes, each tagged with its user. A
    // user's outcome depends only on the user and the run seed, so the table
    // is the one-process table whoever ran what. Without a counter (an MPI
    // library without thread support for it) rank r runs users r, r + N, ...
    const int ranks = options.comm ? options.comm->size() : 1;
    const int rank = options.comm ? options.comm->rank() : 0;
    const auto run_one = [&](int user) {
      try {
        outcomes[static_cast<std::size_t>(user)] = run_user(plan, make_user, user);
      } catch (const std::exception& e) {
        outcomes[static_cast<std::size_t>(user)].error = e.what();
      }
    };
    std::vector<int> mine;
    std::unique_ptr<dist::SharedCounter> handout = ranks > 1 ? options.comm->shared_counter() : nullptr;
    if (handout) {
      std::mutex mine_mutex;
      // The bar counts against every rank's users: this rank stops at its share.
      ProgressBar bar(setup.scenario + ": users this rank ran (of " + std::to_string(ranks) + " ranks)", setup.users,
                      options.quiet);
      kernels::parallel_for(ctx, 0, ctx.threads(), [&](std::int64_t) {
        for (std::int64_t user = handout->next(); user < setup.users; user = handout->next()) {
          {
            std::lock_guard lock(mine_mutex);
            mine.push_back(static_cast<int>(user));
          }
          run_one(static_cast<int>(user));
          bar.advance();
        }
      });
      handout.reset();  // collective: every rank has taken its last user
      std::sort(mine.begin(), mine.end());
    } else {
      for (int user = rank; user < setup.users; user += ranks) mine.push_back(user);
      ProgressBar bar(setup.scenario + ": users", static_cast<std::int64_t>(mine.size()), options.quiet);
      kernels::parallel_for(ctx, 0, static_cast<std::int64_t>(mine.size()), [&](std::int64_t k) {
        run_one(mine[static_cast<std::size_t>(k)]);
        bar.advance();
      });
    }
    if (ranks > 1) {
      dist::ByteWriter w;
      w.put<std::int64_t>(static_cast<std::int64_t>(mine.size()));
      for (const int user : mine) {
        w.put<std::int32_t>(user);
        encode(w, outcomes[static_cast<std::size_t>(user)]);
      }
      const std::vector<std::string> all = options.comm->allgather(w.take());
      std::vector<int> ran_by(static_cast<std::size_t>(setup.users), -1);
      for (int r = 0; r < ranks; ++r) {
        dist::ByteReader reader(all[static_cast<std::size_t>(r)]);
        const auto count = reader.get<std::int64_t>();
        for (std::int64_t k = 0; k < count; ++k) {
          const auto user = reader.get<std::int32_t>();
          if (user < 0 || user >= setup.users || ran_by[static_cast<std::size_t>(user)] != -1)
            throw Error(setup.scenario + ": rank " + std::to_string(r) + " sent user " + std::to_string(user) +
                        ", which is out of range or another rank's");
          ran_by[static_cast<std::size_t>(user)] = r;
          if (r == rank) {
            decode(reader);  // this rank's own, already in place
          } else {
            outcomes[static_cast<std::size_t>(user)] = decode(reader);
          }
        }
        if (!reader.done()) throw Error(setup.scenario + ": rank " + std::to_string(r) + " sent more than its users");
      }
      for (int user = 0; user < setup.users; ++user)
        if (ran_by[static_cast<std::size_t>(user)] == -1)
          throw Error(setup.scenario + ": no rank ran user " + std::to_string(user));
    }
  }

  timer.start("aggregate" + phase_key);
  ResultTable table;
  table.key = setup.table_key;
  table.title = setup.table_title;
  table.metric = setup.metric_label;
  table.higher_is_better = setup.higher_is_better;
  table.published_source = setup.published_source;
  std::vector<double> mean_in, best_in;
  std::vector<std::vector<std::vector<double>>> lf(plan.searches.size(),
                                                   std::vector<std::vector<double>>(plan.label_free.size()));
  std::vector<int> with_mixture(plan.searches.size(), 0), mixture_members(plan.searches.size(), 0),
      top1_own(plan.searches.size(), 0);
  int used = 0, best_own = 0;
  for (int user = 0; user < setup.users; ++user) {
    const UserOutcome& r = outcomes[static_cast<std::size_t>(user)];
    if (!r.error.empty()) {
      result.warnings.push_back("user " + std::to_string(user) + " left out: " + r.error);
      continue;
    }
    for (const std::string& e : r.method_errors)
      result.warnings.push_back("user " + std::to_string(user) + ": " + e);
    ++used;
    mean_in.push_back(r.mean_in_market);
    best_in.push_back(r.best_in_market);
    best_own += r.best_is_own ? 1 : 0;
    for (std::size_t si = 0; si < plan.searches.size(); ++si) {
      top1_own[si] += r.top1_is_own[si];
      for (std::size_t m = 0; m < plan.label_free.size(); ++m)
        if (!std::isnan(r.label_free[si][m])) lf[si][m].push_back(r.label_free[si][m]);
      with_mixture[si] += r.mixture_size[si] > 0 ? 1 : 0;
      mixture_members[si] += r.mixture_size[si];
    }
  }
  auto published = [&](const std::string& key) -> std::optional<double> {
    const auto it = setup.published.find(key);
    return it == setup.published.end() ? std::nullopt : std::optional<double>(it->second);
  };
  table.rows.push_back({kMeanInMarket, "Mean in Market (Single)", published(kMeanInMarket), mean_std(mean_in),
                        "over the semantic filter's learnwares"});
  table.rows.push_back({kBestInMarket, "Best in Market (Single)", published(kBestInMarket), mean_std(best_in),
                        "oracle: best of them on the user's rows"});
  for (std::size_t si = 0; si < plan.searches.size(); ++si) {
    for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
      const ReuseMethodEntry& method = *plan.label_free[m];
      ResultRow row;
      row.key = row_key(plan, si, method);
      row.label = row_label(plan, si, method);
      if (si == 0 && plan.searches[si]->key == kMarketSearch) row.published = published(method.key);
      row.ours = mean_std(lf[si][m]);
      row.note = is_builtin_reuse(method.key) ? "" : "extension method";
      if (si > 0) row.note += (row.note.empty() ? "" : "; ") + std::string("search method ") + plan.searches[si]->key;
      table.rows.push_back(std::move(row));
    }
  }
  table.notes = setup.notes;
  for (const auto& [key, why] : setup.skipped_methods)
    if (methods.find_reuse(key)) table.notes.push_back("Not run: " + methods.find_reuse(key)->label + " -- " + why);
  table.notes.push_back(std::to_string(used) + " of " + std::to_string(setup.users) + " users; the semantic filter returns " +
                        std::to_string(plan.semantic_ids.size()) +
                        " learnwares, and the statistical search runs over them.");
  for (std::size_t si = 0; si < plan.searches.size(); ++si) {
    const std::string who = plan.searches.size() > 1 ? "Search " + plan.searches[si]->key + ": " : "";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f",
                  with_mixture[si] > 0 ? static_cast<double>(mixture_members[si]) / with_mixture[si] : 0.0);
    table.notes.push_back(who + "a mixture was found for " + std::to_string(with_mixture[si]) + "/" +
                          std::to_string(used) + " users (mean size " + buf +
                          "; without one the multiple-learnware methods use the top " +
                          std::to_string(setup.max_search_num) + " singles)" +
                          (setup.own_learnware_noun.empty()
                               ? "."
                               : "; the top single is the user's own " + setup.own_learnware_noun + " for " +
                                     std::to_string(top1_own[si]) + "/" + std::to_string(used) + " users."));
  }
  if (!setup.own_learnware_noun.empty())
    table.notes.push_back("Best in Market is the user's own " + setup.own_learnware_noun + " for " +
                          std::to_string(best_own) + "/" + std::to_string(used) + " users.");
  result.tables.push_back(std::move(table));

  if (setup.curve && !setup.n_grid.empty()) {
    Curve curve;
    curve.key = setup.table_key;
    curve.title = setup.scenario + ": labelled-data curve (" + setup.table_key + ", " + std::to_string(used) + " users)";
    curve.x_label = setup.curve_x_label;
    curve.y_label = setup.metric_label;
    curve.higher_is_better = setup.higher_is_better;
    for (const std::int64_t n : setup.n_grid) curve.x.push_back(static_cast<double>(n));
    curve.repeats = setup.repeats;
    // Per grid point: each repeat's score averaged over users, then mean ± std over the repeats.
    auto over_repeats = [&](auto&& score_of) {
      std::vector<MeanStd> points;
      for (std::size_t g = 0; g < setup.n_grid.size(); ++g) {
        std::vector<double> per_repeat;
        for (std::int64_t r = 0; r < setup.repeats[g]; ++r) {
          std::vector<double> users;
          for (const UserOutcome& o : outcomes) {
            if (!o.error.empty()) continue;
            const double v = score_of(o, g, static_cast<std::size_t>(r));
            if (!std::isnan(v)) users.push_back(v);
          }
          if (!users.empty()) per_repeat.push_back(mean_std(users).mean);
        }
        points.push_back(mean_std(per_repeat));
      }
      return points;
    };
    curve.series.push_back({kUserModel, setup.user_model_label, true,
                            over_repeats([](const UserOutcome& o, std::size_t g, std::size_t r) {
                              return g < o.user_model.size() && r < o.user_model[g].size() ? o.user_model[g][r] : kNaN;
                            })});
    const ResultTable& written = result.tables.back();
    for (std::size_t si = 0; si < plan.searches.size(); ++si) {
      for (std::size_t m = 0; m < plan.label_free.size(); ++m) {
        const std::string key = row_key(plan, si, *plan.label_free[m]);
        const ResultRow* row = written.find(key);
        CurveSeries series{key, row_label(plan, si, *plan.label_free[m]), false, {}};
        for (std::size_t g = 0; g < setup.n_grid.size(); ++g)
          series.points.push_back(MeanStd{row ? row->ours.mean : kNaN, 0.0, row ? row->ours.count : 0});
        curve.series.push_back(std::move(series));
      }
      for (std::size_t m = 0; m < plan.labelled.size(); ++m) {
        curve.series.push_back({row_key(plan, si, *plan.labelled[m]), row_label(plan, si, *plan.labelled[m]), true,
                                over_repeats([&](const UserOutcome& o, std::size_t g, std::size_t r) {
                                  const auto& v = o.labelled[si][m];
                                  return g < v.size() && r < v[g].size() ? v[g][r] : kNaN;
                                })});
      }
    }
    result.curves.push_back(std::move(curve));
  }

  nlohmann::json users = nlohmann::json::array();
  // Per user, what each search picked: enough to check a table's story
  // (does the top single cover the user's classes? is it the oracle's?).
  for (const UserOutcome& o : outcomes) {
    if (!o.error.empty()) {
      users.push_back({{"left_out", o.error}});
      continue;
    }
    nlohmann::json searches = nlohmann::json::object();
    for (std::size_t si = 0; si < plan.searches.size() && si < o.top1_name.size(); ++si)
      searches[plan.searches[si]->key] = {{"top1", o.top1_name[si]},
                                          {"multiple", o.multiple_names[si]},
                                          {"mixture", o.mixture_size[si] > 0}};
    users.push_back({{"user", o.description}, {"best_in_market", o.best_name}, {"search", searches}});
  }
  nlohmann::json search_keys = nlohmann::json::array(), reuse_keys = nlohmann::json::array();
  for (const auto* s : plan.searches) search_keys.push_back(s->key);
  for (const ReuseMethodEntry& m : methods.reuse_methods())
    if (runs_in_study(setup, m)) reuse_keys.push_back(m.key);
  if (!result.run.config.contains("users")) result.run.config["users"] = setup.users;
  result.run.config["max_search_num"] = setup.max_search_num;
  result.run.config["curve"] = setup.curve;
  result.run.config["n_grid"] = setup.n_grid;
  result.run.config["repeats"] = setup.repeats;
  result.run.config["search_methods"] = search_keys;
  result.run.config["reuse_methods"] = reuse_keys;
  result.run.config["seeds"] = "per (user, seed path, purpose[, n, repeat]) = derive_seed(seed, {...})";
  result.run.extra["learnwares_in_market"] = market.list(LearnwareStatus::usable).size();
  result.run.extra["semantic_matches"][setup.table_key] = plan.semantic_ids.size();
  result.run.extra["learnwares_loaded"][setup.table_key] = cache.size();
  result.run.extra["users"][setup.table_key] = users;
  result.run.extra["warnings"] = result.warnings.size();
  result.run.extra["ranks"] = options.comm ? options.comm->size() : 1;
}

}  // namespace lwd::scenarios
