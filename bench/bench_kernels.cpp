// RBF kernel throughput against the machine's own DGEMM at the same shape.
//
// The kernel matrix k(A, B) for A, B with m = n rows and d columns costs one
// m x n x d GEMM plus an exp per entry, so its GFLOP/s counter (2 m n d flops,
// the GEMM's) reads directly as a fraction of the DGEMM rate measured in the
// same run. All timings are wall-clock (UseRealTime): the work runs on OpenMP
// threads that CPU time of the main thread would not see.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"
#include "kernels/rbf_kernel.h"

namespace {

using lwd::kernels::ConstMatrixView;
using lwd::kernels::Context;
using lwd::kernels::Matrix;

template <class T>
Matrix<T> random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Matrix<T> m(rows, cols);
  for (T& v : m.values()) v = static_cast<T>(uniform(rng));
  return m;
}

double gemm_gflop(std::int64_t m, std::int64_t n, std::int64_t d) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(d) * 1e-9;
}

void set_gflops(benchmark::State& state, double gflop_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(gflop_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// gamma = 1/d keeps the exp arguments in the range real data produce.
template <class T>
void BM_RbfKernelMatrix(benchmark::State& state) {
  const std::int64_t mn = state.range(0);
  const std::int64_t d = state.range(1);
  const Matrix<T> a = random_matrix<T>(mn, d, 1);
  const Matrix<T> b = random_matrix<T>(mn, d, 2);
  Matrix<T> out(mn, mn);
  const Context ctx{};
  for (auto _ : state) {
    lwd::kernels::rbf_kernel_matrix(ctx, a.view(), b.view(), 1.0 / static_cast<double>(d), out.view());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(mn, mn, d));
}

// The baseline: C = A B^T with OpenBLAS using every OpenMP thread.
void BM_Dgemm(benchmark::State& state) {
  const std::int64_t mn = state.range(0);
  const std::int64_t d = state.range(1);
  const Matrix<double> a = random_matrix<double>(mn, d, 1);
  const Matrix<double> b = random_matrix<double>(mn, d, 2);
  Matrix<double> c(mn, mn);
  openblas_set_num_threads(omp_get_max_threads());
  const int n = static_cast<int>(mn);
  const int k = static_cast<int>(d);
  for (auto _ : state) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, k, 1.0, a.data(), k, b.data(), k, 0.0, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(mn, mn, d));
}

template <class T>
void BM_RbfKernelMatrixRef(benchmark::State& state) {
  const std::int64_t mn = state.range(0);
  const std::int64_t d = state.range(1);
  const Matrix<T> a = random_matrix<T>(mn, d, 1);
  const Matrix<T> b = random_matrix<T>(mn, d, 2);
  Matrix<T> out(mn, mn);
  for (auto _ : state) {
    lwd::kernels::rbf_kernel_matrix_ref<T>(a.view(), b.view(), 1.0 / static_cast<double>(d), out.view());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, gemm_gflop(mn, mn, d));
}

// k(Z, X) w for a reduced set Z of K = 100 points against n data rows: the
// product RKME construction needs. Fused keeps one tile per thread; the
// alternative materialises the K x n matrix and then calls DGEMV.
constexpr std::int64_t kReducedSize = 100;
constexpr std::int64_t kMatmulDim = 32;

void BM_RbfKernelMatmulFused(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const Matrix<double> z = random_matrix<double>(kReducedSize, kMatmulDim, 3);
  const Matrix<double> x = random_matrix<double>(n, kMatmulDim, 4);
  const Matrix<double> w = random_matrix<double>(n, 1, 5);
  Matrix<double> out(kReducedSize, 1);
  const Context ctx{};
  for (auto _ : state) {
    lwd::kernels::rbf_kernel_matmul(ctx, z.view(), x.view(), 1.0 / kMatmulDim, w.view(), out.view());
    benchmark::DoNotOptimize(out.data());
  }
  set_gflops(state, gemm_gflop(kReducedSize, n, kMatmulDim));
}

void BM_RbfKernelMatmulMaterialised(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const Matrix<double> z = random_matrix<double>(kReducedSize, kMatmulDim, 3);
  const Matrix<double> x = random_matrix<double>(n, kMatmulDim, 4);
  const Matrix<double> w = random_matrix<double>(n, 1, 5);
  Matrix<double> k(kReducedSize, n);
  Matrix<double> out(kReducedSize, 1);
  const Context ctx{};
  openblas_set_num_threads(omp_get_max_threads());
  for (auto _ : state) {
    lwd::kernels::rbf_kernel_matrix(ctx, z.view(), x.view(), 1.0 / kMatmulDim, k.view());
    cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(kReducedSize), static_cast<int>(n), 1.0, k.data(),
                static_cast<int>(n), w.data(), 1, 0.0, out.data(), 1);
    benchmark::DoNotOptimize(out.data());
  }
  set_gflops(state, gemm_gflop(kReducedSize, n, kMatmulDim));
}

void kernel_matrix_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"mn", "d"})->ArgsProduct({{256, 1024, 4096}, {16, 32, 64, 256}});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}

void reference_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"mn", "d"})->ArgsProduct({{256}, {16, 32, 64, 256}});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}

void matmul_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"n"})->Arg(10000)->Arg(100000);
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.2);
}

BENCHMARK(BM_Dgemm)->Apply(kernel_matrix_shapes);
BENCHMARK(BM_RbfKernelMatrix<double>)->Name("BM_RbfKernelMatrix/f64")->Apply(kernel_matrix_shapes);
BENCHMARK(BM_RbfKernelMatrix<float>)->Name("BM_RbfKernelMatrix/f32")->Apply(kernel_matrix_shapes);
BENCHMARK(BM_RbfKernelMatrixRef<double>)->Name("BM_RbfKernelMatrixRef/f64")->Apply(reference_shapes);
BENCHMARK(BM_RbfKernelMatrixRef<float>)->Name("BM_RbfKernelMatrixRef/f32")->Apply(reference_shapes);
BENCHMARK(BM_RbfKernelMatmulFused)->Apply(matmul_shapes);
BENCHMARK(BM_RbfKernelMatmulMaterialised)->Apply(matmul_shapes);

}  // namespace

BENCHMARK_MAIN();
