#include "datasets/retail/transfer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "engine/error.h"
#include "kernels/parallel.h"

namespace lwd::datasets {

namespace {

double mean_squared_error(const kernels::Matrix<double>& predictions, const std::vector<double>& y) {
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double e = predictions(static_cast<std::int64_t>(i), 0) - y[i];
    sum += e * e;
  }
  return y.empty() ? 0.0 : sum / static_cast<double>(y.size());
}

std::string format_number(double v) {
  char buf[32];
  // Three significant digits: the table compares magnitudes, not decimals.
  if (std::abs(v) >= 100.0)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (std::abs(v) >= 10.0)
    std::snprintf(buf, sizeof buf, "%.1f", v);
  else if (std::abs(v) >= 1.0)
    std::snprintf(buf, sizeof buf, "%.2f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string format_ratio(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

XGBoostTrainParams default_transfer_model_params() {
  XGBoostTrainParams p;
  p.num_rounds = 100;
  p.max_depth = 6;
  p.eta = 0.1;
  p.seed = 7;
  return p;
}

TransferResult run_transfer_experiment(const TransferOptions& options, const kernels::Context& ctx) {
  if (options.chains.size() < 2) throw Error("the transfer experiment needs at least two chains");
  if (options.stores_per_chain < 2)
    throw Error("the transfer experiment needs at least 2 stores per chain (got " +
                std::to_string(options.stores_per_chain) + ")");
  if (options.feature_spaces.empty() || options.label_spaces.empty())
    throw Error("the transfer experiment needs at least one feature space and one label space");

  // Store s of a chain does not depend on how many stores are simulated, so
  // simulating only the participants gives exactly the full market's stores.
  std::vector<StoreSales> stores;
  TransferResult result;
  for (const ChainConfig& chain : options.chains) {
    if (chain.num_stores < options.stores_per_chain)
      throw Error("retail chain '" + std::string(to_string(chain.kind)) + "' has " + std::to_string(chain.num_stores) +
                  " stores; the transfer experiment uses " + std::to_string(options.stores_per_chain));
    ChainConfig participants = chain;
    participants.num_stores = options.stores_per_chain;
    for (StoreSales& s : simulate_chain(participants, ctx).stores) {
      result.store_ids.push_back(s.store_id);
      result.store_chains.push_back(s.chain);
      stores.push_back(std::move(s));
    }
  }
  const auto n_stores = static_cast<std::int64_t>(stores.size());

  // Parallel over source stores, one XGBoost thread each: 12+ independent
  // small trainings scale better this way than through XGBoost's own threads,
  // whose OpenMP barriers per tree level stall when cores are shared.
  XGBoostTrainParams params = options.model_params;
  params.nthread = 1;
  for (FeatureSpace space : options.feature_spaces) {
    for (LabelSpace label : options.label_spaces) {
      std::vector<StoreDataset> data(stores.size());
      kernels::parallel_for(ctx, 0, n_stores, [&](std::int64_t s) {
        data[static_cast<std::size_t>(s)] = build_features(stores[static_cast<std::size_t>(s)], space, label, options.split);
      });
      TransferBlock block{space, label, kernels::Matrix<double>(n_stores, n_stores)};
      kernels::parallel_for(ctx, 0, n_stores, [&](std::int64_t a) {
        const StoreDataset& train = data[static_cast<std::size_t>(a)];
        const XGBoostModel model =
            train_xgboost_model(train.x_train.view(), train.y_train, TaskType::kRegression, 0, params);
        for (std::int64_t b = 0; b < n_stores; ++b) {
          const StoreDataset& test = data[static_cast<std::size_t>(b)];
          block.mse(a, b) = mean_squared_error(model.predict(test.x_test.view()), test.y_test);
        }
      });
      result.blocks.push_back(std::move(block));
    }
  }
  return result;
}

TransferSummary summarize_transfer(const TransferResult& result, const TransferBlock& block, ChainKind target_chain) {
  TransferSummary summary;
  double own = 0.0, same = 0.0, other = 0.0;
  int same_pairs = 0, other_pairs = 0;
  const auto n = static_cast<std::int64_t>(result.store_chains.size());
  for (std::int64_t b = 0; b < n; ++b) {
    if (result.store_chains[static_cast<std::size_t>(b)] != target_chain) continue;
    ++summary.target_stores;
    own += block.mse(b, b);
    double best_same = std::numeric_limits<double>::infinity();
    double best_other = std::numeric_limits<double>::infinity();
    for (std::int64_t a = 0; a < n; ++a) {
      if (a == b) continue;
      const double mse = block.mse(a, b);
      if (result.store_chains[static_cast<std::size_t>(a)] == target_chain) {
        same += mse;
        ++same_pairs;
        best_same = std::min(best_same, mse);
      } else {
        other += mse;
        ++other_pairs;
        best_other = std::min(best_other, mse);
      }
    }
    if (best_same < best_other) ++summary.best_source_in_same_chain;
  }
  if (summary.target_stores > 0) summary.own_store_mse = own / summary.target_stores;
  if (same_pairs > 0) summary.same_chain_mse = same / same_pairs;
  if (other_pairs > 0) summary.other_chain_mse = other / other_pairs;
  return summary;
}

std::string transfer_table_markdown(const TransferResult& result, const TransferOptions& options) {
  std::vector<ChainKind> chains;
  for (const ChainConfig& c : options.chains) chains.push_back(c.kind);
  std::string md;
  const XGBoostTrainParams& p = options.model_params;
  char line[512];
  std::snprintf(line, sizeof line,
                "Stores: the first %d of each chain (%zu in all); model: XGBoost, %d rounds, depth %d, eta %g, "
                "trained on a store's training split; MSE on the target store's last %d days, in the label space.\n\n",
                options.stores_per_chain, result.store_ids.size(), p.num_rounds, p.max_depth, p.eta,
                options.split.test_days);
  md += line;

  // Table 1: per target chain, one feature space, both label spaces.
  const FeatureSpace headline =
      std::find(options.feature_spaces.begin(), options.feature_spaces.end(), FeatureSpace::kFull) !=
              options.feature_spaces.end()
          ? FeatureSpace::kFull
          : options.feature_spaces.front();
  md += "Feature space `" + std::string(to_string(headline)) +
        "`, mean MSE over target stores (and over source stores for the transfer columns):\n\n";
  md += "| target chain | label | own store | same chain, other store | other chain | other / same | best foreign "
        "source in same chain |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const TransferBlock& block : result.blocks) {
    if (block.space != headline) continue;
    for (ChainKind chain : chains) {
      const TransferSummary s = summarize_transfer(result, block, chain);
      md += "| " + std::string(to_string(chain)) + " | " + std::string(to_string(block.label)) + " | " +
            format_number(s.own_store_mse) + " | " + format_number(s.same_chain_mse) + " | " +
            format_number(s.other_chain_mse) + " | " + format_ratio(s.other_chain_mse / s.same_chain_mse) + " | " +
            std::to_string(s.best_source_in_same_chain) + "/" + std::to_string(s.target_stores) + " |\n";
    }
  }

  // Table 2: every feature and label space, MSE relative to the own-store model
  // (scales differ by chain, so ratios are what can be averaged across chains).
  md += "\nEvery feature and label space: MSE divided by the own-store MSE, averaged over the three target "
        "chains; last column counts target stores whose best model trained elsewhere comes from their own chain:\n\n";
  md += "| feature space | width | label | same chain / own | other chain / own | best foreign source in same chain |\n";
  md += "|---|---|---|---|---|---|\n";
  for (const TransferBlock& block : result.blocks) {
    double same_ratio = 0.0, other_ratio = 0.0;
    int best_same = 0, targets = 0;
    for (ChainKind chain : chains) {
      const TransferSummary s = summarize_transfer(result, block, chain);
      same_ratio += s.same_chain_mse / s.own_store_mse;
      other_ratio += s.other_chain_mse / s.own_store_mse;
      best_same += s.best_source_in_same_chain;
      targets += s.target_stores;
    }
    const auto n_chains = static_cast<double>(chains.size());
    md += "| " + std::string(to_string(block.space)) + " | " + std::to_string(feature_width(block.space)) + " | " +
          std::string(to_string(block.label)) + " | " + format_ratio(same_ratio / n_chains) + " | " +
          format_ratio(other_ratio / n_chains) + " | " + std::to_string(best_same) + "/" + std::to_string(targets) +
          " |\n";
  }
  return md;
}

}  // namespace lwd::datasets
