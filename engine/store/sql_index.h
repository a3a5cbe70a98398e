// The learnware index over any SQL database: the one implementation of
// LearnwareIndex, its schema migrations, and the small interface a database
// backend provides (SqlConnection). SQLite (sqlite_index.cpp) and PostgreSQL
// (postgres_index.cpp) differ only in their connections, so both run the same
// statements and have the same semantics by construction.
//
// Internal to engine/store: the rest of the dock opens an index through
// index_url.h. The tests use the migration functions to build databases of
// earlier schema versions.
#pragma once

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/store/learnware_index.h"

namespace lwd {

// A bound parameter: text, or an integer (the database then compares and
// stores it as a number, whatever the column's declared type).
using SqlValue = std::variant<std::string, std::int64_t>;

struct SqlResult {
  std::vector<std::vector<std::string>> rows;  // every field as text; NULL reads as ""
  std::int64_t affected = 0;                    // rows an INSERT, UPDATE or DELETE changed
};

// One connection to one database. Every method throws lwd::Error naming the
// database (never with a password in it) and the problem.
class SqlConnection {
 public:
  virtual ~SqlConnection() = default;

  // The database as messages name it: a file path, or a URL without password.
  virtual const std::string& name() const = 0;
  // Runs one statement with $1, $2, ... bound to params.
  virtual SqlResult run(std::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
  // A transaction that will write: SQLite takes the write lock at once.
  virtual void begin() = 0;
  virtual void commit() = 0;
  // Never throws: it runs after a failure, whose message is the one to keep.
  virtual void rollback() noexcept = 0;
  virtual bool has_table(std::string_view table) = 0;
  // ORDER BY term that sorts a TEXT column by its bytes, as SQLite always
  // does; PostgreSQL would otherwise follow the database's collation.
  virtual std::string byte_order(std::string_view column) const = 0;
  // Inside a transaction: waits until no other connection is migrating the
  // schema (SQLite's write lock already does that).
  virtual void lock_schema() = 0;

  // Announcements of changes (LearnwareIndex::wait_for_change). A database
  // without them (SQLite) keeps these defaults, and waiters poll.
  // Inside the transaction of a change: tells the connections listening,
  // once it commits (PostgreSQL: NOTIFY).
  virtual void announce_change() {}
  // Starts listening to announcements; false where there are none.
  virtual bool listen_for_changes() { return false; }
  // Waits until an announcement arrives (true), `wake_fd` becomes readable or
  // `timeout` passes (false). Announcements that came in meanwhile count.
  // Defined here, like every member: the class has no out-of-line virtual
  // function, so its vtable and type are emitted wherever it is used, also in
  // the PostgreSQL module, which links nothing of engine/store
  // (postgres_module.h).
  virtual bool wait_for_announcement(int wake_fd, std::chrono::milliseconds timeout) {
    pollfd wake{wake_fd, POLLIN, 0};
    const auto ms = std::min<std::chrono::milliseconds::rep>(timeout.count(), 1 << 30);
    ::poll(&wake, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(ms, 0)));  // EINTR: an early look
    return false;
  }
};

enum class IndexAccess {
  read_write,  // migrates the schema to the current version on open
  read_only,   // e.g. a replica: the schema must be current already; changes throw
};

// Version of the tables written by this program: the last migration's.
int current_index_schema_version();
// The schema version the database holds: 0 for none yet.
int index_schema_version(SqlConnection& db);
// Brings the database to `target` (<= current) in one transaction. Throws,
// changing nothing, for a database whose version is above the current one.
void migrate_index_schema(SqlConnection& db, int target);

// The index over an open connection. read_write migrates first (one
// transaction; nothing changes when the database is newer than this program
// and the open throws); read_only only checks the version.
std::unique_ptr<LearnwareIndex> open_sql_index(std::unique_ptr<SqlConnection> db, IndexAccess access);

}  // namespace lwd
