// RKMEImageSpec (engine/image/rkme_image_spec.h): generation, the NNGP
// distance between specs, the reference JSON format and its malformed forms.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/io/atomic_file.h"
#include "image/synthetic_images.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using TempDir = ::lwd::test::ScratchDir;

// Small enough for a fast suite, large enough for the spec to carry the data.
ImageRkmeOptions quick_options() {
  ImageRkmeOptions o;
  o.reduced_size = 10;
  o.steps = 30;
  o.n_models = 4;
  o.models_per_step = 2;
  o.net.net_width = 8;
  return o;
}

ImageBatch class_mix(std::int64_t n, std::vector<std::int64_t> classes, std::vector<double> weights, std::uint64_t seed) {
  return test::stroke_images(n, classes, weights, seed).images;
}

// A shared small spec for the format tests.
const RKMEImageSpec& small_spec() {
  static const RKMEImageSpec spec =
      RKMEImageSpec::generate(kernels::Context{2, 1}, class_mix(60, {0, 1}, {1, 1}, 3), quick_options());
  return spec;
}

void expect_parse_error(const std::string& text, const std::string& fragment) {
  try {
    RKMEImageSpec::parse(text, "spec.json");
    FAIL() << "expected an error mentioning '" << fragment << "' for: " << text.substr(0, 200);
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("spec.json"), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

json tiny_spec_json() {
  // K = 2, C = 1, 8 x 8 images, net_depth 3.
  json z = json::array();
  for (int k = 0; k < 2; ++k) {
    json rows = json::array();
    for (int y = 0; y < 8; ++y) {
      json row = json::array();
      for (int x = 0; x < 8; ++x) row.push_back(0.125 * (k + 1) * (x - y));
      rows.push_back(row);
    }
    z.push_back(json::array({rows}));
  }
  return json{{"RKME_IMAGE_VERSION", 1}, {"msg", nullptr}, {"z", z}, {"beta", {0.25, 0.75}}, {"n_models", 16},
              {"model_config", {{"k", 2}, {"mu", 0}, {"sigma", nullptr}, {"net_width", 128}, {"net_depth", 3}}},
              {"type", "RKMEImageSpecification"}};
}

// ---- generation ----

TEST(RKMEImageSpecGenerate, GivesKImagesOf32x32AndBetaOnTheSimplex) {
  const auto& spec = small_spec();
  EXPECT_EQ(spec.z_shape(), (kernels::ImageShape{10, 1, 32, 32}));
  EXPECT_EQ(spec.z().size(), 10u * 32 * 32);
  double sum = 0;
  for (const double b : spec.beta()) {
    EXPECT_GE(b, 0.0);
    sum += b;
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(spec.n_models(), 4);
  EXPECT_EQ(spec.net_config().net_width, 8);
}

TEST(RKMEImageSpecGenerate, IsDeterministicForASeedAndIndependentOfThreadCount) {
  const auto images = class_mix(40, {2, 3}, {1, 1}, 5);
  auto o = quick_options();
  o.steps = 5;
  o.sample_size = 30;  // the seed picks the subset; start and nets are shared
  const auto a = RKMEImageSpec::generate(kernels::Context{1, 7}, images, o);
  const auto b = RKMEImageSpec::generate(kernels::Context{2, 7}, images, o);
  const auto c = RKMEImageSpec::generate(kernels::Context{2, 8}, images, o);
  EXPECT_EQ(a.z(), b.z());
  EXPECT_EQ(a.beta(), b.beta());
  EXPECT_NE(a.z(), c.z());
}

TEST(RKMEImageSpecGenerate, SpecOfAClassMixIsCloserToAnotherSampleOfThatMixThanToAnotherMix) {
  const kernels::Context ctx{2, 0};
  const auto o = quick_options();
  const auto p = RKMEImageSpec::generate(ctx, class_mix(150, {0, 1, 2}, {0.6, 0.3, 0.1}, 11), o);
  const auto q = RKMEImageSpec::generate(ctx, class_mix(150, {0, 1, 2}, {0.6, 0.3, 0.1}, 12), o);
  const auto r = RKMEImageSpec::generate(ctx, class_mix(150, {5, 6, 7}, {0.6, 0.3, 0.1}, 13), o);
  const double same_mix = p.dist(q, ctx), other_mix = p.dist(r, ctx);
  EXPECT_GT(same_mix, 0.0);
  EXPECT_LT(same_mix, 0.5 * other_mix) << "same mix " << same_mix << ", other mix " << other_mix;
}

TEST(RKMEImageSpecGenerate, GradientStepsBringTheSpecCloserToTheData) {
  // Distance to the unreduced data (Z = all preprocessed images, beta = 1/n).
  const kernels::Context ctx{2, 0};
  const auto images = class_mix(80, {4, 8}, {1, 1}, 21);
  auto full = quick_options();
  full.reduce = false;
  const auto data = RKMEImageSpec::generate(ctx, images, full);
  auto none = quick_options();
  none.steps = 0;
  const auto start = RKMEImageSpec::generate(ctx, images, none);
  // 30 Adam steps at the default rate 0.03 leave Z near its start (MMD² to the
  // data 0.157 vs 0.156 at the start); at 0.1 the fit gets to 0.048.
  auto o = quick_options();
  o.step_size = 0.1;
  const auto fitted = RKMEImageSpec::generate(ctx, images, o);
  EXPECT_LT(fitted.dist(data, ctx), 0.5 * start.dist(data, ctx));
}

TEST(RKMEImageSpecGenerate, ColourImagesAreWhitenedAndGiveFiniteSpecs) {
  auto images = test::random_images({30, 3, 16, 16}, 4, 128, 40);
  auto o = quick_options();
  o.steps = 3;
  const auto spec = RKMEImageSpec::generate(kernels::Context{2, 0}, images, o);
  EXPECT_EQ(spec.z_shape(), (kernels::ImageShape{10, 3, 32, 32}));
  EXPECT_TRUE(std::isfinite(spec.dist(spec)));
}

TEST(RKMEImageSpecGenerate, NonFinitePixelsAreImputed) {
  auto images = class_mix(20, {1}, {1}, 2);
  images.pixels[5] = std::numeric_limits<float>::quiet_NaN();
  images.pixels[900] = std::numeric_limits<float>::infinity();
  auto o = quick_options();
  o.steps = 2;
  const auto spec = RKMEImageSpec::generate(kernels::Context{1, 0}, images, o);
  for (const float v : spec.z()) ASSERT_TRUE(std::isfinite(v));
}

TEST(RKMEImageSpecGenerate, InvalidInputsAreErrors) {
  const kernels::Context ctx{1, 0};
  ImageBatch empty;
  empty.shape = {0, 1, 28, 28};
  EXPECT_THROW(RKMEImageSpec::generate(ctx, empty), Error);
  auto all_nan = class_mix(3, {1}, {1}, 2);
  std::fill(all_nan.pixels.begin() + 784, all_nan.pixels.begin() + 2 * 784, std::numeric_limits<float>::quiet_NaN());
  EXPECT_THROW(RKMEImageSpec::generate(ctx, all_nan, quick_options()), Error);
  auto no_resize = quick_options();
  no_resize.resize = false;
  EXPECT_THROW(RKMEImageSpec::generate(ctx, class_mix(3, {1}, {1}, 2), no_resize), Error);
  auto bad = quick_options();
  bad.models_per_step = 9;
  EXPECT_THROW(RKMEImageSpec::generate(ctx, class_mix(3, {1}, {1}, 2), bad), Error);
  bad = quick_options();
  bad.reduced_size = 0;
  EXPECT_THROW(RKMEImageSpec::generate(ctx, class_mix(3, {1}, {1}, 2), bad), Error);
}

TEST(RKMEImageSpecGenerate, FromAnNpyFile) {
  TempDir dir;
  write_npy_images(dir.path() / "images.npy", class_mix(20, {3}, {1}, 1));
  auto o = quick_options();
  o.steps = 2;
  const auto spec = generate_image_spec_from_file(dir.path() / "images.npy", o, kernels::Context{1, 0});
  EXPECT_EQ(spec.size(), 10);
}

// ---- distances ----

TEST(RKMEImageSpecDistance, MmdOfASpecWithItselfIsZeroAndWithACopyNearlyZero) {
  const auto& p = small_spec();
  EXPECT_EQ(p.dist(p), 0.0);
  const RKMEImageSpec copy = RKMEImageSpec::parse(p.to_json_text());
  EXPECT_NEAR(p.dist(copy), 0.0, 1e-9 * p.inner_product(p));
}

TEST(RKMEImageSpecDistance, IsSymmetricAndInnerProductsAgree) {
  const kernels::Context ctx{2, 0};
  auto o = quick_options();
  o.steps = 3;
  const auto p = small_spec();
  const auto q = RKMEImageSpec::generate(ctx, class_mix(40, {7}, {1}, 9), o);
  EXPECT_NEAR(p.inner_product(q, ctx), q.inner_product(p, ctx), 1e-12);
  EXPECT_NEAR(p.dist(q, ctx), q.dist(p, ctx), 1e-12);
  EXPECT_GT(p.dist(q, ctx), 0.0);
}

TEST(RKMEImageSpecDistance, SpecsOfDifferentImageShapesDoNotCompare) {
  auto o = quick_options();
  o.steps = 1;
  const auto colour = RKMEImageSpec::generate(kernels::Context{1, 0}, test::random_images({5, 3, 8, 8}, 1), o);
  EXPECT_THROW(small_spec().dist(colour), Error);
}

TEST(RKMEImageSpecDistance, ScoreTransformIsTheReferenceOne) {
  EXPECT_EQ(transform_image_distance(0.0), 0.0);
  EXPECT_NEAR(transform_image_distance(5e-5), 1.0 - std::exp(-1.0), 1e-15);
  EXPECT_NEAR(transform_image_distance(1.0), 1.0, 1e-12);
}

TEST(RKMEImageSpecSampling, DrawsNoisyCopiesOfWeightedPoints) {
  const auto& p = small_spec();
  const auto a = p.herding(25, kernels::Context{1, 3});
  const auto b = p.herding(25, kernels::Context{1, 3});
  EXPECT_EQ(a.shape, (kernels::ImageShape{25, 1, 32, 32}));
  EXPECT_EQ(a.pixels, b.pixels);
  // Every sample lies within a few noise widths of some z_i with beta_i > 0.
  const std::int64_t d = p.dim();
  for (std::int64_t s = 0; s < 25; ++s) {
    double best = 1e300;
    for (std::int64_t i = 0; i < p.size(); ++i) {
      if (p.beta()[static_cast<std::size_t>(i)] <= 0) continue;
      double dist = 0;
      for (std::int64_t q = 0; q < d; ++q) {
        const double diff = a.pixels[static_cast<std::size_t>(s * d + q)] - p.z()[static_cast<std::size_t>(i * d + q)];
        dist += diff * diff;
      }
      best = std::min(best, dist);
    }
    EXPECT_LT(std::sqrt(best / d), 0.02);
  }
  EXPECT_THROW(p.herding(0), Error);
}

// ---- JSON ----

TEST(RKMEImageSpecJson, HasTheReferenceFieldsInTheReferenceOrder) {
  const std::string text = small_spec().to_json_text();
  const auto in = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto& [key, value] : in.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"RKME_IMAGE_VERSION", "msg", "z", "beta", "n_models", "model_config", "type"}));
  EXPECT_EQ(in["type"], "RKMEImageSpecification");
  EXPECT_EQ(in["z"].size(), 10u);
  EXPECT_EQ(in["z"][0].size(), 1u);
  EXPECT_EQ(in["z"][0][0].size(), 32u);
  EXPECT_EQ(in["z"][0][0][0].size(), 32u);
  EXPECT_TRUE(in["msg"].is_null());
  EXPECT_TRUE(in["model_config"]["sigma"].is_null());
  EXPECT_EQ(in["model_config"]["net_depth"], 3);
}

TEST(RKMEImageSpecJson, RoundTripsExactlyThroughAFile) {
  TempDir dir;
  const auto& spec = small_spec();
  spec.save(dir.path() / "rkme.json");
  const auto back = RKMEImageSpec::load(dir.path() / "rkme.json");
  EXPECT_EQ(back.z(), spec.z());
  EXPECT_EQ(back.beta(), spec.beta());
  EXPECT_EQ(back.z_shape(), spec.z_shape());
  EXPECT_EQ(back.n_models(), spec.n_models());
  EXPECT_EQ(back.net_config(), spec.net_config());
  EXPECT_EQ(back.to_json_text(), spec.to_json_text());
}

TEST(RKMEImageSpecJson, ReadsAReferenceStyleFileAndDefaultsAbsentSettings) {
  json in = tiny_spec_json();
  const auto spec = RKMEImageSpec::from_json(in);
  EXPECT_EQ(spec.z_shape(), (kernels::ImageShape{2, 1, 8, 8}));
  EXPECT_EQ(spec.net_config().net_width, 128);
  in.erase("model_config");
  in.erase("n_models");
  in.erase("msg");
  in.erase("RKME_IMAGE_VERSION");
  const auto bare = RKMEImageSpec::from_json(in);
  EXPECT_EQ(bare.n_models(), 16);
  EXPECT_EQ(bare.net_config().net_depth, 3);
  EXPECT_EQ(bare.net_config().k, 2);
  EXPECT_FALSE(bare.net_config().sigma.has_value());
}

TEST(RKMEImageSpecJson, MissingRequiredFieldsAreErrorsNamingThem) {
  for (const char* field : {"type", "z", "beta"}) {
    json in = tiny_spec_json();
    in.erase(field);
    expect_parse_error(in.dump(), std::string("missing field \"") + field + "\"");
  }
}

TEST(RKMEImageSpecJson, WrongShapesAreErrors) {
  json in = tiny_spec_json();
  in["z"] = json::array({json::array({1.0, 2.0})});  // 2 levels, not 4
  expect_parse_error(in.dump(), "[K, C, H, W]");
  in = tiny_spec_json();
  in["z"][1][0][3].erase(0);  // ragged row
  expect_parse_error(in.dump(), "z[1][0][3]");
  in = tiny_spec_json();
  in["beta"] = {1.0};
  expect_parse_error(in.dump(), "beta");
  in = tiny_spec_json();
  in["model_config"]["net_depth"] = 4;  // 8 x 8 images cannot pool 4 times
  expect_parse_error(in.dump(), "divisible");
  in = tiny_spec_json();
  in["model_config"]["net_depth"] = 9;
  expect_parse_error(in.dump(), "net_depth");
  in = tiny_spec_json();
  in["n_models"] = 0;
  expect_parse_error(in.dump(), "n_models");
  in = tiny_spec_json();
  in["z"] = json::array();
  expect_parse_error(in.dump(), "empty");
}

TEST(RKMEImageSpecJson, WrongTypesAreErrors) {
  json in = tiny_spec_json();
  in["type"] = "RKMETableSpecification";
  expect_parse_error(in.dump(), "expected \"RKMEImageSpecification\"");
  in = tiny_spec_json();
  in["z"][0][0][0][0] = "x";
  expect_parse_error(in.dump(), "must be a number");
  in = tiny_spec_json();
  in["model_config"] = 3;
  expect_parse_error(in.dump(), "model_config");
  expect_parse_error("[1, 2]", "expected a JSON object");
  expect_parse_error("{\"type\": ", "invalid JSON");
}

TEST(RKMEImageSpecJson, NonFiniteNumbersAreErrors) {
  std::string text = tiny_spec_json().dump();
  const auto at = text.find("0.25");
  ASSERT_NE(at, std::string::npos);
  expect_parse_error(std::string(text).replace(at, 4, "NaN"), "non-finite");
  expect_parse_error(std::string(text).replace(at, 4, "-Infinity"), "non-finite");
  json in = tiny_spec_json();
  in["z"][0][0][0][0] = 1e300;  // finite double, not a float32
  expect_parse_error(in.dump(), "float32");
  std::vector<float> z(64, 0.0f);
  z[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(RKMEImageSpec(z, {1, 1, 8, 8}, {1.0}), Error);
}

TEST(RKMEImageSpecJson, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  try {
    RKMEImageSpec::load(dir.path() / "absent.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace lwd
