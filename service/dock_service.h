// The dock service: one open market and the route table over it. The HTTP
// server (http_server.h) only carries requests to these routes and replies
// back; everything the API does and who may do it is declared here, in one
// table (dock_service.cpp, routes()).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/market/market.h"
#include "engine/store/index_url.h"
#include "kernels/context.h"
#include "service/account_service.h"
#include "service/admin_routes.h"
#include "service/api.h"
#include "service/engine_tables.h"
#include "service/search_gate.h"
#include "service/submission_routes.h"
#include "service/uploads.h"
#include "service/verifier.h"

namespace lwd::service {

struct DockConfig {
  std::filesystem::path market_dir;
  IndexUrls db;
  MarketLimits limits;
  kernels::Context ctx;            // threads of one search (the server runs several searches at once)
  std::int64_t max_page_size = 100;
  AccountServiceConfig accounts;  // in the market's database (db.db, or the directory's index.sqlite)
  UploadLimits uploads;            // the largest package accepted (multipart or chunked)
  // Verification workers of this process (verifier.h); workers = 0, the
  // default here: none (tests drive the queue; `lwdock serve --workers 0`
  // leaves the jobs to other processes).
  VerifierOptions verification;
  // A download link (POST /api/engine/download-tokens) works once, this long.
  std::chrono::seconds download_token_ttl{300};
  std::uint64_t max_json_body_bytes = 16 * 1024;  // the download-tokens body: 413 beyond
  // Searches run at once (0: the cores over ctx.n_threads) and how long one
  // waits for its turn before the answer is 503 busy (search_gate.h).
  int search_slots = 0;
  std::chrono::milliseconds search_queue_wait{500};
};

class DockService {
 public:
  // Opens the market (Market::open: recovers from a crash, checks the
  // database's schema). Throws lwd::Error naming what failed.
  explicit DockService(DockConfig config);
  ~DockService();

  // The route table: every route of the API, with its least role.
  const std::vector<Route>& routes() const { return routes_; }
  // The OpenAPI 3 document of routes() (served at /api/openapi.json).
  const nlohmann::json& openapi() const { return openapi_; }
  const DockConfig& config() const { return config_; }
  // Submissions, uploads and their queue (submission_routes.h).
  SubmissionService& submissions() const { return *submissions_; }
  // Who may search now (search_gate.h).
  SearchGate& search_gate() const { return *search_gate_; }

  // Sets request.role, user_id and username from its credentials (the
  // Authorization header); leaves an anonymous caller when there are none.
  // Throws ApiError(unauthenticated) for credentials that are present but
  // not valid (expired, revoked, malformed), so a client learns its token died.
  void authenticate(ApiRequest& request) const;

 private:
  ApiReply healthz(const ApiRequest& request) const;
  ApiReply readyz(const ApiRequest& request) const;
  ApiReply vocabulary(const ApiRequest& request) const;
  ApiReply list_learnwares(const ApiRequest& request) const;
  ApiReply learnware_info(const ApiRequest& request) const;
  ApiReply download(const ApiRequest& request) const;
  ApiReply learnware_spec(const ApiRequest& request) const;
  ApiReply overview(const ApiRequest& request) const;
  ApiReply download_many(const ApiRequest& request) const;
  ApiReply issue_download_token(const ApiRequest& request) const;
  ApiReply search(const ApiRequest& request) const;

  // The learnware if the caller may see it; ApiError(not_found) otherwise
  // (an unverified learnware is not found, not forbidden: its existence is
  // not the caller's business).
  LearnwareRecord visible_learnware(const ApiRequest& request, const std::string& id) const;
  // The package of each, as a reply: one id, its zip; several, a zip of
  // their zips (<id>.zip each). Counts the downloads.
  ApiReply package_reply(const std::vector<LearnwareRecord>& records) const;

  DockConfig config_;
  std::unique_ptr<Market> market_;
  std::unique_ptr<SearchGate> search_gate_;
  std::unique_ptr<AccountService> accounts_;
  std::unique_ptr<SubmissionDatabase> submission_db_;
  std::unique_ptr<SubmissionService> submissions_;
  std::unique_ptr<DownloadTokens> download_tokens_;
  std::unique_ptr<UsageCounters> usage_;  // after the database it writes to: flushed before it closes
  std::unique_ptr<AdminService> admin_;
  std::vector<Route> routes_;
  nlohmann::json openapi_;
  std::unique_ptr<VerifierPool> verifiers_;  // last: stopped first
};

}  // namespace lwd::service
