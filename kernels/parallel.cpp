#include "kernels/parallel.h"

#include <omp.h>

namespace lwd::kernels {

void keep_blas_on_this_thread() { omp_set_num_threads(1); }

void parallel_for_serial_blas(const Context& ctx, std::int64_t count, const std::function<void(std::int64_t)>& body) {
  if (count <= 0) return;
  if (ctx.threads() > 1 && count > 1) {
    // An active parallel region: OpenBLAS and Eigen run single-threaded inside.
    parallel_for(ctx, 0, count, [&](std::int64_t i) { body(i); });
    return;
  }
  // A one-thread region whose task is told it may use one thread: the BLAS
  // libraries read that, and the setting dies with the region.
  std::exception_ptr error;
#pragma omp parallel num_threads(1)
  {
    keep_blas_on_this_thread();
    try {
      for (std::int64_t i = 0; i < count; ++i) body(i);
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace lwd::kernels
