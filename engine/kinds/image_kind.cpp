#include "engine/kinds/image_kind.h"

#include <cmath>

#include "engine/image/image_search_facts.h"
#include "kernels/conv_nngp_kernel.h"
#include "kernels/error.h"
#include "kernels/random.h"

namespace lwd {
namespace {

// The spec a value of this kind compares as: a spec, or a learnware's search
// facts (their support, whose products are the whole spec's).
const RKMEImageSpec& compared_spec(const StatSpec& any) {
  if (const auto* facts = any.get_if<ImageSearchFacts>()) return facts->support;
  return any.get<RKMEImageSpec>();
}

// Uniform random pixels in [0, 255]: inputs an image model must survive.
kernels::Matrix<double> random_image_rows(std::int64_t rows, std::int64_t width, std::uint64_t seed) {
  kernels::Matrix<double> out(rows, width);
  kernels::Rng rng(seed);
  for (double& v : out.values()) v = std::floor(rng.uniform() * 256.0);
  return out;
}

class ImageKind final : public SpecKindOf<RKMEImageSpec> {
 public:
  ImageKind() : SpecKindOf(/*has_search_facts=*/true) {}

  std::string_view type_name() const override { return RKMEImageSpec::kTypeName; }
  std::string_view semantic_data() const override { return "Image"; }

  nlohmann::ordered_json summary_json(const StatSpec& any) const override {
    const auto& spec = any.get<RKMEImageSpec>();
    const kernels::ImageShape& z = spec.z_shape();
    const ImageNetConfig& net = spec.net_config();
    nlohmann::ordered_json out;
    out["type"] = RKMEImageSpec::kTypeName;
    out["K"] = z.count;
    out["C"] = z.channels;
    out["H"] = z.height;
    out["W"] = z.width;
    out["n_models"] = spec.n_models();
    out["model_config"] = {{"k", net.k},
                           {"mu", net.mu},
                           {"sigma", net.sigma ? nlohmann::json(*net.sigma) : nlohmann::json(nullptr)},
                           {"net_width", net.net_width},
                           {"net_depth", net.net_depth}};
    out["sum_beta"] = sum_of(spec.beta());
    return out;
  }
  std::vector<std::pair<std::string, std::string>> summary_lines(const StatSpec& any) const override {
    const auto& spec = any.get<RKMEImageSpec>();
    const kernels::ImageShape& z = spec.z_shape();
    const ImageNetConfig& net = spec.net_config();
    return {{"type", std::string(RKMEImageSpec::kTypeName)},
            {"K", std::to_string(z.count)},
            {"image", std::to_string(z.channels) + "x" + std::to_string(z.height) + "x" + std::to_string(z.width) +
                          " (C x H x W)"},
            {"n_models", std::to_string(spec.n_models())},
            {"net", "k=" + std::to_string(net.k) + ", net_width=" + std::to_string(net.net_width) +
                        ", net_depth=" + std::to_string(net.net_depth) + ", mu=" + shortest_number(net.mu) +
                        ", sigma=" + (net.sigma ? shortest_number(*net.sigma) : std::string("He"))},
            {"sum(beta)", shortest_number(sum_of(spec.beta()))}};
  }

  // Like the RBF kinds, with K bounded by max_image_points (an NNGP
  // evaluation costs far more than an RBF one) and no gamma.
  std::optional<std::string> limit_violation(const StatSpec& any, const SpecLimits& limits) const override {
    const auto& spec = any.get<RKMEImageSpec>();
    const kernels::ImageShape& s = spec.z_shape();
    if (s.count > limits.max_image_points)
      return "K = " + std::to_string(s.count) + " images, more than the limit of " +
             std::to_string(limits.max_image_points);
    if (spec.dim() > limits.max_dim)
      return "field \"z\" has images of " + std::to_string(spec.dim()) + " values (C x H x W), more than the limit of " +
             std::to_string(limits.max_dim);
    if (s.count * spec.dim() > limits.max_values)
      return "field \"z\" holds " + std::to_string(s.count * spec.dim()) + " numbers, more than the limit of " +
             std::to_string(limits.max_values);
    const auto& z = spec.z();
    for (std::size_t i = 0; i < z.size(); ++i) {
      if (!(std::abs(static_cast<double>(z[i])) <= limits.max_abs_z))
        return "field \"z\": value " + std::to_string(i) + " = " + shortest_number(z[i]) +
               " is beyond the limit |z| <= " + shortest_number(limits.max_abs_z);
    }
    const auto& beta = spec.beta();
    for (std::size_t i = 0; i < beta.size(); ++i) {
      if (!(std::abs(beta[i]) <= limits.max_abs_beta))
        return "field \"beta\": beta[" + std::to_string(i) + "] = " + shortest_number(beta[i]) +
               " is beyond the limit |beta| <= " + shortest_number(limits.max_abs_beta);
    }
    return std::nullopt;
  }

  std::optional<PackedRkme> packed(const StatSpec&) const override { return std::nullopt; }

  // The spec's Z are preprocessed 32 x 32 images, not the model's input: no width to compare.
  std::optional<std::string> mismatch(const StatSpec&, const SemanticSpec&, const ModelConfig&) const override {
    return std::nullopt;
  }

  ProbeOutcome probe(const StatSpec&, const Model& model, const ModelConfig&, const ProbeSettings& settings,
                     const kernels::Context&) const override {
    ProbeOutcome out;
    out.rows = settings.rows;
    out.predictions = model.predict(random_image_rows(settings.rows, model.input_dim(), settings.seed).view());
    return out;
  }

  // Products of specs or of learnwares' search facts alike.
  double inner_product(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const override {
    return compared_spec(a).inner_product(compared_spec(b), ctx);
  }
  double dist(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const override {
    return compared_spec(a).dist(compared_spec(b), ctx);
  }

  // Not packed: the search compares specs pair by pair, on facts computed when
  // the learnware is stored (image_search_facts.h; docs/DESIGN.md §4.7).
  std::optional<std::string> search_facts(const StatSpec& any, const kernels::Context& ctx) const override {
    return image_search_facts_json(image_search_facts(any.get<RKMEImageSpec>(), ctx));
  }
  StatSpec from_search_facts(std::string_view facts, std::string_view source,
                             const io::JsonLimits& limits) const override {
    return StatSpec(*this, parse_image_search_facts(facts, source, limits));
  }
  // Comparable: the same image shape and the same scoring kernel (net depth).
  bool searchable_against(const StatSpec& user_any, const StatSpec& learnware_any) const override {
    const auto& user = compared_spec(user_any);
    const auto& learnware = compared_spec(learnware_any);
    const auto& a = learnware.z_shape();
    const auto& b = user.z_shape();
    return a.channels == b.channels && a.height == b.height && a.width == b.width &&
           learnware.net_config().net_depth == user.net_config().net_depth;
  }

  std::optional<double> stored_self_product(const StatSpec& facts) const override {
    return facts.get<ImageSearchFacts>().self_inner;
  }

  // One batched NNGP pass (kernels::conv_nngp_bilinear_batch): a's part of the
  // recursion once, every (learnware, image of a) task on the context's
  // threads; each value bit for bit RKMEImageSpec::inner_product's.
  void inner_products(const StatSpec& a_any, std::span<const StatSpec* const> facts, const kernels::Context& ctx,
                      std::span<double> out) const override {
    const RKMEImageSpec& a = compared_spec(a_any);
    std::vector<kernels::WeightedImages> sets;
    sets.reserve(facts.size());
    for (const StatSpec* f : facts) {
      const RKMEImageSpec& m = compared_spec(*f);
      if (&m == &a) throw Error("inner_products: a spec with itself is a self product, not a cross product");
      sets.push_back({m.z(), m.z_shape(), m.beta()});
    }
    kernels::ConvNngpConfig config;
    config.depth = a.net_config().net_depth;
    try {
      kernels::conv_nngp_bilinear_batch(ctx, {a.z(), a.z_shape(), a.beta()}, sets, config, out);
    } catch (const kernels::KernelError& e) {
      throw Error(e.what());
    }
  }

  // ||e_u - e_m||² of the screen embeddings (random features of the NNGP
  // kernel): an estimate of MMD² whose error is relative to the MMD² itself.
  // Only when every learnware has an embedding made under the features the
  // user's is made under.
  std::optional<std::vector<double>> screen_mmd2(const StatSpec& user_any, std::span<const StatSpec* const> facts,
                                                 const kernels::Context& ctx) const override {
    const RKMEImageSpec& user = compared_spec(user_any);
    const std::string features = image_screen_features(user).fingerprint();
    for (const StatSpec* f : facts) {
      const auto* learnware = f->get_if<ImageSearchFacts>();
      if (learnware == nullptr || learnware->screen_features != features) return std::nullopt;
    }
    const std::vector<double> u = image_screen_embedding(user, ctx);
    std::vector<double> out;
    out.reserve(facts.size());
    for (const StatSpec* f : facts) {
      const auto& m = f->get<ImageSearchFacts>().screen_embedding;
      if (m.size() != u.size()) return std::nullopt;
      double d = 0.0;
      for (std::size_t j = 0; j < u.size(); ++j) {
        const double diff = u[j] - static_cast<double>(m[j]);
        d += diff * diff;
      }
      out.push_back(d);
    }
    return out;
  }
};

}  // namespace

const SpecKind& image_spec_kind() {
  static const ImageKind kind;
  return kind;
}

StatSpec stat_spec(RKMEImageSpec spec) { return StatSpec(image_spec_kind(), std::move(spec)); }

}  // namespace lwd
