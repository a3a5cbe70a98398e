// What a market keeps of an image learnware's spec for its search (market.h5
// /facts/RKMEImageSpecification, docs/DESIGN.md §4.7), computed once, when the
// learnware is stored (and again by `lwdock market rebuild`):
//   - the spec restricted to its support (RKMEImageSpec::support): every
//     product the search takes with it is bit for bit the whole spec's, and a
//     search reads a few images per learnware instead of K = 50;
//   - its self product <m, m> under the NNGP kernel;
//   - its screen embedding: sum_i beta_i phi(z_i) for random features phi of
//     the same kernel (kernels/conv_nngp_features.h), with the fingerprint of
//     those features, so that an embedding is only ever compared with one made
//     under the same features.
// Facts written before these existed hold the whole spec in the reference
// JSON; they still read, with only the support known: the search then
// computes <m, m> itself, as it always did, and does not screen.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/image/rkme_image_spec.h"
#include "engine/io/json_text.h"
#include "kernels/context.h"
#include "kernels/conv_nngp_features.h"

namespace lwd {

struct ImageSearchFacts {
  RKMEImageSpec support;
  std::int64_t points = 0;            // K of the whole spec
  std::optional<double> self_inner;   // <m, m>
  std::string screen_features;        // the features' fingerprint; empty: no embedding
  std::vector<float> screen_embedding;  // in float32: it only ranks
};

// The random features the image search screens with (kernels::ConvNngpFeatureConfig's
// defaults: 2 nets of 64 channels) for specs of this image shape and net depth;
// drawn on first use and kept.
const kernels::ConvNngpFeatureNet& image_screen_features(const RKMEImageSpec& spec);
// sum_i beta_i phi(z_i) under image_screen_features(spec).
std::vector<double> image_screen_embedding(const RKMEImageSpec& spec, const kernels::Context& ctx);

// Support, self product and screen embedding of `spec`; the result does not
// depend on ctx.n_threads.
ImageSearchFacts image_search_facts(const RKMEImageSpec& spec, const kernels::Context& ctx);
// One line of JSON, then one line per array, "NAME BASE64" (little-endian
// bytes), so that the arrays -- most of the text -- are decoded, not lexed:
//   {"format": "lwdock-image-search-facts", "version": 1, "points": K,
//    "self_inner": <m, m>, "spec": <RKMEImageSpec::settings_to_json of the support>,
//    "screen": {"features": fingerprint}}
//   z BASE64 (float32)
//   beta BASE64 (float64)
//   embedding BASE64 (float32)
// self_inner, screen and the embedding line are absent when not computed.
std::string image_search_facts_json(const ImageSearchFacts& facts);
// Reads the above, or the whole spec in the reference JSON (facts stored
// before it). Throws lwd::Error naming `source`.
ImageSearchFacts parse_image_search_facts(std::string_view text, std::string_view source,
                                          const io::JsonLimits& limits);

}  // namespace lwd
