#include "engine/store/hdf5_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "engine/error.h"

namespace lwd::hdf5 {

namespace fs = std::filesystem;

// One caller at a time: a thread-safe HDF5 build serialises on its own global
// lock anyway, and a build without thread safety must not be entered twice.
std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

// HDF5 prints its error stack to stderr by default; we report through
// lwd::Error instead. Called on every entry because the setting is per thread
// in thread-safe builds.
void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The innermost messages of HDF5's error stack (they name the actual cause,
// e.g. "truncated file" or "data error detected by fletcher32 checksum").
std::string hdf5_error_details() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* error, void* data) -> herr_t {
        if (error->desc != nullptr && *error->desc != '\0') static_cast<std::vector<std::string>*>(data)->push_back(error->desc);
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  std::string text;
  for (std::size_t i = 0; i < messages.size() && i < 3; ++i) {
    if (!text.empty()) text += "; ";
    text += messages[i];
  }
  return text;
}

bool has_link(hid_t location, const std::string& name) { return H5Lexists(location, name.c_str(), H5P_DEFAULT) > 0; }

Hid open_group(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where) {
  if (!has_link(location, name)) ctx.fail("group " + where + " is missing");
  return ctx.check(H5Gopen2(location, name.c_str(), H5P_DEFAULT), H5Gclose, "cannot open group " + where);
}

Hid open_or_create_group(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where) {
  if (has_link(location, name)) return open_group(ctx, location, name, where);
  return ctx.check(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                   "cannot create group " + where);
}

Hid open_dataset(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where) {
  if (!has_link(location, name)) ctx.fail("dataset " + where + " is missing");
  return ctx.check(H5Dopen2(location, name.c_str(), H5P_DEFAULT), H5Dclose, "cannot open dataset " + where);
}

Hid utf8_string_type(const FileContext& ctx) {
  Hid type = ctx.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot make a string type");
  ctx.check(H5Tset_size(type.get(), H5T_VARIABLE), "cannot make a string type");
  ctx.check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot make a string type");
  return type;
}

// ---- attributes --------------------------------------------------------------

void write_int_attribute(const FileContext& ctx, hid_t object, const char* name, std::int64_t value,
                         const std::string& where) {
  Hid attribute;
  if (H5Aexists(object, name) > 0) {
    attribute = ctx.check(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, "cannot open attribute " + where);
  } else {
    Hid space = ctx.check(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a scalar dataspace");
    attribute = ctx.check(H5Acreate2(object, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                          "cannot create attribute " + where);
  }
  ctx.check(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value), "cannot write attribute " + where);
}

std::optional<std::int64_t> read_int_attribute(const FileContext& ctx, hid_t object, const char* name,
                                               const std::string& where) {
  if (H5Aexists(object, name) <= 0) return std::nullopt;
  Hid attribute = ctx.check(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, "cannot open attribute " + where);
  Hid space = ctx.check(H5Aget_space(attribute.get()), H5Sclose, "cannot read attribute " + where);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) ctx.fail("attribute " + where + " is not a single number");
  Hid type = ctx.check(H5Aget_type(attribute.get()), H5Tclose, "cannot read attribute " + where);
  if (H5Tget_class(type.get()) != H5T_INTEGER) ctx.fail("attribute " + where + " is not an integer");
  std::int64_t value = 0;
  ctx.check(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value), "cannot read attribute " + where);
  return value;
}

void write_string_attribute(const FileContext& ctx, hid_t object, const char* name, std::string_view value) {
  Hid type = ctx.check(H5Tcopy(H5T_C_S1), H5Tclose, "cannot make a string type");
  ctx.check(H5Tset_size(type.get(), std::max<std::size_t>(1, value.size())), "cannot make a string type");
  ctx.check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot make a string type");
  Hid space = ctx.check(H5Screate(H5S_SCALAR), H5Sclose, "cannot make a scalar dataspace");
  Hid attribute = ctx.check(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                            std::string("cannot create attribute ") + name);
  std::string padded(value);
  padded.resize(std::max<std::size_t>(1, value.size()), '\0');
  ctx.check(H5Awrite(attribute.get(), type.get(), padded.data()), std::string("cannot write attribute ") + name);
}

// Fixed- or variable-length string attribute (other writers may use either).
std::optional<std::string> read_string_attribute(const FileContext& ctx, hid_t object, const char* name) {
  if (H5Aexists(object, name) <= 0) return std::nullopt;
  const std::string where = std::string("attribute ") + name;
  Hid attribute = ctx.check(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, "cannot open " + where);
  Hid type = ctx.check(H5Aget_type(attribute.get()), H5Tclose, "cannot read " + where);
  if (H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  Hid space = ctx.check(H5Aget_space(attribute.get()), H5Sclose, "cannot read " + where);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  if (H5Tis_variable_str(type.get()) > 0) {
    Hid memtype = utf8_string_type(ctx);
    char* text = nullptr;
    ctx.check(H5Aread(attribute.get(), memtype.get(), &text), "cannot read " + where);
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  const std::size_t size = H5Tget_size(type.get());
  if (size == 0 || size > (1 << 16)) return std::nullopt;
  std::string value(size, '\0');
  ctx.check(H5Aread(attribute.get(), type.get(), value.data()), "cannot read " + where);
  value.resize(std::min(value.size(), value.find('\0')));
  return value;
}

// ---- datasets ----------------------------------------------------------------

// An empty, extendible dataset: rank 1 (cols == 0) or rank 2 with fixed width.
Hid create_extendible_dataset(const FileContext& ctx, hid_t location, const std::string& name, hid_t file_type,
                              hsize_t cols, hsize_t chunk_rows, bool checksum, const std::string& where) {
  const int rank = cols == 0 ? 1 : 2;
  const hsize_t dims[2] = {0, cols};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, cols};
  const hsize_t chunk[2] = {std::max<hsize_t>(1, chunk_rows), cols};
  Hid space = ctx.check(H5Screate_simple(rank, dims, max_dims), H5Sclose, "cannot make a dataspace for " + where);
  Hid properties = ctx.check(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "cannot make properties for " + where);
  ctx.check(H5Pset_chunk(properties.get(), rank, chunk), "cannot set chunking of " + where);
  if (checksum) ctx.check(H5Pset_fletcher32(properties.get()), "cannot set the checksum of " + where);
  return ctx.check(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT, properties.get(),
                              H5P_DEFAULT),
                   H5Dclose, "cannot create dataset " + where);
}

std::vector<hsize_t> dataset_extent(const FileContext& ctx, hid_t dataset, int rank, const std::string& where) {
  Hid space = ctx.check(H5Dget_space(dataset), H5Sclose, "cannot read the shape of " + where);
  const int found = H5Sget_simple_extent_ndims(space.get());
  if (found != rank) {
    ctx.fail("dataset " + where + " has " + std::to_string(found) + " dimensions, expected " + std::to_string(rank));
  }
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  ctx.check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "cannot read the shape of " + where);
  return dims;
}

namespace {

// Rows [first, first + count) of the dataset, and a memory space of that shape.
struct RowSelection {
  Hid file;
  Hid memory;
};
RowSelection select_rows(const FileContext& ctx, hid_t dataset, hsize_t first, hsize_t count, hsize_t cols,
                         const std::string& where) {
  const int rank = cols == 0 ? 1 : 2;
  RowSelection out;
  out.file = ctx.check(H5Dget_space(dataset), H5Sclose, "cannot select rows of " + where);
  const hsize_t start[2] = {first, 0};
  const hsize_t block[2] = {count, cols};
  ctx.check(H5Sselect_hyperslab(out.file.get(), H5S_SELECT_SET, start, nullptr, block, nullptr),
            "cannot select rows of " + where);
  out.memory = ctx.check(H5Screate_simple(rank, block, nullptr), H5Sclose, "cannot select rows of " + where);
  return out;
}

}  // namespace

// Writes rows [first, first + count) (each `cols` wide, 0 for rank 1), growing
// the dataset if needed. Only the touched chunks are written.
void write_rows(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t first, hsize_t count, hsize_t cols,
                const void* data, const std::string& where) {
  if (count == 0) return;
  const int rank = cols == 0 ? 1 : 2;
  auto dims = dataset_extent(ctx, dataset, rank, where);
  if (dims[0] < first + count) {
    dims[0] = first + count;
    ctx.check(H5Dset_extent(dataset, dims.data()), "cannot grow dataset " + where);
  }
  const RowSelection rows = select_rows(ctx, dataset, first, count, cols, where);
  ctx.check(H5Dwrite(dataset, memtype, rows.memory.get(), rows.file.get(), H5P_DEFAULT, data),
            "cannot write dataset " + where);
}

// Reads rows [0, count) of a dataset whose extent was already checked.
void read_rows(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t count, hsize_t cols, void* data,
               const std::string& where) {
  read_rows_from(ctx, dataset, memtype, 0, count, cols, data, where);
}

void read_rows_from(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t first, hsize_t count, hsize_t cols,
                    void* data, const std::string& where) {
  if (count == 0) return;
  const RowSelection rows = select_rows(ctx, dataset, first, count, cols, where);
  ctx.check(H5Dread(dataset, memtype, rows.memory.get(), rows.file.get(), H5P_DEFAULT, data),
            "cannot read dataset " + where);
}

void write_strings(const FileContext& ctx, hid_t dataset, hsize_t first, std::span<const std::string> values,
                   const std::string& where) {
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& value : values) pointers.push_back(value.c_str());
  Hid memtype = utf8_string_type(ctx);
  write_rows(ctx, dataset, memtype.get(), first, values.size(), 0, pointers.data(), where);
}

std::vector<std::string> read_strings(const FileContext& ctx, hid_t dataset, hsize_t count, const std::string& where) {
  return read_strings_from(ctx, dataset, 0, count, where);
}

std::vector<std::string> read_strings_from(const FileContext& ctx, hid_t dataset, hsize_t first, hsize_t count,
                                           const std::string& where) {
  std::vector<std::string> values;
  if (count == 0) return values;
  Hid type = ctx.check(H5Dget_type(dataset), H5Tclose, "cannot read the type of " + where);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) <= 0) {
    ctx.fail("dataset " + where + " does not hold variable-length strings");
  }
  Hid memtype = utf8_string_type(ctx);
  std::vector<char*> pointers(count, nullptr);
  read_rows_from(ctx, dataset, memtype.get(), first, count, 0, pointers.data(), where);
  values.reserve(count);
  for (char* p : pointers) values.emplace_back(p != nullptr ? p : "");
  Hid memory_space = ctx.check(H5Screate_simple(1, &count, nullptr), H5Sclose, "cannot free strings of " + where);
  H5Dvlen_reclaim(memtype.get(), memory_space.get(), H5P_DEFAULT, pointers.data());
  return values;
}

// ---- files -------------------------------------------------------------------

Hid file_access_properties(const FileContext& ctx) {
  Hid properties = ctx.check(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot make file access properties");
  // The 1.10 format checksums all metadata and indexes single-unlimited-
  // dimension chunks with an extensible array, which appends cheaply.
  ctx.check(H5Pset_libver_bounds(properties.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "cannot set the file format");
  // Closing the file really closes it, even if an object handle leaked, so a
  // rename or a second open right after sees a finished file.
  ctx.check(H5Pset_fclose_degree(properties.get(), H5F_CLOSE_STRONG), "cannot set the close behaviour");
  return properties;
}

void fsync_file(const FileContext& ctx, const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path.string() + ": cannot open to sync: " + std::generic_category().message(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(ctx.file().string() + ": fsync failed: " + std::generic_category().message(err));
}

void fsync_directory(const fs::path& dir) {
  // Makes a rename durable; failing here cannot undo the rename, so it is not reported.
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void FileContext::fail(const std::string& problem) const {
  const std::string details = hdf5_error_details();
  throw Error(file_.string() + ": " + problem + (details.empty() ? "" : " (HDF5: " + details + ")"));
}

}  // namespace lwd::hdf5
