// The engine layer's one exception type. Messages are written for the user:
// they name the file, field or value at fault and say what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace lwd {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace lwd
