// The image and text runners end to end on a tiny market built from fixture
// corpora (4 image and 4 text learnwares, a few users), and the pieces they
// rest on: ratios, and text learnwares seen through their embeddings.
#include <gtest/gtest.h>

#include <thread>

#include <cmath>
#include <memory>
#include <numeric>
#include <set>

#include "engine/error.h"
#include "engine/model/linear_model.h"
#include "scenarios/common/embedded_documents.h"
#include "scenarios/common/user_study.h"
#include "scenarios/image/image_scenario.h"
#include "scenarios/market/market_builder.h"
#include "scenarios/scenarios.h"
#include "scenarios/text/text_scenario.h"
#include "tests/scenarios/fixture_corpora.h"
#include "tests/support/scratch_dir.h"

namespace {

using namespace lwd;
using namespace lwd::scenarios;
namespace ds = lwd::datasets;
using lwd::kernels::Context;
using lwd::kernels::Matrix;

TEST(CountsInRatio, SumToNAndGiveRemaindersToTheLargestFractions) {
  const std::vector<double> six = {0.3, 0.3, 0.1, 0.1, 0.1, 0.1};
  EXPECT_EQ(counts_in_ratio(1000, six), (std::vector<std::int64_t>{300, 300, 100, 100, 100, 100}));
  // 7 * ratios = 2.1, 2.1, 0.7 x 4: floors sum to 4; the three largest
  // remainders (0.7, ties to the earlier class) get one more.
  EXPECT_EQ(counts_in_ratio(7, six), (std::vector<std::int64_t>{2, 2, 1, 1, 1, 0}));
  for (std::int64_t n : {0, 1, 5, 99, 1234}) {
    const auto c = counts_in_ratio(n, six);
    EXPECT_EQ(std::accumulate(c.begin(), c.end(), std::int64_t{0}), n) << n;
  }
}

TEST(SampleRows, DistinctInRangeAndSeeded) {
  const auto a = sample_rows(50, 20, 3);
  EXPECT_EQ(a, sample_rows(50, 20, 3));
  EXPECT_NE(a, sample_rows(50, 20, 4));
  EXPECT_EQ(std::set<std::int64_t>(a.begin(), a.end()).size(), 20u);
  for (auto r : a) EXPECT_TRUE(r >= 0 && r < 50);
  EXPECT_EQ(sample_rows(5, 9, 1).size(), 5u);  // all of them when n exceeds the total
}

TEST(GatherRows, TakesTheRowsInTheOrderGivenAndRefusesOthers) {
  const Matrix<double> x(3, 2, std::vector<double>{1, 2, 3, 4, 5, 6});
  const std::vector<std::int64_t> rows = {2, 0, 2};
  EXPECT_EQ(gather_rows(x.view(), rows).values(), (std::vector<double>{5, 6, 1, 2, 5, 6}));
  EXPECT_THROW(gather_rows(x.view(), std::vector<std::int64_t>{3}), lwd::Error);
}

// ---- text learnwares through their embeddings ---------------------------------

std::unique_ptr<const lwd::text::SentenceEncoder> hashing_encoder() {
  return make_text_encoder("hashing", {}, Context{1, 1});
}

TEST(EmbeddedDocuments, RowsMapBackToTheirDocuments) {
  const auto encoder = hashing_encoder();
  const EmbeddedDocuments docs({"the river flows", "a market day", "letters in the garden"}, *encoder, Context{1, 1});
  ASSERT_EQ(docs.rows().rows(), 3);
  const std::vector<std::int64_t> order = {2, 0};
  const Matrix<double> rows = docs.rows_of(order);
  EXPECT_EQ(docs.documents_of(rows.view()), (std::vector<std::string>{"letters in the garden", "the river flows"}));
  EXPECT_THROW(docs.rows_of(std::vector<std::int64_t>{3}), lwd::Error);
}

TEST(EmbeddedDocuments, ARowOfNoDocumentOrOfTheWrongWidthIsRefused) {
  const auto encoder = hashing_encoder();
  const EmbeddedDocuments docs({"one document", "another document"}, *encoder, Context{1, 1});
  Matrix<double> changed = docs.rows_of(std::vector<std::int64_t>{0});
  changed(0, 0) += 1e-9;  // not the embedding of either document
  try {
    docs.documents_of(changed.view());
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not the embedding"), std::string::npos) << e.what();
  }
  const Matrix<double> narrow(1, docs.rows().cols() - 1, 0.0);
  EXPECT_THROW(docs.documents_of(narrow.view()), lwd::Error);
}

TEST(EmbeddedDocuments, OnlyTextLearnwaresCanBeWrapped) {
  const auto encoder = hashing_encoder();
  auto docs = std::make_shared<const EmbeddedDocuments>(std::vector<std::string>{"a b c"}, *encoder, Context{1, 1});
  lwd::Learnware table;
  table.id = "linear";
  table.model = std::make_shared<lwd::LinearModel>(lwd::LinearModel::Type::kRidge, Matrix<double>(1, 2, 1.0),
                                                  std::vector<double>{0.0});
  EXPECT_THROW(on_embedded_documents(table, docs), lwd::Error);
}

// ---- end to end ------------------------------------------------------------------

class ImageTextScenarios : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new lwd::test::ScratchDir();
    digits_ = new ds::MnistDigits(lwd::test::fixture_digits(60));
    corpus_ = new ds::BrownCorpus(lwd::test::fixture_brown(2));
    MarketBuildOptions o;
    o.market_dir = dir_->path() / "market";
    o.tabular = false;
    o.mnist = digits_;
    o.brown = corpus_;
    o.image_learnwares = 4;
    o.text_learnwares = 4;
    o.text_encoder = "hashing";
    o.quiet = true;
    report_ = new MarketBuildReport(build_market(o, Context{2, 1}));
  }
  static void TearDownTestSuite() {
    delete report_;
    delete corpus_;
    delete digits_;
    delete dir_;
  }

  static ScenarioOptions options() {
    ScenarioOptions o;
    o.market_dir = dir_->path() / "market";
    o.quiet = true;
    o.seed = 5;
    return o;
  }

  static ScenarioResult run_image(int threads, const MethodRegistry& methods = default_method_registry(),
                                  const std::string& feature_augment = "1") {
    ScenarioOptions o = options();
    o.params = {{"users", "2"},   {"test_images", "40"}, {"grid", "20,40"},
                {"repeats", "2,1"}, {"feature_augment", feature_augment}};
    return run_image_scenario(image_scenario_config(o), *digits_, o, methods, Context{threads, 1});
  }
  static ScenarioResult run_text(int threads, const MethodRegistry& methods = default_method_registry(),
                                 const lwd::dist::Communicator* comm = nullptr) {
    ScenarioOptions o = options();
    o.comm = comm;
    o.params = {{"users", "2"}, {"grid", "10,20"}, {"repeats", "1"}};
    const auto encoder = hashing_encoder();
    return run_text_scenario(text_scenario_config(o), *corpus_, *encoder, o, methods, Context{threads, 1});
  }
  static void expect_complete(const ScenarioResult& r, const std::vector<std::string>& curve_series) {
    EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    ASSERT_EQ(r.tables.size(), 1u);
    for (const char* key : {kMeanInMarket, kBestInMarket, kTop1Reuse, kJobSelector, kAverageEnsemble}) {
      const ResultRow* row = r.tables[0].find(key);
      ASSERT_NE(row, nullptr) << key;
      EXPECT_EQ(row->ours.count, 2) << key;
      EXPECT_TRUE(std::isfinite(row->ours.mean) && row->ours.mean >= 0.0 && row->ours.mean <= 1.0) << key;
      if (std::string(key) != kMeanInMarket) {
        EXPECT_TRUE(row->published.has_value()) << key;
      }
    }
    ASSERT_EQ(r.curves.size(), 1u);
    for (const std::string& key : curve_series) {
      const CurveSeries* s = r.curves[0].find(key);
      ASSERT_NE(s, nullptr) << key;
      ASSERT_EQ(s->points.size(), 2u);
      for (const MeanStd& p : s->points) EXPECT_TRUE(std::isfinite(p.mean) && p.mean >= 0.0 && p.mean <= 1.0) << key;
    }
  }

  static void expect_same_numbers(const ScenarioResult& a, const ScenarioResult& b) {
    ASSERT_EQ(a.tables[0].rows.size(), b.tables[0].rows.size());
    for (std::size_t i = 0; i < a.tables[0].rows.size(); ++i)
      EXPECT_EQ(a.tables[0].rows[i].ours.mean, b.tables[0].rows[i].ours.mean) << a.tables[0].rows[i].key;
    ASSERT_EQ(a.curves[0].series.size(), b.curves[0].series.size());
    for (std::size_t s = 0; s < a.curves[0].series.size(); ++s)
      for (std::size_t g = 0; g < a.curves[0].series[s].points.size(); ++g)
        EXPECT_EQ(a.curves[0].series[s].points[g].mean, b.curves[0].series[s].points[g].mean)
            << a.curves[0].series[s].key;
  }

  static lwd::test::ScratchDir* dir_;
  static ds::MnistDigits* digits_;
  static ds::BrownCorpus* corpus_;
  static MarketBuildReport* report_;
};
lwd::test::ScratchDir* ImageTextScenarios::dir_ = nullptr;
ds::MnistDigits* ImageTextScenarios::digits_ = nullptr;
ds::BrownCorpus* ImageTextScenarios::corpus_ = nullptr;
MarketBuildReport* ImageTextScenarios::report_ = nullptr;

TEST_F(ImageTextScenarios, TheFixtureMarketHoldsUsableImageAndTextLearnwares) {
  EXPECT_EQ(report_->image, 4);
  EXPECT_EQ(report_->text, 4);
  EXPECT_EQ(report_->not_usable, 0);
}

TEST_F(ImageTextScenarios, ImageHasEveryRowAndCurveAndIsTheSameForOneAndTwoThreads) {
  const ScenarioResult one = run_image(1);
  expect_complete(one, {kUserModel, kEnsemblePruning, kFeatureAugment});
  expect_same_numbers(one, run_image(2));
}

TEST_F(ImageTextScenarios, ImageFeatureAugmentationCanBeSkippedAndTheTableSaysSo) {
  const ScenarioResult r = run_image(2, default_method_registry(), "0");
  expect_complete(r, {kUserModel, kEnsemblePruning});
  EXPECT_EQ(r.curves[0].find(kFeatureAugment), nullptr);
  bool noted = false;
  for (const std::string& n : r.tables[0].notes) noted = noted || n.find("Not run: Feature Augmentation") == 0;
  EXPECT_TRUE(noted);
}

// One text run is the suite's most expensive step (about half a minute on 2
// cores), so one test holds every comparison with the one-thread run: two
// threads, and the users sharded over ranks (ScenarioOptions::comm; threads of
// one ThreadGroup standing for MPI ranks), where every rank ends with the
// one-process table, curve and per-user record, also with more ranks than users.
TEST_F(ImageTextScenarios, TextHasEveryRowAndCurveAndIsTheSameForTwoThreadsAndForUsersShardedOverRanks) {
  const ScenarioResult one = run_text(1);
  expect_complete(one, {kUserModel, kEnsemblePruning, kFeatureAugment});
  expect_same_numbers(one, run_text(2));
  for (const int ranks : {2, 3}) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    lwd::dist::ThreadGroup group(ranks);
    std::vector<ScenarioResult> got(static_cast<std::size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
      threads.emplace_back([&, r] { got[static_cast<std::size_t>(r)] = run_text(1, default_method_registry(), &group.rank(r)); });
    for (auto& t : threads) t.join();
    for (const ScenarioResult& g : got) {
      expect_same_numbers(one, g);
      EXPECT_EQ(g.warnings, one.warnings);
      EXPECT_EQ(g.run.extra["users"], one.run.extra["users"]);
      EXPECT_EQ(g.run.extra["ranks"], ranks);
    }
  }
}

TEST_F(ImageTextScenarios, TextUsersBeyondTheTenSuperclassPairsAreRefused) {
  ScenarioOptions o = options();
  o.params = {{"users", "11"}};
  EXPECT_THROW(text_scenario_config(o), lwd::Error);
  o.params = {{"bogus", "1"}};
  EXPECT_THROW(image_scenario_config(o), lwd::Error);
}

}  // namespace
