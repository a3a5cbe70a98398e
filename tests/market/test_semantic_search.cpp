// Semantic search: one test per field type, then the name rules.
#include <gtest/gtest.h>

#include "engine/market/semantic_search.h"

namespace {

using lwd::SemanticSpec;

SemanticSpec learnware(std::string data, std::string task, std::vector<std::string> scenario, std::string name,
                       std::string description = "") {
  SemanticSpec s;
  s.tags["Data"] = {std::move(data)};
  s.tags["Task"] = {std::move(task)};
  s.tags["Scenario"] = std::move(scenario);
  s.tags["License"] = {"MIT"};
  s.name = std::move(name);
  s.description = std::move(description);
  return s;
}

struct Fixture {
  std::vector<SemanticSpec> specs = {
      learnware("Table", "Regression", {"Business"}, "store sales", "weekly sales of one store"),
      learnware("Table", "Classification", {"Health"}, "heart disease", "diagnosis from tabular records"),
      learnware("Image", "Classification", {"Nature", "Others"}, "cifar animals", "four animal classes"),
      learnware("Text", "Classification", {"Internet"}, "newsgroups", "topic of a post"),
  };
  std::vector<lwd::SemanticCandidate> candidates() const {
    std::vector<lwd::SemanticCandidate> out;
    for (std::size_t i = 0; i < specs.size(); ++i) out.push_back({std::to_string(i), &specs[i]});
    return out;
  }
};

std::vector<std::string> search(const SemanticSpec& user) { return lwd::semantic_search(user, Fixture().candidates()); }

TEST(SemanticSearch, EmptyQueryMatchesEverything) {
  EXPECT_EQ(search(SemanticSpec{}), (std::vector<std::string>{"0", "1", "2", "3"}));
}

TEST(SemanticSearch, ClassFieldMatchesWhenTheLearnwaresValueIsAmongTheUsers) {
  SemanticSpec q;
  q.tags["Data"] = {"Image", "Text"};
  EXPECT_EQ(search(q), (std::vector<std::string>{"2", "3"}));
  q.tags["Task"] = {"Regression"};
  EXPECT_TRUE(search(q).empty());
}

TEST(SemanticSearch, TagFieldMatchesOnAnyCommonValue) {
  SemanticSpec q;
  q.tags["Scenario"] = {"Others", "Business"};
  EXPECT_EQ(search(q), (std::vector<std::string>{"0", "2"}));
}

TEST(SemanticSearch, ALearnwareWithoutTheFieldDoesNotMatch) {
  Fixture f;
  f.specs[0].tags.erase("Scenario");
  SemanticSpec q;
  q.tags["Scenario"] = {"Business"};
  EXPECT_TRUE(lwd::semantic_search(q, f.candidates()).empty());
}

TEST(SemanticSearch, NameMatchesNameOrDescriptionCaseInsensitively) {
  SemanticSpec q;
  q.name = "SALES";
  EXPECT_EQ(search(q), (std::vector<std::string>{"0"}));
  q.name = "animal";
  EXPECT_EQ(search(q), (std::vector<std::string>{"2"}));
}

TEST(SemanticSearch, FallsBackToFuzzyMatchingRankedByScore) {
  SemanticSpec q;
  q.name = "hart disese";  // no exact match anywhere
  const auto ids = search(q);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), "1");
}

TEST(SemanticSearch, FuzzyMatchesBelowTheThresholdAreDropped) {
  SemanticSpec q;
  q.name = "qqqqzzzz";
  EXPECT_TRUE(search(q).empty());
}

TEST(SemanticSearch, TagsFilterBeforeTheName) {
  SemanticSpec q;
  q.tags["Data"] = {"Text"};  // the one Text learnware is about newsgroups, not sales
  q.name = "sales";
  EXPECT_TRUE(search(q).empty());
}

}  // namespace
