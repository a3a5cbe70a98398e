// .npy and IDX image readers (engine/image/image_io.h) on fixtures built here:
// good files of every supported dtype, and truncated or malformed copies.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/image_io.h"
#include "image/synthetic_images.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

using TempDir = ::lwd::test::ScratchDir;

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A version-1 .npy file with the given header dict and payload.
std::string npy_bytes(const std::string& dict, const std::string& payload, int version = 1) {
  std::string header = dict;
  const std::size_t prefix = version == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY", 6);
  out.push_back(static_cast<char>(version));
  out.push_back('\0');
  const std::size_t len = header.size();
  out.push_back(static_cast<char>(len & 0xFF));
  out.push_back(static_cast<char>((len >> 8) & 0xFF));
  if (version != 1) out += std::string(2, '\0');
  return out + header + payload;
}

std::string float_bytes(const std::vector<float>& v, bool big_endian) {
  std::string out;
  for (const float f : v) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    for (int i = 0; i < 4; ++i) {
      const int shift = big_endian ? 24 - 8 * i : 8 * i;
      out.push_back(static_cast<char>((u >> shift) & 0xFF));
    }
  }
  return out;
}

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    FAIL() << "expected an error mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// ---- .npy ----

TEST(NpyImages, Uint8WithShapeNHWIsOneChannel) {
  TempDir dir;
  std::string payload;
  for (int i = 0; i < 2 * 3 * 4; ++i) payload.push_back(static_cast<char>(i * 10));
  write_bytes(dir.file("a.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }", payload));
  const auto batch = read_npy_images(dir.file("a.npy"));
  EXPECT_EQ(batch.shape, (kernels::ImageShape{2, 1, 3, 4}));
  ASSERT_EQ(batch.pixels.size(), 24u);
  EXPECT_EQ(batch.pixels[23], 230.0f);
}

TEST(NpyImages, Float32BothByteOrdersAndFloat64AndVersion2) {
  TempDir dir;
  const std::vector<float> values = {0.5f, -1.25f, 3.0f, 1e-3f, 7.0f, 8.5f};
  write_bytes(dir.file("le.npy"),
              npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 1, 3), }", float_bytes(values, false)));
  write_bytes(dir.file("be.npy"),
              npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2, 1, 3), }", float_bytes(values, true), 2));
  std::string f64;
  for (const float v : values) {
    const auto u = std::bit_cast<std::uint64_t>(static_cast<double>(v));
    for (int i = 0; i < 8; ++i) f64.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
  }
  write_bytes(dir.file("f8.npy"), npy_bytes("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1, 2, 1, 3)}", f64));
  for (const char* name : {"le.npy", "be.npy", "f8.npy"}) {
    const auto batch = read_npy_images(dir.file(name));
    EXPECT_EQ(batch.shape, (kernels::ImageShape{1, 2, 1, 3})) << name;
    EXPECT_EQ(batch.pixels, values) << name;
  }
}

TEST(NpyImages, WriterOutputReadsBackExactly) {
  TempDir dir;
  const auto images = test::random_images({3, 2, 5, 7}, 1);
  write_npy_images(dir.file("w.npy"), images);
  const auto back = read_images(dir.file("w.npy"));
  EXPECT_EQ(back.shape, images.shape);
  EXPECT_EQ(back.pixels, images.pixels);
  EXPECT_EQ((read_bytes(dir.file("w.npy")).size() - 3u * 2 * 5 * 7 * 4) % 64, 0u);  // header padded to 64 bytes
}

TEST(NpyImages, TruncatedAndOversizedPayloadsAreErrors) {
  TempDir dir;
  const std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 4, 4), }";
  write_bytes(dir.file("short.npy"), npy_bytes(dict, std::string(31, 'x')));
  expect_error([&] { read_npy_images(dir.file("short.npy")); }, "truncated");
  write_bytes(dir.file("long.npy"), npy_bytes(dict, std::string(33, 'x')));
  expect_error([&] { read_npy_images(dir.file("long.npy")); }, "unexpected bytes");
  // A header cut short, and a file cut inside its magic.
  const std::string good = npy_bytes(dict, std::string(32, 'x'));
  write_bytes(dir.file("cut.npy"), good.substr(0, 30));
  expect_error([&] { read_npy_images(dir.file("cut.npy")); }, "truncated");
  write_bytes(dir.file("tiny.npy"), good.substr(0, 4));
  expect_error([&] { read_npy_images(dir.file("tiny.npy")); }, "not a .npy");
  // A shape claiming more than any file could hold.
  write_bytes(dir.file("huge.npy"),
              npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4000000000, 4000000000, 4000000000), }", ""));
  EXPECT_THROW(read_npy_images(dir.file("huge.npy")), Error);
}

TEST(NpyImages, UnsupportedLayoutsAreErrorsThatSaySo) {
  TempDir dir;
  write_bytes(dir.file("f.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': True, 'shape': (1, 2, 2), }", "abcd"));
  expect_error([&] { read_npy_images(dir.file("f.npy")); }, "Fortran");
  write_bytes(dir.file("i.npy"), npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1, 1), }", "abcd"));
  expect_error([&] { read_npy_images(dir.file("i.npy")); }, "unsupported dtype");
  write_bytes(dir.file("2d.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", "abcd"));
  expect_error([&] { read_npy_images(dir.file("2d.npy")); }, "(N, H, W)");
  write_bytes(dir.file("0.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 2, 2), }", ""));
  expect_error([&] { read_npy_images(dir.file("0.npy")); }, "no images");
  write_bytes(dir.file("bad.npy"), npy_bytes("{'descr': '|u1', 'fortran_order': Maybe, 'shape': (1, 1, 1), }", "a"));
  expect_error([&] { read_npy_images(dir.file("bad.npy")); }, "malformed .npy header");
  write_bytes(dir.file("nokey.npy"), npy_bytes("{'descr': '|u1', 'shape': (1, 1, 1), }", "a"));
  expect_error([&] { read_npy_images(dir.file("nokey.npy")); }, "lacks");
}

// ---- IDX ----

TEST(IdxImages, MnistLayoutReadsWithLabels) {
  TempDir dir;
  const auto data = test::stroke_images(5, 10, 3);
  ImageBatch bytes = data.images;
  for (float& v : bytes.pixels) v = std::round(v);
  write_idx_images(dir.file("train-images-idx3-ubyte"), bytes);
  write_idx_labels(dir.file("train-labels-idx1-ubyte"), data.labels);
  const std::string raw = read_bytes(dir.file("train-images-idx3-ubyte"));
  EXPECT_EQ(raw.substr(0, 4), std::string("\0\0\x08\x03", 4));  // MNIST's magic 2051
  const auto back = read_images(dir.file("train-images-idx3-ubyte"));
  EXPECT_EQ(back.shape, (kernels::ImageShape{5, 1, 28, 28}));
  EXPECT_EQ(back.pixels, bytes.pixels);
  EXPECT_EQ(read_idx_labels(dir.file("train-labels-idx1-ubyte")), data.labels);
}

TEST(IdxImages, FourDimensionsAndFloatElements) {
  TempDir dir;
  std::string raw = std::string("\0\0\x0D\x04", 4);
  for (const std::uint32_t d : {1u, 2u, 1u, 2u}) {
    for (int s = 24; s >= 0; s -= 8) raw.push_back(static_cast<char>((d >> s) & 0xFF));
  }
  raw += float_bytes({1.5f, -2.0f, 0.25f, 9.0f}, true);
  write_bytes(dir.file("f.idx"), raw);
  const auto batch = read_idx_images(dir.file("f.idx"));
  EXPECT_EQ(batch.shape, (kernels::ImageShape{1, 2, 1, 2}));
  EXPECT_EQ(batch.pixels, (std::vector<float>{1.5f, -2.0f, 0.25f, 9.0f}));
}

TEST(IdxImages, TruncatedCopiesOfARealLayoutAreErrors) {
  TempDir dir;
  ImageBatch images;
  images.shape = {3, 1, 28, 28};
  images.pixels.assign(3 * 784, 17.0f);
  write_idx_images(dir.file("ok.idx"), images);
  const std::string good = read_bytes(dir.file("ok.idx"));
  write_bytes(dir.file("data.idx"), good.substr(0, good.size() - 100));
  expect_error([&] { read_idx_images(dir.file("data.idx")); }, "truncated");
  write_bytes(dir.file("head.idx"), good.substr(0, 10));
  expect_error([&] { read_idx_images(dir.file("head.idx")); }, "truncated IDX header");
  write_bytes(dir.file("extra.idx"), good + "zz");
  expect_error([&] { read_idx_images(dir.file("extra.idx")); }, "unexpected bytes");
  std::string bad_type = good;
  bad_type[2] = '\x0C';
  write_bytes(dir.file("type.idx"), bad_type);
  expect_error([&] { read_idx_images(dir.file("type.idx")); }, "0x0C");
  std::string two_dims = good;
  two_dims[3] = '\x02';
  write_bytes(dir.file("dims.idx"), two_dims);
  EXPECT_THROW(read_idx_images(dir.file("dims.idx")), Error);
  const std::vector<std::int64_t> labels = {1, 2, 3};
  write_idx_labels(dir.file("l.idx"), labels);
  const std::string lab = read_bytes(dir.file("l.idx"));
  write_bytes(dir.file("lcut.idx"), lab.substr(0, lab.size() - 1));
  expect_error([&] { read_idx_labels(dir.file("lcut.idx")); }, "truncated");
}

TEST(ImageFiles, ContentDecidesTheFormatAndUnknownContentIsAnError) {
  TempDir dir;
  write_bytes(dir.file("x.gz"), std::string("\x1F\x8B\x08\x00rest", 8));
  expect_error([&] { read_images(dir.file("x.gz")); }, "gunzip");
  write_bytes(dir.file("x.txt"), "hello world");
  expect_error([&] { read_images(dir.file("x.txt")); }, "neither");
  expect_error([&] { read_images(dir.file("missing.npy")); }, "missing.npy");
}

TEST(ImageFiles, IdxWriterRejectsNonByteValues) {
  TempDir dir;
  ImageBatch images;
  images.shape = {1, 1, 1, 2};
  images.pixels = {1.5f, 3.0f};
  EXPECT_THROW(write_idx_images(dir.file("x.idx"), images), Error);
  EXPECT_FALSE(fs::exists(dir.file("x.idx")));
}

}  // namespace
}  // namespace lwd
