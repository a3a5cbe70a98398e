// The dock service's tables for submissions, beside the learnware index in
// the market's database (service_schema.h, component "submissions"):
//
//   submissions     the verification queue: one row per submitted package
//                   (add or update), its state, lease and log (job_queue.h)
//   uploads         chunked uploads under way (uploads.h)
//   upload_chunks   the byte ranges each upload has received
//
// One connection serves one process's request handlers (behind a mutex; a
// worker thread opens its own); the tables are shared by every server
// replica and worker process on the same database, which is what makes the
// queue survive any one of them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "engine/store/sql_index.h"

namespace lwd::service {

struct SubmissionDatabase {
  std::unique_ptr<SqlConnection> connection;
  bool postgres = false;
  // One statement or transaction at a time on the connection; recursive so
  // that a transaction can call the queue's single statements (enqueue)
  // while it holds it.
  std::recursive_mutex mutex;

  // " FOR UPDATE SKIP LOCKED" on PostgreSQL (rows another transaction has
  // claimed are passed over), "" on SQLite (a write transaction already
  // excludes every other writer).
  const char* skip_locked() const { return postgres ? " FOR UPDATE SKIP LOCKED" : ""; }
  // " FOR UPDATE" on PostgreSQL, "" on SQLite.
  const char* for_update() const { return postgres ? " FOR UPDATE" : ""; }
};

// Opens `url` (empty: the market's own index.sqlite) and brings the
// submission tables to their latest version. Throws lwd::Error.
std::unique_ptr<SubmissionDatabase> open_submission_database(const std::string& url,
                                                             const std::filesystem::path& market_dir);

// Runs `body` in one write transaction of `db` (the caller holds db.mutex or
// not: it is taken here); rolls back and rethrows on any exception.
template <class Body>
auto in_transaction(SubmissionDatabase& db, Body&& body) {
  std::lock_guard lock(db.mutex);
  db.connection->begin();
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      db.connection->commit();
    } else {
      auto result = body();
      db.connection->commit();
      return result;
    }
  } catch (...) {
    db.connection->rollback();
    throw;
  }
}

// Milliseconds since the Unix epoch (leases are compared in it).
std::int64_t unix_millis();
// "2026-12-06T04:36:21Z".
std::string utc_text(std::int64_t millis);
// `bytes` random bytes as lower-case hex (ids of submissions and uploads:
// unguessable, so an id says nothing about another user's objects).
std::string random_hex(std::size_t bytes);

// Where a market's submitted packages wait for verification, and where
// chunked uploads are assembled (both inside the market directory, so that
// every replica and worker sharing the market sees them).
inline std::filesystem::path submissions_dir(const std::filesystem::path& market_dir) {
  return market_dir / "dock" / "submissions";
}
inline std::filesystem::path uploads_dir(const std::filesystem::path& market_dir) {
  return market_dir / "dock" / "uploads";
}

}  // namespace lwd::service
