// The retail simulator at the paper's scale: every store of the three default
// chains (60 + 10 + 54 stores, 730 days), then the five feature pipelines over
// all of them. Issue target: the whole market simulated in <= 60 s on 2 cores.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "kernels/parallel.h"

namespace {

namespace ds = lwd::datasets;

std::int64_t market_cells(const std::vector<ds::ChainConfig>& chains) {
  std::int64_t cells = 0;
  for (const ds::ChainConfig& c : chains)
    cells += static_cast<std::int64_t>(c.num_stores) * c.num_items * c.num_days;
  return cells;
}

// Argument: threads. Items processed = store x item x day cells.
void BM_SimulateMarket(benchmark::State& state) {
  const std::vector<ds::ChainConfig> chains = ds::default_market_config();
  lwd::kernels::Context ctx;
  ctx.n_threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::vector<ds::ChainSales> market = ds::simulate_market(chains, ctx);
    benchmark::DoNotOptimize(market.data());
  }
  state.SetItemsProcessed(state.iterations() * market_cells(chains));
}

// Argument: threads. All five feature spaces (units label) for every store,
// stores in parallel; the market is simulated once outside the timing.
void BM_BuildAllFeatureSpaces(benchmark::State& state) {
  lwd::kernels::Context ctx;
  ctx.n_threads = static_cast<int>(state.range(0));
  std::vector<const ds::StoreSales*> stores;
  const std::vector<ds::ChainSales> market = ds::simulate_market(ds::default_market_config(), ctx);
  for (const ds::ChainSales& chain : market)
    for (const ds::StoreSales& s : chain.stores) stores.push_back(&s);
  std::vector<std::int64_t> rows(stores.size());
  for (auto _ : state) {
    lwd::kernels::parallel_for(ctx, 0, static_cast<std::int64_t>(stores.size()), [&](std::int64_t s) {
      std::int64_t n = 0;
      for (ds::FeatureSpace space : ds::all_feature_spaces()) {
        const ds::StoreDataset d = ds::build_features(*stores[static_cast<std::size_t>(s)], space, ds::LabelSpace::kUnits);
        n += d.x_train.rows() + d.x_test.rows();
      }
      rows[static_cast<std::size_t>(s)] = n;
    });
    benchmark::DoNotOptimize(rows.data());
  }
  std::int64_t total = 0;
  for (std::int64_t n : rows) total += n;
  state.SetItemsProcessed(state.iterations() * total);  // rows built
}

}  // namespace

BENCHMARK(BM_SimulateMarket)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BuildAllFeatureSpaces)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
