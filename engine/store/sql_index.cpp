#include "engine/store/sql_index.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "engine/error.h"

namespace lwd {
namespace {

// The schema, one migration per version. Each list of statements takes a
// database of the version before to its own version; the statements run
// unchanged on SQLite and PostgreSQL (TEXT/BIGINT columns, "IF NOT EXISTS"
// DDL, parameters written $1, $2, ...). A released migration is never edited:
// a change of layout is a new version appended here, and a test opens a
// database of every earlier version (tests/store/test_index_conformance.cpp).
struct Migration {
  int version;
  std::vector<const char*> statements;
};

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      // 1: the learnware table and the id counter. "IF NOT EXISTS" because
      // version 1 was also written, as the same tables, by programs that knew
      // no migrations.
      {1,
       {
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
           // The highest id ever handed out or inserted, so deleting the
           // newest learnware never lets its id come back.
           "CREATE TABLE IF NOT EXISTS id_counter (name TEXT PRIMARY KEY, last_value BIGINT NOT NULL)",
           "INSERT INTO id_counter (name, last_value) SELECT 'learnware', 0 "
           "WHERE NOT EXISTS (SELECT 1 FROM id_counter WHERE name = 'learnware')",
       }},
      // 2: what several processes on one database need. The change counter
      // (a second id_counter row) tells a process that only searches that
      // another changed the index; each row's seq is the counter value of its
      // last change, so what changed since a value can be read alone. The
      // market tag ties the index to its market directory.
      {2,
       {
           "ALTER TABLE learnware ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
           "INSERT INTO id_counter (name, last_value) VALUES ('change', 0)",
           "CREATE TABLE index_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
       }},
      // 3: following another process's changes in O(what changed). A removal
      // leaves no row, so each removed id is kept with the counter value of
      // its removal (ids are never handed out again, so the table only grows
      // by deletions); both tables are indexed by that value.
      {3,
       {
           "CREATE TABLE learnware_removed (id TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
           "CREATE INDEX learnware_by_seq ON learnware (seq)",
           "CREATE INDEX learnware_removed_by_seq ON learnware_removed (seq)",
       }},
  };
  return list;
}

constexpr const char* kIdCounter = "learnware";
constexpr const char* kChangeCounter = "change";
constexpr const char* kMarketTag = "market_tag";
constexpr const char* kColumns =
    "id, name, owner, status, status_reason, package_path, spec_keys, created_at, updated_at";

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

std::int64_t parse_integer(const SqlConnection& db, const std::string& text, const char* what) {
  std::int64_t value = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), value);
  if (res.ec != std::errc() || res.ptr != text.data() + text.size()) {
    throw Error(db.name() + ": " + what + " is not an integer (\"" + text + "\"); the index is damaged");
  }
  return value;
}

// Runs body in a transaction of its own: committed, or rolled back and rethrown.
template <class Body>
void in_transaction_of(SqlConnection& db, Body&& body) {
  db.begin();
  try {
    body();
    db.commit();
  } catch (...) {
    db.rollback();
    throw;
  }
}

std::string newer_schema_message(const SqlConnection& db, int found) {
  return db.name() + ": the learnware index has schema version " + std::to_string(found) +
         ", newer than this program understands (" + std::to_string(current_index_schema_version()) +
         "); use a newer lwdock";
}

class SqlIndex final : public LearnwareIndex {
 public:
  SqlIndex(std::unique_ptr<SqlConnection> db, IndexAccess access) : db_(std::move(db)), access_(access) {
    const int current = current_index_schema_version();
    if (access_ == IndexAccess::read_write) {
      migrate_index_schema(*db_, current);
      return;
    }
    const int found = index_schema_version(*db_);
    if (found > current) throw Error(newer_schema_message(*db_, found));
    if (found == 0) throw Error(db_->name() + ": holds no learnware index");
    if (found < current) {
      throw Error(db_->name() + ": the learnware index has schema version " + std::to_string(found) +
                  ", older than this program's (" + std::to_string(current) +
                  "); it is read-only here, so open the primary database once to upgrade it (a replica follows)");
    }
  }

  ~SqlIndex() override {
    if (in_transaction_) db_->rollback();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  void insert(const LearnwareRecord& record) override {
    writable("insert a learnware");
    if (!is_valid_learnware_id(record.id)) {
      throw Error(db_->name() + ": learnware id \"" + record.id +
                  "\" is not valid (use 1 to 64 letters, digits, '-' or '_')");
    }
    in_own_transaction([&] {
      if (exists(record.id)) throw Error(db_->name() + ": learnware " + record.id + " is already in the index");
      auto params = record_params(record);
      params.emplace_back(bump_change_seq());
      db_->run(
          "INSERT INTO learnware (id, name, owner, status, status_reason, package_path, spec_keys, "
          "created_at, updated_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
          params);
      // An id given back by its caller after a removal (the market never
      // does) is a row again, not a removal.
      db_->run("DELETE FROM learnware_removed WHERE id = $1", {record.id});
      if (const auto value = numeric_id(record.id)) {
        db_->run("UPDATE id_counter SET last_value = $1 WHERE name = $2 AND last_value < $1",
                 {*value, std::string(kIdCounter)});
      }
    });
  }

  void update(const LearnwareRecord& record) override {
    writable("update a learnware");
    in_own_transaction([&] {
      auto params = record_params(record);
      params.emplace_back(bump_change_seq());
      const SqlResult result = db_->run(
          "UPDATE learnware SET name = $2, owner = $3, status = $4, status_reason = $5, "
          "package_path = $6, spec_keys = $7, created_at = $8, updated_at = $9, seq = $10 WHERE id = $1",
          params);
      // The whole transaction goes back, the counter's bump with it.
      if (result.affected == 0) {
        throw Error(db_->name() + ": cannot update learnware " + record.id + ": it is not in the index");
      }
    });
  }

  bool remove(std::string_view id) override {
    writable("remove a learnware");
    bool removed = false;
    in_own_transaction([&] {
      removed = db_->run("DELETE FROM learnware WHERE id = $1", {std::string(id)}).affected > 0;
      if (!removed) return;
      const std::int64_t seq = bump_change_seq();
      db_->run(
          "INSERT INTO learnware_removed (id, seq) VALUES ($1, $2) "
          "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
          {std::string(id), seq});
    });
    return removed;
  }

  std::optional<LearnwareRecord> get(std::string_view id) const override {
    const SqlResult result =
        db_->run(std::string("SELECT ") + kColumns + " FROM learnware WHERE id = $1", {std::string(id)});
    if (result.rows.empty()) return std::nullopt;
    return read_record(result.rows.front());
  }

  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status) const override {
    const std::string order = " ORDER BY " + db_->byte_order("id");
    SqlResult result = status ? db_->run(std::string("SELECT ") + kColumns + " FROM learnware WHERE status = $1" + order,
                                         {std::string(to_string(*status))})
                              : db_->run(std::string("SELECT ") + kColumns + " FROM learnware" + order);
    std::vector<LearnwareRecord> records;
    records.reserve(result.rows.size());
    for (const auto& row : result.rows) records.push_back(read_record(row));
    return records;
  }

  std::string reserve_id() override {
    writable("reserve an id");
    std::int64_t value = 0;
    in_own_transaction([&] { value = bump_counter(kIdCounter); });
    return format_id(value);
  }

  void begin() override {
    writable("begin a transaction");
    if (in_transaction_) throw Error(db_->name() + ": a transaction is already open (they do not nest)");
    db_->begin();
    in_transaction_ = true;
  }

  void commit() override {
    if (!in_transaction_) throw Error(db_->name() + ": commit without an open transaction");
    // Whatever the outcome, the transaction is over: a failed commit has
    // rolled back (SQLite: rollback() below finishes it).
    in_transaction_ = false;
    try {
      db_->commit();
    } catch (...) {
      db_->rollback();
      throw;
    }
  }

  void rollback() override {
    if (!in_transaction_) return;
    in_transaction_ = false;
    db_->rollback();
  }

  bool in_transaction() const override { return in_transaction_; }

  std::int64_t change_seq() const override {
    const SqlResult result = db_->run("SELECT last_value FROM id_counter WHERE name = $1", {std::string(kChangeCounter)});
    if (result.rows.empty()) throw Error(db_->name() + ": the change counter row is missing; the index is damaged");
    return parse_integer(*db_, result.rows.front().at(0), "the change counter");
  }

  IndexCounters counters() const override {
    const SqlResult result = db_->run("SELECT name, last_value FROM id_counter WHERE name = $1 OR name = $2",
                                      {std::string(kIdCounter), std::string(kChangeCounter)});
    std::optional<std::int64_t> last_id, change_seq;
    for (const auto& row : result.rows) {
      const std::int64_t value = parse_integer(*db_, row.at(1), "a counter");
      (row.at(0) == kIdCounter ? last_id : change_seq) = value;
    }
    if (!last_id || !change_seq) throw Error(db_->name() + ": a counter row is missing; the index is damaged");
    return {*last_id, *change_seq};
  }

  void raise_counters(const IndexCounters& at_least) override {
    writable("raise the counters");
    if (at_least.last_id < 0 || at_least.change_seq < 0) {
      throw Error(db_->name() + ": cannot raise a counter to a negative value");
    }
    in_own_transaction([&] {
      for (const auto& [counter, value] :
           {std::pair{kIdCounter, at_least.last_id}, std::pair{kChangeCounter, at_least.change_seq}}) {
        db_->run("UPDATE id_counter SET last_value = $1 WHERE name = $2 AND last_value < $1",
                 {value, std::string(counter)});
      }
    });
  }

  IndexChanges changes_since(std::int64_t after) const override {
    IndexChanges changes;
    // Sorted here, not by ORDER BY id: SQLite's planner would then walk the
    // whole table in id order (its primary key) rather than the few rows the
    // seq index finds, which made catching up O(market).
    const SqlResult rows =
        db_->run(std::string("SELECT ") + kColumns + ", seq FROM learnware WHERE seq > $1", {after});
    changes.changed.reserve(rows.rows.size());
    for (auto row : rows.rows) {
      if (row.size() != 10) throw Error(db_->name() + ": a changed row has " + std::to_string(row.size()) + " columns");
      changes.seq = std::max(changes.seq, parse_integer(*db_, row.back(), "a row's seq"));
      row.pop_back();
      changes.changed.push_back(read_record(row));
    }
    std::sort(changes.changed.begin(), changes.changed.end(),
              [](const LearnwareRecord& a, const LearnwareRecord& b) { return a.id < b.id; });
    const SqlResult removed = db_->run("SELECT id, seq FROM learnware_removed WHERE seq > $1", {after});
    changes.removed.reserve(removed.rows.size());
    for (const auto& row : removed.rows) {
      changes.seq = std::max(changes.seq, parse_integer(*db_, row.at(1), "a removal's seq"));
      changes.removed.push_back(row.at(0));
    }
    return changes;
  }

  std::int64_t wait_for_change(std::int64_t seen, std::chrono::milliseconds timeout,
                               std::chrono::milliseconds poll_period) override {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    const int wake = wake_fd();
    // Listening starts before the first look at the counter, so a commit
    // between the two is announced rather than missed.
    if (!listen_tried_) {
      listening_ = db_->listen_for_changes();
      listen_tried_ = true;
    }
    for (;;) {
      const std::int64_t seq = change_seq();
      if (seq != seen || interrupted_.load()) return seq;
      const auto now = Clock::now();
      if (now >= deadline) return seq;
      auto slice = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      if (!listening_) slice = std::min(slice, std::max(poll_period, std::chrono::milliseconds(1)));
      db_->wait_for_announcement(wake, slice);
    }
  }

  void interrupt_wait() override {
    interrupted_.store(true);
    std::lock_guard lock(wake_mutex_);
    if (wake_fd_ >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
    }
  }

  std::optional<std::string> market_tag() const override {
    const SqlResult result = db_->run("SELECT value FROM index_meta WHERE name = $1", {std::string(kMarketTag)});
    if (result.rows.empty()) return std::nullopt;
    return result.rows.front().at(0);
  }

  void set_market_tag(std::string_view tag) override {
    writable("set the market tag");
    in_own_transaction([&] {
      db_->run("DELETE FROM index_meta WHERE name = $1", {std::string(kMarketTag)});
      db_->run("INSERT INTO index_meta (name, value) VALUES ($1, $2)", {std::string(kMarketTag), std::string(tag)});
    });
  }

  const std::string& name() const override { return db_->name(); }

 private:
  void writable(const char* what) const {
    if (access_ == IndexAccess::read_only) {
      throw Error(db_->name() + ": cannot " + what + ": the database is open for reading only");
    }
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

  // UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL): one statement, so a
  // concurrent bump in PostgreSQL waits on the row lock and then adds to the
  // committed value, and no two transactions read the same number.
  std::int64_t bump_counter(const char* counter) {
    const SqlResult result =
        db_->run("UPDATE id_counter SET last_value = last_value + 1 WHERE name = $1 RETURNING last_value",
                 {std::string(counter)});
    if (result.rows.empty()) {
      throw Error(db_->name() + ": the " + counter + " counter row is missing; the index is damaged");
    }
    return parse_integer(*db_, result.rows.front().at(0), "a counter");
  }
  // Every change bumps the counter once, and the bump is where it is announced.
  std::int64_t bump_change_seq() {
    const std::int64_t seq = bump_counter(kChangeCounter);
    db_->announce_change();
    return seq;
  }

  // What interrupt_wait() writes to; made by the first wait.
  int wake_fd() {
    std::lock_guard lock(wake_mutex_);
    if (wake_fd_ < 0) {
      wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wake_fd_ < 0) {
        throw Error(db_->name() + ": cannot wait for changes: eventfd: " + std::generic_category().message(errno));
      }
    }
    return wake_fd_;
  }

  bool exists(std::string_view id) const {
    return !db_->run("SELECT 1 FROM learnware WHERE id = $1", {std::string(id)}).rows.empty();
  }

  static std::vector<SqlValue> record_params(const LearnwareRecord& record) {
    return {record.id,
            record.name,
            record.owner,
            std::string(to_string(record.status)),
            record.status_reason,
            record.package_path,
            spec_keys_to_text(record.spec_keys),
            record.created_at,
            record.updated_at};
  }

  LearnwareRecord read_record(const std::vector<std::string>& row) const {
    if (row.size() != 9) throw Error(db_->name() + ": a learnware row has " + std::to_string(row.size()) + " columns");
    LearnwareRecord record;
    record.id = row[0];
    record.name = row[1];
    record.owner = row[2];
    try {
      record.status = parse_learnware_status(row[3]);
    } catch (const Error& e) {
      throw Error(db_->name() + ": learnware " + record.id + ": " + e.what());
    }
    record.status_reason = row[4];
    record.package_path = row[5];
    const auto keys = nlohmann::json::parse(row[6], nullptr, /*allow_exceptions=*/false);
    if (!keys.is_array()) throw Error(db_->name() + ": learnware " + record.id + ": spec_keys is not a JSON list");
    for (const auto& key : keys) {
      if (!key.is_string()) throw Error(db_->name() + ": learnware " + record.id + ": spec_keys holds a non-string");
      record.spec_keys.push_back(key.get<std::string>());
    }
    record.created_at = row[7];
    record.updated_at = row[8];
    return record;
  }

  std::unique_ptr<SqlConnection> db_;
  IndexAccess access_;
  bool in_transaction_ = false;
  // wait_for_change
  bool listen_tried_ = false;
  bool listening_ = false;
  std::atomic<bool> interrupted_{false};
  std::mutex wake_mutex_;
  int wake_fd_ = -1;
};

}  // namespace

int current_index_schema_version() { return migrations().back().version; }

int index_schema_version(SqlConnection& db) {
  if (!db.has_table("schema_version")) return 0;
  const SqlResult result = db.run("SELECT MAX(version) FROM schema_version");
  if (result.rows.empty() || result.rows.front().at(0).empty()) return 0;
  return static_cast<int>(parse_integer(db, result.rows.front().at(0), "the schema version"));
}

void migrate_index_schema(SqlConnection& db, int target) {
  const int current = current_index_schema_version();
  if (target < 1 || target > current) {
    throw Error("internal error: no learnware index schema version " + std::to_string(target));
  }
  // A look before any write: the usual open finds the schema current and
  // takes no write lock, and a newer schema is refused untouched.
  int found = index_schema_version(db);
  if (found > current) throw Error(newer_schema_message(db, found));
  if (found >= target) return;
  in_transaction_of(db, [&] {
    db.lock_schema();
    found = index_schema_version(db);  // another process may have migrated meanwhile
    if (found > current) throw Error(newer_schema_message(db, found));
    if (found >= target) return;
    for (const Migration& migration : migrations()) {
      if (migration.version <= found || migration.version > target) continue;
      for (const char* sql : migration.statements) db.run(sql);
    }
    db.run("DELETE FROM schema_version");
    db.run("INSERT INTO schema_version (version) VALUES ($1)", {std::int64_t{target}});
  });
}

std::unique_ptr<LearnwareIndex> open_sql_index(std::unique_ptr<SqlConnection> db, IndexAccess access) {
  return std::make_unique<SqlIndex>(std::move(db), access);
}

}  // namespace lwd
