#include "service/zip_stream.h"

#include <array>
#include <ctime>
#include <fstream>

namespace lwd::service {
namespace {

constexpr std::uint64_t kZip32Limit = 0xFFFFFFFFull;
constexpr std::uint64_t kLocalHeader = 30;
constexpr std::uint64_t kDescriptor = 16;
constexpr std::uint64_t kCentralHeader = 46;
constexpr std::uint64_t kEndRecord = 22;

const std::array<std::uint32_t, 256>& crc_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void put16(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& out, std::uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

// MS-DOS time and date of now (the members' modification time).
std::pair<std::uint32_t, std::uint32_t> dos_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  const std::uint32_t time = (static_cast<std::uint32_t>(tm.tm_hour) << 11) |
                             (static_cast<std::uint32_t>(tm.tm_min) << 5) | (static_cast<std::uint32_t>(tm.tm_sec) / 2);
  const std::uint32_t date = (static_cast<std::uint32_t>(tm.tm_year - 80) << 9) |
                             (static_cast<std::uint32_t>(tm.tm_mon + 1) << 5) | static_cast<std::uint32_t>(tm.tm_mday);
  return {time, date};
}

// Flag bit 3: CRC-32 and sizes follow the data, in a descriptor.
constexpr std::uint32_t kFlags = 1u << 3;

}  // namespace

std::uint32_t crc32_update(std::uint32_t crc, const char* data, std::size_t n) {
  const auto& table = crc_table();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ static_cast<unsigned char>(data[i])) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::optional<std::uint64_t> stored_zip_size(const std::vector<ZipMember>& members) {
  std::uint64_t total = kEndRecord;
  for (const ZipMember& m : members) {
    if (m.size >= kZip32Limit) return std::nullopt;
    total += kLocalHeader + m.name.size() + m.size + kDescriptor + kCentralHeader + m.name.size();
  }
  if (total >= kZip32Limit || members.size() >= 0xFFFF) return std::nullopt;
  return total;
}

bool write_stored_zip(const std::vector<ZipMember>& members,
                      const std::function<bool(const char*, std::size_t)>& sink) {
  if (!stored_zip_size(members)) return false;
  const auto [dos_time, dos_date] = dos_now();
  std::string central;
  std::uint64_t offset = 0;
  std::vector<char> buffer(std::size_t{1} << 16);
  for (const ZipMember& m : members) {
    std::string header;
    put32(header, 0x04034b50);
    put16(header, 20);  // version needed: 2.0
    put16(header, kFlags);
    put16(header, 0);   // stored
    put16(header, dos_time);
    put16(header, dos_date);
    put32(header, 0);   // CRC-32, sizes: in the descriptor
    put32(header, 0);
    put32(header, 0);
    put16(header, static_cast<std::uint32_t>(m.name.size()));
    put16(header, 0);
    header += m.name;
    if (!sink(header.data(), header.size())) return false;
    std::ifstream in(m.path, std::ios::binary);
    if (!in) return false;
    std::uint32_t crc = 0;
    std::uint64_t sent = 0;
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      crc = crc32_update(crc, buffer.data(), got);
      sent += got;
      if (sent > m.size || !sink(buffer.data(), got)) return false;
    }
    if (sent != m.size) return false;  // the file changed since it was listed
    std::string descriptor;
    put32(descriptor, 0x08074b50);
    put32(descriptor, crc);
    put32(descriptor, static_cast<std::uint32_t>(m.size));
    put32(descriptor, static_cast<std::uint32_t>(m.size));
    if (!sink(descriptor.data(), descriptor.size())) return false;

    put32(central, 0x02014b50);
    put16(central, (3u << 8) | 20);  // made by: Unix, 2.0
    put16(central, 20);
    put16(central, kFlags);
    put16(central, 0);
    put16(central, dos_time);
    put16(central, dos_date);
    put32(central, crc);
    put32(central, static_cast<std::uint32_t>(m.size));
    put32(central, static_cast<std::uint32_t>(m.size));
    put16(central, static_cast<std::uint32_t>(m.name.size()));
    put16(central, 0);  // extra
    put16(central, 0);  // comment
    put16(central, 0);  // disk
    put16(central, 0);  // internal attributes
    put32(central, 0100644u << 16);  // external: a regular file, rw-r--r--
    put32(central, static_cast<std::uint32_t>(offset));
    central += m.name;
    offset += kLocalHeader + m.name.size() + m.size + kDescriptor;
  }
  const auto central_size = static_cast<std::uint32_t>(central.size());
  put32(central, 0x06054b50);
  put16(central, 0);
  put16(central, 0);
  put16(central, static_cast<std::uint32_t>(members.size()));
  put16(central, static_cast<std::uint32_t>(members.size()));
  put32(central, central_size);
  put32(central, static_cast<std::uint32_t>(offset));
  put16(central, 0);
  return sink(central.data(), central.size());
}

}  // namespace lwd::service
