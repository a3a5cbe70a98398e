#include "engine/model/sandbox.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
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

extern char** environ;

namespace lwd {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kStderrTailBytes = 4096;
// The uid and gid a run gets when the dock is root: RLIMIT_NPROC is not
// enforced for uid 0, so a model running as root could fork without bound.
constexpr unsigned kUnprivilegedId = 65534;
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

// ---- the sandbox's side ------------------------------------------------------
//
// The child of clone(2) is a copy of the calling thread of a process that may
// run many threads, so until it execs it may only make system calls: no
// allocation, no locks, no glibc wrappers that broadcast to threads (setuid
// and friends go through syscall(2) directly). Everything it needs is
// prepared in a ChildPlan beforehand, and it only reads that.

enum class MountKind { kBindDir, kBindFile, kSymlink, kTmpfs, kProc, kRemountReadOnly };

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

// Which step of the setup failed, reported to the dock with errno.
enum class Step : int {
  kPrivateMounts,
  kRootTmpfs,
  kPivotRoot,
  kMount,  // MountStep number `index`
  kDetachHost,
  kNestedNamespaces,
  kHostname,
  kReadOnlyRoot,
  kStartProgram,
  kDescriptors,
  kLimits,
  kIdentity,
  kCapabilities,
  kWorkingDirectory,
  kExec,
};

const char* step_text(Step step) {
  switch (step) {
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
    case Step::kExec:
      return "exec";
  }
  return "setup";
}

struct Report {
  enum Kind : int { kSetupFailed = 1, kExited = 2 };
  int kind = 0;
  int step = 0;
  int index = -1;
  int error = 0;
  int status = 0;  // kExited: the program's wait status
};

struct ResourceLimit {
  int resource;
  rlimit value;
};

struct ChildPlan {
  int stdin_fd = -1;   // the child's ends of the three pipes
  int stdout_fd = -1;
  int stderr_fd = -1;
  int sync_fd = -1;    // read end: one byte once the dock has written the id maps
  int report_fd = -1;  // write end: Report records
  const std::vector<MountStep>* mounts = nullptr;
  const char* executable = nullptr;  // path inside the sandbox
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  std::array<ResourceLimit, 6> limits{};
  bool become_unprivileged = false;  // root: switch to kUnprivilegedId
};

void send_report(int fd, const Report& report) {
  while (::write(fd, &report, sizeof report) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void fail_setup(int fd, Step step, int index = -1) {
  Report report;
  report.kind = Report::kSetupFailed;
  report.step = static_cast<int>(step);
  report.index = index;
  report.error = errno;
  send_report(fd, report);
  ::_exit(126);
}

void reset_signals() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &action, nullptr);  // KILL, STOP: EINVAL, fine
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool make_directory(const char* path) { return ::mkdir(path, 0755) == 0 || errno == EEXIST; }

// A bind mount made read-only. In a user namespace the remount must keep
// the flags the host mount is locked with (nosuid, nodev, noexec, atime), so
// they are read back first.
bool remount_bind_read_only(const char* target) {
  struct statfs info {};
  if (::statfs(target, &info) != 0) return false;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
  if (info.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (info.f_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (info.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (info.f_flags & ST_RELATIME) flags |= MS_RELATIME;
  if (!(info.f_flags & (ST_NOATIME | ST_RELATIME))) flags |= MS_STRICTATIME;
  return ::mount(nullptr, target, nullptr, flags, nullptr) == 0;
}

bool apply_mount(const MountStep& step) {
  const char* target = step.target.c_str();
  switch (step.kind) {
    case MountKind::kBindDir:
      return make_directory(target) && ::mount(step.source.c_str(), target, nullptr, MS_BIND, nullptr) == 0 &&
             remount_bind_read_only(target);
    case MountKind::kBindFile: {
      const int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return false;
      ::close(fd);
      return ::mount(step.source.c_str(), target, nullptr, MS_BIND, nullptr) == 0;
    }
    case MountKind::kSymlink:
      return ::symlink(step.source.c_str(), target) == 0;
    case MountKind::kTmpfs:
      return make_directory(target) && ::mount("tmpfs", target, "tmpfs", step.flags, step.data.c_str()) == 0;
    case MountKind::kProc:
      return make_directory(target) && ::mount("proc", target, "proc", step.flags, nullptr) == 0;
    case MountKind::kRemountReadOnly:
      return ::mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY | step.flags, nullptr) == 0;
  }
  return false;
}

// The program, pid 2 of the namespace: limits, identity, descriptors, exec.
[[noreturn]] void run_program(const ChildPlan& plan) {
  int report = plan.report_fd;
  ::setsid();
  // Every descriptor the program keeps goes above 9 first, so that moving
  // them to 0..3 cannot overwrite one not moved yet.
  const int wanted[4] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.report_fd};
  int moved[4];
  for (int i = 0; i < 4; ++i)
    if ((moved[i] = ::fcntl(wanted[i], F_DUPFD_CLOEXEC, 10)) < 0) fail_setup(report, Step::kDescriptors);
  for (int i = 0; i < 4; ++i)
    if (::dup2(moved[i], i) < 0) fail_setup(report, Step::kDescriptors);
  report = 3;
  // Nothing else of the dock's reaches the program.
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0 || ::fcntl(report, F_SETFD, FD_CLOEXEC) != 0)
    fail_setup(report, Step::kDescriptors);

  for (const ResourceLimit& limit : plan.limits)
    if (::setrlimit(static_cast<__rlimit_resource>(limit.resource), &limit.value) != 0)
      fail_setup(report, Step::kLimits);

  // The bounding set goes while CAP_SETPCAP is still held (a uid switch clears it).
  for (int cap = 0; cap <= 63; ++cap)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;  // past the last capability
  if (plan.become_unprivileged) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
        ::syscall(SYS_setresgid, kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0 ||
        ::syscall(SYS_setresuid, kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0)
      fail_setup(report, Step::kIdentity);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct no_capabilities[2]{};
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 ||
      ::syscall(SYS_capset, &header, no_capabilities) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail_setup(report, Step::kCapabilities);

  if (::chdir(kSandboxPackageDir.data()) != 0) fail_setup(report, Step::kWorkingDirectory);
  ::execve(plan.executable, plan.argv, plan.envp);
  fail_setup(report, Step::kExec);
}

int start_program(void* plan) { run_program(*static_cast<const ChildPlan*>(plan)); }

// pid 1 of the new namespaces: builds the filesystem, starts the program,
// reaps whatever is orphaned, and ends with the program -- at which point
// the kernel kills every process left in the namespace.
[[noreturn]] void run_init(const ChildPlan& plan) {
  const int report = plan.report_fd;
  // Every other descriptor of the dock goes at once: a pipe end of another
  // run started by another thread, held here, would keep that run's program
  // from ever seeing the end of its input.
  int keep[5] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.sync_fd, plan.report_fd};
  std::sort(keep, keep + 5);
  unsigned next = 0;
  for (const int fd : keep) {
    if (static_cast<unsigned>(fd) > next) ::syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0U);
    next = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0U);
  // The dock's handlers were copied with its memory; none of them may run here.
  reset_signals();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char go = 0;
  ssize_t n = 0;
  while ((n = ::read(plan.sync_fd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) ::_exit(126);  // the dock gave up before writing the id maps
  ::close(plan.sync_fd);
  ::setsid();                           // out of the dock's terminal's reach
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // the program (same uid when not root) cannot ptrace init

  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail_setup(report, Step::kPrivateMounts);
  // The new root is a tmpfs on /tmp; after pivot_root the host's root is
  // /oldroot (its /tmp shows through again, the tmpfs having moved away).
  if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0)
    fail_setup(report, Step::kRootTmpfs);
  if (::mkdir("/tmp/oldroot", 0700) != 0 || ::syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") != 0 ||
      ::chdir("/") != 0)
    fail_setup(report, Step::kPivotRoot);
  const std::vector<MountStep>& mounts = *plan.mounts;
  for (std::size_t i = 0; i < mounts.size(); ++i)
    if (!apply_mount(mounts[i])) fail_setup(report, Step::kMount, static_cast<int>(i));
  if (::umount2("/oldroot", MNT_DETACH) != 0 || ::rmdir("/oldroot") != 0) fail_setup(report, Step::kDetachHost);

  // Nested user namespaces would hand the program a fresh set of
  // capabilities (over namespaces of its own) and the kernel surface behind them.
  const int limit = ::open("/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC);
  if (limit < 0 || ::write(limit, "0\n", 2) != 2) fail_setup(report, Step::kNestedNamespaces);
  ::close(limit);
  if (::sethostname("lwdock-sandbox", 14) != 0) fail_setup(report, Step::kHostname);
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    fail_setup(report, Step::kReadOnlyRoot);

  // The program starts as a vfork-style child on a stack of its own: sharing
  // init's memory until it execs spares a second copy of the dock's page
  // tables (init suspends meanwhile, so nothing races on that memory).
  constexpr std::size_t kProgramStackBytes = 256 << 10;
  void* stack = ::mmap(nullptr, kProgramStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
  if (stack == MAP_FAILED) fail_setup(report, Step::kStartProgram);
  const pid_t program = ::clone(start_program, static_cast<char*>(stack) + kProgramStackBytes,
                                CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&plan));
  if (program < 0) fail_setup(report, Step::kStartProgram);
  ::munmap(stack, kProgramStackBytes);
  ::close(plan.stdin_fd);
  ::close(plan.stdout_fd);
  ::close(plan.stderr_fd);

  Report ended;
  ended.kind = Report::kExited;
  while (true) {
    int status = 0;
    const pid_t reaped = ::waitpid(-1, &status, 0);
    if (reaped == program) {
      ended.status = status;
      break;
    }
    if (reaped < 0 && errno != EINTR) ::_exit(125);  // cannot happen: the program is our child
  }
  send_report(report, ended);
  ::_exit(0);
}

// ---- the dock's side ---------------------------------------------------------

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

void write_proc_file(const std::string& path, const std::string& text, const std::string& context) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid() || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw Error(context + ": cannot start the model sandbox: writing " + path + " failed: " + errno_text(errno));
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

struct Started {
  std::unique_ptr<ChildProcess> child;
  bool sandboxed = false;
  UniqueFd input;   // our ends
  UniqueFd output;
  UniqueFd errors;
  UniqueFd report;  // sandboxed: the init's reports
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

Started start_sandboxed(const SandboxCommand& command, const SandboxLimits& limits) {
  const std::string& context = command.context;
  std::error_code ec;
  // Canonical: the bind is made after pivot_root, where a symbolic link on
  // the way would resolve against the sandbox's root, not the host's.
  const fs::path package_root = fs::canonical(command.package_root, ec);
  if (ec) throw Error(context + ": package root " + command.package_root.string() + ": " + ec.message());
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  struct stat root_info {};
  if (uid == 0 && (::stat(package_root.c_str(), &root_info) != 0 || (root_info.st_mode & 0005) != 0005))
    throw Error(context + ": package root " + package_root.string() +
                " must be readable by everyone: the dock runs as root, so models run as uid " +
                std::to_string(kUnprivilegedId) + " (chmod o+rx)");
  std::vector<MountStep> mounts = sandbox_mounts(package_root, limits);
  const std::string executable = sandbox_executable(command, package_root);
  std::vector<std::string> environment = {std::string("LWDOCK_PACKAGE_ROOT=") + std::string(kSandboxPackageDir),
                                          std::string("PATH=") + std::string(kSandboxPath),
                                          std::string("HOME=") + std::string(kSandboxScratchDir),
                                          std::string("TMPDIR=") + std::string(kSandboxScratchDir)};
  environment.insert(environment.end(), command.environment.begin(), command.environment.end());
  const std::vector<char*> argv = c_strings(command.argv);
  const std::vector<char*> envp = c_strings(environment);

  Pipe input = make_pipe(context);
  Pipe output = make_pipe(context);
  Pipe errors = make_pipe(context);
  Pipe sync = make_pipe(context);
  Pipe report = make_pipe(context);

  const auto limit = [](int resource, std::uint64_t value) {
    return ResourceLimit{resource, rlimit{static_cast<rlim_t>(value), static_cast<rlim_t>(value)}};
  };
  ChildPlan plan;
  plan.stdin_fd = input.read_end.get();
  plan.stdout_fd = output.write_end.get();
  plan.stderr_fd = errors.write_end.get();
  plan.sync_fd = sync.read_end.get();
  plan.report_fd = report.write_end.get();
  plan.mounts = &mounts;
  plan.executable = executable.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.limits = {limit(RLIMIT_AS, limits.address_space_bytes),
                 // The hard CPU limit a second later turns an ignored SIGXCPU into SIGKILL.
                 ResourceLimit{RLIMIT_CPU, rlimit{static_cast<rlim_t>(limits.cpu_seconds),
                                                  static_cast<rlim_t>(limits.cpu_seconds + 1)}},
                 limit(RLIMIT_FSIZE, limits.file_size_bytes), limit(RLIMIT_NOFILE, limits.open_files),
                 limit(RLIMIT_NPROC, limits.processes), limit(RLIMIT_CORE, 0)};
  plan.become_unprivileged = uid == 0;

  constexpr unsigned long kNamespaces =
      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  const long pid = ::syscall(SYS_clone, kNamespaces | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) run_init(plan);
  if (pid < 0)
    throw Error(context + ": cannot start the model sandbox: creating user, pid, mount and network namespaces failed (" +
                errno_text(errno) +
                "); this machine does not allow them (see docs/DESIGN.md, Model sandbox; --unsandboxed-models "
                "runs models without isolation)");
  Started started;
  started.child = std::make_unique<ChildProcess>(static_cast<pid_t>(pid), false);
  started.sandboxed = true;
  input.read_end.reset();
  output.write_end.reset();
  errors.write_end.reset();
  sync.read_end.reset();
  report.write_end.reset();

  // Root maps itself (for init, which needs to read the package wherever it
  // lies) and the unprivileged id the program switches to; anyone else may
  // map only their own ids, and must give up setgroups(2) first.
  const std::string proc = "/proc/" + std::to_string(pid);
  if (uid == 0) {
    const std::string map = "0 0 1\n" + std::to_string(kUnprivilegedId) + " " + std::to_string(kUnprivilegedId) + " 1\n";
    write_proc_file(proc + "/uid_map", map, context);
    write_proc_file(proc + "/gid_map", map, context);
  } else {
    write_proc_file(proc + "/setgroups", "deny", context);
    write_proc_file(proc + "/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1\n", context);
    write_proc_file(proc + "/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1\n", context);
  }
  if (::write(sync.write_end.get(), "g", 1) != 1)
    throw Error(context + ": cannot start the model sandbox: " + errno_text(errno));
  sync.write_end.reset();

  started.input = std::move(input.write_end);
  started.output = std::move(output.read_end);
  started.errors = std::move(errors.read_end);
  started.report = std::move(report.read_end);
  // The child has its own copy of everything the plan points to.
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

// How the sandboxed program ended, from init's reports (read once init is
// reaped, so they are all there). Throws for a failed setup or exec.
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
  for (const Report& r : reports) {
    if (r.kind != Report::kSetupFailed) continue;
    const auto step = static_cast<Step>(r.step);
    if (step == Step::kExec) throw Error(exec_failure_text(r.error, command.context, command.executable));
    std::string what = step_text(step);
    if (step == Step::kMount && r.index >= 0 && static_cast<std::size_t>(r.index) < mounts_for_messages.size())
      what += " " + mounts_for_messages[static_cast<std::size_t>(r.index)].target;
    throw Error(command.context + ": cannot start the model sandbox: " + what + " failed: " + errno_text(r.error));
  }
  for (const Report& r : reports)
    if (r.kind == Report::kExited) return r.status;
  throw Error(command.context + ": the model sandbox ended without a report (its init " +
              (WIFSIGNALED(init_status) ? "was killed by signal " + std::to_string(WTERMSIG(init_status))
                                        : "exited with code " + std::to_string(WEXITSTATUS(init_status))) +
              ")");
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
