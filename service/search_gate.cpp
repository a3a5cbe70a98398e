#include "service/search_gate.h"

#include <sched.h>

#include <algorithm>
#include <thread>

#include "engine/error.h"

namespace lwd::service {

SearchGate::SearchGate(int slots, std::chrono::milliseconds max_wait) : slots_(slots), max_wait_(max_wait) {
  if (slots < 1) throw Error("search slots: at least 1, not " + std::to_string(slots));
  if (max_wait.count() < 0) throw Error("search queue wait: not negative");
}

SearchGate::Ticket::~Ticket() {
  if (gate_ != nullptr) gate_->leave();
}

std::optional<SearchGate::Ticket> SearchGate::enter() {
  std::unique_lock lock(mutex_);
  if (running_ >= slots_) {
    ++waiting_;
    const bool got = freed_.wait_for(lock, max_wait_, [this] { return running_ < slots_; });
    --waiting_;
    if (!got) return std::nullopt;
  }
  ++running_;
  return std::optional<Ticket>(std::in_place, *this);
}

void SearchGate::leave() {
  {
    std::lock_guard lock(mutex_);
    --running_;
  }
  freed_.notify_one();
}

int SearchGate::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

int SearchGate::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

int default_search_slots(int threads_per_search) {
  int cores = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  if (cores < 1) cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, threads_per_search));
}

}  // namespace lwd::service
