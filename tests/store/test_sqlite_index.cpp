#include "engine/store/sqlite_index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "engine/error.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

using test::ScratchDir;

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

// Runs one SQL statement on the file behind the index, as another program would.
std::string query_text(const std::filesystem::path& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string result;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

TEST(LearnwareStatus, RoundTripsThroughItsName) {
  for (auto status : {LearnwareStatus::invalid, LearnwareStatus::not_usable, LearnwareStatus::usable}) {
    EXPECT_EQ(parse_learnware_status(to_string(status)), status);
  }
  EXPECT_EQ(to_string(LearnwareStatus::not_usable), "not_usable");
}

TEST(LearnwareStatus, ParseRejectsUnknownWordsNamingThem) {
  try {
    parse_learnware_status("Usable");
    FAIL() << "accepted a wrong word";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Usable"), std::string::npos);
  }
}

TEST(LearnwareId, OnlyFileNameSafeIdsAreValid) {
  EXPECT_TRUE(is_valid_learnware_id("00000001"));
  EXPECT_TRUE(is_valid_learnware_id("my-model_2"));
  EXPECT_FALSE(is_valid_learnware_id(""));
  EXPECT_FALSE(is_valid_learnware_id("../etc"));
  EXPECT_FALSE(is_valid_learnware_id("a b"));
  EXPECT_FALSE(is_valid_learnware_id(std::string(65, 'a')));
}

TEST(SqliteIndex, InsertThenGetGivesTheSameRecord) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  const auto record = make_record("00000001");
  index->insert(record);
  EXPECT_EQ(index->get("00000001"), record);
  EXPECT_EQ(index->get("00000002"), std::nullopt);
}

TEST(SqliteIndex, ValuesAreBoundNotSpliced) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  auto record = make_record("00000001");
  record.name = "x'); DROP TABLE learnware; --";
  record.owner = "O'Brien \"quoted\" \xE6\x97\xA5\xE6\x9C\xAC";
  record.spec_keys = {"A/1", "B/2"};
  index->insert(record);
  EXPECT_EQ(index->get("00000001"), record);
  EXPECT_EQ(index->list().size(), 1u);
}

TEST(SqliteIndex, InsertRejectsATakenOrInvalidId) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  index->insert(make_record("00000001"));
  EXPECT_THROW(index->insert(make_record("00000001")), Error);
  EXPECT_THROW(index->insert(make_record("a/b")), Error);
}

TEST(SqliteIndex, UpdateReplacesEveryColumn) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  index->insert(make_record("00000001"));
  auto changed = make_record("00000001", LearnwareStatus::invalid);
  changed.name = "renamed";
  changed.spec_keys = {};
  changed.updated_at = "2024-06-01T00:00:00Z";
  index->update(changed);
  EXPECT_EQ(index->get("00000001"), changed);
}

TEST(SqliteIndex, UpdateOfAnUnknownIdThrows) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  EXPECT_THROW(index->update(make_record("00000009")), Error);
}

TEST(SqliteIndex, RemoveDeletesTheRowOnce) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  index->insert(make_record("00000001"));
  EXPECT_TRUE(index->remove("00000001"));
  EXPECT_FALSE(index->remove("00000001"));
  EXPECT_EQ(index->get("00000001"), std::nullopt);
}

TEST(SqliteIndex, ListIsOrderedByIdAndFiltersByStatus) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
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

TEST(SqliteIndex, RecordsSurviveReopening) {
  ScratchDir dir;
  {
    auto index = open_sqlite_index(dir / "index.sqlite");
    index->insert(make_record("00000001"));
    index->insert(make_record("00000002", LearnwareStatus::invalid));
  }
  auto index = open_sqlite_index(dir / "index.sqlite");
  EXPECT_EQ(index->list().size(), 2u);
  EXPECT_EQ(index->get("00000002"), make_record("00000002", LearnwareStatus::invalid));
}

TEST(SqliteIndex, RunsInWalModeWithASchemaVersion) {
  ScratchDir dir;
  { auto index = open_sqlite_index(dir / "index.sqlite"); }
  EXPECT_EQ(query_text(dir / "index.sqlite", "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(dir / "index.sqlite", "SELECT version FROM schema_version"), "1");
}

TEST(SqliteIndex, RollbackDiscardsEverythingSinceBegin) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
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

TEST(SqliteIndex, TransactionRollsBackWhenItsBodyThrows) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  EXPECT_THROW(index->transaction([&] {
    index->insert(make_record("00000001"));
    throw Error("stop");
  }),
               Error);
  EXPECT_FALSE(index->in_transaction());
  EXPECT_TRUE(index->list().empty());
}

TEST(SqliteIndex, TransactionsDoNotNest) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  index->begin();
  EXPECT_THROW(index->begin(), Error);
  index->rollback();
}

TEST(SqliteIndex, AnUncommittedTransactionIsRolledBackWhenTheIndexCloses) {
  ScratchDir dir;
  {
    auto index = open_sqlite_index(dir / "index.sqlite");
    index->begin();
    index->insert(make_record("00000001"));
  }
  auto index = open_sqlite_index(dir / "index.sqlite");
  EXPECT_TRUE(index->list().empty());
}

TEST(SqliteIndex, ReservedIdsIncreaseAcrossRemovalAndReopening) {
  ScratchDir dir;
  {
    auto index = open_sqlite_index(dir / "index.sqlite");
    EXPECT_EQ(index->reserve_id(), "00000001");
    const std::string second = index->reserve_id();
    EXPECT_EQ(second, "00000002");
    index->insert(make_record(second));
    index->remove(second);
  }
  auto index = open_sqlite_index(dir / "index.sqlite");
  EXPECT_EQ(index->reserve_id(), "00000003");
}

TEST(SqliteIndex, ReservedIdsSkipPastInsertedNumericIds) {
  ScratchDir dir;
  auto index = open_sqlite_index(dir / "index.sqlite");
  index->insert(make_record("00000041"));
  index->insert(make_record("custom-id"));
  EXPECT_EQ(index->reserve_id(), "00000042");
}

TEST(SqliteIndex, ASecondConnectionSeesCommittedRows) {
  ScratchDir dir;
  auto writer = open_sqlite_index(dir / "index.sqlite");
  auto reader = open_sqlite_index(dir / "index.sqlite");
  writer->begin();
  writer->insert(make_record("00000001"));
  EXPECT_TRUE(reader->list().empty());  // WAL: the reader is not blocked and sees the last commit
  writer->commit();
  EXPECT_EQ(reader->list().size(), 1u);
}

TEST(SqliteIndex, AFileThatIsNotADatabaseIsReportedWithItsPath) {
  ScratchDir dir;
  const auto path = dir / "index.sqlite";
  test::write_bytes(path, std::string(4096, 'x'));
  try {
    open_sqlite_index(path);
    FAIL() << "opened a malformed file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  }
}

TEST(SqliteIndex, ANewerSchemaIsRefused) {
  ScratchDir dir;
  const auto path = dir / "index.sqlite";
  { auto index = open_sqlite_index(path); }
  query_text(path, "UPDATE schema_version SET version = 99");
  try {
    open_sqlite_index(path);
    FAIL() << "opened a newer schema";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

TEST(Timestamps, AreIso8601Utc) {
  const std::string now = utc_now_iso8601();
  ASSERT_EQ(now.size(), 20u);
  EXPECT_EQ(now[4], '-');
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

}  // namespace
}  // namespace lwd
