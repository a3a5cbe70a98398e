// Vectorisable exp for the RBF kernels. The kernels only ever need exp(x) for
// x <= 0 (x = -gamma * squared distance), so the range reduction can be simple:
// exp(x) = 2^n * exp(r), |r| <= ln2/2, with exp(r) from a polynomial whose
// truncation error is below 1e-16. Written as plain arithmetic on arrays so the
// compiler emits SIMD code for whatever -march it is given (SSE2, AVX2, AVX-512).
#pragma once

#include <cstdint>

namespace lwd::kernels {

// x[i] <- exp(x[i]) for all i. Accurate to a few ulp for x in [-708, 0];
// x < -708 gives 0 (the true value is below the smallest normal double),
// x > 0 is clamped to 0 (kernel arguments are never positive).
void exp_nonpositive_inplace(double* x, std::int64_t n);

// Plain reference: std::exp on each element.
void exp_nonpositive_inplace_ref(double* x, std::int64_t n);

// Single precision, twice the lanes: x[i] <- exp(x[i]) to about 2 ulp (relative
// error below 3e-7) for x in [-87, 0]; x < -87 gives 0 (below the smallest
// normal float), x > 0 is clamped to 0. Used by the float32 screening pass of
// the market search, where the kernel values feed float64 sums.
void exp_nonpositive_inplace(float* x, std::int64_t n);
void exp_nonpositive_inplace_ref(float* x, std::int64_t n);

}  // namespace lwd::kernels
