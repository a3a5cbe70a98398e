// Progress output for long work (market build, scenario phases): a bar that
// redraws in place on a terminal, and a plain line every 10 % otherwise (logs
// and CI stay readable). Always on stderr, so stdout stays the result.
//
//   ProgressBar bar("training tabular learnwares", 1240);
//   for (...) { ...; bar.advance(); }
//   bar.finish();   // prints the elapsed time
//
// advance() is thread-safe (workers may call it), and drawing is throttled to
// at most ~10 redraws a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace lwd::scenarios {

// Wall-clock seconds on the steady clock: the one timer of the experiment
// layer (ProgressBar, PhaseTimer in run_info.h, the market builder's phases).
//   Stopwatch watch; ...; watch.seconds();           // since the start
//   double phase = watch.restart();                  // since the start, and start again
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  double restart() {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    start_ = now;
    return elapsed;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

class ProgressBar {
 public:
  // quiet: print nothing (tests, --quiet).
  ProgressBar(std::string label, std::int64_t total, bool quiet = false, std::FILE* out = stderr);
  ~ProgressBar();  // finishes if finish() was not called
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void advance(std::int64_t n = 1);
  // Optional text after the counter (e.g. the item being worked on).
  void set_detail(std::string detail);
  void finish();
  double elapsed_seconds() const;

 private:
  void draw_locked(bool final_line);

  std::string label_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool quiet_;
  bool tty_;
  bool finished_ = false;
  int last_decile_ = -1;
  std::string detail_;
  std::FILE* out_;
  Stopwatch watch_;
  std::chrono::steady_clock::time_point last_draw_;
  mutable std::mutex mutex_;
};

}  // namespace lwd::scenarios
