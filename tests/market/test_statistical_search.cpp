// Statistical search: the packed, batched search against the per-pair pattern
// of the reference engine, planted-mixture recovery and the score rule.
#include <map>
#include <set>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/market/statistical_search.h"

namespace {

using lwd::MixtureMethod;
using lwd::RKMETableSpec;
using lwd::SpecPack;
using lwd::StatSearchOptions;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::RkmeOptions;

// n rows around `centre` (every coordinate) with unit spread.
Matrix<double> blob(std::int64_t n, std::int64_t d, double centre, std::uint64_t seed, double spread = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, spread);
  Matrix<double> x(n, d);
  for (auto& v : x.values()) v = centre + normal(rng);
  return x;
}

RKMETableSpec spec_of(Matrix<double> x, int k = 10, std::uint64_t seed = 0) {
  RkmeOptions o;
  o.k = k;
  return RKMETableSpec::generate(Context{.seed = seed}, std::move(x), o);
}

struct Market {
  std::vector<std::string> ids;
  std::vector<RKMETableSpec> specs;
  SpecPack pack;
};

// Learnware i summarises a blob centred at centres[i].
Market make_market(const std::vector<double>& centres, std::int64_t d, std::uint64_t seed) {
  Market m;
  m.pack.type = "RKMETableSpecification";
  for (std::size_t i = 0; i < centres.size(); ++i) {
    std::string id = std::to_string(i + 1);
    id.insert(0, 8 - std::min<std::size_t>(8, id.size()), '0');  // "00000001", as market ids look
    m.ids.push_back(id);
    m.specs.push_back(spec_of(blob(200, d, centres[i], seed + i), 10, seed + i));
    m.pack.append(id, m.specs.back());
  }
  return m;
}

std::vector<double> spread_centres(std::size_t n, double step) {
  std::vector<double> c(n);
  for (std::size_t i = 0; i < n; ++i) c[i] = step * static_cast<double>(i);
  return c;
}

TEST(BatchMmd2, EqualsOneDistanceCallPerLearnware) {
  const Market m = make_market(spread_centres(30, 0.3), 5, 11);
  const RKMETableSpec user = spec_of(blob(300, 5, 2.0, 99));
  const auto mmd2 = lwd::batch_mmd2(Context{}, user, m.pack, {});
  ASSERT_EQ(mmd2.size(), 30u);
  for (std::size_t i = 0; i < 30; ++i) {
    const double expected = m.specs[i].dist(user);
    EXPECT_NEAR(mmd2[i], expected, 1e-9 * std::max(1e-12, std::abs(expected))) << i;
  }
}

TEST(BatchMmd2, ASubsetOfMembersGivesTheirDistancesInTheOrderAsked) {
  const Market m = make_market(spread_centres(12, 0.7), 4, 21);
  const RKMETableSpec user = spec_of(blob(300, 4, 3.0, 98));
  const std::vector<std::int64_t> members = {9, 2, 5};
  const auto mmd2 = lwd::batch_mmd2(Context{}, user, m.pack, members);
  ASSERT_EQ(mmd2.size(), 3u);
  for (std::size_t i = 0; i < members.size(); ++i) {
    const double expected = m.specs[static_cast<std::size_t>(members[i])].dist(user);
    EXPECT_NEAR(mmd2[i], expected, 1e-9 * std::abs(expected)) << i;
  }
}

TEST(BatchMmd2, MembersWithDifferentGammasUseTheirOwn) {
  SpecPack pack;
  pack.type = "RKMETableSpecification";
  std::vector<RKMETableSpec> specs;
  for (int i = 0; i < 6; ++i) {
    RkmeOptions o;
    o.k = 8;
    o.gamma = i % 2 == 0 ? 0.1 : 0.35;
    specs.push_back(RKMETableSpec::generate(Context{.seed = 3}, blob(150, 3, 0.5 * i, 40 + i), o));
    pack.append("m" + std::to_string(i), specs.back());
  }
  const RKMETableSpec user = spec_of(blob(200, 3, 1.0, 7));
  const auto mmd2 = lwd::batch_mmd2(Context{}, user, pack, {});
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const double expected = specs[i].dist(user);  // MMD² with the learnware's gamma
    EXPECT_NEAR(mmd2[i], expected, 1e-9 * std::abs(expected)) << i;
  }
}

// The search over products computed elsewhere (what image specs use) gives
// the per-pair search's answer when fed the same inner products, and asks
// member-member products only for the mixture pool.
TEST(SearchFromProducts, AgreesWithPerPairAndAsksOnlyPoolProducts) {
  const Market m = make_market(spread_centres(30, 0.25), 3, 11);
  const RKMETableSpec user = spec_of(blob(300, 3, 2.1, 5));
  lwd::CandidateProducts products;
  products.ids = m.ids;
  for (const auto& s : m.specs) {
    products.self.push_back(s.inner_product(s));
    products.cross.push_back(user.inner_product(s));
  }
  products.user_self = user.inner_product(user);
  std::set<std::int64_t> asked;
  products.member_inner = [&](std::int64_t a, std::int64_t b) {
    asked.insert(a);
    asked.insert(b);
    return m.specs[static_cast<std::size_t>(a)].inner_product(m.specs[static_cast<std::size_t>(b)]);
  };
  StatSearchOptions o;
  const auto fast = lwd::statistical_search_from_products(products, o);
  const auto slow = lwd::statistical_search_per_pair(Context{}, user, m.ids, m.specs, o);
  ASSERT_EQ(fast.singles.size(), slow.singles.size());
  for (std::size_t r = 0; r < fast.singles.size(); ++r) {
    EXPECT_EQ(fast.singles[r].id, slow.singles[r].id);
    EXPECT_NEAR(fast.singles[r].mmd2, slow.singles[r].mmd2, 1e-9 * std::abs(slow.singles[r].mmd2) + 1e-15);
  }
  ASSERT_EQ(fast.mixture.has_value(), slow.mixture.has_value());
  if (fast.mixture) EXPECT_EQ(fast.mixture->ids, slow.mixture->ids);
  EXPECT_LE(asked.size(), static_cast<std::size_t>(o.max_search_num * o.max_search_num));

  products.cross.pop_back();
  EXPECT_THROW(lwd::statistical_search_from_products(products, o), lwd::Error);
}

// member_row (the image search's batched pool rows) answers the mixture
// exactly as member_inner asked pair by pair does, given products that depend
// on which learnware is asked first -- as floating-point sums in the two
// orders do -- and memoised by pair at the first asking, as the market memoises
// them: the rows are asked with the learnware member_inner would see first.
TEST(SearchFromProducts, MemberRowsGiveTheMixtureMemberInnerGivesBitForBit) {
  const Market m = make_market(spread_centres(30, 0.25), 3, 11);
  const RKMETableSpec user = spec_of(blob(300, 3, 2.1, 5));
  for (const MixtureMethod method : {MixtureMethod::kGreedy, MixtureMethod::kAuto}) {
    lwd::CandidateProducts products;
    products.ids = m.ids;
    for (const auto& s : m.specs) {
      products.self.push_back(s.inner_product(s));
      products.cross.push_back(user.inner_product(s));
    }
    products.user_self = user.inner_product(user);
    // <m_a, m_b> asked with a first, off by a rounding-sized amount of a.
    const auto oriented = [&](std::int64_t a, std::int64_t b) {
      return m.specs[static_cast<std::size_t>(a)].inner_product(m.specs[static_cast<std::size_t>(b)]) *
             (1.0 + 1e-13 * static_cast<double>(a));
    };
    std::map<std::pair<std::int64_t, std::int64_t>, double> memo;
    const auto memoised = [&](std::int64_t a, std::int64_t b) {
      return memo.try_emplace(std::minmax(a, b), oriented(a, b)).first->second;
    };
    products.member_inner = memoised;
    StatSearchOptions o;
    o.method = method;
    const auto pairwise = lwd::statistical_search_from_products(products, o);
    memo.clear();
    int rows = 0;
    products.member_inner = nullptr;
    products.member_row = [&](std::int64_t a, std::span<const std::int64_t> bs, std::span<double> out) {
      ++rows;
      for (std::size_t k = 0; k < bs.size(); ++k) out[k] = memoised(a, bs[k]);
    };
    const auto by_rows = lwd::statistical_search_from_products(products, o);
    ASSERT_TRUE(pairwise.mixture.has_value());
    ASSERT_TRUE(by_rows.mixture.has_value());
    EXPECT_EQ(by_rows.mixture->ids, pairwise.mixture->ids);
    EXPECT_EQ(by_rows.mixture->weights, pairwise.mixture->weights);
    EXPECT_EQ(by_rows.mixture->mmd2, pairwise.mixture->mmd2);
    EXPECT_EQ(by_rows.mixture->score, pairwise.mixture->score);
    // Greedy asks for the rows of the learnwares it selects, one each.
    if (method == MixtureMethod::kGreedy) EXPECT_LE(rows, o.max_search_num);
  }
}

class SearchAgreesWithPerPair : public ::testing::TestWithParam<MixtureMethod> {};

TEST_P(SearchAgreesWithPerPair, SameRankingDistancesAndMixture) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    std::vector<double> centres(40);
    for (double& c : centres) c = u(rng);
    const Market m = make_market(centres, 4, seed * 100);
    const RKMETableSpec user = spec_of(blob(400, 4, u(rng), seed * 7 + 5));
    StatSearchOptions o;
    o.method = GetParam();
    const auto fast = lwd::statistical_search(Context{}, user, m.pack, {}, o);
    const auto slow = lwd::statistical_search_per_pair(Context{}, user, m.ids, m.specs, o);
    ASSERT_EQ(fast.singles.size(), slow.singles.size()) << "seed " << seed;
    for (std::size_t r = 0; r < fast.singles.size(); ++r) {
      EXPECT_EQ(fast.singles[r].id, slow.singles[r].id) << "seed " << seed << " rank " << r;
      EXPECT_NEAR(fast.singles[r].mmd2, slow.singles[r].mmd2, 1e-9 * std::abs(slow.singles[r].mmd2));
      EXPECT_NEAR(fast.singles[r].score, slow.singles[r].score, 1e-9);
    }
    ASSERT_EQ(fast.mixture.has_value(), slow.mixture.has_value()) << "seed " << seed;
    if (fast.mixture) {
      EXPECT_EQ(fast.mixture->ids, slow.mixture->ids);
      ASSERT_EQ(fast.mixture->weights.size(), slow.mixture->weights.size());
      for (std::size_t i = 0; i < fast.mixture->weights.size(); ++i)
        EXPECT_NEAR(fast.mixture->weights[i], slow.mixture->weights[i], 1e-7);
      EXPECT_NEAR(fast.mixture->mmd2, slow.mixture->mmd2, 1e-9 * std::max(1e-12, std::abs(slow.mixture->mmd2)));
    }
  }
}

// Float32 screening forced on (it normally starts at 256 members): every
// reported distance and weight must still be the float64 one.
TEST_P(SearchAgreesWithPerPair, WithFloat32ScreeningToo) {
  for (std::uint64_t seed : {4u, 5u}) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    std::vector<double> centres(60);
    for (double& c : centres) c = u(rng);
    const Market m = make_market(centres, 4, seed * 100);
    const std::vector<float> z32 = lwd::float32_mirror(m.pack);
    const RKMETableSpec user = spec_of(blob(400, 4, u(rng), seed * 7 + 5));
    StatSearchOptions o;
    o.method = GetParam();
    o.float32_min_members = 0;
    const auto fast = lwd::statistical_search(Context{}, user, m.pack, {}, o, z32);
    const auto slow = lwd::statistical_search_per_pair(Context{}, user, m.ids, m.specs, o);
    ASSERT_EQ(fast.singles.size(), slow.singles.size()) << "seed " << seed;
    for (std::size_t r = 0; r < fast.singles.size(); ++r) {
      EXPECT_EQ(fast.singles[r].id, slow.singles[r].id) << "seed " << seed << " rank " << r;
      EXPECT_NEAR(fast.singles[r].mmd2, slow.singles[r].mmd2, 1e-9 * std::abs(slow.singles[r].mmd2));
      EXPECT_NEAR(fast.singles[r].score, slow.singles[r].score, 1e-4);  // scores see screened distances
    }
    ASSERT_EQ(fast.mixture.has_value(), slow.mixture.has_value()) << "seed " << seed;
    if (fast.mixture) {
      EXPECT_EQ(fast.mixture->ids, slow.mixture->ids);
      EXPECT_NEAR(fast.mixture->mmd2, slow.mixture->mmd2, 1e-9 * std::max(1e-12, std::abs(slow.mixture->mmd2)));
    }
  }
}

// On a market big enough for screening to start by itself, the ranking and
// mixture equal those of the all-float64 search.
TEST(StatisticalSearch, Float32ScreeningGivesTheFloat64Results) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::vector<double> centres(300);
  for (double& c : centres) c = u(rng);
  const Market m = make_market(centres, 3, 777);
  const std::vector<float> z32 = lwd::float32_mirror(m.pack);
  for (double user_centre : {-1.5, 0.2, 1.9}) {
    const RKMETableSpec user = spec_of(blob(400, 3, user_centre, 31));
    StatSearchOptions exact;
    exact.float32_screening = false;
    const auto a = lwd::statistical_search(Context{}, user, m.pack, {}, {}, z32);
    const auto b = lwd::statistical_search(Context{}, user, m.pack, {}, exact);
    ASSERT_EQ(a.singles.size(), b.singles.size());
    for (std::size_t r = 0; r < a.singles.size(); ++r) {
      EXPECT_EQ(a.singles[r].id, b.singles[r].id) << r;
      EXPECT_EQ(a.singles[r].mmd2, b.singles[r].mmd2) << r;
    }
    // Every single reported (all those scoring 0.6 or more: here most of the
    // market) and the mixture pool were evaluated again; without the screen
    // nothing is.
    EXPECT_GE(a.refined, static_cast<std::int64_t>(a.singles.size()));
    EXPECT_LE(a.refined, a.candidates);
    EXPECT_EQ(b.refined, 0);
    ASSERT_EQ(a.mixture.has_value(), b.mixture.has_value());
    if (a.mixture) {
      EXPECT_EQ(a.mixture->ids, b.mixture->ids);
    }
  }
}

// Separation bounds (docs/DESIGN.md §4.4) leave members out of the screen;
// the result is the one screening every member gives: the same singles, each
// with its float64 distance, the same mixture, scores within 1e-6. Markets of
// several widths and spreads, users from on top of a member to wider than
// any: some searches settle most of the market, some fall back to screening
// it all because a score would have moved, and both must happen here.
TEST(StatisticalSearch, SeparationBoundsGiveTheResultsOfScreeningEveryMember) {
  struct Case {
    std::int64_t d;
    double centres_within;
    double spread;
  };
  int settled_searches = 0;
  int fallbacks = 0;
  for (const Case c : {Case{8, 10.0, 1.0}, Case{4, 8.0, 1.0}, Case{2, 20.0, 0.3}, Case{8, 5.0, 1.0}}) {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(0.0, c.centres_within);
    Market m;
    m.pack.type = "RKMETableSpecification";
    for (int i = 0; i < 300; ++i) {
      m.pack.append(std::to_string(i), spec_of(blob(200, c.d, i == 0 ? 0.0 : u(rng), 100 + static_cast<std::uint64_t>(i), c.spread), 10,
                                             static_cast<std::uint64_t>(i)));
    }
    const std::vector<float> z32 = lwd::float32_mirror(m.pack);
    for (const double user_spread : {1.0, 1.2, 1.4, 1.7, 2.0, 2.5}) {
      const std::string where = "d " + std::to_string(c.d) + ", centres within " + std::to_string(c.centres_within) +
                                ", user spread " + std::to_string(user_spread);
      const RKMETableSpec user = spec_of(blob(300, c.d, 0.0, 7, c.spread * user_spread), 10, 3);
      StatSearchOptions every;
      every.separation_bounds = false;
      const auto a = lwd::statistical_search(Context{}, user, m.pack, {}, {}, z32);
      const auto b = lwd::statistical_search(Context{}, user, m.pack, {}, every, z32);
      EXPECT_EQ(b.settled, 0) << where;
      EXPECT_EQ(b.screened, b.candidates) << where;
      EXPECT_EQ(a.screened + a.settled, a.candidates) << where;
      settled_searches += a.settled > 0;
      fallbacks += a.bounds_fell_back;
      if (a.bounds_fell_back) EXPECT_EQ(a.settled, 0) << where;
      ASSERT_EQ(a.singles.size(), b.singles.size()) << where;
      for (std::size_t r = 0; r < a.singles.size(); ++r) {
        EXPECT_EQ(a.singles[r].id, b.singles[r].id) << where << ", single " << r;
        EXPECT_NEAR(a.singles[r].mmd2, b.singles[r].mmd2, 1e-12 * std::abs(b.singles[r].mmd2)) << where << ", single " << r;
        EXPECT_NEAR(a.singles[r].score, b.singles[r].score, 1e-6) << where << ", single " << r;
      }
      ASSERT_EQ(a.mixture.has_value(), b.mixture.has_value()) << where;
      if (a.mixture) {
        EXPECT_EQ(a.mixture->ids, b.mixture->ids) << where;
        for (std::size_t i = 0; i < a.mixture->weights.size(); ++i)
          EXPECT_NEAR(a.mixture->weights[i], b.mixture->weights[i], 1e-9) << where;
        EXPECT_NEAR(a.mixture->mmd2, b.mixture->mmd2, 1e-12 * std::abs(b.mixture->mmd2)) << where;
        EXPECT_NEAR(a.mixture->score, b.mixture->score, 1e-6) << where;
      }
    }
  }
  EXPECT_GE(settled_searches, 12);
  EXPECT_GE(fallbacks, 1);
}

// On a market of far-apart members, like the benchmark's (bench/bench_search),
// the bounds settle nearly every member: only the pool's candidates and the
// farthest ones are screened.
TEST(StatisticalSearch, SeparationBoundsSettleMostOfAMarketOfFarApartMembers) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  const std::int64_t d = 32;
  SpecPack pack;
  pack.type = "RKMETableSpecification";
  auto far_apart = [&](std::uint64_t seed) {
    std::vector<double> centre(static_cast<std::size_t>(d));
    for (double& v : centre) v = 2.0 * normal(rng);
    Matrix<double> x = blob(60, d, 0.0, seed);
    for (std::int64_t i = 0; i < x.rows(); ++i)
      for (std::int64_t j = 0; j < d; ++j) x(i, j) += centre[static_cast<std::size_t>(j)];
    return spec_of(std::move(x), 20, seed);
  };
  for (int i = 0; i < 400; ++i) pack.append(std::to_string(i), far_apart(static_cast<std::uint64_t>(i)));
  const RKMETableSpec user = far_apart(9999);
  const auto a = lwd::statistical_search(Context{}, user, pack, {}, {}, lwd::float32_mirror(pack));
  EXPECT_FALSE(a.bounds_fell_back);
  EXPECT_GE(a.settled, 340) << "screened " << a.screened;
}

// A pass over part of the pack gathers the members' rows when they are few
// and evaluates the whole pack in place when they are most of it; either
// way each member's distance is the one a pass over every member gives.
TEST(StatisticalSearch, DistancesOfPartOfThePackEqualThoseOfTheWholePack) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  std::vector<double> centres(40);
  for (double& c : centres) c = u(rng);
  const Market m = make_market(centres, 3, 71);
  const RKMETableSpec user = spec_of(blob(300, 3, 0.4, 17));
  const std::vector<double> all = lwd::batch_mmd2(Context{}, user, m.pack, {});
  for (std::int64_t every : {3, 1}) {  // a third of the pack, then all but a few
    std::vector<std::int64_t> part;
    for (std::int64_t i = 0; i < m.pack.count(); ++i) {
      if (every == 3 ? i % 3 == 1 : i % 9 != 4) part.push_back(m.pack.count() - 1 - i);  // out of order too
    }
    const std::vector<double> some = lwd::batch_mmd2(Context{}, user, m.pack, part);
    ASSERT_EQ(some.size(), part.size());
    for (std::size_t r = 0; r < part.size(); ++r) {
      EXPECT_EQ(some[r], all[static_cast<std::size_t>(part[r])]) << "member " << part[r];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, SearchAgreesWithPerPair,
                         ::testing::Values(MixtureMethod::kGreedy, MixtureMethod::kAuto),
                         [](const auto& info) { return info.param == MixtureMethod::kGreedy ? "greedy" : "auto"; });

// The user's data is drawn from two or three market learnwares' distributions.
struct Planted {
  Market market;
  RKMETableSpec user;
  std::vector<std::string> planted_ids;
};

Planted plant(const std::vector<std::size_t>& planted) {
  constexpr double kStep = 2.3;  // centres kStep apart on the diagonal: sqrt(3)·2.3 ≈ 4 apart in 3-d
  Planted p{make_market(spread_centres(20, kStep), 3, 500), {}, {}};
  std::vector<double> rows;
  for (std::size_t i = 0; i < planted.size(); ++i) {
    const Matrix<double> part = blob(300, 3, kStep * static_cast<double>(planted[i]), 900 + i);
    rows.insert(rows.end(), part.values().begin(), part.values().end());
    p.planted_ids.push_back(p.market.ids[planted[i]]);
  }
  p.user = spec_of(Matrix<double>(static_cast<std::int64_t>(rows.size() / 3), 3, rows), 30, 4);
  return p;
}

double weight_of(const lwd::MixtureMatch& m, const std::string& id) {
  const auto it = std::find(m.ids.begin(), m.ids.end(), id);
  return it == m.ids.end() ? 0.0 : m.weights[static_cast<std::size_t>(it - m.ids.begin())];
}

class GreedyPlantedMixture : public ::testing::TestWithParam<std::vector<std::size_t>> {};

TEST_P(GreedyPlantedMixture, ContainsEverySourceWithASubstantialWeight) {
  const Planted p = plant(GetParam());
  const auto r = lwd::statistical_search(Context{}, p.user, p.market.pack, {});
  ASSERT_TRUE(r.mixture.has_value());
  for (const auto& id : p.planted_ids) EXPECT_GT(weight_of(*r.mixture, id), 0.15) << id;
  // The mixture explains the data better than any single learnware.
  EXPECT_LT(r.mixture->mmd2, r.singles.front().mmd2);
  EXPECT_GE(r.mixture->score, r.singles.front().score);
}

INSTANTIATE_TEST_SUITE_P(TwoAndThreeSources, GreedyPlantedMixture,
                         ::testing::Values(std::vector<std::size_t>{3, 11}, std::vector<std::size_t>{2, 9, 16}));

// "auto" keeps learnwares by descending weight while the cumulative weight stays
// within 0.98, so with equal shares the last source can fall just past the
// cutoff (the reference's rule); what it keeps must be sources, at least two.
TEST(AutoPlantedMixture, KeepsOnlySourcesAndAtLeastTwoOfThree) {
  const Planted p = plant({2, 9, 16});
  StatSearchOptions o;
  o.method = MixtureMethod::kAuto;
  const auto r = lwd::statistical_search(Context{}, p.user, p.market.pack, {}, o);
  ASSERT_TRUE(r.mixture.has_value());
  EXPECT_GE(r.mixture->ids.size(), 2u);
  for (const auto& id : r.mixture->ids)
    EXPECT_NE(std::find(p.planted_ids.begin(), p.planted_ids.end(), id), p.planted_ids.end()) << id;
}

TEST(StatisticalSearch, UserDrawnFromOneLearnwareFindsItFirstAndNoMixture) {
  const Market m = make_market(spread_centres(15, 2.5), 3, 70);
  const RKMETableSpec user = spec_of(blob(500, 3, 2.5 * 6, 123));
  const auto r = lwd::statistical_search(Context{}, user, m.pack, {});
  ASSERT_FALSE(r.singles.empty());
  EXPECT_EQ(r.singles.front().id, m.ids[6]);
  EXPECT_GE(r.singles.front().score, 0.92);
  EXPECT_FALSE(r.mixture.has_value());
}

TEST(StatisticalSearch, SearchesOnlyTheListedMembers) {
  const Market m = make_market(spread_centres(10, 2.0), 3, 80);
  const RKMETableSpec user = spec_of(blob(300, 3, 2.0 * 4, 5));
  const std::vector<std::int64_t> members = {0, 1, 2, 8, 9};  // not 4, the true source
  const auto r = lwd::statistical_search(Context{}, user, m.pack, members);
  EXPECT_EQ(r.candidates, 5);
  for (const auto& s : r.singles) EXPECT_NE(s.id, m.ids[4]);
}

TEST(StatisticalSearch, SinglesAreSortedAndScoresInRange) {
  const Market m = make_market(spread_centres(25, 0.5), 4, 90);
  const RKMETableSpec user = spec_of(blob(300, 4, 3.3, 6));
  const auto r = lwd::statistical_search(Context{}, user, m.pack, {});
  ASSERT_FALSE(r.singles.empty());
  for (std::size_t i = 1; i < r.singles.size(); ++i) {
    EXPECT_LE(r.singles[i - 1].mmd2, r.singles[i].mmd2);
    EXPECT_GE(r.singles[i].score, 0.6);
  }
  for (const auto& s : r.singles) EXPECT_LE(s.score, 1.0 + 1e-12);
}

TEST(StatisticalSearch, IsIdenticalForOneAndTwoThreads) {
  const Market m = make_market(spread_centres(30, 0.4), 6, 91);
  const RKMETableSpec user = spec_of(blob(300, 6, 4.1, 7));
  const auto a = lwd::statistical_search(Context{.n_threads = 1}, user, m.pack, {});
  const auto b = lwd::statistical_search(Context{.n_threads = 2}, user, m.pack, {});
  ASSERT_EQ(a.singles.size(), b.singles.size());
  for (std::size_t i = 0; i < a.singles.size(); ++i) EXPECT_EQ(a.singles[i].mmd2, b.singles[i].mmd2);
}

TEST(StatisticalSearch, RejectsAUserOfAnotherWidth) {
  const Market m = make_market(spread_centres(3, 1.0), 3, 92);
  const RKMETableSpec user = spec_of(blob(100, 4, 0.0, 8));
  EXPECT_THROW(lwd::statistical_search(Context{}, user, m.pack, {}), lwd::Error);
}

TEST(StatisticalSearch, EmptyPackGivesNoResults) {
  SpecPack empty;
  empty.type = "RKMETableSpecification";
  const RKMETableSpec user = spec_of(blob(100, 4, 0.0, 8));
  const auto r = lwd::statistical_search(Context{}, user, empty, {});
  EXPECT_TRUE(r.singles.empty());
  EXPECT_FALSE(r.mixture.has_value());
}

TEST(DistancesToScores, EqualDistancesAllScoreOne) {
  const std::vector<double> d = {0.3, 0.3, 0.3};
  EXPECT_EQ(lwd::distances_to_scores(d), std::vector<double>(3, 1.0));
}

TEST(DistancesToScores, TopScoreIsAtLeast092AndScoresFallWithDistance) {
  const std::vector<double> d = {0.50, 0.52, 0.55, 0.9, 1.4};
  const auto s = lwd::distances_to_scores(d);
  EXPECT_GE(s.front(), 0.92 - 1e-12);
  for (std::size_t i = 1; i < s.size(); ++i) EXPECT_LE(s[i], s[i - 1]);
  EXPECT_GE(s.back(), 0.0);
}

TEST(DistancesToScores, MatchesTheRuleByHand) {
  // mean 0.4 -> epsilon 0.04; min 0.1 >= epsilon; top (0.9-0.1)/(0.9-0.04) = 0.9302 >= 0.92.
  const std::vector<double> d = {0.1, 0.2, 0.9};
  const auto s = lwd::distances_to_scores(d);
  EXPECT_NEAR(s[0], 0.8 / 0.86, 1e-12);
  EXPECT_NEAR(s[1], 0.7 / 0.86, 1e-12);
  EXPECT_NEAR(s[2], 0.0, 1e-12);  // below 0.7: sqrt(0) = 0
}

}  // namespace
