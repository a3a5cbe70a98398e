#include "engine/model/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "engine/error.h"
#include "engine/model/sandbox_plan.h"
#include "engine/model/syscall_filter.h"

extern char** environ;

namespace lwd {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kStderrTailBytes = 4096;
// The host folders a sandboxed run sees (read-only), where they exist: a
// folder is bound, a symbolic link (merged /usr: /bin -> usr/bin) is copied.
constexpr std::array<const char*, 8> kSystemFolders = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                                                       "/etc"};
constexpr std::array<const char*, 5> kDevices = {"null", "zero", "full", "random", "urandom"};

std::string errno_text(int err) { return std::generic_category().message(err); }

std::string number_text(double value) {
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
}

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

// A started child. Whatever happens to the call, the destructor kills it --
// a sandbox's init, whose end takes its whole pid namespace with it, or an
// unsandboxed program's process group -- and reaps it: no zombies, no
// orphans left running.
class ChildProcess {
 public:
  ChildProcess(pid_t pid, bool whole_group) : pid_(pid), whole_group_(whole_group) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (!reaped_) {
      kill();
      reap();
    }
  }

  pid_t pid() const { return pid_; }

  // The pid (and so the group id) cannot be reused before the child is
  // reaped, so this never hits an unrelated process.
  void kill() const { ::kill(whole_group_ ? -pid_ : pid_, SIGKILL); }

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
  bool whole_group_;
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

// ---- the dock's side ---------------------------------------------------------
//
// The sandbox itself is a program of its own, lwdock-sandbox-init
// (engine/model/sandbox_init.cpp, which says why): the dock writes the run's
// plan (sandbox_plan.h), starts that program with posix_spawn -- vfork-style,
// so the dock's size does not matter -- and gets back the pid of the
// namespaces' init, its own child, which it then kills and reaps as any
// child; the reports say how the program ended.

using sandbox_plan::MountKind;
using sandbox_plan::Report;
using sandbox_plan::Step;

struct MountStep {
  MountKind kind;
  std::string source;  // bind: the host path under /oldroot; symlink: the link's text
  std::string target;  // path in the sandbox's root
  unsigned long flags = 0;
  std::string data;  // tmpfs options
};

MountStep mount_step(MountKind kind, std::string source, std::string target, unsigned long flags = 0,
                     std::string data = {}) {
  return MountStep{kind, std::move(source), std::move(target), flags, std::move(data)};
}

const char* step_text(Step step) {
  switch (step) {
    case Step::kPlan:
      return "reading the run's plan (is " LWD_SANDBOX_INIT_NAME " from another build?)";
    case Step::kNamespaces:
      return "creating the namespaces";
    case Step::kIdMaps:
      return "writing the user namespace's uid_map and gid_map";
    case Step::kPrivateMounts:
      return "making the mounts private";
    case Step::kRootTmpfs:
      return "mounting the root tmpfs on /tmp";
    case Step::kPivotRoot:
      return "pivot_root into the sandbox's root";
    case Step::kMount:
      return "mounting";
    case Step::kDetachHost:
      return "detaching the host's filesystem";
    case Step::kNestedNamespaces:
      return "disabling nested user namespaces (/proc/sys/user/max_user_namespaces)";
    case Step::kHostname:
      return "setting the hostname";
    case Step::kReadOnlyRoot:
      return "remounting the root read-only";
    case Step::kStartProgram:
      return "forking the program";
    case Step::kDescriptors:
      return "setting up descriptors (close_range needs Linux 5.9)";
    case Step::kLimits:
      return "setting rlimits";
    case Step::kIdentity:
      return "switching to the unprivileged uid";
    case Step::kCapabilities:
      return "dropping capabilities";
    case Step::kWorkingDirectory:
      return "entering /package";
    case Step::kSyscallFilter:
      return "installing the system-call filter (seccomp)";
    case Step::kExec:
      return "exec";
  }
  return "setup";
}

struct HostLayout {
  std::vector<MountStep> system;  // the system folders and links
  std::vector<MountStep> devices;
};

// The host's layout does not change while the dock runs: read it once.
const HostLayout& host_layout() {
  static const HostLayout layout = [] {
    HostLayout out;
    for (const char* folder : kSystemFolders) {
      std::error_code ec;
      const auto status = fs::symlink_status(folder, ec);
      if (ec) continue;
      if (fs::is_symlink(status)) {
        const auto link = fs::read_symlink(folder, ec);
        if (!ec) out.system.push_back(mount_step(MountKind::kSymlink, link.string(), folder));
      } else if (fs::is_directory(status)) {
        out.system.push_back(mount_step(MountKind::kBindDir, std::string("/oldroot") + folder, folder));
      }
    }
    for (const char* device : kDevices) {
      const std::string host = std::string("/dev/") + device;
      std::error_code ec;
      if (fs::is_character_file(host, ec)) out.devices.push_back(mount_step(MountKind::kBindFile, "/oldroot" + host, host));
    }
    return out;
  }();
  return layout;
}

std::vector<MountStep> sandbox_mounts(const fs::path& package_root, const SandboxLimits& limits) {
  std::vector<MountStep> steps = host_layout().system;
  steps.push_back(mount_step(MountKind::kBindDir, "/oldroot" + package_root.string(), std::string(kSandboxPackageDir)));
  steps.push_back(mount_step(MountKind::kTmpfs, "", std::string(kSandboxScratchDir), MS_NOSUID | MS_NODEV,
                   "mode=1777,size=" + std::to_string(limits.scratch_bytes)));
  steps.push_back(mount_step(MountKind::kProc, "", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""));
  steps.push_back(mount_step(MountKind::kTmpfs, "", "/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"));
  for (const MountStep& device : host_layout().devices) steps.push_back(device);
  steps.push_back(mount_step(MountKind::kSymlink, "/proc/self/fd", "/dev/fd"));
  steps.push_back(mount_step(MountKind::kSymlink, "/proc/self/fd/0", "/dev/stdin"));
  steps.push_back(mount_step(MountKind::kSymlink, "/proc/self/fd/1", "/dev/stdout"));
  steps.push_back(mount_step(MountKind::kSymlink, "/proc/self/fd/2", "/dev/stderr"));
  steps.push_back(mount_step(MountKind::kRemountReadOnly, "", "/dev", MS_NOSUID | MS_NOEXEC));
  return steps;
}

std::string exec_failure_text(int error, const std::string& context, const fs::path& executable) {
  if (error == ENOENT)
    return context + ": command not found: " + executable.string() +
           " (or the interpreter named on its #! line is missing, or outside what the sandbox shows)";
  if (error == EACCES) return context + ": permission denied running " + executable.string();
  if (error == ENOEXEC)
    return context + ": " + executable.string() + " is not a program the system can run (a script needs a #! line)";
  return context + ": cannot start " + executable.string() + ": " + errno_text(error);
}

std::string wait_status_text(int status) {
  return WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                             : "exited with code " + std::to_string(WEXITSTATUS(status));
}

std::string setup_failure_text(const Report& report, const SandboxCommand& command,
                               const std::vector<MountStep>& mounts_for_messages) {
  const auto step = static_cast<Step>(report.step);
  if (step == Step::kExec) return exec_failure_text(report.error, command.context, command.executable);
  if (step == Step::kNamespaces)
    return command.context +
           ": cannot start the model sandbox: creating user, pid, mount and network namespaces failed (" +
           errno_text(report.error) +
           "); this machine does not allow them (see docs/DESIGN.md, Model sandbox; --unsandboxed-models runs "
           "models without isolation)";
  std::string what = step_text(step);
  if (step == Step::kMount && report.index >= 0 && static_cast<std::size_t>(report.index) < mounts_for_messages.size())
    what += " " + mounts_for_messages[static_cast<std::size_t>(report.index)].target;
  return command.context + ": cannot start the model sandbox: " + what + " failed: " + errno_text(report.error);
}

struct Started {
  // Sandboxed: the process that started init (it exits once init runs);
  // reaped after init, being declared first.
  std::unique_ptr<ChildProcess> starter;
  std::unique_ptr<ChildProcess> child;  // init, or the unsandboxed program
  bool sandboxed = false;
  UniqueFd input;   // our ends
  UniqueFd output;
  UniqueFd errors;
  UniqueFd report;  // sandboxed: the starter's and init's reports
  UniqueFd lifeline;  // sandboxed: init's check that the dock is alive
  std::vector<MountStep> mounts;  // sandboxed: what init mounted (named in errors)
};

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The program runs inside the sandbox from the package's mount, or from the
// same path when it is a system program.
std::string sandbox_executable(const SandboxCommand& command, const fs::path& package_root) {
  const fs::path exe = command.executable.lexically_normal();
  const auto relative = exe.lexically_relative(package_root);
  if (!relative.empty() && *relative.begin() != ".." && !relative.is_absolute())
    return (fs::path(kSandboxPackageDir) / relative).string();
  return exe.string();
}

// Where lwdock-sandbox-init is, in this order: beside the running program (a
// copied build, or an installation that keeps it in bin/); in
// ../libexec/lwdock beside it (an installation, wherever it was moved); the
// configured installation path; the build tree. Compiled-in paths only,
// never the environment, and only a file that the dock's user or root owns
// and no one else may write: the program runs with the dock's privileges.
std::vector<fs::path> sandbox_init_candidates() {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back(self.parent_path() / LWD_SANDBOX_INIT_NAME);
    out.push_back((self.parent_path() / ".." / LWD_SANDBOX_INIT_LIBEXEC_DIR / LWD_SANDBOX_INIT_NAME).lexically_normal());
  }
  out.emplace_back(LWD_SANDBOX_INIT_INSTALL_PATH);
  out.emplace_back(LWD_SANDBOX_INIT_BUILD_PATH);
  return out;
}

const std::string& sandbox_init_program(const std::string& context) {
  // A failed search throws out of the initialiser, so the next run looks again.
  static const std::string found = [&context] {
    std::string tried;
    for (const fs::path& candidate : sandbox_init_candidates()) {
      tried.append(tried.empty() ? "" : ", ").append(candidate.string());
      struct stat info {};
      if (::stat(candidate.c_str(), &info) != 0) continue;
      const bool trusted = S_ISREG(info.st_mode) && (info.st_uid == 0 || info.st_uid == ::geteuid()) &&
                           (info.st_mode & (S_IWGRP | S_IWOTH)) == 0 && ::access(candidate.c_str(), X_OK) == 0;
      if (trusted) return candidate.string();
      tried.append(" (ignored: not an executable file owned by root or the dock's user, or writable by others)");
    }
    throw Error(context + ": cannot start the model sandbox: its program " LWD_SANDBOX_INIT_NAME
                          " is not installed (looked at " + tried + ")");
  }();
  return found;
}

// A descriptor the child gets at a fixed number (0 to kPlanFd) first sits
// above them all, so that no dup2 of the spawn overwrites one not moved yet
// (a dock started with stdin closed gets 0 for its first pipe).
UniqueFd above_fixed_numbers(UniqueFd fd, const std::string& context) {
  if (fd.get() > sandbox_plan::kPlanFd) return fd;
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, sandbox_plan::kPlanFd + 1);
  if (moved < 0) throw Error(context + ": cannot start the model sandbox: " + errno_text(errno));
  return UniqueFd(moved);
}

// The plan in a memory file: no size limit, nothing left on disk, and not on
// the program's command line (which every user of the machine may read).
UniqueFd plan_file(const std::string& bytes, const std::string& context) {
  UniqueFd fd(::memfd_create("lwdock-sandbox-plan", MFD_CLOEXEC));
  if (!fd.valid()) throw Error(context + ": cannot start the model sandbox: memfd_create: " + errno_text(errno));
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(context + ": cannot start the model sandbox: writing its plan: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  return fd;
}

Started start_sandboxed(const SandboxCommand& command, const SandboxLimits& limits) {
  const std::string& context = command.context;
  std::error_code ec;
  // Canonical: the bind is made after pivot_root, where a symbolic link on
  // the way would resolve against the sandbox's root, not the host's.
  const fs::path package_root = fs::canonical(command.package_root, ec);
  if (ec) throw Error(context + ": package root " + command.package_root.string() + ": " + ec.message());
  struct stat root_info {};
  if (::geteuid() == 0 && (::stat(package_root.c_str(), &root_info) != 0 || (root_info.st_mode & 0005) != 0005))
    throw Error(context + ": package root " + package_root.string() +
                " must be readable by everyone: the dock runs as root, so models run as uid " +
                std::to_string(sandbox_plan::kUnprivilegedId) + " (chmod o+rx)");
  std::vector<MountStep> mounts = sandbox_mounts(package_root, limits);
  std::vector<std::string> environment = {std::string("LWDOCK_PACKAGE_ROOT=") + std::string(kSandboxPackageDir),
                                          std::string("PATH=") + std::string(kSandboxPath),
                                          std::string("HOME=") + std::string(kSandboxScratchDir),
                                          std::string("TMPDIR=") + std::string(kSandboxScratchDir)};
  environment.insert(environment.end(), command.environment.begin(), command.environment.end());
  const std::string& init = sandbox_init_program(context);

  sandbox_plan::Writer plan;
  plan.add(sandbox_plan::kTag);
  plan.add_number(static_cast<std::uint64_t>(::getpid()));
  plan.add(sandbox_executable(command, package_root));
  plan.add(kSandboxPackageDir);
  for (const std::vector<std::string>* strings : {&command.argv, static_cast<const std::vector<std::string>*>(&environment)}) {
    plan.add_number(strings->size());
    for (const std::string& s : *strings) plan.add(s);
  }
  const auto add_limit = [&plan](int resource, std::uint64_t soft, std::uint64_t hard) {
    plan.add_number(static_cast<std::uint64_t>(resource));
    plan.add_number(soft);
    plan.add_number(hard);
  };
  plan.add_number(6);
  add_limit(RLIMIT_AS, limits.address_space_bytes, limits.address_space_bytes);
  // The hard CPU limit a second later turns an ignored SIGXCPU into SIGKILL.
  add_limit(RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1);
  add_limit(RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes);
  add_limit(RLIMIT_NOFILE, limits.open_files, limits.open_files);
  add_limit(RLIMIT_NPROC, limits.processes, limits.processes);
  add_limit(RLIMIT_CORE, 0, 0);
  plan.add_number(mounts.size());
  for (const MountStep& step : mounts) {
    plan.add_number(static_cast<std::uint64_t>(step.kind));
    plan.add(step.source);
    plan.add(step.target);
    plan.add_number(step.flags);
    plan.add(step.data);
  }
  plan.add(sandbox_syscall_filter());

  Pipe input = make_pipe(context);
  Pipe output = make_pipe(context);
  Pipe errors = make_pipe(context);
  Pipe report = make_pipe(context);
  Pipe lifeline = make_pipe(context);
  // The child's ends, each bound for a fixed number.
  std::array<UniqueFd, 6> child_fds = {
      above_fixed_numbers(std::move(input.read_end), context), above_fixed_numbers(std::move(output.write_end), context),
      above_fixed_numbers(std::move(errors.write_end), context), above_fixed_numbers(std::move(report.write_end), context),
      above_fixed_numbers(plan_file(plan.bytes(), context), context),
      above_fixed_numbers(std::move(lifeline.read_end), context)};
  static_assert(sandbox_plan::kReportFd == 3 && sandbox_plan::kPlanFd == 4 && sandbox_plan::kLifelineFd == 5,
                "child_fds is in descriptor order");

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  for (int fd = 0; fd < static_cast<int>(child_fds.size()); ++fd)
    posix_spawn_file_actions_adddup2(&actions, child_fds[static_cast<std::size_t>(fd)].get(), fd);
  // A session of its own (init's too): out of the reach of the dock's
  // terminal, whose Ctrl-C stops the dock, which then ends the run. Every
  // signal at its default, none blocked.
  sigset_t empty_mask;
  sigset_t all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&attributes, &empty_mask);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  char* const argv[] = {const_cast<char*>(LWD_SANDBOX_INIT_NAME), nullptr};
  char* const envp[] = {nullptr};
  pid_t pid = -1;
  const int spawn_error = posix_spawn(&pid, init.c_str(), &actions, &attributes, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  // Ours go now: the end of file of the report pipe below, and of the
  // program's output later, must come when the sandbox's processes are gone.
  for (UniqueFd& fd : child_fds) fd.reset();
  if (spawn_error != 0)
    throw Error(context + ": cannot start the model sandbox: running " + init + " failed: " + errno_text(spawn_error));
  Started started;
  started.starter = std::make_unique<ChildProcess>(pid, false);
  started.sandboxed = true;

  // The starter's first report names init, or says why there is none. It
  // comes after a clone(2) of a small process, with nothing to wait for; end
  // of file means the starter died.
  Report first;
  ssize_t n = 0;
  while ((n = ::read(report.read_end.get(), &first, sizeof first)) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof first) && first.kind == Report::kStarted && first.pid > 0) {
    started.child = std::make_unique<ChildProcess>(static_cast<pid_t>(first.pid), false);
  } else {
    const int starter_status = started.starter->reap();
    if (n == static_cast<ssize_t>(sizeof first) && first.kind == Report::kSetupFailed)
      throw Error(setup_failure_text(first, command, mounts));
    throw Error(context + ": the model sandbox ended without a report (" LWD_SANDBOX_INIT_NAME " " +
                wait_status_text(starter_status) + ")");
  }
  started.input = std::move(input.write_end);
  started.output = std::move(output.read_end);
  started.errors = std::move(errors.read_end);
  started.report = std::move(report.read_end);
  started.lifeline = std::move(lifeline.write_end);
  started.mounts = std::move(mounts);
  return started;
}

Started start_unsandboxed(const SandboxCommand& command) {
  const std::string& context = command.context;
  std::vector<std::string> extra = command.environment;
  const std::string root_assignment = "LWDOCK_PACKAGE_ROOT=" + command.package_root.string();
  extra.push_back(root_assignment);
  std::vector<char*> envp;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view item(*entry);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
      const auto name = e.substr(0, e.find('=') + 1);
      return item.starts_with(name);
    });
    if (!replaced) envp.push_back(*entry);
  }
  for (auto& e : extra) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::vector<char*> argv = c_strings(command.argv);

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
  posix_spawn_file_actions_addchdir_np(&actions, command.package_root.c_str());
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors other libraries opened without close-on-exec stay with us.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
  // Own process group (so a timeout kills helpers too), no inherited signal
  // mask, default SIGPIPE.
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
  const int spawn_error =
      posix_spawn(&pid, command.executable.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0) throw Error(exec_failure_text(spawn_error, context, command.executable));
  Started started;
  started.child = std::make_unique<ChildProcess>(pid, true);
  started.input = std::move(input.write_end);
  started.output = std::move(output.read_end);
  started.errors = std::move(errors.read_end);
  return started;
}

// How the sandboxed program ended, from the reports of the starter and init
// (read once init is reaped, so they are all there). Throws for a failed
// setup or exec.
int program_status(const UniqueFd& report_fd, int init_status, const SandboxCommand& command,
                   const std::vector<MountStep>& mounts_for_messages) {
  std::vector<Report> reports;
  Report report;
  while (true) {
    const ssize_t n = ::read(report_fd.get(), &report, sizeof report);
    if (n == static_cast<ssize_t>(sizeof report)) {
      reports.push_back(report);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  for (const Report& r : reports)
    if (r.kind == Report::kSetupFailed) throw Error(setup_failure_text(r, command, mounts_for_messages));
  for (const Report& r : reports)
    if (r.kind == Report::kExited) return r.status;
  throw Error(command.context + ": the model sandbox ended without a report (its init " +
              wait_status_text(init_status) + ")");
}

}  // namespace

void validate_sandbox_limits(const SandboxLimits& limits) {
  if (!(limits.wall_seconds_cap > 0.0) || !(limits.wall_seconds_cap <= kMaxWallSecondsCap))
    throw Error("sandbox limit wall_seconds_cap must be a number of seconds in (0, " + number_text(kMaxWallSecondsCap) +
                "], got " + number_text(limits.wall_seconds_cap));
  const auto check = [](const char* field, std::uint64_t value, std::uint64_t min, std::uint64_t max) {
    if (value < min || value > max)
      throw Error(std::string("sandbox limit ") + field + " must be in [" + std::to_string(min) + ", " +
                  std::to_string(max) + "], got " + std::to_string(value));
  };
  // The upper bounds only keep every value far from RLIM_INFINITY and from
  // overflowing (cpu_seconds + 1 is the hard limit).
  constexpr std::uint64_t kHuge = std::uint64_t{1} << 50;
  check("cpu_seconds", limits.cpu_seconds, 1, kHuge);
  check("address_space_bytes", limits.address_space_bytes, std::uint64_t{16} << 20, kHuge);
  check("file_size_bytes", limits.file_size_bytes, 1, kHuge);
  check("open_files", limits.open_files, 8, std::uint64_t{1} << 20);
  check("processes", limits.processes, 1, std::uint64_t{1} << 22);
  check("scratch_bytes", limits.scratch_bytes, std::uint64_t{64} << 10, kHuge);
}

double sandbox_wall_seconds(double requested, const SandboxLimits& limits, std::string_view context) {
  if (!(requested > 0.0) || !std::isfinite(requested))
    throw Error(std::string(context) + ": timeout_seconds must be a finite number of seconds > 0, got " +
                number_text(requested));
  return std::min(requested, limits.wall_seconds_cap);
}

bool visible_in_sandbox(const fs::path& program) {
  if (!program.is_absolute()) return false;
  const auto normal = program.lexically_normal();
  const auto first = std::next(normal.begin());  // the component after "/"
  if (first == normal.end()) return false;
  for (const auto& entry : host_layout().system)
    if (fs::path(entry.target).filename() == *first) return true;
  return false;
}

SandboxRun run_sandboxed(const SandboxCommand& command, const SandboxLimits& limits, SandboxInput& input,
                         std::size_t stdout_cap) {
  validate_sandbox_limits(limits);
  const std::string& context = command.context;
  SandboxRun run;
  run.wall_seconds = sandbox_wall_seconds(command.timeout_seconds, limits, context);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(run.wall_seconds));

  Started started = limits.unsandboxed ? start_unsandboxed(command) : start_sandboxed(command, limits);
  ChildProcess& child = *started.child;
  UniqueFd child_exit(open_pidfd(child.pid()));

  SigpipeBlock sigpipe_block;
  set_nonblocking(started.input.get());
  set_nonblocking(started.output.get());
  set_nonblocking(started.errors.get());
  if (started.report.valid()) set_nonblocking(started.report.get());

  char buffer[1 << 16];
  const auto end_with = [&](SandboxRun::End end) {
    child.kill();
    child.reap();
    run.end = end;
    return run;
  };
  // Reads what is there; false once the stdout cap is passed.
  const auto drain = [&](UniqueFd& fd, bool is_stdout) {
    while (true) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        if (is_stdout) {
          run.stdout_text.append(buffer, static_cast<std::size_t>(n));
          if (run.stdout_text.size() > stdout_cap) return false;
        } else {
          run.stderr_tail.append(buffer, static_cast<std::size_t>(n));
          if (run.stderr_tail.size() > 2 * kStderrTailBytes) {
            run.stderr_tail.erase(0, run.stderr_tail.size() - kStderrTailBytes);
            run.stderr_truncated = true;
          }
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      fd.reset();  // end of stream, or an error that ends it
      return true;
    }
  };

  bool child_gone = false;
  while (started.input.valid() || started.output.valid() || started.errors.valid()) {
    pollfd fds[4];
    nfds_t count = 0;
    int input_slot = -1, output_slot = -1, errors_slot = -1, exit_slot = -1;
    if (started.input.valid()) {
      input_slot = static_cast<int>(count);
      fds[count++] = {started.input.get(), POLLOUT, 0};
    }
    if (started.output.valid()) {
      output_slot = static_cast<int>(count);
      fds[count++] = {started.output.get(), POLLIN, 0};
    }
    if (started.errors.valid()) {
      errors_slot = static_cast<int>(count);
      fds[count++] = {started.errors.get(), POLLIN, 0};
    }
    if (child_exit.valid() && !child_gone) {
      exit_slot = static_cast<int>(count);
      fds[count++] = {child_exit.get(), POLLIN, 0};
    }

    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return end_with(SandboxRun::End::kTimedOut);
    const int ready = ::poll(fds, count, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw Error(context + ": poll failed: " + errno_text(errno));
    }
    if (ready == 0) continue;  // the deadline check above decides

    if (input_slot >= 0 && fds[input_slot].revents != 0) {
      while (true) {
        const auto chunk = input.pending();
        if (chunk.empty()) {
          started.input.reset();  // all written: end of input for the program
          break;
        }
        const ssize_t n = ::write(started.input.get(), chunk.data(), chunk.size());
        if (n > 0) {
          input.consume(static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        // EPIPE: the program stopped reading. Its exit status and output decide.
        started.input.reset();
        break;
      }
    }
    if (output_slot >= 0 && fds[output_slot].revents != 0 && !drain(started.output, true))
      return end_with(SandboxRun::End::kOutputTooLarge);
    if (errors_slot >= 0 && fds[errors_slot].revents != 0) drain(started.errors, false);
    if (exit_slot >= 0 && fds[exit_slot].revents != 0) {
      // The program (unsandboxed) or init (sandboxed: the program ended, and
      // the namespace with it) exited. Helpers left behind in an unsandboxed
      // program's group may still hold our pipes open; they go now, so end
      // of output follows promptly.
      child_gone = true;
      child.kill();
      started.input.reset();
    }
  }

  // Without a pidfd the exit may still be pending; wait for it within the deadline.
  auto pause = std::chrono::microseconds(200);
  while (!child.exited()) {
    if (Clock::now() >= deadline) return end_with(SandboxRun::End::kTimedOut);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  child.kill();
  const int child_status = child.reap();
  const int status = started.sandboxed
                         ? program_status(started.report, child_status, command, started.mounts)
                         : child_status;
  if (WIFSIGNALED(status)) {
    run.end = SandboxRun::End::kSignaled;
    run.signal = WTERMSIG(status);
  } else {
    run.end = SandboxRun::End::kExited;
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return run;
}

}  // namespace lwd
