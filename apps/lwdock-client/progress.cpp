#include "apps/lwdock-client/progress.h"

#include <unistd.h>

#include <cstdio>

namespace lwdock::client {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(bool enabled, std::string label, std::uint64_t total)
    : enabled_(enabled), label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::uint64_t done) {
  if (!enabled_ || finished_) return;
  if (!started_) {
    // A resumed transfer's speed counts what this run sends, not what was there.
    started_ = true;
    first_done_ = done;
    start_ = std::chrono::steady_clock::now();
  }
  last_done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done != total_) return;
  last_draw_ = now;
  draw(done);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(last_done_);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(std::uint64_t done) {
  constexpr int kWidth = 30;
  const double mib = 1024.0 * 1024.0;
  const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 0.0;
  const int filled = static_cast<int>(fraction * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done - first_done_) / mib / seconds : 0.0;
  std::fprintf(stderr, "\r%s [%s] %3.0f%%  %.1f/%.1f MiB  %.1f MiB/s ", label_.c_str(), bar, 100.0 * fraction,
               static_cast<double>(done) / mib, static_cast<double>(total_) / mib, rate);
  std::fflush(stderr);
}

}  // namespace lwdock::client
