// The shape of an NCHW image batch, shared by the image kernels, and the
// argument checks they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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

namespace detail {

// "[count, channels, height, width]", for messages.
std::string shape_text(const ImageShape& s);
// Throws KernelError naming fn unless shape is a valid shape of `size` values.
void check_shape(const char* fn, const ImageShape& shape, std::size_t size);
// Throws KernelError naming fn and the buffer unless it has `expected` values.
void check_size(const char* fn, const char* name, std::size_t size, std::int64_t expected);

}  // namespace detail

}  // namespace lwd::kernels
