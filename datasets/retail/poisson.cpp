#include "datasets/retail/poisson.h"

#include <cmath>

namespace lwd::datasets {

std::int64_t sample_poisson(kernels::Rng& rng, double mean) {
  if (!(mean > 0.0)) return 0;
  if (mean < 10.0) {
    // Walk the CDF from 0. The cap only matters if rounding keeps the summed
    // CDF below u; P(X > 200) for mean < 10 is far below double precision.
    const double u = rng.uniform();
    double probability = std::exp(-mean);
    double cdf = probability;
    std::int64_t k = 0;
    while (u > cdf && k < 200) {
      ++k;
      probability *= mean / static_cast<double>(k);
      cdf += probability;
    }
    return k;
  }
  // PTRS: a transformed-rejection hat over the Poisson pmf; most draws are
  // accepted in the quick test (us >= 0.07, V <= v_r) without evaluating the pmf.
  const double log_mean = std::log(mean);
  const double b = 0.931 + 2.53 * std::sqrt(mean);
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double v_r = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = rng.uniform() - 0.5;
    const double v = rng.uniform();
    const double us = 0.5 - std::abs(u);
    if (us <= 0.0) continue;  // u == -0.5 exactly: the hat is infinite there
    const double k = std::floor((2.0 * a / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= v_r) return static_cast<std::int64_t>(k);
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    const double log_hat = std::log(v * inv_alpha / (a / (us * us) + b));
    const double log_pmf = -mean + k * log_mean - std::lgamma(k + 1.0);
    if (log_hat <= log_pmf) return static_cast<std::int64_t>(k);
  }
}

}  // namespace lwd::datasets
