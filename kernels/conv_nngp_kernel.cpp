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
void box_conv(const double* in, std::int64_t h, std::int64_t w, double scale, double bias, double* tmp, double* out) {
  for (std::int64_t y = 0; y < h; ++y) {
    const double* r = in + y * w;
    double* t = tmp + y * w;
    for (std::int64_t x = 0; x < w; ++x)
      t[x] = r[x] + (x > 0 ? r[x - 1] : 0.0) + (x + 1 < w ? r[x + 1] : 0.0);
  }
  for (std::int64_t y = 0; y < h; ++y) {
    const double* up = y > 0 ? tmp + (y - 1) * w : nullptr;
    const double* mid = tmp + y * w;
    const double* down = y + 1 < h ? tmp + (y + 1) * w : nullptr;
    double* o = out + y * w;
    for (std::int64_t x = 0; x < w; ++x) {
      double s = mid[x];
      if (up) s += up[x];
      if (down) s += down[x];
      o[x] = scale * s + bias;
    }
  }
}

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

// The per-image part: the K_xx map after each layer's conv (what the ReLU of
// every pair involving this image needs), and the final k(x, x).
struct VarianceChain {
  std::vector<double> after_conv;  // layer l at offset[l]
  std::vector<std::int64_t> offset;
  double self_kernel = 0.0;
};

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

VarianceChain variance_chain(const float* x, const ImageShape& s, const ConvNngpConfig& cfg) {
  VarianceChain chain;
  std::int64_t h = s.height, w = s.width;
  std::vector<double> cur(static_cast<std::size_t>(h * w)), tmp(cur.size()), conv(cur.size());
  initial_map(x, x, s.channels, h * w, cur.data());
  const double scale = cfg.conv_var_weight / 9.0;
  for (int l = 0; l < cfg.depth; ++l) {
    box_conv(cur.data(), h, w, scale, cfg.conv_var_bias, tmp.data(), conv.data());
    chain.offset.push_back(static_cast<std::int64_t>(chain.after_conv.size()));
    chain.after_conv.insert(chain.after_conv.end(), conv.begin(), conv.begin() + h * w);
    for (std::int64_t p = 0; p < h * w; ++p) conv[static_cast<std::size_t>(p)] *= 0.5;
    avg_pool2(conv.data(), h, w, cur.data());
    h /= 2;
    w /= 2;
  }
  double sum = 0.0;
  for (std::int64_t p = 0; p < h * w; ++p) sum += cur[static_cast<std::size_t>(p)];
  chain.self_kernel = sum / static_cast<double>(h * w);
  return chain;
}

std::vector<VarianceChain> variance_chains(const Context& ctx, std::span<const float> images, const ImageShape& s,
                                           const ConvNngpConfig& cfg) {
  std::vector<VarianceChain> chains(static_cast<std::size_t>(s.count));
  const std::int64_t p = s.pixels_per_image();
  parallel_for(ctx, 0, s.count, [&](std::int64_t i) {
    chains[static_cast<std::size_t>(i)] = variance_chain(images.data() + i * p, s, cfg);
  });
  return chains;
}

// Scratch for one pair's K_xy chain, reused across the pairs of a row.
struct PairScratch {
  std::vector<double> cur, tmp, conv;
  explicit PairScratch(std::int64_t hw)
      : cur(static_cast<std::size_t>(hw)), tmp(static_cast<std::size_t>(hw)), conv(static_cast<std::size_t>(hw)) {}
};

double cross_kernel(const float* x, const float* y, const ImageShape& s, const VarianceChain& cx,
                    const VarianceChain& cy, const ConvNngpConfig& cfg, PairScratch& scratch) {
  std::int64_t h = s.height, w = s.width;
  initial_map(x, y, s.channels, h * w, scratch.cur.data());
  const double scale = cfg.conv_var_weight / 9.0;
  for (int l = 0; l < cfg.depth; ++l) {
    box_conv(scratch.cur.data(), h, w, scale, cfg.conv_var_bias, scratch.tmp.data(), scratch.conv.data());
    relu_cross(scratch.conv.data(), cx.after_conv.data() + cx.offset[static_cast<std::size_t>(l)],
               cy.after_conv.data() + cy.offset[static_cast<std::size_t>(l)], h * w);
    avg_pool2(scratch.conv.data(), h, w, scratch.cur.data());
    h /= 2;
    w /= 2;
  }
  double sum = 0.0;
  for (std::int64_t p = 0; p < h * w; ++p) sum += scratch.cur[static_cast<std::size_t>(p)];
  return sum / static_cast<double>(h * w);
}

// Row i of k(A, B) through `emit(j, value)`.
template <class Emit>
void kernel_row(std::int64_t i, std::span<const float> a, const ImageShape& sa, std::span<const float> b,
                const ImageShape& sb, const std::vector<VarianceChain>& ca, const std::vector<VarianceChain>& cb,
                const ConvNngpConfig& cfg, bool same, PairScratch& scratch, Emit&& emit) {
  const std::int64_t p = sa.pixels_per_image();
  for (std::int64_t j = 0; j < sb.count; ++j) {
    if (same && i == j) {
      emit(j, ca[static_cast<std::size_t>(i)].self_kernel);
      continue;
    }
    emit(j, cross_kernel(a.data() + i * p, b.data() + j * p, sa, ca[static_cast<std::size_t>(i)],
                         cb[static_cast<std::size_t>(j)], cfg, scratch));
  }
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
  const auto cb = same_inputs ? std::vector<VarianceChain>{} : variance_chains(ctx, b, b_shape, config);
  const auto& chains_b = same_inputs ? ca : cb;
  const std::int64_t hw = a_shape.height * a_shape.width;
  parallel_for(ctx, 0, a_shape.count, [&](std::int64_t i) {
    PairScratch scratch(hw);
    kernel_row(i, a, a_shape, b, b_shape, ca, chains_b, config, same_inputs, scratch,
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
  const auto ca = variance_chains(ctx, a, a_shape, config);
  const auto cb = same_inputs ? std::vector<VarianceChain>{} : variance_chains(ctx, b, b_shape, config);
  const auto& chains_b = same_inputs ? ca : cb;
  const std::int64_t hw = a_shape.height * a_shape.width;
  std::vector<double> row_sums(static_cast<std::size_t>(a_shape.count), 0.0);
  parallel_for(ctx, 0, a_shape.count, [&](std::int64_t i) {
    PairScratch scratch(hw);
    double sum = 0.0;
    kernel_row(i, a, a_shape, b, b_shape, ca, chains_b, config, same_inputs, scratch,
               [&](std::int64_t j, double k) { sum += k * v[static_cast<std::size_t>(j)]; });
    row_sums[static_cast<std::size_t>(i)] = u[static_cast<std::size_t>(i)] * sum;
  });
  double total = 0.0;
  for (double s : row_sums) total += s;
  return total;
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
