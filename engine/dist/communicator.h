// Processes that share one piece of work (docs/DESIGN.md §8.1):
// `mpirun -np N lwdock ...` starts N ranks, and the parts that shard their work
// -- the statistical search over a pack, the users of a scenario -- exchange
// what each rank computed through a Communicator. Every other part of the
// engine runs the same on every rank.
//
// A Communicator is a rank and a size and one collective, allgather: every
// rank hands in its bytes and gets every rank's, indexed by rank. All ranks
// must call the collectives in the same order (like MPI's). Three kinds:
//   SingleProcess  one rank: the build without MPI, or lwdock not started by mpirun
//   MpiCommunicator (mpi_communicator.h, LW_MPI builds) MPI_COMM_WORLD
//   ThreadGroup    N ranks as threads of one process: the tests check the
//                  sharded code against one rank without MPI
// Results never depend on the rank count: each rank computes a fixed,
// contiguous share of the work, and the shares are put back together in rank
// order (shard_of, allgather_doubles), so the whole is the one-rank vector.
// Work whose items differ in cost (a scenario's users) is instead handed out
// as ranks free up, through a SharedCounter; each item's result depends only
// on the item, and the results are put back in item order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lwd::dist {

// One count shared by every rank: next() returns 0, 1, 2, ... over all the
// ranks' calls together, each value to exactly one caller, in the order the
// calls arrive. Any thread of a rank may call next().
class SharedCounter {
 public:
  virtual ~SharedCounter() = default;
  virtual std::int64_t next() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank's `mine`, indexed by rank, on every rank.
  virtual std::vector<std::string> allgather(std::string_view mine) const = 0;
  // A new counter at 0 shared by the ranks. Collective, like allgather: every
  // rank creates its counters in the same order, and destroys each one at
  // the same point of its work (for MPI both ends synchronise the ranks).
  // nullptr where the ranks cannot share one (an MPI library without thread
  // support for it): the caller then deals fixed shares.
  virtual std::unique_ptr<SharedCounter> shared_counter() const = 0;
};

// A counter of this process alone (one rank; also the building block of the
// ThreadGroup's).
class LocalCounter final : public SharedCounter {
 public:
  std::int64_t next() override { return value_.fetch_add(1); }

 private:
  std::atomic<std::int64_t> value_{0};
};

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::string> allgather(std::string_view mine) const override { return {std::string(mine)}; }
  std::unique_ptr<SharedCounter> shared_counter() const override { return std::make_unique<LocalCounter>(); }
};

// `size` ranks as threads of this process: rank(r) is rank r's communicator,
// to be used by one thread only. allgather blocks until every rank has called
// it (a generation counter, so the group is reusable for any number of calls).
class ThreadGroup {
 public:
  explicit ThreadGroup(int size);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  const Communicator& rank(int r) const;
  int size() const { return static_cast<int>(members_.size()); }

 private:
  class Member;
  std::vector<std::string> exchange(int rank, std::string_view mine);
  // Rank `rank`'s counter number `index` (its index-th shared_counter call):
  // the same counter for every rank.
  std::shared_ptr<LocalCounter> counter(std::size_t index);
  std::vector<std::shared_ptr<LocalCounter>> counters_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> slots_;
  std::vector<std::string> published_;  // the last complete exchange
  int arrived_ = 0, departed_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Member>> members_;
};

// The half-open range [begin, end) of `count` items that `rank` of `size`
// computes: contiguous shares in rank order, the first count % size one longer.
struct Shard {
  std::size_t begin = 0, end = 0;
};
Shard shard_of(std::size_t count, int rank, int size);

// Each rank's values (its shard of one vector) concatenated in rank order on
// every rank.
std::vector<double> allgather_doubles(const Communicator& comm, std::span<const double> mine);

// A null communicator or one of one rank: nothing to share.
inline bool is_single(const Communicator* comm) { return comm == nullptr || comm->size() == 1; }

// Bytes of plain values for allgather: numbers as their bytes (the ranks run
// one build on one kind of machine), strings and vectors length-prefixed.
class ByteWriter {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_string(std::string_view s);
  void put_doubles(std::span<const double> v);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what a ByteWriter wrote, in the same order; reading past the end is
// an lwd::Error (a rank sent something else than this rank expects).
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : in_(bytes) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    copy_out(&v, sizeof v);
    return v;
  }
  std::string get_string();
  std::vector<double> get_doubles();
  bool done() const { return pos_ == in_.size(); }

 private:
  void copy_out(void* to, std::size_t n);
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace lwd::dist
