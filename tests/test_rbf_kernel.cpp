#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kernels/context.h"
#include "kernels/error.h"
#include "kernels/matrix.h"
#include "kernels/rbf_kernel.h"

using lwd::kernels::ConstMatrixView;
using lwd::kernels::Context;
using lwd::kernels::KernelError;
using lwd::kernels::Matrix;
using lwd::kernels::MatrixView;
using lwd::kernels::rbf_kernel_bilinear;
using lwd::kernels::rbf_kernel_bilinear_ref;
using lwd::kernels::rbf_kernel_left_vecmul;
using lwd::kernels::rbf_kernel_left_vecmul_ref;
using lwd::kernels::rbf_kernel_matmul;
using lwd::kernels::rbf_kernel_matmul_ref;
using lwd::kernels::rbf_kernel_matrix;
using lwd::kernels::rbf_kernel_matrix_ref;

namespace {

// Dimensions around SIMD widths and BLAS unrolling, so tails are exercised.
constexpr std::int64_t kDims[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64};

// (rows of a, rows of b): single rows, sizes around 64, and sizes that span
// several 128 x 512 tiles with ragged last tiles.
constexpr std::pair<std::int64_t, std::int64_t> kRowPairs[] = {
    {1, 1}, {2, 5}, {5, 2}, {63, 65}, {64, 64}, {65, 63}, {1, 600}, {600, 1}, {257, 600}, {600, 257}};

const Context kTwoThreads{.n_threads = 2};

template <class T>
constexpr double tolerance() {
  return std::is_same_v<T, double> ? 1e-10 : 1e-5;
}

// Uniform in [-1, 1]: with gamma = 1/d the kernel values spread over (0, 1].
template <class T>
Matrix<T> random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Matrix<T> m(rows, cols);
  for (T& v : m.values()) v = static_cast<T>(uniform(rng));
  return m;
}

std::vector<double> random_weights(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> w(static_cast<std::size_t>(n));
  for (double& v : w) v = uniform(rng);
  return w;
}

std::vector<double> absolute(std::vector<double> v) {
  for (double& x : v) x = std::fabs(x);
  return v;
}

Matrix<double> absolute(const Matrix<double>& m) {
  Matrix<double> r = m;
  for (double& x : r.values()) x = std::fabs(x);
  return r;
}

double gamma_for(std::int64_t d) { return 1.0 / static_cast<double>(d); }

// max_i |actual_i - expected_i| / max_i |scale_i|: a relative-to-max error that
// stays meaningful where individual entries are near zero.
template <class A, class B, class S>
double error_relative_to_max(const A& actual, const B& expected, const S& scale) {
  double diff = 0.0;
  double top = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(actual[i]) - static_cast<double>(expected[i])));
    top = std::max(top, std::fabs(static_cast<double>(scale[i])));
  }
  return top > 0.0 ? diff / top : diff;
}

std::string shape_trace(std::int64_t m, std::int64_t n, std::int64_t d) {
  return "a rows " + std::to_string(m) + ", b rows " + std::to_string(n) + ", d " + std::to_string(d);
}

template <class F>
void expect_kernel_error_mentioning(F&& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "expected KernelError mentioning '" << fragment << "'";
  } catch (const KernelError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

// ---------------------------------------------------------------------------
// Each function against its reference over awkward shapes.

template <class T>
void check_kernel_matrix_against_ref() {
  for (const std::int64_t d : kDims) {
    for (const auto& [m, n] : kRowPairs) {
      SCOPED_TRACE(shape_trace(m, n, d));
      const Matrix<T> a = random_matrix<T>(m, d, 100 + static_cast<std::uint64_t>(m * 7 + d));
      const Matrix<T> b = random_matrix<T>(n, d, 200 + static_cast<std::uint64_t>(n * 7 + d));
      Matrix<T> fast(m, n), expected(m, n);
      rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), gamma_for(d), fast.view());
      rbf_kernel_matrix_ref<T>(a.view(), b.view(), gamma_for(d), expected.view());
      EXPECT_LE(error_relative_to_max(fast.values(), expected.values(), expected.values()), tolerance<T>());
    }
  }
}

template <class T>
void check_kernel_matmul_against_ref() {
  for (const std::int64_t d : kDims) {
    for (const auto& [m, n] : kRowPairs) {
      for (const std::int64_t cols : {1, 3}) {
        SCOPED_TRACE(shape_trace(m, n, d) + ", w cols " + std::to_string(cols));
        const Matrix<T> a = random_matrix<T>(m, d, 300 + static_cast<std::uint64_t>(m + d));
        const Matrix<T> b = random_matrix<T>(n, d, 400 + static_cast<std::uint64_t>(n + d));
        const Matrix<double> w = random_matrix<double>(n, cols, 500 + static_cast<std::uint64_t>(n));
        Matrix<double> fast(m, cols), expected(m, cols), scale(m, cols);
        rbf_kernel_matmul(kTwoThreads, a.view(), b.view(), gamma_for(d), w.view(), fast.view());
        rbf_kernel_matmul_ref<T>(a.view(), b.view(), gamma_for(d), w.view(), expected.view());
        // The error bound scales with k |W|, not with the (cancelling) signed sum.
        const Matrix<double> w_abs = absolute(w);
        rbf_kernel_matmul_ref<T>(a.view(), b.view(), gamma_for(d), w_abs.view(), scale.view());
        EXPECT_LE(error_relative_to_max(fast.values(), expected.values(), scale.values()), tolerance<T>());
      }
    }
  }
}

template <class T>
void check_kernel_left_vecmul_against_ref() {
  for (const std::int64_t d : kDims) {
    for (const auto& [m, n] : kRowPairs) {
      SCOPED_TRACE(shape_trace(m, n, d));
      const Matrix<T> a = random_matrix<T>(m, d, 600 + static_cast<std::uint64_t>(m + d));
      const Matrix<T> b = random_matrix<T>(n, d, 700 + static_cast<std::uint64_t>(n + d));
      const std::vector<double> w = random_weights(m, 800 + static_cast<std::uint64_t>(m));
      const std::vector<double> w_abs = absolute(w);
      std::vector<double> fast(static_cast<std::size_t>(n)), expected(fast.size()), scale(fast.size());
      rbf_kernel_left_vecmul(kTwoThreads, w, a.view(), b.view(), gamma_for(d), fast);
      rbf_kernel_left_vecmul_ref<T>(w, a.view(), b.view(), gamma_for(d), expected);
      rbf_kernel_left_vecmul_ref<T>(w_abs, a.view(), b.view(), gamma_for(d), scale);
      EXPECT_LE(error_relative_to_max(fast, expected, scale), tolerance<T>());
    }
  }
}

template <class T>
void check_kernel_bilinear_against_ref() {
  for (const std::int64_t d : kDims) {
    for (const auto& [m, n] : kRowPairs) {
      SCOPED_TRACE(shape_trace(m, n, d));
      const Matrix<T> a = random_matrix<T>(m, d, 900 + static_cast<std::uint64_t>(m + d));
      const Matrix<T> b = random_matrix<T>(n, d, 1000 + static_cast<std::uint64_t>(n + d));
      const std::vector<double> u = random_weights(m, 1100 + static_cast<std::uint64_t>(m));
      const std::vector<double> v = random_weights(n, 1200 + static_cast<std::uint64_t>(n));
      const double fast = rbf_kernel_bilinear(kTwoThreads, u, a.view(), b.view(), v, gamma_for(d));
      const double expected = rbf_kernel_bilinear_ref<T>(u, a.view(), b.view(), v, gamma_for(d));
      const double scale = rbf_kernel_bilinear_ref<T>(absolute(u), a.view(), b.view(), absolute(v), gamma_for(d));
      EXPECT_LE(std::fabs(fast - expected), tolerance<T>() * scale) << fast << " vs " << expected;
    }
  }
}

}  // namespace

TEST(RbfKernelMatrix, Float64MatchesReferenceOnAwkwardShapes) { check_kernel_matrix_against_ref<double>(); }
TEST(RbfKernelMatrix, Float32MatchesReferenceOnAwkwardShapes) { check_kernel_matrix_against_ref<float>(); }
TEST(RbfKernelMatmul, Float64MatchesReferenceOnAwkwardShapes) { check_kernel_matmul_against_ref<double>(); }
TEST(RbfKernelMatmul, Float32MatchesReferenceOnAwkwardShapes) { check_kernel_matmul_against_ref<float>(); }
TEST(RbfKernelLeftVecmul, Float64MatchesReferenceOnAwkwardShapes) { check_kernel_left_vecmul_against_ref<double>(); }
TEST(RbfKernelLeftVecmul, Float32MatchesReferenceOnAwkwardShapes) { check_kernel_left_vecmul_against_ref<float>(); }
TEST(RbfKernelBilinear, Float64MatchesReferenceOnAwkwardShapes) { check_kernel_bilinear_against_ref<double>(); }
TEST(RbfKernelBilinear, Float32MatchesReferenceOnAwkwardShapes) { check_kernel_bilinear_against_ref<float>(); }

// ---------------------------------------------------------------------------
// Thread-count independence: shapes with several tiles in both directions
// (and, for the fused products, several chunks of the contracted side).

namespace {
const Context kThreadCounts[] = {Context{.n_threads = 1}, Context{.n_threads = 2}, Context{.n_threads = 3}};
}  // namespace

TEST(RbfKernelMatrix, Float64IsBitIdenticalFor1And2And3Threads) {
  const Matrix<double> a = random_matrix<double>(300, 33, 1);
  const Matrix<double> b = random_matrix<double>(1100, 33, 2);
  std::vector<Matrix<double>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(300, 1100);
    rbf_kernel_matrix(ctx, a.view(), b.view(), 0.05, results.back().view());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelMatrix, Float32IsBitIdenticalFor1And2And3Threads) {
  const Matrix<float> a = random_matrix<float>(300, 17, 3);
  const Matrix<float> b = random_matrix<float>(1100, 17, 4);
  std::vector<Matrix<float>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(300, 1100);
    rbf_kernel_matrix(ctx, a.view(), b.view(), 0.05, results.back().view());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelMatmul, IsBitIdenticalFor1And2And3ThreadsWhenARowsOwnTheOutput) {
  // Enough row tiles of A that each task owns its output rows outright.
  const Matrix<double> a = random_matrix<double>(2100, 9, 5);
  const Matrix<double> b = random_matrix<double>(1300, 9, 6);
  const Matrix<double> w = random_matrix<double>(1300, 2, 7);
  std::vector<Matrix<double>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(2100, 2);
    rbf_kernel_matmul(ctx, a.view(), b.view(), 0.1, w.view(), results.back().view());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelMatmul, IsBitIdenticalFor1And2And3ThreadsWhenBIsSplitIntoChunks) {
  // Few rows of A, many of B: the sum over B is split into partial chunks.
  const Matrix<double> a = random_matrix<double>(100, 32, 8);
  const Matrix<double> b = random_matrix<double>(9000, 32, 9);
  const Matrix<double> w = random_matrix<double>(9000, 1, 10);
  std::vector<Matrix<double>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(100, 1);
    rbf_kernel_matmul(ctx, a.view(), b.view(), 0.1, w.view(), results.back().view());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelMatmul, Float32IsBitIdenticalFor1And2And3Threads) {
  const Matrix<float> a = random_matrix<float>(150, 16, 11);
  const Matrix<float> b = random_matrix<float>(3000, 16, 12);
  const Matrix<double> w = random_matrix<double>(3000, 3, 13);
  std::vector<Matrix<double>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(150, 3);
    rbf_kernel_matmul(ctx, a.view(), b.view(), 0.1, w.view(), results.back().view());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelLeftVecmul, IsBitIdenticalFor1And2And3Threads) {
  const Matrix<double> a = random_matrix<double>(4000, 31, 14);
  const Matrix<double> b = random_matrix<double>(700, 31, 15);
  const std::vector<double> w = random_weights(4000, 16);
  std::vector<std::vector<double>> results;
  for (const Context& ctx : kThreadCounts) {
    results.emplace_back(700);
    rbf_kernel_left_vecmul(ctx, w, a.view(), b.view(), 0.1, results.back());
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(RbfKernelBilinear, IsBitIdenticalFor1And2And3Threads) {
  const Matrix<float> a = random_matrix<float>(500, 8, 17);
  const Matrix<float> b = random_matrix<float>(1500, 8, 18);
  const std::vector<double> u = random_weights(500, 19);
  const std::vector<double> v = random_weights(1500, 20);
  std::vector<double> results;
  for (const Context& ctx : kThreadCounts) results.push_back(rbf_kernel_bilinear(ctx, u, a.view(), b.view(), v, 0.3));
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// ---------------------------------------------------------------------------
// Strided views: rows padded beyond cols in the inputs and the output.

namespace {

// Copies m into a buffer whose rows are `stride` apart, padding with `fill`.
template <class T>
std::vector<T> padded_copy(const Matrix<T>& m, std::int64_t stride, T fill) {
  std::vector<T> buf(static_cast<std::size_t>(m.rows() * stride), fill);
  for (std::int64_t i = 0; i < m.rows(); ++i) std::copy_n(m.row(i), m.cols(), buf.data() + i * stride);
  return buf;
}

}  // namespace

TEST(RbfKernelMatrix, StridedInputsAndOutputMatchContiguousResult) {
  const Matrix<double> a = random_matrix<double>(70, 5, 21);
  const Matrix<double> b = random_matrix<double>(530, 5, 22);
  const std::vector<double> a_buf = padded_copy(a, 9, std::numeric_limits<double>::quiet_NaN());
  const std::vector<double> b_buf = padded_copy(b, 6, std::numeric_limits<double>::quiet_NaN());
  const std::int64_t out_stride = 541;
  std::vector<double> out_buf(static_cast<std::size_t>(70 * out_stride), -7.0);
  rbf_kernel_matrix(kTwoThreads, ConstMatrixView<double>(a_buf.data(), 70, 5, 9),
                    ConstMatrixView<double>(b_buf.data(), 530, 5, 6), 0.2,
                    MatrixView<double>(out_buf.data(), 70, 530, out_stride));
  Matrix<double> expected(70, 530);
  rbf_kernel_matrix_ref<double>(a.view(), b.view(), 0.2, expected.view());
  for (std::int64_t i = 0; i < 70; ++i) {
    for (std::int64_t j = 0; j < 530; ++j) {
      ASSERT_NEAR(out_buf[static_cast<std::size_t>(i * out_stride + j)], expected(i, j), 1e-12) << i << "," << j;
    }
    for (std::int64_t j = 530; j < out_stride; ++j) {
      ASSERT_EQ(out_buf[static_cast<std::size_t>(i * out_stride + j)], -7.0) << "padding overwritten in row " << i;
    }
  }
}

TEST(RbfKernelMatrix, Float32StridedInputsMatchContiguousResult) {
  const Matrix<float> a = random_matrix<float>(40, 3, 23);
  const Matrix<float> b = random_matrix<float>(600, 3, 24);
  const std::vector<float> a_buf = padded_copy(a, 4, 1e30f);
  const std::vector<float> b_buf = padded_copy(b, 7, 1e30f);
  Matrix<float> fast(40, 600), expected(40, 600);
  rbf_kernel_matrix(kTwoThreads, ConstMatrixView<float>(a_buf.data(), 40, 3, 4),
                    ConstMatrixView<float>(b_buf.data(), 600, 3, 7), 0.5, fast.view());
  rbf_kernel_matrix_ref<float>(a.view(), b.view(), 0.5, expected.view());
  EXPECT_LE(error_relative_to_max(fast.values(), expected.values(), expected.values()), 1e-5);
}

TEST(RbfKernelMatmul, StridedInputsWeightsAndOutputMatchContiguousResult) {
  const Matrix<double> a = random_matrix<double>(130, 4, 25);
  const Matrix<double> b = random_matrix<double>(1200, 4, 26);
  const Matrix<double> w = random_matrix<double>(1200, 2, 27);
  const std::vector<double> a_buf = padded_copy(a, 5, 1e300);
  const std::vector<double> b_buf = padded_copy(b, 8, 1e300);
  const std::vector<double> w_buf = padded_copy(w, 3, 1e300);
  std::vector<double> out_buf(130 * 4, -7.0);
  rbf_kernel_matmul(kTwoThreads, ConstMatrixView<double>(a_buf.data(), 130, 4, 5),
                    ConstMatrixView<double>(b_buf.data(), 1200, 4, 8), 0.3,
                    ConstMatrixView<double>(w_buf.data(), 1200, 2, 3), MatrixView<double>(out_buf.data(), 130, 2, 4));
  Matrix<double> expected(130, 2);
  rbf_kernel_matmul_ref<double>(a.view(), b.view(), 0.3, w.view(), expected.view());
  for (std::int64_t i = 0; i < 130; ++i) {
    EXPECT_NEAR(out_buf[static_cast<std::size_t>(i * 4)], expected(i, 0), 1e-10);
    EXPECT_NEAR(out_buf[static_cast<std::size_t>(i * 4 + 1)], expected(i, 1), 1e-10);
    EXPECT_EQ(out_buf[static_cast<std::size_t>(i * 4 + 2)], -7.0);
    EXPECT_EQ(out_buf[static_cast<std::size_t>(i * 4 + 3)], -7.0);
  }
}

TEST(RbfKernelBilinear, StridedInputsMatchContiguousResult) {
  const Matrix<double> a = random_matrix<double>(90, 6, 28);
  const Matrix<double> b = random_matrix<double>(700, 6, 29);
  const std::vector<double> a_buf = padded_copy(a, 10, -1e300);
  const std::vector<double> b_buf = padded_copy(b, 11, -1e300);
  const std::vector<double> u = random_weights(90, 30);
  const std::vector<double> v = random_weights(700, 31);
  const double fast = rbf_kernel_bilinear(kTwoThreads, u, ConstMatrixView<double>(a_buf.data(), 90, 6, 10),
                                          ConstMatrixView<double>(b_buf.data(), 700, 6, 11), v, 0.2);
  EXPECT_NEAR(fast, rbf_kernel_bilinear_ref<double>(u, a.view(), b.view(), v, 0.2), 1e-9);
}

// ---------------------------------------------------------------------------
// Values with a known answer.

TEST(RbfKernelMatrix, MatchesClosedFormOnHandPickedPoints) {
  const Matrix<double> a(2, 2, std::vector<double>{0.0, 0.0, 1.0, 1.0});
  const Matrix<double> b(1, 2, std::vector<double>{1.0, 2.0});
  Matrix<double> out(2, 1);
  rbf_kernel_matrix(Context{}, a.view(), b.view(), 0.1, out.view());
  EXPECT_NEAR(out(0, 0), std::exp(-0.1 * 5.0), 1e-15);
  EXPECT_NEAR(out(1, 0), std::exp(-0.1 * 1.0), 1e-15);
}

TEST(RbfKernelMatrix, IdenticalPointsGiveOne) {
  const Matrix<double> a = random_matrix<double>(200, 33, 32);
  Matrix<double> out(200, 200);
  rbf_kernel_matrix(kTwoThreads, a.view(), a.view(), 0.1, out.view());
  for (std::int64_t i = 0; i < 200; ++i) EXPECT_NEAR(out(i, i), 1.0, 1e-13) << "row " << i;
  for (const double v : out.values()) {
    EXPECT_LE(v, 1.0);
    EXPECT_GT(v, 0.0);
  }
}

TEST(RbfKernelMatrix, Float32IdenticalPointsGiveOne) {
  const Matrix<float> a = random_matrix<float>(50, 7, 33);
  Matrix<float> out(50, 50);
  rbf_kernel_matrix(kTwoThreads, a.view(), a.view(), 0.1, out.view());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_FLOAT_EQ(out(i, i), 1.0f) << "row " << i;
}

TEST(RbfKernelMatrix, FarPointsGiveZero) {
  const Matrix<double> a = random_matrix<double>(10, 4, 34);
  Matrix<double> b = random_matrix<double>(20, 4, 35);
  for (double& v : b.values()) v += 100.0;
  Matrix<double> out(10, 20, -1.0);
  rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 1.0, out.view());
  for (const double v : out.values()) EXPECT_EQ(v, 0.0);
}

TEST(RbfKernelMatrix, DoublingGammaSquaresTheKernel) {
  const Matrix<double> a = random_matrix<double>(65, 9, 36);
  const Matrix<double> b = random_matrix<double>(17, 9, 37);
  Matrix<double> k1(65, 17), k2(65, 17);
  rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 0.15, k1.view());
  rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 0.30, k2.view());
  for (std::int64_t i = 0; i < k1.size(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    EXPECT_NEAR(k2.values()[k], k1.values()[k] * k1.values()[k], 1e-14);
  }
}

TEST(RbfKernelMatrix, ZeroColumnsGiveAllOnes) {
  const Matrix<double> a(3, 0), b(4, 0);
  Matrix<double> out(3, 4);
  rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 0.1, out.view());
  for (const double v : out.values()) EXPECT_EQ(v, 1.0);
}

TEST(RbfKernelMatrix, NaNInputGivesNaNNotOne) {
  Matrix<double> a = random_matrix<double>(2, 3, 38);
  a(1, 2) = std::numeric_limits<double>::quiet_NaN();
  const Matrix<double> b = random_matrix<double>(3, 3, 39);
  Matrix<double> out(2, 3);
  rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 0.1, out.view());
  for (std::int64_t j = 0; j < 3; ++j) {
    EXPECT_FALSE(std::isnan(out(0, j)));
    EXPECT_TRUE(std::isnan(out(1, j)));
  }
}

TEST(RbfKernelLeftVecmul, EqualsMatmulOfTheTransposedProblem) {
  // w^T k(A, B) computed two ways: left product, and k(B, A) w.
  const Matrix<double> a = random_matrix<double>(77, 12, 40);
  const Matrix<double> b = random_matrix<double>(300, 12, 41);
  const std::vector<double> w = random_weights(77, 42);
  std::vector<double> left(300);
  rbf_kernel_left_vecmul(kTwoThreads, w, a.view(), b.view(), 0.2, left);
  Matrix<double> right(300, 1);
  rbf_kernel_matmul(kTwoThreads, b.view(), a.view(), 0.2, ConstMatrixView<double>(w.data(), 77, 1), right.view());
  for (std::size_t j = 0; j < left.size(); ++j) EXPECT_NEAR(left[j], right.values()[j], 1e-12);
}

// ---------------------------------------------------------------------------
// Empty inputs.

TEST(RbfKernelMatrix, ZeroRowsGiveEmptyOutputWithoutError) {
  const Matrix<double> a(0, 5), b = random_matrix<double>(4, 5, 43);
  Matrix<double> out_a(0, 4), out_b(4, 0);
  EXPECT_NO_THROW(rbf_kernel_matrix(kTwoThreads, a.view(), b.view(), 0.1, out_a.view()));
  EXPECT_NO_THROW(rbf_kernel_matrix(kTwoThreads, b.view(), a.view(), 0.1, out_b.view()));
}

TEST(RbfKernelMatmul, ZeroRowsInBGiveZeroOutput) {
  const Matrix<double> a = random_matrix<double>(3, 5, 44), b(0, 5), w(0, 2);
  Matrix<double> out(3, 2, std::numeric_limits<double>::quiet_NaN());
  rbf_kernel_matmul(kTwoThreads, a.view(), b.view(), 0.1, w.view(), out.view());
  for (const double v : out.values()) EXPECT_EQ(v, 0.0);
}

TEST(RbfKernelMatmul, ZeroRowsInAGiveEmptyOutputWithoutError) {
  const Matrix<float> a(0, 5), b = random_matrix<float>(4, 5, 45);
  const Matrix<double> w = random_matrix<double>(4, 1, 46);
  Matrix<double> out(0, 1);
  EXPECT_NO_THROW(rbf_kernel_matmul(kTwoThreads, a.view(), b.view(), 0.1, w.view(), out.view()));
}

TEST(RbfKernelLeftVecmul, ZeroRowsInAGiveZeroOutput) {
  const Matrix<double> a(0, 5), b = random_matrix<double>(4, 5, 47);
  std::vector<double> out(4, std::numeric_limits<double>::quiet_NaN());
  rbf_kernel_left_vecmul(kTwoThreads, std::span<const double>(), a.view(), b.view(), 0.1, out);
  for (const double v : out) EXPECT_EQ(v, 0.0);
}

TEST(RbfKernelBilinear, ZeroRowsGiveZero) {
  const Matrix<float> a(0, 5), b = random_matrix<float>(4, 5, 48);
  const std::vector<double> v(4, 1.0);
  EXPECT_EQ(rbf_kernel_bilinear(kTwoThreads, std::span<const double>(), a.view(), b.view(), v, 0.1), 0.0);
}

// ---------------------------------------------------------------------------
// Argument validation.

TEST(RbfKernelValidation, ColumnCountMismatchThrows) {
  const Matrix<double> a(2, 3), b(2, 4);
  Matrix<double> out(2, 2);
  expect_kernel_error_mentioning([&] { rbf_kernel_matrix(Context{}, a.view(), b.view(), 0.1, out.view()); },
                                 "a has 3 columns but b has 4");
}

TEST(RbfKernelValidation, WrongOutputShapeThrows) {
  const Matrix<float> a(2, 3), b(5, 3);
  Matrix<float> out(2, 4);
  expect_kernel_error_mentioning([&] { rbf_kernel_matrix(Context{}, a.view(), b.view(), 0.1, out.view()); },
                                 "out is 2 x 4 but must be 2 x 5");
}

TEST(RbfKernelValidation, MatmulWeightRowsMustMatchB) {
  const Matrix<double> a(2, 3), b(5, 3), w(4, 1);
  Matrix<double> out(2, 1);
  expect_kernel_error_mentioning(
      [&] { rbf_kernel_matmul(Context{}, a.view(), b.view(), 0.1, w.view(), out.view()); },
      "w has 4 rows but b has 5");
}

TEST(RbfKernelValidation, MatmulOutputMustBeARowsByWCols) {
  const Matrix<double> a(2, 3), b(5, 3), w(5, 2);
  Matrix<double> out(2, 1);
  expect_kernel_error_mentioning(
      [&] { rbf_kernel_matmul(Context{}, a.view(), b.view(), 0.1, w.view(), out.view()); },
      "out is 2 x 1 but must be 2 x 2");
}

TEST(RbfKernelValidation, LeftVecmulSpanSizesMustMatchRows) {
  const Matrix<double> a(2, 3), b(5, 3);
  const std::vector<double> w2(2), w3(3);
  std::vector<double> out5(5), out4(4);
  expect_kernel_error_mentioning(
      [&] { rbf_kernel_left_vecmul(Context{}, w3, a.view(), b.view(), 0.1, out5); }, "w has 3 entries");
  expect_kernel_error_mentioning(
      [&] { rbf_kernel_left_vecmul(Context{}, w2, a.view(), b.view(), 0.1, out4); }, "out has 4 entries");
}

TEST(RbfKernelValidation, BilinearSpanSizesMustMatchRows) {
  const Matrix<float> a(2, 3), b(5, 3);
  const std::vector<double> u2(2), u1(1), v5(5), v6(6);
  expect_kernel_error_mentioning([&] { rbf_kernel_bilinear(Context{}, u1, a.view(), b.view(), v5, 0.1); },
                                 "u has 1 entries");
  expect_kernel_error_mentioning([&] { rbf_kernel_bilinear(Context{}, u2, a.view(), b.view(), v6, 0.1); },
                                 "v has 6 entries");
}

TEST(RbfKernelValidation, GammaMustBePositiveAndFinite) {
  const Matrix<double> a(2, 3), b(2, 3);
  Matrix<double> out(2, 2);
  for (const double gamma : {0.0, -1.0, std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()}) {
    expect_kernel_error_mentioning([&] { rbf_kernel_matrix(Context{}, a.view(), b.view(), gamma, out.view()); },
                                   "gamma must be positive and finite");
  }
}

TEST(RbfKernelValidation, StrideSmallerThanColumnsThrows) {
  const std::vector<double> buf(12);
  const Matrix<double> b(2, 3);
  Matrix<double> out(4, 2);
  expect_kernel_error_mentioning(
      [&] { rbf_kernel_matrix(Context{}, ConstMatrixView<double>(buf.data(), 4, 3, 2), b.view(), 0.1, out.view()); },
      "stride 2 smaller than its 3 columns");
}

TEST(RbfKernelValidation, ReferencesValidateToo) {
  const Matrix<double> a(2, 3), b(2, 4);
  Matrix<double> out(2, 2);
  EXPECT_THROW(rbf_kernel_matrix_ref<double>(a.view(), b.view(), 0.1, out.view()), KernelError);
}
