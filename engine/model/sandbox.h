// The model sandbox: how the dock runs a program it does not trust (a process
// model's command, at check time and at predict time), and the limits it
// runs under. docs/DESIGN.md, "Model sandbox", says what is isolated and
// what is not; in short, a sandboxed run gets
//
//   namespaces   new user, pid, mount, network, IPC, UTS and cgroup
//                namespaces (Linux clone(2)); nested user namespaces are
//                disabled inside (user.max_user_namespaces = 0);
//   filesystem   a fresh read-only root holding read-only binds of the
//                system folders (/usr, /etc and the /bin, /lib... links),
//                the package read-only at /package (also the working
//                directory), a private tmpfs at /tmp (HOME and TMPDIR; the
//                only writable place, scratch_bytes large), a new /proc and a
//                /dev of null, zero, full, random and urandom;
//   network      a network namespace of its own: a loopback that is down, no
//                route anywhere;
//   identity     the dock's uid when it is not root; as root, uid and gid
//                65534 (nobody/nogroup), because the process-count limit
//                does not hold for uid 0; no capabilities, no_new_privs;
//   system calls a seccomp filter (engine/model/syscall_filter.cpp) refuses
//                with EPERM what a model has no business doing: ptrace,
//                mounts, new namespaces (unshare, setns, clone with
//                CLONE_NEW*), kernel modules, kexec, bpf, perf, keyrings,
//                userfaultfd, file handles, the clock, swap, reboot,
//                io_uring, personality flags that weaken ASLR or NX, and
//                sockets other than AF_UNIX, AF_INET and AF_INET6;
//                everything else is allowed (a deny-list: see DESIGN.md);
//   environment  exactly LWDOCK_PACKAGE_ROOT=/package, PATH (kSandboxPath),
//                HOME=/tmp and TMPDIR=/tmp, plus what the caller adds;
//   limits       SandboxLimits, as rlimits of the program (inherited by
//                whatever it starts) and a wall-clock limit of the run;
//   lifetime     the sandbox is a program of its own, lwdock-sandbox-init
//                (built and installed with the dock; sandbox_init.cpp), started
//                vfork-style, so a run costs the same however much memory
//                the dock holds. It creates the namespaces; their init (pid
//                1, the dock's own child) ends when the program exits, and the
//                kernel then kills every process left in the namespace. The
//                dock kills init at the wall-clock limit, and init dies with
//                the dock (PR_SET_PDEATHSIG).
//
// A machine where any of this is unavailable refuses the run with a one-line
// lwd::Error naming what failed; SandboxLimits::unsandboxed runs the program
// directly instead (development only: the program then sees the dock's
// environment and files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lwd {

// The dock's limits on one sandboxed run. The defaults suit the checker's
// probe and reuse of ordinary models; `lwdock market add|update`, `reuse` and
// `model predict` take --model-* options that set them (apps/lwdock).
struct SandboxLimits {
  // A run's wall-clock limit is the package's timeout_seconds clamped to this.
  double wall_seconds_cap = 120.0;
  // RLIMIT_CPU of each process (SIGXCPU, then SIGKILL a second later).
  std::uint64_t cpu_seconds = 120;
  // RLIMIT_AS of each process: its virtual address space, not resident memory.
  std::uint64_t address_space_bytes = std::uint64_t{8} << 30;
  // RLIMIT_FSIZE: the largest file a process may write (SIGXFSZ beyond).
  std::uint64_t file_size_bytes = std::uint64_t{64} << 20;
  // RLIMIT_NOFILE: open descriptors per process.
  std::uint64_t open_files = 1024;
  // RLIMIT_NPROC, counted in the run's own user namespace: processes and
  // threads of the run together.
  std::uint64_t processes = 512;
  // Size of the tmpfs at /tmp (memory the run may fill with files).
  std::uint64_t scratch_bytes = std::uint64_t{256} << 20;
  // Development only: run the program directly, with the dock's environment,
  // working directory set to the package, its own process group and the
  // wall-clock limit, but no namespaces and no rlimits.
  bool unsandboxed = false;
};

// Upper bound on wall_seconds_cap (a week): every deadline stays far inside
// the range of the clocks' integer durations.
inline constexpr double kMaxWallSecondsCap = 7 * 24 * 3600.0;

// Where the package and the scratch directory are inside the sandbox, and the
// PATH the program gets (bare command names resolve against it).
inline constexpr std::string_view kSandboxPackageDir = "/package";
inline constexpr std::string_view kSandboxScratchDir = "/tmp";
inline constexpr std::string_view kSandboxPath = "/usr/local/bin:/usr/bin:/bin";

// Throws lwd::Error naming the field when a limit is out of range (a cap
// that is not a finite number of seconds in (0, kMaxWallSecondsCap], a
// zero or absurd rlimit).
void validate_sandbox_limits(const SandboxLimits& limits);

// The wall-clock limit of a run that asks for `requested` seconds: requested
// clamped to limits.wall_seconds_cap. Throws lwd::Error (prefixed with
// `context`) when `requested` is not a finite number > 0.
double sandbox_wall_seconds(double requested, const SandboxLimits& limits, std::string_view context);

// True when `program` (an absolute host path) lies in one of the system
// folders a sandboxed run sees, so it can be run from inside.
bool visible_in_sandbox(const std::filesystem::path& program);

struct SandboxCommand {
  // Absolute host path of the program: inside package_root, or a system
  // program (visible_in_sandbox). Inside the sandbox a program of the package
  // runs from kSandboxPackageDir.
  std::filesystem::path executable;
  std::vector<std::string> argv;        // argv[0] as the program should see it
  std::filesystem::path package_root;   // read-only at /package; the working directory
  std::vector<std::string> environment; // extra NAME=value entries
  double timeout_seconds = 30.0;        // requested; clamped by SandboxLimits
  std::string context;                  // names the program in error messages
};

// What the run reads on stdin, produced a piece at a time so a large input
// never has to sit in memory whole.
class SandboxInput {
 public:
  virtual ~SandboxInput() = default;
  // Bytes not yet written; empty once everything was written (stdin is then closed).
  virtual std::string_view pending() = 0;
  virtual void consume(std::size_t bytes) = 0;
};

class StringSandboxInput final : public SandboxInput {
 public:
  explicit StringSandboxInput(std::string text) : text_(std::move(text)) {}
  std::string_view pending() override { return std::string_view(text_).substr(offset_); }
  void consume(std::size_t bytes) override { offset_ += bytes; }

 private:
  std::string text_;
  std::size_t offset_ = 0;
};

struct SandboxRun {
  enum class End {
    kExited,          // the program exited (exit_code)
    kSignaled,        // the program was killed by a signal (signal)
    kTimedOut,        // the wall-clock limit expired; everything was killed
    kOutputTooLarge,  // stdout passed the cap; everything was killed
  };
  End end = End::kExited;
  int exit_code = 0;
  int signal = 0;
  double wall_seconds = 0.0;      // the limit the run had (after clamping)
  std::string stdout_text;        // all of it (up to the cap)
  std::string stderr_tail;        // the last 4 KiB or more
  bool stderr_truncated = false;
};

// Runs the command once: writes `input` to its stdin (closing it at the
// end), collects stdout (at most stdout_cap bytes) and the tail of stderr,
// and returns how it ended. Every process the run started is gone when this
// returns, whatever happened. Throws lwd::Error (starting with
// command.context) when the program cannot be started: the sandbox is
// unavailable on this machine, the program is missing or not executable.
// Safe to call from several threads at once.
SandboxRun run_sandboxed(const SandboxCommand& command, const SandboxLimits& limits, SandboxInput& input,
                         std::size_t stdout_cap);

}  // namespace lwd
