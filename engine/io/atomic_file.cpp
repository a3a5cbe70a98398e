#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <streambuf>
#include <string>
#include <system_error>
#include <vector>

#include "engine/error.h"

namespace lwd::io {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int err) { return std::generic_category().message(err); }

// An ostream buffer writing straight to a file descriptor, so the content
// never has to be held in memory twice and write errors keep their errno.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buffer_(1 << 16) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }

  // 0 when every byte reached the kernel, else the errno of the first failure.
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    const char* p = pbase();
    std::size_t left = static_cast<std::size_t>(pptr() - pbase());
    while (left > 0 && error_ == 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return error_ == 0;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

// The temporary lives next to the target (rename is only atomic within one
// file system) and is hidden, so a directory listing mid-write shows nothing new.
fs::path temp_path_for(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  static const unsigned long long salt = std::random_device{}();
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%u.%llx", static_cast<long>(::getpid()), counter.fetch_add(1), salt);
  std::string name = ".";
  name.append(target.filename().native());
  name.append(suffix);
  return target.parent_path() / name;
}

// Opens a fresh temporary with O_EXCL so two writers never share one, and with
// mode 0666 so the umask applies exactly as for a plain fopen().
int open_temp(const fs::path& target, fs::path& temp) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    temp = temp_path_for(target);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

[[noreturn]] void fail(const fs::path& path, const std::string& what) { throw Error(path.string() + ": " + what); }

void sync_directory(const fs::path& dir) {
  // Durability of the rename itself; failure here cannot undo the write, so it is not reported.
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  if (path.empty()) throw Error("cannot write a file with an empty name");
  const fs::path dir = path.parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec))
    fail(path, "cannot write: directory " + dir.string() + " does not exist");
  if (fs::is_directory(path, ec)) fail(path, "cannot write: it is a directory");

  fs::path temp;
  const int fd = open_temp(path, temp);
  if (fd < 0) fail(path, "cannot create a temporary file next to it: " + errno_text(errno));

  auto abandon = [&] {
    ::close(fd);
    ::unlink(temp.c_str());
  };

  int write_error = 0;
  bool stream_failed = false;
  try {
    FdStreamBuf buf(fd);
    std::ostream out(&buf);
    write(out);
    out.flush();
    write_error = buf.error();
    stream_failed = !out;
  } catch (...) {
    abandon();
    throw;
  }
  if (write_error != 0 || stream_failed) {
    abandon();
    fail(path, write_error != 0 ? "write failed: " + errno_text(write_error) : std::string("write failed"));
  }

  // Keep the permissions of a file we replace, as an in-place edit would.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) ::fchmod(fd, st.st_mode & 07777);

  if (::fsync(fd) != 0) {
    const int err = errno;
    abandon();
    fail(path, "fsync failed: " + errno_text(err));
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    fail(path, "close failed: " + errno_text(err));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    fail(path, "cannot replace: " + errno_text(err));
  }
  sync_directory(dir);
}

void write_text_file_atomically(const fs::path& path, std::string_view content) {
  write_file_atomically(
      path, [content](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

std::string read_text_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(path, "cannot read: it is a directory");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) fail(path, "cannot open: " + errno_text(errno));

  std::string content;
  // Regular files: one allocation of the right size instead of repeated growth.
  struct stat st {};
  if (::fstat(::fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    content.reserve(static_cast<std::size_t>(st.st_size));

  char chunk[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) content.append(chunk, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) fail(path, "read failed: " + errno_text(err));
  return content;
}

}  // namespace lwd::io
