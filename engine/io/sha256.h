// SHA-256 (OpenSSL's libcrypto) as lower-case hex, of a file or of bytes fed
// piece by piece: the data fetch pins its tarballs with it, and a market
// backup records it for every file it holds.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace lwd::io {

// Lower-case hex SHA-256 of a file's bytes, read in chunks. Throws lwd::Error
// naming the file when it cannot be read.
std::string sha256_hex_of_file(const std::filesystem::path& file);

// A digest computed over bytes given in pieces (e.g. while copying a file).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // The digest of everything given so far; the object is spent afterwards.
  std::string hex_digest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lwd::io
