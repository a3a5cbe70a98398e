#include "engine/io/base64.h"

#include <openssl/evp.h>

#include <array>
#include <bit>
#include <cstring>

#include "engine/error.h"

namespace lwd::io {

static_assert(std::endian::native == std::endian::little, "market.h5 keeps numbers little-endian");

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  // EVP_EncodeBlock writes a terminating NUL after the 4n characters.
  std::vector<unsigned char> buffer(out.size() + 1);
  const int n = EVP_EncodeBlock(buffer.data(), bytes.data(), static_cast<int>(bytes.size()));
  out.assign(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(n));
  return out;
}

namespace {

// The value of each alphabet character, 64 for padding, 0xff for the rest.
constexpr std::array<std::uint8_t, 256> kDecodeTable = [] {
  std::array<std::uint8_t, 256> table{};
  table.fill(0xff);
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = i;
  table[static_cast<unsigned char>('=')] = 64;
  return table;
}();

}  // namespace

// Decoding is written out (a table lookup per character) rather than left to
// EVP_DecodeBlock: a search decodes every image learnware's facts, megabytes
// of them in a market of a thousand, and the loop runs several times faster.
std::vector<std::uint8_t> base64_decode(std::string_view text, std::string_view what) {
  const auto fail = [&](const std::string& why) { throw Error(std::string(what) + ": not base64: " + why); };
  if (text.size() % 4 != 0) fail("its length " + std::to_string(text.size()) + " is not a multiple of 4");
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  std::vector<std::uint8_t> out(3 * (text.size() / 4) - padding);
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  std::uint8_t bad = 0;  // any invalid character (or misplaced padding) sets its top bit
  std::size_t at = 0;
  const std::size_t full = text.size() / 4 - (padding > 0 ? 1 : 0);
  for (std::size_t q = 0; q < full; ++q, in += 4) {
    const std::uint8_t a = kDecodeTable[in[0]], b = kDecodeTable[in[1]], c = kDecodeTable[in[2]], d = kDecodeTable[in[3]];
    bad |= static_cast<std::uint8_t>((a | b | c | d) & 0xc0);  // 64 (padding) and 0xff both have a bit of 0xc0
    out[at++] = static_cast<std::uint8_t>(a << 2 | b >> 4);
    out[at++] = static_cast<std::uint8_t>(b << 4 | c >> 2);
    out[at++] = static_cast<std::uint8_t>(c << 6 | d);
  }
  if (padding > 0) {
    const std::uint8_t a = kDecodeTable[in[0]], b = kDecodeTable[in[1]];
    const std::uint8_t c = padding == 2 ? 0 : kDecodeTable[in[2]];
    bad |= static_cast<std::uint8_t>((a | b | c) & 0xc0);
    out[at++] = static_cast<std::uint8_t>(a << 2 | b >> 4);
    if (padding == 1) out[at++] = static_cast<std::uint8_t>(b << 4 | c >> 2);
  }
  if (bad != 0) {
    for (std::size_t i = 0; i + padding < text.size(); ++i)
      if (kDecodeTable[static_cast<unsigned char>(text[i])] >= 64)
        fail("character " + std::to_string(i) + " is outside the alphabet");
  }
  return out;
}

namespace {

template <class T>
std::string base64_of(std::span<const T> values) {
  return base64_encode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(values.data()),
                                                     values.size() * sizeof(T)));
}

template <class T>
std::vector<T> values_of_base64(std::string_view text, std::string_view what) {
  const std::vector<std::uint8_t> bytes = base64_decode(text, what);
  if (bytes.size() % sizeof(T) != 0)
    throw Error(std::string(what) + ": " + std::to_string(bytes.size()) + " bytes are not whole " +
                std::to_string(sizeof(T)) + "-byte numbers");
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

}  // namespace

std::string base64_of_floats(std::span<const float> values) { return base64_of(values); }
std::string base64_of_doubles(std::span<const double> values) { return base64_of(values); }
std::vector<float> floats_of_base64(std::string_view text, std::string_view what) {
  return values_of_base64<float>(text, what);
}
std::vector<double> doubles_of_base64(std::string_view text, std::string_view what) {
  return values_of_base64<double>(text, what);
}

}  // namespace lwd::io
