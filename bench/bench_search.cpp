// One statistical search (single ranking + greedy mixture, K = 100, d = 32)
// over markets of 100 .. 100 000 learnwares, against the per-pair pattern of
// the reference engine (every distance a separate call, self products
// recomputed per pair) in the same run. Counters: learnwares searched, bytes of
// the packed store.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/reference_pattern.h"
#include "engine/market/statistical_search.h"
#include "kernels/random.h"

namespace {

using lwd::RKMETableSpec;
using lwd::SpecPack;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

constexpr std::int64_t kPoints = 100;

// A spec shaped like a real one: K points around a random centre, weights on the simplex.
RKMETableSpec random_spec(std::int64_t d, Rng& rng) {
  Matrix<double> z(kPoints, d);
  std::vector<double> centre(static_cast<std::size_t>(d));
  for (auto& c : centre) c = 2.0 * rng.normal();
  for (std::int64_t i = 0; i < kPoints; ++i)
    for (std::int64_t c = 0; c < d; ++c) z(i, c) = centre[static_cast<std::size_t>(c)] + rng.normal();
  std::vector<double> beta(static_cast<std::size_t>(kPoints));
  double total = 0.0;
  for (auto& b : beta) total += (b = rng.uniform() + 0.05);
  for (auto& b : beta) b /= total;
  return RKMETableSpec(std::move(z), std::move(beta), 0.1, 1000);
}

struct Market {
  SpecPack pack;
  std::vector<std::string> ids;
  std::vector<RKMETableSpec> specs;  // kept only where the per-pair baseline runs
  std::vector<float> z32;  // float32 mirror for screening
  RKMETableSpec user;
};

// Markets are built once per size and shared by every benchmark of that size.
const Market& market(std::int64_t n, std::int64_t d, bool keep_specs) {
  static std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Market>> cache;
  auto& slot = cache[{n, d}];
  if (!slot || (keep_specs && slot->specs.empty())) {
    slot = std::make_unique<Market>();
    Rng rng(static_cast<std::uint64_t>(n * 31 + d));
    slot->pack.type = "RKMETableSpecification";
    for (std::int64_t i = 0; i < n; ++i) {
      RKMETableSpec s = random_spec(d, rng);
      slot->ids.push_back(std::to_string(i));
      slot->pack.append(slot->ids.back(), s);
      if (keep_specs) slot->specs.push_back(std::move(s));
    }
    slot->z32 = lwd::float32_mirror(slot->pack);
    slot->user = random_spec(d, rng);
  }
  return *slot;
}

void report(benchmark::State& state, const Market& m) {
  state.counters["learnwares"] = static_cast<double>(m.pack.count());
  state.counters["pack_bytes"] =
      static_cast<double>((m.pack.z.size() + m.pack.beta.size() + m.pack.offsets.size() + 3 * m.pack.ids.size()) *
                          sizeof(double));
}

void BM_Search_Ours(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  std::size_t singles = 0;
  std::int64_t refined = 0;
  for (auto _ : state) {
    const auto r = lwd::statistical_search(ctx, m.user, m.pack, {}, {}, m.z32);
    singles = r.singles.size();
    refined = r.refined;
    benchmark::DoNotOptimize(r);
  }
  report(state, m);
  state.counters["singles_reported"] = static_cast<double>(singles);
  state.counters["refined_in_float64"] = static_cast<double>(refined);
}

// The same search with every distance in float64 (no float32 screening).
void BM_Search_Float64Only(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  lwd::StatSearchOptions o;
  o.float32_screening = false;
  for (auto _ : state) benchmark::DoNotOptimize(lwd::statistical_search(ctx, m.user, m.pack, {}, o));
  report(state, m);
}

// The reference engine's pattern: one call per pair, each inner product a full
// kernel matrix and a materialised weight outer product, self products redone.
void BM_Search_ReferencePattern(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), true);
  const Context ctx{};
  const lwd::InnerProductFn reference_ip = [](const RKMETableSpec& p, const RKMETableSpec& q) {
    return lwd::bench::reference_inner_product(p.z().view(), p.beta(), q.z().view(), q.beta(), p.gamma());
  };
  for (auto _ : state) {
    benchmark::DoNotOptimize(lwd::statistical_search_per_pair(ctx, m.user, m.ids, m.specs, {}, reference_ip));
  }
  report(state, m);
}

// The same per-pair pattern with our fused kernels: isolates what batching the
// whole market into one evaluation (and precomputed self products) buys.
void BM_Search_PerPairFused(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), true);
  const Context ctx{};
  for (auto _ : state) benchmark::DoNotOptimize(lwd::statistical_search_per_pair(ctx, m.user, m.ids, m.specs));
  report(state, m);
}

// The batched single ranking alone (no mixture), to show where the time goes.
void BM_SingleRanking_Ours(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  for (auto _ : state) benchmark::DoNotOptimize(lwd::batch_mmd2(ctx, m.user, m.pack, {}));
  report(state, m);
}

void BM_SingleRankingFloat32_Ours(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  for (auto _ : state) benchmark::DoNotOptimize(lwd::batch_mmd2_float32(ctx, m.user, m.pack, m.z32, {}));
  report(state, m);
}

}  // namespace

BENCHMARK(BM_Search_Ours)->ArgsProduct({{100, 1100, 10000, 100000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_Float64Only)->ArgsProduct({{100, 1100, 10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_ReferencePattern)->ArgsProduct({{100, 1100}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_PerPairFused)->ArgsProduct({{100, 1100}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SingleRanking_Ours)
    ->ArgsProduct({{100, 1100, 10000, 100000}, {32}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_SingleRankingFloat32_Ours)
    ->ArgsProduct({{100, 1100, 10000, 100000}, {32}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
