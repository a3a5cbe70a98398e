#include "service/submission_db.h"

#include <ctime>
#include <random>

#include "engine/store/index_url.h"
#include "engine/store/sql_open.h"
#include "service/service_schema.h"

namespace lwd::service {
namespace {

// Version 1. Times the queue compares are BIGINT milliseconds since the
// epoch (the claimant's clock); the *_at columns are for people.
const std::vector<ServiceMigration> kMigrations = {
    {1,
     {"CREATE TABLE submissions ("
      " id TEXT PRIMARY KEY,"
      " owner_id BIGINT NOT NULL,"
      " owner_name TEXT NOT NULL,"
      " action TEXT NOT NULL,"        // add | update
      " learnware_id TEXT NOT NULL,"  // reserved at submission (add) or the one updated
      " package TEXT NOT NULL,"       // file name under <market>/dock/submissions; '' once verified
      " filename TEXT NOT NULL,"      // as the client named it, sanitised; shown, never a path
      " size BIGINT NOT NULL,"
      " sha256 TEXT NOT NULL,"
      " state TEXT NOT NULL,"         // queued | processing | done
      " result TEXT NOT NULL,"        // '' | usable | not_usable | invalid | withdrawn
      " attempts BIGINT NOT NULL,"
      " lease_owner TEXT NOT NULL,"
      " lease_until BIGINT NOT NULL,"
      " log TEXT NOT NULL,"
      " created_ms BIGINT NOT NULL,"
      " created_at TEXT NOT NULL,"
      " updated_at TEXT NOT NULL)",
      "CREATE INDEX submissions_by_state ON submissions (state, created_ms)",
      "CREATE INDEX submissions_by_owner ON submissions (owner_id, created_ms)",
      "CREATE INDEX submissions_by_learnware ON submissions (learnware_id)",
      "CREATE TABLE uploads ("
      " id TEXT PRIMARY KEY,"
      " owner_id BIGINT NOT NULL,"
      " filename TEXT NOT NULL,"
      " size BIGINT NOT NULL,"
      " sha256 TEXT NOT NULL,"
      " created_ms BIGINT NOT NULL,"
      " touched_ms BIGINT NOT NULL)",
      "CREATE TABLE upload_chunks ("
      " upload_id TEXT NOT NULL,"
      " chunk_offset BIGINT NOT NULL,"
      " length BIGINT NOT NULL,"
      " sha256 TEXT NOT NULL,"
      " PRIMARY KEY (upload_id, chunk_offset))"}},
};

}  // namespace

std::unique_ptr<SubmissionDatabase> open_submission_database(const std::string& url,
                                                             const std::filesystem::path& market_dir) {
  auto db = std::make_unique<SubmissionDatabase>();
  db->postgres = !url.empty() && parse_index_url(url).backend == ParsedIndexUrl::Backend::postgresql;
  db->connection = open_database_connection(url, market_dir / "index.sqlite");
  migrate_service_schema(*db->connection, "submissions", kMigrations);
  return db;
}

std::int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_text(std::int64_t millis) {
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[80];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

std::string random_hex(std::size_t bytes) {
  static thread_local std::random_device device;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned v = device() & 0xffu;
    out += "0123456789abcdef"[v >> 4];
    out += "0123456789abcdef"[v & 15u];
  }
  return out;
}

}  // namespace lwd::service
