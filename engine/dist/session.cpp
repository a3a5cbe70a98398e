#include "engine/dist/session.h"

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/error.h"

#ifdef LWD_MPI
#include <mpi.h>
#endif

namespace lwd::dist {

#ifdef LWD_MPI
namespace {

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

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
  // MPI_COMM_WORLD's default error handler aborts every rank; a code that
  // comes back anyway is an error of this rank.
  static void check(int code) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw Error("MPI: " + std::string(text, static_cast<std::size_t>(length)));
  }
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
    // Only the main thread calls MPI; OpenMP threads inside a rank never do.
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw Error("MPI: initialisation failed");
    mpi_ = true;
    world_ = std::make_unique<MpiWorld>();
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
