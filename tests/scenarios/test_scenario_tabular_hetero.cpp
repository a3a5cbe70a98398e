// tabular-hetero-fe and tabular-hetero-task end to end on a tiny market built
// by the market builder (two stores of each chain, two feature spaces): every
// row of the table, finite MSEs, the M5 chain left out of the task variant's
// market, the same numbers with 1 and 2 threads, and the published grids.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include "engine/error.h"
#include "engine/reuse/method_registry.h"
#include "scenarios/common/scenario.h"
#include "scenarios/market/market_builder.h"
#include "scenarios/scenarios.h"
#include "scenarios/tabular/tabular_hetero.h"

namespace {

namespace ds = lwd::datasets;
using namespace lwd;
using namespace lwd::scenarios;

class TabularHeteroScenario : public ::testing::Test {
 protected:
  // Two stores of each chain, two feature spaces, log1p labels: 12 learnwares.
  static void SetUpTestSuite() {
    dir_ = new lwd::test::ScratchDir();
    MarketBuildOptions o;
    o.market_dir = dir_->path() / "market";
    o.image = false;
    o.text = false;
    o.stores_per_chain = 2;
    o.feature_spaces = {ds::FeatureSpace::kCompact, ds::FeatureSpace::kLagCalendar};
    o.label_spaces = {ds::LabelSpace::kLog1pUnits};
    o.quiet = true;
    const MarketBuildReport report = build_market(o, kernels::Context{2, 0});
    ASSERT_EQ(report.usable, 12);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static ScenarioOptions options() {
    ScenarioOptions o;
    o.market_dir = dir_->path() / "market";
    o.seed = 5;
    o.quiet = true;
    return o;
  }

  static TabularHeteroConfig tiny(HeteroVariant variant, const std::string& world) {
    TabularHeteroConfig c = tabular_hetero_config(variant, options());
    c.world = world;
    c.world_options.epochs = 1;
    c.world_options.dim = 8;
    c.world_options.hidden = 16;
    if (variant == HeteroVariant::kFeatureEngineering) {
      c.users = 2;
    } else {
      c.pipelines = {ds::UserFeatureSpace::kPosDaily, ds::UserFeatureSpace::kPosPromo};
      c.users = 2;  // one M5 store through two pipelines
      c.n_grid = {30, 200};
      c.repeats = {2, 1};
    }
    return c;
  }

  static const ScenarioResult& result(HeteroVariant variant, const std::string& world, int threads) {
    static std::map<std::string, ScenarioResult> cache;
    const std::string key = std::to_string(static_cast<int>(variant)) + world + std::to_string(threads);
    auto it = cache.find(key);
    if (it == cache.end())
      it = cache.emplace(key, run_tabular_hetero(tiny(variant, world), options(), default_method_registry(),
                                                 kernels::Context{threads, 0}))
               .first;
    return it->second;
  }

  static lwd::test::ScratchDir* dir_;
};
lwd::test::ScratchDir* TabularHeteroScenario::dir_ = nullptr;

TEST_F(TabularHeteroScenario, FeatureEngineeringTableHasEveryRowAndFiniteMses) {
  for (const char* world : {"desc-pool", "token-mlp"}) {
    const ScenarioResult& r = result(HeteroVariant::kFeatureEngineering, world, 2);
    EXPECT_TRUE(r.warnings.empty()) << world << ": " << r.warnings.front();
    ASSERT_EQ(r.tables.size(), 1u);
    const ResultTable& t = r.tables.front();
    for (const char* key : {"mean-in-market", "best-in-market", "top1-reuse", "job-selector", "average-ensemble"}) {
      const ResultRow* row = t.find(key);
      ASSERT_NE(row, nullptr) << world << " " << key;
      EXPECT_EQ(row->ours.count, 2) << key;
      EXPECT_TRUE(std::isfinite(row->ours.mean)) << key;
      EXPECT_GT(row->ours.mean, 0.0) << key;
    }
    // The aligning methods are not rows: every learnware arrives aligned.
    for (const char* key : {kAlign, kAlignAugment, kAlignPrune}) EXPECT_EQ(t.find(key), nullptr) << key;
    EXPECT_LE(t.find("best-in-market")->ours.mean, t.find("mean-in-market")->ours.mean);
    EXPECT_LE(t.find("best-in-market")->ours.mean, t.find("top1-reuse")->ours.mean + 1e-12);
    EXPECT_TRUE(t.find("top1-reuse")->published.has_value());
    EXPECT_EQ(r.run.config["world"]["model"], world);
    EXPECT_EQ(r.run.config["world"]["tables"], 12);
    EXPECT_EQ(r.run.config["world"]["system_specs_searched"], 12);
    EXPECT_EQ(r.run.config["world"]["left_out"], 0);
  }
}

TEST_F(TabularHeteroScenario, TaskVariantLeavesTheUsersChainOutAndDrawsTheCurve) {
  const ScenarioResult& r = result(HeteroVariant::kTask, "desc-pool", 2);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  EXPECT_EQ(r.run.config["user_chain"], "m5");
  EXPECT_EQ(r.run.config["world"]["left_out"], 4);       // the M5 chain's 2 stores x 2 spaces
  EXPECT_EQ(r.run.config["world"]["tables"], 8);
  EXPECT_EQ(r.run.config["world"]["system_specs_searched"], 8);
  EXPECT_EQ(r.run.extra["semantic_matches"].begin().value(), 8);  // Mean / Best over the same 8
  ASSERT_EQ(r.curves.size(), 1u);
  const Curve& c = r.curves.front();
  EXPECT_EQ(c.x, (std::vector<double>{30, 200}));
  for (const char* key : {"user-model", "feature-augment", "feature-augment-top1", "ensemble-pruning"}) {
    const CurveSeries* s = c.find(key);
    ASSERT_NE(s, nullptr) << key;
    for (const MeanStd& p : s->points) {
      EXPECT_TRUE(std::isfinite(p.mean)) << key;
      EXPECT_GT(p.mean, 0.0) << key;
    }
  }
}

TEST_F(TabularHeteroScenario, ResultsDoNotDependOnTheThreadCount) {
  const ScenarioResult& one = result(HeteroVariant::kFeatureEngineering, "token-mlp", 1);
  const ScenarioResult& two = result(HeteroVariant::kFeatureEngineering, "token-mlp", 2);
  EXPECT_EQ(tables_json(one.tables), tables_json(two.tables));
}

TEST(TabularHeteroConfig, TheGridsAreThePublishedOnes) {
  ScenarioOptions o;
  const TabularHeteroConfig fe = tabular_hetero_config(HeteroVariant::kFeatureEngineering, o);
  EXPECT_EQ(fe.users, 41);
  EXPECT_FALSE(fe.curve);
  EXPECT_EQ(fe.pipelines, (std::vector<ds::UserFeatureSpace>{ds::UserFeatureSpace::kPosDaily}));
  const TabularHeteroConfig task = tabular_hetero_config(HeteroVariant::kTask, o);
  EXPECT_EQ(task.users, 30);
  EXPECT_EQ(task.pipelines.size(), 3u);
  EXPECT_EQ(task.n_grid, (std::vector<std::int64_t>{10, 30, 50, 75, 100, 200, 500, 1000, 2000}));
  o.quick = true;
  EXPECT_LT(tabular_hetero_config(HeteroVariant::kTask, o).users, 30);
  o.params["world"] = "transformer";
  EXPECT_THROW(tabular_hetero_config(HeteroVariant::kTask, o), Error);
  o.params = {{"colour", "red"}};
  EXPECT_THROW(tabular_hetero_config(HeteroVariant::kFeatureEngineering, o), Error);
}

TEST(TabularHeteroConfig, BothVariantsAreRegistered) {
  const ScenarioRegistry registry = default_scenario_registry();
  EXPECT_NE(registry.find("tabular-hetero-fe"), nullptr);
  EXPECT_NE(registry.find("tabular-hetero-task"), nullptr);
}

}  // namespace
