#include "kernels/rbf_kernel.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/error.h"
#include "kernels/fast_exp.h"
#include "kernels/parallel.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

// Output tiles are kTileRowsA rows of A by kTileRowsB rows of B. A float64 tile
// is 512 KiB, so the GEMM result is still in L2 when the exp pass reads it back,
// and a 256 x 256 problem already splits into two tasks. The sizes are
// constants: every tile is computed by the same BLAS call whatever the thread
// count, which is what makes results bit-identical across thread counts.
constexpr std::int64_t kTileRowsA = kRbfRowBlock;
constexpr std::int64_t kTileRowsB = 512;

// The fused products split the contracted side into chunks (each with its own
// partial sum) only when the owned side has too few tiles to keep the threads
// busy. The chunk count depends on the shape alone, never on the threads.
constexpr std::int64_t kTargetTasks = 16;

// Rows per task when computing squared norms.
constexpr std::int64_t kNormBlockRows = 1024;

// ---------------------------------------------------------------- validation

std::string shape_str(std::int64_t rows, std::int64_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

template <class T>
void check_view(const char* fn, const char* name, std::int64_t rows, std::int64_t cols, std::int64_t stride,
                const T* data) {
  std::ostringstream msg;
  if (rows < 0 || cols < 0) {
    msg << fn << ": " << name << " has negative shape " << shape_str(rows, cols);
  } else if (rows > 1 && stride < cols) {
    msg << fn << ": " << name << " has stride " << stride << " smaller than its " << cols << " columns";
  } else if (rows > 0 && cols > 0 && data == nullptr) {
    msg << fn << ": " << name << " is " << shape_str(rows, cols) << " but has no data";
  } else if (stride > INT_MAX || cols > INT_MAX) {
    msg << fn << ": " << name << " stride " << stride << " exceeds the BLAS index range";
  } else {
    return;
  }
  throw KernelError(msg.str());
}

template <class T>
void check_input(const char* fn, const char* name, ConstMatrixView<T> v) {
  check_view(fn, name, v.rows, v.cols, v.stride, v.data);
}

template <class T>
void check_output(const char* fn, const char* name, MatrixView<T> v, std::int64_t rows, std::int64_t cols,
                  const char* expected) {
  check_view(fn, name, v.rows, v.cols, v.stride, v.data);
  if (v.rows != rows || v.cols != cols) {
    throw KernelError(std::string(fn) + ": " + name + " is " + shape_str(v.rows, v.cols) + " but must be " +
                      shape_str(rows, cols) + " (" + expected + ")");
  }
}

void check_gamma(const char* fn, double gamma) {
  if (!(gamma > 0.0) || !std::isfinite(gamma)) {
    std::ostringstream msg;
    msg << fn << ": gamma must be positive and finite, got " << gamma;
    throw KernelError(msg.str());
  }
}

template <class T>
void check_pair(const char* fn, ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma) {
  check_input(fn, "a", a);
  check_input(fn, "b", b);
  if (a.cols != b.cols) {
    throw KernelError(std::string(fn) + ": a has " + std::to_string(a.cols) + " columns but b has " +
                      std::to_string(b.cols));
  }
  check_gamma(fn, gamma);
}

void check_span(const char* fn, const char* name, std::size_t size, std::int64_t expected, const char* what) {
  if (static_cast<std::int64_t>(size) != expected) {
    throw KernelError(std::string(fn) + ": " + name + " has " + std::to_string(size) + " entries but must have " +
                      std::to_string(expected) + " (" + what + ")");
  }
}

template <class T>
void check_matmul(const char* fn, ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma, ConstMatrixView<double> w,
                  MatrixView<double> out) {
  check_pair(fn, a, b, gamma);
  check_input(fn, "w", w);
  if (w.rows != b.rows) {
    throw KernelError(std::string(fn) + ": w has " + std::to_string(w.rows) + " rows but b has " +
                      std::to_string(b.rows));
  }
  check_output(fn, "out", out, a.rows, w.cols, "a.rows x w.cols");
}

template <class T>
void check_left_vecmul(const char* fn, std::span<const double> w, ConstMatrixView<T> a, ConstMatrixView<T> b,
                       double gamma, std::span<double> out) {
  check_pair(fn, a, b, gamma);
  check_span(fn, "w", w.size(), a.rows, "a.rows");
  check_span(fn, "out", out.size(), b.rows, "b.rows");
}

template <class T>
void check_bilinear(const char* fn, std::span<const double> u, ConstMatrixView<T> a, ConstMatrixView<T> b,
                    std::span<const double> v, double gamma) {
  check_pair(fn, a, b, gamma);
  check_span(fn, "u", u.size(), a.rows, "a.rows");
  check_span(fn, "v", v.size(), b.rows, "b.rows");
}

// ------------------------------------------------------------ building blocks

// BLAS wants a leading dimension of at least max(1, cols) even where a
// single-row view legitimately carries a smaller stride.
template <class T>
std::int64_t leading_dim(ConstMatrixView<T> v) {
  return std::max<std::int64_t>({v.stride, v.cols, 1});
}

// Per-thread scratch, kept for the whole call.
struct Workspace {
  AlignedScratch<double> a_rows;  // float inputs widened to float64
  AlignedScratch<double> b_rows;
  AlignedScratch<double> tile;  // kernel tile when it cannot be written in place
  AlignedScratch<double> row_sums;
};

// Rows [begin, begin + count) of x as float64 with a leading dimension: a view
// into x itself for double storage, a widened copy in `scratch` for float.
struct Float64Rows {
  const double* data;
  std::int64_t ld;
};

template <class T>
Float64Rows float64_rows(ConstMatrixView<T> x, std::int64_t begin, std::int64_t count,
                         AlignedScratch<double>& scratch) {
  if constexpr (std::is_same_v<T, double>) {
    return {x.row(begin), leading_dim(x)};
  } else {
    const std::int64_t d = x.cols;
    double* dst = scratch.get(std::max<std::int64_t>(count * d, 1));
    for (std::int64_t i = 0; i < count; ++i) {
      const T* src = x.row(begin + i);
      double* row = dst + i * d;
#pragma omp simd
      for (std::int64_t k = 0; k < d; ++k) row[k] = static_cast<double>(src[k]);
    }
    return {dst, std::max<std::int64_t>(d, 1)};
  }
}

template <class T>
std::vector<double> squared_row_norms(const Context& ctx, ConstMatrixView<T> x) {
  std::vector<double> norms(static_cast<std::size_t>(x.rows));
  parallel_for(ctx, 0, num_blocks(x.rows, kNormBlockRows), [&](std::int64_t block) {
    const std::int64_t end = std::min(x.rows, (block + 1) * kNormBlockRows);
    for (std::int64_t i = block * kNormBlockRows; i < end; ++i) {
      const T* row = x.row(i);
      double s = 0.0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t k = 0; k < x.cols; ++k) {
        const double v = static_cast<double>(row[k]);
        s += v * v;
      }
      norms[static_cast<std::size_t>(i)] = s;
    }
  });
  return norms;
}

// row[j] <- -gamma * max(0, a_norm + b_norms[j] + row[j]), where row holds
// -2 a.b_j. The clamp removes the small negative values cancellation leaves for
// near-identical points; NaN is kept (std::max(NaN, 0) returns its first
// argument) so non-finite inputs do not turn into kernel value 1.
LWD_SIMD_CLONES
void exp_argument_from_dots(double* row, double a_norm, const double* b_norms, std::int64_t n, double gamma) {
  const double neg_gamma = -gamma;
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) {
    row[j] = neg_gamma * std::max((a_norm + b_norms[j]) + row[j], 0.0);
  }
}

// c(i, j) = k(a_i, b_j) for an mi x nj block, given both sides as float64 rows
// and their squared norms.
void kernel_tile(Float64Rows a, const double* a_norms, std::int64_t mi, Float64Rows b, const double* b_norms,
                 std::int64_t nj, std::int64_t d, double gamma, double* c, std::int64_t ldc) {
  if (d > 0) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(mi), static_cast<int>(nj),
                static_cast<int>(d), -2.0, a.data, static_cast<int>(a.ld), b.data, static_cast<int>(b.ld), 0.0, c,
                static_cast<int>(ldc));
  } else {
    for (std::int64_t i = 0; i < mi; ++i) std::fill_n(c + i * ldc, nj, 0.0);
  }
  for (std::int64_t i = 0; i < mi; ++i) {
    double* row = c + i * ldc;
    exp_argument_from_dots(row, a_norms[i], b_norms, nj, gamma);
    exp_nonpositive_inplace(row, nj);
  }
}

// acc(i, :) += tile(i, :) * W rows [j0, j0 + nj), acc being mi x M.
void accumulate_tile_times_w(const double* tile, std::int64_t mi, std::int64_t nj, ConstMatrixView<double> w,
                             std::int64_t j0, double* acc, std::int64_t ld_acc) {
  if (w.cols == 1) {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(mi), static_cast<int>(nj), 1.0, tile,
                static_cast<int>(nj), w.row(j0), static_cast<int>(std::max<std::int64_t>(w.stride, 1)), 1.0, acc,
                static_cast<int>(ld_acc));
  } else {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(mi), static_cast<int>(w.cols),
                static_cast<int>(nj), 1.0, tile, static_cast<int>(nj), w.row(j0),
                static_cast<int>(leading_dim(w)), 1.0, acc, static_cast<int>(ld_acc));
  }
}

// --------------------------------------------------------------- the kernels

template <class T>
void kernel_matrix_impl(const Context& ctx, ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma,
                        MatrixView<T> out) {
  if (a.rows == 0 || b.rows == 0) return;
  const std::vector<double> a_norms = squared_row_norms(ctx, a);
  const std::vector<double> b_norms = squared_row_norms(ctx, b);
  const std::int64_t row_tiles = num_blocks(a.rows, kTileRowsA);
  const std::int64_t col_tiles = num_blocks(b.rows, kTileRowsB);
  PerThread<Workspace> workspaces(ctx);

  parallel_for(ctx, 0, row_tiles * col_tiles, [&](std::int64_t t) {
    keep_blas_on_this_thread();
    Workspace& ws = workspaces.local();
    const std::int64_t i0 = (t / col_tiles) * kTileRowsA;
    const std::int64_t j0 = (t % col_tiles) * kTileRowsB;
    const std::int64_t mi = std::min(kTileRowsA, a.rows - i0);
    const std::int64_t nj = std::min(kTileRowsB, b.rows - j0);
    const Float64Rows a_rows = float64_rows(a, i0, mi, ws.a_rows);
    const Float64Rows b_rows = float64_rows(b, j0, nj, ws.b_rows);
    if constexpr (std::is_same_v<T, double>) {
      kernel_tile(a_rows, a_norms.data() + i0, mi, b_rows, b_norms.data() + j0, nj, a.cols, gamma,
                  out.row(i0) + j0, std::max<std::int64_t>(out.stride, out.cols));
    } else {
      double* tile = ws.tile.get(mi * nj);
      kernel_tile(a_rows, a_norms.data() + i0, mi, b_rows, b_norms.data() + j0, nj, a.cols, gamma, tile, nj);
      for (std::int64_t i = 0; i < mi; ++i) {
        const double* src = tile + i * nj;
        T* dst = out.row(i0 + i) + j0;
#pragma omp simd
        for (std::int64_t j = 0; j < nj; ++j) dst[j] = static_cast<T>(src[j]);
      }
    }
  });
}

// out = k(A, B) W. Tasks are (row tile of A, chunk of B's row tiles). With one
// chunk a task owns its output rows outright; with several, each chunk sums
// into its own partial buffer and the partials are added in chunk order.
//
// plan_rows: the row count the split of B's tiles into chunks is planned for
// (by default a.rows). The rows of a tile-aligned part of A, planned for the
// whole of A, get exactly the values the whole product gives them: the same
// tiles, the same chunks, summed in the same order (rbf_kernel_left_vecmul_rows).
template <class T>
void kernel_matmul_impl(const Context& ctx, ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma,
                        ConstMatrixView<double> w, MatrixView<double> out, std::int64_t plan_rows = -1) {
  const std::int64_t m = a.rows;
  const std::int64_t n_out = w.cols;
  if (m == 0 || n_out == 0) return;
  if (b.rows == 0) {
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(out.row(i), n_out, 0.0);
    return;
  }
  const std::vector<double> a_norms = squared_row_norms(ctx, a);
  const std::vector<double> b_norms = squared_row_norms(ctx, b);
  const std::int64_t row_tiles = num_blocks(m, kTileRowsA);
  const std::int64_t col_tiles = num_blocks(b.rows, kTileRowsB);
  const std::int64_t planned_row_tiles = num_blocks(plan_rows < 0 ? m : plan_rows, kTileRowsA);
  const std::int64_t wanted_chunks = std::min(col_tiles, num_blocks(kTargetTasks, planned_row_tiles));
  const std::int64_t tiles_per_chunk = num_blocks(col_tiles, wanted_chunks);
  const std::int64_t chunks = num_blocks(col_tiles, tiles_per_chunk);

  // Chunk c accumulates into partials[c] (m x n_out, contiguous); a single
  // chunk accumulates straight into out.
  std::vector<double> partials;
  if (chunks > 1) partials.assign(static_cast<std::size_t>(chunks * m * n_out), 0.0);
  const std::int64_t out_ld = std::max<std::int64_t>(out.stride, n_out);
  PerThread<Workspace> workspaces(ctx);

  parallel_for(ctx, 0, row_tiles * chunks, [&](std::int64_t task) {
    keep_blas_on_this_thread();
    Workspace& ws = workspaces.local();
    const std::int64_t chunk = task % chunks;
    const std::int64_t i0 = (task / chunks) * kTileRowsA;
    const std::int64_t mi = std::min(kTileRowsA, m - i0);
    const Float64Rows a_rows = float64_rows(a, i0, mi, ws.a_rows);
    double* acc = chunks == 1 ? out.row(i0) : partials.data() + (chunk * m + i0) * n_out;
    const std::int64_t ld_acc = chunks == 1 ? out_ld : n_out;
    if (chunks == 1) {
      for (std::int64_t i = 0; i < mi; ++i) std::fill_n(acc + i * ld_acc, n_out, 0.0);
    }
    double* tile = ws.tile.get(mi * kTileRowsB);
    const std::int64_t tile_end = std::min(col_tiles, (chunk + 1) * tiles_per_chunk);
    for (std::int64_t jt = chunk * tiles_per_chunk; jt < tile_end; ++jt) {
      const std::int64_t j0 = jt * kTileRowsB;
      const std::int64_t nj = std::min(kTileRowsB, b.rows - j0);
      const Float64Rows b_rows = float64_rows(b, j0, nj, ws.b_rows);
      kernel_tile(a_rows, a_norms.data() + i0, mi, b_rows, b_norms.data() + j0, nj, a.cols, gamma, tile, nj);
      accumulate_tile_times_w(tile, mi, nj, w, j0, acc, ld_acc);
    }
  });

  if (chunks > 1) {
    parallel_for(ctx, 0, row_tiles, [&](std::int64_t it) {
      const std::int64_t end = std::min(m, (it + 1) * kTileRowsA);
      for (std::int64_t i = it * kTileRowsA; i < end; ++i) {
        double* dst = out.row(i);
        std::copy_n(partials.data() + i * n_out, n_out, dst);
        for (std::int64_t c = 1; c < chunks; ++c) {
          const double* src = partials.data() + (c * m + i) * n_out;
          for (std::int64_t k = 0; k < n_out; ++k) dst[k] += src[k];
        }
      }
    });
  }
}

// u^T k(A, B) v: one partial sum per output tile, added in tile order on the
// calling thread.
template <class T>
double kernel_bilinear_impl(const Context& ctx, std::span<const double> u, ConstMatrixView<T> a,
                            ConstMatrixView<T> b, std::span<const double> v, double gamma) {
  if (a.rows == 0 || b.rows == 0) return 0.0;
  const std::vector<double> a_norms = squared_row_norms(ctx, a);
  const std::vector<double> b_norms = squared_row_norms(ctx, b);
  const std::int64_t row_tiles = num_blocks(a.rows, kTileRowsA);
  const std::int64_t col_tiles = num_blocks(b.rows, kTileRowsB);
  std::vector<double> partials(static_cast<std::size_t>(row_tiles * col_tiles));
  PerThread<Workspace> workspaces(ctx);

  parallel_for(ctx, 0, row_tiles * col_tiles, [&](std::int64_t t) {
    keep_blas_on_this_thread();
    Workspace& ws = workspaces.local();
    const std::int64_t i0 = (t / col_tiles) * kTileRowsA;
    const std::int64_t j0 = (t % col_tiles) * kTileRowsB;
    const std::int64_t mi = std::min(kTileRowsA, a.rows - i0);
    const std::int64_t nj = std::min(kTileRowsB, b.rows - j0);
    const Float64Rows a_rows = float64_rows(a, i0, mi, ws.a_rows);
    const Float64Rows b_rows = float64_rows(b, j0, nj, ws.b_rows);
    double* tile = ws.tile.get(mi * nj);
    kernel_tile(a_rows, a_norms.data() + i0, mi, b_rows, b_norms.data() + j0, nj, a.cols, gamma, tile, nj);
    double* row_sums = ws.row_sums.get(mi);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(mi), static_cast<int>(nj), 1.0, tile,
                static_cast<int>(nj), v.data() + j0, 1, 0.0, row_sums, 1);
    double s = 0.0;
    for (std::int64_t i = 0; i < mi; ++i) s += u[static_cast<std::size_t>(i0 + i)] * row_sums[i];
    partials[static_cast<std::size_t>(t)] = s;
  });

  double total = 0.0;
  for (const double p : partials) total += p;
  return total;
}

// ------------------------------------------------------------ the references

template <class T>
double squared_distance_ref(const T* x, const T* y, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t k = 0; k < d; ++k) {
    const double diff = static_cast<double>(x[k]) - static_cast<double>(y[k]);
    s += diff * diff;
  }
  return s;
}

template <class T>
double kernel_value_ref(ConstMatrixView<T> a, std::int64_t i, ConstMatrixView<T> b, std::int64_t j, double gamma) {
  return std::exp(-gamma * squared_distance_ref(a.row(i), b.row(j), a.cols));
}

}  // namespace

// ------------------------------------------------------------------ public API

void rbf_kernel_matrix(const Context& ctx, ConstMatrixView<double> a, ConstMatrixView<double> b, double gamma,
                       MatrixView<double> out) {
  constexpr const char* fn = "rbf_kernel_matrix";
  check_pair(fn, a, b, gamma);
  check_output(fn, "out", out, a.rows, b.rows, "a.rows x b.rows");
  kernel_matrix_impl(ctx, a, b, gamma, out);
}

void rbf_kernel_matrix(const Context& ctx, ConstMatrixView<float> a, ConstMatrixView<float> b, double gamma,
                       MatrixView<float> out) {
  constexpr const char* fn = "rbf_kernel_matrix";
  check_pair(fn, a, b, gamma);
  check_output(fn, "out", out, a.rows, b.rows, "a.rows x b.rows");
  kernel_matrix_impl(ctx, a, b, gamma, out);
}

void rbf_kernel_matmul(const Context& ctx, ConstMatrixView<double> a, ConstMatrixView<double> b, double gamma,
                       ConstMatrixView<double> w, MatrixView<double> out) {
  check_matmul("rbf_kernel_matmul", a, b, gamma, w, out);
  kernel_matmul_impl(ctx, a, b, gamma, w, out);
}

void rbf_kernel_matmul(const Context& ctx, ConstMatrixView<float> a, ConstMatrixView<float> b, double gamma,
                       ConstMatrixView<double> w, MatrixView<double> out) {
  check_matmul("rbf_kernel_matmul", a, b, gamma, w, out);
  kernel_matmul_impl(ctx, a, b, gamma, w, out);
}

// w^T k(A, B) = (k(B, A) w)^T since the kernel is symmetric: the same fused
// product with the roles swapped, so tasks own blocks of B's rows.
void rbf_kernel_left_vecmul(const Context& ctx, std::span<const double> w, ConstMatrixView<double> a,
                            ConstMatrixView<double> b, double gamma, std::span<double> out) {
  check_left_vecmul("rbf_kernel_left_vecmul", w, a, b, gamma, out);
  kernel_matmul_impl(ctx, b, a, gamma, ConstMatrixView<double>(w.data(), a.rows, 1),
                     MatrixView<double>(out.data(), b.rows, 1));
}

void rbf_kernel_left_vecmul(const Context& ctx, std::span<const double> w, ConstMatrixView<float> a,
                            ConstMatrixView<float> b, double gamma, std::span<double> out) {
  check_left_vecmul("rbf_kernel_left_vecmul", w, a, b, gamma, out);
  kernel_matmul_impl(ctx, b, a, gamma, ConstMatrixView<double>(w.data(), a.rows, 1),
                     MatrixView<double>(out.data(), b.rows, 1));
}

void rbf_kernel_left_vecmul_rows(const Context& ctx, std::span<const double> w, ConstMatrixView<double> a,
                                 ConstMatrixView<double> b, double gamma, std::int64_t begin, std::int64_t end,
                                 std::span<double> out) {
  if (begin < 0 || end < begin || end > b.rows || begin % kRbfRowBlock != 0 ||
      (end % kRbfRowBlock != 0 && end != b.rows)) {
    throw KernelError("rbf_kernel_left_vecmul_rows: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") of " + std::to_string(b.rows) + " do not start and end on a block of " +
                      std::to_string(kRbfRowBlock));
  }
  const ConstMatrixView<double> part = b.row_block(begin, end - begin);
  check_left_vecmul("rbf_kernel_left_vecmul_rows", w, a, part, gamma, out);
  kernel_matmul_impl(ctx, part, a, gamma, ConstMatrixView<double>(w.data(), a.rows, 1),
                     MatrixView<double>(out.data(), part.rows, 1), b.rows);
}

double rbf_kernel_bilinear(const Context& ctx, std::span<const double> u, ConstMatrixView<double> a,
                           ConstMatrixView<double> b, std::span<const double> v, double gamma) {
  check_bilinear("rbf_kernel_bilinear", u, a, b, v, gamma);
  return kernel_bilinear_impl(ctx, u, a, b, v, gamma);
}

double rbf_kernel_bilinear(const Context& ctx, std::span<const double> u, ConstMatrixView<float> a,
                           ConstMatrixView<float> b, std::span<const double> v, double gamma) {
  check_bilinear("rbf_kernel_bilinear", u, a, b, v, gamma);
  return kernel_bilinear_impl(ctx, u, a, b, v, gamma);
}

template <class T>
void rbf_kernel_matrix_ref(ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma, MatrixView<T> out) {
  constexpr const char* fn = "rbf_kernel_matrix_ref";
  check_pair(fn, a, b, gamma);
  check_output(fn, "out", out, a.rows, b.rows, "a.rows x b.rows");
  for (std::int64_t i = 0; i < a.rows; ++i) {
    for (std::int64_t j = 0; j < b.rows; ++j) out(i, j) = static_cast<T>(kernel_value_ref(a, i, b, j, gamma));
  }
}

template <class T>
void rbf_kernel_matmul_ref(ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma, ConstMatrixView<double> w,
                           MatrixView<double> out) {
  check_matmul("rbf_kernel_matmul_ref", a, b, gamma, w, out);
  for (std::int64_t i = 0; i < a.rows; ++i) {
    for (std::int64_t k = 0; k < w.cols; ++k) out(i, k) = 0.0;
    for (std::int64_t j = 0; j < b.rows; ++j) {
      const double kij = kernel_value_ref(a, i, b, j, gamma);
      for (std::int64_t k = 0; k < w.cols; ++k) out(i, k) += kij * w(j, k);
    }
  }
}

template <class T>
void rbf_kernel_left_vecmul_ref(std::span<const double> w, ConstMatrixView<T> a, ConstMatrixView<T> b, double gamma,
                                std::span<double> out) {
  check_left_vecmul("rbf_kernel_left_vecmul_ref", w, a, b, gamma, out);
  for (std::int64_t j = 0; j < b.rows; ++j) {
    double s = 0.0;
    for (std::int64_t i = 0; i < a.rows; ++i) s += w[static_cast<std::size_t>(i)] * kernel_value_ref(a, i, b, j, gamma);
    out[static_cast<std::size_t>(j)] = s;
  }
}

template <class T>
double rbf_kernel_bilinear_ref(std::span<const double> u, ConstMatrixView<T> a, ConstMatrixView<T> b,
                               std::span<const double> v, double gamma) {
  check_bilinear("rbf_kernel_bilinear_ref", u, a, b, v, gamma);
  double total = 0.0;
  for (std::int64_t i = 0; i < a.rows; ++i) {
    for (std::int64_t j = 0; j < b.rows; ++j) {
      total += u[static_cast<std::size_t>(i)] * kernel_value_ref(a, i, b, j, gamma) * v[static_cast<std::size_t>(j)];
    }
  }
  return total;
}

template void rbf_kernel_matrix_ref<double>(ConstMatrixView<double>, ConstMatrixView<double>, double,
                                            MatrixView<double>);
template void rbf_kernel_matrix_ref<float>(ConstMatrixView<float>, ConstMatrixView<float>, double,
                                           MatrixView<float>);
template void rbf_kernel_matmul_ref<double>(ConstMatrixView<double>, ConstMatrixView<double>, double,
                                            ConstMatrixView<double>, MatrixView<double>);
template void rbf_kernel_matmul_ref<float>(ConstMatrixView<float>, ConstMatrixView<float>, double,
                                           ConstMatrixView<double>, MatrixView<double>);
template void rbf_kernel_left_vecmul_ref<double>(std::span<const double>, ConstMatrixView<double>,
                                                 ConstMatrixView<double>, double, std::span<double>);
template void rbf_kernel_left_vecmul_ref<float>(std::span<const double>, ConstMatrixView<float>,
                                                ConstMatrixView<float>, double, std::span<double>);
template double rbf_kernel_bilinear_ref<double>(std::span<const double>, ConstMatrixView<double>,
                                                ConstMatrixView<double>, std::span<const double>, double);
template double rbf_kernel_bilinear_ref<float>(std::span<const double>, ConstMatrixView<float>,
                                               ConstMatrixView<float>, std::span<const double>, double);

}  // namespace lwd::kernels
