// What a market accepts of a statistical or semantic specification, checked
// before anything is stored and applied to the specs users search with. A
// spec within these limits is safe to keep for ever: its numbers are finite,
// its self product and every inner product with another spec within limits
// are finite (for the RBF kinds |<a, b>| <= sum|beta_a| * sum|beta_b|), and
// one evaluation stays affordable. The defaults accept every learnware of the
// experiment market (table K=100 d<=40, text K=100 d=100, image K=50 of
// 3 x 32 x 32 whitened pixels, gamma 0.1) with a wide margin;
// docs/DESIGN.md "Limits and crash recovery" explains each number.
#pragma once

#include <cstdint>

#include "engine/io/json_text.h"

namespace lwd {

struct SpecLimits {
  // K of a table or text spec; its self product costs K^2 d.
  std::int64_t max_points = 10'000;
  // K of an image spec: one NNGP evaluation of two images costs about as
  // much as 10^4 RBF ones, so the bound is lower.
  std::int64_t max_image_points = 500;
  // The width d of Z (an image spec: C x H x W).
  std::int64_t max_dim = 100'000;
  // K x d, the numbers in Z (a spec of that size is about 20 MB of JSON).
  std::int64_t max_values = std::int64_t{1} << 20;
  // |z| and |beta|: with d <= max_dim, squared distances stay below 1e36 and
  // products below 1e20, far from overflow (also in the float32 screening).
  double max_abs_z = 1e15;
  double max_abs_beta = 1e6;
  // gamma of the RBF kinds.
  double min_gamma = 1e-6;
  double max_gamma = 1e6;
  // File sizes, refused before a byte is parsed.
  std::uint64_t max_spec_file_bytes = std::uint64_t{32} << 20;
  std::uint64_t max_semantic_file_bytes = std::uint64_t{4} << 20;
  // JSON nesting (a spec needs 6 levels, a semantic spec 4).
  int max_json_depth = 16;

  // How a spec file's JSON is read: the nesting above, and room for Z, beta
  // and the arrays that hold them, plus the few other fields.
  io::JsonLimits spec_json() const {
    const auto values = static_cast<std::uint64_t>(max_values);
    return io::JsonLimits{2 * values + 65'536, max_json_depth};
  }
  // A semantic spec: its size bounds its values.
  io::JsonLimits semantic_json() const { return io::JsonLimits{max_semantic_file_bytes / 2 + 1, max_json_depth}; }
};

}  // namespace lwd
