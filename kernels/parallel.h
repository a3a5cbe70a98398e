// The one place that wraps `#pragma omp parallel for`. Exceptions thrown inside
// the loop body are captured and the first one is rethrown on the calling thread
// (an exception escaping an OpenMP region would terminate the process).
//
// Iterations are independent and each owns its outputs, so the result of a
// parallel_for never depends on the number of threads.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>

#include "kernels/context.h"

namespace lwd::kernels {

template <class Body>
void parallel_for(const Context& ctx, std::int64_t begin, std::int64_t end, Body&& body) {
  if (end <= begin) return;
  std::exception_ptr first_error;
  std::mutex error_mutex;
  const int n_threads = ctx.threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && end - begin > 1)
  for (std::int64_t i = begin; i < end; ++i) {
    try {
      body(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

// Keeps the BLAS (and Eigen) calls the calling task makes from now on on its
// own thread. The OpenMP build of OpenBLAS sizes its own team from
// omp_get_max_threads() unless it is called inside an active parallel region,
// which a one-thread region is not; this sets that ICV to 1 for the calling
// task's data environment only (the caller's value outside the region is
// untouched), so Context{n_threads = 1} really uses one thread. Call it first
// thing in a parallel_for body whose iterations call BLAS.
void keep_blas_on_this_thread();

// Runs body(i) for i in [0, count) over ctx's threads, with every BLAS (and
// Eigen) call made inside it single-threaded: OpenBLAS and Eigen would
// otherwise start their own threads when ctx asks for one thread, which both
// changes the blocking of their reductions (so the bits) and, on busy cores,
// costs more than it gains. The parallel work is ours, by fixed blocks.
void parallel_for_serial_blas(const Context& ctx, std::int64_t count, const std::function<void(std::int64_t)>& body);

// Number of fixed-size blocks covering [0, n). Blocking by a constant (never by
// the thread count) keeps floating-point reduction order, hence results, fixed.
constexpr std::int64_t num_blocks(std::int64_t n, std::int64_t block) {
  return (n + block - 1) / block;
}

}  // namespace lwd::kernels
