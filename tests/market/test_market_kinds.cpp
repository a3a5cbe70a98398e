// Text and image learnwares through the whole market path: packages of each
// kind pass the usability check, a mismatch between semantic Data type, spec
// type and model kind is refused with the reason, searches compare only
// comparable specs (text: encoder and languages; image: shape), and the
// caches an add appends to agree with those a reopen builds.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../image/synthetic_images.h"
#include "engine/dist/communicator.h"
#include "engine/error.h"
#include "engine/image/image_classifier.h"
#include "engine/image/image_search_facts.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/image_kind.h"
#include "engine/kinds/model_kinds.h"
#include "engine/kinds/table_kind.h"
#include "engine/kinds/text_kind.h"
#include "engine/market/checker.h"
#include "engine/market/market.h"
#include "engine/package/package.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/sentence_encoder.h"
#include "market_fixture.h"

namespace lwd {
namespace {

using testing_market::make_package;
using testing_market::PackageParts;
using testing_market::TempDir;
namespace fs = std::filesystem;

SemanticSpec classification_semantic(const std::string& data, std::int64_t classes, const std::string& name) {
  SemanticSpec s;
  s.tags["Data"] = {data};
  s.tags["Task"] = {"Classification"};
  s.tags["Library"] = {"Others"};
  s.tags["Scenario"] = {"Education"};
  s.tags["License"] = {"MIT"};
  s.name = name;
  s.description = "test " + data + " learnware " + name;
  std::map<std::int64_t, std::string> names;
  for (std::int64_t c = 0; c < classes; ++c) names[c] = "class" + std::to_string(c);
  s.output = FeatureSemantics{classes, names};
  return s;
}

// Sentences about cooking (label 0) or sailing (label 1), seeded.
std::vector<std::string> topic_documents(int n, int topic, std::uint64_t seed) {
  const std::vector<std::vector<std::string>> words = {
      {"bake", "bread", "oven", "flour", "butter", "sugar", "recipe", "kitchen", "dough", "salt"},
      {"sail", "boat", "wind", "harbour", "mast", "anchor", "tide", "crew", "deck", "wave"}};
  kernels::Rng rng(seed);
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string doc = "the";
    for (int w = 0; w < 12; ++w) doc += " " + words[static_cast<std::size_t>(topic)][rng.next_u64() % 10] + " and";
    docs.push_back(doc + " more");
  }
  return docs;
}

struct KindPackage {
  std::string semantic_data;             // semantic Data tag
  bool text_spec = true;                 // for text packages: include the text spec
  bool table_spec_instead = false;       // ship a table spec instead of the kind's own
};

// The semantic spec and environment every package carries.
void add_semantic_and_environment(const fs::path& work, const SemanticSpec& semantic, Manifest& manifest,
                                  std::map<std::string, fs::path>& files) {
  io::write_text_file_atomically(work / "semantic.json", semantic.to_json_text());
  manifest.semantic_file = "semantic.json";
  files["semantic.json"] = work / "semantic.json";
  io::write_text_file_atomically(work / "environment.yaml", "runtime: test\n");
  manifest.environment_file = "environment.yaml";
  files["environment.yaml"] = work / "environment.yaml";
}

// A classification model's manifest entry.
Manifest classifier_manifest(const std::string& name, std::string_view kind, const std::string& file,
                             std::int64_t input_dim, std::int64_t classes) {
  Manifest manifest;
  manifest.name = name;
  manifest.model.kind = std::string(kind);
  manifest.model.file = file;
  manifest.model.task = TaskType::kClassification;
  manifest.model.input_dim = input_dim;
  manifest.model.output_dim = classes;
  return manifest;
}

fs::path make_text_package(const fs::path& dir, const std::string& name, int topic, std::uint64_t seed,
                           const KindPackage& variant = {"Text"}) {
  const fs::path work = dir / (name + ".parts");
  fs::create_directories(work);
  std::vector<std::string> docs = topic_documents(60, topic, seed);
  std::vector<std::string> other = topic_documents(20, 1 - topic, seed + 1);
  std::vector<std::int64_t> labels(docs.size(), topic);
  for (auto& d : other) {
    docs.push_back(d);
    labels.push_back(1 - topic);
  }
  const NaiveBayesTextModel model = train_naive_bayes(docs, labels, 2);
  save_naive_bayes_model(model, work / "model.json");
  Manifest manifest =
      classifier_manifest(name, NaiveBayesTextModel::kKind, "model.json", model.vocabulary_size(), 2);
  std::map<std::string, fs::path> files{{"model.json", work / "model.json"}};
  if (variant.table_spec_instead) {
    RKMETableSpec::generate(kernels::Context{.seed = seed}, testing_market::blob(50, 3, 0.0, seed),
                            kernels::RkmeOptions{.k = 5})
        .save(work / "rkme.json");
    manifest.stat_specs.push_back({std::string(RKMETableSpec::kTypeName), "rkme.json"});
    files["rkme.json"] = work / "rkme.json";
  } else if (variant.text_spec) {
    const text::HashingEncoder encoder(text::HashingOptions{.dim = 32});
    kernels::RkmeOptions rkme;
    rkme.k = 10;
    RKMETextSpec::generate(kernels::Context{.seed = seed}, topic_documents(80, topic, seed + 7), encoder,
                           TextSpecOptions{rkme})
        .save(work / "text_rkme.json");
    manifest.stat_specs.push_back({std::string(RKMETextSpec::kTypeName), "text_rkme.json"});
    files["text_rkme.json"] = work / "text_rkme.json";
  }
  add_semantic_and_environment(work, classification_semantic(variant.semantic_data, 2, name), manifest, files);
  const fs::path zip = dir / (name + ".zip");
  build_package(manifest, files, zip);
  return zip;
}

ImageRkmeOptions small_image_options() {
  ImageRkmeOptions o;
  o.reduced_size = 10;  // small, but enough to tell class mixes apart
  o.steps = 30;
  o.n_models = 4;
  o.models_per_step = 2;
  o.net.net_width = 8;
  return o;
}

fs::path make_image_package(const fs::path& dir, const std::string& name, std::vector<std::int64_t> classes,
                            std::uint64_t seed, const std::string& semantic_data = "Image") {
  const fs::path work = dir / (name + ".parts");
  fs::create_directories(work);
  const std::vector<double> weights(classes.size(), 1.0);
  const test::LabelledImages data = test::stroke_images(120, classes, weights, seed);
  ImageClassifierTrainOptions train;
  train.hidden = {16};
  train.epochs = 3;
  const ImageMlpClassifier model =
      train_image_classifier(kernels::Context{.seed = seed}, data.images, data.labels, 10, train);
  save_image_classifier(model, work / "model.bin");
  RKMEImageSpec::generate(kernels::Context{.seed = seed}, data.images, small_image_options())
      .save(work / "image_rkme.json");
  Manifest manifest = classifier_manifest(name, ImageMlpClassifier::kKind, "model.bin", model.input_dim(), 10);
  manifest.stat_specs.push_back({std::string(RKMEImageSpec::kTypeName), "image_rkme.json"});
  std::map<std::string, fs::path> files{{"model.bin", work / "model.bin"},
                                        {"image_rkme.json", work / "image_rkme.json"}};
  add_semantic_and_environment(work, classification_semantic(semantic_data, 10, name), manifest, files);
  const fs::path zip = dir / (name + ".zip");
  build_package(manifest, files, zip);
  return zip;
}

TEST(LearnwareKinds, ListsEveryKindAndDispatchesUnknownWithTheList) {
  const auto& kinds = learnware_model_kinds();
  for (const char* kind : {"xgboost", "linear", "process", "tfidf_naive_bayes", "image_mlp"}) {
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind;
  }
  ModelConfig config;
  config.kind = "telepathy";
  try {
    load_learnware_model(config, "/nonexistent");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image_mlp"), std::string::npos) << e.what();
  }
}

TEST(MarketKinds, PackagesOfEveryKindPassTheUsabilityCheck) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  const AddResult table = market.add(make_package(dir.path(), PackageParts{.name = "table"}));
  const AddResult text = market.add(make_text_package(dir.path(), "text", 0, 3));
  const AddResult image = market.add(make_image_package(dir.path(), "image", {0, 1, 2}, 5));
  for (const auto& r : {table, text, image}) {
    EXPECT_EQ(r.status, LearnwareStatus::usable) << r.id << ": " << r.reason;
  }
  EXPECT_EQ(market.list(LearnwareStatus::usable).size(), 3u);
}

TEST(MarketKinds, MismatchedDataTypeSpecAndModelAreInvalidWithTheReason) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  // Text semantic, but a table spec.
  AddResult r = market.add(make_text_package(dir.path(), "t1", 0, 3, KindPackage{"Text", true, true}));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("RKMETextSpecification"), std::string::npos) << r.reason;
  // Image semantic, but a text package.
  r = market.add(make_text_package(dir.path(), "t2", 0, 3, KindPackage{"Image"}));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("RKMEImageSpecification"), std::string::npos) << r.reason;
  // Text semantic on an image model with an image spec: no text spec.
  r = market.add(make_image_package(dir.path(), "i1", {0, 1}, 5, "Text"));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("RKMETextSpecification"), std::string::npos) << r.reason;
}

TEST(MarketKinds, TextSearchFindsTheSameTopicAndHonoursLanguages) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  const std::string cooking = market.add(make_text_package(dir.path(), "cooking", 0, 3)).id;
  const std::string sailing = market.add(make_text_package(dir.path(), "sailing", 1, 4)).id;
  const text::HashingEncoder encoder(text::HashingOptions{.dim = 32});
  kernels::RkmeOptions rkme;
  rkme.k = 10;
  SearchRequest request;
  const RKMETextSpec english = RKMETextSpec::generate(kernels::Context{.seed = 9}, topic_documents(50, 1, 99), encoder,
                                                      TextSpecOptions{rkme});
  request.spec = stat_spec(english);
  request.options.max_search_num = 1;
  SearchResponse response = market.search(request);
  ASSERT_FALSE(response.stat.singles.empty());
  EXPECT_EQ(response.stat.singles.front().id, sailing);
  EXPECT_EQ(response.stat.candidates, 2);

  // A user whose documents are (also) Chinese finds no English-only learnware.
  RKMETextSpec chinese(english.rkme(), {"en", "zh-cn"}, english.encoder());
  request.spec = stat_spec(chinese);
  response = market.search(request);
  EXPECT_TRUE(response.stat.singles.empty());

  // Another encoder: nothing comparable.
  const text::HashingEncoder other(text::HashingOptions{.dim = 32, .seed = 5});
  request.spec = stat_spec(RKMETextSpec::generate(kernels::Context{.seed = 9}, topic_documents(50, 1, 99), other,
                                                  TextSpecOptions{rkme}));
  response = market.search(request);
  EXPECT_TRUE(response.stat.singles.empty());
  (void)cooking;
}

TEST(MarketKinds, ImageSearchRanksTheSameClassesFirstAndMixes) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  const std::string low = market.add(make_image_package(dir.path(), "low", {0, 1, 2}, 5)).id;
  const std::string high = market.add(make_image_package(dir.path(), "high", {5, 6, 7}, 6)).id;
  const std::vector<std::int64_t> classes = {5, 6, 7};
  const std::vector<double> weights(3, 1.0);
  const auto user_images = test::stroke_images(120, classes, weights, 77);
  SearchRequest request;
  const RKMEImageSpec user = RKMEImageSpec::generate(kernels::Context{.seed = 8}, user_images.images, small_image_options());
  request.spec = stat_spec(user);
  const SearchResponse response = market.search(request);
  ASSERT_EQ(response.stat.candidates, 2);
  ASSERT_FALSE(response.stat.singles.empty());
  EXPECT_EQ(response.stat.singles.front().id, high);
  EXPECT_LT(response.stat.singles.front().mmd2,
            user.dist(RKMEImageSpec::load(dir.path() / "low.parts" / "image_rkme.json")));
  // Reopening (caches built from the store, not appended) gives the same answer.
  Market reopened = Market::open(dir.path() / "m");
  const SearchResponse again = reopened.search(request);
  ASSERT_EQ(again.stat.singles.size(), response.stat.singles.size());
  for (std::size_t i = 0; i < again.stat.singles.size(); ++i) {
    EXPECT_EQ(again.stat.singles[i].id, response.stat.singles[i].id);
    EXPECT_DOUBLE_EQ(again.stat.singles[i].mmd2, response.stat.singles[i].mmd2);
  }
  (void)low;
}

// Several ranks (Market::set_communicator), each with the market opened by
// itself as MPI ranks open it, here threads of one ThreadGroup: table search
// (the packed path) and image search (products shared candidate by candidate)
// give every rank the one-process answer, bit for bit, also with more ranks
// than image candidates.
TEST(MarketKinds, SearchesOverRanksEqualOneProcess) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  for (int i = 0; i < 3; ++i) {
    PackageParts parts{.name = "t" + std::to_string(i)};
    parts.seed = 40 + static_cast<std::uint64_t>(i);
    parts.centre = 0.7 * i;
    market.add(make_package(dir.path(), parts));
  }
  market.add(make_image_package(dir.path(), "low", {0, 1, 2}, 5));
  market.add(make_image_package(dir.path(), "high", {5, 6, 7}, 6));
  market.add(make_image_package(dir.path(), "mid", {2, 5, 8}, 7));
  SearchRequest table;
  table.spec = stat_spec(RKMETableSpec::generate(kernels::Context{.seed = 3}, testing_market::blob(100, 3, 1.0, 42),
                                                 kernels::RkmeOptions{.k = 10}));
  const std::vector<std::int64_t> classes = {5, 6, 7};
  const std::vector<double> weights(3, 1.0);
  SearchRequest image;
  image.spec = stat_spec(RKMEImageSpec::generate(
      kernels::Context{.seed = 8}, test::stroke_images(120, classes, weights, 77).images, small_image_options()));
  for (const SearchRequest* request : {&table, &image}) {
    const SearchResponse one = Market::open(dir.path() / "m").search(*request);
    ASSERT_FALSE(one.stat.singles.empty());
    for (const int ranks : {2, 4}) {
      dist::ThreadGroup group(ranks);
      std::vector<SearchResponse> got(static_cast<std::size_t>(ranks));
      std::vector<std::thread> threads;
      for (int r = 0; r < ranks; ++r) {
        threads.emplace_back([&, r] {
          Market mine = Market::open(dir.path() / "m", kernels::Context{.n_threads = 1});
          mine.set_communicator(&group.rank(r));
          got[static_cast<std::size_t>(r)] = mine.search(*request);
        });
      }
      for (auto& t : threads) t.join();
      for (const SearchResponse& g : got) {
        EXPECT_EQ(g.stat.candidates, one.stat.candidates);
        ASSERT_EQ(g.stat.singles.size(), one.stat.singles.size());
        for (std::size_t i = 0; i < g.stat.singles.size(); ++i) {
          EXPECT_EQ(g.stat.singles[i].id, one.stat.singles[i].id);
          EXPECT_EQ(g.stat.singles[i].mmd2, one.stat.singles[i].mmd2);
          EXPECT_EQ(g.stat.singles[i].score, one.stat.singles[i].score);
        }
        ASSERT_EQ(g.stat.mixture.has_value(), one.stat.mixture.has_value());
        if (one.stat.mixture) {
          EXPECT_EQ(g.stat.mixture->ids, one.stat.mixture->ids);
          EXPECT_EQ(g.stat.mixture->weights, one.stat.mixture->weights);
        }
      }
    }
  }
}

TEST(MarketKinds, ChangesAfterASearchKeepItsStateAsAReopenBuildsIt) {
  TempDir dir;
  Market market = Market::create(dir.path() / "m");
  SearchRequest request;
  request.spec = stat_spec(RKMETableSpec::generate(kernels::Context{.seed = 3}, testing_market::blob(100, 3, 1.0, 42),
                                                   kernels::RkmeOptions{.k = 10}));
  request.options.float32_min_members = 1;  // screening on: the float32 mirror is read
  SearchRequest semantic_request = request;
  semantic_request.semantic = SemanticSpec{};
  std::vector<std::string> ids;
  const auto add_table = [&](int i) {
    ids.push_back(market.add(make_package(dir.path(), PackageParts{.centre = 0.5 * i, .seed = 10u + i,
                                                                   .name = "t" + std::to_string(i)}))
                      .id);
  };
  for (int i = 0; i < 2; ++i) add_table(i);
  // The first searches build the search state; the changes after them must
  // keep it in step (appended, or dropped and rebuilt), never stale.
  (void)market.search(request);
  (void)market.search(semantic_request);
  for (int i = 2; i < 5; ++i) add_table(i);
  market.add(make_text_package(dir.path(), "txt", 0, 3));
  ASSERT_TRUE(market.remove(ids[1]));
  const auto updated = market.update(ids[3], make_package(dir.path(), PackageParts{.centre = 2.0, .seed = 77,
                                                                                    .name = "t3-new"}));
  ASSERT_EQ(updated.status, LearnwareStatus::usable) << updated.reason;
  for (const SearchRequest* r : {&request, &semantic_request}) {
    const SearchResponse kept = market.search(*r);
    const SearchResponse reopened = Market::open(dir.path() / "m").search(*r);
    ASSERT_EQ(kept.stat.singles.size(), reopened.stat.singles.size());
    for (std::size_t i = 0; i < kept.stat.singles.size(); ++i) {
      EXPECT_EQ(kept.stat.singles[i].id, reopened.stat.singles[i].id);
      EXPECT_EQ(kept.stat.singles[i].mmd2, reopened.stat.singles[i].mmd2);
    }
    EXPECT_EQ(kept.stat.candidates, reopened.stat.candidates);
    EXPECT_EQ(kept.semantic_ids, reopened.semantic_ids);
    EXPECT_EQ(kept.stat.candidates, 4);  // five tables added, one removed
  }
}

// The search answers of `request`: the candidates compared, then (id, mmd2) of each single.
std::vector<std::pair<std::string, double>> answers(const Market& market, const SearchRequest& request) {
  const SearchResponse response = market.search(request);
  std::vector<std::pair<std::string, double>> out = {{"candidates", static_cast<double>(response.stat.candidates)}};
  for (const auto& single : response.stat.singles) out.emplace_back(single.id, single.mmd2);
  return out;
}

struct TextAndImageMarket {
  TempDir dir;
  fs::path market_dir = dir.path() / "m";
  SearchRequest text_request, image_request;
  std::vector<std::pair<std::string, double>> text_answers, image_answers;

  TextAndImageMarket() {
    Market market = Market::create(market_dir);
    market.add(make_text_package(dir.path(), "cooking", 0, 3));
    market.add(make_text_package(dir.path(), "sailing", 1, 4));
    market.add(make_image_package(dir.path(), "low", {0, 1, 2}, 5));
    market.add(make_image_package(dir.path(), "high", {5, 6, 7}, 6));
    const text::HashingEncoder encoder(text::HashingOptions{.dim = 32});
    text_request.spec = stat_spec(RKMETextSpec::generate(kernels::Context{.seed = 9}, topic_documents(50, 1, 99),
                                                         encoder, TextSpecOptions{kernels::RkmeOptions{.k = 10}}));
    const std::vector<std::int64_t> classes = {5, 6, 7};
    const std::vector<double> weights(3, 1.0);
    image_request.spec = stat_spec(RKMEImageSpec::generate(
        kernels::Context{.seed = 8}, test::stroke_images(120, classes, weights, 77).images, small_image_options()));
    text_answers = answers(market, text_request);
    image_answers = answers(market, image_request);
  }
};

// The languages of text learnwares and the image specs are in market.h5: a
// search never opens a package (here, none is left to open).
TEST(MarketKinds, TextAndImageSearchesReadMarketH5NotThePackages) {
  TextAndImageMarket m;
  ASSERT_GE(m.text_answers.size(), 2u);
  EXPECT_EQ(m.text_answers.front().second, 2.0);  // both text learnwares compared
  ASSERT_GE(m.image_answers.size(), 2u);
  EXPECT_EQ(m.image_answers.front().second, 2.0);
  for (const auto& entry : fs::directory_iterator(m.market_dir / "packages")) fs::remove(entry.path());
  const Market reopened = Market::open(m.market_dir);
  EXPECT_EQ(answers(reopened, m.text_request), m.text_answers);
  EXPECT_EQ(answers(reopened, m.image_request), m.image_answers);
}

// A market.h5 of format version 1 (before /facts) is rebuilt from the
// packages on the first open, once, and searches as before.
TEST(MarketKinds, AFormatOneMarketFileIsRebuiltOnceWithTheSearchFacts) {
  TextAndImageMarket m;
  const fs::path h5 = m.market_dir / "market.h5";
  {
    const hid_t file = H5Fopen(h5.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    ASSERT_GE(H5Ldelete(file, "facts", H5P_DEFAULT), 0);
    const hid_t attribute = H5Aopen(file, "version", H5P_DEFAULT);
    const std::int64_t one = 1;
    ASSERT_GE(H5Awrite(attribute, H5T_NATIVE_INT64, &one), 0);
    H5Aclose(attribute);
    H5Fclose(file);
  }
  EXPECT_EQ(MarketStore::open(m.market_dir).h5_version(), 1);
  const Market upgraded = Market::open(m.market_dir);
  EXPECT_EQ(upgraded.store().h5_version(), kMarketH5Version);
  EXPECT_EQ(answers(upgraded, m.text_request), m.text_answers);
  EXPECT_EQ(answers(upgraded, m.image_request), m.image_answers);
  EXPECT_EQ(MarketStore::open(m.market_dir).h5_version(), kMarketH5Version);
}

// ---- image search (docs/DESIGN.md §4.7) ----

// Image learnwares of several class mixes, the packages' own specs, and a
// user of the mix {5, 6, 7}.
struct ImageMarket {
  TempDir dir;
  fs::path market_dir = dir.path() / "m";
  std::vector<std::string> ids;
  std::vector<RKMEImageSpec> specs;  // as each package holds it
  RKMEImageSpec user;
  SearchRequest request;

  explicit ImageMarket(int learnwares) {
    const std::vector<std::vector<std::int64_t>> mixes = {{0, 1, 2}, {5, 6, 7}, {2, 5, 8}, {3, 4, 9}, {5, 6, 0},
                                                          {1, 7, 8}};
    Market market = Market::create(market_dir);
    for (int i = 0; i < learnwares; ++i) {
      const std::string name = "img" + std::to_string(i);
      const auto mix = mixes[static_cast<std::size_t>(i) % mixes.size()];
      const AddResult added = market.add(make_image_package(dir.path(), name, mix, 5 + static_cast<std::uint64_t>(i)));
      EXPECT_EQ(added.status, LearnwareStatus::usable) << added.reason;
      ids.push_back(added.id);
      specs.push_back(RKMEImageSpec::load(dir.path() / (name + ".parts") / "image_rkme.json"));
    }
    const std::vector<std::int64_t> classes = {5, 6, 7};
    const std::vector<double> weights(3, 1.0);
    user = RKMEImageSpec::generate(kernels::Context{.seed = 8}, test::stroke_images(120, classes, weights, 77).images,
                                   small_image_options());
    request.spec = stat_spec(user);
  }

  // MMD²(user, learnware i) as the search forms it from the three products.
  double exact_mmd2(std::size_t i) const {
    return specs[i].inner_product(specs[i]) - 2.0 * user.inner_product(specs[i]) + user.inner_product(user);
  }
  std::size_t index_of(const std::string& id) const {
    return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
  }
};

void expect_same_answer(const SearchResponse& a, const SearchResponse& b) {
  EXPECT_EQ(a.stat.candidates, b.stat.candidates);
  EXPECT_EQ(a.stat.method, b.stat.method);
  ASSERT_EQ(a.stat.singles.size(), b.stat.singles.size());
  for (std::size_t i = 0; i < a.stat.singles.size(); ++i) {
    EXPECT_EQ(a.stat.singles[i].id, b.stat.singles[i].id);
    EXPECT_EQ(a.stat.singles[i].mmd2, b.stat.singles[i].mmd2);
    EXPECT_EQ(a.stat.singles[i].score, b.stat.singles[i].score);
  }
  ASSERT_EQ(a.stat.mixture.has_value(), b.stat.mixture.has_value());
  if (a.stat.mixture) {
    EXPECT_EQ(a.stat.mixture->ids, b.stat.mixture->ids);
    EXPECT_EQ(a.stat.mixture->weights, b.stat.mixture->weights);
    EXPECT_EQ(a.stat.mixture->mmd2, b.stat.mixture->mmd2);
  }
}

TEST(ImageSearch, TheSelfProductStoredAtSubmissionIsTheOneTheSearchWouldCompute) {
  ImageMarket m(2);
  const Market market = Market::open(m.market_dir);
  const JsonById& stored = market.store().search_facts(RKMEImageSpec::kTypeName);
  ASSERT_EQ(stored.size(), 2u);
  for (std::size_t i = 0; i < m.ids.size(); ++i) {
    const ImageSearchFacts facts = parse_image_search_facts(stored.at(m.ids[i]), "facts", {});
    ASSERT_TRUE(facts.self_inner.has_value());
    EXPECT_EQ(*facts.self_inner, m.specs[i].inner_product(m.specs[i]));
    EXPECT_EQ(facts.points, m.specs[i].size());
    EXPECT_LT(facts.support.size(), m.specs[i].size());  // the simplex QP leaves zero weights
    const std::vector<double> embedding = image_screen_embedding(m.specs[i], {});
    EXPECT_EQ(facts.screen_embedding, std::vector<float>(embedding.begin(), embedding.end()));
  }
}

TEST(ImageSearch, BatchedProductsEqualOneInnerProductPerLearnwareForAnyThreadCount) {
  ImageMarket m(3);
  const SpecKind& kind = image_spec_kind();
  const Market market = Market::open(m.market_dir);
  const JsonById& stored = market.store().search_facts(RKMEImageSpec::kTypeName);
  std::vector<StatSpec> facts;
  for (const auto& id : m.ids) facts.push_back(kind.from_search_facts(stored.at(id), id, {}));
  std::vector<const StatSpec*> pointers;
  for (const StatSpec& f : facts) pointers.push_back(&f);
  for (const int threads : {1, 2, 3}) {
    std::vector<double> batched(facts.size());
    kind.inner_products(m.request.spec, pointers, kernels::Context{threads, 0}, batched);
    for (std::size_t i = 0; i < facts.size(); ++i) {
      EXPECT_EQ(batched[i], m.user.inner_product(m.specs[i])) << i;  // the whole spec, pair by pair
      EXPECT_EQ(batched[i], kind.inner_product(m.request.spec, facts[i], {})) << i;
    }
    // A learnware's row against the others (the mixture's pool products).
    std::vector<double> row(2);
    kind.inner_products(facts[0], std::span<const StatSpec* const>(pointers).subspan(1), kernels::Context{threads, 0},
                        row);
    EXPECT_EQ(row[0], m.specs[0].inner_product(m.specs[1]));
    EXPECT_EQ(row[1], m.specs[0].inner_product(m.specs[2]));
  }
}

// A market whose image facts were stored before they carried the self
// product and the screen embedding (the whole spec, as JSON) searches as
// before: the products are computed on the fly, and equal the stored ones.
TEST(ImageSearch, AMarketWithoutStoredSelfProductsSearchesAsOneWithThem) {
  ImageMarket m(3);
  const SearchResponse now = Market::open(m.market_dir).search(m.request);
  ASSERT_FALSE(now.stat.singles.empty());
  {
    MarketStore store = MarketStore::open_for_rebuild(m.market_dir);
    store.rebuild([&](const LearnwareRecord&, const fs::path& zip) {
      const StagedPackage package = StagedPackage::open(zip, {}, m.dir.path());
      LoadedSubmission submission = load_submission(package);
      RederivedLearnware derived{std::move(submission.specs), submission.semantic_json, std::nullopt, {}};
      for (const StatSpec& spec : submission.stat_specs)
        if (const auto* image = spec.get_if<RKMEImageSpec>())
          derived.facts.emplace_back(std::string(RKMEImageSpec::kTypeName), image->to_json_text());
      return derived;
    });
  }
  const Market old = Market::open(m.market_dir);
  for (const auto& [id, text] : old.store().search_facts(RKMEImageSpec::kTypeName))
    EXPECT_FALSE(parse_image_search_facts(text, id, {}).self_inner.has_value()) << id;
  expect_same_answer(old.search(m.request), now);
  // Too few learnwares to screen with the default count; with a count of 1
  // the old facts (no embeddings) are compared exactly all the same.
  SearchRequest screened = m.request;
  screened.options.pairwise_exact_count = 1;
  EXPECT_EQ(old.search(screened).stat.method, "scan");
  // `market rebuild` derives the new facts.
  const Market rebuilt = Market::rebuild(m.market_dir);
  expect_same_answer(rebuilt.search(m.request), now);
}

TEST(ImageSearch, UpToTheExactCountEveryCandidateIsComparedExactly) {
  ImageMarket m(3);
  const Market market = Market::open(m.market_dir);
  SearchRequest request = m.request;
  request.options.pairwise_exact_count = 3;
  const SearchResponse r = market.search(request);
  EXPECT_EQ(r.stat.method, "scan");
  EXPECT_EQ(r.stat.candidates, 3);
  EXPECT_EQ(pairwise_exact(StatSearchOptions{}), 50);  // twice the pool of 25
  request.options.max_search_num = 2;
  request.options.pairwise_exact_count = 0;
  EXPECT_EQ(pairwise_exact(request.options), 16);
}

// Above the exact count the screen ranks every candidate and the best go on
// to the exact search: every number reported is exact, and the screen keeps
// the learnware of the user's own mix.
TEST(ImageSearch, TheScreenComparesTheBestExactlyAndEveryNumberReportedIsExact) {
  ImageMarket m(6);
  const Market market = Market::open(m.market_dir);
  SearchRequest request = m.request;
  request.options.pairwise_exact_count = 3;
  request.options.max_search_num = 2;
  const SearchResponse screened = market.search(request);
  EXPECT_EQ(screened.stat.method, "screen");
  EXPECT_EQ(screened.stat.candidates, 6);
  EXPECT_EQ(screened.stat.evaluated, 3);
  ASSERT_FALSE(screened.stat.singles.empty());
  // The three the screen keeps: the best by the embeddings' distance.
  const std::vector<double> u = image_screen_embedding(m.user, {});
  std::vector<std::pair<double, std::string>> by_estimate;
  for (std::size_t i = 0; i < m.ids.size(); ++i) {
    const std::vector<double> e = image_screen_embedding(m.specs[i], {});
    double d = 0.0;  // the learnware's embedding as stored, in float32
    for (std::size_t j = 0; j < u.size(); ++j) {
      const double diff = u[j] - static_cast<double>(static_cast<float>(e[j]));
      d += diff * diff;
    }
    by_estimate.emplace_back(d, m.ids[i]);
  }
  std::sort(by_estimate.begin(), by_estimate.end());
  std::set<std::string> kept;
  for (int i = 0; i < 3; ++i) kept.insert(by_estimate[static_cast<std::size_t>(i)].second);
  for (const SingleMatch& single : screened.stat.singles) {
    EXPECT_TRUE(kept.contains(single.id)) << single.id;
    EXPECT_EQ(single.mmd2, m.exact_mmd2(m.index_of(single.id))) << single.id;
  }
  if (screened.stat.mixture) {
    // The mixture's MMD² from its weights and the exact products.
    const auto& mix = *screened.stat.mixture;
    double value = m.user.inner_product(m.user);
    for (std::size_t a = 0; a < mix.ids.size(); ++a) {
      const RKMEImageSpec& sa = m.specs[m.index_of(mix.ids[a])];
      value -= 2.0 * mix.weights[a] * m.user.inner_product(sa);
      for (std::size_t b = 0; b < mix.ids.size(); ++b)
        value += mix.weights[a] * mix.weights[b] *
                 (a == b ? sa.inner_product(sa) : sa.inner_product(m.specs[m.index_of(mix.ids[b])]));
    }
    EXPECT_NEAR(mix.mmd2, value, 1e-12);
  }
  // Without the screen every candidate is compared; the best is the same.
  request.options.pairwise_screening = false;
  const SearchResponse scan = market.search(request);
  EXPECT_EQ(scan.stat.method, "scan");
  EXPECT_EQ(scan.stat.candidates, 6);
  EXPECT_EQ(scan.stat.singles.front().id, screened.stat.singles.front().id);
  EXPECT_EQ(scan.stat.singles.front().mmd2, screened.stat.singles.front().mmd2);
  EXPECT_EQ(screened.stat.singles.front().id, m.ids[1]);  // the mix {5, 6, 7}
}

}  // namespace
}  // namespace lwd
