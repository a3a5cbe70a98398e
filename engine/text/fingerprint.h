// Deterministic 64-bit hashing for fingerprints and feature hashing: FNV-1a
// over bytes, finished by the splitmix64 mixer so that nearby inputs spread
// over all bits (FNV-1a alone leaves the low bits of short keys correlated,
// which matters when they pick a hashing bucket). Fixed constants, no seeds
// from the environment: the same bytes hash the same on every machine, which
// is what lets two users' specs agree on an encoder fingerprint.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace lwd::text {

class Fingerprint {
 public:
  Fingerprint& add_bytes(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      state_ ^= bytes[i];
      state_ *= 0x100000001b3ULL;
    }
    return *this;
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  Fingerprint& add(std::string_view text) {
    add(static_cast<std::uint64_t>(text.size()));
    return add_bytes(text.data(), text.size());
  }
  Fingerprint& add(std::uint64_t value) {
    unsigned char le[8];
    for (int k = 0; k < 8; ++k) le[k] = static_cast<unsigned char>(value >> (8 * k));
    return add_bytes(le, 8);
  }
  Fingerprint& add(std::int64_t value) { return add(static_cast<std::uint64_t>(value)); }
  Fingerprint& add(int value) { return add(static_cast<std::uint64_t>(static_cast<std::int64_t>(value))); }
  Fingerprint& add(bool value) { return add(static_cast<std::uint64_t>(value ? 1 : 0)); }
  Fingerprint& add(double value) {
    std::uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return add(bits);
  }
  Fingerprint& add(float value) {
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return add(static_cast<std::uint64_t>(bits));
  }

  std::uint64_t value() const { return mix(state_); }
  // 16 lower-case hex digits.
  std::string hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(16, '0');
    std::uint64_t v = value();
    for (int k = 15; k >= 0; --k, v >>= 4) out[static_cast<std::size_t>(k)] = kDigits[v & 0xF];
    return out;
  }

  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_ = 0xcbf29ce484222325ULL;
};

// One-shot hash of a string with a 64-bit salt (feature hashing).
inline std::uint64_t hash_string(std::string_view text, std::uint64_t salt) {
  Fingerprint f;
  f.add(salt);
  f.add_bytes(text.data(), text.size());
  return f.value();
}

}  // namespace lwd::text
