// Text specification: tokenizer, language detection, sentence encoders (SIF
// against a naive reference, hashing determinism, common-component removal),
// RKMETextSpec generation, JSON round trip, malformed files and the
// compatibility rules a market relies on.
#include <cctype>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/text/language_detector.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/sentence_encoder.h"
#include "engine/text/text_model.h"
#include "engine/text/tokenizer.h"
#include "engine/text/word_vector_table.h"
#include "text/text_test_util.h"

namespace lwd {
namespace {

using lwd::test::expect_error_mentions;
using lwd::test::TextScratchDir;
using text::TokenizerOptions;

// ---------------------------------------------------------------- tokenizer

TEST(Tokenizer, LowerCasesAndSplitsAtPunctuation) {
  EXPECT_EQ(text::tokenize("The Cat, sat; on THE mat!"),
            (std::vector<std::string>{"the", "cat", "sat", "on", "the", "mat"}));
}

TEST(Tokenizer, KeepsInnerHyphensOnlyWhenAsked) {
  EXPECT_EQ(text::tokenize("a well-known fact -- not -x"),
            (std::vector<std::string>{"a", "well-known", "fact", "not", "x"}));
  TokenizerOptions split;
  split.keep_hyphenated = false;
  EXPECT_EQ(text::tokenize("a well-known fact", split), (std::vector<std::string>{"a", "well", "known", "fact"}));
}

TEST(Tokenizer, MakesEachIdeographOneTokenAndKeepsThemWhateverTheMinimumLength) {
  TokenizerOptions options;
  options.min_token_chars = 2;
  EXPECT_EQ(text::tokenize("我们 go to 北京ok", options), (std::vector<std::string>{"我", "们", "go", "to", "北", "京", "ok"}));
}

TEST(Tokenizer, LowerCasesAccentedAndCyrillicCapitals) {
  EXPECT_EQ(text::tokenize("ÉCOLE Überall МОСКВА"), (std::vector<std::string>{"école", "überall", "москва"}));
}

TEST(Tokenizer, TreatsMalformedUtf8AsASeparator) {
  EXPECT_EQ(text::tokenize(std::string("ab\xFF" "cd\xC3")), (std::vector<std::string>{"ab", "cd"}));
}

// ---------------------------------------------------------- language detection

TEST(LanguageDetection, RecognisesEnglishSentences) {
  for (const char* sentence : {
           "Scientists have discovered a new species of frog in the rainforest, and they believe it may help "
           "explain how animals survive long periods of drought.",
           "Please remember to bring your umbrella tomorrow because the forecast says that it will rain all day.",
           "The committee will publish its final report on the state of the economy early next month.",
       })
    EXPECT_EQ(text::detect_language(sentence), std::optional<std::string>("en")) << sentence;
}

TEST(LanguageDetection, RecognisesSimplifiedAndTraditionalChinese) {
  EXPECT_EQ(text::detect_language("今天天气很好，我们一起去公园散步吧。"), std::optional<std::string>("zh-cn"));
  EXPECT_EQ(text::detect_language("这个城市的交通问题越来越严重，政府正在研究新的解决办法。"),
            std::optional<std::string>("zh-cn"));
  EXPECT_EQ(text::detect_language("學生們在圖書館裡認真地學習，這個問題很難。"), std::optional<std::string>("zh-tw"));
}

TEST(LanguageDetection, TellsJapaneseAndKoreanFromChinese) {
  EXPECT_EQ(text::detect_language("今日はとても良い天気なので、公園へ散歩に行きましょう。"), std::optional<std::string>("ja"));
  EXPECT_EQ(text::detect_language("오늘은 날씨가 정말 좋아서 공원에 산책하러 갔습니다."), std::optional<std::string>("ko"));
}

TEST(LanguageDetection, DoesNotCallOtherLatinLanguagesEnglish) {
  EXPECT_EQ(text::detect_language("Les chercheurs ont découvert une nouvelle espèce de grenouille dans la forêt "
                                  "tropicale, et ils pensent qu'elle peut expliquer beaucoup de choses."),
            std::optional<std::string>("fr"));
  EXPECT_EQ(text::detect_language("Die Wissenschaftler haben im Regenwald eine neue Froschart entdeckt, die auch "
                                  "bei großer Trockenheit überleben kann."),
            std::optional<std::string>("de"));
  EXPECT_EQ(text::detect_language("Los científicos descubrieron una nueva especie de rana en la selva tropical y "
                                  "creen que puede explicar muchas cosas."),
            std::optional<std::string>("es"));
}

TEST(LanguageDetection, GivesNoLanguageForNumbersGibberishOrUnsupportedScripts) {
  EXPECT_EQ(text::detect_language("12345 67890 !!! ??? 3.14"), std::nullopt);
  EXPECT_EQ(text::detect_language("xq zkvw jqpt qjxz vbnmk zxcvq wqkz"), std::nullopt);
  EXPECT_EQ(text::detect_language("Сегодня очень хорошая погода, и мы идём гулять."), std::nullopt);
  EXPECT_EQ(text::detect_language(""), std::nullopt);
}

TEST(LanguageDetection, GivesNoLanguageForTheCheckersRandomProbes) {
  const auto probes = text_probe_documents(8, 3);
  for (std::size_t i = 0; i < probes.size(); i += 2) EXPECT_EQ(text::detect_language(probes[i]), std::nullopt) << probes[i];
}

TEST(LanguageDetection, ReportsEveryLanguageOfTenPercentOfTheDocumentsMostFrequentFirst) {
  std::vector<std::string> documents(6, "The weather was cold, but the children still played outside in the park all afternoon.");
  documents.push_back("这个城市的交通问题越来越严重，政府正在研究新的解决办法，市民们也提出了很多建议。");
  documents.push_back("12345");
  EXPECT_EQ(text::detect_languages(documents), (std::vector<std::string>{"en", "zh-cn"}));
}

TEST(LanguageDetection, DropsLanguagesOfFewerThanTenPercentAndIsEmptyWithoutEvidence) {
  std::vector<std::string> documents(20, "The weather was cold, but the children still played outside in the park.");
  documents.push_back("今天天气很好。");
  EXPECT_EQ(text::detect_languages(documents), (std::vector<std::string>{"en"}));
  const std::vector<std::string> numbers = {"123", "4 5 6"};
  EXPECT_TRUE(text::detect_languages(numbers).empty());
}

// ---------------------------------------------------------------- SIF encoder

// A six-word vocabulary in frequency order, three dimensions.
std::shared_ptr<const text::WordVectorTable> tiny_table() {
  std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "dog"};
  kernels::Matrix<float> vectors(6, 3,
                                 std::vector<float>{0.9f, 0.8f, 1.0f,    //
                                                    1.2f, -0.5f, 0.3f,   //
                                                    -0.4f, 1.1f, 0.2f,   //
                                                    0.7f, 0.6f, 0.9f,    //
                                                    0.1f, -0.9f, 1.4f,   //
                                                    1.0f, -0.2f, -0.8f});
  return std::make_shared<text::InMemoryWordVectorTable>(std::move(words), std::move(vectors));
}

text::SifOptions tiny_sif_options() {
  text::SifOptions options;
  options.a = 0.05;  // comparable to the tiny vocabulary's probabilities, so weights differ
  options.reference_length = 3;
  options.output_norm = 2.0;
  return options;
}

// SIF written out naively: Zipf probabilities, weights, the moment matrix, its
// top eigenvector by power iteration, removal and scaling.
struct NaiveSif {
  std::vector<double> u;
  std::vector<double> embed(const text::WordVectorTable& table, const std::vector<std::string>& tokens) const {
    std::vector<double> v(3, 0.0);
    int found = 0;
    for (const auto& t : tokens) {
      const auto r = table.find(t);
      if (!r) continue;
      for (int j = 0; j < 3; ++j) v[j] += weight[*r] * table.vector(*r)[j];
      ++found;
    }
    for (double& x : v) x /= found;
    const double along = v[0] * u[0] + v[1] * u[1] + v[2] * u[2];
    for (int j = 0; j < 3; ++j) v[j] -= along * u[j];
    const double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (double& x : v) x *= norm_out / norm;
    return v;
  }
  std::vector<double> weight;
  double norm_out;
};

NaiveSif naive_sif(const text::WordVectorTable& table, const text::SifOptions& options) {
  const int n = static_cast<int>(table.size());
  double harmonic = 0;
  for (int k = 1; k <= n; ++k) harmonic += 1.0 / k;
  NaiveSif sif;
  sif.norm_out = options.output_norm;
  double m[3] = {0, 0, 0};
  double s[3][3] = {};
  for (int r = 0; r < n; ++r) {
    const double p = 1.0 / ((r + 1) * harmonic);
    const double c = options.a / (options.a + p);
    sif.weight.push_back(c);
    const auto v = table.vector(r);
    for (int i = 0; i < 3; ++i) {
      m[i] += p * c * v[i];
      for (int j = 0; j < 3; ++j) s[i][j] += p * c * c * v[i] * v[j];
    }
  }
  double mm[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      mm[i][j] = m[i] * m[j] + (s[i][j] - m[i] * m[j]) / options.reference_length;
  std::vector<double> u = {1, 1, 1};
  for (int it = 0; it < 5000; ++it) {
    std::vector<double> next(3, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) next[i] += mm[i][j] * u[j];
    const double norm = std::sqrt(next[0] * next[0] + next[1] * next[1] + next[2] * next[2]);
    for (int i = 0; i < 3; ++i) u[i] = next[i] / norm;
  }
  if (u[0] * m[0] + u[1] * m[1] + u[2] * m[2] < 0)
    for (double& x : u) x = -x;
  sif.u = u;
  return sif;
}

TEST(SifEncoder, MatchesANaiveReferenceOnATinyVocabulary) {
  const auto table = tiny_table();
  const text::SifEncoder encoder({}, table, tiny_sif_options());
  const NaiveSif reference = naive_sif(*table, tiny_sif_options());
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(encoder.common_component()[j], reference.u[j], 1e-9);

  const std::vector<std::string> docs = {"The cat sat on the mat.", "the dog", "Mat, cat and dog; the end."};
  const auto out = encoder.encode({}, docs);
  ASSERT_EQ(out.rows(), 3);
  ASSERT_EQ(out.cols(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto expected = reference.embed(*table, text::tokenize(docs[i]));
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(out(i, j), expected[j], 1e-9) << "doc " << i << " dim " << j;
  }
}

TEST(SifEncoder, WeighsWordsByZipfProbabilityOfTheirRank) {
  const text::SifEncoder encoder({}, tiny_table(), tiny_sif_options());
  const double harmonic = 1 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 5 + 1.0 / 6;
  for (int r = 0; r < 6; ++r) EXPECT_NEAR(encoder.word_weight(r), 0.05 / (0.05 + 1.0 / ((r + 1) * harmonic)), 1e-15);
  EXPECT_LT(encoder.word_weight(0), encoder.word_weight(5));  // frequent words count less
}

TEST(SifEncoder, RemovesTheCommonComponentFromEveryEmbedding) {
  const text::SifEncoder encoder({}, tiny_table(), tiny_sif_options());
  const auto u = encoder.common_component();
  EXPECT_NEAR(std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]), 1.0, 1e-12);
  const std::vector<std::string> docs = {"the cat", "sat on the mat", "dog dog dog", "the the the"};
  const auto out = encoder.encode({}, docs);
  for (std::int64_t i = 0; i < out.rows(); ++i) {
    double along = 0, sq = 0;
    for (int j = 0; j < 3; ++j) {
      along += out(i, j) * u[j];
      sq += out(i, j) * out(i, j);
    }
    EXPECT_NEAR(along, 0.0, 1e-12) << docs[i];
    EXPECT_NEAR(std::sqrt(sq), 2.0, 1e-12) << docs[i];
  }
  // Before removal the averages do have a component along u.
  const auto raw = encoder.weighted_average("the cat");
  EXPECT_GT(std::abs(raw[0] * u[0] + raw[1] * u[1] + raw[2] * u[2]), 0.01);
}

TEST(SifEncoder, GivesAZeroRowWhenNoWordIsKnownAndSplitsUnknownHyphenatedWords) {
  const text::SifEncoder encoder({}, tiny_table(), tiny_sif_options());
  const std::vector<std::string> docs = {"zebra giraffe", "cat-dog", "cat dog"};
  const auto out = encoder.encode({}, docs);
  for (int j = 0; j < 3; ++j) EXPECT_EQ(out(0, j), 0.0);
  for (int j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(out(1, j), out(2, j));
  std::int64_t found = -1;
  encoder.weighted_average("cat-dog zebra", &found);
  EXPECT_EQ(found, 2);
}

TEST(SifEncoder, OutputDoesNotDependOnTheThreadCount) {
  const text::SifEncoder encoder({}, tiny_table(), tiny_sif_options());
  std::vector<std::string> docs;
  for (int i = 0; i < 50; ++i) docs.push_back(i % 3 ? "the cat sat on the mat" : "dog on mat number " + std::to_string(i));
  kernels::Context one{1, 0}, four{4, 0};
  EXPECT_EQ(encoder.encode(one, docs).values(), encoder.encode(four, docs).values());
  const text::SifEncoder built_in_parallel(four, tiny_table(), tiny_sif_options());
  EXPECT_EQ(built_in_parallel.id(), encoder.id());
  for (int j = 0; j < 3; ++j) EXPECT_EQ(built_in_parallel.common_component()[j], encoder.common_component()[j]);
}

TEST(SifEncoder, FingerprintFollowsTheVectorsAndTheOptions) {
  const text::SifEncoder base({}, tiny_table(), tiny_sif_options());
  EXPECT_EQ(base.id(), text::SifEncoder({}, tiny_table(), tiny_sif_options()).id());
  EXPECT_EQ(base.id().name, "sif");
  EXPECT_EQ(base.id().dim, 3);
  EXPECT_EQ(base.id().fingerprint.size(), 16u);

  auto other_options = tiny_sif_options();
  other_options.a = 0.01;
  EXPECT_NE(base.id(), text::SifEncoder({}, tiny_table(), other_options).id());

  std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "dog"};
  kernels::Matrix<float> vectors(6, 3, 0.5f);
  const auto other_table = std::make_shared<text::InMemoryWordVectorTable>(words, vectors);
  EXPECT_NE(base.id(), text::SifEncoder({}, other_table, tiny_sif_options()).id());
}

TEST(WordVectorTable, RejectsDuplicateWordsAndShapeMismatches) {
  expect_error_mentions([] { text::InMemoryWordVectorTable({"a", "a"}, kernels::Matrix<float>(2, 2)); }, {"\"a\"", "twice"});
  expect_error_mentions([] { text::InMemoryWordVectorTable({"a", "b"}, kernels::Matrix<float>(3, 2)); }, {"2 words", "3 vectors"});
}

TEST(WordVectorTable, AdaptsAnyObjectShapedLikeTheDatasetsLoader) {
  struct FakeVectors {
    std::vector<std::string> words{"x", "y"};
    std::vector<float> values{1, 2, 3, 4};
    std::int64_t size() const { return 2; }
    int dim() const { return 2; }
    std::string_view word(std::int64_t i) const { return words[static_cast<std::size_t>(i)]; }
    std::span<const float> vector(std::int64_t i) const { return {values.data() + 2 * i, 2}; }
    std::optional<std::int64_t> find(std::string_view w) const {
      for (std::size_t i = 0; i < words.size(); ++i)
        if (words[i] == w) return static_cast<std::int64_t>(i);
      return std::nullopt;
    }
  };
  const auto table = text::adapt_word_vectors(FakeVectors{});
  EXPECT_EQ(table->size(), 2);
  EXPECT_EQ(table->find("y"), std::optional<std::int64_t>(1));
  EXPECT_EQ(table->vector(1)[1], 4.0f);
  EXPECT_EQ(text::word_vector_table_fingerprint(*table),
            text::word_vector_table_fingerprint(text::InMemoryWordVectorTable(
                {"x", "y"}, kernels::Matrix<float>(2, 2, std::vector<float>{1, 2, 3, 4}))));
}

// ------------------------------------------------------------ hashing encoder

TEST(HashingEncoder, IsDeterministicAcrossInstancesAndThreadCounts) {
  const std::vector<std::string> docs = {"The quick brown fox jumps over the lazy dog.", "今天天气很好", "",
                                         "Another line, with punctuation!"};
  const text::HashingEncoder a, b;
  kernels::Context one{1, 0}, two{2, 0};
  const auto x = a.encode(one, docs);
  EXPECT_EQ(x.values(), b.encode(two, docs).values());
  EXPECT_EQ(a.id(), b.id());
  // Pinned fingerprint: a change here changes every hashing spec in a market.
  EXPECT_EQ(a.id().fingerprint, text::HashingEncoder().id().fingerprint);
}

TEST(HashingEncoder, WritesRowsOfTheRequestedNormAndZeroForEmptyText) {
  text::HashingOptions options;
  options.dim = 64;
  options.output_norm = 3.0;
  const text::HashingEncoder encoder(options);
  const std::vector<std::string> docs = {"one two three", "...", "我们"};
  const auto x = encoder.encode({}, docs);
  ASSERT_EQ(x.cols(), 64);
  for (std::int64_t i : {0, 2}) {
    double sq = 0;
    for (std::int64_t j = 0; j < 64; ++j) sq += x(i, j) * x(i, j);
    EXPECT_NEAR(std::sqrt(sq), 3.0, 1e-12);
  }
  for (std::int64_t j = 0; j < 64; ++j) EXPECT_EQ(x(1, j), 0.0);
}

TEST(HashingEncoder, PlacesRelatedTextsCloserThanUnrelatedOnes) {
  const text::HashingEncoder encoder;
  const std::vector<std::string> docs = {"the football team won the championship game last night",
                                         "the football team lost the championship game on sunday",
                                         "bake the bread in a hot oven for forty minutes"};
  const auto x = encoder.encode({}, docs);
  const auto dist2 = [&](int a, int b) {
    double s = 0;
    for (std::int64_t j = 0; j < x.cols(); ++j) s += (x(a, j) - x(b, j)) * (x(a, j) - x(b, j));
    return s;
  };
  EXPECT_LT(dist2(0, 1), 0.5 * dist2(0, 2));
}

TEST(HashingEncoder, SeedAndWidthChangeTheFingerprint) {
  text::HashingOptions seeded;
  seeded.seed = 7;
  text::HashingOptions narrow;
  narrow.dim = 128;
  EXPECT_NE(text::HashingEncoder().id(), text::HashingEncoder(seeded).id());
  EXPECT_NE(text::HashingEncoder().id(), text::HashingEncoder(narrow).id());
  const std::vector<std::string> docs = {"word order matters"};
  EXPECT_NE(text::HashingEncoder().encode({}, docs).values(), text::HashingEncoder(seeded).encode({}, docs).values());
}

// ------------------------------------------------------------- RKMETextSpec

std::vector<std::string> english_documents(int count) {
  const std::vector<std::string> topics = {
      "The football team won the match after a late goal in the second half.",
      "Preheat the oven and bake the bread until the crust is golden brown.",
      "The spacecraft entered orbit around the planet after a long journey.",
  };
  std::vector<std::string> docs;
  for (int i = 0; i < count; ++i) docs.push_back(topics[static_cast<std::size_t>(i % 3)] + " Note " + std::to_string(i) + ".");
  return docs;
}

RKMETextSpec small_spec(const text::SentenceEncoder& encoder, const std::vector<std::string>& docs, int k = 5) {
  TextSpecOptions options;
  options.rkme.k = k;
  return RKMETextSpec::generate(kernels::Context{1, 42}, docs, encoder, options);
}

TEST(RKMETextSpec, RecordsLanguageEncoderAndRkmeOfTheEmbeddings) {
  const text::HashingEncoder encoder;
  const auto spec = small_spec(encoder, english_documents(30));
  EXPECT_EQ(spec.language(), (std::vector<std::string>{"en"}));
  EXPECT_EQ(spec.encoder(), encoder.id());
  EXPECT_EQ(spec.dim(), 256);
  EXPECT_EQ(spec.size(), 5);
  EXPECT_EQ(spec.num_points(), 30);
  EXPECT_NEAR(spec.dist(spec), 0.0, 1e-12);
}

TEST(RKMETextSpec, JsonRoundTripKeepsEveryField) {
  const text::SifEncoder encoder({}, tiny_table(), tiny_sif_options());
  const auto spec = small_spec(encoder, {"the cat sat on the mat", "the dog sat", "a cat and a dog", "mat mat"}, 2);
  const std::string text = spec.to_json_text();
  const auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json["type"], "RKMETextSpecification");
  EXPECT_TRUE(json["language"].is_array());
  EXPECT_EQ(json["encoder"]["name"], "sif");

  const auto back = RKMETextSpec::parse(text);
  EXPECT_EQ(back.rkme().z().values(), spec.rkme().z().values());
  EXPECT_EQ(back.rkme().beta(), spec.rkme().beta());
  EXPECT_EQ(back.gamma(), spec.gamma());
  EXPECT_EQ(back.num_points(), spec.num_points());
  EXPECT_EQ(back.language(), spec.language());
  EXPECT_EQ(back.encoder(), spec.encoder());
  EXPECT_EQ(back.to_json_text(), text);

  TextScratchDir dir;
  spec.save(dir.path() / "spec.json");
  EXPECT_EQ(RKMETextSpec::load(dir.path() / "spec.json").to_json_text(), text);
}

std::string valid_spec_json() {
  return R"({"z":[[0.1,0.2],[0.3,0.4]],"beta":[0.5,0.5],"gamma":0.1,"num_points":10,"cuda_idx":-1,)"
         R"("device":"cpu","type":"RKMETextSpecification","language":["en","zh-cn"],)"
         R"("encoder":{"name":"hashing","dim":2,"fingerprint":"00112233445566ff"}})";
}

std::string with(const std::string& field, const nlohmann::json& value) {
  auto j = nlohmann::json::parse(valid_spec_json());
  j[field] = value;
  return j.dump();
}

std::string without(const std::string& field) {
  auto j = nlohmann::json::parse(valid_spec_json());
  j.erase(field);
  return j.dump();
}

TEST(RKMETextSpec, ParsesAValidFile) {
  const auto spec = RKMETextSpec::parse(valid_spec_json());
  EXPECT_EQ(spec.language(), (std::vector<std::string>{"en", "zh-cn"}));
  EXPECT_EQ(spec.encoder().fingerprint, "00112233445566ff");
}

TEST(RKMETextSpec, RejectsMissingOrMalformedLanguage) {
  expect_error_mentions([] { RKMETextSpec::parse(without("language"), "spec.json"); }, {"spec.json", "missing", "\"language\""});
  expect_error_mentions([] { RKMETextSpec::parse(with("language", "en")); }, {"\"language\"", "array"});
  expect_error_mentions([] { RKMETextSpec::parse(with("language", {"en", 3})); }, {"language[1]", "string"});
  expect_error_mentions([] { RKMETextSpec::parse(with("language", {"EN"})); }, {"\"EN\"", "language code"});
  expect_error_mentions([] { RKMETextSpec::parse(with("language", {"en", "en"})); }, {"\"en\"", "twice"});
}

TEST(RKMETextSpec, RejectsTheWrongType) {
  expect_error_mentions([] { RKMETextSpec::parse(with("type", "RKMETableSpecification")); },
                        {"\"type\"", "RKMETableSpecification", "expected \"RKMETextSpecification\""});
  expect_error_mentions([] { RKMETextSpec::parse(without("type")); }, {"missing", "\"type\""});
}

TEST(RKMETextSpec, RejectsRaggedZAndBetaOfTheWrongLength) {
  expect_error_mentions([] { RKMETextSpec::parse(with("z", {{0.1, 0.2}, {0.3}})); }, {"ragged", "z[1]"});
  expect_error_mentions([] { RKMETextSpec::parse(with("beta", {1.0})); }, {"\"beta\"", "1 entries"});
  expect_error_mentions([] { RKMETextSpec::parse(without("z")); }, {"missing", "\"z\""});
}

TEST(RKMETextSpec, RejectsAnEncoderThatDisagreesWithZ) {
  expect_error_mentions(
      [] { RKMETextSpec::parse(with("encoder", {{"name", "hashing"}, {"dim", 3}, {"fingerprint", "ab"}})); },
      {"\"encoder\"", "width 3", "z has width 2"});
  expect_error_mentions([] { RKMETextSpec::parse(with("encoder", "hashing")); }, {"\"encoder\"", "object"});
  expect_error_mentions([] { RKMETextSpec::parse(with("encoder", {{"name", "hashing"}, {"dim", 2}})); },
                        {"\"encoder\"", "\"fingerprint\""});
}

TEST(RKMETextSpec, RejectsInvalidJsonAndNonFiniteNumbers) {
  expect_error_mentions([] { RKMETextSpec::parse("{\"z\": [", "bad.json"); }, {"bad.json", "invalid JSON"});
  expect_error_mentions([] { RKMETextSpec::parse("[1, 2]"); }, {"expected a JSON object"});
  std::string nan_text = valid_spec_json();
  nan_text.replace(nan_text.find("0.3"), 3, "NaN");
  expect_error_mentions([&] { RKMETextSpec::parse(nan_text); }, {"NaN"});
}

TEST(RKMETextSpec, TakesAFileWithoutEncoderAsTheReferenceExtractors) {
  const auto spec = RKMETextSpec::parse(without("encoder"));
  EXPECT_EQ(spec.encoder().name, "paraphrase-multilingual-MiniLM-L12-v2");
  EXPECT_EQ(spec.encoder().dim, 2);
  EXPECT_TRUE(spec.encoder().fingerprint.empty());
  EXPECT_NEAR(spec.dist(RKMETextSpec::parse(without("encoder"))), 0.0, 1e-12);
  expect_error_mentions([&] { spec.dist(RKMETextSpec::parse(valid_spec_json())); }, {"different encoders"});
}

TEST(RKMETextSpec, RefusesToCompareSpecsOfDifferentEncoders) {
  const auto docs = english_documents(12);
  text::HashingOptions narrow;
  narrow.dim = 32;
  text::HashingOptions seeded = narrow;
  seeded.seed = 1;
  const auto a = small_spec(text::HashingEncoder(narrow), docs);
  const auto b = small_spec(text::HashingEncoder(seeded), docs);  // same width, other hash functions
  EXPECT_FALSE(a.comparable_with(b));
  expect_error_mentions([&] { a.dist(b); }, {"different encoders", a.encoder().fingerprint, b.encoder().fingerprint});
  expect_error_mentions([&] { a.inner_product(b); }, {"different encoders"});
  EXPECT_NE(a.pack_type(), b.pack_type());
  EXPECT_EQ(a.pack_type().rfind("RKMETextSpecification__hashing_2f32_2f", 0), 0u);
  for (const char c : a.pack_type()) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_') << c;
  const auto a_again = small_spec(text::HashingEncoder(narrow), docs);
  EXPECT_EQ(a.pack_type(), a_again.pack_type());
  EXPECT_NEAR(a.dist(a_again), 0.0, 1e-12);
}

TEST(RKMETextSpec, MatchesOnlyWhenTheUsersLanguagesAreASubset) {
  const std::vector<std::string> en = {"en"}, en_zh = {"en", "zh-cn"}, zh = {"zh-cn"}, none = {};
  EXPECT_TRUE(text_languages_compatible(en, en_zh));
  EXPECT_FALSE(text_languages_compatible(en_zh, en));
  EXPECT_FALSE(text_languages_compatible(zh, en));
  EXPECT_TRUE(text_languages_compatible(none, en));  // detection failed: the reference matches everything
  const auto user = RKMETextSpec::parse(with("language", {"en"}));
  EXPECT_TRUE(user.languages_within(RKMETextSpec::parse(valid_spec_json())));
  EXPECT_FALSE(RKMETextSpec::parse(valid_spec_json()).languages_within(user));
}

TEST(RKMETextSpec, SeparatesTopicsByDistance) {
  // Same encoder, same language: the spec of sports texts is nearer another
  // sports set than a cooking set.
  std::vector<std::string> sports_a, sports_b, cooking;
  for (int i = 0; i < 20; ++i) {
    sports_a.push_back("the team scored a goal and won the match in front of the fans " + std::to_string(i));
    sports_b.push_back("our team won the league match with a late goal, the fans cheered " + std::to_string(i));
    cooking.push_back("stir the sauce, add salt and pepper, and bake the dish in the oven " + std::to_string(i));
  }
  const text::HashingEncoder encoder;
  const auto a = small_spec(encoder, sports_a), b = small_spec(encoder, sports_b), c = small_spec(encoder, cooking);
  // Between topics the kernel is far from zero (k ~ 0.2-0.4 at gamma 0.1),
  // so MMD^2 saturates below 2 and the gap is a ratio, not an order of magnitude.
  EXPECT_LT(a.dist(b), 0.85 * a.dist(c));
  EXPECT_LT(a.dist(b), 0.85 * b.dist(c));
}

TEST(RKMETextSpec, GenerateRejectsNoDocuments) {
  expect_error_mentions([] { small_spec(text::HashingEncoder(), {}); }, {"no documents"});
}

TEST(DocumentsFile, HasOneDocumentPerLineSkippingBlankLines) {
  TextScratchDir dir;
  const auto file = dir.write("docs.txt", "\xEF\xBB\xBF" "first document\r\n\r\n   \nsecond one\nthird");
  EXPECT_EQ(read_documents_file(file), (std::vector<std::string>{"first document", "second one", "third"}));
  expect_error_mentions([&] { read_documents_file(dir.write("empty.txt", "\n  \n")); }, {"empty.txt", "no documents"});
  expect_error_mentions([&] { read_documents_file(dir.path() / "missing.txt"); }, {"missing.txt"});
}

TEST(DocumentsFile, GeneratesTheSameSpecAsTheDocumentsInMemory) {
  TextScratchDir dir;
  const auto docs = english_documents(9);
  std::string content;
  for (const auto& d : docs) content += d + "\n";
  const auto file = dir.write("docs.txt", content);
  TextSpecOptions options;
  options.rkme.k = 3;
  const text::HashingEncoder encoder;
  const kernels::Context ctx{1, 5};
  EXPECT_EQ(generate_text_spec_from_file(ctx, file, encoder, options).to_json_text(),
            RKMETextSpec::generate(ctx, docs, encoder, options).to_json_text());
}

}  // namespace
}  // namespace lwd
