// How soon a process that only searches sees another process's change
// (docs/DESIGN.md §7.6). This process is the writer: it adds a learnware to a
// market, waits until the searcher has seen it, deletes it again, waits, and
// so on, each change at a random moment (0-150 ms after the last was seen). The
// searcher is a second process started from this binary: it searches the
// market back to back (a table search of width 12, which compares every
// learnware) and reports each id that comes or goes. The latency of a change
// runs from the moment the writer's add() or remove() returned -- when the
// change was reported stored -- to the end of the first search whose answer
// shows it; it can be below zero, when a search ends between the commit and
// the writer hearing of it.
//
// With --reader list, the searcher reads market.list() back to back instead
// (after one search, so that it holds a pack to keep in step): what is left
// is the following itself, without a search's duration in it.
//
// Two ways of following (FollowOptions): `reads`, every read looks at the
// change counter first (the default); `watch`, a watcher thread waits on a
// connection of its own (PostgreSQL: LISTEN/NOTIFY; SQLite: the counter read
// every 100 ms) and reads do not look. Also measured, in this process: what
// a read's look costs (get() of one id, looking and not looking).
//
//   change_visibility --work DIR [--db URL] [--learnwares 100] [--changes 200]
//                     [--modes reads,watch] [--reader search|list] [-o results.json]
//
// --db names an empty database (or schema: ...?options=-csearch_path%3DNAME);
// without it the market keeps its index in its own SQLite file. The market is
// made anew in DIR/market each run.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "bench/synthetic_learnware.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

lwd::FollowOptions follow_options(const std::string& mode) {
  if (mode == "reads") return {};
  if (mode == "watch") return {.check_before_reads = std::nullopt, .watch = true};
  throw lwd::Error("unknown mode \"" + mode + "\" (reads or watch)");
}

// The searching process: prints "ready", then "+ ID NS" / "- ID NS" for every
// id that comes into or leaves the answer (NS: the steady clock when that
// read returned), until its stdin closes; then "search_ms P50" (of one read).
int searcher(const fs::path& dir, const std::string& mode, const std::string& db, const std::string& reader) {
  lwd::Market market = lwd::Market::open(dir, {.n_threads = 1}, {}, {db, ""});
  market.follow_changes(follow_options(mode));
  const lwd::SearchRequest request = lwd::bench::table_search_request();
  auto answer = market.search(request);
  std::set<std::string> known(answer.semantic_ids.begin(), answer.semantic_ids.end());
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<double> search_ms;
  for (;;) {
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (::poll(&in, 1, 0) > 0) break;  // the writer is done (end of file)
    const auto start = Clock::now();
    std::set<std::string> ids;
    if (reader == "list") {
      for (const auto& record : market.list()) ids.insert(record.id);
    } else {
      answer = market.search(request);
      ids.insert(answer.semantic_ids.begin(), answer.semantic_ids.end());
    }
    const std::int64_t done = now_ns();
    search_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    for (const auto& id : ids)
      if (!known.contains(id)) std::printf("+ %s %lld\n", id.c_str(), static_cast<long long>(done));
    for (const auto& id : known)
      if (!ids.contains(id)) std::printf("- %s %lld\n", id.c_str(), static_cast<long long>(done));
    std::fflush(stdout);
    known = ids;
  }
  std::sort(search_ms.begin(), search_ms.end());
  std::printf("search_ms %.3f\n", search_ms.empty() ? 0.0 : search_ms[search_ms.size() / 2]);
  return 0;
}

struct Searcher {
  pid_t pid = -1;
  int in = -1;   // its stdin: closing it ends the searcher
  int out = -1;  // its stdout
  std::string buffered;

  std::optional<std::string> line(Clock::time_point deadline) {
    for (;;) {
      if (const auto nl = buffered.find('\n'); nl != std::string::npos) {
        std::string line = buffered.substr(0, nl);
        buffered.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd readable{out, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffered.append(chunk, static_cast<std::size_t>(n));
    }
  }
};

Searcher start_searcher(const fs::path& dir, const std::string& mode, const std::string& db,
                        const std::string& reader) {
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) throw lwd::Error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
  std::vector<std::string> argv = {"/proc/self/exe", "--searcher", dir.string(), mode, db, reader};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  Searcher s;
  const int rc = ::posix_spawn(&s.pid, "/proc/self/exe", &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(to_child[0]);
  ::close(from_child[1]);
  if (rc != 0) throw lwd::Error("cannot start the searcher: " + std::string(std::strerror(rc)));
  s.in = to_child[1];
  s.out = from_child[0];
  if (s.line(Clock::now() + std::chrono::minutes(5)) != "ready") throw lwd::Error("the searcher did not start");
  return s;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Microseconds per get() of one id, with `options`.
double get_us(lwd::Market& market, const std::string& id, const lwd::FollowOptions& options) {
  market.follow_changes(options);
  constexpr int kCalls = 20000;
  for (int i = 0; i < 100; ++i) market.get(id);
  const auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) market.get(id);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kCalls;
}

std::string value_of(int& i, int argc, char** argv) {
  if (i + 1 >= argc) throw lwd::Error(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

int run(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--searcher") return searcher(argv[2], argv[3], argv[4], argv[5]);
  fs::path work;
  std::string db;
  std::int64_t learnwares = 100;
  int changes = 200;
  std::vector<std::string> modes = {"reads", "watch"};
  fs::path output;
  std::string reader = "search";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--work") {
      work = value_of(i, argc, argv);
    } else if (arg == "--db") {
      db = value_of(i, argc, argv);
    } else if (arg == "--learnwares") {
      learnwares = std::stoll(value_of(i, argc, argv));
    } else if (arg == "--changes") {
      changes = std::stoi(value_of(i, argc, argv));
    } else if (arg == "--modes") {
      modes.clear();
      std::stringstream list(value_of(i, argc, argv));
      for (std::string mode; std::getline(list, mode, ',');) modes.push_back(mode);
    } else if (arg == "--reader") {
      reader = value_of(i, argc, argv);
      if (reader != "search" && reader != "list") throw lwd::Error("--reader search or list");
    } else if (arg == "-o") {
      output = value_of(i, argc, argv);
    } else {
      throw lwd::Error("unknown argument " + arg +
                       "; usage: change_visibility --work DIR [--db URL] [--learnwares N] [--changes N] "
                       "[--modes reads,watch] [--reader search|list] [-o FILE]");
    }
  }
  if (work.empty()) throw lwd::Error("--work DIR is required");
  const fs::path dir = work / "market";
  const fs::path scratch = work / "packages";
  fs::remove_all(dir);
  fs::create_directories(scratch);

  lwd::Market market = lwd::Market::create(dir, {.n_threads = 1}, {}, {db, ""});
  std::fprintf(stderr, "change_visibility: a market of %lld learnwares in %s\n", static_cast<long long>(learnwares),
               dir.c_str());
  std::vector<fs::path> pool;
  for (std::int64_t i = 0; i < std::max<std::int64_t>(learnwares, 20); ++i) {
    const fs::path zip = scratch / ("bench-" + std::to_string(i) + ".zip");
    pool.push_back(fs::exists(zip) ? zip : lwd::bench::synthetic_package(scratch, i));
    if (i < learnwares) market.add(pool.back(), "bench");
  }
  pool.resize(20);

  nlohmann::json results = {{"backend", db.empty() ? "sqlite" : lwd::parse_index_url(db).backend ==
                                                                      lwd::ParsedIndexUrl::Backend::sqlite
                                                                  ? "sqlite"
                                                                  : "postgresql"},
                            {"learnwares", learnwares},
                            {"reader", reader},
                            {"changes", changes}};
  std::mt19937 rng(7);
  // Longer than the watcher's poll period, so that a change lands at any
  // moment of it, not just after the tick that showed the last one.
  std::uniform_int_distribution<int> pause_ms(0, 150);
  for (const auto& mode : modes) {
    Searcher searcher = start_searcher(dir, mode, db, reader);
    std::vector<double> latency_ms;
    std::string pending;
    for (int c = 0; c < changes; ++c) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
      std::string expected;
      if (pending.empty()) {
        pending = market.add(pool[static_cast<std::size_t>(c / 2) % pool.size()], "bench").id;
        expected = "+ " + pending;
      } else {
        if (!market.remove(pending)) throw lwd::Error("learnware " + pending + " was not there to delete");
        expected = "- " + pending;
        pending.clear();
      }
      const std::int64_t stored = now_ns();
      for (;;) {
        const auto line = searcher.line(Clock::now() + std::chrono::seconds(10));
        if (!line) throw lwd::Error(mode + ": the searcher did not see \"" + expected + "\" within 10 s");
        if (line->compare(0, expected.size() + 1, expected + " ") != 0) continue;
        const std::int64_t seen = std::stoll(line->substr(expected.size() + 1));
        latency_ms.push_back(static_cast<double>(seen - stored) / 1e6);
        break;
      }
    }
    ::close(searcher.in);
    double search_ms = 0.0;
    for (auto line = searcher.line(Clock::now() + std::chrono::seconds(30)); line;
         line = searcher.line(Clock::now() + std::chrono::seconds(30))) {
      if (line->rfind("search_ms ", 0) == 0) search_ms = std::stod(line->substr(10));
    }
    int status = 0;
    ::waitpid(searcher.pid, &status, 0);
    ::close(searcher.out);
    std::sort(latency_ms.begin(), latency_ms.end());
    const double p50 = percentile(latency_ms, 50);
    const double p99 = percentile(latency_ms, 99);
    std::printf("%-10s %-5s %5lld learnwares: latency p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  (%zu changes; "
                "one %s %.3f ms)\n",
                results["backend"].get<std::string>().c_str(), mode.c_str(), static_cast<long long>(learnwares), p50,
                p99, latency_ms.back(), latency_ms.size(), reader.c_str(), search_ms);
    results["modes"][mode] = {{"p50_ms", p50},
                              {"p99_ms", p99},
                              {"max_ms", latency_ms.back()},
                              {"min_ms", latency_ms.front()},
                              {"changes", latency_ms.size()},
                              {"read_p50_ms", search_ms}};
  }

  const std::string id = market.list().front().id;
  const double looking = get_us(market, id, {});
  const double not_looking = get_us(market, id, {.check_before_reads = std::nullopt});
  std::printf("%-10s a read's look at the change counter: %.2f us (get(): %.2f us looking, %.2f us not)\n",
              results["backend"].get<std::string>().c_str(), looking - not_looking, looking, not_looking);
  results["look_us"] = looking - not_looking;
  results["get_us"] = {{"looking", looking}, {"not_looking", not_looking}};
  if (!output.empty()) lwd::io::write_text_file_atomically(output, results.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "change_visibility: %s\n", e.what());
    return 1;
  }
}
