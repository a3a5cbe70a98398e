// The kernels layer's one exception type: raised for invalid arguments
// (shape mismatches, empty inputs, all-NaN columns). Messages name the problem.
#pragma once

#include <stdexcept>
#include <string>

namespace lwd::kernels {

class KernelError : public std::invalid_argument {
 public:
  explicit KernelError(const std::string& what) : std::invalid_argument(what) {}
};

}  // namespace lwd::kernels
