// Models whose input is text.
//
// The market's Model interface predicts from numeric rows. A text model is a
// Model too -- so packages, the store and reuse handle it like any other --
// whose numeric input is the bag of words over its own vocabulary
// (input_dim = vocabulary size, row j = count of vocabulary word j), and it
// adds predict_text() for what users actually hand it: raw documents. Code
// that has documents (the checker, reuse on text) asks for a TextModel with
// as_text_model(); code that has count rows keeps calling predict(). Making
// predict() take embeddings instead would tie a model to one sentence
// encoder, and a separate interface outside Model would need a second path
// through every layer that stores or loads models.
//
// The checker cannot herd documents from a text spec (its points are
// embeddings), so it probes a text model with text_probe_documents(), as the
// reference's checker probes with random strings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "kernels/matrix.h"

namespace lwd {

class TextModel : public Model {
 public:
  // documents.size() x output_dim, with the Model output conventions.
  // Throws lwd::Error naming the model on failure.
  virtual kernels::Matrix<double> predict_text(std::span<const std::string> documents) const = 0;
};

// The model as a TextModel, or nullptr when it takes no text.
inline const TextModel* as_text_model(const Model& model) { return dynamic_cast<const TextModel*>(&model); }

// The text model kinds, in one explicit list.
const std::vector<std::string>& text_model_kinds();

// Loads a text model kind from a package, the model file resolved inside
// `package_root` (never outside it). Throws lwd::Error on a kind that is not
// a text kind, a missing or malformed file, a task other than
// classification, or widths that disagree with the config: output_dim must be
// the model's number of classes, input_dim 0 (not stated) or its vocabulary
// size.
std::unique_ptr<Model> load_text_model(const ModelConfig& config, const std::filesystem::path& package_root);

// `count` documents of random characters, seeded: even ones of printable
// ASCII (letters, digits, punctuation, spaces), odd ones of CJK ideographs,
// 10 to 200 characters each. Garbage on purpose: a usable model must return
// finite scores of the right shape for any text.
std::vector<std::string> text_probe_documents(std::int64_t count, std::uint64_t seed);

}  // namespace lwd
