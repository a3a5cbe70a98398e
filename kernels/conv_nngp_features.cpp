#include "kernels/conv_nngp_features.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "kernels/conv3x3.h"
#include "kernels/error.h"
#include "kernels/image_shape.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd::kernels {

namespace {

// Images per block of a network pass: a constant (never the thread count), so
// every block is computed by the same GEMM calls whatever the threads.
constexpr std::int64_t kImagesPerBlock = 16;

void check_set(const char* fn, const ConvNngpFeatureNet& net, const WeightedImages& set, std::size_t out_size) {
  detail::check_shape(fn, set.shape, set.images.size());
  if (set.shape.channels != net.channels || set.shape.height != net.height || set.shape.width != net.width_px)
    throw KernelError(std::string(fn) + ": images " + detail::shape_text(set.shape) + " are not the net's input [" +
                      std::to_string(net.channels) + ", " + std::to_string(net.height) + ", " +
                      std::to_string(net.width_px) + "]");
  if (static_cast<std::int64_t>(set.weights.size()) != set.shape.count)
    throw KernelError(std::string(fn) + ": " + std::to_string(set.weights.size()) + " weights for " +
                      std::to_string(set.shape.count) + " images");
  if (static_cast<std::int64_t>(out_size) != net.feature_dim())
    throw KernelError(std::string(fn) + ": output has " + std::to_string(out_size) + " entries, expected " +
                      std::to_string(net.feature_dim()));
}

struct Workspace {
  std::vector<float> cols, in, act;
};

Workspace& thread_workspace() {
  // Reused across blocks and calls: a block's buffers are a few MB.
  static thread_local Workspace ws;
  return ws;
}

// One net over `count` images (NCHW at `images`); adds scale * w_b * phi_b to
// out (the net's part of the embedding).
void embed_block(const ConvNngpFeatureNet& net, const std::vector<ConvNngpFeatureNet::Layer>& layers,
                 const float* images, const double* weights, std::int64_t count, double* out) {
  Workspace& ws = thread_workspace();
  const std::int64_t width = net.config.width;
  std::int64_t h = net.height, w = net.width_px, c = net.channels;
  // NCHW -> CNHW.
  ws.in.resize(static_cast<std::size_t>(count * c * h * w));
  for (std::int64_t b = 0; b < count; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      std::copy_n(images + (b * c + ch) * h * w, h * w, ws.in.data() + (ch * count + b) * h * w);
  for (const auto& layer : layers) {
    const ConvGeometry g{c, width, count, h, w};
    ws.act.resize(static_cast<std::size_t>(width * count * h * w));
    detail::conv3x3_forward_with(g, ws.in.data(), layer.weights.data(), layer.biases.data(), ws.act.data(), ws.cols);
    for (float& v : ws.act) v = std::max(v, 0.0f);
    const std::int64_t ph = h / 2, pw = w / 2;
    ws.in.resize(static_cast<std::size_t>(width * count * ph * pw));
    for (std::int64_t o = 0; o < width; ++o) {
      const float* sign = layer.signs.data() + o * h * w;
      for (std::int64_t b = 0; b < count; ++b) {
        const float* a = ws.act.data() + (o * count + b) * h * w;
        float* p = ws.in.data() + (o * count + b) * ph * pw;
        for (std::int64_t y = 0; y < ph; ++y)
          for (std::int64_t x = 0; x < pw; ++x) {
            const std::int64_t q = 2 * y * w + 2 * x;
            p[y * pw + x] =
                0.5f * (sign[q] * a[q] + sign[q + 1] * a[q + 1] + sign[q + w] * a[q + w] + sign[q + w + 1] * a[q + w + 1]);
          }
      }
    }
    h = ph;
    w = pw;
    c = width;
  }
  const std::int64_t pixels = h * w;
  const double scale =
      1.0 / std::sqrt(static_cast<double>(width * pixels) * static_cast<double>(net.config.nets));
  for (std::int64_t o = 0; o < width; ++o)
    for (std::int64_t b = 0; b < count; ++b) {
      const double wb = scale * weights[b];
      const float* f = ws.in.data() + (o * count + b) * pixels;
      double* e = out + o * pixels;
      for (std::int64_t q = 0; q < pixels; ++q) e[q] += wb * static_cast<double>(f[q]);
    }
}

}  // namespace

std::int64_t ConvNngpFeatureNet::feature_dim() const {
  const int depth = kernel.depth;
  return config.width * (height >> depth) * (width_px >> depth) * config.nets;
}

std::string ConvNngpFeatureNet::fingerprint() const {
  std::ostringstream out;
  out.precision(17);
  out << "conv-nngp-features/1 depth=" << kernel.depth << " w=" << kernel.conv_var_weight
      << " b=" << kernel.conv_var_bias << " input=" << channels << "x" << height << "x" << width_px
      << " width=" << config.width << " nets=" << config.nets << " seed=" << config.seed;
  return out.str();
}

ConvNngpFeatureNet draw_conv_nngp_feature_net(const ConvNngpConfig& kernel, const ConvNngpFeatureConfig& config,
                                              std::int64_t channels, std::int64_t height, std::int64_t width) {
  if (config.width < 1 || config.nets < 1 || channels < 1 || height < 1 || width < 1)
    throw KernelError("NNGP random features: width, nets and the input's size must be >= 1");
  if (kernel.depth < 1 || kernel.depth > 16)
    throw KernelError("NNGP random features: depth must be in [1, 16] (got " + std::to_string(kernel.depth) + ")");
  const std::int64_t unit = std::int64_t{1} << kernel.depth;
  if (height % unit != 0 || width % unit != 0)
    throw KernelError("NNGP random features: input " + std::to_string(height) + " x " + std::to_string(width) +
                      " is not divisible by 2^depth = " + std::to_string(unit));
  if (!std::isfinite(kernel.conv_var_weight) || !std::isfinite(kernel.conv_var_bias) || kernel.conv_var_weight < 0.0 ||
      kernel.conv_var_bias < 0.0)
    throw KernelError("NNGP random features: the kernel's variances must be finite and >= 0");
  ConvNngpFeatureNet net;
  net.kernel = kernel;
  net.config = config;
  net.channels = channels;
  net.height = height;
  net.width_px = width;
  Rng rng(config.seed);
  for (int n = 0; n < config.nets; ++n) {
    std::vector<ConvNngpFeatureNet::Layer> layers;
    std::int64_t h = height, w = width, cin = channels;
    for (int l = 0; l < kernel.depth; ++l) {
      ConvNngpFeatureNet::Layer layer;
      const double sd = std::sqrt(kernel.conv_var_weight / static_cast<double>(9 * cin));
      layer.weights.resize(static_cast<std::size_t>(config.width * cin * 9));
      for (float& v : layer.weights) v = static_cast<float>(sd * rng.normal());
      layer.biases.resize(static_cast<std::size_t>(config.width));
      for (float& v : layer.biases) v = static_cast<float>(std::sqrt(kernel.conv_var_bias) * rng.normal());
      layer.signs.resize(static_cast<std::size_t>(config.width * h * w));
      for (float& v : layer.signs) v = (rng.next_u64() >> 63) != 0 ? 1.0f : -1.0f;
      layers.push_back(std::move(layer));
      h /= 2;
      w /= 2;
      cin = config.width;
    }
    net.nets.push_back(std::move(layers));
  }
  return net;
}

void conv_nngp_feature_embedding(const Context& ctx, const ConvNngpFeatureNet& net, const WeightedImages& set,
                                 std::span<double> out) {
  check_set("conv_nngp_feature_embedding", net, set, out.size());
  const std::int64_t per_net = net.feature_dim() / net.config.nets;
  const std::int64_t p = set.shape.pixels_per_image();
  // Images of zero weight add nothing: only the others go through the nets
  // (an image RKME's weights are mostly zero).
  std::vector<float> images;
  std::vector<double> weights;
  for (std::int64_t i = 0; i < set.shape.count; ++i) {
    if (set.weights[static_cast<std::size_t>(i)] == 0.0) continue;
    images.insert(images.end(), set.images.begin() + i * p, set.images.begin() + (i + 1) * p);
    weights.push_back(set.weights[static_cast<std::size_t>(i)]);
  }
  const auto count = static_cast<std::int64_t>(weights.size());
  const std::int64_t blocks = num_blocks(count, kImagesPerBlock);
  const auto n_nets = static_cast<std::int64_t>(net.nets.size());
  // Each (net, block) task fills its own partial embedding; the partials are
  // added in block order.
  std::vector<double> partial(static_cast<std::size_t>(blocks * net.feature_dim()), 0.0);
  parallel_for_serial_blas(ctx, n_nets * blocks, [&](std::int64_t task) {
    const std::int64_t n = task / blocks, block = task % blocks;
    const std::int64_t b0 = block * kImagesPerBlock;
    embed_block(net, net.nets[static_cast<std::size_t>(n)], images.data() + b0 * p, weights.data() + b0,
                std::min(kImagesPerBlock, count - b0), partial.data() + block * net.feature_dim() + n * per_net);
  });
  std::fill(out.begin(), out.end(), 0.0);
  for (std::int64_t block = 0; block < blocks; ++block)
    for (std::int64_t f = 0; f < net.feature_dim(); ++f)
      out[static_cast<std::size_t>(f)] += partial[static_cast<std::size_t>(block * net.feature_dim() + f)];
}

void conv_nngp_feature_embedding_ref(const ConvNngpFeatureNet& net, const WeightedImages& set, std::span<double> out) {
  check_set("conv_nngp_feature_embedding_ref", net, set, out.size());
  std::fill(out.begin(), out.end(), 0.0);
  const std::int64_t per_net = net.feature_dim() / net.config.nets;
  const std::int64_t width = net.config.width;
  for (std::size_t n = 0; n < net.nets.size(); ++n) {
    for (std::int64_t i = 0; i < set.shape.count; ++i) {
      std::int64_t h = net.height, w = net.width_px, c = net.channels;
      std::vector<double> x(static_cast<std::size_t>(c * h * w));
      for (std::size_t q = 0; q < x.size(); ++q) x[q] = set.images[static_cast<std::size_t>(i * c * h * w) + q];
      for (const auto& layer : net.nets[n]) {
        std::vector<double> a(static_cast<std::size_t>(width * h * w));
        for (std::int64_t o = 0; o < width; ++o)
          for (std::int64_t y = 0; y < h; ++y)
            for (std::int64_t xx = 0; xx < w; ++xx) {
              double s = layer.biases[static_cast<std::size_t>(o)];
              for (std::int64_t ci = 0; ci < c; ++ci)
                for (int dy = -1; dy <= 1; ++dy)
                  for (int dx = -1; dx <= 1; ++dx) {
                    const std::int64_t sy = y + dy, sx = xx + dx;
                    if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                    s += static_cast<double>(layer.weights[static_cast<std::size_t>((o * c + ci) * 9 + (dy + 1) * 3 + dx + 1)]) *
                         x[static_cast<std::size_t>((ci * h + sy) * w + sx)];
                  }
              a[static_cast<std::size_t>((o * h + y) * w + xx)] = std::max(s, 0.0);
            }
        const std::int64_t ph = h / 2, pw = w / 2;
        std::vector<double> pooled(static_cast<std::size_t>(width * ph * pw), 0.0);
        for (std::int64_t o = 0; o < width; ++o)
          for (std::int64_t y = 0; y < h; ++y)
            for (std::int64_t xx = 0; xx < w; ++xx)
              pooled[static_cast<std::size_t>((o * ph + y / 2) * pw + xx / 2)] +=
                  0.5 * static_cast<double>(layer.signs[static_cast<std::size_t>((o * h + y) * w + xx)]) *
                  a[static_cast<std::size_t>((o * h + y) * w + xx)];
        x = std::move(pooled);
        h = ph;
        w = pw;
        c = width;
      }
      const double scale = 1.0 / std::sqrt(static_cast<double>(width * h * w) * static_cast<double>(net.config.nets));
      for (std::size_t f = 0; f < x.size(); ++f)
        out[static_cast<std::size_t>(static_cast<std::int64_t>(n) * per_net) + f] +=
            set.weights[static_cast<std::size_t>(i)] * scale * x[f];
    }
  }
}

}  // namespace lwd::kernels
