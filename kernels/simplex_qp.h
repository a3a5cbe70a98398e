// Dense convex QP over the probability simplex:
//     minimise  1/2 x^T K x - c^T x   subject to  x >= 0,  sum(x) = 1,
// with K symmetric positive semidefinite (possibly singular). Used for RKME
// weights (beta) and for mixture weights in search. K enters only through its
// symmetric part (K + K^T) / 2, so rounding-level asymmetry is harmless.
//
// Solved by a primal active-set method (see simplex_qp.cpp); exact up to
// rounding, deterministic, and robust to singular K (duplicated points, low
// rank, K = 0). Throws KernelError for a non-square or empty K, a c of the wrong
// length, or non-finite entries.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::kernels {

struct SimplexQpOptions {
  // KKT tolerance, relative to max(1, max|K_ij|, max|c_i|).
  double kkt_tol = 1e-9;
  // Active-set steps; 0 means a default proportional to the problem size (10 n + 100).
  int max_iter = 0;
  // A point to start from (n entries; negative ones count as 0, the rest are
  // rescaled to sum 1), its support the first free set: a nearby problem's
  // solution (the RKME descent re-solves beta after each small move of Z) is
  // then reached in a few steps instead of one step per index of the support.
  // Empty, or nothing positive: the best vertex. The solution is the same
  // either way up to the KKT tolerance.
  std::span<const double> start = {};
};

struct SimplexQpResult {
  std::vector<double> x;
  double objective = 0.0;     // 1/2 x^T K x - c^T x
  double kkt_residual = 0.0;  // see simplex_qp_kkt_residual
  int iterations = 0;
  bool converged = false;     // kkt_residual <= kkt_tol
};

SimplexQpResult solve_simplex_qp(ConstMatrixView<double> K, std::span<const double> c,
                                 const SimplexQpOptions& options = {});

// Largest violation of the KKT conditions at x: primal feasibility (x >= 0,
// sum x = 1, in absolute terms), and, relative to max(1, max|K_ij|, max|c_i|),
// stationarity (g = Kx - c equals a common value nu on the support x_i > 0) and
// dual feasibility (g_i >= nu off the support). With nu chosen to minimise the
// violation, that part is (max_support g - min(min_support g, min_off g)) / 2.
double simplex_qp_kkt_residual(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x);

// 1/2 x^T K x - c^T x.
double simplex_qp_objective(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x);

}  // namespace lwd::kernels
