// Preprocessing of image batches (NCHW, float32) for the image RKME: non-finite
// pixel imputation, antialiased resize, per-channel standardisation. Every
// kernel has a plain *_ref beside it (naive loops, float64) that the tests
// compare against; results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/context.h"
#include "kernels/image_shape.h"

namespace lwd::kernels {

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

}  // namespace lwd::kernels
