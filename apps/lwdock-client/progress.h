// A one-line progress bar on stderr for uploads and downloads, redrawn at
// most ten times a second; silent unless enabled (stderr is a terminal, or
// --progress), so that logs and pipes get no carriage returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lwdock::client {

class ProgressBar {
 public:
  ProgressBar(bool enabled, std::string label, std::uint64_t total);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(std::uint64_t done);
  // Draws the last state and ends the line (once; the destructor calls it).
  void finish();

 private:
  void draw(std::uint64_t done);

  bool enabled_;
  bool finished_ = false;
  std::string label_;
  std::uint64_t total_;
  std::uint64_t last_done_ = 0;
  std::uint64_t first_done_ = 0;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// Whether bars are drawn by default: stderr is a terminal.
bool stderr_is_terminal();

}  // namespace lwdock::client
