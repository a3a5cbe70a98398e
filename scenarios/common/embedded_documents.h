// Text learnwares as the row-based reusers see them.
//
// A text learnware's model reads documents (TextModel::predict_text) while
// its specification is an RKME of sentence embeddings. Every reuser of
// engine/reuse works on numeric rows and compares rows with specs, so a
// runner hands text learnwares over wrapped: the rows are the sentence
// embeddings of the user's documents (the space the specs live in, so the
// engine's job selector routes them as it routes table rows, and feature
// augmentation gets them as the user's features), and the wrapped model
// predicts a row by finding the document it embeds and running predict_text
// on that document.
//
// The lookup is by the exact bits of the row: reusers pass the user's rows
// through unchanged (subsets, copies), so every row they hand a model is one
// of the rows registered here. A row that is not is an lwd::Error, never a
// guess. Documents that embed to identical rows (identical text, in
// practice) are served by the first of them.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/reuse/learnware.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd::scenarios {

class EmbeddedDocuments {
 public:
  // Embeds `documents` with `encoder` (the market's: the one the learnwares'
  // specs were made with).
  EmbeddedDocuments(std::vector<std::string> documents, const text::SentenceEncoder& encoder,
                    const kernels::Context& ctx);

  const std::vector<std::string>& documents() const { return documents_; }
  // One row per document, in order.
  const kernels::Matrix<double>& rows() const { return rows_; }
  // The rows of documents `indices`, in that order.
  kernels::Matrix<double> rows_of(std::span<const std::int64_t> indices) const;
  // The document each row of x embeds. Throws lwd::Error for a row of the
  // wrong width or one that embeds none of the documents.
  std::vector<std::string> documents_of(kernels::ConstMatrixView<double> x) const;

 private:
  std::vector<std::string> documents_;
  kernels::Matrix<double> rows_;
  std::unordered_map<std::string, std::int64_t> index_of_row_;  // the row's bytes -> first document
};

// `learnware` with its model replaced by one that predicts rows of
// `documents` (see above); id, package, specs and semantic are kept. Throws
// lwd::Error when the learnware's model reads no text.
Learnware on_embedded_documents(const Learnware& learnware, std::shared_ptr<const EmbeddedDocuments> documents);

}  // namespace lwd::scenarios
