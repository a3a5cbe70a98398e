#include "service/job_queue.h"

#include <string_view>

namespace lwd::service {
namespace {

constexpr const char* kColumns =
    "id, owner_id, owner_name, action, learnware_id, package, filename, size, sha256, state, result, attempts, "
    "lease_owner, lease_until, log, created_ms, created_at, updated_at";

std::int64_t as_int(const std::string& text) { return text.empty() ? 0 : std::stoll(text); }

Submission from_row(const std::vector<std::string>& r) {
  Submission s;
  s.id = r[0];
  s.owner_id = as_int(r[1]);
  s.owner_name = r[2];
  s.action = r[3];
  s.learnware_id = r[4];
  s.package = r[5];
  s.filename = r[6];
  s.size = as_int(r[7]);
  s.sha256 = r[8];
  s.state = r[9];
  s.result = r[10];
  s.attempts = as_int(r[11]);
  s.lease_owner = r[12];
  s.lease_until = as_int(r[13]);
  s.log = r[14];
  s.created_ms = as_int(r[15]);
  s.created_at = r[16];
  s.updated_at = r[17];
  return s;
}

std::vector<Submission> from_rows(const SqlResult& result) {
  std::vector<Submission> out;
  for (const auto& row : result.rows) out.push_back(from_row(row));
  return out;
}

}  // namespace

std::string Submission::status() const {
  if (state == "queued") return "waiting";
  if (state == "processing") return "processing";
  return result;
}

std::string log_line(const std::string& text) { return utc_text(unix_millis()) + " " + text + "\n"; }

Submission JobQueue::enqueue(const NewSubmission& job) {
  const std::int64_t now = unix_millis();
  Submission s;
  s.id = random_hex(12);
  s.owner_id = job.owner_id;
  s.owner_name = job.owner_name;
  s.action = job.action;
  s.learnware_id = job.learnware_id;
  s.package = job.package;
  s.filename = job.filename;
  s.size = job.size;
  s.sha256 = job.sha256;
  s.state = "queued";
  s.log = log_line("received " + job.filename + " (" + std::to_string(job.size) + " bytes, SHA-256 " + job.sha256 +
                   "): waiting for a worker to " + (job.action == "add" ? "add learnware " : "update learnware ") +
                   job.learnware_id);
  s.created_ms = now;
  s.created_at = s.updated_at = utc_text(now);
  std::lock_guard lock(db_.mutex);
  db_.connection->run(
      "INSERT INTO submissions (id, owner_id, owner_name, action, learnware_id, package, filename, size, sha256, "
      "state, result, attempts, lease_owner, lease_until, log, created_ms, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', '', 0, '', 0, $10, $11, $12, $12)",
      {s.id, s.owner_id, s.owner_name, s.action, s.learnware_id, s.package, s.filename, s.size, s.sha256, s.log,
       s.created_ms, s.created_at});
  return s;
}

std::optional<Submission> JobQueue::get(const std::string& id) const {
  std::lock_guard lock(db_.mutex);
  const SqlResult r = db_.connection->run(std::string("SELECT ") + kColumns + " FROM submissions WHERE id = $1", {id});
  if (r.rows.empty()) return std::nullopt;
  return from_row(r.rows.front());
}

std::vector<Submission> JobQueue::list(std::int64_t owner_id) const {
  std::lock_guard lock(db_.mutex);
  if (owner_id == 0) {
    return from_rows(db_.connection->run(std::string("SELECT ") + kColumns +
                                         " FROM submissions ORDER BY created_ms DESC, id DESC"));
  }
  return from_rows(db_.connection->run(
      std::string("SELECT ") + kColumns + " FROM submissions WHERE owner_id = $1 ORDER BY created_ms DESC, id DESC",
      {owner_id}));
}

std::vector<Submission> JobQueue::for_learnware(const std::string& learnware_id) const {
  std::lock_guard lock(db_.mutex);
  return from_rows(db_.connection->run(std::string("SELECT ") + kColumns +
                                           " FROM submissions WHERE learnware_id = $1 ORDER BY created_ms DESC, id DESC",
                                       {learnware_id}));
}

std::optional<std::int64_t> JobQueue::owner_of(const std::string& learnware_id) const {
  std::lock_guard lock(db_.mutex);
  const SqlResult r = db_.connection->run(
      "SELECT owner_id FROM submissions WHERE learnware_id = $1 AND action = 'add' ORDER BY created_ms LIMIT 1",
      {learnware_id});
  if (r.rows.empty()) return std::nullopt;
  return as_int(r.rows.front().front());
}

std::optional<Submission> JobQueue::claim(const std::string& worker, std::chrono::milliseconds lease,
                                          int max_attempts) {
  return in_transaction(db_, [&]() -> std::optional<Submission> {
    SqlConnection& c = *db_.connection;
    const std::int64_t now = unix_millis();
    const std::string at = utc_text(now);
    // Jobs whose last allowed attempt ran out of its lease: given up.
    const SqlResult spent = c.run(std::string("SELECT id, attempts FROM submissions WHERE state = 'processing' AND "
                                              "lease_until < $1 AND attempts >= $2") +
                                      db_.skip_locked(),
                                  {now, std::int64_t{max_attempts}});
    for (const auto& row : spent.rows) {
      c.run("UPDATE submissions SET state = 'done', result = 'invalid', lease_owner = '', package = '', "
            "log = log || $2, updated_at = $3 WHERE id = $1",
            {row[0],
             log_line("gave up after " + row[1] +
                      " attempts: each ended without a result (its worker died, hung past its lease or lost the "
                      "database)"),
             at});
    }
    const SqlResult next =
        c.run(std::string("SELECT ") + kColumns +
                  " FROM submissions WHERE state = 'queued' OR (state = 'processing' AND lease_until < $1) "
                  "ORDER BY created_ms, id LIMIT 1" +
                  db_.skip_locked(),
              {now});
    if (next.rows.empty()) return std::nullopt;
    Submission job = from_row(next.rows.front());
    std::string line;
    if (job.state == "processing") {
      line += log_line("attempt " + std::to_string(job.attempts) +
                       " ended without a result (its worker stopped renewing the lease)");
    }
    job.attempts += 1;
    job.state = "processing";
    job.lease_owner = worker + "/" + random_hex(6);
    job.lease_until = now + lease.count();
    line += log_line("attempt " + std::to_string(job.attempts) + ": " + worker + " verifies the package");
    job.log += line;
    job.updated_at = at;
    c.run("UPDATE submissions SET state = 'processing', attempts = $2, lease_owner = $3, lease_until = $4, "
          "log = log || $5, updated_at = $6 WHERE id = $1",
          {job.id, job.attempts, job.lease_owner, job.lease_until, line, at});
    return job;
  });
}

bool JobQueue::renew(const Submission& job, std::chrono::milliseconds lease) {
  std::lock_guard lock(db_.mutex);
  return db_.connection
             ->run("UPDATE submissions SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 AND state = "
                   "'processing'",
                   {job.id, job.lease_owner, unix_millis() + lease.count()})
             .affected == 1;
}

bool JobQueue::log(const Submission& job, const std::string& line) {
  std::lock_guard lock(db_.mutex);
  return db_.connection
             ->run("UPDATE submissions SET log = log || $3, updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND "
                   "state = 'processing'",
                   {job.id, job.lease_owner, log_line(line), utc_text(unix_millis())})
             .affected == 1;
}

bool JobQueue::finish(const Submission& job, const std::string& result, const std::string& line) {
  std::lock_guard lock(db_.mutex);
  return db_.connection
             ->run("UPDATE submissions SET state = 'done', result = $3, lease_owner = '', package = '', "
                   "log = log || $4, updated_at = $5 WHERE id = $1 AND lease_owner = $2 AND state = 'processing'",
                   {job.id, job.lease_owner, result, log_line(line), utc_text(unix_millis())})
             .affected == 1;
}

std::set<std::string> JobQueue::live_packages() const {
  std::lock_guard lock(db_.mutex);
  std::set<std::string> live;
  for (const auto& row : db_.connection->run("SELECT package FROM submissions WHERE package <> ''").rows)
    live.insert(row[0]);
  return live;
}

bool JobQueue::withdraw_for(const std::string& learnware_id) {
  return in_transaction(db_, [&] {
    SqlConnection& c = *db_.connection;
    const SqlResult busy = c.run(std::string("SELECT id FROM submissions WHERE learnware_id = $1 AND state = "
                                             "'processing'") +
                                     db_.for_update(),
                                 {learnware_id});
    if (!busy.rows.empty()) return false;
    c.run("UPDATE submissions SET state = 'done', result = 'withdrawn', package = '', log = log || $2, "
          "updated_at = $3 "
          "WHERE learnware_id = $1 AND state = 'queued'",
          {learnware_id, log_line("withdrawn: the learnware was deleted"), utc_text(unix_millis())});
    return true;
  });
}

}  // namespace lwd::service
