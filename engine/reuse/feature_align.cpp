#include "engine/reuse/feature_align.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/reuse/reuser.h"
#include "engine/text/sentence_encoder.h"
#include "kernels/rbf_kernel.h"
#include "kernels/random.h"

namespace lwd {
namespace {

using kernels::ConstMatrixView;
using kernels::Matrix;

std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

// Below this many kernel terms (rows x points x width) one evaluation of the
// loss computes its kernel matrices on one thread; above, on ctx's threads
// (the kernels' results do not depend on the thread count).
constexpr std::int64_t kParallelWork = std::int64_t{1} << 20;

bool finite_positive(double v) { return std::isfinite(v) && v > 0.0; }

void check_points(const WeightedPoints& p, const char* who) {
  const std::string side(who);
  if (p.z.rows < 1 || p.z.cols < 1)
    throw Error("feature alignment: the " + side + " RKME is empty (" + std::to_string(p.z.rows) + " point(s) of width " +
                std::to_string(p.z.cols) + ")");
  if (static_cast<std::int64_t>(p.beta.size()) != p.z.rows)
    throw Error("feature alignment: the " + side + " RKME has " + std::to_string(p.z.rows) + " point(s) but " +
                std::to_string(p.beta.size()) + " weight(s)");
  for (std::int64_t i = 0; i < p.z.rows; ++i) {
    if (!std::isfinite(p.beta[at(i)]))
      throw Error("feature alignment: the " + side + " RKME's weight " + std::to_string(i) + " is not finite");
    for (std::int64_t j = 0; j < p.z.cols; ++j)
      if (!std::isfinite(p.z(i, j)))
        throw Error("feature alignment: the " + side + " RKME's point " + std::to_string(i) + " has a non-finite value in column " +
                    std::to_string(j));
  }
}

// Weights for column statistics: beta clipped at zero and normalised (uniform
// when nothing positive is left), so a mean is a mean even for an RKME whose
// beta came from the unconstrained solve.
std::vector<double> moment_weights(std::span<const double> beta) {
  std::vector<double> w(beta.size());
  double total = 0.0;
  for (std::size_t i = 0; i < beta.size(); ++i) total += w[i] = std::max(beta[i], 0.0);
  if (!(total > 0.0)) {
    std::fill(w.begin(), w.end(), 1.0 / static_cast<double>(w.size()));
    return w;
  }
  for (double& v : w) v /= total;
  return w;
}

struct ColumnMoments {
  std::vector<double> mean, scale;
  std::vector<bool> constant;  // std ~ 0: scale is 1
};

ColumnMoments column_moments(ConstMatrixView<double> z, std::span<const double> w) {
  ColumnMoments m;
  m.mean.assign(at(z.cols), 0.0);
  m.scale.assign(at(z.cols), 1.0);
  m.constant.assign(at(z.cols), false);
  for (std::int64_t j = 0; j < z.cols; ++j) {
    double mean = 0.0;
    for (std::int64_t i = 0; i < z.rows; ++i) mean += w[at(i)] * z(i, j);
    double var = 0.0;
    for (std::int64_t i = 0; i < z.rows; ++i) var += w[at(i)] * (z(i, j) - mean) * (z(i, j) - mean);
    const double sd = std::sqrt(var);
    m.mean[at(j)] = mean;
    if (sd > 1e-12 * (1.0 + std::abs(mean))) {
      m.scale[at(j)] = sd;
    } else {
      m.constant[at(j)] = true;
    }
  }
  return m;
}

Matrix<double> standardised(ConstMatrixView<double> z, const ColumnMoments& m) {
  Matrix<double> out(z.rows, z.cols);
  for (std::int64_t i = 0; i < z.rows; ++i)
    for (std::int64_t j = 0; j < z.cols; ++j) out(i, j) = (z(i, j) - m.mean[at(j)]) / m.scale[at(j)];
  return out;
}

// Offsets of the blocks of FeatureMap::params.
struct Layout {
  std::int64_t du, dl, h;
  std::int64_t a() const { return 0; }
  std::int64_t b() const { return dl * du; }
  std::int64_t w1() const { return b() + dl; }
  std::int64_t b1() const { return w1() + h * du; }
  std::int64_t w2() const { return b1() + h; }
};
Layout layout_of(const FeatureMap& f) { return {f.input_dim, f.output_dim, f.kind == FeatureMapKind::kMlp ? f.hidden : 0}; }

// g(x~) for one standardised row into `out` (d_l); `hidden` receives tanh(W1 x~ + b1).
void map_row(const FeatureMap& f, const Layout& l, const double* x, double* out, double* hidden) {
  const double* p = f.params.data();
  for (std::int64_t r = 0; r < l.dl; ++r) {
    double s = p[l.b() + r];
    const double* a = p + l.a() + r * l.du;
    for (std::int64_t c = 0; c < l.du; ++c) s += a[c] * x[c];
    out[r] = s;
  }
  if (l.h == 0) return;
  for (std::int64_t k = 0; k < l.h; ++k) {
    double s = p[l.b1() + k];
    const double* w1 = p + l.w1() + k * l.du;
    for (std::int64_t c = 0; c < l.du; ++c) s += w1[c] * x[c];
    hidden[k] = std::tanh(s);
  }
  for (std::int64_t r = 0; r < l.dl; ++r) {
    const double* w2 = p + l.w2() + r * l.h;
    double s = 0.0;
    for (std::int64_t k = 0; k < l.h; ++k) s += w2[k] * hidden[k];
    out[r] += s;
  }
}

void check_map(const FeatureMap& f) {
  if (f.input_dim < 1 || f.output_dim < 1)
    throw Error("feature map: widths " + std::to_string(f.input_dim) + " -> " + std::to_string(f.output_dim) +
                " (both must be at least 1)");
  if (f.kind == FeatureMapKind::kMlp && f.hidden < 1) throw Error("feature map: an mlp needs at least 1 hidden unit");
  if (static_cast<std::int64_t>(f.params.size()) !=
          FeatureMap::parameter_count(f.kind, f.input_dim, f.output_dim, f.hidden) ||
      static_cast<std::int64_t>(f.in_mean.size()) != f.input_dim ||
      static_cast<std::int64_t>(f.in_scale.size()) != f.input_dim ||
      static_cast<std::int64_t>(f.out_mean.size()) != f.output_dim ||
      static_cast<std::int64_t>(f.out_scale.size()) != f.output_dim)
    throw Error("feature map: parameter or standardisation sizes do not fit its widths");
}

// The loss of one fit: both point sets checked once, the user's points
// standardised with the map's input moments, <Q, Q> computed once.
class AlignmentProblem {
 public:
  AlignmentProblem(const FeatureMap& shape, const WeightedPoints& user, const WeightedPoints& target, double gamma)
      : user_(user), target_(target), gamma_(gamma) {
    check_map(shape);
    check_points(user, "user's");
    check_points(target, "learnware's");
    if (!finite_positive(gamma)) throw Error("feature alignment: gamma must be finite and > 0");
    if (user.z.cols != shape.input_dim)
      throw Error("feature alignment: the user's RKME has width " + std::to_string(user.z.cols) + ", the map reads " +
                  std::to_string(shape.input_dim));
    if (target.z.cols != shape.output_dim)
      throw Error("feature alignment: the learnware's RKME has width " + std::to_string(target.z.cols) +
                  ", the map writes " + std::to_string(shape.output_dim));
    x_ = Matrix<double>(user.z.rows, user.z.cols);
    for (std::int64_t i = 0; i < user.z.rows; ++i)
      for (std::int64_t j = 0; j < user.z.cols; ++j)
        x_(i, j) = (user.z(i, j) - shape.in_mean[at(j)]) / shape.in_scale[at(j)];
    for (std::int64_t j = 0; j < target.z.rows; ++j)
      for (std::int64_t l = 0; l < target.z.rows; ++l)
        target_self_ += target.beta[at(j)] * target.beta[at(l)] * kernel(target.z.row(j), target.z.row(l), target.z.cols);
    weighted_target_ = Matrix<double>(target.z.rows, target.z.cols + 1);
    for (std::int64_t j = 0; j < target.z.rows; ++j) {
      weighted_target_(j, 0) = target.beta[at(j)];
      for (std::int64_t r = 0; r < target.z.cols; ++r) weighted_target_(j, r + 1) = target.beta[at(j)] * target.z(j, r);
    }
  }

  AlignmentLoss evaluate(const FeatureMap& f, std::span<const double> start, double ridge,
                         const kernels::Context& ctx) const {
    const Layout l = layout_of(f);
    const std::int64_t n = x_.rows(), m = target_.z.rows;
    Matrix<double> y(n, l.dl), hidden(n, std::max<std::int64_t>(l.h, 1));
    for (std::int64_t i = 0; i < n; ++i) {
      map_row(f, l, x_.row(i), y.row(i), hidden.row(i));
      for (std::int64_t r = 0; r < l.dl; ++r) y(i, r) = f.out_mean[at(r)] + f.out_scale[at(r)] * y(i, r);
    }
    // Both kernel sums through the kernels' fused GEMM path (vectorised exp,
    // no n x m matrix kept): with weights W_u(k) = b_k [1, y_k] and
    // W_l(j) = c_j [1, w_j],
    //   k(Y, Y) W_u gives per row i  self_i = sum_k b_k K_ik  and  sum_k b_k K_ik y_k,
    //   k(Y, W) W_l gives            cross_i = sum_j c_j K'_ij and sum_j c_j K'_ij w_j,
    // and G_i = -4 gamma b_i [ y_i (self_i - cross_i) - sum_k b_k K_ik y_k + sum_j c_j K'_ij w_j ].
    // The kernels' sums do not depend on the thread count; threads only pay
    // for themselves on large point sets (an RKME of 100 points costs
    // microseconds per evaluation).
    const bool large = n * (n + m) * l.dl >= kParallelWork;
    const kernels::Context threads{large ? ctx.n_threads : 1, 0};
    Matrix<double> weighted_y(n, l.dl + 1);
    for (std::int64_t k = 0; k < n; ++k) {
      const double b = user_.beta[at(k)];
      weighted_y(k, 0) = b;
      for (std::int64_t r = 0; r < l.dl; ++r) weighted_y(k, r + 1) = b * y(k, r);
    }
    Matrix<double> self_sums(n, l.dl + 1), cross_sums(n, l.dl + 1);
    kernels::rbf_kernel_matmul(threads, y.view(), y.view(), gamma_, weighted_y.view(), self_sums.view());
    kernels::rbf_kernel_matmul(threads, y.view(), target_.z, gamma_, weighted_target_.view(), cross_sums.view());
    Matrix<double> grad_y(n, l.dl);
    AlignmentLoss out;
    double uu = 0.0, ul = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double s = self_sums(i, 0), c = cross_sums(i, 0);
      const double factor = -4.0 * gamma_ * user_.beta[at(i)];
      const double* yi = y.row(i);
      double* g = grad_y.row(i);
      for (std::int64_t r = 0; r < l.dl; ++r)
        g[r] = factor * (yi[r] * (s - c) - self_sums(i, r + 1) + cross_sums(i, r + 1));
      uu += user_.beta[at(i)] * s;
      ul += user_.beta[at(i)] * c;
    }
    out.mmd2 = uu - 2.0 * ul + target_self_;

    // Back through y = mu_l + s_l * g(x~).
    out.gradient.assign(f.params.size(), 0.0);
    double* dp = out.gradient.data();
    const double* p = f.params.data();
    std::vector<double> gt(at(l.dl)), dh(at(std::max<std::int64_t>(l.h, 1)));
    for (std::int64_t i = 0; i < n; ++i) {
      const double* x = x_.row(i);
      for (std::int64_t r = 0; r < l.dl; ++r) gt[at(r)] = f.out_scale[at(r)] * grad_y(i, r);
      for (std::int64_t r = 0; r < l.dl; ++r) {
        double* da = dp + l.a() + r * l.du;
        for (std::int64_t c = 0; c < l.du; ++c) da[c] += gt[at(r)] * x[c];
        dp[l.b() + r] += gt[at(r)];
      }
      if (l.h == 0) continue;
      const double* h = hidden.row(i);
      std::fill(dh.begin(), dh.end(), 0.0);
      for (std::int64_t r = 0; r < l.dl; ++r) {
        double* dw2 = dp + l.w2() + r * l.h;
        const double* w2 = p + l.w2() + r * l.h;
        for (std::int64_t k = 0; k < l.h; ++k) {
          dw2[k] += gt[at(r)] * h[k];
          dh[at(k)] += w2[k] * gt[at(r)];
        }
      }
      for (std::int64_t k = 0; k < l.h; ++k) {
        const double da = dh[at(k)] * (1.0 - h[k] * h[k]);
        double* dw1 = dp + l.w1() + k * l.du;
        for (std::int64_t c = 0; c < l.du; ++c) dw1[c] += da * x[c];
        dp[l.b1() + k] += da;
      }
    }
    for (std::size_t q = 0; q < f.params.size(); ++q) {
      const double d = f.params[q] - start[q];
      out.penalty += ridge * d * d;
      dp[q] += 2.0 * ridge * d;
    }
    out.value = out.mmd2 + out.penalty;
    return out;
  }

  const Matrix<double>& standardised_user() const { return x_; }

 private:
  double kernel(const double* a, const double* b, std::int64_t d) const {
    double s = 0.0;
    for (std::int64_t r = 0; r < d; ++r) s += (a[r] - b[r]) * (a[r] - b[r]);
    return std::exp(-gamma_ * s);
  }

  WeightedPoints user_, target_;
  double gamma_;
  Matrix<double> x_;
  Matrix<double> weighted_target_;  // c_j [1, w_j]
  double target_self_ = 0.0;
};

// ---- starts ------------------------------------------------------------------

void check_columns(const std::optional<FeatureSemantics>& columns, std::int64_t width, const char* who) {
  if (!columns) return;
  const std::string side(who);
  if (columns->dimension != width)
    throw Error("feature alignment: the " + side + " column descriptions are for " + std::to_string(columns->dimension) +
                " column(s), the " + side + " data has " + std::to_string(width));
  for (const auto& [index, text] : columns->descriptions)
    if (index < 0 || index >= width)
      throw Error("feature alignment: the " + side + " column descriptions name column " + std::to_string(index) +
                  ", outside 0.." + std::to_string(width - 1));
}

bool has_descriptions(const std::optional<FeatureSemantics>& columns) {
  if (!columns) return false;
  for (const auto& [index, text] : columns->descriptions)
    if (!text.empty()) return true;
  return false;
}

// Row i embeds column i's description (zero when it has none).
Matrix<double> embed_columns(const FeatureSemantics& columns, std::int64_t width) {
  const text::HashingEncoder encoder;
  Matrix<double> out(width, encoder.dim(), 0.0);
  for (const auto& [index, text] : columns.descriptions)
    if (!text.empty()) encoder.encode_one(text, std::span<double>(out.row(index), at(encoder.dim())));
  return out;
}

// Cosine similarities S (d_l x d_u) of the descriptions; 0 where a side has none.
Matrix<double> description_similarity(const FeatureSemantics& target, std::int64_t dl, const FeatureSemantics& user,
                                      std::int64_t du) {
  const Matrix<double> et = embed_columns(target, dl), eu = embed_columns(user, du);
  const auto norm = [](const Matrix<double>& e, std::int64_t i) {
    double s = 0.0;
    for (std::int64_t k = 0; k < e.cols(); ++k) s += e(i, k) * e(i, k);
    return std::sqrt(s);
  };
  Matrix<double> s(dl, du, 0.0);
  for (std::int64_t r = 0; r < dl; ++r) {
    const double nr = norm(et, r);
    if (nr == 0.0) continue;
    for (std::int64_t c = 0; c < du; ++c) {
      const double nc = norm(eu, c);
      if (nc == 0.0) continue;
      double dot = 0.0;
      for (std::int64_t k = 0; k < et.cols(); ++k) dot += et(r, k) * eu(c, k);
      s(r, c) = dot / (nr * nc);
    }
  }
  return s;
}

// Weighted skewness and excess kurtosis of each standardised column.
std::vector<std::pair<double, double>> column_shapes(const Matrix<double>& x, std::span<const double> w) {
  std::vector<std::pair<double, double>> out(at(x.cols()));
  for (std::int64_t j = 0; j < x.cols(); ++j) {
    double mean = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (std::int64_t i = 0; i < x.rows(); ++i) mean += w[at(i)] * x(i, j);
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      const double d = x(i, j) - mean;
      m2 += w[at(i)] * d * d;
      m3 += w[at(i)] * d * d * d;
      m4 += w[at(i)] * d * d * d * d;
    }
    out[at(j)] = m2 > 1e-24 ? std::pair{m3 / std::pow(m2, 1.5), m4 / (m2 * m2) - 3.0} : std::pair{0.0, -3.0};
  }
  return out;
}

// Learnware column r <- user column assignment[r], matched greedily on the
// columns' shapes: the closest (skewness, kurtosis / 2) pair first, each user
// column used once until all are (then again, when d_l > d_u).
std::vector<std::int64_t> match_marginals(const std::vector<std::pair<double, double>>& target,
                                          const std::vector<std::pair<double, double>>& user) {
  const auto dl = static_cast<std::int64_t>(target.size()), du = static_cast<std::int64_t>(user.size());
  struct Pair {
    double distance;
    std::int64_t r, c;
  };
  std::vector<Pair> pairs;
  for (std::int64_t r = 0; r < dl; ++r)
    for (std::int64_t c = 0; c < du; ++c) {
      const double ds = target[at(r)].first - user[at(c)].first;
      const double dk = 0.5 * (target[at(r)].second - user[at(c)].second);
      pairs.push_back({ds * ds + dk * dk, r, c});
    }
  std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.distance < b.distance; });
  std::vector<std::int64_t> assignment(at(dl), -1);
  std::int64_t assigned = 0;
  while (assigned < dl) {
    std::vector<bool> used(at(du), false);
    std::int64_t used_count = 0;
    for (const Pair& p : pairs) {
      if (assignment[at(p.r)] >= 0 || used[at(p.c)]) continue;
      assignment[at(p.r)] = p.c;
      used[at(p.c)] = true;
      ++assigned;
      if (++used_count == du) break;
    }
  }
  return assignment;
}

struct Start {
  std::string name;
  Matrix<double> weights;  // d_l x d_u: the user columns each learnware column starts from
};

Matrix<double> hard_assignment(const std::vector<std::int64_t>& assignment, std::int64_t du) {
  Matrix<double> p(static_cast<std::int64_t>(assignment.size()), du, 0.0);
  for (std::size_t r = 0; r < assignment.size(); ++r) p(static_cast<std::int64_t>(r), assignment[r]) = 1.0;
  return p;
}

std::uint64_t start_seed(std::uint64_t seed, int start, std::uint64_t purpose) {
  return seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(start) + 1)) ^ (purpose << 56);
}

std::vector<Start> make_starts(const Matrix<double>& user_std, std::span<const double> user_w,
                               const Matrix<double>& target_std, std::span<const double> target_w,
                               const std::optional<FeatureSemantics>& user_columns,
                               const std::optional<FeatureSemantics>& target_columns, const FeatureAlignOptions& o) {
  const std::int64_t du = user_std.cols(), dl = target_std.cols();
  const std::vector<std::int64_t> marginals =
      match_marginals(column_shapes(target_std, target_w), column_shapes(user_std, user_w));
  if (has_descriptions(user_columns) && has_descriptions(target_columns)) {
    const Matrix<double> s = description_similarity(*target_columns, dl, *user_columns, du);
    Matrix<double> p = hard_assignment(marginals, du);
    bool any = false;
    for (std::int64_t r = 0; r < dl; ++r) {
      double best = -std::numeric_limits<double>::infinity();
      for (std::int64_t c = 0; c < du; ++c)
        if (user_columns->descriptions.count(c)) best = std::max(best, s(r, c));
      if (!(best >= o.min_similarity)) continue;
      any = true;
      double total = 0.0;
      for (std::int64_t c = 0; c < du; ++c) {
        p(r, c) = user_columns->descriptions.count(c) ? std::exp((s(r, c) - best) / o.temperature) : 0.0;
        total += p(r, c);
      }
      for (std::int64_t c = 0; c < du; ++c) p(r, c) /= total;
    }
    if (any) return {{"descriptions", std::move(p)}};
  }
  std::vector<Start> starts;
  for (int k = 0; k < o.restarts; ++k) {
    std::vector<std::int64_t> assignment(at(dl));
    std::string name;
    if (k == 0) {
      name = "marginals";
      assignment = marginals;
    } else if (k == 1) {
      name = "identity";
      for (std::int64_t r = 0; r < dl; ++r) assignment[at(r)] = r % du;
    } else {
      name = "random";
      kernels::Rng rng(start_seed(o.seed, k, 1));
      std::vector<std::int64_t> perm(at(du));
      for (std::int64_t c = 0; c < du; ++c) perm[at(c)] = c;
      for (std::int64_t c = du - 1; c > 0; --c)
        std::swap(perm[at(c)], perm[rng.below(static_cast<std::uint64_t>(c + 1))]);
      for (std::int64_t r = 0; r < dl; ++r) assignment[at(r)] = perm[at(r % du)];
    }
    starts.push_back({std::move(name), hard_assignment(assignment, du)});
  }
  return starts;
}

// theta_0 of a start: each row of A the start's column weights rescaled so the
// mapped column has weighted mean 0 and std 1 (the learnware column's moments
// once mapped back); rows of constant learnware columns stay zero.
void initialise(FeatureMap& f, const Start& start, const Matrix<double>& user_std, std::span<const double> user_w,
                const std::vector<bool>& target_constant, std::uint64_t seed, int start_index) {
  const Layout l = layout_of(f);
  std::fill(f.params.begin(), f.params.end(), 0.0);
  for (std::int64_t r = 0; r < l.dl; ++r) {
    if (target_constant[at(r)]) continue;
    double mean = 0.0;
    std::vector<double> mapped(at(user_std.rows()));
    for (std::int64_t i = 0; i < user_std.rows(); ++i) {
      double s = 0.0;
      for (std::int64_t c = 0; c < l.du; ++c) s += start.weights(r, c) * user_std(i, c);
      mapped[at(i)] = s;
      mean += user_w[at(i)] * s;
    }
    double var = 0.0;
    for (std::int64_t i = 0; i < user_std.rows(); ++i) var += user_w[at(i)] * (mapped[at(i)] - mean) * (mapped[at(i)] - mean);
    if (!(var > 1e-24)) continue;
    const double sd = std::sqrt(var);
    for (std::int64_t c = 0; c < l.du; ++c) f.params[at(l.a() + r * l.du + c)] = start.weights(r, c) / sd;
    f.params[at(l.b() + r)] = -mean / sd;
  }
  if (l.h > 0) {
    kernels::Rng rng(start_seed(seed, start_index, 2));
    const double scale = 1.0 / std::sqrt(static_cast<double>(l.du));
    for (std::int64_t q = 0; q < l.h * l.du; ++q) f.params[at(l.w1() + q)] = scale * rng.normal();
  }
}

struct FitResult {
  std::vector<double> params;
  AlignmentLoss best, init;
};

// Adam from `start`, the step decayed on a cosine to a tenth; the lowest-loss
// iterate kept (ties: the earlier).
FitResult adam(const AlignmentProblem& problem, FeatureMap f, const FeatureAlignOptions& o,
               const kernels::Context& ctx) {
  const std::vector<double> start = f.params;
  FitResult out;
  AlignmentLoss current = problem.evaluate(f, start, o.ridge, ctx);
  out.init = current;
  out.best = current;
  out.params = f.params;
  const std::size_t count = f.params.size();
  Matrix<double> moments(2, static_cast<std::int64_t>(count), 0.0);  // Adam's first and second moments
  double* m = moments.row(0);
  double* v = moments.row(1);
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  double b1t = 1.0, b2t = 1.0;
  for (int t = 0; t < o.iterations; ++t) {
    const double progress = static_cast<double>(t) / static_cast<double>(o.iterations);
    const double lr = o.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    b1t *= kBeta1;
    b2t *= kBeta2;
    for (std::size_t q = 0; q < count; ++q) {
      const double g = current.gradient[q];
      m[q] = kBeta1 * m[q] + (1.0 - kBeta1) * g;
      v[q] = kBeta2 * v[q] + (1.0 - kBeta2) * g * g;
      f.params[q] -= lr * (m[q] / (1.0 - b1t)) / (std::sqrt(v[q] / (1.0 - b2t)) + kEps);
    }
    current = problem.evaluate(f, start, o.ridge, ctx);
    if (current.value < out.best.value) {
      out.best = current;
      out.params = f.params;
    }
  }
  return out;
}

FeatureMapKind parse_map_kind(const std::string& kind) {
  if (kind == "affine") return FeatureMapKind::kAffine;
  if (kind == "mlp") return FeatureMapKind::kMlp;
  throw Error("feature alignment: map '" + kind + "' is not a map kind (affine, mlp)");
}

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// The target's model behind the map: reads the user's features.
class AlignedModel final : public Model {
 public:
  AlignedModel(std::shared_ptr<const Model> inner, AlignedMap alignment)
      : inner_(std::move(inner)), alignment_(std::move(alignment)) {}

  std::string_view kind() const override { return "aligned"; }
  TaskType task() const override { return inner_->task(); }
  std::int64_t input_dim() const override { return alignment_.map.input_dim; }
  std::int64_t output_dim() const override { return inner_->output_dim(); }
  Matrix<double> predict(ConstMatrixView<double> x) const override {
    const Matrix<double> mapped = alignment_.apply(x);
    return inner_->predict(mapped.view());
  }
  const AlignedMap& alignment() const { return alignment_; }

 private:
  std::shared_ptr<const Model> inner_;
  AlignedMap alignment_;
};

}  // namespace

void FeatureAlignOptions::validate() const {
  (void)parse_map_kind(map);
  if (hidden < 1) throw Error("feature alignment: hidden must be at least 1, got " + std::to_string(hidden));
  if (iterations < 0) throw Error("feature alignment: iterations must be >= 0, got " + std::to_string(iterations));
  if (restarts < 1) throw Error("feature alignment: restarts must be at least 1, got " + std::to_string(restarts));
  if (!finite_positive(learning_rate)) throw Error("feature alignment: learning_rate must be finite and > 0");
  if (!finite_positive(temperature)) throw Error("feature alignment: temperature must be finite and > 0");
  if (!std::isfinite(ridge) || ridge < 0.0) throw Error("feature alignment: ridge must be finite and >= 0");
  if (!std::isfinite(gamma) || gamma < 0.0)
    throw Error("feature alignment: gamma must be finite and >= 0 (0: the learnware spec's)");
  if (!(min_similarity >= -1.0 && min_similarity <= 1.0))
    throw Error("feature alignment: min_similarity must lie in [-1, 1]");
}

std::int64_t FeatureMap::parameter_count(FeatureMapKind kind, std::int64_t input_dim, std::int64_t output_dim,
                                         std::int64_t hidden) {
  const std::int64_t affine = output_dim * input_dim + output_dim;
  return kind == FeatureMapKind::kAffine ? affine : affine + hidden * input_dim + hidden + output_dim * hidden;
}

Matrix<double> FeatureMap::apply(ConstMatrixView<double> x) const {
  check_map(*this);
  if (x.cols != input_dim)
    throw Error("feature map: reads " + std::to_string(input_dim) + " column(s), the data has " + std::to_string(x.cols));
  const Layout l = layout_of(*this);
  Matrix<double> out(x.rows, output_dim);
  std::vector<double> xs(at(input_dim)), hidden(at(std::max<std::int64_t>(l.h, 1)));
  for (std::int64_t i = 0; i < x.rows; ++i) {
    for (std::int64_t c = 0; c < input_dim; ++c) xs[at(c)] = (x(i, c) - in_mean[at(c)]) / in_scale[at(c)];
    double* y = out.row(i);
    map_row(*this, l, xs.data(), y, hidden.data());
    for (std::int64_t r = 0; r < output_dim; ++r) y[r] = out_mean[at(r)] + out_scale[at(r)] * y[r];
  }
  return out;
}

Matrix<double> FeatureMap::linear_part() const {
  check_map(*this);
  Matrix<double> a(output_dim, input_dim);
  for (std::int64_t r = 0; r < output_dim; ++r)
    for (std::int64_t c = 0; c < input_dim; ++c)
      a(r, c) = out_scale[at(r)] * params[at(r * input_dim + c)] / in_scale[at(c)];
  return a;
}

std::vector<double> FeatureMap::offset() const {
  const Matrix<double> a = linear_part();
  const Layout l = layout_of(*this);
  std::vector<double> b(at(output_dim));
  for (std::int64_t r = 0; r < output_dim; ++r) {
    double s = out_mean[at(r)] + out_scale[at(r)] * params[at(l.b() + r)];
    for (std::int64_t c = 0; c < input_dim; ++c) s -= a(r, c) * in_mean[at(c)];
    b[at(r)] = s;
  }
  return b;
}

AlignmentLoss alignment_loss(const FeatureMap& map, std::span<const double> start, const WeightedPoints& user,
                             const WeightedPoints& target, double gamma, double ridge, const kernels::Context& ctx) {
  const AlignmentProblem problem(map, user, target, gamma);
  if (start.size() != map.params.size())
    throw Error("feature alignment: the start has " + std::to_string(start.size()) + " parameter(s), the map " +
                std::to_string(map.params.size()));
  if (!std::isfinite(ridge) || ridge < 0.0) throw Error("feature alignment: ridge must be finite and >= 0");
  return problem.evaluate(map, start, ridge, ctx);
}

nlohmann::json AlignedMap::summary() const {
  return {{"map", map.kind == FeatureMapKind::kMlp ? "mlp" : "affine"},
          {"start", start},
          {"starts_tried", starts_tried},
          {"loss_init", loss_init},
          {"mmd2_init", mmd2_init},
          {"loss", loss},
          {"mmd2", mmd2},
          {"iterations", iterations},
          {"gamma", gamma},
          {"input_dim", map.input_dim},
          {"output_dim", map.output_dim}};
}

std::string AlignedMap::describe() const {
  return "MMD² " + short_number(mmd2_init) + " -> " + short_number(mmd2) + " (" + start + " start, " +
         (map.kind == FeatureMapKind::kMlp ? "mlp" : "affine") + ")";
}

AlignedMap fit_feature_alignment(const WeightedPoints& user, const WeightedPoints& target, double target_gamma,
                                 const std::optional<FeatureSemantics>& user_columns,
                                 const std::optional<FeatureSemantics>& target_columns,
                                 const FeatureAlignOptions& options, const kernels::Context& ctx) {
  options.validate();
  check_points(user, "user's");
  check_points(target, "learnware's");
  check_columns(user_columns, user.z.cols, "user's");
  check_columns(target_columns, target.z.cols, "learnware's");
  const double gamma = options.gamma > 0.0 ? options.gamma : target_gamma;
  if (!finite_positive(gamma)) throw Error("feature alignment: the learnware's gamma must be finite and > 0");

  const std::vector<double> user_w = moment_weights(user.beta), target_w = moment_weights(target.beta);
  const ColumnMoments user_m = column_moments(user.z, user_w), target_m = column_moments(target.z, target_w);
  FeatureMap shape;
  shape.kind = parse_map_kind(options.map);
  shape.input_dim = user.z.cols;
  shape.output_dim = target.z.cols;
  shape.hidden = shape.kind == FeatureMapKind::kMlp ? options.hidden : 0;
  shape.in_mean = user_m.mean;
  shape.in_scale = user_m.scale;
  shape.out_mean = target_m.mean;
  shape.out_scale = target_m.scale;
  shape.params.assign(at(FeatureMap::parameter_count(shape.kind, shape.input_dim, shape.output_dim, shape.hidden)), 0.0);
  const AlignmentProblem problem(shape, user, target, gamma);

  const Matrix<double> target_std = standardised(target.z, target_m);
  const std::vector<Start> starts = make_starts(problem.standardised_user(), user_w, target_std, target_w,
                                                user_columns, target_columns, options);
  AlignedMap best;
  best.gamma = gamma;
  best.starts_tried = static_cast<int>(starts.size());
  bool have = false;
  for (std::size_t k = 0; k < starts.size(); ++k) {
    FeatureMap f = shape;
    initialise(f, starts[k], problem.standardised_user(), user_w, target_m.constant, options.seed, static_cast<int>(k));
    const FitResult fit = adam(problem, f, options, ctx);
    if (have && !(fit.best.value < best.loss)) continue;
    have = true;
    f.params = fit.params;
    best.map = std::move(f);
    best.start = starts[k].name;
    best.start_index = static_cast<int>(k);
    best.loss_init = fit.init.value;
    best.mmd2_init = fit.init.mmd2;
    best.loss = fit.best.value;
    best.mmd2 = fit.best.mmd2;
    best.iterations = options.iterations;
  }
  return best;
}

AlignedMap fit_feature_alignment(const RKMETableSpec& user_spec, const RKMETableSpec& target_spec,
                                 const std::optional<FeatureSemantics>& user_columns,
                                 const std::optional<FeatureSemantics>& target_columns,
                                 const FeatureAlignOptions& options, const kernels::Context& ctx) {
  return fit_feature_alignment({user_spec.z().view(), user_spec.beta()}, {target_spec.z().view(), target_spec.beta()},
                               target_spec.gamma(), user_columns, target_columns, options, ctx);
}

RKMETableSpec user_spec_for_alignment(ConstMatrixView<double> x, const kernels::RkmeOptions& options,
                                      const kernels::Context& ctx) {
  if (x.rows < 1 || x.cols < 1)
    throw Error("feature alignment: the user's data is empty (" + std::to_string(x.rows) + " x " +
                std::to_string(x.cols) + ")");
  Matrix<double> filled = fill_non_finite_with_column_means(x, "the user's data");
  const std::vector<double> w(at(x.rows), 1.0 / static_cast<double>(x.rows));
  const ColumnMoments m = column_moments(filled.view(), w);
  Matrix<double> scaled = standardised(filled.view(), m);
  const RKMETableSpec spec = RKMETableSpec::generate(ctx, std::move(scaled), options);
  Matrix<double> z = spec.z();
  for (std::int64_t i = 0; i < z.rows(); ++i)
    for (std::int64_t j = 0; j < z.cols(); ++j) z(i, j) = m.mean[at(j)] + m.scale[at(j)] * z(i, j);
  return RKMETableSpec(std::move(z), spec.beta(), spec.gamma(), spec.num_points());
}

Learnware align_learnware(const Learnware& target, const RKMETableSpec& user_spec,
                          const std::optional<FeatureSemantics>& user_columns, const FeatureAlignOptions& options,
                          const kernels::Context& ctx) {
  const std::string who = "aligning learnware " + target.id + ": ";
  if (!target.model) throw Error(who + "it has no model");
  if (target.text_spec || target.image_spec || target.spec.empty())
    throw Error(who + "feature alignment needs a table learnware (an RKME table specification of its inputs)");
  if (user_spec.empty()) throw Error(who + "the user's RKME is empty");
  std::optional<FeatureSemantics> target_columns;
  if (target.semantic && target.semantic->input) target_columns = target.semantic->input;
  AlignedMap alignment;
  try {
    alignment = fit_feature_alignment(user_spec, target.spec, user_columns, target_columns, options, ctx);
  } catch (const Error& e) {
    throw Error(who + e.what());
  }
  // The learnware's share of the user's space (what the job selector herds
  // from): the user's RKME points, each weighted by how much of the
  // learnware's distribution lies at its image,
  //   w_i ∝ beta_u,i sum_j beta_l,j exp(-gamma ||f(z_u,i) - z_l,j||²),
  // gamma the alignment's; the user's own weights when no point's image is
  // near the learnware's (all w_i underflow).
  RKMETableSpec coverage = user_spec;
  {
    const kernels::Matrix<double> mapped = alignment.apply(user_spec.z().view());
    const kernels::Matrix<double>& zl = target.spec.z();
    const std::vector<double>& bl = target.spec.beta();
    std::vector<double> w(user_spec.beta().size());
    double total = 0;
    for (std::int64_t i = 0; i < mapped.rows(); ++i) {
      double density = 0;
      for (std::int64_t j = 0; j < zl.rows(); ++j) {
        double d2 = 0;
        for (std::int64_t c = 0; c < zl.cols(); ++c) {
          const double diff = mapped(i, c) - zl(j, c);
          d2 += diff * diff;
        }
        density += bl[static_cast<std::size_t>(j)] * std::exp(-alignment.gamma * d2);
      }
      w[static_cast<std::size_t>(i)] = std::max(0.0, user_spec.beta()[static_cast<std::size_t>(i)]) * density;
      total += w[static_cast<std::size_t>(i)];
    }
    if (total > 1e-300 && std::isfinite(total)) {
      for (double& v : w) v /= total;
      coverage = RKMETableSpec(user_spec.z(), std::move(w), user_spec.gamma(), user_spec.num_points());
    }
  }
  Learnware out;
  out.id = target.id;
  out.package = target.package;
  out.model = std::make_shared<AlignedModel>(target.model, std::move(alignment));
  out.spec = std::move(coverage);
  out.semantic = target.semantic;
  if (out.semantic) out.semantic->input = user_columns ? *user_columns : FeatureSemantics{user_spec.dim(), {}};
  return out;
}

const AlignedMap* aligned_map_of(const Learnware& learnware) {
  const auto* aligned = dynamic_cast<const AlignedModel*>(learnware.model.get());
  return aligned ? &aligned->alignment() : nullptr;
}

}  // namespace lwd
