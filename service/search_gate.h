// How many searches the server runs at once, and how long one may wait for
// its turn. A search is CPU-bound: beyond one per core, more at once only
// stretch each one (every request waits for all of them), and an unbounded
// line lets a burst above capacity grow latency without end. So searches
// take a slot (default: the cores over the threads of one search) and wait
// for one at most `max_wait`; one that would wait longer is refused at once
// with 503 and Retry-After (ApiCode::busy), which a client or balancer can
// act on, instead of being answered many seconds late.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace lwd::service {

class SearchGate {
 public:
  SearchGate(int slots, std::chrono::milliseconds max_wait);
  SearchGate(const SearchGate&) = delete;
  SearchGate& operator=(const SearchGate&) = delete;

  // A slot held until the ticket is destroyed.
  class Ticket {
   public:
    explicit Ticket(SearchGate& gate) : gate_(&gate) {}
    Ticket(Ticket&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    ~Ticket();

   private:
    SearchGate* gate_;
  };

  // A slot, waiting for one at most max_wait; nullopt when none freed up in
  // time. Waiters are woken one per freed slot (no strict arrival order).
  std::optional<Ticket> enter();

  int slots() const { return slots_; }
  std::chrono::milliseconds max_wait() const { return max_wait_; }
  // Searches holding a slot, and waiting for one, now.
  int running() const;
  int waiting() const;

 private:
  void leave();

  const int slots_;
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int running_ = 0;
  int waiting_ = 0;
};

// The default number of slots: the cores this process may use over the
// threads of one search, at least 1.
int default_search_slots(int threads_per_search);

}  // namespace lwd::service
