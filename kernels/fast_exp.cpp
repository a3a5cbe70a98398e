#include "kernels/fast_exp.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "kernels/simd.h"

namespace lwd::kernels {

namespace {

// Below this exp(x) leaves the normal range (exp(-708) ~ 3.3e-308 > DBL_MIN);
// kernel values that small are zero for every use we have.
constexpr double kMinArgument = -708.0;

constexpr double kLog2e = 1.4426950408889634074;
// ln2 split so that n * kLn2Hi is exact for |n| < 2^21 (kLn2Hi has 32
// significant bits), making r = x - n ln2 accurate to ~1 ulp of r.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
// Adding 1.5 * 2^52 rounds to the nearest integer (default rounding mode) and
// leaves that integer in the low mantissa bits.
constexpr double kRoundMagic = 6755399441055744.0;

// Taylor coefficients 1/k!, k = 2..13. With |r| <= ln2/2 the first omitted
// term r^14/14! is below 4e-18, far under one ulp of exp(r) >= 0.7.
constexpr double kC2 = 1.0 / 2;
constexpr double kC3 = 1.0 / 6;
constexpr double kC4 = 1.0 / 24;
constexpr double kC5 = 1.0 / 120;
constexpr double kC6 = 1.0 / 720;
constexpr double kC7 = 1.0 / 5040;
constexpr double kC8 = 1.0 / 40320;
constexpr double kC9 = 1.0 / 362880;
constexpr double kC10 = 1.0 / 3628800;
constexpr double kC11 = 1.0 / 39916800;
constexpr double kC12 = 1.0 / 479001600;
constexpr double kC13 = 1.0 / 6227020800;

}  // namespace

LWD_SIMD_CLONES
void exp_nonpositive_inplace(double* x, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const double in = x[i];
    // min/max (not a branch) keep the loop vectorisable; NaN passes through
    // both and propagates to the result.
    const double v = std::min(std::max(in, kMinArgument), 0.0);
    const double t = v * kLog2e + kRoundMagic;
    const double k = t - kRoundMagic;
    const double r = (v - k * kLn2Hi) - k * kLn2Lo;

    double p = kC13;
    p = p * r + kC12;
    p = p * r + kC11;
    p = p * r + kC10;
    p = p * r + kC9;
    p = p * r + kC8;
    p = p * r + kC7;
    p = p * r + kC6;
    p = p * r + kC5;
    p = p * r + kC4;
    p = p * r + kC3;
    p = p * r + kC2;
    p = p * r + 1.0;
    p = p * r + 1.0;

    // The low bits of t hold k; the shift drops the magic's own exponent bits,
    // leaving the biased exponent k + 1023 (in [2, 1023] for v in [-708, 0]).
    const std::uint64_t scale_bits = (std::bit_cast<std::uint64_t>(t) + 1023u) << 52;
    const double result = p * std::bit_cast<double>(scale_bits);
    x[i] = in < kMinArgument ? 0.0 : result;
  }
}

void exp_nonpositive_inplace_ref(double* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (v > 0.0) {
      x[i] = 1.0;
    } else if (v < kMinArgument) {
      x[i] = 0.0;
    } else {
      x[i] = std::exp(v);
    }
  }
}

namespace {

constexpr float kMinArgumentF = -87.0f;
constexpr float kLog2eF = 1.44269504088896341f;
// ln 2 split so that k * kLn2HiF is exact for the k of the range (|k| <= 126).
constexpr float kLn2HiF = 0.693359375f;
constexpr float kLn2LoF = -2.12194440e-4f;
constexpr float kRoundMagicF = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits

}  // namespace

LWD_SIMD_CLONES
void exp_nonpositive_inplace(float* x, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const float in = x[i];
    const float v = std::min(std::max(in, kMinArgumentF), 0.0f);
    const float t = v * kLog2eF + kRoundMagicF;
    const float k = t - kRoundMagicF;
    const float r = (v - k * kLn2HiF) - k * kLn2LoF;
    // exp(r) on |r| <= ln2/2 by its Taylor polynomial to degree 7 (truncation
    // below 2e-8, under half an ulp).
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const std::uint32_t scale_bits = (std::bit_cast<std::uint32_t>(t) + 127u) << 23;
    const float result = p * std::bit_cast<float>(scale_bits);
    x[i] = in < kMinArgumentF ? 0.0f : result;
  }
}

void exp_nonpositive_inplace_ref(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (v > 0.0f) {
      x[i] = 1.0f;
    } else if (v < kMinArgumentF) {
      x[i] = 0.0f;
    } else {
      x[i] = static_cast<float>(std::exp(static_cast<double>(v)));
    }
  }
}

}  // namespace lwd::kernels
