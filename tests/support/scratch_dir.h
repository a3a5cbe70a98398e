// A fresh directory under the system temp directory for one test, removed
// with everything in it when the object goes out of scope: the engine's
// shared lwd::io::ScratchDir (engine/io/scratch_dir.h) with the helpers tests
// want. Shared by every suite (each used to carry its own copy).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/io/scratch_dir.h"

namespace lwd::test {

class ScratchDir : public lwd::io::ScratchDir {
 public:
  // World-readable (mkdtemp makes it 0700): a process model whose package is
  // here runs, when the tests run as root, as the model sandbox's
  // unprivileged uid, which must be able to read it.
  ScratchDir() : lwd::io::ScratchDir("lwd-test-") { ::chmod(path().c_str(), 0755); }

  std::filesystem::path operator/(const std::string& name) const { return path() / name; }
  std::filesystem::path file(const std::string& name) const { return path() / name; }
  // Writes `content` (bytes as given) to path()/name and returns that path.
  std::filesystem::path write(const std::string& name, const std::string& content, bool executable = false) const {
    const auto file = path() / name;
    std::ofstream(file, std::ios::binary) << content;
    if (executable) ::chmod(file.c_str(), 0755);
    return file;
  }
};

}  // namespace lwd::test
