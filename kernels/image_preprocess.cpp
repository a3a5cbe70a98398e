#include "kernels/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/parallel.h"

namespace lwd::kernels {

using detail::check_shape;
using detail::check_size;

namespace {

// ---- resampling weights ----

struct AxisWeights {
  std::vector<std::int64_t> first;  // first source index of each output index
  std::vector<std::int64_t> taps;   // number of source indices
  std::vector<double> weights;      // out x max_taps, normalised per output index
  std::int64_t max_taps = 0;
};

// Triangle filter on half-pixel centres; the support grows with the
// downscaling factor so every source pixel contributes (antialiasing).
AxisWeights resample_weights(std::int64_t in, std::int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = scale >= 1.0 ? scale : 1.0;
  const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
  AxisWeights a;
  a.max_taps = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
  a.first.resize(static_cast<std::size_t>(out));
  a.taps.resize(static_cast<std::size_t>(out));
  a.weights.assign(static_cast<std::size_t>(out * a.max_taps), 0.0);
  for (std::int64_t o = 0; o < out; ++o) {
    const double center = scale * (static_cast<double>(o) + 0.5);
    const std::int64_t lo = std::max<std::int64_t>(static_cast<std::int64_t>(center - support + 0.5), 0);
    const std::int64_t hi = std::min<std::int64_t>(static_cast<std::int64_t>(center + support + 0.5), in);
    double* w = a.weights.data() + o * a.max_taps;
    double total = 0.0;
    std::int64_t n = 0;
    for (std::int64_t j = lo; j < hi && n < a.max_taps; ++j, ++n) {
      const double t = (static_cast<double>(j) - center + 0.5) * inv;
      w[n] = std::max(0.0, 1.0 - std::abs(t));
      total += w[n];
    }
    if (total <= 0.0) {  // cannot happen for in, out >= 1; keep the nearest pixel
      n = 1;
      w[0] = 1.0;
      total = 1.0;
    }
    for (std::int64_t k = 0; k < n; ++k) w[k] /= total;
    a.first[static_cast<std::size_t>(o)] = lo;
    a.taps[static_cast<std::size_t>(o)] = n;
  }
  return a;
}

}  // namespace

void impute_non_finite_pixels(std::span<float> images, const ImageShape& shape) {
  check_shape("impute_non_finite_pixels", shape, images.size());
  const std::int64_t p = shape.pixels_per_image();
  for (std::int64_t i = 0; i < shape.count; ++i) {
    float* img = images.data() + i * p;
    double sum = 0.0;
    std::int64_t finite = 0;
    for (std::int64_t j = 0; j < p; ++j)
      if (std::isfinite(img[j])) {
        sum += img[j];
        ++finite;
      }
    if (finite == p) continue;
    if (finite == 0)
      throw KernelError("image " + std::to_string(i) + " has no finite pixel (all NaN or infinite)");
    const float mean = static_cast<float>(sum / static_cast<double>(finite));
    for (std::int64_t j = 0; j < p; ++j)
      if (!std::isfinite(img[j])) img[j] = mean;
  }
}

void resize_images_bilinear(const Context& ctx, std::span<const float> src, const ImageShape& shape,
                            std::int64_t out_height, std::int64_t out_width, std::span<float> dst) {
  check_shape("resize_images_bilinear", shape, src.size());
  if (out_height < 1 || out_width < 1) throw KernelError("resize_images_bilinear: output size must be >= 1");
  check_size("resize_images_bilinear", "dst", dst.size(), shape.count * shape.channels * out_height * out_width);
  const AxisWeights wy = resample_weights(shape.height, out_height);
  const AxisWeights wx = resample_weights(shape.width, out_width);
  const std::int64_t planes = shape.count * shape.channels;
  parallel_for(ctx, 0, num_blocks(planes, 64), [&](std::int64_t block) {
    std::vector<float> rows(static_cast<std::size_t>(shape.height * out_width));
    const std::int64_t end = std::min(planes, (block + 1) * 64);
    for (std::int64_t plane = block * 64; plane < end; ++plane) {
      const float* in = src.data() + plane * shape.height * shape.width;
      float* out = dst.data() + plane * out_height * out_width;
      // Horizontal pass, then vertical.
      for (std::int64_t y = 0; y < shape.height; ++y)
        for (std::int64_t x = 0; x < out_width; ++x) {
          const double* w = wx.weights.data() + x * wx.max_taps;
          const float* s = in + y * shape.width + wx.first[static_cast<std::size_t>(x)];
          float acc = 0.0f;
          for (std::int64_t t = 0; t < wx.taps[static_cast<std::size_t>(x)]; ++t) acc += static_cast<float>(w[t]) * s[t];
          rows[static_cast<std::size_t>(y * out_width + x)] = acc;
        }
      for (std::int64_t y = 0; y < out_height; ++y) {
        const double* w = wy.weights.data() + y * wy.max_taps;
        const std::int64_t first = wy.first[static_cast<std::size_t>(y)];
        float* o = out + y * out_width;
        std::fill(o, o + out_width, 0.0f);
        for (std::int64_t t = 0; t < wy.taps[static_cast<std::size_t>(y)]; ++t) {
          const float wt = static_cast<float>(w[t]);
          const float* r = rows.data() + (first + t) * out_width;
          for (std::int64_t x = 0; x < out_width; ++x) o[x] += wt * r[x];
        }
      }
    }
  });
}

void resize_images_bilinear_ref(std::span<const float> src, const ImageShape& shape, std::int64_t out_height,
                                std::int64_t out_width, std::span<double> dst) {
  check_shape("resize_images_bilinear_ref", shape, src.size());
  check_size("resize_images_bilinear_ref", "dst", dst.size(), shape.count * shape.channels * out_height * out_width);
  const AxisWeights wy = resample_weights(shape.height, out_height);
  const AxisWeights wx = resample_weights(shape.width, out_width);
  for (std::int64_t plane = 0; plane < shape.count * shape.channels; ++plane)
    for (std::int64_t y = 0; y < out_height; ++y)
      for (std::int64_t x = 0; x < out_width; ++x) {
        double acc = 0.0;
        for (std::int64_t ty = 0; ty < wy.taps[static_cast<std::size_t>(y)]; ++ty)
          for (std::int64_t tx = 0; tx < wx.taps[static_cast<std::size_t>(x)]; ++tx) {
            const std::int64_t sy = wy.first[static_cast<std::size_t>(y)] + ty;
            const std::int64_t sx = wx.first[static_cast<std::size_t>(x)] + tx;
            acc += wy.weights[static_cast<std::size_t>(y * wy.max_taps + ty)] *
                   wx.weights[static_cast<std::size_t>(x * wx.max_taps + tx)] *
                   src[static_cast<std::size_t>((plane * shape.height + sy) * shape.width + sx)];
          }
        dst[static_cast<std::size_t>((plane * out_height + y) * out_width + x)] = acc;
      }
}

void standardize_channels(const Context& ctx, std::span<float> images, const ImageShape& shape) {
  check_shape("standardize_channels", shape, images.size());
  const std::int64_t hw = shape.height * shape.width;
  const std::int64_t per_channel = shape.count * hw;
  if (per_channel == 0) return;
  parallel_for(ctx, 0, shape.channels, [&](std::int64_t c) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < shape.count; ++i) {
      const float* p = images.data() + (i * shape.channels + c) * hw;
      for (std::int64_t j = 0; j < hw; ++j) sum += p[j];
    }
    const double mean = sum / static_cast<double>(per_channel);
    double ss = 0.0;
    for (std::int64_t i = 0; i < shape.count; ++i) {
      const float* p = images.data() + (i * shape.channels + c) * hw;
      for (std::int64_t j = 0; j < hw; ++j) ss += (p[j] - mean) * (p[j] - mean);
    }
    const double sd = per_channel > 1 ? std::sqrt(ss / static_cast<double>(per_channel - 1)) : 0.0;
    const double scale = sd > 0.0 ? 1.0 / sd : 1.0;
    for (std::int64_t i = 0; i < shape.count; ++i) {
      float* p = images.data() + (i * shape.channels + c) * hw;
      for (std::int64_t j = 0; j < hw; ++j) p[j] = static_cast<float>((p[j] - mean) * scale);
    }
  });
}

void standardize_channels_ref(std::span<double> images, const ImageShape& shape) {
  check_shape("standardize_channels_ref", shape, images.size());
  const std::int64_t hw = shape.height * shape.width;
  const std::int64_t m = shape.count * hw;
  for (std::int64_t c = 0; c < shape.channels && m > 0; ++c) {
    double mean = 0.0;
    for (std::int64_t i = 0; i < shape.count; ++i)
      for (std::int64_t j = 0; j < hw; ++j) mean += images[static_cast<std::size_t>((i * shape.channels + c) * hw + j)];
    mean /= static_cast<double>(m);
    double var = 0.0;
    for (std::int64_t i = 0; i < shape.count; ++i)
      for (std::int64_t j = 0; j < hw; ++j) {
        const double d = images[static_cast<std::size_t>((i * shape.channels + c) * hw + j)] - mean;
        var += d * d;
      }
    const double sd = m > 1 ? std::sqrt(var / static_cast<double>(m - 1)) : 0.0;
    for (std::int64_t i = 0; i < shape.count; ++i)
      for (std::int64_t j = 0; j < hw; ++j) {
        double& v = images[static_cast<std::size_t>((i * shape.channels + c) * hw + j)];
        v = sd > 0.0 ? (v - mean) / sd : v - mean;
      }
  }
}

}  // namespace lwd::kernels
