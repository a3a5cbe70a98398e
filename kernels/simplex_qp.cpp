// Primal active-set method for the simplex-constrained QP (Nocedal & Wright,
// "Numerical Optimization", 2nd ed., algorithm 16.3, specialised to the single
// equality constraint sum(x) = 1 and bounds x >= 0).
//
// The free set F = {r} u S keeps one reference index r whose value is implied by
// the equality constraint, x_r = 1 - sum_S x_i. In the coordinates x_S the
// objective restricted to F has the reduced Hessian
//     M_ij = K_ij - K_ir - K_rj + K_rr      (i, j in S),
// a Gram matrix of the differences phi_i - phi_r, hence PSD. We keep its
// Cholesky factor L and update it in O(|F|^2) when an index enters (one new row)
// or leaves (row deletion restored to triangular form by Givens rotations), so
// an iteration costs O(|F|^2 + n |F|) instead of a fresh O(|F|^3) factorisation.
//
// Singular K. M is singular when the free set contains an affine dependence
// (duplicated points, rank-deficient K, K = 0). An index that would make M
// singular enters with its Cholesky pivot floored at a tiny multiple of the
// problem scale; the Newton step along the (near-)null direction is then huge
// and the ratio test cuts it at the boundary, which removes an index again.
// This is the inertia-controlling idea (Gill, Murray, Saunders & Wright) with
// the zero-curvature direction obtained from the floored factor instead of a
// separate case. The floor perturbs stationarity by at most about
// floor * ||step||, orders of magnitude below the KKT tolerance, and the final
// residual is always measured on the exact problem.
//
// Degeneracy. The entering index is the most violating one (lowest index on
// ties), the leaving one the first blocking index (lowest index on ties), and
// every index whose value reaches zero leaves at once, so each non-zero step
// strictly decreases the objective and no free set repeats; max_iter guards
// against what rounding could still do.
#include "kernels/simplex_qp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "kernels/error.h"

namespace lwd::kernels {
namespace {

// Pivots of the reduced Hessian below this fraction of the problem scale are
// treated as zero curvature (see the file comment).
constexpr double kPivotFloor = 1e-14;
// The solver's own stopping thresholds sit below the requested tolerance so
// that the residual measured afterwards on the exact problem still meets it.
constexpr double kInternalTolFraction = 0.1;

void validate(ConstMatrixView<double> K, std::span<const double> c, const char* caller) {
  const std::string where = std::string(caller) + ": ";
  if (K.rows < 1 || K.cols < 1) throw KernelError(where + "K is empty; the problem needs at least one variable");
  if (K.rows != K.cols) {
    throw KernelError(where + "K must be square, got " + std::to_string(K.rows) + " x " + std::to_string(K.cols));
  }
  if (K.data == nullptr || K.stride < K.cols) throw KernelError(where + "K is not a valid matrix view");
  if (static_cast<std::int64_t>(c.size()) != K.rows) {
    throw KernelError(where + "c has " + std::to_string(c.size()) + " entries but K has " + std::to_string(K.rows) +
                      " rows");
  }
  for (std::int64_t i = 0; i < K.rows; ++i) {
    const double* row = K.row(i);
    for (std::int64_t j = 0; j < K.cols; ++j) {
      if (!std::isfinite(row[j])) {
        throw KernelError(where + "K(" + std::to_string(i) + ", " + std::to_string(j) + ") is not finite");
      }
    }
  }
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (!std::isfinite(c[i])) throw KernelError(where + "c[" + std::to_string(i) + "] is not finite");
  }
}

void validate_point(ConstMatrixView<double> K, std::span<const double> x, const char* caller) {
  if (static_cast<std::int64_t>(x.size()) != K.rows) {
    throw KernelError(std::string(caller) + ": x has " + std::to_string(x.size()) + " entries but K has " +
                      std::to_string(K.rows) + " rows");
  }
}

double problem_scale(ConstMatrixView<double> K, std::span<const double> c) {
  double s = 1.0;
  for (std::int64_t i = 0; i < K.rows; ++i) {
    const double* row = K.row(i);
    for (std::int64_t j = 0; j < K.cols; ++j) s = std::max(s, std::abs(row[j]));
  }
  for (double ci : c) s = std::max(s, std::abs(ci));
  return s;
}

// Dot product with four independent accumulators: the triangular solves are
// chains of these, and one running sum would make them latency-bound.
double dot(const double* a, const double* b, std::int64_t len) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t i = 0;
  for (; i + 4 <= len; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < len; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

bool is_symmetric(ConstMatrixView<double> K) {
  for (std::int64_t i = 0; i < K.rows; ++i)
    for (std::int64_t j = 0; j < i; ++j)
      if (K(i, j) != K(j, i)) return false;
  return true;
}

// g = sym(K) x - c, skipping the zero entries of x (the solution is often sparse).
void gradient(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x, bool symmetric,
              std::vector<double>& g) {
  const std::int64_t n = K.rows;
  g.assign(c.begin(), c.end());
  for (double& gi : g) gi = -gi;
  for (std::int64_t j = 0; j < n; ++j) {
    const double xj = x[static_cast<std::size_t>(j)];
    if (xj == 0.0) continue;
    // Row j of K is column j when K is symmetric; otherwise average row and column.
    const double* row = K.row(j);
    if (symmetric) {
      for (std::int64_t i = 0; i < n; ++i) g[static_cast<std::size_t>(i)] += row[i] * xj;
    } else {
      for (std::int64_t i = 0; i < n; ++i) g[static_cast<std::size_t>(i)] += 0.5 * (row[i] + K(i, j)) * xj;
    }
  }
}

// The KKT measure of the header, given the gradient. With a = min g on the
// support, b = max g on the support and m = min g off it, the best common value
// nu is the midpoint of b and min(a, m), and the worst violation is half their gap.
double kkt_measure(std::span<const double> x, std::span<const double> g, double scale) {
  double primal = 0.0;
  double sum = 0.0;
  double a = std::numeric_limits<double>::infinity();
  double b = -std::numeric_limits<double>::infinity();
  double m = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < x.size(); ++i) {
    sum += x[i];
    primal = std::max(primal, -x[i]);
    if (x[i] > 0.0) {
      a = std::min(a, g[i]);
      b = std::max(b, g[i]);
    } else {
      m = std::min(m, g[i]);
    }
  }
  primal = std::max(primal, std::abs(sum - 1.0));
  if (!(b > -std::numeric_limits<double>::infinity())) return primal;  // empty support
  const double stationarity = 0.5 * (b - std::min(a, m)) / scale;
  return std::max(primal, stationarity);
}

class ActiveSetSolver {
 public:
  ActiveSetSolver(ConstMatrixView<double> K, std::span<const double> c, double scale, double tol, int max_iter)
      : n_(K.rows),
        c_(c),
        scale_(scale),
        tol_(tol),
        max_iter_(max_iter),
        x_(static_cast<std::size_t>(n_), 0.0),
        g_(static_cast<std::size_t>(n_), 0.0),
        step_(static_cast<std::size_t>(n_), 0.0),
        work_(static_cast<std::size_t>(n_), 0.0),
        is_free_(static_cast<std::size_t>(n_), 0),
        l_(new double[static_cast<std::size_t>(n_ * n_)]) {
    // The objective only sees the symmetric part of K; use it throughout so that
    // a K that is symmetric up to rounding is not a different problem.
    if (is_symmetric(K)) {
      k_ = K;
    } else {
      sym_.resize(static_cast<std::size_t>(n_ * n_));
      for (std::int64_t i = 0; i < n_; ++i)
        for (std::int64_t j = 0; j < n_; ++j) sym_[static_cast<std::size_t>(i * n_ + j)] = 0.5 * (K(i, j) + K(j, i));
      k_ = ConstMatrixView<double>(sym_.data(), n_, n_);
    }
    free_.reserve(static_cast<std::size_t>(n_));
    moved_.reserve(static_cast<std::size_t>(n_));
  }

  SimplexQpResult solve(std::span<const double> start) {
    // A vertex is stationary on its one-element free set; a warm start's free
    // set needs its Newton step first unless it is stationary already.
    bool stationary = true;
    if (start.empty() || !start_at(start)) {
      start_at_best_vertex();
    } else {
      stationary = free_set_is_stationary();
    }
    int iterations = 0;
    int refinements = 0;
    // Polishing: once the loop stops, the gradient is recomputed exactly and the
    // loop resumes if the exact residual is not small enough (accumulated rounding
    // in the incrementally updated gradient is the only reason it would not be).
    for (int polish = 0; polish < 3; ++polish) {
      while (iterations < max_iter_) {
        if (stationary) {
          const std::int64_t entering = most_violating_index();
          if (entering < 0) break;
          add_free(entering);
        }
        ++iterations;
        const bool full_step = newton_step();
        stationary = full_step && free_set_is_stationary();
        if (!full_step || stationary) {
          refinements = 0;
        } else if (++refinements % 4 == 0) {
          // Full steps that keep missing stationarity mean the factor or the
          // incrementally updated gradient has drifted: rebuild both.
          recompute_gradient();
          refactor();
        }
      }
      recompute_gradient();
      if (kkt_measure(x_, g_, scale_) <= kInternalTolFraction * tol_ || iterations >= max_iter_) break;
      refactor();
      stationary = free_set_is_stationary();
    }
    return finish(iterations);
  }

 private:
  double k(std::int64_t i, std::int64_t j) const { return k_(i, j); }
  double* lrow(std::int64_t t) { return l_.get() + t * n_; }
  std::int64_t reduced_size() const { return static_cast<std::int64_t>(free_.size()) - 1; }

  // Reduced Hessian entry for free-set members i, j relative to the reference.
  double reduced_hessian(std::int64_t i, std::int64_t j) const {
    const std::int64_t r = free_[0];
    return k(i, j) - k(i, r) - k(r, j) + k(r, r);
  }

  void start_at_best_vertex() {
    std::int64_t best = 0;
    double best_value = std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < n_; ++j) {
      const double value = 0.5 * k(j, j) - c_[static_cast<std::size_t>(j)];
      if (value < best_value) {
        best_value = value;
        best = j;
      }
    }
    x_[static_cast<std::size_t>(best)] = 1.0;
    free_.push_back(best);
    is_free_[static_cast<std::size_t>(best)] = 1;
    recompute_gradient();
  }

  // x = the start's positive part rescaled to sum 1, its support free (the
  // reference index the largest entry, lowest index on ties, so that the
  // implied x_r is the best conditioned), L factored. False when nothing in it
  // is positive.
  bool start_at(std::span<const double> start) {
    double total = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) {
      const double v = start[static_cast<std::size_t>(i)];
      x_[static_cast<std::size_t>(i)] = v > 0.0 ? v : 0.0;
      total += x_[static_cast<std::size_t>(i)];
    }
    if (!(total > 0.0) || !std::isfinite(total)) {
      std::fill(x_.begin(), x_.end(), 0.0);
      return false;
    }
    std::int64_t reference = -1;
    for (std::int64_t i = 0; i < n_; ++i) {
      double& xi = x_[static_cast<std::size_t>(i)];
      xi /= total;
      if (xi > 0.0 && (reference < 0 || xi > x_[static_cast<std::size_t>(reference)])) reference = i;
    }
    free_.push_back(reference);
    is_free_[static_cast<std::size_t>(reference)] = 1;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (i == reference || !(x_[static_cast<std::size_t>(i)] > 0.0)) continue;
      free_.push_back(i);
      is_free_[static_cast<std::size_t>(i)] = 1;
    }
    recompute_gradient();
    refactor();
    return true;
  }

  void recompute_gradient() { gradient(k_, c_, x_, true, g_); }

  // Midrange of the gradient over the free set: the common value nu.
  double free_set_multiplier(double* half_spread) const {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    for (std::int64_t i : free_) {
      lo = std::min(lo, g_[static_cast<std::size_t>(i)]);
      hi = std::max(hi, g_[static_cast<std::size_t>(i)]);
    }
    if (half_spread) *half_spread = 0.5 * (hi - lo);
    return 0.5 * (hi + lo);
  }

  bool free_set_is_stationary() const {
    double half_spread = 0.0;
    free_set_multiplier(&half_spread);
    return half_spread <= kInternalTolFraction * tol_ * scale_;
  }

  // The index off the free set with the most negative g_i - nu, if it violates
  // dual feasibility by more than the internal tolerance; -1 otherwise.
  std::int64_t most_violating_index() const {
    const double nu = free_set_multiplier(nullptr);
    const double threshold = nu - kInternalTolFraction * tol_ * scale_;
    std::int64_t entering = -1;
    double lowest = threshold;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (is_free_[static_cast<std::size_t>(i)]) continue;
      if (g_[static_cast<std::size_t>(i)] < lowest) {
        lowest = g_[static_cast<std::size_t>(i)];
        entering = i;
      }
    }
    return entering;
  }

  // Appends row t = |S| to L for the free-set member free_[t + 1].
  void append_factor_row(std::int64_t t) {
    const std::int64_t j = free_[static_cast<std::size_t>(t + 1)];
    double* row = lrow(t);
    double squared = 0.0;
    for (std::int64_t u = 0; u < t; ++u) {
      const double* lu = lrow(u);
      row[u] = (reduced_hessian(free_[static_cast<std::size_t>(u + 1)], j) - dot(lu, row, u)) / lu[u];
      squared += row[u] * row[u];
    }
    const double pivot2 = reduced_hessian(j, j) - squared;
    row[t] = std::sqrt(std::max(pivot2, kPivotFloor * scale_));
  }

  void add_free(std::int64_t j) {
    free_.push_back(j);
    is_free_[static_cast<std::size_t>(j)] = 1;
    append_factor_row(reduced_size() - 1);
  }

  void refactor() {
    for (std::int64_t t = 0; t < reduced_size(); ++t) append_factor_row(t);
  }

  // Removes free-set position pos (0 is the reference) and restores L.
  void remove_free(std::size_t pos) {
    const std::int64_t m = reduced_size();
    is_free_[static_cast<std::size_t>(free_[pos])] = 0;
    if (m == 0) {  // never happens: the last free index cannot block a step
      free_.clear();
      return;
    }
    std::int64_t first_rotation;
    if (pos == 0) {
      // New reference r' = S[0]. With T mapping the new difference basis
      // e_i - e_r' = (e_i - e_r) - (e_r' - e_r) onto the old one, the new reduced
      // Hessian is (T^T L)(T^T L)^T: rows 1.. of L with L(0,0) taken off column 0.
      const double l00 = lrow(0)[0];
      for (std::int64_t t = 1; t < m; ++t) lrow(t)[0] -= l00;
      first_rotation = 0;
      delete_factor_row(0, m);
    } else {
      first_rotation = static_cast<std::int64_t>(pos) - 1;
      delete_factor_row(first_rotation, m);
    }
    free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(pos));
    // Rows below the deleted one are now one column too wide (upper Hessenberg
    // in their last entry); rotate column pairs to make L triangular again.
    bool degenerate = false;
    for (std::int64_t j = first_rotation; j < m - 1; ++j) {
      double* rj = lrow(j);
      const double a = rj[j];
      const double b = rj[j + 1];
      const double h = std::hypot(a, b);
      if (h == 0.0) {
        degenerate = true;
        break;
      }
      const double cs = a / h;
      const double sn = b / h;
      rj[j] = h;
      rj[j + 1] = 0.0;
      for (std::int64_t i = j + 1; i < m - 1; ++i) {
        double* ri = lrow(i);
        const double u = ri[j];
        const double v = ri[j + 1];
        ri[j] = cs * u + sn * v;
        ri[j + 1] = -sn * u + cs * v;
      }
    }
    // A rotated pivot that fell below the floor would make the next step
    // meaningless; rebuild from the reduced Hessian, which applies the floor.
    const double min_pivot = std::sqrt(kPivotFloor * scale_);
    for (std::int64_t t = 0; t < m - 1 && !degenerate; ++t) degenerate = std::abs(lrow(t)[t]) < min_pivot;
    if (degenerate) refactor();
  }

  // Drops row q of the m-row factor by shifting the rows below it up.
  void delete_factor_row(std::int64_t q, std::int64_t m) {
    for (std::int64_t t = q + 1; t < m; ++t)
      std::memcpy(lrow(t - 1), lrow(t), sizeof(double) * static_cast<std::size_t>(t + 1));
  }

  // Newton step of the equality-constrained problem on the free set, cut by the
  // ratio test. Returns true when the full step was taken.
  bool newton_step() {
    const std::int64_t m = reduced_size();
    const std::int64_t r = free_[0];
    // Solve L L^T y = -(g_S - g_r), forward then backward substitution.
    for (std::int64_t t = 0; t < m; ++t) {
      const double* row = lrow(t);
      const double rhs =
          -(g_[static_cast<std::size_t>(free_[static_cast<std::size_t>(t + 1)])] - g_[static_cast<std::size_t>(r)]);
      work_[static_cast<std::size_t>(t)] = (rhs - dot(row, work_.data(), t)) / row[t];
    }
    double ref_step = 0.0;
    for (std::int64_t t = m - 1; t >= 0; --t) {
      const double* row = lrow(t);
      const double y = work_[static_cast<std::size_t>(t)] / row[t];
      work_[static_cast<std::size_t>(t)] = y;
      for (std::int64_t u = 0; u < t; ++u) work_[static_cast<std::size_t>(u)] -= row[u] * y;
      step_[static_cast<std::size_t>(free_[static_cast<std::size_t>(t + 1)])] = y;
      ref_step -= y;
    }
    step_[static_cast<std::size_t>(r)] = ref_step;

    // Ratio test: the first free index to reach zero (lowest index on ties).
    double alpha = 1.0;
    std::int64_t blocking = -1;
    for (std::int64_t i : free_) {
      const double p = step_[static_cast<std::size_t>(i)];
      if (p >= 0.0) continue;
      const double ratio = x_[static_cast<std::size_t>(i)] / -p;
      if (ratio < alpha || (ratio == alpha && blocking >= 0 && i < blocking)) {
        alpha = ratio;
        blocking = i;
      }
    }

    moved_.clear();
    for (std::int64_t i : free_) {
      const double p = step_[static_cast<std::size_t>(i)];
      if (p == 0.0) continue;
      const std::size_t iu = static_cast<std::size_t>(i);
      x_[iu] = std::max(0.0, x_[iu] + alpha * p);
      moved_.push_back(i);
    }
    update_gradient(alpha);
    if (blocking >= 0) x_[static_cast<std::size_t>(blocking)] = 0.0;

    // Every free index at zero leaves, so that the next step starts from a point
    // strictly inside the face and cannot be a zero-length (cycling) step.
    bool removed = false;
    for (std::size_t pos = free_.size(); pos-- > 0 && free_.size() > 1;) {
      if (x_[static_cast<std::size_t>(free_[pos])] <= 0.0) {
        x_[static_cast<std::size_t>(free_[pos])] = 0.0;
        remove_free(pos);
        removed = true;
      }
    }
    for (std::int64_t i = 0; i < n_; ++i) step_[static_cast<std::size_t>(i)] = 0.0;
    return blocking < 0 && !removed;
  }

  // g += alpha K[:, moved] step[moved]. K is symmetric, so its columns are its
  // contiguous rows; taking four at a time reads and writes g a quarter as often.
  void update_gradient(double alpha) {
    double* g = g_.data();
    const std::size_t count = moved_.size();
    std::size_t q = 0;
    for (; q + 4 <= count; q += 4) {
      const double* r0 = k_.row(moved_[q]);
      const double* r1 = k_.row(moved_[q + 1]);
      const double* r2 = k_.row(moved_[q + 2]);
      const double* r3 = k_.row(moved_[q + 3]);
      const double a0 = alpha * step_[static_cast<std::size_t>(moved_[q])];
      const double a1 = alpha * step_[static_cast<std::size_t>(moved_[q + 1])];
      const double a2 = alpha * step_[static_cast<std::size_t>(moved_[q + 2])];
      const double a3 = alpha * step_[static_cast<std::size_t>(moved_[q + 3])];
      for (std::int64_t j = 0; j < n_; ++j) g[j] += (a0 * r0[j] + a1 * r1[j]) + (a2 * r2[j] + a3 * r3[j]);
    }
    for (; q < count; ++q) {
      const double* r = k_.row(moved_[q]);
      const double a = alpha * step_[static_cast<std::size_t>(moved_[q])];
      for (std::int64_t j = 0; j < n_; ++j) g[j] += a * r[j];
    }
  }

  SimplexQpResult finish(int iterations) {
    // Rounding leaves sum(x) within a few ulps of one; restore it exactly enough
    // that primal feasibility is not what the residual reports.
    double sum = 0.0;
    for (double xi : x_) sum += xi;
    if (sum > 0.0 && sum != 1.0)
      for (double& xi : x_) xi /= sum;
    SimplexQpResult result;
    result.iterations = iterations;
    result.x = std::move(x_);
    recompute_result_measures(result);
    return result;
  }

  void recompute_result_measures(SimplexQpResult& result) {
    gradient(k_, c_, result.x, true, g_);
    result.kkt_residual = kkt_measure(result.x, g_, scale_);
    double objective = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) {
      const double xi = result.x[static_cast<std::size_t>(i)];
      // 1/2 x^T K x - c^T x = sum_i x_i (1/2 (g_i + c_i) - c_i) with g = Kx - c.
      objective += xi * (0.5 * (g_[static_cast<std::size_t>(i)] - c_[static_cast<std::size_t>(i)]));
    }
    result.objective = objective;
    result.converged = result.kkt_residual <= tol_;
  }

  std::int64_t n_;
  ConstMatrixView<double> k_;
  std::span<const double> c_;
  double scale_;
  double tol_;
  int max_iter_;
  std::vector<double> sym_;
  std::vector<double> x_;
  std::vector<double> g_;
  std::vector<double> step_;
  std::vector<double> work_;
  std::vector<char> is_free_;
  std::vector<std::int64_t> free_;   // free_[0] is the reference index r
  std::vector<std::int64_t> moved_;  // free indices with a non-zero step
  std::unique_ptr<double[]> l_;      // lower-triangular factor of M, row stride n
};

}  // namespace

SimplexQpResult solve_simplex_qp(ConstMatrixView<double> K, std::span<const double> c,
                                 const SimplexQpOptions& options) {
  validate(K, c, "solve_simplex_qp");
  if (!(options.kkt_tol > 0.0) || !std::isfinite(options.kkt_tol)) {
    throw KernelError("solve_simplex_qp: kkt_tol must be a positive finite number");
  }
  if (options.max_iter < 0) throw KernelError("solve_simplex_qp: max_iter must be >= 0 (0 selects the default)");
  // Each index typically enters once and leaves rarely; 10n leaves ample room
  // for the removals that degenerate and singular problems cause.
  const int max_iter =
      options.max_iter > 0
          ? options.max_iter
          : static_cast<int>(std::min<std::int64_t>(10 * K.rows + 100, std::numeric_limits<int>::max()));
  if (!options.start.empty()) {
    if (static_cast<std::int64_t>(options.start.size()) != K.rows) {
      throw KernelError("solve_simplex_qp: the start has " + std::to_string(options.start.size()) +
                        " entries but K has " + std::to_string(K.rows) + " rows");
    }
    for (std::size_t i = 0; i < options.start.size(); ++i)
      if (!std::isfinite(options.start[i])) throw KernelError("solve_simplex_qp: start[" + std::to_string(i) + "] is not finite");
  }
  ActiveSetSolver solver(K, c, problem_scale(K, c), options.kkt_tol, max_iter);
  return solver.solve(options.start);
}

double simplex_qp_kkt_residual(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x) {
  validate(K, c, "simplex_qp_kkt_residual");
  validate_point(K, x, "simplex_qp_kkt_residual");
  std::vector<double> g;
  gradient(K, c, x, is_symmetric(K), g);
  return kkt_measure(x, g, problem_scale(K, c));
}

double simplex_qp_objective(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x) {
  validate(K, c, "simplex_qp_objective");
  validate_point(K, x, "simplex_qp_objective");
  double quadratic = 0.0;
  double linear = 0.0;
  for (std::int64_t i = 0; i < K.rows; ++i) {
    const double xi = x[static_cast<std::size_t>(i)];
    if (xi == 0.0) continue;
    const double* row = K.row(i);
    double kx = 0.0;
    for (std::int64_t j = 0; j < K.cols; ++j) kx += row[j] * x[static_cast<std::size_t>(j)];
    quadratic += xi * kx;
    linear += c[static_cast<std::size_t>(i)] * xi;
  }
  return 0.5 * quadratic - linear;
}

}  // namespace lwd::kernels
