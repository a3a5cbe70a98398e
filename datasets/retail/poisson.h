// Poisson variates from kernels::Rng, written here because the standard
// library's poisson_distribution is not specified bit-for-bit: the simulated
// sales would differ between standard libraries.
#pragma once

#include <cstdint>

#include "kernels/random.h"

namespace lwd::datasets {

// One draw of Poisson(mean), mean >= 0 and finite.
//   mean < 10:  inversion by sequential search (expected mean + 1 uniforms' worth of work);
//   mean >= 10: Hörmann's PTRS transformed rejection ("The transformed rejection
//               method for generating Poisson random variables", 1993), O(1).
std::int64_t sample_poisson(kernels::Rng& rng, double mean);

}  // namespace lwd::datasets
