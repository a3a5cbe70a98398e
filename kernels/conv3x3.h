// 3x3 convolutions by im2col + GEMM over a channel-major ("CNHW") batch: plane
// c holds the c-th channel of every image of the batch back to back, so one
// GEMM convolves the whole batch (N = images x H x W columns). Each has a plain
// float64 *_ref beside it that the tests compare against.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lwd::kernels {

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

namespace detail {

// The two passes above on raw buffers, without the checks, with the caller's
// im2col buffer `cols` (grown as needed): what the random ConvNets call per
// block of images.
void conv3x3_forward_with(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                          std::vector<float>& cols);
void conv3x3_backward_input_with(const ConvGeometry& g, const float* grad_out, const float* weight, float* grad_in,
                                 std::vector<float>& cols);

}  // namespace detail

}  // namespace lwd::kernels
