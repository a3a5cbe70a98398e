#include "engine/image/image_search_facts.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "engine/error.h"
#include "engine/io/base64.h"
#include "kernels/error.h"

namespace lwd {

namespace {

constexpr std::string_view kFormat = "lwdock-image-search-facts";
constexpr int kFormatVersion = 1;

kernels::ConvNngpConfig nngp_config_of(const RKMEImageSpec& spec) {
  kernels::ConvNngpConfig config;
  config.depth = spec.net_config().net_depth;
  return config;
}

}  // namespace

const kernels::ConvNngpFeatureNet& image_screen_features(const RKMEImageSpec& spec) {
  // A handful of shapes at most (the market's images are 32 x 32, one or three
  // channels): each net is drawn once and kept for the process.
  static std::mutex mutex;
  static std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, int>,
                  std::unique_ptr<const kernels::ConvNngpFeatureNet>>
      nets;
  const auto& s = spec.z_shape();
  const auto key = std::make_tuple(s.channels, s.height, s.width, spec.net_config().net_depth);
  std::lock_guard lock(mutex);
  auto& net = nets[key];
  if (!net) {
    try {
      net = std::make_unique<const kernels::ConvNngpFeatureNet>(kernels::draw_conv_nngp_feature_net(
          nngp_config_of(spec), kernels::ConvNngpFeatureConfig{}, s.channels, s.height, s.width));
    } catch (const kernels::KernelError& e) {
      throw Error(e.what());
    }
  }
  return *net;
}

std::vector<double> image_screen_embedding(const RKMEImageSpec& spec, const kernels::Context& ctx) {
  const kernels::ConvNngpFeatureNet& net = image_screen_features(spec);
  std::vector<double> out(static_cast<std::size_t>(net.feature_dim()));
  try {
    kernels::conv_nngp_feature_embedding(ctx, net, {spec.z(), spec.z_shape(), spec.beta()}, out);
  } catch (const kernels::KernelError& e) {
    throw Error(e.what());
  }
  return out;
}

ImageSearchFacts image_search_facts(const RKMEImageSpec& spec, const kernels::Context& ctx) {
  ImageSearchFacts facts{spec.support(), spec.size(), std::nullopt, {}, {}};
  // With the same object on both sides the NNGP's diagonal follows the
  // reference's forced K_xx chain: the value a search computing <m, m> gets.
  facts.self_inner = facts.support.inner_product(facts.support, ctx);
  facts.screen_features = image_screen_features(spec).fingerprint();
  facts.screen_embedding = image_screen_embedding(facts.support, ctx);
  return facts;
}

std::string image_search_facts_json(const ImageSearchFacts& facts) {
  nlohmann::json out = nlohmann::json::object();
  out["format"] = kFormat;
  out["version"] = kFormatVersion;
  out["points"] = facts.points;
  facts.support.to_compact_json(out["spec"]);
  if (facts.self_inner) out["self_inner"] = *facts.self_inner;
  if (!facts.screen_embedding.empty())
    out["screen"] = {{"features", facts.screen_features},
                     {"embedding", io::base64_of_doubles(facts.screen_embedding)}};
  return out.dump();
}

ImageSearchFacts parse_image_search_facts(std::string_view text, std::string_view source,
                                          const io::JsonLimits& limits) {
  const nlohmann::json in = io::parse_json(text, source, limits);
  const auto fail = [&](const std::string& why) { throw Error(std::string(source) + ": " + why); };
  if (!in.is_object()) fail("image search facts must be a JSON object");
  if (in.contains("type") && !in.contains("format")) {
    // Stored before the facts had a format of their own: the whole spec.
    RKMEImageSpec spec = RKMEImageSpec::from_json(in, source);
    const std::int64_t points = spec.size();
    return ImageSearchFacts{spec.support(), points, std::nullopt, {}, {}};
  }
  const auto format = in.find("format");
  if (format == in.end() || !format->is_string() || format->get<std::string>() != kFormat)
    fail("not image search facts (\"format\" is not \"" + std::string(kFormat) + "\")");
  const auto version = in.find("version");
  if (version == in.end() || !version->is_number_integer() || version->get<int>() != kFormatVersion)
    fail("image search facts of a version this program does not know (it reads version " +
         std::to_string(kFormatVersion) + ")");
  const auto spec = in.find("spec");
  if (spec == in.end()) fail("image search facts without \"spec\"");
  ImageSearchFacts facts{RKMEImageSpec::from_compact_json(*spec, source), 0, std::nullopt, {}, {}};
  const auto points = in.find("points");
  if (points == in.end() || !points->is_number_integer() || points->get<std::int64_t>() < facts.support.size())
    fail("image search facts: \"points\" must be an integer >= the support's " + std::to_string(facts.support.size()));
  facts.points = points->get<std::int64_t>();
  if (const auto self = in.find("self_inner"); self != in.end()) {
    if (!self->is_number() || !std::isfinite(self->get<double>())) fail("image search facts: \"self_inner\" must be a finite number");
    facts.self_inner = self->get<double>();
  }
  if (const auto screen = in.find("screen"); screen != in.end()) {
    const auto features = screen->find("features");
    const auto embedding = screen->find("embedding");
    if (!screen->is_object() || features == screen->end() || !features->is_string() || embedding == screen->end() ||
        !embedding->is_string())
      fail("image search facts: \"screen\" must be {\"features\": text, \"embedding\": base64}");
    facts.screen_features = features->get<std::string>();
    facts.screen_embedding = io::doubles_of_base64(embedding->get_ref<const std::string&>(),
                                                   std::string(source) + ": the screen embedding");
    for (const double v : facts.screen_embedding)
      if (!std::isfinite(v)) fail("image search facts: the screen embedding holds a non-finite number");
  }
  return facts;
}

}  // namespace lwd
