// Base64 of bytes and of little-endian numbers (engine/io/base64.h): the
// RFC 4648 vectors, exact round trips of awkward lengths and of every kind of
// double, and refusals that name what was read.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/base64.h"

namespace lwd::io {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

TEST(Base64, EncodesTheRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(bytes_of(plain)), coded);
    EXPECT_EQ(base64_decode(coded, "vector"), bytes_of(plain));
  }
}

TEST(Base64, RoundTripsEveryLengthAndEveryByte) {
  for (std::size_t n = 0; n < 67; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>((i * 97 + n * 31) & 0xff);
    EXPECT_EQ(base64_decode(base64_encode(bytes), "bytes"), bytes) << n;
  }
}

TEST(Base64, NumbersComeBackBitForBit) {
  const std::vector<double> doubles = {0.0, -0.0, 1.0 / 3.0, -2.5e-310, std::numeric_limits<double>::max(),
                                       std::numeric_limits<double>::denorm_min(), 0.1, -7.0};
  const std::vector<double> back = doubles_of_base64(base64_of_doubles(doubles), "doubles");
  ASSERT_EQ(back.size(), doubles.size());
  for (std::size_t i = 0; i < doubles.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back[i]), std::bit_cast<std::uint64_t>(doubles[i])) << i;
  const std::vector<float> floats = {0.0f, -0.0f, 1.0f / 3.0f, 1e-40f, -3.5f, std::numeric_limits<float>::max(), 2.0f};
  const std::vector<float> fback = floats_of_base64(base64_of_floats(floats), "floats");
  ASSERT_EQ(fback.size(), floats.size());
  for (std::size_t i = 0; i < floats.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint32_t>(fback[i]), std::bit_cast<std::uint32_t>(floats[i])) << i;
  EXPECT_TRUE(doubles_of_base64("", "none").empty());
}

TEST(Base64, RefusesWhatIsNotBase64NamingTheField) {
  for (const char* bad : {"Zg=", "Zm9", "Zm$v", "Z===", "Zg==Zg==", "=m9v", "Zm 9v"}) {
    try {
      base64_decode(bad, "field \"z\"");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("field \"z\""), std::string::npos) << e.what();
    }
  }
  // Five bytes are not whole doubles, nor whole floats.
  const std::string five = base64_encode(bytes_of("abcde"));
  EXPECT_THROW(doubles_of_base64(five, "beta"), Error);
  EXPECT_THROW(floats_of_base64(five, "z"), Error);
}

}  // namespace
}  // namespace lwd::io
