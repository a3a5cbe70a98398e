// The two solvers under RKME generation: the simplex QP that gives beta (and
// mixture weights in search) and k-means, whose Lloyd iterations dominate the
// cost of building a spec.
//
//   bench_solvers --benchmark_format=json > results/bench/solvers.json
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/context.h"
#include "kernels/kmeans.h"
#include "kernels/matrix.h"
#include "kernels/random.h"
#include "kernels/simplex_qp.h"

namespace {

using lwd::kernels::Context;
using lwd::kernels::KMeansOptions;
using lwd::kernels::KMeansResult;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;
using lwd::kernels::SimplexQpResult;

// Rows scattered around `n_blobs` centres: real tabular data has structure, and
// Lloyd's iteration count on pure noise would not be representative.
Matrix<double> blob_data(std::int64_t n, std::int64_t d, std::int64_t n_blobs, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> centres(n_blobs, d);
  for (double& v : centres.values()) v = 2.0 * rng.normal();
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t b = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n_blobs)));
    for (std::int64_t f = 0; f < d; ++f) x(i, f) = centres(b, f) + rng.normal();
  }
  return x;
}

double rbf(const double* a, const double* b, std::int64_t d, double gamma) {
  double s = 0.0;
  for (std::int64_t f = 0; f < d; ++f) s += (a[f] - b[f]) * (a[f] - b[f]);
  return std::exp(-gamma * s);
}

// The RKME beta problem of step 4 (docs/DESIGN.md §3.2): K = k(Z, Z) and
// c_i = mean_j k(z_i, x_j), gamma = 0.1, Z drawn from the data's distribution.
struct QpProblem {
  Matrix<double> k;
  std::vector<double> c;
};

QpProblem rkme_beta_problem(std::int64_t n, std::uint64_t seed) {
  const std::int64_t d = 8;
  const Matrix<double> z = blob_data(n, d, 10, seed);
  const Matrix<double> x = blob_data(2000, d, 10, seed);
  QpProblem p{Matrix<double>(n, n), std::vector<double>(static_cast<std::size_t>(n), 0.0)};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) p.k(i, j) = rbf(z.row(i), z.row(j), d, 0.1);
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < x.rows(); ++j) s += rbf(z.row(i), x.row(j), d, 0.1);
    p.c[static_cast<std::size_t>(i)] = s / static_cast<double>(x.rows());
  }
  return p;
}

void BM_SimplexQpRbf(benchmark::State& state) {
  const QpProblem p = rkme_beta_problem(state.range(0), 1);
  SimplexQpResult r;
  for (auto _ : state) {
    r = lwd::kernels::solve_simplex_qp(p.k.view(), p.c);
    benchmark::DoNotOptimize(r.x.data());
  }
  std::int64_t support = 0;
  for (double v : r.x) support += v > 0.0;
  state.counters["iterations"] = r.iterations;
  state.counters["support"] = static_cast<double>(support);
  state.counters["kkt_residual"] = r.kkt_residual;
}
BENCHMARK(BM_SimplexQpRbf)->Arg(25)->Arg(100)->Arg(300)->Unit(benchmark::kMicrosecond);

void run_kmeans(benchmark::State& state, const Context& ctx) {
  const std::int64_t n = state.range(0), d = state.range(1);
  const Matrix<double> x = blob_data(n, d, 50, 7);
  KMeansOptions options;
  options.k = 100;
  options.max_iter = 100;
  options.seed = 3;
  KMeansResult r;
  for (auto _ : state) {
    r = lwd::kernels::kmeans(ctx, x.view(), options);
    benchmark::DoNotOptimize(r.centroids.data());
  }
  state.counters["iterations"] = r.iterations;
  state.counters["threads"] = ctx.threads();
  // Distance evaluations per second: n * k per Lloyd iteration.
  state.counters["row_centroid_pairs"] = benchmark::Counter(
      static_cast<double>(n) * options.k * std::max(1, r.iterations), benchmark::Counter::kIsIterationInvariantRate);
}

// k = 100, max_iter = 100 as in RKME generation; all OpenMP threads.
void BM_KMeans(benchmark::State& state) { run_kmeans(state, Context{}); }
BENCHMARK(BM_KMeans)
    ->ArgNames({"n", "d"})
    ->ArgsProduct({{1000, 10000, 100000}, {16, 32, 64}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

// The RKME shape (n = 10^4, d = 32) at fixed thread counts, for scaling.
void BM_KMeansThreads(benchmark::State& state) {
  run_kmeans(state, Context{.n_threads = static_cast<int>(state.range(2))});
}
BENCHMARK(BM_KMeansThreads)
    ->ArgNames({"n", "d", "threads"})
    ->Args({10000, 32, 1})
    ->Args({10000, 32, 2})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.2);

}  // namespace

BENCHMARK_MAIN();
