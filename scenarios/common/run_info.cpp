#include "scenarios/common/run_info.h"

#include <sys/utsname.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#ifndef LWD_SOURCE_DIR
#define LWD_SOURCE_DIR ""
#endif
#ifndef LWD_CONFIGURE_COMMIT
#define LWD_CONFIGURE_COMMIT ""
#endif

namespace lwd::scenarios {
namespace {

// Output of a read-only shell command, trailing whitespace trimmed; nullopt-like
// empty string and ok=false when it fails.
std::string command_output(const std::string& command, bool* ok) {
  *ok = false;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) out += buf.data();
  const int status = ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  *ok = status == 0;
  return out;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

GitState current_git_state() {
  GitState state;
  const std::string source_dir = LWD_SOURCE_DIR;
  if (!source_dir.empty()) {
    const std::string git = "git -C " + shell_quote(source_dir);
    bool ok = false;
    const std::string commit = command_output(git + " rev-parse --short HEAD 2>/dev/null", &ok);
    if (ok && !commit.empty()) {
      state.commit = commit;
      state.source = "git";
      bool status_ok = false;
      const std::string changes =
          command_output(git + " status --porcelain --untracked-files=no -- . ':(exclude)results' 2>/dev/null",
                         &status_ok);
      state.dirty = status_ok && !changes.empty();
      return state;
    }
  }
  const std::string configured = LWD_CONFIGURE_COMMIT;
  if (!configured.empty()) {
    state.commit = configured;
    state.source = "configure-time";
    return state;
  }
  state.commit = "unknown";
  state.source = "unknown";
  return state;
}

MachineInfo current_machine() {
  MachineInfo info;
  info.cpu_model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string model = line.substr(colon + 1);
        while (!model.empty() && model.front() == ' ') model.erase(model.begin());
        info.cpu_model = model;
      }
      break;
    }
  }
  info.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  struct utsname name {};
  if (::uname(&name) == 0) info.os = std::string(name.sysname) + " " + name.release;
  return info;
}

std::string utc_timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json RunInfo::to_json() const {
  nlohmann::json phases_json = nlohmann::json::array();
  for (const PhaseTime& p : phases) phases_json.push_back({{"name", p.name}, {"seconds", p.seconds}});
  return {{"scenario", scenario},
          {"started_at", started_at},
          {"commit", git.commit},
          {"dirty", git.dirty},
          {"commit_source", git.source},
          {"machine", {{"cpu_model", machine.cpu_model}, {"logical_cores", machine.logical_cores}, {"os", machine.os}}},
          {"threads", threads},
          {"seed", seed},
          {"quick", quick},
          {"command_line", command_line},
          {"config", config},
          {"phases", phases_json},
          {"total_seconds", total_seconds},
          {"extra", extra}};
}

PhaseTimer::PhaseTimer(std::vector<PhaseTime>& sink) : sink_(sink) {}

PhaseTimer::~PhaseTimer() { stop(); }

void PhaseTimer::start(std::string name) {
  stop();
  current_ = std::move(name);
  phase_.restart();
  running_ = true;
}

void PhaseTimer::stop() {
  if (!running_) return;
  running_ = false;
  sink_.push_back({current_, phase_.seconds()});
}

double PhaseTimer::total_seconds() const {
  return run_.seconds();
}

}  // namespace lwd::scenarios
