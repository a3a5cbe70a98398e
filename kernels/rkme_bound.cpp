// Cross-product bounds of the batched market search (rkme_bound.h).
#include "kernels/rkme_bound.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/fast_exp.h"
#include "kernels/parallel.h"
#include "kernels/rkme.h"
#include "kernels/scratch.h"
#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMembersPerTask = 32;

// The two numbers of a member the slack depends on: |w|_1 and max|y_c|.
struct MemberExtentView {
  double w_l1;
  double max_abs;
};

// Slack for rounding in the separation w.x_i - max_j w.y_j, from the bound
// sum_c |w_c| |y_c| <= |w|_1 max|y_c| on each dot product: the float32
// mirror's rounding of the member's coordinates (2^-24 relative) and the
// float32 sums of w.y_j (d 2^-24), together taken as (d + 2) 2^-23; the
// float64 w.x_i (d 2^-53, taken as d 2^-50); and the subtraction's own
// rounding, 2^-50 (|p| + |q|). The first two are these factors times
// |w|_1 max|y_c| and |w|_1 max|x_c|.
// base_slack adds what gradual underflow can lose, d + 2 float32 subnormal
// steps, which no relative bound covers.
double slack_factor_member(std::int64_t d) { return (static_cast<double>(d) + 2.0) * std::ldexp(1.0, -23); }
double slack_factor_user(std::int64_t d) { return static_cast<double>(d) * std::ldexp(1.0, -50); }
double base_slack(const MemberExtentView& m, double user_max_abs, std::int64_t d) {
  return m.w_l1 * (m.max_abs * slack_factor_member(d) + user_max_abs * slack_factor_user(d)) +
         (static_cast<double>(d) + 2.0) * static_cast<double>(std::numeric_limits<float>::denorm_min());
}

// p[i] <- -gamma g_i^2, g_i = max(0, (p[i] - q - slack_i) / |w|), slack_i =
// base_slack + 2^-50 (|p[i]| + |q|). Multiplying by 1 / |w| rather than
// dividing rounds g_i up by at most 2^-52 relative, which kRoundUp covers.
LWD_SIMD_CLONES
void separation_exponents(double* p, std::int64_t k, double q, double base_slack, double inv_norm, double gamma) {
  const double tiny = std::ldexp(1.0, -50);
  const double q_slack = base_slack + tiny * std::abs(q);
#pragma omp simd
  for (std::int64_t i = 0; i < k; ++i) {
    const double slack = q_slack + tiny * std::abs(p[i]);
    const double gap = std::max(0.0, (p[i] - q - slack) * inv_norm);
    p[i] = -gamma * gap * gap;
  }
}

LWD_SIMD_CLONES
double abs_weighted_sum(const double* a, const double* v, std::int64_t k) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t i = 0; i < k; ++i) sum += std::abs(a[i]) * v[i];
  return sum;
}

// sum |b_j| and whether every b_j >= 0, for one member's weights.
LWD_SIMD_CLONES
double abs_sum_and_min(const double* b, std::int64_t n, double* min_value) {
  double sum = 0.0;
  double low = kInf;
#pragma omp simd reduction(+ : sum) reduction(min : low)
  for (std::int64_t j = 0; j < n; ++j) {
    sum += std::abs(b[j]);
    low = std::min(low, b[j]);
  }
  *min_value = low;
  return sum;
}

// Every factor the bound's arithmetic can lose (divisions, exp's few ulp, the
// sums of positive terms), covered many times over; and an additive term for
// exponentials below the double range, which the fast exp returns as 0.
constexpr double kRoundUp = 1.0 + 1e-9;
constexpr double kUnderflow = 1e-300;

void check_bounds_args(const char* fn, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                       ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                       std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                       std::span<const double> gammas, std::span<double> lower, std::span<double> upper) {
  const std::string where = std::string(fn) + ": ";
  if (z_u.cols != packed_z.cols) {
    throw KernelError(where + "widths differ (" + std::to_string(z_u.cols) + " vs " + std::to_string(packed_z.cols) +
                      ")");
  }
  if (static_cast<std::int64_t>(beta_u.size()) != z_u.rows) throw KernelError(where + "beta_u length != rows of z_u");
  if (static_cast<std::int64_t>(packed_beta.size()) != packed_z.rows) {
    throw KernelError(where + "packed beta length != packed rows");
  }
  detail::check_packed_offsets(where, offsets, packed_z.rows);
  if (gammas.size() != members.size() || lower.size() != members.size() || upper.size() != members.size()) {
    throw KernelError(where + "members, gammas, lower and upper differ in length");
  }
  const auto count = static_cast<std::int64_t>(offsets.size()) - 1;
  for (std::size_t t = 0; t < members.size(); ++t) {
    if (members[t] < 0 || members[t] >= count) throw KernelError(where + "member index out of range");
    if (!(gammas[t] > 0.0) || !std::isfinite(gammas[t])) throw KernelError(where + "gamma must be finite and > 0");
  }
}

// What the bound needs of the user, once per call.
struct UserSide {
  std::vector<double> mean;  // of the user's points
  double max_abs = 0.0;      // largest |x_ic|
  double abs_weight = 0.0;   // sum |a_i|
  bool nonnegative = true;   // every a_i >= 0
  bool finite = true;
};

UserSide user_side(ConstMatrixView<double> z_u, std::span<const double> beta_u) {
  UserSide s;
  s.mean.assign(static_cast<std::size_t>(z_u.cols), 0.0);
  for (std::int64_t i = 0; i < z_u.rows; ++i) {
    for (std::int64_t c = 0; c < z_u.cols; ++c) {
      s.mean[static_cast<std::size_t>(c)] += z_u(i, c);
      s.max_abs = std::max(s.max_abs, std::abs(z_u(i, c)));
      s.finite = s.finite && std::isfinite(z_u(i, c));
    }
    const double a = beta_u[static_cast<std::size_t>(i)];
    s.abs_weight += std::abs(a);
    s.nonnegative = s.nonnegative && a >= 0.0;
  }
  for (double& v : s.mean) v /= static_cast<double>(std::max<std::int64_t>(z_u.rows, 1));
  s.finite = s.finite && std::isfinite(s.abs_weight);
  return s;
}

// A member's column sums and its largest |value|, 16 columns at a time so
// that the sums stay in registers across the rows. The sums are float32: they
// only choose the direction, and any direction gives a valid bound. Returns
// false if a value is not finite.
LWD_SIMD_CLONES
bool column_stats(const float* rows, std::int64_t n, std::int64_t d, std::int64_t stride, double* col_sum,
                  double* max_abs) {
  constexpr std::int64_t kLanes = 16;
  float largest = 0.0f;
  float check = 0.0f;
  for (std::int64_t c0 = 0; c0 < d; c0 += kLanes) {
    const std::int64_t width = std::min(kLanes, d - c0);
    float sum[kLanes] = {};
    float top[kLanes] = {};
    if (width == kLanes) {
      for (std::int64_t j = 0; j < n; ++j) {
        const float* y = rows + j * stride + c0;
#pragma omp simd
        for (std::int64_t l = 0; l < kLanes; ++l) {
          sum[l] += y[l];
          top[l] = std::max(top[l], std::abs(y[l]));  // NaN compares false: the sums catch it
        }
      }
    } else {
      for (std::int64_t j = 0; j < n; ++j) {
        const float* y = rows + j * stride + c0;
        for (std::int64_t l = 0; l < width; ++l) {
          sum[l] += y[l];
          top[l] = std::max(top[l], std::abs(y[l]));
        }
      }
    }
    for (std::int64_t l = 0; l < width; ++l) {
      col_sum[c0 + l] = static_cast<double>(sum[l]);
      largest = std::max(largest, top[l]);
      check += sum[l] - sum[l];  // NaN for a NaN or infinite sum
    }
  }
  *max_abs = static_cast<double>(largest);
  return std::isfinite(check) && std::isfinite(largest);
}

LWD_SIMD_CLONES
float max_of(const float* v, std::int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (std::int64_t j = 0; j < n; ++j) m = std::max(m, v[j]);
  return m;
}

// The kernel's own scratch, per task.
struct BoundScratch {
  std::vector<double> col;    // a member's column sums
  std::vector<float> w32;     // its direction in float32
  std::vector<float> q;       // w.y_j
  std::vector<double> w;      // kMembersPerTask directions, row-major
  std::vector<double> p;      // members x k: w_t.x_i
};

// What one member contributes to the bound besides the user's projections.
struct MemberExtent {
  double max_projection = 0.0;  // max_j w.y_j
  double max_abs = 0.0;         // largest |y_jc|
  double w_l1 = 0.0;
  double w_norm = 0.0;
  double abs_weight = 0.0;
  bool nonnegative = true;
  bool empty = false;
  bool finite = true;
};

// The bound from the projections p_i = w.x_i: sum_i |a_i| exp(-gamma g_i^2),
// the exponents formed in `p` (overwritten).
void finish_bound(const MemberExtent& m, const UserSide& user, std::span<const double> beta_u, std::int64_t d,
                  double gamma, double* p, std::int64_t k, double* lower, double* upper) {
  if (m.empty || k == 0) {
    *lower = *upper = 0.0;
    return;
  }
  if (!m.finite || !user.finite || !std::isfinite(m.abs_weight)) {
    *lower = -kInf;
    *upper = kInf;
    return;
  }
  if (m.w_norm > 0.0) {
    separation_exponents(p, k, m.max_projection, base_slack({m.w_l1, m.max_abs}, user.max_abs, d), 1.0 / m.w_norm,
                         gamma);
  } else {
    std::fill(p, p + k, 0.0);  // no direction: every kernel value <= 1
  }
  exp_nonpositive_inplace(p, k);
  const double sum = abs_weighted_sum(beta_u.data(), p, k);
  *upper = m.abs_weight * sum * kRoundUp + m.abs_weight * user.abs_weight * kUnderflow;
  *lower = user.nonnegative && m.nonnegative ? 0.0 : -*upper;
}

// The members [t0, t1) of the list: per member, one pass over its float32 rows
// (column sums for the direction, largest |value| for the slack) and w.y_j by
// SGEMV; the user's projections on all the task's directions by one DGEMM.
void bound_task(ConstMatrixView<double> z_u, std::span<const double> beta_u, const UserSide& user,
                ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                std::span<const double> gammas, std::int64_t t0, std::int64_t t1, BoundScratch& s,
                std::span<double> lower, std::span<double> upper) {
  const std::int64_t d = z_u.cols;
  const std::int64_t k = z_u.rows;
  const std::int64_t nb = t1 - t0;
  MemberExtent ext[kMembersPerTask];
  s.w.assign(static_cast<std::size_t>(kMembersPerTask * std::max<std::int64_t>(d, 1)), 0.0);
  s.col.resize(static_cast<std::size_t>(std::max<std::int64_t>(d, 1)));
  s.w32.resize(s.col.size());
  for (std::int64_t t = t0; t < t1; ++t) {
    MemberExtent& m = ext[t - t0];
    const auto member = static_cast<std::size_t>(members[static_cast<std::size_t>(t)]);
    const std::int64_t r0 = offsets[member];
    const std::int64_t n = offsets[member + 1] - r0;
    double min_weight = 0.0;
    m.abs_weight = abs_sum_and_min(packed_beta.data() + r0, n, &min_weight);
    m.nonnegative = !(min_weight < 0.0);  // NaN weights make abs_weight NaN, caught later
    m.empty = n == 0;
    if (m.empty || d == 0) continue;
    s.q.resize(static_cast<std::size_t>(n));
    m.finite = column_stats(packed_z.row(r0), n, d, packed_z.stride, s.col.data(), &m.max_abs);
    if (!m.finite) continue;
    // The direction, rounded to float32 for the SGEMV; the user's side uses
    // the same rounded direction, so the bound is about that direction.
    double* w = s.w.data() + (t - t0) * d;
    double norm2 = 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      const auto wc = static_cast<float>(user.mean[static_cast<std::size_t>(c)] -
                                         s.col[static_cast<std::size_t>(c)] / static_cast<double>(n));
      s.w32[static_cast<std::size_t>(c)] = wc;
      w[c] = static_cast<double>(wc);
      norm2 += w[c] * w[c];
      m.w_l1 += std::abs(w[c]);
    }
    m.w_norm = std::sqrt(norm2);
    if (!std::isfinite(m.w_norm)) {  // no usable direction: the trivial bound
      m.w_norm = 0.0;
      std::fill(w, w + d, 0.0);
      continue;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n), static_cast<int>(d), 1.0f, packed_z.row(r0),
                static_cast<int>(packed_z.stride), s.w32.data(), 1, 0.0f, s.q.data(), 1);
    const float q_max = max_of(s.q.data(), n);
    m.finite = std::isfinite(q_max);
    m.max_projection = static_cast<double>(q_max);
  }
  // p(t, i) = w_t.x_i for the task's directions (zero for empty members).
  s.p.assign(static_cast<std::size_t>(nb * k), 0.0);
  if (d > 0 && k > 0) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nb), static_cast<int>(k),
                static_cast<int>(d), 1.0, s.w.data(), static_cast<int>(d), z_u.data, static_cast<int>(z_u.stride),
                0.0, s.p.data(), static_cast<int>(k));
  }
  for (std::int64_t t = t0; t < t1; ++t) {
    finish_bound(ext[t - t0], user, beta_u, d, gammas[static_cast<std::size_t>(t)], s.p.data() + (t - t0) * k, k,
                 &lower[static_cast<std::size_t>(t)], &upper[static_cast<std::size_t>(t)]);
  }
}

}  // namespace

void rkme_cross_bounds_f32(const Context& ctx, ConstMatrixView<double> z_u, std::span<const double> beta_u,
                           ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                           std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                           std::span<const double> gammas, std::span<double> lower, std::span<double> upper) {
  check_bounds_args("rkme_cross_bounds_f32", z_u, beta_u, packed_z, packed_beta, offsets, members, gammas, lower,
                    upper);
  const UserSide user = user_side(z_u, beta_u);
  const auto count = static_cast<std::int64_t>(members.size());
  PerThread<BoundScratch> scratch(ctx);
  parallel_for(ctx, 0, num_blocks(count, kMembersPerTask), [&](std::int64_t task) {
    keep_blas_on_this_thread();
    bound_task(z_u, beta_u, user, packed_z, packed_beta, offsets, members, gammas, task * kMembersPerTask,
               std::min(count, (task + 1) * kMembersPerTask), scratch.local(), lower, upper);
  });
}

void rkme_cross_bounds_f32_ref(ConstMatrixView<double> z_u, std::span<const double> beta_u,
                               ConstMatrixView<float> packed_z, std::span<const double> packed_beta,
                               std::span<const std::int64_t> offsets, std::span<const std::int64_t> members,
                               std::span<const double> gammas, std::span<double> lower, std::span<double> upper) {
  check_bounds_args("rkme_cross_bounds_f32_ref", z_u, beta_u, packed_z, packed_beta, offsets, members, gammas,
                    lower, upper);
  const UserSide user = user_side(z_u, beta_u);
  const std::int64_t d = z_u.cols;
  const std::int64_t k = z_u.rows;
  for (std::size_t t = 0; t < members.size(); ++t) {
    const auto member = static_cast<std::size_t>(members[t]);
    const std::int64_t r0 = offsets[member];
    const std::int64_t r1 = offsets[member + 1];
    MemberExtent m;
    m.empty = r1 == r0;
    for (std::int64_t j = r0; j < r1; ++j) {
      m.abs_weight += std::abs(packed_beta[static_cast<std::size_t>(j)]);
      m.nonnegative = m.nonnegative && packed_beta[static_cast<std::size_t>(j)] >= 0.0;
    }
    // The direction between the two means, the member's furthest point along
    // it and its largest |coordinate|.
    std::vector<double> w(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t c = 0; c < d && !m.empty; ++c) {
      double mean = 0.0;
      for (std::int64_t j = r0; j < r1; ++j) mean += static_cast<double>(packed_z(j, c));
      w[static_cast<std::size_t>(c)] = static_cast<double>(
          static_cast<float>(user.mean[static_cast<std::size_t>(c)] - mean / static_cast<double>(r1 - r0)));
      m.w_norm += w[static_cast<std::size_t>(c)] * w[static_cast<std::size_t>(c)];
      m.w_l1 += std::abs(w[static_cast<std::size_t>(c)]);
    }
    m.w_norm = std::sqrt(m.w_norm);
    m.max_projection = -kInf;
    for (std::int64_t j = r0; j < r1; ++j) {
      double q = 0.0;
      for (std::int64_t c = 0; c < d; ++c) {
        q += w[static_cast<std::size_t>(c)] * static_cast<double>(packed_z(j, c));
        m.max_abs = std::max(m.max_abs, std::abs(static_cast<double>(packed_z(j, c))));
        m.finite = m.finite && std::isfinite(packed_z(j, c));
      }
      m.max_projection = std::max(m.max_projection, q);
    }
    if (m.empty || k == 0) {
      lower[t] = upper[t] = 0.0;
      continue;
    }
    if (!m.finite || !user.finite || !std::isfinite(m.abs_weight)) {
      lower[t] = -kInf;
      upper[t] = kInf;
      continue;
    }
    double sum = 0.0;
    for (std::int64_t i = 0; i < k; ++i) {
      double p = 0.0;
      for (std::int64_t c = 0; c < d; ++c) p += w[static_cast<std::size_t>(c)] * z_u(i, c);
      double gap = 0.0;
      if (m.w_norm > 0.0) {
        const double slack = base_slack({m.w_l1, m.max_abs}, user.max_abs, d) +
                             std::ldexp(1.0, -50) * (std::abs(p) + std::abs(m.max_projection));
        gap = std::max(0.0, (p - m.max_projection - slack) / m.w_norm);
      }
      sum += std::abs(beta_u[static_cast<std::size_t>(i)]) * std::exp(-gammas[t] * gap * gap);
    }
    upper[t] = m.abs_weight * sum * kRoundUp + m.abs_weight * user.abs_weight * kUnderflow;
    lower[t] = user.nonnegative && m.nonnegative ? 0.0 : -upper[t];
  }
}

}  // namespace lwd::kernels
