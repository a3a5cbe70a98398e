#include "scenarios/common/progress.h"

#include <unistd.h>

#include <algorithm>

namespace lwd::scenarios {

ProgressBar::ProgressBar(std::string label, std::int64_t total, bool quiet, std::FILE* out)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 0)),
      quiet_(quiet),
      tty_(out != nullptr && isatty(fileno(out)) != 0),
      out_(out),
      last_draw_(std::chrono::steady_clock::now() - std::chrono::seconds(1)) {
  if (!quiet_ && !tty_) {
    std::fprintf(out_, "%s: 0/%lld\n", label_.c_str(), static_cast<long long>(total_));
    std::fflush(out_);
  }
}

ProgressBar::~ProgressBar() { finish(); }

double ProgressBar::elapsed_seconds() const { return watch_.seconds(); }

void ProgressBar::set_detail(std::string detail) {
  std::lock_guard lock(mutex_);
  detail_ = std::move(detail);
}

void ProgressBar::advance(std::int64_t n) {
  std::lock_guard lock(mutex_);
  done_ = std::min(total_, done_ + n);
  if (quiet_ || finished_) return;
  draw_locked(false);
}

void ProgressBar::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (quiet_) return;
  draw_locked(true);
}

void ProgressBar::draw_locked(bool final_line) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = watch_.seconds();
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  if (!tty_) {
    // Plain output: one line per 10 % and a final line with the time.
    const int decile = static_cast<int>(fraction * 10.0);
    if (!final_line && decile <= last_decile_) return;
    last_decile_ = decile;
    if (final_line) {
      std::fprintf(out_, "%s: %lld/%lld done in %.1f s\n", label_.c_str(), static_cast<long long>(done_),
                   static_cast<long long>(total_), elapsed);
    } else if (decile > 0) {
      std::fprintf(out_, "%s: %lld/%lld (%d %%, %.1f s)\n", label_.c_str(), static_cast<long long>(done_),
                   static_cast<long long>(total_), decile * 10, elapsed);
    }
    std::fflush(out_);
    return;
  }
  if (!final_line && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  const double eta = done_ > 0 && done_ < total_ ? elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_)
                                                  : 0.0;
  std::string detail = detail_.size() > 40 ? detail_.substr(0, 40) : detail_;
  if (final_line) {
    std::fprintf(out_, "\r\033[K%s [%s] %lld/%lld done in %.1f s\n", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), elapsed);
  } else {
    std::fprintf(out_, "\r\033[K%s [%s] %lld/%lld %.0f s, eta %.0f s %s", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), elapsed, eta, detail.c_str());
  }
  std::fflush(out_);
}

}  // namespace lwd::scenarios
