// The kind registries: every kind is listed once with a distinct type name
// and semantic Data value, files of any kind are read through one entry
// point that dispatches on "type", and the kinds' operations agree with the
// spec classes they wrap.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>
#include <string>

#include "engine/error.h"
#include "engine/kinds/image_kind.h"
#include "engine/kinds/model_kinds.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/kinds/table_kind.h"
#include "engine/kinds/text_kind.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/random.h"

namespace {

using lwd::Error;
using lwd::RKMETableSpec;
using lwd::StatSpec;

RKMETableSpec small_table(std::int64_t d, std::uint64_t seed) {
  lwd::kernels::Matrix<double> x(60, d);
  lwd::kernels::Rng rng(seed);
  for (double& v : x.values()) v = rng.normal();
  return RKMETableSpec::generate(lwd::kernels::Context{.seed = seed}, x, lwd::kernels::RkmeOptions{.k = 6});
}

void expect_error_mentions(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    FAIL() << "expected an lwd::Error mentioning " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(SpecKinds, EachKindIsRegisteredOnceWithItsOwnTypeAndDataValue) {
  std::set<std::string> types;
  std::set<std::string> data;
  for (const lwd::SpecKind* kind : lwd::spec_kinds()) {
    EXPECT_TRUE(types.insert(std::string(kind->type_name())).second) << kind->type_name();
    EXPECT_TRUE(data.insert(std::string(kind->semantic_data())).second) << kind->semantic_data();
    EXPECT_EQ(lwd::find_spec_kind(kind->type_name()), kind);
    EXPECT_EQ(&lwd::spec_kind_for_data(kind->semantic_data()), kind);
  }
  EXPECT_EQ(types, (std::set<std::string>{"RKMETableSpecification", "RKMETextSpecification", "RKMEImageSpecification"}));
  EXPECT_EQ(lwd::find_spec_kind("RKMEVideoSpecification"), nullptr);
  EXPECT_EQ(&lwd::spec_kind_for_data("Anything else"), &lwd::table_spec_kind());
}

TEST(SpecKinds, ParseDispatchesOnTypeAndRoundTrips) {
  const RKMETableSpec table = small_table(3, 1);
  const StatSpec spec = lwd::stat_spec(table);
  const nlohmann::json json = spec.kind().to_json(spec);
  const StatSpec back = lwd::parse_stat_spec(json, "test");
  EXPECT_EQ(&back.kind(), &lwd::table_spec_kind());
  EXPECT_EQ(back.get<RKMETableSpec>().z(), table.z());
  EXPECT_EQ(back.get<RKMETableSpec>().beta(), table.beta());

  const lwd::text::HashingEncoder encoder(lwd::text::HashingOptions{.dim = 16});
  const std::vector<std::string> documents = {"one small document", "another small document", "a third one here"};
  const lwd::RKMETextSpec text = lwd::RKMETextSpec::generate(
      lwd::kernels::Context{.seed = 2}, documents, encoder,
      lwd::TextSpecOptions{lwd::kernels::RkmeOptions{.k = 2}});
  const StatSpec text_spec = lwd::stat_spec(text);
  const StatSpec text_back = lwd::parse_stat_spec(text_spec.kind().to_json(text_spec), "test");
  EXPECT_EQ(&text_back.kind(), &lwd::text_spec_kind());
  EXPECT_EQ(text_back.get<lwd::RKMETextSpec>().language(), text.language());
  EXPECT_EQ(text_back.get<lwd::RKMETextSpec>().rkme().z(), text.rkme().z());
}

TEST(SpecKinds, JsonWithoutTypeGoesToTheTableReaderAndAnUnknownTypeListsTheKinds) {
  nlohmann::json json = lwd::table_spec_kind().to_json(lwd::stat_spec(small_table(2, 3)));
  json.erase("type");
  // The table reader says what is wrong (it requires the field).
  expect_error_mentions([&] { lwd::parse_stat_spec(json, "untyped.json"); }, "untyped.json: missing field \"type\"");
  json["type"] = "RKMEVideoSpecification";
  expect_error_mentions([&] { lwd::parse_stat_spec(json, "video.json"); }, "unknown specification type");
  expect_error_mentions([&] { lwd::parse_stat_spec(json, "video.json"); }, "RKMEImageSpecification");
  expect_error_mentions([&] { lwd::parse_stat_spec_text("{\"z\": [[1, 2]", "broken.json"); }, "broken.json");
  expect_error_mentions([&] { lwd::parse_stat_spec(nlohmann::json::array(), "array.json"); }, "array.json");
}

TEST(SpecKinds, TheKindsProductsAreTheSpecsOwn) {
  const RKMETableSpec a = small_table(3, 4);
  const RKMETableSpec b = small_table(3, 5);
  const StatSpec sa = lwd::stat_spec(a);
  const StatSpec sb = lwd::stat_spec(b);
  const lwd::SpecKind& kind = sa.kind();
  EXPECT_EQ(kind.inner_product(sa, sb, {}), a.inner_product(b));
  EXPECT_EQ(kind.dist(sa, sb, {}), a.dist(b));
  expect_error_mentions([&] { kind.dist(sa, lwd::stat_spec(small_table(4, 6)), {}); }, "different widths");
  const auto packed = kind.packed(sa);
  ASSERT_TRUE(packed.has_value());
  EXPECT_EQ(packed->pack_type, "RKMETableSpecification");
  EXPECT_EQ(packed->rkme, &sa.get<RKMETableSpec>());
}

TEST(SpecKinds, GetOfTheWrongValueTypeIsAnErrorAndGetIfIsNull) {
  const StatSpec spec = lwd::stat_spec(small_table(2, 7));
  EXPECT_NE(spec.get_if<RKMETableSpec>(), nullptr);
  EXPECT_EQ(spec.get_if<lwd::RKMEImageSpec>(), nullptr);
  expect_error_mentions([&] { (void)spec.get<lwd::RKMEImageSpec>(); }, "RKMETableSpecification");
  const StatSpec empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_THROW((void)empty.kind(), Error);
  EXPECT_EQ(empty.get_if<RKMETableSpec>(), nullptr);
}

TEST(SpecKinds, SummariesNameTheTypeFirst) {
  const StatSpec spec = lwd::stat_spec(small_table(3, 8));
  const auto lines = spec.kind().summary_lines(spec);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front().first, "type");
  EXPECT_EQ(lines.front().second, "RKMETableSpecification");
  EXPECT_EQ(spec.kind().summary_json(spec)["d"], 3);
}

TEST(ModelKinds, NamesFollowTheRegistrationList) {
  const auto& kinds = lwd::registered_model_kinds();
  const auto& names = lwd::learnware_model_kinds();
  ASSERT_EQ(kinds.size(), names.size());
  std::set<std::string> unique;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(kinds[i].name, names[i]);
    EXPECT_TRUE(unique.insert(names[i]).second) << names[i];
    EXPECT_TRUE(static_cast<bool>(kinds[i].load)) << names[i];
  }
}

}  // namespace
