// A verification worker in a process of its own, for the suites that kill
// one mid-job:
//
//   job_child MARKET_DIR DB_URL before|after LEASE_MS
//
// claims the next job and verifies it; at the hook named (before the
// market's add, or after it stored the learnware and before the job is
// marked done) it prints "ready" and waits to be killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/market/market.h"
#include "service/verifier.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: job_child MARKET_DIR DB_URL before|after LEASE_MS\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string url = argv[2];
  const std::string where = argv[3];
  using namespace lwd::service;
  try {
    auto db = open_submission_database(url, dir);
    JobQueue queue(*db);
    lwd::kernels::Context ctx;
    ctx.n_threads = 1;
    lwd::Market market = lwd::Market::open(dir, ctx, {}, {url, ""});
    VerifierOptions options;
    options.lease = std::chrono::milliseconds(std::atoll(argv[4]));
    auto stop_here = [](const Submission&) {
      std::printf("ready\n");
      std::fflush(stdout);
      for (;;) ::pause();
    };
    VerifierHooks hooks;
    if (where == "before") hooks.before_market = stop_here;
    else hooks.after_market = stop_here;
    if (!verify_next_job(queue, market, dir, options, "child", hooks)) {
      std::printf("no job\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  return 0;
}
