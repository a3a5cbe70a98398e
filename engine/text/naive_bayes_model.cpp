#include "engine/text/naive_bayes_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace lwd {
namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(std::string(source) + ": " + what);
}

std::string field_ref(std::string_view field) { return "field \"" + std::string(field) + "\""; }

const json& require_field(const json& in, std::string_view field, std::string_view source) {
  const auto it = in.find(std::string(field));
  if (it == in.end()) fail(source, "missing " + field_ref(field));
  return *it;
}

std::int64_t read_integer(const json& v, const std::string& what, std::string_view source) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail(source, what + " is too large");
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  fail(source, what + " must be an integer, got " + v.type_name());
}

double read_number(const json& v, const std::string& what, std::string_view source) {
  if (!v.is_number()) fail(source, what + " must be a number, got " + v.type_name());
  const double x = v.get<double>();
  if (!std::isfinite(x)) fail(source, what + " is not finite");
  return x;
}

bool read_bool(const json& v, const std::string& what, std::string_view source) {
  if (!v.is_boolean()) fail(source, what + " must be true or false, got " + v.type_name());
  return v.get<bool>();
}

const json& require_array(const json& in, std::string_view field, std::string_view source) {
  const json& v = require_field(in, field, source);
  if (!v.is_array()) fail(source, field_ref(field) + " must be an array, got " + v.type_name());
  return v;
}

std::vector<std::int64_t> read_integer_array(const json& in, std::string_view field, std::string_view source) {
  const json& v = require_array(in, field, source);
  std::vector<std::int64_t> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(read_integer(v[i], field_ref(field) + "[" + std::to_string(i) + "]", source));
  return out;
}

text::TokenizerOptions read_tokenizer(const json& in, std::string_view source) {
  const json& t = require_field(in, "tokenizer", source);
  if (!t.is_object()) fail(source, field_ref("tokenizer") + " must be an object, got " + t.type_name());
  text::TokenizerOptions options;
  options.lowercase = read_bool(require_field(t, "lowercase", source), "tokenizer.lowercase", source);
  const std::int64_t min_chars = read_integer(require_field(t, "min_token_chars", source), "tokenizer.min_token_chars", source);
  if (min_chars < 1 || min_chars > 1000) fail(source, "tokenizer.min_token_chars must be in [1, 1000]");
  options.min_token_chars = static_cast<int>(min_chars);
  options.keep_hyphenated = read_bool(require_field(t, "keep_hyphenated", source), "tokenizer.keep_hyphenated", source);
  return options;
}

void validate_alpha(double alpha, std::string_view source) {
  if (!(std::isfinite(alpha) && alpha > 0)) fail(source, "alpha must be a finite number > 0");
}

// Sorted (column, count) pairs of a document's known words.
std::vector<std::pair<std::int64_t, double>> sparse_counts(
    std::string_view document, const text::TokenizerOptions& tokenizer,
    const std::unordered_map<std::string, std::int64_t>& column_of) {
  std::vector<std::pair<std::int64_t, double>> counts;
  std::string key;
  text::for_each_token(document, tokenizer, [&](std::string_view token) {
    key.assign(token);
    const auto it = column_of.find(key);
    if (it != column_of.end()) counts.emplace_back(it->second, 1.0);
  });
  std::sort(counts.begin(), counts.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (out > 0 && counts[out - 1].first == counts[i].first) {
      counts[out - 1].second += 1.0;
    } else {
      counts[out++] = counts[i];
    }
  }
  counts.resize(out);
  return counts;
}

// tf-idf of sparse counts, L2-normalised, in place.
void tfidf_in_place(std::vector<std::pair<std::int64_t, double>>& counts, const std::vector<double>& idf,
                    bool sublinear_tf) {
  double sq = 0.0;
  for (auto& [j, value] : counts) {
    const double tf = sublinear_tf ? 1.0 + std::log(value) : value;
    value = tf * idf[static_cast<std::size_t>(j)];
    sq += value * value;
  }
  if (sq > 0) {
    const double inv = 1.0 / std::sqrt(sq);
    for (auto& entry : counts) entry.second *= inv;
  }
}

std::vector<double> smooth_idf(const std::vector<std::int64_t>& df, std::int64_t n) {
  std::vector<double> idf(df.size());
  for (std::size_t j = 0; j < df.size(); ++j)
    idf[j] = std::log((1.0 + static_cast<double>(n)) / (1.0 + static_cast<double>(df[j]))) + 1.0;
  return idf;
}

}  // namespace

NaiveBayesTextModel::NaiveBayesTextModel(NaiveBayesCounts counts, double alpha, text::TokenizerOptions tokenizer,
                                         bool sublinear_tf)
    : counts_(std::move(counts)), alpha_(alpha), tokenizer_(tokenizer), sublinear_tf_(sublinear_tf) {
  const std::string_view source = "naive Bayes model";
  validate_alpha(alpha_, source);
  if (tokenizer_.min_token_chars < 1) fail(source, "tokenizer.min_token_chars must be >= 1");
  const std::size_t v = counts_.vocabulary.size();
  const std::size_t c = counts_.class_count.size();
  if (v == 0) fail(source, "the vocabulary is empty");
  if (c < 2) fail(source, "a classifier needs at least 2 classes (got " + std::to_string(c) + ")");
  if (counts_.num_documents < 1) fail(source, "num_documents must be >= 1");
  if (counts_.document_frequency.size() != v)
    fail(source, "document_frequency has " + std::to_string(counts_.document_frequency.size()) +
                     " entries for a vocabulary of " + std::to_string(v));
  column_of_.reserve(v);
  for (std::size_t j = 0; j < v; ++j) {
    const std::string& word = counts_.vocabulary[j];
    if (word.empty()) fail(source, "vocabulary[" + std::to_string(j) + "] is empty");
    if (!column_of_.emplace(word, static_cast<std::int64_t>(j)).second)
      fail(source, "vocabulary word \"" + word + "\" appears twice");
    const std::int64_t df = counts_.document_frequency[j];
    if (df < 0 || df > counts_.num_documents)
      fail(source, "document_frequency[" + std::to_string(j) + "] = " + std::to_string(df) + " is outside [0, " +
                       std::to_string(counts_.num_documents) + "]");
  }
  std::int64_t documents = 0;
  for (std::size_t k = 0; k < c; ++k) {
    if (counts_.class_count[k] < 0) fail(source, "class_count[" + std::to_string(k) + "] is negative");
    documents += counts_.class_count[k];
  }
  if (documents != counts_.num_documents)
    fail(source, "class_count sums to " + std::to_string(documents) + " but num_documents is " +
                     std::to_string(counts_.num_documents));
  if (counts_.feature_count.rows() != static_cast<std::int64_t>(c) ||
      counts_.feature_count.cols() != static_cast<std::int64_t>(v))
    fail(source, "feature_count is " + std::to_string(counts_.feature_count.rows()) + " x " +
                     std::to_string(counts_.feature_count.cols()) + ", expected " + std::to_string(c) + " x " +
                     std::to_string(v) + " (classes x vocabulary)");
  for (double x : counts_.feature_count.values())
    if (!(std::isfinite(x) && x >= 0)) fail(source, "feature_count holds a negative or non-finite value");

  idf_ = smooth_idf(counts_.document_frequency, counts_.num_documents);
  class_log_prior_.resize(c);
  for (std::size_t k = 0; k < c; ++k)
    class_log_prior_[k] = counts_.class_count[k] > 0 ? std::log(static_cast<double>(counts_.class_count[k]) /
                                                                static_cast<double>(counts_.num_documents))
                                                     : -std::numeric_limits<double>::infinity();
  feature_log_prob_ = kernels::Matrix<double>(static_cast<std::int64_t>(c), static_cast<std::int64_t>(v));
  for (std::size_t k = 0; k < c; ++k) {
    const double* row = counts_.feature_count.row(static_cast<std::int64_t>(k));
    double total = 0.0;
    for (std::size_t j = 0; j < v; ++j) total += row[j];
    const double log_denominator = std::log(total + alpha_ * static_cast<double>(v));
    double* out = feature_log_prob_.row(static_cast<std::int64_t>(k));
    for (std::size_t j = 0; j < v; ++j) out[j] = std::log(row[j] + alpha_) - log_denominator;
  }
}

void NaiveBayesTextModel::posterior(std::span<const std::pair<std::int64_t, double>> features, double* out) const {
  const std::int64_t c = num_classes();
  double best = -std::numeric_limits<double>::infinity();
  for (std::int64_t k = 0; k < c; ++k) {
    double score = class_log_prior_[static_cast<std::size_t>(k)];
    if (std::isfinite(score)) {
      const double* log_prob = feature_log_prob_.row(k);
      for (const auto& [j, x] : features) score += x * log_prob[j];
    }
    out[k] = score;
    best = std::max(best, score);
  }
  double sum = 0.0;
  for (std::int64_t k = 0; k < c; ++k) {
    out[k] = std::isfinite(out[k]) ? std::exp(out[k] - best) : 0.0;
    sum += out[k];
  }
  for (std::int64_t k = 0; k < c; ++k) out[k] /= sum;
}

kernels::Matrix<double> NaiveBayesTextModel::predict(kernels::ConstMatrixView<double> x) const {
  if (x.cols != vocabulary_size())
    throw Error("tfidf_naive_bayes model: input rows have " + std::to_string(x.cols) +
                " columns but the model's vocabulary has " + std::to_string(vocabulary_size()) + " words");
  kernels::Matrix<double> out(x.rows, num_classes());
  std::vector<std::pair<std::int64_t, double>> features;
  for (std::int64_t i = 0; i < x.rows; ++i) {
    features.clear();
    const double* row = x.row(i);
    for (std::int64_t j = 0; j < x.cols; ++j) {
      if (!(std::isfinite(row[j]) && row[j] >= 0))
        throw Error("tfidf_naive_bayes model: input row " + std::to_string(i) + ", column " + std::to_string(j) +
                    " is not a word count (finite and >= 0)");
      if (row[j] > 0) features.emplace_back(j, row[j]);
    }
    tfidf_in_place(features, idf_, sublinear_tf_);
    posterior(features, out.row(i));
  }
  return out;
}

kernels::Matrix<double> NaiveBayesTextModel::predict_text(std::span<const std::string> documents) const {
  kernels::Matrix<double> out(static_cast<std::int64_t>(documents.size()), num_classes());
  for (std::size_t i = 0; i < documents.size(); ++i) {
    auto features = sparse_counts(documents[i], tokenizer_, column_of_);
    tfidf_in_place(features, idf_, sublinear_tf_);
    posterior(features, out.row(static_cast<std::int64_t>(i)));
  }
  return out;
}

std::vector<double> NaiveBayesTextModel::word_counts(std::string_view document) const {
  std::vector<double> row(counts_.vocabulary.size(), 0.0);
  for (const auto& [j, count] : sparse_counts(document, tokenizer_, column_of_)) row[static_cast<std::size_t>(j)] = count;
  return row;
}

std::string NaiveBayesTextModel::to_json_text() const {
  nlohmann::ordered_json out;
  out["format"] = kFormat;
  out["version"] = kFormatVersion;
  out["tokenizer"] = {{"lowercase", tokenizer_.lowercase},
                      {"min_token_chars", tokenizer_.min_token_chars},
                      {"keep_hyphenated", tokenizer_.keep_hyphenated}};
  out["sublinear_tf"] = sublinear_tf_;
  out["alpha"] = alpha_;
  out["num_documents"] = counts_.num_documents;
  out["vocabulary"] = counts_.vocabulary;
  out["document_frequency"] = counts_.document_frequency;
  out["class_count"] = counts_.class_count;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (std::int64_t k = 0; k < counts_.feature_count.rows(); ++k) {
    const double* row = counts_.feature_count.row(k);
    rows.push_back(std::vector<double>(row, row + counts_.feature_count.cols()));
  }
  out["feature_count"] = std::move(rows);
  return out.dump();
}

NaiveBayesTextModel NaiveBayesTextModel::parse(std::string_view json_text, std::string_view source) {
  json in;
  try {
    in = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(source, std::string("invalid JSON: ") + e.what());
  }
  if (!in.is_object()) fail(source, std::string("expected a JSON object, got ") + in.type_name());
  const json& format = require_field(in, "format", source);
  if (!format.is_string() || format.get<std::string>() != kFormat)
    fail(source, field_ref("format") + " must be \"" + std::string(kFormat) + "\" (not a tfidf_naive_bayes model file)");
  const std::int64_t version = read_integer(require_field(in, "version", source), field_ref("version"), source);
  if (version != kFormatVersion)
    fail(source, "model file version " + std::to_string(version) + " is not supported (this build reads version " +
                     std::to_string(kFormatVersion) + ")");

  const text::TokenizerOptions tokenizer = read_tokenizer(in, source);
  const bool sublinear = read_bool(require_field(in, "sublinear_tf", source), field_ref("sublinear_tf"), source);
  const double alpha = read_number(require_field(in, "alpha", source), field_ref("alpha"), source);
  validate_alpha(alpha, source);

  NaiveBayesCounts counts;
  counts.num_documents = read_integer(require_field(in, "num_documents", source), field_ref("num_documents"), source);
  const json& vocabulary = require_array(in, "vocabulary", source);
  counts.vocabulary.reserve(vocabulary.size());
  for (std::size_t j = 0; j < vocabulary.size(); ++j) {
    if (!vocabulary[j].is_string())
      fail(source, field_ref("vocabulary") + "[" + std::to_string(j) + "] must be a string, got " +
                       vocabulary[j].type_name());
    counts.vocabulary.push_back(vocabulary[j].get<std::string>());
  }
  counts.document_frequency = read_integer_array(in, "document_frequency", source);
  counts.class_count = read_integer_array(in, "class_count", source);

  const json& rows = require_array(in, "feature_count", source);
  const std::size_t v = counts.vocabulary.size();
  std::vector<double> values;
  values.reserve(rows.size() * v);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const json& row = rows[k];
    const std::string at = field_ref("feature_count") + "[" + std::to_string(k) + "]";
    if (!row.is_array()) fail(source, at + " must be an array of numbers, got " + row.type_name());
    if (row.size() != v)
      fail(source, at + " has " + std::to_string(row.size()) + " entries for a vocabulary of " + std::to_string(v));
    for (std::size_t j = 0; j < v; ++j) values.push_back(read_number(row[j], at + "[" + std::to_string(j) + "]", source));
  }
  counts.feature_count =
      kernels::Matrix<double>(static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(v), std::move(values));
  try {
    return NaiveBayesTextModel(std::move(counts), alpha, tokenizer, sublinear);
  } catch (const Error& e) {
    fail(source, e.what());
  }
}

NaiveBayesTextModel train_naive_bayes(std::span<const std::string> documents, std::span<const std::int64_t> labels,
                                      std::int64_t num_classes, const NaiveBayesOptions& options) {
  if (documents.empty()) throw Error("train_naive_bayes: no documents");
  if (documents.size() != labels.size())
    throw Error("train_naive_bayes: " + std::to_string(documents.size()) + " documents but " +
                std::to_string(labels.size()) + " labels");
  if (num_classes < 2) throw Error("train_naive_bayes: num_classes must be >= 2 (got " + std::to_string(num_classes) + ")");
  validate_alpha(options.alpha, "train_naive_bayes");
  if (options.min_document_frequency < 1) throw Error("train_naive_bayes: min_document_frequency must be >= 1");
  if (options.max_features < 0) throw Error("train_naive_bayes: max_features must be >= 0");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= num_classes)
      throw Error("train_naive_bayes: label " + std::to_string(labels[i]) + " of document " + std::to_string(i) +
                  " is outside [0, " + std::to_string(num_classes) + ")");

  // Document frequencies over the whole training set.
  std::map<std::string, std::int64_t, std::less<>> df;
  std::vector<std::string> distinct;
  for (const std::string& document : documents) {
    distinct = text::tokenize(document, options.tokenizer);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (auto& word : distinct) ++df[word];
  }
  std::vector<std::pair<std::string, std::int64_t>> kept;
  for (auto& [word, count] : df)
    if (count >= options.min_document_frequency) kept.emplace_back(word, count);
  if (options.max_features > 0 && static_cast<std::int64_t>(kept.size()) > options.max_features) {
    std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    kept.resize(static_cast<std::size_t>(options.max_features));
    std::sort(kept.begin(), kept.end());
  }
  if (kept.empty()) throw Error("train_naive_bayes: no word is left in the vocabulary (documents without words?)");

  NaiveBayesCounts counts;
  counts.num_documents = static_cast<std::int64_t>(documents.size());
  std::unordered_map<std::string, std::int64_t> column_of;
  for (auto& [word, count] : kept) {
    column_of.emplace(word, static_cast<std::int64_t>(counts.vocabulary.size()));
    counts.vocabulary.push_back(word);
    counts.document_frequency.push_back(count);
  }
  const std::vector<double> idf = smooth_idf(counts.document_frequency, counts.num_documents);
  counts.class_count.assign(static_cast<std::size_t>(num_classes), 0);
  counts.feature_count = kernels::Matrix<double>(num_classes, static_cast<std::int64_t>(counts.vocabulary.size()));
  for (std::size_t i = 0; i < documents.size(); ++i) {
    auto features = sparse_counts(documents[i], options.tokenizer, column_of);
    tfidf_in_place(features, idf, options.sublinear_tf);
    double* row = counts.feature_count.row(labels[i]);
    for (const auto& [j, x] : features) row[j] += x;
    ++counts.class_count[static_cast<std::size_t>(labels[i])];
  }
  return NaiveBayesTextModel(std::move(counts), options.alpha, options.tokenizer, options.sublinear_tf);
}

NaiveBayesTextModel load_naive_bayes_model(const std::filesystem::path& path) {
  return NaiveBayesTextModel::parse(io::read_text_file(path), path.string());
}

void save_naive_bayes_model(const NaiveBayesTextModel& model, const std::filesystem::path& path) {
  io::write_text_file_atomically(path, model.to_json_text());
}

}  // namespace lwd
