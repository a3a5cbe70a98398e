// Open-loop load on the dock service's search route, on loopback only: a
// fixed arrival rate, each request's latency measured from the moment it was
// due to be sent (so a server that falls behind shows it as latency, instead
// of the load generator slowing down with it), bounded in count and time.
//
//   server_load --server BIN --market DIR --spec RKME.json [--db URL]
//               [--rates 10,25,50,100] [--seconds 10] [--connections 32]
//               [--http-threads 8] [--p99-target-ms 100] [-o results.json]
//
// It starts BIN (lwdock-server) on 127.0.0.1 at a free port, and for each rate
// sends rate x seconds searches (multipart, the spec file) over `connections`
// keep-alive connections; then reports p50 / p99 / max latency and errors,
// the highest rate whose p99 met the target with no error, and the server's
// overhead: the median latency of one search at a time over HTTP against the
// median of the same search through Market::search in this process.
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw lwd::Error(path + ": cannot read");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The server as a child process on a free port; killed when this goes.
class ServerProcess {
 public:
  ServerProcess(const std::string& bin, const std::string& market, const std::string& db, int http_threads) {
    int err_pipe[2];
    if (::pipe(err_pipe) != 0) throw lwd::Error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    std::vector<std::string> args = {bin, "--market", market, "--listen", "127.0.0.1:0", "--access-log",
                                     "/dev/null", "--http-threads", std::to_string(http_threads), "--workers", "0"};
    if (!db.empty()) {
      args.push_back("--db");
      args.push_back(db);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int err = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(err_pipe[1]);
    if (err != 0) throw lwd::Error(bin + ": cannot start: " + std::strerror(err));
    std::string banner;
    char c = 0;
    while (banner.find('\n') == std::string::npos && ::read(err_pipe[0], &c, 1) == 1) banner += c;
    ::close(err_pipe[0]);
    const auto at = banner.find("127.0.0.1:");
    if (at == std::string::npos) throw lwd::Error("the server did not start: " + banner);
    port_ = std::stoi(banner.substr(at + 10));
  }
  ~ServerProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

struct RateResult {
  double rate = 0;
  std::int64_t sent = 0;
  std::int64_t errors = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double achieved_rate = 0;
};

RateResult run_rate(int port, const std::string& spec_text, double rate, double seconds, int connections) {
  const auto total = static_cast<std::int64_t>(rate * seconds);
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(connections));
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto period = std::chrono::duration<double>(1.0 / rate);
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      const httplib::MultipartFormDataItems items = {{"spec", spec_text, "user.json", "application/json"}};
      for (std::int64_t i = next++; i < total; i = next++) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
        std::this_thread::sleep_until(due);
        const auto r = client.Post("/api/engine/search", items);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        if (!r || r->status != 200) ++errors;
        latencies[static_cast<std::size_t>(t)].push_back(ms);
      }
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  RateResult out;
  out.rate = rate;
  out.sent = total;
  out.errors = errors;
  out.p50_ms = percentile(all, 0.50);
  out.p99_ms = percentile(all, 0.99);
  out.max_ms = percentile(all, 1.0);
  out.achieved_rate = static_cast<double>(total) / elapsed;
  return out;
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--rates", "10,25,50,100"}, {"--seconds", "10"},
                                            {"--connections", "32"},      {"--http-threads", "8"},
                                            {"--p99-target-ms", "100"},   {"--db", ""}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: server_load --server BIN --market DIR --spec RKME.json [--db URL] [--rates 10,25,50,100]\n"
                  "                   [--seconds 10] [--connections 32] [--http-threads 8] [--p99-target-ms 100]\n"
                  "                   [-o results.json]\n");
      return 0;
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  for (const char* required : {"--server", "--market", "--spec"})
    if (!opt.contains(required)) throw lwd::Error(std::string(required) + " is required (see --help)");
  std::vector<double> rates;
  {
    std::stringstream in(opt["--rates"]);
    std::string item;
    while (std::getline(in, item, ',')) rates.push_back(std::stod(item));
  }
  const double seconds = std::stod(opt["--seconds"]);
  const int connections = std::stoi(opt["--connections"]);
  const double target = std::stod(opt["--p99-target-ms"]);
  if (seconds <= 0 || seconds > 600) throw lwd::Error("--seconds: 0 < s <= 600");
  if (connections < 1 || connections > 1024) throw lwd::Error("--connections: 1..1024");
  const std::string spec_text = read_file(opt["--spec"]);

  // The engine alone: the same search through Market::search, one at a time.
  lwd::IndexUrls db;
  db.db = opt["--db"];
  std::vector<double> engine_ms;
  {
    lwd::Market market = lwd::Market::open(opt["--market"], lwd::kernels::Context{.n_threads = 1}, {}, db);
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(opt["--spec"]);
    for (int i = 0; i < 31; ++i) {
      const auto t = Clock::now();
      (void)market.search(request);
      if (i > 0) engine_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
  }

  ServerProcess server(opt["--server"], opt["--market"], opt["--db"], std::stoi(opt["--http-threads"]));
  // One search at a time over HTTP (closed loop): the server's own cost.
  std::vector<double> http_ms;
  {
    httplib::Client client("127.0.0.1", server.port());
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    const httplib::MultipartFormDataItems items = {{"spec", spec_text, "user.json", "application/json"}};
    for (int i = 0; i < 31; ++i) {
      const auto t = Clock::now();
      const auto r = client.Post("/api/engine/search", items);
      if (!r || r->status != 200) throw lwd::Error("a search over HTTP failed");
      if (i > 0) http_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
  }
  const double engine_median = percentile(engine_ms, 0.5);
  const double http_median = percentile(http_ms, 0.5);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("one search at a time: engine %.2f ms, over HTTP %.2f ms (ratio %.2f)\n", engine_median, http_median,
              http_median / engine_median);
  json out = {{"engine_median_ms", engine_median},
              {"http_median_ms", http_median},
              {"http_over_engine", http_median / engine_median},
              {"connections", connections},
              {"seconds", seconds},
              {"load_average_at_start", {load[0], load[1], load[2]}},
              {"rates", json::array()}};
  double best = 0;
  for (const double rate : rates) {
    const RateResult r = run_rate(server.port(), spec_text, rate, seconds, connections);
    std::printf("%7.1f searches/s offered (%7.1f achieved), %lld sent, %lld errors: p50 %7.1f ms, p99 %7.1f ms, max %7.1f ms\n",
                r.rate, r.achieved_rate, static_cast<long long>(r.sent), static_cast<long long>(r.errors), r.p50_ms,
                r.p99_ms, r.max_ms);
    std::fflush(stdout);
    if (r.errors == 0 && r.p99_ms <= target) best = std::max(best, rate);
    out["rates"].push_back({{"offered_per_s", r.rate},
                            {"achieved_per_s", r.achieved_rate},
                            {"sent", r.sent},
                            {"errors", r.errors},
                            {"p50_ms", r.p50_ms},
                            {"p99_ms", r.p99_ms},
                            {"max_ms", r.max_ms}});
  }
  std::printf("highest offered rate with p99 <= %.0f ms and no error: %.1f searches/s\n", target, best);
  out["highest_rate_meeting_target_per_s"] = best;
  out["p99_target_ms"] = target;
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "server_load: %s\n", e.what());
    return 1;
  }
}
