// tabular-hetero-fe and tabular-hetero-task: the paper's two heterogeneous
// tabular experiments on the retail simulator's market. The users' tables come
// from feature engineerings no market learnware uses (the "pos_*" pipelines of
// datasets/retail/feature_pipelines.h: other columns, other widths, their own
// descriptions), so no learnware reads their rows as they are.
//
// Per run: a specification world (engine/hetero) trained, in memory, on the
// table learnwares of this scenario's market (param world=desc-pool|token-mlp),
// their system specs packed. Per user:
//   1. the RKME of the user's test rows, in the user's space;
//   2. the search: the user's RKME mapped into the world with the user's
//      feature descriptions, against the system specs the semantic query
//      allows (Data Table, Task Regression, name "label=<L>": every feature
//      space of the user's label space);
//   3. every learnware used -- Mean / Best in Market (each learnware the
//      semantic query allows), the singles and the mixture found -- is first
//      aligned to the user's space (engine/reuse/feature_align.h: a map
//      fitted on the two RKMEs, no label), then reused as any learnware:
//      Top-1, job selector, average ensemble; on the labelled-data curve
//      feature augmentation (of the mixture, and of the top single alone),
//      ensemble pruning, and the self-trained XGBoost.
// Loss: MSE of log1p(units) (the reference's example computes RMSE for its
// table; both are in table.json).
//
//   tabular-hetero-fe    41 PFS stores (0..40) as users, features pos_daily;
//                        the whole market (the users' stores have learnwares
//                        in the five market spaces, built on other days).
//   tabular-hetero-task  the M5 chain's 10 stores x the three pos pipelines =
//                        30 users; the M5 learnwares are left out of this
//                        scenario's market (world, search, Mean / Best): no
//                        learnware was built for the users' chain. Curve over
//                        n in {10, 30, 50, 75, 100, 200, 500, 1000, 2000}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "engine/hetero/world_model.h"
#include "scenarios/common/scenario.h"

namespace lwd::scenarios {

enum class HeteroVariant { kFeatureEngineering, kTask };

struct TabularHeteroConfig {
  HeteroVariant variant = HeteroVariant::kFeatureEngineering;
  int users = 41;
  std::vector<datasets::UserFeatureSpace> pipelines = {datasets::UserFeatureSpace::kPosDaily};
  datasets::LabelSpace label = datasets::LabelSpace::kLog1pUnits;
  bool curve = false;
  std::vector<std::int64_t> n_grid, repeats;
  int max_search_num = 5;
  std::string world = "desc-pool";     // the world model kind (engine/hetero/world_model.h)
  hetero::WorldTrainOptions world_options;
  std::uint64_t simulator_seed = 0;    // 0: datasets::kDefaultMarketSeed
};

// The published grid of each variant (quick: fewer users and epochs, a
// shorter curve), then options.params:
//   users=N  pipelines=p[,p...]  world=token-mlp|desc-pool  epochs=E  grid=...  repeats=...
//   curve=0|1  max_search_num=K  simulator_seed=S
TabularHeteroConfig tabular_hetero_config(HeteroVariant variant, const ScenarioOptions& options);

ScenarioResult run_tabular_hetero(const TabularHeteroConfig& config, const ScenarioOptions& options,
                                  const MethodRegistry& methods, const kernels::Context& ctx);

// Registers tabular-hetero-fe and tabular-hetero-task.
void register_tabular_hetero_scenarios(ScenarioRegistry& registry);

}  // namespace lwd::scenarios
