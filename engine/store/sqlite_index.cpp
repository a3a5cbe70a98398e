#include "engine/store/sqlite_index.h"

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "engine/error.h"

namespace lwd {
namespace {

constexpr int kBusyTimeoutMs = 10000;

class SqliteConnection final : public SqlConnection {
 public:
  SqliteConnection(const std::filesystem::path& path, IndexAccess access) : name_(path.string()) {
    std::error_code ec;
    if (access == IndexAccess::read_only && !std::filesystem::exists(path, ec)) {
      throw Error(name_ + ": holds no learnware index (there is no such file)");
    }
    const int flags = access == IndexAccess::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error(name_ + ": cannot open the learnware index: " + message);
    }
    try {
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
      if (access == IndexAccess::read_only) {
        // The first statement is where SQLite notices a file that is not a database.
        run("SELECT 1 FROM sqlite_master LIMIT 1");
      } else {
        // Switching a new file to WAL needs it exclusively, and SQLite answers
        // a connection that would deadlock for it (it holds a shared lock that
        // another connection waits out) with SQLITE_BUSY at once, without the
        // busy handler: several processes opening one new market at the same
        // moment meet that. Try again until the busy timeout.
        for (int waited_ms = 0;; waited_ms += 2) {
          try {
            run("PRAGMA journal_mode=WAL");
            break;
          } catch (const Error&) {
            if (sqlite3_errcode(db_) != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
        }
        // FULL: a commit the user was told about survives a power cut;
        // submissions are rare, so the extra fsync per commit is cheap.
        run("PRAGMA synchronous=FULL");
      }
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }

  ~SqliteConnection() override { sqlite3_close(db_); }

  const std::string& name() const override { return name_; }

  SqlResult run(std::string_view sql, const std::vector<SqlValue>& params = {}) override {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK) {
      fail("cannot use the learnware index");
    }
    // Finalised on every way out, an exception included.
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    for (std::size_t i = 0; i < params.size(); ++i) bind(raw, static_cast<int>(i + 1), params[i]);
    SqlResult result;
    const int columns = sqlite3_column_count(raw);
    for (;;) {
      const int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail("learnware index query failed");
      std::vector<std::string>& row = result.rows.emplace_back();
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
        row.emplace_back(text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(raw, c)))
                              : std::string());
      }
    }
    result.affected = sqlite3_changes(db_);
    return result;
  }

  // IMMEDIATE takes the write lock now, so a concurrent writer waits on the
  // busy timeout here instead of failing later when this one upgrades.
  void begin() override { exec("BEGIN IMMEDIATE", "cannot begin a transaction"); }
  void commit() override { exec("COMMIT", "cannot commit"); }
  void rollback() noexcept override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  bool has_table(std::string_view table) override {
    return !run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", {std::string(table)}).rows.empty();
  }
  // SQLite's default collation (BINARY) already compares bytes.
  std::string byte_order(std::string_view column) const override { return std::string(column); }
  void lock_schema() override {}

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "no connection"));
  }

  void exec(const char* sql, const std::string& what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(what);
  }

  // Parameters are written "$1".."$n" (portable to PostgreSQL); SQLite
  // numbers them by first appearance, so look each position up by name.
  void bind(sqlite3_stmt* stmt, int number, const SqlValue& value) const {
    std::string name = "$";  // (appending avoids a GCC 12 -Wrestrict false positive on "literal" + string)
    name += std::to_string(number);
    const int position = sqlite3_bind_parameter_index(stmt, name.c_str());
    if (position == 0) throw Error("internal error: the learnware index query has no parameter " + name);
    int rc = SQLITE_OK;
    if (const auto* text = std::get_if<std::string>(&value)) {
      rc = sqlite3_bind_text(stmt, position, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_int64(stmt, position, std::get<std::int64_t>(value));
    }
    if (rc != SQLITE_OK) fail("cannot bind a parameter");
  }

  std::string name_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<SqlConnection> open_sqlite_connection(const std::filesystem::path& path, IndexAccess access) {
  return std::make_unique<SqliteConnection>(path, access);
}

std::unique_ptr<LearnwareIndex> open_sqlite_index(const std::filesystem::path& path, IndexAccess access) {
  return open_sql_index(open_sqlite_connection(path, access), access);
}

}  // namespace lwd
