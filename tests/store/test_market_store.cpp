#include "engine/store/market_store.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <atomic>
#include <set>
#include <thread>

#include "engine/error.h"
#include "engine/io/locked_dir.h"
#include "engine/store/hdf5_spec_store.h"
#include "engine/warning.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using test::make_spec;
using test::ScratchDir;

constexpr const char* kTable = "RKMETableSpecification";

// A learnware's inputs to add(), derived from a seed so tests can recreate them.
struct Submission {
  LearnwareRecord record;
  fs::path zip;
  SpecsByType specs;
  std::string semantic;
};

Submission make_submission(const ScratchDir& scratch, const std::string& id, std::uint64_t seed, std::int64_t dim = 4) {
  Submission s;
  s.record.id = id;
  s.record.name = "model " + id;
  s.record.owner = "alice";
  s.record.status = LearnwareStatus::usable;
  s.zip = scratch / ("upload-" + id + "-" + std::to_string(seed) + ".zip");
  test::write_bytes(s.zip, "PK fake package " + id + " " + std::to_string(seed));
  s.specs = {{kTable, make_spec(3 + static_cast<std::int64_t>(seed % 5), dim, seed)}};
  s.semantic = R"({"Name":{"Values":"model )" + id + R"(","Type":"String"},"seed":)" + std::to_string(seed) + "}";
  return s;
}

void add(MarketStore& store, const Submission& s) { store.add(s.record, s.zip, s.specs, s.semantic); }

std::set<std::string> file_names(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// Everything a reader can observe, to compare a market before and after.
struct Observed {
  std::vector<LearnwareRecord> records;
  std::map<std::string, SpecPack> packs;
  std::map<std::string, std::string> semantic;
  std::set<std::string> packages;
};

Observed observe(const MarketStore& store) {
  Observed o;
  o.records = store.list();
  o.packs = store.all_packs();
  for (const auto& record : o.records) {
    if (auto json = store.semantic_json(record.id)) o.semantic[record.id] = *json;
  }
  o.packages = file_names(store.dir() / "packages");
  return o;
}

void expect_same(const Observed& a, const Observed& b) {
  EXPECT_EQ(a.records, b.records);
  test::expect_same_packs(a.packs, b.packs);
  EXPECT_EQ(a.semantic, b.semantic);
  EXPECT_EQ(a.packages, b.packages);
}

class MarketStoreTest : public ::testing::Test {
 protected:
  fs::path market_dir() const { return scratch_ / "market"; }
  // A market holding learnwares 00000001 and 00000002 (widths 4 and 6).
  MarketStore make_market() {
    auto store = MarketStore::create(market_dir());
    add(store, make_submission(scratch_, store.next_id(), 1, 4));
    add(store, make_submission(scratch_, store.next_id(), 2, 6));
    return store;
  }

  ScratchDir scratch_;
};

TEST_F(MarketStoreTest, CreateMakesAnEmptyMarketThatOpens) {
  { auto store = MarketStore::create(market_dir()); }
  EXPECT_TRUE(fs::is_directory(market_dir() / "packages"));
  EXPECT_TRUE(fs::exists(market_dir() / "market.h5"));
  EXPECT_TRUE(fs::exists(market_dir() / "index.sqlite"));
  auto store = MarketStore::open(market_dir());
  EXPECT_TRUE(store.list().empty());
  EXPECT_TRUE(store.all_packs().empty());
}

TEST_F(MarketStoreTest, CreateRefusesADirectoryThatIsNotEmpty) {
  fs::create_directories(market_dir());
  test::write_bytes(market_dir() / "notes.txt", "mine");
  EXPECT_THROW(MarketStore::create(market_dir()), Error);
  EXPECT_EQ(file_names(market_dir()), std::set<std::string>{"notes.txt"});
}

TEST_F(MarketStoreTest, OpenOfADirectoryWithoutAMarketExplains) {
  fs::create_directories(market_dir());
  try {
    MarketStore::open(market_dir());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a market directory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MarketStore::open(scratch_ / "absent"), Error);
}

TEST_F(MarketStoreTest, AddKeepsPackageSpecsSemanticAndRow) {
  auto store = MarketStore::create(market_dir());
  const auto s = make_submission(scratch_, store.next_id(), 7, 5);
  add(store, s);
  const auto record = store.get(s.record.id);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->package_path, "packages/00000001.zip");
  EXPECT_EQ(record->spec_keys, std::vector<std::string>{"RKMETableSpecification/5"});
  EXPECT_FALSE(record->created_at.empty());
  EXPECT_EQ(record->status, LearnwareStatus::usable);
  EXPECT_EQ(test::read_bytes(store.package_path(s.record.id)), test::read_bytes(s.zip));
  const auto pack = store.all_packs().at("RKMETableSpecification/5");
  ASSERT_EQ(pack.count(), 1);
  EXPECT_EQ(pack.spec(0).z(), s.specs[0].second.z());
  EXPECT_DOUBLE_EQ(pack.self_inner[0], s.specs[0].second.inner_product(s.specs[0].second));
  EXPECT_EQ(store.semantic_json(s.record.id), s.semantic);
}

TEST_F(MarketStoreTest, ReopeningGivesExactlyWhatWasStored) {
  Observed before;
  {
    auto store = make_market();
    add(store, make_submission(scratch_, store.next_id(), 3, 4));
    before = observe(store);
  }
  expect_same(observe(MarketStore::open(market_dir())), before);
}

TEST_F(MarketStoreTest, AddRejectsATakenIdTwoSpecsOfOneTypeAndABadId) {
  auto store = make_market();
  const auto before = observe(store);
  EXPECT_THROW(add(store, make_submission(scratch_, "00000001", 9)), Error);
  auto twice = make_submission(scratch_, "00000010", 9);
  twice.specs.push_back(twice.specs.front());
  EXPECT_THROW(add(store, twice), Error);
  EXPECT_THROW(add(store, make_submission(scratch_, "../x", 9)), Error);
  auto missing_zip = make_submission(scratch_, "00000011", 9);
  missing_zip.zip = scratch_ / "nope.zip";
  EXPECT_THROW(add(store, missing_zip), Error);
  expect_same(observe(store), before);
}

TEST_F(MarketStoreTest, ALearnwareMayHaveNoSpecs) {
  auto store = MarketStore::create(market_dir());
  auto s = make_submission(scratch_, store.next_id(), 1);
  s.specs.clear();
  add(store, s);
  EXPECT_TRUE(store.all_packs().empty());
  EXPECT_EQ(MarketStore::open(market_dir()).semantic_json(s.record.id), s.semantic);
}

const std::vector<std::string> kAddStages = {"copy_package", "append_h5", "append_h5_commit", "index_insert",
                                             "commit"};
const std::vector<std::string> kUpdateStages = {"copy_package", "append_h5", "append_h5_commit", "index_update",
                                                "commit"};

StoreFaults fail_at(const std::string& stage, std::set<std::string>* seen = nullptr) {
  return StoreFaults{[stage, seen](std::string_view at) {
    if (seen) seen->insert(std::string(at));
    if (at == stage) throw Error("injected failure at " + stage);
  }};
}

TEST_F(MarketStoreTest, AFailedAddAtAnyStageLeavesThePreviousMarket) {
  for (const auto& stage : kAddStages) {
    SCOPED_TRACE(stage);
    fs::remove_all(market_dir());
    auto store = make_market();
    const auto before = observe(store);
    std::set<std::string> seen;
    store.set_faults(fail_at(stage, &seen));
    const auto s = make_submission(scratch_, store.next_id(), 5, 6);
    EXPECT_THROW(add(store, s), Error);
    EXPECT_TRUE(seen.count(stage)) << "stage never ran";
    expect_same(observe(store), before);
    EXPECT_FALSE(fs::exists(market_dir() / "market.h5.tmp"));
    expect_same(observe(MarketStore::open(market_dir())), before);

    // The market keeps working: the same learnware goes in cleanly afterwards.
    store.set_faults({});
    add(store, s);
    auto reopened = MarketStore::open(market_dir());
    EXPECT_EQ(reopened.list().size(), 3u);
    EXPECT_EQ(reopened.all_packs().at("RKMETableSpecification/6").count(), 2);
    EXPECT_EQ(reopened.all_packs().at("RKMETableSpecification/6").ids.back(), s.record.id);
  }
}

TEST_F(MarketStoreTest, AFailedUpdateAtAnyStageLeavesThePreviousMarket) {
  for (const auto& stage : kUpdateStages) {
    SCOPED_TRACE(stage);
    fs::remove_all(market_dir());
    auto store = make_market();
    const auto before = observe(store);
    store.set_faults(fail_at(stage));
    auto s = make_submission(scratch_, "00000001", 77, 9);  // new package, new width
    EXPECT_THROW(store.update(s.record, s.zip, s.specs, s.semantic), Error);
    expect_same(observe(store), before);
    expect_same(observe(MarketStore::open(market_dir())), before);
  }
}

TEST_F(MarketStoreTest, AFailedRemoveOrStatusChangeLeavesThePreviousMarket) {
  for (const auto& stage : {"index_remove", "commit"}) {
    SCOPED_TRACE(stage);
    fs::remove_all(market_dir());
    auto store = make_market();
    const auto before = observe(store);
    store.set_faults(fail_at(stage));
    EXPECT_THROW(store.remove("00000001"), Error);
    expect_same(observe(store), before);
    expect_same(observe(MarketStore::open(market_dir())), before);
  }
  for (const auto& stage : {"index_update", "commit"}) {
    SCOPED_TRACE(stage);
    fs::remove_all(market_dir());
    auto store = make_market();
    const auto before = observe(store);
    store.set_faults(fail_at(stage));
    EXPECT_THROW(store.update_status("00000001", LearnwareStatus::invalid, "bad"), Error);
    expect_same(observe(MarketStore::open(market_dir())), before);
  }
}

TEST_F(MarketStoreTest, CrashDebrisIsIgnoredAndSweptOnOpen) {
  Observed before;
  {
    auto store = make_market();
    before = observe(store);
  }
  // What a kill -9 at various points of an add of 00000003 leaves behind:
  // a half-copied package temporary, a copied but never indexed package, a
  // half-written rewrite of market.h5, rows written but never committed, and
  // rows committed to market.h5 whose index row never committed.
  test::write_bytes(market_dir() / "packages" / ".00000003.zip.tmp.123.0.abc", "partial");
  test::write_bytes(market_dir() / "packages" / "00000003.zip", "never indexed");
  test::write_bytes(market_dir() / "market.h5.tmp", "half a rewrite");
  MarketAppend uncommitted;
  uncommitted.id = "00000003";
  uncommitted.specs.push_back(pack_spec(kTable, make_spec(4, 4, 33)));
  uncommitted.semantic_json = "{}";
  EXPECT_THROW(append_to_market_h5(market_dir() / "market.h5", uncommitted, [](std::string_view step) {
    if (step == "append_h5_commit") throw Error("killed");
  }), Error);
  MarketAppend orphan = uncommitted;
  orphan.id = "00000004";
  orphan.specs.push_back(pack_spec(kTable, make_spec(2, 11, 44)));
  append_to_market_h5(market_dir() / "market.h5", orphan);

  auto store = MarketStore::open(market_dir());
  expect_same(observe(store), before);
  EXPECT_FALSE(fs::exists(market_dir() / "market.h5.tmp"));

  // Adding afterwards works and the debris stays invisible after another reopen.
  const auto s = make_submission(scratch_, store.next_id(), 8, 4);
  EXPECT_EQ(s.record.id, "00000003");
  add(store, s);
  auto reopened = MarketStore::open(market_dir());
  EXPECT_EQ(reopened.list().size(), 3u);
  const auto pack = reopened.all_packs().at("RKMETableSpecification/4");
  EXPECT_EQ(pack.ids, (std::vector<std::string>{"00000001", "00000003"}));
  EXPECT_EQ(pack.spec(1).z(), s.specs[0].second.z());
  EXPECT_EQ(reopened.all_packs().count("RKMETableSpecification/11"), 0u);
  EXPECT_EQ(file_names(market_dir() / "packages"),
            (std::set<std::string>{"00000001.zip", "00000002.zip", "00000003.zip"}));
}

TEST_F(MarketStoreTest, IdsIncreaseAcrossDeletionAndReopening) {
  {
    auto store = make_market();
    EXPECT_TRUE(store.remove("00000002"));
  }
  auto store = MarketStore::open(market_dir());
  EXPECT_EQ(store.next_id(), "00000003");
  EXPECT_EQ(store.next_id(), "00000004");
}

TEST_F(MarketStoreTest, RemoveDropsRowPackageAndPackMember) {
  auto store = make_market();
  EXPECT_TRUE(store.remove("00000001"));
  EXPECT_FALSE(store.remove("00000001"));
  EXPECT_FALSE(store.get("00000001"));
  EXPECT_EQ(store.all_packs().count("RKMETableSpecification/4"), 0u);
  EXPECT_EQ(store.semantic_json("00000001"), std::nullopt);
  EXPECT_EQ(store.dead_member_count(), 1);
  EXPECT_EQ(file_names(market_dir() / "packages"), std::set<std::string>{"00000002.zip"});
  auto reopened = MarketStore::open(market_dir());
  expect_same(observe(reopened), observe(store));
  EXPECT_EQ(reopened.dead_member_count(), 1);
}

TEST_F(MarketStoreTest, UpdateReplacesPackageSpecsAndSemantic) {
  auto store = make_market();
  const auto created = store.get("00000001")->created_at;
  auto s = make_submission(scratch_, "00000001", 50, 9);
  s.record.name = "renamed";
  store.update(s.record, s.zip, s.specs, s.semantic);
  auto expect_updated = [&](const MarketStore& m) {
    const auto record = m.get("00000001");
    ASSERT_TRUE(record);
    EXPECT_EQ(record->name, "renamed");
    EXPECT_EQ(record->created_at, created);
    EXPECT_EQ(record->package_path, "packages/00000001.2.zip");
    EXPECT_EQ(test::read_bytes(m.package_path("00000001")), test::read_bytes(s.zip));
    EXPECT_EQ(m.all_packs().count("RKMETableSpecification/4"), 0u);
    EXPECT_EQ(m.all_packs().at("RKMETableSpecification/9").spec(0).z(), s.specs[0].second.z());
    EXPECT_EQ(m.semantic_json("00000001"), s.semantic);
  };
  expect_updated(store);
  expect_updated(MarketStore::open(market_dir()));
  EXPECT_EQ(file_names(market_dir() / "packages"), (std::set<std::string>{"00000001.2.zip", "00000002.zip"}));
  // A second update within the same pack supersedes the first.
  auto again = make_submission(scratch_, "00000001", 51, 9);
  store.update(again.record, again.zip, again.specs, again.semantic);
  auto reopened = MarketStore::open(market_dir());
  EXPECT_EQ(reopened.all_packs().at("RKMETableSpecification/9").count(), 1);
  EXPECT_EQ(reopened.all_packs().at("RKMETableSpecification/9").spec(0).z(), again.specs[0].second.z());
  EXPECT_EQ(reopened.get("00000001")->package_path, "packages/00000001.3.zip");
}

// A store reads market.h5 part by part, each as it was when the store
// loaded: another store's update of a learnware in between does not show
// through a pack read afterwards (until reload), and only the parts asked for
// are read.
TEST_F(MarketStoreTest, PartsReadLaterAreThoseOfTheLoadUntilReload) {
  auto writer = make_market();  // 00000001 and 00000002, width 4
  auto reader = MarketStore::open(market_dir());
  const auto before = make_submission(scratch_, "00000001", 1);
  auto changed = make_submission(scratch_, "00000001", 60);  // same width: the same pack
  changed.record.name = "changed";
  writer.update(changed.record, changed.zip, changed.specs, changed.semantic);
  const StoredPack* pack = reader.pack("RKMETableSpecification/4");
  ASSERT_NE(pack, nullptr);
  ASSERT_TRUE(pack->find("00000001"));
  EXPECT_EQ(pack->slots().spec(*pack->find("00000001")).z(), before.specs[0].second.z());
  EXPECT_EQ(pack->count(), 1);
  EXPECT_NE(reader.semantic_json("00000001"), changed.semantic);
  reader.reload();
  pack = reader.pack("RKMETableSpecification/4");
  ASSERT_NE(pack, nullptr);
  EXPECT_EQ(pack->slots().spec(*pack->find("00000001")).z(), changed.specs[0].second.z());
  EXPECT_EQ(reader.semantic_json("00000001"), changed.semantic);
  EXPECT_EQ(reader.pack("RKMETableSpecification/77"), nullptr);
}

// Another process's adds, update, status change and removal come in by
// catch_up(): the parts already read follow them as the writer's own do, the
// others are read later at the new counts, and the view is a fresh open's.
TEST_F(MarketStoreTest, CatchingUpBringsInAnotherStoresChanges) {
  auto writer = make_market();  // 00000001 (width 4), 00000002 (width 6)
  auto follower = MarketStore::open(market_dir());
  ASSERT_NE(follower.pack("RKMETableSpecification/4"), nullptr);  // read before the changes
  ASSERT_TRUE(follower.semantic_json("00000001"));
  EXPECT_EQ(follower.search_facts("KindA").size(), 0u);
  EXPECT_FALSE(follower.catch_up());  // nothing yet
  follower.take_changes();

  const auto third = make_submission(scratch_, writer.next_id(), 3, 4);
  writer.add(third.record, third.zip, third.specs, third.semantic, {{"KindA", "{\"a\":3}"}});
  auto changed = make_submission(scratch_, "00000001", 60, 5);  // to a pack nobody read yet
  changed.record.name = "changed";
  writer.update(changed.record, changed.zip, changed.specs, changed.semantic);
  writer.update_status("00000003", LearnwareStatus::not_usable, "failed again");
  ASSERT_TRUE(writer.remove("00000002"));
  const auto fourth = make_submission(scratch_, writer.next_id(), 4, 4);
  add(writer, fourth);

  EXPECT_NE(follower.applied_change_seq(), follower.latest_change_seq());
  EXPECT_TRUE(follower.catch_up());
  EXPECT_EQ(follower.applied_change_seq(), follower.latest_change_seq());
  const StoreChanges changes = follower.take_changes();
  EXPECT_FALSE(changes.reloaded);
  EXPECT_EQ(changes.ids, (std::set<std::string>{"00000001", "00000002", "00000003", "00000004"}));
  expect_same(observe(follower), observe(MarketStore::open(market_dir())));
  EXPECT_EQ(follower.get("00000003")->status, LearnwareStatus::not_usable);
  EXPECT_EQ(follower.search_facts("KindA"), (JsonById{{"00000003", "{\"a\":3}"}}));
  EXPECT_FALSE(follower.catch_up());
  EXPECT_TRUE(follower.take_changes().empty());
}

// A change catches up first, under the market lock: it is made on top of
// what other stores committed, and the view then holds both.
TEST_F(MarketStoreTest, AChangeIsMadeOnTopOfOtherStoresChanges) {
  auto first = make_market();
  auto second = MarketStore::open(market_dir());
  ASSERT_NE(second.pack("RKMETableSpecification/4"), nullptr);
  const auto a = make_submission(scratch_, first.next_id(), 3, 4);
  add(first, a);
  const auto b = make_submission(scratch_, second.next_id(), 4, 4);
  add(second, b);
  EXPECT_EQ(second.take_changes().ids, std::set<std::string>{a.record.id});
  EXPECT_EQ(second.applied_change_seq(), second.latest_change_seq());
  expect_same(observe(second), observe(MarketStore::open(market_dir())));
  EXPECT_TRUE(first.catch_up());
  expect_same(observe(first), observe(second));
  // A removal by one and an update of the same learnware by the other: the
  // update finds it gone.
  ASSERT_TRUE(first.remove(a.record.id));
  const auto again = make_submission(scratch_, a.record.id, 9, 4);
  EXPECT_THROW(second.update(again.record, again.zip, again.specs, again.semantic), Error);
  EXPECT_FALSE(second.get(a.record.id));
}

// A compaction replaces market.h5: the members are elsewhere in the new
// file, so a store that follows reads it again whole.
TEST_F(MarketStoreTest, AfterAnotherStoresCompactionCatchingUpReadsEverythingAgain) {
  auto writer = make_market();
  auto follower = MarketStore::open(market_dir());
  ASSERT_NE(follower.pack("RKMETableSpecification/4"), nullptr);
  follower.take_changes();
  ASSERT_TRUE(writer.remove("00000002"));
  writer.compact();
  add(writer, make_submission(scratch_, writer.next_id(), 5, 4));
  EXPECT_TRUE(follower.catch_up());
  EXPECT_TRUE(follower.take_changes().reloaded);
  expect_same(observe(follower), observe(MarketStore::open(market_dir())));
}

TEST_F(MarketStoreTest, SearchFactsAreStoredFollowChangesAndSurviveCompaction) {
  auto store = MarketStore::create(market_dir());
  for (const char* id : {"00000001", "00000002", "00000003"}) {
    const auto s = make_submission(scratch_, id, 7);
    store.add(s.record, s.zip, s.specs, s.semantic, {{"KindA", std::string(R"({"id":")") + id + "\"}"}});
  }
  EXPECT_EQ(store.search_facts("KindA").size(), 3u);
  EXPECT_TRUE(store.search_facts("KindB").empty());
  auto s = make_submission(scratch_, "00000002", 8);
  store.update(s.record, s.zip, s.specs, s.semantic, {{"KindB", "{}"}});
  ASSERT_TRUE(store.remove("00000003"));
  const auto expect_facts = [](const MarketStore& m) {
    EXPECT_EQ(m.search_facts("KindA"), (JsonById{{"00000001", R"({"id":"00000001"})"}}));
    EXPECT_EQ(m.search_facts("KindB"), (JsonById{{"00000002", "{}"}}));
  };
  expect_facts(store);
  expect_facts(MarketStore::open(market_dir()));
  store.compact();
  expect_facts(store);
  expect_facts(MarketStore::open(market_dir()));
  EXPECT_EQ(read_market_h5(market_dir() / "market.h5").facts_by_type.at("KindA").size(), 1u);
  EXPECT_THROW(store.add(make_submission(scratch_, "00000004", 9).record, s.zip, s.specs, s.semantic,
                         {{"Kind/../x", "{}"}}),
               Error);
  EXPECT_FALSE(MarketStore::open(market_dir()).get("00000004"));
}

TEST_F(MarketStoreTest, UpdateOfAnUnknownLearnwareThrows) {
  auto store = make_market();
  auto s = make_submission(scratch_, "00000042", 1);
  EXPECT_THROW(store.update(s.record, s.zip, s.specs, s.semantic), Error);
  EXPECT_THROW(store.update_status("00000042", LearnwareStatus::usable, ""), Error);
}

TEST_F(MarketStoreTest, StatusChangesPersistAndFilterTheList) {
  {
    auto store = make_market();
    store.update_status("00000002", LearnwareStatus::not_usable, "predict() failed on the check data");
  }
  auto store = MarketStore::open(market_dir());
  const auto usable = store.list(LearnwareStatus::usable);
  ASSERT_EQ(usable.size(), 1u);
  EXPECT_EQ(usable[0].id, "00000001");
  EXPECT_EQ(store.get("00000002")->status_reason, "predict() failed on the check data");
  // Every packed learnware stays packed; the search filters by status.
  EXPECT_EQ(store.all_packs().size(), 2u);
}

TEST_F(MarketStoreTest, CompactRewritesOnlyTheLiveLearnwares) {
  auto store = make_market();
  for (int i = 0; i < 5; ++i) add(store, make_submission(scratch_, store.next_id(), 10 + i, 4));
  store.remove("00000003");
  store.remove("00000005");
  EXPECT_EQ(store.dead_member_count(), 2);
  const auto before = observe(store);
  store.compact();
  EXPECT_EQ(store.dead_member_count(), 0);
  expect_same(observe(store), before);
  auto reopened = MarketStore::open(market_dir());
  expect_same(observe(reopened), before);
  EXPECT_EQ(reopened.dead_member_count(), 0);
  EXPECT_EQ(read_market_h5(market_dir() / "market.h5").stored_member_count, 5);
}

TEST_F(MarketStoreTest, CompactionHappensByItselfOnceDeadMembersDominate) {
  auto store = MarketStore::create(market_dir());
  std::vector<std::string> ids;
  for (int i = 0; i < 70; ++i) {
    ids.push_back(store.next_id());
    add(store, make_submission(scratch_, ids.back(), static_cast<std::uint64_t>(i), 3));
  }
  for (int i = 0; i < 63; ++i) store.remove(ids[static_cast<std::size_t>(i)]);
  EXPECT_EQ(store.dead_member_count(), 63);
  // The 64th dead member outnumbers the 6 live ones: the file is rewritten.
  store.remove(ids[63]);
  EXPECT_EQ(store.dead_member_count(), 0);
  EXPECT_EQ(read_market_h5(market_dir() / "market.h5").stored_member_count, 6);
  store.remove(ids[64]);
  store.remove(ids[65]);
  EXPECT_EQ(store.dead_member_count(), 2);
  EXPECT_EQ(MarketStore::open(market_dir()).all_packs().at("RKMETableSpecification/3").count(), 4);
}

TEST_F(MarketStoreTest, ADamagedMarketFileAsksForARebuildWhichRestoresIt) {
  Observed before;
  std::map<std::string, Submission> submitted;
  {
    auto store = MarketStore::create(market_dir());
    for (int i = 0; i < 3; ++i) {
      auto s = make_submission(scratch_, store.next_id(), static_cast<std::uint64_t>(20 + i), 4 + i % 2);
      add(store, s);
      submitted.emplace(s.record.id, s);
    }
    before = observe(store);
  }
  test::write_bytes(market_dir() / "market.h5", "garbage");
  try {
    MarketStore::open(market_dir());
    FAIL() << "opened a damaged market";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lwdock market rebuild"), std::string::npos) << e.what();
  }

  auto store = MarketStore::open_for_rebuild(market_dir());
  EXPECT_EQ(store.list().size(), 3u);
  std::vector<std::string> seen_packages;
  store.rebuild([&](const LearnwareRecord& record, const fs::path& package) {
    seen_packages.push_back(package.filename().string());
    const auto& s = submitted.at(record.id);
    EXPECT_EQ(test::read_bytes(package), test::read_bytes(s.zip));
    return RederivedLearnware{s.specs, s.semantic};
  });
  EXPECT_EQ(seen_packages, (std::vector<std::string>{"00000001.zip", "00000002.zip", "00000003.zip"}));
  expect_same(observe(store), before);
  expect_same(observe(MarketStore::open(market_dir())), before);
}

TEST_F(MarketStoreTest, RebuildKeepsSemanticSpecsItCanStillReadAndFailsCleanly) {
  auto store = make_market();
  const auto before = observe(store);
  const std::string h5_before = test::read_bytes(market_dir() / "market.h5");
  // A callback that fails midway leaves the market as it was.
  EXPECT_THROW(store.rebuild([&](const LearnwareRecord& record, const fs::path&) -> RederivedLearnware {
    if (record.id == "00000002") throw Error("package damaged");
    return {};
  }),
               Error);
  EXPECT_EQ(test::read_bytes(market_dir() / "market.h5"), h5_before);
  expect_same(observe(MarketStore::open(market_dir())), before);

  // Without new semantic specs the readable old ones are kept.
  store.rebuild([&](const LearnwareRecord& record, const fs::path&) {
    const auto& pack = before.packs.at(record.spec_keys.at(0));
    return RederivedLearnware{{{kTable, pack.spec(*pack.find(record.id))}}, std::nullopt};
  });
  expect_same(observe(MarketStore::open(market_dir())), before);
}

// A member whose numbers are bad, already on disk (written before the store
// checked them): the market opens, lists, adds, deletes and rebuilds; only
// that member is left out, with a warning.
TEST_F(MarketStoreTest, ABadMemberOnDiskIsLeftOutWithAWarningAndTheMarketKeepsWorking) {
  {
    auto store = make_market();
    // A newer member for 00000001 with an overflowing self product, as an
    // old version stored a spec with Z entries of 1e200.
    MarketAppend bad;
    bad.id = "00000001";
    bad.specs.push_back(pack_spec(kTable, make_spec(3, 4, 5)));
    bad.specs.back().z.assign(bad.specs.back().z.size(), 1e200);
    bad.specs.back().self_inner = std::numeric_limits<double>::infinity();
    append_to_market_h5(market_dir() / "market.h5", bad);
  }
  std::vector<std::string> warnings;
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  auto store = MarketStore::open(market_dir());
  store.all_packs();  // market.h5 is read on first use
  set_warning_handler({});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("00000001: a non-finite self product"), std::string::npos) << warnings[0];
  EXPECT_EQ(store.list().size(), 2u);
  // The bad member superseded the good one: 00000001 has no spec left (its
  // old member must not come back), 00000002 is intact.
  EXPECT_EQ(store.all_packs().count("RKMETableSpecification/4"), 0u);
  EXPECT_EQ(store.all_packs().at("RKMETableSpecification/6").count(), 1);

  add(store, make_submission(scratch_, store.next_id(), 3, 4));
  EXPECT_TRUE(store.remove("00000002"));
  store.rebuild([&](const LearnwareRecord& record, const fs::path&) {
    return RederivedLearnware{{{kTable, make_spec(3, 4, record.id == "00000001" ? 1 : 3)}}, std::nullopt, std::nullopt};
  });
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  auto reopened = MarketStore::open(market_dir());
  reopened.all_packs();
  set_warning_handler({});
  EXPECT_EQ(warnings.size(), 1u) << "the rebuild left the bad member behind";
  EXPECT_EQ(reopened.list().size(), 2u);
  EXPECT_EQ(reopened.all_packs().at("RKMETableSpecification/4").count(), 2);
}

TEST_F(MarketStoreTest, ASpecWhoseSelfProductOverflowsIsNeverStored) {
  auto store = make_market();
  const auto before = observe(store);
  auto s = make_submission(scratch_, store.next_id(), 9, 4);
  std::vector<double> z(s.specs[0].second.z().values().size(), 1e200);
  s.specs[0].second = RKMETableSpec(kernels::Matrix<double>(s.specs[0].second.size(), 4, std::move(z)),
                                    s.specs[0].second.beta(), 0.1, 10);
  try {
    add(store, s);
    FAIL() << "stored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite self product"), std::string::npos) << e.what();
  }
  expect_same(observe(MarketStore::open(market_dir())), before);
}

TEST_F(MarketStoreTest, AWriterKilledWithMarketH5OpenIsRecoveredByTheNextOpen) {
  Observed before;
  {
    auto store = make_market();
    before = observe(store);
  }
  // What a kill -9 inside the HDF5 write window leaves: the file still marked
  // as open for writing (HDF5 1.10 then refuses every open).
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
  const pid_t pid = ::fork();
  if (pid == 0) {
    H5Fopen((market_dir() / "market.h5").c_str(), H5F_ACC_RDWR, fapl);
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  H5Pclose(fapl);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_THROW(read_market_h5(market_dir() / "market.h5"), Error) << "the kill left no mark to recover from";

  std::vector<std::string> warnings;
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  auto store = MarketStore::open(market_dir());
  set_warning_handler({});
  expect_same(observe(store), before);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("left open for writing"), std::string::npos) << warnings[0];
  add(store, make_submission(scratch_, store.next_id(), 5, 6));
  EXPECT_EQ(MarketStore::open(market_dir()).list().size(), 3u);
}

// A writer that dies with market.h5 open for writing commits nothing in the
// index; the next change of a store that was open all along finds the file
// marked, recovers it under the lock it holds, and is made.
TEST_F(MarketStoreTest, AWriterKilledWithMarketH5OpenIsRecoveredByAnotherStoresNextChange) {
  auto survivor = make_market();
  const Observed before = observe(survivor);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
  const pid_t pid = ::fork();
  if (pid == 0) {
    H5Fopen((market_dir() / "market.h5").c_str(), H5F_ACC_RDWR, fapl);
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  H5Pclose(fapl);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_THROW(read_market_h5(market_dir() / "market.h5"), Error) << "the kill left no mark to recover from";

  std::vector<std::string> warnings;
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  const auto next = make_submission(scratch_, survivor.next_id(), 5, 4);
  add(survivor, next);
  set_warning_handler({});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("left open for writing"), std::string::npos) << warnings[0];
  EXPECT_TRUE(survivor.take_changes().reloaded);
  expect_same(observe(survivor), observe(MarketStore::open(market_dir())));
  EXPECT_EQ(survivor.list().size(), before.records.size() + 1);
}

// An update killed after its members went into market.h5 and before its row
// committed: those members would supersede the ones the row still names. A
// store that follows and one that writes next both see the version the row
// names, as a fresh open does, and nothing of the dead update counts.
TEST_F(MarketStoreTest, AnUpdateKilledBeforeItsRowCommittedIsUndoneForEveryoneElse) {
  auto writer = make_market();
  auto follower = MarketStore::open(market_dir());
  ASSERT_NE(follower.pack("RKMETableSpecification/4"), nullptr);
  const Observed before = observe(writer);
  for (const char* stage : {"index_update", "commit", "append_h5_close"}) {
    SCOPED_TRACE(std::string("killed at ") + stage);
    const pid_t pid = ::fork();
    if (pid == 0) {
      auto dying = MarketStore::open(market_dir());
      dying.set_faults(StoreFaults{[stage](std::string_view at) {
        if (at == stage) ::raise(SIGKILL);
      }});
      auto changed = make_submission(scratch_, "00000001", 77, 4);
      dying.update(changed.record, changed.zip, changed.specs, changed.semantic);
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    std::vector<std::string> warnings;
    set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
    // (Its package stays until an open sweeps it: nothing names it.)
    const auto without_packages = [](Observed o) {
      o.packages.clear();
      return o;
    };
    follower.catch_up();
    expect_same(without_packages(observe(follower)), without_packages(before));
    const auto next = make_submission(scratch_, writer.next_id(), 50, 4);
    add(writer, next);
    set_warning_handler({});
    EXPECT_FALSE(warnings.empty());
    ASSERT_TRUE(writer.remove(next.record.id));
    expect_same(without_packages(observe(writer)), without_packages(before));
    expect_same(observe(MarketStore::open(market_dir())), before);
    EXPECT_FALSE(fs::exists(market_dir() / "market.h5.update"));
  }
}

TEST_F(MarketStoreTest, StagingFoldersOfDeadProcessesAreRemovedOnOpen) {
  { auto store = make_market(); }
  const fs::path staging = market_dir() / "staging";
  fs::create_directories(staging);
  // A live one (ours, locked) stays; an abandoned one (its owner died) goes.
  const io::LockedDirectory live = io::make_locked_directory(staging, "lwd-package-");
  const pid_t pid = ::fork();
  if (pid == 0) {
    const io::LockedDirectory dead = io::make_locked_directory(staging, "lwd-package-");
    test::write_bytes(dead.path / "model.json", std::string(1000, 'x'));
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_EQ(file_names(staging).size(), 2u);
  auto store = MarketStore::open(market_dir());
  EXPECT_EQ(file_names(staging), (std::set<std::string>{live.path.filename().string()}));
  fs::remove_all(live.path);
  ::close(live.fd);
}

// A sweep (every open's, when no writer holds the market lock) may find a
// staging folder between its creation and its lock, and remove it as
// abandoned: the creator must then start again with a new name, not fail the
// submission. (A market backup's open beside `market add` processes hit this.)
TEST_F(MarketStoreTest, MakingLockedFoldersBesideASweepNeverFails) {
  const fs::path staging = market_dir() / "staging";
  fs::create_directories(staging);
  std::atomic<bool> done{false};
  std::thread sweeper([&] {
    while (!done) io::remove_abandoned_directories(staging, "");
  });
  std::string failure;
  for (int i = 0; i < 2000 && failure.empty(); ++i) {
    try {
      const io::LockedDirectory dir = io::make_locked_directory(staging, "lwd-package-");
      if (!fs::is_directory(dir.path)) failure = dir.path.string() + " is gone while locked";
      fs::remove_all(dir.path);
      ::close(dir.fd);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  done = true;
  sweeper.join();
  EXPECT_EQ(failure, "");
}

TEST_F(MarketStoreTest, ReadersOpeningDuringWritesSeeOnlyWholeLearnwares) {
  { auto store = MarketStore::create(market_dir()); }
  std::atomic<bool> done{false};
  std::atomic<int> opens{0};
  std::string reader_error;
  std::thread reader([&] {
    try {
      while (!done) {
        auto view = MarketStore::open(market_dir());
        for (const auto& record : view.list()) {
          if (!view.semantic_json(record.id)) throw Error("no semantic spec for " + record.id);
          for (const auto& key : record.spec_keys) {
            const StoredPack* pack = view.pack(key);
            if (pack == nullptr || !pack->find(record.id)) throw Error("no spec for " + record.id);
          }
        }
        for (const auto& [key, pack] : view.all_packs()) {
          pack.validate();
          for (const auto& id : pack.ids) {
            if (!view.get(id)) throw Error("packed learnware " + id + " is not in the index");
          }
        }
        ++opens;
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });
  {
    auto writer = MarketStore::open(market_dir());
    for (int i = 0; i < 25; ++i) {
      const auto s = make_submission(scratch_, writer.next_id(), static_cast<std::uint64_t>(i), 3 + i % 3);
      add(writer, s);
      if (i % 5 == 4) writer.remove(s.record.id);
    }
  }
  done = true;
  reader.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_GT(opens.load(), 0);
  EXPECT_EQ(MarketStore::open(market_dir()).list().size(), 20u);
}

}  // namespace
}  // namespace lwd
