// StagedPackage::open (engine/package/package.h), the learnware package
// reader, on arbitrary bytes as a zip archive. Each input is written to a file
// in a private per-process directory (libFuzzer may run several processes), and
// staged under a private staging parent. Properties:
//  - refused archives (lwd::Error) leave nothing in the staging parent;
//  - an accepted package stages exactly the manifest and the files it names,
//    as regular files inside the staging root, and nothing else;
//  - destroying the package removes its staging directory.
// The size limits are smaller than the defaults so that a zip bomb is cut
// off after a few MiB instead of a GiB; the counting code is the same.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>

#include "engine/error.h"
#include "engine/package/manifest.h"
#include "engine/package/package.h"
#include "fuzz/fuzz_support.h"

namespace fs = std::filesystem;

namespace {

struct Workspace {
  fs::path dir;      // private to this process, removed at exit
  fs::path zip;      // the input, rewritten for every run
  fs::path staging;  // staging parent handed to StagedPackage::open

  Workspace() {
    std::string pattern = (fs::temp_directory_path() / "lwd-fuzz-package-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir = pattern;
    zip = dir / "input.zip";
    staging = dir / "staging";
    fs::create_directory(staging);
  }
  ~Workspace() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

Workspace& workspace() {
  static Workspace w;  // destroyed at normal exit, so the directory goes with it
  return w;
}

bool staging_is_empty(const Workspace& w) { return fs::is_empty(w.staging); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Workspace& w = workspace();
  {
    std::ofstream out(w.zip, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    LWD_FUZZ_CHECK(!out.fail(), "the input could be written to its temporary file");
  }
  lwd::PackageLimits limits;
  limits.max_entry_bytes = 1u << 20;
  limits.max_total_bytes = 4u << 20;
  try {
    const lwd::StagedPackage package = lwd::StagedPackage::open(w.zip, limits, w.staging);
    const fs::path& root = package.root();
    LWD_FUZZ_CHECK(root.parent_path() == w.staging, "the package is staged under the given parent");

    std::set<std::string> allowed = {std::string(lwd::kManifestFileName)};
    for (const lwd::ManifestFileReference& ref : lwd::manifest_file_references(package.manifest())) {
      allowed.insert(ref.archive_name);
      LWD_FUZZ_CHECK(fs::is_regular_file(fs::symlink_status(package.path_of(ref.archive_name))),
                     "every file the manifest names is staged as a regular file");
    }
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
      const fs::file_status status = it->symlink_status();
      LWD_FUZZ_CHECK(fs::is_directory(status) || fs::is_regular_file(status),
                     "only folders and regular files are staged");
      if (fs::is_regular_file(status)) {
        LWD_FUZZ_CHECK(allowed.count(it->path().lexically_relative(root).generic_string()) == 1,
                       "only the manifest and the files it names are staged");
      }
    }
    (void)package.semantic_json_text();
    (void)package.stat_spec_paths();
  } catch (const lwd::Error&) {
    // expected refusal
  }
  LWD_FUZZ_CHECK(staging_is_empty(w), "nothing is left in the staging parent");
  return 0;
}
