#include "engine/warning.h"

#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

namespace lwd {
namespace {

std::mutex& warning_mutex() {
  static std::mutex mutex;
  return mutex;
}

WarningHandler& current_handler() {
  static WarningHandler handler;
  return handler;
}

}  // namespace

void warn(std::string_view message) {
  // Warnings come from searches on many threads; one line at a time.
  std::lock_guard lock(warning_mutex());
  if (current_handler()) {
    current_handler()(message);
    return;
  }
  const std::string line = "lwdock: warning: " + std::string(message) + "\n";
  std::fputs(line.c_str(), stderr);
}

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard lock(warning_mutex());
  return std::exchange(current_handler(), std::move(handler));
}

}  // namespace lwd
