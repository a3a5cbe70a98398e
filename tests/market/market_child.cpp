// The process the multi-process market tests start (test_market_crash,
// test_market_processes): it opens a market and makes changes or searches,
// as one of several processes on one market would, and is killed with
// SIGKILL -- by the test at a random moment, or by itself at a named store
// stage (StoreFaults), so a change dies exactly there: HDF5 file open for
// writing, index transaction open, staging folder in place, as a `kill -9`
// or a power cut would leave it.
//
//   market_child [--db URL] DIR add STAGE PACKAGE
//   market_child [--db URL] DIR update STAGE ID PACKAGE
//   market_child [--db URL] DIR delete STAGE ID
//   market_child [--db URL] DIR rebuild STAGE
//   market_child [--db URL] DIR add-forever - PACKAGE      (until killed)
//   market_child [--db URL] DIR churn OWNER SEED FOCUS LOG PACKAGE...
//       until killed: adds, updates and deletes of OWNER's own learnwares and
//       rebuilds, chosen at random from SEED (FOCUS "mixed"), or only one kind
//       ("add", "update", "delete", "rebuild"; an update or delete adds while
//       OWNER has nothing); kills itself at a store stage with probability
//       1/40 per stage (in a focused run 1/2, in that kind of change only).
//       LOG gets "begin OP [ID] [PACKAGE]"
//       before each change and "done OP ID [PACKAGE]" once it is stored.
//   market_child [--db URL] DIR adds LOG PACKAGE...       adds each; LOG gets "stored ID PACKAGE"
//   market_child [--db URL] DIR deletes PAUSE_MS ID...    deletes each, PAUSE_MS apart
//   market_child [--db URL] DIR searches SPEC STOP OUT
//       searches with the spec in SPEC until the file STOP exists, then once
//       more; OUT gets the number of searches, then the last answer
//       ("candidates N", one "single ID MMD2" per line)
//   market_child [--db URL] DIR see-new MODE SPEC
//       MODE "reads" (every read looks for changes) or "watch" (a watcher,
//       reads do not look). Searches with SPEC, prints "ready", then searches
//       until a usable learnware it had not seen shows up, and prints
//       "seen ID NS" (NS: the steady clock, nanoseconds).
//
// Exit status: 0 done (or the stage was never reached), 2 usage, 3 a change
// or search failed with an error (printed).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"

namespace {

// Appends one line with one write(2): whole, and kept when the process is
// killed right after.
void log_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw lwd::Error(path + ": cannot open the log");
  const std::string text = line + "\n";
  const bool whole = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!whole) throw lwd::Error(path + ": cannot write the log");
}

std::vector<std::string> own_ids(const lwd::Market& market, const std::string& owner) {
  std::vector<std::string> ids;
  for (const auto& record : market.list())
    if (record.owner == owner) ids.push_back(record.id);
  return ids;
}

int churn(lwd::Market& market, const std::string& owner, unsigned seed, const std::string& focus,
          const std::string& log, const std::vector<std::string>& packages) {
  std::mt19937 rng(seed);
  std::string op;
  // A focused run dies only in the kind of change it focuses on, and often:
  // a delete is over in milliseconds, and a kill from outside rarely finds one.
  const bool focused = focus != "mixed";
  market.set_store_faults(lwd::StoreFaults{[&](std::string_view) {
    if (focused && op != focus) return;
    if (rng() % (focused ? 2 : 40) == 0) std::raise(SIGKILL);
  }});
  auto any = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
  for (;;) {
    op = focus;
    if (focus == "mixed") {
      const unsigned roll = rng() % 100;
      op = roll < 50 ? "add" : roll < 72 ? "update" : roll < 96 ? "delete" : "rebuild";
    }
    const std::vector<std::string> mine = (op == "update" || op == "delete") ? own_ids(market, owner) : std::vector<std::string>{};
    if ((op == "update" || op == "delete") && mine.empty()) op = "add";
    if (op == "add") {
      const std::string package = any(packages);
      log_line(log, "begin add " + package);
      const auto added = market.add(package, owner);
      log_line(log, "done add " + added.id + " " + package);
    } else if (op == "update") {
      const std::string id = any(mine);
      const std::string package = any(packages);
      log_line(log, "begin update " + id + " " + package);
      market.update(id, package);
      log_line(log, "done update " + id + " " + package);
    } else if (op == "delete") {
      const std::string id = any(mine);
      log_line(log, "begin delete " + id);
      if (!market.remove(id)) throw lwd::Error("learnware " + id + " of " + owner + " was not there to delete");
      log_line(log, "done delete " + id);
    } else {
      log_line(log, "begin rebuild");
      market.rebuild_packs();
      log_line(log, "done rebuild -");
    }
  }
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int run(int argc, char** argv) {
  lwd::IndexUrls urls;
  int first = 1;
  if (argc > 2 && std::string_view(argv[1]) == "--db") {
    urls.db = argv[2];
    first = 3;
  }
  const std::vector<std::string> args(argv + first, argv + argc);
  if (args.size() < 3) {
    std::fprintf(stderr, "usage: market_child [--db URL] DIR OP ARGS...\n");
    return 2;
  }
  const std::string& dir = args[0];
  const std::string& op = args[1];
  // One thread: a kill must not depend on an OpenMP team's timing.
  lwd::Market market = lwd::Market::open(dir, {.n_threads = 1}, {}, urls);
  auto die_at = [&](const std::string& stage) {
    market.set_store_faults(lwd::StoreFaults{[stage](std::string_view at) {
      if (at == stage) std::raise(SIGKILL);
    }});
  };
  if (op == "add" && args.size() == 4) {
    die_at(args[2]);
    market.add(args[3], "crash");
  } else if (op == "update" && args.size() == 5) {
    die_at(args[2]);
    market.update(args[3], args[4]);
  } else if (op == "delete" && args.size() == 4) {
    die_at(args[2]);
    market.remove(args[3]);
  } else if (op == "rebuild" && args.size() == 3) {
    die_at(args[2]);
    market.rebuild_packs();
  } else if (op == "add-forever" && args.size() == 4) {
    for (;;) market.add(args[3], "crash");
  } else if (op == "churn" && args.size() >= 7) {
    return churn(market, args[2], static_cast<unsigned>(std::stoul(args[3])), args[4], args[5],
                 std::vector<std::string>(args.begin() + 6, args.end()));
  } else if (op == "adds" && args.size() >= 4) {
    for (std::size_t i = 3; i < args.size(); ++i) {
      const auto added = market.add(args[i], "adds");
      log_line(args[2], "stored " + added.id + " " + args[i]);
    }
  } else if (op == "deletes" && args.size() >= 4) {
    const auto pause = std::chrono::milliseconds(std::stoi(args[2]));
    for (std::size_t i = 3; i < args.size(); ++i) {
      std::this_thread::sleep_for(pause);
      if (!market.remove(args[i])) throw lwd::Error("learnware " + args[i] + " was not there to delete");
    }
  } else if (op == "searches" && args.size() == 5) {
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(args[2]);
    long searches = 0;
    lwd::SearchResponse last;
    for (bool stop = false; !stop;) {
      stop = std::filesystem::exists(args[3]);
      last = market.search(request);
      ++searches;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::string out = std::to_string(searches) + "\ncandidates " + std::to_string(last.stat.candidates) + "\n";
    for (const auto& single : last.stat.singles) {
      char mmd2[64];
      std::snprintf(mmd2, sizeof mmd2, "%.17g", single.mmd2);
      out += "single " + single.id + " " + mmd2 + "\n";
    }
    log_line(args[4], out.substr(0, out.size() - 1));
  } else if (op == "see-new" && args.size() == 4) {
    if (args[2] == "watch") {
      market.follow_changes({.check_before_reads = std::nullopt, .watch = true});
    } else if (args[2] != "reads") {
      std::fprintf(stderr, "market_child: see-new reads|watch\n");
      return 2;
    }
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(args[3]);
    const auto first_answer = market.search(request);
    const std::set<std::string> known(first_answer.semantic_ids.begin(), first_answer.semantic_ids.end());
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) {
      const auto answer = market.search(request);
      for (const auto& id : answer.semantic_ids) {
        if (!known.contains(id)) {
          std::printf("seen %s %lld\n", id.c_str(), static_cast<long long>(steady_ns()));
          std::fflush(stdout);
          return 0;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } else {
    std::fprintf(stderr, "market_child: bad arguments\n");
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market_child: %s\n", e.what());
    return 3;
  }
}
