// Sublinear statistical search (docs/DESIGN.md §4.5): an index over the members of
// one spec pack that finds the user's nearest learnwares by MMD² without
// comparing the user with every one of them.
//
// - exact: a tree of balls over sqrt(MMD²), the RKHS distance between the
//   kernel mean embeddings, which is a metric: the triangle inequality prunes
//   balls that cannot hold a nearer member. Each node has up to max_children
//   children centred farthest-first, so a group of related learnwares stays
//   in one ball. The answer is the scan's
//   top k, ties broken the same way (ascending id), every distance the one the
//   scan computes.
// - approx: random Fourier features turn each RKME into one vector whose
//   squared Euclidean distance estimates MMD² (kernels/rff_embedding.h); an
//   HNSW graph (hnswlib) over those vectors proposes candidates, and every
//   candidate's MMD² is then computed exactly, so every distance reported is
//   exact and only the candidate set is approximate.
//
// MMD² is a metric only under one kernel: members are grouped by gamma (the
// market's distance uses the member's gamma), each group has its own tree or
// graph, and a query merges the groups' answers.
//
// Both follow the market one learnware at a time (add, remove; an update is a
// removal and an add) without a rebuild, and persist to one file that records
// each member's fingerprint, so a loaded index is brought in step with the
// pack it serves member by member and never answers for a stale member.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/spec/rkme_table_spec.h"
#include "engine/store/spec_pack.h"
#include "kernels/context.h"

namespace lwd {

enum class IndexKind { kNone, kExact, kApprox };

std::string_view index_kind_name(IndexKind kind);
// "none" | "exact" | "approx"; nullopt otherwise.
std::optional<IndexKind> parse_index_kind(std::string_view name);

struct IndexOptions {
  // Which index a market builds for a statistical search over at least
  // min_members learnwares (below it, and for kNone, the scan).
  IndexKind kind = IndexKind::kExact;
  std::int64_t min_members = 20000;
  // Members a query returns to the search, best first: the singles and the
  // mixture's pool come from them (at least max_search_num², the pool).
  std::int64_t candidates = 25;
  // exact: members per leaf of the ball tree, and the most children of an
  // inner node (a node adds farthest-first centres until its members are
  // covered: as many as the groups it holds, up to this).
  std::int64_t leaf_size = 8;
  std::int64_t max_children = 128;
  // approx: 2·rff_frequencies features per RKME (docs/DESIGN.md §4.5 on the choice),
  // the HNSW graph's degree and beam widths, and how many of the graph's
  // candidates are re-ranked by exact MMD² (at least `candidates`; 32:
  // recall@5 was 1.00 with 25 on the planted markets of bench/README.md, and
  // each one re-ranked costs a full MMD²). The query's beam, ef_search 400:
  // at 10⁶ learnwares in 20 000 tight tasks the walks of a beam of 160 missed
  // 5 of 150 true neighbours (recall@5 0.967) at any rerank, 400 found them
  // all, and a query still takes about a millisecond.
  std::int64_t rff_frequencies = 128;
  int hnsw_m = 16;
  int hnsw_ef_construction = 200;
  int hnsw_ef_search = 400;
  std::int64_t rerank = 32;
  std::uint64_t seed = 0x1e4a12e5;
};

struct IndexQueryStats {
  std::int64_t evaluations = 0;  // user-to-member MMD² evaluations
  std::int64_t members = 0;      // members indexed
};

class SpecIndex {
 public:
  virtual ~SpecIndex() = default;
  virtual IndexKind kind() const = 0;
  virtual std::int64_t size() const = 0;
  virtual bool contains(std::string_view id) const = 0;
  // Adds member m of `pack` (its id must not be indexed yet).
  virtual void add(const kernels::Context& ctx, const StoredPack& pack, std::int64_t m) = 0;
  // Removes `id` if indexed; `pack` is the pack as it is now (the id may be
  // gone from it already). Returns whether it was indexed.
  virtual bool remove(const kernels::Context& ctx, const StoredPack& pack, std::string_view id) = 0;
  // Removes every id of `ids` that is indexed; the pack may have lost any of
  // them already (several changes brought in at once). Returns how many were.
  virtual std::int64_t remove_all(const kernels::Context& ctx, const StoredPack& pack,
                                  const std::vector<std::string>& ids);
  // The best k members (pack indices) by (MMD²(user, m) with m's gamma,
  // then id), best first, with their MMD². Exact: the scan's first k;
  // approx: the best k of the re-ranked candidates.
  struct Hit {
    std::int64_t member = 0;
    double mmd2 = 0.0;
  };
  virtual std::vector<Hit> query(const kernels::Context& ctx, const RKMETableSpec& user, const StoredPack& pack,
                                 std::int64_t k, IndexQueryStats* stats = nullptr) const = 0;
  // approx: how many graph candidates a query re-ranks and the graph's beam
  // width, changed without a rebuild (exact: nothing to set).
  virtual void set_search_effort(std::int64_t /*rerank*/, int /*ef_search*/) {}
  // Bytes held by the index (not counting the pack).
  virtual std::size_t memory_bytes() const = 0;
  // The ids indexed with the fingerprint each had when it was added.
  virtual std::vector<std::pair<std::string, std::uint64_t>> fingerprints() const = 0;

  // Writes the index to `path` atomically, stamped with `stamp` (the
  // market's change counter).
  virtual void save(const std::filesystem::path& path, std::int64_t stamp) const = 0;
};

// A member's fingerprint: its gamma, self product, rows and the bits of its
// first and last Z row. An update stores a new spec, so it changes.
std::uint64_t member_fingerprint(const SpecPack& pack, std::int64_t m);

// Builds an index of `kind` (kExact or kApprox) over members `members` of `pack`.
std::unique_ptr<SpecIndex> build_spec_index(const kernels::Context& ctx, const StoredPack& pack,
                                            const std::vector<std::int64_t>& members, IndexKind kind,
                                            const IndexOptions& options);

// Reads an index written by save(). Throws lwd::Error naming the file and
// what is wrong (missing, truncated, checksum, another kind or settings).
struct LoadedIndex {
  std::unique_ptr<SpecIndex> index;
  std::int64_t stamp = 0;
};
LoadedIndex load_spec_index(const std::filesystem::path& path, IndexKind kind, const IndexOptions& options);

// Brings a loaded index in step with the members it should hold: removes the
// ids no longer there or whose fingerprint changed, adds the missing ones.
// Returns the number of removals and additions.
struct IndexCatchUp {
  std::int64_t removed = 0;
  std::int64_t added = 0;
};
IndexCatchUp catch_up_spec_index(const kernels::Context& ctx, SpecIndex& index, const StoredPack& pack,
                                 const std::vector<std::int64_t>& members);

}  // namespace lwd
