// The market end to end: real packages through staging, the checker, the store
// and the search; statuses with reasons; persistence, deletion and rebuild.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/kinds/table_kind.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "engine/warning.h"
#include "tests/market/market_fixture.h"

namespace {

using lwd::LearnwareStatus;
using lwd::Market;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;
using lwd::testing_market::TempDir;

struct MarketTest : ::testing::Test {
  TempDir tmp;
  std::filesystem::path dir = tmp.path() / "market";
  std::filesystem::path packages = tmp.path() / "pkgs";
  void SetUp() override { std::filesystem::create_directories(packages); }

  std::filesystem::path package(PackageParts parts) { return make_package(packages, parts); }
};

TEST_F(MarketTest, AGoodPackageIsStoredAsUsable) {
  Market market = Market::create(dir);
  const auto r = market.add(package({.name = "good"}), "alice");
  EXPECT_EQ(r.status, LearnwareStatus::usable) << r.reason;
  EXPECT_TRUE(r.reason.empty());
  const auto record = market.get(r.id);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->owner, "alice");
  EXPECT_EQ(record->name, "good");
  EXPECT_EQ(market.list(LearnwareStatus::usable).size(), 1u);
}

TEST_F(MarketTest, AnAddUnderAReservedIdStoresOnceHoweverOftenItIsRetried) {
  Market market = Market::create(dir);
  const std::string id = market.reserve_id();
  const std::string later = market.reserve_id();
  EXPECT_LT(id, later);  // each reservation is another id
  const auto first = market.add_as(id, package({.name = "once"}), "alice");
  EXPECT_EQ(first.id, id);
  EXPECT_EQ(first.status, LearnwareStatus::usable) << first.reason;
  // A retry, even with another package (a job's second attempt after a
  // crash), finds it stored and changes nothing.
  const auto again = market.add_as(id, package({.seed = 9, .name = "twice"}), "alice");
  EXPECT_EQ(again.id, id);
  EXPECT_EQ(again.status, LearnwareStatus::usable);
  ASSERT_EQ(market.list().size(), 1u);
  EXPECT_EQ(market.get(id)->name, "once");
  // Another Market object (another process) retrying too.
  Market other = Market::open(dir);
  EXPECT_EQ(other.add_as(id, package({.name = "thrice"})).id, id);
  EXPECT_EQ(other.list().size(), 1u);
  // The ordinary add never hands out a reserved id.
  const auto next = market.add(package({.seed = 3, .name = "next"}));
  EXPECT_GT(next.id, later);
}

TEST_F(MarketTest, SemanticSpecOutsideTheVocabularyIsInvalidWithTheReason) {
  Market market = Market::create(dir);
  auto semantic = lwd::testing_market::table_regression_semantic(3, "bad licence");
  semantic.tags["License"] = {"Proprietary-Nonsense"};
  const auto r = market.add(package({.name = "badlicense", .semantic_json = semantic.to_json_text()}));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("License"), std::string::npos) << r.reason;
  EXPECT_EQ(market.get(r.id)->status_reason, r.reason);
}

TEST_F(MarketTest, SpecWidthDifferentFromTheModelIsInvalid) {
  Market market = Market::create(dir);
  const auto r = market.add(package({.d = 3, .name = "wrongwidth", .spec_width = 4}));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("width"), std::string::npos) << r.reason;
}

TEST_F(MarketTest, ManifestDimensionDifferentFromTheSemanticSpecIsInvalid) {
  Market market = Market::create(dir);
  const auto r = market.add(package({.d = 3, .name = "wrongdim", .manifest_input_dim = 5}));
  EXPECT_EQ(r.status, LearnwareStatus::invalid);
  EXPECT_NE(r.reason.find("Input.Dimension"), std::string::npos) << r.reason;
}

TEST_F(MarketTest, AProcessModelThatCrashesIsNotUsable) {
  Market market = Market::create(dir);
  const auto r = market.add(package({.name = "crashes", .process_script = "echo boom >&2; exit 3\n"}));
  EXPECT_EQ(r.status, LearnwareStatus::not_usable);
  EXPECT_NE(r.reason.find("prediction failed"), std::string::npos) << r.reason;
}

TEST_F(MarketTest, AProcessModelThatHangsIsNotUsableAfterItsTimeout) {
  Market market = Market::create(dir);
  const auto r = market.add(package({.name = "hangs", .process_script = "sleep 100\n"}));
  EXPECT_EQ(r.status, LearnwareStatus::not_usable);
}

TEST_F(MarketTest, AProcessModelThatAnswersIsUsable) {
  Market market = Market::create(dir);
  const auto r = market.add(
      package({.name = "answers", .process_script = "read header\nwhile IFS=, read -r a b c; do echo \"$a\"; done\n"}));
  EXPECT_EQ(r.status, LearnwareStatus::usable) << r.reason;
}

TEST_F(MarketTest, AHostileArchiveIsRefusedAndNothingIsStored) {
  Market market = Market::create(dir);
  market.add(package({.name = "good"}));
  const auto not_a_zip = tmp.path() / "not.zip";
  lwd::io::write_text_file_atomically(not_a_zip, "this is not a zip archive");
  EXPECT_THROW(market.add(not_a_zip), lwd::Error);
  EXPECT_EQ(market.list().size(), 1u);
  EXPECT_EQ(Market::open(dir).list().size(), 1u);
}

TEST_F(MarketTest, SearchFindsTheLearnwareWhoseDataTheUserHas) {
  Market market = Market::create(dir);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(market.add(package({.centre = 3.0 * i, .seed = 10u + i, .name = "lw" + std::to_string(i)})).id);
  }
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(400, 3, 3.0 * 4, 99)));
  const auto response = market.search(request);
  ASSERT_FALSE(response.stat.singles.empty());
  EXPECT_EQ(response.stat.singles.front().id, ids[4]);
  EXPECT_EQ(response.stat.candidates, 6);
}

TEST_F(MarketTest, OnlyUsableLearnwaresAreSearched) {
  Market market = Market::create(dir);
  const auto good = market.add(package({.centre = 0.0, .name = "good"}));
  const auto broken = market.add(package({.centre = 5.0, .name = "broken", .process_script = "exit 1\n"}));
  ASSERT_EQ(broken.status, LearnwareStatus::not_usable);
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 5.0, 3)));
  const auto response = market.search(request);
  ASSERT_EQ(response.stat.singles.size(), 1u);
  EXPECT_EQ(response.stat.singles.front().id, good.id);
}

TEST_F(MarketTest, SemanticQueryFiltersBeforeTheStatisticalSearch) {
  Market market = Market::create(dir);
  const auto a = market.add(package({.centre = 0.0, .name = "store sales"}));
  market.add(package({.centre = 0.5, .name = "hospital beds"}));
  lwd::SearchRequest request;
  request.semantic = lwd::SemanticSpec{};
  request.semantic->name = "sales";
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 0.4, 3)));
  const auto response = market.search(request);
  EXPECT_EQ(response.semantic_matches, 1);
  ASSERT_EQ(response.stat.singles.size(), 1u);
  EXPECT_EQ(response.stat.singles.front().id, a.id);
}

TEST_F(MarketTest, DeletedLearnwaresLeaveTheSearchAndTheirIdIsNotReused) {
  Market market = Market::create(dir);
  const auto a = market.add(package({.centre = 0.0, .name = "a"}));
  const auto b = market.add(package({.centre = 4.0, .name = "b"}));
  EXPECT_TRUE(market.remove(a.id));
  EXPECT_FALSE(market.remove(a.id));
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 0.0, 3)));
  const auto response = market.search(request);
  ASSERT_EQ(response.stat.singles.size(), 1u);
  EXPECT_EQ(response.stat.singles.front().id, b.id);
  const auto c = market.add(package({.centre = 1.0, .name = "c"}));
  EXPECT_GT(c.id, b.id);
}

// A market that has searched keeps its packs in memory; its removals and
// updates blank the old slots instead of moving the pack. Its searches must
// equal those of a market opened afresh on the same directory.
TEST_F(MarketTest, SearchesAfterRemovalsAndUpdatesEqualThoseOfAFreshOpen) {
  Market market = Market::create(dir);
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(market.add(package({.centre = 0.8 * i, .seed = 40u + i, .name = "s" + std::to_string(i)})).id);
  }
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 2.0, 9)));
  (void)market.search(request);  // the packs are in memory from here
  EXPECT_TRUE(market.remove(ids[1]));
  EXPECT_TRUE(market.remove(ids[4]));
  EXPECT_EQ(market.update(ids[2], package({.centre = 2.1, .seed = 77, .name = "s2b"})).status, LearnwareStatus::usable);
  const auto kept = market.search(request);
  const auto fresh = Market::open(dir).search(request);
  ASSERT_EQ(kept.stat.candidates, 5);
  ASSERT_EQ(kept.stat.singles.size(), fresh.stat.singles.size());
  for (std::size_t i = 0; i < kept.stat.singles.size(); ++i) {
    EXPECT_EQ(kept.stat.singles[i].id, fresh.stat.singles[i].id);
    EXPECT_DOUBLE_EQ(kept.stat.singles[i].mmd2, fresh.stat.singles[i].mmd2);
  }
  ASSERT_EQ(kept.stat.mixture.has_value(), fresh.stat.mixture.has_value());
  if (kept.stat.mixture) {
    EXPECT_EQ(kept.stat.mixture->ids, fresh.stat.mixture->ids);
    ASSERT_EQ(kept.stat.mixture->weights.size(), fresh.stat.mixture->weights.size());
    for (std::size_t i = 0; i < kept.stat.mixture->weights.size(); ++i) {
      EXPECT_NEAR(kept.stat.mixture->weights[i], fresh.stat.mixture->weights[i], 1e-12);
    }
  }
}

TEST_F(MarketTest, ReopeningAndRebuildingGiveTheSameSearchResults) {
  std::vector<std::string> ids;
  {
    Market market = Market::create(dir);
    for (int i = 0; i < 5; ++i) market.add(package({.centre = 1.5 * i, .seed = 20u + i, .name = "m" + std::to_string(i)}));
  }
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 2.0, 5)));
  const auto before = Market::open(dir).search(request);
  std::filesystem::remove(dir / "market.h5");
  // The packages are the truth: opening re-derives a missing market.h5 from
  // them by itself, with a warning, as `market rebuild` does.
  std::vector<std::string> warnings;
  lwd::set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  const auto reopened = Market::open(dir).search(request);
  lwd::set_warning_handler({});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("rebuilding it from the packages"), std::string::npos) << warnings[0];
  const auto after = Market::rebuild(dir).search(request);
  for (const auto* other : {&reopened, &after}) {
    ASSERT_EQ(before.stat.singles.size(), other->stat.singles.size());
    for (std::size_t i = 0; i < before.stat.singles.size(); ++i) {
      EXPECT_EQ(before.stat.singles[i].id, other->stat.singles[i].id);
      EXPECT_DOUBLE_EQ(before.stat.singles[i].mmd2, other->stat.singles[i].mmd2);
    }
  }
}

TEST_F(MarketTest, UpdateReplacesThePackageAndChecksItAgain) {
  Market market = Market::create(dir);
  const auto a = market.add(package({.name = "v1", .process_script = "exit 1\n"}));
  ASSERT_EQ(a.status, LearnwareStatus::not_usable);
  const auto updated = market.update(a.id, package({.name = "v2"}));
  EXPECT_EQ(updated.id, a.id);
  EXPECT_EQ(updated.status, LearnwareStatus::usable) << updated.reason;
  EXPECT_EQ(market.get(a.id)->name, "v2");
  EXPECT_THROW(market.update("99999999", package({.name = "v3"})), lwd::Error);
}

// One upload used to brick a market: a spec with finite but huge numbers was
// stored (as not usable) and its overflowing self product then failed every
// list, search, add, delete and rebuild. Now it is refused (invalid, spec not
// stored) and the market keeps working.
TEST_F(MarketTest, ASpecWithHugeNumbersIsInvalidAndTheMarketKeepsWorking) {
  Market market = Market::create(dir);
  const auto good = market.add(package({.name = "good"}));
  ASSERT_EQ(good.status, LearnwareStatus::usable) << good.reason;
  struct Bad {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string says;
  };
  const std::vector<Bad> bad = {
      {"z", [](nlohmann::json& j) { j["z"][0][0] = 1e200; }, "|z| <= 1e+15"},
      {"beta", [](nlohmann::json& j) { j["beta"][0] = 1e300; }, "|beta| <= 1e+06"},
      {"gamma", [](nlohmann::json& j) { j["gamma"] = 1e300; }, "\"gamma\" = 1e+300"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.name);
    const auto r = market.add(package({.seed = 3, .name = "bad_" + b.name, .edit_spec = b.edit}));
    EXPECT_EQ(r.status, LearnwareStatus::invalid);
    EXPECT_NE(r.reason.find(b.says), std::string::npos) << r.reason;
    EXPECT_TRUE(market.get(r.id)->spec_keys.empty()) << "an out-of-range spec was stored";
  }
  // Everything still works, in this process and after reopening.
  Market reopened = Market::open(dir);
  EXPECT_EQ(reopened.list().size(), 4u);
  lwd::SearchRequest request;
  request.spec = lwd::load_stat_spec(packages / "good.parts" / "rkme.json");
  ASSERT_FALSE(reopened.search(request).stat.singles.empty());
  EXPECT_EQ(reopened.search(request).stat.singles.front().id, good.id);
  const auto another = reopened.add(package({.seed = 4, .name = "another"}));
  EXPECT_EQ(another.status, LearnwareStatus::usable) << another.reason;
  EXPECT_TRUE(reopened.remove("00000002"));
  reopened.rebuild_packs();
  EXPECT_EQ(Market::open(dir).list().size(), 4u);
}

// A reason outlives the staging folder the check ran in: it names a file by
// its place in the package, never by the folder's path.
TEST_F(MarketTest, ReasonsNameFilesInThePackageNotTheStagingFolder) {
  Market market = Market::create(dir);
  struct Bad {
    std::string name;
    PackageParts parts;
    std::string names;  // the file the reason must name
  };
  const std::vector<Bad> bad = {
      {"spec", {.name = "bad_spec", .edit_spec = [](nlohmann::json& j) { j["gamma"] = 1e300; }}, "<package>/rkme.json"},
      // The interpreter is missing: the exec fails naming the script.
      {"model", {.name = "bad_model", .process_script = "echo 1\n", .process_interpreter = "/nonexistent/interpreter"},
       "<package>/predict.sh"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.name);
    PackageParts parts = b.parts;
    const auto r = market.add(package(parts));
    EXPECT_NE(r.status, LearnwareStatus::usable);
    EXPECT_NE(r.reason.find(b.names), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find("lwd-package-"), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find(dir.string()), std::string::npos) << r.reason;
  }
}

TEST_F(MarketTest, AnAbsurdSemanticDimensionIsInvalidNamingTheFileAndField) {
  Market market = Market::create(dir);
  const std::string semantic = lwd::testing_market::table_regression_semantic(3, "absurd").to_json_text();
  for (const std::string dim : {"1e30", "1e400", "18446744073709551615", "4000000000000000000", "200000"}) {
    SCOPED_TRACE(dim);
    std::string text = semantic;
    const auto at = text.find("\"Dimension\": 3");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("\"Dimension\": 3").size(), "\"Dimension\": " + dim);
    const auto r = market.add(package({.name = "absurd", .semantic_json = text}));
    EXPECT_EQ(r.status, LearnwareStatus::invalid);
    EXPECT_NE(r.reason.find("semantic.json"), std::string::npos) << r.reason;
    EXPECT_NE(r.reason.find(dim == "1e400" ? "1e400" : "Input.Dimension"), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find("json.exception"), std::string::npos) << r.reason;
  }
}

TEST_F(MarketTest, SpecsStoredUnderWiderLimitsAreLeftOutOfSearchAndRebuildMarksThemInvalid) {
  lwd::MarketLimits wide;
  wide.spec.max_abs_z = 1e200;
  const auto edit = [](nlohmann::json& j) {
    for (auto& row : j["z"])
      for (auto& v : row) v = v.get<double>() * 1e140;
  };
  std::string wide_id;
  {
    Market market = Market::create(dir, {}, wide);
    market.add(package({.name = "good"}));
    const auto r = market.add(package({.seed = 5, .name = "wide", .edit_spec = edit}));
    ASSERT_FALSE(market.get(r.id)->spec_keys.empty()) << r.reason;
    wide_id = r.id;
  }
  std::vector<std::string> warnings;
  lwd::set_warning_handler([&](std::string_view w) { warnings.emplace_back(w); });
  Market market = Market::open(dir);
  lwd::SearchRequest request;
  request.spec = lwd::load_stat_spec(packages / "good.parts" / "rkme.json");
  const auto response = market.search(request);
  lwd::set_warning_handler({});
  for (const auto& single : response.stat.singles) EXPECT_NE(single.id, wide_id);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("learnware " + wide_id), std::string::npos) << warnings[0];

  market.rebuild_packs();
  EXPECT_EQ(market.get(wide_id)->status, LearnwareStatus::invalid);
  EXPECT_NE(market.get(wide_id)->status_reason.find("|z| <= 1e+15"), std::string::npos);
  EXPECT_TRUE(market.get(wide_id)->spec_keys.empty());
}

TEST_F(MarketTest, AUserSpecBeyondTheLimitsIsRefusedBeforeTheSearch) {
  Market market = Market::create(dir);
  market.add(package({.name = "good"}));
  lwd::SearchRequest request;
  lwd::kernels::Matrix<double> z(10'001, 3);
  request.spec = lwd::stat_spec(lwd::RKMETableSpec(z, std::vector<double>(10'001, 1e-4), 0.1, 20'000));
  try {
    market.search(request);
    FAIL() << "searched";
  } catch (const lwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("K = 10001 points, more than the limit of 10000"), std::string::npos)
        << e.what();
  }
}

}  // namespace

namespace {

// Admission (Market::set_admission): the nearest usable learnwares of a new
// one, from the same search a user gets, and near duplicates refused.
struct AdmissionTest : MarketTest {
  std::vector<std::string> ids;
  Market open_with_three() {
    Market market = Market::create(dir);
    for (int i = 0; i < 3; ++i)
      ids.push_back(market.add(package({.centre = 3.0 * i, .seed = 10u + i, .name = "lw" + std::to_string(i)})).id);
    return market;
  }
  // The package's own spec as a user's query: what admission must agree with.
  std::vector<lwd::SingleMatch> search_with_spec_of(const Market& market, const std::filesystem::path& zip) {
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(zip.parent_path() / (zip.stem().string() + ".parts") / "rkme.json");
    request.options.single_min_score = -1e300;
    return market.search(request).stat.singles;
  }
};

TEST_F(AdmissionTest, TheNearestUsableLearnwaresAreReportedNearestFirstAsTheSearchRanksThem) {
  Market market = open_with_three();
  market.set_admission({.nearest = 2});
  const auto zip = package({.centre = 3.1, .seed = 77, .name = "new"});
  const auto expected = search_with_spec_of(market, zip);
  const auto r = market.add(zip);
  ASSERT_EQ(r.status, LearnwareStatus::usable) << r.reason;
  ASSERT_EQ(r.nearest.size(), 2u);
  EXPECT_EQ(r.nearest[0].id, ids[1]);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.nearest[i].id, expected[i].id);
    EXPECT_EQ(r.nearest[i].mmd2, expected[i].mmd2);
    EXPECT_TRUE(r.nearest[i].same_semantic);  // the fixture's tags; only names differ
  }
  EXPECT_LE(r.nearest[0].mmd2, r.nearest[1].mmd2);

  // Through the exact index the answer is the same.
  market.set_index_options({.kind = lwd::IndexKind::kExact, .min_members = 1});
  const auto again = market.add(package({.centre = 3.1, .seed = 77, .name = "new-again"}));
  ASSERT_EQ(again.nearest.size(), 2u);
  EXPECT_EQ(again.nearest[0].id, r.id);  // the one just added, same data
  EXPECT_EQ(again.nearest[1].id, ids[1]);

  // Off by default: no search, nothing reported.
  Market plain = Market::open(dir);
  EXPECT_TRUE(plain.add(package({.centre = 9.0, .seed = 5, .name = "plain"})).nearest.empty());
}

TEST_F(AdmissionTest, ANearDuplicateWithTheSameSemanticFieldsIsNotUsableAndOneWithOtherFieldsIsStored) {
  Market market = open_with_three();
  market.set_admission({.nearest = 3, .refuse_within_mmd2 = 1e-9});
  // The same data and tags as lw1 (its own package again): refused, naming lw1.
  const auto twin = market.add(package({.centre = 3.0, .seed = 11, .name = "twin"}));
  EXPECT_EQ(twin.status, LearnwareStatus::not_usable);
  EXPECT_NE(twin.reason.find("near duplicate of learnware " + ids[1]), std::string::npos) << twin.reason;
  ASSERT_FALSE(twin.nearest.empty());
  EXPECT_EQ(twin.nearest[0].id, ids[1]);
  EXPECT_LE(twin.nearest[0].mmd2, 1e-9);
  // Not usable: never found by a search.
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate({}, lwd::testing_market::blob(300, 3, 3.0, 11)));
  for (const auto& s : market.search(request).stat.singles) EXPECT_NE(s.id, twin.id);

  // The same data for another task is no duplicate.
  lwd::SemanticSpec other = lwd::testing_market::table_regression_semantic(3, "other task");
  other.tags["Scenario"] = {"Financial"};
  const auto cousin = market.add(package({.centre = 3.0, .seed = 11, .name = "cousin", .semantic_json = other.to_json_text()}));
  EXPECT_EQ(cousin.status, LearnwareStatus::usable) << cousin.reason;
  ASSERT_FALSE(cousin.nearest.empty());
  EXPECT_FALSE(cousin.nearest[0].same_semantic);

  // An update is compared with the others, never with itself.
  const auto updated = market.update(ids[1], package({.centre = 3.0, .seed = 11, .name = "lw1-again"}));
  EXPECT_EQ(updated.status, LearnwareStatus::usable) << updated.reason;
  for (const auto& n : updated.nearest) EXPECT_NE(n.id, ids[1]);
}

TEST_F(AdmissionTest, ImpossibleSettingsAreRefusedWithTheirReason) {
  Market market = Market::create(dir);
  EXPECT_THROW(market.set_admission({.nearest = -1}), lwd::Error);
  EXPECT_THROW(market.set_admission({.nearest = 0, .refuse_within_mmd2 = 0.1}), lwd::Error);
  EXPECT_THROW(market.set_admission({.nearest = 2, .refuse_within_mmd2 = -0.1}), lwd::Error);
  EXPECT_THROW(market.set_admission({.nearest = 2, .refuse_within_mmd2 = std::nan("")}), lwd::Error);
  EXPECT_NO_THROW(market.set_admission({.nearest = 2, .refuse_within_mmd2 = 0.0}));
}

}  // namespace
