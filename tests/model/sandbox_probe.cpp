// sandbox_probe: makes the system calls named on its command line, one each,
// and prints "NAME RESULT" per line, RESULT being "ok" or the errno's name.
// test_sandbox.cpp runs it inside the model sandbox (where the seccomp filter
// should refuse some with EPERM) and outside (where the same calls must not
// fail that way, or the test would prove nothing). Each call is chosen so
// that without the filter it succeeds or fails with another errno, even for
// a process without capabilities.
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

// -1 with errno set, or anything else for success; descriptors are closed
// and children reaped, so the probe leaves nothing behind.
long close_if_open(long fd) {
  if (fd >= 0) ::close(static_cast<int>(fd));
  return fd;
}

long wait_if_child(long pid) {
  if (pid == 0) ::_exit(0);
  if (pid > 0) ::waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid;
}

void* nothing(void*) { return nullptr; }

long probe(const char* name) {
  const auto is = [name](const char* what) { return std::strcmp(name, what) == 0; };
  if (is("ptrace")) return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  // Without the filter: ENOSPC in the sandbox (nested user namespaces are
  // disabled there), success outside.
  if (is("unshare")) return ::unshare(CLONE_NEWUSER);
  if (is("clone-newuser")) return wait_if_child(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  // Without the filter: ENOENT (the target is looked up before the privilege check).
  if (is("mount")) return ::mount("none", "/nonexistent-lwd-probe", "tmpfs", 0, nullptr);
  if (is("netlink")) return close_if_open(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  // UFFD_USER_MODE_ONLY (1): allowed to unprivileged processes since Linux 5.11.
  if (is("userfaultfd")) return close_if_open(::syscall(SYS_userfaultfd, O_CLOEXEC | 1));
  if (is("personality")) return ::personality(READ_IMPLIES_EXEC);
  // What ordinary programs do, which the filter must let through.
  if (is("personality-query")) return ::personality(0xffffffff);
  if (is("unix")) return close_if_open(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (is("inet")) return close_if_open(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (is("fork")) return wait_if_child(::fork());
  if (is("thread")) {
    pthread_t thread;
    const int error = ::pthread_create(&thread, nullptr, nothing, nullptr);
    if (error != 0) {
      errno = error;
      return -1;
    }
    return ::pthread_join(thread, nullptr);
  }
  errno = EINVAL;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    errno = 0;
    const long result = probe(argv[i]);
    const int error = errno;
    if (result == -1 && error != 0)
      std::printf("%s %s\n", argv[i], strerrorname_np(error));
    else
      std::printf("%s ok\n", argv[i]);
  }
  return 0;
}
