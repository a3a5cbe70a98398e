#include "kernels/image_shape.h"

#include <initializer_list>

#include "kernels/error.h"

namespace lwd::kernels::detail {

std::string shape_text(const ImageShape& s) {
  std::string text = "[";
  for (const std::int64_t v : {s.count, s.channels, s.height, s.width}) {
    if (text.size() > 1) text += ", ";
    text += std::to_string(v);
  }
  return text + "]";
}

void check_shape(const char* fn, const ImageShape& shape, std::size_t size) {
  if (shape.count < 0 || shape.channels < 1 || shape.height < 1 || shape.width < 1)
    throw KernelError(std::string(fn) + ": invalid image shape " + shape_text(shape));
  if (static_cast<std::int64_t>(size) != shape.total())
    throw KernelError(std::string(fn) + ": buffer has " + std::to_string(size) + " values but shape " +
                      shape_text(shape) + " needs " + std::to_string(shape.total()));
}

void check_size(const char* fn, const char* name, std::size_t size, std::int64_t expected) {
  if (static_cast<std::int64_t>(size) != expected)
    throw KernelError(std::string(fn) + ": " + name + " has " + std::to_string(size) + " values, expected " +
                      std::to_string(expected));
}

}  // namespace lwd::kernels::detail
