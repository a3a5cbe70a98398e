// k-means: greedy k-means++ seeding, then Lloyd iterations.
//
// Seeding is the greedy variant of k-means++ (Arthur & Vassilvitskii 2007; the
// variant scikit-learn uses): after a uniformly drawn first centre, each new
// centre is the best of 2 + floor(ln k) candidates drawn with probability
// proportional to the squared distance D^2 to the nearest chosen centre, "best"
// meaning the one that leaves the smallest total D^2. It costs a few times plain
// k-means++ but starts Lloyd much closer to a good local optimum, so fewer
// iterations follow. If every row already coincides with a chosen centre (fewer
// distinct rows than k) the candidates are drawn uniformly instead.
//
// Determinism. Work is split into fixed blocks of rows, never by thread count:
//  - squared distances come from one GEMM per row block (||x||^2 - 2 x.c +
//    ||c||^2, clamped at 0) and each row's label depends only on its own row;
//  - sums over rows (seeding potentials, inertia) are per-block partial sums
//    combined in block order;
//  - centroid sums are per cluster, over the cluster's rows in increasing row
//    order -- the very additions the naive reference makes, so given the same
//    labels the centroids agree with kmeans_ref bit for bit.
// Everything else (sampling, empty-cluster repair, convergence tests) is serial.
//
// Reference rules (KMeansOptions::reference_rules) change three things only:
// the seeding (k rows drawn uniformly with replacement), empty clusters (their
// centre becomes the zero vector, as fast_pytorch_kmeans's mean over no rows,
// a NaN, set to 0, leaves it) and the stopping threshold (tol itself).
#include "kernels/kmeans.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "kernels/error.h"
#include "kernels/parallel.h"
#include "kernels/random.h"
#include "kernels/scratch.h"

namespace lwd::kernels {
namespace {

// Rows per GEMM block: the block's rows and its rows x k distance tile stay in
// L2 for k in the hundreds, and 10^4 rows still give dozens of parallel tasks.
constexpr std::int64_t kRowBlock = 256;

void validate(ConstMatrixView<double> x, const KMeansOptions& options, const char* caller) {
  const std::string where = std::string(caller) + ": ";
  if (x.rows < 1) throw KernelError(where + "the data has no rows");
  if (x.cols < 1) throw KernelError(where + "the data has no columns");
  if (x.data == nullptr || x.stride < x.cols) throw KernelError(where + "the data is not a valid matrix view");
  if (options.k < 1 || options.k > x.rows) {
    throw KernelError(where + "k must be between 1 and the number of rows (" + std::to_string(x.rows) + "), got " +
                      std::to_string(options.k));
  }
  if (options.max_iter < 0) throw KernelError(where + "max_iter must be >= 0, got " + std::to_string(options.max_iter));
  if (!options.initial_centroids.empty()) {
    if (static_cast<std::int64_t>(options.initial_centroids.size()) != options.k * x.cols) {
      throw KernelError(where + "initial_centroids has " + std::to_string(options.initial_centroids.size()) +
                        " values, expected k x d = " + std::to_string(options.k * x.cols));
    }
    for (const double v : options.initial_centroids)
      if (!std::isfinite(v)) throw KernelError(where + "initial_centroids has a non-finite value");
  }
  if (!(options.tol >= 0.0) || !std::isfinite(options.tol)) {
    throw KernelError(where + "tol must be a finite number >= 0");
  }
  for (std::int64_t i = 0; i < x.rows; ++i) {
    const double* row = x.row(i);
    for (std::int64_t f = 0; f < x.cols; ++f) {
      if (!std::isfinite(row[f])) {
        throw KernelError(where + "the data has a non-finite value at row " + std::to_string(i) + ", column " +
                          std::to_string(f));
      }
    }
  }
}

int local_trials(int k) { return 2 + static_cast<int>(std::log(static_cast<double>(k))); }

double squared_distance(const double* a, const double* b, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t f = 0; f < d; ++f) {
    const double t = a[f] - b[f];
    s += t * t;
  }
  return s;
}

// Absolute stopping threshold on the total squared centroid shift: tol times the
// mean per-feature (population) variance. Shared by both implementations so that
// they stop at the same iteration.
double shift_threshold(ConstMatrixView<double> x, const KMeansOptions& options) {
  if (options.reference_rules) return options.tol;
  const double tol = options.tol;
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<double> mean(static_cast<std::size_t>(d), 0.0), var(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t f = 0; f < d; ++f) mean[static_cast<std::size_t>(f)] += x(i, f);
  for (double& m : mean) m /= static_cast<double>(n);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t f = 0; f < d; ++f) {
      const double t = x(i, f) - mean[static_cast<std::size_t>(f)];
      var[static_cast<std::size_t>(f)] += t * t;
    }
  double total = 0.0;
  for (double v : var) total += v / static_cast<double>(n);
  return tol * total / static_cast<double>(d);
}

// The seeding candidate with the smallest potential, the first one among those
// within a relative 1e-12 of it. Exact ties are common when k is close to n: two
// mutually nearest rows far from every centre leave the same potential whichever
// of them is chosen, and summation order alone must not decide between them.
int best_candidate(const std::vector<double>& potentials) {
  const double lowest = *std::min_element(potentials.begin(), potentials.end());
  const double limit = lowest + 1e-12 * lowest;
  int best = 0;
  while (potentials[static_cast<std::size_t>(best)] > limit) ++best;
  return best;
}

// Moves rows into empty clusters: the t-th empty cluster (ascending index) gets
// the t-th row in order of decreasing distance to its own centroid (lowest index
// on ties), skipping rows whose cluster would become empty in turn. `sums` holds
// per-cluster row sums (k x d) and `counts` their sizes; both are updated, and so
// is the moved row's label. Enough movable rows always exist because k <= n.
void repair_empty_clusters(ConstMatrixView<double> x, const double* centroids, std::int32_t* labels, double* sums,
                           std::int64_t* counts, std::int64_t k, std::vector<double>& distance,
                           std::vector<std::int64_t>& rank) {
  const std::int64_t n = x.rows, d = x.cols;
  distance.resize(static_cast<std::size_t>(n));
  rank.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    distance[static_cast<std::size_t>(i)] = squared_distance(x.row(i), centroids + labels[i] * d, d);
  std::iota(rank.begin(), rank.end(), std::int64_t{0});
  std::sort(rank.begin(), rank.end(), [&](std::int64_t a, std::int64_t b) {
    const double da = distance[static_cast<std::size_t>(a)], db = distance[static_cast<std::size_t>(b)];
    return da > db || (da == db && a < b);
  });
  std::size_t next = 0;
  for (std::int64_t e = 0; e < k; ++e) {
    if (counts[e] != 0) continue;
    std::int64_t row = -1;
    while (next < rank.size()) {
      const std::int64_t candidate = rank[next++];
      if (counts[labels[candidate]] > 1) {
        row = candidate;
        break;
      }
    }
    if (row < 0) return;  // unreachable for k <= n
    const std::int64_t from = labels[row];
    const double* xr = x.row(row);
    double* source = sums + from * d;
    double* target = sums + e * d;
    for (std::int64_t f = 0; f < d; ++f) {
      source[f] -= xr[f];
      target[f] = xr[f];
    }
    --counts[from];
    counts[e] = 1;
    labels[row] = static_cast<std::int32_t>(e);
  }
}

// The first index j minimising values[j] + offsets[j] (lowest index on ties).
// A single running minimum is a chain of dependent compares, several times
// slower than the GEMM that produced the values. Instead: the minimum over
// independent lanes, then a scan for its first occurrence eight entries at a
// time. Both passes form the sums the same way, so the comparison is exact.
std::int64_t first_argmin_of_sum(const double* values, const double* offsets, std::int64_t m) {
  constexpr std::int64_t kLanes = 8;
  double lane_min[kLanes];
  std::fill(lane_min, lane_min + kLanes, std::numeric_limits<double>::infinity());
  std::int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes)
    for (std::int64_t l = 0; l < kLanes; ++l) lane_min[l] = std::min(lane_min[l], values[j + l] + offsets[j + l]);
  for (; j < m; ++j) lane_min[0] = std::min(lane_min[0], values[j] + offsets[j]);
  double lowest = lane_min[0];
  for (std::int64_t l = 1; l < kLanes; ++l) lowest = std::min(lowest, lane_min[l]);

  j = 0;
  for (; j + kLanes <= m; j += kLanes) {
    bool found = false;
    for (std::int64_t l = 0; l < kLanes; ++l) found |= values[j + l] + offsets[j + l] <= lowest;
    if (found) break;
  }
  for (; j < m; ++j)
    if (values[j] + offsets[j] <= lowest) return j;
  return 0;  // only reachable with non-finite sums
}

// Divides sums by counts into `centroids` and returns the total squared shift
// from `previous`. A cluster without rows (reference rules only) gets the zero
// vector.
double finish_centroids(const double* sums, const std::int64_t* counts, std::int64_t k, std::int64_t d,
                        const double* previous, double* centroids) {
  double shift = 0.0;
  for (std::int64_t j = 0; j < k; ++j) {
    const double count = static_cast<double>(counts[j]);
    for (std::int64_t f = 0; f < d; ++f) {
      const double c = counts[j] == 0 ? 0.0 : sums[j * d + f] / count;
      const double t = c - previous[j * d + f];
      shift += t * t;
      centroids[j * d + f] = c;
    }
  }
  return shift;
}

// The GEMM-based implementation; all buffers are sized once up front.
class LloydSolver {
 public:
  LloydSolver(const Context& ctx, ConstMatrixView<double> x, const KMeansOptions& options)
      : ctx_(ctx),
        x_(x),
        n_(x.rows),
        d_(x.cols),
        k_(options.k),
        options_(options),
        n_blocks_(num_blocks(n_, kRowBlock)),
        trials_(local_trials(options.k)),
        x_norms_(static_cast<std::size_t>(n_)),
        tiles_(ctx, std::vector<double>(static_cast<std::size_t>(kRowBlock * std::max<std::int64_t>(k_, trials_)))),
        centroids_(static_cast<std::size_t>(k_ * d_)),
        sums_(static_cast<std::size_t>(k_ * d_)),
        centroid_norms_(static_cast<std::size_t>(k_)),
        labels_(static_cast<std::size_t>(n_), 0),
        previous_labels_(static_cast<std::size_t>(n_), -1),
        counts_(static_cast<std::size_t>(k_)),
        offsets_(static_cast<std::size_t>(k_ + 1)),
        cursor_(static_cast<std::size_t>(k_)),
        members_(static_cast<std::size_t>(n_)),
        block_sums_(static_cast<std::size_t>(n_blocks_ * trials_)) {
    parallel_for(ctx_, 0, n_blocks_, [&](std::int64_t b) {
      const std::int64_t end = std::min(n_, (b + 1) * kRowBlock);
      for (std::int64_t i = b * kRowBlock; i < end; ++i) {
        const double* row = x_.row(i);
        double s = 0.0;
        for (std::int64_t f = 0; f < d_; ++f) s += row[f] * row[f];
        x_norms_[static_cast<std::size_t>(i)] = s;
      }
    });
  }

  KMeansResult run() {
    if (!options_.initial_centroids.empty()) {
      std::copy(options_.initial_centroids.begin(), options_.initial_centroids.end(), centroids_.begin());
    } else if (options_.reference_rules) {
      seed_uniform_rows();
    } else {
      seed_centroids();
    }
    const double threshold = shift_threshold(x_, options_);
    int iterations = 0;
    bool labels_are_final = false;
    std::vector<double> previous_centroids(centroids_.size());
    for (int it = 1; it <= options_.max_iter; ++it) {
      assign_labels();
      if (it > 1 && labels_ == previous_labels_) {
        labels_are_final = true;
        break;
      }
      previous_centroids = centroids_;
      const double shift = update_centroids(previous_centroids);
      labels_.swap(previous_labels_);
      iterations = it;
      if (shift <= threshold) break;
    }
    KMeansResult result;
    result.iterations = iterations;
    if (!options_.centroids_only) {
      // Unless the loop ended on unchanged labels, the last update moved the
      // centroids after the labels were computed: assign once more.
      if (!labels_are_final) assign_labels();
      result.inertia = inertia();
      result.labels = std::move(labels_);
    }
    result.centroids = Matrix<double>(k_, d_, std::move(centroids_));
    return result;
  }

 private:
  double* thread_tile() { return tiles_.local().data(); }

  // tile(i, j) = -2 x_i . y_j for the rows of block b against the m rows of y.
  void block_dot_products(std::int64_t b, const double* y, std::int64_t m, double* tile) const {
    const std::int64_t begin = b * kRowBlock;
    const std::int64_t rows = std::min(n_, begin + kRowBlock) - begin;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(m),
                static_cast<int>(d_), -2.0, x_.row(begin), static_cast<int>(x_.stride), y, static_cast<int>(d_), 0.0,
                tile, static_cast<int>(m));
  }

  // ---- reference seeding: k rows drawn uniformly with replacement ----------
  void seed_uniform_rows() {
    Rng rng(options_.seed);
    for (std::int64_t c = 0; c < k_; ++c) {
      const double* src = x_.row(static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n_))));
      std::copy(src, src + d_, centroids_.begin() + c * d_);
    }
  }

  // ---- greedy k-means++ ----------------------------------------------------
  void seed_centroids() {
    Rng rng(options_.seed);
    closest_.assign(static_cast<std::size_t>(n_), std::numeric_limits<double>::infinity());
    candidate_distances_.resize(static_cast<std::size_t>(n_ * trials_));
    candidates_.resize(static_cast<std::size_t>(trials_));
    candidate_rows_.resize(static_cast<std::size_t>(trials_ * d_));
    candidate_norms_.resize(static_cast<std::size_t>(trials_));

    candidates_[0] = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n_)));
    double potential = evaluate_candidates(1)[0];
    adopt_candidate(0, 0);
    for (std::int64_t c = 1; c < k_; ++c) {
      for (int t = 0; t < trials_; ++t) {
        candidates_[static_cast<std::size_t>(t)] =
            potential > 0.0 ? sample_by_potential(rng.uniform() * potential)
                            : static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n_)));
      }
      const std::vector<double>& potentials = evaluate_candidates(trials_);
      const int best = best_candidate(potentials);
      potential = potentials[static_cast<std::size_t>(best)];
      adopt_candidate(best, c);
    }
  }

  // For every row, min(closest, distance to candidate t) into
  // candidate_distances_, and per-block partial sums of those. Returns the
  // potential (total) of each candidate.
  const std::vector<double>& evaluate_candidates(int m) {
    for (int t = 0; t < m; ++t) {
      const std::int64_t row = candidates_[static_cast<std::size_t>(t)];
      std::copy(x_.row(row), x_.row(row) + d_, candidate_rows_.begin() + t * d_);
      candidate_norms_[static_cast<std::size_t>(t)] = x_norms_[static_cast<std::size_t>(row)];
    }
    parallel_for(ctx_, 0, n_blocks_, [&](std::int64_t b) {
      keep_blas_on_this_thread();
      double* tile = thread_tile();
      block_dot_products(b, candidate_rows_.data(), m, tile);
      const std::int64_t begin = b * kRowBlock;
      const std::int64_t end = std::min(n_, begin + kRowBlock);
      const std::int64_t rows = end - begin;
      double* out = candidate_distances_.data() + begin * trials_;
      for (std::int64_t i = 0; i < rows; ++i) {
        const double* dots = tile + i * m;
        const double closest = closest_[static_cast<std::size_t>(begin + i)];
        const double norm = x_norms_[static_cast<std::size_t>(begin + i)];
        for (int t = 0; t < m; ++t) {
          const double dist = std::max(0.0, norm + dots[t] + candidate_norms_[static_cast<std::size_t>(t)]);
          out[i * trials_ + t] = std::min(closest, dist);
        }
      }
      // A candidate's distance to itself is exactly zero, whatever cancellation
      // the GEMM form leaves.
      for (int t = 0; t < m; ++t) {
        const std::int64_t c = candidates_[static_cast<std::size_t>(t)];
        if (c >= begin && c < end) out[(c - begin) * trials_ + t] = 0.0;
      }
      double* partial = block_sums_.data() + b * trials_;
      std::fill(partial, partial + m, 0.0);
      for (std::int64_t i = 0; i < rows; ++i)
        for (int t = 0; t < m; ++t) partial[t] += out[i * trials_ + t];
    });
    potentials_.assign(static_cast<std::size_t>(m), 0.0);
    const double* partials = block_sums_.data();
    for (std::int64_t b = 0; b < n_blocks_; ++b)
      for (int t = 0; t < m; ++t) potentials_[static_cast<std::size_t>(t)] += partials[b * trials_ + t];
    return potentials_;
  }

  void adopt_candidate(int t, std::int64_t centre) {
    parallel_for(ctx_, 0, n_blocks_, [&](std::int64_t b) {
      const std::int64_t end = std::min(n_, (b + 1) * kRowBlock);
      for (std::int64_t i = b * kRowBlock; i < end; ++i)
        closest_[static_cast<std::size_t>(i)] = candidate_distances_[static_cast<std::size_t>(i * trials_ + t)];
    });
    closest_block_sums_.resize(static_cast<std::size_t>(n_blocks_));
    for (std::int64_t b = 0; b < n_blocks_; ++b)
      closest_block_sums_[static_cast<std::size_t>(b)] = block_sums_[static_cast<std::size_t>(b * trials_ + t)];
    const double* src = x_.row(candidates_[static_cast<std::size_t>(t)]);
    std::copy(src, src + d_, centroids_.begin() + centre * d_);
  }

  // The first row whose running D^2 sum exceeds r. Block totals locate the block;
  // inside it the running sum repeats the additions that produced the block
  // total, so the search cannot run past the block's end.
  std::int64_t sample_by_potential(double r) const {
    double before = 0.0;
    for (std::int64_t b = 0; b < n_blocks_; ++b) {
      const double block_total = closest_block_sums_[static_cast<std::size_t>(b)];
      if (before + block_total > r || b == n_blocks_ - 1) {
        const std::int64_t begin = b * kRowBlock;
        const std::int64_t end = std::min(n_, begin + kRowBlock);
        double running = 0.0;
        std::int64_t last_positive = -1;
        for (std::int64_t i = begin; i < end; ++i) {
          const double w = closest_[static_cast<std::size_t>(i)];
          running += w;
          if (w > 0.0) last_positive = i;
          if (w > 0.0 && before + running > r) return i;
        }
        if (last_positive >= 0) return last_positive;
      }
      before += block_total;
    }
    // Only reachable if rounding put r beyond every partial sum: the last row
    // with positive weight is the limit of the search.
    for (std::int64_t i = n_ - 1; i >= 0; --i)
      if (closest_[static_cast<std::size_t>(i)] > 0.0) return i;
    return 0;
  }

  // ---- Lloyd ---------------------------------------------------------------
  void assign_labels() {
    for (std::int64_t j = 0; j < k_; ++j) {
      const double* c = centroids_.data() + j * d_;
      double s = 0.0;
      for (std::int64_t f = 0; f < d_; ++f) s += c[f] * c[f];
      centroid_norms_[static_cast<std::size_t>(j)] = s;
    }
    parallel_for(ctx_, 0, n_blocks_, [&](std::int64_t b) {
      keep_blas_on_this_thread();
      double* tile = thread_tile();
      block_dot_products(b, centroids_.data(), k_, tile);
      const std::int64_t begin = b * kRowBlock;
      const std::int64_t end = std::min(n_, begin + kRowBlock);
      for (std::int64_t i = begin; i < end; ++i) {
        // ||x_i||^2 is common to the row, so the argmin needs only -2 x.c + ||c||^2.
        const std::int64_t best = first_argmin_of_sum(tile + (i - begin) * k_, centroid_norms_.data(), k_);
        labels_[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(best);
      }
    });
  }

  double update_centroids(const std::vector<double>& previous) {
    // Counting sort of rows by label keeps each cluster's rows in row order.
    std::int64_t* counts = counts_.data();
    std::int64_t* offsets = offsets_.data();
    std::int64_t* cursor = cursor_.data();
    const std::int32_t* labels = labels_.data();
    std::fill(counts, counts + k_, 0);
    for (std::int64_t i = 0; i < n_; ++i) ++counts[labels[i]];
    offsets[0] = 0;
    for (std::int64_t j = 0; j < k_; ++j) offsets[j + 1] = offsets[j] + counts[j];
    std::copy(offsets, offsets + k_, cursor);
    for (std::int64_t i = 0; i < n_; ++i) members_[static_cast<std::size_t>(cursor[labels[i]]++)] = i;

    parallel_for(ctx_, 0, k_, [&](std::int64_t j) {
      double* s = sums_.data() + j * d_;
      std::fill(s, s + d_, 0.0);
      for (std::int64_t p = offsets[j]; p < offsets[j + 1]; ++p) {
        const double* row = x_.row(members_[static_cast<std::size_t>(p)]);
        for (std::int64_t f = 0; f < d_; ++f) s[f] += row[f];
      }
    });
    if (!options_.reference_rules && std::find(counts, counts + k_, 0) != counts + k_) {
      repair_empty_clusters(x_, previous.data(), labels_.data(), sums_.data(), counts, k_, repair_distance_,
                            repair_rank_);
    }
    return finish_centroids(sums_.data(), counts, k_, d_, previous.data(), centroids_.data());
  }

  double inertia() {
    std::vector<double> partial(static_cast<std::size_t>(n_blocks_), 0.0);
    parallel_for(ctx_, 0, n_blocks_, [&](std::int64_t b) {
      const std::int64_t end = std::min(n_, (b + 1) * kRowBlock);
      double s = 0.0;
      for (std::int64_t i = b * kRowBlock; i < end; ++i)
        s += squared_distance(x_.row(i), centroids_.data() + labels_[static_cast<std::size_t>(i)] * d_, d_);
      partial[static_cast<std::size_t>(b)] = s;
    });
    double total = 0.0;
    for (double p : partial) total += p;
    return total;
  }

  const Context& ctx_;
  ConstMatrixView<double> x_;
  std::int64_t n_, d_, k_;
  KMeansOptions options_;
  std::int64_t n_blocks_;
  int trials_;
  std::vector<double> x_norms_;
  PerThread<std::vector<double>> tiles_;  // one kRowBlock x max(k, trials) tile per thread
  std::vector<double> centroids_;
  std::vector<double> sums_;
  std::vector<double> centroid_norms_;
  std::vector<std::int32_t> labels_;
  std::vector<std::int32_t> previous_labels_;
  std::vector<std::int64_t> counts_;
  std::vector<std::int64_t> offsets_;
  std::vector<std::int64_t> cursor_;
  std::vector<std::int64_t> members_;
  std::vector<double> block_sums_;  // n_blocks x trials partial sums
  std::vector<double> repair_distance_;
  std::vector<std::int64_t> repair_rank_;
  // seeding state
  std::vector<double> closest_;
  std::vector<double> closest_block_sums_;
  std::vector<double> candidate_distances_;  // n x trials
  std::vector<std::int64_t> candidates_;
  std::vector<double> candidate_rows_;
  std::vector<double> candidate_norms_;
  std::vector<double> potentials_;
};

}  // namespace

KMeansResult kmeans(const Context& ctx, ConstMatrixView<double> x, const KMeansOptions& options) {
  validate(x, options, "kmeans");
  LloydSolver solver(ctx, x, options);
  return solver.run();
}

KMeansResult kmeans_ref(ConstMatrixView<double> x, const KMeansOptions& options) {
  validate(x, options, "kmeans_ref");
  const std::int64_t n = x.rows, d = x.cols, k = options.k;
  const int trials = local_trials(options.k);
  Rng rng(options.seed);
  std::vector<double> centroids(static_cast<std::size_t>(k * d));

  if (!options.initial_centroids.empty()) {
    centroids = options.initial_centroids;
  } else if (options.reference_rules) {
    // k rows drawn uniformly with replacement.
    for (std::int64_t c = 0; c < k; ++c) {
      const std::int64_t row = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
      std::copy(x.row(row), x.row(row) + d, centroids.begin() + c * d);
    }
  } else {
    // Greedy k-means++.
    std::vector<double> closest(static_cast<std::size_t>(n));
    const std::int64_t first = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
    double potential = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      closest[static_cast<std::size_t>(i)] = squared_distance(x.row(i), x.row(first), d);
      potential += closest[static_cast<std::size_t>(i)];
    }
    std::copy(x.row(first), x.row(first) + d, centroids.begin());
    for (std::int64_t c = 1; c < k; ++c) {
      std::vector<std::int64_t> candidates(static_cast<std::size_t>(trials));
      for (auto& candidate : candidates) {
        if (potential > 0.0) {
          const double r = rng.uniform() * potential;
          double running = 0.0;
          candidate = -1;
          for (std::int64_t i = 0; i < n && candidate < 0; ++i) {
            running += closest[static_cast<std::size_t>(i)];
            if (closest[static_cast<std::size_t>(i)] > 0.0 && running > r) candidate = i;
          }
          for (std::int64_t i = n - 1; i >= 0 && candidate < 0; --i)
            if (closest[static_cast<std::size_t>(i)] > 0.0) candidate = i;
        } else {
          candidate = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
        }
      }
      std::vector<double> potentials(candidates.size(), 0.0);
      for (std::size_t t = 0; t < candidates.size(); ++t)
        for (std::int64_t i = 0; i < n; ++i)
          potentials[t] +=
              std::min(closest[static_cast<std::size_t>(i)], squared_distance(x.row(i), x.row(candidates[t]), d));
      const std::size_t best = static_cast<std::size_t>(best_candidate(potentials));
      const double best_potential = potentials[best];
      for (std::int64_t i = 0; i < n; ++i)
        closest[static_cast<std::size_t>(i)] =
            std::min(closest[static_cast<std::size_t>(i)], squared_distance(x.row(i), x.row(candidates[best]), d));
      potential = best_potential;
      std::copy(x.row(candidates[best]), x.row(candidates[best]) + d, centroids.begin() + c * d);
    }
  }

  // Lloyd.
  const double threshold = shift_threshold(x, options);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n)), previous_labels;
  const auto assign = [&] {
    for (std::int64_t i = 0; i < n; ++i) {
      std::int64_t best = 0;
      double best_distance = squared_distance(x.row(i), centroids.data(), d);
      for (std::int64_t j = 1; j < k; ++j) {
        const double dist = squared_distance(x.row(i), centroids.data() + j * d, d);
        if (dist < best_distance) {
          best_distance = dist;
          best = j;
        }
      }
      labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(best);
    }
  };
  int iterations = 0;
  bool labels_are_final = false;
  std::vector<double> sums(static_cast<std::size_t>(k * d)), distance;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(k)), rank;
  for (int it = 1; it <= options.max_iter; ++it) {
    assign();
    if (it > 1 && labels == previous_labels) {
      labels_are_final = true;
      break;
    }
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t j = labels[static_cast<std::size_t>(i)];
      ++counts[static_cast<std::size_t>(j)];
      for (std::int64_t f = 0; f < d; ++f) sums[static_cast<std::size_t>(j * d + f)] += x(i, f);
    }
    const std::vector<double> previous = centroids;
    if (!options.reference_rules && std::find(counts.begin(), counts.end(), 0) != counts.end())
      repair_empty_clusters(x, previous.data(), labels.data(), sums.data(), counts.data(), k, distance, rank);
    const double shift = finish_centroids(sums.data(), counts.data(), k, d, previous.data(), centroids.data());
    previous_labels = labels;
    iterations = it;
    if (shift <= threshold) break;
  }
  KMeansResult result;
  result.iterations = iterations;
  if (!options.centroids_only) {
    if (!labels_are_final) assign();
    for (std::int64_t i = 0; i < n; ++i)
      result.inertia += squared_distance(x.row(i), centroids.data() + labels[static_cast<std::size_t>(i)] * d, d);
    result.labels = std::move(labels);
  }
  result.centroids = Matrix<double>(k, d, std::move(centroids));
  return result;
}

}  // namespace lwd::kernels
