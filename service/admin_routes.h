// The administrators' routes for learnwares (docs/DESIGN.md §6.9): every
// learnware whatever its status -- waiting for a worker, being verified,
// usable, not usable, invalid -- with its owner and the state of its
// verification, filtered and paged; deleting one; and the market's summary
// (counts by status and by semantic field, storage, searches and downloads
// per day, the queue). Least role: admin (the route table's min_role).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "engine/market/market.h"
#include "service/api.h"
#include "service/engine_tables.h"
#include "service/job_queue.h"

namespace lwd::service {

class AdminService {
 public:
  // `db` is the request threads' connection (submission_db.h); `db_url` the
  // market's database URL ("" or sqlite:PATH: the file's size is the
  // database's; postgresql://...: pg_database_size).
  AdminService(Market& market, std::filesystem::path market_dir, std::string db_url, SubmissionDatabase& db,
               JobQueue& queue, UsageCounters& usage);

  std::vector<Route> routes();

 private:
  ApiReply list_learnwares(const ApiRequest& request);
  ApiReply delete_learnware(const ApiRequest& request);
  ApiReply summary(const ApiRequest& request);

  // One row per learnware: the market's records, and the adds waiting or
  // being verified (reserved ids with no record yet), each with the newest
  // submission that names it.
  struct Row {
    std::string id;
    std::optional<LearnwareRecord> record;
    std::optional<Submission> latest;
    std::string status() const;        // the record's status, else the newest submission's
    std::string verification() const;  // the newest submission's status, or ""
    std::string owner() const;
  };
  std::vector<Row> rows() const;

  Market& market_;
  std::filesystem::path market_dir_;
  std::string db_url_;
  SubmissionDatabase& db_;
  JobQueue& queue_;
  UsageCounters& usage_;
};

}  // namespace lwd::service
