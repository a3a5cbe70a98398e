#include "engine/image/image_classifier.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <string>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/model/package_paths.h"
#include "kernels/parallel.h"
#include "kernels/random.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'L', 'W', 'D', 'M', 'L', 'P', '0', '1'};
// Rows per gradient chunk: a constant, so a minibatch is always split the same
// way and its gradient summed in the same order whatever the thread count.
constexpr std::int64_t kRowsPerChunk = 32;
// Rows per block when predicting.
constexpr std::int64_t kPredictRows = 256;
// Dimensions above this are not a plausible image classifier (and would
// overflow the size arithmetic of a hostile file).
constexpr std::uint32_t kMaxDim = 1u << 24;

// out (n x layer.out) = in (n x layer.in) W^T + b.
void dense_forward(const DenseLayer& layer, const float* in, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) std::copy(layer.bias.begin(), layer.bias.end(), out + i * layer.out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(layer.out),
              static_cast<int>(layer.in), 1.0f, in, static_cast<int>(layer.in), layer.weight.data(),
              static_cast<int>(layer.in), 1.0f, out, static_cast<int>(layer.out));
}

void softmax_rows(float* scores, std::int64_t n, std::int64_t classes) {
  for (std::int64_t i = 0; i < n; ++i) {
    float* row = scores + i * classes;
    const float top = *std::max_element(row, row + classes);
    float sum = 0.0f;
    for (std::int64_t c = 0; c < classes; ++c) sum += row[c] = std::exp(row[c] - top);
    for (std::int64_t c = 0; c < classes; ++c) row[c] /= sum;
  }
}

void validate_layers(std::int64_t c, std::int64_t h, std::int64_t w, float mean, float scale,
                     const std::vector<DenseLayer>& layers, const std::string& source) {
  auto fail = [&](const std::string& what) { throw Error(source + ": " + what); };
  if (c < 1 || h < 1 || w < 1) fail("image shape must have channels, height, width >= 1");
  if (!std::isfinite(mean) || !std::isfinite(scale) || !(scale > 0.0f))
    fail("input normalisation must be finite with a positive scale");
  if (layers.empty()) fail("an MLP needs at least one layer");
  std::int64_t in = c * h * w;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& layer = layers[l];
    const std::string at = "layer " + std::to_string(l);
    if (layer.in != in)
      fail(at + " takes " + std::to_string(layer.in) + " inputs but receives " + std::to_string(in));
    if (layer.out < 1) fail(at + " has no outputs");
    if (static_cast<std::int64_t>(layer.weight.size()) != layer.in * layer.out ||
        static_cast<std::int64_t>(layer.bias.size()) != layer.out)
      fail(at + " has weight/bias arrays of the wrong size");
    for (const float v : layer.weight)
      if (!std::isfinite(v)) fail(at + " has a non-finite weight");
    for (const float v : layer.bias)
      if (!std::isfinite(v)) fail(at + " has a non-finite bias");
    in = layer.out;
  }
  if (layers.back().out < 2) fail("a classifier needs at least 2 classes");
}

// Gradient buffers shaped like the layers.
struct Gradients {
  std::vector<std::vector<float>> weight, bias;
  double loss = 0.0;
  void reset(const std::vector<DenseLayer>& layers) {
    weight.resize(layers.size());
    bias.resize(layers.size());
    for (std::size_t l = 0; l < layers.size(); ++l) {
      weight[l].assign(layers[l].weight.size(), 0.0f);
      bias[l].assign(layers[l].bias.size(), 0.0f);
    }
    loss = 0.0;
  }
};

// Sum over the rows of one chunk of the cross-entropy gradients.
void chunk_gradients(const std::vector<DenseLayer>& layers, const float* x, const std::int64_t* labels,
                     std::int64_t n, Gradients& g) {
  std::vector<std::vector<float>> acts(layers.size() + 1);
  acts[0].assign(x, x + n * layers[0].in);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    acts[l + 1].resize(static_cast<std::size_t>(n * layers[l].out));
    dense_forward(layers[l], acts[l].data(), n, acts[l + 1].data());
    if (l + 1 < layers.size())
      for (float& v : acts[l + 1]) v = std::max(v, 0.0f);
  }
  const std::int64_t classes = layers.back().out;
  std::vector<float> delta = acts.back();
  softmax_rows(delta.data(), n, classes);
  for (std::int64_t i = 0; i < n; ++i) {
    const float p = delta[static_cast<std::size_t>(i * classes + labels[i])];
    g.loss -= std::log(std::max(p, 1e-30f));
    delta[static_cast<std::size_t>(i * classes + labels[i])] -= 1.0f;
  }
  for (std::size_t l = layers.size(); l-- > 0;) {
    const auto& layer = layers[l];
    // dW += delta^T a_prev ; db += column sums of delta.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(layer.out), static_cast<int>(layer.in),
                static_cast<int>(n), 1.0f, delta.data(), static_cast<int>(layer.out), acts[l].data(),
                static_cast<int>(layer.in), 1.0f, g.weight[l].data(), static_cast<int>(layer.in));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t o = 0; o < layer.out; ++o) g.bias[l][static_cast<std::size_t>(o)] += delta[static_cast<std::size_t>(i * layer.out + o)];
    if (l == 0) break;
    std::vector<float> prev(static_cast<std::size_t>(n * layer.in));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(layer.in),
                static_cast<int>(layer.out), 1.0f, delta.data(), static_cast<int>(layer.out), layer.weight.data(),
                static_cast<int>(layer.in), 0.0f, prev.data(), static_cast<int>(layer.in));
    // ReLU mask of the hidden layer's output.
    for (std::size_t q = 0; q < prev.size(); ++q)
      if (!(acts[l][q] > 0.0f)) prev[q] = 0.0f;
    delta = std::move(prev);
  }
}

class Adam {
 public:
  explicit Adam(double lr) : lr_(lr) {}
  void step(std::vector<float>& p, const std::vector<float>& g, std::size_t slot, double l2) {
    if (m_.size() <= slot) {
      m_.resize(slot + 1);
      v_.resize(slot + 1);
    }
    auto& m = m_[slot];
    auto& v = v_[slot];
    if (m.empty()) {
      m.assign(p.size(), 0.0f);
      v.assign(p.size(), 0.0f);
    }
    const double bc1 = 1.0 - std::pow(0.9, t_), bc2 = 1.0 - std::pow(0.999, t_);
    for (std::size_t i = 0; i < p.size(); ++i) {
      const float grad = g[i] + static_cast<float>(l2) * p[i];
      m[i] = 0.9f * m[i] + 0.1f * grad;
      v[i] = 0.999f * v[i] + 0.001f * grad * grad;
      p[i] -= static_cast<float>(lr_ * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + 1e-8));
    }
  }
  void next() { ++t_; }

 private:
  double lr_;
  int t_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

void append_u32(std::string& out, std::uint64_t v) {
  for (int s = 0; s < 32; s += 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}
void append_f32(std::string& out, float v) { append_u32(out, std::bit_cast<std::uint32_t>(v)); }

class ByteReader {
 public:
  ByteReader(const std::string& bytes, std::string source) : b_(bytes), source_(std::move(source)) {}
  void need(std::uint64_t n, const std::string& what) const {
    if (n > b_.size() - at_)
      throw Error(source_ + ": truncated model file (" + what + " needs " + std::to_string(n) + " bytes, " +
                  std::to_string(b_.size() - at_) + " left)");
  }
  std::uint32_t u32(const std::string& what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int s = 0; s < 4; ++s) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(b_[at_ + s])) << (8 * s);
    at_ += 4;
    return v;
  }
  float f32(const std::string& what) { return std::bit_cast<float>(u32(what)); }
  std::vector<float> floats(std::uint64_t n, const std::string& what) {
    need(n * 4, what);
    std::vector<float> out(static_cast<std::size_t>(n));
    for (auto& v : out) v = f32(what);
    return out;
  }
  std::size_t at() const { return at_; }
  std::size_t size() const { return b_.size(); }
  const std::string& source() const { return source_; }
  void skip(std::size_t n) { at_ += n; }

 private:
  const std::string& b_;
  std::string source_;
  std::size_t at_ = 0;
};

}  // namespace

ImageMlpClassifier::ImageMlpClassifier(std::int64_t channels, std::int64_t height, std::int64_t width,
                                       float input_mean, float input_scale, std::vector<DenseLayer> layers)
    : channels_(channels), height_(height), width_(width), input_mean_(input_mean), input_scale_(input_scale),
      layers_(std::move(layers)) {
  validate_layers(channels_, height_, width_, input_mean_, input_scale_, layers_, "image_mlp model");
}

kernels::Matrix<double> ImageMlpClassifier::predict_rows(const float* rows, std::int64_t n) const {
  const std::int64_t d = input_dim(), classes = output_dim();
  kernels::Matrix<double> out(n, classes);
  kernels::parallel_for_serial_blas(kernels::Context{}, kernels::num_blocks(n, kPredictRows), [&](std::int64_t block) {
    const std::int64_t r0 = block * kPredictRows, m = std::min(kPredictRows, n - r0);
    std::vector<float> cur(rows + r0 * d, rows + (r0 + m) * d);
    for (float& v : cur) v = (v - input_mean_) * input_scale_;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      std::vector<float> next(static_cast<std::size_t>(m * layers_[l].out));
      dense_forward(layers_[l], cur.data(), m, next.data());
      if (l + 1 < layers_.size())
        for (float& v : next) v = std::max(v, 0.0f);
      cur = std::move(next);
    }
    softmax_rows(cur.data(), m, classes);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t c = 0; c < classes; ++c) out(r0 + i, c) = cur[static_cast<std::size_t>(i * classes + c)];
  });
  return out;
}

kernels::Matrix<double> ImageMlpClassifier::predict(kernels::ConstMatrixView<double> x) const {
  if (x.cols != input_dim())
    throw Error("image_mlp model: input has " + std::to_string(x.cols) + " columns but the model takes " +
                std::to_string(input_dim()) + " (" + std::to_string(channels_) + " x " + std::to_string(height_) +
                " x " + std::to_string(width_) + " pixels)");
  std::vector<float> rows(static_cast<std::size_t>(x.rows * x.cols));
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j) {
      const double v = x(i, j);
      if (!std::isfinite(v))
        throw Error("image_mlp model: input has a non-finite value at row " + std::to_string(i) + ", column " +
                    std::to_string(j));
      rows[static_cast<std::size_t>(i * x.cols + j)] = static_cast<float>(v);
    }
  return predict_rows(rows.data(), x.rows);
}

kernels::Matrix<double> ImageMlpClassifier::predict_images(const ImageBatch& images) const {
  const auto& s = images.shape;
  if (s.channels != channels_ || s.height != height_ || s.width != width_)
    throw Error("image_mlp model: images are [" + std::to_string(s.channels) + ", " + std::to_string(s.height) + ", " +
                std::to_string(s.width) + "] but the model takes [" + std::to_string(channels_) + ", " +
                std::to_string(height_) + ", " + std::to_string(width_) + "]");
  for (std::size_t i = 0; i < images.pixels.size(); ++i)
    if (!std::isfinite(images.pixels[i]))
      throw Error("image_mlp model: image " + std::to_string(static_cast<std::int64_t>(i) / s.pixels_per_image()) +
                  " has a non-finite pixel");
  return predict_rows(images.pixels.data(), s.count);
}

ImageMlpClassifier train_image_classifier(const kernels::Context& ctx, const ImageBatch& images,
                                          std::span<const std::int64_t> labels, std::int64_t num_classes,
                                          const ImageClassifierTrainOptions& options) {
  const auto& s = images.shape;
  const std::int64_t n = s.count, d = s.pixels_per_image();
  if (n < 1 || d < 1) throw Error("train_image_classifier: no images to train on");
  if (static_cast<std::int64_t>(images.pixels.size()) != s.total())
    throw Error("train_image_classifier: the batch's pixels do not match its shape");
  if (static_cast<std::int64_t>(labels.size()) != n)
    throw Error("train_image_classifier: " + std::to_string(labels.size()) + " labels for " + std::to_string(n) +
                " images");
  if (num_classes < 2) throw Error("train_image_classifier: num_classes must be >= 2");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw Error("train_image_classifier: label " + std::to_string(labels[i]) + " of image " + std::to_string(i) +
                  " is outside [0, " + std::to_string(num_classes) + ")");
  if (options.epochs < 1 || options.batch_size < 1 || !(options.learning_rate > 0) ||
      !std::isfinite(options.learning_rate) || !(options.l2 >= 0) || !std::isfinite(options.l2))
    throw Error("train_image_classifier: epochs and batch_size must be >= 1, learning_rate > 0, l2 >= 0");
  for (const auto h : options.hidden)
    if (h < 1) throw Error("train_image_classifier: hidden layer widths must be >= 1");

  // Global pixel standardisation: the scale of byte and [0, 1] images alike.
  double sum = 0.0, sq = 0.0;
  for (const float v : images.pixels) {
    if (!std::isfinite(v)) throw Error("train_image_classifier: images contain non-finite pixels");
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double count = static_cast<double>(images.pixels.size());
  const double mean = sum / count;
  const double sd = std::sqrt(std::max(sq / count - mean * mean, 0.0));
  const float input_mean = static_cast<float>(mean);
  const float input_scale = sd > 0 ? static_cast<float>(1.0 / sd) : 1.0f;
  std::vector<float> x(images.pixels.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = (images.pixels[i] - input_mean) * input_scale;

  // He initialisation for ReLU layers.
  kernels::Rng rng(ctx.seed);
  std::vector<DenseLayer> layers;
  std::int64_t in = d;
  std::vector<std::int64_t> widths = options.hidden;
  widths.push_back(num_classes);
  for (const std::int64_t out : widths) {
    DenseLayer layer{in, out, std::vector<float>(static_cast<std::size_t>(in * out)),
                     std::vector<float>(static_cast<std::size_t>(out), 0.0f)};
    const double sdw = std::sqrt(2.0 / static_cast<double>(in));
    for (float& v : layer.weight) v = static_cast<float>(sdw * rng.normal());
    layers.push_back(std::move(layer));
    in = out;
  }

  Adam adam(options.learning_rate);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  const std::int64_t batch = std::min(options.batch_size, n);
  const std::int64_t max_chunks = kernels::num_blocks(batch, kRowsPerChunk);
  std::vector<Gradients> chunk_grads(static_cast<std::size_t>(max_chunks));
  std::vector<float> bx(static_cast<std::size_t>(batch * d));
  std::vector<std::int64_t> by(static_cast<std::size_t>(batch));
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    for (std::int64_t i = n - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i + 1))]);
    for (std::int64_t b0 = 0; b0 < n; b0 += batch) {
      const std::int64_t m = std::min(batch, n - b0);
      for (std::int64_t i = 0; i < m; ++i) {
        const std::int64_t src = order[static_cast<std::size_t>(b0 + i)];
        std::copy_n(x.data() + src * d, d, bx.data() + i * d);
        by[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(src)];
      }
      const std::int64_t chunks = kernels::num_blocks(m, kRowsPerChunk);
      kernels::parallel_for_serial_blas(ctx, chunks, [&](std::int64_t c) {
        const std::int64_t r0 = c * kRowsPerChunk, rows = std::min(kRowsPerChunk, m - r0);
        auto& g = chunk_grads[static_cast<std::size_t>(c)];
        g.reset(layers);
        chunk_gradients(layers, bx.data() + r0 * d, by.data() + r0, rows, g);
      });
      // Sum the chunks in order, average over the batch, step.
      auto& total = chunk_grads[0];
      for (std::int64_t c = 1; c < chunks; ++c)
        for (std::size_t l = 0; l < layers.size(); ++l) {
          for (std::size_t q = 0; q < total.weight[l].size(); ++q) total.weight[l][q] += chunk_grads[static_cast<std::size_t>(c)].weight[l][q];
          for (std::size_t q = 0; q < total.bias[l].size(); ++q) total.bias[l][q] += chunk_grads[static_cast<std::size_t>(c)].bias[l][q];
        }
      const float inv = 1.0f / static_cast<float>(m);
      adam.next();
      for (std::size_t l = 0; l < layers.size(); ++l) {
        for (float& v : total.weight[l]) v *= inv;
        for (float& v : total.bias[l]) v *= inv;
        adam.step(layers[l].weight, total.weight[l], 2 * l, options.l2);
        adam.step(layers[l].bias, total.bias[l], 2 * l + 1, 0.0);
      }
    }
  }
  return ImageMlpClassifier(s.channels, s.height, s.width, input_mean, input_scale, std::move(layers));
}

double classification_accuracy(const ImageMlpClassifier& model, const ImageBatch& images,
                               std::span<const std::int64_t> labels) {
  if (static_cast<std::int64_t>(labels.size()) != images.count())
    throw Error("classification_accuracy: " + std::to_string(labels.size()) + " labels for " +
                std::to_string(images.count()) + " images");
  if (labels.empty()) throw Error("classification_accuracy: no images");
  const auto predicted = argmax_labels(model.predict_images(images));
  std::int64_t right = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) right += predicted[i] == labels[i] ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

void save_image_classifier(const ImageMlpClassifier& model, const fs::path& path) {
  std::string out(kMagic, sizeof kMagic);
  append_u32(out, static_cast<std::uint64_t>(model.channels()));
  append_u32(out, static_cast<std::uint64_t>(model.height()));
  append_u32(out, static_cast<std::uint64_t>(model.width()));
  append_f32(out, model.input_mean());
  append_f32(out, model.input_scale());
  append_u32(out, model.layers().size());
  for (const auto& layer : model.layers()) {
    append_u32(out, static_cast<std::uint64_t>(layer.in));
    append_u32(out, static_cast<std::uint64_t>(layer.out));
    for (const float v : layer.weight) append_f32(out, v);
    for (const float v : layer.bias) append_f32(out, v);
  }
  io::write_text_file_atomically(path, out);
}

ImageMlpClassifier load_image_classifier(const fs::path& path) {
  const std::string bytes = io::read_text_file(path);
  ByteReader r(bytes, path.string());
  r.need(sizeof kMagic, "the magic");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw Error(path.string() + ": not an image_mlp model file (bad magic)");
  r.skip(sizeof kMagic);
  const std::uint32_t c = r.u32("channels"), h = r.u32("height"), w = r.u32("width");
  if (c < 1 || h < 1 || w < 1 || c > kMaxDim || h > kMaxDim || w > kMaxDim ||
      std::uint64_t{c} * h * w > kMaxDim)
    throw Error(path.string() + ": implausible image shape " + std::to_string(c) + " x " + std::to_string(h) + " x " +
                std::to_string(w));
  const float mean = r.f32("input_mean"), scale = r.f32("input_scale");
  const std::uint32_t count = r.u32("layer_count");
  if (count < 1 || count > 64) throw Error(path.string() + ": implausible layer count " + std::to_string(count));
  std::vector<DenseLayer> layers;
  for (std::uint32_t l = 0; l < count; ++l) {
    const std::string at = "layer " + std::to_string(l);
    const std::uint32_t in = r.u32(at + " inputs"), out = r.u32(at + " outputs");
    if (in < 1 || out < 1 || in > kMaxDim || out > kMaxDim)
      throw Error(path.string() + ": " + at + " has implausible size " + std::to_string(in) + " x " + std::to_string(out));
    DenseLayer layer{in, out, r.floats(std::uint64_t{in} * out, at + " weights"), r.floats(out, at + " biases")};
    layers.push_back(std::move(layer));
  }
  if (r.at() != r.size())
    throw Error(path.string() + ": " + std::to_string(r.size() - r.at()) + " unexpected bytes after the last layer");
  try {
    return ImageMlpClassifier(c, h, w, mean, scale, std::move(layers));
  } catch (const Error& e) {
    throw Error(path.string() + ": " + e.what());
  }
}

std::unique_ptr<Model> load_image_model(const ModelConfig& config, const fs::path& package_root) {
  if (config.kind != ImageMlpClassifier::kKind)
    throw Error("load_image_model: model kind \"" + config.kind + "\" is not \"" +
                std::string(ImageMlpClassifier::kKind) + "\"");
  if (config.task != TaskType::kClassification)
    throw Error("model kind \"image_mlp\" is a classifier but the manifest says task " + std::string(to_string(config.task)));
  const auto file = model_detail::resolve_inside_package(package_root, config.file, "model file");
  auto model = std::make_unique<ImageMlpClassifier>(load_image_classifier(file));
  if (config.input_dim != model->input_dim())
    throw Error(file.string() + ": the manifest says input_dim " + std::to_string(config.input_dim) +
                " but the model takes " + std::to_string(model->input_dim()) + " pixels");
  if (config.output_dim != model->output_dim())
    throw Error(file.string() + ": the manifest says output_dim " + std::to_string(config.output_dim) +
                " but the model has " + std::to_string(model->output_dim()) + " classes");
  return model;
}

}  // namespace lwd
