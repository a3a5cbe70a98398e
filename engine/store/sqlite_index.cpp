#include "engine/store/sqlite_index.h"

#include <sqlite3.h>

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "engine/error.h"

namespace lwd {
namespace {

// The SQL below is meant to run unchanged on PostgreSQL: TEXT/BIGINT columns,
// "IF NOT EXISTS" DDL, and parameters written $1, $2, ... (SQLite reads "$1" as
// a named parameter; numbered in order of first use, they bind by position just
// like PostgreSQL's). Only PRAGMAs and BEGIN IMMEDIATE are SQLite's own and
// stay in this file.
constexpr const char* kCreateSchema[] = {
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS learnware ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT NOT NULL,"
    "  package_path TEXT NOT NULL,"
    "  spec_keys TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS learnware_by_status ON learnware (status)",
    // The highest id ever handed out or inserted, so deleting the newest
    // learnware never lets its id come back.
    "CREATE TABLE IF NOT EXISTS id_counter (name TEXT PRIMARY KEY, last_value BIGINT NOT NULL)",
};
constexpr const char* kCounterName = "learnware";
constexpr const char* kColumns =
    "id, name, owner, status, status_reason, package_path, spec_keys, created_at, updated_at";
constexpr int kBusyTimeoutMs = 10000;

std::string spec_keys_to_text(const std::vector<std::string>& keys) { return nlohmann::json(keys).dump(); }

std::string format_id(std::int64_t value) {
  char text[32];
  std::snprintf(text, sizeof text, "%08lld", static_cast<long long>(value));
  return text;
}

// Numeric value of an all-digit id ("00000042" -> 42); nullopt for other ids.
std::optional<std::int64_t> numeric_id(std::string_view id) {
  std::int64_t value = 0;
  const auto res = std::from_chars(id.data(), id.data() + id.size(), value);
  if (res.ec != std::errc() || res.ptr != id.data() + id.size() || id.front() == '-') return std::nullopt;
  return value;
}

class SqliteIndex;

// One prepared statement; finalised on scope exit so an exception never leaks it.
class Statement {
 public:
  Statement(const SqliteIndex& index, const char* sql);
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds parameter $number.
  Statement& bind(int number, std::string_view text);
  Statement& bind(int number, std::int64_t value);
  // Advances; true while a row is available, false when done.
  bool step();
  void run() {
    while (step()) {
    }
  }
  std::string text(int column) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  int parameter(int number) const;

  const SqliteIndex& index_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteIndex final : public LearnwareIndex {
 public:
  explicit SqliteIndex(std::filesystem::path path) : path_(std::move(path)) {
    const int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error(path_.string() + ": cannot open the learnware index: " + message);
    }
    try {
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
      // The first statement is where SQLite notices a file that is not a database.
      Statement(*this, "PRAGMA journal_mode=WAL").run();
      // FULL: a commit the user was told about survives a power cut; submissions
      // are rare, so the extra fsync per commit is cheap.
      Statement(*this, "PRAGMA synchronous=FULL").run();
      initialise_schema();
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }

  ~SqliteIndex() override {
    if (in_transaction_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_.string() + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "no connection"));
  }
  sqlite3* db() const { return db_; }

  void insert(const LearnwareRecord& record) override {
    if (!is_valid_learnware_id(record.id)) {
      throw Error(path_.string() + ": learnware id \"" + record.id +
                  "\" is not valid (use 1 to 64 letters, digits, '-' or '_')");
    }
    in_own_transaction([&] {
      if (exists(record.id)) throw Error(path_.string() + ": learnware " + record.id + " is already in the index");
      Statement insert(*this,
                       "INSERT INTO learnware (id, name, owner, status, status_reason, package_path, spec_keys, "
                       "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
      bind_record(insert, record);
      insert.run();
      if (const auto value = numeric_id(record.id)) {
        Statement raise(*this, "UPDATE id_counter SET last_value = $1 WHERE name = $2 AND last_value < $1");
        raise.bind(1, *value).bind(2, kCounterName).run();
      }
    });
  }

  void update(const LearnwareRecord& record) override {
    in_own_transaction([&] {
      Statement update(*this,
                       "UPDATE learnware SET name = $2, owner = $3, status = $4, status_reason = $5, "
                       "package_path = $6, spec_keys = $7, created_at = $8, updated_at = $9 WHERE id = $1");
      bind_record(update, record);
      update.run();
      if (sqlite3_changes(db_) == 0) {
        throw Error(path_.string() + ": cannot update learnware " + record.id + ": it is not in the index");
      }
    });
  }

  bool remove(std::string_view id) override {
    bool removed = false;
    in_own_transaction([&] {
      Statement remove(*this, "DELETE FROM learnware WHERE id = $1");
      remove.bind(1, id).run();
      removed = sqlite3_changes(db_) > 0;
    });
    return removed;
  }

  std::optional<LearnwareRecord> get(std::string_view id) const override {
    const std::string sql = std::string("SELECT ") + kColumns + " FROM learnware WHERE id = $1";
    Statement select(*this, sql.c_str());
    select.bind(1, id);
    if (!select.step()) return std::nullopt;
    return read_record(select);
  }

  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status) const override {
    std::vector<LearnwareRecord> records;
    const std::string all = std::string("SELECT ") + kColumns + " FROM learnware ORDER BY id";
    const std::string filtered = std::string("SELECT ") + kColumns + " FROM learnware WHERE status = $1 ORDER BY id";
    Statement select(*this, status ? filtered.c_str() : all.c_str());
    if (status) select.bind(1, to_string(*status));
    while (select.step()) records.push_back(read_record(select));
    return records;
  }

  std::string reserve_id() override {
    std::int64_t value = 0;
    in_own_transaction([&] {
      Statement bump(*this, "UPDATE id_counter SET last_value = last_value + 1 WHERE name = $1");
      bump.bind(1, kCounterName).run();
      Statement read(*this, "SELECT last_value FROM id_counter WHERE name = $1");
      read.bind(1, kCounterName);
      if (!read.step()) throw Error(path_.string() + ": the id counter row is missing; the index is damaged");
      value = read.integer(0);
    });
    return format_id(value);
  }

  void begin() override {
    if (in_transaction_) throw Error(path_.string() + ": a transaction is already open (they do not nest)");
    // IMMEDIATE takes the write lock now, so a concurrent writer waits on the
    // busy timeout here instead of failing later when this one upgrades.
    exec("BEGIN IMMEDIATE", "cannot begin a transaction");
    in_transaction_ = true;
  }

  void commit() override {
    if (!in_transaction_) throw Error(path_.string() + ": commit without an open transaction");
    exec("COMMIT", "cannot commit");
    in_transaction_ = false;
  }

  void rollback() override {
    if (!in_transaction_) return;
    in_transaction_ = false;
    exec("ROLLBACK", "cannot roll back");
  }

  bool in_transaction() const override { return in_transaction_; }

 private:
  void exec(const char* sql, const std::string& what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(what);
  }

  // Runs body inside the caller's transaction if one is open, else in its own.
  template <class Body>
  void in_own_transaction(Body&& body) {
    if (in_transaction_) {
      body();
    } else {
      transaction(body);
    }
  }

  bool exists(std::string_view id) const {
    Statement select(*this, "SELECT 1 FROM learnware WHERE id = $1");
    select.bind(1, id);
    return select.step();
  }

  void initialise_schema() {
    transaction([&] {
      for (const char* sql : kCreateSchema) Statement(*this, sql).run();
      Statement version(*this, "SELECT version FROM schema_version");
      if (version.step()) {
        const std::int64_t found = version.integer(0);
        if (found > kSqliteIndexSchemaVersion) {
          throw Error(path_.string() + ": the learnware index has schema version " + std::to_string(found) +
                      ", newer than this program understands (" + std::to_string(kSqliteIndexSchemaVersion) +
                      "); use a newer lwdock");
        }
      } else {
        Statement set(*this, "INSERT INTO schema_version (version) VALUES ($1)");
        set.bind(1, std::int64_t{kSqliteIndexSchemaVersion}).run();
      }
      Statement counter(*this,
                        "INSERT INTO id_counter (name, last_value) SELECT $1, 0 "
                        "WHERE NOT EXISTS (SELECT 1 FROM id_counter WHERE name = $1)");
      counter.bind(1, kCounterName).run();
    });
  }

  static void bind_record(Statement& statement, const LearnwareRecord& record) {
    statement.bind(1, record.id)
        .bind(2, record.name)
        .bind(3, record.owner)
        .bind(4, to_string(record.status))
        .bind(5, record.status_reason)
        .bind(6, record.package_path)
        .bind(7, spec_keys_to_text(record.spec_keys))
        .bind(8, record.created_at)
        .bind(9, record.updated_at);
  }

  LearnwareRecord read_record(const Statement& row) const {
    LearnwareRecord record;
    record.id = row.text(0);
    record.name = row.text(1);
    record.owner = row.text(2);
    try {
      record.status = parse_learnware_status(row.text(3));
    } catch (const Error& e) {
      throw Error(path_.string() + ": learnware " + record.id + ": " + e.what());
    }
    record.status_reason = row.text(4);
    record.package_path = row.text(5);
    const auto keys = nlohmann::json::parse(row.text(6), nullptr, /*allow_exceptions=*/false);
    if (!keys.is_array()) throw Error(path_.string() + ": learnware " + record.id + ": spec_keys is not a JSON list");
    for (const auto& key : keys) {
      if (!key.is_string()) throw Error(path_.string() + ": learnware " + record.id + ": spec_keys holds a non-string");
      record.spec_keys.push_back(key.get<std::string>());
    }
    record.created_at = row.text(7);
    record.updated_at = row.text(8);
    return record;
  }

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  bool in_transaction_ = false;
};

Statement::Statement(const SqliteIndex& index, const char* sql) : index_(index) {
  if (sqlite3_prepare_v2(index.db(), sql, -1, &stmt_, nullptr) != SQLITE_OK) {
    index.fail("cannot use the learnware index");
  }
}

// Parameters are named "$1".."$9" (see the note on portability above); SQLite
// numbers them by first appearance, so look the position up by name.
int Statement::parameter(int number) const {
  std::string name = "$";  // (appending avoids a GCC 12 -Wrestrict false positive on "literal" + string)
  name += std::to_string(number);
  const int position = sqlite3_bind_parameter_index(stmt_, name.c_str());
  if (position == 0) throw Error("internal error: the learnware index query has no parameter " + name);
  return position;
}

Statement& Statement::bind(int number, std::string_view text) {
  if (sqlite3_bind_text(stmt_, parameter(number), text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    index_.fail("cannot bind a parameter");
  }
  return *this;
}

Statement& Statement::bind(int number, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, parameter(number), value) != SQLITE_OK) index_.fail("cannot bind a parameter");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  index_.fail("learnware index query failed");
}

}  // namespace

std::unique_ptr<LearnwareIndex> open_sqlite_index(const std::filesystem::path& path) {
  return std::make_unique<SqliteIndex>(path);
}

}  // namespace lwd
