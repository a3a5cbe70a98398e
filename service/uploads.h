// Chunked, resumable uploads of large packages (docs/DESIGN.md §6.9):
//
//   create   the client declares the file's name, size and SHA-256; the
//            server makes a sparse file of that size in uploads_dir() and an
//            uploads row (a size above the limit: 413)
//   chunk    bytes at an offset, in any order, any size up to the request
//            body limit; written with pwrite and made durable (fdatasync)
//            before their range is recorded, so a recorded range is always
//            on disk. The same bytes again at the same place (a retry) are
//            accepted and change nothing; different bytes where some were
//            received are a conflict (409); bytes past the declared size 400
//   status   the ranges received, so a client that lost its connection (or
//            whose server restarted) sends only what is missing
//   complete every byte received and the whole file's SHA-256 as declared:
//            the file is renamed into place atomically and the upload
//            forgotten in the same transaction as the caller's own step
//            (enqueuing it); a wrong hash discards the upload (422)
//
// A file is complete only when `complete` says so: a partial one (the
// client vanished, the server was stopped mid-chunk) is never mistaken for a
// package; it stays resumable until it expires (expire()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "service/submission_db.h"

namespace lwd::service {

struct UploadLimits {
  std::uint64_t max_package_bytes = std::uint64_t{1} << 30;  // the largest package accepted, either way
};

struct UploadState {
  std::string id;
  std::int64_t owner_id = 0;
  std::string filename;
  std::int64_t size = 0;
  std::string sha256;
  // Received byte ranges [begin, end), merged and in order.
  std::vector<std::pair<std::int64_t, std::int64_t>> received;
  std::int64_t received_bytes = 0;
  bool all_received() const { return received_bytes == size; }
};

// Letters, digits, '.', '-' and '_' of the client's name (others become
// '_'), at most 100 characters, never empty, never "." or "..": shown to
// people, never used as a path.
std::string sanitise_filename(const std::string& name);
// A lower-case 64-digit hex SHA-256, or nullopt.
std::optional<std::string> normalise_sha256(const std::string& text);

class UploadStore {
 public:
  UploadStore(SubmissionDatabase& db, std::filesystem::path dir, UploadLimits limits);

  // ApiError: 400 (bad name, size or hash), 413 (size above the limit).
  UploadState create(std::int64_t owner_id, const std::string& filename, std::int64_t size,
                     const std::string& sha256);
  // ApiError(not_found) for an upload that is not the owner's.
  UploadState get(const std::string& id, std::int64_t owner_id) const;
  UploadState write_chunk(const std::string& id, std::int64_t owner_id, std::int64_t offset, std::string_view bytes);
  // Forgets the upload and removes its file.
  void abandon(const std::string& id, std::int64_t owner_id);
  // Checks that every byte is there and the SHA-256 is as declared, renames
  // the file to `destination`, runs `also` (in the same transaction) and
  // forgets the upload. ApiError: 409 (bytes missing), 422 (wrong hash: the
  // upload is discarded), 404.
  UploadState complete(const std::string& id, std::int64_t owner_id, const std::filesystem::path& destination,
                       const std::function<void(const UploadState&)>& also);
  // Removes uploads not touched for `idle` (and their files); the count.
  int expire(std::chrono::milliseconds idle);

  const UploadLimits& limits() const { return limits_; }

 private:
  std::filesystem::path file_of(const std::string& id) const { return dir_ / (id + ".part"); }
  // Under a transaction: the upload's state, or ApiError(not_found).
  UploadState load(const std::string& id, std::int64_t owner_id, bool lock) const;
  void forget(const std::string& id) const;

  SubmissionDatabase& db_;
  std::filesystem::path dir_;
  UploadLimits limits_;
};

}  // namespace lwd::service
