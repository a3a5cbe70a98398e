// A retail store as a user of a scenario: its test split to predict, its
// training split as the labelled pool, and its self-trained XGBoost -- what
// the homogeneous and heterogeneous tabular runners share (they differ in
// the feature pipeline the rows come through and in how they search).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/model/xgboost_model.h"
#include "scenarios/common/user_study.h"

namespace lwd::scenarios {

// The rows, truth, pool, draw and user model of `data` (query.spec: the RKME
// of its test rows with the market's RKME options and ctx's seed).
StudyUser store_study_user(const datasets::StoreDataset& data, const XGBoostTrainParams& model_params,
                           std::string description, const kernels::Context& ctx);

// The labelled-data grid a store's users can draw: each n capped at the rows
// of a store's training split (a capped point that repeats a smaller one is
// dropped, with its repeats); empty without a curve.
struct StoreCurveGrid {
  std::vector<std::int64_t> n, repeats;
  std::int64_t train_rows = 0;  // the cap
};
// The two parameters every store scenario reads the same way: max_search_num
// (at least 1, else lwd::Error) and simulator_seed; each keeps its value when
// the parameter is absent.
void apply_store_search_params(const ScenarioOptions& options, int& max_search_num, std::uint64_t& simulator_seed);

StoreCurveGrid store_curve_grid(const datasets::ChainConfig& chain, const std::vector<std::int64_t>& n_grid,
                                const std::vector<std::int64_t>& repeats, bool curve);

}  // namespace lwd::scenarios
