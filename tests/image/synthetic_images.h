// Seeded synthetic image data for the image suites: digit-like stroke
// patterns (one per class) with random shifts, stroke widths, intensities and
// pixel noise, and plain random images of any shape.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/image/image_io.h"
#include "kernels/random.h"

namespace lwd::test {

struct LabelledImages {
  ImageBatch images;
  std::vector<std::int64_t> labels;
};

// n images of side x side pixels (values 0..255); each label is drawn from
// `classes` with probabilities proportional to `weights`.
inline LabelledImages stroke_images(std::int64_t n, std::span<const std::int64_t> classes,
                                    std::span<const double> weights, std::uint64_t seed, std::int64_t side = 28) {
  kernels::Rng rng(seed);
  double total = 0.0;
  for (const double w : weights) total += w;
  LabelledImages out;
  out.images.shape = {n, 1, side, side};
  out.images.pixels.assign(static_cast<std::size_t>(n * side * side), 0.0f);
  const double c0 = (static_cast<double>(side) - 1) / 2, unit = static_cast<double>(side) / 28.0;
  for (std::int64_t i = 0; i < n; ++i) {
    double u = rng.uniform() * total;
    std::size_t pick = 0;
    while (pick + 1 < weights.size() && u >= weights[pick]) u -= weights[pick++];
    const std::int64_t label = classes[pick];
    out.labels.push_back(label);
    const double cx = c0 + 3 * unit * (rng.uniform() - 0.5), cy = c0 + 3 * unit * (rng.uniform() - 0.5);
    const double width = (1.2 + rng.uniform()) * unit;
    float* img = out.images.pixels.data() + i * side * side;
    for (std::int64_t y = 0; y < side; ++y)
      for (std::int64_t x = 0; x < side; ++x) {
        const double dx = (x - cx) / unit, dy = (y - cy) / unit, r = std::sqrt(dx * dx + dy * dy);
        double d;
        switch (label % 10) {
          case 0: d = std::abs(r - 8); break;
          case 1: d = std::abs(dx); break;
          case 2: d = std::abs(dy); break;
          case 3: d = std::abs(dx - dy) / std::sqrt(2.0); break;
          case 4: d = std::min(std::abs(dx), std::abs(dy)); break;
          case 5: d = std::abs(std::max(std::abs(dx), std::abs(dy)) - 7); break;
          case 6: d = std::abs(dx + dy) / std::sqrt(2.0); break;
          case 7: d = std::min(std::abs(r - 4), std::abs(dy - 8)); break;
          case 8: d = std::min(std::abs(std::hypot(dx, dy - 5) - 4), std::abs(std::hypot(dx, dy + 5) - 4)); break;
          default: d = std::abs(std::hypot(dx, dy + 4) - 4); break;
        }
        const double ink = d * unit < width ? 255.0 * (0.7 + 0.3 * rng.uniform()) : 0.0;
        img[y * side + x] = static_cast<float>(std::clamp(ink + 20.0 * rng.normal(), 0.0, 255.0));
      }
  }
  return out;
}

// Uniform classes 0..num_classes-1.
inline LabelledImages stroke_images(std::int64_t n, std::int64_t num_classes, std::uint64_t seed,
                                    std::int64_t side = 28) {
  std::vector<std::int64_t> classes(static_cast<std::size_t>(num_classes));
  for (std::int64_t c = 0; c < num_classes; ++c) classes[static_cast<std::size_t>(c)] = c;
  const std::vector<double> weights(static_cast<std::size_t>(num_classes), 1.0);
  return stroke_images(n, classes, weights, seed, side);
}

// Gaussian pixels N(mean, sd^2), any shape.
inline ImageBatch random_images(kernels::ImageShape shape, std::uint64_t seed, double mean = 0.0, double sd = 1.0) {
  kernels::Rng rng(seed);
  ImageBatch out;
  out.shape = shape;
  out.pixels.resize(static_cast<std::size_t>(shape.total()));
  for (float& v : out.pixels) v = static_cast<float>(mean + sd * rng.normal());
  return out;
}

}  // namespace lwd::test
