// The market's conventions (market_builder.h): names, semantic specs, data
// splits and training settings. Everything here is a pure function of its
// arguments and the fixed seeds, so runners and the builder agree.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "datasets/fetched/word_vectors.h"
#include "datasets/retail/transfer.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/text/encoder_choice.h"
#include "kernels/random.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {

namespace {

namespace ds = lwd::datasets;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string three_digits(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03d", i);
  return buf;
}

// Fisher-Yates with our portable generator (std::shuffle is not specified
// bit for bit across standard libraries).
template <class T>
void shuffle(std::vector<T>& v, kernels::Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

SemanticSpec base_semantic(std::string data, std::string task, std::string scenario) {
  SemanticSpec s;
  s.tags["Data"] = {std::move(data)};
  s.tags["Task"] = {std::move(task)};
  s.tags["Library"] = {"Others"};
  s.tags["Scenario"] = {std::move(scenario)};
  s.tags["License"] = {"MIT"};
  return s;
}

// A user's query: the learnware's Data, Task and Scenario, any library and
// license, and the tag as the name.
SemanticSpec user_query(std::string data, std::string task, std::string scenario, std::string tag) {
  SemanticSpec s;
  s.tags["Data"] = {std::move(data)};
  s.tags["Task"] = {std::move(task)};
  s.tags["Scenario"] = {std::move(scenario)};
  s.name = std::move(tag);
  return s;
}

// Input semantics of a table whose columns have these descriptions, in order.
FeatureSemantics input_semantics(const std::vector<std::string>& descriptions) {
  FeatureSemantics f;
  f.dimension = static_cast<std::int64_t>(descriptions.size());
  for (std::size_t j = 0; j < descriptions.size(); ++j) f.descriptions[static_cast<std::int64_t>(j)] = descriptions[j];
  return f;
}

// The 10 superclass triples in lexicographic order.
std::vector<std::array<int, 3>> superclass_triples() {
  const int n = static_cast<int>(brown_superclasses().size());
  std::vector<std::array<int, 3>> out;
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b)
      for (int c = b + 1; c < n; ++c) out.push_back({a, b, c});
  return out;
}

}  // namespace

std::uint64_t learnware_seed(std::uint64_t build_seed, std::string_view key) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return splitmix64(h ^ splitmix64(build_seed));
}

// ---- tabular ------------------------------------------------------------------

std::string tabular_learnware_name(ds::ChainKind chain, int store, ds::FeatureSpace space, ds::LabelSpace label) {
  return "retail-" + std::string(ds::to_string(chain)) + "-s" + three_digits(store) + "-" +
         std::string(ds::to_string(space)) + "-" + std::string(ds::to_string(label));
}

std::string tabular_space_tag(ds::FeatureSpace space, ds::LabelSpace label) {
  return "features=" + std::string(ds::to_string(space)) + " label=" + std::string(ds::to_string(label));
}

// Input.Description holds each column's sentence alone, not its name: the
// heterogeneous scenarios map columns into a shared space by encoding these
// texts, and a name adds only tokens a text encoder cannot read (roll_mean_7)
// that differ between the market and a user by construction (units_yesterday
// for lag_1), pulling two descriptions of one quantity apart. The names stay
// recoverable from the feature space in the description's tag.
FeatureSemantics tabular_learnware_input(ds::FeatureSpace space) {
  return input_semantics(ds::feature_descriptions(space));
}

FeatureSemantics tabular_user_input(ds::UserFeatureSpace space) {
  return input_semantics(ds::feature_descriptions(space));
}

SemanticSpec tabular_learnware_semantic(ds::ChainKind chain, int store, ds::FeatureSpace space, ds::LabelSpace label) {
  SemanticSpec s = base_semantic("Table", "Regression", "Business");
  s.name = tabular_learnware_name(chain, store, space, label);
  s.description = "Retail sales forecast for store " + std::to_string(store) + " of the " +
                  std::string(ds::to_string(chain)) + " chain. " + tabular_space_tag(space, label);
  s.input = tabular_learnware_input(space);
  s.output = FeatureSemantics{1, {{0, std::string(ds::to_string(label))}}};
  return s;
}

SemanticSpec tabular_user_query(ds::FeatureSpace space, ds::LabelSpace label) {
  return user_query("Table", "Regression", "Business", tabular_space_tag(space, label));
}

XGBoostTrainParams market_tabular_model_params() {
  XGBoostTrainParams p = ds::default_transfer_model_params();
  p.nthread = 1;  // the build is parallel over learnwares
  return p;
}

kernels::RkmeOptions market_table_rkme_options() { return kernels::RkmeOptions{}; }

// ---- image --------------------------------------------------------------------

MnistSplit mnist_split(std::int64_t num_images) {
  if (num_images < 2) throw Error("mnist_split: need at least 2 images (got " + std::to_string(num_images) + ")");
  std::vector<std::int64_t> order(static_cast<std::size_t>(num_images));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  kernels::Rng rng(kImageSplitSeed);
  shuffle(order, rng);
  const auto half = order.begin() + num_images / 2;
  MnistSplit split;
  split.learnware_pool.assign(order.begin(), half);
  split.user_pool.assign(half, order.end());
  std::sort(split.learnware_pool.begin(), split.learnware_pool.end());
  std::sort(split.user_pool.begin(), split.user_pool.end());
  return split;
}

ImageLearnwareTask image_learnware_task(const ds::MnistDigits& digits, const MnistSplit& split, int index,
                                        std::uint64_t build_seed) {
  ImageLearnwareTask task;
  task.index = index;
  kernels::Rng rng(learnware_seed(build_seed, "image/" + std::to_string(index)));
  std::vector<int> order(10);
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, rng);
  std::copy(order.begin(), order.begin() + 4, task.digits.begin());
  for (int k = 0; k < 4; ++k) {
    std::vector<std::int64_t> rows;
    for (const std::int64_t r : split.learnware_pool)
      if (digits.labels[static_cast<std::size_t>(r)] == task.digits[static_cast<std::size_t>(k)]) rows.push_back(r);
    shuffle(rows, rng);
    const auto want = static_cast<std::size_t>(
        std::llround(static_cast<double>(kImageLearnwareImages) * kImageClassRatio[static_cast<std::size_t>(k)]));
    rows.resize(std::min(want, rows.size()));
    task.rows.insert(task.rows.end(), rows.begin(), rows.end());
  }
  std::sort(task.rows.begin(), task.rows.end());
  task.seed = rng.next_u64();
  return task;
}

std::string image_learnware_name(const std::array<int, 4>& digits, int index) {
  std::string d;
  for (const int x : digits) d += static_cast<char>('0' + x);
  return std::string(kImageTag) + "-" + d + "-" + three_digits(index);
}

SemanticSpec image_learnware_semantic(const std::array<int, 4>& digits, int index) {
  SemanticSpec s = base_semantic("Image", "Classification", "Education");
  s.name = image_learnware_name(digits, index);
  s.description = "MNIST digit classifier trained mostly on " + std::to_string(digits[0]) + " and " +
                  std::to_string(digits[1]) + " (40 % each), some " + std::to_string(digits[2]) + " and " +
                  std::to_string(digits[3]) + " (10 % each). " + std::string(kImageTag);
  FeatureSemantics output;
  output.dimension = 10;
  for (int d = 0; d < 10; ++d) output.descriptions[d] = "digit " + std::to_string(d);
  s.output = std::move(output);
  return s;
}

SemanticSpec image_user_query() { return user_query("Image", "Classification", "Education", std::string(kImageTag)); }

ImageBatch mnist_images(const ds::MnistDigits& digits, std::span<const std::int64_t> rows) {
  ImageBatch batch;
  constexpr std::int64_t side = ds::MnistDigits::kSide;
  batch.shape = kernels::ImageShape{static_cast<std::int64_t>(rows.size()), 1, side, side};
  batch.pixels.resize(static_cast<std::size_t>(batch.shape.total()));
  float* out = batch.pixels.data();
  for (const std::int64_t r : rows) {
    if (r < 0 || r >= digits.size()) throw Error("mnist_images: row " + std::to_string(r) + " out of range");
    const std::uint8_t* px = &digits.pixels(r, 0);
    for (int j = 0; j < ds::MnistDigits::kPixels; ++j) *out++ = static_cast<float>(px[j]);
  }
  return batch;
}

ImageClassifierTrainOptions market_image_model_options() { return ImageClassifierTrainOptions{}; }

ImageRkmeOptions market_image_rkme_options() { return ImageRkmeOptions{}; }

// ---- text ---------------------------------------------------------------------

const std::vector<BrownSuperclass>& brown_superclasses() {
  static const std::vector<BrownSuperclass> superclasses = {
      {"press", {"news", "editorial", "reviews"}},
      {"interest", {"religion", "hobbies", "lore"}},
      {"scholarly", {"belles_lettres", "government", "learned"}},
      {"fiction", {"fiction", "mystery", "science_fiction"}},
      {"popular", {"adventure", "romance", "humor"}},
  };
  return superclasses;
}

std::vector<int> brown_category_superclasses(const ds::BrownCorpus& corpus) {
  const auto& supers = brown_superclasses();
  std::vector<int> out;
  for (const std::string& category : corpus.categories) {
    int found = -1;
    for (std::size_t s = 0; s < supers.size() && found < 0; ++s)
      if (std::find(supers[s].categories.begin(), supers[s].categories.end(), category) != supers[s].categories.end())
        found = static_cast<int>(s);
    if (found < 0) throw Error("Brown category '" + category + "' belongs to no superclass (see brown_superclasses())");
    out.push_back(found);
  }
  return out;
}

std::vector<BrownSample> brown_samples(const ds::BrownCorpus& corpus) {
  const std::vector<int> superclass_of = brown_category_superclasses(corpus);
  std::vector<BrownSample> out;
  for (std::size_t d = 0; d < corpus.documents.size(); ++d) {
    const ds::BrownDocument& doc = corpus.documents[d];
    const std::int64_t sentences = doc.sentence_count();
    if (sentences == 0) continue;
    // Chunk boundaries in sentences; a short tail joins the chunk before it.
    std::vector<std::int64_t> starts;
    for (std::int64_t s = 0; s < sentences; s += kBrownSentencesPerSample) starts.push_back(s);
    if (starts.size() > 1 && sentences - starts.back() < 3) starts.pop_back();
    for (std::size_t c = 0; c < starts.size(); ++c) {
      const auto first_word = static_cast<std::size_t>(doc.sentence_starts[static_cast<std::size_t>(starts[c])]);
      const std::size_t end_word = c + 1 < starts.size()
                                       ? static_cast<std::size_t>(doc.sentence_starts[static_cast<std::size_t>(starts[c + 1])])
                                       : doc.words.size();
      BrownSample sample;
      for (std::size_t w = first_word; w < end_word; ++w) {
        if (w > first_word) sample.text += ' ';
        sample.text += doc.words[w];
      }
      sample.document = static_cast<std::int32_t>(d);
      sample.category = doc.category_index;
      sample.superclass = superclass_of[static_cast<std::size_t>(doc.category_index)];
      out.push_back(std::move(sample));
    }
  }
  return out;
}

BrownSplit brown_split(const ds::BrownCorpus& corpus, const std::vector<BrownSample>& samples) {
  BrownSplit split;
  std::vector<char> in_learnware_pool(corpus.documents.size(), 0);
  kernels::Rng rng(kTextSplitSeed);
  for (std::size_t c = 0; c < corpus.categories.size(); ++c) {
    std::vector<std::int32_t> docs;
    for (std::size_t d = 0; d < corpus.documents.size(); ++d)
      if (corpus.documents[d].category_index == static_cast<int>(c)) docs.push_back(static_cast<std::int32_t>(d));
    shuffle(docs, rng);
    const std::size_t learnware_count = (docs.size() + 1) / 2;
    for (std::size_t k = 0; k < docs.size(); ++k) {
      if (k < learnware_count) {
        split.learnware_documents.push_back(docs[k]);
        in_learnware_pool[static_cast<std::size_t>(docs[k])] = 1;
      } else {
        split.user_documents.push_back(docs[k]);
      }
    }
  }
  std::sort(split.learnware_documents.begin(), split.learnware_documents.end());
  std::sort(split.user_documents.begin(), split.user_documents.end());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (in_learnware_pool[static_cast<std::size_t>(samples[i].document)])
      split.learnware_samples.push_back(static_cast<std::int64_t>(i));
    else
      split.user_samples.push_back(static_cast<std::int64_t>(i));
  }
  return split;
}

TextLearnwareTask text_learnware_task(const std::vector<BrownSample>& samples, const BrownSplit& split, int index,
                                      std::uint64_t build_seed) {
  static const std::vector<std::array<int, 3>> triples = superclass_triples();
  TextLearnwareTask task;
  task.index = index;
  task.superclasses = triples[static_cast<std::size_t>(index) % triples.size()];
  kernels::Rng rng(learnware_seed(build_seed, "text/" + std::to_string(index)));
  std::vector<std::int64_t> candidates;
  for (const std::int64_t i : split.learnware_samples) {
    const int s = samples[static_cast<std::size_t>(i)].superclass;
    if (std::find(task.superclasses.begin(), task.superclasses.end(), s) != task.superclasses.end())
      candidates.push_back(i);
  }
  shuffle(candidates, rng);
  candidates.resize(candidates.size() / 2);
  std::sort(candidates.begin(), candidates.end());
  task.samples = std::move(candidates);
  task.seed = rng.next_u64();
  return task;
}

std::string text_learnware_name(const std::array<int, 3>& superclasses, int index) {
  const auto& supers = brown_superclasses();
  std::string name = "brown";
  for (const int s : superclasses) name += "-" + supers[static_cast<std::size_t>(s)].name;
  return name + "-" + three_digits(index);
}

SemanticSpec text_learnware_semantic(const std::vector<std::string>& categories, const std::array<int, 3>& superclasses,
                                     int index) {
  const auto& supers = brown_superclasses();
  SemanticSpec s = base_semantic("Text", "Classification", "Education");
  s.name = text_learnware_name(superclasses, index);
  s.description = "Brown corpus genre classifier trained on " + supers[static_cast<std::size_t>(superclasses[0])].name +
                  ", " + supers[static_cast<std::size_t>(superclasses[1])].name + " and " +
                  supers[static_cast<std::size_t>(superclasses[2])].name + " texts. " + std::string(kTextTag);
  FeatureSemantics output;
  output.dimension = static_cast<std::int64_t>(categories.size());
  for (std::size_t c = 0; c < categories.size(); ++c) output.descriptions[static_cast<std::int64_t>(c)] = categories[c];
  s.output = std::move(output);
  return s;
}

SemanticSpec text_user_query() { return user_query("Text", "Classification", "Education", std::string(kTextTag)); }

NaiveBayesOptions market_text_model_options() { return NaiveBayesOptions{}; }

TextSpecOptions market_text_spec_options() { return TextSpecOptions{}; }

std::unique_ptr<const text::SentenceEncoder> make_text_encoder(std::string_view name, const std::filesystem::path& data_dir,
                                                               const kernels::Context& ctx, std::string* explanation) {
  text::EncoderChoice choice =
      text::choose_sentence_encoder(name, ds::wink_word_vector_location(data_dir), {}, ctx, "--text-encoder");
  if (explanation) *explanation = std::move(choice.explanation);
  return std::move(choice.encoder);
}

std::unique_ptr<const text::SentenceEncoder> market_text_encoder(const std::filesystem::path& market_dir,
                                                                 const std::filesystem::path& data_dir,
                                                                 const kernels::Context& ctx) {
  const std::filesystem::path file = market_dir / kBuildInfoFile;
  nlohmann::json info;
  try {
    info = nlohmann::json::parse(io::read_text_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": not valid JSON: " + e.what());
  }
  const auto it = info.find("text_encoder");
  if (it == info.end() || !it->is_object())
    throw Error(file.string() + ": the market records no text encoder (it has no text learnwares)");
  text::TextEncoderId recorded;
  try {
    recorded.name = it->at("name").get<std::string>();
    recorded.dim = it->at("dim").get<std::int64_t>();
    recorded.fingerprint = it->at("fingerprint").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(file.string() + ": malformed text_encoder: " + e.what());
  }
  auto encoder = make_text_encoder(recorded.name, data_dir, ctx);
  if (!(encoder->id() == recorded))
    throw Error("the market's text learnwares were encoded with " + recorded.describe() + ", but this machine gives " +
                encoder->id().describe() + " (different word vectors?)");
  return encoder;
}

}  // namespace lwd::scenarios
