// The model sandbox (engine/model/sandbox.h), driven through ProcessModel as
// the checker's probe and reuse drive it: hostile process models, written by
// each test as shell or perl scripts, try to read the dock's secrets, write
// outside their scratch directory, reach the network, outlive the run,
// exhaust memory, processes, CPU or disk, or hang the dock with a huge
// timeout. Each test asserts what the model managed to do, never how fast
// the run was (the machine is shared); the caps are short (1-2 s) only so
// that a broken limit fails the test quickly instead of hanging it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/process_model.h"
#include "engine/model/sandbox.h"
#include "tests/model/model_test_util.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using kernels::Matrix;
using test::expect_error_mentions;
using test::ScratchDir;

SandboxLimits short_limits() {
  SandboxLimits limits;
  limits.wall_seconds_cap = 20.0;  // a broken limit fails in seconds, not minutes
  return limits;
}

// A one-input, one-output process model running `script` (a bash script unless
// it says otherwise on its #! line).
ProcessModel script_model(const ScratchDir& package, const std::string& script, const SandboxLimits& limits,
                          double timeout_seconds = 30.0) {
  package.write("model.sh", script, true);
  ModelConfig config;
  config.kind = "process";
  config.task = TaskType::kRegression;
  config.input_dim = 1;
  config.output_dim = 1;
  config.command = {"./model.sh"};
  config.timeout_seconds = timeout_seconds;
  config.sandbox = limits;
  return ProcessModel(config, package.path());
}

// The model's one answer to one row.
double answer(const ProcessModel& model) {
  const Matrix<double> x(1, 1, 1.0);
  return model.predict(x.cview())(0, 0);
}

// The message of the lwd::Error that predict throws ("" and a failure if none).
std::string failure_of(const ProcessModel& model) {
  const Matrix<double> x(1, 1, 1.0);
  try {
    model.predict(x.cview());
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "predict was expected to fail";
  return "";
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ModelSandbox, TheDocksEnvironmentIsNotVisible) {
  ScratchDir package;
  const std::string secret = "s3cr3t-" + std::to_string(::getpid());
  ASSERT_EQ(::setenv("LWD_TEST_SECRET", secret.c_str(), 1), 0);
  // The model prints its whole environment where the dock quotes it: stderr.
  const auto model = script_model(package, "#!/bin/bash\nenv >&2\nexit 3\n", short_limits());
  const std::string message = failure_of(model);
  ::unsetenv("LWD_TEST_SECRET");
  EXPECT_EQ(message.find(secret), std::string::npos) << message;
  EXPECT_EQ(message.find("LWD_TEST_SECRET"), std::string::npos) << message;
  // What the protocol promises is there.
  for (const char* entry : {"LWDOCK_PACKAGE_ROOT=/package", "HOME=/tmp", "TMPDIR=/tmp", "PATH=/usr/local/bin:/usr/bin:/bin"})
    EXPECT_NE(message.find(entry), std::string::npos) << entry << " missing from: " << message;
}

TEST(ModelSandbox, WritesOutsideTheScratchDirectoryFailAndLeaveNoTrace) {
  ScratchDir package;
  ScratchDir market;     // stands for the market directory
  ScratchDir dock_cwd;   // the dock's working directory
  const std::string name = test::unique_process_name("planted");
  market.write("market.h5", "original");
  package.write("weights.txt", "7\n");
  const fs::path previous_cwd = fs::current_path();
  fs::current_path(dock_cwd.path());
  // Every write but the last is an attack; the answer is the package's own
  // weight if the scratch directory works and the package could be read.
  const std::string script = "#!/bin/bash\ncat > /dev/null\n"
                             "echo planted > \"$LWDOCK_PACKAGE_ROOT/planted\"\n"
                             "echo planted >> \"$0\"\n"
                             "echo planted > \"" + (market / "market.h5").string() + "\"\n"
                             "echo planted > \"" + (dock_cwd / name).string() + "\"\n"
                             "echo planted > /tmp/../" + name + "\n"
                             "echo planted > \"" + (fs::temp_directory_path() / name).string() + "\"\n"
                             "echo planted > /var/tmp/" + name + "\n"
                             "echo ok > \"$TMPDIR/scratch\" && [ \"$(cat \"$TMPDIR/scratch\")\" = ok ] || exit 4\n"
                             "cat weights.txt\n";
  const auto model = script_model(package, script, short_limits());
  double out = 0;
  EXPECT_NO_THROW(out = answer(model));
  fs::current_path(previous_cwd);
  EXPECT_EQ(out, 7.0);
  EXPECT_FALSE(fs::exists(package / "planted"));
  EXPECT_EQ(read_text(package / "model.sh"), script) << "the model rewrote its own package";
  EXPECT_EQ(read_text(market / "market.h5"), "original");
  EXPECT_FALSE(fs::exists(dock_cwd / name));
  EXPECT_FALSE(fs::exists(fs::path("/") / name));
  EXPECT_FALSE(fs::exists(fs::path("/tmp") / name));
  EXPECT_FALSE(fs::exists(fs::temp_directory_path() / name));
  EXPECT_FALSE(fs::exists(fs::path("/var/tmp") / name));
}

TEST(ModelSandbox, ADaemonDoesNotOutliveTheRun) {
  ScratchDir package;
  const std::string daemon = test::unique_process_name("daemon");
  // A daemon in a session of its own (out of reach of a process-group kill)
  // tells the model through a fifo that it runs; the model then answers and
  // exits, leaving it behind.
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\nmkfifo \"$TMPDIR/ready\"\n"
                                  "setsid bash -c 'echo > \"$TMPDIR/ready\"; exec -a " + daemon +
                                      " sleep 1000' < /dev/null > /dev/null 2>&1 &\n"
                                      "read < \"$TMPDIR/ready\"\necho 1\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 1.0);
  EXPECT_TRUE(test::no_process_named(daemon)) << "the daemon survived the run";
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a child was left unreaped";
}

TEST(ModelSandbox, EveryProcessOfTheRunDiesWithTheDock) {
  ScratchDir package;
  const std::string daemon = test::unique_process_name("orphan");
  const std::string sleeper = test::unique_process_name("sleeper");
  // A daemon in a session of its own, and the model itself never answering:
  // the run is under way when the dock dies.
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\nsetsid bash -c 'exec -a " + daemon +
                                      " sleep 1000' < /dev/null > /dev/null 2>&1 &\nexec -a " + sleeper + " sleep 1000\n",
                                  short_limits());
  // The dock: a child of the test that runs the model and is killed mid-run.
  const pid_t dock = ::fork();
  ASSERT_GE(dock, 0);
  if (dock == 0) {
    try {
      answer(model);
    } catch (...) {
    }
    ::_exit(0);
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool started = false;
  while (!(started = !test::live_processes_named(daemon).empty() && !test::live_processes_named(sleeper).empty()) &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(dock, SIGKILL);
  ::waitpid(dock, nullptr, 0);
  const bool daemon_gone = test::no_process_named(daemon);
  const bool sleeper_gone = test::no_process_named(sleeper);
  // Where they survived, they go now, so that the failure harms nothing else.
  for (const std::string& name : {daemon, sleeper})
    for (const pid_t pid : test::live_processes_named(name)) ::kill(pid, SIGKILL);
  EXPECT_TRUE(started) << "the model never started its processes";
  EXPECT_TRUE(daemon_gone) << "the daemon outlived the dock";
  EXPECT_TRUE(sleeper_gone) << "the model outlived the dock";
}

TEST(ModelSandbox, TheNetworkIsUnreachable) {
  ScratchDir package;
  // A listener on the dock's loopback: the model must not reach it.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));

  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\n"
                                  "if (exec 3<>/dev/tcp/127.0.0.1/" + port + ") 2>/dev/null; then echo 1; else echo 0; fi\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 0.0) << "the model connected to 127.0.0.1:" << port;
  errno = 0;
  const int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_EQ(accepted, -1) << "the listener saw a connection";
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
}

TEST(ModelSandbox, AllocationBeyondTheAddressSpaceLimitFails) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.address_space_bytes = std::uint64_t{256} << 20;
  // 1 GB in one string: far past the limit, small enough for any test machine
  // if the limit were missing (the answer would then be its length).
  const auto model = script_model(package,
                                  "#!/usr/bin/perl\nmy $x = 'a' x 1_000_000_000;\nprint length($x), \"\\n\";\n", limits);
  const std::string message = failure_of(model);
  EXPECT_NE(message.find("Out of memory"), std::string::npos) << message;
  EXPECT_NE(message.find("256 MiB of address space"), std::string::npos) << message;
}

TEST(ModelSandbox, AForkBombIsBoundedByTheProcessLimitAndLeavesNothing) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.processes = 16;
  limits.wall_seconds_cap = 2.0;
  const std::string child = test::unique_process_name("bomb");
  // Forks until fork fails (at most 300 times, so that a missing limit fails
  // the test without harming the machine); each child leaves the session
  // and sleeps under a name of its own. The count goes to stderr, and the
  // model then never answers: the run ends at the wall-clock cap.
  const auto model = script_model(package,
                                  "#!/usr/bin/perl\nuse POSIX ();\nmy $n = 0;\nfor (1 .. 300) {\n"
                                  "  my $pid = fork();\n  last unless defined $pid;\n"
                                  "  if ($pid == 0) { POSIX::setsid(); exec { '/bin/sleep' } '" + child + "', '1000'; }\n"
                                  "  $n++;\n}\nprint STDERR \"forked $n\\n\";\nsleep 1000;\n",
                                  limits);
  const std::string message = failure_of(model);
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  const auto at = message.find("forked ");
  ASSERT_NE(at, std::string::npos) << message;
  const int forked = std::stoi(message.substr(at + 7));
  EXPECT_GE(forked, 1);
  EXPECT_LT(forked, 16) << message;
  EXPECT_TRUE(test::no_process_named(child)) << "processes of the fork bomb survived the run";
}

TEST(ModelSandbox, HugeTimeoutsAreClampedToTheDocksCap) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.wall_seconds_cap = 1.0;
  for (const double timeout : {1e9, 1e30, std::numeric_limits<double>::max()}) {
    const auto model = script_model(package, "#!/bin/bash\nexec sleep 1000\n", limits, timeout);
    EXPECT_EQ(model.timeout_seconds(), timeout);
    expect_error_mentions([&] { answer(model); }, {"timed out after 1 s", "capped by the dock at 1"});
  }
}

TEST(ModelSandbox, NonFiniteOrNonPositiveTimeoutsAreRefusedAtLoad) {
  ScratchDir package;
  for (const double timeout : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 0.0,
                               -1.0})
    expect_error_mentions([&] { script_model(package, "#!/bin/bash\necho 1\n", short_limits(), timeout); },
                          {"timeout_seconds must be a finite number of seconds > 0"});
}

TEST(ModelSandbox, AModelThatSleepsForeverIsKilledAtTheCap) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.wall_seconds_cap = 1.0;
  const std::string sleeper = test::unique_process_name("sleeper");
  // The package's own timeout (30 s) is above the cap; the cap decides.
  const auto model = script_model(package, "#!/bin/bash\nexec -a " + sleeper + " sleep 1000\n", limits);
  expect_error_mentions([&] { answer(model); },
                        {"timed out after 1 s (timeout_seconds 30, capped by the dock at 1)", "killed"});
  EXPECT_TRUE(test::no_process_named(sleeper));
}

TEST(ModelSandbox, TheCpuTimeLimitStopsABusyLoop) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.cpu_seconds = 1;
  // Without the limit the loop would run into the 20 s wall-clock cap instead.
  const auto model = script_model(package, "#!/usr/bin/perl\n1 while 1;\n", limits);
  expect_error_mentions([&] { answer(model); }, {"killed by signal", "SIGXCPU"});
}

TEST(ModelSandbox, TheFileSizeLimitStopsALargeWrite) {
  ScratchDir package;
  SandboxLimits limits = short_limits();
  limits.file_size_bytes = std::uint64_t{1} << 20;
  // head is killed by SIGXFSZ at the limit; the model reports what was written.
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\nhead -c 5000000 /dev/zero > \"$TMPDIR/big\"\n"
                                  "stat -c %s \"$TMPDIR/big\"\n",
                                  limits);
  EXPECT_LE(answer(model), static_cast<double>(std::uint64_t{1} << 20));
}

TEST(ModelSandbox, TheModelRunsWithoutPrivileges) {
  ScratchDir package;
  // 1 when the model has no effective capability at all.
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\n"
                                  "awk '/^CapEff:/ { print ($2 == \"0000000000000000\") ? 1 : 0 }' /proc/self/status\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 1.0);
}

TEST(ModelSandbox, NestedUserNamespacesAreRefused) {
  ScratchDir package;
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\n"
                                  "if unshare --user --map-root-user true 2>/dev/null; then echo 1; else echo 0; fi\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 0.0);
}

TEST(ModelSandbox, TheDocksProcessesAreInvisible) {
  ScratchDir package;
  const auto model = script_model(package,
                                  "#!/bin/bash\ncat > /dev/null\n"
                                  "if kill -0 " + std::to_string(::getpid()) + " 2>/dev/null || [ -e /proc/" +
                                      std::to_string(::getpid()) + " ]; then echo 1; else echo 0; fi\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 0.0);
}

TEST(ModelSandbox, ProgramsOutsideThePackageAndTheSystemFoldersAreRefusedAtLoad) {
  ScratchDir package;
  ScratchDir elsewhere;
  elsewhere.write("run.sh", "#!/bin/bash\necho 1\n", true);
  ModelConfig config;
  config.kind = "process";
  config.input_dim = 1;
  config.output_dim = 1;
  config.command = {(elsewhere / "run.sh").string()};
  expect_error_mentions([&] { load_model(config, package.path()); }, {"run.sh", "outside both the package"});
}

TEST(ModelSandbox, InvalidLimitsAreRefusedNamingTheField) {
  SandboxLimits limits;
  limits.wall_seconds_cap = std::numeric_limits<double>::quiet_NaN();
  expect_error_mentions([&] { validate_sandbox_limits(limits); }, {"wall_seconds_cap"});
  limits = SandboxLimits{};
  limits.wall_seconds_cap = 1e300;
  expect_error_mentions([&] { validate_sandbox_limits(limits); }, {"wall_seconds_cap"});
  limits = SandboxLimits{};
  limits.processes = 0;
  expect_error_mentions([&] { validate_sandbox_limits(limits); }, {"processes"});
  limits = SandboxLimits{};
  limits.cpu_seconds = std::numeric_limits<std::uint64_t>::max();
  expect_error_mentions([&] { validate_sandbox_limits(limits); }, {"cpu_seconds"});
}

TEST(ModelSandbox, RunSandboxedServesOtherCallersToo) {
  ScratchDir package;
  package.write("upper.sh", "#!/bin/bash\ntr a-z A-Z\n", true);
  SandboxCommand command;
  command.executable = package / "upper.sh";
  command.argv = {"./upper.sh"};
  command.package_root = package.path();
  command.context = "upper.sh";
  StringSandboxInput input("hello sandbox\n");
  const SandboxRun run = run_sandboxed(command, short_limits(), input, 1 << 10);
  EXPECT_EQ(run.end, SandboxRun::End::kExited);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.stdout_text, "HELLO SANDBOX\n");
}

// Runs tests/model/sandbox_probe (copied into a package) with `calls`, in the
// sandbox or not, and returns what it reported for each call.
std::map<std::string, std::string> probe(const std::vector<std::string>& calls, bool sandboxed) {
  ScratchDir package;
  const fs::path program = package / "sandbox_probe";
  fs::copy_file(LWD_SANDBOX_PROBE, program);
  fs::permissions(program, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  SandboxCommand command;
  command.executable = program;
  command.argv = {"./sandbox_probe"};
  command.argv.insert(command.argv.end(), calls.begin(), calls.end());
  command.package_root = package.path();
  command.context = "sandbox_probe";
  SandboxLimits limits = short_limits();
  limits.unsandboxed = !sandboxed;
  StringSandboxInput input("");
  const SandboxRun run = run_sandboxed(command, limits, input, 1 << 16);
  EXPECT_EQ(run.end, SandboxRun::End::kExited) << run.stderr_tail;
  EXPECT_EQ(run.exit_code, 0) << run.stderr_tail;
  std::map<std::string, std::string> results;
  std::istringstream lines(run.stdout_text);
  std::string call;
  std::string result;
  while (lines >> call >> result) results[call] = result;
  return results;
}

// unshare after clone-newuser: outside the sandbox it succeeds, and a user
// namespace without id maps may not create another. ptrace last: once
// traced, the probe would stop at its next signal.
const std::vector<std::string> kRefusedCalls = {"clone-newuser", "unshare",     "mount", "netlink",
                                                "userfaultfd",   "personality", "ptrace"};

TEST(ModelSandbox, TheSystemCallFilterRefusesWhatAModelHasNoBusinessDoing) {
  const auto results = probe(kRefusedCalls, true);
  for (const std::string& call : kRefusedCalls) {
    const auto found = results.find(call);
    ASSERT_NE(found, results.end()) << call << " not probed";
    EXPECT_EQ(found->second, "EPERM") << call;
  }
}

// The control of the test above: outside the sandbox the same calls succeed
// or fail otherwise, so EPERM inside is the filter's doing.
TEST(ModelSandbox, TheProbedCallsAreNotRefusedOutsideTheSandbox) {
  const auto results = probe(kRefusedCalls, false);
  for (const std::string& call : kRefusedCalls) {
    const auto found = results.find(call);
    ASSERT_NE(found, results.end()) << call << " not probed";
    EXPECT_NE(found->second, "EPERM") << call;
  }
}

TEST(ModelSandbox, TheSystemCallFilterLetsOrdinaryCallsThrough) {
  const std::vector<std::string> calls = {"unix", "inet", "fork", "thread", "personality-query"};
  const auto results = probe(calls, true);
  for (const std::string& call : calls) {
    const auto found = results.find(call);
    ASSERT_NE(found, results.end()) << call << " not probed";
    EXPECT_EQ(found->second, "ok") << call;
  }
}

TEST(ModelSandbox, PythonRunsUnderTheSystemCallFilter) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  ScratchDir package;
  // Threads, a subprocess, a socket pair and a scratch file: each adds one.
  const auto model = script_model(package,
                                  "#!/usr/bin/python3\nimport socket, subprocess, sys, tempfile, threading\n"
                                  "sys.stdin.read()\nparts = []\n"
                                  "t = threading.Thread(target=lambda: parts.append(1)); t.start(); t.join()\n"
                                  "parts.append(int(subprocess.run(['sh', '-c', 'echo 1'], capture_output=True).stdout))\n"
                                  "a, b = socket.socketpair(); a.sendall(b'1'); parts.append(int(b.recv(1)))\n"
                                  "with tempfile.TemporaryFile() as f:\n"
                                  "    f.write(b'1'); f.seek(0); parts.append(int(f.read()))\n"
                                  "print(sum(parts))\n",
                                  short_limits());
  EXPECT_EQ(answer(model), 4.0);
}

}  // namespace
}  // namespace lwd
