// Image batches and the two file formats users hand the dock: NumPy .npy
// arrays and MNIST's IDX files. Everything read from a file is checked against
// the file's real size before any allocation: a header that claims more data
// than the file holds, or trailing bytes, is an error naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "kernels/image_features.h"

namespace lwd {

// N images, C channels, H x W pixels, stored NCHW in float32 with their
// original values (0..255 for byte images).
struct ImageBatch {
  kernels::ImageShape shape;
  std::vector<float> pixels;

  std::int64_t count() const { return shape.count; }
  // Image i as a span of C*H*W values.
  std::span<const float> image(std::int64_t i) const {
    const auto p = static_cast<std::size_t>(shape.pixels_per_image());
    return std::span<const float>(pixels).subspan(static_cast<std::size_t>(i) * p, p);
  }
};

// .npy (format versions 1-3), C order, dtype uint8, float32 or float64 of
// either byte order; shape (N, H, W) (one channel) or (N, C, H, W).
ImageBatch read_npy_images(const std::filesystem::path& path);

// IDX (the MNIST format): magic 0x00 0x00 type ndim, big-endian dimensions;
// type 0x08 (unsigned byte) or 0x0D (float32); 3 dimensions (N, H, W) or 4
// (N, C, H, W).
ImageBatch read_idx_images(const std::filesystem::path& path);
// IDX labels: one dimension of unsigned bytes (MNIST's *-labels-idx1-ubyte).
std::vector<std::int64_t> read_idx_labels(const std::filesystem::path& path);

// By content, not by name: a .npy magic or an IDX header. A gzip file is an
// error that says to decompress it first.
ImageBatch read_images(const std::filesystem::path& path);

// One row of C*H*W values per image, as doubles: the rows Model::predict
// takes (and route_jobs compares).
kernels::Matrix<double> image_rows(const ImageBatch& batch);

// Writers (atomic), used for exports and test fixtures: .npy float32 little
// endian with shape (N, C, H, W); IDX unsigned bytes (every value must be an
// integer in 0..255) with 3 dimensions when C = 1, else 4.
void write_npy_images(const std::filesystem::path& path, const ImageBatch& batch);
void write_idx_images(const std::filesystem::path& path, const ImageBatch& batch);
void write_idx_labels(const std::filesystem::path& path, std::span<const std::int64_t> labels);

}  // namespace lwd
