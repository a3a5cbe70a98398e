// The NNGP kernel of a deep ReLU ConvNet (Garriga-Alonso, Aitchison &
// Rasmussen, "Deep Convolutional Networks as shallow Gaussian Processes",
// ICLR 2019): the covariance of the outputs of an infinitely wide random
// ConvNet, computed exactly by propagating per-pixel covariance maps. It is the
// kernel the reference image RKME scores specs with (inner products, MMD),
// while the reduced set itself is fitted under finite random ConvNets
// (image_features.h), whose feature inner products approximate it.
//
// For images x, y (C x H x W) the maps start as the channel means
//   K_xy(p) = (1/C) sum_c x_c(p) y_c(p),  K_xx, K_yy alike,
// then, depth times:
//   conv   K <- (w/9) * box3x3(K) + b   (zero padding; w = sqrt(2), b = 0.1
//          as the reference configures it), applied to K_xy, K_xx and K_yy;
//   ReLU   K_xy <- (sqrt(K_xx K_yy - K_xy^2) + (pi - theta) K_xy) / (2 pi),
//          theta = arccos(K_xy / sqrt(K_xx K_yy)) (the arc-cosine kernel of
//          degree 1, halved), K_xx <- K_xx / 2, K_yy <- K_yy / 2;
//   pool   2x2 average with stride 2;
// and k(x, y) is the mean of the final K_xy map. When a matrix is the kernel
// of a set with itself ("same"), its diagonal follows the K_xx chain exactly,
// as the reference forces it to.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "kernels/context.h"
#include "kernels/image_features.h"
#include "kernels/matrix.h"

namespace lwd::kernels {

struct ConvNngpConfig {
  int depth = 3;
  double conv_var_weight = 1.4142135623730951;  // sqrt(2), the reference's setting
  double conv_var_bias = 0.1;
};

// out(i, j) = k(a_i, b_j), out is a.count x b.count. a and b are NCHW batches of
// the same C, H, W, with H and W divisible by 2^depth. same_inputs: a and b
// are the same set (out is symmetric and its diagonal is exact).
// Throws KernelError on mismatched shapes or an invalid config.
void conv_nngp_kernel_matrix(const Context& ctx, std::span<const float> a, const ImageShape& a_shape,
                             std::span<const float> b, const ImageShape& b_shape, const ConvNngpConfig& config,
                             bool same_inputs, MatrixView<double> out);
// Every pair propagated on its own with std::acos, float64 throughout.
void conv_nngp_kernel_matrix_ref(std::span<const float> a, const ImageShape& a_shape, std::span<const float> b,
                                 const ImageShape& b_shape, const ConvNngpConfig& config, bool same_inputs,
                                 MatrixView<double> out);

// u^T k(A, B) v without materialising k(A, B); each row's partial sum is
// reduced in row order, so the value does not depend on the thread count.
// Images of zero weight are skipped: their terms are signed zeros, which
// change no bit of the sums, so the value is bit for bit the full double sum
// (an image RKME's weights are mostly zero: a few of K = 50 are not).
double conv_nngp_bilinear(const Context& ctx, std::span<const double> u, std::span<const float> a,
                          const ImageShape& a_shape, std::span<const float> b, const ImageShape& b_shape,
                          std::span<const double> v, const ConvNngpConfig& config, bool same_inputs);

// A weighted set of images (the points and weights of an image RKME): NCHW
// images and one weight per image.
struct WeightedImages {
  std::span<const float> images;
  ImageShape shape;
  std::span<const double> weights;
};

// out[k] = a.weights^T k(A, B_k) bs[k].weights for every set of bs: one set
// against many in one pass. A's per-image part of the recursion is computed
// once (conv_nngp_bilinear would compute it once per set), every B's once, and
// the tasks -- one per (set, image of A) -- are spread over all threads. out[k]
// is bit for bit conv_nngp_bilinear(ctx, a, bs[k], same_inputs = false), for
// any thread count. Throws KernelError on mismatched shapes or weights.
void conv_nngp_bilinear_batch(const Context& ctx, const WeightedImages& a, std::span<const WeightedImages> bs,
                              const ConvNngpConfig& config, std::span<double> out);
// Each set through conv_nngp_kernel_matrix_ref, then the weighted sum.
void conv_nngp_bilinear_batch_ref(const WeightedImages& a, std::span<const WeightedImages> bs,
                                  const ConvNngpConfig& config, std::span<double> out);

}  // namespace lwd::kernels
