// tabular-homo: the paper's homogeneous tabular experiment on the retail
// simulator's market.
//
// Users: the first 53 stores of the PFS-like chain (60 stores in the market,
// every one with a learnware per feature and label space). A user holds its
// store's test split (the last 91 days, never seen by any learnware) as the
// rows to predict, and its training split as the pool its labelled rows are
// drawn from; both built with the same feature pipeline as the market's
// learnwares of that space.
//
// Per user and (feature space F, label space L):
//   1. RKME of the user's test rows (RKMETableSpec::generate, the market's
//      RKME options, a per-user seed);
//   2. every registered search method with the semantic query
//      tabular_user_query(F, L) and that RKME (built-in: Market::search, the
//      semantic filter then the statistical search over the whole market);
//   3. Mean / Best in Market: every learnware the semantic filter returns
//      (same F and L, all chains), scored on the user's test rows;
//   4. every label-free registered reuse method (Top-1, job selector,
//      average ensemble, extensions) on the singles / mixture found;
//   5. headline space only: the labelled-data curve -- for each n of the grid
//      and each repeat, n rows drawn from the user's training split, the
//      self-trained user model (the market's XGBoost settings) and every
//      labelled reuse method (ensemble pruning, feature augmentation, ...).
// Loss: MSE in the label space. Users run in parallel (one thread each,
// seeds derived from the run seed and the user index), aggregated in user
// order: the same numbers for any thread count.
//
// Spaces: the headline table (and the curve) is `full` features with
// `log1p_units` labels -- the space that puts all chains on one scale, as the
// paper's log-sales target does. params spaces=all adds one table per
// (feature space, label space), ten in all (tables only).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "scenarios/common/scenario.h"

namespace lwd::scenarios {

struct TabularHomoConfig {
  int users = 53;                         // the first `users` stores of the PFS chain
  // Spaces with a table; the first is the headline and carries the curve.
  std::vector<std::pair<datasets::FeatureSpace, datasets::LabelSpace>> spaces = {
      {datasets::FeatureSpace::kFull, datasets::LabelSpace::kLog1pUnits}};
  bool curve = true;
  std::vector<std::int64_t> n_grid = {100, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000};
  std::vector<std::int64_t> repeats = {10, 10, 10, 3, 3, 3, 3, 3, 3};
  int max_search_num = 5;                 // most learnwares in a mixture (and top singles used without one)
  std::uint64_t simulator_seed = 0;       // 0: datasets::kDefaultMarketSeed (the market builder's)
};

// The published grid (or, with options.quick, 8 users, n in {100, 1000, 5000}
// with 3, 2, 1 repeats), then options.params applied:
//   users=N  spaces=headline|all|F/L[,F/L...]  grid=n1,n2,...  repeats=r1,r2,...
//   curve=0|1  max_search_num=K  simulator_seed=S
TabularHomoConfig tabular_homo_config(const ScenarioOptions& options);

ScenarioResult run_tabular_homo(const TabularHomoConfig& config, const ScenarioOptions& options,
                                const MethodRegistry& methods, const kernels::Context& ctx);

// Registers tabular-homo (and, later, the heterogeneous tabular runners).
void register_tabular_scenarios(ScenarioRegistry& registry);

}  // namespace lwd::scenarios
