#include "engine/store/market_backup.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <utility>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/io/locked_dir.h"
#include "engine/io/sha256.h"
#include "engine/store/market_store.h"
#include "engine/store/sql_index.h"
#include "engine/warning.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr const char* kManifestFile = "manifest.json";
constexpr const char* kIndexDumpFile = "index.json";
constexpr const char* kMarketH5File = "market.h5";
constexpr const char* kBuildFile = "build.json";
constexpr const char* kPackagesDir = "packages";
constexpr const char* kManifestFormat = "lwdock-market-backup";
constexpr const char* kIndexDumpFormat = "lwdock-index-dump";
constexpr std::int64_t kFormatVersion = 1;
// A backup being made, and one being pruned: never taken for a complete one.
constexpr const char* kIncompletePrefix = ".incomplete-";
// manifest.json and index.json are read whole (a row of index.json is ~300
// bytes); the parse is bounded by JsonLimits' count of values besides.
constexpr std::uint64_t kMaxJsonBytes = std::uint64_t{1} << 30;

std::string errno_text(int err) { return std::generic_category().message(err); }

// A descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting a failure (a write the kernel could not finish).
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// The file names the store gives packages ("00000001.zip", "00000001.3.zip"):
// letters, digits, '.', '-' and '_', not starting with '.'.
bool is_safe_file_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
  });
}

// "packages/NAME" -> NAME, if NAME is a safe file name.
std::optional<std::string> package_file_name(std::string_view package_path) {
  const std::string prefix = std::string(kPackagesDir) + "/";
  if (package_path.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view name = package_path.substr(prefix.size());
  if (!is_safe_file_name(name)) return std::nullopt;
  return std::string(name);
}

// The paths a backup may hold besides manifest.json.
bool is_backup_file_path(std::string_view path) {
  return path == kIndexDumpFile || path == kMarketH5File || path == kBuildFile || package_file_name(path);
}

void flush_directory(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    throw Error(dir.string() + ": cannot flush the directory to disk: " + errno_text(errno));
  }
}

// Reads a file through, returning the SHA-256 of its bytes and its size; with
// `flush`, also flushes it to disk (a copy made during the snapshot, which
// had no time for it).
std::pair<std::string, std::uintmax_t> hash_file(const fs::path& path, bool flush) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error(path.string() + ": cannot open: " + errno_text(errno));
  io::Sha256 sha;
  std::vector<char> buffer(1 << 20);
  std::uintmax_t size = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(path.string() + ": read failed: " + errno_text(errno));
    if (n == 0) break;
    sha.update(buffer.data(), static_cast<std::size_t>(n));
    size += static_cast<std::uintmax_t>(n);
  }
  if (flush && ::fsync(fd.get()) != 0) throw Error(path.string() + ": cannot flush to disk: " + errno_text(errno));
  return {sha.hex_digest(), size};
}

// Copies `from` to `to`, a new file, flushed to disk; returns the SHA-256 of
// the bytes copied.
std::string copy_file_hashing(const fs::path& from, const fs::path& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw Error(from.string() + ": cannot open: " + errno_text(errno));
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (out.get() < 0) throw Error(to.string() + ": cannot create: " + errno_text(errno));
  io::Sha256 sha;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(from.string() + ": read failed: " + errno_text(errno));
    if (n == 0) break;
    sha.update(buffer.data(), static_cast<std::size_t>(n));
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out.get(), buffer.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error(to.string() + ": write failed: " + errno_text(errno));
      done += w;
    }
  }
  if (::fsync(out.get()) != 0 || out.close() != 0) {
    throw Error(to.string() + ": cannot flush to disk: " + errno_text(errno));
  }
  return sha.hex_digest();
}

// A copy made while writers wait: the kernel's copy, nothing else (the
// flush and the checksum come after the snapshot).
void copy_during_snapshot(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, ec);
  if (ec) throw Error(from.string() + ": cannot copy it into the backup (" + to.string() + "): " + ec.message());
}

// ---- index.json: the learnware table without its database --------------------

// A text as JSON: a string when it is UTF-8 (JSON's only text), else
// {"hex": "..."} of its bytes (SQLite keeps whatever bytes a manifest's name had).
ojson text_to_json(const std::string& text) {
  if (io::is_valid_utf8(text)) return text;
  static const char* hex = "0123456789abcdef";
  std::string digits;
  for (const unsigned char c : text) {
    digits += hex[c >> 4];
    digits += hex[c & 15];
  }
  return ojson{{"hex", digits}};
}

ojson record_to_json(const LearnwareRecord& record) {
  ojson keys = ojson::array();
  for (const auto& key : record.spec_keys) keys.push_back(text_to_json(key));
  ojson out;
  out["id"] = record.id;
  out["name"] = text_to_json(record.name);
  out["owner"] = text_to_json(record.owner);
  out["status"] = std::string(to_string(record.status));
  out["reason"] = text_to_json(record.status_reason);
  out["package"] = text_to_json(record.package_path);
  out["spec_keys"] = std::move(keys);
  out["created_at"] = text_to_json(record.created_at);
  out["updated_at"] = text_to_json(record.updated_at);
  return out;
}

std::string index_dump_text(const std::vector<LearnwareRecord>& records, const IndexCounters& counters,
                            const std::optional<std::string>& tag) {
  ojson rows = ojson::array();
  for (const auto& record : records) rows.push_back(record_to_json(record));
  ojson out;
  out["format"] = kIndexDumpFormat;
  out["version"] = kFormatVersion;
  out["schema_version"] = current_index_schema_version();
  out["market_tag"] = tag ? ojson(*tag) : ojson(nullptr);
  out["counters"] = {{"last_id", counters.last_id}, {"change_seq", counters.change_seq}};
  out["learnwares"] = std::move(rows);
  return out.dump(1) + "\n";
}

// Reads the backup's JSON documents as hostile input: every error names the
// file and the field, and says the backup is damaged.
class DocumentReader {
 public:
  explicit DocumentReader(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void damaged(const std::string& problem) const {
    throw Error(file_.string() + ": " + problem + "; the backup is damaged");
  }

  json parse(std::string_view what) const {
    const std::string text = io::read_text_file_limited(file_, kMaxJsonBytes, what);
    json document;
    try {
      document = io::parse_json(text, file_.string());
    } catch (const io::JsonSyntaxError& e) {
      throw Error(std::string(e.what()) + "; the backup is damaged");
    }
    if (!document.is_object()) damaged("not a JSON object");
    return document;
  }

  const json& field(const json& object, const char* key, const std::string& where = "") const {
    const auto it = object.find(key);
    if (it == object.end()) damaged(where + "\"" + key + "\" is missing");
    return *it;
  }

  std::string string(const json& object, const char* key, const std::string& where = "") const {
    const json& value = field(object, key, where);
    if (!value.is_string()) damaged(where + "\"" + key + "\" is not a string");
    return value.get<std::string>();
  }

  std::int64_t count(const json& object, const char* key, const std::string& where = "") const {
    const json& value = field(object, key, where);
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0) {
      damaged(where + "\"" + key + "\" is not a non-negative integer");
    }
    return value.get<std::int64_t>();
  }

  // The inverse of text_to_json.
  std::string text(const json& value, const std::string& what) const {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_object() && value.size() == 1 && value.contains("hex") && value["hex"].is_string()) {
      const std::string& digits = value["hex"].get_ref<const std::string&>();
      std::string bytes;
      const auto nibble = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        damaged(what + " holds a \"hex\" text that is not lower-case hex digits");
      };
      if (digits.size() % 2 != 0) damaged(what + " holds a \"hex\" text of an odd length");
      for (std::size_t i = 0; i < digits.size(); i += 2) {
        bytes += static_cast<char>(nibble(digits[i]) * 16 + nibble(digits[i + 1]));
      }
      return bytes;
    }
    damaged(what + " is not a text");
  }

  // The document's format and version: a newer version is this program's
  // limit, not damage.
  void check_format(const json& document, const char* format) const {
    if (!document.contains("format") || document["format"] != format) {
      throw Error(file_.string() + ": not a " + format + " document; is this a market backup made by lwdock?");
    }
    const std::int64_t version = count(document, "version");
    if (version > kFormatVersion) {
      throw Error(file_.string() + ": format version " + std::to_string(version) +
                  " is newer than this program reads (" + std::to_string(kFormatVersion) + "); use a newer lwdock");
    }
    if (version != kFormatVersion) damaged("format version " + std::to_string(version) + " does not exist");
  }

 private:
  fs::path file_;
};

struct IndexDump {
  std::vector<LearnwareRecord> records;
  IndexCounters counters;
};

IndexDump read_index_dump(const fs::path& file) {
  const DocumentReader reader(file);
  const json document = reader.parse("a backup's index dump");
  reader.check_format(document, kIndexDumpFormat);
  IndexDump dump;
  const json& counters = reader.field(document, "counters");
  if (!counters.is_object()) reader.damaged("\"counters\" is not an object");
  dump.counters.last_id = reader.count(counters, "last_id", "counters: ");
  dump.counters.change_seq = reader.count(counters, "change_seq", "counters: ");
  const json& rows = reader.field(document, "learnwares");
  if (!rows.is_array()) reader.damaged("\"learnwares\" is not a list");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    std::string where = "learnware " + std::to_string(i + 1) + ": ";
    if (!row.is_object()) reader.damaged(where + "not an object");
    LearnwareRecord record;
    record.id = reader.string(row, "id", where);
    if (!is_valid_learnware_id(record.id)) reader.damaged(where + "id \"" + io::excerpt(record.id) + "\" is not valid");
    if (!ids.insert(record.id).second) reader.damaged("learnware " + record.id + " is listed twice");
    where = "learnware " + record.id + ": ";
    try {
      record.status = parse_learnware_status(reader.string(row, "status", where));
    } catch (const Error& e) {
      reader.damaged(where + e.what());
    }
    record.name = reader.text(reader.field(row, "name", where), where + "\"name\"");
    record.owner = reader.text(reader.field(row, "owner", where), where + "\"owner\"");
    record.status_reason = reader.text(reader.field(row, "reason", where), where + "\"reason\"");
    record.package_path = reader.text(reader.field(row, "package", where), where + "\"package\"");
    if (!package_file_name(record.package_path)) {
      reader.damaged(where + "its package \"" + io::excerpt(record.package_path) + "\" is not a file in packages/");
    }
    const json& keys = reader.field(row, "spec_keys", where);
    if (!keys.is_array()) reader.damaged(where + "\"spec_keys\" is not a list");
    for (const json& key : keys) record.spec_keys.push_back(reader.text(key, where + "a spec key"));
    record.created_at = reader.text(reader.field(row, "created_at", where), where + "\"created_at\"");
    record.updated_at = reader.text(reader.field(row, "updated_at", where), where + "\"updated_at\"");
    dump.records.push_back(std::move(record));
  }
  std::sort(dump.records.begin(), dump.records.end(),
            [](const LearnwareRecord& a, const LearnwareRecord& b) { return a.id < b.id; });
  return dump;
}

// The number of an all-digit id ("00000042": 42), as the id counter counts
// it; nullopt for other ids (and for numbers beyond 64 bits, which it skips too).
std::optional<std::int64_t> numeric_id(std::string_view id) {
  std::int64_t value = 0;
  const auto res = std::from_chars(id.data(), id.data() + id.size(), value);
  if (res.ec != std::errc() || res.ptr != id.data() + id.size() || id.front() == '-') return std::nullopt;
  return value;
}

// ---- names of backups ----------------------------------------------------------

// "2026-12-06T01:30:00Z" -> "20261206T013000Z".
std::string backup_stamp(const std::string& iso8601) {
  std::string stamp;
  for (const char c : iso8601)
    if (c != '-' && c != ':') stamp += c;
  return stamp;
}

// The sort key of a backup's name: "20261206T013000Z" -> (stamp, 1),
// "20261206T013000Z-3" -> (stamp, 3); nullopt for any other name.
std::optional<std::pair<std::string, long>> backup_name_key(const std::string& name) {
  constexpr std::size_t kStampLength = 16;  // YYYYMMDDTHHMMSSZ
  if (name.size() < kStampLength) return std::nullopt;
  for (std::size_t i = 0; i < kStampLength; ++i) {
    const char c = name[i];
    const bool ok = i == 8 ? c == 'T' : i == 15 ? c == 'Z' : (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;
  }
  if (name.size() == kStampLength) return std::pair{name, 1L};
  const std::string suffix = name.substr(kStampLength);
  if (suffix.size() < 2 || suffix.size() > 10 || suffix[0] != '-' || suffix[1] == '0') return std::nullopt;
  if (!std::all_of(suffix.begin() + 1, suffix.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::pair{name.substr(0, kStampLength), std::stol(suffix.substr(1))};
}

bool holds_backup_manifest(const fs::path& dir) {
  struct stat st {};
  const fs::path manifest = dir / kManifestFile;
  if (::lstat(manifest.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  try {
    const json document = DocumentReader(manifest).parse("a backup manifest");
    return document.contains("format") && document["format"] == kManifestFormat;
  } catch (const Error&) {
    return false;
  }
}

// Moves the finished backup to a free name for its time, after every name
// of that second already there (so names sort in the order backups were
// made, also when --keep has pruned the first of them). Never over anything
// that exists: rename(2) alone would replace an empty directory.
fs::path publish_backup(const fs::path& work, const fs::path& backups_dir, const std::string& stamp) {
  long last = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(backups_dir, ec)) {
    const auto key = backup_name_key(entry.path().filename().string());
    if (key && key->first == stamp) last = std::max(last, key->second);
  }
  for (long n = last + 1;; ++n) {
    const fs::path target = backups_dir / (n == 1 ? stamp : stamp + "-" + std::to_string(n));
    if (::renameat2(AT_FDCWD, work.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) return target;
    if (errno == EEXIST || errno == ENOTEMPTY) continue;
    if (errno != EINVAL && errno != ENOSYS) {
      throw Error(target.string() + ": cannot move the finished backup there: " + errno_text(errno));
    }
    // A file system without RENAME_NOREPLACE: look first (a race with another
    // backup in the same second is then possible, and harmless: a complete
    // backup is never empty, so rename(2) fails on it).
    if (fs::exists(fs::symlink_status(target, ec))) continue;
    if (::rename(work.c_str(), target.c_str()) == 0) return target;
    if (errno == EEXIST || errno == ENOTEMPTY) continue;
    throw Error(target.string() + ": cannot move the finished backup there: " + errno_text(errno));
  }
}

// Deletes the oldest complete backups beyond `keep`, never `made`; returns
// them, oldest first.
std::vector<fs::path> prune_backups(const fs::path& backups_dir, const fs::path& made, int keep) {
  std::vector<fs::path> doomed_ones;
  int kept = 1;  // the one just made
  const std::vector<fs::path> backups = list_backups(backups_dir);
  for (auto it = backups.rbegin(); it != backups.rend(); ++it) {  // newest first
    if (*it == made) continue;
    if (kept < keep) {
      ++kept;
    } else {
      doomed_ones.insert(doomed_ones.begin(), *it);
    }
  }
  std::vector<fs::path> pruned;
  for (const fs::path& backup : doomed_ones) {
    // Renamed first, so a prune cut short leaves no half-deleted folder that
    // still looks like a backup (the next backup removes the rest).
    const fs::path doomed = backups_dir / (std::string(kIncompletePrefix) + "pruned-" + backup.filename().string());
    std::error_code ec;
    if (::rename(backup.c_str(), doomed.c_str()) != 0) {
      if (errno != ENOENT) warn(backup.string() + ": cannot delete this old backup: " + errno_text(errno));
      continue;
    }
    fs::remove_all(doomed, ec);
    if (ec) warn(doomed.string() + ": cannot delete all of this old backup: " + ec.message());
    pruned.push_back(backup);
  }
  return pruned;
}

// Removes a folder this program was making when it fails.
struct RemoveOnFailure {
  fs::path path;
  bool armed = true;
  ~RemoveOnFailure() {
    if (!armed || path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A locked folder (io::make_locked_directory) that is removed unless kept.
struct LockedWorkDir {
  io::LockedDirectory dir;
  bool keep = false;
  LockedWorkDir() = default;
  explicit LockedWorkDir(io::LockedDirectory d) : dir(std::move(d)) {}
  LockedWorkDir(const LockedWorkDir&) = delete;
  LockedWorkDir& operator=(const LockedWorkDir&) = delete;
  ~LockedWorkDir() {
    if (dir.fd < 0) return;
    std::error_code ec;
    if (!keep) fs::remove_all(dir.path, ec);
    ::close(dir.fd);
  }
};

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds);
  return text;
}

}  // namespace

// ---- backup ----------------------------------------------------------------------

BackupSummary backup_market(const fs::path& market_dir, const IndexUrls& db, const fs::path& backups_dir,
                            const BackupOptions& options) {
  if (options.keep < 1) {
    throw Error("backups to keep must be at least 1 (got " + std::to_string(options.keep) +
                "): the backup just made is always kept");
  }
  const auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  // The primary only: what the snapshot reads must match the files on disk,
  // and a replica may lag behind them.
  const MarketStore store = MarketStore::open(market_dir, IndexUrls{db.db, ""});

  std::error_code ec;
  fs::create_directories(backups_dir, ec);
  if (!fs::is_directory(backups_dir, ec)) {
    throw Error(backups_dir.string() + ": cannot make the backups folder there" +
                (ec ? ": " + ec.message() : std::string(": it is not a directory")));
  }
  io::remove_abandoned_directories(backups_dir, kIncompletePrefix);  // what killed backups left
  LockedWorkDir work(io::make_locked_directory(backups_dir, kIncompletePrefix));
  const fs::path packages = work.dir.path / kPackagesDir;
  fs::create_directory(packages, ec);
  if (ec) throw Error(packages.string() + ": cannot create: " + ec.message());

  // Packages that cannot be linked into the backup (another file system) are
  // linked into a folder of the market's own staging/ during the snapshot and
  // copied after it; the folder is locked while we live, so the market's
  // sweep leaves it alone, and removes it if we die.
  std::optional<LockedWorkDir> staged;
  bool staging_failed = false;
  std::vector<std::string> staged_names;
  std::set<std::string> copied_paths;  // copied during the snapshot (not flushed yet)

  BackupSummary summary;
  std::vector<LearnwareRecord> records;
  IndexCounters counters;
  std::optional<std::string> tag;
  std::string taken_at;
  std::string database;  // as messages name it: no password
  bool has_build_file = false;
  const auto started = std::chrono::steady_clock::now();
  store.between_changes([&](const LearnwareIndex& primary) {
    taken_at = utc_now_iso8601();
    records = primary.list();
    // After the rows: every id they hold is counted, and so is every id
    // reserved up to now.
    counters = primary.counters();
    tag = primary.market_tag();
    for (const auto& record : records) {
      const auto name = package_file_name(record.package_path);
      if (!name) {
        throw Error(market_dir.string() + ": learnware " + record.id + " names the package \"" +
                    io::excerpt(record.package_path) + "\", which is not a file in packages/; the index is damaged");
      }
      const fs::path from = market_dir / record.package_path;
      if (::link(from.c_str(), (packages / *name).c_str()) == 0) {
        ++summary.linked;
        continue;
      }
      const int err = errno;
      if (err == ENOENT) {
        throw Error(from.string() + ": the package of learnware " + record.id +
                    " is missing; the market is damaged (nothing was backed up)");
      }
      if (err == EEXIST) {
        throw Error(market_dir.string() + ": two learnwares name the package " + record.package_path +
                    "; the index is damaged");
      }
      if (!staged && !staging_failed) {
        try {
          fs::create_directories(store.staging_dir());
          staged.emplace(io::make_locked_directory(store.staging_dir(), "backup-"));
        } catch (const std::exception&) {
          staging_failed = true;  // e.g. a market on read-only media
        }
      }
      if (staged && ::link(from.c_str(), (staged->dir.path / *name).c_str()) == 0) {
        staged_names.push_back(*name);
        continue;
      }
      copy_during_snapshot(from, packages / *name);
      copied_paths.insert(record.package_path);
    }
    copy_during_snapshot(market_dir / kMarketH5File, work.dir.path / kMarketH5File);
    copied_paths.insert(kMarketH5File);
    if (fs::exists(market_dir / kBuildFile, ec)) {
      copy_during_snapshot(market_dir / kBuildFile, work.dir.path / kBuildFile);
      copied_paths.insert(kBuildFile);
      has_build_file = true;
    }
    database = primary.name();
  });
  summary.snapshot_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  say("snapshot of " + std::to_string(records.size()) + " learnware(s) taken in " +
      seconds_text(summary.snapshot_seconds) + " s (writers waited meanwhile; " + std::to_string(summary.linked) +
      " package(s) hard-linked)");

  // Writers go on from here; what we hold is immutable, or our own copy.
  std::map<std::string, std::string> sha_by_path;
  if (!staged_names.empty()) {
    say("copying " + std::to_string(staged_names.size()) + " package(s) to the backup's file system");
    for (const auto& name : staged_names) {
      sha_by_path["packages/" + name] = copy_file_hashing(staged->dir.path / name, packages / name);
    }
  }
  staged.reset();
  io::write_text_file_atomically(work.dir.path / kIndexDumpFile, index_dump_text(records, counters, tag));

  std::vector<std::string> paths = {kIndexDumpFile, kMarketH5File};
  if (has_build_file) paths.push_back(kBuildFile);
  for (const auto& record : records) paths.push_back(record.package_path);
  ojson files = ojson::array();
  std::map<std::string, std::int64_t> statuses;
  for (const auto& record : records) ++statuses[std::string(to_string(record.status))];
  say("checksumming " + std::to_string(paths.size()) + " file(s)");
  for (const auto& path : paths) {
    const fs::path file = work.dir.path / path;
    // Linked packages were flushed when the market stored them; the snapshot's copies were not.
    auto [sha, size] = hash_file(file, copied_paths.contains(path));
    if (const auto it = sha_by_path.find(path); it != sha_by_path.end() && it->second != sha) {
      throw Error(file.string() + ": changed while it was copied into the backup");
    }
    files.push_back({{"path", path}, {"bytes", size}, {"sha256", sha}});
    summary.bytes += size;
  }
  summary.files = static_cast<std::int64_t>(paths.size());
  summary.learnwares = static_cast<std::int64_t>(records.size());
  flush_directory(packages);

  ojson manifest;
  manifest["format"] = kManifestFormat;
  manifest["version"] = kFormatVersion;
  manifest["taken_at"] = taken_at;
  manifest["market"] = fs::absolute(market_dir, ec).lexically_normal().string();
  manifest["database"] = text_to_json(database);
  manifest["learnwares"] = summary.learnwares;
  manifest["statuses"] = statuses;
  manifest["bytes"] = summary.bytes;
  manifest["files"] = std::move(files);
  io::write_text_file_atomically(work.dir.path / kManifestFile, manifest.dump(1) + "\n");
  flush_directory(work.dir.path);

  summary.path = publish_backup(work.dir.path, backups_dir, backup_stamp(taken_at));
  work.keep = true;
  flush_directory(backups_dir);
  summary.pruned = prune_backups(backups_dir, summary.path, options.keep);
  return summary;
}

std::vector<fs::path> list_backups(const fs::path& backups_dir) {
  std::vector<std::pair<std::pair<std::string, long>, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(backups_dir, ec)) {
    const auto key = backup_name_key(entry.path().filename().string());
    if (!key || entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
    if (holds_backup_manifest(entry.path())) found.emplace_back(*key, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> backups;
  for (auto& [key, path] : found) backups.push_back(std::move(path));
  return backups;
}

// ---- verify and restore ------------------------------------------------------------

BackupContents verify_backup(const fs::path& backup, const BackupProgress& progress) {
  struct stat st {};
  if (::stat(backup.c_str(), &st) != 0) throw Error(backup.string() + ": no such backup");
  if (!S_ISDIR(st.st_mode)) throw Error(backup.string() + ": not a market backup (not a directory)");
  const fs::path manifest_path = backup / kManifestFile;
  if (::lstat(manifest_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(backup.string() + ": not a market backup (no manifest.json)");
  }
  const DocumentReader reader(manifest_path);
  const json manifest = reader.parse("a backup manifest");
  reader.check_format(manifest, kManifestFormat);

  BackupContents contents;
  contents.taken_at = reader.string(manifest, "taken_at");
  const std::int64_t learnwares = reader.count(manifest, "learnwares");
  const json& files = reader.field(manifest, "files");
  if (!files.is_array()) reader.damaged("\"files\" is not a list");
  std::set<std::string> listed;
  for (const json& file : files) {
    if (!file.is_object()) reader.damaged("an entry of \"files\" is not an object");
    BackupContents::File entry;
    entry.path = reader.string(file, "path", "files: ");
    const std::string where = "files: " + io::excerpt(entry.path) + ": ";
    if (!is_backup_file_path(entry.path)) {
      reader.damaged("files: \"" + io::excerpt(entry.path) + "\" is not a file a backup holds");
    }
    if (!listed.insert(entry.path).second) reader.damaged(where + "listed twice");
    entry.bytes = static_cast<std::uintmax_t>(reader.count(file, "bytes", where));
    entry.sha256 = reader.string(file, "sha256", where);
    const bool hex = entry.sha256.size() == 64 && std::all_of(entry.sha256.begin(), entry.sha256.end(), [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                     });
    if (!hex) reader.damaged(where + "\"sha256\" is not 64 lower-case hex digits");
    contents.bytes += entry.bytes;
    contents.files.push_back(std::move(entry));
  }
  for (const char* required : {kIndexDumpFile, kMarketH5File}) {
    if (!listed.contains(required)) reader.damaged(std::string("files: ") + required + " is not listed");
  }
  if (static_cast<std::uintmax_t>(reader.count(manifest, "bytes")) != contents.bytes) {
    reader.damaged("\"bytes\" is not the sum of the files' sizes");
  }

  // Exactly the listed files, as plain files: nothing to restore that was
  // not checksummed, and no link leading out of the backup.
  std::error_code ec;
  const auto unexpected = [&](const fs::path& path) {
    throw Error(path.string() + ": not listed in the backup's manifest; the backup is damaged or was changed");
  };
  for (const auto& entry : fs::directory_iterator(backup, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kManifestFile) continue;
    if (name == kPackagesDir && !entry.is_symlink(ec) && entry.is_directory(ec)) {
      for (const auto& package : fs::directory_iterator(entry.path(), ec)) {
        if (!listed.contains(std::string(kPackagesDir) + "/" + package.path().filename().string())) {
          unexpected(package.path());
        }
      }
      continue;
    }
    if (!listed.contains(name)) unexpected(entry.path());
  }
  if (ec) throw Error(backup.string() + ": cannot list the backup: " + ec.message());

  if (progress) {
    progress("verifying " + std::to_string(contents.files.size()) + " file(s), " + std::to_string(contents.bytes) +
             " bytes");
  }
  for (const auto& file : contents.files) {
    const fs::path path = backup / file.path;
    if (::lstat(path.c_str(), &st) != 0) {
      throw Error(path.string() + ": missing; the backup is damaged");
    }
    if (!S_ISREG(st.st_mode)) throw Error(path.string() + ": not a plain file; the backup is damaged");
    if (static_cast<std::uintmax_t>(st.st_size) != file.bytes) {
      throw Error(path.string() + ": is " + std::to_string(st.st_size) + " bytes, the manifest says " +
                  std::to_string(file.bytes) + "; the backup is damaged");
    }
    if (hash_file(path, /*flush=*/false).first != file.sha256) {
      throw Error(path.string() + ": its SHA-256 is not the manifest's; the backup is damaged or was changed");
    }
  }

  IndexDump dump = read_index_dump(backup / kIndexDumpFile);
  const DocumentReader index_reader(backup / kIndexDumpFile);
  if (static_cast<std::int64_t>(dump.records.size()) != learnwares) {
    reader.damaged("it counts " + std::to_string(learnwares) + " learnware(s), index.json holds " +
                   std::to_string(dump.records.size()));
  }
  std::set<std::string> named;
  for (const auto& record : dump.records) {
    if (!listed.contains(record.package_path)) {
      index_reader.damaged("learnware " + record.id + ": its package " + record.package_path +
                           " is not in the backup");
    }
    if (!named.insert(record.package_path).second) {
      index_reader.damaged("two learnwares name the package " + record.package_path);
    }
    if (const auto number = numeric_id(record.id); number && *number > dump.counters.last_id) {
      index_reader.damaged("learnware " + record.id + " is above the id counter (" +
                           std::to_string(dump.counters.last_id) + ")");
    }
  }
  for (const auto& path : listed) {
    if (package_file_name(path) && !named.contains(path)) {
      reader.damaged("files: " + path + " is the package of no learnware in index.json");
    }
  }
  contents.records = std::move(dump.records);
  contents.counters = dump.counters;
  return contents;
}

RestoreSummary restore_market(const fs::path& backup, const fs::path& to, const IndexUrls& db,
                              const BackupProgress& progress) {
  const auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (to.empty()) throw Error("restore: no target directory given");
  const bool own_index = is_own_market_index(to, db.db);  // a malformed URL is refused first
  std::error_code ec;
  if (fs::exists(fs::symlink_status(to, ec))) {
    // rename(2) would replace the link, not fill the directory it leads to.
    if (fs::is_symlink(to, ec)) throw Error(to.string() + ": is a symbolic link; give the directory itself");
    if (!fs::is_directory(to, ec)) throw Error(to.string() + ": exists and is not a directory");
    if (!fs::is_empty(to, ec)) {
      throw Error(to.string() + ": already exists and is not empty; restore into a new or empty directory");
    }
  }
  BackupContents contents = verify_backup(backup, progress);

  std::unique_ptr<LearnwareIndex> index;
  if (!own_index) {
    index = open_learnware_index(db.db, to / "index.sqlite");
    if (holds_a_market(*index)) {
      throw Error(index->name() + ": already holds a market's learnware index; restore into a database (or a "
                                  "schema: ?options=-csearch_path%3DNAME) of its own");
    }
  }

  // Assembled beside its final place (the same file system), then renamed:
  // a failed or killed restore never leaves a half-made market under `to`.
  fs::path target = fs::absolute(to).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "DIR/"
  const fs::path parent = target.parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": cannot create: " + ec.message());
  RemoveOnFailure work;
  {
    std::random_device device;
    for (int attempt = 0; work.path.empty(); ++attempt) {
      std::string name = ".";
      name += target.filename().string();
      name += ".restoring-";
      name += std::to_string(device() % 1000000);
      const fs::path candidate = parent / name;
      if (::mkdir(candidate.c_str(), 0777) == 0) {
        work.path = candidate;
      } else if (errno != EEXIST || attempt > 100) {
        throw Error(candidate.string() + ": cannot create: " + errno_text(errno));
      }
    }
  }
  const fs::path packages = work.path / kPackagesDir;
  fs::create_directory(packages, ec);
  if (ec) throw Error(packages.string() + ": cannot create: " + ec.message());

  say("restoring " + std::to_string(contents.records.size()) + " learnware(s) into " + to.string());
  for (const auto& file : contents.files) {
    if (file.path == kIndexDumpFile) continue;
    const fs::path from = backup / file.path;
    if (copy_file_hashing(from, work.path / file.path) != file.sha256) {
      throw Error(from.string() + ": changed while it was restored; the backup is being written to?");
    }
  }
  const std::string tag = new_market_tag();
  io::write_text_file_atomically(work.path / "market.id", tag + "\n");
  flush_directory(packages);
  flush_directory(work.path);

  // The index last: its rows are what makes the folder a market.
  if (own_index) index = open_learnware_index("", work.path / "index.sqlite");
  index->transaction([&] {
    if (holds_a_market(*index)) {
      throw Error(index->name() + ": a market was made in this database while the backup was restored");
    }
    for (const auto& record : contents.records) index->insert(record);
    index->raise_counters(contents.counters);
    index->set_market_tag(tag);
  });
  const std::string database = index->name();
  index.reset();  // closes SQLite, folding its WAL back into index.sqlite before the folder moves

  if (::rename(work.path.c_str(), target.c_str()) != 0) {
    const int err = errno;
    std::string message = to.string() + ": cannot put the restored market in place: " + errno_text(err);
    if (!own_index) {
      message += "; " + database + " already holds its index: empty it before restoring there again";
    }
    throw Error(message);
  }
  work.armed = false;
  flush_directory(parent);

  RestoreSummary summary;
  summary.learnwares = static_cast<std::int64_t>(contents.records.size());
  summary.files = static_cast<std::int64_t>(contents.files.size());
  summary.bytes = contents.bytes;
  return summary;
}

}  // namespace lwd
