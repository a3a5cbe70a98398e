// What the dock (engine/model/sandbox.cpp) and the sandbox's own program
// (lwdock-sandbox-init, engine/model/sandbox_init.cpp) tell each other: the
// plan of one run, which the dock writes into a memory file the program reads
// on a fixed descriptor, and the reports the program writes back on a pipe.
// Both sides are built from the same tree, so the format carries no version
// beyond a tag that catches a stale program left from another build.
//
// Header-only and free of the engine: the init program links nothing but libc.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace lwd::sandbox_plan {

// The first string of every plan.
inline constexpr std::string_view kTag = "lwdock-sandbox-plan-2";

// The descriptors the init program starts with: the program's stdin, stdout
// and stderr, then the report pipe, the plan, and the read end of a pipe
// whose write end only the dock holds (its end of file says the dock died).
// Everything else is closed.
inline constexpr int kReportFd = 3;
inline constexpr int kPlanFd = 4;
inline constexpr int kLifelineFd = 5;

// The uid and gid a run gets when the dock is root: RLIMIT_NPROC is not
// enforced for uid 0, so a model running as root could fork without bound.
inline constexpr unsigned kUnprivilegedId = 65534;

enum class MountKind : int { kBindDir, kBindFile, kSymlink, kTmpfs, kProc, kRemountReadOnly };

// Which step of a run's setup failed, reported to the dock with errno.
enum class Step : int {
  kPlan,        // reading the plan (a stale or foreign init program)
  kNamespaces,  // clone(2) into the new namespaces
  kIdMaps,      // writing the namespace's uid_map / gid_map
  kPrivateMounts,
  kRootTmpfs,
  kPivotRoot,
  kMount,  // mount number `index` of the plan
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
  kSyscallFilter,
  kExec,
};

// One record on the report pipe. Records are far smaller than PIPE_BUF, so
// each write is atomic even with the starter and init writing to one pipe.
struct Report {
  enum Kind : int { kSetupFailed = 1, kExited = 2, kStarted = 3 };
  int kind = 0;
  int step = 0;
  int index = -1;
  int error = 0;
  int status = 0;  // kExited: the program's wait status
  int pid = 0;     // kStarted: init's pid (in the dock's pid namespace)
};

// The plan is a sequence of byte strings, each a 4-byte length (host order),
// the bytes and a NUL (so that the init program can hand paths, argv and
// environment to the kernel where they lie); numbers are decimal strings.
// In order:
//
//   kTag, the dock's pid, the program's path inside the sandbox, its
//   working directory,
//   argv count + strings, environment count + strings,
//   rlimit count + (resource, soft, hard) triples,
//   mount count + (kind, source, target, flags, data) quintuples,
//   the seccomp filter (struct sock_filter[] as bytes; empty: none).
class Writer {
 public:
  void add(std::string_view bytes) {
    const auto length = static_cast<std::uint32_t>(bytes.size());
    text_.append(reinterpret_cast<const char*>(&length), sizeof length);
    text_.append(bytes);
    text_.push_back('\0');
  }
  void add_number(std::uint64_t value) { add(std::to_string(value)); }
  const std::string& bytes() const { return text_; }

 private:
  std::string text_;
};

// Reads a plan in place (no allocation: the init program parses it with the
// strings pointing into its own buffer). Every read fails softly; ok() says
// whether everything so far was well formed.
class Reader {
 public:
  Reader(const char* data, std::size_t size) : data_(data), size_(size) {}

  // The view's data() is NUL-terminated.
  std::string_view next() {
    std::uint32_t length = 0;
    if (!ok_ || size_ - offset_ < sizeof length) return fail();
    std::memcpy(&length, data_ + offset_, sizeof length);
    offset_ += sizeof length;
    if (size_ - offset_ <= length || data_[offset_ + length] != '\0') return fail();
    const std::string_view out(data_ + offset_, length);
    offset_ += length + 1;
    return out;
  }

  std::uint64_t next_number() {
    const std::string_view text = next();
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) fail();
    return value;
  }

  bool ok() const { return ok_; }
  bool at_end() const { return offset_ == size_; }

 private:
  std::string_view fail() {
    ok_ = false;
    return {};
  }

  const char* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
  bool ok_ = true;
};

}  // namespace lwd::sandbox_plan
