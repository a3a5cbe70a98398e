// RKMETableSpec (engine/spec/rkme_table_spec.h): the reference package's JSON
// format, validation of every malformed input, and the operations on specs.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/spec/rkme_table_spec.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using kernels::Matrix;
using nlohmann::json;

fs::path test_data_dir() {
  if (const char* dir = std::getenv("LWD_TEST_DATA")) return dir;
  return fs::path(__FILE__).parent_path() / "data";
}

using TempDir = ::lwd::test::ScratchDir;

// A small valid spec in the reference's byte layout; tests corrupt one part.
const std::string kValid =
    R"({"z":[[0.5,-1.25],[1e-05,3.0],[-0.0,2.5]],"beta":[0.25,0.5,0.25],"gamma":0.1,"num_points":5,)"
    R"("cuda_idx":-1,"device":"cpu","type":"RKMETableSpecification"})";

json valid_json() { return json::parse(kValid); }

// The lwd::Error message of parsing `text` from source "spec.json", or "" if it loaded.
std::string load_error(const std::string& text) {
  try {
    RKMETableSpec::parse(text, "spec.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const json& j) { return load_error(j.dump()); }

#define EXPECT_MESSAGE_HAS(message, part) \
  EXPECT_NE((message).find(part), std::string::npos) << "message: " << (message) << "\nexpected to contain: " << (part)

Matrix<double> grid_data(std::int64_t n, std::int64_t d) {
  Matrix<double> x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      x(i, j) = std::sin(0.7 * static_cast<double>(i) + 1.3 * static_cast<double>(j)) * (1 + j);
  return x;
}

RKMETableSpec small_spec(std::int64_t k, std::int64_t d, double offset = 0.0) {
  Matrix<double> z(k, d);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < d; ++j) z(i, j) = offset + 0.3 * static_cast<double>(i) - 0.1 * static_cast<double>(j);
  std::vector<double> beta(static_cast<std::size_t>(k), 1.0 / static_cast<double>(k));
  return RKMETableSpec(std::move(z), std::move(beta), 0.1, 10 * k);
}

// ---- the reference format --------------------------------------------------

TEST(RKMETableSpecJson, LoadsTheReferenceFixture) {
  const RKMETableSpec spec = RKMETableSpec::load(test_data_dir() / "spec_reference_table.json");
  EXPECT_EQ(spec.size(), 3);
  EXPECT_EQ(spec.dim(), 2);
  EXPECT_EQ(spec.gamma(), 0.1);
  EXPECT_EQ(spec.num_points(), 5);
  EXPECT_EQ(spec.z()(1, 0), 1e-05);
  EXPECT_EQ(spec.z()(0, 1), -1.25);
  EXPECT_TRUE(std::signbit(spec.z()(2, 0)));
  EXPECT_EQ(spec.beta(), (std::vector<double>{0.25, 0.5, 0.25}));
}

TEST(RKMETableSpecJson, WritesExactlyTheReferenceFieldsInTheReferenceOrder) {
  const RKMETableSpec spec = RKMETableSpec::parse(kValid);
  const nlohmann::ordered_json out = nlohmann::ordered_json::parse(spec.to_json_text());
  std::vector<std::string> keys;
  for (const auto& item : out.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"z", "beta", "gamma", "num_points", "cuda_idx", "device", "type"}));
  EXPECT_EQ(out["cuda_idx"], -1);
  EXPECT_EQ(out["device"], "cpu");
  EXPECT_EQ(out["type"], "RKMETableSpecification");
  EXPECT_TRUE(out["num_points"].is_number_integer());
}

TEST(RKMETableSpecJson, WritesCompactJsonLikePythonsSeparators) {
  EXPECT_EQ(RKMETableSpec::parse(kValid).to_json_text(), kValid);
}

TEST(RKMETableSpecJson, RoundTripsEveryDoubleBitForBit) {
  const std::vector<double> awkward = {0.1,
                                       1.0 / 3.0,
                                       -2.5e-300,
                                       std::numeric_limits<double>::denorm_min(),
                                       std::numeric_limits<double>::max(),
                                       -0.0,
                                       std::nextafter(1.0, 2.0),
                                       123456789.123456789};
  const std::int64_t k = 4, d = 2;
  Matrix<double> z(k, d, awkward);
  std::vector<double> beta = {1.0 / 7.0, 2.0 / 7.0, 1e-17, 4.0 / 7.0};
  const double gamma = 0.1 / 3.0;
  const RKMETableSpec spec(z, beta, gamma, 123456789012LL);
  const RKMETableSpec back = RKMETableSpec::parse(spec.to_json_text());
  ASSERT_EQ(back.size(), k);
  ASSERT_EQ(back.dim(), d);
  for (std::size_t i = 0; i < awkward.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back.z().values()[i]), std::bit_cast<std::uint64_t>(awkward[i])) << i;
  for (std::size_t i = 0; i < beta.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back.beta()[i]), std::bit_cast<std::uint64_t>(beta[i])) << i;
  EXPECT_EQ(std::bit_cast<std::uint64_t>(back.gamma()), std::bit_cast<std::uint64_t>(gamma));
  EXPECT_EQ(back.num_points(), 123456789012LL);
}

TEST(RKMETableSpecJson, SaveAndLoadRoundTrip) {
  TempDir dir;
  const RKMETableSpec spec = small_spec(5, 3);
  spec.save(dir / "spec.json");
  const RKMETableSpec back = RKMETableSpec::load(dir / "spec.json");
  EXPECT_EQ(back.z(), spec.z());
  EXPECT_EQ(back.beta(), spec.beta());
  EXPECT_EQ(back.to_json_text(), spec.to_json_text());
}

TEST(RKMETableSpecJson, ToJsonMatchesToJsonText) {
  const RKMETableSpec spec = small_spec(3, 2);
  json j;
  spec.to_json(j);
  EXPECT_EQ(j, json::parse(spec.to_json_text()));
  EXPECT_EQ(RKMETableSpec::from_json(j).z(), spec.z());
}

TEST(RKMETableSpecJson, AcceptsTheLegacyTypeAlias) {
  json j = valid_json();
  j["type"] = "RKMEStatSpecification";
  EXPECT_EQ(load_error(j), "");
}

TEST(RKMETableSpecJson, IgnoresDeviceFieldsAndUnknownFields) {
  json j = valid_json();
  j.erase("cuda_idx");
  j.erase("device");
  j["extra"] = {1, 2};
  EXPECT_EQ(load_error(j), "");
}

TEST(RKMETableSpecJson, AcceptsIntegersInNumericFieldsAndIntegralFloatNumPoints) {
  json j = valid_json();
  j["z"] = {{1, 2}, {3, 4}, {5, 6}};
  j["gamma"] = 1;
  j["num_points"] = 5.0;
  const RKMETableSpec spec = RKMETableSpec::parse(j.dump());
  EXPECT_EQ(spec.z()(2, 1), 6.0);
  EXPECT_EQ(spec.gamma(), 1.0);
  EXPECT_EQ(spec.num_points(), 5);
}

// ---- malformed input: each names the source and the problem ----------------

class MissingField : public ::testing::TestWithParam<const char*> {};

TEST_P(MissingField, IsAnErrorNamingTheField) {
  json j = valid_json();
  j.erase(GetParam());
  const std::string msg = load_error(j);
  EXPECT_MESSAGE_HAS(msg, "spec.json: ");
  EXPECT_MESSAGE_HAS(msg, std::string("missing field \"") + GetParam() + "\"");
}

INSTANTIATE_TEST_SUITE_P(RKMETableSpecJson, MissingField,
                         ::testing::Values("type", "gamma", "num_points", "z", "beta"));

TEST(RKMETableSpecJson, WrongTypeNameIsAnError) {
  json j = valid_json();
  j["type"] = "RKMEImageSpecification";
  const std::string msg = load_error(j);
  EXPECT_MESSAGE_HAS(msg, "spec.json: field \"type\" is \"RKMEImageSpecification\"");
  EXPECT_MESSAGE_HAS(msg, "expected \"RKMETableSpecification\"");
}

TEST(RKMETableSpecJson, NonStringTypeIsAnError) {
  json j = valid_json();
  j["type"] = 3;
  EXPECT_MESSAGE_HAS(load_error(j), "field \"type\" must be a string, got number");
}

TEST(RKMETableSpecJson, NonNumericGammaIsAnError) {
  json j = valid_json();
  j["gamma"] = "0.1";
  EXPECT_MESSAGE_HAS(load_error(j), "field \"gamma\" must be a number, got string");
}

TEST(RKMETableSpecJson, ZeroOrNegativeGammaIsAnError) {
  for (double gamma : {0.0, -0.1}) {
    json j = valid_json();
    j["gamma"] = gamma;
    EXPECT_MESSAGE_HAS(load_error(j), "field \"gamma\" must be a finite number > 0");
  }
}

TEST(RKMETableSpecJson, ZeroOrNegativeNumPointsIsAnError) {
  for (int n : {0, -3}) {
    json j = valid_json();
    j["num_points"] = n;
    EXPECT_MESSAGE_HAS(load_error(j), "field \"num_points\" must be an integer >= 1");
  }
}

TEST(RKMETableSpecJson, FractionalNumPointsIsAnError) {
  json j = valid_json();
  j["num_points"] = 2.5;
  EXPECT_MESSAGE_HAS(load_error(j), "field \"num_points\" must be an integer >= 1 (got 2.5)");
}

TEST(RKMETableSpecJson, NonNumericNumPointsIsAnError) {
  json j = valid_json();
  j["num_points"] = true;
  EXPECT_MESSAGE_HAS(load_error(j), "field \"num_points\" must be an integer >= 1, got boolean");
}

TEST(RKMETableSpecJson, ZThatIsNotAnArrayIsAnError) {
  json j = valid_json();
  j["z"] = {{"a", 1}};
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\" must be an array of rows, got object");
}

TEST(RKMETableSpecJson, EmptyZIsAnError) {
  json j = valid_json();
  j["z"] = json::array();
  j["beta"] = json::array();
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\" is empty");
}

TEST(RKMETableSpecJson, ZRowThatIsNotAnArrayIsAnError) {
  json j = valid_json();
  j["z"] = {0.5, 1.0, 2.0};
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\": z[0] must be an array of numbers, got number");
}

TEST(RKMETableSpecJson, EmptyZRowIsAnError) {
  json j = valid_json();
  j["z"] = {json::array(), json::array(), json::array()};
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\": z[0] is empty");
}

TEST(RKMETableSpecJson, RaggedZIsAnError) {
  json j = valid_json();
  j["z"][2] = {1.0, 2.0, 3.0};
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\" has ragged rows: z[2] has 3 entries but z[0] has 2");
}

TEST(RKMETableSpecJson, NonNumericZEntryIsAnError) {
  json j = valid_json();
  j["z"][1][1] = "3.0";
  EXPECT_MESSAGE_HAS(load_error(j), "field \"z\": z[1][1] must be a number, got string");
}

TEST(RKMETableSpecJson, NullZEntryIsAnError) {
  json j = valid_json();
  j["z"][1][0] = nullptr;
  EXPECT_MESSAGE_HAS(load_error(j), "z[1][0] must be a number, got null");
}

TEST(RKMETableSpecJson, ImageShapedZIsAnError) {
  json j = valid_json();
  j["z"] = json::parse("[[[[0.1]]],[[[0.2]]],[[[0.3]]]]");
  EXPECT_MESSAGE_HAS(load_error(j), "z[0][0] must be a number, got array");
}

TEST(RKMETableSpecJson, BetaThatIsNotAnArrayIsAnError) {
  json j = valid_json();
  j["beta"] = 1.0;
  EXPECT_MESSAGE_HAS(load_error(j), "field \"beta\" must be an array of numbers, got number");
}

TEST(RKMETableSpecJson, NonNumericBetaEntryIsAnError) {
  json j = valid_json();
  j["beta"][2] = json::array();
  EXPECT_MESSAGE_HAS(load_error(j), "field \"beta\": beta[2] must be a number, got array");
}

TEST(RKMETableSpecJson, BetaLengthMismatchIsAnError) {
  json j = valid_json();
  j["beta"].push_back(0.0);
  EXPECT_MESSAGE_HAS(load_error(j), "spec.json: field \"beta\" has 4 entries but \"z\" has 3 rows");
}

TEST(RKMETableSpecJson, PythonNaNTokenIsReportedAsNonFinite) {
  std::string text = kValid;
  text.replace(text.find("0.5,0.25"), 3, "NaN");
  const std::string msg = load_error(text);
  EXPECT_MESSAGE_HAS(msg, "spec.json: non-finite number (NaN/Infinity) NaN in field \"beta\" at line 1");
}

TEST(RKMETableSpecJson, PythonInfinityTokensAreReportedAsNonFinite) {
  std::string text = kValid;
  text.replace(text.find("-1.25"), 5, "-Infinity");
  const std::string msg = load_error(text);
  EXPECT_MESSAGE_HAS(msg, "non-finite number (NaN/Infinity) -Infinity in field \"z\"");

  text = kValid;
  text.replace(text.find("0.1,"), 3, "Infinity");
  EXPECT_MESSAGE_HAS(load_error(text), "Infinity in field \"gamma\"");
}

TEST(RKMETableSpecJson, PythonNaNFixtureFileNamesThePath) {
  try {
    RKMETableSpec::load(test_data_dir() / "spec_python_nan.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_MESSAGE_HAS(msg, "spec_python_nan.json: non-finite number (NaN/Infinity)");
  }
}

TEST(RKMETableSpecJson, NaNInsideAStringIsNotMistakenForANumber) {
  std::string text = kValid;
  text.replace(text.find("\"cpu\""), 5, "\"NaN\"");
  EXPECT_EQ(load_error(text), "");
}

TEST(RKMETableSpecJson, OverflowingLiteralIsRejectedAsNonFinite) {
  std::string text = kValid;
  text.replace(text.find("3.0"), 3, "1e999");
  EXPECT_MESSAGE_HAS(load_error(text), "spec.json: non-finite number (overflows a double) 1e999 in field \"z\"");

  text = kValid;
  text.replace(text.find("0.1,"), 3, "-1e999");
  EXPECT_MESSAGE_HAS(load_error(text), "-1e999 in field \"gamma\"");
}

TEST(RKMETableSpecJson, InfinityInAJsonValueIsRejectedAsNonFinite) {
  json j = valid_json();
  j["z"][1][1] = std::numeric_limits<double>::infinity();
  try {
    RKMETableSpec::from_json(j, "spec.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_MESSAGE_HAS(std::string(e.what()), "field \"z\": z[1][1] is a non-finite number (inf)");
  }
}

TEST(RKMETableSpecJson, TopLevelArrayIsAnError) {
  EXPECT_MESSAGE_HAS(load_error("[" + kValid + "]"), "spec.json: expected a JSON object, got array");
}

TEST(RKMETableSpecJson, TruncatedJsonIsAnError) {
  const std::string msg = load_error(kValid.substr(0, kValid.size() / 2));
  EXPECT_MESSAGE_HAS(msg, "spec.json: invalid JSON: parse error at line 1");
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
}

TEST(RKMETableSpecJson, EmptyTextIsAnError) {
  EXPECT_MESSAGE_HAS(load_error(std::string()), "spec.json: invalid JSON");
}

TEST(RKMETableSpecJson, MissingFileIsAnErrorNamingThePath) {
  TempDir dir;
  try {
    RKMETableSpec::load(dir / "absent.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_MESSAGE_HAS(std::string(e.what()), "absent.json");
  }
}

TEST(RKMETableSpecJson, SavingIntoAMissingDirectoryWritesNothing) {
  TempDir dir;
  EXPECT_THROW(small_spec(2, 2).save(dir / "missing" / "spec.json"), Error);
  EXPECT_FALSE(fs::exists(dir / "missing"));
}

TEST(RKMETableSpecJson, SerialisingAnEmptySpecIsAnError) { EXPECT_THROW(RKMETableSpec().to_json_text(), Error); }

// ---- construction ----------------------------------------------------------

TEST(RKMETableSpec, ConstructorValidatesItsParts) {
  EXPECT_THROW(RKMETableSpec(Matrix<double>(2, 2), {0.5}, 0.1, 3), Error);  // beta length
  EXPECT_THROW(RKMETableSpec(Matrix<double>(0, 2), {}, 0.1, 3), Error);     // empty
  EXPECT_THROW(RKMETableSpec(Matrix<double>(1, 2), {1.0}, 0.0, 3), Error);  // gamma
  EXPECT_THROW(RKMETableSpec(Matrix<double>(1, 2), {1.0}, 0.1, 0), Error);  // num_points
  EXPECT_THROW(RKMETableSpec(Matrix<double>(1, 2, std::numeric_limits<double>::quiet_NaN()), {1.0}, 0.1, 3), Error);
  EXPECT_THROW(RKMETableSpec(Matrix<double>(1, 2), {std::numeric_limits<double>::infinity()}, 0.1, 3), Error);
}

// ---- operations ------------------------------------------------------------

TEST(RKMETableSpec, DistanceToItselfIsZero) {
  const RKMETableSpec a = small_spec(6, 3);
  EXPECT_NEAR(a.dist(a), 0.0, 1e-12);
}

TEST(RKMETableSpec, DistanceIsSymmetricAndPositiveForDifferentSpecs) {
  const RKMETableSpec a = small_spec(6, 3);
  const RKMETableSpec b = small_spec(4, 3, 0.7);
  EXPECT_GT(a.dist(b), 0.0);
  EXPECT_NEAR(a.dist(b), b.dist(a), 1e-12);
}

TEST(RKMETableSpec, DistanceIsTheMmdOfTheInnerProducts) {
  const RKMETableSpec a = small_spec(6, 3);
  const RKMETableSpec b = small_spec(4, 3, 0.7);
  EXPECT_NEAR(a.dist(b), a.inner_product(a) - 2 * a.inner_product(b) + b.inner_product(b), 1e-12);
}

TEST(RKMETableSpec, InnerProductOfASinglePointWithItselfIsOne) {
  const RKMETableSpec a(Matrix<double>(1, 2, std::vector<double>{0.3, -0.4}), {1.0}, 0.1, 1);
  EXPECT_NEAR(a.inner_product(a), 1.0, 1e-12);
}

TEST(RKMETableSpec, DifferentWidthsAreAnError) {
  const RKMETableSpec a = small_spec(3, 2);
  const RKMETableSpec b = small_spec(3, 4);
  try {
    a.dist(b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_MESSAGE_HAS(std::string(e.what()), "different widths (d=2 vs d=4)");
  }
  EXPECT_THROW(a.inner_product(b), Error);
}

TEST(RKMETableSpec, GenerateGivesKRowsAndBetaSummingToOne) {
  kernels::RkmeOptions options;
  options.k = 10;
  const RKMETableSpec spec = RKMETableSpec::generate(kernels::Context{}, grid_data(200, 3), options);
  EXPECT_EQ(spec.size(), 10);
  EXPECT_EQ(spec.dim(), 3);
  EXPECT_EQ(spec.num_points(), 200);
  EXPECT_EQ(spec.gamma(), 0.1);
  EXPECT_NEAR(std::accumulate(spec.beta().begin(), spec.beta().end(), 0.0), 1.0, 1e-6);
}

TEST(RKMETableSpec, GenerateShrinksKForSmallData) {
  kernels::RkmeOptions options;
  options.k = 100;
  const RKMETableSpec spec = RKMETableSpec::generate(kernels::Context{}, grid_data(30, 2), options);
  EXPECT_EQ(spec.size(), 20);  // floor(2 * 30 / 3)
}

TEST(RKMETableSpec, GenerateWithoutReductionKeepsEveryRow) {
  kernels::RkmeOptions options;
  options.reduce = false;
  const Matrix<double> x = grid_data(25, 2);
  const RKMETableSpec spec = RKMETableSpec::generate(kernels::Context{}, x, options);
  EXPECT_EQ(spec.z(), x);
  for (double b : spec.beta()) EXPECT_DOUBLE_EQ(b, 1.0 / 25.0);
}

TEST(RKMETableSpec, GenerateImputesNonFiniteValues) {
  Matrix<double> x = grid_data(60, 3);
  x(3, 1) = std::numeric_limits<double>::quiet_NaN();
  x(7, 2) = std::numeric_limits<double>::infinity();
  kernels::RkmeOptions options;
  options.k = 5;
  const RKMETableSpec spec = RKMETableSpec::generate(kernels::Context{}, x, options);
  for (double v : spec.z().values()) EXPECT_TRUE(std::isfinite(v));
}

TEST(RKMETableSpec, GenerateRejectsAnAllNonFiniteColumnAsEngineError) {
  Matrix<double> x = grid_data(10, 2);
  for (std::int64_t i = 0; i < x.rows(); ++i) x(i, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(RKMETableSpec::generate(kernels::Context{}, x), Error);
}

TEST(RKMETableSpec, GenerateRejectsInvalidOptions) {
  kernels::RkmeOptions bad_k;
  bad_k.k = 0;
  EXPECT_THROW(RKMETableSpec::generate(kernels::Context{}, grid_data(10, 2), bad_k), Error);
  kernels::RkmeOptions bad_gamma;
  bad_gamma.gamma = -1;
  EXPECT_THROW(RKMETableSpec::generate(kernels::Context{}, grid_data(10, 2), bad_gamma), Error);
  EXPECT_THROW(RKMETableSpec::generate(kernels::Context{}, Matrix<double>(0, 2)), Error);
}

TEST(RKMETableSpec, GenerateIsDeterministicForASeed) {
  kernels::Context ctx;
  ctx.seed = 42;
  kernels::RkmeOptions options;
  options.k = 8;
  const RKMETableSpec a = RKMETableSpec::generate(ctx, grid_data(100, 3), options);
  const RKMETableSpec b = RKMETableSpec::generate(ctx, grid_data(100, 3), options);
  EXPECT_EQ(a.to_json_text(), b.to_json_text());
}

TEST(RKMETableSpec, GeneratedSpecIsCloserToItsOwnDataThanToShiftedData) {
  kernels::RkmeOptions options;
  options.k = 10;
  const kernels::Context ctx;
  Matrix<double> shifted = grid_data(200, 3);
  for (double& v : shifted.values()) v += 2.0;
  const RKMETableSpec a = RKMETableSpec::generate(ctx, grid_data(200, 3), options);
  options.reduce = false;
  const RKMETableSpec full = RKMETableSpec::generate(ctx, grid_data(200, 3), options);
  const RKMETableSpec far = RKMETableSpec::generate(ctx, shifted, options);
  EXPECT_LT(a.dist(full), a.dist(far));
}

TEST(RKMETableSpec, HerdingGivesNPointsOfTheSpecsWidth) {
  const RKMETableSpec spec = small_spec(5, 3);
  kernels::Context ctx;
  ctx.seed = 3;
  const Matrix<double> samples = spec.herding(7, ctx);
  EXPECT_EQ(samples.rows(), 7);
  EXPECT_EQ(samples.cols(), 3);
  for (double v : samples.values()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(spec.herding(7, ctx), samples);
}

TEST(RKMETableSpec, HerdingZeroPointsIsAnError) { EXPECT_THROW(small_spec(2, 2).herding(0), Error); }

}  // namespace
}  // namespace lwd
