// The search gate alone: slots, the bounded wait, release on every path.
#include "service/search_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "engine/error.h"

namespace {

using lwd::service::SearchGate;
using namespace std::chrono_literals;

TEST(SearchGate, HandsOutAsManySlotsAsItHasThenRefusesAfterTheWait) {
  SearchGate gate(2, 20ms);
  auto a = gate.enter();
  auto b = gate.enter();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(gate.running(), 2);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_FALSE(gate.enter());
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 20ms);  // it did wait its turn first
  EXPECT_EQ(gate.waiting(), 0);
  a.reset();
  EXPECT_EQ(gate.running(), 1);
  EXPECT_TRUE(gate.enter());  // a temporary: released at once
  EXPECT_EQ(gate.running(), 1);
}

TEST(SearchGate, AWaiterGetsTheSlotThatFreesUpWithinItsWait) {
  SearchGate gate(1, 10s);
  auto held = gate.enter();
  ASSERT_TRUE(held);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    const auto slot = gate.enter();
    got = slot.has_value();
  });
  while (gate.waiting() == 0) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(got);
  held.reset();
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(gate.running(), 0);
}

TEST(SearchGate, NeverRunsMoreThanItsSlotsUnderContention) {
  SearchGate gate(3, 10s);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        const auto slot = gate.enter();
        ASSERT_TRUE(slot);
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(gate.running(), 0);
}

TEST(SearchGate, RefusesANonsenseConfiguration) {
  EXPECT_THROW(SearchGate(0, 1s), lwd::Error);
  EXPECT_THROW(SearchGate(1, -1ms), lwd::Error);
  EXPECT_GE(lwd::service::default_search_slots(1), 1);
  EXPECT_GE(lwd::service::default_search_slots(1000), 1);
}

}  // namespace
