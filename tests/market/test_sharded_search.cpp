// The statistical search sharded over ranks (engine/dist): every rank of 1..5,
// run as threads of one ThreadGroup, must return exactly the one-process
// result -- the same singles in the same order with the same scores and
// distances (bit for bit), the same mixture and weights, the same counts --
// on random markets, for every max_search_num, both mixture methods, float32
// screening on and off, a semantic filter's subset of members, two gammas in
// one pack, and ties (identical learnwares on either side of a shard border).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/error.h"
#include "engine/market/statistical_search.h"

namespace {

using lwd::RKMETableSpec;
using lwd::SpecPack;
using lwd::StatSearchOptions;
using lwd::StatSearchResult;
using lwd::kernels::Context;
using lwd::kernels::Matrix;

// A spec of n rows drawn around `centre` (Z = the rows, beta = 1/n: quick to
// make, and of any K).
RKMETableSpec random_spec(std::mt19937_64& rng, std::int64_t n, std::int64_t d, double centre, double gamma) {
  std::normal_distribution<double> normal(centre, 1.0);
  Matrix<double> x(n, d);
  for (auto& v : x.values()) v = normal(rng);
  lwd::kernels::RkmeOptions o;
  o.reduce = false;
  o.gamma = gamma;
  return RKMETableSpec::generate(Context{.n_threads = 1}, std::move(x), o);
}

struct RandomMarket {
  SpecPack pack;
  RKMETableSpec user;
};

// `count` learnwares of width d; every `tie_every`-th is a copy of the one
// before it (equal distances: the search keeps pack order); with two_gammas
// every third has gamma 0.3 instead of 0.1.
RandomMarket random_market(std::uint64_t seed, std::int64_t count, std::int64_t d, int tie_every, bool two_gammas,
                           double centres_within = 2.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> centre(-centres_within, centres_within);
  std::uniform_int_distribution<std::int64_t> rows(3, 12);
  RandomMarket m;
  m.pack.type = "RKMETableSpecification";
  RKMETableSpec last;
  for (std::int64_t i = 0; i < count; ++i) {
    const double gamma = two_gammas && i % 3 == 2 ? 0.3 : 0.1;
    const bool copy = tie_every > 0 && i > 0 && i % tie_every == 0;
    RKMETableSpec spec = copy ? last : random_spec(rng, rows(rng), d, centre(rng), gamma);
    char id[16];
    std::snprintf(id, sizeof id, "%08lld", static_cast<long long>(i + 1));
    m.pack.append(id, spec);
    last = std::move(spec);
  }
  m.user = random_spec(rng, 15, d, centre(rng), 0.1);
  return m;
}

// The search on `ranks` threads, each rank with its communicator of one
// ThreadGroup; every rank's result.
std::vector<StatSearchResult> sharded(int ranks, const RandomMarket& m, std::span<const std::int64_t> members,
                                      const StatSearchOptions& options, std::span<const float> z32) {
  lwd::dist::ThreadGroup group(ranks);
  std::vector<StatSearchResult> results(static_cast<std::size_t>(ranks));
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        results[static_cast<std::size_t>(r)] = lwd::statistical_search(Context{.n_threads = 1}, m.user, m.pack, members,
                                                                       options, z32, &group.rank(r));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < ranks; ++r) EXPECT_EQ(errors[static_cast<std::size_t>(r)], "") << "rank " << r;
  return results;
}

// Bit for bit: == on every double (NaN does not occur in a result).
void expect_identical(const StatSearchResult& want, const StatSearchResult& got, const std::string& where) {
  EXPECT_EQ(want.candidates, got.candidates) << where;
  EXPECT_EQ(want.refined, got.refined) << where;
  EXPECT_EQ(want.screened, got.screened) << where;
  EXPECT_EQ(want.settled, got.settled) << where;
  EXPECT_EQ(want.bounds_fell_back, got.bounds_fell_back) << where;
  EXPECT_EQ(want.method, got.method) << where;
  ASSERT_EQ(want.singles.size(), got.singles.size()) << where;
  for (std::size_t i = 0; i < want.singles.size(); ++i) {
    EXPECT_EQ(want.singles[i].id, got.singles[i].id) << where << " single " << i;
    EXPECT_EQ(want.singles[i].mmd2, got.singles[i].mmd2) << where << " single " << i;
    EXPECT_EQ(want.singles[i].score, got.singles[i].score) << where << " single " << i;
  }
  ASSERT_EQ(want.mixture.has_value(), got.mixture.has_value()) << where;
  if (want.mixture) {
    EXPECT_EQ(want.mixture->ids, got.mixture->ids) << where;
    EXPECT_EQ(want.mixture->weights, got.mixture->weights) << where;
    EXPECT_EQ(want.mixture->score, got.mixture->score) << where;
    EXPECT_EQ(want.mixture->mmd2, got.mixture->mmd2) << where;
  }
}

void check_every_rank_count(const RandomMarket& m, std::span<const std::int64_t> members,
                            const StatSearchOptions& options, bool screen, const std::string& what) {
  const std::vector<float> z32 = screen ? lwd::float32_mirror(m.pack) : std::vector<float>{};
  const StatSearchResult one = lwd::statistical_search(Context{.n_threads = 1}, m.user, m.pack, members, options, z32);
  ASSERT_FALSE(one.singles.empty()) << what;
  for (int ranks = 1; ranks <= 5; ++ranks) {
    const auto results = sharded(ranks, m, members, options, z32);
    for (int r = 0; r < ranks; ++r)
      expect_identical(one, results[static_cast<std::size_t>(r)],
                       what + ", " + std::to_string(ranks) + " ranks, rank " + std::to_string(r));
  }
}

TEST(ShardedSearch, EqualsOneProcessOnRandomMarketsForEveryMaxSearchNum) {
  for (const std::int64_t count : {1, 2, 5, 13, 40}) {
    const RandomMarket m = random_market(1000 + static_cast<std::uint64_t>(count), count, 3, 0, false);
    for (const int k : {1, 2, 3, 5, 7}) {
      for (const auto method : {lwd::MixtureMethod::kGreedy, lwd::MixtureMethod::kAuto}) {
        StatSearchOptions o;
        o.max_search_num = k;
        o.method = method;
        check_every_rank_count(m, {}, o, false,
                               std::to_string(count) + " learnwares, k " + std::to_string(k) +
                                   (method == lwd::MixtureMethod::kAuto ? " auto" : " greedy"));
      }
    }
  }
}

TEST(ShardedSearch, TiesKeepPackOrderAcrossShardBorders) {
  // Every other learnware repeats its neighbour: a tie straddles every border
  // of 2..5 shares of 24 members.
  const RandomMarket m = random_market(77, 24, 2, 2, false);
  for (const int k : {1, 3, 5}) {
    StatSearchOptions o;
    o.max_search_num = k;
    check_every_rank_count(m, {}, o, false, "ties, k " + std::to_string(k));
  }
  // The user is itself in the market twice: distance 0 for both, no mixture.
  RandomMarket with_user = m;
  with_user.pack.append("00000100", m.user);
  with_user.pack.append("00000101", m.user);
  check_every_rank_count(with_user, {}, StatSearchOptions{}, false, "exact matches");
}

TEST(ShardedSearch, Float32ScreeningRefinesTheSameDistances) {
  const RandomMarket m = random_market(5, 120, 4, 7, false);
  for (const int k : {1, 2, 5}) {
    StatSearchOptions o;
    o.max_search_num = k;
    o.float32_min_members = 8;  // screen this small market
    check_every_rank_count(m, {}, o, true, "screened, k " + std::to_string(k));
  }
  // The refinement is where ranks could disagree; make sure it happened.
  StatSearchOptions o;
  o.float32_min_members = 8;
  const auto z32 = lwd::float32_mirror(m.pack);
  EXPECT_GT(lwd::statistical_search(Context{.n_threads = 1}, m.user, m.pack, {}, o, z32).refined, 0);
}

// Members far apart: the separation bounds settle most of them before the
// screen, on every rank alike (each computes every bound itself).
TEST(ShardedSearch, SeparationBoundsSettleTheSameMembers) {
  const RandomMarket m = random_market(13, 150, 3, 0, true, 30.0);
  StatSearchOptions o;
  o.float32_min_members = 8;
  check_every_rank_count(m, {}, o, true, "separation bounds");
  const auto z32 = lwd::float32_mirror(m.pack);
  EXPECT_GT(lwd::statistical_search(Context{.n_threads = 1}, m.user, m.pack, {}, o, z32).settled, 50);
}

TEST(ShardedSearch, ASemanticFiltersSubsetAndTwoGammas) {
  const RandomMarket m = random_market(9, 60, 3, 5, true);
  std::vector<std::int64_t> members;
  for (std::int64_t i = 59; i >= 0; i -= 3) members.push_back(i);  // out of pack order, a third of it
  for (const bool screen : {false, true}) {
    StatSearchOptions o;
    o.float32_min_members = 4;
    check_every_rank_count(m, members, o, screen, screen ? "subset, screened" : "subset");
    check_every_rank_count(m, {}, o, screen, screen ? "two gammas, screened" : "two gammas");
  }
}

TEST(ShardedSearch, ManyRowBlocksAndAUserWiderThanOneKernelTile) {
  // ~1700 packed rows (7 row blocks) and a user of 600 points: the kernel
  // splits the user's side into chunks, planned for the whole pack on every rank.
  RandomMarket m = random_market(31, 220, 3, 11, false);
  std::mt19937_64 rng(4);
  m.user = random_spec(rng, 600, 3, 0.5, 0.1);
  for (const bool screen : {false, true}) {
    StatSearchOptions o;
    o.float32_min_members = 64;
    check_every_rank_count(m, {}, o, screen, screen ? "wide user, screened" : "wide user");
  }
}

TEST(Communicator, ShardsCoverEveryItemOnceInRankOrder) {
  for (std::size_t count : {0u, 1u, 4u, 7u, 100u}) {
    for (int size = 1; size <= 6; ++size) {
      std::size_t next = 0;
      for (int r = 0; r < size; ++r) {
        const auto s = lwd::dist::shard_of(count, r, size);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.end - s.begin, count / static_cast<std::size_t>(size) + 1);
        next = s.end;
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(Communicator, ThreadGroupGathersInRankOrderRepeatedly) {
  constexpr int kRanks = 4;
  lwd::dist::ThreadGroup group(kRanks);
  std::vector<std::vector<double>> got(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      // Rank r sends r values per round; 50 rounds reuse the group.
      for (int round = 0; round < 50; ++round) {
        std::vector<double> mine(static_cast<std::size_t>(r), round + r / 10.0);
        got[static_cast<std::size_t>(r)] = lwd::dist::allgather_doubles(group.rank(r), mine);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> want;
  for (int r = 0; r < kRanks; ++r) want.insert(want.end(), static_cast<std::size_t>(r), 49 + r / 10.0);
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(got[static_cast<std::size_t>(r)], want) << "rank " << r;
}

// Each rank's counters, in creation order, are the group's: two threads per
// rank draw from the first until it passes 500, and every value below is
// drawn exactly once over all ranks; a second counter starts at 0 again.
TEST(Communicator, ThreadGroupCountersHandEveryValueToOneCaller) {
  constexpr int kRanks = 3, kThreadsPerRank = 2, kItems = 500;
  lwd::dist::ThreadGroup group(kRanks);
  std::vector<std::vector<std::int64_t>> drawn(kRanks * kThreadsPerRank);
  std::vector<std::int64_t> second_first(kRanks);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.emplace_back([&, r] {
      const std::unique_ptr<lwd::dist::SharedCounter> counter = group.rank(r).shared_counter();
      ASSERT_NE(counter, nullptr);
      std::vector<std::thread> workers;
      for (int t = 0; t < kThreadsPerRank; ++t)
        workers.emplace_back([&, t] {
          auto& mine = drawn[static_cast<std::size_t>(r * kThreadsPerRank + t)];
          for (std::int64_t v = counter->next(); v < kItems; v = counter->next()) mine.push_back(v);
        });
      for (auto& w : workers) w.join();
      group.rank(r).allgather("");  // every rank is done with the first counter
      second_first[static_cast<std::size_t>(r)] = group.rank(r).shared_counter()->next();
    });
  }
  for (auto& t : ranks) t.join();
  std::vector<std::int64_t> all;
  for (const auto& d : drawn) {
    EXPECT_TRUE(std::is_sorted(d.begin(), d.end()));  // one caller's values rise
    all.insert(all.end(), d.begin(), d.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::int64_t> want(kItems);
  for (int i = 0; i < kItems; ++i) want[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(all, want);
  std::sort(second_first.begin(), second_first.end());
  EXPECT_EQ(second_first, (std::vector<std::int64_t>{0, 1, 2}));
  const lwd::dist::SingleProcess one;
  const auto counter = one.shared_counter();
  EXPECT_EQ(counter->next(), 0);
  EXPECT_EQ(counter->next(), 1);
}

TEST(Communicator, BytesReadBackAndAShortMessageIsAnError) {
  lwd::dist::ByteWriter w;
  w.put<double>(-0.0);
  w.put_string("abc");
  const std::vector<double> values{1.5, 1e-300};
  w.put_doubles(values);
  const std::string bytes = w.take();
  lwd::dist::ByteReader r(bytes);
  EXPECT_TRUE(std::signbit(r.get<double>()));
  EXPECT_EQ(r.get_string(), "abc");
  EXPECT_EQ(r.get_doubles(), values);
  EXPECT_TRUE(r.done());
  lwd::dist::ByteReader short_read(std::string_view(bytes).substr(0, bytes.size() - 1));
  short_read.get<double>();
  short_read.get_string();
  EXPECT_THROW(short_read.get_doubles(), lwd::Error);
}

}  // namespace
