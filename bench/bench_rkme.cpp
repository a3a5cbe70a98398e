// RKME generation (k-means init, beta QP, 3 gradient steps) at the sizes the
// market sees, beside the reference pattern of evaluating the same steps.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "bench/reference_pattern.h"
#include "kernels/kmeans.h"
#include "kernels/random.h"
#include "kernels/rkme.h"
#include "kernels/simplex_qp.h"

namespace {

using lwd::kernels::Context;
using lwd::kernels::ConstMatrixView;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

// Data with cluster structure (eight Gaussian blobs), like real feature tables
// rather than a single isotropic Gaussian, so k-means does realistic work.
Matrix<double> blob_data(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> centres(8, d);
  for (auto& v : centres.values()) v = 3.0 * rng.normal();
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::int64_t>(rng.below(8));
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + rng.normal();
  }
  return x;
}

void BM_RkmeGenerate(benchmark::State& state) {
  const std::int64_t n = state.range(0), d = state.range(1);
  const Matrix<double> x = blob_data(n, d, 42);
  lwd::kernels::RkmeOptions options;  // K = 100, 3 steps, gamma 0.1, step 0.1
  const Context ctx{};
  for (auto _ : state) {
    auto rkme = lwd::kernels::build_rkme(ctx, x.view(), options);
    benchmark::DoNotOptimize(rkme.beta.data());
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// The reference's steps after k-means: C from a materialised K x n kernel
// matrix, then per centre a full kernel row against the data for the gradient.
// k-means and the QP are shared with ours, so the ratio isolates the pattern.
std::vector<double> reference_beta(ConstMatrixView<double> z, ConstMatrixView<double> x, double gamma) {
  const Matrix<double> kzz = lwd::bench::reference_kernel_matrix(z, z, gamma);
  const Matrix<double> kzx = lwd::bench::reference_kernel_matrix(z, x, gamma);
  std::vector<double> c(static_cast<std::size_t>(z.rows), 0.0);
  for (std::int64_t i = 0; i < z.rows; ++i) {
    for (std::int64_t j = 0; j < x.rows; ++j) c[static_cast<std::size_t>(i)] += kzx(i, j);
    c[static_cast<std::size_t>(i)] /= static_cast<double>(x.rows);
  }
  return lwd::kernels::solve_simplex_qp(kzz.view(), c).x;
}

void reference_gradient_step(Matrix<double>& z, const std::vector<double>& beta, ConstMatrixView<double> x,
                             double gamma, double step) {
  const std::int64_t k = z.rows(), d = z.cols();
  Matrix<double> grad(k, d);
  for (std::int64_t i = 0; i < k; ++i) {
    const ConstMatrixView<double> zi(z.row(i), 1, d);
    const Matrix<double> kz = lwd::bench::reference_kernel_matrix(zi, z.view(), gamma);
    const Matrix<double> kx = lwd::bench::reference_kernel_matrix(zi, x, gamma);
    std::vector<double> term(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t j = 0; j < k; ++j)
      for (std::int64_t c = 0; c < d; ++c)
        term[static_cast<std::size_t>(c)] += beta[static_cast<std::size_t>(j)] * kz(0, j) * (z(i, c) - z(j, c));
    for (std::int64_t j = 0; j < x.rows; ++j)
      for (std::int64_t c = 0; c < d; ++c)
        term[static_cast<std::size_t>(c)] -= 2.0 * kx(0, j) / static_cast<double>(x.rows) * (z(i, c) - x(j, c));
    for (std::int64_t c = 0; c < d; ++c)
      grad(i, c) = -2.0 * gamma * beta[static_cast<std::size_t>(i)] * term[static_cast<std::size_t>(c)];
  }
  for (std::int64_t i = 0; i < k * d; ++i) z.data()[i] -= step * grad.data()[i];
}

void BM_RkmeGenerate_ReferencePattern(benchmark::State& state) {
  const std::int64_t n = state.range(0), d = state.range(1);
  const Matrix<double> x = blob_data(n, d, 42);
  const lwd::kernels::RkmeOptions options;
  const Context ctx{};
  for (auto _ : state) {
    lwd::kernels::KMeansOptions km;
    km.k = static_cast<int>(lwd::kernels::effective_rkme_size(options.k, n));
    km.max_iter = options.kmeans_max_iter;
    Matrix<double> z = lwd::kernels::kmeans(ctx, x.view(), km).centroids;
    std::vector<double> beta = reference_beta(z.view(), x.view(), options.gamma);
    for (int s = 0; s < options.steps; ++s) {
      reference_gradient_step(z, beta, x.view(), options.gamma, options.step_size);
      beta = reference_beta(z.view(), x.view(), options.gamma);
    }
    benchmark::DoNotOptimize(beta.data());
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// The part of generation after k-means, ours, for a like-for-like ratio with
// the reference pattern's post-k-means steps.
void BM_RkmeRefine_Ours(benchmark::State& state) {
  const std::int64_t n = state.range(0), d = state.range(1);
  const Matrix<double> x = blob_data(n, d, 42);
  const lwd::kernels::RkmeOptions options;
  const Context ctx{};
  lwd::kernels::KMeansOptions km;
  km.k = static_cast<int>(lwd::kernels::effective_rkme_size(options.k, n));
  const Matrix<double> z0 = lwd::kernels::kmeans(ctx, x.view(), km).centroids;
  for (auto _ : state) {
    Matrix<double> z = z0;
    std::vector<double> beta = lwd::kernels::rkme_optimal_beta(ctx, z.view(), x.view(), options.gamma, true);
    for (int s = 0; s < options.steps; ++s) {
      lwd::kernels::rkme_gradient_step(ctx, z.view(), beta, x.view(), options.gamma, options.step_size);
      beta = lwd::kernels::rkme_optimal_beta(ctx, z.view(), x.view(), options.gamma, true);
    }
    benchmark::DoNotOptimize(beta.data());
  }
}

void BM_RkmeRefine_ReferencePattern(benchmark::State& state) {
  const std::int64_t n = state.range(0), d = state.range(1);
  const Matrix<double> x = blob_data(n, d, 42);
  const lwd::kernels::RkmeOptions options;
  lwd::kernels::KMeansOptions km;
  km.k = static_cast<int>(lwd::kernels::effective_rkme_size(options.k, n));
  const Matrix<double> z0 = lwd::kernels::kmeans(Context{}, x.view(), km).centroids;
  for (auto _ : state) {
    Matrix<double> z = z0;
    std::vector<double> beta = reference_beta(z.view(), x.view(), options.gamma);
    for (int s = 0; s < options.steps; ++s) {
      reference_gradient_step(z, beta, x.view(), options.gamma, options.step_size);
      beta = reference_beta(z.view(), x.view(), options.gamma);
    }
    benchmark::DoNotOptimize(beta.data());
  }
}

}  // namespace

BENCHMARK(BM_RkmeGenerate)->ArgsProduct({{1000, 10000, 100000}, {16, 32, 64}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RkmeGenerate_ReferencePattern)->ArgsProduct({{1000, 10000}, {16, 32, 64}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RkmeRefine_Ours)->ArgsProduct({{10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RkmeRefine_ReferencePattern)->ArgsProduct({{10000}, {32}})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
