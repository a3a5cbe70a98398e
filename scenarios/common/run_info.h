// run.json: what a scenario result was produced by -- the commit (and whether
// the tree had uncommitted changes), the machine, the thread count, the seeds,
// the configuration and the wall time of every phase -- so a committed table
// can be traced back and rerun.
//
// The commit is read at run time with `git rev-parse` in the source tree the
// binary was configured from (LWD_SOURCE_DIR); when that is not a git checkout
// (an installed binary, a tarball) the commit CMake saw at configure time is
// used, marked "configure-time".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scenarios/common/progress.h"

namespace lwd::scenarios {

struct GitState {
  std::string commit;        // short hash; "unknown" when neither source works
  bool dirty = false;        // tracked files differ from the commit (results/ aside: a
                             // reproduction rewrites it while its next scenario starts)
  std::string source;        // "git" (read now), "configure-time" or "unknown"
};
GitState current_git_state();

struct MachineInfo {
  std::string cpu_model;     // /proc/cpuinfo "model name" (or "unknown")
  int logical_cores = 0;     // std::thread::hardware_concurrency
  std::string os;            // uname sysname + release
};
MachineInfo current_machine();

struct PhaseTime {
  std::string name;
  double seconds = 0.0;
};

struct RunInfo {
  std::string scenario;
  std::string started_at;    // UTC, ISO 8601
  GitState git;
  MachineInfo machine;
  int threads = 0;           // threads the run used
  std::uint64_t seed = 0;    // the run seed; per-user seeds derive from it
  bool quick = false;
  std::string command_line;  // as typed, when run from lwdock
  nlohmann::json config = nlohmann::json::object();   // the scenario's knobs (grid, users, spaces, ...)
  nlohmann::json extra = nlohmann::json::object();    // anything else worth keeping (counts, failures)
  std::vector<PhaseTime> phases;
  double total_seconds = 0.0;

  nlohmann::json to_json() const;
};

// "2024-06-01T12:34:56Z"
std::string utc_timestamp_now();

// Times named phases in order: start("search") ends the previous phase.
class PhaseTimer {
 public:
  explicit PhaseTimer(std::vector<PhaseTime>& sink);
  ~PhaseTimer();
  void start(std::string name);
  void stop();
  double total_seconds() const;

 private:
  std::vector<PhaseTime>& sink_;
  std::string current_;
  Stopwatch phase_;
  Stopwatch run_;
  bool running_ = false;
};

}  // namespace lwd::scenarios
