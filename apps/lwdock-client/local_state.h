// What the client keeps between runs, in $XDG_CONFIG_HOME/lwdock (default
// ~/.config/lwdock), a directory of mode 0700:
//
//   credentials.json  {"servers": {URL: {"token", "user", "saved_at"}}}:
//                     the token `login` checked, per server URL
//   uploads.json      {"uploads": {URL + " " + FILE: {"upload_id", "size",
//                     "mtime_ns", "sha256"}}}: the chunked upload a `submit`
//                     or `update` of FILE started, so that running it again
//                     after an interruption sends only what the server lacks
//
// Both are written whole to a temporary file of mode 0600 (made so by the
// umask before it exists, never widened), synced and renamed over the old
// one, under an flock of the directory's .lock: two clients at once never
// lose each other's entries, and a reader never sees half a file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace lwdock::client {

std::filesystem::path config_dir();

struct StoredToken {
  std::string token;
  std::string user;
};
std::optional<StoredToken> stored_token(const std::string& server);
void store_token(const std::string& server, const StoredToken& token);
// false when nothing was stored for `server`.
bool forget_token(const std::string& server);

// Which bytes an upload is of: a changed file is never resumed.
struct FileFingerprint {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;
  bool operator==(const FileFingerprint&) const = default;
};
struct SavedUpload {
  std::string upload_id;
  FileFingerprint file;
};
std::optional<SavedUpload> saved_upload(const std::string& server, const std::filesystem::path& file);
void save_upload(const std::string& server, const std::filesystem::path& file, const SavedUpload& upload);
void forget_upload(const std::string& server, const std::filesystem::path& file);

}  // namespace lwdock::client
