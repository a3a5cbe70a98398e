// The transfer experiment behind datasets/README.md's table: does a model
// trained on one store predict another store well when the two stores belong
// to the same chain, and badly when they do not? That is the property the
// learnware market relies on (a user should be served learnwares of similar
// stores), so the simulator is only useful if it has it.
//
// For the first `stores_per_chain` stores of every chain, and for every
// requested feature and label space, a gradient-boosted tree model (XGBoost,
// the closest available relative of the paper's per-store LightGBM) is trained
// on each store's training split and evaluated (MSE in the label space) on
// every participating store's test split.
#pragma once

#include <string>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/model/xgboost_model.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::datasets {

// The tree settings of the experiment (100 rounds, depth 6, eta 0.1): cheap
// enough to train 120 store models in about a minute on two cores, deep
// enough to learn weekday x level x promotion interactions.
XGBoostTrainParams default_transfer_model_params();

struct TransferOptions {
  std::vector<ChainConfig> chains = default_market_config();
  int stores_per_chain = 4;
  std::vector<FeatureSpace> feature_spaces = all_feature_spaces();
  std::vector<LabelSpace> label_spaces = all_label_spaces();
  SplitConfig split;
  // nthread is ignored: models train in parallel over source stores (ctx's
  // threads), one XGBoost thread each.
  XGBoostTrainParams model_params = default_transfer_model_params();
};

struct TransferBlock {
  FeatureSpace space = FeatureSpace::kFull;
  LabelSpace label = LabelSpace::kUnits;
  // mse(a, b): model trained on store a, evaluated on store b's test split.
  kernels::Matrix<double> mse;
};

struct TransferResult {
  std::vector<std::string> store_ids;    // participating stores, chain by chain
  std::vector<ChainKind> store_chains;   // their chains
  std::vector<TransferBlock> blocks;     // one per (feature space, label space)
};

// Averages over the target stores of one chain, for one block.
struct TransferSummary {
  int target_stores = 0;
  double own_store_mse = 0.0;    // trained and evaluated on the same store
  double same_chain_mse = 0.0;   // trained on another store of the target's chain
  double other_chain_mse = 0.0;  // trained on a store of another chain
  // Target stores whose best model among those trained on other stores
  // comes from their own chain.
  int best_source_in_same_chain = 0;
};

// Throws lwd::Error when a chain has fewer than 2 stores to pair within it,
// fewer than 2 chains are given, or model training fails.
TransferResult run_transfer_experiment(const TransferOptions& options, const kernels::Context& ctx);

TransferSummary summarize_transfer(const TransferResult& result, const TransferBlock& block, ChainKind target_chain);

// The Markdown tables written into datasets/README.md (a heading-free fragment).
std::string transfer_table_markdown(const TransferResult& result, const TransferOptions& options);

}  // namespace lwd::datasets
