// The market's search index (docs/DESIGN.md §4.5): a search that goes through it
// finds the scan's best learnwares and mixture, it follows the market's own
// changes and other processes', and a stale or damaged index file is brought
// up to date or rebuilt, with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/warning.h"
#include "market/market_fixture.h"

namespace lwd {
namespace {

using testing_market::make_package;
using testing_market::PackageParts;
using testing_market::TempDir;

class MarketIndex : public ::testing::Test {
 protected:
  std::filesystem::path package(int i) {
    return make_package(packages_.path(), PackageParts{.d = 3, .centre = 0.15 * (i % 23) - 1.5,
                                                        .seed = static_cast<std::uint64_t>(100 + i),
                                                        .name = "lw" + std::to_string(i)});
  }
  Market create_with(int count) {
    Market m = Market::create(dir_.path() / "market");
    for (int i = 0; i < count; ++i) m.add(package(i));
    return m;
  }
  Market open(IndexKind kind) {
    Market m = Market::open(dir_.path() / "market");
    m.set_index_options(IndexOptions{.kind = kind, .min_members = 1});
    return m;
  }
  static SearchRequest request(double centre, std::uint64_t seed) {
    SearchRequest r;
    kernels::RkmeOptions o;
    o.k = 15;
    r.spec = stat_spec(RKMETableSpec::generate(kernels::Context{.seed = seed},
                                              testing_market::blob(200, 3, centre, seed), o));
    return r;
  }
  // The index's answer against the scan's: the singles it reports come in
  // the scan's order with the scan's distances, the mixture (its pool is the
  // best 25 either way) is the scan's.
  static void expect_same_as_scan(const StatSearchResult& indexed, const StatSearchResult& scan, IndexKind kind) {
    EXPECT_EQ(indexed.method, index_kind_name(kind));
    EXPECT_GT(indexed.evaluated, 0);
    EXPECT_EQ(indexed.candidates, scan.candidates);
    ASSERT_FALSE(indexed.singles.empty());
    const std::size_t n = std::min(indexed.singles.size(), scan.singles.size());
    for (std::size_t r = 0; r < n; ++r) {
      EXPECT_EQ(indexed.singles[r].id, scan.singles[r].id) << "rank " << r;
      EXPECT_EQ(indexed.singles[r].mmd2, scan.singles[r].mmd2) << "rank " << r;
    }
    if (indexed.mixture && scan.mixture) {
      EXPECT_EQ(indexed.mixture->ids, scan.mixture->ids);
      EXPECT_EQ(indexed.mixture->weights, scan.mixture->weights);
      EXPECT_EQ(indexed.mixture->mmd2, scan.mixture->mmd2);
    }
  }
  void expect_searches_like_scan(const Market& indexed, IndexKind kind) {
    Market scan = open(IndexKind::kNone);
    for (int q = 0; q < 4; ++q) {
      const SearchRequest r = request(0.4 * q - 0.8, 900 + static_cast<std::uint64_t>(q));
      const auto a = indexed.search(r).stat;
      const auto b = scan.search(r).stat;
      EXPECT_EQ(b.method, "scan");
      expect_same_as_scan(a, b, kind);
    }
  }

  TempDir dir_;
  TempDir packages_;
};

TEST_F(MarketIndex, ASearchThroughTheExactIndexFindsTheScansLearnwaresAndMixture) {
  create_with(24);
  const Market m = open(IndexKind::kExact);
  expect_searches_like_scan(m, IndexKind::kExact);
}

TEST_F(MarketIndex, ASearchThroughTheApproximateIndexFindsTheScansBest) {
  create_with(24);
  const Market m = open(IndexKind::kApprox);
  expect_searches_like_scan(m, IndexKind::kApprox);
}

TEST_F(MarketIndex, BelowTheConfiguredSizeTheMarketScans) {
  create_with(5);
  Market m = Market::open(dir_.path() / "market");
  m.set_index_options(IndexOptions{.kind = IndexKind::kExact, .min_members = 6});
  EXPECT_EQ(m.search(request(0.0, 1)).stat.method, "scan");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "market" / "search_index"));
}

TEST_F(MarketIndex, ASemanticFilterIsSearchedByTheScan) {
  create_with(10);
  const Market m = open(IndexKind::kExact);
  SearchRequest r = request(0.0, 2);
  r.semantic = SemanticSpec{};
  r.semantic->tags["Data"] = {"Table"};
  EXPECT_EQ(m.search(r).stat.method, "scan");
}

TEST_F(MarketIndex, TheIndexFollowsTheMarketsOwnAddsUpdatesAndRemovals) {
  Market m = create_with(20);
  m.set_index_options(IndexOptions{.kind = IndexKind::kExact, .min_members = 1});
  m.search(request(0.0, 3));  // builds the index
  for (int i = 20; i < 25; ++i) m.add(package(i));
  m.update("00000004", package(40));
  m.update("00000017", package(41));
  m.remove("00000001");
  m.remove("00000023");
  m.remove("00000012");
  expect_searches_like_scan(m, IndexKind::kExact);
}

TEST_F(MarketIndex, TheIndexFollowsAnotherProcesssChanges) {
  create_with(20);
  const Market m = open(IndexKind::kExact);
  m.search(request(0.0, 4));
  {
    Market other = Market::open(dir_.path() / "market");
    for (int i = 20; i < 24; ++i) other.add(package(i));
    other.update("00000002", package(42));
    other.remove("00000007");
    other.remove("00000022");
  }
  expect_searches_like_scan(m, IndexKind::kExact);
}

TEST_F(MarketIndex, AStaleIndexFileIsBroughtUpToDateWithAMessage) {
  create_with(20);
  {
    Market m = open(IndexKind::kExact);
    const auto reports = m.build_search_indexes();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].how, "built");
    EXPECT_EQ(reports[0].members, 20);
    EXPECT_TRUE(std::filesystem::exists(reports[0].file));
  }
  {
    Market other = Market::open(dir_.path() / "market");
    other.add(package(20));
    other.remove("00000003");
  }
  std::vector<std::string> warnings;
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  const Market m = open(IndexKind::kExact);
  expect_searches_like_scan(m, IndexKind::kExact);
  set_warning_handler({});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("brought up to date: 1 added, 1 removed"), std::string::npos) << warnings[0];
}

TEST_F(MarketIndex, ADamagedIndexFileIsRebuiltWithAMessage) {
  create_with(20);
  std::filesystem::path file;
  {
    Market m = open(IndexKind::kApprox);
    file = m.build_search_indexes().at(0).file;
  }
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(file) / 3));
    f.put('\x7f');
    f.put('\x01');
  }
  std::vector<std::string> warnings;
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  const Market m = open(IndexKind::kApprox);
  expect_searches_like_scan(m, IndexKind::kApprox);
  set_warning_handler({});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("damaged"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("rebuilding the search index"), std::string::npos) << warnings[0];
  // Rebuilt and saved: the next open reads it without a word.
  warnings.clear();
  set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  const Market again = open(IndexKind::kApprox);
  again.search(request(0.0, 5));
  set_warning_handler({});
  EXPECT_TRUE(warnings.empty());
}

}  // namespace
}  // namespace lwd
