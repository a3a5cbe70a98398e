// The verification queue and its workers (service/job_queue.h, verifier.h)
// on SQLite and PostgreSQL: claims and leases, retries after a lease
// expires, giving up, concurrent claimants, workers killed (kill -9) before
// and after the market stored the learnware, and hostile learnwares, each
// of which must end not usable with a log that says why.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "service/verifier.h"
#include "tests/model/model_test_util.h"
#include "tests/service/submission_test_support.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace lwd::service;
using lwd::testing_market::PackageParts;
using std::chrono::milliseconds;

const std::string kAnswers = "read header\nwhile IFS=, read -r a b c; do echo \"$a\"; done\n";

class JobQueueTest : public lwd::test::SubmissionBackendTest {
 protected:
  void SetUp() override {
    SubmissionBackendTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    queue_ = std::make_unique<JobQueue>(*db_);
    market_ = std::make_unique<lwd::Market>(open_market());
  }
  Submission enqueue_package(const PackageParts& parts, std::int64_t owner = 7) {
    return enqueue(*queue_, *market_, package(parts), owner);
  }
  Submission job(const std::string& id) {
    const auto s = queue_->get(id);
    EXPECT_TRUE(s.has_value()) << id;
    return s.value_or(Submission{});
  }

  std::unique_ptr<JobQueue> queue_;
  std::unique_ptr<lwd::Market> market_;
};

TEST_P(JobQueueTest, ASubmissionWaitsUntilAClaimTakesTheOldestFirst) {
  const Submission a = enqueue_package({.seed = 1, .name = "a"});
  std::this_thread::sleep_for(milliseconds(5));
  const Submission b = enqueue_package({.seed = 2, .name = "b"});
  EXPECT_EQ(job(a.id).status(), "waiting");
  EXPECT_NE(job(a.id).log.find("waiting for a worker"), std::string::npos);
  const auto first = queue_->claim("w", milliseconds(60'000), 3);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, a.id);
  EXPECT_EQ(first->attempts, 1);
  EXPECT_EQ(job(a.id).status(), "processing");
  const auto second = queue_->claim("w", milliseconds(60'000), 3);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, b.id);
  EXPECT_FALSE(queue_->claim("w", milliseconds(60'000), 3));
  EXPECT_TRUE(queue_->finish(*first, "usable", "done"));
  EXPECT_EQ(job(a.id).status(), "usable");
  EXPECT_EQ(job(a.id).package, "");
}

TEST_P(JobQueueTest, AnExpiredLeaseIsClaimedAgainAndTheOldClaimCanNoLongerWrite) {
  const Submission s = enqueue_package({.name = "a"});
  const auto old_claim = queue_->claim("w1", milliseconds(50), 3);
  ASSERT_TRUE(old_claim);
  EXPECT_TRUE(queue_->renew(*old_claim, milliseconds(50)));
  // Not yet expired: nobody else gets it.
  EXPECT_FALSE(queue_->claim("w2", milliseconds(60'000), 3));
  std::this_thread::sleep_for(milliseconds(120));
  const auto new_claim = queue_->claim("w2", milliseconds(60'000), 3);
  ASSERT_TRUE(new_claim);
  EXPECT_EQ(new_claim->id, s.id);
  EXPECT_EQ(new_claim->attempts, 2);
  EXPECT_FALSE(queue_->renew(*old_claim, milliseconds(60'000)));
  EXPECT_FALSE(queue_->log(*old_claim, "late"));
  EXPECT_FALSE(queue_->finish(*old_claim, "usable", "late"));
  EXPECT_TRUE(queue_->finish(*new_claim, "not_usable", "checked"));
  const Submission done = job(s.id);
  EXPECT_EQ(done.status(), "not_usable");
  EXPECT_NE(done.log.find("attempt 1 ended without a result"), std::string::npos) << done.log;
  EXPECT_EQ(done.log.find("late"), std::string::npos) << done.log;
}

TEST_P(JobQueueTest, AJobWhoseEveryAttemptRanOutIsGivenUpAsInvalid) {
  const Submission s = enqueue_package({.name = "a"});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    const auto claim = queue_->claim("w", milliseconds(20), 2);
    ASSERT_TRUE(claim) << attempt;
    std::this_thread::sleep_for(milliseconds(60));
  }
  EXPECT_FALSE(queue_->claim("w", milliseconds(20), 2));
  const Submission done = job(s.id);
  EXPECT_EQ(done.state, "done");
  EXPECT_EQ(done.status(), "invalid");
  EXPECT_NE(done.log.find("gave up after 2 attempts"), std::string::npos) << done.log;
}

TEST_P(JobQueueTest, PackagesNoJobNeedsAreSweptAndThoseWaitingAreKept) {
  const Submission waiting = enqueue_package({.seed = 1, .name = "waiting"});
  const Submission given_up = enqueue_package({.seed = 2, .name = "given_up"});
  ASSERT_TRUE(queue_->claim("w", milliseconds(60'000), 3));  // the oldest: `waiting`, now processing
  const fs::path stray = submissions_dir(market_dir_) / "stray.zip";
  lwd::io::write_text_file_atomically(stray, "left by a worker that died before removing it");
  // Too young: a submission writes its file just before its row.
  EXPECT_EQ(sweep_submission_files(*queue_, market_dir_, std::chrono::hours(1)), 0);
  // The second job's last attempt runs out: given up, its package no longer needed.
  ASSERT_TRUE(queue_->claim("w", milliseconds(1), 1));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(queue_->claim("w", milliseconds(60'000), 1));
  EXPECT_EQ(job(given_up.id).status(), "invalid");
  EXPECT_EQ(sweep_submission_files(*queue_, market_dir_, std::chrono::seconds(0)), 2);
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_FALSE(fs::exists(submissions_dir(market_dir_) / given_up.package));
  EXPECT_TRUE(fs::exists(submissions_dir(market_dir_) / waiting.package));
}

TEST_P(JobQueueTest, ConcurrentClaimantsNeverTakeOneJobTwice) {
  constexpr int kJobs = 40;
  std::set<std::string> queued;
  for (int i = 0; i < kJobs; ++i) {
    NewSubmission n;
    n.owner_id = 7;
    n.learnware_id = "x" + std::to_string(i);
    n.package = "p" + std::to_string(i);
    n.filename = "f.zip";
    queued.insert(queue_->enqueue(n).id);
  }
  std::mutex mutex;
  std::map<std::string, int> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      try {
        auto db = open_submission_database(url(), market_dir_);  // a connection each, as processes have
        JobQueue mine(*db);
        while (const auto job = mine.claim("w" + std::to_string(w), milliseconds(60'000), 3)) {
          std::lock_guard lock(mutex);
          ++claimed[job->id];
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(claimed.size(), queued.size());
  for (const auto& [id, times] : claimed) {
    EXPECT_TRUE(queued.contains(id));
    EXPECT_EQ(times, 1) << id;
  }
}

TEST_P(JobQueueTest, AWorkerVerifiesAGoodPackageAsUsableAndABrokenArchiveAsInvalid) {
  const Submission good = enqueue_package({.seed = 3, .name = "good"});
  // Not a zip at all: the archive is refused outright, nothing is stored.
  const fs::path junk = packages_ / "junk.zip";
  lwd::io::write_text_file_atomically(junk, "this is not a zip archive");
  const Submission bad = enqueue(*queue_, *market_, junk);
  VerifierOptions options;
  EXPECT_TRUE(verify_next_job(*queue_, *market_, market_dir_, options, "w"));
  EXPECT_TRUE(verify_next_job(*queue_, *market_, market_dir_, options, "w"));
  EXPECT_FALSE(verify_next_job(*queue_, *market_, market_dir_, options, "w"));
  const Submission g = job(good.id);
  EXPECT_EQ(g.status(), "usable") << g.log;
  EXPECT_NE(g.log.find("checked: usable"), std::string::npos) << g.log;
  ASSERT_TRUE(market_->get(g.learnware_id));
  EXPECT_EQ(market_->get(g.learnware_id)->owner, "user7");
  const Submission b = job(bad.id);
  EXPECT_EQ(b.status(), "invalid") << b.log;
  EXPECT_NE(b.log.find("refused: "), std::string::npos) << b.log;
  EXPECT_FALSE(market_->get(b.learnware_id));
  // The packages were consumed.
  EXPECT_TRUE(fs::is_empty(submissions_dir(market_dir_)));
}

// A worker process (tests/service/job_child) claims the job and is killed
// with SIGKILL at `where`; the job must be retried after its lease and done
// exactly once.
void kill_worker_mid_job(const fs::path& market_dir, const std::string& url, const std::string& where) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::vector<std::string> args = {LWD_JOB_CHILD, market_dir.string(), url, where, "1500"};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  std::string line;
  char c = 0;
  while (line.find('\n') == std::string::npos && ::read(out[0], &c, 1) == 1) line += c;
  ::close(out[0]);
  ASSERT_EQ(line, "ready\n");
}

TEST_P(JobQueueTest, AWorkerKilledBeforeTheMarketAddIsRetriedAfterItsLeaseAndDoneOnce) {
  const Submission s = enqueue_package({.seed = 4, .name = "retried"});
  kill_worker_mid_job(market_dir_, url(), "before");
  EXPECT_EQ(job(s.id).status(), "processing");
  EXPECT_FALSE(market_->get(s.learnware_id));
  VerifierOptions options;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!verify_next_job(*queue_, *market_, market_dir_, options, "survivor") &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(100));
  const Submission done = job(s.id);
  EXPECT_EQ(done.status(), "usable") << done.log;
  EXPECT_EQ(done.attempts, 2);
  EXPECT_NE(done.log.find("attempt 1 ended without a result"), std::string::npos) << done.log;
  EXPECT_EQ(market_->list().size(), 1u);
}

TEST_P(JobQueueTest, AWorkerKilledAfterTheMarketStoredTheLearnwareDoesNotAddASecond) {
  const Submission s = enqueue_package({.seed = 5, .name = "stored"});
  kill_worker_mid_job(market_dir_, url(), "after");
  // The market holds it; the job does not know yet.
  EXPECT_EQ(job(s.id).status(), "processing");
  ASSERT_TRUE(market_->get(s.learnware_id));
  VerifierOptions options;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!verify_next_job(*queue_, *market_, market_dir_, options, "survivor") &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(100));
  const Submission done = job(s.id);
  EXPECT_EQ(done.status(), "usable") << done.log;
  EXPECT_EQ(done.attempts, 2);
  const auto all = market_->list();
  ASSERT_EQ(all.size(), 1u) << "the retry added a second learnware";
  EXPECT_EQ(all.front().id, s.learnware_id);
}

TEST_P(JobQueueTest, APoolOfWorkersVerifiesEveryQueuedJobOnceAndStops) {
  std::vector<Submission> jobs;
  for (int i = 0; i < 4; ++i)
    jobs.push_back(enqueue_package({.centre = 3.0 * i, .seed = 20u + i, .name = "p" + std::to_string(i)}));
  VerifierOptions options;
  options.workers = 2;
  options.idle_poll = milliseconds(50);
  {
    VerifierPool pool(market_dir_, urls(), {}, options);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    auto all_done = [&] {
      for (const auto& j : jobs)
        if (job(j.id).state != "done") return false;
      return true;
    };
    while (!all_done() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(milliseconds(50));
  }
  for (const auto& j : jobs) {
    const Submission done = job(j.id);
    EXPECT_EQ(done.status(), "usable") << done.log;
    EXPECT_EQ(done.attempts, 1);
  }
  EXPECT_EQ(market_->list().size(), jobs.size());
}

// The server's program (what `lwdock serve` runs) on the test's market, its
// stderr discarded; killed when this goes, unless it was stopped.
class ServerProcess {
 public:
  ServerProcess(const fs::path& market_dir, const std::string& url, std::vector<std::string> extra) {
    std::vector<std::string> args = {LWD_SERVER_PROGRAM, "--market", market_dir.string(), "--access-log", "/dev/null"};
    if (!url.empty()) {
      args.push_back("--db");
      args.push_back(url);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    EXPECT_GT(pid_, 0) << "cannot start " << LWD_SERVER_PROGRAM;
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // SIGTERM, then its exit status (-1: it did not stop within 30 s).
  int terminate() {
    if (pid_ <= 0 || ::kill(pid_, SIGTERM) != 0) return -1;
    int status = 0;
    pid_t done = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(milliseconds(20));
    if (done != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

// Stopped with SIGTERM while its worker verifies a model that never
// answers, the server finishes that job (at the job's deadline) and exits 0;
// the job is done, not left processing.
TEST_P(JobQueueTest, SigtermLetsTheServersWorkerFinishItsJob) {
  const Submission s = enqueue_package({.name = "slow", .process_script = "exec sleep 1000\n"});
  market_.reset();
  ServerProcess server(market_dir_, url(),
                       {"--listen", "127.0.0.1:0", "--workers", "1", "--job-deadline-seconds", "2"});
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (job(s.id).state != "processing" && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_EQ(job(s.id).state, "processing");
  EXPECT_EQ(server.terminate(), 0);
  const Submission after = job(s.id);
  EXPECT_EQ(after.state, "done") << after.log;
  EXPECT_EQ(after.status(), "not_usable") << after.log;
}

// A worker-only process (no HTTP) shares the queue through the database.
TEST_P(JobQueueTest, AWorkerOnlyProcessVerifiesTheQueue) {
  const Submission s = enqueue_package({.seed = 8, .name = "elsewhere"});
  market_.reset();
  ServerProcess worker(market_dir_, url(), {"--no-http", "--workers", "1"});
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (job(s.id).state != "done" && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(job(s.id).status(), "usable") << job(s.id).log;
  EXPECT_EQ(worker.terminate(), 0);
  EXPECT_TRUE(open_market().get(s.learnware_id));
}

// Hostile learnwares, each a process model that would answer correctly only
// if its attack worked.
class HostileLearnwares : public JobQueueTest {
 protected:
  Submission verify(const PackageParts& parts, double deadline_seconds = 10.0) {
    const Submission s = enqueue_package(parts);
    VerifierOptions options;
    options.job_deadline_seconds = deadline_seconds;
    options.sandbox.processes = 16;
    options.sandbox.address_space_bytes = std::uint64_t{256} << 20;
    market_->sandbox_limits() = verifier_sandbox_limits(options);
    EXPECT_TRUE(verify_next_job(*queue_, *market_, market_dir_, options, "w"));
    const Submission done = job(s.id);
    EXPECT_EQ(done.status(), "not_usable") << done.log;
    EXPECT_NE(done.log.find("checked: not_usable"), std::string::npos) << done.log;
    // The queue and the market still answer.
    EXPECT_TRUE(market_->get(done.learnware_id));
    return done;
  }
};

TEST_P(HostileLearnwares, OneThatOpensASocketIsNotUsable) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  const Submission done =
      verify({.name = "socket",
              .process_script = "read header\nif (exec 3<>/dev/tcp/127.0.0.1/" + port +
                                ") 2>/dev/null; then\n  while IFS=, read -r a b c; do echo \"$a\"; done\nelse\n"
                                "  echo 'hostile: no network from the sandbox' >&2; exit 1\nfi\n"});
  EXPECT_NE(done.log.find("no network from the sandbox"), std::string::npos) << done.log;
  EXPECT_EQ(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), -1) << "the model reached the listener";
  ::close(listener);
}

TEST_P(HostileLearnwares, OneThatWritesOutsideItsDirectoryIsNotUsable) {
  const fs::path planted = market_dir_ / "planted-by-a-model";
  const Submission done =
      verify({.name = "writer",
              .process_script = "read header\nif echo planted > '" + planted.string() +
                                "' 2>/dev/null; then\n" + "  while IFS=, read -r a b c; do echo \"$a\"; done\nelse\n"
                                "  echo 'hostile: cannot write outside the scratch directory' >&2; exit 1\nfi\n"});
  EXPECT_NE(done.log.find("cannot write outside the scratch directory"), std::string::npos) << done.log;
  EXPECT_FALSE(fs::exists(planted));
}

TEST_P(HostileLearnwares, AForkBombIsNotUsableAndLeavesNothing) {
  const std::string child = lwd::test::unique_process_name("bomb");
  const Submission done = verify(
      {.name = "bomb",
       .process_script = "use POSIX ();\nmy $n = 0;\nfor (1 .. 300) {\n  my $pid = fork();\n  last unless defined $pid;\n"
                         "  if ($pid == 0) { POSIX::setsid(); exec { '/bin/sleep' } '" + child + "', '1000'; }\n"
                         "  $n++;\n}\nprint STDERR \"forked $n\\n\";\nsleep 1000;\n",
       .process_interpreter = "/usr/bin/perl"});
  EXPECT_NE(done.log.find("timed out"), std::string::npos) << done.log;
  EXPECT_TRUE(lwd::test::no_process_named(child)) << "processes of the fork bomb survived the job";
}

TEST_P(HostileLearnwares, AMemoryHogIsNotUsable) {
  const Submission done =
      verify({.name = "hog",
              .process_script = "my $x = 'a' x 1_000_000_000;\nprint length($x), \"\\n\";\n",
              .process_interpreter = "/usr/bin/perl"});
  EXPECT_NE(done.log.find("Out of memory"), std::string::npos) << done.log;
  EXPECT_NE(done.log.find("256 MiB of address space"), std::string::npos) << done.log;
}

TEST_P(HostileLearnwares, OneThatNeverAnswersEndsAtTheJobsDeadline) {
  const std::string sleeper = lwd::test::unique_process_name("sleeper");
  // The package asks for 2 s; the worker's deadline of 1 s wins.
  const Submission done = verify({.name = "silent", .process_script = "exec -a " + sleeper + " sleep 1000\n"}, 1.0);
  EXPECT_NE(done.log.find("timed out after 1 s"), std::string::npos) << done.log;
  EXPECT_NE(done.log.find("capped by the dock at 1"), std::string::npos) << done.log;
  EXPECT_TRUE(lwd::test::no_process_named(sleeper));
}

TEST_P(HostileLearnwares, AWellBehavedProcessModelIsUsableUnderTheSameLimits) {
  const Submission s = enqueue_package({.name = "fine", .process_script = kAnswers});
  VerifierOptions options;
  options.sandbox.processes = 16;
  options.sandbox.address_space_bytes = std::uint64_t{256} << 20;
  market_->sandbox_limits() = verifier_sandbox_limits(options);
  EXPECT_TRUE(verify_next_job(*queue_, *market_, market_dir_, options, "w"));
  EXPECT_EQ(job(s.id).status(), "usable") << job(s.id).log;
}

INSTANTIATE_TEST_SUITE_P(Backends, JobQueueTest, ::testing::Values("sqlite", "postgresql"), lwd::test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, HostileLearnwares, ::testing::Values("sqlite", "postgresql"),
                         lwd::test::backend_name);

}  // namespace
