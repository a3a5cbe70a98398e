// The verification queue: submitted packages waiting for a worker, in the
// database (submission_db.h), so that any number of worker threads and
// processes, on any number of machines sharing the market, take jobs from it
// and none is lost when one of them dies.
//
//   queued --claim--> processing --finish--> done (usable | not_usable | invalid)
//                        |  ^
//                        |  | claim again: the lease expired (the worker died,
//                        |  | hung or lost the database) and attempts remain
//                        v
//                      done (invalid: "gave up after N attempts")
//
// A claim takes the oldest queued job, or a processing one whose lease
// expired, in one write transaction (PostgreSQL: SELECT ... FOR UPDATE SKIP
// LOCKED, so concurrent claimants pass each other's rows; SQLite: the
// transaction's write lock), and gives it a lease: a random token of this
// claim and a deadline. The worker renews the lease while it works; every
// later write (renew, log, finish) names the token and changes nothing when
// another claim has taken the job since, so a worker that lost its lease can
// never overwrite the result of the one that has it.
//
// Idempotency: an add's learnware id is reserved in the market when the job
// is submitted and kept in the row; the worker adds with Market::add_as(id),
// which stores it at most once. A worker killed after the market stored the
// learnware but before finish() leaves a job whose retry finds the
// learnware and only records the result.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "service/submission_db.h"

namespace lwd::service {

struct Submission {
  std::string id;
  std::int64_t owner_id = 0;
  std::string owner_name;
  std::string action;        // "add" | "update"
  std::string learnware_id;  // reserved (add) or updated (update)
  std::string package;       // file name in submissions_dir(); "" once verified
  std::string filename;      // as the client named it (sanitised)
  std::int64_t size = 0;
  std::string sha256;
  std::string state;         // "queued" | "processing" | "done"
  std::string result;        // "" until done: "usable" | "not_usable" | "invalid" | "withdrawn"
  std::int64_t attempts = 0;
  std::string lease_owner;   // the claim's token while processing
  std::int64_t lease_until = 0;
  std::string log;           // one line per event, for the owner
  std::int64_t created_ms = 0;
  std::string created_at;
  std::string updated_at;

  // What the owner is shown: "waiting" (queued), "processing", or the result.
  std::string status() const;
};

struct NewSubmission {
  std::int64_t owner_id = 0;
  std::string owner_name;
  std::string action = "add";
  std::string learnware_id;
  std::string package;
  std::string filename;
  std::int64_t size = 0;
  std::string sha256;
};

class JobQueue {
 public:
  explicit JobQueue(SubmissionDatabase& db) : db_(db) {}

  // Stores a queued job (its id is made here) and returns it.
  Submission enqueue(const NewSubmission& job);
  std::optional<Submission> get(const std::string& id) const;
  // Newest first; owner_id 0: everyone's.
  std::vector<Submission> list(std::int64_t owner_id) const;
  // The jobs that name `learnware_id`, newest first.
  std::vector<Submission> for_learnware(const std::string& learnware_id) const;
  // The owner of a learnware submitted through the queue (its add's owner),
  // or nullopt for one that came another way (lwdock market add).
  std::optional<std::int64_t> owner_of(const std::string& learnware_id) const;

  // Claims the oldest job that is queued or whose lease expired, under the
  // new lease `token` for `lease`; a job whose lease expired after its
  // max_attempts-th attempt is given up (done, invalid) instead.
  std::optional<Submission> claim(const std::string& worker, std::chrono::milliseconds lease, int max_attempts);
  // Extends the lease; false when the claim is no longer the job's.
  bool renew(const Submission& job, std::chrono::milliseconds lease);
  // Appends a line to the log (under the claim); false when it is no longer the job's.
  bool log(const Submission& job, const std::string& line);
  // Marks the job done with `result` and a last log line; false (nothing
  // changes) when the claim is no longer the job's.
  bool finish(const Submission& job, const std::string& result, const std::string& line);
  // The package files that jobs still need (those not done).
  std::set<std::string> live_packages() const;
  // Withdraws the queued jobs that name `learnware_id` (it was deleted);
  // false, withdrawing nothing, when one of them is being processed.
  bool withdraw_for(const std::string& learnware_id);

 private:
  SubmissionDatabase& db_;
};

// A log line: "<UTC time> <text>\n".
std::string log_line(const std::string& text);

}  // namespace lwd::service
