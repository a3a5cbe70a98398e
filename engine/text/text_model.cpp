#include "engine/text/text_model.h"

#include "engine/error.h"
#include "engine/model/package_paths.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/unicode_text.h"
#include "kernels/random.h"

namespace lwd {

const std::vector<std::string>& text_model_kinds() {
  static const std::vector<std::string> kinds = {std::string(NaiveBayesTextModel::kKind)};
  return kinds;
}

std::unique_ptr<Model> load_text_model(const ModelConfig& config, const std::filesystem::path& package_root) {
  if (config.kind != NaiveBayesTextModel::kKind) {
    std::string known;
    for (const auto& kind : text_model_kinds()) known += (known.empty() ? "\"" : ", \"") + kind + "\"";
    throw Error("\"" + config.kind + "\" is not a text model kind (text kinds: " + known + ")");
  }
  if (config.task != TaskType::kClassification)
    throw Error("model kind \"" + config.kind + "\" is a classifier, but the manifest's task is \"" +
                std::string(to_string(config.task)) + "\"");
  const auto file = model_detail::resolve_inside_package(package_root, config.file, "model file");
  auto model = std::make_unique<NaiveBayesTextModel>(load_naive_bayes_model(file));
  if (config.output_dim != model->output_dim())
    throw Error(file.string() + ": the model has " + std::to_string(model->output_dim()) +
                " classes but the manifest declares output_dim " + std::to_string(config.output_dim));
  if (config.input_dim != 0 && config.input_dim != model->input_dim())
    throw Error(file.string() + ": the model's vocabulary has " + std::to_string(model->input_dim()) +
                " words but the manifest declares input_dim " + std::to_string(config.input_dim) +
                " (a text model's input_dim is its vocabulary size, or 0)");
  return model;
}

std::vector<std::string> text_probe_documents(std::int64_t count, std::uint64_t seed) {
  if (count < 0) throw Error("text_probe_documents: count must be >= 0");
  // Printable ASCII from the space (0x20) to '~' (0x7E).
  constexpr char32_t kAsciiFirst = 0x20, kAsciiLast = 0x7E;
  constexpr char32_t kHanFirst = 0x4E00, kHanLast = 0x9FFF;
  kernels::Rng rng(seed);
  std::vector<std::string> documents(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t length = 10 + rng.below(191);
    const bool han = (i % 2) == 1;
    const char32_t first = han ? kHanFirst : kAsciiFirst;
    const std::uint64_t span = (han ? kHanLast : kAsciiLast) - first + 1;
    std::string& doc = documents[static_cast<std::size_t>(i)];
    for (std::uint64_t k = 0; k < length; ++k) text::append_utf8(doc, first + static_cast<char32_t>(rng.below(span)));
  }
  return documents;
}

}  // namespace lwd
