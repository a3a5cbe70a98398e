// Model kind "tfidf_naive_bayes": the formulas on a corpus small enough to
// check by hand, accuracy on a toy topic task, the numeric and text paths
// agreeing, the model file round trip, malformed files, and loading from a
// package as the market does.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/text/naive_bayes_model.h"
#include "engine/text/text_model.h"
#include "kernels/random.h"
#include "text/text_test_util.h"

namespace lwd {
namespace {

using lwd::test::expect_error_mentions;
using lwd::test::TextScratchDir;

// Documents of three topics: each mixes topic words with words every topic
// shares, so a classifier must find the topic words.
struct ToyCorpus {
  std::vector<std::string> documents;
  std::vector<std::int64_t> labels;
};

ToyCorpus toy_corpus(int per_class, std::uint64_t seed) {
  const std::vector<std::vector<std::string>> topic_words = {
      {"goal", "team", "match", "league", "coach", "score", "season", "player", "stadium", "referee"},
      {"oven", "flour", "sauce", "recipe", "butter", "bake", "pepper", "garlic", "kitchen", "dough"},
      {"orbit", "rocket", "planet", "launch", "galaxy", "moon", "telescope", "astronaut", "satellite", "comet"},
  };
  const std::vector<std::string> shared = {"the", "and", "of", "today", "people", "new", "great", "year", "said", "time"};
  kernels::Rng rng(seed);
  ToyCorpus corpus;
  for (int i = 0; i < per_class; ++i) {
    for (std::int64_t c = 0; c < 3; ++c) {
      std::string doc;
      for (int w = 0; w < 12; ++w) {
        // One word in three from the topic, the rest shared.
        const bool topical = rng.below(3) == 0;
        const auto& pool = topical ? topic_words[static_cast<std::size_t>(c)] : shared;
        doc += pool[rng.below(pool.size())] + " ";
      }
      corpus.documents.push_back(doc);
      corpus.labels.push_back(c);
    }
  }
  return corpus;
}

TEST(NaiveBayes, FollowsTheTfIdfAndMultinomialFormulasOnATinyCorpus) {
  const std::vector<std::string> docs = {"apple apple banana", "banana cherry", "cherry cherry"};
  const std::vector<std::int64_t> labels = {0, 1, 1};
  NaiveBayesOptions options;
  options.alpha = 0.5;
  const auto model = train_naive_bayes(docs, labels, 2, options);
  ASSERT_EQ(model.counts().vocabulary, (std::vector<std::string>{"apple", "banana", "cherry"}));
  EXPECT_EQ(model.counts().document_frequency, (std::vector<std::int64_t>{1, 2, 2}));
  const double idf1 = std::log(4.0 / 2.0) + 1, idf2 = std::log(4.0 / 3.0) + 1;
  EXPECT_NEAR(model.idf()[0], idf1, 1e-15);
  EXPECT_NEAR(model.idf()[1], idf2, 1e-15);

  // Class 0 is document 0 alone: x = (2 idf1, idf2, 0) / norm.
  const double n0 = std::hypot(2 * idf1, idf2);
  const double f00 = 2 * idf1 / n0, f01 = idf2 / n0;
  EXPECT_NEAR(model.counts().feature_count(0, 0), f00, 1e-12);
  EXPECT_NEAR(model.counts().feature_count(0, 1), f01, 1e-12);
  EXPECT_EQ(model.counts().feature_count(0, 2), 0.0);
  const double total0 = f00 + f01;
  EXPECT_NEAR(model.feature_log_prob()(0, 0), std::log((f00 + 0.5) / (total0 + 1.5)), 1e-12);
  EXPECT_NEAR(model.feature_log_prob()(0, 2), std::log(0.5 / (total0 + 1.5)), 1e-12);
  EXPECT_NEAR(model.class_log_prior()[0], std::log(1.0 / 3.0), 1e-15);
  EXPECT_NEAR(model.class_log_prior()[1], std::log(2.0 / 3.0), 1e-15);

  // A query with only "cherry": x = (0, 0, 1).
  const std::vector<std::string> query = {"cherry"};
  const auto p = model.predict_text(query);
  const double s0 = model.class_log_prior()[0] + model.feature_log_prob()(0, 2);
  const double s1 = model.class_log_prior()[1] + model.feature_log_prob()(1, 2);
  EXPECT_NEAR(p(0, 1), 1.0 / (1.0 + std::exp(s0 - s1)), 1e-12);
  EXPECT_NEAR(p(0, 0) + p(0, 1), 1.0, 1e-15);
}

TEST(NaiveBayes, BeatsChanceByAWideMarginOnAToyTopicTask) {
  const auto train = toy_corpus(50, 1);
  const auto test = toy_corpus(50, 2);
  const auto model = train_naive_bayes(train.documents, train.labels, 3);
  const auto predictions = argmax_labels(model.predict_text(test.documents));
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < predictions.size(); ++i) correct += predictions[i] == test.labels[i];
  const double accuracy = static_cast<double>(correct) / static_cast<double>(predictions.size());
  EXPECT_GT(accuracy, 0.9) << "chance is 1/3";
}

TEST(NaiveBayes, ReturnsProbabilityRows) {
  const auto train = toy_corpus(10, 3);
  const auto model = train_naive_bayes(train.documents, train.labels, 3);
  const auto p = model.predict_text(train.documents);
  ASSERT_EQ(p.cols(), 3);
  for (std::int64_t i = 0; i < p.rows(); ++i) {
    double sum = 0;
    for (std::int64_t c = 0; c < 3; ++c) {
      EXPECT_GE(p(i, c), 0.0);
      sum += p(i, c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

TEST(NaiveBayes, NumericPredictOnWordCountsEqualsPredictText) {
  const auto train = toy_corpus(10, 4);
  const auto model = train_naive_bayes(train.documents, train.labels, 3);
  const std::vector<std::string> docs = {"goal goal oven the", "nothing known here", "rocket and moon"};
  kernels::Matrix<double> counts(3, model.input_dim());
  for (std::int64_t i = 0; i < 3; ++i) {
    const auto row = model.word_counts(docs[static_cast<std::size_t>(i)]);
    std::copy(row.begin(), row.end(), counts.row(i));
  }
  EXPECT_EQ(model.predict(counts.view()).values(), model.predict_text(docs).values());
  expect_error_mentions([&] { model.predict(kernels::Matrix<double>(1, 2).view()); }, {"2 columns", "vocabulary"});
  counts(0, 0) = -1;
  expect_error_mentions([&] { model.predict(counts.view()); }, {"row 0", "word count"});
}

TEST(NaiveBayes, GivesAClassWithoutTrainingDocumentsProbabilityZero) {
  const auto train = toy_corpus(5, 5);
  const auto model = train_naive_bayes(train.documents, train.labels, 4);
  const auto p = model.predict_text(train.documents);
  for (std::int64_t i = 0; i < p.rows(); ++i) EXPECT_EQ(p(i, 3), 0.0);
}

TEST(NaiveBayes, VocabularyOptionsLimitTheWords) {
  const auto train = toy_corpus(10, 6);
  NaiveBayesOptions options;
  options.max_features = 5;
  const auto top = train_naive_bayes(train.documents, train.labels, 3, options);
  EXPECT_EQ(top.vocabulary_size(), 5);
  EXPECT_TRUE(std::is_sorted(top.counts().vocabulary.begin(), top.counts().vocabulary.end()));
  options.max_features = 0;
  options.min_document_frequency = 1000;
  expect_error_mentions([&] { train_naive_bayes(train.documents, train.labels, 3, options); }, {"vocabulary"});
}

TEST(NaiveBayes, TrainingRejectsBadLabels) {
  const std::vector<std::string> docs = {"a word", "another word"};
  const std::vector<std::int64_t> bad = {0, 2};
  expect_error_mentions([&] { train_naive_bayes(docs, bad, 2); }, {"label 2", "document 1"});
  const std::vector<std::int64_t> short_labels = {0};
  expect_error_mentions([&] { train_naive_bayes(docs, short_labels, 2); }, {"2 documents", "1 labels"});
  const std::vector<std::int64_t> ok = {0, 1};
  expect_error_mentions([&] { train_naive_bayes(docs, ok, 1); }, {"num_classes"});
}

TEST(NaiveBayesFile, RoundTripsExactly) {
  const auto train = toy_corpus(10, 7);
  NaiveBayesOptions options;
  options.sublinear_tf = true;
  options.alpha = 0.37;
  const auto model = train_naive_bayes(train.documents, train.labels, 3, options);
  const std::string text = model.to_json_text();
  const auto back = NaiveBayesTextModel::parse(text);
  EXPECT_EQ(back.counts().vocabulary, model.counts().vocabulary);
  EXPECT_EQ(back.counts().feature_count.values(), model.counts().feature_count.values());
  EXPECT_EQ(back.alpha(), 0.37);
  EXPECT_TRUE(back.sublinear_tf());
  EXPECT_EQ(back.tokenizer(), model.tokenizer());
  EXPECT_EQ(back.predict_text(train.documents).values(), model.predict_text(train.documents).values());
  EXPECT_EQ(back.to_json_text(), text);

  TextScratchDir dir;
  save_naive_bayes_model(model, dir.path() / "nb.json");
  EXPECT_EQ(load_naive_bayes_model(dir.path() / "nb.json").to_json_text(), text);
}

std::string tiny_model_json() {
  const std::vector<std::string> docs = {"apple banana", "cherry banana"};
  const std::vector<std::int64_t> labels = {0, 1};
  return train_naive_bayes(docs, labels, 2).to_json_text();
}

std::string edited(const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(tiny_model_json());
  edit(j);
  return j.dump();
}

TEST(NaiveBayesFile, RejectsMalformedFiles) {
  using nlohmann::json;
  const auto parse = [](const std::string& text) { NaiveBayesTextModel::parse(text, "nb.json"); };
  expect_error_mentions([&] { parse("{"); }, {"nb.json", "invalid JSON"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["format"] = "linear"; })); }, {"nb.json", "\"format\""});
  expect_error_mentions([&] { parse(edited([](json& j) { j["version"] = 2; })); }, {"version 2", "not supported"});
  expect_error_mentions([&] { parse(edited([](json& j) { j.erase("vocabulary"); })); }, {"missing", "\"vocabulary\""});
  expect_error_mentions([&] { parse(edited([](json& j) { j["vocabulary"][1] = "apple"; })); }, {"\"apple\"", "twice"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["vocabulary"][0] = 5; })); }, {"vocabulary", "string"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["feature_count"][1].erase(0); })); },
                        {"feature_count", "[1]", "2 entries", "vocabulary of 3"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["feature_count"][0][0] = -1.0; })); }, {"feature_count", "negative"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["class_count"] = {1, 5}; })); }, {"class_count sums to 6"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["class_count"] = {2}; j["feature_count"].erase(1); })); },
                        {"at least 2 classes"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["document_frequency"][0] = 7; })); },
                        {"document_frequency[0]", "outside [0, 2]"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["document_frequency"].erase(0); })); },
                        {"document_frequency has 2 entries"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["alpha"] = 0; })); }, {"alpha"});
  expect_error_mentions([&] { parse(edited([](json& j) { j["tokenizer"].erase("lowercase"); })); }, {"\"lowercase\""});
  expect_error_mentions([&] { parse(edited([](json& j) { j["sublinear_tf"] = 1; })); }, {"sublinear_tf", "true or false"});
}

// ------------------------------------------------------- loading from a package

ModelConfig text_config(std::filesystem::path file, std::int64_t input_dim, std::int64_t output_dim) {
  ModelConfig config;
  config.kind = "tfidf_naive_bayes";
  config.file = std::move(file);
  config.task = TaskType::kClassification;
  config.input_dim = input_dim;
  config.output_dim = output_dim;
  return config;
}

TEST(LoadTextModel, LoadsANaiveBayesFileFromAPackageAsATextModel) {
  TextScratchDir dir;
  const auto train = toy_corpus(10, 8);
  const auto trained = train_naive_bayes(train.documents, train.labels, 3);
  std::filesystem::create_directories(dir.path() / "model");
  save_naive_bayes_model(trained, dir.path() / "model" / "nb.json");

  const auto model = load_text_model(text_config("model/nb.json", 0, 3), dir.path());
  EXPECT_EQ(model->kind(), "tfidf_naive_bayes");
  EXPECT_EQ(model->output_dim(), 3);
  EXPECT_EQ(model->input_dim(), trained.vocabulary_size());
  const TextModel* text_model = as_text_model(*model);
  ASSERT_NE(text_model, nullptr);
  EXPECT_EQ(text_model->predict_text(train.documents).values(), trained.predict_text(train.documents).values());
  EXPECT_NO_THROW(load_text_model(text_config("model/nb.json", trained.vocabulary_size(), 3), dir.path()));
}

TEST(LoadTextModel, RejectsConfigsThatDisagreeWithTheFile) {
  TextScratchDir dir;
  const auto train = toy_corpus(5, 9);
  save_naive_bayes_model(train_naive_bayes(train.documents, train.labels, 3), dir.path() / "nb.json");
  expect_error_mentions([&] { load_text_model(text_config("nb.json", 0, 2), dir.path()); }, {"3 classes", "output_dim 2"});
  expect_error_mentions([&] { load_text_model(text_config("nb.json", 7, 3), dir.path()); }, {"input_dim 7"});
  auto regression = text_config("nb.json", 0, 3);
  regression.task = TaskType::kRegression;
  expect_error_mentions([&] { load_text_model(regression, dir.path()); }, {"classifier", "regression"});
  auto other_kind = text_config("nb.json", 0, 3);
  other_kind.kind = "linear";
  expect_error_mentions([&] { load_text_model(other_kind, dir.path()); }, {"\"linear\"", "not a text model kind"});
  expect_error_mentions([&] { load_text_model(text_config("../nb.json", 0, 3), dir.path() / "sub"); }, {"outside"});
  expect_error_mentions([&] { load_text_model(text_config("absent.json", 0, 3), dir.path()); }, {"absent.json"});
}

TEST(TextProbes, AreSeededAndEveryTrainedModelAnswersThemWithFiniteProbabilities) {
  EXPECT_EQ(text_probe_documents(6, 11), text_probe_documents(6, 11));
  EXPECT_NE(text_probe_documents(6, 11), text_probe_documents(6, 12));
  const auto probes = text_probe_documents(10, 1);
  for (const auto& doc : probes) EXPECT_GE(doc.size(), 10u);
  const auto train = toy_corpus(10, 10);
  const auto p = train_naive_bayes(train.documents, train.labels, 3).predict_text(probes);
  ASSERT_EQ(p.rows(), 10);
  for (double v : p.values()) EXPECT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace lwd
