#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "kernels/parallel.h"

using lwd::kernels::Context;
using lwd::kernels::parallel_for;

TEST(ParallelFor, VisitsEveryIndexExactlyOnce) {
  std::vector<std::atomic<int>> visits(1000);
  parallel_for(Context{.n_threads = 3}, 0, 1000, [&](std::int64_t i) { visits[static_cast<std::size_t>(i)]++; });
  for (const auto& v : visits) EXPECT_EQ(v.load(), 1);
}

TEST(ParallelFor, EmptyRangeRunsNothing) {
  int calls = 0;
  parallel_for(Context{.n_threads = 2}, 5, 5, [&](std::int64_t) { ++calls; });
  parallel_for(Context{.n_threads = 2}, 5, 3, [&](std::int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ParallelFor, ExceptionInBodyIsRethrownOnCaller) {
  EXPECT_THROW(parallel_for(Context{.n_threads = 2}, 0, 100,
                            [](std::int64_t i) {
                              if (i == 37) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
}

TEST(ParallelFor, SingleThreadExceptionIsRethrown) {
  EXPECT_THROW(parallel_for(Context{.n_threads = 1}, 0, 3, [](std::int64_t) { throw std::logic_error("x"); }),
               std::logic_error);
}

TEST(Context, ZeroThreadsMeansOpenMpDefault) {
  EXPECT_GE(Context{}.threads(), 1);
  EXPECT_EQ(Context{.n_threads = 4}.threads(), 4);
}
