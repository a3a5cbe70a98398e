// Numeric kernels of the image RKME (docs/DESIGN.md §3.5): preprocessing (antialiased
// resize, per-channel standardisation, ZCA whitening), 3x3 convolutions by
// im2col + GEMM, and the random ConvNets whose features define the kernel the
// reduced set is fitted under, with their backward pass to the input images.
// Numbers only: no file formats, no learnware concepts.
//
// Layouts. Image batches are NCHW, contiguous float32 (what .npy files and the
// reference's tensors hold). Inside a network a batch is kept channel-major,
// "CNHW": plane c holds the c-th channel of every image of the batch back to
// back, so one GEMM convolves the whole batch (N = images x H x W columns).
//
// Determinism. Work is split into blocks of a fixed number of images, each
// block computed by the same single-threaded BLAS calls whatever the thread
// count, and block partial sums are reduced in block order: results are
// bit-identical for 1 and N threads. Every kernel has a plain *_ref beside it
// (naive loops, float64) that the tests compare against.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/context.h"
#include "kernels/matrix.h"
#include "kernels/parallel.h"

namespace lwd::kernels {

// Shape of an NCHW batch.
struct ImageShape {
  std::int64_t count = 0;
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;

  std::int64_t pixels_per_image() const { return channels * height * width; }
  std::int64_t total() const { return count * pixels_per_image(); }
  bool operator==(const ImageShape&) const = default;
};

// ---- preprocessing ---------------------------------------------------------

// Replaces +-inf and NaN pixels of each image by the mean of that image's
// finite pixels (all channels). Throws KernelError naming the image when none
// of its pixels is finite.
void impute_non_finite_pixels(std::span<float> images, const ImageShape& shape);

// Antialiased bilinear resampling to out_height x out_width: a triangle filter
// on half-pixel centres whose support widens by the downscaling factor (the
// PIL / torchvision antialias=True rule), separable, weights renormalised at
// the borders. Upscaling is plain bilinear with edge clamping.
// dst has shape.count * channels * out_height * out_width entries.
void resize_images_bilinear(const Context& ctx, std::span<const float> src, const ImageShape& shape,
                            std::int64_t out_height, std::int64_t out_width, std::span<float> dst);
void resize_images_bilinear_ref(std::span<const float> src, const ImageShape& shape, std::int64_t out_height,
                                std::int64_t out_width, std::span<double> dst);

// Per channel, over all images and pixels: x <- (x - mean) / std with the
// unbiased standard deviation (torch.std). A channel with zero spread (or a
// single value) is only centred. Statistics are accumulated in float64.
void standardize_channels(const Context& ctx, std::span<float> images, const ImageShape& shape);
void standardize_channels_ref(std::span<double> images, const ImageShape& shape);

// ZCA whitening matrix of the rows of x (n x D, already centred per channel):
// with S = x^T x / n and the regulariser lambda = reg_coef * trace(S) / D,
// W = U diag(s + lambda)^(-1/2) U^T for the eigen-decomposition S = U diag(s) U^T.
// W is D x D, symmetric, and W (S + lambda I) W = I. With fewer rows than
// columns the eigenvectors come from the n x n Gram matrix instead (same W,
// far cheaper for a few colour images). Throws KernelError for an empty x,
// non-finite entries, or a singular S without a regulariser.
Matrix<double> zca_whitening_matrix(const Context& ctx, ConstMatrixView<float> x, double reg_coef = 0.1);
// Same math with Eigen's eigen-solver and naive covariance loops.
Matrix<double> zca_whitening_matrix_ref(ConstMatrixView<double> x, double reg_coef = 0.1);
// x <- x W, row by row (W is D x D).
void apply_whitening(const Context& ctx, MatrixView<float> x, ConstMatrixView<double> w);

// ---- convolution by im2col + GEMM (CNHW layout) ---------------------------

// 3x3 convolution with zero padding 1 ("same" size), stride 1, plus bias:
// out[o][b][y][x] = bias[o] + sum_{i,dy,dx} weight[o][i][dy][dx] in[i][b][y+dy-1][x+dx-1].
// in: in_channels planes of count*height*width; weight: out_channels x (in_channels*9),
// row-major (i, dy, dx); out: out_channels planes.
struct ConvGeometry {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t count = 0;  // images in the batch
  std::int64_t height = 0;
  std::int64_t width = 0;
};
void conv3x3_same_forward(const ConvGeometry& g, std::span<const float> in, std::span<const float> weight,
                          std::span<const float> bias, std::span<float> out);
void conv3x3_same_forward_ref(const ConvGeometry& g, std::span<const double> in, std::span<const double> weight,
                              std::span<const double> bias, std::span<double> out);
// Gradient with respect to the input: grad_in = conv^T(grad_out), same geometry.
void conv3x3_same_backward_input(const ConvGeometry& g, std::span<const float> grad_out,
                                 std::span<const float> weight, std::span<float> grad_in);
void conv3x3_same_backward_input_ref(const ConvGeometry& g, std::span<const double> grad_out,
                                     std::span<const double> weight, std::span<double> grad_in);

// ---- random ConvNets -------------------------------------------------------

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
