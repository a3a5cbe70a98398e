// What only the SQLite backend does (WAL, its file) and the record helpers;
// the index's behaviour on every backend is test_index_conformance.cpp.
#include "engine/store/sqlite_index.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "engine/error.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

using test::ScratchDir;

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

TEST(SqliteIndex, RunsInWalModeWithASchemaVersion) {
  ScratchDir dir;
  { auto index = open_sqlite_index(dir / "index.sqlite"); }
  EXPECT_EQ(query_text(dir / "index.sqlite", "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(dir / "index.sqlite", "SELECT version FROM schema_version"),
            std::to_string(current_index_schema_version()));
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

TEST(Timestamps, AreIso8601Utc) {
  const std::string now = utc_now_iso8601();
  ASSERT_EQ(now.size(), 20u);
  EXPECT_EQ(now[4], '-');
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

}  // namespace
}  // namespace lwd
