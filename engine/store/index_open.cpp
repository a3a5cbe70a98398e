// Opening an index by URL: SQLite in this process, PostgreSQL through its
// module (postgres_module.h), which is loaded the first time it is needed.
#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/store/index_url.h"
#include "engine/store/postgres_index.h"
#include "engine/store/postgres_module.h"
#include "engine/store/sql_open.h"
#include "engine/store/sqlite_index.h"

namespace lwd {
namespace {

using ModuleEntry = SqlConnection* (*)(const char*, int, std::string*) noexcept;

// Where the module is, in this order: beside the running program (a build
// tree's apps/ has none; an unpacked tree may), in ../lib/lwdock/ from it (an
// installed tree, wherever it was moved), where `cmake --install` puts it, and
// where this build made it.
std::vector<std::filesystem::path> module_candidates() {
  std::vector<std::filesystem::path> out;
  std::array<char, 4096> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    const std::filesystem::path dir = std::filesystem::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
    out.push_back(dir / LWD_POSTGRES_MODULE_NAME);
    out.push_back((dir / ".." / LWD_POSTGRES_MODULE_LIB_DIR / LWD_POSTGRES_MODULE_NAME).lexically_normal());
  }
  out.emplace_back(LWD_POSTGRES_MODULE_INSTALL_PATH);
  out.emplace_back(LWD_POSTGRES_MODULE_BUILD_PATH);
  return out;
}

// Loads the module once per process (dlopen's handle is kept for its life).
ModuleEntry postgres_module_entry() {
  static std::once_flag once;
  static ModuleEntry entry = nullptr;
  static std::string problem;
  std::call_once(once, [] {
    std::string tried;
    for (const auto& candidate : module_candidates()) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(candidate, ec)) continue;
      // RTLD_LOCAL: libpq and libpqxx stay private to the module.
      void* handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        const char* why = ::dlerror();
        problem = "cannot load the PostgreSQL backend " + candidate.string() + ": " + (why ? why : "unknown error");
        return;
      }
      entry = reinterpret_cast<ModuleEntry>(::dlsym(handle, LWD_POSTGRES_MODULE_ENTRY_NAME));
      if (entry == nullptr) {
        problem = "the PostgreSQL backend " + candidate.string() + " is from another build (it has no " +
                  LWD_POSTGRES_MODULE_ENTRY_NAME + ")";
      }
      return;
    }
    for (const auto& candidate : module_candidates()) tried += (tried.empty() ? "" : ", ") + candidate.string();
    problem = std::string("the PostgreSQL backend (") + LWD_POSTGRES_MODULE_NAME + ") is not installed; looked in " + tried;
  });
  if (entry == nullptr) throw Error(problem);
  return entry;
}

}  // namespace

std::unique_ptr<SqlConnection> open_postgres_connection(std::string_view url, IndexAccess access) {
  const ModuleEntry entry = postgres_module_entry();
  std::string error;
  SqlConnection* connection =
      entry(std::string(url).c_str(), access == IndexAccess::read_only ? 1 : 0, &error);
  if (connection == nullptr) throw Error(error);
  return std::unique_ptr<SqlConnection>(connection);
}

std::unique_ptr<LearnwareIndex> open_postgres_index(std::string_view url, IndexAccess access) {
  return open_sql_index(open_postgres_connection(url, access), access);
}

std::unique_ptr<SqlConnection> open_database_connection(std::string_view url,
                                                        const std::filesystem::path& default_sqlite_path,
                                                        IndexAccess access) {
  if (url.empty()) return open_sqlite_connection(default_sqlite_path, access);
  const ParsedIndexUrl parsed = parse_index_url(url);
  if (parsed.backend == ParsedIndexUrl::Backend::sqlite) return open_sqlite_connection(parsed.sqlite_path, access);
  return open_postgres_connection(url, access);
}

std::unique_ptr<LearnwareIndex> open_learnware_index(std::string_view url,
                                                     const std::filesystem::path& default_sqlite_path,
                                                     IndexAccess access) {
  if (url.empty()) return open_sqlite_index(default_sqlite_path, access);
  const ParsedIndexUrl parsed = parse_index_url(url);
  if (parsed.backend == ParsedIndexUrl::Backend::sqlite) return open_sqlite_index(parsed.sqlite_path, access);
  return open_postgres_index(url, access);
}

}  // namespace lwd
