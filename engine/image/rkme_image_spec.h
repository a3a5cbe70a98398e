// RKMEImageSpec: the statistical specification of an image data set
// (docs/DESIGN.md §3.5 "Image RKME"): K synthetic images Z (shape [K, C, 32, 32]) with
// weights beta whose embedding under the NNGP kernel of a deep ReLU ConvNet
// approximates that of the data.
//
// Generation (the reference's procedure, sized for CPUs — see README.md):
//   1. non-finite pixels -> the image's mean; resize to 32 x 32 (antialiased
//      bilinear); standardise each channel; ZCA-whiten when C > 1;
//   2. at most sample_size images are used (a seeded random subset);
//   3. Z starts as N(0, 1) noise — never as copies of user images — the same
//      noise for every spec, as the random nets are the same for every spec;
//   4. each step takes `models_per_step` nets of a pool of `n_models` random
//      ConvNets, solves the simplex QP for beta under their feature kernel
//      k(a, b) = <phi(a), phi(b)> / D + 0.01, and moves Z by one Adam step on
//      MMD^2 (the data enter only through their mean feature per net; the
//      reference uses AdaBelief, see the .cpp for why we do not);
//   5. the final beta is solved under the whole pool's feature kernel.
// Scoring (inner products, MMD) uses the analytic NNGP kernel of the same
// architecture (kernels/conv_nngp_kernel.h), as the reference does, so the
// distances of specs made by either side are comparable.
//
// JSON, the reference package's format (key order of its writer):
//   {"RKME_IMAGE_VERSION":1,"msg":null,"z":[[[[...]]]],"beta":[...],
//    "n_models":8,"model_config":{"k":2,"mu":0,"sigma":null,"net_width":16,
//    "net_depth":3},"type":"RKMEImageSpecification"}
// z has shape [K, C, H, W]. On load "type", "z" and "beta" are required;
// "n_models" and "model_config" (and each of its keys) default to the
// reference's values when absent; "msg" and "RKME_IMAGE_VERSION" are read
// when present.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/image/image_io.h"
#include "engine/io/json_text.h"
#include "kernels/context.h"
#include "kernels/image_features.h"
#include "kernels/matrix.h"

namespace lwd {

// The random ConvNets' settings, the reference's "model_config". Channels per
// conv layer are k * net_width. Only net_depth enters the scoring kernel.
struct ImageNetConfig {
  int k = 2;
  double mu = 0.0;                  // mean of the conv weights
  std::optional<double> sigma;      // std of the conv weights; none: He scaling
  int net_width = 16;
  int net_depth = 3;

  bool operator==(const ImageNetConfig&) const = default;
};

struct ImageRkmeOptions {
  std::int64_t reduced_size = 50;  // K
  int steps = 100;                 // Adam steps on Z
  double step_size = 0.03;         // Adam learning rate
  std::int64_t sample_size = 5000; // images used at most
  bool resize = true;              // false: inputs must already be 32 x 32
  bool reduce = true;              // false: Z = all (preprocessed) images, beta = 1/n
  bool nonnegative_beta = true;    // false: beta = (K + 1e-5 I)^-1 C
  enum class Whitening { automatic, on, off };
  Whitening whitening = Whitening::automatic;  // automatic: ZCA when C > 1 (the reference's rule)
  int n_models = 8;                // pool of random ConvNets
  int models_per_step = 2;         // nets drawn from the pool per step
  ImageNetConfig net;
};

// 1 - exp(-d / 5e-5): the reference's transform of image-spec distances before
// scoring (docs/DESIGN.md §4.1 step 5).
constexpr double kImageDistanceScale = 5e-5;
double transform_image_distance(double mmd2);

class RKMEImageSpec {
 public:
  static constexpr std::string_view kTypeName = "RKMEImageSpecification";
  static constexpr std::int64_t kImageSide = 32;
  static constexpr int kVersion = 1;

  RKMEImageSpec() = default;
  // Validates: z_shape has K, C, H, W >= 1, z has K*C*H*W values, beta K;
  // everything finite; n_models >= 1; net config valid (k, net_width >= 1,
  // net_depth in [1, 5]) with H and W divisible by 2^net_depth.
  RKMEImageSpec(std::vector<float> z, kernels::ImageShape z_shape, std::vector<double> beta, int n_models = 16,
                ImageNetConfig net = {});

  // Builds the spec of `images` (any size, any value range). ctx.seed seeds
  // the subset of images used (when there are more than sample_size); Z's
  // start and the random nets are the same for every spec, so what the fit
  // leaves of them cancels between specs (see the .cpp). The result does not
  // depend on ctx.n_threads. Throws lwd::Error for empty input, an image without a
  // finite pixel, or invalid options.
  static RKMEImageSpec generate(const kernels::Context& ctx, ImageBatch images, const ImageRkmeOptions& options = {});

  // <this, other> = beta^T k_NNGP(Z, Z') beta' with this spec's net depth.
  // Throws if the Z shapes (C, H, W) differ.
  double inner_product(const RKMEImageSpec& other, const kernels::Context& ctx = {}) const;
  // MMD^2(this, other) = <P,P> - 2<P,Q> + <Q,Q>; exactly 0 for the same object.
  double dist(const RKMEImageSpec& other, const kernels::Context& ctx = {}) const;
  // n images that follow the spec: z_i (i drawn with probability ∝ max(beta_i, 0))
  // plus N(0, 0.01^2) noise, as the reference samples them. Seeded by ctx.seed.
  ImageBatch herding(std::int64_t n, const kernels::Context& ctx = {}) const;

  const std::vector<float>& z() const { return z_; }
  const kernels::ImageShape& z_shape() const { return z_shape_; }
  // Z as K rows of C*H*W values.
  kernels::ConstMatrixView<float> z_rows() const {
    return kernels::ConstMatrixView<float>(z_.data(), z_shape_.count, z_shape_.pixels_per_image());
  }
  const std::vector<double>& beta() const { return beta_; }
  int n_models() const { return n_models_; }
  const ImageNetConfig& net_config() const { return net_; }
  const std::optional<std::string>& message() const { return msg_; }
  int version() const { return version_; }
  std::int64_t size() const { return z_shape_.count; }  // K
  std::int64_t dim() const { return z_shape_.pixels_per_image(); }
  bool empty() const { return z_.empty(); }

  std::string to_json_text() const;
  static RKMEImageSpec parse(std::string_view json_text, std::string_view source = "<memory>",
                             const io::JsonLimits& limits = {});
  void to_json(nlohmann::json& out) const;
  static RKMEImageSpec from_json(const nlohmann::json& in, std::string_view source = "<memory>");

  // The spec's fields but its numbers (z and beta), with z's shape as
  // "z_shape": the market's own storage form (an image learnware's search
  // facts, docs/DESIGN.md §4.7) keeps the numbers apart, as base64 of their
  // bytes, exact and read without parsing a number per pixel (a reference
  // file of K = 50 holds 51 200 of them). Specs exchanged with users stay in
  // the reference format (to_json).
  void settings_to_json(nlohmann::json& out) const;
  // The spec of those settings and numbers; validated as the constructor
  // validates, with errors naming `source`.
  static RKMEImageSpec from_settings_json(const nlohmann::json& settings, std::vector<float> z,
                                          std::vector<double> beta, std::string_view source = "<memory>");

  // The spec restricted to its images of nonzero weight (the first image, of
  // weight 0, when every weight is 0): every inner product with it is bit for
  // bit the whole spec's (kernels/conv_nngp_kernel.h skips zero weights), so
  // the search keeps only these. The simplex QP leaves a handful of K = 50.
  RKMEImageSpec support() const;

  void save(const std::filesystem::path& path) const;  // atomic
  static RKMEImageSpec load(const std::filesystem::path& path);

 private:
  std::vector<float> z_;
  kernels::ImageShape z_shape_;
  std::vector<double> beta_;
  int n_models_ = 16;
  ImageNetConfig net_;
  std::optional<std::string> msg_;
  int version_ = kVersion;
};

// read_images(path) then RKMEImageSpec::generate — what
// `lwdock spec generate --type image --input images.(npy|idx)` runs.
RKMEImageSpec generate_image_spec_from_file(const std::filesystem::path& path, const ImageRkmeOptions& options = {},
                                            const kernels::Context& ctx = {});

}  // namespace lwd
