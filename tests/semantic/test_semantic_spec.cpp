// Semantic specifications: the reference JSON layout, the submission rules and
// fuzzy partial ratio.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/semantic/semantic_spec.h"

namespace {

using lwd::SemanticSpec;

// A valid table regression spec as the reference package writes it.
constexpr const char* kReferenceSpec = R"({
  "Data": {"Values": ["Table"], "Type": "Class"},
  "Task": {"Values": ["Regression"], "Type": "Class"},
  "Library": {"Values": ["Scikit-learn"], "Type": "Class"},
  "Scenario": {"Values": ["Business", "Financial"], "Type": "Tag"},
  "Description": {"Values": "sales of store 7", "Type": "String"},
  "Name": {"Values": "store 7 sales", "Type": "String"},
  "License": {"Values": ["MIT"], "Type": "Class"},
  "Input": {"Dimension": 3, "Description": {"0": "price", "2": "weekday"}},
  "Output": {"Dimension": 1, "Description": {"0": "units sold"}}
})";

SemanticSpec valid() { return SemanticSpec::parse(kReferenceSpec, "valid.json"); }

TEST(SemanticSpec, ParsesTheReferenceLayout) {
  const SemanticSpec s = valid();
  EXPECT_EQ(s.first("Data"), "Table");
  EXPECT_EQ(s.values("Scenario"), (std::vector<std::string>{"Business", "Financial"}));
  EXPECT_EQ(s.name, "store 7 sales");
  ASSERT_TRUE(s.input.has_value());
  EXPECT_EQ(s.input->dimension, 3);
  EXPECT_EQ(s.input->descriptions.at(2), "weekday");
  EXPECT_EQ(s.output->dimension, 1);
}

TEST(SemanticSpec, JsonRoundTripIsExact) {
  const SemanticSpec s = valid();
  EXPECT_EQ(SemanticSpec::parse(s.to_json_text()), s);
}

TEST(SemanticSpec, ValidSpecPassesTheChecker) { EXPECT_EQ(lwd::check_semantic_spec(valid()), std::nullopt); }

TEST(SemanticSpec, AcceptsAQueryWithEmptyFields) {
  const SemanticSpec q = SemanticSpec::parse(R"({"Data":{"Values":[],"Type":"Class"},"Name":{"Values":"","Type":"String"}})");
  EXPECT_TRUE(q.values("Data").empty());
  EXPECT_TRUE(q.name.empty());
}

struct Malformed {
  const char* name;
  const char* json;
  const char* message_part;
};

class MalformedSemanticSpec : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedSemanticSpec, IsAnErrorNamingTheProblem) {
  try {
    SemanticSpec::parse(GetParam().json, "bad.json");
    FAIL() << "no error";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message_part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedSemanticSpec,
    ::testing::Values(Malformed{"not_json", "{", "invalid JSON"}, Malformed{"not_object", "[1,2]", "object"},
                      Malformed{"class_values_not_strings", R"({"Data":{"Values":[1],"Type":"Class"}})", "Data.Values"},
                      Malformed{"wrong_type", R"({"Scenario":{"Values":["Business"],"Type":"Class"}})", "Scenario.Type"},
                      Malformed{"name_not_string", R"({"Name":{"Values":["x"],"Type":"String"}})", "Name.Values"},
                      Malformed{"dimension_not_integer", R"({"Input":{"Dimension":"3"}})", "Input.Dimension"},
                      Malformed{"dimension_zero", R"({"Input":{"Dimension":0}})", "Input.Dimension"},
                      Malformed{"description_key", R"({"Input":{"Dimension":2,"Description":{"a":"x"}}})", "'a'"},
                      Malformed{"description_value", R"({"Output":{"Dimension":2,"Description":{"0":3}}})",
                                "Output.Description.0"}),
    [](const auto& info) { return info.param.name; });

TEST(CheckSemanticSpec, RejectsAClassFieldWithTwoValues) {
  SemanticSpec s = valid();
  s.tags["Task"] = {"Regression", "Classification"};
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("Task"), std::string::npos);
}

TEST(CheckSemanticSpec, RejectsAValueOutsideTheVocabulary) {
  SemanticSpec s = valid();
  s.tags["License"] = {"WTFPL"};
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("WTFPL"), std::string::npos);
}

TEST(CheckSemanticSpec, RejectsAnEmptyTagField) {
  SemanticSpec s = valid();
  s.tags.erase("Scenario");
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("Scenario"), std::string::npos);
}

TEST(CheckSemanticSpec, RejectsAnEmptyName) {
  SemanticSpec s = valid();
  s.name.clear();
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("Name"), std::string::npos);
}

TEST(CheckSemanticSpec, TableDataNeedsInputSemantics) {
  SemanticSpec s = valid();
  s.input.reset();
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("Input"), std::string::npos);
}

TEST(CheckSemanticSpec, DescriptionIndexMustBeBelowTheDimension) {
  SemanticSpec s = valid();
  s.input->descriptions[3] = "out of range";
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("outside"), std::string::npos);
}

TEST(CheckSemanticSpec, ClassificationNeedsMoreThanOneOutputColumn) {
  SemanticSpec s = valid();
  s.tags["Task"] = {"Classification"};
  EXPECT_NE(lwd::check_semantic_spec(s).value_or("").find("Classification"), std::string::npos);
  s.output->dimension = 3;
  EXPECT_EQ(lwd::check_semantic_spec(s), std::nullopt);
}

TEST(FuzzyPartialRatio, IdenticalAndContainedStringsScore100) {
  EXPECT_DOUBLE_EQ(lwd::fuzzy_partial_ratio("sales", "sales"), 100.0);
  EXPECT_DOUBLE_EQ(lwd::fuzzy_partial_ratio("sales", "weekly store sales forecast"), 100.0);
  EXPECT_DOUBLE_EQ(lwd::fuzzy_partial_ratio("weekly store sales forecast", "sales"), 100.0);
}

TEST(FuzzyPartialRatio, OneTypoInFiveLettersScores80) {
  // best window "sales" vs "salas": LCS 4 -> 200*4/10 = 80.
  EXPECT_DOUBLE_EQ(lwd::fuzzy_partial_ratio("salas", "store sales"), 80.0);
}

TEST(FuzzyPartialRatio, UnrelatedStringsScoreLowAndEmptyScoresZero) {
  EXPECT_LT(lwd::fuzzy_partial_ratio("xyz", "abcdefgh"), 1.0);
  EXPECT_EQ(lwd::fuzzy_partial_ratio("", "abc"), 0.0);
}

}  // namespace
