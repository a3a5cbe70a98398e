#include "kernels/conv_nngp_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

// The reference adds float32's smallest normal number to K_xx K_yy before the
// square root, so that two all-zero maps give 0 instead of 0/0.
constexpr double kTiny = static_cast<double>(std::numeric_limits<float>::min());
constexpr double kPi = std::numbers::pi;

void check_inputs(const char* fn, std::span<const float> a, const ImageShape& sa, std::span<const float> b,
                  const ImageShape& sb, const ConvNngpConfig& config) {
  auto shape_ok = [](const ImageShape& s, std::size_t size) {
    return s.count >= 0 && s.channels >= 1 && s.height >= 1 && s.width >= 1 &&
           static_cast<std::int64_t>(size) == s.total();
  };
  if (!shape_ok(sa, a.size()) || !shape_ok(sb, b.size()))
    throw KernelError(std::string(fn) + ": image buffers do not match their shapes");
  if (sa.channels != sb.channels || sa.height != sb.height || sa.width != sb.width)
    throw KernelError(std::string(fn) + ": images of different shapes ([" + std::to_string(sa.channels) + ", " +
                      std::to_string(sa.height) + ", " + std::to_string(sa.width) + "] vs [" +
                      std::to_string(sb.channels) + ", " + std::to_string(sb.height) + ", " +
                      std::to_string(sb.width) + "])");
  if (config.depth < 1 || config.depth > 16)
    throw KernelError(std::string(fn) + ": depth must be in [1, 16] (got " + std::to_string(config.depth) + ")");
  const std::int64_t unit = std::int64_t{1} << config.depth;
  if (sa.height % unit != 0 || sa.width % unit != 0)
    throw KernelError(std::string(fn) + ": image size " + std::to_string(sa.height) + " x " +
                      std::to_string(sa.width) + " is not divisible by 2^depth = " + std::to_string(unit));
  if (!std::isfinite(config.conv_var_weight) || !std::isfinite(config.conv_var_bias))
    throw KernelError(std::string(fn) + ": kernel variances must be finite");
}

// (w/9) * box3x3(in) + b with zero padding, h x w map; tmp holds h x w.
// Each sum is taken in one fixed order -- centre, left, right; then middle
// row, upper, lower -- with the missing neighbours of the border as +0.0, so
// the border columns and rows, split off to let the interior vectorise, give
// the bits they gave as one loop. The scale and the bias are applied in loops
// of their own: in one loop the wider instruction sets (LWD_SIMD_CLONES) would
// fuse `scale * s + bias` into one multiply-add, rounded once instead of
// twice, and every kernel value would move by an ulp.
LWD_SIMD_CLONES
void box_conv(const double* in, std::int64_t h, std::int64_t w, double scale, double bias, double* tmp, double* out) {
  for (std::int64_t y = 0; y < h; ++y) {
    const double* r = in + y * w;
    double* t = tmp + y * w;
    if (w == 1) {
      t[0] = (r[0] + 0.0) + 0.0;
      continue;
    }
    t[0] = (r[0] + 0.0) + r[1];
    for (std::int64_t x = 1; x + 1 < w; ++x) t[x] = (r[x] + r[x - 1]) + r[x + 1];
    t[w - 1] = (r[w - 1] + r[w - 2]) + 0.0;
  }
  for (std::int64_t y = 0; y < h; ++y) {
    const double* mid = tmp + y * w;
    double* o = out + y * w;
    if (y > 0 && y + 1 < h) {
      const double* up = mid - w;
      const double* down = mid + w;
      for (std::int64_t x = 0; x < w; ++x) o[x] = (mid[x] + up[x]) + down[x];
    } else if (y > 0) {
      const double* up = mid - w;
      for (std::int64_t x = 0; x < w; ++x) o[x] = mid[x] + up[x];
    } else if (y + 1 < h) {
      const double* down = mid + w;
      for (std::int64_t x = 0; x < w; ++x) o[x] = mid[x] + down[x];
    } else {
      for (std::int64_t x = 0; x < w; ++x) o[x] = mid[x];
    }
  }
  const std::int64_t n = h * w;
  for (std::int64_t p = 0; p < n; ++p) out[p] *= scale;
  for (std::int64_t p = 0; p < n; ++p) out[p] += bias;
}

LWD_SIMD_CLONES
void avg_pool2(const double* in, std::int64_t h, std::int64_t w, double* out) {
  const std::int64_t ph = h / 2, pw = w / 2;
  for (std::int64_t y = 0; y < ph; ++y)
    for (std::int64_t x = 0; x < pw; ++x) {
      const double* s = in + 2 * y * w + 2 * x;
      out[y * pw + x] = 0.25 * (s[0] + s[1] + s[w] + s[w + 1]);
    }
}

// pi - arccos(c) for c in [-1, 1], by Abramowitz & Stegun 4.4.46
// (|error| <= 2e-8, below float32 rounding of the reference): written without
// a library call so the loop vectorises.
inline double pi_minus_acos(double c) {
  const double a = std::abs(c);
  const double p =
      1.5707963050 +
      a * (-0.2145988016 +
           a * (0.0889789874 +
                a * (-0.0501743046 + a * (0.0308918810 + a * (-0.0170881256 + a * (0.0066700901 - 0.0012624911 * a))))));
  const double acos_abs = std::sqrt(1.0 - a) * p;
  return c >= 0.0 ? kPi - acos_abs : acos_abs;
}

// In place on the K_xy map, given the K_xx and K_yy maps after the same conv.
LWD_SIMD_CLONES
void relu_cross(double* xy, const double* xx, const double* yy, std::int64_t n) {
  for (std::int64_t p = 0; p < n; ++p) {
    const double prod = xx[p] * yy[p] + kTiny;
    const double c = std::clamp(xy[p] / std::sqrt(prod), -1.0, 1.0);
    const double s = std::sqrt(std::max(prod - xy[p] * xy[p], 0.0));
    xy[p] = (s + pi_minus_acos(c) * xy[p]) * (0.5 / kPi);
  }
}

// The per-image part of a set of images, back to back: image i's K_xx map
// after layer l's conv (what the ReLU of every pair involving the image needs)
// at maps[i * stride + offset[l]], and its k(x, x).
struct VarianceChains {
  std::vector<double> maps;
  std::vector<std::int64_t> offset;
  std::int64_t stride = 0;
  std::vector<double> self_kernel;

  const double* after_conv(std::int64_t image, int layer) const {
    return maps.data() + image * stride + offset[static_cast<std::size_t>(layer)];
  }
};

// A product of two floats is exact in double, so the multiply-adds the wider
// instruction sets fuse here round as the separate operations do.
LWD_SIMD_CLONES
void initial_map(const float* x, const float* y, std::int64_t c, std::int64_t hw, double* out) {
  std::fill(out, out + hw, 0.0);
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const float* xp = x + ch * hw;
    const float* yp = y + ch * hw;
    for (std::int64_t p = 0; p < hw; ++p) out[p] += static_cast<double>(xp[p]) * static_cast<double>(yp[p]);
  }
  const double inv = 1.0 / static_cast<double>(c);
  for (std::int64_t p = 0; p < hw; ++p) out[p] *= inv;
}

// Scratch for one image's or one pair's chain: three maps of the input size.
struct ChainScratch {
  std::vector<double> cur, tmp, conv;
  explicit ChainScratch(std::int64_t hw)
      : cur(static_cast<std::size_t>(hw)), tmp(static_cast<std::size_t>(hw)), conv(static_cast<std::size_t>(hw)) {}
};

// Images per task of the chains' pass: a constant, so the split never depends
// on the thread count (each image's chain is its own anyway).
constexpr std::int64_t kChainImagesPerTask = 8;

// The chains of `count` images given by image(i) (a pointer to C*H*W floats),
// computed in parallel, each into its own slice.
template <class ImageAt>
VarianceChains variance_chains(const Context& ctx, std::int64_t count, ImageAt image, const ImageShape& s,
                               const ConvNngpConfig& cfg) {
  VarianceChains chains;
  std::int64_t h = s.height, w = s.width;
  for (int l = 0; l < cfg.depth; ++l) {
    chains.offset.push_back(chains.stride);
    chains.stride += h * w;
    h /= 2;
    w /= 2;
  }
  chains.maps.resize(static_cast<std::size_t>(count * chains.stride));
  chains.self_kernel.resize(static_cast<std::size_t>(count));
  const double scale = cfg.conv_var_weight / 9.0;
  parallel_for(ctx, 0, num_blocks(count, kChainImagesPerTask), [&](std::int64_t block) {
    ChainScratch scratch(s.height * s.width);
    const std::int64_t end = std::min(count, (block + 1) * kChainImagesPerTask);
    for (std::int64_t i = block * kChainImagesPerTask; i < end; ++i) {
      std::int64_t hh = s.height, ww = s.width;
      initial_map(image(i), image(i), s.channels, hh * ww, scratch.cur.data());
      for (int l = 0; l < cfg.depth; ++l) {
        box_conv(scratch.cur.data(), hh, ww, scale, cfg.conv_var_bias, scratch.tmp.data(), scratch.conv.data());
        std::copy_n(scratch.conv.data(), hh * ww, chains.maps.data() + i * chains.stride + chains.offset[static_cast<std::size_t>(l)]);
        for (std::int64_t p = 0; p < hh * ww; ++p) scratch.conv[static_cast<std::size_t>(p)] *= 0.5;
        avg_pool2(scratch.conv.data(), hh, ww, scratch.cur.data());
        hh /= 2;
        ww /= 2;
      }
      double sum = 0.0;
      for (std::int64_t p = 0; p < hh * ww; ++p) sum += scratch.cur[static_cast<std::size_t>(p)];
      chains.self_kernel[static_cast<std::size_t>(i)] = sum / static_cast<double>(hh * ww);
    }
  });
  return chains;
}

VarianceChains variance_chains(const Context& ctx, std::span<const float> images, const ImageShape& s,
                               const ConvNngpConfig& cfg) {
  const std::int64_t p = s.pixels_per_image();
  return variance_chains(ctx, s.count, [&](std::int64_t i) { return images.data() + i * p; }, s, cfg);
}

// k(x, y) for x = image i of chains cx and y = image j of chains cy.
double cross_kernel(const float* x, const float* y, const ImageShape& s, const VarianceChains& cx, std::int64_t i,
                    const VarianceChains& cy, std::int64_t j, const ConvNngpConfig& cfg, ChainScratch& scratch) {
  std::int64_t h = s.height, w = s.width;
  initial_map(x, y, s.channels, h * w, scratch.cur.data());
  const double scale = cfg.conv_var_weight / 9.0;
  for (int l = 0; l < cfg.depth; ++l) {
    box_conv(scratch.cur.data(), h, w, scale, cfg.conv_var_bias, scratch.tmp.data(), scratch.conv.data());
    relu_cross(scratch.conv.data(), cx.after_conv(i, l), cy.after_conv(j, l), h * w);
    avg_pool2(scratch.conv.data(), h, w, scratch.cur.data());
    h /= 2;
    w /= 2;
  }
  double sum = 0.0;
  for (std::int64_t p = 0; p < h * w; ++p) sum += scratch.cur[static_cast<std::size_t>(p)];
  return sum / static_cast<double>(h * w);
}

// Row i of k(A, B) through `emit(j, value)`; b(j) points to image j of B.
template <class ImageAt, class Emit>
void kernel_row(std::int64_t i, const float* a_i, const ImageShape& sa, std::int64_t b_count, ImageAt b,
                const VarianceChains& ca, const VarianceChains& cb, const ConvNngpConfig& cfg, bool same,
                ChainScratch& scratch, Emit&& emit) {
  for (std::int64_t j = 0; j < b_count; ++j) {
    if (same && i == j) {
      emit(j, ca.self_kernel[static_cast<std::size_t>(i)]);
      continue;
    }
    emit(j, cross_kernel(a_i, b(j), sa, ca, i, cb, j, cfg, scratch));
  }
}

// The images of a weighted set whose weight is not zero, ascending. A
// bilinear form needs only those: a term with a zero weight is a signed zero,
// and adding a signed zero to the running sums (which start at +0.0) changes
// no bit of them, so the sum over the support is bit for bit the full sum.
// The RKME image specs' weights come from the simplex QP, whose solutions sit
// on a face of the simplex: a handful of K = 50 weights are not zero, so this
// is most of the work saved.
std::vector<std::int64_t> support_of(std::span<const double> weights) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < weights.size(); ++i)
    if (weights[i] != 0.0) out.push_back(static_cast<std::int64_t>(i));
  return out;
}

}  // namespace

void conv_nngp_kernel_matrix(const Context& ctx, std::span<const float> a, const ImageShape& a_shape,
                             std::span<const float> b, const ImageShape& b_shape, const ConvNngpConfig& config,
                             bool same_inputs, MatrixView<double> out) {
  check_inputs("conv_nngp_kernel_matrix", a, a_shape, b, b_shape, config);
  if (out.rows != a_shape.count || out.cols != b_shape.count)
    throw KernelError("conv_nngp_kernel_matrix: output is " + std::to_string(out.rows) + " x " +
                      std::to_string(out.cols) + ", expected " + std::to_string(a_shape.count) + " x " +
                      std::to_string(b_shape.count));
  if (same_inputs && a_shape.count != b_shape.count)
    throw KernelError("conv_nngp_kernel_matrix: same_inputs with sets of different sizes");
  const auto ca = variance_chains(ctx, a, a_shape, config);
  const auto cb = same_inputs ? VarianceChains{} : variance_chains(ctx, b, b_shape, config);
  const auto& chains_b = same_inputs ? ca : cb;
  const std::int64_t p = a_shape.pixels_per_image();
  const auto b_at = [&](std::int64_t j) { return b.data() + j * p; };
  parallel_for(ctx, 0, a_shape.count, [&](std::int64_t i) {
    ChainScratch scratch(a_shape.height * a_shape.width);
    kernel_row(i, a.data() + i * p, a_shape, b_shape.count, b_at, ca, chains_b, config, same_inputs, scratch,
               [&](std::int64_t j, double v) { out(i, j) = v; });
  });
}

double conv_nngp_bilinear(const Context& ctx, std::span<const double> u, std::span<const float> a,
                          const ImageShape& a_shape, std::span<const float> b, const ImageShape& b_shape,
                          std::span<const double> v, const ConvNngpConfig& config, bool same_inputs) {
  check_inputs("conv_nngp_bilinear", a, a_shape, b, b_shape, config);
  if (static_cast<std::int64_t>(u.size()) != a_shape.count || static_cast<std::int64_t>(v.size()) != b_shape.count)
    throw KernelError("conv_nngp_bilinear: weights have " + std::to_string(u.size()) + " and " +
                      std::to_string(v.size()) + " entries for " + std::to_string(a_shape.count) + " and " +
                      std::to_string(b_shape.count) + " images");
  if (same_inputs && a_shape.count != b_shape.count)
    throw KernelError("conv_nngp_bilinear: same_inputs with sets of different sizes");
  const std::int64_t p = a_shape.pixels_per_image();
  const auto rows = support_of(u);
  const auto cols = same_inputs ? support_of(u) : support_of(v);
  // Chains of the support only, in support order.
  const auto ca = variance_chains(ctx, static_cast<std::int64_t>(rows.size()),
                                  [&](std::int64_t r) { return a.data() + rows[static_cast<std::size_t>(r)] * p; },
                                  a_shape, config);
  const auto cb = same_inputs ? VarianceChains{}
                              : variance_chains(ctx, static_cast<std::int64_t>(cols.size()),
                                                [&](std::int64_t c) { return b.data() + cols[static_cast<std::size_t>(c)] * p; },
                                                b_shape, config);
  const auto& chains_b = same_inputs ? ca : cb;
  std::vector<double> row_sums(rows.size(), 0.0);
  parallel_for(ctx, 0, static_cast<std::int64_t>(rows.size()), [&](std::int64_t r) {
    ChainScratch scratch(a_shape.height * a_shape.width);
    const std::int64_t i = rows[static_cast<std::size_t>(r)];
    double sum = 0.0;
    kernel_row(r, a.data() + i * p, a_shape, static_cast<std::int64_t>(cols.size()),
               [&](std::int64_t c) { return b.data() + cols[static_cast<std::size_t>(c)] * p; }, ca, chains_b, config,
               same_inputs, scratch,
               [&](std::int64_t c, double k) { sum += k * v[static_cast<std::size_t>(cols[static_cast<std::size_t>(c)])]; });
    row_sums[static_cast<std::size_t>(r)] = u[static_cast<std::size_t>(i)] * sum;
  });
  double total = 0.0;
  for (double s : row_sums) total += s;
  return total;
}

void conv_nngp_bilinear_batch(const Context& ctx, const WeightedImages& a, std::span<const WeightedImages> bs,
                              const ConvNngpConfig& config, std::span<double> out) {
  constexpr const char* fn = "conv_nngp_bilinear_batch";
  if (out.size() != bs.size())
    throw KernelError(std::string(fn) + ": " + std::to_string(out.size()) + " outputs for " +
                      std::to_string(bs.size()) + " sets");
  const auto check_weights = [&](const WeightedImages& set) {
    if (static_cast<std::int64_t>(set.weights.size()) != set.shape.count)
      throw KernelError(std::string(fn) + ": " + std::to_string(set.weights.size()) + " weights for " +
                        std::to_string(set.shape.count) + " images");
  };
  check_weights(a);
  for (const WeightedImages& b : bs) {
    check_inputs(fn, a.images, a.shape, b.images, b.shape, config);
    check_weights(b);
  }
  if (bs.empty()) return;
  const std::int64_t p = a.shape.pixels_per_image();
  const auto rows = support_of(a.weights);
  // Every set's support under one index, so that their chains come from one
  // parallel pass: set k's support is [first[k], first[k + 1]) of `image`.
  std::vector<std::int64_t> first{0};
  std::vector<const float*> image;
  std::vector<double> weight;
  for (const WeightedImages& b : bs) {
    for (const std::int64_t j : support_of(b.weights)) {
      image.push_back(b.images.data() + j * p);
      weight.push_back(b.weights[static_cast<std::size_t>(j)]);
    }
    first.push_back(static_cast<std::int64_t>(image.size()));
  }
  const auto ca = variance_chains(ctx, static_cast<std::int64_t>(rows.size()),
                                  [&](std::int64_t r) { return a.images.data() + rows[static_cast<std::size_t>(r)] * p; },
                                  a.shape, config);
  const auto cb = variance_chains(ctx, first.back(), [&](std::int64_t g) { return image[static_cast<std::size_t>(g)]; },
                                  a.shape, config);
  // One task per (set, row of A's support): each owns its row sum, and each
  // set's rows are added in row order, as conv_nngp_bilinear adds them.
  const auto n_rows = static_cast<std::int64_t>(rows.size());
  std::vector<double> row_sums(static_cast<std::size_t>(n_rows) * bs.size(), 0.0);
  parallel_for(ctx, 0, n_rows * static_cast<std::int64_t>(bs.size()), [&](std::int64_t task) {
    const auto k = static_cast<std::size_t>(task / n_rows);
    const std::int64_t r = task % n_rows;
    const std::int64_t i = rows[static_cast<std::size_t>(r)];
    ChainScratch scratch(a.shape.height * a.shape.width);
    double sum = 0.0;
    for (std::int64_t g = first[k]; g < first[k + 1]; ++g)
      sum += cross_kernel(a.images.data() + i * p, image[static_cast<std::size_t>(g)], a.shape, ca, r, cb, g, config,
                          scratch) *
             weight[static_cast<std::size_t>(g)];
    row_sums[static_cast<std::size_t>(task)] = a.weights[static_cast<std::size_t>(i)] * sum;
  });
  for (std::size_t k = 0; k < bs.size(); ++k) {
    double total = 0.0;
    for (std::int64_t r = 0; r < n_rows; ++r) total += row_sums[k * static_cast<std::size_t>(n_rows) + static_cast<std::size_t>(r)];
    out[k] = total;
  }
}

void conv_nngp_bilinear_batch_ref(const WeightedImages& a, std::span<const WeightedImages> bs,
                                  const ConvNngpConfig& config, std::span<double> out) {
  if (out.size() != bs.size()) throw KernelError("conv_nngp_bilinear_batch_ref: one output per set");
  for (std::size_t k = 0; k < bs.size(); ++k) {
    Matrix<double> m(a.shape.count, bs[k].shape.count);
    conv_nngp_kernel_matrix_ref(a.images, a.shape, bs[k].images, bs[k].shape, config, false, m.view());
    double total = 0.0;
    for (std::int64_t i = 0; i < m.rows(); ++i)
      for (std::int64_t j = 0; j < m.cols(); ++j)
        total += a.weights[static_cast<std::size_t>(i)] * m(i, j) * bs[k].weights[static_cast<std::size_t>(j)];
    out[k] = total;
  }
}

void conv_nngp_kernel_matrix_ref(std::span<const float> a, const ImageShape& a_shape, std::span<const float> b,
                                 const ImageShape& b_shape, const ConvNngpConfig& config, bool same_inputs,
                                 MatrixView<double> out) {
  check_inputs("conv_nngp_kernel_matrix_ref", a, a_shape, b, b_shape, config);
  const std::int64_t c = a_shape.channels, p = a_shape.pixels_per_image();
  for (std::int64_t i = 0; i < a_shape.count; ++i)
    for (std::int64_t j = 0; j < b_shape.count; ++j) {
      const float* x = a.data() + i * p;
      const float* y = b.data() + j * p;
      const bool diag = same_inputs && i == j;
      std::int64_t h = a_shape.height, w = a_shape.width;
      std::vector<double> xy(static_cast<std::size_t>(h * w), 0.0), xx(xy), yy(xy);
      for (std::int64_t q = 0; q < h * w; ++q) {
        for (std::int64_t ch = 0; ch < c; ++ch) {
          const double xv = x[ch * h * w + q], yv = y[ch * h * w + q];
          xy[static_cast<std::size_t>(q)] += xv * yv;
          xx[static_cast<std::size_t>(q)] += xv * xv;
          yy[static_cast<std::size_t>(q)] += yv * yv;
        }
        xy[static_cast<std::size_t>(q)] /= static_cast<double>(c);
        xx[static_cast<std::size_t>(q)] /= static_cast<double>(c);
        yy[static_cast<std::size_t>(q)] /= static_cast<double>(c);
      }
      for (int l = 0; l < config.depth; ++l) {
        // conv: direct 3x3 sums with zero padding.
        auto conv = [&](const std::vector<double>& m) {
          std::vector<double> r(m.size());
          for (std::int64_t yy0 = 0; yy0 < h; ++yy0)
            for (std::int64_t xx0 = 0; xx0 < w; ++xx0) {
              double s = 0.0;
              for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx) {
                  const std::int64_t sy = yy0 + dy, sx = xx0 + dx;
                  if (sy >= 0 && sy < h && sx >= 0 && sx < w) s += m[static_cast<std::size_t>(sy * w + sx)];
                }
              r[static_cast<std::size_t>(yy0 * w + xx0)] = config.conv_var_weight / 9.0 * s + config.conv_var_bias;
            }
          return r;
        };
        xy = conv(xy);
        xx = conv(xx);
        yy = conv(yy);
        for (std::size_t q = 0; q < xy.size(); ++q) {
          const double prod = xx[q] * yy[q] + kTiny;
          const double cosine = std::clamp(xy[q] / std::sqrt(prod), -1.0, 1.0);
          const double sine = std::sqrt(std::max(prod - xy[q] * xy[q], 0.0));
          const double theta = std::acos(cosine);
          xy[q] = diag ? xx[q] / 2.0 : (sine + (kPi - theta) * xy[q]) / (2.0 * kPi);
          xx[q] /= 2.0;
          yy[q] /= 2.0;
        }
        auto pool = [&](const std::vector<double>& m) {
          std::vector<double> r(static_cast<std::size_t>((h / 2) * (w / 2)));
          for (std::int64_t yy0 = 0; yy0 < h / 2; ++yy0)
            for (std::int64_t xx0 = 0; xx0 < w / 2; ++xx0)
              r[static_cast<std::size_t>(yy0 * (w / 2) + xx0)] =
                  (m[static_cast<std::size_t>(2 * yy0 * w + 2 * xx0)] + m[static_cast<std::size_t>(2 * yy0 * w + 2 * xx0 + 1)] +
                   m[static_cast<std::size_t>((2 * yy0 + 1) * w + 2 * xx0)] +
                   m[static_cast<std::size_t>((2 * yy0 + 1) * w + 2 * xx0 + 1)]) /
                  4.0;
          return r;
        };
        xy = pool(xy);
        xx = pool(xx);
        yy = pool(yy);
        h /= 2;
        w /= 2;
      }
      double s = 0.0;
      for (double v : xy) s += v;
      out(i, j) = s / static_cast<double>(xy.size());
    }
}

}  // namespace lwd::kernels
