// The scenario framework's registries and helpers: method and scenario
// registration, subsets, parameters, seeds, and the example extension.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/model/linear_model.h"
#include "engine/reuse/method_registry.h"
#include "scenarios/common/scenario.h"
#include "scenarios/examples/median_ensemble.h"
#include "scenarios/scenarios.h"

namespace {

using namespace lwd;
using namespace lwd::scenarios;
using lwd::kernels::Matrix;

// A model returning a constant per row: enough to check what reuse methods do
// with predictions.
class ConstantModel final : public lwd::Model {
 public:
  ConstantModel(double value, std::int64_t input_dim) : value_(value), input_dim_(input_dim) {}
  std::string_view kind() const override { return "constant"; }
  lwd::TaskType task() const override { return lwd::TaskType::kRegression; }
  std::int64_t input_dim() const override { return input_dim_; }
  std::int64_t output_dim() const override { return 1; }
  Matrix<double> predict(lwd::kernels::ConstMatrixView<double> x) const override {
    return Matrix<double>(x.rows, 1, value_);
  }

 private:
  double value_;
  std::int64_t input_dim_;
};

lwd::Learnware constant_learnware(const std::string& id, double value) {
  Matrix<double> z(1, 2, 0.0);
  return lwd::make_learnware(id, std::make_shared<ConstantModel>(value, 2), lwd::RKMETableSpec(z, {1.0}, 0.1, 1));
}

ReuseMethodEntry dummy_reuse(const std::string& key, bool labels = false) {
  return {key, "Label " + key, labels, "", [](const ReuseInput& in) { return Matrix<double>(in.x_test.rows, 1, 0.0); }};
}

TEST(MethodRegistry, BuiltinsComeInTheDocumentedOrder) {
  MethodRegistry r;
  register_builtin_methods(r);
  ASSERT_EQ(r.search_methods().size(), 1u);
  EXPECT_EQ(r.search_methods()[0].key, kMarketSearch);
  std::vector<std::string> keys;
  for (const auto& m : r.reuse_methods()) keys.push_back(m.key);
  EXPECT_EQ(keys, (std::vector<std::string>{kTop1Reuse, kJobSelector, kAverageEnsemble, kEnsemblePruning,
                                            kFeatureAugment, kAlign, kAlignAugment, kAlignPrune}));
  EXPECT_FALSE(r.find_reuse(kJobSelector)->needs_labels);
  EXPECT_TRUE(r.find_reuse(kEnsemblePruning)->needs_labels);
  EXPECT_TRUE(r.find_reuse(kFeatureAugment)->needs_labels);
}

TEST(MethodRegistry, DefaultRegistryAddsTheExampleExtension) {
  const MethodRegistry r = default_method_registry();
  const ReuseMethodEntry* median = r.find_reuse("median-ensemble");
  ASSERT_NE(median, nullptr);
  EXPECT_FALSE(median->needs_labels);
  EXPECT_EQ(r.reuse_methods().back().key, "median-ensemble");
}

TEST(MethodRegistry, RefusesDuplicatesAndIncompleteEntries) {
  MethodRegistry r;
  r.add_reuse(dummy_reuse("a"));
  EXPECT_THROW(r.add_reuse(dummy_reuse("a")), lwd::Error);
  EXPECT_THROW(r.add_reuse(dummy_reuse("")), lwd::Error);
  ReuseMethodEntry no_fn = dummy_reuse("b");
  no_fn.predict = nullptr;
  EXPECT_THROW(r.add_reuse(no_fn), lwd::Error);
  EXPECT_THROW(r.add_search({"s", "S", "", nullptr}), lwd::Error);
}

TEST(MethodRegistry, SubsetKeepsRegistrationOrderAndNamesUnknownKeys) {
  MethodRegistry r;
  register_builtin_methods(r);
  const MethodRegistry s = r.subset({}, {kAverageEnsemble, kTop1Reuse});
  ASSERT_EQ(s.reuse_methods().size(), 2u);
  EXPECT_EQ(s.reuse_methods()[0].key, kTop1Reuse);
  EXPECT_EQ(s.reuse_methods()[1].key, kAverageEnsemble);
  EXPECT_EQ(s.search_methods().size(), 1u);
  try {
    (void)r.subset({}, {"nope"});
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(kJobSelector), std::string::npos);
  }
}

TEST(ResolveSearchOutput, UsesTheMixtureOrTheTopSingles) {
  auto get = [](const std::string& id) { return constant_learnware(id, 1.0); };
  SearchOutput with_mixture{{"a", "b", "c"}, {"b", "c"}, {0.25, 0.75}};
  const FoundLearnwares m = resolve_search_output(with_mixture, get, 5);
  EXPECT_TRUE(m.has_mixture);
  ASSERT_EQ(m.multiple.size(), 2u);
  EXPECT_EQ(m.multiple[0].id, "b");
  SearchOutput singles_only{{"a", "b", "c"}, {}, {}};
  const FoundLearnwares s = resolve_search_output(singles_only, get, 2);
  EXPECT_FALSE(s.has_mixture);
  ASSERT_EQ(s.multiple.size(), 2u);
  EXPECT_EQ(s.multiple[1].id, "b");
  EXPECT_THROW(resolve_search_output(SearchOutput{}, get, 2), lwd::Error);
  EXPECT_THROW(resolve_search_output(SearchOutput{{"a"}, {"a"}, {}}, get, 2), lwd::Error);
}

TEST(BuiltinReuse, AverageEnsembleAndTop1GoThroughTheEngine) {
  MethodRegistry r;
  register_builtin_methods(r);
  const std::vector<lwd::Learnware> lws = {constant_learnware("a", 1.0), constant_learnware("b", 3.0)};
  const Matrix<double> x(4, 2, 0.5);
  ReuseInput in;
  in.single = lws;
  in.multiple = lws;
  in.x_test = x.view();
  in.ctx = {1, 3};
  const Matrix<double> avg = r.find_reuse(kAverageEnsemble)->predict(in);
  const Matrix<double> top = r.find_reuse(kTop1Reuse)->predict(in);
  ASSERT_EQ(avg.rows(), 4);
  EXPECT_DOUBLE_EQ(avg(2, 0), 2.0);
  EXPECT_DOUBLE_EQ(top(2, 0), 1.0);
}

TEST(MedianEnsemble, TakesTheElementWiseMedian) {
  const std::vector<lwd::Learnware> odd = {constant_learnware("a", 1.0), constant_learnware("b", 10.0),
                                           constant_learnware("c", 2.0)};
  const Matrix<double> x(3, 2, 0.0);
  EXPECT_DOUBLE_EQ(median_ensemble_predict(odd, x.view())(1, 0), 2.0);
  const std::vector<lwd::Learnware> even = {constant_learnware("a", 1.0), constant_learnware("b", 10.0),
                                            constant_learnware("c", 2.0), constant_learnware("d", 4.0)};
  EXPECT_DOUBLE_EQ(median_ensemble_predict(even, x.view())(0, 0), 3.0);
  EXPECT_THROW(median_ensemble_predict({}, x.view()), lwd::Error);
}

TEST(ScenarioRegistry, ListsTabularHomoAndRefusesUnknownNames) {
  const ScenarioRegistry r = default_scenario_registry();
  const ScenarioEntry* homo = r.find("tabular-homo");
  ASSERT_NE(homo, nullptr);
  EXPECT_FALSE(homo->description.empty());
  try {
    (void)r.at("tabular-nope");
    FAIL() << "expected an error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tabular-homo"), std::string::npos);
  }
  ScenarioRegistry mine;
  mine.add({"x", "d", {}, [](const ScenarioOptions&, const MethodRegistry&, const lwd::kernels::Context&) {
              return ScenarioResult{};
            }});
  EXPECT_THROW(mine.add({"x", "d", {}, mine.entries()[0].run}), lwd::Error);
}

TEST(ScenarioParams, ParsesTypedValuesAndRejectsUnknownKeys) {
  ScenarioOptions o;
  o.params = {{"users", "4"}, {"grid", "100, 200,,300"}};
  EXPECT_EQ(param_int(o, "users", 53), 4);
  EXPECT_EQ(param_int(o, "missing", 53), 53);
  EXPECT_EQ(param_list(o, "grid"), (std::vector<std::string>{"100", "200", "300"}));
  EXPECT_NO_THROW(check_params(o, {"users", "grid"}, "demo"));
  EXPECT_THROW(check_params(o, {"users"}, "demo"), lwd::Error);
  o.params["users"] = "four";
  EXPECT_THROW(param_int(o, "users", 53), lwd::Error);
}

TEST(DeriveSeed, DependsOnEveryPartAndOnNothingElse) {
  EXPECT_EQ(derive_seed(1, {2, 3}), derive_seed(1, {2, 3}));
  std::set<std::uint64_t> seen = {derive_seed(1, {2, 3}), derive_seed(1, {3, 2}), derive_seed(2, {2, 3}),
                                  derive_seed(1, {2}), derive_seed(1, {2, 3, 0})};
  EXPECT_EQ(seen.size(), 5u);
}

TEST(FileSlug, KeepsSafeCharactersOnly) {
  EXPECT_EQ(file_slug("full/log1p_units"), "full-log1p_units");
  EXPECT_EQ(file_slug(""), "curve");
}

}  // namespace
