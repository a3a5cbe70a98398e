// One statistical search (single ranking + greedy mixture, K = 100, d = 32)
// over markets of 100 .. 100 000 learnwares, against the per-pair pattern of
// the reference engine (every distance a separate call, self products
// recomputed per pair) in the same run. Counters: learnwares searched, bytes of
// the packed store.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/planted_market.h"
#include "bench/reference_pattern.h"
#include "engine/market/spec_index.h"
#include "engine/market/statistical_search.h"
#include "kernels/random.h"
#include "kernels/rkme_bound.h"

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
  std::int64_t screened = 0;
  for (auto _ : state) {
    const auto r = lwd::statistical_search(ctx, m.user, m.pack, {}, {}, m.z32);
    singles = r.singles.size();
    refined = r.refined;
    screened = r.screened;
    benchmark::DoNotOptimize(r);
  }
  report(state, m);
  state.counters["singles_reported"] = static_cast<double>(singles);
  state.counters["refined_in_float64"] = static_cast<double>(refined);
  state.counters["screened_in_float32"] = static_cast<double>(screened);
}

// The same search screening every member in float32 (no separation bounds).
void BM_Search_ScreenEveryMember(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  lwd::StatSearchOptions o;
  o.separation_bounds = false;
  for (auto _ : state) benchmark::DoNotOptimize(lwd::statistical_search(ctx, m.user, m.pack, {}, o, m.z32));
  report(state, m);
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

// The separation bounds of every member (kernels/rkme_bound.h), the first step
// of the screened search.
void BM_CrossBounds_Ours(benchmark::State& state) {
  const Market& m = market(state.range(0), state.range(1), false);
  const Context ctx{};
  std::vector<std::int64_t> members(static_cast<std::size_t>(m.pack.count()));
  for (std::size_t i = 0; i < members.size(); ++i) members[i] = static_cast<std::int64_t>(i);
  std::vector<double> lower(members.size()), upper(members.size());
  for (auto _ : state) {
    lwd::kernels::rkme_cross_bounds_f32(ctx, m.user.z().view(), m.user.beta(),
                                        lwd::kernels::ConstMatrixView<float>(m.z32.data(), m.pack.total_rows(), m.pack.dim),
                                        m.pack.beta, m.pack.offsets, members, m.pack.gamma, lower, upper);
    benchmark::DoNotOptimize(upper.data());
  }
  report(state, m);
}

// The exact index against the scan, on a planted market (bench/planted_market.h:
// learnwares in task neighbourhoods, as real markets have them; a random market
// gives a metric index nothing to prune). Both sides answer the same search --
// singles and mixture -- for the same users in turn: the scan over every
// member, the index by its candidates and then the search over those, as
// Market::search runs them.
struct IndexedMarket {
  std::unique_ptr<lwd::StoredPack> pack;
  std::vector<std::int64_t> members;
  std::unique_ptr<lwd::SpecIndex> exact;
  std::vector<RKMETableSpec> users;
};

const IndexedMarket& indexed_market(std::int64_t n) {
  static std::map<std::int64_t, std::unique_ptr<IndexedMarket>> cache;
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<IndexedMarket>();
    const Context ctx{};
    Rng rng(static_cast<std::uint64_t>(20261206 + n));
    lwd::bench::PlantedMarket planted = lwd::bench::planted_market(n, kPoints, 32, "domains", rng, ctx);
    for (int q = 0; q < 16; ++q) slot->users.push_back(lwd::bench::planted_user(planted, kPoints, rng));
    slot->pack = std::make_unique<lwd::StoredPack>(std::move(planted.pack));
    slot->members.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) slot->members[static_cast<std::size_t>(i)] = i;
    slot->exact = lwd::build_spec_index(ctx, *slot->pack, slot->members, lwd::IndexKind::kExact, lwd::IndexOptions{});
  }
  return *slot;
}

void BM_IndexedSearch_Scan(benchmark::State& state) {
  const IndexedMarket& m = indexed_market(state.range(0));
  const Context ctx{};
  const auto z32 = m.pack->z32();
  std::size_t q = 0;
  double screened = 0.0;
  double settled = 0.0;
  for (auto _ : state) {
    const RKMETableSpec& user = m.users[q++ % m.users.size()];
    const auto r = lwd::statistical_search(ctx, user, m.pack->slots(), m.members, {}, z32);
    screened += static_cast<double>(r.screened);
    settled += static_cast<double>(r.settled);
    benchmark::DoNotOptimize(r);
  }
  state.counters["learnwares"] = static_cast<double>(state.range(0));
  state.counters["screened_per_search"] = screened / static_cast<double>(std::max<std::size_t>(q, 1));
  state.counters["settled_per_search"] = settled / static_cast<double>(std::max<std::size_t>(q, 1));
}

void BM_IndexedSearch_Exact(benchmark::State& state) {
  const IndexedMarket& m = indexed_market(state.range(0));
  const Context ctx{};
  const std::int64_t candidates = lwd::IndexOptions{}.candidates;
  std::size_t q = 0;
  std::int64_t evaluations = 0;
  std::int64_t queries = 0;
  for (auto _ : state) {
    const RKMETableSpec& user = m.users[q++ % m.users.size()];
    lwd::IndexQueryStats stats;
    const auto hits = m.exact->query(ctx, user, *m.pack, candidates, &stats);
    std::vector<std::int64_t> found;
    for (const auto& h : hits) found.push_back(h.member);
    std::sort(found.begin(), found.end());
    benchmark::DoNotOptimize(lwd::statistical_search(ctx, user, m.pack->slots(), found, {}));
    evaluations += stats.evaluations;
    ++queries;
  }
  state.counters["learnwares"] = static_cast<double>(state.range(0));
  state.counters["evaluated_fraction"] =
      static_cast<double>(evaluations) / static_cast<double>(std::max<std::int64_t>(1, queries) * state.range(0));
}

}  // namespace

BENCHMARK(BM_IndexedSearch_Scan)->Arg(4000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IndexedSearch_Exact)->Arg(4000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_Ours)->ArgsProduct({{100, 1100, 10000, 100000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_Float64Only)->ArgsProduct({{100, 1100, 10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_ScreenEveryMember)->ArgsProduct({{1100, 10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_ReferencePattern)->ArgsProduct({{100, 1100}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Search_PerPairFused)->ArgsProduct({{100, 1100}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CrossBounds_Ours)->ArgsProduct({{1100, 10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SingleRanking_Ours)
    ->ArgsProduct({{100, 1100, 10000, 100000}, {32}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_SingleRankingFloat32_Ours)
    ->ArgsProduct({{100, 1100, 10000, 100000}, {32}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
