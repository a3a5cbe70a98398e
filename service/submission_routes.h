// The routes of a user's own learnwares (docs/DESIGN.md §6.9): submitting a
// package (one multipart request, or a chunked upload then its id), the
// submissions' status and verification log, update and deletion. A
// submission is stored as waiting and answered at once (202); verification
// workers (verifier.h) take it from the queue (job_queue.h).
//
// Who sees what: a learnware or submission is its owner's (the user who
// submitted it) and every admin's; to anyone else it does not exist (404),
// whatever its status.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/market/market.h"
#include "service/api.h"
#include "service/job_queue.h"
#include "service/uploads.h"

namespace lwd::service {

class SubmissionService {
 public:
  // `db` serves the request threads; `market` is the service's own.
  SubmissionService(Market& market, std::filesystem::path market_dir, SubmissionDatabase& db, UploadLimits limits);

  std::vector<Route> routes();
  // Called after each accepted submission (the local worker pool's wake()).
  void on_submitted(std::function<void()> callback) { on_submitted_ = std::move(callback); }

  // Whether the caller may see learnware `id` whatever its status: an admin,
  // or the user who submitted it.
  bool may_see_any_status(const ApiRequest& request, const std::string& id) const;

  JobQueue& queue() { return queue_; }
  UploadStore& uploads() { return uploads_; }

 private:
  ApiReply create_upload(const ApiRequest& request);
  ApiReply upload_status(const ApiRequest& request);
  ApiReply upload_chunk(const ApiRequest& request);
  ApiReply abandon_upload(const ApiRequest& request);
  ApiReply submit(const ApiRequest& request);
  ApiReply update(const ApiRequest& request);
  ApiReply list(const ApiRequest& request);
  ApiReply submission(const ApiRequest& request);
  ApiReply learnware(const ApiRequest& request);
  ApiReply remove(const ApiRequest& request);

  // Stores the request's package (multipart `package`, or {"upload_id"}) as
  // a queued job for `learnware_id`; the reply's data.
  ApiReply enqueue(const ApiRequest& request, const std::string& action, const std::string& learnware_id);
  // The learnware if the caller owns it (or is an admin); ApiError(not_found) otherwise.
  LearnwareRecord owned_learnware(const ApiRequest& request, const std::string& id) const;

  Market& market_;
  std::filesystem::path market_dir_;
  JobQueue queue_;
  UploadStore uploads_;
  std::function<void()> on_submitted_;
};

}  // namespace lwd::service
