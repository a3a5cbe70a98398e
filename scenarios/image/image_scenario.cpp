#include "scenarios/image/image_scenario.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "datasets/fetched/data_packages.h"
#include "engine/error.h"
#include "engine/image/image_classifier.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/kinds/image_kind.h"
#include "engine/market/market.h"
#include "kernels/random.h"
#include "scenarios/common/user_study.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {
namespace {

namespace ds = lwd::datasets;
constexpr const char* kScenarioName = "image";

// The paper's image table (PAPER_RESULTS.md, CIFAR-10, error = 1 - accuracy).
std::map<std::string, double> published_error() {
  return {{kMeanInMarket, 0.655}, {kBestInMarket, 0.304}, {kTop1Reuse, 0.406},
          {kJobSelector, 0.406},  {kAverageEnsemble, 0.310}};
}

// Rows of each digit in an ascending list of MNIST rows.
std::array<std::vector<std::int64_t>, 10> rows_by_digit(const ds::MnistDigits& digits,
                                                        const std::vector<std::int64_t>& rows) {
  std::array<std::vector<std::int64_t>, 10> out;
  for (const std::int64_t r : rows) out[digits.labels[static_cast<std::size_t>(r)]].push_back(r);
  return out;
}

struct ImageData {
  const ds::MnistDigits* digits = nullptr;
  std::array<std::vector<std::int64_t>, 10> user_pool, learnware_pool;  // by digit
};

std::string describe(const std::array<int, 6>& d) {
  std::string out = "digits " + std::to_string(d[0]) + "," + std::to_string(d[1]) + " (30 % each); ";
  for (std::size_t i = 2; i < d.size(); ++i) out += (i > 2 ? "," : "") + std::to_string(d[i]);
  return out + " (10 % each)";
}

StudyUser make_image_user(const ImageScenarioConfig& config, const ImageData& data, int user,
                          const kernels::Context& ctx) {
  const ds::MnistDigits& digits = *data.digits;
  kernels::Rng rng(derive_seed(ctx.seed, {1}));
  std::array<int, 10> order{};
  std::iota(order.begin(), order.end(), 0);
  for (int i = 9; i > 0; --i) std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i + 1))]);
  std::array<int, 6> classes{};
  std::copy_n(order.begin(), 6, classes.begin());

  // The rows to predict: the user pool's images in the user's ratio.
  const std::vector<std::int64_t> test_counts = counts_in_ratio(config.test_images, kImageUserClassRatio);
  std::vector<std::int64_t> test_rows;
  std::vector<double> test_labels;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const std::vector<std::int64_t>& available = data.user_pool[static_cast<std::size_t>(classes[c])];
    if (test_counts[c] > static_cast<std::int64_t>(available.size()))
      throw Error("user " + std::to_string(user) + ": " + std::to_string(test_counts[c]) + " test images of digit " +
                  std::to_string(classes[c]) + " asked for, the user pool has " + std::to_string(available.size()) +
                  " (lower test_images)");
    for (const std::int64_t i : sample_rows(static_cast<std::int64_t>(available.size()), test_counts[c],
                                            derive_seed(ctx.seed, {2, c}))) {
      test_rows.push_back(available[static_cast<std::size_t>(i)]);
      test_labels.push_back(classes[c]);
    }
  }
  const ImageBatch test_images = mnist_images(digits, test_rows);

  StudyUser out;
  out.description = describe(classes);
  out.x_test = image_rows(test_images);
  out.y_test = test_labels;
  out.query.spec = stat_spec(RKMEImageSpec::generate(ctx, test_images, market_image_rkme_options()));
  ImageRkmeOptions preprocess_only = market_image_rkme_options();
  preprocess_only.reduce = false;
  const RKMEImageSpec preprocessed = RKMEImageSpec::generate(ctx, test_images, preprocess_only);
  const kernels::ConstMatrixView<float> z = preprocessed.z_rows();
  out.spec_rows_test = kernels::Matrix<double>(z.rows, z.cols);
  for (std::int64_t i = 0; i < z.rows; ++i) std::copy_n(z.row(i), z.cols, out.spec_rows_test.row(i));

  // The labelled pool: the learnware pool's images of the user's digits,
  // class by class; a draw keeps the ratio.
  std::vector<std::int64_t> pool_rows;  // MNIST rows, class by class
  std::vector<std::int64_t> class_start;
  std::int64_t max_labelled = std::numeric_limits<std::int64_t>::max();
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const std::vector<std::int64_t>& available = data.learnware_pool[static_cast<std::size_t>(classes[c])];
    class_start.push_back(static_cast<std::int64_t>(pool_rows.size()));
    pool_rows.insert(pool_rows.end(), available.begin(), available.end());
    for (std::size_t k = 0; k < available.size(); ++k) out.y_pool.push_back(classes[c]);
    max_labelled = std::min(max_labelled,
                            static_cast<std::int64_t>(static_cast<double>(available.size()) / kImageUserClassRatio[c]));
  }
  class_start.push_back(static_cast<std::int64_t>(pool_rows.size()));
  out.x_pool = image_rows(mnist_images(digits, pool_rows));
  out.max_labelled = max_labelled;
  out.draw = [class_start](std::int64_t n, std::uint64_t seed) {
    const std::vector<std::int64_t> counts = counts_in_ratio(n, kImageUserClassRatio);
    std::vector<std::int64_t> rows;
    for (std::size_t c = 0; c < counts.size(); ++c)
      for (const std::int64_t i : sample_rows(class_start[c + 1] - class_start[c], counts[c], derive_seed(seed, {c})))
        rows.push_back(class_start[c] + i);
    return rows;
  };
  out.user_model = [pool_rows, labels = out.y_pool, &digits, x_test = out.x_test](
                       std::span<const std::int64_t> rows, const kernels::Context& c) {
    std::vector<std::int64_t> mnist_rows, y;
    for (const std::int64_t r : rows) {
      mnist_rows.push_back(pool_rows[static_cast<std::size_t>(r)]);
      y.push_back(static_cast<std::int64_t>(labels[static_cast<std::size_t>(r)]));
    }
    const ImageMlpClassifier model =
        train_image_classifier(c, mnist_images(digits, mnist_rows), y, 10, market_image_model_options());
    return model.predict(x_test.view());
  };
  return out;
}

}  // namespace

ImageScenarioConfig image_scenario_config(const ScenarioOptions& options) {
  check_params(options, {"users", "test_images", "grid", "repeats", "curve", "max_search_num", "feature_augment"}, kScenarioName);
  ImageScenarioConfig config;
  if (options.quick) {
    config.users = 10;
    config.test_images = 500;
    config.n_grid = {20, 100, 500};
    config.repeats = {2, 2, 1};
  }
  config.users = static_cast<int>(param_int(options, "users", config.users));
  if (config.users < 1) throw Error("parameter users: must be at least 1");
  config.test_images = param_int(options, "test_images", config.test_images);
  if (config.test_images < 10) throw Error("parameter test_images: must be at least 10");
  apply_curve_params(options, config.n_grid, config.repeats, config.curve);
  config.max_search_num = static_cast<int>(param_int(options, "max_search_num", config.max_search_num));
  if (config.max_search_num < 1) throw Error("parameter max_search_num: must be at least 1");
  config.feature_augment = param_int(options, "feature_augment", config.feature_augment ? 1 : 0) != 0;
  return config;
}

ScenarioResult run_image_scenario(const ImageScenarioConfig& config, const ds::MnistDigits& digits,
                                  const ScenarioOptions& options, const MethodRegistry& methods,
                                  const kernels::Context& ctx) {
  ScenarioResult result;
  result.title = "image: MNIST digit classification (users of 6 digits search the whole market)";
  result.run = begin_run_info(kScenarioName, options, ctx);
  PhaseTimer timer(result.run.phases);

  timer.start("open market");
  const Market market = Market::open(options.market_dir, kernels::Context{1, options.seed}, {}, options.db);
  ImageData data;
  data.digits = &digits;
  const MnistSplit split = mnist_split(digits.size());
  data.user_pool = rows_by_digit(digits, split.user_pool);
  data.learnware_pool = rows_by_digit(digits, split.learnware_pool);

  StudySetup setup;
  setup.scenario = kScenarioName;
  setup.title = result.title;
  setup.users = config.users;
  setup.semantic_query = image_user_query();
  setup.num_classes = 10;
  setup.metric = Metric::kError;
  setup.metric_label = "error (1 - accuracy)";
  setup.higher_is_better = false;
  setup.published = published_error();
  setup.published_source = "Beimingwu paper, image table (CIFAR-10: 50 CNN learnwares, 100 users; error)";
  setup.table_key = "mnist";
  setup.table_title = "MNIST, users of 6 digits at 0.3:0.3:0.1:0.1:0.1:0.1";
  setup.notes = {std::to_string(config.users) + " users, each predicting " + std::to_string(config.test_images) +
                     " images of the MNIST user pool (no learnware trained on any of them).",
                 "Labelled rows come from the learnware pool's images of the user's digits, in the user's ratio."};
  if (!config.feature_augment)
    setup.skipped_methods[kFeatureAugment] = "skipped at the user's request (--param feature_augment=0).";
  setup.max_search_num = config.max_search_num;
  setup.curve = config.curve;
  setup.n_grid = config.n_grid;
  setup.repeats = config.repeats;
  setup.user_model_label = "User model (self-trained MLP, the market's settings)";
  setup.curve_x_label = "labelled images n of the user";
  run_user_study(
      setup, [&](int user, const kernels::Context& c) { return make_image_user(config, data, user, c); }, market,
      options, methods, ctx, result, timer);
  timer.stop();
  result.run.total_seconds = timer.total_seconds();
  result.run.config["market_dir"] = options.market_dir.string();
  result.run.config["test_images"] = config.test_images;
  result.run.config["feature_augment"] = config.feature_augment;
  result.run.config["class_ratio"] = kImageUserClassRatio;
  result.run.config["mnist_images"] = digits.size();
  result.run.config["user_model"] = "image MLP, market_image_model_options(), 1 thread";
  return result;
}

void register_image_scenarios(ScenarioRegistry& registry) {
  registry.add({kScenarioName,
                "image: 100 MNIST users of 6 digits search the 50 image learnwares (table + labelled-data curve)",
                {{"users", "number of users (default 100; quick 10)"},
                 {"test_images", "images each user predicts (default 1000; quick 500)"},
                 {"grid", "labelled-set sizes n (default 20,50,100,200,500,1000,1500; quick 20,100,500)"},
                 {"repeats", "repeats per n, comma-separated or one value (default 10,10,10,10,10,3,3)"},
                 {"curve", "1 (default) or 0: skip the labelled-data curve"},
                 {"max_search_num", "most learnwares in a mixture (default 5)"},
                 {"feature_augment", "1 (default) or 0: skip feature augmentation on the curve"}},
                [](const ScenarioOptions& options, const MethodRegistry& methods, const kernels::Context& ctx) {
                  const ImageScenarioConfig config = image_scenario_config(options);
                  const std::filesystem::path data_dir =
                      options.data_dir.empty() ? datasets::default_data_dir() : options.data_dir;
                  const datasets::MnistDigits digits =
                      datasets::load_mnist_digits(datasets::require_data_package(data_dir, "mnist"));
                  return run_image_scenario(config, digits, options, methods, ctx);
                }});
}

}  // namespace lwd::scenarios
