#include "engine/store/spec_pack.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/error.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

using test::make_spec;

TEST(SpecPack, AppendPacksRowsBackToBackWithOffsets) {
  SpecPack pack;
  pack.type = "RKMETableSpecification";
  const auto a = make_spec(3, 4, 1);
  const auto b = make_spec(5, 4, 2);
  pack.append("a", a);
  pack.append("b", b);
  EXPECT_EQ(pack.dim, 4);
  EXPECT_EQ(pack.count(), 2);
  EXPECT_EQ(pack.offsets, (std::vector<std::int64_t>{0, 3, 8}));
  EXPECT_EQ(pack.total_rows(), 8);
  EXPECT_EQ(pack.member_z(1)(0, 0), b.z()(0, 0));
  EXPECT_EQ(pack.member_beta(1).size(), 5u);
  pack.validate();
}

TEST(SpecPack, AppendComputesTheSelfInnerProductOnce) {
  SpecPack pack;
  const auto spec = make_spec(6, 3, 7);
  pack.append("x", spec);
  EXPECT_DOUBLE_EQ(pack.self_inner[0], spec.inner_product(spec));
  EXPECT_EQ(pack.gamma[0], spec.gamma());
  EXPECT_EQ(pack.num_points[0], spec.num_points());
}

TEST(SpecPack, AppendRejectsAnotherWidth) {
  SpecPack pack;
  pack.append("a", make_spec(2, 4, 1));
  EXPECT_THROW(pack.append("b", make_spec(2, 5, 2)), Error);
  EXPECT_EQ(pack.count(), 1);
}

TEST(SpecPack, AppendRejectsAnIdAlreadyPacked) {
  SpecPack pack;
  pack.append("a", make_spec(2, 4, 1));
  EXPECT_THROW(pack.append("a", make_spec(2, 4, 2)), Error);
}

TEST(SpecPack, FindGivesTheMemberIndexOrNothing) {
  SpecPack pack;
  pack.append("a", make_spec(2, 3, 1));
  pack.append("b", make_spec(2, 3, 2));
  EXPECT_EQ(pack.find("b"), 1);
  EXPECT_EQ(pack.find("zzz"), std::nullopt);
}

TEST(SpecPack, RemoveShiftsTheLaterMembersDown) {
  SpecPack pack;
  const auto c = make_spec(4, 3, 3);
  pack.append("a", make_spec(2, 3, 1));
  pack.append("b", make_spec(3, 3, 2));
  pack.append("c", c);
  EXPECT_TRUE(pack.remove("b"));
  EXPECT_FALSE(pack.remove("b"));
  EXPECT_EQ(pack.ids, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(pack.offsets, (std::vector<std::int64_t>{0, 2, 6}));
  const auto back = pack.spec(1);
  EXPECT_EQ(back.z(), c.z());
  EXPECT_EQ(back.beta(), c.beta());
  pack.validate();
}

TEST(SpecPack, SpecGivesBackTheStoredMember) {
  SpecPack pack;
  const auto spec = make_spec(5, 2, 9, 0.25);
  pack.append("only", spec);
  const auto back = pack.spec(0);
  EXPECT_EQ(back.z(), spec.z());
  EXPECT_EQ(back.beta(), spec.beta());
  EXPECT_EQ(back.gamma(), 0.25);
  EXPECT_EQ(back.num_points(), spec.num_points());
}

TEST(SpecPack, ValidateRejectsMemberArraysOfDifferentLengths) {
  SpecPack pack;
  pack.append("a", make_spec(2, 3, 1));
  pack.gamma.push_back(0.1);
  EXPECT_THROW(pack.validate(), Error);
}

TEST(SpecPack, ValidateRejectsOffsetsThatDoNotMatchTheRows) {
  SpecPack pack;
  pack.append("a", make_spec(2, 3, 1));
  pack.offsets.back() = 3;
  EXPECT_THROW(pack.validate(), Error);
}

TEST(SpecPack, ValidateRejectsNonFiniteValuesAndBadGamma) {
  SpecPack pack;
  pack.append("a", make_spec(2, 3, 1));
  SpecPack bad_z = pack;
  bad_z.z[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(bad_z.validate(), Error);
  SpecPack bad_gamma = pack;
  bad_gamma.gamma[0] = 0.0;
  EXPECT_THROW(bad_gamma.validate(), Error);
}

// What a StoredPack derives (float32 Z, id -> member) must equal what a fresh
// one built from the same members derives, after any mix of changes.
void expect_derived_in_step(const StoredPack& stored) {
  const StoredPack fresh(stored.members());
  ASSERT_EQ(stored.z32().size(), fresh.z32().size());
  for (std::size_t i = 0; i < fresh.z32().size(); ++i) {
    EXPECT_EQ(stored.z32()[i], static_cast<float>(stored.members().z[i])) << i;
    EXPECT_EQ(stored.z32()[i], fresh.z32()[i]) << i;
  }
  for (std::int64_t m = 0; m < stored.count(); ++m) {
    EXPECT_EQ(stored.find(stored.members().ids[static_cast<std::size_t>(m)]), m);
  }
}

TEST(StoredPack, ItsMirrorAndMemberMapFollowEveryChange) {
  SpecPack source;
  source.type = "RKMETableSpecification";
  for (int i = 0; i < 6; ++i) source.append("id" + std::to_string(i), make_spec(2 + i, 3, static_cast<std::uint64_t>(i)));
  StoredPack stored(SpecPack{});
  for (std::int64_t m = 0; m < 4; ++m) stored.append_member_of(source, m);
  expect_derived_in_step(stored);
  EXPECT_TRUE(stored.remove("id1"));
  EXPECT_FALSE(stored.remove("id1"));
  EXPECT_FALSE(stored.find("id1"));
  expect_derived_in_step(stored);
  stored.append_member_of(source, 5);
  stored.append_member_of(source, 0);  // an id already there: replaced, now last
  EXPECT_EQ(stored.count(), 4);
  EXPECT_EQ(stored.find("id0"), 3);
  expect_derived_in_step(stored);
  stored.members().validate();
  for (const char* id : {"id2", "id3", "id5", "id0"}) EXPECT_TRUE(stored.remove(id)) << id;
  EXPECT_EQ(stored.count(), 0);
  EXPECT_TRUE(stored.z32().empty());
}

TEST(SpecPack, KeyJoinsTypeAndWidth) {
  EXPECT_EQ(spec_pack_key("RKMETableSpecification", 8), "RKMETableSpecification/8");
}

}  // namespace
}  // namespace lwd
