// A zip of several files written as a stream, for a download of several
// packages in one reply: each member stored as it is (packages are zips
// already: compressing them again gains nothing), its CRC-32 computed while
// it is sent and given in a data descriptor after it, so nothing is read
// twice and nothing is staged on disk. No zip64: every member and the whole
// archive stay under 4 GiB (stored_zip_size says whether they do).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "service/api.h"

namespace lwd::service {


// The archive's size in bytes, or nullopt when it would need zip64.
std::optional<std::uint64_t> stored_zip_size(const std::vector<ZipMember>& members);

// Writes the archive to `sink` (which returns false when the client is
// gone); false when the sink refused or a file could not be read whole.
bool write_stored_zip(const std::vector<ZipMember>& members,
                      const std::function<bool(const char*, std::size_t)>& sink);

// CRC-32 (the zip's, IEEE 802.3) of `n` bytes, continuing `crc` (0 to start).
std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t n);

}  // namespace lwd::service
