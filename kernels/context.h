// Execution context passed explicitly to every kernel that runs in parallel or
// draws random numbers: no hidden globals. Results never depend on n_threads.
#pragma once

#include <cstdint>

namespace lwd::kernels {

struct Context {
  // Number of OpenMP threads; 0 means "whatever OpenMP would use by default".
  int n_threads = 0;
  // Base seed for anything random (k-means++ seeding, herding candidates).
  std::uint64_t seed = 0;

  // The thread count actually used (resolves 0 to the OpenMP default).
  int threads() const;
};

}  // namespace lwd::kernels
