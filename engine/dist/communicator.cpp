#include "engine/dist/communicator.h"

#include <algorithm>
#include <cstring>

#include "engine/error.h"

namespace lwd::dist {

class ThreadGroup::Member final : public Communicator {
 public:
  Member(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::vector<std::string> allgather(std::string_view mine) const override { return group_.exchange(rank_, mine); }
  std::unique_ptr<SharedCounter> shared_counter() const override {
    // The group's counter of this call's index, seen through a handle (the
    // group keeps it alive for the other ranks).
    class Handle final : public SharedCounter {
     public:
      explicit Handle(std::shared_ptr<LocalCounter> c) : counter_(std::move(c)) {}
      std::int64_t next() override { return counter_->next(); }

     private:
      std::shared_ptr<LocalCounter> counter_;
    };
    return std::make_unique<Handle>(group_.counter(counters_made_++));
  }

 private:
  ThreadGroup& group_;
  int rank_;
  mutable std::size_t counters_made_ = 0;  // one rank is one thread
};

std::shared_ptr<LocalCounter> ThreadGroup::counter(std::size_t index) {
  std::lock_guard lock(mutex_);
  while (counters_.size() <= index) counters_.push_back(std::make_shared<LocalCounter>());
  return counters_[index];
}

ThreadGroup::ThreadGroup(int size) {
  if (size < 1) throw Error("a thread group needs at least one rank");
  slots_.resize(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) members_.push_back(std::make_unique<Member>(*this, r));
}

ThreadGroup::~ThreadGroup() = default;

const Communicator& ThreadGroup::rank(int r) const { return *members_.at(static_cast<std::size_t>(r)); }

std::vector<std::string> ThreadGroup::exchange(int rank, std::string_view mine) {
  std::unique_lock lock(mutex_);
  // A rank that comes back for the next exchange waits until every rank has
  // taken the last one.
  changed_.wait(lock, [&] { return departed_ == 0; });
  const std::uint64_t generation = generation_;
  slots_[static_cast<std::size_t>(rank)] = std::string(mine);
  if (++arrived_ == size()) {
    published_ = slots_;
    arrived_ = 0;
    departed_ = size();
    ++generation_;
    changed_.notify_all();
  } else {
    changed_.wait(lock, [&] { return generation_ != generation; });
  }
  std::vector<std::string> out = published_;
  if (--departed_ == 0) changed_.notify_all();
  return out;
}

Shard shard_of(std::size_t count, int rank, int size) {
  const auto r = static_cast<std::size_t>(rank), s = static_cast<std::size_t>(size);
  const std::size_t base = count / s, extra = count % s;
  const std::size_t begin = r * base + std::min(r, extra);
  return Shard{begin, begin + base + (r < extra ? 1 : 0)};
}

std::vector<double> allgather_doubles(const Communicator& comm, std::span<const double> mine) {
  const std::vector<std::string> all =
      comm.allgather(std::string_view(reinterpret_cast<const char*>(mine.data()), mine.size_bytes()));
  std::vector<double> out;
  for (const std::string& part : all) {
    if (part.size() % sizeof(double) != 0) throw Error("allgather: a rank sent a partial number");
    const std::size_t at = out.size();
    out.resize(at + part.size() / sizeof(double));
    std::memcpy(out.data() + at, part.data(), part.size());
  }
  return out;
}

void ByteWriter::put_string(std::string_view s) {
  put<std::uint64_t>(s.size());
  out_.append(s);
}

void ByteWriter::put_doubles(std::span<const double> v) {
  put<std::uint64_t>(v.size());
  out_.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
}

void ByteReader::copy_out(void* to, std::size_t n) {
  if (in_.size() - pos_ < n) throw Error("ranks exchanged data of a different shape than expected");
  std::memcpy(to, in_.data() + pos_, n);
  pos_ += n;
}

std::string ByteReader::get_string() {
  const auto n = get<std::uint64_t>();
  if (in_.size() - pos_ < n) throw Error("ranks exchanged data of a different shape than expected");
  std::string s(in_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::vector<double> ByteReader::get_doubles() {
  const auto n = get<std::uint64_t>();
  if ((in_.size() - pos_) / sizeof(double) < n) throw Error("ranks exchanged data of a different shape than expected");
  std::vector<double> v(n);
  copy_out(v.data(), n * sizeof(double));
  return v;
}

}  // namespace lwd::dist
