// Dense convex QP over the probability simplex:
//     minimise  1/2 x^T K x - c^T x   subject to  x >= 0,  sum(x) = 1,
// with K symmetric positive semidefinite (possibly singular). Used for RKME
// weights (beta) and for mixture weights in search.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::kernels {

struct SimplexQpOptions {
  // KKT tolerance, relative to max(1, max|K_ij|, max|c_i|).
  double kkt_tol = 1e-9;
  // 0 means a default proportional to the problem size.
  int max_iter = 0;
};

struct SimplexQpResult {
  std::vector<double> x;
  double objective = 0.0;     // 1/2 x^T K x - c^T x
  double kkt_residual = 0.0;  // see simplex_qp_kkt_residual
  int iterations = 0;
  bool converged = false;
};

SimplexQpResult solve_simplex_qp(ConstMatrixView<double> K, std::span<const double> c,
                                 const SimplexQpOptions& options = {});

// Largest violation of the KKT conditions at x, relative to
// max(1, max|K_ij|, max|c_i|): primal feasibility (x >= 0, sum x = 1),
// stationarity (g = Kx - c equals a common value nu on the support) and dual
// feasibility (g_i >= nu off the support).
double simplex_qp_kkt_residual(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x);

// 1/2 x^T K x - c^T x.
double simplex_qp_objective(ConstMatrixView<double> K, std::span<const double> c, std::span<const double> x);

}  // namespace lwd::kernels
