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

// Everything after the distances: order, pool, mixture, scores, filtering.
StatSearchResult rank_and_mix(const std::vector<std::string>& ids, const std::vector<double>& mmd2,
                              const std::function<PoolProducts(const std::vector<std::int64_t>&)>& pool_products,
                              const StatSearchOptions& options) {
  StatSearchResult result;
  result.candidates = static_cast<std::int64_t>(ids.size());
  std::vector<std::int64_t> order;
  for (std::size_t i = 0; i < mmd2.size(); ++i)
    if (std::isfinite(mmd2[i])) order.push_back(static_cast<std::int64_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return mmd2[static_cast<std::size_t>(a)] < mmd2[static_cast<std::size_t>(b)];
  });
  if (order.empty()) return result;

  std::vector<double> sorted_dist(order.size());
  for (std::size_t r = 0; r < order.size(); ++r) sorted_dist[r] = mmd2[static_cast<std::size_t>(order[r])];

  std::optional<Mixture> mixture;
  const std::int64_t pool_size = std::min<std::int64_t>(
      static_cast<std::int64_t>(order.size()),
      static_cast<std::int64_t>(options.max_search_num) * options.max_search_num);
  if (sorted_dist.front() > 0.0 && options.max_search_num > 1) {
    const std::vector<std::int64_t> pool(order.begin(), order.begin() + pool_size);
    const PoolProducts products = pool_products(pool);
    mixture = options.method == MixtureMethod::kGreedy
                  ? greedy_mixture(products, pool_size, options.max_search_num, options.greedy_decay)
                  : auto_mixture(products, pool_size, options.max_search_num, options.auto_weight_cutoff,
                                 std::span<const double>(sorted_dist).first(static_cast<std::size_t>(pool_size)));
    if (mixture && mixture->members.size() <= 1) mixture.reset();  // a mixture of one is no mixture
  }

  std::vector<double> scored = sorted_dist;
  double mixture_dist = mixture ? mixture->mmd2 : 0.0;
  if (options.image_distance_transform) {
    for (double& d : scored) d = image_transform(d);
    mixture_dist = image_transform(mixture_dist);
  }
  if (mixture) scored.push_back(mixture_dist);
  std::vector<double> scores = distances_to_scores(scored);
  double mixture_score = 0.0;
  if (mixture) {
    mixture_score = scores.back();
    scores.pop_back();
    if (static_cast<int>(mixture_score * 100) == static_cast<int>(scores.front() * 100)) mixture.reset();
  }

  std::size_t keep = 1;
  while (keep < scores.size() && scores[keep] >= options.single_min_score) ++keep;
  if (keep == 1 && scores.front() < options.single_min_score) {
    // Lift a lone, weak top result to the threshold and the mixture with it, as the reference does.
    const double ratio = std::abs(scores.front()) < 1e-5 ? 100.0 : options.single_min_score / scores.front();
    scores.front() = options.single_min_score;
    if (mixture) mixture_score = std::min(1.0, mixture_score * ratio);
  }
  for (std::size_t r = 0; r < keep; ++r) {
    const auto i = static_cast<std::size_t>(order[r]);
    result.singles.push_back(SingleMatch{ids[i], scores[r], mmd2[i]});
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

// gamma -> positions in `list` of the members with that gamma (the reference
// measures MMD²(m, u) with m's gamma, so each distinct gamma is one pass).
std::map<double, std::vector<std::size_t>> positions_by_gamma(const SpecPack& pack,
                                                              const std::vector<std::int64_t>& list) {
  std::map<double, std::vector<std::size_t>> by_gamma;
  for (std::size_t r = 0; r < list.size(); ++r) by_gamma[pack.gamma[static_cast<std::size_t>(list[r])]].push_back(r);
  return by_gamma;
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

std::vector<double> batch_mmd2_on(const Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                  std::span<const std::int64_t> members, const dist::Communicator* comm) {
  require_pack_width(user, pack);
  const std::vector<std::int64_t> list = all_members_if_empty(members, pack.count());
  std::vector<double> out(list.size());
  if (list.empty()) return out;
  // The reference measures MMD²(m, u) with m's gamma; members almost always
  // share one gamma, so this is one batched pass per distinct gamma. A pass
  // over most of the pack reads it in place, evaluating the members it does
  // not need too; a pass over a smaller part (a semantic filter, a second
  // gamma, the float32 screen's survivors) first gathers those members' rows,
  // which costs a copy of O(rows · d) against the O(rows · K · d) kernel work
  // it saves. Each member's value is the same either way up to the last bits
  // (a kernel value depends slightly on where its row falls in the kernel's
  // tiles); the ranks of a sharded search (batch_inner) keep the very rows and
  // tiles of this one-process pass, so theirs are exact.
  const auto by_gamma = positions_by_gamma(pack, list);
  std::vector<double> inner;
  for (const auto& [gamma, positions] : by_gamma) {
    const double uu = kernels::rkme_inner_product(ctx, user.z().view(), user.beta(), user.z().view(), user.beta(), gamma);
    const bool most_of_pack = 2 * static_cast<std::int64_t>(positions.size()) >= pack.count();
    if (most_of_pack) {
      inner.resize(static_cast<std::size_t>(pack.count()));
      batch_inner(ctx, user, pack.z_view(), pack.beta, pack.offsets, gamma, inner, comm);
      for (std::size_t r : positions) {
        const auto m = static_cast<std::size_t>(list[r]);
        out[r] = pack.self_inner[m] - 2.0 * inner[m] + uu;
      }
      continue;
    }
    std::int64_t rows = 0;
    for (std::size_t r : positions) {
      const auto m = static_cast<std::size_t>(list[r]);
      rows += pack.offsets[m + 1] - pack.offsets[m];
    }
    std::vector<double> z;
    std::vector<double> beta;
    std::vector<std::int64_t> offsets{0};
    z.reserve(static_cast<std::size_t>(rows * pack.dim));
    beta.reserve(static_cast<std::size_t>(rows));
    offsets.reserve(positions.size() + 1);
    for (std::size_t r : positions) {
      const auto zm = pack.member_z(list[r]);
      const auto bm = pack.member_beta(list[r]);
      z.insert(z.end(), zm.data, zm.data + zm.rows * zm.cols);
      beta.insert(beta.end(), bm.begin(), bm.end());
      offsets.push_back(offsets.back() + zm.rows);
    }
    inner.resize(positions.size());
    batch_inner(ctx, user, kernels::ConstMatrixView<double>(z.data(), offsets.back(), pack.dim),
                std::span<const double>(beta), std::span<const std::int64_t>(offsets), gamma, std::span<double>(inner),
                comm);
    for (std::size_t i = 0; i < positions.size(); ++i) {
      const auto m = static_cast<std::size_t>(list[positions[i]]);
      out[positions[i]] = pack.self_inner[m] - 2.0 * inner[i] + uu;
    }
  }
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
  if (list.empty()) return out;
  const kernels::ConstMatrixView<float> z(z32.data(), pack.total_rows(), pack.dim);
  const auto by_gamma = positions_by_gamma(pack, list);
  std::vector<double> inner(static_cast<std::size_t>(pack.count()));
  for (const auto& [gamma, positions] : by_gamma) {
    // Screening reads the whole pack in place; members outside the list cost
    // kernel work but no copies (a filtered search is small enough either way).
    batch_inner(ctx, user, z, pack.beta, pack.offsets, gamma, std::span<double>(inner), comm);
    const double uu = kernels::rkme_inner_product(ctx, user.z().view(), user.beta(), user.z().view(), user.beta(), gamma);
    for (std::size_t r : positions) {
      const auto m = static_cast<std::size_t>(list[r]);
      out[r] = pack.self_inner[m] - 2.0 * inner[m] + uu;
      if (max_cross) *max_cross = std::max(*max_cross, std::abs(inner[m]));
    }
  }
  return out;
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
  std::vector<double> mmd2;
  std::vector<char> exact;  // screening: whether mmd2[r] is the float64 value
  double margin = 0.0;      // screening: bound on |float32 - float64| of a distance
  std::int64_t refined = 0;
  // Recomputes in float64 the listed positions not yet exact.
  auto make_exact = [&](const std::vector<std::size_t>& positions) {
    std::vector<std::size_t> todo;
    std::vector<std::int64_t> todo_members;
    for (std::size_t r : positions) {
      if (exact[r]) continue;
      todo.push_back(r);
      todo_members.push_back(list[r]);
    }
    if (todo.empty()) return false;
    const std::vector<double> in_float64 = batch_mmd2_on(ctx, user, pack, todo_members, comm);
    for (std::size_t i = 0; i < todo.size(); ++i) {
      mmd2[todo[i]] = in_float64[i];
      exact[todo[i]] = 1;
    }
    refined += static_cast<std::int64_t>(todo.size());
    return true;
  };
  // Positions whose distance could be at or below `bound` in float64.
  auto within = [&](double bound) {
    std::vector<std::size_t> out;
    for (std::size_t r = 0; r < mmd2.size(); ++r)
      if (!exact[r] && mmd2[r] <= bound + 2.0 * margin) out.push_back(r);
    return out;
  };
  if (screen) {
    double max_cross = 0.0;
    mmd2 = batch_mmd2_float32_on(ctx, user, pack, z32, list, &max_cross, comm);
    exact.assign(list.size(), 0);
    // Float32 kernel values are good to ~1e-6 relative; 1e-4 of the largest
    // cross term bounds the error of every distance with room to spare.
    margin = 1e-4 * max_cross + 1e-300;
    // The mixture pool (the best max_search_num² singles) must be exact.
    std::vector<double> sorted;
    for (double v : mmd2)
      if (std::isfinite(v)) sorted.push_back(v);
    if (!sorted.empty()) {
      const std::size_t pool = std::min<std::size_t>(
          sorted.size(), static_cast<std::size_t>(options.max_search_num) * options.max_search_num);
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(pool - 1), sorted.end());
      make_exact(within(sorted[pool - 1]));
    }
  } else {
    mmd2 = batch_mmd2_on(ctx, user, pack, list, comm);
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
    c_pool.assign(static_cast<std::size_t>(p), 0.0);
    // <u, m_i> with the user's gamma (the reference's user-side inner product).
    kernels::rkme_batch_inner_products(ctx, user.z().view(), user.beta(), sub.z_view(), sub.beta, sub.offsets,
                                       user.gamma(), c_pool);
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
  StatSearchResult result = rank_and_mix(ids, mmd2, pool_products, options);
  if (!screen) return result;
  // Every single reported must carry its float64 distance, and nothing left
  // out may be closer than the last one reported: refine and rank again until
  // both hold (the pool is exact already, so the mixture does not change).
  for (;;) {
    double worst = -std::numeric_limits<double>::infinity();
    for (const auto& s : result.singles) worst = std::max(worst, s.mmd2);
    if (!make_exact(within(worst))) {
      result.refined = refined;
      return result;
    }
    result = rank_and_mix(ids, mmd2, pool_products, options);
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
