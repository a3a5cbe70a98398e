#include "engine/store/hdf5_spec_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <mutex>
#include <set>
#include <span>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "engine/error.h"
#include "engine/warning.h"
#include "engine/store/hdf5_file.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPacksGroup = "packs";
constexpr const char* kSemanticGroup = "semantic";
constexpr const char* kFactsGroup = "facts";
constexpr const char* kCommittedMembers = "committed_members";
constexpr const char* kCommittedCount = "committed_count";

// Chunk shapes: about 32 KiB per chunk, so an append rewrites at most one
// partial chunk per dataset and a query still reads long contiguous runs.
constexpr hsize_t kChunkDoubles = 4096;
constexpr hsize_t kMemberChunk = 512;
constexpr hsize_t kStringChunk = 256;
// No real market has wider specs; a bigger number in a group name is damage.
constexpr std::int64_t kMaxDim = 1 << 20;

using namespace hdf5;  // the HDF5 layer (hdf5_file.h), private to this module

Hid open_market_file(const FileContext& ctx, unsigned flags) {
  std::error_code ec;
  if (!fs::exists(ctx.file(), ec)) ctx.fail("does not exist");
  if (!fs::is_regular_file(ctx.file(), ec)) ctx.fail("is not a regular file");
  if (H5Fis_hdf5(ctx.file().c_str()) <= 0) ctx.fail("is not an HDF5 file (or its header is damaged)");
  Hid properties = file_access_properties(ctx);
  Hid file = ctx.check(H5Fopen(ctx.file().c_str(), flags, properties.get()), H5Fclose,
                       "cannot open the HDF5 file (truncated or damaged?)");

  const auto format = read_string_attribute(ctx, file.get(), "format");
  if (!format || *format != kMarketH5Format) {
    ctx.fail("is not a learnware market file (root attribute format is " +
             (format ? "\"" + *format + "\"" : std::string("missing")) + ", expected \"" +
             std::string(kMarketH5Format) + "\")");
  }
  const auto version = read_int_attribute(ctx, file.get(), "version", "/version");
  if (!version) ctx.fail("has no version attribute");
  if (*version > kMarketH5Version) {
    ctx.fail("has format version " + std::to_string(*version) + ", newer than this program understands (" +
             std::to_string(kMarketH5Version) + "); use a newer lwdock");
  }
  if (*version < 1) ctx.fail("has an invalid format version " + std::to_string(*version));
  return file;
}

std::int64_t market_file_version(const FileContext& ctx, hid_t file) {
  return read_int_attribute(ctx, file, "version", "/version").value_or(0);
}

// The names of a group's children, in name order.
std::vector<std::string> child_names(const FileContext& ctx, hid_t group, const std::string& where) {
  H5G_info_t info{};
  ctx.check(H5Gget_info(group, &info), "cannot list group " + where);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) ctx.fail("cannot list group " + where);
    std::string name(static_cast<std::size_t>(size) + 1, '\0');
    if (H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) < 0)
      ctx.fail("cannot list group " + where);
    name.resize(static_cast<std::size_t>(size));
    names.push_back(std::move(name));
  }
  return names;
}

// Calls visit(type, dim, group) for every /packs/<type>/<dim> group.
template <class Visit>
void for_each_pack_group(const FileContext& ctx, hid_t file, Visit visit) {
  if (!has_link(file, kPacksGroup)) return;
  Hid packs = open_group(ctx, file, kPacksGroup, std::string("/") + kPacksGroup);
  for (const auto& type : child_names(ctx, packs.get(), "/packs")) {
    const std::string type_where = "/packs/" + type;
    Hid by_type = open_group(ctx, packs.get(), type, type_where);
    for (const auto& dim_name : child_names(ctx, by_type.get(), type_where)) {
      std::int64_t dim = 0;
      const auto res = std::from_chars(dim_name.data(), dim_name.data() + dim_name.size(), dim);
      if (res.ec != std::errc() || res.ptr != dim_name.data() + dim_name.size() || dim <= 0 || dim > kMaxDim) {
        ctx.fail("group " + type_where + "/" + dim_name + " is not named by a Z width");
      }
      Hid group = open_group(ctx, by_type.get(), dim_name, type_where + "/" + dim_name);
      visit(type, dim, group.get());
    }
  }
}

std::pair<std::string, std::int64_t> split_pack_key(const std::string& key) {
  const auto slash = key.rfind('/');
  std::int64_t dim = 0;
  if (slash != std::string::npos) {
    const char* first = key.data() + slash + 1;
    const char* last = key.data() + key.size();
    const auto res = std::from_chars(first, last, dim);
    if (res.ec != std::errc() || res.ptr != last) dim = 0;
  }
  if (slash == std::string::npos || dim <= 0) throw Error("spec pack key \"" + key + "\" is not <type>/<dim>");
  return {key.substr(0, slash), dim};
}

void check_type_name(std::string_view type) {
  const bool ok = !type.empty() && type.size() <= kMaxPackTypeLength && std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!ok) {
    throw Error("spec type \"" + std::string(type.substr(0, 40)) + (type.size() > 40 ? "..." : "") +
                "\" cannot name a pack (use 1 to " + std::to_string(kMaxPackTypeLength) + " letters, digits and '_')");
  }
}

// ---- packs -------------------------------------------------------------------

struct PackDatasets {
  Hid group, z, beta, offsets, gamma, self_inner, num_points, ids;
};

// Opens /packs/<type>/<dim>, creating whatever is missing (also what a crash
// during an earlier creation left out). A new pack starts committed at zero.
PackDatasets open_or_create_pack(const FileContext& ctx, hid_t file, const std::string& type, std::int64_t dim) {
  check_type_name(type);
  const std::string where = std::string("/") + kPacksGroup + "/" + type + "/" + std::to_string(dim);
  Hid packs = open_or_create_group(ctx, file, kPacksGroup, std::string("/") + kPacksGroup);
  Hid by_type = open_or_create_group(ctx, packs.get(), type, std::string("/") + kPacksGroup + "/" + type);
  PackDatasets pack;
  pack.group = open_or_create_group(ctx, by_type.get(), std::to_string(dim), where);
  const hid_t group = pack.group.get();
  if (H5Aexists(group, kCommittedMembers) <= 0) write_int_attribute(ctx, group, kCommittedMembers, 0, where);

  const auto udim = static_cast<hsize_t>(dim);
  auto dataset = [&](const char* name, hid_t file_type, hsize_t cols, hsize_t chunk_rows, bool checksum) {
    const std::string path = where + "/" + name;
    if (has_link(group, name)) return open_dataset(ctx, group, name, path);
    return create_extendible_dataset(ctx, group, name, file_type, cols, chunk_rows, checksum, path);
  };
  pack.z = dataset("z", H5T_IEEE_F64LE, udim, std::max<hsize_t>(1, kChunkDoubles / udim), true);
  pack.beta = dataset("beta", H5T_IEEE_F64LE, 0, kChunkDoubles, true);
  pack.offsets = dataset("offsets", H5T_STD_I64LE, 0, kMemberChunk, true);
  pack.gamma = dataset("gamma", H5T_IEEE_F64LE, 0, kMemberChunk, true);
  pack.self_inner = dataset("self_inner", H5T_IEEE_F64LE, 0, kMemberChunk, true);
  pack.num_points = dataset("num_points", H5T_STD_I64LE, 0, kMemberChunk, true);
  Hid string_type = utf8_string_type(ctx);
  pack.ids = dataset("ids", string_type.get(), 0, kStringChunk, false);
  if (dataset_extent(ctx, pack.offsets.get(), 1, where + "/offsets")[0] == 0) {
    const std::int64_t zero = 0;
    write_rows(ctx, pack.offsets.get(), H5T_NATIVE_INT64, 0, 1, 0, &zero, where + "/offsets");
  }
  return pack;
}

// Writes the members of `added` (a pack whose offsets start at 0) after the
// first `members` members / `rows` rows of the pack on disk. Not committed.
void write_pack_tail(const FileContext& ctx, const PackDatasets& pack, std::int64_t members, std::int64_t rows,
                     const SpecPack& added, const std::string& where) {
  const auto m = static_cast<hsize_t>(members);
  const auto r = static_cast<hsize_t>(rows);
  const auto k = static_cast<hsize_t>(added.count());
  const auto added_rows = static_cast<hsize_t>(added.total_rows());
  write_rows(ctx, pack.z.get(), H5T_NATIVE_DOUBLE, r, added_rows, static_cast<hsize_t>(added.dim), added.z.data(),
             where + "/z");
  write_rows(ctx, pack.beta.get(), H5T_NATIVE_DOUBLE, r, added_rows, 0, added.beta.data(), where + "/beta");
  std::vector<std::int64_t> end_offsets(added.offsets.begin() + 1, added.offsets.end());
  for (auto& offset : end_offsets) offset += rows;
  write_rows(ctx, pack.offsets.get(), H5T_NATIVE_INT64, m + 1, k, 0, end_offsets.data(), where + "/offsets");
  write_rows(ctx, pack.gamma.get(), H5T_NATIVE_DOUBLE, m, k, 0, added.gamma.data(), where + "/gamma");
  write_rows(ctx, pack.self_inner.get(), H5T_NATIVE_DOUBLE, m, k, 0, added.self_inner.data(), where + "/self_inner");
  write_rows(ctx, pack.num_points.get(), H5T_NATIVE_INT64, m, k, 0, added.num_points.data(), where + "/num_points");
  write_strings(ctx, pack.ids.get(), m, added.ids, where + "/ids");
}

// The commit point of a pack is this one attribute: a single small write,
// so a crash leaves either the old or the new count, never a mix.
void commit_pack(const FileContext& ctx, const PackDatasets& pack, std::int64_t members, const std::string& where) {
  write_int_attribute(ctx, pack.group.get(), kCommittedMembers, members, where);
}

// Rows in use by the first `members` members: offsets[members].
std::int64_t committed_rows(const FileContext& ctx, const PackDatasets& pack, std::int64_t members,
                            const std::string& where) {
  const auto needed = static_cast<hsize_t>(members) + 1;
  if (dataset_extent(ctx, pack.offsets.get(), 1, where + "/offsets")[0] < needed) {
    ctx.fail("dataset " + where + "/offsets has fewer entries than committed (damaged)");
  }
  std::vector<std::int64_t> offsets(needed);
  read_rows(ctx, pack.offsets.get(), H5T_NATIVE_INT64, needed, 0, offsets.data(), where + "/offsets");
  return offsets.back();
}

// Keeps, of members sharing an id, only the last one (the newest append).
SpecPack drop_superseded_members(SpecPack pack) {
  std::unordered_set<std::string> seen;
  std::vector<bool> keep(pack.ids.size(), false);
  bool any_dropped = false;
  for (std::size_t i = pack.ids.size(); i-- > 0;) {
    keep[i] = seen.insert(pack.ids[i]).second;
    any_dropped = any_dropped || !keep[i];
  }
  if (!any_dropped) return pack;
  return pack.with_members(keep);
}

// Sizes `v` to n values, asking the kernel for transparent huge pages when
// the buffer is large: a pack's Z is megabytes, and faulting it in 4 KiB pages
// was a third of a one-search command on a virtual machine (1 500 faults
// instead of 4 000 at 1 240 learnwares). Where the kernel does not take the
// advice nothing changes.
void resize_in_huge_pages(std::vector<double>& v, std::size_t n) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  if (n * sizeof(double) >= 2 * kHugePage && v.empty()) {
    v.reserve(n);  // allocated (mmap) but not yet touched
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
    const std::uintptr_t first = (begin + kHugePage - 1) / kHugePage * kHugePage;
    const std::uintptr_t last = (begin + n * sizeof(double)) / kHugePage * kHugePage;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
  v.resize(n);
}

// Reads the committed part of one pack group. `file_bytes` bounds what the
// counts may claim: HDF5 reads never-written chunks as zeros, so a damaged
// count could otherwise make us allocate far more than the file holds.
std::optional<SpecPack> read_pack(const FileContext& ctx, hid_t group, const std::string& type, std::int64_t dim,
                                  std::uintmax_t file_bytes, std::int64_t& stored_members,
                                  std::optional<std::int64_t> cap = std::nullopt) {
  const std::string where = std::string("/") + kPacksGroup + "/" + type + "/" + std::to_string(dim);
  auto members = read_int_attribute(ctx, group, kCommittedMembers, where + "@" + kCommittedMembers);
  if (members && cap && *cap >= 0 && *cap < *members) members = *cap;
  // A group without its count was being created when a writer died: nothing in it was ever committed.
  if (!members || *members == 0) return std::nullopt;
  if (*members < 0) ctx.fail("pack " + where + " has a negative committed count (damaged)");
  const auto m = static_cast<hsize_t>(*members);
  const auto d = static_cast<hsize_t>(dim);
  if (m * sizeof(double) > file_bytes) {
    ctx.fail("pack " + where + " claims more members than the file holds (truncated or damaged)");
  }

  Hid z = open_dataset(ctx, group, "z", where + "/z");
  Hid beta = open_dataset(ctx, group, "beta", where + "/beta");
  Hid offsets = open_dataset(ctx, group, "offsets", where + "/offsets");
  Hid gamma = open_dataset(ctx, group, "gamma", where + "/gamma");
  Hid self_inner = open_dataset(ctx, group, "self_inner", where + "/self_inner");
  Hid num_points = open_dataset(ctx, group, "num_points", where + "/num_points");
  Hid ids = open_dataset(ctx, group, "ids", where + "/ids");

  SpecPack pack;
  pack.type = type;
  pack.dim = dim;
  if (dataset_extent(ctx, offsets.get(), 1, where + "/offsets")[0] < m + 1) {
    ctx.fail("dataset " + where + "/offsets has fewer entries than committed (truncated or damaged)");
  }
  pack.offsets.resize(m + 1);
  read_rows(ctx, offsets.get(), H5T_NATIVE_INT64, m + 1, 0, pack.offsets.data(), where + "/offsets");
  if (pack.offsets.front() != 0) ctx.fail("dataset " + where + "/offsets does not start at 0 (damaged)");
  for (std::size_t i = 0; i < m; ++i) {
    if (pack.offsets[i + 1] <= pack.offsets[i]) ctx.fail("dataset " + where + "/offsets is not increasing (damaged)");
  }
  const auto r = static_cast<hsize_t>(pack.offsets.back());
  if (r > file_bytes || r * d * sizeof(double) > file_bytes) {
    ctx.fail("pack " + where + " claims more rows than the file holds (truncated or damaged)");
  }

  const auto z_dims = dataset_extent(ctx, z.get(), 2, where + "/z");
  if (z_dims[1] != d) {
    ctx.fail("dataset " + where + "/z has width " + std::to_string(z_dims[1]) + ", but the pack is for width " +
             std::to_string(dim));
  }
  auto require_rows = [&](hid_t dataset, const char* name, hsize_t needed) {
    const hsize_t have = dataset_extent(ctx, dataset, 1, where + "/" + name)[0];
    if (have < needed) {
      ctx.fail("dataset " + where + "/" + name + " has " + std::to_string(have) + " entries but " +
               std::to_string(needed) + " are committed (truncated or damaged)");
    }
  };
  if (z_dims[0] < r) ctx.fail("dataset " + where + "/z has fewer rows than committed (truncated or damaged)");
  require_rows(beta.get(), "beta", r);
  require_rows(gamma.get(), "gamma", m);
  require_rows(self_inner.get(), "self_inner", m);
  require_rows(num_points.get(), "num_points", m);
  require_rows(ids.get(), "ids", m);

  resize_in_huge_pages(pack.z, r * d);
  read_rows(ctx, z.get(), H5T_NATIVE_DOUBLE, r, d, pack.z.data(), where + "/z");
  pack.beta.resize(r);
  read_rows(ctx, beta.get(), H5T_NATIVE_DOUBLE, r, 0, pack.beta.data(), where + "/beta");
  pack.gamma.resize(m);
  read_rows(ctx, gamma.get(), H5T_NATIVE_DOUBLE, m, 0, pack.gamma.data(), where + "/gamma");
  pack.self_inner.resize(m);
  read_rows(ctx, self_inner.get(), H5T_NATIVE_DOUBLE, m, 0, pack.self_inner.data(), where + "/self_inner");
  pack.num_points.resize(m);
  read_rows(ctx, num_points.get(), H5T_NATIVE_INT64, m, 0, pack.num_points.data(), where + "/num_points");
  pack.ids = read_strings(ctx, ids.get(), m, where + "/ids");
  for (const auto& id : pack.ids) {
    if (id.empty()) ctx.fail("pack " + where + " has a member with an empty id");
  }
  stored_members += *members;
  // Superseded members go first, so a bad newest member is not replaced by the
  // older one it superseded. A member whose numbers are bad (written by a
  // version that did not check them, or damaged where no checksum looks) is
  // left out with a warning; the rest of the market stays usable.
  pack = drop_superseded_members(std::move(pack));
  for (const auto& dropped : pack.drop_bad_members()) {
    warn(ctx.file().string() + ": pack " + where.substr(std::string("/packs/").size()) + ": member " + dropped +
         "; left out (`lwdock market rebuild` re-derives it from its package)");
  }
  try {
    pack.validate();
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  if (pack.count() == 0) return std::nullopt;
  return pack;
}

// ---- string tables: /semantic and /facts/<type> ------------------------------

// Per learnware id one JSON text, appended like the packs: an extendible
// "ids" and "json" pair whose committed_count attribute is the commit point.
struct StringTable {
  Hid group, ids, json;
  std::string where;
};

StringTable open_or_create_table(const FileContext& ctx, hid_t parent, const std::string& name,
                                 const std::string& where) {
  StringTable table;
  table.where = where;
  table.group = open_or_create_group(ctx, parent, name, where);
  if (H5Aexists(table.group.get(), kCommittedCount) <= 0) {
    write_int_attribute(ctx, table.group.get(), kCommittedCount, 0, where);
  }
  Hid string_type = utf8_string_type(ctx);
  auto dataset = [&](const char* dataset_name) {
    if (has_link(table.group.get(), dataset_name))
      return open_dataset(ctx, table.group.get(), dataset_name, where + "/" + dataset_name);
    return create_extendible_dataset(ctx, table.group.get(), dataset_name, string_type.get(), 0, kStringChunk, false,
                                     where + "/" + dataset_name);
  };
  table.ids = dataset("ids");
  table.json = dataset("json");
  return table;
}

StringTable open_or_create_semantic(const FileContext& ctx, hid_t file) {
  return open_or_create_table(ctx, file, kSemanticGroup, std::string("/") + kSemanticGroup);
}

StringTable open_or_create_facts(const FileContext& ctx, hid_t file, const std::string& type) {
  check_type_name(type);
  Hid facts = open_or_create_group(ctx, file, kFactsGroup, std::string("/") + kFactsGroup);
  return open_or_create_table(ctx, facts.get(), type, std::string("/") + kFactsGroup + "/" + type);
}

std::int64_t committed_table_count(const FileContext& ctx, const StringTable& table) {
  return read_int_attribute(ctx, table.group.get(), kCommittedCount, table.where + "@committed_count").value_or(0);
}

// Writes entries from `at` on (not committed).
void write_table_rows(const FileContext& ctx, const StringTable& table, std::int64_t at,
                      std::span<const std::string> ids, std::span<const std::string> json) {
  write_strings(ctx, table.ids.get(), static_cast<hsize_t>(at), ids, table.where + "/ids");
  write_strings(ctx, table.json.get(), static_cast<hsize_t>(at), json, table.where + "/json");
}

void commit_table(const FileContext& ctx, const StringTable& table, std::int64_t count) {
  write_int_attribute(ctx, table.group.get(), kCommittedCount, count, table.where);
}

// Reads the committed entries of the table in `group` (at most `cap`); in
// file order, so a later entry for the same id (an update) wins.
JsonById read_table(const FileContext& ctx, hid_t group, const std::string& where, std::uintmax_t file_bytes,
                    std::optional<std::int64_t> cap = std::nullopt) {
  JsonById json_by_id;
  auto count = read_int_attribute(ctx, group, kCommittedCount, where + "@committed_count");
  if (count && cap && *cap >= 0 && *cap < *count) count = *cap;
  if (!count || *count == 0) return json_by_id;
  if (*count < 0 || static_cast<std::uintmax_t>(*count) * sizeof(hvl_t) > file_bytes) {
    ctx.fail("group " + where + " has an impossible committed count (damaged)");
  }
  const auto n = static_cast<hsize_t>(*count);
  Hid ids = open_dataset(ctx, group, "ids", where + "/ids");
  Hid json = open_dataset(ctx, group, "json", where + "/json");
  for (const auto& [dataset, name] : {std::pair{ids.get(), "ids"}, std::pair{json.get(), "json"}}) {
    if (dataset_extent(ctx, dataset, 1, where + "/" + name)[0] < n) {
      ctx.fail("dataset " + where + "/" + name + " has fewer entries than committed (truncated or damaged)");
    }
  }
  const auto id_values = read_strings(ctx, ids.get(), n, where + "/ids");
  auto json_values = read_strings(ctx, json.get(), n, where + "/json");
  for (std::size_t i = 0; i < n; ++i) {
    if (id_values[i].empty()) ctx.fail("dataset " + where + "/ids has an empty id");
    if (json_values[i].empty()) {
      json_by_id.erase(id_values[i]);  // cleared by an update
    } else {
      json_by_id[id_values[i]] = std::move(json_values[i]);
    }
  }
  return json_by_id;
}

// Writes a whole table into a new file.
void write_table(const FileContext& ctx, const StringTable& table, const JsonById& json_by_id) {
  std::vector<std::string> ids;
  std::vector<std::string> json;
  for (const auto& [id, text] : json_by_id) {
    ids.push_back(id);
    json.push_back(text);
  }
  write_table_rows(ctx, table, 0, ids, json);
  commit_table(ctx, table, static_cast<std::int64_t>(ids.size()));
}

// Opens the file for reading, with its size (which bounds what counts may claim).
struct OpenedForReading {
  Hid file;
  std::uintmax_t bytes = 0;
};
OpenedForReading open_for_reading(const FileContext& ctx) {
  OpenedForReading opened{open_market_file(ctx, H5F_ACC_RDONLY), 0};
  std::error_code ec;
  opened.bytes = fs::file_size(ctx.file(), ec);
  if (ec) ctx.fail("cannot read its size: " + ec.message());
  return opened;
}

SpecPack one_member_pack(const std::string& id, const PackedSpec& spec) {
  SpecPack pack;
  pack.type = spec.type;
  pack.dim = spec.dim;
  pack.ids = {id};
  pack.offsets = {0, spec.rows()};
  pack.z = spec.z;
  pack.beta = spec.beta;
  pack.gamma = {spec.gamma};
  pack.self_inner = {spec.self_inner};
  pack.num_points = {spec.num_points};
  return pack;
}

}  // namespace

PackedSpec pack_spec(std::string_view type, const RKMETableSpec& spec, const kernels::Context& ctx) {
  if (spec.empty()) throw Error("cannot store an empty " + std::string(type));
  PackedSpec packed;
  packed.type = std::string(type);
  packed.dim = spec.dim();
  packed.z = spec.z().values();
  packed.beta = spec.beta();
  packed.gamma = spec.gamma();
  packed.self_inner = spec.inner_product(spec, ctx);
  packed.num_points = spec.num_points();
  return packed;
}

void write_market_h5(const fs::path& path, const MarketSnapshot& snapshot) {
  for (const auto& [key, pack] : snapshot.packs) {
    check_type_name(pack.type);
    if (key != spec_pack_key(pack.type, pack.dim)) {
      throw Error(path.string() + ": pack stored under \"" + key + "\" holds " + spec_pack_key(pack.type, pack.dim));
    }
    pack.validate();
  }
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  fs::path temp = path;
  temp += ".tmp";
  const FileContext ctx(temp);
  std::error_code ec;
  try {
    {
      Hid properties = file_access_properties(ctx);
      Hid file = ctx.check(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, properties.get()), H5Fclose,
                           "cannot create the file");
      write_string_attribute(ctx, file.get(), "format", kMarketH5Format);
      write_int_attribute(ctx, file.get(), "version", kMarketH5Version, "/version");
      open_or_create_group(ctx, file.get(), kPacksGroup, std::string("/") + kPacksGroup);
      for (const auto& [key, pack] : snapshot.packs) {
        if (pack.count() == 0) continue;
        const std::string where = std::string("/") + kPacksGroup + "/" + key;
        PackDatasets datasets = open_or_create_pack(ctx, file.get(), pack.type, pack.dim);
        write_pack_tail(ctx, datasets, 0, 0, pack, where);
        commit_pack(ctx, datasets, pack.count(), where);
      }
      write_table(ctx, open_or_create_semantic(ctx, file.get()), snapshot.semantic_json_by_id);
      for (const auto& [type, json_by_id] : snapshot.facts_by_type) {
        if (!json_by_id.empty()) write_table(ctx, open_or_create_facts(ctx, file.get(), type), json_by_id);
      }
      ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the file");
    }
    fsync_file(ctx, temp);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      throw Error(path.string() + ": cannot replace it with " + temp.filename().string() + ": " +
                  std::generic_category().message(errno));
    }
  } catch (...) {
    fs::remove(temp, ec);
    throw;
  }
  fsync_directory(path.parent_path());
}

MarketSnapshot read_market_h5(const fs::path& path) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  const OpenedForReading opened = open_for_reading(ctx);
  MarketSnapshot snapshot;
  for_each_pack_group(ctx, opened.file.get(), [&](const std::string& type, std::int64_t dim, hid_t group) {
    if (auto pack = read_pack(ctx, group, type, dim, opened.bytes, snapshot.stored_member_count)) {
      snapshot.packs.emplace(spec_pack_key(type, dim), std::move(*pack));
    }
  });
  if (has_link(opened.file.get(), kSemanticGroup)) {
    Hid group = open_group(ctx, opened.file.get(), kSemanticGroup, std::string("/") + kSemanticGroup);
    snapshot.semantic_json_by_id = read_table(ctx, group.get(), std::string("/") + kSemanticGroup, opened.bytes);
  }
  if (has_link(opened.file.get(), kFactsGroup)) {
    Hid facts = open_group(ctx, opened.file.get(), kFactsGroup, std::string("/") + kFactsGroup);
    for (const auto& type : child_names(ctx, facts.get(), std::string("/") + kFactsGroup)) {
      const std::string where = std::string("/") + kFactsGroup + "/" + type;
      Hid group = open_group(ctx, facts.get(), type, where);
      auto json_by_id = read_table(ctx, group.get(), where, opened.bytes);
      if (!json_by_id.empty()) snapshot.facts_by_type.emplace(type, std::move(json_by_id));
    }
  }
  return snapshot;
}

std::int64_t MarketH5Contents::stored_members() const {
  std::int64_t total = 0;
  for (const auto& [key, members] : pack_members) total += members;
  return total;
}

MarketH5Contents read_market_h5_contents(const fs::path& path) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  Hid file = open_market_file(ctx, H5F_ACC_RDONLY);
  MarketH5Contents contents;
  contents.version = market_file_version(ctx, file.get());
  for_each_pack_group(ctx, file.get(), [&](const std::string& type, std::int64_t dim, hid_t group) {
    const std::string key = spec_pack_key(type, dim);
    const auto members = read_int_attribute(ctx, group, kCommittedMembers, "/packs/" + key + "@" + kCommittedMembers);
    if (members && *members < 0) ctx.fail("pack /packs/" + key + " has a negative committed count (damaged)");
    if (members && *members > 0) contents.pack_members[key] = *members;
  });
  auto count_of = [&](hid_t group, const std::string& where) {
    const auto count = read_int_attribute(ctx, group, kCommittedCount, where + "@committed_count").value_or(0);
    if (count < 0) ctx.fail("group " + where + " has a negative committed count (damaged)");
    return count;
  };
  if (has_link(file.get(), kSemanticGroup)) {
    Hid group = open_group(ctx, file.get(), kSemanticGroup, std::string("/") + kSemanticGroup);
    contents.semantic_count = count_of(group.get(), std::string("/") + kSemanticGroup);
  }
  if (has_link(file.get(), kFactsGroup)) {
    Hid facts = open_group(ctx, file.get(), kFactsGroup, std::string("/") + kFactsGroup);
    for (const auto& type : child_names(ctx, facts.get(), std::string("/") + kFactsGroup)) {
      const std::string where = std::string("/") + kFactsGroup + "/" + type;
      Hid group = open_group(ctx, facts.get(), type, where);
      if (const auto count = count_of(group.get(), where); count > 0) contents.fact_counts[type] = count;
    }
  }
  return contents;
}

std::optional<SpecPack> read_market_h5_pack(const fs::path& path, const std::string& key,
                                            std::optional<std::int64_t> committed) {
  const auto [type, dim] = split_pack_key(key);
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  const OpenedForReading opened = open_for_reading(ctx);
  const std::string where = "/packs/" + key;
  if (!has_link(opened.file.get(), kPacksGroup)) return std::nullopt;
  Hid packs = open_group(ctx, opened.file.get(), kPacksGroup, "/packs");
  if (!has_link(packs.get(), type)) return std::nullopt;
  Hid by_type = open_group(ctx, packs.get(), type, "/packs/" + type);
  if (!has_link(by_type.get(), std::to_string(dim))) return std::nullopt;
  Hid group = open_group(ctx, by_type.get(), std::to_string(dim), where);
  std::int64_t stored = 0;
  return read_pack(ctx, group.get(), type, dim, opened.bytes, stored, committed);
}

namespace {

// The string table at /<group>[/<child>], or none if the file has no such table.
JsonById read_market_h5_table(const fs::path& path, const std::string& group_name, const std::string& child,
                              std::optional<std::int64_t> committed) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  const OpenedForReading opened = open_for_reading(ctx);
  if (!has_link(opened.file.get(), group_name)) return {};
  std::string where = "/" + group_name;
  Hid group = open_group(ctx, opened.file.get(), group_name, where);
  if (!child.empty()) {
    if (!has_link(group.get(), child)) return {};
    where += "/" + child;
    group = open_group(ctx, group.get(), child, where);
  }
  return read_table(ctx, group.get(), where, opened.bytes, committed);
}

}  // namespace

JsonById read_market_h5_semantic(const fs::path& path, std::optional<std::int64_t> committed) {
  return read_market_h5_table(path, kSemanticGroup, "", committed);
}

JsonById read_market_h5_facts(const fs::path& path, const std::string& type, std::optional<std::int64_t> committed) {
  check_type_name(type);
  return read_market_h5_table(path, kFactsGroup, type, committed);
}

namespace {

// Checks that the part at `where` has committed at least `to` entries.
void require_committed(const FileContext& ctx, std::optional<std::int64_t> committed, std::int64_t to,
                       const std::string& where) {
  if (committed.value_or(0) < to) {
    ctx.fail("part " + where + " holds " + std::to_string(committed.value_or(0)) + " committed entries, fewer than the " +
             std::to_string(to) + " seen (replaced or damaged)");
  }
}

PackAppended read_pack_appended(const FileContext& ctx, hid_t group, const std::string& type, std::int64_t dim,
                                std::uintmax_t file_bytes, std::int64_t from, std::int64_t to) {
  const std::string where = std::string("/") + kPacksGroup + "/" + type + "/" + std::to_string(dim);
  require_committed(ctx, read_int_attribute(ctx, group, kCommittedMembers, where + "@" + kCommittedMembers), to, where);
  PackAppended appended;
  if (to <= from) return appended;
  const auto first = static_cast<hsize_t>(from);
  const auto m = static_cast<hsize_t>(to - from);
  const auto d = static_cast<hsize_t>(dim);
  Hid z = open_dataset(ctx, group, "z", where + "/z");
  Hid beta = open_dataset(ctx, group, "beta", where + "/beta");
  Hid offsets = open_dataset(ctx, group, "offsets", where + "/offsets");
  Hid gamma = open_dataset(ctx, group, "gamma", where + "/gamma");
  Hid self_inner = open_dataset(ctx, group, "self_inner", where + "/self_inner");
  Hid num_points = open_dataset(ctx, group, "num_points", where + "/num_points");
  Hid ids = open_dataset(ctx, group, "ids", where + "/ids");
  auto require_rows = [&](hid_t dataset, const char* name, hsize_t needed, int rank = 1) {
    const hsize_t have = dataset_extent(ctx, dataset, rank, where + "/" + name)[0];
    if (have < needed) {
      ctx.fail("dataset " + where + "/" + name + " has " + std::to_string(have) + " entries but " +
               std::to_string(needed) + " are committed (truncated or damaged)");
    }
  };
  require_rows(offsets.get(), "offsets", first + m + 1);
  SpecPack& pack = appended.members;
  pack.type = type;
  pack.dim = dim;
  pack.offsets.resize(m + 1);
  read_rows_from(ctx, offsets.get(), H5T_NATIVE_INT64, first, m + 1, 0, pack.offsets.data(), where + "/offsets");
  const std::int64_t base = pack.offsets.front();
  if (base < 0) ctx.fail("dataset " + where + "/offsets holds a negative offset (damaged)");
  for (std::size_t i = 0; i < m; ++i) {
    if (pack.offsets[i + 1] <= pack.offsets[i]) ctx.fail("dataset " + where + "/offsets is not increasing (damaged)");
  }
  for (auto& offset : pack.offsets) offset -= base;
  const auto r = static_cast<hsize_t>(pack.offsets.back());
  if (r > file_bytes || r * d * sizeof(double) > file_bytes) {
    ctx.fail("pack " + where + " claims more rows than the file holds (truncated or damaged)");
  }
  const auto z_dims = dataset_extent(ctx, z.get(), 2, where + "/z");
  if (z_dims[1] != d) {
    ctx.fail("dataset " + where + "/z has width " + std::to_string(z_dims[1]) + ", but the pack is for width " +
             std::to_string(dim));
  }
  const auto first_row = static_cast<hsize_t>(base);
  require_rows(z.get(), "z", first_row + r, 2);
  require_rows(beta.get(), "beta", first_row + r);
  for (const auto& [dataset, name] : {std::pair{gamma.get(), "gamma"}, std::pair{self_inner.get(), "self_inner"},
                                      std::pair{num_points.get(), "num_points"}, std::pair{ids.get(), "ids"}}) {
    require_rows(dataset, name, first + m);
  }
  pack.z.resize(r * d);
  read_rows_from(ctx, z.get(), H5T_NATIVE_DOUBLE, first_row, r, d, pack.z.data(), where + "/z");
  pack.beta.resize(r);
  read_rows_from(ctx, beta.get(), H5T_NATIVE_DOUBLE, first_row, r, 0, pack.beta.data(), where + "/beta");
  pack.gamma.resize(m);
  read_rows_from(ctx, gamma.get(), H5T_NATIVE_DOUBLE, first, m, 0, pack.gamma.data(), where + "/gamma");
  pack.self_inner.resize(m);
  read_rows_from(ctx, self_inner.get(), H5T_NATIVE_DOUBLE, first, m, 0, pack.self_inner.data(), where + "/self_inner");
  pack.num_points.resize(m);
  read_rows_from(ctx, num_points.get(), H5T_NATIVE_INT64, first, m, 0, pack.num_points.data(), where + "/num_points");
  pack.ids = read_strings_from(ctx, ids.get(), first, m, where + "/ids");
  for (const auto& id : pack.ids) {
    if (id.empty()) ctx.fail("pack " + where + " has a member with an empty id");
  }
  // As read_pack does: the newest member per id first, then its numbers.
  pack = drop_superseded_members(std::move(pack));
  appended.ids = pack.ids;
  for (const auto& dropped : pack.drop_bad_members()) {
    warn(ctx.file().string() + ": pack " + where.substr(std::string("/packs/").size()) + ": member " + dropped +
         "; left out (`lwdock market rebuild` re-derives it from its package)");
  }
  try {
    pack.validate();
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  return appended;
}

AppendedEntries read_table_appended(const fs::path& path, const std::string& group_name, const std::string& child,
                                    std::int64_t from, std::int64_t to) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  const OpenedForReading opened = open_for_reading(ctx);
  std::string where = "/" + group_name + (child.empty() ? "" : "/" + child);
  AppendedEntries entries;
  if (!has_link(opened.file.get(), group_name)) {
    require_committed(ctx, 0, to, where);
    return entries;
  }
  Hid group = open_group(ctx, opened.file.get(), group_name, "/" + group_name);
  if (!child.empty()) {
    if (!has_link(group.get(), child)) {
      require_committed(ctx, 0, to, where);
      return entries;
    }
    group = open_group(ctx, group.get(), child, where);
  }
  require_committed(ctx, read_int_attribute(ctx, group.get(), kCommittedCount, where + "@committed_count"), to, where);
  if (to <= from) return entries;
  const auto first = static_cast<hsize_t>(from);
  const auto n = static_cast<hsize_t>(to - from);
  if (n * sizeof(hvl_t) > opened.bytes) ctx.fail("group " + where + " has an impossible committed count (damaged)");
  Hid ids = open_dataset(ctx, group.get(), "ids", where + "/ids");
  Hid json = open_dataset(ctx, group.get(), "json", where + "/json");
  for (const auto& [dataset, name] : {std::pair{ids.get(), "ids"}, std::pair{json.get(), "json"}}) {
    if (dataset_extent(ctx, dataset, 1, where + "/" + name)[0] < first + n) {
      ctx.fail("dataset " + where + "/" + name + " has fewer entries than committed (truncated or damaged)");
    }
  }
  auto id_values = read_strings_from(ctx, ids.get(), first, n, where + "/ids");
  auto json_values = read_strings_from(ctx, json.get(), first, n, where + "/json");
  entries.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (id_values[i].empty()) ctx.fail("dataset " + where + "/ids has an empty id");
    entries.emplace_back(std::move(id_values[i]), std::move(json_values[i]));
  }
  return entries;
}

}  // namespace

PackAppended read_market_h5_pack_appended(const fs::path& path, const std::string& key, std::int64_t from,
                                          std::int64_t to) {
  const auto [type, dim] = split_pack_key(key);
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  const OpenedForReading opened = open_for_reading(ctx);
  const std::string where = "/packs/" + key;
  const hid_t file = opened.file.get();
  if (!has_link(file, kPacksGroup)) {
    require_committed(ctx, 0, to, where);
    return {};
  }
  Hid packs = open_group(ctx, file, kPacksGroup, "/packs");
  if (!has_link(packs.get(), type)) {
    require_committed(ctx, 0, to, where);
    return {};
  }
  Hid by_type = open_group(ctx, packs.get(), type, "/packs/" + type);
  if (!has_link(by_type.get(), std::to_string(dim))) {
    require_committed(ctx, 0, to, where);
    return {};
  }
  Hid group = open_group(ctx, by_type.get(), std::to_string(dim), where);
  return read_pack_appended(ctx, group.get(), type, dim, opened.bytes, from, to);
}

AppendedEntries read_market_h5_semantic_appended(const fs::path& path, std::int64_t from, std::int64_t to) {
  return read_table_appended(path, kSemanticGroup, "", from, to);
}

AppendedEntries read_market_h5_facts_appended(const fs::path& path, const std::string& type, std::int64_t from,
                                              std::int64_t to) {
  check_type_name(type);
  return read_table_appended(path, kFactsGroup, type, from, to);
}

MarketCommitPoint append_to_market_h5(const fs::path& path, const MarketAppend& entry,
                                      const std::function<void(std::string_view step)>& at_step) {
  const auto step = [&](std::string_view name) {
    if (at_step) at_step(name);
  };
  if (entry.id.empty()) throw Error(path.string() + ": cannot append a learnware without an id");
  std::set<std::string> keys;
  for (const auto& spec : entry.specs) {
    check_type_name(spec.type);
    if (spec.dim <= 0 || spec.rows() <= 0 || spec.z.size() != static_cast<std::size_t>(spec.rows() * spec.dim)) {
      throw Error(path.string() + ": learnware " + entry.id + ": its " + spec.type + " spec has inconsistent sizes");
    }
    if (!keys.insert(spec.pack_key()).second) {
      throw Error(path.string() + ": learnware " + entry.id + " has two specs for pack " + spec.pack_key());
    }
  }
  std::set<std::string> fact_types;
  for (const auto& [type, json] : entry.facts) {
    check_type_name(type);
    if (json.empty()) throw Error(path.string() + ": learnware " + entry.id + " has empty search facts of type " + type);
    if (!fact_types.insert(type).second) {
      throw Error(path.string() + ": learnware " + entry.id + " has two search facts of type " + type);
    }
  }
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  MarketCommitPoint before;
  {
    Hid file = open_market_file(ctx, H5F_ACC_RDWR);
    step("append_h5_open");
    struct PendingPack {
      PackDatasets datasets;
      std::int64_t members = 0;  // after the append
      std::string where;
    };
    std::vector<PendingPack> pending;
    for (const auto& spec : entry.specs) {
      PendingPack next;
      next.where = "/packs/" + spec.pack_key();
      next.datasets = open_or_create_pack(ctx, file.get(), spec.type, spec.dim);
      const std::int64_t members =
          read_int_attribute(ctx, next.datasets.group.get(), kCommittedMembers, next.where).value_or(0);
      if (members < 0) ctx.fail("pack " + next.where + " has a negative committed count (damaged)");
      const std::int64_t rows = committed_rows(ctx, next.datasets, members, next.where);
      before.pack_members[spec.pack_key()] = members;
      write_pack_tail(ctx, next.datasets, members, rows, one_member_pack(entry.id, spec), next.where);
      next.members = members + 1;
      pending.push_back(std::move(next));
    }
    StringTable semantic = open_or_create_semantic(ctx, file.get());
    before.semantic_count = committed_table_count(ctx, semantic);
    if (entry.semantic_json) {
      write_table_rows(ctx, semantic, before.semantic_count, std::span<const std::string>(&entry.id, 1),
                       std::span<const std::string>(&*entry.semantic_json, 1));
    }
    std::vector<std::pair<StringTable, std::int64_t>> pending_facts;  // table, count after the append
    SearchFacts facts = entry.facts;
    if (entry.replaces && has_link(file.get(), kFactsGroup)) {
      Hid group = open_group(ctx, file.get(), kFactsGroup, std::string("/") + kFactsGroup);
      for (const auto& type : child_names(ctx, group.get(), std::string("/") + kFactsGroup))
        if (!fact_types.contains(type)) facts.emplace_back(type, std::string());
    }
    for (const auto& [type, json] : facts) {
      StringTable table = open_or_create_facts(ctx, file.get(), type);
      const std::int64_t count = committed_table_count(ctx, table);
      before.fact_counts[type] = count;
      write_table_rows(ctx, table, count, std::span<const std::string>(&entry.id, 1),
                       std::span<const std::string>(&json, 1));
      pending_facts.emplace_back(std::move(table), count + 1);
    }
    step("append_h5_rows");
    // The rows must be on disk before the counts that make them visible.
    ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the appended rows");
    fsync_file(ctx, path);
    step("append_h5_commit");
    for (const auto& pack : pending) commit_pack(ctx, pack.datasets, pack.members, pack.where);
    if (entry.semantic_json) commit_table(ctx, semantic, before.semantic_count + 1);
    for (const auto& [table, count] : pending_facts) commit_table(ctx, table, count);
    step("append_h5_close");
    ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the commit");
  }
  fsync_file(ctx, path);
  return before;
}

void clear_market_h5_write_mark(const fs::path& path) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  Hid properties = file_access_properties(ctx);
  // "clear_status_flags" is the file access property h5clear sets; HDF5 1.10
  // to 1.14 register it on every file access property list, without a
  // dedicated setter.
  constexpr const char* kClearStatusFlags = "clear_status_flags";
  if (H5Pexist(properties.get(), kClearStatusFlags) <= 0)
    ctx.fail("is marked as open for writing and this HDF5 library cannot clear the mark");
  hbool_t clear = true;
  ctx.check(H5Pset(properties.get(), kClearStatusFlags, &clear), "cannot ask HDF5 to clear the open-for-writing mark");
  Hid file = ctx.check(H5Fopen(path.c_str(), H5F_ACC_RDWR, properties.get()), H5Fclose,
                       "cannot clear the open-for-writing mark (truncated or damaged?)");
  ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the cleared mark");
  file.reset();
  fsync_file(ctx, path);
}

void restore_market_h5_commit(const fs::path& path, const MarketCommitPoint& point) {
  std::lock_guard lock(hdf5_mutex());
  silence_hdf5_errors();
  const FileContext ctx(path);
  {
    Hid file = open_market_file(ctx, H5F_ACC_RDWR);
    for (const auto& [key, members] : point.pack_members) {
      const auto [type, dim] = split_pack_key(key);
      const std::string where = "/packs/" + key;
      if (!has_link(file.get(), kPacksGroup)) break;
      Hid packs = open_group(ctx, file.get(), kPacksGroup, "/packs");
      if (!has_link(packs.get(), type)) continue;
      Hid by_type = open_group(ctx, packs.get(), type, "/packs/" + type);
      if (!has_link(by_type.get(), std::to_string(dim))) continue;
      Hid group = open_group(ctx, by_type.get(), std::to_string(dim), where);
      write_int_attribute(ctx, group.get(), kCommittedMembers, members, where);
    }
    if (has_link(file.get(), kSemanticGroup)) {
      Hid semantic = open_group(ctx, file.get(), kSemanticGroup, "/semantic");
      write_int_attribute(ctx, semantic.get(), kCommittedCount, point.semantic_count, "/semantic");
    }
    if (!point.fact_counts.empty() && has_link(file.get(), kFactsGroup)) {
      Hid facts = open_group(ctx, file.get(), kFactsGroup, "/facts");
      for (const auto& [type, count] : point.fact_counts) {
        if (!has_link(facts.get(), type)) continue;
        Hid group = open_group(ctx, facts.get(), type, "/facts/" + type);
        write_int_attribute(ctx, group.get(), kCommittedCount, count, "/facts/" + type);
      }
    }
    ctx.check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "cannot flush the restored counts");
  }
  fsync_file(ctx, path);
}

}  // namespace lwd
