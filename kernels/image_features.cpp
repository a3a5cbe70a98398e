#include "kernels/image_features.h"

#include <cblas.h>
#include <lapacke.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd::kernels {

namespace {

// Images per block of a network pass. A constant (never the thread count), so
// every block is computed by the same GEMM calls whatever the threads; 16
// MNIST-sized images make GEMMs of 4096..16384 columns, wide enough for BLAS.
constexpr std::int64_t kImagesPerBlock = 16;
// Rows per block when whitening, columns per block of the covariance.
constexpr std::int64_t kWhitenRowsPerBlock = 128;
constexpr std::int64_t kCovColsPerBlock = 256;

std::string shape_text(const ImageShape& s) {
  return "[" + std::to_string(s.count) + ", " + std::to_string(s.channels) + ", " + std::to_string(s.height) + ", " +
         std::to_string(s.width) + "]";
}

void check_shape(const char* fn, const ImageShape& shape, std::size_t size) {
  if (shape.count < 0 || shape.channels < 1 || shape.height < 1 || shape.width < 1)
    throw KernelError(std::string(fn) + ": invalid image shape " + shape_text(shape));
  if (static_cast<std::int64_t>(size) != shape.total())
    throw KernelError(std::string(fn) + ": buffer has " + std::to_string(size) + " values but shape " +
                      shape_text(shape) + " needs " + std::to_string(shape.total()));
}

void check_size(const char* fn, const char* name, std::size_t size, std::int64_t expected) {
  if (static_cast<std::int64_t>(size) != expected)
    throw KernelError(std::string(fn) + ": " + name + " has " + std::to_string(size) + " values, expected " +
                      std::to_string(expected));
}

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

// ---- im2col / col2im for a 3x3 "same" convolution over a CNHW batch ----

void im2col_3x3(const ConvGeometry& g, const float* in, float* cols) {
  const std::int64_t hw = g.height * g.width;
  const std::int64_t n = g.count * hw;
  for (std::int64_t i = 0; i < g.in_channels; ++i) {
    const float* plane = in + i * n;
    for (int dy = 0; dy < 3; ++dy) {
      for (int dx = 0; dx < 3; ++dx) {
        float* row = cols + ((i * 3 + dy) * 3 + dx) * n;
        for (std::int64_t b = 0; b < g.count; ++b) {
          const float* src = plane + b * hw;
          float* dst = row + b * hw;
          for (std::int64_t y = 0; y < g.height; ++y) {
            const std::int64_t sy = y + dy - 1;
            float* d = dst + y * g.width;
            if (sy < 0 || sy >= g.height) {
              std::fill(d, d + g.width, 0.0f);
              continue;
            }
            const float* s = src + sy * g.width;
            // Interior columns copy straight; the border column on the side the
            // kernel overhangs is zero.
            const std::int64_t x_lo = dx == 0 ? 1 : 0;
            const std::int64_t x_hi = dx == 2 ? g.width - 1 : g.width;
            if (x_lo > 0) d[0] = 0.0f;
            for (std::int64_t x = x_lo; x < x_hi; ++x) d[x] = s[x + dx - 1];
            if (x_hi < g.width) d[g.width - 1] = 0.0f;
          }
        }
      }
    }
  }
}

void col2im_3x3(const ConvGeometry& g, const float* cols, float* out) {
  const std::int64_t hw = g.height * g.width;
  const std::int64_t n = g.count * hw;
  for (std::int64_t i = 0; i < g.in_channels; ++i) {
    float* plane = out + i * n;
    std::fill(plane, plane + n, 0.0f);
    for (int dy = 0; dy < 3; ++dy) {
      for (int dx = 0; dx < 3; ++dx) {
        const float* row = cols + ((i * 3 + dy) * 3 + dx) * n;
        for (std::int64_t b = 0; b < g.count; ++b) {
          const float* src = row + b * hw;
          float* dst = plane + b * hw;
          for (std::int64_t y = 0; y < g.height; ++y) {
            const std::int64_t sy = y + dy - 1;
            if (sy < 0 || sy >= g.height) continue;
            const float* s = src + y * g.width;
            float* d = dst + sy * g.width;
            const std::int64_t x_lo = dx == 0 ? 1 : 0;
            const std::int64_t x_hi = dx == 2 ? g.width - 1 : g.width;
            for (std::int64_t x = x_lo; x < x_hi; ++x) d[x + dx - 1] += s[x];
          }
        }
      }
    }
  }
}

void check_geometry(const char* fn, const ConvGeometry& g) {
  if (g.in_channels < 1 || g.out_channels < 1 || g.count < 0 || g.height < 1 || g.width < 1)
    throw KernelError(std::string(fn) + ": invalid convolution geometry (in " + std::to_string(g.in_channels) +
                      ", out " + std::to_string(g.out_channels) + ", count " + std::to_string(g.count) + ", " +
                      std::to_string(g.height) + " x " + std::to_string(g.width) + ")");
}

void conv_forward_with(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                       std::vector<float>& cols) {
  const std::int64_t n = g.count * g.height * g.width;
  if (n == 0) return;
  const std::int64_t k = g.in_channels * 9;
  cols.resize(static_cast<std::size_t>(k * n));
  im2col_3x3(g, in, cols.data());
  for (std::int64_t o = 0; o < g.out_channels; ++o) std::fill(out + o * n, out + (o + 1) * n, bias[o]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(g.out_channels), static_cast<int>(n),
              static_cast<int>(k), 1.0f, weight, static_cast<int>(k), cols.data(), static_cast<int>(n), 1.0f, out,
              static_cast<int>(n));
}

void conv_backward_input_with(const ConvGeometry& g, const float* grad_out, const float* weight, float* grad_in,
                              std::vector<float>& cols) {
  const std::int64_t n = g.count * g.height * g.width;
  if (n == 0) return;
  const std::int64_t k = g.in_channels * 9;
  cols.resize(static_cast<std::size_t>(k * n));
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(n),
              static_cast<int>(g.out_channels), 1.0f, weight, static_cast<int>(k), grad_out, static_cast<int>(n), 0.0f,
              cols.data(), static_cast<int>(n));
  col2im_3x3(g, cols.data(), grad_in);
}

// ---- network passes over one block of images ----

struct NetWorkspace {
  std::vector<float> cols;
  std::vector<std::vector<float>> input;  // per layer: its input, CNHW
  std::vector<std::vector<float>> relu;   // per layer: ReLU output before pooling, CNHW
  std::vector<float> pooled;              // last layer's pooled output (the features), CNHW
  std::vector<float> grad_a, grad_b;
};

NetWorkspace& thread_workspace() {
  // One per thread, reused across blocks and calls: a block's buffers are a
  // few MB, and allocating them per block would page-fault on every block.
  static thread_local NetWorkspace ws;
  return ws;
}

// Runs `count` images (NCHW, at `images`) through the net; features go to
// rows of `features` (count x feature_dim) if given. Keeps what backward needs.
void forward_block(const RandomConvNet& net, const float* images, std::int64_t count, NetWorkspace& ws,
                   float* features, std::int64_t feature_stride) {
  const auto& cfg = net.config;
  const int depth = cfg.depth;
  ws.input.resize(static_cast<std::size_t>(depth));
  ws.relu.resize(static_cast<std::size_t>(depth));
  std::int64_t h = cfg.height, w = cfg.width_px, c = cfg.in_channels;
  // NCHW -> CNHW.
  auto& in0 = ws.input[0];
  in0.resize(static_cast<std::size_t>(count * c * h * w));
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      std::copy_n(images + (b * c + ch) * h * w, h * w, in0.data() + (ch * count + b) * h * w);
  for (int l = 0; l < depth; ++l) {
    const ConvGeometry g{c, cfg.width, count, h, w};
    auto& relu = ws.relu[static_cast<std::size_t>(l)];
    relu.resize(static_cast<std::size_t>(cfg.width * count * h * w));
    conv_forward_with(g, ws.input[static_cast<std::size_t>(l)].data(), net.weights[static_cast<std::size_t>(l)].data(),
                      net.biases[static_cast<std::size_t>(l)].data(), relu.data(), ws.cols);
    for (float& v : relu) v = v > 0.0f ? v : 0.0f;
    const std::int64_t ph = h / 2, pw = w / 2;
    auto& next = l + 1 < depth ? ws.input[static_cast<std::size_t>(l + 1)] : ws.pooled;
    next.resize(static_cast<std::size_t>(cfg.width * count * ph * pw));
    for (std::int64_t plane = 0; plane < cfg.width * count; ++plane) {
      const float* src = relu.data() + plane * h * w;
      float* dst = next.data() + plane * ph * pw;
      for (std::int64_t y = 0; y < ph; ++y)
        for (std::int64_t x = 0; x < pw; ++x) {
          const float* s = src + 2 * y * w + 2 * x;
          dst[y * pw + x] = 0.25f * (s[0] + s[1] + s[w] + s[w + 1]);
        }
    }
    h = ph;
    w = pw;
    c = cfg.width;
  }
  if (features != nullptr) {
    const std::int64_t hw = h * w;
    for (std::int64_t b = 0; b < count; ++b)
      for (std::int64_t ch = 0; ch < c; ++ch)
        std::copy_n(ws.pooled.data() + (ch * count + b) * hw, hw, features + b * feature_stride + ch * hw);
  }
}

// After forward_block on the same images: the input gradient (NCHW).
void backward_block(const RandomConvNet& net, std::int64_t count, NetWorkspace& ws, const float* grad_features,
                    std::int64_t grad_stride, float* grad_images) {
  const auto& cfg = net.config;
  const int depth = cfg.depth;
  std::int64_t h = cfg.height >> depth, w = cfg.width_px >> depth;
  auto& g = ws.grad_a;
  g.resize(static_cast<std::size_t>(cfg.width * count * h * w));
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t ch = 0; ch < cfg.width; ++ch)
      std::copy_n(grad_features + b * grad_stride + ch * h * w, h * w, g.data() + (ch * count + b) * h * w);
  for (int l = depth - 1; l >= 0; --l) {
    const std::int64_t uh = h * 2, uw = w * 2;
    const auto& relu = ws.relu[static_cast<std::size_t>(l)];
    auto& gr = ws.grad_b;
    gr.resize(static_cast<std::size_t>(cfg.width * count * uh * uw));
    // Average-pool backward (a quarter to each of the 4 pixels), then the ReLU mask.
    for (std::int64_t plane = 0; plane < cfg.width * count; ++plane) {
      const float* src = g.data() + plane * h * w;
      const float* mask = relu.data() + plane * uh * uw;
      float* dst = gr.data() + plane * uh * uw;
      for (std::int64_t y = 0; y < uh; ++y)
        for (std::int64_t x = 0; x < uw; ++x) {
          const std::int64_t at = y * uw + x;
          dst[at] = mask[at] > 0.0f ? 0.25f * src[(y / 2) * w + (x / 2)] : 0.0f;
        }
    }
    const std::int64_t cin = l == 0 ? cfg.in_channels : cfg.width;
    const ConvGeometry geo{cin, cfg.width, count, uh, uw};
    g.resize(static_cast<std::size_t>(cin * count * uh * uw));
    conv_backward_input_with(geo, gr.data(), net.weights[static_cast<std::size_t>(l)].data(), g.data(), ws.cols);
    h = uh;
    w = uw;
  }
  // CNHW -> NCHW.
  const std::int64_t c = cfg.in_channels;
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      std::copy_n(g.data() + (ch * count + b) * h * w, h * w, grad_images + (b * c + ch) * h * w);
}

void check_net_input(const char* fn, const RandomConvNet& net, const ImageShape& shape, std::size_t size) {
  check_shape(fn, shape, size);
  const auto& c = net.config;
  if (shape.channels != c.in_channels || shape.height != c.height || shape.width != c.width_px)
    throw KernelError(std::string(fn) + ": images of shape " + shape_text(shape) + " do not fit a net for [" +
                      std::to_string(c.in_channels) + ", " + std::to_string(c.height) + ", " +
                      std::to_string(c.width_px) + "] inputs");
}

// ---- naive float64 network, per image, NCHW ----

struct RefActivations {
  std::vector<std::vector<double>> input;  // per layer, C x H x W
  std::vector<std::vector<double>> relu;
  std::vector<double> pooled;
};

void conv_ref_single(const double* in, std::int64_t cin, std::int64_t h, std::int64_t w, const float* weight,
                     const float* bias, std::int64_t cout, double* out) {
  for (std::int64_t o = 0; o < cout; ++o)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        double acc = bias[o];
        for (std::int64_t i = 0; i < cin; ++i)
          for (int dy = 0; dy < 3; ++dy)
            for (int dx = 0; dx < 3; ++dx) {
              const std::int64_t sy = y + dy - 1, sx = x + dx - 1;
              if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
              acc += static_cast<double>(weight[(o * cin + i) * 9 + dy * 3 + dx]) * in[(i * h + sy) * w + sx];
            }
        out[(o * h + y) * w + x] = acc;
      }
}

RefActivations forward_ref_single(const RandomConvNet& net, const double* image) {
  const auto& cfg = net.config;
  RefActivations a;
  std::int64_t h = cfg.height, w = cfg.width_px, c = cfg.in_channels;
  std::vector<double> cur(image, image + c * h * w);
  for (int l = 0; l < cfg.depth; ++l) {
    a.input.push_back(cur);
    std::vector<double> relu(static_cast<std::size_t>(cfg.width * h * w));
    conv_ref_single(cur.data(), c, h, w, net.weights[static_cast<std::size_t>(l)].data(),
                    net.biases[static_cast<std::size_t>(l)].data(), cfg.width, relu.data());
    for (double& v : relu) v = std::max(v, 0.0);
    a.relu.push_back(relu);
    const std::int64_t ph = h / 2, pw = w / 2;
    std::vector<double> pooled(static_cast<std::size_t>(cfg.width * ph * pw));
    for (std::int64_t o = 0; o < cfg.width; ++o)
      for (std::int64_t y = 0; y < ph; ++y)
        for (std::int64_t x = 0; x < pw; ++x) {
          double s = 0.0;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx) s += relu[static_cast<std::size_t>((o * h + 2 * y + dy) * w + 2 * x + dx)];
          pooled[static_cast<std::size_t>((o * ph + y) * pw + x)] = s / 4.0;
        }
    cur = std::move(pooled);
    h = ph;
    w = pw;
    c = cfg.width;
  }
  a.pooled = cur;
  return a;
}

}  // namespace

// ---------------------------------------------------------------- preprocessing

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

// ---------------------------------------------------------------- ZCA

namespace {

void check_whitening_input(const char* fn, std::int64_t rows, std::int64_t cols, double reg_coef) {
  if (rows < 1 || cols < 1)
    throw KernelError(std::string(fn) + ": needs at least one row and one column (got " + std::to_string(rows) +
                      " x " + std::to_string(cols) + ")");
  if (!std::isfinite(reg_coef) || reg_coef < 0.0)
    throw KernelError(std::string(fn) + ": reg_coef must be finite and >= 0");
}

// W = base * I + U diag(f) U^T, U being D x r (row-major, columns = vectors).
// The fast path is one GEMM; the reference one plain loops.
Matrix<double> assemble_whitening(const std::vector<double>& u, const std::vector<double>& f, std::int64_t d,
                                  double base, bool fast) {
  const auto r = static_cast<std::int64_t>(f.size());
  Matrix<double> w(d, d, 0.0);
  if (fast && r > 0) {
    std::vector<double> scaled(u.size());
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t k = 0; k < r; ++k)
        scaled[static_cast<std::size_t>(i * r + k)] = u[static_cast<std::size_t>(i * r + k)] * f[static_cast<std::size_t>(k)];
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(d), static_cast<int>(d),
                  static_cast<int>(r), 1.0, scaled.data(), static_cast<int>(r), u.data(), static_cast<int>(r), 0.0,
                  w.data(), static_cast<int>(d));
    });
    // Exact symmetry: the GEMM's two triangles may round differently.
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < i; ++j) w(i, j) = w(j, i);
  } else {
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = i; j < d; ++j) {
        double acc = 0.0;
        for (std::int64_t k = 0; k < r; ++k)
          acc += u[static_cast<std::size_t>(i * r + k)] * f[static_cast<std::size_t>(k)] *
                 u[static_cast<std::size_t>(j * r + k)];
        w(i, j) = acc;
        w(j, i) = acc;
      }
  }
  for (std::int64_t i = 0; i < d; ++i) w(i, i) += base;
  return w;
}

// W = U diag(1 / sqrt(s + lambda)) U^T from the covariance S (D x D, row-major).
Matrix<double> zca_from_covariance(const char* fn, std::vector<double> cov, std::int64_t d, double reg_coef,
                                   bool use_lapack) {
  double trace = 0.0;
  for (std::int64_t i = 0; i < d; ++i) trace += cov[static_cast<std::size_t>(i * d + i)];
  const double lambda = reg_coef * trace / static_cast<double>(d);
  std::vector<double> eigenvalues(static_cast<std::size_t>(d));
  std::vector<double> u;  // row-major D x D, eigenvectors in columns
  if (use_lapack) {
    std::exception_ptr error;
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(d), cov.data(),
                                             static_cast<lapack_int>(d), eigenvalues.data());
      if (info != 0) throw KernelError(std::string(fn) + ": eigen-decomposition failed (LAPACK info " +
                                       std::to_string(info) + ")");
    });
    u = std::move(cov);
  } else {
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> s(cov.data(), d, d);
    const Eigen::MatrixXd dense = s;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(dense);
    if (solver.info() != Eigen::Success) throw KernelError(std::string(fn) + ": eigen-decomposition failed");
    u.resize(static_cast<std::size_t>(d * d));
    for (std::int64_t i = 0; i < d; ++i) {
      eigenvalues[static_cast<std::size_t>(i)] = solver.eigenvalues()(i);
      for (std::int64_t j = 0; j < d; ++j) u[static_cast<std::size_t>(i * d + j)] = solver.eigenvectors()(i, j);
    }
  }
  std::vector<double> inv_sqrt(static_cast<std::size_t>(d));
  for (std::int64_t k = 0; k < d; ++k) {
    // Rounding can leave the smallest eigenvalues of a singular S slightly
    // negative; lambda > 0 dominates them. Without a regulariser a singular S
    // has no whitening.
    const double v = std::max(eigenvalues[static_cast<std::size_t>(k)], 0.0) + lambda;
    if (!(v > 0.0) || !std::isfinite(v))
      throw KernelError(std::string(fn) + ": the covariance is singular (zero variance along some direction); "
                        "use reg_coef > 0");
    inv_sqrt[static_cast<std::size_t>(k)] = 1.0 / std::sqrt(v);
  }
  return assemble_whitening(u, inv_sqrt, d, 0.0, use_lapack);
}

// Fewer images than pixels: S = x^T x / n has rank <= n, so its eigenvectors
// with non-zero eigenvalues come from the n x n Gram matrix G = x x^T / n =
// V diag(s) V^T as u_k = x^T v_k / sqrt(n s_k), and on the rest of the space W
// is lambda^(-1/2) I:  W = lambda^(-1/2) I + U diag((s + lambda)^(-1/2) - lambda^(-1/2)) U^T.
// An eigen-decomposition of n x n instead of D x D (3072 x 3072 for colour).
Matrix<double> zca_from_gram(const Context& ctx, const std::vector<double>& xd, std::int64_t n, std::int64_t d,
                             double reg_coef) {
  std::vector<double> gram(static_cast<std::size_t>(n * n));
  const double inv_n = 1.0 / static_cast<double>(n);
  parallel_for_serial_blas(ctx, num_blocks(n, kCovColsPerBlock), [&](std::int64_t block) {
    const std::int64_t i0 = block * kCovColsPerBlock;
    const std::int64_t rows = std::min(kCovColsPerBlock, n - i0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(n),
                static_cast<int>(d), inv_n, xd.data() + i0 * d, static_cast<int>(d), xd.data(), static_cast<int>(d),
                0.0, gram.data() + i0 * n, static_cast<int>(n));
  });
  double trace = 0.0;
  for (std::int64_t i = 0; i < n; ++i) trace += gram[static_cast<std::size_t>(i * n + i)];
  const double lambda = reg_coef * trace / static_cast<double>(d);
  if (!(lambda > 0.0))
    throw KernelError("zca_whitening_matrix: the covariance is singular (fewer images than pixels, or zero "
                      "variance); use reg_coef > 0");
  std::vector<double> s(static_cast<std::size_t>(n));
  parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
    const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(n), gram.data(),
                                           static_cast<lapack_int>(n), s.data());
    if (info != 0)
      throw KernelError("zca_whitening_matrix: eigen-decomposition failed (LAPACK info " + std::to_string(info) + ")");
  });
  const double s_max = *std::max_element(s.begin(), s.end());
  std::vector<std::int64_t> kept;
  for (std::int64_t k = 0; k < n; ++k)
    if (s[static_cast<std::size_t>(k)] > 1e-12 * s_max) kept.push_back(k);
  const auto r = static_cast<std::int64_t>(kept.size());
  // U (d x r): column k is x^T v_k / sqrt(n s_k).
  std::vector<double> v(static_cast<std::size_t>(n * r));
  std::vector<double> f(static_cast<std::size_t>(r));
  const double base = 1.0 / std::sqrt(lambda);
  for (std::int64_t c = 0; c < r; ++c) {
    const std::int64_t k = kept[static_cast<std::size_t>(c)];
    const double sk = s[static_cast<std::size_t>(k)];
    const double norm = 1.0 / std::sqrt(static_cast<double>(n) * sk);
    for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i * r + c)] = gram[static_cast<std::size_t>(i * n + k)] * norm;
    f[static_cast<std::size_t>(c)] = 1.0 / std::sqrt(sk + lambda) - base;
  }
  std::vector<double> u(static_cast<std::size_t>(d * r));
  if (r > 0)
    parallel_for_serial_blas(Context{1, 0}, 1, [&](std::int64_t) {
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(d), static_cast<int>(r),
                  static_cast<int>(n), 1.0, xd.data(), static_cast<int>(d), v.data(), static_cast<int>(r), 0.0,
                  u.data(), static_cast<int>(r));
    });
  return assemble_whitening(u, f, d, base, true);
}

}  // namespace

Matrix<double> zca_whitening_matrix(const Context& ctx, ConstMatrixView<float> x, double reg_coef) {
  check_whitening_input("zca_whitening_matrix", x.rows, x.cols, reg_coef);
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<double> xd(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      const float v = x(i, j);
      if (!std::isfinite(v))
        throw KernelError("zca_whitening_matrix: non-finite value at row " + std::to_string(i) + ", column " +
                          std::to_string(j));
      xd[static_cast<std::size_t>(i * d + j)] = v;
    }
  if (n < d) return zca_from_gram(ctx, xd, n, d, reg_coef);
  // S = x^T x / n, one block of columns per task (each task owns its columns).
  std::vector<double> cov(static_cast<std::size_t>(d * d));
  const double inv_n = 1.0 / static_cast<double>(n);
  parallel_for_serial_blas(ctx, num_blocks(d, kCovColsPerBlock), [&](std::int64_t block) {
    const std::int64_t j0 = block * kCovColsPerBlock;
    const std::int64_t cols = std::min(kCovColsPerBlock, d - j0);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(d), static_cast<int>(cols),
                static_cast<int>(n), inv_n, xd.data(), static_cast<int>(d), xd.data() + j0, static_cast<int>(d), 0.0,
                cov.data() + j0, static_cast<int>(d));
  });
  return zca_from_covariance("zca_whitening_matrix", std::move(cov), d, reg_coef, true);
}

Matrix<double> zca_whitening_matrix_ref(ConstMatrixView<double> x, double reg_coef) {
  check_whitening_input("zca_whitening_matrix_ref", x.rows, x.cols, reg_coef);
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
  for (std::int64_t a = 0; a < d; ++a)
    for (std::int64_t b = 0; b < d; ++b) {
      double acc = 0.0;
      for (std::int64_t i = 0; i < n; ++i) acc += x(i, a) * x(i, b);
      cov[static_cast<std::size_t>(a * d + b)] = acc / static_cast<double>(n);
    }
  return zca_from_covariance("zca_whitening_matrix_ref", std::move(cov), d, reg_coef, false);
}

void apply_whitening(const Context& ctx, MatrixView<float> x, ConstMatrixView<double> w) {
  if (w.rows != x.cols || w.cols != x.cols)
    throw KernelError("apply_whitening: W is " + std::to_string(w.rows) + " x " + std::to_string(w.cols) +
                      " but x has " + std::to_string(x.cols) + " columns");
  const std::int64_t d = x.cols;
  std::vector<float> wf(static_cast<std::size_t>(d * d));
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) wf[static_cast<std::size_t>(i * d + j)] = static_cast<float>(w(i, j));
  parallel_for_serial_blas(ctx, num_blocks(x.rows, kWhitenRowsPerBlock), [&](std::int64_t block) {
    const std::int64_t r0 = block * kWhitenRowsPerBlock;
    const std::int64_t rows = std::min(kWhitenRowsPerBlock, x.rows - r0);
    std::vector<float> in(static_cast<std::size_t>(rows * d));
    for (std::int64_t i = 0; i < rows; ++i) std::copy_n(x.row(r0 + i), d, in.data() + i * d);
    std::vector<float> out(static_cast<std::size_t>(rows * d));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(d),
                static_cast<int>(d), 1.0f, in.data(), static_cast<int>(d), wf.data(), static_cast<int>(d), 0.0f,
                out.data(), static_cast<int>(d));
    for (std::int64_t i = 0; i < rows; ++i) std::copy_n(out.data() + i * d, d, x.row(r0 + i));
  });
}

// ---------------------------------------------------------------- convolution

void conv3x3_same_forward(const ConvGeometry& g, std::span<const float> in, std::span<const float> weight,
                          std::span<const float> bias, std::span<float> out) {
  check_geometry("conv3x3_same_forward", g);
  const std::int64_t n = g.count * g.height * g.width;
  check_size("conv3x3_same_forward", "in", in.size(), g.in_channels * n);
  check_size("conv3x3_same_forward", "weight", weight.size(), g.out_channels * g.in_channels * 9);
  check_size("conv3x3_same_forward", "bias", bias.size(), g.out_channels);
  check_size("conv3x3_same_forward", "out", out.size(), g.out_channels * n);
  std::vector<float> cols;
  conv_forward_with(g, in.data(), weight.data(), bias.data(), out.data(), cols);
}

void conv3x3_same_forward_ref(const ConvGeometry& g, std::span<const double> in, std::span<const double> weight,
                              std::span<const double> bias, std::span<double> out) {
  check_geometry("conv3x3_same_forward_ref", g);
  const std::int64_t hw = g.height * g.width, n = g.count * hw;
  check_size("conv3x3_same_forward_ref", "in", in.size(), g.in_channels * n);
  check_size("conv3x3_same_forward_ref", "out", out.size(), g.out_channels * n);
  for (std::int64_t o = 0; o < g.out_channels; ++o)
    for (std::int64_t b = 0; b < g.count; ++b)
      for (std::int64_t y = 0; y < g.height; ++y)
        for (std::int64_t x = 0; x < g.width; ++x) {
          double acc = bias[static_cast<std::size_t>(o)];
          for (std::int64_t i = 0; i < g.in_channels; ++i)
            for (int dy = 0; dy < 3; ++dy)
              for (int dx = 0; dx < 3; ++dx) {
                const std::int64_t sy = y + dy - 1, sx = x + dx - 1;
                if (sy < 0 || sy >= g.height || sx < 0 || sx >= g.width) continue;
                acc += weight[static_cast<std::size_t>((o * g.in_channels + i) * 9 + dy * 3 + dx)] *
                       in[static_cast<std::size_t>(i * n + b * hw + sy * g.width + sx)];
              }
          out[static_cast<std::size_t>(o * n + b * hw + y * g.width + x)] = acc;
        }
}

void conv3x3_same_backward_input(const ConvGeometry& g, std::span<const float> grad_out,
                                 std::span<const float> weight, std::span<float> grad_in) {
  check_geometry("conv3x3_same_backward_input", g);
  const std::int64_t n = g.count * g.height * g.width;
  check_size("conv3x3_same_backward_input", "grad_out", grad_out.size(), g.out_channels * n);
  check_size("conv3x3_same_backward_input", "weight", weight.size(), g.out_channels * g.in_channels * 9);
  check_size("conv3x3_same_backward_input", "grad_in", grad_in.size(), g.in_channels * n);
  std::vector<float> cols;
  conv_backward_input_with(g, grad_out.data(), weight.data(), grad_in.data(), cols);
}

void conv3x3_same_backward_input_ref(const ConvGeometry& g, std::span<const double> grad_out,
                                     std::span<const double> weight, std::span<double> grad_in) {
  check_geometry("conv3x3_same_backward_input_ref", g);
  const std::int64_t hw = g.height * g.width, n = g.count * hw;
  check_size("conv3x3_same_backward_input_ref", "grad_in", grad_in.size(), g.in_channels * n);
  std::fill(grad_in.begin(), grad_in.end(), 0.0);
  for (std::int64_t o = 0; o < g.out_channels; ++o)
    for (std::int64_t b = 0; b < g.count; ++b)
      for (std::int64_t y = 0; y < g.height; ++y)
        for (std::int64_t x = 0; x < g.width; ++x) {
          const double go = grad_out[static_cast<std::size_t>(o * n + b * hw + y * g.width + x)];
          for (std::int64_t i = 0; i < g.in_channels; ++i)
            for (int dy = 0; dy < 3; ++dy)
              for (int dx = 0; dx < 3; ++dx) {
                const std::int64_t sy = y + dy - 1, sx = x + dx - 1;
                if (sy < 0 || sy >= g.height || sx < 0 || sx >= g.width) continue;
                grad_in[static_cast<std::size_t>(i * n + b * hw + sy * g.width + sx)] +=
                    weight[static_cast<std::size_t>((o * g.in_channels + i) * 9 + dy * 3 + dx)] * go;
              }
        }
}

// ---------------------------------------------------------------- random ConvNets

std::int64_t RandomConvNet::feature_dim() const {
  return config.width * (config.height >> config.depth) * (config.width_px >> config.depth);
}

RandomConvNet draw_random_conv_net(const RandomConvNetConfig& config, std::uint64_t seed) {
  if (config.in_channels < 1 || config.width < 1 || config.depth < 1 || config.depth > 16 || config.height < 1 ||
      config.width_px < 1)
    throw KernelError("random ConvNet: channels, width, depth and input size must be >= 1 (depth <= 16)");
  const std::int64_t unit = std::int64_t{1} << config.depth;
  if (config.height % unit != 0 || config.width_px % unit != 0)
    throw KernelError("random ConvNet: input " + std::to_string(config.height) + " x " +
                      std::to_string(config.width_px) + " is not divisible by 2^depth = " + std::to_string(unit));
  if (!std::isfinite(config.weight_mean) || !std::isfinite(config.weight_std) || !std::isfinite(config.bias_std) ||
      config.bias_std < 0.0)
    throw KernelError("random ConvNet: weight mean/std and bias std must be finite (bias std >= 0)");
  RandomConvNet net;
  net.config = config;
  Rng rng(seed);
  for (int l = 0; l < config.depth; ++l) {
    const std::int64_t cin = l == 0 ? config.in_channels : config.width;
    const double sd = config.weight_std > 0.0 ? config.weight_std : std::sqrt(2.0 / static_cast<double>(cin * 9));
    std::vector<float> w(static_cast<std::size_t>(config.width * cin * 9));
    for (float& v : w) v = static_cast<float>(config.weight_mean + sd * rng.normal());
    std::vector<float> b(static_cast<std::size_t>(config.width));
    for (float& v : b) v = static_cast<float>(config.bias_std * rng.normal());
    net.weights.push_back(std::move(w));
    net.biases.push_back(std::move(b));
  }
  return net;
}

void conv_net_features(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                       const ImageShape& shape, MatrixView<float> features) {
  check_net_input("conv_net_features", net, shape, images.size());
  if (features.rows != shape.count || features.cols != net.feature_dim())
    throw KernelError("conv_net_features: output is " + std::to_string(features.rows) + " x " +
                      std::to_string(features.cols) + ", expected " + std::to_string(shape.count) + " x " +
                      std::to_string(net.feature_dim()));
  const std::int64_t p = shape.pixels_per_image();
  parallel_for_serial_blas(ctx, num_blocks(shape.count, kImagesPerBlock), [&](std::int64_t block) {
    const std::int64_t b0 = block * kImagesPerBlock;
    const std::int64_t count = std::min(kImagesPerBlock, shape.count - b0);
    forward_block(net, images.data() + b0 * p, count, thread_workspace(), features.row(b0), features.stride);
  });
}

void conv_net_features_ref(const RandomConvNet& net, std::span<const double> images, const ImageShape& shape,
                           MatrixView<double> features) {
  check_shape("conv_net_features_ref", shape, images.size());
  const std::int64_t p = shape.pixels_per_image();
  for (std::int64_t i = 0; i < shape.count; ++i) {
    const RefActivations a = forward_ref_single(net, images.data() + i * p);
    std::copy(a.pooled.begin(), a.pooled.end(), features.row(i));
  }
}

void conv_net_feature_sum(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                          const ImageShape& shape, std::span<double> out) {
  check_net_input("conv_net_feature_sum", net, shape, images.size());
  const std::int64_t f = net.feature_dim();
  check_size("conv_net_feature_sum", "out", out.size(), f);
  const std::int64_t p = shape.pixels_per_image();
  const std::int64_t blocks = num_blocks(shape.count, kImagesPerBlock);
  std::vector<double> partial(static_cast<std::size_t>(blocks * f), 0.0);
  parallel_for_serial_blas(ctx, blocks, [&](std::int64_t block) {
    const std::int64_t b0 = block * kImagesPerBlock;
    const std::int64_t count = std::min(kImagesPerBlock, shape.count - b0);
    NetWorkspace& ws = thread_workspace();
    forward_block(net, images.data() + b0 * p, count, ws, nullptr, 0);
    // Pooled features are CNHW: feature (c, pixel) of image b at (c*count + b)*hw + pixel.
    const std::int64_t hw = f / net.config.width;
    double* sum = partial.data() + block * f;
    for (std::int64_t c = 0; c < net.config.width; ++c)
      for (std::int64_t b = 0; b < count; ++b) {
        const float* src = ws.pooled.data() + (c * count + b) * hw;
        for (std::int64_t j = 0; j < hw; ++j) sum[c * hw + j] += src[j];
      }
  });
  std::fill(out.begin(), out.end(), 0.0);
  for (std::int64_t block = 0; block < blocks; ++block)
    for (std::int64_t j = 0; j < f; ++j) out[static_cast<std::size_t>(j)] += partial[static_cast<std::size_t>(block * f + j)];
}

void conv_net_backward(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                       const ImageShape& shape, ConstMatrixView<float> grad_features, std::span<float> grad_images) {
  check_net_input("conv_net_backward", net, shape, images.size());
  if (grad_features.rows != shape.count || grad_features.cols != net.feature_dim())
    throw KernelError("conv_net_backward: feature gradient is " + std::to_string(grad_features.rows) + " x " +
                      std::to_string(grad_features.cols) + ", expected " + std::to_string(shape.count) + " x " +
                      std::to_string(net.feature_dim()));
  check_size("conv_net_backward", "grad_images", grad_images.size(), shape.total());
  const std::int64_t p = shape.pixels_per_image();
  parallel_for_serial_blas(ctx, num_blocks(shape.count, kImagesPerBlock), [&](std::int64_t block) {
    const std::int64_t b0 = block * kImagesPerBlock;
    const std::int64_t count = std::min(kImagesPerBlock, shape.count - b0);
    NetWorkspace& ws = thread_workspace();
    forward_block(net, images.data() + b0 * p, count, ws, nullptr, 0);
    backward_block(net, count, ws, grad_features.row(b0), grad_features.stride, grad_images.data() + b0 * p);
  });
}

void conv_net_backward_ref(const RandomConvNet& net, std::span<const double> images, const ImageShape& shape,
                           ConstMatrixView<double> grad_features, std::span<double> grad_images) {
  check_shape("conv_net_backward_ref", shape, images.size());
  const auto& cfg = net.config;
  const std::int64_t p = shape.pixels_per_image();
  for (std::int64_t i = 0; i < shape.count; ++i) {
    const RefActivations a = forward_ref_single(net, images.data() + i * p);
    std::int64_t h = cfg.height >> cfg.depth, w = cfg.width_px >> cfg.depth;
    std::vector<double> g(grad_features.row(i), grad_features.row(i) + grad_features.cols);
    for (int l = cfg.depth - 1; l >= 0; --l) {
      const std::int64_t uh = 2 * h, uw = 2 * w;
      const auto& relu = a.relu[static_cast<std::size_t>(l)];
      std::vector<double> gr(static_cast<std::size_t>(cfg.width * uh * uw));
      for (std::int64_t o = 0; o < cfg.width; ++o)
        for (std::int64_t y = 0; y < uh; ++y)
          for (std::int64_t x = 0; x < uw; ++x) {
            const std::size_t at = static_cast<std::size_t>((o * uh + y) * uw + x);
            gr[at] = relu[at] > 0.0 ? g[static_cast<std::size_t>((o * h + y / 2) * w + x / 2)] / 4.0 : 0.0;
          }
      const std::int64_t cin = l == 0 ? cfg.in_channels : cfg.width;
      std::vector<double> gin(static_cast<std::size_t>(cin * uh * uw), 0.0);
      const float* wt = net.weights[static_cast<std::size_t>(l)].data();
      for (std::int64_t o = 0; o < cfg.width; ++o)
        for (std::int64_t y = 0; y < uh; ++y)
          for (std::int64_t x = 0; x < uw; ++x)
            for (std::int64_t c = 0; c < cin; ++c)
              for (int dy = 0; dy < 3; ++dy)
                for (int dx = 0; dx < 3; ++dx) {
                  const std::int64_t sy = y + dy - 1, sx = x + dx - 1;
                  if (sy < 0 || sy >= uh || sx < 0 || sx >= uw) continue;
                  gin[static_cast<std::size_t>((c * uh + sy) * uw + sx)] +=
                      static_cast<double>(wt[(o * cin + c) * 9 + dy * 3 + dx]) *
                      gr[static_cast<std::size_t>((o * uh + y) * uw + x)];
                }
      g = std::move(gin);
      h = uh;
      w = uw;
    }
    std::copy(g.begin(), g.end(), grad_images.begin() + i * p);
  }
}

}  // namespace lwd::kernels
