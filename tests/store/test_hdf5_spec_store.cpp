#include "engine/store/hdf5_spec_store.h"

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>

#include <limits>

#include "engine/error.h"
#include "store/index_test_support.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using test::make_spec;
using test::ScratchDir;

constexpr std::string_view kTable = "RKMETableSpecification";

std::string numbered(std::string prefix, int i) { return prefix += std::to_string(i); }

MarketSnapshot sample_snapshot() {
  MarketSnapshot snapshot;
  SpecPack narrow;
  narrow.type = kTable;
  SpecPack wide;
  wide.type = kTable;
  for (int i = 1; i <= 4; ++i) {
    const std::string id = "0000000" + std::to_string(i);
    narrow.append(id, make_spec(3 + i, 3, static_cast<std::uint64_t>(i)));
    if (i % 2 == 0) wide.append(id, make_spec(5, 7, static_cast<std::uint64_t>(100 + i), 0.05));
    snapshot.semantic_json_by_id[id] = R"({"Name":{"Values":"model )" + id + R"( \u65e5\u672c 日本","Type":"String"}})";
    if (i % 2 == 1) snapshot.facts_by_type["RKMETextSpecification"][id] = R"({"language":["en","zh-cn"]})";
  }
  snapshot.facts_by_type["RKMEImageSpecification"]["00000004"] = R"({"z":[[[[0.5]]]]})";
  // Values whose bits a text round trip would lose.
  narrow.z[0] = -0.0;
  narrow.z[1] = std::numeric_limits<double>::denorm_min();
  narrow.z[2] = 0.1 + 0.2;
  snapshot.packs.emplace(spec_pack_key(kTable, 3), narrow);
  snapshot.packs.emplace(spec_pack_key(kTable, 7), wide);
  return snapshot;
}

void expect_same_snapshot(const MarketSnapshot& a, const MarketSnapshot& b) {
  test::expect_same_packs(a.packs, b.packs);
  EXPECT_EQ(a.semantic_json_by_id, b.semantic_json_by_id);
  EXPECT_EQ(a.facts_by_type, b.facts_by_type);
}

MarketAppend append_of(const std::string& id, std::int64_t k, std::int64_t d, std::uint64_t seed) {
  MarketAppend entry;
  entry.id = id;
  entry.specs.push_back(pack_spec(kTable, make_spec(k, d, seed)));
  entry.semantic_json = R"({"id":")" + id + "\"}";
  return entry;
}

// The message of the lwd::Error that read_market_h5 throws (fails the test if none).
std::string read_error(const fs::path& path) {
  try {
    read_market_h5(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "read_market_h5 accepted " << path;
  return "";
}

// <dir>/market.h5 holding sample_snapshot().
fs::path written_sample(const ScratchDir& dir) {
  const auto path = dir / "market.h5";
  write_market_h5(path, sample_snapshot());
  return path;
}

TEST(MarketH5, RoundTripIsBitExact) {
  ScratchDir dir;
  const auto snapshot = sample_snapshot();
  const auto back = read_market_h5(written_sample(dir));
  expect_same_snapshot(back, snapshot);
  EXPECT_EQ(back.stored_member_count, 6);
  EXPECT_EQ(std::signbit(back.packs.at(spec_pack_key(kTable, 3)).z[0]), true);
}

TEST(MarketH5, AnEmptyMarketRoundTrips) {
  ScratchDir dir;
  write_market_h5(dir / "market.h5", MarketSnapshot{});
  const auto back = read_market_h5(dir / "market.h5");
  EXPECT_TRUE(back.packs.empty());
  EXPECT_TRUE(back.semantic_json_by_id.empty());
}

TEST(MarketH5, WriteLeavesNoTemporaryBehind) {
  ScratchDir dir;
  write_market_h5(dir / "market.h5", sample_snapshot());
  EXPECT_FALSE(fs::exists(dir / "market.h5.tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(MarketH5, AFailedWriteLeavesTheOldFileUntouched) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const std::string before = test::read_bytes(path);
  auto broken = sample_snapshot();
  broken.packs.begin()->second.beta.pop_back();  // inconsistent pack
  EXPECT_THROW(write_market_h5(path, broken), Error);
  EXPECT_EQ(test::read_bytes(path), before);
  EXPECT_FALSE(fs::exists(dir / "market.h5.tmp"));
}

TEST(MarketH5, AMissingFileIsNamed) {
  ScratchDir dir;
  const std::string message = read_error(dir / "market.h5");
  EXPECT_NE(message.find((dir / "market.h5").string()), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(MarketH5, ATextFileIsNotAMarket) {
  ScratchDir dir;
  test::write_bytes(dir / "market.h5", "{\"not\": \"hdf5\"}");
  EXPECT_NE(read_error(dir / "market.h5").find("not an HDF5 file"), std::string::npos);
}

TEST(MarketH5, AForeignHdf5FileIsRecognisedAsForeign) {
  ScratchDir dir;
  const auto path = dir / "other.h5";
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hsize_t dims[1] = {4};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t dataset = H5Dcreate2(file, "data", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(dataset);
  H5Sclose(space);
  H5Fclose(file);
  const std::string message = read_error(path);
  EXPECT_NE(message.find("not a learnware market file"), std::string::npos) << message;
}

TEST(MarketH5, PartsReadOneAtATimeAgreeWithTheWholeFileAndHonourACap) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const MarketSnapshot snapshot = sample_snapshot();
  const MarketH5Contents contents = read_market_h5_contents(path);
  EXPECT_EQ(contents.version, kMarketH5Version);
  EXPECT_EQ(contents.pack_members, (std::map<std::string, std::int64_t>{{spec_pack_key(kTable, 3), 4},
                                                                        {spec_pack_key(kTable, 7), 2}}));
  EXPECT_EQ(contents.stored_members(), 6);
  EXPECT_EQ(contents.semantic_count, 4);
  EXPECT_EQ(contents.fact_counts, (std::map<std::string, std::int64_t>{{"RKMEImageSpecification", 1},
                                                                       {"RKMETextSpecification", 2}}));
  for (const auto& [key, pack] : snapshot.packs) {
    const auto read = read_market_h5_pack(path, key);
    ASSERT_TRUE(read) << key;
    test::expect_same_packs(std::map<std::string, SpecPack>{{key, *read}}, std::map<std::string, SpecPack>{{key, pack}});
  }
  EXPECT_FALSE(read_market_h5_pack(path, spec_pack_key(kTable, 99)));
  EXPECT_EQ(read_market_h5_semantic(path), snapshot.semantic_json_by_id);
  EXPECT_EQ(read_market_h5_facts(path, "RKMETextSpecification"), snapshot.facts_by_type.at("RKMETextSpecification"));
  EXPECT_TRUE(read_market_h5_facts(path, "NoSuchKind").empty());
  // A cap reads the first members only, as they were at an earlier count.
  const auto first_two = read_market_h5_pack(path, spec_pack_key(kTable, 3), 2);
  ASSERT_TRUE(first_two);
  EXPECT_EQ(first_two->ids, (std::vector<std::string>{"00000001", "00000002"}));
  EXPECT_FALSE(read_market_h5_pack(path, spec_pack_key(kTable, 3), 0));
  EXPECT_EQ(read_market_h5_semantic(path, 1).size(), 1u);
  EXPECT_THROW(read_market_h5_facts(path, "../packs"), Error);
}

TEST(MarketH5, ATruncatedFileIsReported) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const std::string bytes = test::read_bytes(path);
  for (const std::size_t keep : {bytes.size() / 2, bytes.size() - 100, std::size_t{600}, std::size_t{10}}) {
    test::write_bytes(path, bytes.substr(0, keep));
    const std::string message = read_error(path);
    EXPECT_NE(message.find(path.string()), std::string::npos) << keep << ": " << message;
  }
}

TEST(MarketH5, DamagedSpecValuesFailTheirChecksum) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  auto snapshot = sample_snapshot();
  // A recognisable value so the test can find where z lives in the file.
  auto& pack = snapshot.packs.at(spec_pack_key(kTable, 3));
  pack.z[5] = 1234.5678;
  write_market_h5(path, snapshot);
  std::string bytes = test::read_bytes(path);
  const double marker = 1234.5678;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(&marker), sizeof marker));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 3] = static_cast<char>(bytes[at + 3] ^ 0x40);
  test::write_bytes(path, bytes);
  const std::string message = read_error(path);
  RecordProperty("message", message);
  EXPECT_NE(message.find("z"), std::string::npos) << message;
}

TEST(MarketH5, DamageAnywhereIsAnErrorOrHarmlessNeverACrash) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const std::string original = test::read_bytes(path);
  int rejected = 0;
  const std::size_t step = std::max<std::size_t>(1, original.size() / 400);
  for (std::size_t at = 0; at < original.size(); at += step) {
    std::string bytes = original;
    bytes[at] = static_cast<char>(~bytes[at]);
    test::write_bytes(path, bytes);
    try {
      const auto snapshot = read_market_h5(path);
      for (const auto& [key, pack] : snapshot.packs) pack.validate();
    } catch (const Error&) {
      ++rejected;
    }
  }
  RecordProperty("flipped_bytes_rejected", rejected);
  EXPECT_GT(rejected, 0);
}

TEST(MarketH5, AppendAddsOneLearnwareToAnExistingPack) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  auto expected = sample_snapshot();
  write_market_h5(path, expected);
  const auto entry = append_of("00000009", 6, 3, 99);
  const auto before = append_to_market_h5(path, entry);
  EXPECT_EQ(before.pack_members.at(spec_pack_key(kTable, 3)), 4);
  EXPECT_EQ(before.semantic_count, 4);
  {
    auto& pack = expected.packs.at(spec_pack_key(kTable, 3));
    pack.append(entry.id, make_spec(6, 3, 99));
  }
  expected.semantic_json_by_id[entry.id] = *entry.semantic_json;
  expect_same_snapshot(read_market_h5(path), expected);
}

TEST(MarketH5, AppendCreatesAPackForANewWidth) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  write_market_h5(path, MarketSnapshot{});
  append_to_market_h5(path, append_of("00000001", 4, 11, 1));
  append_to_market_h5(path, append_of("00000002", 2, 11, 2));
  const auto back = read_market_h5(path);
  ASSERT_EQ(back.packs.count(spec_pack_key(kTable, 11)), 1u);
  const auto& pack = back.packs.at(spec_pack_key(kTable, 11));
  EXPECT_EQ(pack.ids, (std::vector<std::string>{"00000001", "00000002"}));
  EXPECT_EQ(pack.offsets, (std::vector<std::int64_t>{0, 4, 6}));
  EXPECT_EQ(pack.spec(1).z(), make_spec(2, 11, 2).z());
  EXPECT_DOUBLE_EQ(pack.self_inner[1], make_spec(2, 11, 2).inner_product(make_spec(2, 11, 2)));
}

TEST(MarketH5, AppendWritesInPlaceAndLeavesExistingBytesAlone) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  // About 2.6 MB of Z: large next to one appended learnware (50 x 16).
  MarketSnapshot market;
  SpecPack pack;
  pack.type = kTable;
  for (int i = 0; i < 400; ++i) pack.append(numbered("m", i), make_spec(50, 16, static_cast<std::uint64_t>(i)));
  market.packs.emplace(spec_pack_key(kTable, 16), pack);
  write_market_h5(path, market);
  append_to_market_h5(path, append_of("warmup", 50, 16, 1000));  // first append allocates the growth structures

  struct stat before_stat {};
  ASSERT_EQ(::stat(path.c_str(), &before_stat), 0);
  const std::string before = test::read_bytes(path);
  append_to_market_h5(path, append_of("added", 50, 16, 1001));
  struct stat after_stat {};
  ASSERT_EQ(::stat(path.c_str(), &after_stat), 0);
  const std::string after = test::read_bytes(path);

  EXPECT_EQ(after_stat.st_ino, before_stat.st_ino) << "the file was replaced, not appended to";
  ASSERT_GE(after.size(), before.size());
  std::size_t changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) changed += before[i] != after[i] ? 1 : 0;
  // What an append may touch: the last partial chunk of each dataset (~32 KiB
  // for z and beta, less for the rest) plus metadata; nothing proportional to
  // the market. Growth is about the learnware's own size (50 x 16 x 8 bytes).
  RecordProperty("changed_bytes", static_cast<int>(changed));
  RecordProperty("file_bytes", static_cast<int>(before.size()));
  RecordProperty("growth_bytes", static_cast<int>(after.size() - before.size()));
  EXPECT_LT(changed, before.size() / 20) << changed << " of " << before.size() << " bytes changed";
  EXPECT_LT(after.size() - before.size(), std::size_t{256 * 1024});
  EXPECT_EQ(read_market_h5(path).packs.at(spec_pack_key(kTable, 16)).count(), 402);
}

TEST(MarketH5, AFailureBeforeTheCommitLeavesThePreviousStateReadable) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const auto snapshot = sample_snapshot();
  MarketAppend entry = append_of("00000009", 6, 3, 99);
  entry.specs.push_back(pack_spec(kTable, make_spec(3, 13, 5)));  // and a new pack
  EXPECT_THROW(append_to_market_h5(path, entry, [](std::string_view step) {
    if (step == "append_h5_commit") throw Error("injected crash");
  }), Error);
  // The rows are in the file but past the committed counts: not visible.
  const auto back = read_market_h5(path);
  expect_same_snapshot(back, snapshot);
  EXPECT_EQ(back.stored_member_count, 6);

  // The next append overwrites the abandoned rows.
  append_to_market_h5(path, append_of("00000010", 2, 3, 7));
  const auto after = read_market_h5(path);
  const auto& pack = after.packs.at(spec_pack_key(kTable, 3));
  EXPECT_EQ(pack.ids.back(), "00000010");
  EXPECT_EQ(pack.count(), 5);
  EXPECT_EQ(pack.spec(4).z(), make_spec(2, 3, 7).z());
  EXPECT_EQ(after.packs.count(spec_pack_key(kTable, 13)), 0u);
  EXPECT_EQ(after.semantic_json_by_id.count("00000009"), 0u);
}

TEST(MarketH5, RestoringTheCommitPointUndoesAnAppend) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const auto snapshot = sample_snapshot();
  MarketAppend entry = append_of("00000009", 6, 3, 99);
  entry.specs.push_back(pack_spec(kTable, make_spec(3, 13, 5)));
  const auto point = append_to_market_h5(path, entry);
  EXPECT_EQ(read_market_h5(path).packs.size(), 3u);
  restore_market_h5_commit(path, point);
  expect_same_snapshot(read_market_h5(path), snapshot);
}

TEST(MarketH5, ALaterMemberWithTheSameIdSupersedesTheEarlierOne) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  auto entry = append_of("00000002", 9, 3, 42);
  entry.semantic_json = "{\"v\":2}";
  append_to_market_h5(path, entry);
  const auto back = read_market_h5(path);
  const auto& pack = back.packs.at(spec_pack_key(kTable, 3));
  EXPECT_EQ(pack.ids, (std::vector<std::string>{"00000001", "00000003", "00000004", "00000002"}));
  EXPECT_EQ(pack.spec(3).z(), make_spec(9, 3, 42).z());
  EXPECT_EQ(back.semantic_json_by_id.at("00000002"), "{\"v\":2}");
  EXPECT_EQ(back.stored_member_count, 7);
  pack.validate();
}

// What a process following another's appends reads: only the members and
// entries past the counts it saw, the newest per id, as a whole read has them.
TEST(MarketH5, WhatWasAppendedSinceCountsSeenEarlierReadsAlone) {
  ScratchDir dir;
  const auto path = written_sample(dir);
  const std::string key = spec_pack_key(kTable, 3);
  const MarketH5Contents seen = read_market_h5_contents(path);
  auto update = append_of("00000002", 9, 3, 42);
  update.semantic_json = "{\"v\":2}";
  update.facts = {{"RKMETextSpecification", R"({"language":["fr"]})"}};
  append_to_market_h5(path, append_of("00000009", 6, 3, 99));
  append_to_market_h5(path, update);
  update.specs = {pack_spec(kTable, make_spec(4, 3, 43))};
  update.semantic_json = "{\"v\":3}";
  update.facts.clear();
  update.replaces = true;  // clears the text facts the previous one added
  append_to_market_h5(path, update);
  const MarketH5Contents now = read_market_h5_contents(path);
  ASSERT_EQ(now.pack_members.at(key), seen.pack_members.at(key) + 3);

  const PackAppended appended = read_market_h5_pack_appended(path, key, seen.pack_members.at(key), now.pack_members.at(key));
  EXPECT_EQ(appended.ids, (std::vector<std::string>{"00000009", "00000002"}));
  const auto whole = read_market_h5(path).packs.at(key);
  SpecPack expected;
  expected.type = kTable;
  expected.dim = 3;
  for (const char* id : {"00000009", "00000002"}) expected.append_member_of(whole, *whole.find(id));
  test::expect_same_pack(appended.members, expected);
  // From the middle; and nothing appended, nothing read.
  EXPECT_EQ(read_market_h5_pack_appended(path, key, seen.pack_members.at(key) + 2, now.pack_members.at(key)).ids,
            std::vector<std::string>{"00000002"});
  EXPECT_EQ(read_market_h5_pack_appended(path, key, now.pack_members.at(key), now.pack_members.at(key)).members.count(), 0);
  EXPECT_TRUE(read_market_h5_pack_appended(path, spec_pack_key(kTable, 5), 0, 0).ids.empty());  // no such pack

  EXPECT_EQ(read_market_h5_semantic_appended(path, seen.semantic_count, now.semantic_count),
            (AppendedEntries{{"00000009", "{\"id\":\"00000009\"}"}, {"00000002", "{\"v\":2}"}, {"00000002", "{\"v\":3}"}}));
  const std::string text = "RKMETextSpecification";
  EXPECT_EQ(read_market_h5_facts_appended(path, text, seen.fact_counts.at(text), now.fact_counts.at(text)),
            (AppendedEntries{{"00000002", R"({"language":["fr"]})"}, {"00000002", ""}}));

  // Counts beyond what is committed: the file is not the one they were seen in.
  for (const auto& message : {test::error_of([&] { read_market_h5_pack_appended(path, key, 0, now.pack_members.at(key) + 1); }),
                              test::error_of([&] { read_market_h5_pack_appended(path, spec_pack_key(kTable, 5), 0, 1); }),
                              test::error_of([&] { read_market_h5_semantic_appended(path, 0, now.semantic_count + 1); })}) {
    EXPECT_NE(message.find("replaced or damaged"), std::string::npos) << message;
  }
}

TEST(MarketH5, AppendRejectsTwoSpecsForOnePack) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  write_market_h5(path, MarketSnapshot{});
  auto entry = append_of("00000001", 2, 3, 1);
  entry.specs.push_back(entry.specs.front());
  EXPECT_THROW(append_to_market_h5(path, entry), Error);
  EXPECT_TRUE(read_market_h5(path).packs.empty());
}

TEST(MarketH5, AppendToAMissingFileSaysSo) {
  ScratchDir dir;
  try {
    append_to_market_h5(dir / "market.h5", append_of("00000001", 2, 3, 1));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(MarketH5, ManyAppendsGrowTheFileLinearly) {
  ScratchDir dir;
  const auto path = dir / "market.h5";
  write_market_h5(path, MarketSnapshot{});
  for (int i = 0; i < 200; ++i) append_to_market_h5(path, append_of(numbered("a", i), 10, 4, i));
  const auto back = read_market_h5(path);
  EXPECT_EQ(back.packs.at(spec_pack_key(kTable, 4)).count(), 200);
  EXPECT_EQ(back.semantic_json_by_id.size(), 200u);
  // 200 x (10 x 4 + 10) doubles of payload = 80 KB; allow generous overhead but not quadratic growth.
  EXPECT_LT(fs::file_size(path), std::uintmax_t{2} * 1024 * 1024);
}

}  // namespace
}  // namespace lwd
