#include "service/verifier.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "engine/error.h"
#include "service/submission_db.h"
#include "service/uploads.h"

namespace lwd::service {
namespace {

using Clock = std::chrono::steady_clock;

// Renews a job's lease on a thread of its own while the worker is busy.
class LeaseKeeper {
 public:
  LeaseKeeper(JobQueue& queue, const Submission& job, std::chrono::milliseconds lease)
      : thread_([this, &queue, job, lease] {
          std::unique_lock lock(mutex_);
          while (!done_) {
            if (wake_.wait_for(lock, lease / 3, [this] { return done_; })) break;
            lock.unlock();
            try {
              queue.renew(job, lease);
            } catch (const std::exception&) {
              // The database is out of reach: the next renewal tries again;
              // if the lease runs out meanwhile, another claim retries the job.
            }
            lock.lock();
          }
        }) {}
  ~LeaseKeeper() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string seconds_text(double s) {
  std::ostringstream out;
  out.precision(3);
  out << s;
  return out.str();
}

}  // namespace

SandboxLimits verifier_sandbox_limits(const VerifierOptions& options) {
  SandboxLimits limits = options.sandbox;
  limits.wall_seconds_cap = std::min(limits.wall_seconds_cap, options.job_deadline_seconds);
  return limits;
}

int sweep_submission_files(const JobQueue& queue, const std::filesystem::path& market_dir,
                           std::chrono::seconds min_age) {
  const std::set<std::string> live = queue.live_packages();
  const auto cutoff = std::filesystem::file_time_type::clock::now() - min_age;
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(submissions_dir(market_dir), ec)) {
    const std::string name = entry.path().filename().string();
    if (live.contains(name) || entry.last_write_time(ec) > cutoff || ec) continue;
    if (std::filesystem::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

bool verify_next_job(JobQueue& queue, Market& market, const std::filesystem::path& market_dir,
                     const VerifierOptions& options, const std::string& worker, const VerifierHooks& hooks) {
  const auto claimed = queue.claim(worker, options.lease, options.max_attempts);
  if (!claimed) return false;
  const Submission& job = *claimed;
  const std::filesystem::path package = submissions_dir(market_dir) / job.package;
  std::string result;
  std::string line;
  const auto started = Clock::now();
  {
    LeaseKeeper keeper(queue, job, options.lease);
    try {
      if (hooks.before_market) hooks.before_market(job);
      market.set_admission(options.admission);
      AddResult added;
      if (job.action == "update") {
        added = market.update(job.learnware_id, package);
      } else {
        added = market.add_as(job.learnware_id, package, job.owner_name);
      }
      if (hooks.after_market) hooks.after_market(job);
      result = std::string(to_string(added.status));
      line = "checked: " + result + (added.reason.empty() ? "" : ": " + one_line(added.reason));
      if (!added.nearest.empty()) {
        line += "; nearest:";
        for (std::size_t i = 0; i < added.nearest.size(); ++i) {
          const NearLearnware& n = added.nearest[i];
          std::ostringstream item;
          item << (i == 0 ? " " : ", ") << n.id << " (MMD² " << std::setprecision(4) << n.mmd2
               << (n.same_semantic ? ", same semantic fields)" : ")");
          line += item.str();
        }
      }
    } catch (const Error& e) {
      // The archive was refused outright (malformed, hostile, beyond the
      // limits), or the learnware to update is gone: nothing was stored.
      result = "invalid";
      line = "refused: " + one_line(e.what());
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - started).count();
  line += " (" + seconds_text(took) + " s)";
  if (queue.finish(job, result, line)) {
    std::error_code ec;
    std::filesystem::remove(package, ec);
  }
  // Otherwise another claim holds the job now (this one outlived its lease);
  // that claim records the result, the same one by add_as's idempotency.
  return true;
}

VerifierPool::VerifierPool(std::filesystem::path market_dir, IndexUrls db, MarketLimits limits,
                           VerifierOptions options)
    : market_dir_(std::move(market_dir)), db_(std::move(db)), limits_(std::move(limits)), options_(options) {
  validate_sandbox_limits(verifier_sandbox_limits(options_));
  validate_admission_options(options_.admission);
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { run(i); });
}

VerifierPool::~VerifierPool() { stop(); }

void VerifierPool::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  wake_.notify_all();
}

void VerifierPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void VerifierPool::run(int index) {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  const std::string worker = std::string(host) + ":" + std::to_string(::getpid()) + "/" + std::to_string(index);
  auto idle = [this](std::chrono::milliseconds period) {
    std::unique_lock lock(mutex_);
    const std::uint64_t seen = wakes_;
    wake_.wait_for(lock, period, [&] { return stopping_ || wakes_ != seen; });
    return !stopping_;
  };
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    try {
      const auto db = open_submission_database(db_.db, market_dir_);
      JobQueue queue(*db);
      kernels::Context ctx;
      ctx.n_threads = 1;
      Market market = Market::open(market_dir_, ctx, limits_, db_);
      market.sandbox_limits() = verifier_sandbox_limits(options_);
      UploadStore uploads(*db, uploads_dir(market_dir_), {});
      auto next_sweep = Clock::now();
      while (true) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        if (index == 0 && Clock::now() >= next_sweep) {
          uploads.expire(options_.upload_expiry);
          sweep_submission_files(queue, market_dir_);
          next_sweep = Clock::now() + std::chrono::minutes(10);
        }
        if (!verify_next_job(queue, market, market_dir_, options_, worker) && !idle(options_.idle_poll)) return;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lwdock worker %s: %s; starting again in 5 s\n", worker.c_str(), one_line(e.what()).c_str());
      std::fflush(stderr);
      if (!idle(std::chrono::seconds(5))) return;
    }
  }
}

}  // namespace lwd::service
