// Warnings: something was skipped or repaired and the work went on (a damaged
// pack member left out of a search, a market file recovered after a crash).
// They go to stderr as one line "lwdock: warning: ..." unless a handler is
// installed (tests capture them; a service would log them).
#pragma once

#include <functional>
#include <string_view>

namespace lwd {

void warn(std::string_view message);

using WarningHandler = std::function<void(std::string_view message)>;
// Replaces the handler (empty: back to stderr); returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);

}  // namespace lwd
