// The float32 screening pass of the batched RKME inner products (rkme.h).
// Tasks are fixed tiles of packed rows; each owns its rows' values, so the
// result does not depend on the thread count.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/fast_exp.h"
#include "kernels/parallel.h"
#include "kernels/rkme.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

constexpr std::int64_t kTileRows = 256;
static_assert(kRkmeBatchRowBlock % kTileRows == 0, "row blocks must start on a tile");

// A task's shifted packed rows and its distance tile, reused across tasks.
struct TileScratch {
  std::vector<float> rows;
  std::vector<float> tile;
};

// dst row j = src row j - shift, and norms[j] = ||dst row j||^2.
LWD_SIMD_CLONES
void shift_rows_with_norms(ConstMatrixView<float> src, std::int64_t r0, std::int64_t count, const float* shift,
                           float* dst, float* norms) {
  const std::int64_t d = src.cols;
  for (std::int64_t j = 0; j < count; ++j) {
    const float* in = src.row(r0 + j);
    float* out = dst + j * d;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (std::int64_t c = 0; c < d; ++c) {
      out[c] = in[c] - shift[c];
      s += out[c] * out[c];
    }
    norms[j] = s;
  }
}

// tile(j, i) holds -2 p_j.u_i; turn it into -gamma * max(0, |p_j|^2 + |u_i|^2 - 2 p_j.u_i).
LWD_SIMD_CLONES
void squared_distance_arguments(float* tile, std::int64_t rows, std::int64_t k, const float* p_norm,
                                const float* u_norm, float neg_gamma) {
  for (std::int64_t j = 0; j < rows; ++j) {
    float* row = tile + j * k;
    const float pn = p_norm[j];
#pragma omp simd
    for (std::int64_t i = 0; i < k; ++i) row[i] = neg_gamma * std::max(pn + u_norm[i] + row[i], 0.0f);
  }
}

// out[j] = sum_i w[i] tile(j, i), summed in float64.
LWD_SIMD_CLONES
void weighted_row_sums(const float* tile, std::int64_t rows, std::int64_t k, const double* w, double* out) {
  for (std::int64_t j = 0; j < rows; ++j) {
    const float* row = tile + j * k;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t i = 0; i < k; ++i) s += w[i] * static_cast<double>(row[i]);
    out[j] = s;
  }
}

void check_batch_f32(const char* fn, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                     ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                     std::span<const std::int64_t> offsets, double gamma, std::span<double> out) {
  const std::string where = std::string(fn) + ": ";
  if (!(gamma > 0.0) || !std::isfinite(gamma)) throw KernelError(where + "gamma must be finite and > 0");
  if (z_u.cols != packed_z.cols) {
    throw KernelError(where + "widths differ (" + std::to_string(z_u.cols) + " vs " + std::to_string(packed_z.cols) +
                      ")");
  }
  if (static_cast<std::int64_t>(beta_u.size()) != z_u.rows) throw KernelError(where + "beta_u length != rows of z_u");
  if (static_cast<std::int64_t>(packed_beta.size()) != packed_z.rows) {
    throw KernelError(where + "packed beta length != packed rows");
  }
  if (offsets.size() != out.size() + 1) throw KernelError(where + "need one more offset than outputs");
  if (!offsets.empty() && (offsets.front() != 0 || offsets.back() != packed_z.rows)) {
    throw KernelError(where + "offsets must start at 0 and end at the packed row count");
  }
  for (std::size_t m = 0; m + 1 < offsets.size(); ++m) {
    if (offsets[m + 1] < offsets[m]) throw KernelError(where + "offsets must be non-decreasing");
  }
}

std::vector<double> column_means(ConstMatrixView<double> z) {
  std::vector<double> mean(static_cast<std::size_t>(z.cols), 0.0);
  for (std::int64_t i = 0; i < z.rows; ++i)
    for (std::int64_t c = 0; c < z.cols; ++c) mean[static_cast<std::size_t>(c)] += z(i, c);
  for (double& v : mean) v /= static_cast<double>(std::max<std::int64_t>(z.rows, 1));
  return mean;
}


// attraction[r - begin] for the packed rows r in [begin, end), begin a
// multiple of kTileRows: tiles start where the whole pass starts them, so
// every row's value is the one the whole pass gives it.
void attraction_rows_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                         ConstMatrixView<float> packed_z, double gamma, std::int64_t begin, std::int64_t end,
                         double* attraction) {
  const std::int64_t k = z_u.rows;
  const std::int64_t d = z_u.cols;
  if (k == 0 || end <= begin) return;
  const std::vector<double> shift = column_means(z_u);
  std::vector<float> shift_f(shift.begin(), shift.end());
  // The user's side, shifted, in float32, with its squared norms.
  std::vector<float> u(static_cast<std::size_t>(k * std::max<std::int64_t>(d, 1)));
  std::vector<float> u_norm(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < k; ++i) {
    double s = 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      const float v = static_cast<float>(z_u(i, c) - shift[static_cast<std::size_t>(c)]);
      u[static_cast<std::size_t>(i * d + c)] = v;
      s += static_cast<double>(v) * v;
    }
    u_norm[static_cast<std::size_t>(i)] = static_cast<float>(s);
  }
  const float neg_gamma = static_cast<float>(-gamma);
  PerThread<TileScratch> scratch(ctx);
  parallel_for(ctx, 0, (end - begin + kTileRows - 1) / kTileRows, [&](std::int64_t t) {
    keep_blas_on_this_thread();  // SGEMM on this thread
    const std::int64_t r0 = begin + t * kTileRows;
    const std::int64_t mi = std::min(kTileRows, end - r0);
    std::vector<float>& rows = scratch.local().rows;
    std::vector<float>& tile = scratch.local().tile;
    rows.resize(static_cast<std::size_t>(mi * std::max<std::int64_t>(d, 1)));
    tile.resize(static_cast<std::size_t>(mi * k));
    float p_norm[kTileRows];
    shift_rows_with_norms(packed_z, r0, mi, shift_f.data(), rows.data(), p_norm);
    if (d > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(mi), static_cast<int>(k),
                  static_cast<int>(d), -2.0f, rows.data(), static_cast<int>(d), u.data(), static_cast<int>(d), 0.0f,
                  tile.data(), static_cast<int>(k));
    } else {
      std::fill(tile.begin(), tile.end(), 0.0f);
    }
    squared_distance_arguments(tile.data(), mi, k, p_norm, u_norm.data(), neg_gamma);
    exp_nonpositive_inplace(tile.data(), mi * k);
    weighted_row_sums(tile.data(), mi, k, beta_u.data(), attraction + (r0 - begin));
  });
}

}  // namespace

void rkme_batch_inner_products_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                                   ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                                   std::span<const std::int64_t> offsets, double gamma, std::span<double> out) {
  check_batch_f32("rkme_batch_inner_products_f32", z_u, beta_u, packed_z, packed_beta, offsets, gamma, out);
  std::vector<double> attraction(static_cast<std::size_t>(packed_z.rows), 0.0);
  attraction_rows_f32(ctx, z_u, beta_u, packed_z, gamma, 0, packed_z.rows, attraction.data());
  rkme_segmented_sums(packed_beta, offsets, attraction, out);
}

void rkme_batch_attraction_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<float> packed_z, double gamma, std::int64_t begin, std::int64_t end,
                               std::span<double> out) {
  detail::check_attraction_rows("rkme_batch_attraction_f32", z_u.cols, packed_z.cols, z_u.rows, beta_u.size(), packed_z.rows,
                        gamma, begin, end, out.size());
  std::fill(out.begin(), out.end(), 0.0);
  attraction_rows_f32(ctx, z_u, beta_u, packed_z, gamma, begin, end, out.data());
}

void rkme_batch_inner_products_f32_ref(ConstMatrixView<double> z_u, std::span<const double> beta_u,
                                       ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                                       std::span<const std::int64_t> offsets, double gamma, std::span<double> out) {
  check_batch_f32("rkme_batch_inner_products_f32_ref", z_u, beta_u, packed_z, packed_beta, offsets, gamma, out);
  std::vector<double> attraction(static_cast<std::size_t>(packed_z.rows), 0.0);
  for (std::int64_t r = 0; r < packed_z.rows; ++r) {
    double s = 0.0;
    for (std::int64_t i = 0; i < z_u.rows; ++i) {
      double dist2 = 0.0;
      for (std::int64_t c = 0; c < z_u.cols; ++c) {
        const double diff = z_u(i, c) - static_cast<double>(packed_z(r, c));
        dist2 += diff * diff;
      }
      s += beta_u[static_cast<std::size_t>(i)] * std::exp(-gamma * dist2);
    }
    attraction[static_cast<std::size_t>(r)] = s;
  }
  rkme_segmented_sums(packed_beta, offsets, attraction, out);
}

}  // namespace lwd::kernels
