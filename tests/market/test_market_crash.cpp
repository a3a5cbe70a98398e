// Process death at every step of every change: a child process
// (market_child) makes one change and is killed with SIGKILL at one
// store stage -- or at a random moment of a stream of adds, or of several
// processes' adds, updates, deletes and rebuilds at once -- and then the
// market must open by itself (no `lwdock market rebuild` by hand), list
// exactly the learnwares whose packages are on disk, hold no staging folder,
// keep every change a process was told was stored, byte for byte, and keep
// working (an add and a search succeed, and a second open is clean).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "engine/warning.h"
#include "tests/market/market_child.h"
#include "tests/market/market_fixture.h"

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

pid_t spawn_child(const std::vector<std::string>& args, const fs::path& tmpdir) {
  return lwd::testing_market::spawn_market_child(args, tmpdir).pid;
}

int wait_child(pid_t pid) { return lwd::testing_market::wait_market_child(pid); }

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  return {std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()};
}

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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
      lwd::SearchRequest request;
      request.spec = lwd::load_stat_spec(pkgs_ / "lw3.parts" / "rkme.json");
      // The first search reads the pack; what a kill tore in it is found
      // there (checksums) and re-derived from the packages.
      market.search(request);
      records = market.list();
      std::set<std::string> ids, referenced;
      for (const auto& r : records) {
        ids.insert(r.id);
        referenced.insert(fs::path(r.package_path).filename().string());
        EXPECT_TRUE(fs::is_regular_file(dir / r.package_path)) << r.id;
        // Its spec and semantic spec are those of the package its row names
        // (each test package is named after its folder), not those of a
        // change that was killed before its row committed.
        const lwd::RKMETableSpec own = lwd::RKMETableSpec::load(pkgs_ / (r.name + ".parts") / "rkme.json");
        for (const auto& key : r.spec_keys) {
          const lwd::StoredPack* pack = market.store().pack(key);
          ASSERT_NE(pack, nullptr) << r.id << " " << key;
          const auto m = pack->find(r.id);
          ASSERT_TRUE(m) << r.id << " " << key;
          EXPECT_EQ(pack->slots().spec(*m).z(), own.z()) << "learnware " << r.id << " (" << r.name
                                                           << ") has another package's spec";
        }
        const auto semantic = market.semantic_spec(r.id);
        ASSERT_TRUE(semantic) << r.id;
        EXPECT_EQ(semantic->name, r.name) << "learnware " << r.id << " has another package's semantic spec";
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

  // What the churn children's logs (market_child churn) say against what the
  // market holds: every change a child was told was stored is there (an add
  // or update as the package it gave, byte for byte; a deletion gone); a
  // change it began and did not see finish (killed) may or may not be there,
  // but nothing else is; and no id was handed out twice.
  void expect_nothing_reported_stored_lost(const fs::path& dir, const std::vector<std::string>& owners) {
    std::map<std::string, lwd::LearnwareRecord> records;
    {
      Market market = Market::open(dir, {.n_threads = 1});
      for (auto& record : market.list()) records.emplace(record.id, record);
    }
    std::set<std::string> added;
    for (const auto& owner : owners) {
      SCOPED_TRACE("the learnwares of " + owner);
      struct Expected {
        std::optional<std::string> stored;  // the package last reported stored
        std::set<std::string> maybe;        // packages of updates begun since and not seen to finish
        bool maybe_deleted = false;
        bool deleted = false;
      };
      std::map<std::string, Expected> expected;
      std::vector<std::string> unfinished_adds;  // their packages
      const auto lines = lines_of(log_of(owner));
      for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto w = words_of(lines[i]);
        ASSERT_GE(w.size(), 2u) << lines[i];
        const bool finished = i + 1 < lines.size() && words_of(lines[i + 1]).at(0) == "done" &&
                              words_of(lines[i + 1]).at(1) == w[1];
        if (w[0] == "begin" && !finished) {
          if (w[1] == "add") unfinished_adds.push_back(w.at(2));
          if (w[1] == "update") expected[w.at(2)].maybe.insert(w.at(3));
          if (w[1] == "delete") expected[w.at(2)].maybe_deleted = true;
        } else if (w[0] == "done" && (w[1] == "add" || w[1] == "update")) {
          if (w[1] == "add") EXPECT_TRUE(added.insert(w.at(2)).second) << "id " << w[2] << " handed out twice";
          expected[w.at(2)] = Expected{w.at(3), {}, false, false};
        } else if (w[0] == "done" && w[1] == "delete") {
          expected[w.at(2)].deleted = true;
        }
      }
      std::vector<std::string> unfinished_adds_bytes;
      for (const auto& package : unfinished_adds) unfinished_adds_bytes.push_back(bytes_of(package));
      std::size_t unlogged = 0;
      for (const auto& [id, record] : records) {
        if (record.owner != owner) continue;
        const std::string stored_bytes = bytes_of(dir / record.package_path);
        const auto it = expected.find(id);
        if (it == expected.end() || (!it->second.stored && it->second.maybe.empty())) {
          // An add killed after its commit, before the child heard of it.
          ++unlogged;
          EXPECT_NE(std::find(unfinished_adds_bytes.begin(), unfinished_adds_bytes.end(), stored_bytes),
                    unfinished_adds_bytes.end())
              << "learnware " << id << " is no package of an add that " << owner << " began";
          continue;
        }
        std::set<std::string> allowed = it->second.maybe;
        if (it->second.stored) allowed.insert(*it->second.stored);
        bool matches = std::any_of(allowed.begin(), allowed.end(),
                                   [&](const std::string& package) { return bytes_of(package) == stored_bytes; });
        if (!it->second.stored) {
          matches = matches || std::find(unfinished_adds_bytes.begin(), unfinished_adds_bytes.end(), stored_bytes) !=
                                   unfinished_adds_bytes.end();
        }
        EXPECT_TRUE(matches) << "learnware " << id << "'s package is none of those given for it";
      }
      EXPECT_LE(unlogged, unfinished_adds.size());
      for (const auto& [id, e] : expected) {
        if (e.deleted) {
          EXPECT_FALSE(records.contains(id)) << "learnware " << id << " was reported deleted and is there";
        } else if (e.stored && !e.maybe_deleted) {
          EXPECT_TRUE(records.contains(id)) << "learnware " << id << " was reported stored and is gone";
        }
      }
    }
  }

  fs::path log_of(const std::string& owner) const { return tmp_.path() / ("log." + owner); }

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

// A process killed while HDF5 rewrote, in place, the partly filled chunk
// that holds committed learnwares' rows can leave it torn: its checksum
// fails and those rows are gone from market.h5 (their packages are not). The
// next change or search that meets it re-derives the file from the packages
// and goes on; nothing reported stored is lost.
TEST_F(MarketCrashTest, ATornChunkIsDerivedAgainFromThePackagesByTheNextChangeOrSearch) {
  for (const std::string first : {"add", "search"}) {
    SCOPED_TRACE("met first by " + first);
    const fs::path dir = fresh_market("torn-" + first);
    {
      const double value = lwd::RKMETableSpec::load(pkgs_ / "lw0.parts" / "rkme.json").z()(0, 0);
      std::string bytes = bytes_of(dir / "market.h5");
      const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&value), sizeof value));
      ASSERT_NE(at, std::string::npos);
      bytes[at + 3] = static_cast<char>(bytes[at + 3] ^ 0x40);
      std::ofstream(dir / "market.h5", std::ios::binary | std::ios::trunc) << bytes;
    }
    CapturedWarnings warnings;
    Market market = Market::open(dir, {.n_threads = 1});  // reads no chunk
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(pkgs_ / "lw0.parts" / "rkme.json");
    if (first == "add") {
      EXPECT_EQ(market.add(zips_[2], "after").status, LearnwareStatus::usable);
    }
    const auto response = market.search(request);
    ASSERT_FALSE(response.stat.singles.empty());
    EXPECT_EQ(market.get(response.stat.singles.front().id)->name, "lw0");
    EXPECT_TRUE(warnings.mention("rebuilding it from the packages")) << (warnings.lines.empty() ? "" : warnings.lines[0]);
    EXPECT_EQ(market.list().size(), first == "add" ? 3u : 2u);
  }
}

// Several processes change one market at once -- adds, updates and deletes
// of their own learnwares, rebuilds of all of them -- and each is killed with
// SIGKILL at a random moment of its changes, by the test or by itself at a
// random store stage, while the others carry on (and recover what it left,
// with the market still open). One of the three focuses on one kind of change
// each round and dies in it at one store stage in two, so every kind is
// interrupted. Afterwards the market opens by itself,
// lists exactly its packages, and has lost nothing a process was told was
// stored.
TEST_F(MarketCrashTest, KillsOfConcurrentChangesAtRandomMomentsLoseNothingReportedStored) {
  const fs::path dir = fresh_market("churn");
  std::vector<std::string> packages;
  for (const auto& zip : zips_) packages.push_back(zip.string());
  for (int i = 4; i < 6; ++i) {
    packages.push_back(
        make_package(pkgs_, {.d = 3, .centre = 2.0 * i, .seed = 10u + i, .name = "lw" + std::to_string(i)}).string());
  }
  const std::vector<std::string> owners = {"c0", "c1", "c2"};
  const std::vector<std::string> focuses = {"add", "update", "delete", "rebuild"};
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> delay_ms(0, 250);
  constexpr int kKills = 51;
  std::map<std::string, int> interrupted;  // the change a process was in when it died -> how often
  const auto every_kind_interrupted = [&] {
    return std::all_of(focuses.begin(), focuses.end(), [&](const std::string& change) { return interrupted[change] > 0; });
  };
  int kills = 0;
  // Until enough kills, and one at least in every kind of change (a few more
  // rounds at most, should the random moments have missed one).
  for (int round = 0; kills < kKills || !every_kind_interrupted(); ++round) {
    ASSERT_LT(round, 40) << "no kill in some kind of change after 40 rounds";
    std::vector<pid_t> pids;
    std::vector<std::size_t> logged_before;
    for (std::size_t c = 0; c < owners.size(); ++c) {
      logged_before.push_back(lines_of(log_of(owners[c])).size());
      std::vector<std::string> args = {dir.string(),
                                       "churn",
                                       owners[c],
                                       std::to_string(round * 10 + static_cast<int>(c) + 1),
                                       c == 0 ? focuses[static_cast<std::size_t>(round) % focuses.size()] : "mixed",
                                       log_of(owners[c]).string()};
      args.insert(args.end(), packages.begin(), packages.end());
      pids.push_back(spawn_child(args, child_tmp_));
    }
    std::vector<std::size_t> order = {0, 1, 2};
    std::shuffle(order.begin(), order.end(), rng);
    for (const std::size_t c : order) {
      // The random moment counts from the child's first change (for the
      // focused one, the first of its kind): on a loaded machine opening the
      // market can take longer than the whole delay, and a kill then would
      // test the open, not the changes. A child may die by itself meanwhile.
      const std::string first = c == 0 ? "begin " + focuses[static_cast<std::size_t>(round) % focuses.size()] : "begin";
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      int status = 0;
      bool ended = false;
      for (;;) {
        if (::waitpid(pids[c], &status, WNOHANG) == pids[c]) {
          ended = true;
          break;
        }
        const auto lines = lines_of(log_of(owners[c]));
        if (std::any_of(lines.begin() + static_cast<std::ptrdiff_t>(logged_before[c]), lines.end(),
                        [&](const std::string& line) { return line.rfind(first, 0) == 0; }) ||
            std::chrono::steady_clock::now() > deadline)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!ended) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
        ::kill(pids[c], SIGKILL);
        status = wait_child(pids[c]);
      }
      const auto lines = lines_of(log_of(owners[c]));
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
          << owners[c] << " ended by itself in round " << round << " (exit status "
          << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << "); last logged: "
          << (lines.empty() ? std::string("nothing") : lines.back());
      ++kills;
      const bool in_change = lines.size() > logged_before[c] && words_of(lines.back()).at(0) == "begin";
      ++interrupted[in_change ? words_of(lines.back()).at(1) : "(between changes)"];
    }
  }
  std::cout << "[          ] " << kills << " kills; in:";
  for (const auto& [change, count] : interrupted) std::cout << " " << change << " " << count;
  std::cout << std::endl;
  EXPECT_GE(kills, 50);
  for (const auto& change : focuses) EXPECT_GE(interrupted[change], 1) << "no kill during a " << change;

  expect_nothing_reported_stored_lost(dir, owners);
  std::set<std::string> any_id;
  for (int id = 1; id < 100'000; ++id) {
    char text[16];
    std::snprintf(text, sizeof text, "%08d", id);
    any_id.insert(text);
  }
  expect_recovered(dir, any_id);
}

}  // namespace
