// tabular-homo end to end on a tiny market built by the market builder: the
// table has every row (built-ins, the example extension, a second search
// method), every value is a finite MSE in a sane range, the results are the
// same with 1 and 2 threads, and the written files are complete (the SVG is
// well-formed XML with the expected series).
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/reuse/method_registry.h"
#include "scenarios/common/scenario.h"
#include "scenarios/market/market_builder.h"
#include "scenarios/scenarios.h"
#include "scenarios/tabular/tabular_homo.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;
using namespace lwd;
using namespace lwd::scenarios;

using TempDir = ::lwd::test::ScratchDir;

// A second search method, to check that every search method gets its rows:
// the first learnware the semantic filter returns, alone.
void register_first_match_search(MethodRegistry& registry) {
  registry.add_search({"first-match", "first semantic match", "test: the first semantic match, no mixture",
                       [](const SearchInput& in) {
                         lwd::SearchRequest request;
                         request.semantic = in.query->semantic;
                         SearchOutput out;
                         const auto ids = in.market->search(request).semantic_ids;
                         if (!ids.empty()) out.single_ids.push_back(ids.front());
                         return out;
                       }});
}

class TabularHomoScenario : public ::testing::Test {
 protected:
  // Two stores of each chain, compact features, log1p labels: 6 learnwares.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MarketBuildOptions o;
    o.market_dir = dir_->path() / "market";
    o.image = false;
    o.text = false;
    o.stores_per_chain = 2;
    o.feature_spaces = {ds::FeatureSpace::kCompact};
    o.label_spaces = {ds::LabelSpace::kLog1pUnits};
    o.quiet = true;
    const MarketBuildReport report = build_market(o, lwd::kernels::Context{2, 0});
    ASSERT_EQ(report.usable, 6);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static TabularHomoConfig tiny_config() {
    TabularHomoConfig c;
    c.users = 2;
    c.spaces = {{ds::FeatureSpace::kCompact, ds::LabelSpace::kLog1pUnits}};
    c.n_grid = {100, 300};
    c.repeats = {2, 2};
    return c;
  }

  static ScenarioOptions options() {
    ScenarioOptions o;
    o.market_dir = dir_->path() / "market";
    o.seed = 11;
    o.quiet = true;
    return o;
  }

  static MethodRegistry methods() {
    MethodRegistry r = default_method_registry();
    register_first_match_search(r);
    return r;
  }

  static const ScenarioResult& result_with_threads(int threads) {
    static std::map<int, ScenarioResult> cache;
    auto it = cache.find(threads);
    if (it == cache.end())
      it = cache.emplace(threads, run_tabular_homo(tiny_config(), options(), methods(), {threads, 0})).first;
    return it->second;
  }

  static TempDir* dir_;
};
TempDir* TabularHomoScenario::dir_ = nullptr;

TEST_F(TabularHomoScenario, TableHasEveryPublishedRowAndEveryRegisteredMethod) {
  const ScenarioResult& r = result_with_threads(2);
  ASSERT_EQ(r.tables.size(), 1u);
  const ResultTable& t = r.tables.front();
  for (const char* key : {"mean-in-market", "best-in-market", "top1-reuse", "job-selector", "average-ensemble",
                          "median-ensemble", "top1-reuse@first-match", "average-ensemble@first-match"})
    EXPECT_NE(t.find(key), nullptr) << key;
  // Labelled methods are curve series, not rows.
  EXPECT_EQ(t.find("ensemble-pruning"), nullptr);
  // The users share the learnwares' feature space: no feature alignment.
  for (const char* key : {kAlign, kAlignAugment, kAlignPrune}) EXPECT_EQ(t.find(key), nullptr) << key;
  EXPECT_EQ(r.curves.front().find(kAlignAugment), nullptr);
  for (const auto& key : r.run.config["reuse_methods"]) EXPECT_NE(key, kAlign);
  EXPECT_TRUE(t.find("top1-reuse")->published.has_value());
  EXPECT_FALSE(t.find("median-ensemble")->published.has_value());
  EXPECT_FALSE(t.find("top1-reuse@first-match")->published.has_value());
}

TEST_F(TabularHomoScenario, EveryValueIsAFiniteMseOverAllUsers) {
  const ScenarioResult& r = result_with_threads(2);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  const ResultTable& t = r.tables.front();
  for (const ResultRow& row : t.rows) {
    EXPECT_EQ(row.ours.count, 2) << row.key;
    EXPECT_TRUE(std::isfinite(row.ours.mean)) << row.key;
    EXPECT_GT(row.ours.mean, 0.0) << row.key;
    EXPECT_LT(row.ours.mean, 5.0) << row.key;  // log1p units: a useless model is around 1
  }
  EXPECT_LE(t.find("best-in-market")->ours.mean, t.find("mean-in-market")->ours.mean);
  EXPECT_LE(t.find("best-in-market")->ours.mean, t.find("top1-reuse")->ours.mean + 1e-12);
}

TEST_F(TabularHomoScenario, CurveHasTheUserModelAndEveryMethod) {
  const ScenarioResult& r = result_with_threads(2);
  ASSERT_EQ(r.curves.size(), 1u);
  const Curve& c = r.curves.front();
  EXPECT_EQ(c.x, (std::vector<double>{100, 300}));
  for (const char* key : {"user-model", "ensemble-pruning", "feature-augment", "top1-reuse", "job-selector",
                          "average-ensemble", "median-ensemble", "ensemble-pruning@first-match"}) {
    const CurveSeries* s = c.find(key);
    ASSERT_NE(s, nullptr) << key;
    ASSERT_EQ(s->points.size(), 2u) << key;
    for (const MeanStd& p : s->points) {
      EXPECT_TRUE(std::isfinite(p.mean)) << key;
      EXPECT_GT(p.mean, 0.0) << key;
      EXPECT_LT(p.mean, 5.0) << key;
    }
  }
  EXPECT_EQ(c.find("user-model")->points[0].count, 2);  // repeats
  EXPECT_FALSE(c.find("top1-reuse")->uses_labels);
}

TEST_F(TabularHomoScenario, ResultsDoNotDependOnTheThreadCount) {
  const ScenarioResult& one = result_with_threads(1);
  const ScenarioResult& two = result_with_threads(2);
  EXPECT_EQ(tables_json(one.tables), tables_json(two.tables));
  ASSERT_EQ(one.curves.size(), two.curves.size());
  EXPECT_EQ(curve_csv(one.curves.front()), curve_csv(two.curves.front()));
}

TEST_F(TabularHomoScenario, WritesCompleteFilesWithAWellFormedSvg) {
  const ScenarioResult& r = result_with_threads(2);
  const fs::path out = dir_->path() / "results";
  write_scenario_result(out, r);
  for (const char* name : {"table.md", "table.json", "curve.csv", "curve.svg", "run.json"})
    ASSERT_TRUE(fs::exists(out / name)) << name;
  std::ifstream run_file(out / "run.json");
  const nlohmann::json run = nlohmann::json::parse(run_file);
  EXPECT_EQ(run["scenario"], "tabular-homo");
  EXPECT_EQ(run["seed"], 11);
  EXPECT_EQ(run["threads"], 2);
  EXPECT_FALSE(run["phases"].empty());
  EXPECT_EQ(run["config"]["users"], 2);
  if (std::system("python3 -c 'pass' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
  const std::size_t series = r.curves.front().series.size();
  const std::string cmd =
      "python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "ns = \"{http://www.w3.org/2000/svg}\"; "
      "keys = [g.get(\"data-key\") for g in r.iter(ns + \"g\") if g.get(\"class\") == \"series\"]; "
      "sys.exit(0 if len(keys) == int(sys.argv[2]) and \"user-model\" in keys else 1)' " +
      (out / "curve.svg").string() + " " + std::to_string(series);
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST_F(TabularHomoScenario, QuickAndParamsShapeTheConfig) {
  ScenarioOptions o;
  o.quick = true;
  const TabularHomoConfig quick = tabular_homo_config(o);
  EXPECT_LT(quick.users, 53);
  EXPECT_LT(quick.n_grid.size(), 9u);
  o.quick = false;
  const TabularHomoConfig full = tabular_homo_config(o);
  EXPECT_EQ(full.users, 53);
  EXPECT_EQ(full.n_grid, (std::vector<std::int64_t>{100, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000}));
  EXPECT_EQ(full.repeats, (std::vector<std::int64_t>{10, 10, 10, 3, 3, 3, 3, 3, 3}));
  o.params = {{"spaces", "all"}};
  EXPECT_EQ(tabular_homo_config(o).spaces.size(), 10u);
  o.params = {{"spaces", "compact/units"}, {"grid", "50,60"}, {"repeats", "2"}};
  const TabularHomoConfig custom = tabular_homo_config(o);
  ASSERT_EQ(custom.spaces.size(), 1u);
  EXPECT_EQ(custom.spaces[0].first, ds::FeatureSpace::kCompact);
  EXPECT_EQ(custom.repeats, (std::vector<std::int64_t>{2, 2}));
  o.params = {{"userz", "3"}};
  EXPECT_THROW(tabular_homo_config(o), lwd::Error);
}

TEST_F(TabularHomoScenario, TooManyUsersIsAnError) {
  TabularHomoConfig c = tiny_config();
  c.users = 61;
  EXPECT_THROW(run_tabular_homo(c, options(), methods(), {1, 0}), lwd::Error);
}

}  // namespace
