#include "apps/lwdock-client/local_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "apps/lwdock-client/dock_client.h"

namespace lwdock::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw ClientError(Failure::local, path.string() + ": " + what + ": " + std::strerror(errno));
}

fs::path ensure_config_dir() {
  const fs::path dir = config_dir();
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail(dir, "cannot create the directory");
  return dir;
}

// Holds the directory's lock (flock of .lock) while alive.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    const fs::path path = dir / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(path, "cannot open");
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) fail(path, "cannot lock");
    }
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

json read_state(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return json::object();
  try {
    json doc = json::parse(in);
    return doc.is_object() ? doc : json::object();
  } catch (const json::exception&) {
    // A damaged file holds nothing worth keeping: it is rewritten whole.
    return json::object();
  }
}

void write_state(const fs::path& path, const json& doc) {
  const std::string text = doc.dump(2) + "\n";
  std::string temp = path.string() + ".XXXXXX";
  // mkstemp makes the file 0600; the umask covers anything else made here.
  const mode_t old_mask = ::umask(077);
  const int fd = ::mkstemp(temp.data());
  ::umask(old_mask);
  if (fd < 0) fail(temp, "cannot create");
  bool ok = ::fchmod(fd, 0600) == 0;
  for (std::size_t done = 0; ok && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    if (ok) fail(path, "cannot replace");
    ::unlink(temp.c_str());
    errno = saved;
    fail(path, "cannot write");
  }
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// Reads `name`, lets `change` edit it, writes it back when `change` says so.
void update_state(const std::string& name, const std::function<bool(json&)>& change) {
  const fs::path dir = ensure_config_dir();
  DirLock lock(dir);
  json doc = read_state(dir / name);
  if (change(doc)) write_state(dir / name, doc);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string upload_key(const std::string& server, const fs::path& file) {
  std::error_code ec;
  const fs::path absolute = fs::weakly_canonical(fs::absolute(file), ec);
  return server + " " + (ec ? fs::absolute(file).string() : absolute.string());
}

}  // namespace

fs::path config_dir() {
  // The XDG rule: a relative XDG_CONFIG_HOME is ignored.
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fs::path(xdg) / "lwdock";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') {
    throw ClientError(Failure::local, "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the credentials");
  }
  return fs::path(home) / ".config" / "lwdock";
}

std::optional<StoredToken> stored_token(const std::string& server) {
  std::optional<StoredToken> out;
  const fs::path path = config_dir() / "credentials.json";
  if (!fs::exists(path)) return out;
  const json doc = read_state(path);
  const auto servers = doc.find("servers");
  if (servers == doc.end() || !servers->is_object()) return out;
  const auto entry = servers->find(server);
  if (entry == servers->end() || !entry->is_object() || !entry->contains("token") || !(*entry)["token"].is_string())
    return out;
  out = StoredToken{(*entry)["token"].get<std::string>(), entry->value("user", std::string())};
  return out;
}

void store_token(const std::string& server, const StoredToken& token) {
  update_state("credentials.json", [&](json& doc) {
    if (!doc.contains("servers") || !doc["servers"].is_object()) doc["servers"] = json::object();
    doc["servers"][server] = {{"token", token.token}, {"user", token.user}, {"saved_at", utc_now()}};
    return true;
  });
}

bool forget_token(const std::string& server) {
  bool found = false;
  update_state("credentials.json", [&](json& doc) {
    if (!doc.contains("servers") || !doc["servers"].is_object()) return false;
    found = doc["servers"].erase(server) > 0;
    return found;
  });
  return found;
}

std::optional<SavedUpload> saved_upload(const std::string& server, const fs::path& file) {
  std::optional<SavedUpload> out;
  const fs::path path = config_dir() / "uploads.json";
  if (!fs::exists(path)) return out;
  const json doc = read_state(path);
  const auto uploads = doc.find("uploads");
  if (uploads == doc.end() || !uploads->is_object()) return out;
  const auto entry = uploads->find(upload_key(server, file));
  if (entry == uploads->end() || !entry->is_object()) return out;
  try {
    SavedUpload u;
    u.upload_id = entry->at("upload_id").get<std::string>();
    u.file.size = entry->at("size").get<std::uint64_t>();
    u.file.mtime_ns = entry->at("mtime_ns").get<std::int64_t>();
    u.file.sha256 = entry->at("sha256").get<std::string>();
    out = u;
  } catch (const json::exception&) {
  }
  return out;
}

void save_upload(const std::string& server, const fs::path& file, const SavedUpload& upload) {
  update_state("uploads.json", [&](json& doc) {
    if (!doc.contains("uploads") || !doc["uploads"].is_object()) doc["uploads"] = json::object();
    doc["uploads"][upload_key(server, file)] = {{"upload_id", upload.upload_id},
                                                {"size", upload.file.size},
                                                {"mtime_ns", upload.file.mtime_ns},
                                                {"sha256", upload.file.sha256},
                                                {"started_at", utc_now()}};
    return true;
  });
}

void forget_upload(const std::string& server, const fs::path& file) {
  update_state("uploads.json", [&](json& doc) {
    if (!doc.contains("uploads") || !doc["uploads"].is_object()) return false;
    return doc["uploads"].erase(upload_key(server, file)) > 0;
  });
}

}  // namespace lwdock::client
