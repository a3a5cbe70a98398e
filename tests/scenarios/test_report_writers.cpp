// The scenario report writers (scenarios/common/report.h, scenario.h): fixed
// small tables and curves in, exact or structural expectations out.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "scenarios/common/report.h"
#include "scenarios/common/run_info.h"
#include "scenarios/common/scenario.h"

namespace {

namespace fs = std::filesystem;
using namespace lwd::scenarios;

using TempDir = ::lwd::test::ScratchDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

Curve small_curve() {
  Curve c;
  c.key = "full/log1p_units";
  c.title = "A <small> curve & friends";
  c.y_label = "MSE";
  c.x = {100, 1000, 10000};
  c.repeats = {3, 2, 1};
  c.series.push_back({"user-model", "User model", true, {{1.5, 0.2, 3}, {1.0, 0.1, 2}, {0.8, 0.0, 1}}});
  c.series.push_back({"top1-reuse", "Top-1 Reuse (Single)", false, {{0.9, 0.0, 5}, {0.9, 0.0, 5}, {0.9, 0.0, 5}}});
  c.series.push_back({"ensemble-pruning", "Ensemble Pruning", true, {{1.0, 0.05, 3}, {MeanStd{}}, {0.85, 0.0, 1}}});
  return c;
}

ResultTable small_table() {
  ResultTable t;
  t.key = "full/log1p_units";
  t.title = "Headline";
  t.metric = "MSE (log1p_units)";
  t.published_source = "the paper";
  t.rows.push_back({"mean-in-market", "Mean in Market (Single)", 0.897, {1.25, 0.5, 4}, ""});
  t.rows.push_back({"median-ensemble", "Median | Ensemble", std::nullopt, {0.5, 0.125, 4}, "extension method"});
  t.notes.push_back("4 users.");
  return t;
}

bool python3_available() { return std::system("python3 -c 'pass' >/dev/null 2>&1") == 0; }

TEST(MeanStd, IsTheSampleStatisticsOfTheFiniteValues) {
  const std::vector<double> v = {1.0, 2.0, NAN, 3.0, INFINITY};
  const MeanStd s = mean_std(v);
  EXPECT_EQ(s.count, 3);
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
  EXPECT_DOUBLE_EQ(s.std, 1.0);
}

TEST(MeanStd, OfOneValueHasZeroStdAndOfNoneIsNaN) {
  const std::vector<double> one = {4.0};
  EXPECT_DOUBLE_EQ(mean_std(one).std, 0.0);
  const std::vector<double> none = {NAN};
  EXPECT_TRUE(std::isnan(mean_std(none).mean));
  EXPECT_EQ(mean_std(none).count, 0);
}

TEST(TablesMarkdown, PrintsPublishedBesideOursWithEscapedCells) {
  const std::vector<ResultTable> tables = {small_table()};
  const std::string md = tables_markdown(tables, "Title");
  EXPECT_NE(md.find("# Title"), std::string::npos);
  EXPECT_NE(md.find("| Setting | Published | Ours | Note |"), std::string::npos);
  EXPECT_NE(md.find("| Mean in Market (Single) | 0.897 | 1.2500 ± 0.5000 |  |"), std::string::npos);
  EXPECT_NE(md.find("| Median \\| Ensemble | — | 0.5000 ± 0.1250 | extension method |"), std::string::npos);
  EXPECT_NE(md.find("- 4 users."), std::string::npos);
  EXPECT_NE(md.find("lower is better"), std::string::npos);
}

TEST(TablesJson, HoldsEveryRowWithNullForMissingFigures) {
  const std::vector<ResultTable> tables = {small_table()};
  const nlohmann::json j = nlohmann::json::parse(tables_json(tables));
  ASSERT_EQ(j["tables"].size(), 1u);
  const auto& rows = j["tables"][0]["rows"];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["key"], "mean-in-market");
  EXPECT_DOUBLE_EQ(rows[0]["published"].get<double>(), 0.897);
  EXPECT_DOUBLE_EQ(rows[0]["ours"]["mean"].get<double>(), 1.25);
  EXPECT_TRUE(rows[1]["published"].is_null());
  EXPECT_FALSE(j["tables"][0]["higher_is_better"].get<bool>());
}

TEST(CurveCsv, IsOneLinePerSeriesAndGridPointWithExactNumbers) {
  const std::string csv = curve_csv(small_curve());
  std::istringstream lines(csv);
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_EQ(all.size(), 1u + 3u * 3u);
  EXPECT_EQ(all[0], "series,label,uses_labels,n,repeats,mean,std,count");
  EXPECT_EQ(all[1], "user-model,User model,1,100,3,1.5,0.20000000000000001,3");
  EXPECT_EQ(all[4], "top1-reuse,Top-1 Reuse (Single),0,100,3,0.90000000000000002,0,5");
  // A missing point: empty mean and std, count 0.
  EXPECT_EQ(all[8], "ensemble-pruning,Ensemble Pruning,1,1000,2,,,0");
}

TEST(CurveSvg, DrawsOneGroupPerSeriesWithTicksLegendAndErrorBars) {
  const std::string svg = curve_svg(small_curve());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count_of(svg, "<g class=\"series\""), 3u);
  EXPECT_NE(svg.find("data-key=\"user-model\""), std::string::npos);
  EXPECT_NE(svg.find("A &lt;small&gt; curve &amp; friends"), std::string::npos);
  // Ticks at the grid, compact labels.
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1k</text>"), std::string::npos);
  EXPECT_NE(svg.find(">10k</text>"), std::string::npos);
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);
  // Error bars where std > 0: user model at 100 and 1000, pruning at 100.
  EXPECT_EQ(count_of(svg, "class=\"error-bar\""), 3u);
  // The label-free series is dashed, in the plot and in the legend.
  EXPECT_EQ(count_of(svg, "stroke-dasharray"), 2u);
  EXPECT_NE(svg.find("<g class=\"legend\">"), std::string::npos);
  for (const char* label : {"User model", "Top-1 Reuse (Single)", "Ensemble Pruning"})
    EXPECT_NE(svg.find(std::string(">") + label + "</text>"), std::string::npos) << label;
  // The gap in the pruning series splits its line in two.
  const auto group = svg.find("data-key=\"ensemble-pruning\"");
  EXPECT_EQ(count_of(svg.substr(group), "<polyline"), 2u);
}

TEST(CurveJson, RoundTripsEveryFieldIncludingMissingPoints) {
  const Curve c = small_curve();
  const Curve back = curve_from_json(curve_to_json(c));
  EXPECT_EQ(curve_csv(back), curve_csv(c));
  EXPECT_EQ(curve_svg(back), curve_svg(c));
  EXPECT_THROW(curve_from_json(nlohmann::json::object()), lwd::Error);
}

TEST(CurveSvg, IsWellFormedXml) {
  if (!python3_available()) GTEST_SKIP() << "python3 not available";
  TempDir dir;
  const fs::path file = dir.path() / "curve.svg";
  std::ofstream(file) << curve_svg(small_curve());
  const std::string cmd = "python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
                          "ns = \"{http://www.w3.org/2000/svg}\"; "
                          "n = sum(1 for g in r.iter(ns + \"g\") if g.get(\"class\") == \"series\"); "
                          "sys.exit(0 if n == 3 else 1)' " +
                          file.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(CurveSvg, LinearAxisWhenTheGridHasZero) {
  Curve c = small_curve();
  c.x = {0, 10, 20};
  const std::string svg = curve_svg(c);
  EXPECT_EQ(svg.find("(log scale)"), std::string::npos);
}

TEST(WriteScenarioResult, WritesTheFiveFilesAtomically) {
  TempDir dir;
  ScenarioResult result;
  result.title = "demo";
  result.tables = {small_table()};
  result.curves = {small_curve()};
  result.run.scenario = "demo";
  result.run.seed = 7;
  result.run.phases = {{"users", 1.5}};
  result.warnings = {"user 3 left out"};
  const auto files = write_scenario_result(dir.path() / "out", result);
  ASSERT_EQ(files.size(), 5u);
  for (const char* name : {"table.md", "table.json", "curve.csv", "curve.svg", "run.json"})
    EXPECT_TRUE(fs::exists(dir.path() / "out" / name)) << name;
  const nlohmann::json run = nlohmann::json::parse(read_file(dir.path() / "out" / "run.json"));
  EXPECT_EQ(run["seed"], 7);
  EXPECT_EQ(run["phases"][0]["name"], "users");
  EXPECT_EQ(run["warnings"][0], "user 3 left out");
  const std::string md = read_file(dir.path() / "out" / "table.md");
  EXPECT_NE(md.find("](curve.svg)"), std::string::npos);
  EXPECT_NE(md.find("user 3 left out"), std::string::npos);
  const nlohmann::json table = nlohmann::json::parse(read_file(dir.path() / "out" / "table.json"));
  EXPECT_EQ(table["curves"][0]["series"].size(), 3u);
}

TEST(RunInfo, RecordsMachineAndCommit) {
  const MachineInfo m = current_machine();
  EXPECT_GT(m.logical_cores, 0);
  EXPECT_FALSE(m.cpu_model.empty());
  const GitState g = current_git_state();
  EXPECT_FALSE(g.commit.empty());
  RunInfo info;
  info.git = g;
  info.machine = m;
  const nlohmann::json j = info.to_json();
  EXPECT_TRUE(j.contains("commit"));
  EXPECT_TRUE(j.contains("dirty"));
  EXPECT_TRUE(j["machine"].contains("cpu_model"));
}

TEST(PhaseTimer, RecordsPhasesInOrder) {
  std::vector<PhaseTime> phases;
  {
    PhaseTimer timer(phases);
    timer.start("a");
    timer.start("b");
  }
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(phases[0].name, "a");
  EXPECT_EQ(phases[1].name, "b");
  EXPECT_GE(phases[1].seconds, 0.0);
}

}  // namespace
