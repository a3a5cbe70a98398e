// The statistical specifications of many learnwares, packed back to back so a
// search reads contiguous memory: one pack per (spec type, Z width). Learnware
// m owns rows [offsets[m], offsets[m+1]) of z and beta. Self inner products
// <m,m> are computed once, when a spec enters the pack, never per query.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/spec/rkme_table_spec.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd {

struct SpecPack {
  std::string type;                    // e.g. "RKMETableSpecification"
  std::int64_t dim = 0;                // Z width shared by every member
  std::vector<std::string> ids;        // learnware id of member m
  std::vector<std::int64_t> offsets{0};  // count() + 1 entries, offsets[0] = 0
  std::vector<double> z;               // total_rows() x dim, row-major
  std::vector<double> beta;            // total_rows()
  std::vector<double> gamma;           // per member
  std::vector<double> self_inner;      // per member: <m, m> with its gamma
  std::vector<std::int64_t> num_points;  // per member: rows the spec summarises

  std::int64_t count() const { return static_cast<std::int64_t>(ids.size()); }
  std::int64_t total_rows() const { return offsets.back(); }
  kernels::ConstMatrixView<double> z_view() const { return {z.data(), total_rows(), dim}; }
  kernels::ConstMatrixView<double> member_z(std::int64_t m) const;
  std::span<const double> member_beta(std::int64_t m) const;

  // Appends a member (computing its self inner product). O(its own size).
  // Throws lwd::Error if the width differs from dim (dim 0 adopts the spec's)
  // or the id is already present.
  void append(const std::string& id, const RKMETableSpec& spec, const kernels::Context& ctx = {});
  // Appends member m of `from` (same type and width) as it is, self product
  // included: what every filtered copy of a pack is made of.
  void append_member_of(const SpecPack& from, std::int64_t m);
  // Removes member `id` if present (O(pack) copy); returns whether it was there.
  bool remove(std::string_view id);
  std::optional<std::int64_t> find(std::string_view id) const;
  // Member m as a spec value (copies its rows).
  RKMETableSpec spec(std::int64_t m) const;
  // Why member m cannot be used (a non-finite number in its rows, a gamma
  // that is not finite and > 0, a non-finite self product), or nullopt.
  std::optional<std::string> member_problem(std::int64_t m) const;
  // A copy holding only the members m with keep[m] (keep has count() entries).
  SpecPack with_members(const std::vector<bool>& keep) const;
  // Removes every member with a member_problem; returns "<id>: <problem>" for
  // each. A reader keeps the rest of the pack usable this way.
  std::vector<std::string> drop_bad_members();
  // Internal consistency: sizes agree, offsets non-decreasing, everything finite.
  // Throws lwd::Error naming what is wrong (used after loading from disk).
  void validate() const;
};

// A pack as a market holds it in memory: its members and, derived from them,
// what searches read beside them -- the id -> member map and Z in float32 for
// the screening pass of large packs. Changed only through its own members,
// which keep them in step. The float32 copy is made on the first call of
// z32() (a search of a small pack never screens, and a command that runs one
// such search should not pay for it); const members are safe from several
// threads at once.
//
// A removal is O(1): the member's slot stays, its id blanked and its rows
// unread (find() no longer names it), until removed slots outnumber live
// members; then one pass drops them all. So a change costs a searching
// process O(one learnware) amortised, whatever the market's size, and a
// search still reads one contiguous block. Slot numbers stay put between
// those passes.
class StoredPack {
 public:
  explicit StoredPack(SpecPack members);

  // Every slot, removed ones included (id ""): index it with find(), and
  // check is_live() before reading a slot found any other way.
  const SpecPack& slots() const { return pack_; }
  bool is_live(std::int64_t m) const { return !pack_.ids[static_cast<std::size_t>(m)].empty(); }
  // The live members: O(1).
  std::int64_t count() const { return pack_.count() - removed_; }
  // A copy of the live members only, in slot order (what a rewrite of
  // market.h5 stores): O(pack).
  SpecPack live_members() const;
  std::span<const float> z32() const;
  // O(1).
  std::optional<std::int64_t> find(std::string_view id) const;

  // Appends member m of `from` (same type and width); an id already present
  // is replaced (the old member removed first). O(the member).
  void append_member_of(const SpecPack& from, std::int64_t m);
  // Removes member `id` if present; returns whether it was there. O(1)
  // amortised (see above).
  bool remove(std::string_view id);

 private:
  // Drops every removed slot (one pass), when they outnumber live members.
  void drop_removed_slots();

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Float32Mirror {
    std::mutex mutex;
    bool built = false;
    std::vector<float> z;
  };
  SpecPack pack_;
  std::int64_t removed_ = 0;  // slots whose member was removed
  std::unique_ptr<Float32Mirror> z32_ = std::make_unique<Float32Mirror>();
  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> member_;
};

// The longest pack type the store takes: it names an HDF5 group (of
// [A-Za-z0-9_], hdf5_spec_store.h), and the reference text encoder's escaped
// name needs more than 64.
inline constexpr std::size_t kMaxPackTypeLength = 255;

// Key under which a spec is packed: "<type>/<dim>".
std::string spec_pack_key(std::string_view type, std::int64_t dim);

}  // namespace lwd
