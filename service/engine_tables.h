// The engine routes' tables beside the learnware index, in the market's
// database (service component "engine", service_schema.h), so that every
// replica sharing the market shares them:
//
//   download_tokens  short-lived, single-use links to up to 10 packages: the
//                    BLAKE2b-256 hash of the token's text (never the text),
//                    who made it, the ids, expiry and when it was used
//   usage_daily      counters per UTC day: searches and downloads, added to
//                    by every replica (the admin summary reads them)
//
// Both work on the service's request connection (submission_db.h), one
// statement or transaction at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "service/submission_db.h"

namespace lwd::service {

// Brings the engine component's tables to their latest version.
void migrate_engine_tables(SubmissionDatabase& db);

struct IssuedDownload {
  std::string token;           // "lwd_d_" + 256 random bits in hex: shown once
  std::int64_t expires_ms = 0; // Unix milliseconds
};

struct RedeemedDownload {
  std::int64_t user_id = 0;  // who made the link (0: an anonymous caller)
  std::vector<std::string> ids;
};

class DownloadTokens {
 public:
  explicit DownloadTokens(SubmissionDatabase& db) : db_(db) {}
  // Stores the hash of a new token for `ids`, valid for `ttl`; deletes the
  // tokens that expired more than a day ago.
  IssuedDownload issue(std::int64_t user_id, const std::vector<std::string>& ids, std::chrono::seconds ttl);
  // Uses the token up and returns what it names; nullopt when it is unknown,
  // expired or used (one statement: two replicas redeeming one token at once
  // cannot both succeed).
  std::optional<RedeemedDownload> redeem(const std::string& token);

 private:
  SubmissionDatabase& db_;
};

struct DailyCount {
  std::string day;  // "2026-12-06" (UTC)
  std::string name; // "searches", "downloads"
  std::int64_t count = 0;
};

// Per-day counters. count() only adds to memory (a search must not wait for
// a write transaction on the market's database); a thread adds the deltas to
// the table once a second, and flush() and the destructor do it at once.
// Every replica adds its own: the table holds the sum.
class UsageCounters {
 public:
  explicit UsageCounters(SubmissionDatabase& db);
  ~UsageCounters();
  UsageCounters(const UsageCounters&) = delete;
  UsageCounters& operator=(const UsageCounters&) = delete;

  void count(const std::string& name, std::int64_t n = 1);
  // Writes the deltas counted so far; a failure keeps them for the next try.
  void flush();
  // The counters of the last `days` UTC days (today included), oldest first,
  // after a flush.
  std::vector<DailyCount> last_days(int days);

 private:
  SubmissionDatabase& db_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::int64_t> pending_;  // (day, name) -> delta
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::thread flusher_;
};

// "2026-12-06": the UTC day of Unix milliseconds.
std::string utc_day(std::int64_t millis);

}  // namespace lwd::service
