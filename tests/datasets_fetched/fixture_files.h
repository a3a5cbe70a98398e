// Scratch directories and file helpers shared by the fetched-data tests.
#pragma once

#include "tests/support/scratch_dir.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace lwd::datasets::testing {

using ScratchDir = ::lwd::test::ScratchDir;

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) std::abort();
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `content` with `count` bytes at seeded random positions replaced by random bytes.
inline std::string damaged(std::string content, int count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < count && !content.empty(); ++i) {
    content[rng() % content.size()] = static_cast<char>(rng() % 256);
  }
  return content;
}

}  // namespace lwd::datasets::testing
