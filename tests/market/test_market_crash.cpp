// Process death at every step of every change: a child process
// (market_crash_child) makes one change and is killed with SIGKILL at one
// store stage -- or at a random moment of a stream of adds -- and then the
// market must open by itself (no `lwdock market rebuild` by hand), list
// exactly the learnwares whose packages are on disk, hold no staging folder,
// and keep working (an add and a search succeed, and a second open is clean).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "engine/warning.h"
#include "tests/market/market_fixture.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using lwd::LearnwareStatus;
using lwd::Market;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;
using lwd::testing_market::TempDir;

// Collects warnings instead of printing them, for the life of the object.
struct CapturedWarnings {
  std::vector<std::string> lines;
  CapturedWarnings() {
    lwd::set_warning_handler([this](std::string_view message) { lines.emplace_back(message); });
  }
  ~CapturedWarnings() { lwd::set_warning_handler({}); }
  bool mention(std::string_view text) const {
    for (const auto& line : lines)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
};

// Starts the child with TMPDIR set to `tmpdir`, so that whatever it would
// leave in the system's temporary directory shows up there.
pid_t spawn_child(const std::vector<std::string>& args, const fs::path& tmpdir) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(LWD_MARKET_CRASH_CHILD));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"TMPDIR=" + tmpdir.string()};
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string_view(*e).substr(0, 7) != "TMPDIR=") env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, LWD_MARKET_CRASH_CHILD, nullptr, nullptr, argv.data(), envp.data());
  EXPECT_EQ(rc, 0) << "cannot start " << LWD_MARKET_CRASH_CHILD;
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.insert(entry.path().filename().string());
  return names;
}

class MarketCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(pkgs_);
    fs::create_directories(child_tmp_);
    base_ = tmp_.path() / "base";
    for (int i = 0; i < 4; ++i)
      zips_.push_back(make_package(pkgs_, {.d = 3, .centre = 2.0 * i, .seed = 10u + i, .name = "lw" + std::to_string(i)}));
    Market market = Market::create(base_, {.n_threads = 1});
    market.add(zips_[0], "base");
    market.add(zips_[1], "base");
  }

  // A fresh copy of the two-learnware market (nothing has it open).
  fs::path fresh_market(const std::string& name) {
    const fs::path dir = tmp_.path() / name;
    fs::remove_all(dir);
    fs::copy(base_, dir, fs::copy_options::recursive);
    return dir;
  }

  // What every crash must leave: a market that opens by itself, consistent
  // with its packages, without staging debris, that keeps working.
  void expect_recovered(const fs::path& dir, const std::set<std::string>& allowed_ids) {
    std::vector<lwd::LearnwareRecord> records;
    {
      Market market = Market::open(dir, {.n_threads = 1});
      records = market.list();
      std::set<std::string> ids, referenced;
      for (const auto& r : records) {
        ids.insert(r.id);
        referenced.insert(fs::path(r.package_path).filename().string());
        EXPECT_TRUE(fs::is_regular_file(dir / r.package_path)) << r.id;
        for (const auto& key : r.spec_keys) {
          const lwd::StoredPack* pack = market.store().pack(key);
          ASSERT_NE(pack, nullptr) << r.id << " " << key;
          EXPECT_TRUE(pack->find(r.id)) << r.id << " " << key;
        }
        EXPECT_TRUE(market.store().semantic_json(r.id)) << r.id;
      }
      for (const auto& id : ids) EXPECT_TRUE(allowed_ids.count(id)) << "unexpected learnware " << id;
      EXPECT_GE(ids.size(), 1u);
      EXPECT_EQ(files_in(dir / "packages"), referenced);
      EXPECT_TRUE(files_in(dir / "staging").empty()) << "staging folders left: " << files_in(dir / "staging").size();
      EXPECT_TRUE(files_in(child_tmp_).empty()) << "the child left " << files_in(child_tmp_).size()
                                                << " folder(s) in its temporary directory";
      EXPECT_FALSE(fs::exists(dir / "market.h5.tmp"));

      // It keeps working: an add and a statistical search.
      const auto added = market.add(zips_[3], "after");
      EXPECT_EQ(added.status, LearnwareStatus::usable) << added.reason;
      lwd::SearchRequest request;
      request.spec = lwd::load_stat_spec(pkgs_ / "lw3.parts" / "rkme.json");
      const auto response = market.search(request);
      ASSERT_FALSE(response.stat.singles.empty());
      EXPECT_EQ(market.get(response.stat.singles.front().id)->name, "lw3");
    }
    // The second open after the crash finds nothing to repair.
    CapturedWarnings warnings;
    Market again = Market::open(dir, {.n_threads = 1});
    EXPECT_EQ(again.list().size(), records.size() + 1);
    EXPECT_TRUE(warnings.lines.empty()) << warnings.lines.front();
  }

  TempDir tmp_;
  fs::path pkgs_ = tmp_.path() / "pkgs";
  fs::path child_tmp_ = tmp_.path() / "child-tmp";
  fs::path base_;
  std::vector<fs::path> zips_;
};

struct KillCase {
  std::string op;
  std::string stage;
};

const std::vector<KillCase> kKillCases = {
    {"add", "copy_package"},       {"add", "append_h5"},        {"add", "append_h5_open"},
    {"add", "append_h5_rows"},     {"add", "append_h5_commit"}, {"add", "append_h5_close"},
    {"add", "index_insert"},       {"add", "commit"},           {"update", "copy_package"},
    {"update", "append_h5"},       {"update", "append_h5_open"}, {"update", "append_h5_rows"},
    {"update", "append_h5_commit"}, {"update", "append_h5_close"}, {"update", "index_update"},
    {"update", "commit"},          {"delete", "index_remove"},  {"delete", "commit"},
    {"rebuild", "index_update"},   {"rebuild", "write_h5"},     {"rebuild", "commit"},
};

TEST_F(MarketCrashTest, AKillAtEveryStoreStageLeavesAMarketThatOpensByItself) {
  int n = 0;
  for (const auto& c : kKillCases) {
    SCOPED_TRACE(c.op + " killed at " + c.stage);
    const fs::path dir = fresh_market("kill" + std::to_string(n++));
    std::vector<std::string> args = {dir.string(), c.op, c.stage};
    if (c.op == "add") args.push_back(zips_[2].string());
    if (c.op == "update") args.insert(args.end(), {"00000001", zips_[2].string()});
    if (c.op == "delete") args.push_back("00000001");
    const int status = wait_child(spawn_child(args, child_tmp_));
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child was not killed at the stage (exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
        << ")";
    CapturedWarnings warnings;
    expect_recovered(dir, {"00000001", "00000002", "00000003", "00000004"});
    // Killed with market.h5 flushed and open for writing: the recovery ran
    // (before it, no command could open this market).
    if (c.stage == "append_h5_commit") EXPECT_TRUE(warnings.mention("left open for writing")) << c.stage;
  }
}

TEST_F(MarketCrashTest, KillsAtRandomMomentsOfAStreamOfAddsLeaveAMarketThatOpensByItself) {
  const fs::path dir = fresh_market("stream");
  std::mt19937 rng(20240229);
  std::uniform_int_distribution<int> delay_ms(5, 400);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const pid_t pid = spawn_child({dir.string(), "add-forever", "-", zips_[2].string()}, child_tmp_);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    const int status = wait_child(pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended by itself, status " << status;
    // Any id handed out so far may exist; the check is consistency, not count.
    std::set<std::string> allowed;
    for (int id = 1; id < 10'000; ++id) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%08d", id);
      allowed.insert(buf);
    }
    CapturedWarnings warnings;
    expect_recovered(dir, allowed);
  }
}

}  // namespace
