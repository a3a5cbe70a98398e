#include "engine/store/spec_pack.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <limits>
#include <random>

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

// What a StoredPack derives (float32 Z, id -> slot, its live members) must
// equal what a fresh one built from the same live members derives, after any
// mix of changes.
void expect_derived_in_step(const StoredPack& stored) {
  const SpecPack& slots = stored.slots();
  ASSERT_EQ(stored.z32().size(), slots.z.size());
  for (std::size_t i = 0; i < slots.z.size(); ++i) EXPECT_EQ(stored.z32()[i], static_cast<float>(slots.z[i])) << i;
  std::int64_t live = 0;
  SpecPack expected;
  expected.type = slots.type;
  expected.dim = slots.dim;
  for (std::int64_t m = 0; m < slots.count(); ++m) {
    const std::string& id = slots.ids[static_cast<std::size_t>(m)];
    EXPECT_EQ(stored.is_live(m), !id.empty()) << m;
    if (id.empty()) continue;
    ++live;
    EXPECT_EQ(stored.find(id), m) << id;
    expected.append_member_of(slots, m);
  }
  EXPECT_EQ(stored.count(), live);
  const SpecPack got = stored.live_members();
  got.validate();
  EXPECT_EQ(got.ids, expected.ids);
  EXPECT_EQ(got.offsets, expected.offsets);
  EXPECT_EQ(got.z, expected.z);
  EXPECT_EQ(got.beta, expected.beta);
  EXPECT_EQ(got.self_inner, expected.self_inner);
  const StoredPack fresh(got);
  ASSERT_EQ(fresh.count(), live);
  for (std::int64_t m = 0; m < fresh.count(); ++m) {
    const std::string& id = got.ids[static_cast<std::size_t>(m)];
    const auto at = stored.find(id);
    ASSERT_TRUE(at) << id;
    const auto a = stored.slots().member_z(*at);
    const auto b = fresh.slots().member_z(m);
    ASSERT_EQ(a.rows, b.rows);
    for (std::int64_t i = 0; i < a.rows * a.cols; ++i) EXPECT_EQ(a.data[i], b.data[i]);
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
  stored.append_member_of(source, 0);  // an id already there: replaced, now in the last slot
  EXPECT_EQ(stored.count(), 4);
  EXPECT_EQ(stored.find("id0"), stored.slots().count() - 1);
  expect_derived_in_step(stored);
  for (const char* id : {"id2", "id3", "id5", "id0"}) EXPECT_TRUE(stored.remove(id)) << id;
  EXPECT_EQ(stored.count(), 0);
  EXPECT_TRUE(stored.live_members().ids.empty());
  expect_derived_in_step(stored);
}

// A removal blanks a slot (O(1)); once removed slots outnumber the live
// members (and are more than a few), one pass drops them all, and the slots
// are the live members again, in the same order.
TEST(StoredPack, RemovedSlotsAreDroppedOnceTheyOutnumberTheLiveMembers) {
  SpecPack source;
  source.type = "RKMETableSpecification";
  const int n = 300;
  for (int i = 0; i < n; ++i) source.append("id" + std::to_string(i), make_spec(2 + i % 5, 3, 100u + i));
  StoredPack stored(source);
  (void)stored.z32();  // a built mirror must follow the drop too
  std::mt19937_64 rng(3);
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  bool dropped = false;
  for (int r = 0; r < 200; ++r) {
    ASSERT_TRUE(stored.remove("id" + std::to_string(order[r])));
    if (stored.slots().count() == stored.count()) dropped = true;
    // Never more removed slots than live members plus the few a pass waits for.
    EXPECT_LE(stored.slots().count() - stored.count(), std::max<std::int64_t>(64, stored.count() + 1));
    if (r % 37 == 0) expect_derived_in_step(stored);
  }
  EXPECT_TRUE(dropped);
  EXPECT_EQ(stored.count(), n - 200);
  for (int r = 0; r < 200; ++r) EXPECT_FALSE(stored.find("id" + std::to_string(order[r])));
  for (int r = 200; r < n; ++r) EXPECT_TRUE(stored.find("id" + std::to_string(order[r])));
  // Re-adding a removed id after a drop.
  stored.append_member_of(source, order[0]);
  EXPECT_EQ(stored.count(), n - 199);
  expect_derived_in_step(stored);
}

TEST(SpecPack, KeyJoinsTypeAndWidth) {
  EXPECT_EQ(spec_pack_key("RKMETableSpecification", 8), "RKMETableSpecification/8");
}

}  // namespace
}  // namespace lwd
