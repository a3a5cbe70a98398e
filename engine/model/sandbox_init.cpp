// lwdock-sandbox-init: the model sandbox's own program (engine/model/sandbox.h;
// docs/DESIGN.md, "Model sandbox"). The dock starts it vfork-style
// (posix_spawn) with the run's plan on descriptor kPlanFd, and it runs as two
// processes:
//
//   the starter  what the dock spawned, outside the namespaces: creates them
//                with clone(2) -- CLONE_PARENT, so that their init is the
//                dock's own child, which the dock kills and reaps as it
//                always did -- reports init's pid, writes the new user
//                namespace's id maps, lets init go and exits;
//   init         pid 1 of the new namespaces: builds the filesystem, starts
//                the program, reaps orphans, and reports the program's wait
//                status when it exits. Its end takes every process of the
//                namespace with it, and it dies with the dock
//                (PR_SET_PDEATHSIG).
//
// Why a program of its own rather than a fork of the dock: a fork copies the
// page tables of the whole dock, which cost ~150 ms per run with 1 GiB
// resident (bench/README.md, "Model sandbox overhead"); starting a small
// program vfork-style costs the same whatever the dock holds, and init, a
// fork of that small program, copies a few pages. It also leaves no copy of
// the dock's memory (a loaded market, say) inside the sandbox's namespaces.
// Why not exec a helper from inside the new user namespace (one process
// fewer): an exec there drops every capability unless the exec'ing uid is
// mapped to 0, which the id maps a non-root dock may write do not allow --
// so the namespaces are created after the exec, by the starter.
//
// It links nothing but libc (statically where the build allows it, so that
// starting it costs no dynamic loading), trusts nothing but its plan, and
// reports every failure as a sandbox_plan::Report on kReportFd.
#include <fcntl.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
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

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/model/sandbox_plan.h"

namespace {

// The plan the dock wrote (sandbox_plan.h) is all this program speaks.
using namespace lwd::sandbox_plan;

struct ResourceLimit {
  int resource;
  rlimit value;
};

struct MountStep {
  MountKind kind;
  const char* source;  // bind: the host path under /oldroot; symlink: the link's text
  const char* target;  // path in the sandbox's root
  unsigned long flags;
  const char* data;    // tmpfs options
};

struct Plan {
  pid_t dock_pid = 0;
  const char* executable = nullptr;  // path inside the sandbox
  const char* directory = nullptr;   // the program's working directory
  std::vector<char*> argv;           // null-terminated
  std::vector<char*> envp;           // null-terminated
  std::vector<ResourceLimit> limits;
  std::vector<MountStep> mounts;
  sock_fprog filter{};               // len 0: none
  bool become_unprivileged = false;  // the dock is root: switch to kUnprivilegedId
};

void send_report(const Report& report) {
  while (::write(kReportFd, &report, sizeof report) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void fail_setup(Step step, int index = -1) {
  Report report;
  report.kind = Report::kSetupFailed;
  report.step = static_cast<int>(step);
  report.index = index;
  report.error = errno;
  send_report(report);
  ::_exit(126);
}

// The whole plan, read into memory that stays for the process's life (the
// plan's strings point into it).
bool read_plan(Plan& plan) {
  struct stat info {};
  if (::fstat(kPlanFd, &info) != 0 || info.st_size <= 0) return false;
  const auto size = static_cast<std::size_t>(info.st_size);
  char* bytes = static_cast<char*>(std::malloc(size));
  if (bytes == nullptr) return false;
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::pread(kPlanFd, bytes + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  ::close(kPlanFd);

  lwd::sandbox_plan::Reader in(bytes, size);
  const auto c_string = [&in] { return const_cast<char*>(in.next().data()); };
  if (in.next() != lwd::sandbox_plan::kTag) return false;
  plan.dock_pid = static_cast<pid_t>(in.next_number());
  plan.executable = c_string();
  plan.directory = c_string();
  constexpr std::uint64_t kMaxCount = 1 << 20;  // far above any real plan; bounds the loops below
  for (std::vector<char*>* strings : {&plan.argv, &plan.envp}) {
    const std::uint64_t count = in.next_number();
    if (!in.ok() || count > kMaxCount) return false;
    for (std::uint64_t i = 0; i < count; ++i) strings->push_back(c_string());
    strings->push_back(nullptr);
  }
  const std::uint64_t limit_count = in.next_number();
  if (!in.ok() || limit_count > kMaxCount) return false;
  for (std::uint64_t i = 0; i < limit_count; ++i) {
    ResourceLimit limit{};
    limit.resource = static_cast<int>(in.next_number());
    limit.value.rlim_cur = static_cast<rlim_t>(in.next_number());
    limit.value.rlim_max = static_cast<rlim_t>(in.next_number());
    plan.limits.push_back(limit);
  }
  const std::uint64_t mount_count = in.next_number();
  if (!in.ok() || mount_count > kMaxCount) return false;
  for (std::uint64_t i = 0; i < mount_count; ++i) {
    MountStep step{};
    const std::uint64_t kind = in.next_number();
    if (kind > static_cast<std::uint64_t>(MountKind::kRemountReadOnly)) return false;
    step.kind = static_cast<MountKind>(kind);
    step.source = c_string();
    step.target = c_string();
    step.flags = static_cast<unsigned long>(in.next_number());
    step.data = c_string();
    plan.mounts.push_back(step);
  }
  const std::string_view filter = in.next();
  if (filter.size() % sizeof(sock_filter) != 0 || filter.size() / sizeof(sock_filter) > BPF_MAXINSNS) return false;
  plan.filter.len = static_cast<unsigned short>(filter.size() / sizeof(sock_filter));
  // The strings sit at 4-byte offsets plus their lengths, so the filter's
  // bytes need not be aligned for sock_filter: give them a place that is.
  if (plan.filter.len > 0) {
    plan.filter.filter = static_cast<sock_filter*>(std::malloc(filter.size()));
    if (plan.filter.filter == nullptr) return false;
    std::memcpy(plan.filter.filter, filter.data(), filter.size());
  }
  plan.become_unprivileged = ::geteuid() == 0;
  return in.ok() && in.at_end();
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
  const char* target = step.target;
  switch (step.kind) {
    case MountKind::kBindDir:
      return make_directory(target) && ::mount(step.source, target, nullptr, MS_BIND, nullptr) == 0 &&
             remount_bind_read_only(target);
    case MountKind::kBindFile: {
      const int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return false;
      ::close(fd);
      return ::mount(step.source, target, nullptr, MS_BIND, nullptr) == 0;
    }
    case MountKind::kSymlink:
      return ::symlink(step.source, target) == 0;
    case MountKind::kTmpfs:
      return make_directory(target) && ::mount("tmpfs", target, "tmpfs", step.flags, step.data) == 0;
    case MountKind::kProc:
      return make_directory(target) && ::mount("proc", target, "proc", step.flags, nullptr) == 0;
    case MountKind::kRemountReadOnly:
      return ::mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY | step.flags, nullptr) == 0;
  }
  return false;
}

// The program, pid 2 of the namespace: limits, identity, system-call filter,
// exec. It shares init's memory until it execs (CLONE_VM | CLONE_VFORK), so
// it only makes system calls.
[[noreturn]] void run_program(const Plan& plan) {
  ::setsid();
  // Nothing but stdin, stdout, stderr and the report pipe (closed by the exec)
  // reaches the program.
  if (::fcntl(kReportFd, F_SETFD, FD_CLOEXEC) != 0 || ::syscall(SYS_close_range, kReportFd + 1, ~0U, 0U) != 0)
    fail_setup(Step::kDescriptors);

  for (const ResourceLimit& limit : plan.limits)
    if (::setrlimit(static_cast<__rlimit_resource>(limit.resource), &limit.value) != 0) fail_setup(Step::kLimits);

  // The bounding set goes while CAP_SETPCAP is still held (a uid switch clears it).
  for (int cap = 0; cap <= 63; ++cap)
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;  // past the last capability
  if (plan.become_unprivileged) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
        ::syscall(SYS_setresgid, kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0 ||
        ::syscall(SYS_setresuid, kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0)
      fail_setup(Step::kIdentity);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct no_capabilities[2]{};
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 ||
      ::syscall(SYS_capset, &header, no_capabilities) != 0 || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail_setup(Step::kCapabilities);

  if (::chdir(plan.directory) != 0) fail_setup(Step::kWorkingDirectory);
  // Last, so that nothing above runs under it; execve, write and exit_group
  // (for a failed exec) are allowed by it.
  if (plan.filter.len > 0 && ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &plan.filter) != 0)
    fail_setup(Step::kSyscallFilter);
  ::execve(plan.executable, plan.argv.data(), plan.envp.data());
  fail_setup(Step::kExec);
}

int start_program(void* plan) { run_program(*static_cast<const Plan*>(plan)); }

// pid 1 of the new namespaces: builds the filesystem, starts the program,
// reaps whatever is orphaned, and ends with the program -- at which point
// the kernel kills every process left in the namespace.
[[noreturn]] void run_init(const Plan& plan, int sync_fd) {
  reset_signals();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // The dock (our parent, through CLONE_PARENT) may have died before that was
  // armed: its end of the lifeline, which nothing else holds, tells.
  pollfd lifeline{kLifelineFd, POLLIN, 0};
  while (::poll(&lifeline, 1, 0) < 0 && errno == EINTR) {
  }
  if (lifeline.revents != 0) ::_exit(126);  // POLLHUP: the dock is gone (it never writes)
  ::close(kLifelineFd);
  // End of file instead of the byte: the starter died before writing the id maps.
  char go = 0;
  ssize_t n = 0;
  while ((n = ::read(sync_fd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) ::_exit(126);
  ::close(sync_fd);
  ::setsid();                            // out of the dock's terminal's reach
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // the program (same uid when not root) cannot ptrace init

  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail_setup(Step::kPrivateMounts);
  // The new root is a tmpfs on /tmp; after pivot_root the host's root is
  // /oldroot (its /tmp shows through again, the tmpfs having moved away).
  if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0)
    fail_setup(Step::kRootTmpfs);
  if (::mkdir("/tmp/oldroot", 0700) != 0 || ::syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") != 0 ||
      ::chdir("/") != 0)
    fail_setup(Step::kPivotRoot);
  for (std::size_t i = 0; i < plan.mounts.size(); ++i)
    if (!apply_mount(plan.mounts[i])) fail_setup(Step::kMount, static_cast<int>(i));
  if (::umount2("/oldroot", MNT_DETACH) != 0 || ::rmdir("/oldroot") != 0) fail_setup(Step::kDetachHost);

  // Nested user namespaces would hand the program a fresh set of
  // capabilities (over namespaces of its own) and the kernel surface behind them.
  const int limit = ::open("/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC);
  if (limit < 0 || ::write(limit, "0\n", 2) != 2) fail_setup(Step::kNestedNamespaces);
  ::close(limit);
  if (::sethostname("lwdock-sandbox", 14) != 0) fail_setup(Step::kHostname);
  if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    fail_setup(Step::kReadOnlyRoot);

  // A vfork-style child on a stack of its own: init suspends until the exec,
  // so nothing races on the memory they share.
  constexpr std::size_t kProgramStackBytes = 256 << 10;
  void* stack = ::mmap(nullptr, kProgramStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
  if (stack == MAP_FAILED) fail_setup(Step::kStartProgram);
  const pid_t program = ::clone(start_program, static_cast<char*>(stack) + kProgramStackBytes,
                                CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<Plan*>(&plan));
  if (program < 0) fail_setup(Step::kStartProgram);
  ::munmap(stack, kProgramStackBytes);
  ::close(STDIN_FILENO);
  ::close(STDOUT_FILENO);
  ::close(STDERR_FILENO);

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
  send_report(ended);
  ::_exit(0);
}

// ---- the starter ---------------------------------------------------------------

void report_failure(Step step, int error) {
  Report report;
  report.kind = Report::kSetupFailed;
  report.step = static_cast<int>(step);
  report.error = error;
  send_report(report);
}

bool write_file(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::size_t length = std::strlen(text);
  const bool written = ::write(fd, text, length) == static_cast<ssize_t>(length);
  const int error = errno;
  ::close(fd);
  errno = error;
  return written;
}

// Root maps itself (for init, which needs to read the package wherever it
// lies) and the unprivileged id the program switches to; anyone else may
// map only their own ids, and must give up setgroups(2) first.
bool write_id_maps(pid_t init) {
  char path[64];
  char map[64];
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (uid == 0) {
    std::snprintf(map, sizeof map, "0 0 1\n%u %u 1\n", kUnprivilegedId, kUnprivilegedId);
    std::snprintf(path, sizeof path, "/proc/%d/uid_map", static_cast<int>(init));
    if (!write_file(path, map)) return false;
    std::snprintf(path, sizeof path, "/proc/%d/gid_map", static_cast<int>(init));
    return write_file(path, map);
  }
  std::snprintf(path, sizeof path, "/proc/%d/setgroups", static_cast<int>(init));
  if (!write_file(path, "deny")) return false;
  std::snprintf(map, sizeof map, "%u %u 1\n", static_cast<unsigned>(uid), static_cast<unsigned>(uid));
  std::snprintf(path, sizeof path, "/proc/%d/uid_map", static_cast<int>(init));
  if (!write_file(path, map)) return false;
  std::snprintf(map, sizeof map, "%u %u 1\n", static_cast<unsigned>(gid), static_cast<unsigned>(gid));
  std::snprintf(path, sizeof path, "/proc/%d/gid_map", static_cast<int>(init));
  return write_file(path, map);
}

}  // namespace

int main() {
  // Dies with the dock while it works; the dock's pid, from the plan, tells
  // whether the dock died before this was armed.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // Anything the dock's libraries opened without close-on-exec goes.
  ::syscall(SYS_close_range, kLifelineFd + 1, ~0U, 0U);
  Plan plan;
  if (!read_plan(plan)) {
    errno = EINVAL;
    fail_setup(Step::kPlan);
  }
  if (::getppid() != plan.dock_pid) ::_exit(126);

  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) != 0) fail_setup(Step::kNamespaces);
  constexpr unsigned long kNamespaces =
      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  // A fork of this small process (a few pages of page tables), and a child
  // of the dock: the dock kills it at the deadline and reaps it, and its end
  // comes only once every process of its namespace is gone.
  const long pid = ::syscall(SYS_clone, CLONE_PARENT | kNamespaces | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    ::close(sync[1]);
    run_init(plan, sync[0]);
  }
  if (pid < 0) fail_setup(Step::kNamespaces);
  const auto init = static_cast<pid_t>(pid);
  Report started;
  started.kind = Report::kStarted;
  started.pid = init;
  send_report(started);
  ::close(sync[0]);

  if (!write_id_maps(init)) {
    // Reported before init dies, so the dock finds the report once it has reaped init.
    report_failure(Step::kIdMaps, errno);
    ::kill(init, SIGKILL);
    ::_exit(126);
  }
  while (::write(sync[1], "g", 1) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}
