#include "kernels/random_conv_net.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/conv3x3.h"
#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd::kernels {

using detail::check_shape;
using detail::check_size;
using detail::shape_text;

namespace {

// Images per block of a network pass. A constant (never the thread count), so
// every block is computed by the same GEMM calls whatever the threads; 16
// MNIST-sized images make GEMMs of 4096..16384 columns, wide enough for BLAS.
constexpr std::int64_t kImagesPerBlock = 16;

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
    detail::conv3x3_forward_with(g, ws.input[static_cast<std::size_t>(l)].data(),
                                 net.weights[static_cast<std::size_t>(l)].data(),
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
    detail::conv3x3_backward_input_with(geo, gr.data(), net.weights[static_cast<std::size_t>(l)].data(), g.data(),
                                        ws.cols);
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
