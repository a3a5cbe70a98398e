#include "engine/package/package.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <system_error>
#include <utility>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/io/locked_dir.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

constexpr mode_t kStagedFileMode = 0644;
constexpr mode_t kStagedCommandMode = 0755;
// Staged folders are readable by everyone, like the files in them: when the
// dock runs as root, a process model runs as the sandbox's unprivileged uid
// and reads its package through them (engine/model/sandbox.h). The staged
// files are the package's, which the market keeps world-readable anyway.
constexpr mode_t kStagedFolderMode = 0755;
// 1980-01-01 00:00:00 in MS-DOS date/time encoding, the earliest a zip can
// hold: a fixed stamp keeps builds reproducible and independent of the time zone.
constexpr zip_uint16_t kFixedDosDate = (0 << 9) | (1 << 5) | 1;
constexpr zip_uint16_t kFixedDosTime = 0;

std::string errno_text(int err) { return std::generic_category().message(err); }

// Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "'" + string + "'".
std::string quoted(const fs::path& path) {
  std::string text(1, '\'');
  text += path.string();
  text += '\'';
  return text;
}

struct ZipArchiveDiscard {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using ZipArchivePtr = std::unique_ptr<zip_t, ZipArchiveDiscard>;

struct ZipFileClose {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileClose>;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the errno a deferred write error surfaces as.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::uint16_t read_u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t read_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t read_u64(const unsigned char* p) {
  return static_cast<std::uint64_t>(read_u32(p)) | (static_cast<std::uint64_t>(read_u32(p + 4)) << 32);
}

// ---- reading ----------------------------------------------------------------

// Prefixes every refusal with the archive, so a message from deep inside the
// extraction still says which upload was at fault.
class PackageErrors {
 public:
  explicit PackageErrors(const fs::path& zip) : prefix_("package '" + zip.string() + "': ") {}
  [[noreturn]] void fail(const std::string& problem) const { throw Error(prefix_ + problem); }

 private:
  std::string prefix_;
};

std::vector<unsigned char> read_bytes_at(std::ifstream& in, std::uint64_t offset, std::uint64_t count,
                                         const PackageErrors& errors) {
  std::vector<unsigned char> bytes(count);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
  if (!in) errors.fail("cannot read the archive's directory (file truncated or unreadable)");
  return bytes;
}

// The entry names exactly as the central directory stores them. libzip hands
// names out as C strings, which would silently cut "model.json\0../x" short;
// reading the raw bytes lets a NUL be refused instead. The entry count is
// checked here too, before anything sizeable is read.
std::vector<std::string> read_central_directory_names(const fs::path& zip, std::uint64_t file_size,
                                                      std::uint64_t max_entries, const PackageErrors& errors) {
  constexpr std::uint64_t kEndRecordSize = 22;
  constexpr std::uint64_t kMaxCommentSize = 0xffff;
  const auto not_a_zip = [&errors]() { errors.fail("not a zip archive (no end of central directory record)"); };
  if (file_size < kEndRecordSize) not_a_zip();

  std::ifstream in(zip, std::ios::binary);
  if (!in) errors.fail("cannot open the file for reading");
  const std::uint64_t tail_size = std::min(file_size, kEndRecordSize + kMaxCommentSize);
  const std::vector<unsigned char> tail = read_bytes_at(in, file_size - tail_size, tail_size, errors);

  std::uint64_t end_record = tail_size;  // position in `tail`; tail_size = not found
  for (std::uint64_t pos = tail_size - kEndRecordSize + 1; pos-- > 0;) {
    if (read_u32(&tail[pos]) == 0x06054b50 && pos + kEndRecordSize + read_u16(&tail[pos + 20]) <= tail_size) {
      end_record = pos;
      break;
    }
  }
  if (end_record == tail_size) not_a_zip();
  const unsigned char* eocd = &tail[end_record];
  std::uint64_t entry_count = read_u16(eocd + 10);
  std::uint64_t directory_size = read_u32(eocd + 12);
  std::uint64_t directory_offset = read_u32(eocd + 16);

  if (entry_count == 0xffff || directory_size == 0xffffffff || directory_offset == 0xffffffff) {
    // Zip64: the real values live in a zip64 end record, found through the
    // locator just before the classic record.
    const std::uint64_t eocd_in_file = file_size - tail_size + end_record;
    if (eocd_in_file < 20) errors.fail("corrupt zip64 archive (no zip64 end record locator)");
    const auto locator = read_bytes_at(in, eocd_in_file - 20, 20, errors);
    if (read_u32(locator.data()) != 0x07064b50) errors.fail("corrupt zip64 archive (no zip64 end record locator)");
    const std::uint64_t record_offset = read_u64(&locator[8]);
    if (record_offset > file_size || file_size - record_offset < 56) errors.fail("corrupt zip64 end record offset");
    const auto record = read_bytes_at(in, record_offset, 56, errors);
    if (read_u32(record.data()) != 0x06064b50) errors.fail("corrupt zip64 archive (bad zip64 end record)");
    entry_count = read_u64(&record[32]);
    directory_size = read_u64(&record[40]);
    directory_offset = read_u64(&record[48]);
  }
  if (entry_count > max_entries) {
    errors.fail("holds " + std::to_string(entry_count) + " entries, more than the limit of " +
                std::to_string(max_entries));
  }
  if (directory_offset > file_size || directory_size > file_size - directory_offset) {
    errors.fail("corrupt archive (central directory lies outside the file; truncated download?)");
  }

  const auto directory = read_bytes_at(in, directory_offset, directory_size, errors);
  std::vector<std::string> names;
  std::uint64_t pos = 0;
  for (std::uint64_t i = 0; i < entry_count; ++i) {
    constexpr std::uint64_t kHeaderSize = 46;
    if (directory_size - pos < kHeaderSize || read_u32(&directory[pos]) != 0x02014b50) {
      errors.fail("corrupt archive (central directory entry " + std::to_string(i) + " is damaged)");
    }
    const std::uint64_t name_size = read_u16(&directory[pos + 28]);
    const std::uint64_t record_size =
        kHeaderSize + name_size + read_u16(&directory[pos + 30]) + read_u16(&directory[pos + 32]);
    if (directory_size - pos < record_size) {
      errors.fail("corrupt archive (central directory entry " + std::to_string(i) + " is cut short)");
    }
    names.emplace_back(reinterpret_cast<const char*>(&directory[pos + kHeaderSize]), name_size);
    pos += record_size;
  }
  return names;
}

std::string libzip_open_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

struct PlannedEntry {
  zip_uint64_t index = 0;
  std::string name;  // without the trailing '/' of a directory
  bool is_directory = false;
  bool declared_size_known = false;
  std::uint64_t declared_size = 0;
};

// The names alone, checked before libzip parses anything: each must be a safe
// relative path, none may repeat ("a" and "a/" are the same path on disk), and
// no entry may lie below a file ("a" and "a/b" cannot both exist).
void check_entry_names(const std::vector<std::string>& raw_names, const PackageErrors& errors) {
  std::set<std::string> seen;
  std::set<std::string> files;
  for (std::size_t index = 0; index < raw_names.size(); ++index) {
    const std::string& raw = raw_names[index];
    const bool is_directory = !raw.empty() && raw.back() == '/';
    const std::string name = is_directory ? raw.substr(0, raw.size() - 1) : raw;
    if (const std::string problem = archive_name_problem(name); !problem.empty()) {
      errors.fail("refusing entry " + std::to_string(index) + ": its name is unsafe: " + problem);
    }
    if (!seen.insert(name).second) errors.fail("entry '" + io::excerpt(name) + "' appears more than once");
    if (!is_directory) files.insert(name);
  }
  for (const std::string& name : seen) {
    for (std::size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
      const std::string parent = name.substr(0, slash);
      if (files.count(parent) != 0) {
        errors.fail("entry '" + io::excerpt(name) + "' lies inside '" + io::excerpt(parent) + "', which is a file, not a folder");
      }
    }
  }
}

// Everything else that can be decided from the archive's directory, before a
// byte is extracted: entry types, encryption, declared sizes.
std::vector<PlannedEntry> plan_entries(zip_t* archive, const std::vector<std::string>& raw_names,
                                       const PackageErrors& errors) {
  const zip_int64_t entry_count = zip_get_num_entries(archive, 0);
  if (entry_count < 0 || static_cast<std::uint64_t>(entry_count) != raw_names.size()) {
    errors.fail("corrupt archive (the central directory and libzip disagree on the number of entries)");
  }
  std::vector<PlannedEntry> plan;
  for (zip_uint64_t index = 0; index < raw_names.size(); ++index) {
    const std::string& raw = raw_names[index];
    PlannedEntry entry;
    entry.index = index;
    entry.is_directory = raw.back() == '/';
    entry.name = entry.is_directory ? raw.substr(0, raw.size() - 1) : raw;
    const char* libzip_name = zip_get_name(archive, index, ZIP_FL_ENC_RAW);
    if (libzip_name == nullptr || raw != libzip_name) {
      errors.fail("corrupt archive (entry '" + io::excerpt(entry.name) + "' has inconsistent names in its headers)");
    }

    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive, index, 0, &stat) != 0) {
      errors.fail("cannot read entry '" + io::excerpt(entry.name) + "': " + zip_error_strerror(zip_get_error(archive)));
    }
    if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && stat.encryption_method != ZIP_EM_NONE) {
      errors.fail("entry '" + io::excerpt(entry.name) + "' is encrypted; packages must not be encrypted");
    }
    entry.declared_size_known = (stat.valid & ZIP_STAT_SIZE) != 0;
    entry.declared_size = stat.size;

    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    if (zip_file_get_external_attributes(archive, index, 0, &opsys, &attributes) != 0) {
      errors.fail("cannot read the attributes of entry '" + io::excerpt(entry.name) + "'");
    }
    if (opsys == ZIP_OPSYS_UNIX) {
      const mode_t type = static_cast<mode_t>(attributes >> 16) & S_IFMT;
      if (type == S_IFLNK) errors.fail("entry '" + io::excerpt(entry.name) + "' is a symbolic link; packages must not hold links");
      if (type == S_IFDIR && !entry.is_directory) {
        errors.fail("entry '" + io::excerpt(entry.name) + "' is marked as a directory but its name does not end in '/'");
      }
      if (type != 0 && type != S_IFREG && type != S_IFDIR) {
        errors.fail("entry '" + io::excerpt(entry.name) + "' is a special file (device, FIFO or socket); only files are allowed");
      }
    }
    plan.push_back(std::move(entry));
  }
  return plan;
}

// Inflates one entry through `consume`, counting the bytes that really come
// out: the declared size is only a hint, a hostile archive can understate it.
// Throws once the count passes `limit`, after at most one buffer too many.
std::uint64_t inflate_entry(zip_t* archive, const PlannedEntry& entry, std::uint64_t limit,
                            const std::string& limit_description, const PackageErrors& errors,
                            const std::function<void(const char*, std::size_t)>& consume) {
  ZipFilePtr file(zip_fopen_index(archive, entry.index, 0));
  if (!file) {
    errors.fail("cannot open entry '" + io::excerpt(entry.name) + "': " + zip_error_strerror(zip_get_error(archive)));
  }
  std::array<char, 1 << 16> buffer;
  std::uint64_t total = 0;
  for (;;) {
    const zip_int64_t got = zip_fread(file.get(), buffer.data(), buffer.size());
    if (got < 0) {
      errors.fail("corrupt archive (cannot extract entry '" + io::excerpt(entry.name) + "': " + zip_file_strerror(file.get()) + ")");
    }
    if (got == 0) break;
    total += static_cast<std::uint64_t>(got);
    if (total > limit) {
      errors.fail("entry '" + io::excerpt(entry.name) + "' expands to more than " + std::to_string(limit) + " bytes (" +
                  limit_description + ")");
    }
    consume(buffer.data(), static_cast<std::size_t>(got));
  }
  if (entry.declared_size_known && total != entry.declared_size) {
    errors.fail("corrupt archive (entry '" + io::excerpt(entry.name) + "' holds " + std::to_string(total) +
                " bytes but its header declares " + std::to_string(entry.declared_size) + ")");
  }
  return total;
}

void write_all(int fd, const char* data, std::size_t size, const fs::path& path, const PackageErrors& errors) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      errors.fail("cannot write staged file " + quoted(path) + ": " + errno_text(errno));
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

// True when `path`, taken lexically, is `root` or lies below it.
bool lies_inside(const fs::path& root, const fs::path& path) {
  const fs::path normal_root = root.lexically_normal();
  const fs::path normal_path = path.lexically_normal();
  auto r = normal_root.begin();
  auto p = normal_path.begin();
  for (; r != normal_root.end(); ++r, ++p) {
    if (r->empty()) continue;  // the trailing "" of "dir/"
    if (p == normal_path.end() || *r != *p) return false;
  }
  return true;
}

// Creates the folders above a staged file one at a time with mkdir, which never
// follows a symlink into somewhere else (and the staging directory holds none).
void create_parent_folders(const fs::path& root, const std::string& name, const PackageErrors& errors) {
  fs::path current = root;
  const fs::path relative(name);
  for (auto it = relative.begin(); it != relative.end(); ++it) {
    if (std::next(it) == relative.end()) break;
    current /= *it;
    if (::mkdir(current.c_str(), kStagedFolderMode) != 0 && errno != EEXIST) {
      errors.fail("cannot create folder " + quoted(current) + ": " + errno_text(errno));
    }
  }
}

io::LockedDirectory make_staging_directory(const fs::path& staging_parent, const PackageErrors& errors) {
  // Absolute, so the staged paths stay valid if the process changes directory.
  const fs::path parent = fs::absolute(staging_parent.empty() ? fs::temp_directory_path() : staging_parent);
  // mkdtemp creates the directory with mode 0700; see kStagedFolderMode.
  io::LockedDirectory dir;
  try {
    dir = io::make_locked_directory(parent, kStagingPrefix);
  } catch (const Error& e) {
    errors.fail(std::string("cannot create a staging directory: ") + e.what());
  }
  if (::chmod(dir.path.c_str(), kStagedFolderMode) != 0) {
    const int chmod_errno = errno;
    std::error_code ec;
    fs::remove(dir.path, ec);
    ::close(dir.fd);
    errors.fail("cannot set the mode of the staging directory " + dir.path.string() + ": " + errno_text(chmod_errno));
  }
  return dir;
}

// ---- writing ----------------------------------------------------------------

[[noreturn]] void fail_build(const fs::path& out_zip, const std::string& problem) {
  throw Error("cannot build package '" + out_zip.string() + "': " + problem);
}

// A temporary archive path next to the target, removed unless released.
class TemporaryArchive {
 public:
  explicit TemporaryArchive(const fs::path& out_zip) : out_zip_(out_zip) {
    const fs::path folder = out_zip.parent_path().empty() ? fs::path(".") : out_zip.parent_path();
    std::string hidden_name = out_zip.filename().string();
    hidden_name.insert(hidden_name.begin(), '.');  // hidden: a listing mid-write shows nothing new
    hidden_name += ".tmp-XXXXXX";
    std::string pattern = (folder / hidden_name).string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) fail_build(out_zip, "cannot create a temporary file in " + quoted(folder) + ": " + errno_text(errno));
    path_ = pattern;
    // mkstemp's 0600 would carry over to the package (libzip keeps the mode of
    // the file it replaces); a package is meant to be shared.
    const int chmod_result = ::fchmod(fd, 0644);
    const int chmod_errno = errno;
    ::close(fd);
    if (chmod_result != 0)
      fail_build(out_zip, "cannot set the mode of " + quoted(path_) + ": " + errno_text(chmod_errno));
  }
  TemporaryArchive(const TemporaryArchive&) = delete;
  TemporaryArchive& operator=(const TemporaryArchive&) = delete;
  ~TemporaryArchive() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const fs::path& path() const { return path_; }

  void commit() {
    const FileDescriptor file(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0 || ::fsync(file.get()) != 0) {
      fail_build(out_zip_, "cannot flush " + quoted(path_) + ": " + errno_text(errno));
    }
    if (::rename(path_.c_str(), out_zip_.c_str()) != 0) {
      fail_build(out_zip_, "cannot move the finished archive into place: " + errno_text(errno));
    }
    path_.clear();
  }

 private:
  fs::path out_zip_;
  fs::path path_;
};

void add_archive_entry(zip_t* archive, const std::string& name, zip_source_t* source, mode_t mode,
                       const fs::path& out_zip) {
  if (source == nullptr)
    fail_build(out_zip, "cannot read '" + name + "': " + zip_error_strerror(zip_get_error(archive)));
  const zip_int64_t index = zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(source);
    fail_build(out_zip, "cannot add '" + name + "': " + zip_error_strerror(zip_get_error(archive)));
  }
  const auto entry = static_cast<zip_uint64_t>(index);
  if (zip_set_file_compression(archive, entry, ZIP_CM_DEFLATE, 0) != 0 ||
      zip_file_set_dostime(archive, entry, kFixedDosTime, kFixedDosDate, 0) != 0 ||
      zip_file_set_external_attributes(archive, entry, 0, ZIP_OPSYS_UNIX,
                                       static_cast<zip_uint32_t>(S_IFREG | mode) << 16) != 0) {
    fail_build(out_zip, "cannot set the attributes of '" + name + "': " + zip_error_strerror(zip_get_error(archive)));
  }
}

}  // namespace

// ---- StagedPackage ----------------------------------------------------------

StagedPackage::StagedPackage(fs::path root, int lock_fd, Manifest manifest)
    : root_(std::move(root)), lock_fd_(lock_fd), manifest_(std::move(manifest)) {}

StagedPackage::StagedPackage(StagedPackage&& other) noexcept
    : root_(std::exchange(other.root_, fs::path())),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      manifest_(std::move(other.manifest_)) {}

StagedPackage& StagedPackage::operator=(StagedPackage&& other) noexcept {
  if (this != &other) {
    remove_staging_directory();
    root_ = std::exchange(other.root_, fs::path());
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    manifest_ = std::move(other.manifest_);
  }
  return *this;
}

StagedPackage::~StagedPackage() { remove_staging_directory(); }

void StagedPackage::remove_staging_directory() noexcept {
  if (!root_.empty()) {
    std::error_code ignored;  // a destructor cannot report; the next sweep removes what is left
    fs::remove_all(root_, ignored);
    root_.clear();
  }
  // Unlocked only once removed, so a sweep never races the removal.
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

fs::path StagedPackage::path_of(std::string_view relative) const {
  if (const std::string problem = archive_name_problem(relative); !problem.empty()) {
    throw Error("package path is not usable: " + problem);
  }
  fs::path path = root_ / fs::path(std::string(relative));
  if (!lies_inside(root_, path)) throw Error("package path '" + std::string(relative) + "' leaves the package");
  return path;
}

std::string StagedPackage::semantic_json_text() const { return io::read_text_file(path_of(manifest_.semantic_file)); }

std::vector<fs::path> StagedPackage::stat_spec_paths() const {
  std::vector<fs::path> paths;
  paths.reserve(manifest_.stat_specs.size());
  for (const StatSpecEntry& entry : manifest_.stat_specs) paths.push_back(path_of(entry.file));
  return paths;
}

StagedPackage StagedPackage::open(const fs::path& zip, const PackageLimits& limits, const fs::path& staging_parent) {
  const PackageErrors errors(zip);
  std::error_code ec;
  const fs::file_status status = fs::status(zip, ec);
  if (ec || !fs::exists(status)) errors.fail("no such file");
  if (!fs::is_regular_file(status)) errors.fail("not a regular file");
  const std::uint64_t file_size = fs::file_size(zip, ec);
  if (ec) errors.fail("cannot read the file size: " + ec.message());
  if (file_size == 0) errors.fail("the file is empty, not a zip archive");

  const std::vector<std::string> raw_names = read_central_directory_names(zip, file_size, limits.max_entries, errors);
  check_entry_names(raw_names, errors);

  int open_error = 0;
  ZipArchivePtr archive(zip_open(zip.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &open_error));
  if (!archive) errors.fail("not a readable zip archive: " + libzip_open_error_text(open_error));
  const std::vector<PlannedEntry> plan = plan_entries(archive.get(), raw_names, errors);

  // The manifest first: it decides which files may be in the archive at all.
  const auto manifest_entry = std::find_if(plan.begin(), plan.end(), [](const PlannedEntry& entry) {
    return !entry.is_directory && entry.name == kManifestFileName;
  });
  if (manifest_entry == plan.end()) {
    errors.fail("no " + std::string(kManifestFileName) + " at the archive root; every package needs a manifest");
  }
  std::string manifest_text;
  inflate_entry(archive.get(), *manifest_entry, limits.max_manifest_bytes, "the manifest size limit", errors,
                [&manifest_text](const char* data, std::size_t size) { manifest_text.append(data, size); });
  Manifest manifest = parse_manifest(manifest_text, zip.string() + "!" + std::string(kManifestFileName));

  const std::vector<ManifestFileReference> references = manifest_file_references(manifest);
  std::set<std::string> referenced_names;
  for (const ManifestFileReference& ref : references) {
    const bool present = std::any_of(plan.begin(), plan.end(), [&](const PlannedEntry& entry) {
      return !entry.is_directory && entry.name == ref.archive_name;
    });
    if (!present) {
      errors.fail(std::string(kManifestFileName) + " field '" + ref.field + "' names '" + io::excerpt(ref.archive_name) +
                  "', but the archive has no such file");
    }
    referenced_names.insert(ref.archive_name);
  }
  std::uint64_t declared_total = 0;
  for (const PlannedEntry& entry : plan) {
    if (entry.is_directory || entry.name == kManifestFileName) continue;
    if (referenced_names.count(entry.name) == 0) {
      errors.fail("unknown file '" + io::excerpt(entry.name) + "': " + std::string(kManifestFileName) +
                  " does not reference it (list every file the learnware needs in the manifest)");
    }
    // Honest oversized archives are refused before extracting anything; the
    // counting during extraction catches the dishonest ones.
    if (entry.declared_size_known && entry.declared_size > limits.max_entry_bytes) {
      errors.fail("entry '" + io::excerpt(entry.name) + "' is " + std::to_string(entry.declared_size) +
                  " bytes uncompressed, more than the limit of " + std::to_string(limits.max_entry_bytes));
    }
    declared_total += entry.declared_size_known ? entry.declared_size : 0;
  }
  declared_total += manifest_text.size();
  if (declared_total > limits.max_total_bytes) {
    errors.fail("entries total " + std::to_string(declared_total) + " bytes uncompressed, more than the limit of " +
                std::to_string(limits.max_total_bytes));
  }

  // From here on the staging directory exists; `staged` owns it, so any
  // refusal below removes it while the exception unwinds.
  io::LockedDirectory staging = make_staging_directory(staging_parent, errors);
  StagedPackage staged(std::move(staging.path), staging.fd, std::move(manifest));
  const std::string command_file = process_command_file(staged.manifest_);
  std::uint64_t total_bytes = manifest_text.size();

  for (const PlannedEntry& entry : plan) {
    const fs::path destination = staged.root_ / fs::path(entry.name);
    if (!lies_inside(staged.root_, destination)) {
      errors.fail("entry '" + io::excerpt(entry.name) + "' would be extracted outside the staging directory");
    }
    create_parent_folders(staged.root_, entry.name, errors);
    if (entry.is_directory) {
      if (::mkdir(destination.c_str(), kStagedFolderMode) != 0 && errno != EEXIST) {
        errors.fail("cannot create folder " + quoted(destination) + ": " + errno_text(errno));
      }
      continue;
    }
    // O_EXCL | O_NOFOLLOW: never write through something already there.
    FileDescriptor out(::open(destination.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0) errors.fail("cannot create staged file " + quoted(destination) + ": " + errno_text(errno));
    if (entry.name == kManifestFileName) {
      write_all(out.get(), manifest_text.data(), manifest_text.size(), destination, errors);
    } else {
      const std::uint64_t total_budget = limits.max_total_bytes - total_bytes;
      const bool total_binds = total_budget < limits.max_entry_bytes;
      const std::uint64_t written = inflate_entry(
          archive.get(), entry, total_binds ? total_budget : limits.max_entry_bytes,
          total_binds ? "the limit on the total size of all entries" : "the size limit for one entry", errors,
          [&](const char* data, std::size_t size) { write_all(out.get(), data, size, destination, errors); });
      total_bytes += written;
    }
    const mode_t mode = entry.name == command_file ? kStagedCommandMode : kStagedFileMode;
    if (::fchmod(out.get(), mode) != 0) {
      errors.fail("cannot set the mode of staged file " + quoted(destination) + ": " + errno_text(errno));
    }
    if (const int close_errno = out.close(); close_errno != 0) {
      errors.fail("cannot write staged file " + quoted(destination) + ": " + errno_text(close_errno));
    }
  }
  return staged;
}

// ---- build_package ----------------------------------------------------------

void build_package(const Manifest& manifest, const std::map<std::string, fs::path>& files, const fs::path& out_zip,
                   const PackageLimits& limits) {
  const std::string manifest_text = manifest_to_yaml(manifest);
  // Round-tripping the text validates the manifest exactly as a reader will.
  parse_manifest(manifest_text, "manifest for '" + out_zip.string() + "'");
  if (manifest_text.size() > limits.max_manifest_bytes) {
    fail_build(out_zip, "the manifest is " + std::to_string(manifest_text.size()) + " bytes, more than the limit of " +
                            std::to_string(limits.max_manifest_bytes));
  }

  std::set<std::string> referenced_names;
  for (const ManifestFileReference& ref : manifest_file_references(manifest)) {
    if (files.count(ref.archive_name) == 0) {
      fail_build(out_zip, "manifest field '" + ref.field + "' names '" + ref.archive_name +
                              "', but no source file was given for it");
    }
    referenced_names.insert(ref.archive_name);
  }
  if (files.size() + 1 > limits.max_entries) {
    fail_build(out_zip,
               std::to_string(files.size() + 1) + " entries exceed the limit of " + std::to_string(limits.max_entries));
  }
  std::uint64_t total_bytes = manifest_text.size();
  for (const auto& [name, source] : files) {
    if (name == kManifestFileName) fail_build(out_zip, "'" + name + "' is written from the manifest, not from a file");
    if (const std::string problem = archive_name_problem(name); !problem.empty()) {
      fail_build(out_zip, "archive name is unusable: " + problem);
    }
    if (referenced_names.count(name) == 0) {
      fail_build(out_zip, "'" + name + "' is not referenced by the manifest, so readers would refuse it");
    }
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) {
      fail_build(out_zip, "source for '" + name + "', " + quoted(source) + ", is missing or not a regular file");
    }
    const std::uint64_t size = fs::file_size(source, ec);
    if (ec) fail_build(out_zip, "cannot read the size of " + quoted(source) + ": " + ec.message());
    if (size > limits.max_entry_bytes) {
      fail_build(out_zip, "'" + name + "' is " + std::to_string(size) + " bytes, more than the limit of " +
                              std::to_string(limits.max_entry_bytes));
    }
    total_bytes += size;
  }
  if (total_bytes > limits.max_total_bytes) {
    fail_build(out_zip, "files total " + std::to_string(total_bytes) + " bytes, more than the limit of " +
                            std::to_string(limits.max_total_bytes));
  }

  TemporaryArchive temporary(out_zip);
  int open_error = 0;
  ZipArchivePtr archive(zip_open(temporary.path().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &open_error));
  if (!archive) fail_build(out_zip, "cannot create the archive: " + libzip_open_error_text(open_error));

  add_archive_entry(archive.get(), std::string(kManifestFileName),
                    zip_source_buffer(archive.get(), manifest_text.data(), manifest_text.size(), 0), kStagedFileMode,
                    out_zip);
  const std::string command_file = process_command_file(manifest);
  for (const auto& [name, source] : files) {  // std::map: name order, hence deterministic
    add_archive_entry(archive.get(), name, zip_source_file(archive.get(), source.c_str(), 0, -1),
                      name == command_file ? kStagedCommandMode : kStagedFileMode, out_zip);
  }
  // zip_close reads the sources and writes the archive; on failure the archive
  // is still open and is discarded by the guard.
  if (zip_close(archive.get()) != 0) {
    fail_build(out_zip, "cannot write the archive: " + std::string(zip_error_strerror(zip_get_error(archive.get()))));
  }
  archive.release();  // zip_close freed it
  temporary.commit();
}

}  // namespace lwd
