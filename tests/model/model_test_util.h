// Small helpers shared by the model suites: a scratch directory removed at
// the end of each test, and an assertion on lwd::Error messages.
#pragma once

#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/model/model.h"

namespace lwd::test {


// A manifest's model section for a file-backed kind.
inline ModelConfig file_model_config(std::string kind, std::filesystem::path file, TaskType task,
                                     std::int64_t input_dim, std::int64_t output_dim) {
  ModelConfig config;
  config.kind = std::move(kind);
  config.file = std::move(file);
  config.task = task;
  config.input_dim = input_dim;
  config.output_dim = output_dim;
  return config;
}

// Runs `action`, expecting lwd::Error whose message contains every fragment.
inline void expect_error_mentions(const std::function<void()>& action, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const lwd::Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
    return;
  }
  ADD_FAILURE() << "expected an lwd::Error";
}

// A name no other process carries: scripts start their helpers under it
// (`exec -a NAME ...`), so the tests can find them on the host whatever pid
// namespace they ran in.
inline std::string unique_process_name(const std::string& what) {
  static std::atomic<int> counter{0};
  return "lwd-test-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Host pids of the processes whose argv[0] is `name` and that have not
// terminated (zombies and dead processes do not count).
inline std::vector<pid_t> live_processes_named(const std::string& name) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string argv0;
    if (!std::getline(std::ifstream(entry.path() / "cmdline"), argv0, '\0') || argv0 != name) continue;
    std::string stat;
    if (!std::getline(std::ifstream(entry.path() / "stat"), stat)) continue;  // gone meanwhile
    const auto comm_end = stat.rfind(')');
    const char state = comm_end != std::string::npos && comm_end + 2 < stat.size() ? stat[comm_end + 2] : 'X';
    if (state != 'Z' && state != 'X' && state != 'x') found.push_back(static_cast<pid_t>(std::stol(pid)));
  }
  return found;
}

// Waits until no process named `name` is left running. The bound is not a
// performance claim: SIGKILL takes effect as soon as each process is next
// scheduled, which a loaded machine may delay; the 60 s only turn a broken
// kill into a failure instead of a hung test.
inline bool no_process_named(const std::string& name) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!live_processes_named(name).empty()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace lwd::test
