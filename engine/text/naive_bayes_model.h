// Model kind "tfidf_naive_bayes": tf-idf features + multinomial naive Bayes,
// the text learnwares of the reference experiment (scikit-learn's
// TfidfVectorizer + MultinomialNB), with its training code.
//
// Features of a document (as TfidfVectorizer with smooth_idf, norm "l2"):
//   tf_j   = count of vocabulary word j (or 1 + ln count with sublinear_tf)
//   idf_j  = ln((1 + n) / (1 + df_j)) + 1,   n = training documents,
//            df_j = training documents containing word j
//   x      = (tf * idf) / ||tf * idf||_2     (zero row if no known word)
// Classification (as MultinomialNB):
//   log P(c)    = ln(class_count_c / n)      (-inf for a class never seen:
//                                             its probability is 0)
//   log θ_cj    = ln((F_cj + alpha) / (sum_k F_ck + alpha V)),
//                 F_cj = sum of x_j over the training documents of class c
//   P(c | x)    = softmax_c(log P(c) + sum_j x_j log θ_cj)
//
// Model file (UTF-8 JSON). It holds the vocabulary and the counts -- the
// sufficient statistics -- and the parameters are derived from them on load,
// so a file cannot hold an idf that disagrees with its counts:
//   {"format": "lwdock-tfidf-naive-bayes", "version": 1,
//    "tokenizer": {"lowercase": true, "min_token_chars": 2, "keep_hyphenated": false},
//    "sublinear_tf": false, "alpha": 0.1,
//    "num_documents": n,
//    "vocabulary": ["word", ...],            V distinct non-empty strings
//    "document_frequency": [df_0, ...],      V integers in [0, n]
//    "class_count": [n_0, ...],              C >= 2 integers >= 0, summing to n
//    "feature_count": [[F_00, ...], ...]}    C rows of V finite numbers >= 0
// Anything else is rejected with an lwd::Error naming the file and field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/text/text_model.h"
#include "engine/text/tokenizer.h"
#include "kernels/matrix.h"

namespace lwd {

struct NaiveBayesCounts {
  std::vector<std::string> vocabulary;
  std::vector<std::int64_t> document_frequency;
  std::int64_t num_documents = 0;
  std::vector<std::int64_t> class_count;
  kernels::Matrix<double> feature_count;  // classes x vocabulary
};

struct NaiveBayesOptions {
  double alpha = 0.1;  // the reference's text learnwares use MultinomialNB(alpha=0.1)
  // scikit-learn's default token pattern keeps words of 2+ characters and
  // splits hyphenated words.
  text::TokenizerOptions tokenizer{.lowercase = true, .min_token_chars = 2, .keep_hyphenated = false};
  bool sublinear_tf = false;
  std::int64_t min_document_frequency = 1;  // words in fewer training documents are left out
  std::int64_t max_features = 0;            // 0: no limit; else the words in most documents (ties alphabetical)
};

class NaiveBayesTextModel final : public TextModel {
 public:
  static constexpr std::string_view kKind = "tfidf_naive_bayes";
  static constexpr std::string_view kFormat = "lwdock-tfidf-naive-bayes";
  static constexpr int kFormatVersion = 1;

  // Validates the counts (see the file format) and derives idf, log priors
  // and log probabilities. Throws lwd::Error naming the problem.
  NaiveBayesTextModel(NaiveBayesCounts counts, double alpha, text::TokenizerOptions tokenizer, bool sublinear_tf);

  std::string_view kind() const override { return kKind; }
  TaskType task() const override { return TaskType::kClassification; }
  std::int64_t input_dim() const override { return vocabulary_size(); }
  std::int64_t output_dim() const override { return num_classes(); }
  // Rows of word counts over the vocabulary (finite, >= 0).
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;
  kernels::Matrix<double> predict_text(std::span<const std::string> documents) const override;

  // Row of word counts of one document over the vocabulary (what predict takes).
  std::vector<double> word_counts(std::string_view document) const;

  std::int64_t vocabulary_size() const { return static_cast<std::int64_t>(counts_.vocabulary.size()); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(counts_.class_count.size()); }
  const NaiveBayesCounts& counts() const { return counts_; }
  double alpha() const { return alpha_; }
  const text::TokenizerOptions& tokenizer() const { return tokenizer_; }
  bool sublinear_tf() const { return sublinear_tf_; }
  const std::vector<double>& idf() const { return idf_; }
  const std::vector<double>& class_log_prior() const { return class_log_prior_; }
  const kernels::Matrix<double>& feature_log_prob() const { return feature_log_prob_; }

  std::string to_json_text() const;
  static NaiveBayesTextModel parse(std::string_view json_text, std::string_view source = "<memory>");

 private:
  // Posterior probabilities of one document given its (column, count) pairs.
  void posterior(std::span<const std::pair<std::int64_t, double>> counts, double* out) const;

  NaiveBayesCounts counts_;
  double alpha_;
  text::TokenizerOptions tokenizer_;
  bool sublinear_tf_;
  std::unordered_map<std::string, std::int64_t> column_of_;
  std::vector<double> idf_;
  std::vector<double> class_log_prior_;
  kernels::Matrix<double> feature_log_prob_;
};

// Fits the model on labelled documents: labels in [0, num_classes),
// num_classes >= 2 (a class may have no documents). Throws lwd::Error on
// mismatched lengths, a label out of range, no documents, invalid options, or
// a vocabulary left empty by the options.
NaiveBayesTextModel train_naive_bayes(std::span<const std::string> documents, std::span<const std::int64_t> labels,
                                      std::int64_t num_classes, const NaiveBayesOptions& options = {});

// File forms: errors name the path; save is atomic.
NaiveBayesTextModel load_naive_bayes_model(const std::filesystem::path& path);
void save_naive_bayes_model(const NaiveBayesTextModel& model, const std::filesystem::path& path);

}  // namespace lwd
