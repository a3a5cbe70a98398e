// A private scratch directory under the system temp directory (mkdtemp: mode
// 0700), removed with everything in it when the object goes out of scope.
// The one such helper of the tree: the market builder's work space, the
// tests' fixtures (tests/support/scratch_dir.h builds on it), and anything in
// apps/ or scenarios/ that needs a throw-away directory.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "engine/error.h"

namespace lwd::io {

class ScratchDir {
 public:
  // The directory is named PREFIX followed by six random characters.
  explicit ScratchDir(std::string_view prefix = "lwd-") {
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw Error("cannot create a scratch directory " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace lwd::io
