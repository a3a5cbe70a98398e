#include "service/uploads.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/io/sha256.h"
#include "service/api.h"

namespace lwd::service {
namespace {

namespace fs = std::filesystem;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void io_failure(const fs::path& file, const std::string& what) {
  throw Error(file.string() + ": cannot " + what + ": " + std::strerror(errno));
}

std::string sha256_of(std::string_view bytes) {
  io::Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

// The bytes of `file` at [offset, offset + length).
std::string read_range(const fs::path& file, std::int64_t offset, std::int64_t length) {
  Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) io_failure(file, "open the upload");
  std::string out(static_cast<std::size_t>(length), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(in.fd, out.data() + done, out.size() - done, static_cast<off_t>(offset) + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) io_failure(file, "read the upload");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace

std::string sanitise_filename(const std::string& name) {
  std::string base = name;
  // Only the last component of what a client calls its file.
  if (const auto slash = base.find_last_of("/\\"); slash != std::string::npos) base = base.substr(slash + 1);
  std::string out;
  for (const char c : base) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    out += ok ? c : '_';
    if (out.size() == 100) break;
  }
  if (out.empty() || out.find_first_not_of('.') == std::string::npos) out = "package.zip";
  return out;
}

std::optional<std::string> normalise_sha256(const std::string& text) {
  if (text.size() != 64) return std::nullopt;
  std::string out;
  for (const char c : text) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f'))) return std::nullopt;
    out += l;
  }
  return out;
}

UploadStore::UploadStore(SubmissionDatabase& db, fs::path dir, UploadLimits limits)
    : db_(db), dir_(std::move(dir)), limits_(limits) {}

UploadState UploadStore::create(std::int64_t owner_id, const std::string& filename, std::int64_t size,
                                const std::string& sha256) {
  if (size <= 0) throw ApiError(ApiCode::malformed_request, "size must be a positive number of bytes");
  if (static_cast<std::uint64_t>(size) > limits_.max_package_bytes) {
    throw ApiError(ApiCode::payload_too_large, "the package is " + std::to_string(size) +
                                                   " bytes; this server accepts at most " +
                                                   std::to_string(limits_.max_package_bytes));
  }
  const auto hash = normalise_sha256(sha256);
  if (!hash) throw ApiError(ApiCode::malformed_request, "sha256 must be 64 hexadecimal digits");
  UploadState state;
  state.id = random_hex(12);
  state.owner_id = owner_id;
  state.filename = sanitise_filename(filename);
  state.size = size;
  state.sha256 = *hash;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  const fs::path file = file_of(state.id);
  {
    // Sparse: the chunks fill it in any order.
    Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (out.fd < 0) io_failure(file, "create the upload");
    if (::ftruncate(out.fd, static_cast<off_t>(size)) != 0) io_failure(file, "size the upload");
  }
  const std::int64_t now = unix_millis();
  try {
    std::lock_guard lock(db_.mutex);
    db_.connection->run(
        "INSERT INTO uploads (id, owner_id, filename, size, sha256, created_ms, touched_ms) VALUES ($1, $2, $3, $4, "
        "$5, $6, $6)",
        {state.id, owner_id, state.filename, size, state.sha256, now});
  } catch (...) {
    fs::remove(file, ec);
    throw;
  }
  return state;
}

UploadState UploadStore::load(const std::string& id, std::int64_t owner_id, bool lock) const {
  SqlConnection& c = *db_.connection;
  const SqlResult row = c.run(std::string("SELECT owner_id, filename, size, sha256 FROM uploads WHERE id = $1") +
                                  (lock ? db_.for_update() : ""),
                              {id});
  if (row.rows.empty() || std::stoll(row.rows[0][0]) != owner_id) {
    throw ApiError(ApiCode::not_found, "no upload " + id);
  }
  UploadState s;
  s.id = id;
  s.owner_id = owner_id;
  s.filename = row.rows[0][1];
  s.size = std::stoll(row.rows[0][2]);
  s.sha256 = row.rows[0][3];
  const SqlResult chunks =
      c.run("SELECT chunk_offset, length FROM upload_chunks WHERE upload_id = $1 ORDER BY chunk_offset", {id});
  for (const auto& r : chunks.rows) {
    const std::int64_t begin = std::stoll(r[0]);
    const std::int64_t end = begin + std::stoll(r[1]);
    if (!s.received.empty() && begin <= s.received.back().second) {
      s.received.back().second = std::max(s.received.back().second, end);
    } else {
      s.received.emplace_back(begin, end);
    }
  }
  for (const auto& [b, e] : s.received) s.received_bytes += e - b;
  return s;
}

UploadState UploadStore::get(const std::string& id, std::int64_t owner_id) const {
  std::lock_guard lock(db_.mutex);
  return load(id, owner_id, false);
}

UploadState UploadStore::write_chunk(const std::string& id, std::int64_t owner_id, std::int64_t offset,
                                     std::string_view bytes) {
  if (bytes.empty()) throw ApiError(ApiCode::malformed_request, "the chunk is empty");
  const std::int64_t end = offset + static_cast<std::int64_t>(bytes.size());
  // One chunk at a time per database (a write transaction; on PostgreSQL the
  // upload's row is locked): two writers of overlapping bytes cannot both
  // find the other's range absent.
  return in_transaction(db_, [&] {
    SqlConnection& c = *db_.connection;
    UploadState state = load(id, owner_id, true);
    if (offset < 0 || end > state.size) {
      throw ApiError(ApiCode::malformed_request, "the chunk [" + std::to_string(offset) + ", " + std::to_string(end) +
                                                     ") lies outside the declared " + std::to_string(state.size) +
                                                     " bytes");
    }
    const fs::path file = file_of(id);
    const std::string digest = sha256_of(bytes);
    bool same_place = false;
    const SqlResult overlapping =
        c.run("SELECT chunk_offset, length, sha256 FROM upload_chunks WHERE upload_id = $1 AND chunk_offset < $3 "
              "AND chunk_offset + length > $2",
              {id, offset, end});
    for (const auto& r : overlapping.rows) {
      const std::int64_t b = std::stoll(r[0]);
      const std::int64_t e = b + std::stoll(r[1]);
      if (b == offset && e == end) {
        if (r[2] != digest) {
          throw ApiError(ApiCode::conflict, "different bytes were received at [" + std::to_string(b) + ", " +
                                                std::to_string(e) + ") before");
        }
        same_place = true;
        continue;
      }
      // Overlapping another chunk: the shared bytes must be the same.
      const std::int64_t from = std::max(b, offset);
      const std::int64_t to = std::min(e, end);
      if (read_range(file, from, to - from) != bytes.substr(static_cast<std::size_t>(from - offset),
                                                            static_cast<std::size_t>(to - from))) {
        throw ApiError(ApiCode::conflict, "different bytes were received at [" + std::to_string(from) + ", " +
                                              std::to_string(to) + ") before");
      }
    }
    if (!same_place) {
      Fd out(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
      if (out.fd < 0) io_failure(file, "open the upload");
      std::size_t done = 0;
      while (done < bytes.size()) {
        const ssize_t n =
            ::pwrite(out.fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset) + done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) io_failure(file, "write the upload");
        done += static_cast<std::size_t>(n);
      }
      // On disk before the range is recorded: a recorded range never lies.
      if (::fdatasync(out.fd) != 0) io_failure(file, "flush the upload");
      c.run("INSERT INTO upload_chunks (upload_id, chunk_offset, length, sha256) VALUES ($1, $2, $3, $4)",
            {id, offset, static_cast<std::int64_t>(bytes.size()), digest});
      c.run("UPDATE uploads SET touched_ms = $2 WHERE id = $1", {id, unix_millis()});
      state = load(id, owner_id, false);
    }
    return state;
  });
}

void UploadStore::forget(const std::string& id) const {
  db_.connection->run("DELETE FROM upload_chunks WHERE upload_id = $1", {id});
  db_.connection->run("DELETE FROM uploads WHERE id = $1", {id});
}

void UploadStore::abandon(const std::string& id, std::int64_t owner_id) {
  in_transaction(db_, [&] {
    load(id, owner_id, true);
    forget(id);
  });
  std::error_code ec;
  fs::remove(file_of(id), ec);
}

UploadState UploadStore::complete(const std::string& id, std::int64_t owner_id, const fs::path& destination,
                                  const std::function<void(const UploadState&)>& also) {
  bool discard = false;
  std::string actual;
  UploadState done = in_transaction(db_, [&] {
    UploadState state = load(id, owner_id, true);
    if (!state.all_received()) {
      std::string missing;
      std::int64_t at = 0;
      for (const auto& [b, e] : state.received) {
        if (b > at && missing.size() < 200) missing += " [" + std::to_string(at) + ", " + std::to_string(b) + ")";
        at = e;
      }
      if (at < state.size) missing += " [" + std::to_string(at) + ", " + std::to_string(state.size) + ")";
      throw ApiError(ApiCode::conflict, "the upload is incomplete; missing bytes:" + missing);
    }
    const fs::path file = file_of(id);
    actual = io::sha256_hex_of_file(file);
    if (actual != state.sha256) {
      forget(id);
      discard = true;
      return state;
    }
    std::error_code ec;
    fs::create_directories(destination.parent_path(), ec);
    fs::rename(file, destination);  // throws: nothing changed
    try {
      forget(id);
      also(state);
    } catch (...) {
      fs::rename(destination, file, ec);
      throw;
    }
    return state;
  });
  if (discard) {
    std::error_code ec;
    fs::remove(file_of(id), ec);
    throw ApiError(ApiCode::unprocessable, "the received file's SHA-256 is " + actual + ", not the declared " +
                                               done.sha256 + "; the upload is discarded: start again");
  }
  return done;
}

int UploadStore::expire(std::chrono::milliseconds idle) {
  std::vector<std::string> gone;
  in_transaction(db_, [&] {
    const SqlResult r = db_.connection->run("SELECT id FROM uploads WHERE touched_ms < $1",
                                            {unix_millis() - static_cast<std::int64_t>(idle.count())});
    for (const auto& row : r.rows) {
      forget(row[0]);
      gone.push_back(row[0]);
    }
  });
  std::error_code ec;
  for (const auto& id : gone) fs::remove(file_of(id), ec);
  return static_cast<int>(gone.size());
}

}  // namespace lwd::service
