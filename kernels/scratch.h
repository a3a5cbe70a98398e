// Scratch memory of the kernels' parallel loops: buffers that grow but never
// shrink, one per thread of the parallel region a call opens, so no allocation
// happens per tile. Scratch holds no results: what a task computes never
// depends on which thread's buffer it used.
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "kernels/context.h"

namespace lwd::kernels {

// 64-byte aligned scratch of T that grows but never shrinks.
template <class T>
class AlignedScratch {
 public:
  T* get(std::int64_t n) {
    if (n > capacity_) {
      data_.reset(new (std::align_val_t(64)) T[static_cast<std::size_t>(n)]);
      capacity_ = n;
    }
    return data_.get();
  }

 private:
  struct AlignedDelete {
    void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<T[], AlignedDelete> data_;
  std::int64_t capacity_ = 0;
};

// One T per thread of the parallel region a call opens over ctx, indexed by
// the thread number within that region. Made by the call, outside its
// parallel_for: a call made from inside another parallel region opens its own
// team with its own PerThread, so slots are never shared between concurrent
// calls.
template <class T>
class PerThread {
 public:
  explicit PerThread(const Context& ctx) : slots_(static_cast<std::size_t>(ctx.threads())) {}
  PerThread(const Context& ctx, const T& initial) : slots_(static_cast<std::size_t>(ctx.threads()), initial) {}

  // The calling thread's slot; call it inside the parallel_for body.
  T& local() { return slots_[static_cast<std::size_t>(omp_get_thread_num())]; }

 private:
  std::vector<T> slots_;
};

}  // namespace lwd::kernels
