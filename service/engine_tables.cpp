#include "service/engine_tables.h"

#include <ctime>

#include "service/accounts.h"
#include "service/service_schema.h"

namespace lwd::service {
namespace {

const std::vector<ServiceMigration>& engine_migrations() {
  static const std::vector<ServiceMigration> migrations = {
      {1,
       {"CREATE TABLE IF NOT EXISTS download_tokens (hash TEXT PRIMARY KEY, user_id BIGINT NOT NULL, ids TEXT NOT "
        "NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, used_ms BIGINT NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS download_tokens_expiry ON download_tokens (expires_ms)",
        "CREATE TABLE IF NOT EXISTS usage_daily (day TEXT NOT NULL, name TEXT NOT NULL, hits BIGINT NOT NULL, "
        "PRIMARY KEY (day, name))"}},
  };
  return migrations;
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

std::vector<std::string> split_ids(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size() && !text.empty()) {
    const auto comma = text.find(',', at);
    out.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

}  // namespace

void migrate_engine_tables(SubmissionDatabase& db) {
  std::lock_guard lock(db.mutex);
  migrate_service_schema(*db.connection, "engine", engine_migrations());
}

std::string utc_day(std::int64_t millis) { return utc_text(millis).substr(0, 10); }

IssuedDownload DownloadTokens::issue(std::int64_t user_id, const std::vector<std::string>& ids,
                                     std::chrono::seconds ttl) {
  const std::int64_t now = unix_millis();
  IssuedDownload out;
  out.token = "lwd_d_" + random_hex(32);
  out.expires_ms = now + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  std::lock_guard lock(db_.mutex);
  db_.connection->run("DELETE FROM download_tokens WHERE expires_ms < $1", {now - 24 * 3600 * 1000});
  db_.connection->run(
      "INSERT INTO download_tokens (hash, user_id, ids, created_ms, expires_ms, used_ms) VALUES ($1, $2, $3, $4, $5, 0)",
      {AccountStore::token_hash(out.token), user_id, join_ids(ids), now, out.expires_ms});
  return out;
}

std::optional<RedeemedDownload> DownloadTokens::redeem(const std::string& token) {
  const std::int64_t now = unix_millis();
  std::lock_guard lock(db_.mutex);
  const SqlResult r = db_.connection->run(
      "UPDATE download_tokens SET used_ms = $1 WHERE hash = $2 AND used_ms = 0 AND expires_ms > $1 "
      "RETURNING user_id, ids",
      {now, AccountStore::token_hash(token)});
  if (r.rows.empty()) return std::nullopt;
  RedeemedDownload out;
  out.user_id = r.rows[0][0].empty() ? 0 : std::stoll(r.rows[0][0]);
  out.ids = split_ids(r.rows[0][1]);
  return out;
}

UsageCounters::UsageCounters(SubmissionDatabase& db) : db_(db) {
  flusher_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      stop_signal_.wait_for(lock, std::chrono::seconds(1));
      lock.unlock();
      flush();
      lock.lock();
    }
  });
}

UsageCounters::~UsageCounters() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  flusher_.join();
  flush();
}

void UsageCounters::count(const std::string& name, std::int64_t n) {
  const std::string day = utc_day(unix_millis());
  std::lock_guard lock(mutex_);
  pending_[{day, name}] += n;
}

void UsageCounters::flush() {
  std::map<std::pair<std::string, std::string>, std::int64_t> deltas;
  {
    std::lock_guard lock(mutex_);
    deltas.swap(pending_);
  }
  if (deltas.empty()) return;
  try {
    in_transaction(db_, [&] {
      for (const auto& [key, n] : deltas) {
        db_.connection->run(
            "INSERT INTO usage_daily (day, name, hits) VALUES ($1, $2, $3) "
            "ON CONFLICT (day, name) DO UPDATE SET hits = usage_daily.hits + excluded.hits",
            {key.first, key.second, n});
      }
    });
  } catch (const Error&) {
    // The database is away: keep the counts for the next flush.
    std::lock_guard lock(mutex_);
    for (const auto& [key, n] : deltas) pending_[key] += n;
  }
}

std::vector<DailyCount> UsageCounters::last_days(int days) {
  flush();
  const std::string first = utc_day(unix_millis() - std::int64_t{days - 1} * 24 * 3600 * 1000);
  std::lock_guard lock(db_.mutex);
  const SqlResult r =
      db_.connection->run("SELECT day, name, hits FROM usage_daily WHERE day >= $1 ORDER BY day, name", {first});
  std::vector<DailyCount> out;
  for (const auto& row : r.rows) out.push_back({row[0], row[1], row[2].empty() ? 0 : std::stoll(row[2])});
  return out;
}

}  // namespace lwd::service
