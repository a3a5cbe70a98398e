// Temporary directories that outlive a killed process only until the next
// sweep. make_locked_directory creates one (mkdtemp, mode 0700) and holds an
// flock on it through the returned descriptor; the kernel drops that lock when
// the process dies, however it dies, so remove_abandoned_directories can tell
// the directories of live processes (locked) from the debris of dead ones
// (unlocked) without trusting process ids, which the system reuses.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

namespace lwd::io {

struct LockedDirectory {
  std::filesystem::path path;
  int fd = -1;  // holds the lock; close it (after removing the directory) when done
};

// A new directory PARENT/PREFIXxxxxxx, locked. `parent` must exist. Throws
// lwd::Error naming `parent` when it cannot be created.
LockedDirectory make_locked_directory(const std::filesystem::path& parent, std::string_view prefix);

// Removes, with everything in them, the directories PARENT/PREFIX* that no
// process holds the lock of; returns how many. Errors are not reported (what
// cannot be removed now is tried again at the next sweep).
std::size_t remove_abandoned_directories(const std::filesystem::path& parent, std::string_view prefix);

}  // namespace lwd::io
