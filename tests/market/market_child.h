// Starting market_child (market_child.cpp) from a test, and talking to it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace lwd::testing_market {

struct MarketChild {
  pid_t pid = -1;
  int out = -1;  // its stdout, when captured
};

// Starts market_child with `args`; with `tmpdir`, TMPDIR set to it (so that
// whatever it would leave in the system's temporary directory shows up
// there); with `capture_stdout`, its stdout on a pipe (MarketChild::out).
inline MarketChild spawn_market_child(const std::vector<std::string>& args, const std::filesystem::path& tmpdir = {},
                                      bool capture_stdout = false) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(LWD_MARKET_CHILD));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  if (!tmpdir.empty()) env_strings.push_back("TMPDIR=" + tmpdir.string());
  for (char** e = environ; *e != nullptr; ++e)
    if (tmpdir.empty() || std::string_view(*e).substr(0, 7) != "TMPDIR=") env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  MarketChild child;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int pipe_fds[2] = {-1, -1};
  if (capture_stdout) {
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  }
  const int rc = ::posix_spawn(&child.pid, LWD_MARKET_CHILD, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot start " << LWD_MARKET_CHILD;
  if (capture_stdout) {
    ::close(pipe_fds[1]);
    child.out = pipe_fds[0];
  }
  return child;
}

// The child's wait status.
inline int wait_market_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// One line of the child's stdout (without the newline), or nullopt when it
// ends or the deadline passes first.
inline std::optional<std::string> read_line_before(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line += c;
  }
}

}  // namespace lwd::testing_market
