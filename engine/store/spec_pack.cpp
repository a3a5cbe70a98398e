#include "engine/store/spec_pack.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "kernels/rkme.h"

namespace lwd {

kernels::ConstMatrixView<double> SpecPack::member_z(std::int64_t m) const {
  const std::int64_t begin = offsets[static_cast<std::size_t>(m)];
  const std::int64_t end = offsets[static_cast<std::size_t>(m) + 1];
  return {z.data() + begin * dim, end - begin, dim};
}

std::span<const double> SpecPack::member_beta(std::int64_t m) const {
  const auto begin = static_cast<std::size_t>(offsets[static_cast<std::size_t>(m)]);
  const auto end = static_cast<std::size_t>(offsets[static_cast<std::size_t>(m) + 1]);
  return std::span<const double>(beta).subspan(begin, end - begin);
}

void SpecPack::append(const std::string& id, const RKMETableSpec& spec, const kernels::Context& ctx) {
  if (spec.empty()) throw Error("spec pack " + spec_pack_key(type, dim) + ": cannot add an empty spec for " + id);
  if (dim == 0 && count() == 0) dim = spec.dim();
  if (spec.dim() != dim) {
    throw Error("spec pack " + spec_pack_key(type, dim) + ": learnware " + id + " has Z width " +
                std::to_string(spec.dim()));
  }
  if (find(id)) throw Error("spec pack " + spec_pack_key(type, dim) + ": learnware " + id + " is already packed");
  const double self = spec.inner_product(spec, ctx);
  z.insert(z.end(), spec.z().values().begin(), spec.z().values().end());
  beta.insert(beta.end(), spec.beta().begin(), spec.beta().end());
  offsets.push_back(offsets.back() + spec.size());
  ids.push_back(id);
  gamma.push_back(spec.gamma());
  self_inner.push_back(self);
  num_points.push_back(spec.num_points());
}

std::optional<std::int64_t> SpecPack::find(std::string_view id) const {
  const auto it = std::find(ids.begin(), ids.end(), id);
  if (it == ids.end()) return std::nullopt;
  return static_cast<std::int64_t>(it - ids.begin());
}

bool SpecPack::remove(std::string_view id) {
  const auto found = find(id);
  if (!found) return false;
  const auto m = static_cast<std::size_t>(*found);
  const std::int64_t begin = offsets[m];
  const std::int64_t end = offsets[m + 1];
  const std::int64_t rows = end - begin;
  z.erase(z.begin() + begin * dim, z.begin() + end * dim);
  beta.erase(beta.begin() + begin, beta.begin() + end);
  offsets.erase(offsets.begin() + static_cast<std::ptrdiff_t>(m) + 1);
  for (std::size_t i = m + 1; i < offsets.size(); ++i) offsets[i] -= rows;
  const auto at = static_cast<std::ptrdiff_t>(m);
  ids.erase(ids.begin() + at);
  gamma.erase(gamma.begin() + at);
  self_inner.erase(self_inner.begin() + at);
  num_points.erase(num_points.begin() + at);
  return true;
}

RKMETableSpec SpecPack::spec(std::int64_t m) const {
  const auto view = member_z(m);
  std::vector<double> rows(view.data, view.data + view.rows * dim);
  const auto b = member_beta(m);
  return RKMETableSpec(kernels::Matrix<double>(view.rows, dim, std::move(rows)), std::vector<double>(b.begin(), b.end()),
                       gamma[static_cast<std::size_t>(m)], num_points[static_cast<std::size_t>(m)]);
}

void SpecPack::append_member_of(const SpecPack& from, std::int64_t m) {
  const auto i = static_cast<std::size_t>(m);
  const auto z_rows = from.member_z(m);
  const auto b = from.member_beta(m);
  ids.push_back(from.ids[i]);
  z.insert(z.end(), z_rows.data, z_rows.data + z_rows.rows * from.dim);
  beta.insert(beta.end(), b.begin(), b.end());
  offsets.push_back(offsets.back() + z_rows.rows);
  gamma.push_back(from.gamma[i]);
  self_inner.push_back(from.self_inner[i]);
  num_points.push_back(from.num_points[i]);
}

std::optional<std::string> SpecPack::member_problem(std::int64_t m) const {
  const auto i = static_cast<std::size_t>(m);
  if (!(gamma[i] > 0.0) || !std::isfinite(gamma[i])) return std::string("a bad gamma");
  if (!std::isfinite(self_inner[i])) return std::string("a non-finite self product");
  const auto z_rows = member_z(m);
  for (std::int64_t k = 0; k < z_rows.rows * dim; ++k)
    if (!std::isfinite(z_rows.data[k])) return std::string("a non-finite value in z");
  for (double v : member_beta(m))
    if (!std::isfinite(v)) return std::string("a non-finite value in beta");
  return std::nullopt;
}

std::vector<std::string> SpecPack::drop_bad_members() {
  std::vector<std::string> dropped;
  std::vector<bool> bad(static_cast<std::size_t>(count()), false);
  for (std::int64_t m = 0; m < count(); ++m) {
    if (auto problem = member_problem(m)) {
      bad[static_cast<std::size_t>(m)] = true;
      dropped.push_back(ids[static_cast<std::size_t>(m)] + ": " + *problem);
    }
  }
  // Every open reads every pack through here: copy only when something goes.
  if (dropped.empty()) return dropped;
  bad.flip();
  *this = with_members(bad);
  return dropped;
}

SpecPack SpecPack::with_members(const std::vector<bool>& keep) const {
  SpecPack kept;
  kept.type = type;
  kept.dim = dim;
  for (std::int64_t m = 0; m < count(); ++m)
    if (keep[static_cast<std::size_t>(m)]) kept.append_member_of(*this, m);
  return kept;
}

void SpecPack::validate() const {
  const std::string where = "spec pack " + spec_pack_key(type, dim) + ": ";
  const auto n = ids.size();
  if (offsets.size() != n + 1 || gamma.size() != n || self_inner.size() != n || num_points.size() != n) {
    throw Error(where + "member arrays disagree in length");
  }
  if (offsets.front() != 0) throw Error(where + "offsets must start at 0");
  for (std::size_t m = 0; m < n; ++m) {
    if (offsets[m + 1] <= offsets[m]) throw Error(where + "member " + ids[m] + " has no rows");
  }
  const auto rows = static_cast<std::size_t>(offsets.back());
  if (beta.size() != rows || z.size() != rows * static_cast<std::size_t>(dim)) {
    throw Error(where + "z/beta sizes do not match the offsets");
  }
  for (std::size_t m = 0; m < n; ++m) {
    if (auto problem = member_problem(static_cast<std::int64_t>(m)))
      throw Error(where + "member " + ids[m] + " has " + *problem);
  }
}

namespace {

// Below this many removed slots a pack is not worth a pass: a few dead slots
// cost a search nothing it notices.
constexpr std::int64_t kMinRemovedSlotsToDrop = 64;

}  // namespace

StoredPack::StoredPack(SpecPack members) : pack_(std::move(members)) {
  member_.reserve(pack_.ids.size());
  for (std::size_t m = 0; m < pack_.ids.size(); ++m) member_.insert_or_assign(pack_.ids[m], static_cast<std::int64_t>(m));
}

std::span<const float> StoredPack::z32() const {
  std::lock_guard lock(z32_->mutex);
  if (!z32_->built) {
    z32_->z.assign(pack_.z.begin(), pack_.z.end());
    z32_->built = true;
  }
  return z32_->z;
}

std::optional<std::int64_t> StoredPack::find(std::string_view id) const {
  const auto it = member_.find(id);
  if (it == member_.end()) return std::nullopt;
  return it->second;
}

void StoredPack::append_member_of(const SpecPack& from, std::int64_t m) {
  const std::string& id = from.ids[static_cast<std::size_t>(m)];
  remove(id);
  if (pack_.count() == 0) {  // no slot at all yet (the type and width come with the first)
    pack_.type = from.type;
    pack_.dim = from.dim;
  }
  pack_.append_member_of(from, m);
  if (z32_->built) {
    const auto rows = from.member_z(m);
    z32_->z.insert(z32_->z.end(), rows.data, rows.data + rows.rows * rows.cols);
  }
  member_.insert_or_assign(id, pack_.count() - 1);
}

bool StoredPack::remove(std::string_view id) {
  const auto it = member_.find(id);
  if (it == member_.end()) return false;
  pack_.ids[static_cast<std::size_t>(it->second)].clear();
  member_.erase(it);
  ++removed_;
  // Amortised O(1): a pass over the pack after as many removals as it has
  // live members.
  if (removed_ >= kMinRemovedSlotsToDrop && removed_ > count()) drop_removed_slots();
  return true;
}

SpecPack StoredPack::live_members() const {
  if (removed_ == 0) return pack_;
  std::vector<bool> keep(pack_.ids.size());
  for (std::size_t m = 0; m < keep.size(); ++m) keep[m] = !pack_.ids[m].empty();
  return pack_.with_members(keep);
}

void StoredPack::drop_removed_slots() {
  pack_ = live_members();
  removed_ = 0;
  member_.clear();
  for (std::size_t m = 0; m < pack_.ids.size(); ++m) member_.emplace(pack_.ids[m], static_cast<std::int64_t>(m));
  // Rebuilt from the pack on the next screening search.
  std::lock_guard lock(z32_->mutex);
  z32_->built = false;
  z32_->z.clear();
  z32_->z.shrink_to_fit();
}

std::string spec_pack_key(std::string_view type, std::int64_t dim) {
  return std::string(type) + "/" + std::to_string(dim);
}

}  // namespace lwd
