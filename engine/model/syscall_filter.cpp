#include "engine/model/syscall_filter.h"

#include <seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "engine/error.h"

namespace lwd {
namespace {

// Refused with EPERM. Allow-by-default with a deny-list, not an allow-list:
// models are arbitrary programs (shells, interpreters, their native
// libraries), and an allow-list that misses one call a runtime makes breaks
// that model in ways its author cannot diagnose. What is refused is what a
// model has no business doing and what widens the kernel surface the
// namespaces leave open: debugging other processes, (un)mounting, entering
// or creating namespaces, kernel modules and kexec, BPF and perf, keyrings,
// userfaultfd (a tool for kernel exploits' race windows), file handles (which
// bypass path-based checks), the clock, swap, accounting, quotas, the kernel
// log and io_uring (a large, separately audited path into the kernel).
// Most of them need a capability the program does not have anyway; the filter
// is the second wall, for kernel bugs behind the capability checks.
constexpr std::string_view kRefused[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "unshare", "setns",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key",
    "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "reboot", "swapon", "swapoff",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
    "acct", "quotactl", "quotactl_fd",
    "syslog", "vhangup", "iopl", "ioperm", "lookup_dcookie", "uselib", "_sysctl", "nfsservctl", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

// The namespace flags of clone(2): a program may start processes and
// threads, but no namespaces (unshare and setns are refused above).
constexpr std::uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                              CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET, 0x00000080 /* CLONE_NEWTIME */};

// The personality(2) flags that weaken the program's own defences (ASLR,
// non-executable data, a mapping at address 0) or change old semantics.
constexpr std::uint64_t kPersonalityFlags[] = {0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0100000 /* MMAP_PAGE_ZERO */,
                                               0x0200000 /* ADDR_COMPAT_LAYOUT */, 0x0400000 /* READ_IMPLIES_EXEC */,
                                               0x0800000 /* ADDR_LIMIT_32BIT */, 0x1000000 /* SHORT_INODE */,
                                               0x2000000 /* WHOLE_SECONDS */, 0x4000000 /* STICKY_TIMEOUTS */,
                                               0x8000000 /* ADDR_LIMIT_3GB */};

class FilterContext {
 public:
  FilterContext() : context_(seccomp_init(SCMP_ACT_ALLOW)) {
    if (context_ == nullptr) throw Error("model sandbox: cannot build the system-call filter (seccomp_init failed)");
    // A call through another ABI than the dock's (32-bit int 0x80 on x86-64,
    // x32) would bypass every rule, which name the native numbers: such a
    // call kills the program.
    if (seccomp_attr_set(context_, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) {
      seccomp_release(context_);
      throw Error("model sandbox: cannot build the system-call filter (bad-architecture action)");
    }
  }
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;
  ~FilterContext() { seccomp_release(context_); }

  // Rules for a call this architecture lacks (stime, umount, _sysctl on
  // x86-64) are skipped: there is nothing to refuse.
  void refuse(std::string_view name, std::uint32_t action, unsigned count = 0, const scmp_arg_cmp* comparisons = nullptr) {
    const int number = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (number == __NR_SCMP_ERROR) return;
    const int rc = seccomp_rule_add_array(context_, action, number, count, comparisons);
    if (rc != 0)
      throw Error("model sandbox: cannot build the system-call filter (rule for " + std::string(name) +
                  "): " + std::generic_category().message(-rc));
  }

  void refuse_when(std::string_view name, const scmp_arg_cmp& comparison) {
    refuse(name, SCMP_ACT_ERRNO(EPERM), 1, &comparison);
  }

  std::string program() const {
    const int fd = memfd_create("lwdock-seccomp", MFD_CLOEXEC);
    if (fd < 0) throw Error("model sandbox: cannot build the system-call filter: " + std::generic_category().message(errno));
    std::string bytes;
    const int rc = seccomp_export_bpf(context_, fd);
    if (rc == 0) {
      char buffer[4096];
      ssize_t n = 0;
      ::lseek(fd, 0, SEEK_SET);
      while ((n = ::read(fd, buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (rc != 0 || bytes.empty())
      throw Error("model sandbox: cannot build the system-call filter (seccomp_export_bpf failed)");
    return bytes;
  }

 private:
  scmp_filter_ctx context_;
};

std::string build_filter() {
  FilterContext filter;
  for (const std::string_view name : kRefused) filter.refuse(name, SCMP_ACT_ERRNO(EPERM));

  // clone3 passes its flags in memory, where a filter cannot look: ENOSYS
  // makes glibc (threads, posix_spawn) fall back to clone, whose flags it can.
  filter.refuse("clone3", SCMP_ACT_ERRNO(ENOSYS));
#if defined(__s390x__) || defined(__s390__)
  constexpr unsigned kCloneFlagsArgument = 1;  // clone(stack, flags, ...) there
#else
  constexpr unsigned kCloneFlagsArgument = 0;
#endif
  for (const std::uint64_t flag : kNamespaceFlags)
    filter.refuse_when("clone", SCMP_CMP(kCloneFlagsArgument, SCMP_CMP_MASKED_EQ, flag, flag));

  // Sockets: AF_UNIX (local IPC, which runtimes use), and AF_INET/AF_INET6
  // (they reach nothing in the run's empty network namespace, but libraries
  // probe them and should see the network fail as it fails offline); every
  // other family -- netlink, packet, key, alg, vsock, bluetooth... -- is
  // kernel surface a model has no use for. The argument is compared as 64
  // bits, so a value with junk above the int the kernel reads is refused too.
  for (const std::string_view call : {"socket", "socketpair"}) {
    filter.refuse_when(call, SCMP_A0(SCMP_CMP_GT, AF_INET6));
    for (std::uint64_t family = 0; family < AF_INET6; ++family)
      if (family != AF_UNIX && family != AF_INET) filter.refuse_when(call, SCMP_A0(SCMP_CMP_EQ, family));
  }

  // personality(2): the query (0xffffffff) and the harmless personas pass; a
  // change that sets one of kPersonalityFlags is refused. libseccomp rules
  // compare an argument once, so "flag set and not the query" is written as
  // "flag set and bit 31 clear", plus "bit 31 set and some other bit clear"
  // (which only the query escapes). The kernel reads 32 bits; the masks do too.
  constexpr std::uint64_t kBit31 = 0x80000000;
  for (const std::uint64_t flag : kPersonalityFlags)
    filter.refuse_when("personality", SCMP_A0(SCMP_CMP_MASKED_EQ, flag | kBit31, flag));
  for (unsigned bit = 0; bit < 31; ++bit)
    filter.refuse_when("personality", SCMP_A0(SCMP_CMP_MASKED_EQ, kBit31 | (std::uint64_t{1} << bit), kBit31));
  return filter.program();
}

}  // namespace

const std::string& sandbox_syscall_filter() {
  static const std::string program = build_filter();
  return program;
}

}  // namespace lwd
