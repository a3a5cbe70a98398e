// Learnware packages: a zip archive holding learnware.yaml (manifest.h) and
// exactly the files it names (model, process command, semantic spec, stat
// specs, environment). Directory entries are allowed and ignored.
//
// Reading treats the archive as hostile. Before anything is written, every
// entry name is checked (relative, no "..", no backslash, NUL or control
// character; names are taken from the central directory's raw bytes, since
// libzip's C strings would hide an embedded NUL), symlinks, special files and
// encrypted entries are refused, the entry count is bounded and the manifest
// must account for every file. Extraction then goes into a fresh private
// directory, counting the bytes actually inflated: the sizes the archive
// declares are never trusted, so a zip bomb stops at the limit. Any refusal
// removes the staging directory before the error leaves open().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/package/manifest.h"

namespace lwd {

// Staging directories are named kStagingPrefix followed by six random characters.
inline constexpr std::string_view kStagingPrefix = "lwd-package-";

struct PackageLimits {
  std::uint64_t max_entries = 64;                  // entries in the archive, directories included
  std::uint64_t max_entry_bytes = 256ull << 20;    // uncompressed bytes of one entry
  std::uint64_t max_total_bytes = 1ull << 30;      // uncompressed bytes of all entries together
  std::uint64_t max_manifest_bytes = 64ull << 10;  // uncompressed bytes of learnware.yaml
};

// An extracted package in a temporary directory that is removed, with
// everything in it, when the object is destroyed. Move-only.
// The directory is locked while the object lives (engine/io/locked_dir.h): a
// process killed before it could remove its staging directories leaves them
// unlocked, and io::remove_abandoned_directories(parent, kStagingPrefix)
// removes them (a market does so for its staging folder when it opens).
// Staged folders are mode 0755 (the model sandbox's unprivileged uid reads
// them), files 0644, except the process command file, which is 0755 whatever
// the archive said (zip tools often lose the executable bit).
class StagedPackage {
 public:
  // Extracts `zip` into a new directory "lwd-package-XXXXXX" under
  // `staging_parent` (default: std::filesystem::temp_directory_path()), which
  // must exist. Throws lwd::Error naming the archive and the offending entry
  // when the file is not a readable zip, or breaks any rule in the header
  // comment or `limits`; nothing is left behind in that case.
  static StagedPackage open(const std::filesystem::path& zip, const PackageLimits& limits = {},
                            const std::filesystem::path& staging_parent = {});

  StagedPackage(StagedPackage&& other) noexcept;
  StagedPackage& operator=(StagedPackage&& other) noexcept;
  StagedPackage(const StagedPackage&) = delete;
  StagedPackage& operator=(const StagedPackage&) = delete;
  ~StagedPackage();

  // The staging directory; the manifest's relative paths resolve against it
  // (e.g. load_model(manifest().model, root())).
  const std::filesystem::path& root() const { return root_; }
  const Manifest& manifest() const { return manifest_; }

  // root()/relative, after checking that `relative` is an archive-style
  // relative path that cannot leave root(). Throws lwd::Error otherwise. The
  // file need not exist.
  std::filesystem::path path_of(std::string_view relative) const;

  // The semantic specification file's text (JSON, not parsed here).
  std::string semantic_json_text() const;
  // Absolute staged paths of the stat spec files, in manifest order.
  std::vector<std::filesystem::path> stat_spec_paths() const;

 private:
  StagedPackage(std::filesystem::path root, int lock_fd, Manifest manifest);
  void remove_staging_directory() noexcept;

  std::filesystem::path root_;
  int lock_fd_ = -1;  // holds the staging directory's lock
  Manifest manifest_;
};

// Writes a package: learnware.yaml from `manifest` followed by `files`
// (archive name -> source file on disk) in name order, each deflated, with a
// fixed timestamp (1980-01-01 00:00) and unix mode 0644 (0755 for the process
// command), so equal inputs give byte-identical archives. The archive is built
// in a temporary file next to `out_zip` and renamed over it, so `out_zip` is
// either the complete new package or untouched.
// Throws lwd::Error when the manifest is invalid, a file it names is not in
// `files`, `files` holds a name the manifest does not reference (the reader
// would refuse it) or the manifest's own name, a source file is missing or not
// a regular file, a file exceeds `limits`, or writing fails.
void build_package(const Manifest& manifest, const std::map<std::string, std::filesystem::path>& files,
                   const std::filesystem::path& out_zip, const PackageLimits& limits = {});

}  // namespace lwd
