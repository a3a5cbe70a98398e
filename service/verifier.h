// Verification workers: threads that take submitted packages from the queue
// (job_queue.h) and put them through the engine's checker by adding them to
// the market (Market::add_as / update), where every model runs in the
// engine's sandbox (engine/model/sandbox.h: no network, no writes outside
// its scratch directory, rlimits, nothing survives the run).
//
// On top of the sandbox's own limits a worker
//   - caps every sandboxed run of a job at the job's deadline
//     (job_deadline_seconds; the package's own timeout_seconds is clamped to
//     it), so a model that never answers ends the job, not the worker;
//   - holds a lease on the job and renews it while it works (every third of
//     the lease), so a worker that dies, or hangs past its lease, leaves the
//     job to another claim;
//   - records one log line per step, shown to the owner.
//
// A worker opens a market and a database connection of its own, like a
// separate process would: the server's request threads never wait on it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/market/market.h"
#include "engine/model/sandbox.h"
#include "engine/store/index_url.h"
#include "service/job_queue.h"

namespace lwd::service {

struct VerifierOptions {
  int workers = 0;                                            // threads; 0: none in this process
  std::chrono::milliseconds lease{std::chrono::seconds(60)};  // renewed every third of it
  std::chrono::milliseconds idle_poll{std::chrono::milliseconds(500)};
  int max_attempts = 3;
  double job_deadline_seconds = 120.0;  // cap of every sandboxed run of one job
  SandboxLimits sandbox;                // the runs' other limits
  // The nearest existing learnwares in each job's log, and near duplicates
  // refused (engine/market/market.h AdmissionOptions).
  AdmissionOptions admission{.nearest = 3, .refuse_within_mmd2 = std::nullopt};
  // Chunked uploads untouched this long are removed (by the pool's first
  // worker, about every ten minutes, with the packages no job needs any
  // more): a client that vanished mid-upload.
  std::chrono::milliseconds upload_expiry{std::chrono::hours(24)};
};

// Test hooks: run around the market's add or update (a test kills the
// worker there).
struct VerifierHooks {
  std::function<void(const Submission&)> before_market;
  std::function<void(const Submission&)> after_market;
};

// The sandbox limits a worker gives the market: `options.sandbox` with its
// wall-clock cap lowered to the job's deadline.
SandboxLimits verifier_sandbox_limits(const VerifierOptions& options);

// Removes the files of submissions_dir() that no job needs any more (a
// worker stopped between recording a result and removing the package, a job
// given up or withdrawn) and that are older than `min_age` (a submission
// writes its file just before its row). The count removed.
int sweep_submission_files(const JobQueue& queue, const std::filesystem::path& market_dir,
                           std::chrono::seconds min_age = std::chrono::hours(1));

// Claims the next job and verifies it with `market` (whose sandbox limits
// the caller set, verifier_sandbox_limits); false when none was waiting.
// Throws lwd::Error when the database fails (the job's lease then runs out
// and another claim retries it).
bool verify_next_job(JobQueue& queue, Market& market, const std::filesystem::path& market_dir,
                     const VerifierOptions& options, const std::string& worker, const VerifierHooks& hooks = {});

// `workers` threads verifying until stopped.
class VerifierPool {
 public:
  VerifierPool(std::filesystem::path market_dir, IndexUrls db, MarketLimits limits, VerifierOptions options);
  ~VerifierPool();
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  // A job was enqueued: idle workers look at once instead of at their next poll.
  void wake();
  // Claims nothing more; waits for the jobs under way (each bounded by its
  // deadline). Idempotent.
  void stop();

 private:
  void run(int index);

  std::filesystem::path market_dir_;
  IndexUrls db_;
  MarketLimits limits_;
  VerifierOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t wakes_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace lwd::service
