// A market whose index lives in a database given by URL (SQLite file
// elsewhere, or PostgreSQL): the store works the same, refuses a database
// that belongs to another market, and sends loads to the read database and
// every change to the primary.
#include <gtest/gtest.h>

#include <set>

#include "engine/error.h"
#include "engine/store/market_store.h"
#include "store/index_test_support.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

class MarketStoreDatabase : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { LWD_INDEX_LOCATION_OR_RETURN(db_, GetParam()); }

  fs::path market_dir(const std::string& name = "market") const { return scratch_ / name; }
  IndexUrls urls() const { return {db_->url(), ""}; }

  LearnwareRecord add(MarketStore& store, std::uint64_t seed) {
    LearnwareRecord record;
    record.id = store.next_id();
    record.name = "model " + record.id;
    record.owner = "alice";
    record.status = LearnwareStatus::usable;
    const fs::path zip = scratch_ / ("upload-" + record.id + ".zip");
    test::write_bytes(zip, "PK fake package " + record.id);
    store.add(record, zip, {{"RKMETableSpecification", test::make_spec(3, 4, seed)}},
              R"({"Name":{"Values":"x","Type":"String"}})");
    return *store.get(record.id);
  }

  test::ScratchDir scratch_;
  std::unique_ptr<test::IndexLocation> db_;
};

TEST_P(MarketStoreDatabase, AddListRemoveAndReopenKeepTheRowsInTheDatabase) {
  std::string first_id;
  {
    MarketStore store = MarketStore::create(market_dir(), urls());
    first_id = add(store, 1).id;
    add(store, 2);
    EXPECT_TRUE(store.remove(first_id));
  }
  EXPECT_FALSE(fs::exists(market_dir() / "index.sqlite"));  // the table is in the database
  MarketStore store = MarketStore::open(market_dir(), urls());
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.list()[0].id, "00000002");
  EXPECT_EQ(store.all_packs().begin()->second.ids, std::vector<std::string>{"00000002"});
  EXPECT_EQ(store.next_id(), "00000003");  // a removed id never comes back
  EXPECT_EQ(open_learnware_index(db_->url(), "")->list().size(), 1u);
}

TEST_P(MarketStoreDatabase, CreatingASecondMarketOnTheSameDatabaseIsRefused) {
  { MarketStore::create(market_dir("a"), urls()); }
  const std::string message = test::error_of([&] { MarketStore::create(market_dir("b"), urls()); });
  EXPECT_NE(message.find("already holds a market's learnware index"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(market_dir("b") / "market.id"));
}

TEST_P(MarketStoreDatabase, AnotherMarketsDatabaseIsRefusedAndThePackagesStay) {
  {
    MarketStore store = MarketStore::create(market_dir("a"), urls());
    add(store, 1);
  }
  std::set<std::string> packages_before;
  {
    MarketStore own = MarketStore::create(market_dir("b"));  // its own index.sqlite
    add(own, 2);
  }
  for (const auto& entry : fs::directory_iterator(market_dir("b") / "packages")) {
    packages_before.insert(entry.path().filename().string());
  }
  const std::string message = test::error_of([&] { MarketStore::open(market_dir("b"), urls()); });
  EXPECT_NE(message.find("another market"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  std::set<std::string> packages_after;
  for (const auto& entry : fs::directory_iterator(market_dir("b") / "packages")) {
    packages_after.insert(entry.path().filename().string());
  }
  EXPECT_EQ(packages_after, packages_before);  // nothing was swept as debris
}

TEST_P(MarketStoreDatabase, AnEmptyDatabaseIsNotTheMarketsIndex) {
  { MarketStore::create(market_dir(), urls()); }
  const auto empty = db_->sibling();
  const std::string message = test::error_of([&] { MarketStore::open(market_dir(), {empty->url(), ""}); });
  EXPECT_NE(message.find("holds no learnware index of the market"), std::string::npos) << message;
}

TEST_P(MarketStoreDatabase, ADirectoryWithoutItsTagIsNotAMarketForAnotherDatabase) {
  fs::create_directories(market_dir());
  const std::string message = test::error_of([&] { MarketStore::open(market_dir(), urls()); });
  EXPECT_NE(message.find("not a market directory"), std::string::npos) << message;
}

// The read database here is a second index carrying the market's tag, with a
// row of its own, so what the store shows tells where it was read.
TEST_P(MarketStoreDatabase, LoadsReadTheReadDatabaseAndChangesGoToThePrimary) {
  {
    MarketStore store = MarketStore::create(market_dir(), urls());
    add(store, 1);
  }
  const auto replica = db_->sibling();
  {
    auto index = open_learnware_index(replica->url(), "");
    index->set_market_tag(*open_learnware_index(db_->url(), "")->market_tag());
    LearnwareRecord only_there;
    only_there.id = "00000077";
    only_there.package_path = "packages/00000077.zip";
    index->insert(only_there);
  }
  MarketStore store = MarketStore::open(market_dir(), {db_->url(), replica->url()});
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.list()[0].id, "00000077");  // loaded from the read database
  EXPECT_EQ(store.next_id(), "00000002");     // reserved on the primary
  add(store, 2);
  EXPECT_EQ(open_learnware_index(db_->url(), "")->list().size(), 2u);
  EXPECT_EQ(open_learnware_index(replica->url(), "")->list().size(), 1u);
  // What a change rewrites follows the primary: the remove finds its row there.
  EXPECT_TRUE(store.remove("00000001"));
  EXPECT_EQ(open_learnware_index(db_->url(), "")->list().size(), 1u);
}

TEST_P(MarketStoreDatabase, AReadDatabaseOfAnotherMarketIsRefused) {
  { MarketStore::create(market_dir(), urls()); }
  const auto other = db_->sibling();
  open_learnware_index(other->url(), "")->set_market_tag("someone-else");
  const std::string message = test::error_of([&] { MarketStore::open(market_dir(), {db_->url(), other->url()}); });
  EXPECT_NE(message.find("another market"), std::string::npos) << message;
}

TEST_P(MarketStoreDatabase, AMalformedUrlIsRefusedBeforeTheDirectoryIsMade) {
  const std::string message = test::error_of([&] { MarketStore::create(market_dir(), {"postgresql://nobody", ""}); });
  EXPECT_NE(message.find("database URL"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(market_dir()));
}

// A market as the program before schema version 2 left it: index.sqlite of
// version 1 and no market.id. It opens, keeps its rows, and carries on.
TEST(MarketStoreUpgrade, AMarketFromBeforeTheTagAndVersion2OpensAndCarriesOn) {
  test::ScratchDir scratch;
  const fs::path dir = scratch / "market";
  const fs::path zip = scratch / "upload.zip";
  test::write_bytes(zip, "PK fake package");
  const SpecsByType specs = {{"RKMETableSpecification", test::make_spec(3, 4, 1)}};
  {
    MarketStore store = MarketStore::create(dir);
    LearnwareRecord record;
    record.id = store.next_id();
    record.name = "old";
    store.add(record, zip, specs, "{}");
  }
  {
    auto raw = open_sqlite_connection(dir / "index.sqlite", IndexAccess::read_write);
    for (const char* sql : {"DROP INDEX learnware_by_seq", "DROP TABLE learnware_removed",
                            "ALTER TABLE learnware DROP COLUMN seq", "DROP TABLE index_meta",
                            "DELETE FROM id_counter WHERE name = 'change'", "UPDATE schema_version SET version = 1"}) {
      raw->run(sql);
    }
  }
  fs::remove(dir / "market.id");
  MarketStore store = MarketStore::open(dir);
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.list()[0].name, "old");
  EXPECT_EQ(store.all_packs().size(), 1u);
  LearnwareRecord next;
  next.id = store.next_id();
  EXPECT_EQ(next.id, "00000002");
  store.add(next, zip, specs, "{}");
  EXPECT_EQ(index_schema_version(*open_sqlite_connection(dir / "index.sqlite", IndexAccess::read_only)),
            current_index_schema_version());
  EXPECT_EQ(open_learnware_index("", dir / "index.sqlite")->change_seq(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, MarketStoreDatabase, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace lwd
