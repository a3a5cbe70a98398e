#include "engine/market/statistical_search.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <type_traits>

#include "engine/error.h"
#include "kernels/rkme.h"
#include "kernels/rkme_bound.h"
#include "kernels/simplex_qp.h"

namespace lwd {

namespace {

using kernels::ConstMatrixView;
using kernels::Context;
using kernels::Matrix;

// Inner products among the pool and with the user, however they are obtained.
struct PoolProducts {
  std::function<double(std::int64_t, std::int64_t)> k;  // <m_i, m_j>
  std::function<double(std::int64_t)> c;                // <u, m_i>
  double uu = 0.0;                                      // <u, u>
};

struct Mixture {
  std::vector<std::int64_t> members;  // pool indices
  std::vector<double> weights;
  double mmd2 = 0.0;
};

// Mixture weights of `members`: argmin over the simplex of ½ wᵀKw − cᵀw; the
// mixture's MMD² is <u,u> + 2·objective.
Mixture solve_mixture(const PoolProducts& p, const std::vector<std::int64_t>& members) {
  const auto n = static_cast<std::int64_t>(members.size());
  Matrix<double> k(n, n);
  std::vector<double> c(static_cast<std::size_t>(n));
  for (std::int64_t a = 0; a < n; ++a) {
    c[static_cast<std::size_t>(a)] = p.c(members[static_cast<std::size_t>(a)]);
    for (std::int64_t b = 0; b < n; ++b) k(a, b) = p.k(members[static_cast<std::size_t>(a)], members[static_cast<std::size_t>(b)]);
  }
  const auto qp = kernels::solve_simplex_qp(k.view(), c);
  return Mixture{members, qp.x, p.uu + 2.0 * qp.objective};
}

// Greedy: grow the set one learnware at a time, each time the one giving the
// smallest mixture distance; stop when that is not below decay × current.
std::optional<Mixture> greedy_mixture(const PoolProducts& p, std::int64_t pool, int max_search_num, double decay) {
  if (pool == 0) return std::nullopt;
  const std::int64_t rounds = std::min<std::int64_t>(max_search_num, pool);
  std::vector<char> taken(static_cast<std::size_t>(pool), 0);
  std::optional<Mixture> current;
  for (std::int64_t round = 0; round < rounds; ++round) {
    std::optional<Mixture> best;
    for (std::int64_t cand = 0; cand < pool; ++cand) {
      if (taken[static_cast<std::size_t>(cand)]) continue;
      std::vector<std::int64_t> members = current ? current->members : std::vector<std::int64_t>{};
      members.push_back(cand);
      Mixture m = solve_mixture(p, members);
      if (!best || m.mmd2 < best->mmd2) best = std::move(m);
    }
    if (current && !(best->mmd2 <= current->mmd2 * decay)) break;
    taken[static_cast<std::size_t>(best->members.back())] = 1;
    current = std::move(best);
  }
  return current;
}

// Auto: weights over the whole pool; keep learnwares by descending weight while
// the cumulative weight stays within the cutoff, then re-solve on those.
std::optional<Mixture> auto_mixture(const PoolProducts& p, std::int64_t pool, int max_search_num, double cutoff,
                                    std::span<const double> pool_mmd2) {
  if (pool == 0) return std::nullopt;
  std::vector<std::int64_t> all(static_cast<std::size_t>(pool));
  std::iota(all.begin(), all.end(), 0);
  const Mixture whole = solve_mixture(p, all);
  std::vector<std::int64_t> order = all;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return whole.weights[static_cast<std::size_t>(a)] > whole.weights[static_cast<std::size_t>(b)];
  });
  std::vector<std::int64_t> chosen;
  double cumulative = 0.0;
  for (std::int64_t idx : order) {
    cumulative += whole.weights[static_cast<std::size_t>(idx)];
    if (cumulative > cutoff) break;
    chosen.push_back(idx);
  }
  if (chosen.size() <= 1) {
    const std::int64_t top = order.front();
    return Mixture{{top}, {1.0}, pool_mmd2[static_cast<std::size_t>(top)]};
  }
  if (static_cast<std::int64_t>(chosen.size()) > max_search_num) chosen.resize(static_cast<std::size_t>(max_search_num));
  return solve_mixture(p, chosen);
}

double image_transform(double d) { return 1.0 - std::exp(-d / 5e-5); }

// The distances in order and the mixture found on the pool they give.
struct Ranked {
  std::vector<std::int64_t> order;  // positions with a finite distance, nearest first
  std::optional<Mixture> mixture;   // members are indices into order
};

Ranked rank_and_pool(const std::vector<double>& mmd2,
                     const std::function<PoolProducts(const std::vector<std::int64_t>&)>& pool_products,
                     const StatSearchOptions& options) {
  Ranked ranked;
  std::vector<std::int64_t>& order = ranked.order;
  for (std::size_t i = 0; i < mmd2.size(); ++i)
    if (std::isfinite(mmd2[i])) order.push_back(static_cast<std::int64_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return mmd2[static_cast<std::size_t>(a)] < mmd2[static_cast<std::size_t>(b)];
  });
  if (order.empty()) return ranked;
  const double nearest = mmd2[static_cast<std::size_t>(order.front())];
  const std::int64_t pool_size = std::min<std::int64_t>(
      static_cast<std::int64_t>(order.size()),
      static_cast<std::int64_t>(options.max_search_num) * options.max_search_num);
  if (nearest > 0.0 && options.max_search_num > 1) {
    const std::vector<std::int64_t> pool(order.begin(), order.begin() + pool_size);
    const PoolProducts products = pool_products(pool);
    if (options.method == MixtureMethod::kGreedy) {
      ranked.mixture = greedy_mixture(products, pool_size, options.max_search_num, options.greedy_decay);
    } else {
      std::vector<double> pool_mmd2(static_cast<std::size_t>(pool_size));
      for (std::int64_t r = 0; r < pool_size; ++r) pool_mmd2[static_cast<std::size_t>(r)] = mmd2[static_cast<std::size_t>(order[static_cast<std::size_t>(r)])];
      ranked.mixture = auto_mixture(products, pool_size, options.max_search_num, options.auto_weight_cutoff, pool_mmd2);
    }
    if (ranked.mixture && ranked.mixture->members.size() <= 1) ranked.mixture.reset();  // a mixture of one is no mixture
  }
  return ranked;
}

// The discrete choices score_and_select makes: how many singles it keeps,
// whether it lifts a lone weak single, and the percentages it compares to
// drop a mixture that scores as the top single does.
struct Choices {
  std::size_t kept = 0;
  bool lifted = false;
  int top_percent = 0;
  int mixture_percent = -1;  // -1: no mixture to compare
  bool operator==(const Choices&) const = default;
};

// Scores, the singles kept and whether the mixture is reported, from the
// distances in order (the ranking's, or the same positions' distances moved
// within their intervals: `distances` need not be the ones ranked).
StatSearchResult score_and_select(const std::vector<std::string>& ids, const std::vector<double>& distances,
                                  const Ranked& ranked, const StatSearchOptions& options, Choices* choices = nullptr) {
  StatSearchResult result;
  result.candidates = static_cast<std::int64_t>(ids.size());
  const std::vector<std::int64_t>& order = ranked.order;
  if (order.empty()) return result;
  std::optional<Mixture> mixture = ranked.mixture;
  std::vector<double> scored(order.size());
  for (std::size_t r = 0; r < order.size(); ++r) scored[r] = distances[static_cast<std::size_t>(order[r])];
  double mixture_dist = mixture ? mixture->mmd2 : 0.0;
  if (options.image_distance_transform) {
    for (double& d : scored) d = image_transform(d);
    mixture_dist = image_transform(mixture_dist);
  }
  if (mixture) scored.push_back(mixture_dist);
  std::vector<double> scores = distances_to_scores(scored);
  double mixture_score = 0.0;
  Choices made;
  made.top_percent = static_cast<int>(scores.front() * 100);
  if (mixture) {
    mixture_score = scores.back();
    scores.pop_back();
    made.mixture_percent = static_cast<int>(mixture_score * 100);
    if (made.mixture_percent == made.top_percent) mixture.reset();
  }

  std::size_t keep = 1;
  while (keep < scores.size() && scores[keep] >= options.single_min_score) ++keep;
  made.kept = keep;
  made.lifted = keep == 1 && scores.front() < options.single_min_score;
  if (choices) *choices = made;
  if (made.lifted) {
    // Lift a lone, weak top result to the threshold and the mixture with it, as the reference does.
    const double ratio = std::abs(scores.front()) < 1e-5 ? 100.0 : options.single_min_score / scores.front();
    scores.front() = options.single_min_score;
    if (mixture) mixture_score = std::min(1.0, mixture_score * ratio);
  }
  for (std::size_t r = 0; r < keep; ++r) {
    const auto i = static_cast<std::size_t>(order[r]);
    result.singles.push_back(SingleMatch{ids[i], scores[r], distances[i]});
  }
  if (mixture) {
    MixtureMatch m;
    for (std::int64_t pool_index : mixture->members) m.ids.push_back(ids[static_cast<std::size_t>(order[static_cast<std::size_t>(pool_index)])]);
    m.weights = mixture->weights;
    m.score = mixture_score;
    m.mmd2 = mixture->mmd2;
    result.mixture = std::move(m);
  }
  return result;
}

// Everything after the distances: order, pool, mixture, scores, filtering.
StatSearchResult rank_and_mix(const std::vector<std::string>& ids, const std::vector<double>& mmd2,
                              const std::function<PoolProducts(const std::vector<std::int64_t>&)>& pool_products,
                              const StatSearchOptions& options) {
  return score_and_select(ids, mmd2, rank_and_pool(mmd2, pool_products, options), options);
}

void require_searchable(const RKMETableSpec& user) {
  if (user.empty()) throw Error("search: the user's specification is empty");
  const double self = user.dist(user);
  if (!std::isfinite(self)) throw Error("search: the user's specification has a non-finite self distance");
}

void require_pack_width(const RKMETableSpec& user, const SpecPack& pack) {
  if (pack.count() > 0 && user.dim() != pack.dim) {
    throw Error("search: the user's specification has width " + std::to_string(user.dim()) + " but the pack " +
                spec_pack_key(pack.type, pack.dim) + " has width " + std::to_string(pack.dim));
  }
}

std::vector<std::int64_t> all_members_if_empty(std::span<const std::int64_t> members, std::int64_t count) {
  if (!members.empty()) return {members.begin(), members.end()};
  std::vector<std::int64_t> all(static_cast<std::size_t>(count));
  std::iota(all.begin(), all.end(), 0);
  return all;
}

// <u, m> for the RKMEs packed in (z, beta, offsets): the kernel's batch call.
// With several ranks each evaluates a share of whole row blocks
// (kernels::kRkmeBatchRowBlock), the rows' values are gathered in rank order
// and every rank sums them per RKME as the batch call does: each product is
// the one-rank product bit for bit, whatever the rank count.
template <class T>
void batch_inner(const Context& ctx, const RKMETableSpec& user, kernels::ConstMatrixView<T> z,
                 std::span<const double> beta, std::span<const std::int64_t> offsets, double gamma,
                 std::span<double> out, const dist::Communicator* comm) {
  if (dist::is_single(comm)) {
    if constexpr (std::is_same_v<T, float>) {
      kernels::rkme_batch_inner_products_f32(ctx, user.z().view(), user.beta(), z, beta, offsets, gamma, out);
    } else {
      kernels::rkme_batch_inner_products(ctx, user.z().view(), user.beta(), z, beta, offsets, gamma, out);
    }
    return;
  }
  const std::int64_t block = kernels::kRkmeBatchRowBlock;
  const auto blocks = static_cast<std::size_t>((z.rows + block - 1) / block);
  const dist::Shard share = dist::shard_of(blocks, comm->rank(), comm->size());
  const std::int64_t begin = std::min<std::int64_t>(static_cast<std::int64_t>(share.begin) * block, z.rows);
  const std::int64_t end = std::min<std::int64_t>(static_cast<std::int64_t>(share.end) * block, z.rows);
  std::vector<double> mine(static_cast<std::size_t>(end - begin));
  if (end > begin) {
    if constexpr (std::is_same_v<T, float>) {
      kernels::rkme_batch_attraction_f32(ctx, user.z().view(), user.beta(), z, gamma, begin, end, mine);
    } else {
      kernels::rkme_batch_attraction(ctx, user.z().view(), user.beta(), z, gamma, begin, end, mine);
    }
  }
  const std::vector<double> attraction = dist::allgather_doubles(*comm, mine);
  if (static_cast<std::int64_t>(attraction.size()) != z.rows)
    throw Error("search: the ranks' shares do not add up to the rows searched");
  kernels::rkme_segmented_sums(beta, offsets, attraction, out);
}

}  // namespace

std::vector<double> distances_to_scores(std::span<const double> distances) {
  constexpr double kDistRatio = 0.1;
  constexpr double kMinTopScore = 0.92;
  constexpr double kImproveBelow = 0.7;
  if (distances.empty()) return {};
  const auto [lo, hi] = std::minmax_element(distances.begin(), distances.end());
  const double min_dist = *lo;
  const double max_dist = *hi;
  if (min_dist == max_dist) return std::vector<double>(distances.size(), 1.0);
  const double mean = std::accumulate(distances.begin(), distances.end(), 0.0) / static_cast<double>(distances.size());
  // epsilon is the distance that would score 1: a tenth of the mean, moved so
  // that the best result scores at least kMinTopScore.
  double epsilon = mean * kDistRatio;
  const double top_score = (max_dist - min_dist) / (max_dist - epsilon);
  if (min_dist < epsilon) {
    epsilon = min_dist;
  } else if (top_score < kMinTopScore) {
    epsilon = max_dist - (max_dist - min_dist) / kMinTopScore;
  }
  std::vector<double> scores(distances.size());
  for (std::size_t i = 0; i < distances.size(); ++i) {
    double s = (max_dist - distances[i]) / (max_dist - epsilon);
    if (s < kImproveBelow) s = std::min(std::sqrt(std::max(s, 0.0)), kImproveBelow);
    scores[i] = s;
  }
  return scores;
}

namespace {

// Rows gathered at a time for a pass over part of the pack: a copy of at most
// 2^16 rows (8 MiB of float32 Z at width 32) however large the pack.
constexpr std::int64_t kGatherChunkRows = std::int64_t{1} << 16;

// The rows of some members of the pack, back to back: their Z (from `z`, the
// pack's Z or its float32 mirror), betas and offsets.
template <class T>
struct GatheredRows {
  std::vector<T> z;
  std::vector<double> beta;
  std::vector<std::int64_t> offsets{0};
};

template <class T>
GatheredRows<T> gather_rows(const SpecPack& pack, const T* z, const std::vector<std::int64_t>& list,
                            const std::vector<std::size_t>& positions) {
  std::int64_t rows = 0;
  for (std::size_t r : positions) {
    const auto m = static_cast<std::size_t>(list[r]);
    rows += pack.offsets[m + 1] - pack.offsets[m];
  }
  GatheredRows<T> g;
  g.z.reserve(static_cast<std::size_t>(rows * pack.dim));
  g.beta.reserve(static_cast<std::size_t>(rows));
  g.offsets.reserve(positions.size() + 1);
  for (std::size_t r : positions) {
    const auto m = static_cast<std::size_t>(list[r]);
    const std::int64_t r0 = pack.offsets[m];
    const std::int64_t r1 = pack.offsets[m + 1];
    g.z.insert(g.z.end(), z + r0 * pack.dim, z + r1 * pack.dim);
    g.beta.insert(g.beta.end(), pack.beta.begin() + r0, pack.beta.begin() + r1);
    g.offsets.push_back(g.offsets.back() + (r1 - r0));
  }
  return g;
}

// MMD²(user, m) for the members list[r], r in `positions`, written to
// out[r]: the batched cross products (float64 from the pack's Z, or float32
// from its mirror `z32`) and the precomputed self products. The reference
// measures MMD²(m, u) with m's gamma; members almost always share one gamma,
// so this is one batched pass per distinct gamma. A pass over most of the
// pack reads it in place, evaluating the members it does not need too; a pass
// over a smaller part (a semantic filter, a second gamma, the float32
// screen's survivors, the members the separation bounds leave to the screen)
// first gathers those members' rows, which costs a copy of O(rows · d)
// against the O(rows · K · d) kernel work it saves. Each member's value is
// the same either way up to the last bits in float64 (a kernel value depends
// slightly on where its row falls in the kernel's tiles) and bit for bit in
// float32 (whose pass pads its tiles so that it does not); the ranks of a
// sharded search (batch_inner) keep the very rows and tiles of this
// one-process pass, so theirs are exact. max_cross, when given, gets the
// largest |<u, m>| seen; cross, when not empty, gets cross[r] = <u, m>.
template <class T>
void batch_mmd2_into(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack, const T* z,
                     const std::vector<std::int64_t>& list, const std::vector<std::size_t>& positions,
                     std::span<double> out, double* max_cross, const dist::Communicator* comm,
                     std::span<double> cross = {}) {
  std::map<double, std::vector<std::size_t>> by_gamma;
  for (std::size_t r : positions) by_gamma[pack.gamma[static_cast<std::size_t>(list[r])]].push_back(r);
  std::vector<double> inner;
  for (const auto& [gamma, group] : by_gamma) {
    const double uu = kernels::rkme_inner_product(ctx, user.z().view(), user.beta(), user.z().view(), user.beta(), gamma);
    auto put = [&](std::size_t r, double product) {
      out[r] = pack.self_inner[static_cast<std::size_t>(list[r])] - 2.0 * product + uu;
      if (max_cross) *max_cross = std::max(*max_cross, std::abs(product));
      if (!cross.empty()) cross[r] = product;
    };
    // In float32 a row's value does not depend on where it sits, so any part
    // of the pack short of all of it is gathered, in chunks of bounded size;
    // in float64 the in-place pass keeps most of the pack's values as a pass
    // over all of it gives them.
    const bool in_place = std::is_same_v<T, float> ? static_cast<std::int64_t>(group.size()) == pack.count()
                                                   : 2 * static_cast<std::int64_t>(group.size()) >= pack.count();
    if (in_place) {
      inner.resize(static_cast<std::size_t>(pack.count()));
      batch_inner(ctx, user, kernels::ConstMatrixView<T>(z, pack.total_rows(), pack.dim), pack.beta, pack.offsets,
                  gamma, std::span<double>(inner), comm);
      for (std::size_t r : group) put(r, inner[static_cast<std::size_t>(list[r])]);
      continue;
    }
    std::size_t next = 0;
    while (next < group.size()) {
      std::vector<std::size_t> chunk;
      std::int64_t rows = 0;
      for (; next < group.size() && (chunk.empty() || rows < kGatherChunkRows); ++next) {
        const auto m = static_cast<std::size_t>(list[group[next]]);
        chunk.push_back(group[next]);
        rows += pack.offsets[m + 1] - pack.offsets[m];
      }
      const GatheredRows<T> g = gather_rows(pack, z, list, chunk);
      inner.resize(chunk.size());
      batch_inner(ctx, user, kernels::ConstMatrixView<T>(g.z.data(), g.offsets.back(), pack.dim),
                  std::span<const double>(g.beta), std::span<const std::int64_t>(g.offsets), gamma,
                  std::span<double>(inner), comm);
      for (std::size_t i = 0; i < chunk.size(); ++i) put(chunk[i], inner[i]);
    }
  }
}

std::vector<std::size_t> every_position(std::size_t n) {
  std::vector<std::size_t> all(n);
  std::iota(all.begin(), all.end(), std::size_t{0});
  return all;
}

std::vector<double> batch_mmd2_on(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                  std::span<const std::int64_t> members, const dist::Communicator* comm) {
  require_pack_width(user, pack);
  const std::vector<std::int64_t> list = all_members_if_empty(members, pack.count());
  std::vector<double> out(list.size());
  batch_mmd2_into(ctx, user, pack, pack.z.data(), list, every_position(list.size()), out, nullptr, comm);
  return out;
}

std::vector<double> batch_mmd2_float32_on(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                          std::span<const float> z32, std::span<const std::int64_t> members,
                                          double* max_cross, const dist::Communicator* comm) {
  require_pack_width(user, pack);
  if (z32.size() != pack.z.size()) throw Error("search: the float32 mirror does not match the pack");
  const std::vector<std::int64_t> list = all_members_if_empty(members, pack.count());
  std::vector<double> out(list.size());
  if (max_cross) *max_cross = 0.0;
  batch_mmd2_into(ctx, user, pack, z32.data(), list, every_position(list.size()), out, max_cross, comm);
  return out;
}

// Separation bounds (docs/DESIGN.md §4.3): an interval for every listed
// member's distance from a bound on its cross product (kernels/rkme_bound.h),
// then the members settled without the screen: those whose interval lies
// wholly above the pool's boundary (the max_search_num²-th smallest upper
// end) and wholly below the largest lower end (so neither in the pool nor the
// farthest distance, which scores use), each with room for the screen's
// margin. A settled member's mmd2 is the middle of its interval; max_cross
// gets the largest bound of a settled member's cross product.
void settle_by_bounds(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack, std::span<const float> z32,
                      const std::vector<std::int64_t>& list, const StatSearchOptions& options,
                      std::vector<char>& settled, std::vector<double>& lo, std::vector<double>& hi,
                      std::vector<double>& mmd2, double& max_cross) {
  const std::size_t n = list.size();
  std::vector<double> gammas(n);
  for (std::size_t r = 0; r < n; ++r) gammas[r] = pack.gamma[static_cast<std::size_t>(list[r])];
  std::vector<double> cross_lo(n), cross_hi(n);
  kernels::rkme_cross_bounds_f32(ctx, user.z().view(), user.beta(),
                                 kernels::ConstMatrixView<float>(z32.data(), pack.total_rows(), pack.dim), pack.beta,
                                 pack.offsets, list, gammas, cross_lo, cross_hi);
  std::map<double, double> uu;
  for (double g : gammas)
    if (!uu.count(g)) uu[g] = kernels::rkme_inner_product(ctx, user.z().view(), user.beta(), user.z().view(), user.beta(), g);
  lo.assign(n, -std::numeric_limits<double>::infinity());
  hi.assign(n, std::numeric_limits<double>::infinity());
  std::vector<double> finite_hi;
  double max_lo = -std::numeric_limits<double>::infinity();
  double max_bound = 0.0;
  for (std::size_t r = 0; r < n; ++r) {
    const double base = pack.self_inner[static_cast<std::size_t>(list[r])] + uu[gammas[r]];
    lo[r] = base - 2.0 * cross_hi[r];
    hi[r] = base - 2.0 * cross_lo[r];
    if (!std::isfinite(lo[r]) || !std::isfinite(hi[r])) continue;
    finite_hi.push_back(hi[r]);
    max_lo = std::max(max_lo, lo[r]);
    max_bound = std::max(max_bound, std::max(std::abs(cross_lo[r]), std::abs(cross_hi[r])));
  }
  const std::size_t pool = std::min<std::size_t>(
      finite_hi.size(), static_cast<std::size_t>(options.max_search_num) * options.max_search_num);
  if (pool == 0) return;
  std::nth_element(finite_hi.begin(), finite_hi.begin() + static_cast<std::ptrdiff_t>(pool - 1), finite_hi.end());
  const double pool_boundary = finite_hi[pool - 1];
  // The screen's margin is 1e-4 of the largest cross product it sees, which
  // is at most max_bound; four margins clear both its and the refinements'
  // comparisons.
  const double room = 4e-4 * max_bound;
  for (std::size_t r = 0; r < n; ++r) {
    if (!std::isfinite(lo[r]) || !std::isfinite(hi[r])) continue;
    if (lo[r] > pool_boundary + room && hi[r] < max_lo - room) {
      settled[r] = 1;
      mmd2[r] = 0.5 * (lo[r] + hi[r]);
      max_cross = std::max(max_cross, std::max(std::abs(cross_lo[r]), std::abs(cross_hi[r])));
    }
  }
}

// A score moves by at most this much as settled members' distances move
// within their intervals, or they are screened.
constexpr double kSettledScoreTolerance = 1e-6;

// Whether the result's choices hold wherever in their intervals the settled
// members' distances lie. They enter the scores only through the mean of all
// distances (they are neither the nearest nor the farthest), and every score
// is monotone in that mean (docs/DESIGN.md §4.3), so the two ends -- every
// settled distance at its lower end, every one at its upper end -- bound
// each score, and a choice that is the same at both ends is the same between.
bool settled_choices_hold(const std::vector<std::string>& ids, const std::vector<double>& mmd2,
                          const std::vector<double>& lo, const std::vector<double>& hi,
                          const std::vector<std::size_t>& unsettled, const Ranked& ranked, const Choices& choices,
                          const StatSearchResult& result, const StatSearchOptions& options) {
  for (const auto& end : {&lo, &hi}) {
    std::vector<double> moved = mmd2;
    for (std::size_t r : unsettled) moved[r] = (*end)[r];
    Choices at_end;
    const StatSearchResult other = score_and_select(ids, moved, ranked, options, &at_end);
    if (!(at_end == choices) || other.singles.size() != result.singles.size()) return false;
    for (std::size_t i = 0; i < result.singles.size(); ++i)
      if (std::abs(other.singles[i].score - result.singles[i].score) > kSettledScoreTolerance) return false;
    if (other.mixture.has_value() != result.mixture.has_value()) return false;
    if (result.mixture && std::abs(other.mixture->score - result.mixture->score) > kSettledScoreTolerance) return false;
  }
  return true;
}

}  // namespace

std::vector<double> batch_mmd2(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                               std::span<const std::int64_t> members) {
  return batch_mmd2_on(ctx, user, pack, members, nullptr);
}

std::vector<float> float32_mirror(const SpecPack& pack) { return std::vector<float>(pack.z.begin(), pack.z.end()); }

std::vector<double> batch_mmd2_float32(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                       std::span<const float> z32, std::span<const std::int64_t> members,
                                       double* max_cross) {
  return batch_mmd2_float32_on(ctx, user, pack, z32, members, max_cross, nullptr);
}

StatSearchResult statistical_search(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                    std::span<const std::int64_t> members, const StatSearchOptions& options,
                                    std::span<const float> z32, const dist::Communicator* comm) {
  if (options.max_search_num < 1) throw Error("search: max_search_num must be >= 1");
  require_searchable(user);
  const std::vector<std::int64_t> list = all_members_if_empty(members, pack.count());
  const bool screen = options.float32_screening && !z32.empty() &&
                      static_cast<std::int64_t>(list.size()) >= options.float32_min_members;
  std::vector<double> mmd2(list.size());
  std::vector<char> exact;  // screening: whether mmd2[r] is the float64 value
  // Separation bounds: positions left out of the float32 screen, their
  // distances known to lie in [settled_lo, settled_hi] (mmd2 holds the middle).
  std::vector<char> settled;
  std::vector<double> settled_lo, settled_hi;
  double margin = 0.0;      // screening: bound on |float32 - float64| of a distance
  double max_cross = 0.0;   // screening: the largest |<u, m>| screened, or bounded for a settled member
  std::int64_t refined = 0;
  std::int64_t screened = 0;
  // <u, m> in float64 with m's gamma, where exact (NaN elsewhere): the
  // mixture's <u, m> for a pool member whose gamma is the user's.
  std::vector<double> cross(list.size(), std::numeric_limits<double>::quiet_NaN());
  // Recomputes in float64 the listed positions not yet exact.
  auto make_exact = [&](const std::vector<std::size_t>& positions) {
    std::vector<std::size_t> todo;
    for (std::size_t r : positions)
      if (!exact[r]) todo.push_back(r);
    if (todo.empty()) return false;
    batch_mmd2_into(ctx, user, pack, pack.z.data(), list, todo, std::span<double>(mmd2), nullptr, comm,
                    std::span<double>(cross));
    for (std::size_t r : todo) exact[r] = 1;
    refined += static_cast<std::int64_t>(todo.size());
    return true;
  };
  // Screens the listed positions in float32.
  auto screen_positions = [&](const std::vector<std::size_t>& positions) {
    batch_mmd2_into(ctx, user, pack, z32.data(), list, positions, std::span<double>(mmd2), &max_cross, comm);
    for (std::size_t r : positions) settled[r] = 0;
    screened += static_cast<std::int64_t>(positions.size());
    // Float32 kernel values are good to ~1e-6 relative; 1e-4 of the largest
    // cross term bounds the error of every distance with room to spare.
    margin = 1e-4 * max_cross + 1e-300;
  };
  // Positions whose distance could be at or below `bound` in float64.
  auto within = [&](double bound) {
    std::vector<std::size_t> out;
    for (std::size_t r = 0; r < mmd2.size(); ++r) {
      if (exact[r]) continue;
      const double lowest = settled[r] ? settled_lo[r] : mmd2[r] - 2.0 * margin;
      if (lowest <= bound) out.push_back(r);
    }
    return out;
  };
  // The mixture pool (the best max_search_num² singles) must be exact.
  auto make_pool_exact = [&]() {
    std::vector<double> sorted;
    for (double v : mmd2)
      if (std::isfinite(v)) sorted.push_back(v);
    if (sorted.empty()) return;
    const std::size_t pool = std::min<std::size_t>(
        sorted.size(), static_cast<std::size_t>(options.max_search_num) * options.max_search_num);
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(pool - 1), sorted.end());
    make_exact(within(sorted[pool - 1]));
  };
  if (screen) {
    if (z32.size() != pack.z.size()) throw Error("search: the float32 mirror does not match the pack");
    require_pack_width(user, pack);
    exact.assign(list.size(), 0);
    settled.assign(list.size(), 0);
    std::vector<std::size_t> to_screen;
    if (options.separation_bounds) {
      settle_by_bounds(ctx, user, pack, z32, list, options, settled, settled_lo, settled_hi, mmd2, max_cross);
      for (std::size_t r = 0; r < list.size(); ++r)
        if (!settled[r]) to_screen.push_back(r);
    } else {
      to_screen = every_position(list.size());
    }
    screen_positions(to_screen);
    make_pool_exact();
  } else {
    require_pack_width(user, pack);
    batch_mmd2_into(ctx, user, pack, pack.z.data(), list, every_position(list.size()), std::span<double>(mmd2),
                    nullptr, comm, std::span<double>(cross));
  }
  std::vector<std::string> ids;
  ids.reserve(list.size());
  for (std::int64_t m : list) ids.push_back(pack.ids[static_cast<std::size_t>(m)]);

  // Pool products: the pool's rows packed contiguously; a row <m_i, ·> of the
  // pool matrix is one batched evaluation, computed only when asked for. The
  // greedy mixture asks for the rows of the learnwares it has selected (the
  // diagonal is the precomputed self product), so it evaluates a handful of
  // rows instead of the whole pool matrix; "auto" asks for every row.
  SpecPack sub;
  std::vector<std::int64_t> sub_members;
  std::vector<double> k_pool;   // row-major, NaN where not yet computed
  std::vector<char> row_done;
  std::vector<double> c_pool;
  bool one_gamma = true;
  auto compute_row = [&](std::int64_t i) {
    const auto p = static_cast<std::int64_t>(sub_members.size());
    const std::int64_t m = sub_members[static_cast<std::size_t>(i)];
    std::vector<double> row(static_cast<std::size_t>(p));
    kernels::rkme_batch_inner_products(ctx, pack.member_z(m), pack.member_beta(m), sub.z_view(), sub.beta, sub.offsets,
                                       pack.gamma[static_cast<std::size_t>(m)], row);
    std::copy(row.begin(), row.end(), k_pool.begin() + i * p);
    row_done[static_cast<std::size_t>(i)] = 1;
  };
  auto pool_products = [&](const std::vector<std::int64_t>& pool) {
    const auto p = static_cast<std::int64_t>(pool.size());
    sub = SpecPack{};
    sub.type = pack.type;
    sub.dim = pack.dim;
    sub_members.assign(static_cast<std::size_t>(p), 0);
    for (std::int64_t i = 0; i < p; ++i) {
      const auto m = list[static_cast<std::size_t>(pool[static_cast<std::size_t>(i)])];
      const auto z = pack.member_z(m);
      const auto b = pack.member_beta(m);
      sub.z.insert(sub.z.end(), z.data, z.data + z.rows * z.cols);
      sub.beta.insert(sub.beta.end(), b.begin(), b.end());
      sub.offsets.push_back(sub.offsets.back() + z.rows);
      sub_members[static_cast<std::size_t>(i)] = m;
      // <m_i, m_j> uses m_i's gamma: with one gamma the matrix is symmetric.
      one_gamma = one_gamma && pack.gamma[static_cast<std::size_t>(m)] == pack.gamma[static_cast<std::size_t>(sub_members[0])];
    }
    k_pool.assign(static_cast<std::size_t>(p * p), 0.0);
    row_done.assign(static_cast<std::size_t>(p), 0);
    // <u, m_i> with the user's gamma (the reference's user-side inner
    // product): the distance's own product where the member's gamma is the
    // user's, as it almost always is; else one batched evaluation.
    c_pool.assign(static_cast<std::size_t>(p), 0.0);
    bool known = true;
    for (std::int64_t i = 0; i < p && known; ++i) {
      const auto r = static_cast<std::size_t>(pool[static_cast<std::size_t>(i)]);
      known = pack.gamma[static_cast<std::size_t>(list[r])] == user.gamma() && std::isfinite(cross[r]);
      c_pool[static_cast<std::size_t>(i)] = cross[r];
    }
    if (!known) {
      kernels::rkme_batch_inner_products(ctx, user.z().view(), user.beta(), sub.z_view(), sub.beta, sub.offsets,
                                         user.gamma(), c_pool);
    }
    PoolProducts products;
    products.k = [&, p](std::int64_t i, std::int64_t j) {
      if (i == j) return pack.self_inner[static_cast<std::size_t>(sub_members[static_cast<std::size_t>(i)])];
      if (one_gamma && !row_done[static_cast<std::size_t>(i)] && row_done[static_cast<std::size_t>(j)]) std::swap(i, j);
      if (!row_done[static_cast<std::size_t>(i)]) compute_row(i);
      return k_pool[static_cast<std::size_t>(i * p + j)];
    };
    products.c = [&](std::int64_t i) { return c_pool[static_cast<std::size_t>(i)]; };
    products.uu = user.inner_product(user, ctx);
    return products;
  };
  Ranked ranked = rank_and_pool(mmd2, pool_products, options);
  Choices choices;
  StatSearchResult result = score_and_select(ids, mmd2, ranked, options, &choices);
  if (!screen) return result;
  bool fell_back = false;
  // Every single reported must carry its float64 distance, and nothing left
  // out may be closer than the last one reported: refine and rank again until
  // both hold (the pool is exact already, so the mixture does not change).
  // Then, with members settled by their bounds, the result stands only if
  // none of its choices moves as their distances move within their
  // intervals; else they are screened too and the search goes on as without
  // bounds.
  for (;;) {
    double worst = -std::numeric_limits<double>::infinity();
    for (const auto& s : result.singles) worst = std::max(worst, s.mmd2);
    if (!make_exact(within(worst))) {
      std::vector<std::size_t> unsettled;
      for (std::size_t r = 0; r < settled.size(); ++r)
        if (settled[r] && !exact[r]) unsettled.push_back(r);
      if (unsettled.empty() ||
          settled_choices_hold(ids, mmd2, settled_lo, settled_hi, unsettled, ranked, choices, result, options)) {
        result.refined = refined;
        result.screened = screened;
        result.settled = static_cast<std::int64_t>(unsettled.size());
        result.bounds_fell_back = fell_back;
        return result;
      }
      fell_back = true;
      screen_positions(unsettled);
      make_pool_exact();
    }
    ranked = rank_and_pool(mmd2, pool_products, options);
    result = score_and_select(ids, mmd2, ranked, options, &choices);
  }
}

StatSearchResult statistical_search_per_pair(const Context& ctx, const RKMETableSpec& user,
                                             const std::vector<std::string>& ids,
                                             const std::vector<RKMETableSpec>& specs,
                                             const StatSearchOptions& options, const InnerProductFn& inner_product) {
  const InnerProductFn ip = inner_product ? inner_product : [&ctx](const RKMETableSpec& p, const RKMETableSpec& q) {
    return p.inner_product(q, ctx);
  };
  if (ids.size() != specs.size()) throw Error("search: ids and specs differ in length");
  if (options.max_search_num < 1) throw Error("search: max_search_num must be >= 1");
  require_searchable(user);
  std::vector<std::string> kept_ids;
  std::vector<const RKMETableSpec*> kept;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].dim() != user.dim()) continue;
    kept_ids.push_back(ids[i]);
    kept.push_back(&specs[i]);
  }
  std::vector<double> mmd2(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    // dist(m, u) with m's gamma, both self products recomputed every time.
    mmd2[i] = ip(*kept[i], *kept[i]) - 2.0 * ip(*kept[i], user) + ip(user, user);
  }

  // Pool products one call per pair, as the reference does; each pair is
  // computed once (the reference recomputes the candidate's row every greedy
  // round, so this baseline is, if anything, faster than the pattern it mirrors).
  std::vector<std::int64_t> order;  // pool index -> kept index
  std::vector<double> k_memo;
  std::vector<double> c_memo;
  std::int64_t p = 0;
  auto pool_products = [&](const std::vector<std::int64_t>& pool) {
    order = pool;
    p = static_cast<std::int64_t>(pool.size());
    k_memo.assign(static_cast<std::size_t>(p * p), std::nan(""));
    c_memo.assign(static_cast<std::size_t>(p), std::nan(""));
    PoolProducts products;
    products.k = [&](std::int64_t i, std::int64_t j) {
      double& v = k_memo[static_cast<std::size_t>(i * p + j)];
      if (std::isnan(v)) {
        v = ip(*kept[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])],
               *kept[static_cast<std::size_t>(order[static_cast<std::size_t>(j)])]);
      }
      return v;
    };
    products.c = [&](std::int64_t i) {
      double& v = c_memo[static_cast<std::size_t>(i)];
      if (std::isnan(v)) v = ip(user, *kept[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
      return v;
    };
    products.uu = ip(user, user);
    return products;
  };
  return rank_and_mix(kept_ids, mmd2, pool_products, options);
}

std::int64_t pairwise_exact(const StatSearchOptions& options) {
  if (options.pairwise_exact_count > 0) return options.pairwise_exact_count;
  const auto pool = static_cast<std::int64_t>(options.max_search_num) * options.max_search_num;
  return std::max<std::int64_t>(2 * pool, 16);
}

StatSearchResult statistical_search_from_products(const CandidateProducts& products,
                                                  const StatSearchOptions& options) {
  const std::size_t n = products.ids.size();
  if (products.self.size() != n || products.cross.size() != n) {
    throw Error("search: ids, self and cross products differ in length");
  }
  if (options.max_search_num < 1) throw Error("search: max_search_num must be >= 1");
  if (!std::isfinite(products.user_self)) throw Error("search: the user's specification has a non-finite self product");
  std::vector<double> mmd2(n);
  for (std::size_t i = 0; i < n; ++i) mmd2[i] = products.self[i] - 2.0 * products.cross[i] + products.user_self;
  std::vector<std::int64_t> order;  // pool index -> candidate index
  // With member_row: the pool matrix, filled a row at a time (both triangles).
  std::vector<double> k_pool;
  std::vector<char> known;
  auto pool_products = [&](const std::vector<std::int64_t>& pool) {
    order = pool;
    const std::size_t size = pool.size();
    k_pool.assign(size * size, 0.0);
    known.assign(size * size, 0);
    PoolProducts p;
    p.k = [&, size](std::int64_t i, std::int64_t j) {
      const auto a = order[static_cast<std::size_t>(i)];
      const auto b = order[static_cast<std::size_t>(j)];
      if (a == b) return products.self[static_cast<std::size_t>(a)];
      if (!products.member_row) return products.member_inner(a, b);
      const auto at = [size](std::int64_t r, std::int64_t c) {
        return static_cast<std::size_t>(r) * size + static_cast<std::size_t>(c);
      };
      if (!known[at(i, j)]) {
        std::vector<std::int64_t> columns, members;
        for (std::int64_t c = 0; c < static_cast<std::int64_t>(size); ++c) {
          if (c == i || known[at(i, c)]) continue;
          columns.push_back(c);
          members.push_back(order[static_cast<std::size_t>(c)]);
        }
        std::vector<double> row(members.size());
        products.member_row(a, members, row);
        for (std::size_t t = 0; t < columns.size(); ++t) {
          k_pool[at(i, columns[t])] = k_pool[at(columns[t], i)] = row[t];
          known[at(i, columns[t])] = known[at(columns[t], i)] = 1;
        }
      }
      return k_pool[at(i, j)];
    };
    p.c = [&](std::int64_t i) { return products.cross[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]; };
    p.uu = products.user_self;
    return p;
  };
  return rank_and_mix(products.ids, mmd2, pool_products, options);
}

}  // namespace lwd
