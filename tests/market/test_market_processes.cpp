// Several processes on one market at once (docs/DESIGN.md §7.6), with its
// index in SQLite and in PostgreSQL: processes that add, delete and search
// side by side lose no submission, never share an id and keep every package
// intact; a process that only searches sees another's new learnware within
// a second, without reopening the market.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "store/index_test_support.h"
#include "tests/market/market_child.h"
#include "tests/market/market_fixture.h"

namespace {

namespace fs = std::filesystem;
using lwd::Market;
using lwd::testing_market::make_package;
using lwd::testing_market::MarketChild;
using lwd::testing_market::read_line_before;
using lwd::testing_market::spawn_market_child;
using lwd::testing_market::wait_market_child;

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The answer as market_child's `searches` writes it.
std::vector<std::string> written_answer(const lwd::SearchResponse& response) {
  std::vector<std::string> lines = {"candidates " + std::to_string(response.stat.candidates)};
  for (const auto& single : response.stat.singles) {
    char mmd2[64];
    std::snprintf(mmd2, sizeof mmd2, "%.17g", single.mmd2);
    lines.push_back("single " + single.id + " " + mmd2);
  }
  return lines;
}

std::string exit_of(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

class MarketProcesses : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    LWD_INDEX_LOCATION_OR_RETURN(db_, GetParam());
    fs::create_directories(packages_);
  }

  lwd::IndexUrls urls() const { return {db_->url(), ""}; }
  // market_child's arguments for this market.
  std::vector<std::string> child(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", db_->url(), dir_.string()});
    return args;
  }

  lwd::testing_market::TempDir tmp_;
  fs::path dir_ = tmp_.path() / "market";
  fs::path packages_ = tmp_.path() / "pkgs";
  std::unique_ptr<lwd::test::IndexLocation> db_;
};

// Four processes add 25 learnwares each, at once, while one deletes the
// learnwares the market started with and two search all along.
TEST_P(MarketProcesses, FourProcessesAdd25EachWhileOthersSearchAndDelete) {
  constexpr int kAdders = 4;
  constexpr int kEach = 25;
  constexpr int kPackagesEach = 5;  // cycled through: distinct bytes per process
  std::vector<std::vector<std::string>> zips(kAdders);
  for (int a = 0; a < kAdders; ++a) {
    for (int z = 0; z < kPackagesEach; ++z) {
      zips[a].push_back(make_package(packages_, {.centre = 1.0 * a + 0.25 * z,
                                                 .seed = 100u + static_cast<unsigned>(10 * a + z),
                                                 .name = "a" + std::to_string(a) + "z" + std::to_string(z)})
                            .string());
    }
  }
  std::vector<std::string> initial;
  {
    Market market = Market::create(dir_, {.n_threads = 1}, {}, urls());
    for (int i = 0; i < 8; ++i) initial.push_back(market.add(zips[i % kAdders][i % kPackagesEach], "initial").id);
  }
  const fs::path spec = packages_ / "a1z2.parts" / "rkme.json";
  const fs::path stop = tmp_.path() / "stop";

  std::vector<std::string> delete_args = {"deletes", "40"};
  delete_args.insert(delete_args.end(), initial.begin(), initial.end());
  const MarketChild deleter = spawn_market_child(child(delete_args));
  std::vector<MarketChild> searchers;
  for (int s = 0; s < 2; ++s) {
    searchers.push_back(spawn_market_child(
        child({"searches", spec.string(), stop.string(), (tmp_.path() / ("search." + std::to_string(s))).string()})));
  }
  std::vector<MarketChild> adders;
  for (int a = 0; a < kAdders; ++a) {
    std::vector<std::string> args = {"adds", (tmp_.path() / ("adds." + std::to_string(a))).string()};
    for (int i = 0; i < kEach; ++i) args.push_back(zips[a][i % kPackagesEach]);
    adders.push_back(spawn_market_child(child(args)));
  }
  for (int a = 0; a < kAdders; ++a) {
    const int status = wait_market_child(adders[a].pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "adder " << a << ": " << exit_of(status);
  }
  const int deleted = wait_market_child(deleter.pid);
  EXPECT_TRUE(WIFEXITED(deleted) && WEXITSTATUS(deleted) == 0) << "deleter: " << exit_of(deleted);
  std::ofstream(stop) << "stop\n";
  for (std::size_t s = 0; s < searchers.size(); ++s) {
    const int status = wait_market_child(searchers[s].pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "searcher " << s << ": " << exit_of(status);
  }

  // Every reported id exactly once, with the package it was given, byte for byte.
  std::map<std::string, std::string> package_of;
  for (int a = 0; a < kAdders; ++a) {
    const auto lines = lines_of(tmp_.path() / ("adds." + std::to_string(a)));
    EXPECT_EQ(lines.size(), static_cast<std::size_t>(kEach)) << "adder " << a;
    for (const auto& line : lines) {
      const auto id = line.substr(7, 8);
      EXPECT_TRUE(package_of.emplace(id, line.substr(16)).second) << "id " << id << " reported twice";
    }
  }
  const Market market = Market::open(dir_, {.n_threads = 1}, {}, urls());
  const auto records = market.list();
  EXPECT_EQ(records.size(), static_cast<std::size_t>(kAdders * kEach));
  std::set<std::string> listed;
  for (const auto& record : records) {
    EXPECT_TRUE(listed.insert(record.id).second) << "id " << record.id << " listed twice";
    const auto it = package_of.find(record.id);
    ASSERT_NE(it, package_of.end()) << "learnware " << record.id << " was not reported by any adder";
    EXPECT_EQ(bytes_of(dir_ / record.package_path), bytes_of(it->second)) << "the package of " << record.id;
    EXPECT_EQ(record.status, lwd::LearnwareStatus::usable) << record.id << ": " << record.status_reason;
  }
  for (const auto& id : initial) EXPECT_FALSE(market.get(id)) << "deleted learnware " << id << " is listed";
  std::set<std::string> on_disk;
  for (const auto& entry : fs::directory_iterator(dir_ / "packages")) on_disk.insert(entry.path().filename().string());
  EXPECT_EQ(on_disk.size(), records.size());

  // The searchers searched all along, and their last answer -- after every
  // change, brought in as it came -- is a fresh open's.
  lwd::SearchRequest request;
  request.spec = lwd::load_stat_spec(spec);
  const auto expected = written_answer(market.search(request));
  for (int s = 0; s < 2; ++s) {
    auto lines = lines_of(tmp_.path() / ("search." + std::to_string(s)));
    ASSERT_GE(lines.size(), 2u) << "searcher " << s;
    EXPECT_GT(std::stol(lines.front()), 1) << "searcher " << s;
    lines.erase(lines.begin());
    EXPECT_EQ(lines, expected) << "searcher " << s;
  }
}

// One process adds; another, which only searches, finds the new learnware
// within a second without reopening: looking before every read (the
// default), and with a watcher instead (PostgreSQL: NOTIFY; SQLite: polling
// every 100 ms). The searcher is given 5 s, so that a slow machine reports
// the time it took rather than a timeout; the second is asserted on the time
// observed, which on an idle machine is a few milliseconds (bench/README.md).
TEST_P(MarketProcesses, ASearchingProcessSeesAnotherProcesssNewLearnwareWithinASecond) {
  const auto zip = [&](int i) {
    return make_package(packages_, {.centre = 2.0 * i, .seed = 200u + static_cast<unsigned>(i), .name = "v" + std::to_string(i)});
  };
  Market market = Market::create(dir_, {.n_threads = 1}, {}, urls());
  market.add(zip(0));
  market.add(zip(1));
  int next = 2;
  for (const std::string mode : {"reads", "watch"}) {
    SCOPED_TRACE("searcher mode " + mode);
    const fs::path package = zip(next++);
    const fs::path spec = packages_ / ("v" + std::to_string(next - 1) + ".parts") / "rkme.json";
    const MarketChild searcher = spawn_market_child(child({"see-new", mode, spec.string()}), {}, true);
    const auto ready = read_line_before(searcher.out, std::chrono::steady_clock::now() + std::chrono::seconds(60));
    ASSERT_EQ(ready, "ready");
    const auto added = market.add(package);
    const auto stored = std::chrono::steady_clock::now();
    const auto seen = read_line_before(searcher.out, stored + std::chrono::seconds(5));
    if (!seen) ::kill(searcher.pid, SIGKILL);
    const int status = wait_market_child(searcher.pid);
    ::close(searcher.out);
    ASSERT_TRUE(seen) << "the searching process did not see learnware " << added.id << " within 5 s ("
                      << exit_of(status) << ")";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << exit_of(status);
    ASSERT_EQ(seen->substr(0, 5 + added.id.size()), "seen " + added.id) << *seen;
    const std::chrono::nanoseconds at(std::stoll(seen->substr(6 + added.id.size())));
    // Negative when the searcher saw it before add() returned to this process.
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(at - stored.time_since_epoch());
    std::cout << "[          ] " << GetParam() << ", " << mode << ": seen " << latency.count() / 1000.0
              << " ms after add() returned" << std::endl;
    EXPECT_LT(latency, std::chrono::seconds(1));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, MarketProcesses, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
