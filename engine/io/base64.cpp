#include "engine/io/base64.h"

#include <openssl/evp.h>

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

std::vector<std::uint8_t> base64_decode(std::string_view text, std::string_view what) {
  const auto fail = [&](const std::string& why) { throw Error(std::string(what) + ": not base64: " + why); };
  if (text.size() % 4 != 0) fail("its length " + std::to_string(text.size()) + " is not a multiple of 4");
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  for (std::size_t i = 0; i + padding < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) fail("character " + std::to_string(i) + " is outside the alphabet");
  }
  std::vector<std::uint8_t> out(3 * (text.size() / 4));
  if (text.empty()) return out;
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) fail("the decoder refused it");
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(out.size() - padding);
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
