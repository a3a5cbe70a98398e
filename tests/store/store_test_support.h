// Fixtures shared by the store suites: scratch directories, deterministic
// specs, whole-file byte access and pack comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/io/scratch_dir.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/store/spec_pack.h"
#include "kernels/matrix.h"

namespace lwd::test {

// A fresh directory under the system temp dir, removed with everything in it
// (the engine's shared lwd::io::ScratchDir), named after the running test.
class ScratchDir : public lwd::io::ScratchDir {
 public:
  ScratchDir() : lwd::io::ScratchDir(prefix()) {}
  std::filesystem::path operator/(const std::string& name) const { return path() / name; }

 private:
  static std::string prefix() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("lwd_store_") + (info ? info->name() : "test") + "_";
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests: "Name/0"
    return name;
  }
};

// A K x d spec with values drawn from `seed`: different seeds, different specs.
inline RKMETableSpec make_spec(std::int64_t k, std::int64_t d, std::uint64_t seed, double gamma = 0.1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> value(-3.0, 3.0);
  std::uniform_real_distribution<double> weight(0.1, 1.0);
  std::vector<double> z(static_cast<std::size_t>(k * d));
  for (auto& v : z) v = value(rng);
  std::vector<double> beta(static_cast<std::size_t>(k));
  double total = 0.0;
  for (auto& b : beta) total += (b = weight(rng));
  for (auto& b : beta) b /= total;
  return RKMETableSpec(kernels::Matrix<double>(k, d, std::move(z)), std::move(beta), gamma, 100 + k);
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Bit-for-bit equality of two packs, reported field by field.
inline void expect_same_pack(const SpecPack& a, const SpecPack& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_TRUE(same_bits(a.z, b.z)) << "z differs";
  EXPECT_TRUE(same_bits(a.beta, b.beta)) << "beta differs";
  EXPECT_TRUE(same_bits(a.gamma, b.gamma)) << "gamma differs";
  EXPECT_TRUE(same_bits(a.self_inner, b.self_inner)) << "self_inner differs";
  EXPECT_EQ(a.num_points, b.num_points);
}

template <class Map>
void expect_same_packs(const Map& a, const Map& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    EXPECT_EQ(ia->first, ib->first);
    expect_same_pack(ia->second, ib->second);
  }
}

}  // namespace lwd::test
