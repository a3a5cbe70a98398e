// Reuse end to end, against the targets of the reuse issue:
//   job selector, 5 learnwares x 10 000 user rows      <= 2 s on 2 cores;
//   ensemble pruning, 25 learnwares x 2 000 labelled rows <= 5 s.
// Job selector: mixture QP on the unreduced user data, herding, XGBoost
// selector with early stopping, routing and the learnwares' predictions; the
// user's rows come from all five regions (weights near 1/5 each) or from one
// region only (one learnware takes the whole herding budget: the slow case).
// Ensemble pruning: the members' predictions on the labelled rows plus 500
// generations of NSGA-II (the reference's maxgen), classification (3
// objectives) and regression (2). Logistic CV: feature augmentation's fit on
// an image user's 1000 labelled rows (784 pixel-like columns, 0..255 and a
// blank border, plus 40 learnware probabilities; 10 classes), 10 Cs x 5 folds
// and the refit. Argument: threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/linear_model.h"
#include "engine/reuse/ensemble_pruning.h"
#include "engine/reuse/feature_augment.h"
#include "engine/reuse/job_selector.h"
#include "kernels/random.h"

namespace {

using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

constexpr std::int64_t kDim = 8;

// "r3" etc. (Built with += rather than operator+: GCC 12 warns spuriously
// about the latter at -O3.)
std::string learnware_id(char prefix, int index) {
  std::string id(1, prefix);
  id += std::to_string(index);
  return id;
}

Matrix<double> region_rows(std::int64_t n, const std::vector<double>& centre, Rng& rng) {
  Matrix<double> x(n, kDim);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < kDim; ++c) x(i, c) = centre[static_cast<std::size_t>(c)] + rng.normal();
  return x;
}

struct JobSelectorSetup {
  std::vector<lwd::Learnware> learnwares;
  Matrix<double> all_regions;  // 2 000 rows from each of the 5 regions
  Matrix<double> one_region;   // 10 000 rows from region 0
};

const JobSelectorSetup& job_selector_setup() {
  static const JobSelectorSetup setup = [] {
    JobSelectorSetup s;
    Rng rng(7);
    s.all_regions = Matrix<double>(10000, kDim);
    for (int r = 0; r < 5; ++r) {
      std::vector<double> centre(kDim);
      for (auto& c : centre) c = 4.0 * rng.normal();
      const Matrix<double> train = region_rows(2000, centre, rng);
      Matrix<double> coef(1, kDim);
      for (auto& v : coef.values()) v = rng.normal();
      auto model = std::make_shared<lwd::LinearModel>(lwd::LinearModel::Type::kRidge, coef, std::vector<double>{0.0});
      s.learnwares.push_back(lwd::make_learnware(
          learnware_id('r', r), model, lwd::RKMETableSpec::generate(Context{.seed = static_cast<std::uint64_t>(r)}, train)));
      const Matrix<double> user = region_rows(2000, centre, rng);
      std::copy(user.values().begin(), user.values().end(), s.all_regions.row(2000 * r));
      if (r == 0) s.one_region = region_rows(10000, centre, rng);
    }
    return s;
  }();
  return setup;
}

void run_job_selector(benchmark::State& state, bool all_regions) {
  const JobSelectorSetup& setup = job_selector_setup();
  const Matrix<double>& user = all_regions ? setup.all_regions : setup.one_region;
  const lwd::JobSelectorReuser reuser(setup.learnwares, Context{.n_threads = static_cast<int>(state.range(0)), .seed = 1});
  lwd::JobSelection selection;
  for (auto _ : state) {
    benchmark::DoNotOptimize(reuser.predict(user.view()));
  }
  selection = reuser.select(user.view());
  std::int64_t herded = 0;
  for (auto h : selection.herded_points) herded += h;
  state.counters["rows"] = static_cast<double>(user.rows());
  state.counters["herded"] = static_cast<double>(herded);
  state.counters["selector_rounds"] = selection.selector_rounds;
}

void BM_JobSelector_5x10000_AllRegions(benchmark::State& state) { run_job_selector(state, true); }
void BM_JobSelector_5x10000_OneRegion(benchmark::State& state) { run_job_selector(state, false); }
BENCHMARK(BM_JobSelector_5x10000_AllRegions)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_JobSelector_5x10000_OneRegion)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

struct PruningSetup {
  std::vector<lwd::Learnware> classifiers;
  std::vector<lwd::Learnware> regressors;
  Matrix<double> x;  // 2 000 labelled rows
  std::vector<double> labels;
  std::vector<double> targets;
};

const PruningSetup& pruning_setup() {
  static const PruningSetup setup = [] {
    PruningSetup s;
    Rng rng(11);
    const std::vector<double> origin(kDim, 0.0);
    s.x = region_rows(2000, origin, rng);
    Matrix<double> truth(3, kDim);
    for (auto& v : truth.values()) v = rng.normal();
    const lwd::LinearModel true_classifier(lwd::LinearModel::Type::kLogistic, truth, {0, 0, 0});
    for (auto label : lwd::argmax_labels(true_classifier.predict(s.x.view()))) s.labels.push_back(static_cast<double>(label));
    for (std::int64_t i = 0; i < s.x.rows(); ++i) s.targets.push_back(truth(0, 0) * s.x(i, 0) + truth(1, 1) * s.x(i, 1));
    const lwd::RKMETableSpec spec(region_rows(20, origin, rng), std::vector<double>(20, 0.05), 0.1, 20);
    for (int j = 0; j < 25; ++j) {
      const double noise = 0.2 + 0.1 * j;
      Matrix<double> coef = truth;
      for (auto& v : coef.values()) v += noise * rng.normal();
      s.classifiers.push_back(lwd::make_learnware(
          learnware_id('c', j),
          std::make_shared<lwd::LinearModel>(lwd::LinearModel::Type::kLogistic, coef, std::vector<double>{0, 0, 0}), spec));
      Matrix<double> w(1, kDim, 0.0);
      w(0, 0) = truth(0, 0) + noise * rng.normal();
      w(0, 1) = truth(1, 1) + noise * rng.normal();
      s.regressors.push_back(lwd::make_learnware(
          learnware_id('r', j),
          std::make_shared<lwd::LinearModel>(lwd::LinearModel::Type::kRidge, w, std::vector<double>{noise * rng.normal()}),
          spec));
    }
    return s;
  }();
  return setup;
}

void run_pruning(benchmark::State& state, bool classification) {
  const PruningSetup& setup = pruning_setup();
  const Context ctx{.n_threads = static_cast<int>(state.range(0)), .seed = 3};
  std::int64_t selected = 0, evaluations = 0;
  for (auto _ : state) {
    lwd::EnsemblePruningReuser reuser(classification ? setup.classifiers : setup.regressors, ctx);
    reuser.fit(setup.x.view(), classification ? setup.labels : setup.targets);
    selected = static_cast<std::int64_t>(reuser.selected().size());
    evaluations = reuser.search_result().evaluations;
  }
  state.counters["learnwares"] = 25;
  state.counters["rows"] = static_cast<double>(setup.x.rows());
  state.counters["selected"] = static_cast<double>(selected);
  state.counters["masks_evaluated"] = static_cast<double>(evaluations);
}

void BM_EnsemblePruning_25x2000_Classification(benchmark::State& state) { run_pruning(state, true); }
void BM_EnsemblePruning_25x2000_Regression(benchmark::State& state) { run_pruning(state, false); }
BENCHMARK(BM_EnsemblePruning_25x2000_Classification)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EnsemblePruning_25x2000_Regression)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

struct LogisticCvSetup {
  Matrix<double> x;
  std::vector<std::int64_t> labels;
};

const LogisticCvSetup& logistic_cv_setup() {
  static const LogisticCvSetup setup = [] {
    constexpr std::int64_t kRows = 1000, kSide = 28, kPixels = kSide * kSide, kOutputs = 40, kClasses = 10;
    LogisticCvSetup s;
    Rng rng(13);
    // Each class lights a noisy blob of the 20 x 20 centre; the border stays blank.
    Matrix<double> centres(kClasses, 2);
    for (auto& v : centres.values()) v = 8.0 + 12.0 * rng.uniform();
    s.x = Matrix<double>(kRows, kPixels + kOutputs, 0.0);
    for (std::int64_t i = 0; i < kRows; ++i) {
      const std::int64_t label = i % kClasses;
      s.labels.push_back(label);
      for (std::int64_t r = 4; r < kSide - 4; ++r)
        for (std::int64_t c = 4; c < kSide - 4; ++c) {
          const double dr = static_cast<double>(r) - centres(label, 0), dc = static_cast<double>(c) - centres(label, 1);
          const double ink = std::exp(-(dr * dr + dc * dc) / 18.0) + 1.5 * rng.uniform();
          s.x(i, r * kSide + c) = std::min(255.0, std::round(255.0 * ink));
        }
      // Four learnwares' probabilities: confident on their own classes, noisy.
      for (std::int64_t m = 0; m < 4; ++m) {
        double total = 0.0;
        for (std::int64_t k = 0; k < kClasses; ++k) {
          const double p = (k == label && (label + m) % 10 < 6 ? 0.5 : 0.0) + rng.uniform();
          s.x(i, kPixels + m * kClasses + k) = p;
          total += p;
        }
        for (std::int64_t k = 0; k < kClasses; ++k) s.x(i, kPixels + m * kClasses + k) /= total;
      }
    }
    return s;
  }();
  return setup;
}

void BM_LogisticCv_1000x824_10Classes(benchmark::State& state) {
  const LogisticCvSetup& setup = logistic_cv_setup();
  const Context ctx{.n_threads = static_cast<int>(state.range(0))};
  double c = 0.0, accuracy = 0.0;
  for (auto _ : state) {
    const lwd::LogisticCvResult result = lwd::fit_logistic_cv(setup.x.view(), setup.labels, 10, 5, {}, ctx);
    c = result.c;
    accuracy = *std::max_element(result.cv_accuracy.begin(), result.cv_accuracy.end());
  }
  state.counters["rows"] = static_cast<double>(setup.x.rows());
  state.counters["columns"] = static_cast<double>(setup.x.cols());
  state.counters["chosen_C"] = c;
  state.counters["cv_accuracy"] = accuracy;
}
BENCHMARK(BM_LogisticCv_1000x824_10Classes)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
