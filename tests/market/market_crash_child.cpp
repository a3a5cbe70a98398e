// The process test_market_crash kills: it opens a market and makes one change,
// raising SIGKILL at a named stage of the store (StoreFaults), so the change
// dies exactly there -- HDF5 file open for writing, index transaction open,
// staging folder in place -- as a `kill -9` or a power cut would leave it.
//
//   market_crash_child DIR add STAGE PACKAGE
//   market_crash_child DIR update STAGE ID PACKAGE
//   market_crash_child DIR delete STAGE ID
//   market_crash_child DIR rebuild STAGE
//   market_crash_child DIR add-forever - PACKAGE    (until killed from outside)
//
// Exit status: 0 the change completed (the stage was never reached), 2 usage,
// 3 the change failed with an error (printed).
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include "engine/market/market.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: market_crash_child DIR OP STAGE [ARGS...]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string op = argv[2];
  const std::string stage = argv[3];
  try {
    // One thread: the kill must not depend on an OpenMP team's timing.
    lwd::Market market = lwd::Market::open(dir, {.n_threads = 1});
    market.set_store_faults(lwd::StoreFaults{[stage](std::string_view at) {
      if (at == stage) std::raise(SIGKILL);
    }});
    if (op == "add" && argc == 5) {
      market.add(argv[4], "crash");
    } else if (op == "update" && argc == 6) {
      market.update(argv[4], argv[5]);
    } else if (op == "delete" && argc == 5) {
      market.remove(argv[4]);
    } else if (op == "rebuild" && argc == 4) {
      market.rebuild_packs();
    } else if (op == "add-forever" && argc == 5) {
      for (;;) market.add(argv[4], "crash");
    } else {
      std::fprintf(stderr, "market_crash_child: bad arguments\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market_crash_child: %s\n", e.what());
    return 3;
  }
  return 0;
}
