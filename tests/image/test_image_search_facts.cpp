// What a market keeps of an image spec for its search (engine/image/image_search_facts.h):
// the spec's compact JSON form and its support (RKMEImageSpec), the self product,
// the screen embedding, their JSON, and the facts stored before them.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/image_search_facts.h"
#include "engine/image/rkme_image_spec.h"
#include "image/synthetic_images.h"
#include "kernels/random.h"

namespace lwd {
namespace {

using nlohmann::json;

// K images of C x 16 x 16 noise, every third weight an exact zero.
RKMEImageSpec sparse_spec(std::int64_t k, std::int64_t c, std::uint64_t seed, int depth = 3) {
  kernels::Rng rng(seed);
  std::vector<float> z(static_cast<std::size_t>(k * c * 16 * 16));
  for (float& v : z) v = static_cast<float>(rng.normal());
  std::vector<double> beta(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < k; ++i) beta[static_cast<std::size_t>(i)] = i % 3 == 1 ? 0.0 : 0.5 + rng.uniform();
  ImageNetConfig net;
  net.net_depth = depth;
  return RKMEImageSpec(std::move(z), {k, c, 16, 16}, std::move(beta), 8, net);
}

void expect_same_spec(const RKMEImageSpec& a, const RKMEImageSpec& b) {
  EXPECT_EQ(a.z_shape(), b.z_shape());
  ASSERT_EQ(a.z().size(), b.z().size());
  for (std::size_t i = 0; i < a.z().size(); ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(a.z()[i]), std::bit_cast<std::uint32_t>(b.z()[i])) << i;
  EXPECT_EQ(a.beta(), b.beta());
  EXPECT_EQ(a.n_models(), b.n_models());
  EXPECT_EQ(a.net_config(), b.net_config());
}

TEST(RKMEImageSpecSettingsJson, RoundTripsExactlyWithTheNumbers) {
  const RKMEImageSpec spec = sparse_spec(7, 3, 1);
  json settings;
  spec.settings_to_json(settings);
  EXPECT_FALSE(settings.contains("z"));
  EXPECT_FALSE(settings.contains("beta"));
  expect_same_spec(RKMEImageSpec::from_settings_json(json::parse(settings.dump()), spec.z(), spec.beta(), "facts"),
                   spec);
}

TEST(RKMEImageSpecSettingsJson, RefusesAShapeThatDoesNotDescribeTheNumbers) {
  const RKMEImageSpec spec = sparse_spec(4, 1, 2);
  json settings;
  spec.settings_to_json(settings);
  for (const json& shape : {json{5, 1, 16, 16}, json{4, 1, 16}, json{0, 1, 16, 16}, json{4, 1, 16, -16},
                            json{2147483647, 2147483647, 2147483647, 2147483647}}) {
    json bad = settings;
    bad["z_shape"] = shape;
    EXPECT_THROW(RKMEImageSpec::from_settings_json(bad, spec.z(), spec.beta(), "facts"), Error) << shape.dump();
  }
  EXPECT_THROW(RKMEImageSpec::from_settings_json(settings, spec.z(), {0.5}, "facts"), Error);
}

TEST(RKMEImageSpecSupport, KeepsTheImagesOfNonzeroWeightAndEveryProductBitForBit) {
  const RKMEImageSpec spec = sparse_spec(9, 2, 3), other = sparse_spec(5, 2, 4);
  const RKMEImageSpec support = spec.support();
  EXPECT_EQ(support.size(), 6);
  for (const double b : support.beta()) EXPECT_NE(b, 0.0);
  EXPECT_EQ(support.inner_product(support), spec.inner_product(spec));
  EXPECT_EQ(support.inner_product(other), spec.inner_product(other));
  EXPECT_EQ(other.inner_product(support), other.inner_product(spec));
  EXPECT_EQ(support.dist(other.support()), spec.dist(other));
  // No weight at all: one image of weight 0, every product 0.
  const RKMEImageSpec none(std::vector<float>(2 * 256, 1.0f), {2, 1, 16, 16}, {0.0, 0.0}, 8);
  EXPECT_EQ(none.support().size(), 1);
  EXPECT_EQ(none.support().inner_product(none.support()), 0.0);
}

TEST(ImageSearchFacts, HoldTheSupportTheSelfProductAndTheScreenEmbedding) {
  const RKMEImageSpec spec = sparse_spec(9, 1, 5);
  for (const int threads : {1, 2}) {
    const ImageSearchFacts facts = image_search_facts(spec, kernels::Context{threads, 0});
    expect_same_spec(facts.support, spec.support());
    EXPECT_EQ(facts.points, 9);
    ASSERT_TRUE(facts.self_inner.has_value());
    EXPECT_EQ(*facts.self_inner, spec.inner_product(spec));  // what the search computed before
    EXPECT_EQ(facts.screen_features, image_screen_features(spec).fingerprint());
    const std::vector<double> embedding = image_screen_embedding(spec, kernels::Context{1, 0});
    EXPECT_EQ(facts.screen_embedding, std::vector<float>(embedding.begin(), embedding.end()));
  }
}

TEST(ImageSearchFacts, RoundTripThroughTheirJsonExactly) {
  const RKMEImageSpec spec = sparse_spec(6, 3, 6, 2);
  const ImageSearchFacts facts = image_search_facts(spec, {});
  const std::string text = image_search_facts_json(facts);
  const ImageSearchFacts back = parse_image_search_facts(text, "facts", {});
  expect_same_spec(back.support, facts.support);
  EXPECT_EQ(back.points, facts.points);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(*back.self_inner), std::bit_cast<std::uint64_t>(*facts.self_inner));
  EXPECT_EQ(back.screen_features, facts.screen_features);
  EXPECT_EQ(back.screen_embedding, facts.screen_embedding);
}

TEST(ImageSearchFacts, FactsStoredAsTheWholeSpecReadWithoutSelfProductOrEmbedding) {
  const RKMEImageSpec spec = sparse_spec(6, 1, 7);
  const ImageSearchFacts old = parse_image_search_facts(spec.to_json_text(), "old facts", {});
  expect_same_spec(old.support, spec.support());
  EXPECT_EQ(old.points, 6);
  EXPECT_FALSE(old.self_inner.has_value());
  EXPECT_TRUE(old.screen_embedding.empty());
}

TEST(ImageSearchFacts, AreOneLineOfJsonThenOneLinePerArray) {
  const std::string text = image_search_facts_json(image_search_facts(sparse_spec(3, 1, 8), {}));
  std::vector<std::string> lines;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(json::accept(lines[0]));
  EXPECT_EQ(lines[1].rfind("z ", 0), 0u);
  EXPECT_EQ(lines[2].rfind("beta ", 0), 0u);
  EXPECT_EQ(lines[3].rfind("embedding ", 0), 0u);
}

TEST(ImageSearchFacts, RefuseOtherFormatsAndVersionsNamingTheSource) {
  const std::string good = image_search_facts_json(image_search_facts(sparse_spec(3, 1, 8), {}));
  const std::size_t newline = good.find('\n');
  const json header = json::parse(good.substr(0, newline));
  const std::string arrays = good.substr(newline);
  const auto expect_refused = [](const std::string& text) {
    try {
      parse_image_search_facts(text, "learnware 00000007's facts", {});
      ADD_FAILURE() << "accepted " << text.substr(0, 120);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("learnware 00000007's facts"), std::string::npos) << e.what();
    }
  };
  const auto with = [&](const char* key, const json& value) {
    json h = header;
    h[key] = value;
    return h.dump() + arrays;
  };
  expect_refused(with("version", 2));
  expect_refused(with("format", "something else"));
  expect_refused(with("points", 1));  // fewer than the support's 2
  expect_refused(with("self_inner", "large"));
  expect_refused(with("screen", 3));
  expect_refused(header.dump());                                  // no arrays
  expect_refused(header.dump() + "\nz AAAA");                    // no beta
  expect_refused(good + "\nbeta AAAA");                          // beta twice
  expect_refused(good.substr(0, good.rfind('\n')));              // a screen without its embedding
  expect_refused(header.dump() + arrays.substr(0, arrays.size() - 5));  // truncated
  expect_refused("[]");
}

}  // namespace
}  // namespace lwd
