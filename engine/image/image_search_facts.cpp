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
  const std::vector<double> embedding = image_screen_embedding(facts.support, ctx);
  facts.screen_embedding.assign(embedding.begin(), embedding.end());
  return facts;
}

std::string image_search_facts_json(const ImageSearchFacts& facts) {
  nlohmann::json header = nlohmann::json::object();
  header["format"] = kFormat;
  header["version"] = kFormatVersion;
  header["points"] = facts.points;
  if (facts.self_inner) header["self_inner"] = *facts.self_inner;
  facts.support.settings_to_json(header["spec"]);
  if (!facts.screen_embedding.empty()) header["screen"] = {{"features", facts.screen_features}};
  std::string out = header.dump();
  out += "\nz " + io::base64_of_floats(facts.support.z());
  out += "\nbeta " + io::base64_of_doubles(facts.support.beta());
  if (!facts.screen_embedding.empty()) out += "\nembedding " + io::base64_of_floats(facts.screen_embedding);
  return out;
}

ImageSearchFacts parse_image_search_facts(std::string_view text, std::string_view source,
                                          const io::JsonLimits& limits) {
  const auto fail = [&](const std::string& why) { throw Error(std::string(source) + ": " + why); };
  const std::size_t newline = text.find('\n');
  const std::string_view head = text.substr(0, newline);
  const nlohmann::json probe = nlohmann::json::parse(head, nullptr, /*allow_exceptions=*/false);
  if (probe.is_discarded() || (probe.is_object() && probe.contains("type") && !probe.contains("format"))) {
    // Stored before the facts had a format of their own: the whole spec in
    // its reference JSON.
    RKMEImageSpec spec = RKMEImageSpec::parse(text, source, limits);
    const std::int64_t points = spec.size();
    return ImageSearchFacts{spec.support(), points, std::nullopt, {}, {}};
  }
  const nlohmann::json in = io::parse_json(head, source, limits);
  if (!in.is_object()) fail("image search facts must start with a JSON object");
  const auto format = in.find("format");
  if (format == in.end() || !format->is_string() || format->get<std::string>() != kFormat)
    fail("not image search facts (\"format\" is not \"" + std::string(kFormat) + "\")");
  const auto version = in.find("version");
  if (version == in.end() || !version->is_number_integer() || version->get<int>() != kFormatVersion)
    fail("image search facts of a version this program does not know (it reads version " +
         std::to_string(kFormatVersion) + ")");
  // The arrays, one line each: "NAME BASE64".
  std::map<std::string_view, std::string_view> arrays;
  for (std::size_t at = newline; at != std::string_view::npos && at < text.size();) {
    const std::size_t start = at + 1;
    const std::size_t end = text.find('\n', start);
    const std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) fail("image search facts: a line without \"NAME BASE64\"");
    if (!arrays.emplace(line.substr(0, space), line.substr(space + 1)).second)
      fail("image search facts: array \"" + std::string(line.substr(0, space)) + "\" given twice");
    at = end;
  }
  const auto array = [&](std::string_view name) -> std::optional<std::string_view> {
    const auto it = arrays.find(name);
    if (it == arrays.end()) return std::nullopt;
    return it->second;
  };
  const auto z = array("z");
  const auto beta = array("beta");
  const auto spec = in.find("spec");
  if (spec == in.end() || !z || !beta) fail("image search facts need \"spec\" and the arrays z and beta");
  const std::string where = std::string(source);
  ImageSearchFacts facts{RKMEImageSpec::from_settings_json(*spec, io::floats_of_base64(*z, where + ": z"),
                                                           io::doubles_of_base64(*beta, where + ": beta"), source),
                         0, std::nullopt, {}, {}};
  const auto points = in.find("points");
  if (points == in.end() || !points->is_number_integer() || points->get<std::int64_t>() < facts.support.size())
    fail("image search facts: \"points\" must be an integer >= the support's " + std::to_string(facts.support.size()));
  facts.points = points->get<std::int64_t>();
  if (const auto self = in.find("self_inner"); self != in.end()) {
    if (!self->is_number() || !std::isfinite(self->get<double>()))
      fail("image search facts: \"self_inner\" must be a finite number");
    facts.self_inner = self->get<double>();
  }
  const auto screen = in.find("screen");
  const auto embedding = array("embedding");
  if (screen != in.end() || embedding) {
    const auto features = screen == in.end() || !screen->is_object() ? screen : screen->find("features");
    if (screen == in.end() || !screen->is_object() || features == screen->end() || !features->is_string() || !embedding)
      fail("image search facts: a screen needs {\"features\": text} and the array embedding");
    facts.screen_features = features->get<std::string>();
    facts.screen_embedding = io::floats_of_base64(*embedding, where + ": the screen embedding");
    for (const float v : facts.screen_embedding)
      if (!std::isfinite(v)) fail("image search facts: the screen embedding holds a non-finite number");
  }
  return facts;
}

}  // namespace lwd
