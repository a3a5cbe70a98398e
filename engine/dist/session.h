// The ranks this process belongs to. lwdock's main() opens one Session for its
// whole run: under mpirun (or mpiexec) in a build with MPI (LW_MPI) it
// initialises MPI and world() is MPI_COMM_WORLD; otherwise -- a build without
// MPI, or lwdock started directly -- world() is this process alone and MPI is
// never initialised, so a plain run costs nothing for it.
#pragma once

#include "engine/dist/communicator.h"

namespace lwd::dist {

class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();  // finalises MPI if it was initialised
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Communicator& world() const { return *world_; }
  // Whether the process was started by mpirun and runs on MPI (also with one rank).
  bool mpi() const { return mpi_; }
  // Ends every rank with `status`: after a failure on some ranks, the others
  // may be waiting in a collective that will never complete.
  [[noreturn]] void abort(int status) const;

 private:
  bool mpi_ = false;
  std::unique_ptr<Communicator> world_;
};

// Whether this build can run on MPI (configured with LW_MPI).
bool built_with_mpi();
// Whether the environment says an MPI launcher started this process
// (Open MPI, MPICH / Hydra, PMIx).
bool launched_by_mpi();

}  // namespace lwd::dist
