// The relational index of a market: one row per learnware (who submitted it,
// its status, where its package lives, which spec packs hold its specs).
//
// One abstract interface so the dock can keep the table in SQLite (the
// default, sqlite_index.h) or in PostgreSQL (postgres_index.h), chosen by URL
// (index_url.h). Both run the same portable SQL (sql_index.h): TEXT columns,
// ISO-8601 UTC timestamps stored as TEXT, bound parameters only. Every failure
// is an lwd::Error naming the database and the problem.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lwd {

// What the checker decided about a learnware. Only usable ones are searched.
enum class LearnwareStatus { invalid, not_usable, usable };

// "invalid", "not_usable", "usable".
std::string_view to_string(LearnwareStatus status);
// Inverse of to_string; throws lwd::Error listing the accepted words otherwise.
LearnwareStatus parse_learnware_status(std::string_view text);

struct LearnwareRecord {
  std::string id;     // e.g. "00000001"; letters, digits, '-' and '_' only (it names files)
  std::string name;
  std::string owner;
  LearnwareStatus status = LearnwareStatus::not_usable;
  std::string status_reason;  // why the checker chose the status; empty when usable
  std::string package_path;   // relative to the market directory, e.g. "packages/00000001.zip"
  std::vector<std::string> spec_keys;  // spec packs holding its specs, e.g. "RKMETableSpecification/8"
  std::string created_at;     // ISO-8601 UTC, "2024-05-01T12:00:00Z"
  std::string updated_at;

  bool operator==(const LearnwareRecord&) const = default;
};

// The two counters of an index, as a backup carries them over (market_backup.h).
struct IndexCounters {
  std::int64_t last_id = 0;     // the number of the highest id reserved or inserted ("00000042": 42)
  std::int64_t change_seq = 0;  // LearnwareIndex::change_seq

  bool operator==(const IndexCounters&) const = default;
};

// What changed in an index after a value of its change counter
// (LearnwareIndex::changes_since): enough for a process holding the table in
// memory to follow another's changes without reading the whole table again.
struct IndexChanges {
  std::vector<LearnwareRecord> changed;  // rows inserted or updated since, ordered by id
  std::vector<std::string> removed;      // ids whose rows were removed since (never inserted again)
  std::int64_t seq = 0;                  // the largest counter value among them (0 when there are none)
};

// Current time as ISO-8601 UTC with second precision ("2024-05-01T12:00:00Z"),
// which sorts as text in time order.
std::string utc_now_iso8601();

// True for ids that are safe as file names: 1..64 of [A-Za-z0-9_-].
bool is_valid_learnware_id(std::string_view id);

class LearnwareIndex {
 public:
  virtual ~LearnwareIndex() = default;

  // Adds a row; throws if the id is already present or invalid.
  virtual void insert(const LearnwareRecord& record) = 0;
  // Replaces every column of the row with record.id; throws if there is none.
  virtual void update(const LearnwareRecord& record) = 0;
  // Deletes the row; returns whether it existed. Its id is never handed out again.
  virtual bool remove(std::string_view id) = 0;
  virtual std::optional<LearnwareRecord> get(std::string_view id) const = 0;
  // All rows ordered by id, or only those with the given status.
  virtual std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status = std::nullopt) const = 0;

  // Reserves the next id ("00000001", "00000002", ...), durably: every call
  // returns a larger one, also across processes, deletions and reopening, and
  // never one an inserted row already uses. Inside an open transaction the
  // reservation is part of it (a rollback gives the id back).
  virtual std::string reserve_id() = 0;

  // Explicit transactions (not nested). Without one, each call is its own.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual bool in_transaction() const = 0;

  // The change counter: every insert, update and removal that changes a row
  // raises it by one, committed with the change (a rollback takes it back).
  // One cheap read, so a process can tell whether another changed the index
  // since it last looked.
  virtual std::int64_t change_seq() const = 0;
  // The rows changed and the ids removed by the changes numbered above
  // `after`: O(those changes), through the rows' seq column and the removals
  // the index keeps (each with its counter value). A row changed twice since
  // shows once, as it is now; a row inserted and removed since, only as removed.
  virtual IndexChanges changes_since(std::int64_t after) const = 0;

  // Waits until the change counter is other than `seen`, `timeout` has
  // passed, or interrupt_wait() is called; returns the counter then. A
  // PostgreSQL server tells the waiting connection of every commit (LISTEN /
  // NOTIFY, so the wait ends within milliseconds); a SQLite file is polled
  // every `poll_period`. Meant for an index opened for the purpose and waited
  // on by one thread: while it waits, nothing else may use it but
  // interrupt_wait().
  virtual std::int64_t wait_for_change(std::int64_t seen, std::chrono::milliseconds timeout,
                                       std::chrono::milliseconds poll_period) = 0;
  // Ends the wait in progress, and makes every later one return at once.
  // Safe from any thread.
  virtual void interrupt_wait() = 0;

  // Both counters, read in one statement.
  virtual IndexCounters counters() const = 0;
  // Raises the id counter to at least at_least.last_id and the change counter
  // to at least at_least.change_seq, never lowering either: an index restored
  // from a backup takes the backup's counters, so it never hands out an id
  // that was in use before the backup, and a process watching change_seq
  // never sees it go back. Part of an open transaction. Throws for a negative value.
  virtual void raise_counters(const IndexCounters& at_least) = 0;

  // The tag of the market this index belongs to (MarketStore keeps the same
  // tag in the market directory), nullopt while none is set.
  virtual std::optional<std::string> market_tag() const = 0;
  virtual void set_market_tag(std::string_view tag) = 0;

  // The database as messages name it: a file path, or a URL without password.
  virtual const std::string& name() const = 0;

  // Runs body between begin() and commit(); if body (or the commit) throws,
  // rolls back and rethrows.
  void transaction(const std::function<void()>& body);
};

}  // namespace lwd
