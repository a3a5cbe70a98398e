#include "engine/dist/session.h"

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>

#include "engine/error.h"

#ifdef LWD_MPI
#include <mpi.h>
#endif

namespace lwd::dist {

#ifdef LWD_MPI
namespace {

// MPI_COMM_WORLD's default error handler aborts every rank; a code that
// comes back anyway is an error of this rank.
void check(int code) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error("MPI: " + std::string(text, static_cast<std::size_t>(length)));
}

// The count lives in a one-sided window on rank 0; next() is an atomic
// MPI_Fetch_and_op on it inside a passive-target epoch open for the
// counter's whole life, so rank 0 need not take part (on one machine Open
// MPI's shared-memory window makes it a processor atomic). MPI is entered
// under MPI_THREAD_SERIALIZED: the threads of a rank take turns through
// one mutex.
std::mutex& mpi_call_mutex() {
  static std::mutex m;
  return m;
}

class MpiCounter final : public SharedCounter {
 public:
  MpiCounter(int rank) {
    std::int64_t* base = nullptr;
    const MPI_Aint bytes = rank == 0 ? static_cast<MPI_Aint>(sizeof(std::int64_t)) : 0;
    check(MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &base, &window_));
    if (rank == 0) {
      check(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, window_));
      *base = 0;
      check(MPI_Win_unlock(0, window_));
    }
    check(MPI_Barrier(MPI_COMM_WORLD));  // nobody counts before rank 0 has set 0
    check(MPI_Win_lock_all(0, window_));
  }
  ~MpiCounter() override {
    // Collective: every rank is done counting once all have arrived here.
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
  }
  std::int64_t next() override {
    std::lock_guard lock(mpi_call_mutex());
    const std::int64_t one = 1;
    std::int64_t previous = 0;
    check(MPI_Fetch_and_op(&one, &previous, MPI_INT64_T, 0, 0, MPI_SUM, window_));
    check(MPI_Win_flush(0, window_));
    return previous;
  }

 private:
  MPI_Win window_ = MPI_WIN_NULL;
};

class MpiWorld final : public Communicator {
 public:
  explicit MpiWorld(bool threads_may_call) : threads_may_call_(threads_may_call) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<SharedCounter> shared_counter() const override {
    if (!threads_may_call_) return nullptr;
    return std::make_unique<MpiCounter>(rank_);
  }

  std::vector<std::string> allgather(std::string_view mine) const override {
    const std::uint64_t my_size = mine.size();
    std::vector<std::uint64_t> sizes(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&my_size, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD));
    // MPI counts are ints: one exchange carries at most 2 GiB in all.
    std::vector<int> counts(sizes.size()), displs(sizes.size());
    std::uint64_t total = 0;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      if (total + sizes[r] > static_cast<std::uint64_t>(INT_MAX))
        throw Error("MPI: one exchange between ranks would exceed 2 GiB");
      displs[r] = static_cast<int>(total);
      counts[r] = static_cast<int>(sizes[r]);
      total += sizes[r];
    }
    std::string all(total, '\0');
    check(MPI_Allgatherv(mine.data(), static_cast<int>(my_size), MPI_BYTE, all.data(), counts.data(), displs.data(),
                         MPI_BYTE, MPI_COMM_WORLD));
    std::vector<std::string> out;
    for (std::size_t r = 0; r < sizes.size(); ++r)
      out.push_back(all.substr(static_cast<std::size_t>(displs[r]), static_cast<std::size_t>(counts[r])));
    return out;
  }

 private:
  bool threads_may_call_;
  int rank_ = 0, size_ = 1;
};

}  // namespace
#endif

bool built_with_mpi() {
#ifdef LWD_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Session::Session([[maybe_unused]] int& argc, [[maybe_unused]] char**& argv) {
#ifdef LWD_MPI
  if (launched_by_mpi()) {
    // The collectives are called by the main thread only; a SharedCounter is
    // called by any thread of a rank, one at a time (MPI_THREAD_SERIALIZED).
    // A library that gives less gets no counter: work is dealt in fixed shares.
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw Error("MPI: initialisation failed");
    mpi_ = true;
    world_ = std::make_unique<MpiWorld>(provided >= MPI_THREAD_SERIALIZED);
    return;
  }
#endif
  world_ = std::make_unique<SingleProcess>();
}

Session::~Session() {
#ifdef LWD_MPI
  if (mpi_) MPI_Finalize();
#endif
}

void Session::abort(int status) const {
#ifdef LWD_MPI
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, status);
#endif
  std::exit(status);
}

}  // namespace lwd::dist
