// Backups and restores of a market (engine/store/market_backup.h): a round
// trip gives the same market (records, package bytes, search results, id
// counter) on SQLite and PostgreSQL and across them; backups taken while
// another Market object adds, updates and deletes each restore to one state
// the market was really in; --keep prunes only complete backups; and damaged,
// changed or foreign input is refused with one error, changing nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/sha256.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/store/market_backup.h"
#include "store/index_test_support.h"
#include "tests/market/market_fixture.h"

namespace {

namespace fs = std::filesystem;
using lwd::BackupOptions;
using lwd::IndexUrls;
using lwd::LearnwareStatus;
using lwd::Market;
using lwd::test::error_of;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

lwd::SearchRequest request_near(double centre, std::uint64_t seed = 5) {
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, centre, seed)));
  return request;
}

void expect_same_search(const lwd::SearchResponse& a, const lwd::SearchResponse& b) {
  EXPECT_EQ(a.semantic_matches, b.semantic_matches);
  EXPECT_EQ(a.semantic_ids, b.semantic_ids);
  EXPECT_EQ(a.stat.candidates, b.stat.candidates);
  ASSERT_EQ(a.stat.singles.size(), b.stat.singles.size());
  for (std::size_t i = 0; i < a.stat.singles.size(); ++i) {
    EXPECT_EQ(a.stat.singles[i].id, b.stat.singles[i].id);
    EXPECT_EQ(a.stat.singles[i].mmd2, b.stat.singles[i].mmd2);
    EXPECT_EQ(a.stat.singles[i].score, b.stat.singles[i].score);
  }
  ASSERT_EQ(a.stat.mixture.has_value(), b.stat.mixture.has_value());
  if (a.stat.mixture) {
    EXPECT_EQ(a.stat.mixture->ids, b.stat.mixture->ids);
    EXPECT_EQ(a.stat.mixture->weights, b.stat.mixture->weights);
    EXPECT_EQ(a.stat.mixture->mmd2, b.stat.mixture->mmd2);
  }
}

// Everything a user can see of two markets is the same.
void expect_same_market(const Market& original, const Market& restored) {
  const auto records = original.list();
  ASSERT_EQ(restored.list(), records);  // ids, names, owners, statuses, reasons, packages, spec keys, times
  for (const auto& record : records) {
    EXPECT_EQ(read_bytes(restored.store().package_path(record.id)), read_bytes(original.store().package_path(record.id)))
        << record.id;
    EXPECT_EQ(restored.store().semantic_json(record.id), original.store().semantic_json(record.id)) << record.id;
  }
  for (const double centre : {0.0, 3.0, 7.5}) {
    expect_same_search(original.search(request_near(centre)), restored.search(request_near(centre)));
  }
}

// A small market of every status: usable ones (one updated), an invalid one
// with its reason, and the newest deleted (so only the id counter remembers it).
std::vector<std::string> fill_market(Market& market, const fs::path& zips) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    const auto r = market.add(make_package(zips, {.centre = 2.5 * i, .seed = 10u + i, .name = "m" + std::to_string(i)}),
                              "owner" + std::to_string(i));
    EXPECT_EQ(r.status, LearnwareStatus::usable) << r.reason;
    ids.push_back(r.id);
  }
  const auto invalid = market.add(make_package(zips, {.name = "wrongdim", .manifest_input_dim = 5}));
  EXPECT_EQ(invalid.status, LearnwareStatus::invalid);
  ids.push_back(invalid.id);
  EXPECT_EQ(market.update(ids[1], make_package(zips, {.centre = 4.0, .seed = 30, .name = "m1v2"})).status,
            LearnwareStatus::usable);
  const auto last = market.add(make_package(zips, {.centre = 9.0, .seed = 40, .name = "gone"}));
  EXPECT_TRUE(market.remove(last.id));
  ids.push_back(last.id);
  return ids;
}

lwd::BackupSummary backup(const fs::path& market, const IndexUrls& urls, const fs::path& out, int keep = 7) {
  BackupOptions options;
  options.keep = keep;
  return lwd::backup_market(market, urls, out, options);
}

// ---- on each backend ---------------------------------------------------------

class MarketBackupOnDatabase : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    LWD_INDEX_LOCATION_OR_RETURN(db_, GetParam());
    fs::create_directories(zips_);
  }

  IndexUrls urls() const { return {db_->url(), ""}; }

  lwd::testing_market::TempDir tmp_;
  fs::path dir_ = tmp_.path() / "market";
  fs::path zips_ = tmp_.path() / "zips";
  fs::path backups_ = tmp_.path() / "backups";
  std::unique_ptr<lwd::test::IndexLocation> db_;
};

TEST_P(MarketBackupOnDatabase, ARoundTripGivesTheSameMarketAndKeepsTheIdCounter) {
  Market original = Market::create(dir_, {}, {}, urls());
  const auto ids = fill_market(original, zips_);
  const auto made = backup(dir_, urls(), backups_);
  EXPECT_EQ(made.learnwares, 5);
  EXPECT_EQ(made.linked, 5);  // the backups folder is on the market's file system

  const auto target_db = db_->sibling();
  const IndexUrls target_urls{target_db->url(), ""};
  const auto restored = lwd::restore_market(made.path, tmp_.path() / "restored", target_urls);
  EXPECT_EQ(restored.learnwares, 5);
  Market again = Market::open(tmp_.path() / "restored", {}, {}, target_urls);
  expect_same_market(original, again);
  // The deleted newest id is not handed out again, in either market.
  const auto next = again.add(make_package(zips_, {.seed = 50, .name = "next"}));
  EXPECT_GT(next.id, ids.back());
  EXPECT_EQ(original.add(make_package(zips_, {.seed = 51, .name = "next2"})).id, next.id);
  // Two markets now: each has a tag of its own, so neither opens with the other's database.
  EXPECT_THROW(Market::open(tmp_.path() / "restored", {}, {}, urls()), lwd::Error);
}

// PostgreSQL to SQLite and SQLite to PostgreSQL: the dump knows no backend.
TEST_P(MarketBackupOnDatabase, ARoundTripCrossesBackends) {
  Market original = Market::create(dir_, {}, {}, urls());
  const auto ids = fill_market(original, zips_);
  const auto made = backup(dir_, urls(), backups_);

  std::unique_ptr<lwd::test::IndexLocation> other;
  LWD_INDEX_LOCATION_OR_RETURN(other, GetParam() == "sqlite" ? "postgresql" : "sqlite");
  // Into PostgreSQL; into the new directory's own index.sqlite (the default) from it.
  const IndexUrls target_urls = GetParam() == "sqlite" ? IndexUrls{other->url(), ""} : IndexUrls{};
  lwd::restore_market(made.path, tmp_.path() / "restored", target_urls);
  Market again = Market::open(tmp_.path() / "restored", {}, {}, target_urls);
  EXPECT_EQ(fs::exists(tmp_.path() / "restored" / "index.sqlite"), GetParam() == "postgresql");
  expect_same_market(original, again);
  EXPECT_GT(again.add(make_package(zips_, {.seed = 52, .name = "next"})).id, ids.back());
}

// Another Market object (as another process would: its own lock file
// descriptor and database connection) adds, updates and deletes while
// backups are taken. Each backup must be exactly one state the market was
// in between two changes: the same ids, each with the package bytes of one
// version it had then, and nothing else.
TEST_P(MarketBackupOnDatabase, BackupsTakenDuringWritesRestoreToAStateTheMarketWasIn) {
  { Market::create(dir_, {}, {}, urls()); }
  std::vector<fs::path> zips;
  std::vector<std::string> zip_bytes;
  for (int i = 0; i < 5; ++i) {
    zips.push_back(make_package(zips_, {.centre = 1.5 * i, .seed = 60u + i, .name = "w" + std::to_string(i)}));
    zip_bytes.push_back(read_bytes(zips.back()));
  }
  using State = std::map<std::string, int>;  // id -> which zip its package is
  std::vector<State> states = {State{}};
  std::atomic<bool> writing = true;
  std::string writer_failure;
  std::thread writer([&] {
    try {
      Market market = Market::open(dir_, {}, {}, urls());
      State state;
      for (int step = 0; step < 24; ++step) {
        const int zip = step % 5;
        if (step % 4 == 3 && !state.empty()) {
          const std::string id = state.begin()->first;
          market.remove(id);
          state.erase(id);
        } else if (step % 3 == 2 && !state.empty()) {
          const std::string id = state.rbegin()->first;
          market.update(id, zips[zip]);
          state[id] = zip;
        } else {
          state[market.add(zips[zip]).id] = zip;
        }
        states.push_back(state);
      }
    } catch (const std::exception& e) {
      writer_failure = e.what();
    }
    writing = false;
  });
  std::vector<fs::path> made;
  while (writing || made.size() < 2) made.push_back(backup(dir_, urls(), backups_, 1000).path);
  writer.join();
  ASSERT_EQ(writer_failure, "");

  std::set<State> reachable(states.begin(), states.end());
  for (std::size_t b = 0; b < made.size(); ++b) {
    SCOPED_TRACE("backup " + made[b].filename().string());
    const fs::path target = tmp_.path() / ("restored" + std::to_string(b));
    lwd::restore_market(made[b], target);
    const Market restored = Market::open(target);
    State state;
    std::set<std::string> named;
    for (const auto& record : restored.list()) {
      const std::string bytes = read_bytes(restored.store().package_path(record.id));
      const auto zip = std::find(zip_bytes.begin(), zip_bytes.end(), bytes);
      ASSERT_NE(zip, zip_bytes.end()) << record.id << ": its package is none of the submitted ones";
      state[record.id] = static_cast<int>(zip - zip_bytes.begin());
      named.insert(fs::path(record.package_path).filename().string());
    }
    EXPECT_TRUE(reachable.contains(state)) << "a state the market was never in";
    for (const auto& entry : fs::directory_iterator(target / "packages")) {
      EXPECT_TRUE(named.contains(entry.path().filename().string())) << "extra package " << entry.path();
    }
    // market.h5 agrees with the table: every usable learnware is searched.
    EXPECT_EQ(restored.search(request_near(3.0)).stat.candidates,
              static_cast<std::int64_t>(restored.list(LearnwareStatus::usable).size()));
  }
}

TEST_P(MarketBackupOnDatabase, ARestoreIntoADatabaseThatHoldsAMarketIsRefused) {
  Market original = Market::create(dir_, {}, {}, urls());
  original.add(make_package(zips_, {.name = "one"}));
  const auto made = backup(dir_, urls(), backups_);
  const std::string message = error_of([&] { lwd::restore_market(made.path, tmp_.path() / "restored", urls()); });
  EXPECT_NE(message.find("already holds a market"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(tmp_.path() / "restored"));
  EXPECT_EQ(Market::open(dir_, {}, {}, urls()).list(), original.list());
}

INSTANTIATE_TEST_SUITE_P(Backends, MarketBackupOnDatabase, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// ---- the default market (DIR/index.sqlite) ------------------------------------

class MarketBackup : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(zips_);
    Market market = Market::create(dir_);
    for (int i = 0; i < 3; ++i) {
      market.add(make_package(zips_, {.centre = 3.0 * i, .seed = 20u + i, .name = std::string("b").append(std::to_string(i))}));
    }
  }

  // A copy of the one backup, to damage.
  fs::path copy_of(const fs::path& backup, const std::string& name) const {
    const fs::path copy = tmp_.path() / name;
    fs::copy(backup, copy, fs::copy_options::recursive);
    return copy;
  }
  // Rewrites the manifest's entry for `path` to match the file as it is now.
  static void reseal(const fs::path& backup, const std::string& path) {
    auto manifest = nlohmann::json::parse(read_bytes(backup / "manifest.json"));
    std::uintmax_t total = 0;
    for (auto& file : manifest["files"]) {
      if (file["path"] == path) {
        file["bytes"] = fs::file_size(backup / path);
        file["sha256"] = lwd::io::sha256_hex_of_file(backup / path);
      }
      total += file["bytes"].get<std::uintmax_t>();
    }
    manifest["bytes"] = total;
    lwd::io::write_text_file_atomically(backup / "manifest.json", manifest.dump());
  }
  // The restore fails with a message holding `expected`, and leaves no trace.
  void expect_refused(const fs::path& backup, const std::string& expected) {
    const fs::path target = tmp_.path() / "target";
    const std::string message = error_of([&] { lwd::restore_market(backup, target); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(target));
    for (const auto& entry : fs::directory_iterator(tmp_.path())) {
      EXPECT_EQ(entry.path().filename().string().find(".target.restoring"), std::string::npos) << entry.path();
    }
  }

  lwd::testing_market::TempDir tmp_;
  fs::path dir_ = tmp_.path() / "market";
  fs::path zips_ = tmp_.path() / "zips";
  fs::path backups_ = tmp_.path() / "backups";
};

TEST_F(MarketBackup, ARoundTripOfTheDefaultIndexKeepsTextThatIsNotUtf8) {
  Market market = Market::open(dir_);
  const std::string owner = "b\xff\xfe-owner";  // SQLite keeps the bytes; so must the backup
  const auto odd = market.add(make_package(zips_, {.seed = 70, .name = "odd"}), owner);
  const auto made = backup(dir_, {}, backups_);
  lwd::restore_market(made.path, tmp_.path() / "restored");
  const Market restored = Market::open(tmp_.path() / "restored");
  EXPECT_EQ(restored.get(odd.id)->owner, owner);
  expect_same_market(market, restored);
}

TEST_F(MarketBackup, BackupsAreNamedByTimeAndDistinctWithinOneSecond) {
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) names.insert(backup(dir_, {}, backups_).path.filename().string());
  EXPECT_EQ(names.size(), 3u);
  for (const auto& name : names) {
    EXPECT_TRUE(name.size() >= 16 && name[8] == 'T' && name[15] == 'Z') << name;
  }
  EXPECT_EQ(lwd::list_backups(backups_).size(), 3u);
}

TEST_F(MarketBackup, KeepDeletesTheOldestCompleteBackupsAndNothingElse) {
  fs::create_directories(backups_ / "notes");
  fs::create_directories(backups_ / "20200101T000000Z");  // named like one, but no manifest
  lwd::io::write_text_file_atomically(backups_ / "README", "mine\n");
  fs::create_directories(backups_ / ".incomplete-abc123" / "packages");  // a killed backup's folder
  std::vector<fs::path> made;
  for (int i = 0; i < 4; ++i) made.push_back(backup(dir_, {}, backups_, 2).path);
  EXPECT_EQ(lwd::list_backups(backups_), (std::vector<fs::path>{made[2], made[3]}));
  EXPECT_TRUE(fs::exists(backups_ / "notes"));
  EXPECT_TRUE(fs::exists(backups_ / "20200101T000000Z"));
  EXPECT_TRUE(fs::exists(backups_ / "README"));
  EXPECT_FALSE(fs::exists(backups_ / ".incomplete-abc123"));
  // keep 1 keeps the new one only; never fewer.
  const auto last = backup(dir_, {}, backups_, 1);
  EXPECT_EQ(lwd::list_backups(backups_), std::vector<fs::path>{last.path});
  EXPECT_EQ(last.pruned, (std::vector<fs::path>{made[2], made[3]}));
  EXPECT_NE(error_of([&] { backup(dir_, {}, backups_, 0); }).find("at least 1"), std::string::npos);
  EXPECT_EQ(lwd::list_backups(backups_).size(), 1u);
}

TEST_F(MarketBackup, ABackupOfAMissingOrDamagedMarketFailsLeavingNoBackup) {
  EXPECT_NE(error_of([&] { backup(tmp_.path() / "none", {}, backups_); }).find("no such market directory"),
            std::string::npos);
  const auto first = Market::open(dir_).list().front();
  fs::remove(dir_ / first.package_path);
  const std::string message = error_of([&] { backup(dir_, {}, backups_); });
  EXPECT_NE(message.find("is missing"), std::string::npos) << message;
  EXPECT_TRUE(lwd::list_backups(backups_).empty());
  for (const auto& entry : fs::directory_iterator(backups_)) ADD_FAILURE() << "left behind: " << entry.path();
}

TEST_F(MarketBackup, ARestoreRefusesDamagedChangedOrForeignBackupsChangingNothing) {
  const fs::path good = backup(dir_, {}, backups_).path;
  const std::string package = "packages/" + Market::open(dir_).list().front().id + ".zip";

  expect_refused(tmp_.path() / "absent", "no such backup");
  expect_refused(zips_, "not a market backup (no manifest.json)");

  fs::path b = copy_of(good, "truncated-manifest");
  fs::resize_file(b / "manifest.json", fs::file_size(b / "manifest.json") / 2);
  expect_refused(b, "manifest.json: invalid JSON");

  b = copy_of(good, "foreign-manifest");
  lwd::io::write_text_file_atomically(b / "manifest.json", R"({"format": "something-else"})");
  expect_refused(b, "not a lwdock-market-backup document");

  b = copy_of(good, "newer");
  auto manifest = nlohmann::json::parse(read_bytes(b / "manifest.json"));
  manifest["version"] = 2;
  lwd::io::write_text_file_atomically(b / "manifest.json", manifest.dump());
  expect_refused(b, "newer than this program reads");

  b = copy_of(good, "changed");  // same size, one byte different
  std::string bytes = read_bytes(b / package);
  bytes[bytes.size() / 2] ^= 1;
  lwd::io::write_text_file_atomically(b / package, bytes);
  expect_refused(b, "SHA-256 is not the manifest's");

  b = copy_of(good, "truncated-package");
  fs::resize_file(b / package, 10);
  expect_refused(b, "bytes, the manifest says");

  b = copy_of(good, "missing-package");
  fs::remove(b / package);
  expect_refused(b, "missing");

  b = copy_of(good, "extra-file");
  lwd::io::write_text_file_atomically(b / "packages" / "stowaway.zip", "x");
  expect_refused(b, "not listed in the backup's manifest");

  b = copy_of(good, "escaping-path");
  manifest = nlohmann::json::parse(read_bytes(b / "manifest.json"));
  manifest["files"][0]["path"] = "../../etc/passwd";
  lwd::io::write_text_file_atomically(b / "manifest.json", manifest.dump());
  expect_refused(b, "is not a file a backup holds");

  b = copy_of(good, "bad-index");  // checksums fine, content not
  auto index = nlohmann::json::parse(read_bytes(b / "index.json"));
  index["learnwares"][0]["status"] = "splendid";
  lwd::io::write_text_file_atomically(b / "index.json", index.dump());
  reseal(b, "index.json");
  expect_refused(b, "unknown learnware status");

  b = copy_of(good, "counter-behind");
  index = nlohmann::json::parse(read_bytes(b / "index.json"));
  index["counters"]["last_id"] = 1;
  lwd::io::write_text_file_atomically(b / "index.json", index.dump());
  reseal(b, "index.json");
  expect_refused(b, "above the id counter");

  // A target that is not empty is left exactly as it was.
  const fs::path target = tmp_.path() / "busy";
  fs::create_directories(target);
  lwd::io::write_text_file_atomically(target / "keep.txt", "mine");
  const std::string message = error_of([&] { lwd::restore_market(good, target); });
  EXPECT_NE(message.find("not empty"), std::string::npos) << message;
  EXPECT_EQ(std::distance(fs::directory_iterator(target), fs::directory_iterator()), 1);
  EXPECT_EQ(read_bytes(target / "keep.txt"), "mine");

  // A link to an empty directory is refused (the rename would replace the link).
  fs::create_directories(tmp_.path() / "empty");
  fs::create_directory_symlink(tmp_.path() / "empty", tmp_.path() / "link");
  EXPECT_NE(error_of([&] { lwd::restore_market(good, tmp_.path() / "link"); }).find("symbolic link"),
            std::string::npos);
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "empty"));

  // An empty directory is taken (also written "DIR/"), and the good backup still restores.
  lwd::restore_market(good, (tmp_.path() / "empty").string() + "/");
  EXPECT_EQ(Market::open(tmp_.path() / "empty").list(), Market::open(dir_).list());
}

// BACKUPS on another file system than the market: the packages cannot be
// hard-linked there, so they are linked into the market's staging/ during
// the snapshot and copied after it.
TEST_F(MarketBackup, ABackupOnAnotherFileSystemCopiesThePackagesAfterTheSnapshot) {
  struct stat here {}, shm {};
  if (::stat(tmp_.path().c_str(), &here) != 0 || ::stat("/dev/shm", &shm) != 0 || here.st_dev == shm.st_dev) {
    GTEST_SKIP() << "needs /dev/shm on a file system other than the temp directory's";
  }
  lwd::io::ScratchDir elsewhere("/dev/shm/lwd-backup-test-");
  lwd::BackupSummary made;
  try {
    made = backup(dir_, {}, elsewhere.path() / "backups");
  } catch (const lwd::Error& e) {
    GTEST_SKIP() << "/dev/shm is not usable here: " << e.what();
  }
  EXPECT_EQ(made.linked, 0);
  EXPECT_EQ(made.learnwares, 3);
  EXPECT_TRUE(fs::is_empty(dir_ / "staging"));  // the links there are gone
  lwd::restore_market(made.path, tmp_.path() / "restored");
  expect_same_market(Market::open(dir_), Market::open(tmp_.path() / "restored"));
}

}  // namespace
