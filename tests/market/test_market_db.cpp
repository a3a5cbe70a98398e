// The market end to end with its learnware index in a database given by URL:
// once on a SQLite file outside the directory, once on PostgreSQL. Real
// packages, the checker, search, update, deletion, reopening and rebuilding,
// and two Market objects (as two processes would) sharing one index.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/warning.h"
#include "store/index_test_support.h"
#include "tests/market/market_fixture.h"

namespace {

using lwd::LearnwareStatus;
using lwd::Market;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;

class MarketOnDatabase : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    LWD_INDEX_LOCATION_OR_RETURN(db_, GetParam());
    std::filesystem::create_directories(packages_);
  }

  lwd::IndexUrls urls() const { return {db_->url(), ""}; }
  std::filesystem::path package(PackageParts parts) { return make_package(packages_, parts); }
  lwd::SearchRequest request_near(double centre) const {
    lwd::SearchRequest request;
    request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, centre, 5)));
    return request;
  }

  lwd::testing_market::TempDir tmp_;
  std::filesystem::path dir_ = tmp_.path() / "market";
  std::filesystem::path packages_ = tmp_.path() / "pkgs";
  std::unique_ptr<lwd::test::IndexLocation> db_;
};

TEST_P(MarketOnDatabase, SubmitSearchUpdateDeleteReopenAndRebuild) {
  std::vector<std::string> ids;
  {
    Market market = Market::create(dir_, {}, {}, urls());
    for (int i = 0; i < 4; ++i) {
      const auto r = market.add(package({.centre = 3.0 * i, .seed = 10u + i, .name = "m" + std::to_string(i)}));
      ASSERT_EQ(r.status, LearnwareStatus::usable) << r.reason;
      ids.push_back(r.id);
    }
    EXPECT_EQ(market.search(request_near(6.0)).stat.singles.front().id, ids[2]);
    const auto updated = market.update(ids[1], package({.centre = 3.0, .seed = 30, .name = "m1v2"}));
    EXPECT_EQ(updated.status, LearnwareStatus::usable) << updated.reason;
    EXPECT_TRUE(market.remove(ids[3]));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "index.sqlite"));
  const auto before = Market::open(dir_, {}, {}, urls()).search(request_near(6.0));
  EXPECT_EQ(before.stat.candidates, 3);
  EXPECT_EQ(Market::open(dir_, {}, {}, urls()).get(ids[1])->name, "m1v2");
  std::filesystem::remove(dir_ / "market.h5");
  lwd::set_warning_handler([](std::string_view) {});
  Market reopened = Market::open(dir_, {}, {}, urls());  // re-derives market.h5 from the packages
  lwd::set_warning_handler({});
  const auto after = reopened.search(request_near(6.0));
  ASSERT_EQ(after.stat.singles.size(), before.stat.singles.size());
  for (std::size_t i = 0; i < before.stat.singles.size(); ++i) {
    EXPECT_EQ(after.stat.singles[i].id, before.stat.singles[i].id);
    EXPECT_DOUBLE_EQ(after.stat.singles[i].mmd2, before.stat.singles[i].mmd2);
  }
  EXPECT_EQ(Market::rebuild(dir_, {}, {}, urls()).list().size(), 3u);
  const auto next = reopened.add(package({.seed = 40, .name = "next"}));
  EXPECT_GT(next.id, ids[3]);  // the deleted id is not handed out again
}

TEST_P(MarketOnDatabase, TwoMarketObjectsShareTheIndexAndNeverTheSameId) {
  { Market::create(dir_, {}, {}, urls()); }
  Market a = Market::open(dir_, {}, {}, urls());
  Market b = Market::open(dir_, {}, {}, urls());
  std::vector<std::filesystem::path> zips;
  for (int i = 0; i < 6; ++i) zips.push_back(package({.centre = 1.0 * i, .seed = 50u + i, .name = "p" + std::to_string(i)}));
  std::vector<std::string> ids_a, ids_b;
  std::thread ta([&] {
    for (int i = 0; i < 3; ++i) ids_a.push_back(a.add(zips[i]).id);
  });
  std::thread tb([&] {
    for (int i = 3; i < 6; ++i) ids_b.push_back(b.add(zips[i]).id);
  });
  ta.join();
  tb.join();
  std::set<std::string> all(ids_a.begin(), ids_a.end());
  all.insert(ids_b.begin(), ids_b.end());
  EXPECT_EQ(all.size(), 6u);
  a.reload();
  EXPECT_EQ(a.list().size(), 6u);
  EXPECT_EQ(Market::open(dir_, {}, {}, urls()).search(request_near(2.0)).stat.candidates, 6);
}

// What a search answers, for comparing two markets' answers exactly.
std::vector<std::pair<std::string, double>> answer_of(const lwd::SearchResponse& response) {
  std::vector<std::pair<std::string, double>> answer;
  for (const auto& id : response.semantic_ids) answer.emplace_back(id, 0.0);
  for (const auto& single : response.stat.singles) answer.emplace_back(single.id, single.mmd2);
  if (response.stat.mixture) answer.emplace_back("mixture", response.stat.mixture->mmd2);
  return answer;
}

// Another process's adds, update and removal reach a market that has built
// its search state, without reload(): every read looks first (the default),
// and what it then answers is what a fresh open answers.
TEST_P(MarketOnDatabase, AMarketFollowsAnotherMarketsChangesWithoutReload) {
  Market writer = Market::create(dir_, {}, {}, urls());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(writer.add(package({.centre = 2.0 * i, .seed = 60u + i, .name = "f" + std::to_string(i)})).id);
  Market follower = Market::open(dir_, {}, {}, urls());
  lwd::SearchRequest request = request_near(4.0);
  request.semantic = lwd::testing_market::table_regression_semantic(3, "");
  const auto first = follower.search(request);  // builds the search state the changes must keep in step
  EXPECT_EQ(first.stat.candidates, 3);

  const auto added = writer.add(package({.centre = 4.0, .seed = 70, .name = "f3"}));
  writer.update(ids[0], package({.centre = 4.2, .seed = 71, .name = "f0v2"}));
  ASSERT_TRUE(writer.remove(ids[1]));
  const auto after = follower.search(request);
  const Market fresh = Market::open(dir_, {}, {}, urls());
  EXPECT_EQ(answer_of(after), answer_of(fresh.search(request)));
  EXPECT_EQ(after.stat.candidates, 3);
  EXPECT_EQ(follower.get(ids[0])->name, "f0v2");
  EXPECT_FALSE(follower.get(ids[1]));
  EXPECT_EQ(follower.list().size(), 3u);
  EXPECT_EQ(follower.list(), fresh.list());
  EXPECT_EQ(follower.semantic_spec(added.id)->name, "f3");
  EXPECT_FALSE(follower.catch_up());  // nothing left to bring in

  // Not looking: nothing comes in until asked for.
  follower.follow_changes({.check_before_reads = std::nullopt});
  const auto unseen = writer.add(package({.centre = 5.0, .seed = 72, .name = "f4"}));
  EXPECT_FALSE(follower.get(unseen.id));
  EXPECT_TRUE(follower.catch_up());
  EXPECT_TRUE(follower.get(unseen.id));
  // Its own change is made on top of the other's, which it brings in first.
  const auto other = writer.add(package({.centre = 6.0, .seed = 73, .name = "f5"}));
  const auto own = follower.add(package({.centre = 7.0, .seed = 74, .name = "f6"}));
  EXPECT_GT(own.id, other.id);
  EXPECT_TRUE(follower.get(other.id));
  EXPECT_EQ(answer_of(follower.search(request)), answer_of(Market::open(dir_, {}, {}, urls()).search(request)));
}

// A watching market learns of another's commit by itself (PostgreSQL:
// NOTIFY; SQLite: polling) and its next read brings the change in.
TEST_P(MarketOnDatabase, AWatchingMarketLearnsOfAChangeByItself) {
  Market writer = Market::create(dir_, {}, {}, urls());
  writer.add(package({.seed = 80, .name = "w0"}));
  Market follower = Market::open(dir_, {}, {}, urls());
  follower.follow_changes({.check_before_reads = std::nullopt, .watch = true, .poll_period = std::chrono::milliseconds(20)});
  const auto added = writer.add(package({.seed = 81, .name = "w1"}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!follower.get(added.id) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(follower.get(added.id)) << "the watching market never saw the change";
  EXPECT_EQ(follower.list().size(), 2u);
  Market moved = std::move(follower);  // the watcher does not hold on to the market
  ASSERT_TRUE(writer.remove(added.id));
  const auto again = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (moved.get(added.id) && std::chrono::steady_clock::now() < again) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(moved.get(added.id));
  moved.follow_changes({});  // stops the watcher
}

TEST_P(MarketOnDatabase, TheDirectoryOpenedWithoutItsDatabaseIsRefused) {
  { Market::create(dir_, {}, {}, urls()).add(package({.name = "x"})); }
  EXPECT_THROW(Market::open(dir_), lwd::Error);  // no index.sqlite: not this market's index
  EXPECT_EQ(Market::open(dir_, {}, {}, urls()).list().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MarketOnDatabase, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
