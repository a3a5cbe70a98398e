// Standard base64 (RFC 4648, with padding): how market.h5 keeps arrays of
// numbers in its text entries (an image learnware's search facts) without
// printing and parsing every number. Encoding is OpenSSL's; decoding, which
// every search does, a table lookup per character.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lwd::io {

std::string base64_encode(std::span<const std::uint8_t> bytes);
// Throws lwd::Error naming `what` when the text is not base64 (a length that
// is not a multiple of 4, a character outside the alphabet, misplaced padding).
std::vector<std::uint8_t> base64_decode(std::string_view text, std::string_view what);

// Numbers as their little-endian bytes, in base64, and back. The decoders
// throw lwd::Error naming `what` when the byte count is not a whole number of
// values.
std::string base64_of_floats(std::span<const float> values);
std::string base64_of_doubles(std::span<const double> values);
std::vector<float> floats_of_base64(std::string_view text, std::string_view what);
std::vector<double> doubles_of_base64(std::string_view text, std::string_view what);

}  // namespace lwd::io
