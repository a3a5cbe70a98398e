// The search indexes (engine/market/spec_index.h): the exact index returns the
// scan's top k, the approximate one finds planted neighbours, both follow adds
// and removals as a rebuild would, and a saved index reads back or is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/market/spec_index.h"
#include "engine/market/statistical_search.h"
#include "kernels/random.h"
#include "tests/support/scratch_dir.h"

namespace lwd {
namespace {

using kernels::Context;
using kernels::Matrix;
using kernels::Rng;

constexpr std::int64_t kDim = 5;

// A spec of k points around `centre`, weights on the simplex.
RKMETableSpec spec_near(const std::vector<double>& centre, double spread, std::int64_t k, double gamma, Rng& rng) {
  Matrix<double> z(k, kDim);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t c = 0; c < kDim; ++c) z(i, c) = centre[static_cast<std::size_t>(c)] + spread * rng.normal();
  std::vector<double> beta(static_cast<std::size_t>(k));
  double total = 0.0;
  for (auto& b : beta) total += (b = rng.uniform() + 0.1);
  for (auto& b : beta) b /= total;
  return RKMETableSpec(std::move(z), std::move(beta), gamma, 100);
}

std::vector<double> random_centre(Rng& rng, double scale) {
  std::vector<double> c(kDim);
  for (auto& v : c) v = scale * rng.normal();
  return c;
}

std::string id_of(std::int64_t i) {
  std::string s = std::to_string(i);
  return std::string(8 - s.size(), '0') + s;
}

// A market of `n` specs around `clusters` centres; every 17th spec is a copy
// of the one before (exact ties); `gammas` alternate.
struct TestMarket {
  std::vector<RKMETableSpec> specs;
  std::vector<std::vector<double>> centres;
};
TestMarket make_market(std::int64_t n, std::int64_t clusters, std::uint64_t seed, std::vector<double> gammas = {0.1}) {
  Rng rng(seed);
  TestMarket m;
  for (std::int64_t c = 0; c < clusters; ++c) m.centres.push_back(random_centre(rng, 2.0));
  for (std::int64_t i = 0; i < n; ++i) {
    if (i % 17 == 16) {
      m.specs.push_back(m.specs.back());
      continue;
    }
    const auto& centre = m.centres[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(clusters)))];
    std::vector<double> shifted = centre;
    for (auto& v : shifted) v += 0.4 * rng.normal();
    m.specs.push_back(spec_near(shifted, 0.5, 8, gammas[static_cast<std::size_t>(i) % gammas.size()], rng));
  }
  return m;
}

StoredPack pack_of(const std::vector<RKMETableSpec>& specs, const std::vector<std::int64_t>& which) {
  SpecPack p;
  p.type = "RKMETableSpecification";
  for (std::int64_t i : which) p.append(id_of(i), specs[static_cast<std::size_t>(i)]);
  return StoredPack(std::move(p));
}

// Every live member (a removed one leaves its slot behind, blanked).
std::vector<std::int64_t> all_members(const StoredPack& pack) {
  std::vector<std::int64_t> m;
  for (std::int64_t slot = 0; slot < pack.slots().count(); ++slot)
    if (pack.is_live(slot)) m.push_back(slot);
  return m;
}

// The scan's order: every member's MMD², ties kept in pack (ascending id) order.
std::vector<SpecIndex::Hit> brute_force(const Context& ctx, const RKMETableSpec& user, const StoredPack& pack) {
  const auto members = all_members(pack);
  const auto d = batch_mmd2(ctx, user, pack.slots(), members);
  std::vector<std::int64_t> order = members;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return d[static_cast<std::size_t>(a)] < d[static_cast<std::size_t>(b)]; });
  std::vector<SpecIndex::Hit> out;
  for (auto m : order) out.push_back({m, d[static_cast<std::size_t>(m)]});
  return out;
}

void expect_top_k(const std::vector<SpecIndex::Hit>& got, const std::vector<SpecIndex::Hit>& all, std::int64_t k,
                  const StoredPack& pack, const std::string& what) {
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(k), all.size());
  ASSERT_EQ(got.size(), n) << what;
  for (std::size_t r = 0; r < n; ++r) {
    EXPECT_EQ(pack.slots().ids[static_cast<std::size_t>(got[r].member)],
              pack.slots().ids[static_cast<std::size_t>(all[r].member)])
        << what << ", rank " << r;
    EXPECT_EQ(got[r].mmd2, all[r].mmd2) << what << ", rank " << r;
  }
}

std::vector<RKMETableSpec> users_of(const TestMarket& m, std::int64_t count, std::uint64_t seed, double gamma = 0.1) {
  Rng rng(seed);
  std::vector<RKMETableSpec> users;
  for (std::int64_t q = 0; q < count; ++q) {
    auto centre = m.centres[static_cast<std::size_t>(q) % m.centres.size()];
    for (auto& v : centre) v += 0.3 * rng.normal();
    users.push_back(spec_near(centre, 0.5, 10, gamma, rng));
  }
  // One far from everything, one equal to a member.
  users.push_back(spec_near(random_centre(rng, 6.0), 0.5, 10, gamma, rng));
  users.push_back(m.specs[5]);
  return users;
}

TEST(ExactIndex, ReturnsTheScansTopKForEveryK) {
  const Context ctx{.n_threads = 2};
  const TestMarket m = make_market(600, 12, 1);
  std::vector<std::int64_t> which(m.specs.size());
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  IndexOptions options;
  options.leaf_size = 4;
  const auto index = build_spec_index(ctx, pack, all_members(pack), IndexKind::kExact, options);
  ASSERT_EQ(index->size(), 600);
  for (const auto& user : users_of(m, 6, 2)) {
    const auto all = brute_force(ctx, user, pack);
    for (std::int64_t k : {1, 2, 3, 5, 16, 17, 25, 100, 599, 600, 700}) {
      const auto got = index->query(ctx, user, pack, k);
      expect_top_k(got, all, k, pack, "k=" + std::to_string(k));
    }
  }
}

TEST(ExactIndex, EvaluatesAFractionOfAClusteredMarket) {
  const Context ctx{.n_threads = 2};
  const TestMarket m = make_market(3000, 30, 3);
  std::vector<std::int64_t> which(m.specs.size());
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  const auto index = build_spec_index(ctx, pack, all_members(pack), IndexKind::kExact, IndexOptions{});
  IndexQueryStats stats;
  const auto users = users_of(m, 5, 4);
  std::int64_t evaluated = 0;
  for (const auto& user : users) {
    index->query(ctx, user, pack, 5, &stats);
    evaluated += stats.evaluations;
  }
  EXPECT_EQ(stats.members, 3000);
  EXPECT_LT(evaluated, static_cast<std::int64_t>(users.size()) * 3000 / 2);
}

// Domains of tasks of learnwares, as in bench/planted_market.h: the domains
// about equally far from one another (the kernel saturates), the tasks of one
// domain nearer, the learnwares of one task nearest. A query near a learnware
// opens the balls of its own task, not the market: a tree whose upper balls
// mixed the domains (a two-way split by the nearer of two centres) evaluated
// about half of such a market.
TEST(ExactIndex, EvaluatesFewMembersOfAMarketOfDomains) {
  const Context ctx{.n_threads = 2};
  constexpr std::int64_t kWide = 16;
  Rng rng(41);
  auto around = [&](const std::vector<double>& c, double by) {
    std::vector<double> out = c;
    for (auto& v : out) v += by * rng.normal();
    return out;
  };
  auto spec_at = [&](const std::vector<double>& centre) {
    Matrix<double> z(10, kWide);
    for (std::int64_t i = 0; i < 10; ++i)
      for (std::int64_t c = 0; c < kWide; ++c) z(i, c) = centre[static_cast<std::size_t>(c)] + 0.3 * rng.normal();
    std::vector<double> beta(10, 0.1);
    return RKMETableSpec(std::move(z), std::move(beta), 0.1, 100);
  };
  std::vector<RKMETableSpec> specs;
  std::vector<std::vector<double>> learnware_centres;
  for (int domain = 0; domain < 12; ++domain) {
    const auto dc = around(std::vector<double>(kWide, 0.0), 1.0);
    for (int task = 0; task < 8; ++task) {
      const auto tc = around(dc, 0.35);
      for (int l = 0; l < 25; ++l) {
        learnware_centres.push_back(around(tc, 0.1));
        specs.push_back(spec_at(learnware_centres.back()));
      }
    }
  }
  std::vector<std::int64_t> which(specs.size());
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(specs, which);
  const auto index = build_spec_index(ctx, pack, all_members(pack), IndexKind::kExact, IndexOptions{});
  std::int64_t evaluated = 0;
  constexpr int kUsers = 12;
  for (int q = 0; q < kUsers; ++q) {
    const auto user = spec_at(around(learnware_centres[static_cast<std::size_t>(rng.below(specs.size()))], 0.1));
    IndexQueryStats stats;
    const auto got = index->query(ctx, user, pack, 5, &stats);
    // The same members; each distance the scan's up to the last bits (at
    // this width a value depends slightly on where its rows fall in the
    // kernel's tiles, and the index evaluates members in small batches).
    const auto all = brute_force(ctx, user, pack);
    ASSERT_EQ(got.size(), 5u);
    for (std::size_t r = 0; r < got.size(); ++r) {
      EXPECT_EQ(got[r].member, all[r].member) << "rank " << r;
      EXPECT_NEAR(got[r].mmd2, all[r].mmd2, 1e-12) << "rank " << r;
    }
    evaluated += stats.evaluations;
  }
  const auto n = static_cast<std::int64_t>(specs.size());
  EXPECT_LT(evaluated, kUsers * n / 10) << "evaluated " << evaluated << " of " << kUsers * n;
}

TEST(ExactIndex, GroupsMembersByGammaAndMergesTheirAnswers) {
  const Context ctx{.n_threads = 1};
  const TestMarket m = make_market(300, 6, 5, {0.1, 0.3});
  std::vector<std::int64_t> which(m.specs.size());
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  const auto index = build_spec_index(ctx, pack, all_members(pack), IndexKind::kExact, IndexOptions{.leaf_size = 3});
  for (const auto& user : users_of(m, 4, 6)) {
    const auto all = brute_force(ctx, user, pack);
    for (std::int64_t k : {1, 5, 25, 300}) expect_top_k(index->query(ctx, user, pack, k), all, k, pack, "two gammas");
  }
}

// Adds, removals and updates (a removal, then an add of the new spec) one at
// a time; the answers must be those of the scan and of an index built on the
// final market at once.
void check_follows_changes(IndexKind kind) {
  const Context ctx{.n_threads = 2};
  const TestMarket m = make_market(900, 10, 7);
  const TestMarket replacements = make_market(50, 10, 8);
  IndexOptions options;
  options.leaf_size = 4;
  std::vector<std::int64_t> which(300);
  std::iota(which.begin(), which.end(), 0);
  SpecPack p;
  p.type = "RKMETableSpecification";
  for (std::int64_t i : which) p.append(id_of(i), m.specs[static_cast<std::size_t>(i)]);
  StoredPack pack(std::move(p));
  auto index = build_spec_index(ctx, pack, all_members(pack), kind, options);
  Rng rng(9);
  std::vector<std::int64_t> live = which;
  for (std::int64_t i = 300; i < 900; ++i) {
    SpecPack one;
    one.type = "RKMETableSpecification";
    one.append(id_of(i), m.specs[static_cast<std::size_t>(i)]);
    pack.append_member_of(one, 0);
    index->add(ctx, pack, *pack.find(id_of(i)));
    live.push_back(i);
    if (i % 3 == 0) {  // a removal
      const auto victim = live[static_cast<std::size_t>(rng.below(live.size()))];
      std::erase(live, victim);
      pack.remove(id_of(victim));
      ASSERT_TRUE(index->remove(ctx, pack, id_of(victim)));
    }
    if (i % 20 == 0) {  // an update: a new spec under the same id
      const auto target = live[static_cast<std::size_t>(rng.below(live.size()))];
      SpecPack one2;
      one2.type = "RKMETableSpecification";
      one2.append(id_of(target), replacements.specs[static_cast<std::size_t>(i / 20)]);
      pack.append_member_of(one2, 0);
      ASSERT_TRUE(index->remove(ctx, pack, id_of(target)));
      index->add(ctx, pack, *pack.find(id_of(target)));
    }
  }
  ASSERT_EQ(index->size(), pack.count());
  // The pack appends in arrival order; the scan lists by id: reorder a copy.
  std::vector<std::string> ids = pack.slots().ids;
  std::erase(ids, std::string());  // removed slots
  std::sort(ids.begin(), ids.end());
  SpecPack ordered;
  ordered.type = "RKMETableSpecification";
  ordered.dim = kDim;
  for (const auto& id : ids) ordered.append_member_of(pack.slots(), *pack.find(id));
  const StoredPack scan_pack(std::move(ordered));
  const auto rebuilt = build_spec_index(ctx, scan_pack, all_members(scan_pack), kind, options);
  auto sorted_fingerprints = [](const SpecIndex& i) {
    auto f = i.fingerprints();
    std::sort(f.begin(), f.end());
    return f;
  };
  EXPECT_EQ(sorted_fingerprints(*index), sorted_fingerprints(*rebuilt));
  for (const auto& user : users_of(m, 5, 10)) {
    const auto all = brute_force(ctx, user, scan_pack);
    for (std::int64_t k : {1, 5, 25}) {
      const auto a = index->query(ctx, user, pack, k);
      const auto b = rebuilt->query(ctx, user, scan_pack, k);
      ASSERT_EQ(a.size(), b.size());
      if (kind == IndexKind::kApprox) {
        // Two graphs built in different orders differ; both find the nearest.
        EXPECT_EQ(pack.slots().ids[static_cast<std::size_t>(a[0].member)],
                  scan_pack.slots().ids[static_cast<std::size_t>(all[0].member)]);
        EXPECT_EQ(b[0].member, all[0].member);
        continue;
      }
      for (std::size_t r = 0; r < a.size(); ++r) {
        EXPECT_EQ(pack.slots().ids[static_cast<std::size_t>(a[r].member)],
                  scan_pack.slots().ids[static_cast<std::size_t>(b[r].member)]) << "k=" << k << " rank " << r;
        EXPECT_EQ(a[r].mmd2, b[r].mmd2);
      }
      expect_top_k(b, all, k, scan_pack, "rebuilt");
    }
  }
}

TEST(ExactIndex, FollowsAddsRemovalsAndUpdatesAsARebuild) { check_follows_changes(IndexKind::kExact); }
TEST(ApproxIndex, FollowsAddsRemovalsAndUpdatesAsARebuild) { check_follows_changes(IndexKind::kApprox); }

TEST(ApproxIndex, FindsPlantedNeighbours) {
  // Planted: each user is drawn near one member; recall@5 against the exact
  // top 5 over many users.
  const Context ctx{.n_threads = 2};
  const TestMarket m = make_market(4000, 40, 11);
  std::vector<std::int64_t> which(m.specs.size());
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  IndexOptions options;
  const auto index = build_spec_index(ctx, pack, all_members(pack), IndexKind::kApprox, options);
  Rng rng(12);
  std::int64_t found = 0;
  std::int64_t wanted = 0;
  for (int q = 0; q < 60; ++q) {
    const auto& near = m.specs[static_cast<std::size_t>(rng.below(m.specs.size()))];
    Matrix<double> z = near.z();
    for (auto& v : z.values()) v += 0.2 * rng.normal();
    const RKMETableSpec user(std::move(z), near.beta(), 0.1, 100);
    const auto all = brute_force(ctx, user, pack);
    const auto got = index->query(ctx, user, pack, 5);
    for (std::size_t r = 0; r < 5; ++r) {
      ++wanted;
      found += std::any_of(got.begin(), got.end(), [&](const auto& h) { return h.member == all[r].member; }) ? 1 : 0;
    }
    // Every distance reported is the exact one.
    for (const auto& h : got) {
      const auto it = std::find_if(all.begin(), all.end(), [&](const auto& a) { return a.member == h.member; });
      EXPECT_EQ(h.mmd2, it->mmd2);
    }
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(wanted), 0.97);
}

class SavedIndex : public ::testing::TestWithParam<IndexKind> {};

TEST_P(SavedIndex, ReadsBackAndCatchesUpWithChanges) {
  const Context ctx{.n_threads = 2};
  test::ScratchDir dir;
  const TestMarket m = make_market(500, 8, 13);
  std::vector<std::int64_t> first(400);
  std::iota(first.begin(), first.end(), 0);
  const StoredPack before = pack_of(m.specs, first);
  const auto index = build_spec_index(ctx, before, all_members(before), GetParam(), IndexOptions{});
  const auto path = dir.path() / "index.bin";
  index->save(path, 41);
  // The market moves on: 100 more, 30 of the first gone.
  std::vector<std::int64_t> now;
  for (std::int64_t i = 30; i < 500; ++i) now.push_back(i);
  const StoredPack after = pack_of(m.specs, now);
  LoadedIndex loaded = load_spec_index(path, GetParam(), IndexOptions{});
  EXPECT_EQ(loaded.stamp, 41);
  const IndexCatchUp caught = catch_up_spec_index(ctx, *loaded.index, after, all_members(after));
  EXPECT_EQ(caught.removed, 30);
  EXPECT_EQ(caught.added, 100);
  const auto rebuilt = build_spec_index(ctx, after, all_members(after), GetParam(), IndexOptions{});
  for (const auto& user : users_of(m, 4, 14)) {
    const auto a = loaded.index->query(ctx, user, after, 10);
    const auto b = rebuilt->query(ctx, user, after, 10);
    if (GetParam() == IndexKind::kExact) {
      ASSERT_EQ(a.size(), b.size());
      for (std::size_t r = 0; r < a.size(); ++r) EXPECT_EQ(a[r].member, b[r].member);
    } else {
      EXPECT_EQ(a.front().member, b.front().member);
    }
  }
}

TEST_P(SavedIndex, ADamagedFileIsRefused) {
  const Context ctx{.n_threads = 1};
  test::ScratchDir dir;
  const TestMarket m = make_market(120, 4, 15);
  std::vector<std::int64_t> which(120);
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  const auto path = dir.path() / "index.bin";
  build_spec_index(ctx, pack, all_members(pack), GetParam(), IndexOptions{})->save(path, 1);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
    f.put('\x5a');
  }
  EXPECT_THROW(load_spec_index(path, GetParam(), IndexOptions{}), Error);
  std::filesystem::resize_file(path, 40);
  EXPECT_THROW(load_spec_index(path, GetParam(), IndexOptions{}), Error);
  EXPECT_THROW(load_spec_index(dir.path() / "missing.bin", GetParam(), IndexOptions{}), Error);
}

TEST(SavedIndex, AnIndexOfOtherSettingsIsRefused) {
  const Context ctx{.n_threads = 1};
  test::ScratchDir dir;
  const TestMarket m = make_market(60, 4, 16);
  std::vector<std::int64_t> which(60);
  std::iota(which.begin(), which.end(), 0);
  const StoredPack pack = pack_of(m.specs, which);
  const auto path = dir.path() / "index.bin";
  build_spec_index(ctx, pack, all_members(pack), IndexKind::kApprox, IndexOptions{})->save(path, 1);
  EXPECT_THROW(load_spec_index(path, IndexKind::kExact, IndexOptions{}), Error);
  EXPECT_THROW(load_spec_index(path, IndexKind::kApprox, IndexOptions{.rff_frequencies = 64}), Error);
  build_spec_index(ctx, pack, all_members(pack), IndexKind::kExact, IndexOptions{})->save(path, 1);
  EXPECT_THROW(load_spec_index(path, IndexKind::kExact, IndexOptions{.leaf_size = 4}), Error);
  EXPECT_THROW(load_spec_index(path, IndexKind::kExact, IndexOptions{.max_children = 16}), Error);
  EXPECT_NO_THROW(load_spec_index(path, IndexKind::kExact, IndexOptions{}));
}

// A file of the two-way tree that came before (its body began with the leaf
// size), with a valid checksum: refused as an older version, so the market
// rebuilds it.
TEST(SavedIndex, AnExactIndexOfTheOlderLayoutIsRefusedByName) {
  test::ScratchDir dir;
  const auto path = dir.path() / "old.idx";
  std::string bytes("LWDIDX01", 8);
  auto put = [&](auto v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(static_cast<std::int32_t>(IndexKind::kExact));
  put(static_cast<std::int64_t>(7));  // stamp
  put(static_cast<std::int64_t>(8));  // the old layout's leaf size
  put(static_cast<std::uint64_t>(0));  // no slots
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, the file's checksum
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  put(h);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  try {
    load_spec_index(path, IndexKind::kExact, IndexOptions{});
    FAIL() << "an index of the older layout was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("older version"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, SavedIndex, ::testing::Values(IndexKind::kExact, IndexKind::kApprox),
                         [](const auto& info) { return std::string(index_kind_name(info.param)); });

}  // namespace
}  // namespace lwd
