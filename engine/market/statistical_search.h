// Statistical search (docs/DESIGN.md §4.1-4.3): given a user's RKME and the packed RKMEs of
// the market, rank single learnwares by MMD² and find the mixture of learnwares
// whose weighted embedding is closest to the user's.
//
// One query is one fused kernel evaluation of the user's Z against every packed
// Z row, then segmented weighted sums (kernels::rkme_batch_inner_products); the
// market's self products <m,m> were computed when each spec entered the pack.
// The mixture works on a small candidate pool (the best max_search_num² singles)
// whose pairwise products come from one batched evaluation per pool member.
//
// Scores follow the reference rule so results read the same as the reference
// dock's: min-max scores of the distances (ratio 0.1, top score at least 0.92,
// scores below 0.7 lifted by a square root), the mixture scored together with
// the singles and dropped when it rounds to the top single's percentage.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/dist/communicator.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/store/spec_pack.h"
#include "kernels/context.h"

namespace lwd {

enum class MixtureMethod { kGreedy, kAuto };

struct StatSearchOptions {
  int max_search_num = 5;        // most learnwares in a mixture; the pool holds its square
  MixtureMethod method = MixtureMethod::kGreedy;
  double greedy_decay = 0.95;    // greedy: add a learnware only if the distance falls below decay × current
  double auto_weight_cutoff = 0.98;  // auto: keep learnwares by weight while the cumulative weight stays below
  bool image_distance_transform = false;  // image specs: d -> 1 - exp(-d / 5e-5) before scoring
  double single_min_score = 0.6;  // singles after the first are kept while their score is at least this
  // Float32 screening: rank every member with float32 kernels (twice the SIMD
  // lanes, half the memory traffic), then recompute in float64 every distance
  // that can matter -- the mixture pool, every single reported, and anything
  // within the float32 error margin of either boundary -- so every distance
  // and weight reported is the float64 one. Used from this many members up.
  bool float32_screening = true;
  std::int64_t float32_min_members = 256;
  // Separation bounds, with float32 screening (docs/DESIGN.md §4.3): bound
  // every member's cross product from one direction first
  // (kernels/rkme_bound.h) and leave out of the screen the members that can be
  // neither in the mixture's pool nor the farthest; the result stands only if
  // none of its choices, and no score by more than 1e-6, depends on where in
  // their intervals those members' distances lie, else they are screened too.
  bool separation_bounds = true;
  // Specs compared pair by pair (image specs, docs/DESIGN.md §4.7): with more
  // candidates than pairwise_exact(), a screen -- random features of the
  // kernel -- ranks them all and only the best pairwise_exact() are compared
  // exactly; singles, pool, mixture and scores come from those, every number
  // reported exact. false: every candidate is compared exactly.
  bool pairwise_screening = true;
  std::int64_t pairwise_exact_count = 0;  // 0: max(2 max_search_num², 16)
};

// How many candidates of a pairwise search are compared exactly after a
// screen: pairwise_exact_count, or twice the mixture's pool (at least 16).
std::int64_t pairwise_exact(const StatSearchOptions& options);

struct SingleMatch {
  std::string id;
  double score = 0.0;
  double mmd2 = 0.0;
};

struct MixtureMatch {
  std::vector<std::string> ids;
  std::vector<double> weights;
  double score = 0.0;
  double mmd2 = 0.0;
};

struct StatSearchResult {
  std::vector<SingleMatch> singles;     // best first
  std::optional<MixtureMatch> mixture;  // absent when no mixture beats the best single
  std::int64_t candidates = 0;          // learnwares compared (same type and width)
  // Float32 screening: the candidates whose distance was evaluated again in
  // float64 (those the screen could not rule out); 0 without screening.
  std::int64_t refined = 0;
  // Float32 screening: the candidates the screen evaluated, and those whose
  // distance was settled by their separation bounds alone (neither screened
  // nor refined). bounds_fell_back: the bounds had settled some, but a choice
  // of the result depended on where in their intervals they lay, so they
  // were screened after all.
  std::int64_t screened = 0;
  std::int64_t settled = 0;
  bool bounds_fell_back = false;
  // How the singles were found (docs/DESIGN.md §4.5, §4.7): "scan" (every
  // candidate compared), a search index, "exact" or "approx", which compared
  // the user with `evaluated` of them and searched the best it returned, or
  // "screen" (image specs), which ranked every candidate by an estimate and
  // compared the best `evaluated` exactly.
  std::string method = "scan";
  std::int64_t evaluated = 0;
};

// Searches the members of `pack` listed in `members` (indices into the pack;
// empty span = every member). Throws lwd::Error when the user's width differs
// from the pack's or the user's spec has a non-finite self distance.
// `z32` is the pack's Z in float32 (float32_mirror(pack)), kept beside the
// pack by its owner; without it float32 screening is skipped.
// With a communicator of several ranks (every rank calling with the same
// arguments), each rank evaluates a contiguous share of every batch of
// distances -- the float32 screen, the float64 distances, the refinements --
// and the shares are gathered in rank order, so every rank holds the vector
// one rank computes and ranks, pools, mixes and scores it the same way: the
// result is the one-rank result on every rank (docs/DESIGN.md §8.1).
StatSearchResult statistical_search(const kernels::Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                    std::span<const std::int64_t> members, const StatSearchOptions& options = {},
                                    std::span<const float> z32 = {}, const dist::Communicator* comm = nullptr);

// The pack's Z rows converted to float32, for float32 screening.
std::vector<float> float32_mirror(const SpecPack& pack);

// MMD²(user, m) for the listed members from the float32 mirror (screening
// accuracy, about 1e-5 of the inner products); also returns, through
// max_cross, the largest |<u, m>| seen (the scale of the error).
std::vector<double> batch_mmd2_float32(const kernels::Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                                       std::span<const float> z32, std::span<const std::int64_t> members,
                                       double* max_cross = nullptr);

// MMD²(user, m) for the listed members, in the order given: the batched part
// of the search on its own (used by evaluators and benchmarks).
std::vector<double> batch_mmd2(const kernels::Context& ctx, const RKMETableSpec& user, const SpecPack& pack,
                               std::span<const std::int64_t> members);

// The same search done the way the reference engine does it: every distance a
// separate call on spec values, self products recomputed for every pair, the
// greedy mixture re-evaluating inner products. Slow on purpose; the tests check
// statistical_search against it and the benchmarks time both in one run.
// `inner_product(p, q)` computes <p, q> with p's gamma; by default the spec's
// own (fused kernels), a benchmark may pass one that evaluates like the
// reference (full kernel matrix, materialised weight outer product).
using InnerProductFn = std::function<double(const RKMETableSpec&, const RKMETableSpec&)>;
StatSearchResult statistical_search_per_pair(const kernels::Context& ctx, const RKMETableSpec& user,
                                             const std::vector<std::string>& ids,
                                             const std::vector<RKMETableSpec>& specs,
                                             const StatSearchOptions& options = {},
                                             const InnerProductFn& inner_product = {});

// The search over inner products obtained elsewhere: for spec types without a
// pack (image specs, whose NNGP kernel is evaluated pair by pair). Candidate i
// has <m_i, m_i> = self[i] and <u, m_i> = cross[i]; member_inner(i, j) =
// <m_i, m_j> is asked only for members of the mixture pool, so a caller can
// compute it lazily and memoise it across queries. Ranking, mixture and
// scores are those of statistical_search.
struct CandidateProducts {
  std::vector<std::string> ids;
  std::vector<double> self;
  std::vector<double> cross;
  double user_self = 0.0;
  std::function<double(std::int64_t, std::int64_t)> member_inner;
  // Optional: out[k] = <m_a, m_bs[k]> for several at once. When set, the
  // mixture asks for whole rows of the pool -- <m_a, ·> for every pool member
  // whose product with m_a it does not know yet, a the learnware it asks
  // about first, as member_inner would be asked -- instead of member_inner,
  // and takes <m_b, m_a> = <m_a, m_b>.
  std::function<void(std::int64_t a, std::span<const std::int64_t> bs, std::span<double> out)> member_row;
};
StatSearchResult statistical_search_from_products(const CandidateProducts& products,
                                                  const StatSearchOptions& options = {});

// The reference's distance-to-score rule (see the file comment).
std::vector<double> distances_to_scores(std::span<const double> distances);

}  // namespace lwd
