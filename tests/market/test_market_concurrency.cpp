// The market's concurrency contract (market.h): searches on several threads
// while another thread adds learnwares one by one. Every answer must be the
// answer a serial run gives on the market as it stood after some number of
// those adds, and, on each thread, that number never goes back.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "tests/market/market_fixture.h"

namespace {

using lwd::Market;
using lwd::SearchRequest;
using lwd::SearchResponse;
using namespace lwd::testing_market;  // blob, make_package, PackageParts, TempDir

// Everything a search answers, compared exactly (ids, scores and distances).
bool same_answer(const SearchResponse& a, const SearchResponse& b) {
  if (a.semantic_ids != b.semantic_ids || a.stat.candidates != b.stat.candidates) return false;
  if (a.stat.singles.size() != b.stat.singles.size()) return false;
  for (std::size_t i = 0; i < a.stat.singles.size(); ++i) {
    const auto& x = a.stat.singles[i];
    const auto& y = b.stat.singles[i];
    if (x.id != y.id || x.score != y.score || x.mmd2 != y.mmd2) return false;
  }
  if (a.stat.mixture.has_value() != b.stat.mixture.has_value()) return false;
  if (a.stat.mixture) {
    const auto& x = *a.stat.mixture;
    const auto& y = *b.stat.mixture;
    if (x.ids != y.ids || x.weights != y.weights || x.score != y.score || x.mmd2 != y.mmd2) return false;
  }
  return true;
}

// `count` table queries of width 3, the q-th a blob centred at offset + step * q.
std::vector<SearchRequest> table_queries(int count, unsigned seed, double step, double offset, std::uint64_t blob_seed,
                                         std::int64_t max_search_num) {
  std::vector<SearchRequest> queries;
  for (int q = 0; q < count; ++q) {
    SearchRequest request;
    request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate(
        lwd::kernels::Context{.seed = seed + static_cast<unsigned>(q)},
        blob(200, 3, step * q + offset, blob_seed + static_cast<std::uint64_t>(q)), lwd::kernels::RkmeOptions{.k = 10}));
    request.options.max_search_num = max_search_num;
    queries.push_back(std::move(request));
  }
  return queries;
}

struct ReadersVerdict {
  int failures = 0;
  long searches = 0;
};

// Runs `changes` on this thread while four threads search `market`. Each
// answer must be expected[k][q] for some state k that never goes back on its
// thread, and the answers after the changes must be the last state's.
ReadersVerdict search_during(const Market& market, const std::vector<SearchRequest>& queries,
                             const std::vector<std::vector<SearchResponse>>& expected,
                             const std::function<void()>& changes) {
  std::atomic<bool> changing{true};
  std::atomic<int> failures{0};
  std::atomic<long> searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::size_t state = 0;  // the earliest state this thread may still see
      int after_last_change = 0;
      // Search until the changes are over, then a few more times on the final state.
      while (changing.load() || after_last_change++ < 3) {
        const std::size_t q = static_cast<std::size_t>(t + searches.fetch_add(1)) % queries.size();
        const SearchResponse answer = market.search(queries[q]);
        std::size_t k = state;
        while (k < expected.size() && !same_answer(answer, expected[k][q])) ++k;
        if (k == expected.size()) {
          failures.fetch_add(1);
        } else {
          state = k;
        }
      }
      if (state + 1 != expected.size()) failures.fetch_add(1);
    });
  }
  try {
    changes();
  } catch (...) {
    changing.store(false);
    for (auto& reader : readers) reader.join();
    throw;
  }
  changing.store(false);
  for (auto& reader : readers) reader.join();
  return {failures.load(), searches.load()};
}

TEST(MarketConcurrency, SearchesDuringAddsEachSeeTheMarketAfterSomeAdds) {
  TempDir tmp;
  const auto packages = tmp.path() / "pkgs";
  std::filesystem::create_directories(packages);
  constexpr int kInitial = 3;
  constexpr int kAdded = 6;
  std::vector<std::filesystem::path> zips;
  for (int i = 0; i < kInitial + kAdded; ++i) {
    zips.push_back(make_package(packages, PackageParts{.centre = 0.7 * i, .seed = 100u + static_cast<unsigned>(i),
                                                       .name = "lw" + std::to_string(i)}));
  }
  const std::vector<SearchRequest> queries = table_queries(3, 7u, 1.4, 0.3, 50, 3);

  // The serial answers: expected[k][q] is query q after k of the adds.
  std::vector<std::vector<SearchResponse>> expected;
  {
    Market serial = Market::create(tmp.path() / "serial");
    for (int i = 0; i < kInitial; ++i) serial.add(zips[static_cast<std::size_t>(i)]);
    for (int k = 0; k <= kAdded; ++k) {
      if (k > 0) serial.add(zips[static_cast<std::size_t>(kInitial + k - 1)]);
      std::vector<SearchResponse> answers;
      for (const auto& q : queries) answers.push_back(serial.search(q));
      expected.push_back(std::move(answers));
    }
  }
  // Adds change every query's answer, or the test could not tell the states apart.
  for (std::size_t q = 0; q < queries.size(); ++q) ASSERT_FALSE(same_answer(expected[0][q], expected[kAdded][q]));

  Market market = Market::create(tmp.path() / "concurrent");
  for (int i = 0; i < kInitial; ++i) market.add(zips[static_cast<std::size_t>(i)]);
  const ReadersVerdict verdict = search_during(market, queries, expected, [&] {
    for (int k = 0; k < kAdded; ++k) market.add(zips[static_cast<std::size_t>(kInitial + k)]);
  });
  EXPECT_EQ(verdict.failures, 0);
  EXPECT_GT(verdict.searches, 4 * 3);
  for (std::size_t q = 0; q < queries.size(); ++q) EXPECT_TRUE(same_answer(market.search(queries[q]), expected[kAdded][q]));
}

// The same contract for every kind of change: adds, updates (a learnware's
// package replaced by another's) and removes, interleaved, while four threads
// search. Ids are the serial run's, since both markets see the same sequence.
TEST(MarketConcurrency, SearchesDuringAddsUpdatesAndRemovesEachSeeTheMarketAfterSomeChanges) {
  TempDir tmp;
  const auto packages = tmp.path() / "pkgs";
  std::filesystem::create_directories(packages);
  std::vector<std::filesystem::path> zips;
  for (int i = 0; i < 8; ++i) {
    zips.push_back(make_package(packages, PackageParts{.centre = 0.6 * i, .seed = 300u + static_cast<unsigned>(i),
                                                       .name = "lw" + std::to_string(i)}));
  }
  std::vector<SearchRequest> queries = table_queries(3, 17u, 1.5, 0.4, 70, 3);
  // Screening on: the float32 mirror a change keeps in step is read.
  for (auto& request : queries) request.options.float32_min_members = 1;

  // A change is an add of zips[package], an update of the learnware added
  // `target`-th with zips[package], or a remove of the learnware added `target`-th.
  enum class Op { add, update, remove };
  struct Change {
    Op op;
    int package = -1;
    int target = -1;
  };
  const std::vector<Change> changes = {
      {Op::add, 3, -1},   {Op::update, 4, 0}, {Op::remove, -1, 1}, {Op::add, 5, -1},
      {Op::update, 6, 2}, {Op::remove, -1, 3}, {Op::add, 7, -1},   {Op::remove, -1, 0},
  };
  auto apply = [&](Market& m, std::vector<std::string>& ids, const Change& c) {
    switch (c.op) {
      case Op::add: ids.push_back(m.add(zips[static_cast<std::size_t>(c.package)]).id); break;
      case Op::update:
        m.update(ids[static_cast<std::size_t>(c.target)], zips[static_cast<std::size_t>(c.package)]);
        break;
      case Op::remove: ASSERT_TRUE(m.remove(ids[static_cast<std::size_t>(c.target)])); break;
    }
  };

  std::vector<std::vector<SearchResponse>> expected;
  {
    Market serial = Market::create(tmp.path() / "serial");
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(serial.add(zips[static_cast<std::size_t>(i)]).id);
    for (std::size_t k = 0; k <= changes.size(); ++k) {
      if (k > 0) apply(serial, ids, changes[k - 1]);
      std::vector<SearchResponse> answers;
      for (const auto& q : queries) answers.push_back(serial.search(q));
      // The search state a change keeps in step must answer as a freshly opened market does.
      const Market fresh = Market::open(tmp.path() / "serial");
      for (std::size_t q = 0; q < queries.size(); ++q)
        EXPECT_TRUE(same_answer(fresh.search(queries[q]), answers[q])) << "after change " << k << ", query " << q;
      expected.push_back(std::move(answers));
    }
  }
  // Each change moves at least one query's answer, or the test could not tell the states apart.
  for (std::size_t k = 1; k < expected.size(); ++k) {
    bool moved = false;
    for (std::size_t q = 0; q < queries.size(); ++q) moved |= !same_answer(expected[k - 1][q], expected[k][q]);
    ASSERT_TRUE(moved) << "change " << k << " leaves every answer as it was";
  }

  Market market = Market::create(tmp.path() / "concurrent");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(market.add(zips[static_cast<std::size_t>(i)]).id);
  const ReadersVerdict verdict = search_during(market, queries, expected, [&] {
    for (const auto& change : changes) apply(market, ids, change);
  });
  EXPECT_EQ(verdict.failures, 0);
  EXPECT_GT(verdict.searches, 4 * 3);
  for (std::size_t q = 0; q < queries.size(); ++q)
    EXPECT_TRUE(same_answer(market.search(queries[q]), expected[changes.size()][q]));
}

// Opening a market reads only the learnware table; market.h5 is read by the
// first search that needs it. Several threads searching a freshly opened
// market at once must all get the serial answer.
TEST(MarketConcurrency, FirstSearchesOfAnOpenedMarketOnSeveralThreadsGetTheSerialAnswer) {
  TempDir tmp;
  const auto packages = tmp.path() / "pkgs";
  std::filesystem::create_directories(packages);
  {
    Market market = Market::create(tmp.path() / "market");
    for (int i = 0; i < 5; ++i) {
      market.add(make_package(packages, PackageParts{.centre = 0.5 * i, .seed = 500u + static_cast<unsigned>(i),
                                                     .name = "lw" + std::to_string(i)}));
    }
  }
  const SearchRequest request = table_queries(1, 3u, 0.0, 1.1, 90, 3).front();
  const SearchResponse expected = Market::open(tmp.path() / "market").search(request);
  ASSERT_FALSE(expected.stat.singles.empty());

  for (int round = 0; round < 5; ++round) {
    const Market market = Market::open(tmp.path() / "market");
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        if (!same_answer(market.search(request), expected)) failures.fetch_add(1);
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0) << "round " << round;
  }
}


// Removes and updates keep each pack's float32 mirror and member map in step
// by dropping rows in place. On a market larger than the mixture pool, with
// screening forced on, a mirror off by one member would rank other
// candidates: every search after every change must equal a fresh open's.
TEST(MarketConcurrency, ChangesKeepTheFloat32MirrorAsAFreshOpenBuildsIt) {
  TempDir tmp;
  const auto packages = tmp.path() / "pkgs";
  std::filesystem::create_directories(packages);
  constexpr int kLearnwares = 24;
  std::vector<std::filesystem::path> zips;
  for (int i = 0; i < kLearnwares + 2; ++i) {
    zips.push_back(make_package(packages, PackageParts{.centre = 0.35 * i, .seed = 700u + static_cast<unsigned>(i),
                                                       .name = "lw" + std::to_string(i)}));
  }
  std::vector<SearchRequest> queries = table_queries(4, 40u, 2.2, 0.5, 110, 2);
  for (auto& request : queries) request.options.float32_min_members = 1;
  Market market = Market::create(tmp.path() / "market");
  std::vector<std::string> ids;
  for (int i = 0; i < kLearnwares; ++i) ids.push_back(market.add(zips[static_cast<std::size_t>(i)]).id);
  auto check = [&](const std::string& after) {
    const Market fresh = Market::open(tmp.path() / "market");
    for (std::size_t q = 0; q < queries.size(); ++q)
      EXPECT_TRUE(same_answer(market.search(queries[q]), fresh.search(queries[q]))) << after << ", query " << q;
  };
  check("after the adds");  // builds the search state the changes then keep in step
  ASSERT_TRUE(market.remove(ids[3]));
  check("after removing a member from the middle");
  ASSERT_TRUE(market.remove(ids[0]));
  check("after removing the first member");
  ASSERT_TRUE(market.remove(ids[kLearnwares - 1]));
  check("after removing the last member");
  market.update(ids[10], zips[kLearnwares]);
  check("after an update in the middle");
  market.update(ids[10], zips[kLearnwares + 1]);
  check("after updating the member an update put last");
}

}  // namespace
