// The engine's JSON schema: every document reads back as what was written,
// and every reader refuses malformed and hostile input with an lwd::Error
// that names the source and the field.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "engine/api/json_api.h"
#include "engine/error.h"
#include "engine/kinds/table_kind.h"
#include "kernels/random.h"

namespace {

using lwd::Error;
using nlohmann::json;

void expect_refused(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    FAIL() << "expected an lwd::Error";
  } catch (const Error& e) {
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "'" << fragment << "' not in: " << e.what();
  }
}

lwd::RKMETableSpec small_spec() {
  lwd::kernels::Matrix<double> x(40, 2);
  lwd::kernels::Rng rng(3);
  for (double& v : x.values()) v = rng.normal();
  return lwd::RKMETableSpec::generate(lwd::kernels::Context{.seed = 3}, x, lwd::kernels::RkmeOptions{.k = 5});
}

TEST(JsonApi, SearchRequestRoundTrips) {
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(small_spec());
  lwd::SemanticSpec semantic;
  semantic.tags["Data"] = {"Table"};
  request.semantic = semantic;
  request.options.max_search_num = 3;
  request.options.method = lwd::MixtureMethod::kAuto;
  request.options.image_distance_transform = true;
  request.options.greedy_decay = 0.8;
  const json written = lwd::to_json(request);
  const lwd::SearchRequest back = lwd::search_request_from_json(written, "request");
  EXPECT_EQ(back.spec.get<lwd::RKMETableSpec>().z(), request.spec.get<lwd::RKMETableSpec>().z());
  ASSERT_TRUE(back.semantic.has_value());
  EXPECT_EQ(back.semantic->tags, semantic.tags);
  EXPECT_EQ(back.options.max_search_num, 3);
  EXPECT_EQ(back.options.method, lwd::MixtureMethod::kAuto);
  EXPECT_TRUE(back.options.image_distance_transform);
  EXPECT_EQ(back.options.greedy_decay, 0.8);
  EXPECT_EQ(lwd::to_json(back), written);
}

TEST(JsonApi, AnEmptyRequestIsASemanticSearchWithDefaults) {
  const lwd::SearchRequest r = lwd::search_request_from_json(json::object(), "empty");
  EXPECT_TRUE(r.spec.empty());
  EXPECT_FALSE(r.semantic.has_value());
  EXPECT_EQ(r.options.max_search_num, lwd::StatSearchOptions{}.max_search_num);
  const lwd::SearchRequest nulls = lwd::search_request_from_json(json{{"spec", nullptr}, {"semantic", nullptr}}, "n");
  EXPECT_TRUE(nulls.spec.empty());
}

TEST(JsonApi, MalformedSearchRequestsAreRefusedNamingTheField) {
  expect_refused([] { lwd::search_request_from_json(json::array(), "req.json"); }, {"req.json", "must be an object"});
  expect_refused([] { lwd::search_request_from_json(json{{"sepc", 1}}, "req.json"); }, {"sepc", "not known"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"max_search_num", 0}}}}, "r"); },
                 {"options.max_search_num", "[1, 1000]"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"max_search_num", 1e300}}}}, "r"); },
                 {"options.max_search_num", "integer"});
  expect_refused(
      [] {
        lwd::search_request_from_json(json{{"options", {{"max_search_num", std::numeric_limits<std::uint64_t>::max()}}}},
                                      "r");
      },
      {"options.max_search_num"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"mixture_method", "best"}}}}, "r"); },
                 {"options.mixture_method", "best"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"greedy_decay", 0}}}}, "r"); },
                 {"options.greedy_decay", "(0, 1]"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"greedy_decay", 1.5}}}}, "r"); },
                 {"options.greedy_decay", "(0, 1]"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"greedy_decay", "0.9"}}}}, "r"); },
                 {"options.greedy_decay", "number"});
  expect_refused([] { lwd::search_request_from_json(json{{"options", {{"image_score", 3}}}}, "r"); },
                 {"options.image_score", "string"});
  expect_refused([] { lwd::search_request_from_json(json{{"spec", {{"type", "Nope"}}}}, "r"); },
                 {"unknown specification type"});
  expect_refused([] { lwd::search_request_from_json(json{{"spec", {{"z", "x"}}}}, "r"); }, {"r: spec"});
  expect_refused([] { lwd::search_request_from_json(json{{"semantic", 5}}, "r"); }, {"r: semantic"});
}

TEST(JsonApi, SearchResponsesRoundTripBothShapes) {
  lwd::SearchResponse r;
  r.semantic_matches = 4;
  r.stat.candidates = 3;
  r.stat.singles = {{"00000002", 0.93, 0.01}, {"00000001", 0.7, 0.2}};
  r.stat.mixture = lwd::MixtureMatch{{"00000001", "00000002"}, {0.25, 0.75}, 0.97, 0.004};
  const json written = lwd::to_json(r, true);
  const lwd::SearchResponse back = lwd::search_response_from_json(written, "response");
  EXPECT_EQ(lwd::to_json(back, true), written);
  ASSERT_TRUE(back.stat.mixture.has_value());
  EXPECT_EQ(back.stat.mixture->weights, r.stat.mixture->weights);

  lwd::SearchResponse semantic_only;
  semantic_only.semantic_matches = 2;
  semantic_only.semantic_ids = {"00000001", "00000003"};
  const json sw = lwd::to_json(semantic_only, false);
  EXPECT_TRUE(sw["single"][0]["score"].is_null());
  EXPECT_EQ(lwd::search_response_from_json(sw, "s").semantic_ids, semantic_only.semantic_ids);
}

TEST(JsonApi, MalformedResponsesAreRefused) {
  json good = lwd::to_json(lwd::SearchResponse{}, true);
  json bad = good;
  bad.erase("candidates");
  expect_refused([&] { lwd::search_response_from_json(bad, "resp"); }, {"candidates", "missing"});
  bad = good;
  bad["candidates"] = -1;
  expect_refused([&] { lwd::search_response_from_json(bad, "resp"); }, {"candidates"});
  bad = good;
  bad["single"] = json::array({json{{"id", "1"}, {"score", 0.5}, {"mmd2", nullptr}}});
  expect_refused([&] { lwd::search_response_from_json(bad, "resp"); }, {"single[0]", "score and mmd2"});
  bad = good;
  bad["mixture"] = json{{"ids", {"1", "2"}}, {"weights", {1.0}}, {"score", 1}, {"mmd2", 0}};
  expect_refused([&] { lwd::search_response_from_json(bad, "resp"); }, {"mixture", "2 ids but 1 weights"});
  bad = good;
  bad["single"] = json::array({json{{"id", 7}, {"score", 0.5}, {"mmd2", 0.1}}});
  expect_refused([&] { lwd::search_response_from_json(bad, "resp"); }, {"single[0].id", "string"});
}

TEST(JsonApi, LearnwareRecordsAndAddResultsRoundTrip) {
  lwd::LearnwareRecord r;
  r.id = "00000007";
  r.name = "store A";
  r.owner = "alice";
  r.status = lwd::LearnwareStatus::not_usable;
  r.status_reason = "the model does not load";
  r.package_path = "packages/00000007.zip";
  r.spec_keys = {"RKMETableSpecification/3"};
  r.created_at = "2026-01-01T00:00:00Z";
  r.updated_at = "2026-01-02T00:00:00Z";
  EXPECT_EQ(lwd::learnware_record_from_json(lwd::to_json(r), "record"), r);
  json bad = lwd::to_json(r);
  bad["id"] = "../../etc";
  expect_refused([&] { lwd::learnware_record_from_json(bad, "record"); }, {"field 'id'", "not a valid learnware id"});
  bad = lwd::to_json(r);
  bad["status"] = "great";
  expect_refused([&] { lwd::learnware_record_from_json(bad, "record"); }, {"field 'status'"});

  const lwd::AddResult a{"00000008", lwd::LearnwareStatus::usable, "", {{"00000003", 0.25, true}, {"00000001", 0.5, false}}};
  const lwd::AddResult back = lwd::add_result_from_json(lwd::to_json(a), "add");
  EXPECT_EQ(back.id, a.id);
  EXPECT_EQ(back.status, a.status);
  ASSERT_EQ(back.nearest.size(), 2u);
  EXPECT_EQ(back.nearest[0].id, "00000003");
  EXPECT_EQ(back.nearest[0].mmd2, 0.25);
  EXPECT_TRUE(back.nearest[0].same_semantic);
  EXPECT_FALSE(back.nearest[1].same_semantic);
  expect_refused([] { lwd::add_result_from_json(json{{"id", "1"}}, "add"); }, {"status", "missing"});
  // Without nearest (an older writer) it reads as none; a hostile one is refused by field.
  json older = lwd::to_json(a);
  older.erase("nearest");
  EXPECT_TRUE(lwd::add_result_from_json(older, "add").nearest.empty());
  json hostile = lwd::to_json(a);
  hostile["nearest"] = "all of them";
  expect_refused([&] { lwd::add_result_from_json(hostile, "add"); }, {"field 'nearest'", "array"});
  hostile["nearest"] = json::array({{{"id", "1"}, {"mmd2", "far"}, {"same_semantic", true}}});
  expect_refused([&] { lwd::add_result_from_json(hostile, "add"); }, {"nearest[0].mmd2"});
  hostile["nearest"] = json::array({{{"id", "1"}, {"mmd2", 0.1}, {"same_semantic", 1}}});
  expect_refused([&] { lwd::add_result_from_json(hostile, "add"); }, {"nearest[0].same_semantic"});
  hostile["nearest"] = json::array({{{"id", "1"}, {"mmd2", 0.1}, {"same_semantic", true}, {"x", 1}}});
  expect_refused([&] { lwd::add_result_from_json(hostile, "add"); }, {"nearest[0].x", "not known"});
}

TEST(JsonApi, ReuseResultsRoundTripAndRefuseRaggedRows) {
  lwd::ReuseResult r;
  r.method = "averaging";
  r.mode = "vote_by_prob";
  r.learnwares = {"00000001", "00000002"};
  r.task = lwd::TaskType::kClassification;
  r.predictions = lwd::kernels::Matrix<double>(2, 3);
  for (std::int64_t i = 0; i < 6; ++i) r.predictions.values()[static_cast<std::size_t>(i)] = 0.1 * i;
  const lwd::ReuseResult back = lwd::reuse_result_from_json(lwd::to_json(r), "reuse");
  EXPECT_EQ(back.method, r.method);
  EXPECT_EQ(back.task, r.task);
  EXPECT_EQ(back.predictions.rows(), 2);
  EXPECT_EQ(back.predictions.cols(), 3);
  EXPECT_EQ(back.predictions.values(), r.predictions.values());
  json bad = lwd::to_json(r);
  bad["predictions"][1] = json::array({1.0});
  expect_refused([&] { lwd::reuse_result_from_json(bad, "reuse"); }, {"predictions[1]", "first row 3"});
  bad = lwd::to_json(r);
  bad["predictions"][0][0] = "NaN";
  expect_refused([&] { lwd::reuse_result_from_json(bad, "reuse"); }, {"predictions[0][0]", "number"});
  bad = lwd::to_json(r);
  bad["task"] = "ranking";
  expect_refused([&] { lwd::reuse_result_from_json(bad, "reuse"); }, {"field 'task'"});
}

}  // namespace
