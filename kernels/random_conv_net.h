// The random ConvNets whose features define the kernel the image RKME's
// reduced set is fitted under, with their backward pass to the input images.
// Images are NCHW float32; inside a network a batch is kept CNHW (conv3x3.h).
//
// Determinism. Work is split into blocks of a fixed number of images, each
// block computed by the same single-threaded BLAS calls whatever the thread
// count, and block partial sums are reduced in block order: results are
// bit-identical for 1 and N threads. Each pass has a plain float64 *_ref.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/context.h"
#include "kernels/image_shape.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

// depth x [3x3 conv (zero padding) -> ReLU -> 2x2 average pool], weights drawn
// i.i.d. N(weight_mean, weight_std^2) (weight_std <= 0: He scaling
// sqrt(2 / (in_channels * 9))) and biases N(0, bias_std^2) — the random nets of
// the reference image RKME. The features of an image are the last pooled
// activations, flattened (channel, y, x): width * (H / 2^depth) * (W / 2^depth).
struct RandomConvNetConfig {
  std::int64_t in_channels = 1;
  std::int64_t width = 32;  // channels of every conv layer
  int depth = 3;
  std::int64_t height = 32;  // input size; both divisible by 2^depth
  std::int64_t width_px = 32;
  double weight_mean = 0.0;
  double weight_std = 0.0;  // <= 0: He scaling
  double bias_std = 0.1;
};

struct RandomConvNet {
  RandomConvNetConfig config;
  std::vector<std::vector<float>> weights;  // per layer: out x (in * 9)
  std::vector<std::vector<float>> biases;   // per layer: out

  std::int64_t feature_dim() const;
};

// Throws KernelError for a config that cannot be built (sizes < 1, input not
// divisible by 2^depth, non-finite parameters). Same seed, same net, everywhere.
RandomConvNet draw_random_conv_net(const RandomConvNetConfig& config, std::uint64_t seed);

// features: shape.count x net.feature_dim(). shape must match the net's input.
void conv_net_features(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                       const ImageShape& shape, MatrixView<float> features);
void conv_net_features_ref(const RandomConvNet& net, std::span<const double> images, const ImageShape& shape,
                           MatrixView<double> features);

// Sum over the images of their features (float64 accumulation by fixed blocks
// of images; out has feature_dim entries). Never holds all features at once.
void conv_net_feature_sum(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                          const ImageShape& shape, std::span<double> out);

// For a loss L(features): given dL/dfeatures (count x feature_dim), the
// gradient with respect to the input images (NCHW, shape.total() entries).
void conv_net_backward(const Context& ctx, const RandomConvNet& net, std::span<const float> images,
                       const ImageShape& shape, ConstMatrixView<float> grad_features, std::span<float> grad_images);
void conv_net_backward_ref(const RandomConvNet& net, std::span<const double> images, const ImageShape& shape,
                           ConstMatrixView<double> grad_features, std::span<double> grad_images);

}  // namespace lwd::kernels
