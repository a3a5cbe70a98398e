// Random features of the ConvNet NNGP kernel (conv_nngp_kernel.h): a cheap,
// unbiased-in-the-limit estimate of its inner products, for ranking many
// image specs before the exact kernel is evaluated on the best of them
// (docs/DESIGN.md §4.7).
//
// The features are those of one finite random ReLU ConvNet of the kernel's own
// architecture -- the network whose infinite-width limit the NNGP recursion
// is [Garriga-Alonso et al. 2019; Novak et al. 2019]:
//   conv   3x3, zero padding, `width` output channels, weights
//          N(0, conv_var_weight / (9 C_in)) and biases N(0, conv_var_bias), so
//          that given the layer below a pre-activation has exactly the
//          covariance the recursion's conv step gives: (w/9) box3x3(K) + b;
//   ReLU;
//   pool   each channel's 2x2 window summed with fixed random signs and
//          halved. The recursion pools the per-pixel map K(p, p) only; plain
//          averaging would add the products of different pixels, which the
//          random signs cancel in expectation, leaving (1/4) sum_p K(p, p);
// and the readout is every final activation divided by sqrt(width x pixels),
// so <phi(x), phi(y)> estimates the mean of the final K_xy map, k(x, y). The
// estimate converges as the width grows (standard error ~ width^-1/2); `nets`
// independent nets are concatenated (each scaled by nets^-1/2) to lower the
// variance at a cost linear, not quadratic, in the number of features.
//
// A weighted set's embedding e = sum_i w_i phi(x_i) is linear, so
// <e_a, e_b> estimates a^T k(A, B) b and ||e_a - e_b||^2 estimates the MMD^2 of
// two RKMEs -- as a squared norm, not as a difference of large products, so its
// error is relative to the MMD^2 itself.
//
// Determinism: images go through the nets in blocks of a fixed size, each by
// the same single-threaded BLAS calls, and the blocks' partial embeddings are
// added in block order: bit-identical for 1 and N threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/context.h"
#include "kernels/conv_nngp_kernel.h"

namespace lwd::kernels {

struct ConvNngpFeatureConfig {
  std::int64_t width = 64;  // channels of every conv layer
  int nets = 2;             // independent nets, their features concatenated
  std::uint64_t seed = 0x5eed'c0de'0001ULL;

  bool operator==(const ConvNngpFeatureConfig&) const = default;
};

struct ConvNngpFeatureNet {
  ConvNngpConfig kernel;
  ConvNngpFeatureConfig config;
  std::int64_t channels = 1;  // input C, H, W
  std::int64_t height = 32;
  std::int64_t width_px = 32;
  // Per net, per layer: conv weights (out x (in * 9), row-major (in, dy, dx)),
  // biases (out) and pooling signs (out x h x w of that layer's input, +-1).
  struct Layer {
    std::vector<float> weights, biases, signs;
  };
  std::vector<std::vector<Layer>> nets;

  // width x (H / 2^depth) x (W / 2^depth) per net, times nets.
  std::int64_t feature_dim() const;
  // Everything the features depend on, as text: an embedding made under one
  // fingerprint is comparable only with embeddings made under the same.
  std::string fingerprint() const;
};

// Same arguments, same nets, everywhere. Throws KernelError for a config that
// cannot be built (sizes < 1, input not divisible by 2^depth, non-finite or
// negative variances).
ConvNngpFeatureNet draw_conv_nngp_feature_net(const ConvNngpConfig& kernel, const ConvNngpFeatureConfig& config,
                                              std::int64_t channels, std::int64_t height, std::int64_t width);

// out = sum_i set.weights[i] phi(image i), feature_dim() values; float32
// network passes, float64 accumulation. Throws KernelError when the images'
// shape is not the net's input or the sizes disagree.
void conv_nngp_feature_embedding(const Context& ctx, const ConvNngpFeatureNet& net, const WeightedImages& set,
                                 std::span<double> out);
// Naive loops in float64 (direct convolution), the same nets.
void conv_nngp_feature_embedding_ref(const ConvNngpFeatureNet& net, const WeightedImages& set, std::span<double> out);

}  // namespace lwd::kernels
