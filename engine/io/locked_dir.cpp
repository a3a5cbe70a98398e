#include "engine/io/locked_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "engine/error.h"

namespace lwd::io {

namespace fs = std::filesystem;

LockedDirectory make_locked_directory(const fs::path& parent, std::string_view prefix) {
  for (;;) {
    std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error("cannot create a directory in " + parent.string() + ": " + std::generic_category().message(errno));
    }
    const int fd = ::open(pattern.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    // Another process's sweep may have taken the new, not yet locked,
    // directory for abandoned and removed it already: a new name, then.
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) {
      const int err = errno;
      ::rmdir(pattern.c_str());
      throw Error("cannot open " + pattern + ": " + std::generic_category().message(err));
    }
    // Between mkdtemp and this lock a sweep may have taken the directory for
    // abandoned and removed it (it waits for the sweep to finish): then it
    // has no links left, and we start again with a new name.
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_nlink > 0) return LockedDirectory{fs::path(pattern), fd};
    ::close(fd);
  }
}

std::size_t remove_abandoned_directories(const fs::path& parent, std::string_view prefix) {
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0 || !entry.is_directory(ec) || entry.is_symlink(ec)) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      // Removed while we hold the lock, so a creator still between mkdtemp
      // and its own lock sees the removal when it gets the lock.
      fs::remove_all(entry.path(), ec);
      if (!ec) ++removed;
    }
    ::close(fd);
  }
  return removed;
}

}  // namespace lwd::io
