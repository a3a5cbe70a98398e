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
// which keep them in step (O(the member) for an append, one pass for a
// removal). The float32 copy is made on the first call of z32() (a search of
// a small pack never screens, and a command that runs one such search should
// not pay for it); const members are safe from several threads at once.
class StoredPack {
 public:
  explicit StoredPack(SpecPack members);

  const SpecPack& members() const { return pack_; }
  std::int64_t count() const { return pack_.count(); }
  std::span<const float> z32() const;
  // O(1).
  std::optional<std::int64_t> find(std::string_view id) const;

  // Appends member m of `from` (same type and width); an id already present
  // is replaced (the old member removed first).
  void append_member_of(const SpecPack& from, std::int64_t m);
  // Removes member `id` if present; returns whether it was there.
  bool remove(std::string_view id);

 private:
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
