// Model kind "image_mlp": an image classifier for image learnwares — a
// multilayer perceptron on the pixels (ReLU hidden layers, softmax output),
// trained here with Adam on the softmax cross-entropy.
//
// Why an MLP: the image learnwares of our experiments are MNIST digit
// classifiers, one per class subset, and the market builder trains dozens of
// them. On MNIST a one-hidden-layer MLP reaches ~97-98 % test accuracy (a small
// CNN gains about one point at several times the CPU cost); it trains in
// seconds on two cores through plain GEMMs, deterministically for a seed, and
// its file is a few hundred KB of weights. XGBoost on pixels reaches similar
// accuracy but grows one tree set per class and per round, training and
// predicting more slowly on 784 dense features.
//
// Input rows are flattened images (C*H*W values, NCHW order, the images' own
// scale — 0..255 for byte images); the model standardises them with the pixel
// mean and spread of its training data. Output: class probabilities.
//
// File format (binary, little endian), validated against the file size before
// anything is allocated:
//   "LWDMLP01"                               8 bytes
//   u32 channels, u32 height, u32 width
//   f32 input_mean, f32 input_scale          x' = (x - mean) * scale
//   u32 layer_count
//   per layer: u32 in, u32 out, f32 weight[out][in], f32 bias[out]
// The first layer takes channels*height*width inputs, each layer the previous
// one's outputs, the last has >= 2 outputs (the classes); all values finite.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "engine/image/image_io.h"
#include "engine/model/model.h"
#include "kernels/context.h"

namespace lwd {

struct DenseLayer {
  std::int64_t in = 0;
  std::int64_t out = 0;
  std::vector<float> weight;  // out x in, row-major
  std::vector<float> bias;    // out
};

class ImageMlpClassifier final : public Model {
 public:
  static constexpr std::string_view kKind = "image_mlp";

  // Validates the layer chain, the image shape against the first layer, and
  // finiteness; throws lwd::Error.
  ImageMlpClassifier(std::int64_t channels, std::int64_t height, std::int64_t width, float input_mean,
                     float input_scale, std::vector<DenseLayer> layers);

  std::string_view kind() const override { return kKind; }
  TaskType task() const override { return TaskType::kClassification; }
  std::int64_t input_dim() const override { return channels_ * height_ * width_; }
  std::int64_t output_dim() const override { return layers_.back().out; }
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;
  // Probabilities for a batch whose images have this model's shape.
  kernels::Matrix<double> predict_images(const ImageBatch& images) const;

  std::int64_t channels() const { return channels_; }
  std::int64_t height() const { return height_; }
  std::int64_t width() const { return width_; }
  float input_mean() const { return input_mean_; }
  float input_scale() const { return input_scale_; }
  const std::vector<DenseLayer>& layers() const { return layers_; }

 private:
  kernels::Matrix<double> predict_rows(const float* rows, std::int64_t n) const;

  std::int64_t channels_, height_, width_;
  float input_mean_, input_scale_;
  std::vector<DenseLayer> layers_;
};

struct ImageClassifierTrainOptions {
  std::vector<std::int64_t> hidden = {256};  // widths of the hidden layers
  int epochs = 10;
  std::int64_t batch_size = 64;
  double learning_rate = 1e-3;  // Adam
  double l2 = 1e-4;             // weight decay on the weights (not the biases)
};

// Trains on images (N x C x H x W) with labels in [0, num_classes). Seeded by
// ctx.seed (initial weights, batch order); the result does not depend on
// ctx.n_threads. Throws lwd::Error on empty input, mismatched label count,
// labels out of range, non-finite pixels or invalid options.
ImageMlpClassifier train_image_classifier(const kernels::Context& ctx, const ImageBatch& images,
                                          std::span<const std::int64_t> labels, std::int64_t num_classes,
                                          const ImageClassifierTrainOptions& options = {});

// Fraction of images whose argmax prediction equals the label.
double classification_accuracy(const ImageMlpClassifier& model, const ImageBatch& images,
                               std::span<const std::int64_t> labels);

void save_image_classifier(const ImageMlpClassifier& model, const std::filesystem::path& path);  // atomic
ImageMlpClassifier load_image_classifier(const std::filesystem::path& path);

// The model a manifest with kind "image_mlp" describes: the file resolved
// inside package_root, the task classification, and the manifest's input and
// output widths equal to the model's. For engine/model's load_model dispatch.
std::unique_ptr<Model> load_image_model(const ModelConfig& config, const std::filesystem::path& package_root);

}  // namespace lwd
