#include "datasets/fetched/mnist_digits.h"

#include <cmath>
#include <string>

#include "datasets/fetched/json_file_reader.h"
#include "engine/error.h"

namespace lwd::datasets {

kernels::Matrix<float> MnistDigits::pixels_as_float() const {
  kernels::Matrix<float> out(pixels.rows(), pixels.cols());
  const std::uint8_t* in = pixels.data();
  float* o = out.data();
  for (std::int64_t i = 0; i < pixels.size(); ++i) o[i] = static_cast<float>(in[i]) * (1.0f / 255.0f);
  return out;
}

void append_mnist_digit_file(const std::filesystem::path& json_file, std::uint8_t label, MnistDigits& out) {
  if (label > 9) throw Error(json_file.string() + ": digit label " + std::to_string(label) + " is not in 0..9");
  JsonFileReader reader(json_file);
  std::vector<std::uint8_t> values;
  bool saw_data = false;
  reader.expect('{', "at the start of an MNIST digit file");
  if (!reader.consume_if('}')) {
    do {
      const std::string key = reader.read_string("as an object key");
      reader.expect(':', "after key \"" + key + "\"");
      if (key != "data") {
        reader.skip_value();
        continue;
      }
      if (saw_data) reader.fail("key \"data\" appears twice");
      saw_data = true;
      reader.expect('[', "at the start of the \"data\" array");
      if (reader.consume_if(']')) continue;
      do {
        const float v = reader.read_float("in the \"data\" array");
        if (!(v >= 0.0f && v <= 1.0f)) reader.fail("pixel value " + std::to_string(v) + " is outside [0, 1]");
        values.push_back(static_cast<std::uint8_t>(std::lround(v * 255.0f)));
      } while (reader.next_element(']', "in the \"data\" array"));
    } while (reader.next_element('}', "in the top-level object"));
  }
  reader.expect_end();

  const std::string where = json_file.string() + ": ";
  if (!saw_data) throw Error(where + "no \"data\" array (expected {\"data\": [784 numbers per image]})");
  if (values.empty() || values.size() % MnistDigits::kPixels != 0) {
    throw Error(where + "\"data\" holds " + std::to_string(values.size()) +
                " numbers, not a positive multiple of 784 (28x28 pixels per image)");
  }
  const std::int64_t added = static_cast<std::int64_t>(values.size()) / MnistDigits::kPixels;
  const std::int64_t before = out.pixels.rows();
  std::vector<std::uint8_t> merged = std::move(out.pixels.values());
  merged.insert(merged.end(), values.begin(), values.end());
  out.pixels = kernels::Matrix<std::uint8_t>(before + added, MnistDigits::kPixels, std::move(merged));
  out.labels.insert(out.labels.end(), static_cast<std::size_t>(added), label);
}

MnistDigits load_mnist_digits(const std::filesystem::path& package_dir) {
  const std::filesystem::path digits_dir = package_dir / "src" / "digits";
  MnistDigits out;
  out.pixels = kernels::Matrix<std::uint8_t>(0, MnistDigits::kPixels);
  for (std::uint8_t digit = 0; digit < 10; ++digit) {
    const std::filesystem::path file = digits_dir / (std::to_string(digit) + ".json");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      throw Error(file.string() + ": missing (the mnist package ships src/digits/0.json .. 9.json)");
    }
    append_mnist_digit_file(file, digit, out);
  }
  return out;
}

}  // namespace lwd::datasets
