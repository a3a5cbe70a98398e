// Distances between RKME specifications: one pair, and one user spec against a
// whole market. Each case has a reference-pattern twin in the same run.
#include <benchmark/benchmark.h>

#include <vector>

#include "bench/reference_pattern.h"
#include "kernels/random.h"
#include "kernels/rkme.h"

namespace {

using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

constexpr double kGamma = 0.1;

struct Spec {
  Matrix<double> z;
  std::vector<double> beta;
};

// Random specs with the shape of real ones (K points, weights on the simplex).
Spec random_spec(std::int64_t k, std::int64_t d, Rng& rng) {
  Spec s{Matrix<double>(k, d), std::vector<double>(static_cast<std::size_t>(k))};
  const double shift = rng.normal();
  for (auto& v : s.z.values()) v = rng.normal() + shift;
  double total = 0.0;
  for (auto& b : s.beta) total += (b = rng.uniform());
  for (auto& b : s.beta) b /= total;
  return s;
}

void BM_PairDistance_Ours(benchmark::State& state) {
  const std::int64_t k = state.range(0), d = state.range(1);
  Rng rng(1);
  const Spec p = random_spec(k, d, rng), q = random_spec(k, d, rng);
  const Context ctx{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(lwd::kernels::rkme_mmd2(ctx, p.z.view(), p.beta, q.z.view(), q.beta, kGamma));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PairDistance_ReferencePattern(benchmark::State& state) {
  const std::int64_t k = state.range(0), d = state.range(1);
  Rng rng(1);
  const Spec p = random_spec(k, d, rng), q = random_spec(k, d, rng);
  for (auto _ : state) {
    benchmark::DoNotOptimize(lwd::bench::reference_mmd2(p.z.view(), p.beta, q.z.view(), q.beta, kGamma));
  }
  state.SetItemsProcessed(state.iterations());
}

// A market of M specs packed back to back (as the market store keeps them),
// with self products computed once, at submission, outside the timed loop.
struct PackedMarket {
  Matrix<double> z;
  std::vector<double> beta;
  std::vector<std::int64_t> offsets;
  std::vector<double> self_products;
  std::vector<Spec> specs;  // the same specs unpacked, for the reference pattern
};

PackedMarket make_market(std::int64_t m, std::int64_t k, std::int64_t d) {
  Rng rng(7);
  PackedMarket market;
  market.z = Matrix<double>(m * k, d);
  market.offsets.push_back(0);
  for (std::int64_t i = 0; i < m; ++i) {
    Spec s = random_spec(k, d, rng);
    std::copy(s.z.data(), s.z.data() + k * d, market.z.row(i * k));
    market.beta.insert(market.beta.end(), s.beta.begin(), s.beta.end());
    market.offsets.push_back((i + 1) * k);
    market.self_products.push_back(
        lwd::kernels::rkme_inner_product(Context{}, s.z.view(), s.beta, s.z.view(), s.beta, kGamma));
    market.specs.push_back(std::move(s));
  }
  return market;
}

void BM_UserVsMarket_Ours(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = 100, d = state.range(1);
  const PackedMarket market = make_market(m, k, d);
  Rng rng(3);
  const Spec user = random_spec(k, d, rng);
  const Context ctx{};
  std::vector<double> cross(static_cast<std::size_t>(m)), mmd2(static_cast<std::size_t>(m));
  for (auto _ : state) {
    const double uu = lwd::kernels::rkme_inner_product(ctx, user.z.view(), user.beta, user.z.view(), user.beta, kGamma);
    lwd::kernels::rkme_batch_inner_products(ctx, user.z.view(), user.beta, market.z.view(), market.beta,
                                            market.offsets, kGamma, cross);
    for (std::int64_t i = 0; i < m; ++i)
      mmd2[static_cast<std::size_t>(i)] = uu - 2.0 * cross[static_cast<std::size_t>(i)] +
                                          market.self_products[static_cast<std::size_t>(i)];
    benchmark::DoNotOptimize(mmd2.data());
  }
  state.counters["specs_per_s"] = benchmark::Counter(static_cast<double>(m), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_UserVsMarket_ReferencePattern(benchmark::State& state) {
  const std::int64_t m = state.range(0), k = 100, d = state.range(1);
  const PackedMarket market = make_market(m, k, d);
  Rng rng(3);
  const Spec user = random_spec(k, d, rng);
  std::vector<double> mmd2(static_cast<std::size_t>(m));
  for (auto _ : state) {
    for (std::int64_t i = 0; i < m; ++i) {
      const Spec& s = market.specs[static_cast<std::size_t>(i)];
      mmd2[static_cast<std::size_t>(i)] = lwd::bench::reference_mmd2(user.z.view(), user.beta, s.z.view(), s.beta, kGamma);
    }
    benchmark::DoNotOptimize(mmd2.data());
  }
  state.counters["specs_per_s"] = benchmark::Counter(static_cast<double>(m), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_PairDistance_Ours)->ArgsProduct({{100}, {16, 32, 64}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PairDistance_ReferencePattern)->ArgsProduct({{100}, {16, 32, 64}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_UserVsMarket_Ours)->ArgsProduct({{100, 1100, 10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_UserVsMarket_ReferencePattern)->ArgsProduct({{100, 1100}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
