// Several writer processes on one market, and what one change costs as the
// market grows, on SQLite and on PostgreSQL:
//
//  1. submissions per second: W writer processes (1, 2, 4) each submit
//     --adds packages (Market::add: staging, the checker's probe of the
//     model, the store's package copy, HDF5 append and index commit) into a
//     market that already holds --base learnwares. Each writer opens the
//     market first and starts at one agreed moment; the rate is all
//     submissions over the span from the first start to the last finish.
//  2. the cost of one Market::update and one Market::remove (medians of
//     --repeats, each on a learnware picked at random) in a market grown to
//     each of --sizes, in the process that makes it and in a second market
//     on the same directory (a searching process: it has searched, so it
//     holds the packs) when it catches up at its next read: flat across
//     sizes is the claim.
//
//   market_writers --work DIR [--pg-url URL] [--writers 1,2,4] [--base 1100]
//                  [--adds 25] [--sizes 100,1100,10000] [--repeats 9]
//                  [--backends sqlite,postgresql] [-o results.json]
//
// --pg-url is a database the driver may create schemas in (one per market,
// dropped at the end), e.g. the URL scripts/pg-test-cluster.sh writes. That
// server runs with fsync=off, SQLite here with its default synchronous=FULL
// in WAL mode: compare each backend with itself across writer counts and
// sizes, not the two backends' absolute rates with each other.
//
// The writers are this program again (--child-add, internal).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/synthetic_learnware.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/market.h"
#include "engine/store/postgres_index.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Packages are drawn from a pool of this many distinct synthetic learnwares
// (building one costs an RKME fit); learnware i gets pool[i % size].
constexpr std::int64_t kPoolSize = 64;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::vector<std::int64_t> parse_list(const std::string& option, const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      out.push_back(std::stoll(item));
    } catch (const std::exception&) {
      throw lwd::Error(option + ": \"" + item + "\" is not a number");
    }
    if (out.back() <= 0) throw lwd::Error(option + ": give positive numbers");
  }
  if (out.empty()) throw lwd::Error(option + ": give a comma-separated list");
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

fs::path pool_package(const fs::path& pool, std::int64_t i) { return pool / ("bench-" + std::to_string(i % kPoolSize) + ".zip"); }

void build_pool(const fs::path& pool) {
  fs::create_directories(pool);
  for (std::int64_t i = 0; i < kPoolSize; ++i) {
    if (!fs::exists(pool_package(pool, i))) lwd::bench::synthetic_package(pool, i);
  }
}

// One market, in a directory of its own and, on PostgreSQL, a schema of its own.
struct MarketPlace {
  fs::path dir;
  lwd::IndexUrls db;
  std::string pg_base;  // non-empty on PostgreSQL: the schema is dropped with it
  std::string schema;

  ~MarketPlace() {
    if (!schema.empty()) {
      try {
        lwd::open_postgres_connection(pg_base, lwd::IndexAccess::read_write)->run("DROP SCHEMA " + schema + " CASCADE");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "market_writers: cannot drop schema %s: %s\n", schema.c_str(), e.what());
      }
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::unique_ptr<MarketPlace> new_place(const fs::path& work, const std::string& backend, const std::string& pg_url,
                                       const std::string& name) {
  auto place = std::make_unique<MarketPlace>();
  place->dir = work / ("market-" + backend + "-" + name);
  fs::remove_all(place->dir);
  if (backend == "postgresql") {
    place->pg_base = pg_url;
    place->schema = "lwd_bench_" + name;
    auto connection = lwd::open_postgres_connection(pg_url, lwd::IndexAccess::read_write);
    connection->run("DROP SCHEMA IF EXISTS " + place->schema + " CASCADE");
    connection->run("CREATE SCHEMA " + place->schema);
    place->db.db = pg_url + (pg_url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
                   place->schema;
  }
  lwd::Market::create(place->dir, lwd::kernels::Context{.n_threads = 1}, {}, place->db);
  return place;
}

// Adds learnwares until the market holds `size`; returns the market's count.
void grow(lwd::Market& market, std::int64_t size, const fs::path& pool, const std::string& label) {
  auto count = static_cast<std::int64_t>(market.list().size());
  const auto from = count;
  const auto start = Clock::now();
  for (; count < size; ++count) {
    const auto r = market.add(pool_package(pool, count), "bench");
    if (r.status != lwd::LearnwareStatus::usable) throw lwd::Error("synthetic learnware not usable: " + r.reason);
    if ((count + 1) % 500 == 0) {
      std::fprintf(stderr, "market_writers: %s: %lld of %lld learnwares\n", label.c_str(),
                   static_cast<long long>(count + 1), static_cast<long long>(size));
    }
  }
  if (size > from) {
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::fprintf(stderr, "market_writers: %s: grown to %lld learnwares in %.1f s\n", label.c_str(),
                 static_cast<long long>(size), s);
  }
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& out) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) throw lwd::Error(argv[0] + ": cannot start: " + std::strerror(err));
  return pid;
}

// --child-add DIR DB FIRST N START_NS POOL: opens the market, waits for the
// agreed moment, submits N packages, prints "start_ns end_ns".
int child_add(char** argv) {
  const fs::path dir = argv[0];
  lwd::IndexUrls db;
  db.db = std::string(argv[1]) == "-" ? "" : argv[1];
  const std::int64_t first = std::stoll(argv[2]);
  const std::int64_t n = std::stoll(argv[3]);
  const std::int64_t start_at = std::stoll(argv[4]);
  const fs::path pool = argv[5];
  lwd::Market market = lwd::Market::open(dir, lwd::kernels::Context{.n_threads = 1}, {}, db);
  while (now_ns() < start_at) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const std::int64_t start = now_ns();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto r = market.add(pool_package(pool, first + i), "writer");
    if (r.status != lwd::LearnwareStatus::usable) throw lwd::Error("synthetic learnware not usable: " + r.reason);
  }
  std::printf("%lld %lld\n", static_cast<long long>(start), static_cast<long long>(now_ns()));
  return 0;
}

nlohmann::json measure_writers(const fs::path& self, const fs::path& work, const fs::path& pool,
                               const std::string& backend, const std::string& pg_url, std::int64_t writers,
                               std::int64_t base, std::int64_t adds) {
  const std::string name = "w" + std::to_string(writers);
  auto place = new_place(work, backend, pg_url, name);
  {
    lwd::Market market = lwd::Market::open(place->dir, lwd::kernels::Context{.n_threads = 1}, {}, place->db);
    grow(market, base, pool, backend + " " + name);
  }
  // Every writer opens the market (process start, the table, market.h5's
  // attributes) before the agreed moment, two seconds from now, plus one
  // per writer on a loaded machine.
  const std::int64_t start_at = now_ns() + (2 + writers) * 1'000'000'000LL;
  std::vector<pid_t> pids;
  std::vector<fs::path> outs;
  for (std::int64_t w = 0; w < writers; ++w) {
    outs.push_back(work / (name + "-writer-" + std::to_string(w) + ".txt"));
    pids.push_back(spawn({self.string(), "--child-add", place->dir.string(), place->db.db.empty() ? "-" : place->db.db,
                          std::to_string(base + w * adds), std::to_string(adds), std::to_string(start_at),
                          pool.string()},
                         outs.back()));
  }
  bool ok = true;
  for (const pid_t pid : pids) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  if (!ok) throw lwd::Error(backend + ": a writer process failed (its error is above)");
  std::int64_t first_start = 0;
  std::int64_t last_end = 0;
  for (const auto& out : outs) {
    std::ifstream in(out);
    long long start = 0;
    long long end = 0;
    if (!(in >> start >> end)) throw lwd::Error(out.string() + ": a writer reported no times");
    first_start = first_start == 0 ? start : std::min<std::int64_t>(first_start, start);
    last_end = std::max<std::int64_t>(last_end, end);
  }
  const double seconds = static_cast<double>(last_end - first_start) * 1e-9;
  const std::int64_t total = writers * adds;
  // Every submission landed, once each.
  lwd::Market market = lwd::Market::open(place->dir, lwd::kernels::Context{.n_threads = 1}, {}, place->db);
  const auto stored = static_cast<std::int64_t>(market.list().size());
  if (stored != base + total) {
    throw lwd::Error(backend + ": " + std::to_string(stored) + " learnwares after the writers, expected " +
                     std::to_string(base + total));
  }
  const double rate = static_cast<double>(total) / seconds;
  std::printf("%-10s  %lld writer(s) x %lld submissions into %lld: %7.1f submissions/s  (%.2f s)\n", backend.c_str(),
              static_cast<long long>(writers), static_cast<long long>(adds), static_cast<long long>(base), rate,
              seconds);
  std::fflush(stdout);
  return {{"backend", backend},  {"writers", writers}, {"submissions", total},
          {"base", base},        {"seconds", seconds}, {"submissions_per_s", rate}};
}

// Where one change's time goes: the store's stage hook marks each step of
// the change (engine/store/market_store.h), so a change splits into the
// spans between marks, named after the step each span ends at ("to
// append_h5": everything before the HDF5 append, from staging the package
// and running the checker to copying it into packages/; "to return": after
// the commit, keeping memory in step).
class StageClock {
 public:
  void start() {
    marks_.clear();
    last_ = Clock::now();
  }
  void mark(std::string_view stage) {
    const auto now = Clock::now();
    if (marks_.size() >= 64) marks_.clear();  // changes no start() began (grow()'s adds)
    marks_.emplace_back("to " + std::string(stage), 1e3 * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  void finish(std::map<std::string, std::vector<double>>& into) {
    mark("return");
    for (const auto& [span, ms] : marks_) into[span].push_back(ms);
  }

 private:
  std::vector<std::pair<std::string, double>> marks_;
  Clock::time_point last_;
};

nlohmann::json span_medians(const std::map<std::string, std::vector<double>>& spans) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [span, ms] : spans) out[span] = median(ms);
  return out;
}

void print_spans(const char* what, const std::map<std::string, std::vector<double>>& spans) {
  std::printf("    %s:", what);
  for (const auto& [span, ms] : spans) std::printf("  %s %.3f", span.c_str(), median(ms));
  std::printf("  (ms, medians)\n");
}

nlohmann::json measure_change_costs(const fs::path& work, const fs::path& pool, const std::string& backend,
                                    const std::string& pg_url, const std::vector<std::int64_t>& sizes,
                                    std::int64_t repeats) {
  nlohmann::json rows = nlohmann::json::array();
  auto place = new_place(work, backend, pg_url, "sizes");
  lwd::Market market = lwd::Market::open(place->dir, lwd::kernels::Context{.n_threads = 1}, {}, place->db);
  std::mt19937_64 rng(7);
  std::int64_t next_package = 0;
  StageClock stages;  // marks the changes of grow() too, cleared by each start()
  market.set_store_faults({.before_stage = [&stages](std::string_view stage) { stages.mark(stage); }});
  for (const std::int64_t size : sizes) {
    grow(market, size, pool, backend + " sizes");
    next_package = size;
    // Both processes' sides of a change: `market` makes it, `follower` (a
    // second market on the same directory and database, as a searching
    // process holds it) catches up with it at its next read. Each has
    // searched once, so each holds the packs in memory that a change must
    // keep in step.
    (void)market.search(lwd::bench::table_search_request());
    lwd::Market follower = lwd::Market::open(place->dir, lwd::kernels::Context{.n_threads = 1}, {}, place->db);
    (void)follower.search(lwd::bench::table_search_request());
    std::vector<double> update_ms;
    std::vector<double> remove_ms;
    std::vector<double> follow_update_ms;
    std::vector<double> follow_remove_ms;
    std::map<std::string, std::vector<double>> update_spans;
    std::map<std::string, std::vector<double>> remove_spans;
    auto follow = [&](std::vector<double>& into) {
      const auto start = Clock::now();
      (void)follower.get("none");  // a read: it catches up first
      into.push_back(1e3 * std::chrono::duration<double>(Clock::now() - start).count());
    };
    for (std::int64_t r = 0; r < repeats; ++r) {
      auto ids = market.list(lwd::LearnwareStatus::usable);
      const std::string id = ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(rng)].id;
      auto start = Clock::now();
      stages.start();
      market.update(id, pool_package(pool, next_package++));
      update_ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - start).count());
      stages.finish(update_spans);
      follow(follow_update_ms);
      start = Clock::now();
      stages.start();
      if (!market.remove(id)) throw lwd::Error("cannot remove " + id);
      remove_ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - start).count());
      stages.finish(remove_spans);
      follow(follow_remove_ms);
      stages.start();
      market.add(pool_package(pool, next_package++), "bench");  // back to `size` learnwares
      (void)follower.get("none");
    }
    const double u = median(update_ms);
    const double d = median(remove_ms);
    const double fu = median(follow_update_ms);
    const double fd = median(follow_remove_ms);
    std::printf(
        "%-10s  %6lld learnwares: update %7.2f ms  delete %7.2f ms; a searching process follows them in %6.3f / "
        "%6.3f ms  (medians of %lld)\n",
        backend.c_str(), static_cast<long long>(size), u, d, fu, fd, static_cast<long long>(repeats));
    print_spans("update", update_spans);
    print_spans("delete", remove_spans);
    std::fflush(stdout);
    rows.push_back({{"backend", backend},
                    {"learnwares", size},
                    {"update_median_ms", u},
                    {"delete_median_ms", d},
                    {"follow_update_median_ms", fu},
                    {"follow_delete_median_ms", fd},
                    {"update_span_medians_ms", span_medians(update_spans)},
                    {"delete_span_medians_ms", span_medians(remove_spans)},
                    {"repeats", repeats}});
  }
  market.set_store_faults({});
  return rows;
}

int run(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--child-add") {
    if (argc != 8) throw lwd::Error("--child-add: DIR DB FIRST N START_NS POOL");
    return child_add(argv + 2);
  }
  std::map<std::string, std::string> opt = {{"--writers", "1,2,4"}, {"--base", "1100"},  {"--adds", "25"},
                                            {"--sizes", "100,1100,10000"}, {"--repeats", "9"},
                                            {"--backends", "sqlite,postgresql"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: market_writers --work DIR [--pg-url URL] [--writers 1,2,4] [--base 1100] [--adds 25]\n"
                  "                      [--sizes 100,1100,10000] [--repeats 9] [--backends sqlite,postgresql]\n"
                  "                      [-o results.json]\n");
      return 0;
    }
    if (!opt.contains(key) && key != "--work" && key != "--pg-url" && key != "-o") {
      throw lwd::Error("unknown option " + key + " (see --help)");
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  if (!opt.contains("--work")) throw lwd::Error("--work is required (see --help)");
  std::vector<std::string> backends;
  {
    std::stringstream in(opt["--backends"]);
    std::string item;
    while (std::getline(in, item, ',')) {
      if (item != "sqlite" && item != "postgresql") throw lwd::Error("--backends: sqlite or postgresql, not " + item);
      backends.push_back(item);
    }
  }
  const bool wants_pg = std::find(backends.begin(), backends.end(), "postgresql") != backends.end();
  if (wants_pg && !opt.contains("--pg-url")) {
    throw lwd::Error("--pg-url is required for PostgreSQL (or --backends sqlite)");
  }
  const fs::path work = fs::absolute(opt["--work"]);
  const fs::path pool = work / "pool";
  std::fprintf(stderr, "market_writers: building %lld synthetic packages in %s\n", static_cast<long long>(kPoolSize),
               pool.c_str());
  build_pool(pool);
  const auto writer_counts = parse_list("--writers", opt["--writers"]);
  const auto sizes = parse_list("--sizes", opt["--sizes"]);
  if (!std::is_sorted(sizes.begin(), sizes.end())) throw lwd::Error("--sizes: give ascending sizes");
  const std::int64_t base = parse_list("--base", opt["--base"]).front();
  const std::int64_t adds = parse_list("--adds", opt["--adds"]).front();
  const std::int64_t repeats = parse_list("--repeats", opt["--repeats"]).front();
  const fs::path self = fs::read_symlink("/proc/self/exe");

  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  nlohmann::json out = {{"load_average_at_start", {load[0], load[1], load[2]}},
                        {"writers", nlohmann::json::array()},
                        {"change_costs", nlohmann::json::array()}};
  for (const auto& backend : backends) {
    const std::string pg = backend == "postgresql" ? opt["--pg-url"] : "";
    for (const std::int64_t w : writer_counts) out["writers"].push_back(measure_writers(self, work, pool, backend, pg, w, base, adds));
    for (auto& row : measure_change_costs(work, pool, backend, pg, sizes, repeats)) out["change_costs"].push_back(row);
  }
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market_writers: %s\n", e.what());
    return 1;
  }
}
