// The "image_mlp" model kind (engine/image/image_classifier.h): it learns a
// toy image task, trains deterministically, and its file format and manifest
// checks reject what they must.
#include "tests/support/scratch_dir.h"
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/image_classifier.h"
#include "image/synthetic_images.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

using TempDir = ::lwd::test::ScratchDir;

ImageClassifierTrainOptions quick() {
  ImageClassifierTrainOptions o;
  o.hidden = {64};
  o.epochs = 8;
  return o;
}

const ImageMlpClassifier& toy_model() {
  static const ImageMlpClassifier model = [] {
    const auto train = test::stroke_images(800, 10, 1);
    return train_image_classifier(kernels::Context{2, 0}, train.images, train.labels, 10, quick());
  }();
  return model;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put_bytes(const fs::path& p, const std::string& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

TEST(ImageMlpClassifier, BeatsChanceByAWideMarginOnHeldOutToyImages) {
  const auto test_set = test::stroke_images(400, 10, 2);
  const double accuracy = classification_accuracy(toy_model(), test_set.images, test_set.labels);
  EXPECT_GT(accuracy, 0.8) << "chance is 0.1";
}

TEST(ImageMlpClassifier, OutputsAreProbabilitiesOverTheClasses) {
  const auto images = test::stroke_images(7, 10, 3).images;
  const auto p = toy_model().predict_images(images);
  ASSERT_EQ(p.rows(), 7);
  ASSERT_EQ(p.cols(), 10);
  for (std::int64_t i = 0; i < 7; ++i) {
    double sum = 0;
    for (std::int64_t c = 0; c < 10; ++c) {
      EXPECT_GE(p(i, c), 0.0);
      sum += p(i, c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  // The Model interface takes flattened rows and agrees.
  kernels::Matrix<double> rows(7, 784);
  for (std::int64_t i = 0; i < 7 * 784; ++i) rows.data()[i] = images.pixels[static_cast<std::size_t>(i)];
  EXPECT_EQ(toy_model().predict(rows.cview()), p);
  EXPECT_EQ(toy_model().input_dim(), 784);
  EXPECT_EQ(toy_model().output_dim(), 10);
  EXPECT_EQ(toy_model().task(), TaskType::kClassification);
}

TEST(ImageMlpClassifier, TrainingIsDeterministicAndIndependentOfThreadCount) {
  const auto train = test::stroke_images(100, 3, 5);
  auto o = quick();
  o.epochs = 2;
  const auto a = train_image_classifier(kernels::Context{1, 4}, train.images, train.labels, 3, o);
  const auto b = train_image_classifier(kernels::Context{2, 4}, train.images, train.labels, 3, o);
  ASSERT_EQ(a.layers().size(), b.layers().size());
  for (std::size_t l = 0; l < a.layers().size(); ++l) {
    EXPECT_EQ(a.layers()[l].weight, b.layers()[l].weight);
    EXPECT_EQ(a.layers()[l].bias, b.layers()[l].bias);
  }
}

TEST(ImageMlpClassifier, InvalidTrainingInputsAreErrors) {
  const auto train = test::stroke_images(10, 3, 5);
  const kernels::Context ctx{1, 0};
  EXPECT_THROW(train_image_classifier(ctx, train.images, std::vector<std::int64_t>(9, 0), 3), Error);
  auto labels = train.labels;
  labels[2] = 3;
  EXPECT_THROW(train_image_classifier(ctx, train.images, labels, 3), Error);
  EXPECT_THROW(train_image_classifier(ctx, train.images, train.labels, 1), Error);
  auto nan = train.images;
  nan.pixels[4] = std::nanf("");
  EXPECT_THROW(train_image_classifier(ctx, nan, train.labels, 3), Error);
}

TEST(ImageMlpClassifier, WrongInputWidthIsAnError) {
  kernels::Matrix<double> rows(2, 783);
  EXPECT_THROW(toy_model().predict(rows.cview()), Error);
}

TEST(ImageMlpFile, RoundTripsExactly) {
  TempDir dir;
  save_image_classifier(toy_model(), dir.path() / "m.bin");
  const auto back = load_image_classifier(dir.path() / "m.bin");
  const auto images = test::stroke_images(5, 10, 8).images;
  EXPECT_EQ(back.predict_images(images), toy_model().predict_images(images));
  EXPECT_EQ(back.input_mean(), toy_model().input_mean());
}

TEST(ImageMlpFile, MalformedFilesAreErrors) {
  TempDir dir;
  const auto path = dir.path() / "m.bin";
  save_image_classifier(toy_model(), path);
  const std::string good = file_bytes(path);
  auto expect_bad = [&](const std::string& bytes, const std::string& fragment) {
    put_bytes(dir.path() / "bad.bin", bytes);
    try {
      load_image_classifier(dir.path() / "bad.bin");
      FAIL() << "expected '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_bad("NOTAMODELFILE...", "bad magic");
  expect_bad(good.substr(0, good.size() - 3), "truncated");
  expect_bad(good.substr(0, 20), "truncated");
  expect_bad(good + "x", "unexpected bytes");
  std::string nan = good;
  // First weight of the first layer (after magic 8, shape 12, normalisation 8, count 4, in/out 8).
  const float q = std::nanf("");
  std::memcpy(nan.data() + 40, &q, 4);
  expect_bad(nan, "non-finite");
  std::string chain = good;
  chain[32] = static_cast<char>(chain[32] + 1);  // first layer's input width no longer 784
  expect_bad(chain, "");
}

TEST(ImageMlpPackage, LoadImageModelChecksTheManifest) {
  TempDir dir;
  save_image_classifier(toy_model(), dir.path() / "model.bin");
  ModelConfig config;
  config.kind = "image_mlp";
  config.file = "model.bin";
  config.task = TaskType::kClassification;
  config.input_dim = 784;
  config.output_dim = 10;
  const auto model = load_image_model(config, dir.path());
  EXPECT_EQ(model->kind(), "image_mlp");
  EXPECT_EQ(model->output_dim(), 10);

  auto wrong = config;
  wrong.input_dim = 1024;
  EXPECT_THROW(load_image_model(wrong, dir.path()), Error);
  wrong = config;
  wrong.output_dim = 4;
  EXPECT_THROW(load_image_model(wrong, dir.path()), Error);
  wrong = config;
  wrong.task = TaskType::kRegression;
  EXPECT_THROW(load_image_model(wrong, dir.path()), Error);
  wrong = config;
  wrong.kind = "xgboost";
  EXPECT_THROW(load_image_model(wrong, dir.path()), Error);
  wrong = config;
  wrong.file = "../model.bin";
  EXPECT_THROW(load_image_model(wrong, dir.path()), Error);
}

}  // namespace
}  // namespace lwd
