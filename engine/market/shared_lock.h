// A reader/writer lock that lets a waiting writer in ahead of new readers.
// std::shared_mutex on glibc prefers readers: with searches arriving back to
// back on several threads, an add waiting for the exclusive lock would wait
// for ever. Here a reader that arrives while a writer waits queues behind it,
// so a change waits only for the searches already running. Not recursive:
// a thread holding it must not lock it again in either mode. Meets the
// SharedMutex requirements, so std::shared_lock and std::unique_lock work.
#pragma once

#include <condition_variable>
#include <mutex>

namespace lwd {

class WriterPreferringSharedMutex {
 public:
  void lock() {
    std::unique_lock guard(mutex_);
    ++writers_waiting_;
    writer_turn_.wait(guard, [&] { return !writer_active_ && readers_active_ == 0; });
    --writers_waiting_;
    writer_active_ = true;
  }
  void unlock() {
    {
      std::lock_guard guard(mutex_);
      writer_active_ = false;
    }
    writer_turn_.notify_one();
    reader_turn_.notify_all();
  }
  void lock_shared() {
    std::unique_lock guard(mutex_);
    reader_turn_.wait(guard, [&] { return !writer_active_ && writers_waiting_ == 0; });
    ++readers_active_;
  }
  void unlock_shared() {
    bool last = false;
    {
      std::lock_guard guard(mutex_);
      last = --readers_active_ == 0;
    }
    if (last) writer_turn_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable writer_turn_;
  std::condition_variable reader_turn_;
  int readers_active_ = 0;
  int writers_waiting_ = 0;
  bool writer_active_ = false;
};

}  // namespace lwd
