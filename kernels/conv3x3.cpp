#include "kernels/conv3x3.h"

#include <cblas.h>

#include <algorithm>
#include <string>

#include "kernels/error.h"
#include "kernels/image_shape.h"

namespace lwd::kernels {

using detail::check_size;

namespace {

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

}  // namespace

namespace detail {

void conv3x3_forward_with(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
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

void conv3x3_backward_input_with(const ConvGeometry& g, const float* grad_out, const float* weight, float* grad_in,
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

}  // namespace detail

void conv3x3_same_forward(const ConvGeometry& g, std::span<const float> in, std::span<const float> weight,
                          std::span<const float> bias, std::span<float> out) {
  check_geometry("conv3x3_same_forward", g);
  const std::int64_t n = g.count * g.height * g.width;
  check_size("conv3x3_same_forward", "in", in.size(), g.in_channels * n);
  check_size("conv3x3_same_forward", "weight", weight.size(), g.out_channels * g.in_channels * 9);
  check_size("conv3x3_same_forward", "bias", bias.size(), g.out_channels);
  check_size("conv3x3_same_forward", "out", out.size(), g.out_channels * n);
  std::vector<float> cols;
  detail::conv3x3_forward_with(g, in.data(), weight.data(), bias.data(), out.data(), cols);
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
  detail::conv3x3_backward_input_with(g, grad_out.data(), weight.data(), grad_in.data(), cols);
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

}  // namespace lwd::kernels
