// What a market accepts of a spec (SpecLimits), checked through the kind
// registry: the experiment market's specs pass, each limit refuses what lies
// beyond it with one short line naming the file and the field, and hostile
// files -- oversized, deeply nested, megabyte tokens, non-finite or huge
// numbers -- are refused without crashing, hanging, quoting megabytes back or
// spending hundreds of megabytes.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/kinds/image_kind.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/kinds/table_kind.h"
#include "engine/kinds/text_kind.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/text/rkme_text_spec.h"
#include "kernels/random.h"
#include "tests/support/scratch_dir.h"

namespace {

using lwd::Error;
using lwd::RKMETableSpec;
using lwd::SpecLimits;
using lwd::StatSpec;

RKMETableSpec table(std::int64_t k, std::int64_t d, double scale = 1.0, double gamma = 0.1) {
  lwd::kernels::Matrix<double> z(k, d);
  lwd::kernels::Rng rng(7);
  for (double& v : z.values()) v = scale * rng.normal();
  return RKMETableSpec(std::move(z), std::vector<double>(static_cast<std::size_t>(k), 1.0 / k), gamma, 1000);
}

lwd::RKMETextSpec text(std::int64_t k, std::int64_t d, std::string encoder = "sif") {
  return lwd::RKMETextSpec(table(k, d), {"en"}, lwd::text::TextEncoderId{std::move(encoder), d, "0123456789abcdef"});
}

lwd::RKMEImageSpec image(std::int64_t k, std::int64_t c, double scale) {
  std::vector<float> z(static_cast<std::size_t>(k * c * 32 * 32));
  lwd::kernels::Rng rng(3);
  for (float& v : z) v = static_cast<float>(scale * rng.normal());
  return lwd::RKMEImageSpec(std::move(z), {k, c, 32, 32}, std::vector<double>(static_cast<std::size_t>(k), 1.0 / k), 8);
}

std::optional<std::string> violation(const StatSpec& spec, const SpecLimits& limits = {}) {
  return spec.kind().limit_violation(spec, limits);
}

// One line, short, naming `file`: what every refusal must look like.
void expect_short_line(const std::string& message, const std::string& file) {
  EXPECT_EQ(message.find('\n'), std::string::npos) << message.substr(0, 300);
  EXPECT_LT(message.size(), 400u) << message.substr(0, 300);
  EXPECT_NE(message.find(file), std::string::npos) << message.substr(0, 300);
}

TEST(SpecLimits, TheDefaultsAcceptEveryLearnwareOfTheExperimentMarket) {
  // Tables: K=100, up to ~40 columns of raw data; text: K=100 of width 100;
  // images: K=50 of 1 or 3 x 32 x 32 whitened pixels (values up to ~100).
  EXPECT_EQ(violation(lwd::stat_spec(table(100, 40, 1e4))), std::nullopt);
  EXPECT_EQ(violation(lwd::stat_spec(text(100, 100))), std::nullopt);
  EXPECT_EQ(violation(lwd::stat_spec(image(50, 1, 30.0))), std::nullopt);
  EXPECT_EQ(violation(lwd::stat_spec(image(50, 3, 30.0))), std::nullopt);
  // The reference's text encoder id names a pack the store can hold.
  EXPECT_EQ(violation(lwd::stat_spec(text(10, 384, std::string(lwd::RKMETextSpec::kReferenceEncoderName)))),
            std::nullopt);
}

TEST(SpecLimits, EachLimitRefusesWhatLiesBeyondItNamingTheField) {
  struct Case {
    std::string name;
    StatSpec spec;
    std::string says;
  };
  auto with_z = [](double v) {
    RKMETableSpec s = table(5, 3);
    auto z = s.z();
    z(2, 1) = v;
    return lwd::stat_spec(RKMETableSpec(z, s.beta(), s.gamma(), s.num_points()));
  };
  auto with_beta = [](double v) {
    RKMETableSpec s = table(5, 3);
    auto beta = s.beta();
    beta[4] = v;
    return lwd::stat_spec(RKMETableSpec(s.z(), beta, s.gamma(), s.num_points()));
  };
  const std::vector<Case> cases = {
      {"z 1e200", with_z(1e200), "z[2][1] = 1e+200"},
      {"z -1e16", with_z(-1e16), "|z| <= 1e+15"},
      {"beta 1e300", with_beta(1e300), "beta[4] = 1e+300"},
      {"beta -1e7", with_beta(-1e7), "|beta| <= 1e+06"},
      {"gamma 1e300", lwd::stat_spec(table(5, 3, 1.0, 1e300)), "\"gamma\" = 1e+300"},
      {"gamma 1e-300", lwd::stat_spec(table(5, 3, 1.0, 1e-300)), "\"gamma\" = 1e-300"},
      {"K 10001", lwd::stat_spec(table(10'001, 1)), "K = 10001"},
      {"d 100001", lwd::stat_spec(table(1, 100'001)), "width 100001"},
      {"K x d", lwd::stat_spec(table(2'000, 600)), "1200000 numbers"},
      {"text K", lwd::stat_spec(text(10'001, 1)), "K = 10001"},
      {"text encoder", lwd::stat_spec(text(3, 2, std::string(300, 'x'))), "field \"encoder\""},
      {"image K", lwd::stat_spec(image(501, 1, 1.0)), "K = 501 images"},
      {"image z", lwd::stat_spec(image(2, 1, 1e16)), "|z| <= 1e+15"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto why = violation(c.spec);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find(c.says), std::string::npos) << *why;
    EXPECT_LT(why->size(), 200u) << *why;
  }
  // The limits are settings: widening one lets the spec through.
  SpecLimits wide;
  wide.max_points = 20'000;
  EXPECT_EQ(violation(lwd::stat_spec(table(10'001, 1)), wide), std::nullopt);
}

// A file of `size` bytes made of `head`, then `fill` repeated, then `tail`.
std::string repeated(const std::string& head, const std::string& fill, std::size_t size, const std::string& tail) {
  std::string out = head;
  while (out.size() + fill.size() + tail.size() <= size) out += fill;
  return out + tail;
}

std::string table_json(const std::string& z, const std::string& beta, const std::string& gamma) {
  return R"({"type":"RKMETableSpecification","gamma":)" + gamma + R"(,"num_points":10,"z":)" + z + R"(,"beta":)" +
         beta + "}";
}

// Every hostile spec file is refused with one short line naming the file.
// Returns how many were tried.
int try_hostile_spec_files(const std::function<void(const std::string&, const std::string&)>& check) {
  const std::string mb(1 << 20, 'a');
  const std::vector<std::pair<std::string, std::string>> files = {
      {"huge z", table_json("[[1e200,1,1],[1,1,1]]", "[0.5,0.5]", "0.1")},
      {"huge beta", table_json("[[1,1,1],[1,1,1]]", "[1e300,1e300]", "0.1")},
      {"huge gamma", table_json("[[1,1,1],[1,1,1]]", "[0.5,0.5]", "1e300")},
      {"tiny gamma", table_json("[[1,1,1],[1,1,1]]", "[0.5,0.5]", "1e-300")},
      {"zero gamma", table_json("[[1,1,1]]", "[1]", "0")},
      {"negative gamma", table_json("[[1,1,1]]", "[1]", "-1")},
      {"NaN", table_json("[[NaN,1,1]]", "[1]", "0.1")},
      {"Infinity", table_json("[[1,1,1]]", "[Infinity]", "0.1")},
      {"overflowing literal", table_json("[[1e999,1,1]]", "[1]", "0.1")},
      {"megabyte number", table_json("[[1" + std::string(1 << 20, '0') + ",1]]", "[1]", "0.1")},
      {"megabyte type", R"({"type":")" + mb + R"(","z":[[1]],"beta":[1],"gamma":0.1,"num_points":1})"},
      {"megabyte unterminated string", R"({"type":")" + mb},
      {"megabyte key", R"({")" + mb + R"(":1})"},
      {"megabyte bare token", "{\"type\": " + mb + "}"},
      {"deep nesting", repeated("", "[", 10u << 20, "")},
      {"deep objects", repeated("", "{\"a\":", 1u << 20, "")},
      {"ten megabytes of ones", repeated(R"({"type":"RKMETableSpecification","z":[[)", "1,", 10u << 20, "1]]}")},
      {"K 70000", table_json(repeated("[", "[0.5],", 70'000 * 6, "[0.5]]"), repeated("[", "1,", 70'000 * 2, "1]"), "0.1")},
      {"invalid UTF-8", "{\"type\":\"\xff\xfe\",\"z\":[[1]]}"},
      {"NUL bytes", std::string("{\"type\":\"RKME\0\0\0\"}", 20)},
      {"empty", ""},
      {"array", "[]"},
      {"object", "{}"},
      {"unknown type", R"({"type":")" + std::string(5000, 'T') + R"("})"},
      {"ragged z", table_json("[[1,1],[1]]", "[0.5,0.5]", "0.1")},
      {"beta too short", table_json("[[1],[1]]", "[1]", "0.1")},
      {"text long language",
       R"({"type":"RKMETextSpecification","language":[")" + mb + R"("],"z":[[1]],"beta":[1],"gamma":0.1,"num_points":1})"},
      {"text long encoder",
       R"({"type":"RKMETextSpecification","language":["en"],"encoder":{"name":")" + mb +
           R"(","dim":1,"fingerprint":"x"},"z":[[1]],"beta":[1],"gamma":0.1,"num_points":1})"},
      {"image beta", R"({"type":"RKMEImageSpecification","z":[[[[1,1],[1,1]]]],"beta":[1e300]})"},
      {"image float overflow", R"({"type":"RKMEImageSpecification","z":[[[[1e39]]]],"beta":[1]})"},
      {"image many models", R"({"type":"RKMEImageSpecification","z":[[[[1,1],[1,1]]]],"beta":[1],"n_models":1e300})"},
  };
  for (const auto& [name, content] : files) check(name, content);
  return static_cast<int>(files.size());
}

TEST(SpecLimits, HostileSpecFilesAreRefusedWithOneShortLineNamingTheFile) {
  lwd::test::ScratchDir tmp;
  const int tried = try_hostile_spec_files([&](const std::string& name, const std::string& content) {
    SCOPED_TRACE(name);
    const auto file = tmp.write("hostile.json", content);
    try {
      lwd::load_stat_spec(file, SpecLimits{});
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      expect_short_line(e.what(), file.string());
    }
  });
  std::printf("hostile spec files tried: %d\n", tried);
  EXPECT_GE(tried, 30);
}

TEST(SpecLimits, AFileOverTheSizeLimitIsRefusedBeforeItIsRead) {
  lwd::test::ScratchDir tmp;
  const auto file = tmp.write("big.json", table_json("[[1]]", "[1]", "0.1") + std::string(2000, ' '));
  SpecLimits limits;
  limits.max_spec_file_bytes = 1000;
  try {
    lwd::load_stat_spec(file, limits);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the limit of 1000 bytes"), std::string::npos) << e.what();
    expect_short_line(e.what(), file.string());
  }
  // Its kind's reader refuses it likewise.
  EXPECT_THROW(lwd::load_stat_spec(file, lwd::table_spec_kind(), limits), Error);
}

TEST(SpecLimits, AUserSpecWithSeventyThousandPointsIsRefusedOnItsK) {
  lwd::test::ScratchDir tmp;
  const auto file = tmp.write("user.json", table_json(repeated("[", "[0.5],", 70'000 * 6, "[0.5]]"),
                                                      repeated("[", "1,", 70'000 * 2, "1]"), "0.1"));
  try {
    lwd::load_stat_spec(file, SpecLimits{});
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("K = 6999"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("points, more than the limit of 10000"), std::string::npos)
        << e.what();
  }
}

// Peak memory of parsing `content` from a file, measured in a child process so
// nothing else this suite did counts (getrusage's maximum resident size).
long peak_kib_parsing(const std::filesystem::path& file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      lwd::load_stat_spec(file, SpecLimits{});
    } catch (const Error&) {
    }
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    // The exit status carries the peak in units of 4 MiB (max 255 -> 1 GiB).
    ::_exit(static_cast<int>(std::min<long>(255, usage.ru_maxrss / 4096)));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) * 4096L : -1;
}

TEST(SpecLimits, TenMegabytesOfMalformedSpecCostBoundedMemory) {
  lwd::test::ScratchDir tmp;
  const std::vector<std::pair<std::string, std::string>> files = {
      {"deep.json", repeated("", "[", 10u << 20, "")},
      {"ones.json", repeated(R"({"type":"RKMETableSpecification","z":[[)", "1,", 10u << 20, "x")},
      {"rows.json", repeated(R"({"type":"RKMETableSpecification","z":[)", "[1],", 10u << 20, "x")},
  };
  const long baseline = peak_kib_parsing(tmp.write("tiny.json", "{}"));
  ASSERT_GT(baseline, 0);
  for (const auto& [name, content] : files) {
    SCOPED_TRACE(name);
    const long peak = peak_kib_parsing(tmp.write(name, content));
    ASSERT_GT(peak, 0);
    // The text itself (10 MiB) plus a DOM bounded by the limits; without the
    // bounds these cost from 300 MiB to over 1 GiB.
    EXPECT_LT(peak - baseline, 160L * 1024) << "peak grew by " << (peak - baseline) / 1024 << " MiB";
  }
}

// Semantic specs: every hostile one refused with one short line naming the
// file and the field. Returns how many were tried.
TEST(SpecLimits, HostileSemanticSpecsAreRefusedWithOneShortLineNamingTheFileAndField) {
  const std::string mb(1 << 20, 'b');
  auto with_dimension = [](const std::string& dim) {
    return R"({"Data":{"Values":["Table"],"Type":"Class"},"Input":{"Dimension":)" + dim + R"(,"Description":{}}})";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with_dimension("1e30"), "Input.Dimension"},
      {with_dimension("-1e30"), "Input.Dimension"},
      {with_dimension("1e400"), "1e400"},
      {with_dimension("18446744073709551615"), "Input.Dimension"},
      {with_dimension("9007199254740993"), "Input.Dimension"},
      {with_dimension("0"), "Input.Dimension"},
      {with_dimension("2.5"), "Input.Dimension"},
      {with_dimension("\"3\""), "Input.Dimension"},
      {with_dimension("NaN"), "invalid JSON"},
      {R"({"Input":{"Dimension":3,"Description":{")" + mb + R"(":"x"}}})", "Input.Description"},
      {R"({"Data":{"Values":[")" + mb, "invalid JSON"},
      {repeated("", "[", 1u << 20, ""), "nested more than"},
      {R"({"Data":{"Values":"Table","Type":")" + mb + R"("}})", "Data.Type"},
  };
  int tried = 0;
  for (const auto& [content, field] : cases) {
    SCOPED_TRACE(content.substr(0, 80));
    ++tried;
    try {
      lwd::SemanticSpec::parse(content, "semantic.json", SpecLimits{}.semantic_json());
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      expect_short_line(e.what(), "semantic.json");
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  }
  std::printf("hostile semantic specs tried: %d\n", tried);
}

}  // namespace
