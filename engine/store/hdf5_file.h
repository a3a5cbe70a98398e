// A thin layer over the HDF5 C API, private to engine/store: identifiers that
// close themselves, errors as lwd::Error naming the file (with HDF5's own
// innermost messages), groups, attributes, extendible datasets of rows and
// strings, and the file-level settings and fsyncs. It knows nothing of what a
// market file holds; hdf5_spec_store.cpp lays market.h5 out with it.
//
// Every call must be made holding hdf5_mutex() (HDF5 builds without thread
// safety must never be entered twice) after silence_hdf5_errors().
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lwd::hdf5 {

std::mutex& hdf5_mutex();
// HDF5 prints its error stack to stderr by default; we report through
// lwd::Error instead. Called on every entry because the setting is per thread
// in thread-safe builds.
void silence_hdf5_errors();

// Owns one HDF5 identifier and closes it with the matching H5*close.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer close) : id_(id), close_(close) {}
  Hid(Hid&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }

  hid_t get() const { return id_; }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// The innermost messages of HDF5's error stack (they name the actual cause,
// e.g. "truncated file" or "data error detected by fletcher32 checksum").
std::string hdf5_error_details();

// Everything that can go wrong names the file; this carries it.
class FileContext {
 public:
  explicit FileContext(std::filesystem::path file) : file_(std::move(file)) {}
  const std::filesystem::path& file() const { return file_; }

  // Throws lwd::Error: the file, the problem and HDF5's innermost messages.
  [[noreturn]] void fail(const std::string& problem) const;
  Hid check(hid_t id, Hid::Closer close, const std::string& problem) const {
    if (id < 0) fail(problem);
    return Hid(id, close);
  }
  void check(herr_t status, const std::string& problem) const {
    if (status < 0) fail(problem);
  }

 private:
  std::filesystem::path file_;
};

bool has_link(hid_t location, const std::string& name);
Hid open_group(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where);
Hid open_or_create_group(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where);
Hid open_dataset(const FileContext& ctx, hid_t location, const std::string& name, const std::string& where);
Hid utf8_string_type(const FileContext& ctx);

// ---- attributes ----
void write_int_attribute(const FileContext& ctx, hid_t object, const char* name, std::int64_t value,
                         const std::string& where);
std::optional<std::int64_t> read_int_attribute(const FileContext& ctx, hid_t object, const char* name,
                                               const std::string& where);
void write_string_attribute(const FileContext& ctx, hid_t object, const char* name, std::string_view value);
// Fixed- or variable-length string attribute (other writers may use either).
std::optional<std::string> read_string_attribute(const FileContext& ctx, hid_t object, const char* name);

// ---- datasets ----
// An empty, extendible dataset: rank 1 (cols == 0) or rank 2 with fixed width.
Hid create_extendible_dataset(const FileContext& ctx, hid_t location, const std::string& name, hid_t file_type,
                              hsize_t cols, hsize_t chunk_rows, bool checksum, const std::string& where);
std::vector<hsize_t> dataset_extent(const FileContext& ctx, hid_t dataset, int rank, const std::string& where);
// Writes rows [first, first + count) (each `cols` wide, 0 for rank 1), growing
// the dataset if needed. Only the touched chunks are written.
void write_rows(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t first, hsize_t count, hsize_t cols,
                const void* data, const std::string& where);
// Reads rows [0, count) of a dataset whose extent was already checked.
void read_rows(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t count, hsize_t cols, void* data,
               const std::string& where);
// Reads rows [first, first + count), likewise.
void read_rows_from(const FileContext& ctx, hid_t dataset, hid_t memtype, hsize_t first, hsize_t count, hsize_t cols,
                    void* data, const std::string& where);
void write_strings(const FileContext& ctx, hid_t dataset, hsize_t first, std::span<const std::string> values,
                   const std::string& where);
std::vector<std::string> read_strings(const FileContext& ctx, hid_t dataset, hsize_t count, const std::string& where);
std::vector<std::string> read_strings_from(const FileContext& ctx, hid_t dataset, hsize_t first, hsize_t count,
                                           const std::string& where);

// ---- files ----
// The 1.10 format (checksummed metadata, cheap appends) and a strong close.
Hid file_access_properties(const FileContext& ctx);
void fsync_file(const FileContext& ctx, const std::filesystem::path& path);
// Makes a rename durable; a failure is not reported (it cannot undo the rename).
void fsync_directory(const std::filesystem::path& dir);

}  // namespace lwd::hdf5
