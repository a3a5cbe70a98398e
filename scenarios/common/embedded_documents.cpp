#include "scenarios/common/embedded_documents.h"

#include <cstring>

#include "engine/error.h"
#include "engine/text/text_model.h"

namespace lwd::scenarios {
namespace {

std::string row_key(const double* row, std::int64_t cols) {
  return std::string(reinterpret_cast<const char*>(row), static_cast<std::size_t>(cols) * sizeof(double));
}

// A TextModel behind numeric rows: each row names a document of `documents`.
class EmbeddedDocumentsModel final : public Model {
 public:
  EmbeddedDocumentsModel(std::shared_ptr<const Model> model, const TextModel& text,
                         std::shared_ptr<const EmbeddedDocuments> documents)
      : model_(std::move(model)), text_(text), documents_(std::move(documents)) {}

  std::string_view kind() const override { return model_->kind(); }
  TaskType task() const override { return model_->task(); }
  std::int64_t input_dim() const override { return documents_->rows().cols(); }
  std::int64_t output_dim() const override { return model_->output_dim(); }
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override {
    const std::vector<std::string> documents = documents_->documents_of(x);
    return text_.predict_text(documents);
  }

 private:
  std::shared_ptr<const Model> model_;  // keeps text_ alive
  const TextModel& text_;
  std::shared_ptr<const EmbeddedDocuments> documents_;
};

}  // namespace

EmbeddedDocuments::EmbeddedDocuments(std::vector<std::string> documents, const text::SentenceEncoder& encoder,
                                     const kernels::Context& ctx)
    : documents_(std::move(documents)), rows_(encoder.encode(ctx, documents_)) {
  if (rows_.rows() != static_cast<std::int64_t>(documents_.size()))
    throw Error("embedded documents: the encoder returned " + std::to_string(rows_.rows()) + " rows for " +
                std::to_string(documents_.size()) + " documents");
  for (std::int64_t i = 0; i < rows_.rows(); ++i) index_of_row_.emplace(row_key(rows_.row(i), rows_.cols()), i);
}

kernels::Matrix<double> EmbeddedDocuments::rows_of(std::span<const std::int64_t> indices) const {
  kernels::Matrix<double> out(static_cast<std::int64_t>(indices.size()), rows_.cols());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= rows_.rows())
      throw Error("embedded documents: document " + std::to_string(indices[i]) + " of " +
                  std::to_string(rows_.rows()) + " asked for");
    std::copy_n(rows_.row(indices[i]), rows_.cols(), out.row(static_cast<std::int64_t>(i)));
  }
  return out;
}

std::vector<std::string> EmbeddedDocuments::documents_of(kernels::ConstMatrixView<double> x) const {
  if (x.cols != rows_.cols())
    throw Error("embedded documents: rows of width " + std::to_string(x.cols) + ", the embeddings have " +
                std::to_string(rows_.cols()));
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(x.rows));
  for (std::int64_t i = 0; i < x.rows; ++i) {
    const auto it = index_of_row_.find(row_key(x.row(i), x.cols));
    if (it == index_of_row_.end())
      throw Error("embedded documents: row " + std::to_string(i) + " is not the embedding of any of the " +
                  std::to_string(documents_.size()) + " documents");
    out.push_back(documents_[static_cast<std::size_t>(it->second)]);
  }
  return out;
}

Learnware on_embedded_documents(const Learnware& learnware, std::shared_ptr<const EmbeddedDocuments> documents) {
  if (!learnware.model) throw Error("learnware " + learnware.id + " has no model");
  const TextModel* text = as_text_model(*learnware.model);
  if (!text) throw Error("learnware " + learnware.id + " (model kind " + std::string(learnware.model->kind()) +
                         ") reads no text");
  Learnware out = learnware;
  out.model = std::make_shared<EmbeddedDocumentsModel>(learnware.model, *text, std::move(documents));
  return out;
}

}  // namespace lwd::scenarios
