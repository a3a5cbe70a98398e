// The float32 screening pass of the batched RKME inner products (rkme.h).
// Tasks are fixed tiles of packed rows; each owns its rows' values, so the
// result does not depend on the thread count.
#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/rkme.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

constexpr std::int64_t kTileRows = 256;
static_assert(kRkmeBatchRowBlock % kTileRows == 0, "row blocks must start on a tile");
constexpr std::int64_t kPadRows = 16;
static_assert(kTileRows % kPadRows == 0, "a whole tile needs no padding");

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

// 2^v for v <= 0 (the caller clamps), 0 below -126 (where 2^v leaves the
// normal floats). The screen takes its kernel values in base 2, log2(e) folded
// into the factors of the exponent, so that the range reduction is one exact subtraction
// (r = v - round(v)) instead of exp's two multiply-adds. 2^r on |r| <= 1/2 by
// the Taylor polynomial of e^(r ln 2) to degree 6: truncation below 1.3e-7
// relative, about 2 ulp, like exp_nonpositive_inplace(float*), and far inside
// the screen's margin (statistical_search.cpp: 1e-4 of the largest cross term).
inline float exp2_nonpositive_lane(float in) {
  constexpr float kMinArgument = -126.0f;
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float v = std::max(in, kMinArgument);
  const float t = v + kRoundMagic;
  const float r = v - (t - kRoundMagic);
  // (ln 2)^n / n!, n = 6 .. 0
  float p = 1.5403530e-4f;
  p = p * r + 1.3333558e-3f;
  p = p * r + 9.6181291e-3f;
  p = p * r + 5.5504109e-2f;
  p = p * r + 2.4022651e-1f;
  p = p * r + 6.9314718e-1f;
  p = p * r + 1.0f;
  const std::uint32_t scale_bits = (std::bit_cast<std::uint32_t>(t) + 127u) << 23;
  const float result = p * std::bit_cast<float>(scale_bits);
  return in < kMinArgument ? 0.0f : result;
}

// beta_i 2^(pc[j] + uc_i + dots[j]) for the lanes j: one kernel value, its
// exponent in base 2 clamped at 0 (where rounding left it above).
inline float weighted_kernel_value(float pc_j, float uc_i, float dot, float beta_i) {
  return beta_i * exp2_nonpositive_lane(std::min(pc_j + uc_i + dot, 0.0f));
}

// One pass over the tile the SGEMM wrote, four user points at a time: tile(i, j)
// holds 2 gamma log2(e) u_i.p_j, pc[j] and uc[i] the squared norms times
// -gamma log2(e), so the exponent of k(p_j, u_i) in base 2 is
// pc[j] + uc[i] + tile(i, j). sum[j] = sum_i beta[i] k(p_j, u_i), summed in
// float32 in a fixed order (at most K terms of at most beta_i each: an error
// well inside the screen's margin), the lanes running over the rows so that no
// sum crosses lanes.
LWD_SIMD_CLONES
void attraction_from_tile(const float* tile, std::int64_t rows, std::int64_t k, const float* pc, const float* uc,
                          const float* beta, float* sum) {
  std::fill(sum, sum + rows, 0.0f);
  std::int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const float* t0 = tile + i * rows;
    const float* t1 = t0 + rows;
    const float* t2 = t1 + rows;
    const float* t3 = t2 + rows;
#pragma omp simd
    for (std::int64_t j = 0; j < rows; ++j) {
      const float a = weighted_kernel_value(pc[j], uc[i], t0[j], beta[i]) +
                      weighted_kernel_value(pc[j], uc[i + 1], t1[j], beta[i + 1]);
      const float b = weighted_kernel_value(pc[j], uc[i + 2], t2[j], beta[i + 2]) +
                      weighted_kernel_value(pc[j], uc[i + 3], t3[j], beta[i + 3]);
      sum[j] += a + b;
    }
  }
  for (; i < k; ++i) {
    const float* t0 = tile + i * rows;
#pragma omp simd
    for (std::int64_t j = 0; j < rows; ++j) sum[j] += weighted_kernel_value(pc[j], uc[i], t0[j], beta[i]);
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
  detail::check_packed_offsets(where, offsets, packed_z.rows);
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
  // Every term of the exponent in base 2: -gamma log2(e) |p - u|^2.
  const float scale = static_cast<float>(-gamma * std::numbers::log2e);
  for (float& v : u_norm) v *= scale;
  const std::vector<float> beta_f(beta_u.begin(), beta_u.end());
  PerThread<TileScratch> scratch(ctx);
  parallel_for(ctx, 0, (end - begin + kTileRows - 1) / kTileRows, [&](std::int64_t t) {
    keep_blas_on_this_thread();  // SGEMM on this thread
    const std::int64_t r0 = begin + t * kTileRows;
    const std::int64_t mi = std::min(kTileRows, end - r0);
    // The SGEMM's columns are the rows, padded with zero rows to whole blocks
    // of kPadRows: OpenBLAS computes a partial block of columns with other
    // code than a whole one, which would make a row's value depend on where
    // the pack's order puts it (a market after a removal, against the same
    // market opened afresh).
    const std::int64_t cols = (mi + kPadRows - 1) / kPadRows * kPadRows;
    std::vector<float>& rows = scratch.local().rows;
    std::vector<float>& tile = scratch.local().tile;
    // The tile's own rows are all written below; only the padding rows,
    // which may hold an earlier tile's rows, are zeroed.
    rows.resize(static_cast<std::size_t>(cols * std::max<std::int64_t>(d, 1)));
    std::fill(rows.begin() + mi * d, rows.end(), 0.0f);
    tile.resize(static_cast<std::size_t>(cols * k));
    float p_norm[kTileRows] = {};
    shift_rows_with_norms(packed_z, r0, mi, shift_f.data(), rows.data(), p_norm);
    for (std::int64_t j = 0; j < mi; ++j) p_norm[j] *= scale;
    if (d > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(k), static_cast<int>(cols),
                  static_cast<int>(d), -2.0f * scale, u.data(), static_cast<int>(d), rows.data(), static_cast<int>(d),
                  0.0f, tile.data(), static_cast<int>(cols));
    } else {
      std::fill(tile.begin(), tile.end(), 0.0f);
    }
    float sum[kTileRows];
    attraction_from_tile(tile.data(), cols, k, p_norm, u_norm.data(), beta_f.data(), sum);
    for (std::int64_t j = 0; j < mi; ++j) attraction[r0 - begin + j] = static_cast<double>(sum[j]);
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
