// A fresh directory under the system temp directory for one test, removed
// with everything in it when the object goes out of scope. Shared by every
// suite (each used to carry its own copy).
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace lwd::test {

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lwd-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::filesystem::path file(const std::string& name) const { return path_ / name; }
  // Writes `content` (bytes as given) to path()/name and returns that path.
  std::filesystem::path write(const std::string& name, const std::string& content, bool executable = false) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    if (executable) ::chmod(file.c_str(), 0755);
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace lwd::test
