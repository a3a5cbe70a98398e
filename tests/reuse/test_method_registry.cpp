// The engine's registry of search and reuse methods (engine/reuse/method_registry.h):
// names and aliases, modes, and the errors that list what is registered.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/reuse/method_registry.h"

namespace {

using namespace lwd;
using lwd::kernels::Matrix;

ReuseMethodEntry dummy(const std::string& key, std::vector<std::string> aliases = {}) {
  ReuseMethodEntry e{key, "Label " + key, false, "", [](const ReuseInput& in) { return Matrix<double>(in.x_test.rows, 1); }};
  e.aliases = std::move(aliases);
  return e;
}

TEST(EngineMethodRegistry, BuiltinsCarryTheirModesLabelsAndAliases) {
  MethodRegistry r;
  register_builtin_methods(r);
  const ReuseMethodEntry* averaging = r.find_reuse("averaging");
  ASSERT_NE(averaging, nullptr);
  EXPECT_EQ(averaging->key, kAverageEnsemble);
  EXPECT_EQ(averaging->modes, (std::vector<std::string>{"mean", "vote_by_prob", "vote_by_label"}));
  EXPECT_TRUE(averaging->accepts_mode(""));
  EXPECT_TRUE(averaging->accepts_mode("vote_by_label"));
  EXPECT_FALSE(averaging->accepts_mode("regression"));
  const ReuseMethodEntry& job = r.reuse_method(kJobSelector);
  EXPECT_TRUE(job.modes.empty());
  EXPECT_FALSE(job.accepts_mode("mean"));
  EXPECT_TRUE(r.reuse_method(kFeatureAugment).accepts_mode("classification"));
  EXPECT_TRUE(r.reuse_method(kEnsemblePruning).needs_labels);
  EXPECT_EQ(&r.search_method(kMarketSearch), &r.search_methods().front());
}

TEST(EngineMethodRegistry, UnknownNamesListTheRegisteredOnes) {
  MethodRegistry r;
  register_builtin_methods(r);
  EXPECT_EQ(r.find_reuse("stacking"), nullptr);
  try {
    (void)r.reuse_method("stacking");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown reuse method 'stacking' (registered: top1-reuse, job-selector, "
                                         "average-ensemble (alias averaging), ensemble-pruning, feature-augment, "
                                         "align, align-augment, align-prune)"),
              std::string::npos)
        << e.what();
  }
  try {
    (void)r.search_method("nearest");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown search method 'nearest' (registered: market)"), std::string::npos);
  }
}

TEST(EngineMethodRegistry, AliasesMayNotClashAndSelectInSubsets) {
  MethodRegistry r;
  r.add_reuse(dummy("a", {"first"}));
  EXPECT_THROW(r.add_reuse(dummy("first")), Error);
  EXPECT_THROW(r.add_reuse(dummy("b", {"a"})), Error);
  EXPECT_THROW(r.add_reuse(dummy("c", {""})), Error);
  r.add_reuse(dummy("b"));
  const MethodRegistry s = r.subset({}, {"first"});
  ASSERT_EQ(s.reuse_methods().size(), 1u);
  EXPECT_EQ(s.reuse_methods()[0].key, "a");
}

}  // namespace
