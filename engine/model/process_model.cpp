#include "engine/model/process_model.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "engine/error.h"
#include "engine/model/package_paths.h"

extern char** environ;

namespace lwd {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kRootVariable = "LWDOCK_PACKAGE_ROOT";

std::string errno_text(int err) { return std::generic_category().message(err); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// Close-on-exec, so a child spawned by another thread never inherits our ends.
Pipe make_pipe(const std::string& context) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(context + ": cannot create a pipe: " + errno_text(errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A started child that leads its own process group. Whatever happens to the
// call, the destructor kills the group and reaps the child: no zombies, no
// orphans left running.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (!reaped_) {
      kill_group();
      reap();
    }
  }

  pid_t pid() const { return pid_; }

  // The group id is the leader's pid, which cannot be reused before the
  // leader is reaped, so this never hits an unrelated process.
  void kill_group() const { ::kill(-pid_, SIGKILL); }

  // True once the child has exited; it stays a zombie (WNOWAIT) until reap().
  bool exited() const {
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
      if (errno != EINTR) return true;  // ECHILD: nothing left to wait for
    return info.si_pid == pid_;
  }

  int reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// Writing to a pipe whose reader has gone raises SIGPIPE, which would kill the
// dock. SIGPIPE from write() is sent to the writing thread, so blocking it in
// this thread for the duration of the call and discarding any instance raised
// meanwhile leaves the rest of the process untouched (write returns EPIPE).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_mask_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&sigpipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

 private:
  sigset_t sigpipe_;
  sigset_t old_mask_;
  bool was_pending_ = false;
};

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#endif
  return -1;  // old kernel: the caller falls back to waiting for end of output
}

// The request text, produced a chunk at a time so a large input never sits
// in memory twice.
class RequestWriter {
 public:
  RequestWriter(kernels::ConstMatrixView<double> x) : x_(x) {
    text_ = "lwdock-predict v1 " + std::to_string(x.rows) + " " + std::to_string(x.cols) + "\n";
  }

  bool done() const { return offset_ == text_.size() && next_row_ == x_.rows; }

  // Bytes not yet written; refilled from the next rows when drained.
  std::string_view pending() {
    if (offset_ == text_.size() && next_row_ < x_.rows) refill();
    return std::string_view(text_).substr(offset_);
  }
  void consume(std::size_t n) { offset_ += n; }

 private:
  void refill() {
    constexpr std::size_t kChunkBytes = 1 << 18;
    text_.clear();
    offset_ = 0;
    char number[32];
    while (next_row_ < x_.rows && text_.size() < kChunkBytes) {
      const double* row = x_.row(next_row_++);
      for (std::int64_t j = 0; j < x_.cols; ++j) {
        if (j > 0) text_.push_back(',');
        const auto end = std::to_chars(number, number + sizeof number, row[j]).ptr;
        text_.append(number, end);
      }
      text_.push_back('\n');
    }
  }

  kernels::ConstMatrixView<double> x_;
  std::string text_;
  std::size_t offset_ = 0;
  std::int64_t next_row_ = 0;
};

std::string quote_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out.push_back(' ');
    out += arg;
  }
  return "process model `" + out + "`";
}

std::string stderr_note(const std::string& tail, bool truncated) {
  auto text = tail;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return "";
  return std::string("; its stderr") + (truncated ? " (last 4 KiB)" : "") + ":\n" + text;
}

std::string signal_text(int sig) {
  const char* name = sigabbrev_np(sig);
  const char* description = sigdescr_np(sig);
  std::string out = "signal " + std::to_string(sig);
  if (name != nullptr) out += std::string(" (SIG") + name + (description ? std::string(": ") + description : "") + ")";
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

kernels::Matrix<double> parse_output(std::string_view text, std::int64_t rows, std::int64_t cols,
                                     const std::string& context) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  if (static_cast<std::int64_t>(lines.size()) != rows)
    throw Error(context + " wrote " + std::to_string(lines.size()) + " lines to stdout, expected " +
                std::to_string(rows) + " (one per input row)");

  kernels::Matrix<double> out(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i) {
    std::string_view line = lines[static_cast<std::size_t>(i)];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::int64_t count = 0;
    const auto where = [&] { return " on output line " + std::to_string(i + 1); };
    for (std::string_view rest = line;;) {
      const auto comma = rest.find(',');
      std::string_view field = trim(rest.substr(0, comma));
      if (!(line.empty() && count == 0)) {
        if (count >= cols)
          throw Error(context + " wrote more than " + std::to_string(cols) + " values" + where() + ", expected " +
                      std::to_string(cols) + " (output_dim)");
        if (field.size() > 1 && field.front() == '+') field.remove_prefix(1);
        double value = 0.0;
        const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
        if (field.empty() || ec != std::errc() || ptr != field.data() + field.size())
          throw Error(context + " wrote \"" + std::string(field.substr(0, 40)) + "\"" + where() + ", value " +
                      std::to_string(count + 1) + ": not a number");
        if (!std::isfinite(value))
          throw Error(context + " wrote the non-finite value \"" + std::string(field) + "\"" + where() + ", value " +
                      std::to_string(count + 1));
        out(i, count++) = value;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (count != cols)
      throw Error(context + " wrote " + std::to_string(count) + " values" + where() + ", expected " +
                  std::to_string(cols) + " (output_dim)");
  }
  return out;
}

bool is_executable_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

fs::path find_in_path(const std::string& name) {
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    const auto dir = dirs.substr(0, colon);
    const fs::path candidate = fs::path(dir.empty() ? "." : std::string(dir)) / name;
    if (is_executable_file(candidate)) return fs::absolute(candidate);
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

}  // namespace

ProcessModel::ProcessModel(const ModelConfig& config, const fs::path& package_root)
    : argv_(config.command),
      task_(config.task),
      input_dim_(config.input_dim),
      output_dim_(config.output_dim),
      timeout_seconds_(config.timeout_seconds) {
  if (argv_.empty() || argv_.front().empty())
    throw Error("process model: the manifest gives no command (model.command must list the program and its arguments)");
  const std::string context = quote_command(argv_);
  if (input_dim_ < 1) throw Error(context + ": input_dim must be >= 1, got " + std::to_string(input_dim_));
  if (output_dim_ < 1) throw Error(context + ": output_dim must be >= 1, got " + std::to_string(output_dim_));
  if (task_ == TaskType::kClassification && output_dim_ < 2)
    throw Error(context + ": a classifier needs output_dim >= 2 (one score column per class), got " +
                std::to_string(output_dim_));
  if (!(timeout_seconds_ > 0.0) || !std::isfinite(timeout_seconds_))
    throw Error(context + ": timeout_seconds must be a positive number of seconds");

  std::error_code ec;
  package_root_ = fs::absolute(package_root, ec).lexically_normal();
  if (ec || !fs::is_directory(package_root_, ec))
    throw Error(context + ": package root \"" + package_root.string() + "\" is not a directory");

  const fs::path program(argv_.front());
  if (program.is_absolute()) {
    executable_ = program;
  } else if (argv_.front().find('/') != std::string::npos) {
    executable_ = model_detail::resolve_inside_package(package_root_, program, "command");
  } else if (fs::exists(package_root_ / program, ec)) {
    executable_ = package_root_ / program;
  } else {
    executable_ = find_in_path(argv_.front());
    if (executable_.empty())
      throw Error(context + ": command \"" + argv_.front() + "\" is neither a file in the package root (" +
                  package_root_.string() + ") nor a program on PATH");
  }
  if (!fs::exists(executable_, ec)) throw Error(context + ": command not found: " + executable_.string());
  if (!is_executable_file(executable_))
    throw Error(context + ": " + executable_.string() + " is not an executable file (is its execute bit set?)");
}

kernels::Matrix<double> ProcessModel::predict(kernels::ConstMatrixView<double> x) const {
  const std::string context = quote_command(argv_);
  if (x.cols != input_dim_)
    throw Error(context + ": input has " + std::to_string(x.cols) + " columns but the model takes " +
                std::to_string(input_dim_));
  if (x.rows == 0) return kernels::Matrix<double>(0, output_dim_);

  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds_));
  const std::size_t output_cap =
      kOutputSlackBytes + static_cast<std::size_t>(x.rows) * static_cast<std::size_t>(output_dim_) * 64;

  // Everything the child needs is prepared before it starts.
  std::vector<char*> argv;
  argv.reserve(argv_.size() + 1);
  for (const auto& arg : argv_) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string root_assignment = std::string(kRootVariable) + "=" + package_root_.string();
  std::vector<char*> envp;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view item(*entry);
    if (item.size() > kRootVariable.size() && item.starts_with(kRootVariable) && item[kRootVariable.size()] == '=')
      continue;
    envp.push_back(*entry);
  }
  envp.push_back(const_cast<char*>(root_assignment.c_str()));
  envp.push_back(nullptr);

  Pipe input = make_pipe(context);
  Pipe output = make_pipe(context);
  Pipe errors = make_pipe(context);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_adddup2(&actions, input.read_end.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output.write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, errors.write_end.get(), STDERR_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, package_root_.c_str());
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors other libraries opened without close-on-exec stay with us.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
  // Own process group (so a timeout kills helpers too), no inherited signal
  // mask (SigpipeBlock below must not leak into the child), default SIGPIPE.
  sigset_t empty_mask;
  sigset_t default_signals;
  sigemptyset(&empty_mask);
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &empty_mask);
  posix_spawnattr_setsigdefault(&attributes, &default_signals);

  pid_t pid = -1;
  const int spawn_error = posix_spawn(&pid, executable_.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0) {
    if (spawn_error == ENOENT)
      throw Error(context + ": command not found: " + executable_.string() +
                  " (or the interpreter named on its #! line is missing)");
    if (spawn_error == EACCES) throw Error(context + ": permission denied running " + executable_.string());
    if (spawn_error == ENOEXEC)
      throw Error(context + ": " + executable_.string() +
                  " is not a program the system can run (a script needs a #! line)");
    throw Error(context + ": cannot start " + executable_.string() + ": " + errno_text(spawn_error));
  }
  ChildProcess child(pid);
  input.read_end.reset();
  output.write_end.reset();
  errors.write_end.reset();
  UniqueFd child_exit(open_pidfd(pid));

  SigpipeBlock sigpipe_block;
  set_nonblocking(input.write_end.get());
  set_nonblocking(output.read_end.get());
  set_nonblocking(errors.read_end.get());

  RequestWriter request(x);
  std::string stdout_text;
  std::string stderr_tail;
  bool stderr_truncated = false;
  char buffer[1 << 16];

  const auto timed_out = [&] {
    child.kill_group();
    child.reap();
    char seconds[32];
    const auto seconds_end = std::to_chars(seconds, seconds + sizeof seconds, timeout_seconds_).ptr;
    return Error(context + ": timed out after " + std::string(seconds, seconds_end) +
                 " s (timeout_seconds); the process group was killed" + stderr_note(stderr_tail, stderr_truncated));
  };
  const auto drain = [&](UniqueFd& fd, bool is_stdout) {
    while (true) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        if (is_stdout) {
          stdout_text.append(buffer, static_cast<std::size_t>(n));
          if (stdout_text.size() > output_cap) {
            child.kill_group();
            child.reap();
            throw Error(context + " wrote more than " + std::to_string(output_cap) + " bytes to stdout for " +
                        std::to_string(x.rows) + " rows of " + std::to_string(output_dim_) +
                        " values; output refused as too large");
          }
        } else {
          stderr_tail.append(buffer, static_cast<std::size_t>(n));
          if (stderr_tail.size() > 2 * kStderrTailBytes) {
            stderr_tail.erase(0, stderr_tail.size() - kStderrTailBytes);
            stderr_truncated = true;
          }
        }
        continue;
      }
      if (n == 0) {
        fd.reset();  // end of stream
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fd.reset();
      return;
    }
  };

  bool child_gone = false;
  while (input.write_end.valid() || output.read_end.valid() || errors.read_end.valid()) {
    pollfd fds[4];
    nfds_t count = 0;
    int input_slot = -1, output_slot = -1, errors_slot = -1, exit_slot = -1;
    if (input.write_end.valid()) {
      input_slot = static_cast<int>(count);
      fds[count++] = {input.write_end.get(), POLLOUT, 0};
    }
    if (output.read_end.valid()) {
      output_slot = static_cast<int>(count);
      fds[count++] = {output.read_end.get(), POLLIN, 0};
    }
    if (errors.read_end.valid()) {
      errors_slot = static_cast<int>(count);
      fds[count++] = {errors.read_end.get(), POLLIN, 0};
    }
    if (child_exit.valid() && !child_gone) {
      exit_slot = static_cast<int>(count);
      fds[count++] = {child_exit.get(), POLLIN, 0};
    }

    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) throw timed_out();
    const int ready = ::poll(fds, count, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw Error(context + ": poll failed: " + errno_text(errno));
    }
    if (ready == 0) continue;  // the deadline check above decides

    if (input_slot >= 0 && fds[input_slot].revents != 0) {
      while (true) {
        const auto chunk = request.pending();
        if (chunk.empty()) {
          input.write_end.reset();  // all rows sent: EOF for the model
          break;
        }
        const ssize_t n = ::write(input.write_end.get(), chunk.data(), chunk.size());
        if (n > 0) {
          request.consume(static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // EPIPE: the model stopped reading. Its exit status and output decide.
        input.write_end.reset();
        break;
      }
    }
    if (output_slot >= 0 && fds[output_slot].revents != 0) drain(output.read_end, true);
    if (errors_slot >= 0 && fds[errors_slot].revents != 0) drain(errors.read_end, false);
    if (exit_slot >= 0 && fds[exit_slot].revents != 0) {
      // The model exited. Helpers it left behind in its group may still hold
      // our pipes open; they go now, so end of output follows promptly.
      child_gone = true;
      child.kill_group();
      input.write_end.reset();
    }
  }

  // Without a pidfd the exit may still be pending; wait for it within the deadline.
  auto pause = std::chrono::microseconds(200);
  while (!child.exited()) {
    if (Clock::now() >= deadline) throw timed_out();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  child.kill_group();
  const int status = child.reap();

  if (WIFSIGNALED(status))
    throw Error(context + " was killed by " + signal_text(WTERMSIG(status)) +
                stderr_note(stderr_tail, stderr_truncated));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(context + " exited with code " + std::to_string(WEXITSTATUS(status)) +
                stderr_note(stderr_tail, stderr_truncated));
  return parse_output(stdout_text, x.rows, output_dim_, context);
}

}  // namespace lwd
