// Helpers shared by the text suites: a scratch directory removed after each
// test, and an assertion on lwd::Error messages.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>

#include "engine/error.h"

namespace lwd::test {

class TextScratchDir {
 public:
  TextScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lwd-text-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TextScratchDir(const TextScratchDir&) = delete;
  TextScratchDir& operator=(const TextScratchDir&) = delete;
  ~TextScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Runs `action`, expecting an lwd::Error whose message contains every fragment.
inline void expect_error_mentions(const std::function<void()>& action, std::initializer_list<std::string> fragments) {
  try {
    action();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "message \"" << message << "\" lacks \"" << fragment << "\"";
    return;
  }
  ADD_FAILURE() << "expected an lwd::Error";
}

}  // namespace lwd::test
