// The market end to end with its learnware index in a database given by URL:
// once on a SQLite file outside the directory, once on PostgreSQL. Real
// packages, the checker, search, update, deletion, reopening and rebuilding,
// and two Market objects (as two processes would) sharing one index.
#include <gtest/gtest.h>

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

TEST_P(MarketOnDatabase, TheDirectoryOpenedWithoutItsDatabaseIsRefused) {
  { Market::create(dir_, {}, {}, urls()).add(package({.name = "x"})); }
  EXPECT_THROW(Market::open(dir_), lwd::Error);  // no index.sqlite: not this market's index
  EXPECT_EQ(Market::open(dir_, {}, {}, urls()).list().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MarketOnDatabase, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
