#include "engine/image/image_io.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;
using kernels::ImageShape;

[[noreturn]] void fail(const fs::path& path, const std::string& what) { throw Error(path.string() + ": " + what); }

// The whole file; image files are at most a few hundred MB and every reader
// needs all of it. The size is known before the buffer is allocated.
std::vector<unsigned char> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read file (" + ec.message() + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file");
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    fail(path, "read failed");
  return bytes;
}

// Product of dimensions, or an error if it overflows what we could hold.
std::int64_t checked_product(const fs::path& path, std::span<const std::int64_t> dims) {
  std::int64_t total = 1;
  for (const std::int64_t d : dims) {
    if (d < 0) fail(path, "negative dimension");
    if (d != 0 && total > std::numeric_limits<std::int64_t>::max() / 16 / d)
      fail(path, "dimensions are too large");
    total *= d;
  }
  return total;
}

ImageShape shape_from_dims(const fs::path& path, const std::vector<std::int64_t>& dims) {
  std::string text = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  text += ")";
  kernels::ImageShape s;
  if (dims.size() == 3) {
    s = {dims[0], 1, dims[1], dims[2]};
  } else if (dims.size() == 4) {
    s = {dims[0], dims[1], dims[2], dims[3]};
  } else {
    fail(path, "image arrays must have shape (N, H, W) or (N, C, H, W), got " + text);
  }
  if (s.count < 1) fail(path, "holds no images (shape " + text + ")");
  if (s.channels < 1 || s.height < 1 || s.width < 1) fail(path, "has an empty image dimension (shape " + text + ")");
  return s;
}

enum class Scalar { u8, f32, f64 };

std::size_t scalar_size(Scalar t) { return t == Scalar::u8 ? 1 : t == Scalar::f32 ? 4 : 8; }

// Converts `count` scalars of type t at `src` (byte order big_endian) to float.
// Non-finite values are kept: the spec imputes them, a model rejects them.
void convert_to_float(const unsigned char* src, std::int64_t count, Scalar t, bool big_endian, float* dst) {
  const bool swap = big_endian != (std::endian::native == std::endian::big);
  for (std::int64_t i = 0; i < count; ++i) {
    switch (t) {
      case Scalar::u8:
        dst[i] = static_cast<float>(src[i]);
        break;
      case Scalar::f32: {
        std::uint32_t u;
        std::memcpy(&u, src + 4 * i, 4);
        if (swap) u = __builtin_bswap32(u);
        dst[i] = std::bit_cast<float>(u);
        break;
      }
      case Scalar::f64: {
        std::uint64_t u;
        std::memcpy(&u, src + 8 * i, 8);
        if (swap) u = __builtin_bswap64(u);
        dst[i] = static_cast<float>(std::bit_cast<double>(u));
        break;
      }
    }
  }
}

// ---- the .npy header: a Python dict literal with three keys ----

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  bool has_descr = false, has_order = false, has_shape = false;
};

class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, const fs::path& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      skip_ws();
      if (key == "descr") {
        h.descr = parse_string();
        h.has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        h.has_order = true;
      } else if (key == "shape") {
        h.shape = parse_tuple();
        h.has_shape = true;
      } else {
        fail(path_, "unexpected key '" + key + "' in the .npy header");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      if (peek() == '}') break;
      bad("',' or '}'");
    }
    if (!h.has_descr || !h.has_order || !h.has_shape)
      fail(path_, "the .npy header lacks one of 'descr', 'fortran_order', 'shape'");
    return h;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  [[noreturn]] void bad(const std::string& expected) const {
    fail(path_, "malformed .npy header: expected " + expected + " at offset " + std::to_string(i_));
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) bad(std::string("'") + c + "'");
    ++i_;
  }
  std::string parse_string() {
    skip_ws();
    const char q = peek();
    if (q != '\'' && q != '"') bad("a quoted string");
    const auto end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) bad("a closing quote");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool parse_bool() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    bad("True or False");
  }
  std::vector<std::int64_t> parse_tuple() {
    expect('(');
    std::vector<std::int64_t> dims;
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++i_;
        return dims;
      }
      if (peek() < '0' || peek() > '9') bad("a dimension");
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > std::numeric_limits<std::int64_t>::max() / 10 - 10) fail(path_, "a dimension is too large");
        v = v * 10 + (peek() - '0');
        ++i_;
      }
      // Python writes 2L for longs in old files.
      if (peek() == 'L') ++i_;
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++i_;
      else if (peek() != ')') bad("',' or ')'");
    }
  }

  std::string_view s_;
  const fs::path& path_;
  std::size_t i_ = 0;
};

ImageBatch batch_from_bytes(const fs::path& path, const std::vector<unsigned char>& bytes, std::size_t offset,
                            const std::vector<std::int64_t>& dims, Scalar t, bool big_endian) {
  const ImageShape shape = shape_from_dims(path, dims);
  const std::int64_t values = checked_product(path, dims);
  const std::size_t need = static_cast<std::size_t>(values) * scalar_size(t);
  const std::size_t have = bytes.size() - offset;
  if (have < need)
    fail(path, "truncated: the header describes " + std::to_string(need) + " bytes of pixels but only " +
                   std::to_string(have) + " follow");
  if (have > need)
    fail(path, std::to_string(have - need) + " unexpected bytes after the " + std::to_string(need) +
                   " bytes of pixels the header describes");
  ImageBatch batch;
  batch.shape = shape;
  batch.pixels.resize(static_cast<std::size_t>(values));
  convert_to_float(bytes.data() + offset, values, t, big_endian, batch.pixels.data());
  return batch;
}

std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

void put_be32(std::string& out, std::uint64_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

struct IdxHeader {
  unsigned char type = 0;
  std::vector<std::int64_t> dims;
  std::size_t data_offset = 0;
};

IdxHeader parse_idx_header(const fs::path& path, const std::vector<unsigned char>& bytes) {
  if (bytes.size() < 4) fail(path, "truncated IDX header (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0) fail(path, "not an IDX file (the first two bytes must be zero)");
  IdxHeader h;
  h.type = bytes[2];
  const int ndim = bytes[3];
  if (ndim < 1) fail(path, "IDX header with zero dimensions");
  h.data_offset = 4 + 4 * static_cast<std::size_t>(ndim);
  if (bytes.size() < h.data_offset)
    fail(path, "truncated IDX header: " + std::to_string(ndim) + " dimensions need " +
                   std::to_string(h.data_offset) + " bytes, the file has " + std::to_string(bytes.size()));
  for (int i = 0; i < ndim; ++i) h.dims.push_back(read_be32(bytes.data() + 4 + 4 * i));
  return h;
}

}  // namespace

ImageBatch read_npy_images(const fs::path& path) {
  const auto bytes = read_file_bytes(path);
  static constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) fail(path, "not a .npy file (bad magic)");
  const int major = bytes[6];
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = bytes[8] | (std::size_t{bytes[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated .npy header");
    header_len = bytes[8] | (std::size_t{bytes[9]} << 8) | (std::size_t{bytes[10]} << 16) |
                 (std::size_t{bytes[11]} << 24);
    header_start = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (bytes.size() < header_start + header_len)
    fail(path, "truncated .npy header (" + std::to_string(header_len) + " header bytes announced, " +
                   std::to_string(bytes.size() - header_start) + " present)");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + header_start, header_len);
  const NpyHeader h = NpyHeaderParser(text, path).parse();
  if (h.fortran_order)
    fail(path, "Fortran-ordered arrays are not supported; save np.ascontiguousarray(images) instead");
  Scalar t;
  bool big = false;
  const std::string& d = h.descr;
  if (d.size() == 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    big = d[0] == '>';
    const std::string kind = d.substr(1);
    if (kind == "u1") t = Scalar::u8;
    else if (kind == "f4") t = Scalar::f32;
    else if (kind == "f8") t = Scalar::f64;
    else fail(path, "unsupported dtype '" + d + "' (expected uint8, float32 or float64)");
  } else {
    fail(path, "unsupported dtype '" + d + "' (expected uint8, float32 or float64)");
  }
  return batch_from_bytes(path, bytes, header_start + header_len, h.shape, t, big);
}

ImageBatch read_idx_images(const fs::path& path) {
  const auto bytes = read_file_bytes(path);
  const IdxHeader h = parse_idx_header(path, bytes);
  Scalar t;
  if (h.type == 0x08) t = Scalar::u8;
  else if (h.type == 0x0D) t = Scalar::f32;
  else fail(path, "unsupported IDX element type 0x" + [&] {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02X", h.type);
    return std::string(buf);
  }() + " (expected 0x08 unsigned byte or 0x0D float)");
  return batch_from_bytes(path, bytes, h.data_offset, h.dims, t, true);
}

std::vector<std::int64_t> read_idx_labels(const fs::path& path) {
  const auto bytes = read_file_bytes(path);
  const IdxHeader h = parse_idx_header(path, bytes);
  if (h.type != 0x08 || h.dims.size() != 1)
    fail(path, "IDX labels must be one dimension of unsigned bytes");
  const std::size_t have = bytes.size() - h.data_offset;
  const auto need = static_cast<std::size_t>(h.dims[0]);
  if (have != need)
    fail(path, (have < need ? "truncated: " : "unexpected trailing bytes: ") + std::to_string(need) +
                   " labels announced, " + std::to_string(have) + " bytes follow the header");
  return std::vector<std::int64_t>(bytes.begin() + static_cast<std::ptrdiff_t>(h.data_offset), bytes.end());
}

kernels::Matrix<double> image_rows(const ImageBatch& batch) {
  kernels::Matrix<double> rows(batch.count(), batch.shape.pixels_per_image());
  std::copy(batch.pixels.begin(), batch.pixels.end(), rows.data());
  return rows;
}

ImageBatch read_images(const fs::path& path) {
  unsigned char head[6] = {0, 0, 0, 0, 0, 0};
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file");
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const auto got = in.gcount();
  if (got >= 6 && head[0] == 0x93 && std::memcmp(head + 1, "NUMPY", 5) == 0) return read_npy_images(path);
  if (got >= 2 && head[0] == 0x1F && head[1] == 0x8B)
    fail(path, "is gzip-compressed; decompress it first (gunzip)");
  if (got >= 4 && head[0] == 0 && head[1] == 0) return read_idx_images(path);
  fail(path, "neither a .npy file nor an IDX image file");
}

void write_npy_images(const fs::path& path, const ImageBatch& batch) {
  const auto& s = batch.shape;
  if (static_cast<std::int64_t>(batch.pixels.size()) != s.total())
    throw Error("write_npy_images: the batch holds " + std::to_string(batch.pixels.size()) + " values, its shape needs " +
                std::to_string(s.total()));
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(s.count) + ", " +
                       std::to_string(s.channels) + ", " + std::to_string(s.height) + ", " + std::to_string(s.width) +
                       "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to 64 bytes.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  io::write_file_atomically(path, [&](std::ostream& out) {
    const unsigned char prefix[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.write(reinterpret_cast<const char*>(prefix), 8);
    const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xFF),
                                  static_cast<unsigned char>(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(len), 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const float v : batch.pixels) {
      std::uint32_t u = std::bit_cast<std::uint32_t>(v);
      if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap32(u);
      out.write(reinterpret_cast<const char*>(&u), 4);
    }
  });
}

void write_idx_images(const fs::path& path, const ImageBatch& batch) {
  const auto& s = batch.shape;
  if (static_cast<std::int64_t>(batch.pixels.size()) != s.total())
    throw Error("write_idx_images: the batch holds " + std::to_string(batch.pixels.size()) + " values, its shape needs " +
                std::to_string(s.total()));
  std::string out;
  out.reserve(20 + batch.pixels.size());
  out += std::string("\0\0\x08", 3);
  out.push_back(static_cast<char>(s.channels == 1 ? 3 : 4));
  put_be32(out, static_cast<std::uint64_t>(s.count));
  if (s.channels != 1) put_be32(out, static_cast<std::uint64_t>(s.channels));
  put_be32(out, static_cast<std::uint64_t>(s.height));
  put_be32(out, static_cast<std::uint64_t>(s.width));
  for (std::size_t i = 0; i < batch.pixels.size(); ++i) {
    const float v = batch.pixels[i];
    if (!(v >= 0.0f && v <= 255.0f) || v != std::floor(v))
      throw Error("write_idx_images: value " + std::to_string(v) + " at index " + std::to_string(i) +
                  " is not a byte (an integer in 0..255)");
    out.push_back(static_cast<char>(static_cast<unsigned char>(v)));
  }
  io::write_text_file_atomically(path, out);
}

void write_idx_labels(const fs::path& path, std::span<const std::int64_t> labels) {
  std::string out = std::string("\0\0\x08\x01", 4);
  put_be32(out, labels.size());
  for (const std::int64_t l : labels) {
    if (l < 0 || l > 255) throw Error("write_idx_labels: label " + std::to_string(l) + " does not fit a byte");
    out.push_back(static_cast<char>(static_cast<unsigned char>(l)));
  }
  io::write_text_file_atomically(path, out);
}

}  // namespace lwd
