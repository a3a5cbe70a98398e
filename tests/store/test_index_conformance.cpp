// One specification of LearnwareIndex, run against every backend: each case
// below runs once on a SQLite file and once on a PostgreSQL schema of its own
// (index_test_support.h), and both must behave alike.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/store/index_url.h"
#include "engine/store/sql_index.h"
#include "store/index_test_support.h"

namespace lwd {
namespace {

LearnwareRecord make_record(const std::string& id, LearnwareStatus status = LearnwareStatus::usable) {
  LearnwareRecord record;
  record.id = id;
  record.name = "model " + id;
  record.owner = "alice";
  record.status = status;
  record.status_reason = status == LearnwareStatus::usable ? "" : "failed the check";
  record.package_path = "packages/" + id + ".zip";
  record.spec_keys = {"RKMETableSpecification/8"};
  record.created_at = "2024-05-01T12:00:00Z";
  record.updated_at = "2024-05-01T12:00:00Z";
  return record;
}

class IndexConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { LWD_INDEX_LOCATION_OR_RETURN(location_, GetParam()); }

  std::unique_ptr<LearnwareIndex> open(IndexAccess access = IndexAccess::read_write) const {
    return open_learnware_index(location_->url(), "", access);
  }

  std::unique_ptr<test::IndexLocation> location_;
};

TEST_P(IndexConformance, InsertThenGetGivesTheSameRecord) {
  auto index = open();
  const auto record = make_record("00000001");
  index->insert(record);
  EXPECT_EQ(index->get("00000001"), record);
  EXPECT_EQ(index->get("00000002"), std::nullopt);
}

TEST_P(IndexConformance, ValuesAreBoundNotSpliced) {
  auto index = open();
  auto record = make_record("00000001");
  record.name = "x'); DROP TABLE learnware; --";
  record.owner = "O'Brien \"quoted\" \\ $1 \xE6\x97\xA5\xE6\x9C\xAC";
  record.status_reason = "100% sure; -- not a comment";
  record.spec_keys = {"A/1", "B/2"};
  index->insert(record);
  EXPECT_EQ(index->get("00000001"), record);
  EXPECT_EQ(index->list().size(), 1u);
}

TEST_P(IndexConformance, InsertRejectsATakenOrInvalidId) {
  auto index = open();
  index->insert(make_record("00000001"));
  EXPECT_NE(test::error_of([&] { index->insert(make_record("00000001")); }).find("already in the index"),
            std::string::npos);
  EXPECT_THROW(index->insert(make_record("a/b")), Error);
  EXPECT_EQ(index->list().size(), 1u);
}

TEST_P(IndexConformance, UpdateReplacesEveryColumn) {
  auto index = open();
  index->insert(make_record("00000001"));
  auto changed = make_record("00000001", LearnwareStatus::invalid);
  changed.name = "renamed";
  changed.spec_keys = {};
  changed.created_at = "2024-04-01T00:00:00Z";
  changed.updated_at = "2024-06-01T00:00:00Z";
  index->update(changed);
  EXPECT_EQ(index->get("00000001"), changed);
}

TEST_P(IndexConformance, UpdateOfAnUnknownIdThrowsNamingTheDatabase) {
  auto index = open();
  const std::string message = test::error_of([&] { index->update(make_record("00000009")); });
  EXPECT_NE(message.find(index->name()), std::string::npos) << message;
  EXPECT_NE(message.find("00000009"), std::string::npos) << message;
  EXPECT_EQ(index->change_seq(), 0);
}

TEST_P(IndexConformance, RemoveDeletesTheRowOnce) {
  auto index = open();
  index->insert(make_record("00000001"));
  EXPECT_TRUE(index->remove("00000001"));
  EXPECT_FALSE(index->remove("00000001"));
  EXPECT_EQ(index->get("00000001"), std::nullopt);
}

TEST_P(IndexConformance, ListIsOrderedByIdAndFiltersByStatus) {
  auto index = open();
  index->insert(make_record("00000003", LearnwareStatus::usable));
  index->insert(make_record("00000001", LearnwareStatus::not_usable));
  index->insert(make_record("00000002", LearnwareStatus::usable));
  const auto all = index->list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "00000001");
  EXPECT_EQ(all[2].id, "00000003");
  const auto usable = index->list(LearnwareStatus::usable);
  ASSERT_EQ(usable.size(), 2u);
  EXPECT_EQ(usable[0].id, "00000002");
  EXPECT_EQ(usable[1].id, "00000003");
  EXPECT_TRUE(index->list(LearnwareStatus::invalid).empty());
}

// The test server's database sorts text by an ICU collation (case-blind
// first, punctuation ignored); the index must still order by bytes.
TEST_P(IndexConformance, ListOrdersIdsByTheirBytesWhateverTheCollation) {
  auto index = open();
  std::vector<std::string> ids = {"b", "B", "a", "A", "_x", "-y", "0", "a-b", "ab", "a_c", "Z9"};
  for (const auto& id : ids) index->insert(make_record(id));
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> listed;
  for (const auto& record : index->list()) listed.push_back(record.id);
  EXPECT_EQ(listed, ids);
}

TEST_P(IndexConformance, RecordsSurviveReopening) {
  {
    auto index = open();
    index->insert(make_record("00000001"));
    index->insert(make_record("00000002", LearnwareStatus::invalid));
  }
  auto index = open();
  EXPECT_EQ(index->list().size(), 2u);
  EXPECT_EQ(index->get("00000002"), make_record("00000002", LearnwareStatus::invalid));
}

TEST_P(IndexConformance, RollbackDiscardsEverythingSinceBegin) {
  auto index = open();
  index->insert(make_record("00000001"));
  index->begin();
  EXPECT_TRUE(index->in_transaction());
  index->insert(make_record("00000002"));
  index->remove("00000001");
  index->rollback();
  EXPECT_FALSE(index->in_transaction());
  EXPECT_TRUE(index->get("00000001").has_value());
  EXPECT_FALSE(index->get("00000002").has_value());
}

TEST_P(IndexConformance, TransactionRollsBackWhenItsBodyThrows) {
  auto index = open();
  EXPECT_THROW(index->transaction([&] {
    index->insert(make_record("00000001"));
    throw Error("stop");
  }),
               Error);
  EXPECT_FALSE(index->in_transaction());
  EXPECT_TRUE(index->list().empty());
}

TEST_P(IndexConformance, ATransactionCanContinueAfterAFailedStatementIsCaught) {
  // MarketStore never does this, but an index must not be left unusable:
  // the failed update throws, and the transaction then rolls back cleanly.
  auto index = open();
  index->insert(make_record("00000001"));
  index->begin();
  EXPECT_THROW(index->update(make_record("00000009")), Error);
  index->rollback();
  index->insert(make_record("00000002"));
  EXPECT_EQ(index->list().size(), 2u);
}

TEST_P(IndexConformance, TransactionsDoNotNest) {
  auto index = open();
  index->begin();
  EXPECT_THROW(index->begin(), Error);
  index->rollback();
}

TEST_P(IndexConformance, AnUncommittedTransactionIsRolledBackWhenTheIndexCloses) {
  {
    auto index = open();
    index->begin();
    index->insert(make_record("00000001"));
  }
  auto index = open();
  EXPECT_TRUE(index->list().empty());
}

TEST_P(IndexConformance, ReservedIdsIncreaseAcrossRemovalAndReopening) {
  {
    auto index = open();
    EXPECT_EQ(index->reserve_id(), "00000001");
    const std::string second = index->reserve_id();
    EXPECT_EQ(second, "00000002");
    index->insert(make_record(second));
    index->remove(second);
  }
  auto index = open();
  EXPECT_EQ(index->reserve_id(), "00000003");
}

TEST_P(IndexConformance, ReservedIdsSkipPastInsertedNumericIds) {
  auto index = open();
  index->insert(make_record("00000041"));
  index->insert(make_record("custom-id"));
  EXPECT_EQ(index->reserve_id(), "00000042");
}

TEST_P(IndexConformance, AReservationInsideARolledBackTransactionIsGivenBack) {
  auto index = open();
  index->begin();
  EXPECT_EQ(index->reserve_id(), "00000001");
  index->rollback();
  EXPECT_EQ(index->reserve_id(), "00000001");
}

TEST_P(IndexConformance, ASecondConnectionSeesCommittedRowsOnly) {
  auto writer = open();
  auto reader = open();
  writer->begin();
  writer->insert(make_record("00000001"));
  EXPECT_TRUE(reader->list().empty());  // not blocked, and sees the last commit
  writer->commit();
  EXPECT_EQ(reader->list().size(), 1u);
}

// Connections stand in for processes: each has its own session, as a process would.
TEST_P(IndexConformance, ConcurrentConnectionsNeverReserveTheSameId) {
  constexpr int kConnections = 4;
  constexpr int kEach = 25;
  open();  // the schema first, so the threads only reserve
  std::vector<std::vector<std::string>> got(kConnections);
  std::vector<std::string> failures(kConnections);
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto index = open();
        for (int i = 0; i < kEach; ++i) got[t].push_back(index->reserve_id());
      } catch (const Error& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (int t = 0; t < kConnections; ++t) {
    EXPECT_EQ(failures[t], "");
    EXPECT_TRUE(std::is_sorted(got[t].begin(), got[t].end()));  // each sees its own increase
    all.insert(got[t].begin(), got[t].end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kConnections * kEach));
  EXPECT_EQ(*all.rbegin(), "00000100");
}

TEST_P(IndexConformance, ConcurrentFirstOpensCreateTheSchemaOnce) {
  std::vector<std::string> failures(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      try {
        open();
      } catch (const Error& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) EXPECT_EQ(failure, "");
  EXPECT_EQ(index_schema_version(*location_->raw()), current_index_schema_version());
}

TEST_P(IndexConformance, TheChangeCounterCountsEveryCommittedChange) {
  auto index = open();
  auto other = open();
  EXPECT_EQ(index->change_seq(), 0);
  index->insert(make_record("00000001"));
  EXPECT_EQ(index->change_seq(), 1);
  index->update(make_record("00000001", LearnwareStatus::invalid));
  EXPECT_EQ(index->change_seq(), 2);
  index->reserve_id();  // no row changes
  EXPECT_EQ(index->change_seq(), 2);
  EXPECT_FALSE(index->remove("00000009"));
  EXPECT_EQ(index->change_seq(), 2);
  EXPECT_TRUE(index->remove("00000001"));
  EXPECT_EQ(index->change_seq(), 3);
  EXPECT_EQ(other->change_seq(), 3);  // what another process polls
  index->begin();
  index->insert(make_record("00000002"));
  index->rollback();
  EXPECT_EQ(index->change_seq(), 3);
}

TEST_P(IndexConformance, TheCountersAreReadTogether) {
  auto index = open();
  EXPECT_EQ(index->counters(), (IndexCounters{0, 0}));
  index->reserve_id();
  index->insert(make_record("00000007"));
  index->remove("00000007");
  EXPECT_EQ(index->counters(), (IndexCounters{7, 2}));
  EXPECT_EQ(open()->counters(), (IndexCounters{7, 2}));
}

// What a restore from a backup does: the restored index goes on from the
// backup's counters, however few rows it holds.
TEST_P(IndexConformance, RaisingTheCountersNeverLowersThem) {
  auto index = open();
  index->insert(make_record("00000003"));
  index->raise_counters({40, 100});
  EXPECT_EQ(index->counters(), (IndexCounters{40, 100}));
  EXPECT_EQ(index->reserve_id(), "00000041");
  index->update(make_record("00000003", LearnwareStatus::invalid));
  EXPECT_EQ(index->change_seq(), 101);
  index->raise_counters({5, 5});  // below both: nothing changes
  EXPECT_EQ(open()->counters(), (IndexCounters{41, 101}));
  EXPECT_EQ(open()->reserve_id(), "00000042");
  EXPECT_THROW(index->raise_counters({-1, 0}), Error);
  EXPECT_THROW(open(IndexAccess::read_only)->raise_counters({50, 200}), Error);
  EXPECT_EQ(index->counters(), (IndexCounters{42, 101}));
}

TEST_P(IndexConformance, ARaiseInsideARolledBackTransactionIsGivenBack) {
  auto index = open();
  index->begin();
  index->insert(make_record("00000001"));
  index->raise_counters({9, 9});
  index->rollback();
  EXPECT_EQ(index->counters(), (IndexCounters{0, 0}));
  index->transaction([&] {
    index->insert(make_record("00000001"));
    index->raise_counters({9, 9});
  });
  EXPECT_EQ(open()->counters(), (IndexCounters{9, 9}));
}

std::vector<std::string> ids_of(const std::vector<LearnwareRecord>& records) {
  std::vector<std::string> ids;
  for (const auto& record : records) ids.push_back(record.id);
  return ids;
}

TEST_P(IndexConformance, TheChangesSinceACounterValueAreTheRowsChangedAndTheIdsRemovedSince) {
  auto index = open();
  // Inserted out of id order: the changes come in id order all the same.
  for (const char* id : {"00000003", "00000001", "00000004", "00000002"}) index->insert(make_record(id));
  EXPECT_EQ(ids_of(index->changes_since(0).changed),
            (std::vector<std::string>{"00000001", "00000002", "00000003", "00000004"}));
  const std::int64_t before = index->change_seq();
  EXPECT_TRUE(index->changes_since(before).changed.empty());
  EXPECT_TRUE(index->changes_since(before).removed.empty());
  EXPECT_EQ(index->changes_since(before).seq, 0);

  auto changed = make_record("00000002", LearnwareStatus::invalid);
  index->update(changed);
  index->update(changed);  // twice: one row, as it is now
  EXPECT_TRUE(index->remove("00000003"));
  index->insert(make_record("00000005"));
  EXPECT_TRUE(index->remove("00000005"));  // inserted and removed since: only removed
  const IndexChanges since = open()->changes_since(before);  // what another connection reads
  EXPECT_EQ(ids_of(since.changed), std::vector<std::string>{"00000002"});
  ASSERT_EQ(since.changed.size(), 1u);
  EXPECT_EQ(since.changed[0], changed);
  EXPECT_EQ(std::set<std::string>(since.removed.begin(), since.removed.end()),
            (std::set<std::string>{"00000003", "00000005"}));
  EXPECT_EQ(since.seq, index->change_seq());
  // From the middle: only what came after.
  const IndexChanges tail = index->changes_since(index->change_seq() - 1);
  EXPECT_TRUE(tail.changed.empty());
  EXPECT_EQ(tail.removed, std::vector<std::string>{"00000005"});
  // A rolled-back removal leaves no trace.
  index->begin();
  EXPECT_TRUE(index->remove("00000001"));
  index->rollback();
  EXPECT_TRUE(index->changes_since(since.seq).removed.empty());
  // An id inserted again (the market never does it) is a row, no longer a removal.
  index->insert(make_record("00000003"));
  const IndexChanges again = index->changes_since(before);
  EXPECT_EQ(ids_of(again.changed), (std::vector<std::string>{"00000002", "00000003"}));
  EXPECT_EQ(again.removed, std::vector<std::string>{"00000005"});
}

TEST_P(IndexConformance, AWaitForChangeEndsWhenAnotherConnectionCommits) {
  using namespace std::chrono_literals;
  auto waiter = open();
  auto writer = open();
  const std::int64_t seen = waiter->change_seq();
  std::thread commit([&] {
    std::this_thread::sleep_for(150ms);
    writer->insert(make_record("00000001"));
  });
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t seq = waiter->wait_for_change(seen, 30s, 20ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  commit.join();
  EXPECT_EQ(seq, seen + 1);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 10s);  // not the timeout
  // Nothing more: the wait lasts until its timeout and returns the same value.
  const auto second = std::chrono::steady_clock::now();
  EXPECT_EQ(waiter->wait_for_change(seq, 120ms, 20ms), seq);
  EXPECT_GE(std::chrono::steady_clock::now() - second, 100ms);
  // Rolled back: no change to see.
  writer->begin();
  writer->insert(make_record("00000002"));
  writer->rollback();
  EXPECT_EQ(waiter->wait_for_change(seq, 100ms, 20ms), seq);
}

TEST_P(IndexConformance, AWaitForChangeEndsWhenInterrupted) {
  using namespace std::chrono_literals;
  auto waiter = open();
  std::atomic<bool> returned{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread wait([&] {
    waiter->wait_for_change(waiter->change_seq(), 60s, 60s);
    returned = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(returned.load());
  waiter->interrupt_wait();
  wait.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // And every later wait returns at once.
  const auto later = std::chrono::steady_clock::now();
  waiter->wait_for_change(waiter->change_seq(), 60s, 60s);
  EXPECT_LT(std::chrono::steady_clock::now() - later, 10s);
}

TEST_P(IndexConformance, TheMarketTagIsKept) {
  {
    auto index = open();
    EXPECT_EQ(index->market_tag(), std::nullopt);
    index->set_market_tag("first");
    index->set_market_tag("0123abcd");
  }
  EXPECT_EQ(open()->market_tag(), "0123abcd");
}

TEST_P(IndexConformance, AReadOnlyIndexReadsAndRefusesChanges) {
  open()->insert(make_record("00000001"));
  auto reader = open(IndexAccess::read_only);
  EXPECT_EQ(reader->list().size(), 1u);
  EXPECT_TRUE(reader->get("00000001").has_value());
  EXPECT_EQ(reader->change_seq(), 1);
  const std::string message = test::error_of([&] { reader->insert(make_record("00000002")); });
  EXPECT_NE(message.find("reading only"), std::string::npos) << message;
  EXPECT_THROW(reader->reserve_id(), Error);
  EXPECT_THROW(reader->remove("00000001"), Error);
  EXPECT_THROW(reader->begin(), Error);
  EXPECT_EQ(open()->list().size(), 1u);
}

TEST_P(IndexConformance, AReadOnlyOpenOfAnEmptyDatabaseSaysItHoldsNoIndex) {
  const std::string message = test::error_of([&] { open(IndexAccess::read_only); });
  EXPECT_NE(message.find("holds no learnware index"), std::string::npos) << message;
}

TEST_P(IndexConformance, OpeningCreatesTheCurrentSchema) {
  open();
  EXPECT_EQ(index_schema_version(*location_->raw()), current_index_schema_version());
  EXPECT_GE(current_index_schema_version(), 2);
}

// A database as each earlier version of the program left it, with a learnware
// in it, opens: the rows and the id counter survive, the new parts work.
TEST_P(IndexConformance, EveryEarlierSchemaVersionIsMigratedKeepingItsRows) {
  for (int version = 1; version < current_index_schema_version(); ++version) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    const auto place = location_->sibling();
    {
      auto raw = place->raw();
      migrate_index_schema(*raw, version);
      ASSERT_EQ(index_schema_version(*raw), version);
      // Only version 1's columns, as that program wrote them.
      raw->run(
          "INSERT INTO learnware (id, name, owner, status, status_reason, package_path, spec_keys, created_at, "
          "updated_at) VALUES ('00000005', 'old', 'bob', 'usable', '', 'packages/00000005.zip', "
          "'[\"RKMETableSpecification/8\"]', '2024-05-01T12:00:00Z', '2024-05-01T12:00:00Z')");
      raw->run("UPDATE id_counter SET last_value = 7 WHERE name = 'learnware'");
    }
    auto index = open_learnware_index(place->url(), "");
    EXPECT_EQ(index_schema_version(*place->raw()), current_index_schema_version());
    auto expected = make_record("00000005");
    expected.name = "old";
    expected.owner = "bob";
    EXPECT_EQ(index->get("00000005"), expected);
    EXPECT_EQ(index->reserve_id(), "00000008");
    EXPECT_EQ(index->change_seq(), 0);
    index->update(expected);
    EXPECT_EQ(index->change_seq(), 1);
    EXPECT_EQ(index->market_tag(), std::nullopt);
    // Rows the old program wrote carry no change number; removals are kept from now on.
    EXPECT_EQ(ids_of(index->changes_since(0).changed), std::vector<std::string>{"00000005"});
    EXPECT_TRUE(index->remove("00000005"));
    const IndexChanges since = index->changes_since(1);
    EXPECT_TRUE(since.changed.empty());
    EXPECT_EQ(since.removed, std::vector<std::string>{"00000005"});
  }
}

TEST_P(IndexConformance, ANewerSchemaIsRefusedAndLeftAsItIs) {
  {
    auto raw = location_->raw();
    migrate_index_schema(*raw, 1);
    raw->run("UPDATE schema_version SET version = 99");
  }
  for (auto access : {IndexAccess::read_write, IndexAccess::read_only}) {
    const std::string message = test::error_of([&] { open(access); });
    EXPECT_NE(message.find("schema version 99"), std::string::npos) << message;
    EXPECT_NE(message.find("newer than this program"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  auto raw = location_->raw();
  EXPECT_EQ(index_schema_version(*raw), 99);
  EXPECT_FALSE(raw->has_table("index_meta"));  // no migration ran
}

TEST_P(IndexConformance, AReadOnlyOpenOfAnOlderSchemaAsksForTheUpgradeOnThePrimary) {
  migrate_index_schema(*location_->raw(), 1);
  const std::string message = test::error_of([&] { open(IndexAccess::read_only); });
  EXPECT_NE(message.find("schema version 1"), std::string::npos) << message;
  EXPECT_NE(message.find("primary"), std::string::npos) << message;
  EXPECT_EQ(index_schema_version(*location_->raw()), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, IndexConformance, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace lwd
