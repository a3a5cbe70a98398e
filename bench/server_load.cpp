// Load on the dock service on loopback only: lwdock-server started as a
// child process on a free port.
//
//   server_load --server BIN --market DIR [--learnwares N] [--width 32] [--spec RKME.json]
//               [--db URL] [--rates 10,25,50,100] [--seconds 10]
//               [--connections 32] [--http-threads 8] [--p99-target-ms 100]
//               [--find-max RATE] [--find-steps 5]
//               [--submissions N] [--workers W] [-o results.json]
//
// Searches, open loop: a fixed arrival rate, each request's latency measured
// from the moment it was due to be sent (so a server that falls behind shows
// it as latency, instead of the load generator slowing down with it). For
// each of --rates it sends rate x seconds searches (multipart, the spec file)
// over `connections` keep-alive connections and reports p50 / p99 / max and
// errors; --find-max RATE then looks for the highest rate whose p99 meets
// the target with no error (doubling from RATE until one fails, then
// bisecting --find-steps times). It also reports the server's overhead: the
// median of one search at a time over HTTP against the median of the same
// search through Market::search in this process.
//
// cpp-httplib serves a keep-alive connection on one of --http-threads
// threads for as long as it is open, so --connections above --http-threads
// leave connections waiting for a thread (their latency shows it): give
// --http-threads >= --connections (e.g. 200 and 200).
//
// --submissions N: N packages submitted at once by one logged-in user (an
// account the driver makes in the market's database), verified by the
// server's --workers; reports how many were accepted, verified usable, lost,
// and the time until the last was usable. --rates "" skips the searches.
//
// DIR without a market: one of --learnwares synthetic table learnwares
// (bench/synthetic_learnware.h, default 50) of --width features (default 32,
// K = 100) is made there; without --spec the search is bench's table search
// of that width. Submissions are synthetic learnwares of that width too.
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

#include "bench/synthetic_learnware.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "engine/store/sql_open.h"
#include "service/accounts.h"

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
  ServerProcess(const std::string& bin, const std::string& market, const std::string& db, int http_threads,
                int workers, int search_threads, const std::vector<std::string>& extra) {
    int err_pipe[2];
    if (::pipe(err_pipe) != 0) throw lwd::Error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    std::vector<std::string> args = {bin, "--market", market, "--listen", "127.0.0.1:0", "--access-log",
                                     "/dev/null", "--http-threads", std::to_string(http_threads), "--workers",
                                     std::to_string(workers), "--search-threads", std::to_string(search_threads)};
    if (!db.empty()) {
      args.push_back("--db");
      args.push_back(db);
    }
    args.insert(args.end(), extra.begin(), extra.end());
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
  std::map<int, std::int64_t> errors_by_status;  // 0: no reply (connection failed or timed out)
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // every request, refused ones too
  double ok_p50_ms = 0, ok_p99_ms = 0;        // the searches answered 200
  double achieved_rate = 0;
};

RateResult run_rate(int port, const std::string& spec_text, double rate, double seconds, int connections) {
  const auto total = static_cast<std::int64_t>(rate * seconds);
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> errors{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(connections));
  std::vector<std::map<int, std::int64_t>> failures(static_cast<std::size_t>(connections));
  std::vector<std::vector<double>> answered(static_cast<std::size_t>(connections));
  const auto period = std::chrono::duration<double>(1.0 / rate);
  // Every connection is opened (one /healthz each) before the clock starts,
  // so `connections` are open throughout.
  std::atomic<int> open{0};
  std::atomic<bool> go{false};
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      if (!client.Get("/healthz")) ++errors;
      ++open;
      while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const httplib::MultipartFormDataItems items = {{"spec", spec_text, "user.json", "application/json"}};
      for (std::int64_t i = next++; i < total; i = next++) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
        std::this_thread::sleep_until(due);
        const auto r = client.Post("/api/engine/search", items);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        if (!r || r->status != 200) {
          ++errors;
          ++failures[static_cast<std::size_t>(t)][r ? r->status : 0];
        } else {
          answered[static_cast<std::size_t>(t)].push_back(ms);
        }
        latencies[static_cast<std::size_t>(t)].push_back(ms);
      }
    });
  }
  while (open < connections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = Clock::now() + std::chrono::milliseconds(50);
  go = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  RateResult out;
  out.rate = rate;
  out.sent = total;
  out.errors = errors;
  for (const auto& f : failures)
    for (const auto& [status, n] : f) out.errors_by_status[status] += n;
  std::vector<double> ok;
  for (const auto& a : answered) ok.insert(ok.end(), a.begin(), a.end());
  out.ok_p50_ms = percentile(ok, 0.50);
  out.ok_p99_ms = percentile(ok, 0.99);
  out.p50_ms = percentile(all, 0.50);
  out.p99_ms = percentile(all, 0.99);
  out.max_ms = percentile(all, 1.0);
  out.achieved_rate = static_cast<double>(total) / elapsed;
  return out;
}

struct SubmissionResult {
  int submitted = 0;
  int accepted = 0;   // answered 202
  int usable = 0;
  int other = 0;      // done, but not usable
  int lost = 0;       // accepted, and not done (or not found) when the driver gave up
  std::map<int, int> refused_by_status;  // not 202: status (0: no reply) -> count
  std::string first_refusal;               // the first refusal's body
  double accept_seconds = 0;       // until the last 202
  double last_usable_seconds = 0;  // until the last became usable
};

// N packages submitted at once by one user; waits (at most `limit_s`) until
// every accepted one is done.
SubmissionResult run_submissions(int port, const std::string& market, const std::string& db, int n, std::int64_t width,
                                 double limit_s) {
  const std::string name = "bench-submitter";
  const std::string password = "bench submitter passphrase";
  {
    lwd::service::AccountStore store(
        [db, file = std::filesystem::path(market) / "index.sqlite"] { return lwd::open_database_connection(db, file); });
    if (!store.find_user_by_login(name)) store.create_user(name, name + "@example.org", password, lwd::service::Role::user);
  }
  httplib::Client login("127.0.0.1", port);
  const auto logged = login.Post("/api/auth/login", json{{"login", name}, {"password", password}}.dump(), "application/json");
  if (!logged || logged->status != 200) throw lwd::Error("cannot log in as " + name);
  const std::string token = json::parse(logged->body)["data"]["token"];
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};

  const std::filesystem::path work = std::filesystem::temp_directory_path() / ("server_load_packages_" + std::to_string(::getpid()));
  std::vector<std::string> packages;
  for (int i = 0; i < n; ++i) {
    std::ifstream in(lwd::bench::synthetic_package(work, 100000 + i, width), std::ios::binary);
    packages.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove_all(work);

  SubmissionResult out;
  out.submitted = n;
  std::vector<std::string> ids(static_cast<std::size_t>(n));
  std::vector<int> statuses(static_cast<std::size_t>(n), 0);
  std::vector<std::string> bodies(static_cast<std::size_t>(n));
  std::atomic<int> ready{0};
  const auto start = Clock::now() + std::chrono::milliseconds(300);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(120, 0);
      const httplib::MultipartFormDataItems items = {
          {"package", packages[static_cast<std::size_t>(i)], "bench.zip", "application/zip"}};
      ++ready;
      std::this_thread::sleep_until(start);
      const auto r = client.Post("/api/user/learnwares", auth, items);
      if (r && r->status == 202) ids[static_cast<std::size_t>(i)] = json::parse(r->body)["data"]["id"];
      statuses[static_cast<std::size_t>(i)] = r ? r->status : 0;
      if (r) bodies[static_cast<std::size_t>(i)] = r->body.substr(0, 300);
    });
  }
  for (auto& t : threads) t.join();
  out.accept_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::map<std::string, double> done_at;
  httplib::Client poll("127.0.0.1", port);
  for (const auto& id : ids) out.accepted += id.empty() ? 0 : 1;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].empty()) continue;
    ++out.refused_by_status[statuses[i]];
    if (out.first_refusal.empty()) out.first_refusal = bodies[i];
  }
  const auto give_up = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit_s));
  while (static_cast<int>(done_at.size()) < out.accepted && Clock::now() < give_up) {
    for (const auto& id : ids) {
      if (id.empty() || done_at.contains(id)) continue;
      const auto r = poll.Get("/api/user/submissions/" + id, auth);
      if (!r || r->status != 200) continue;
      const std::string status = json::parse(r->body)["data"]["status"];
      if (status == "waiting" || status == "processing") continue;
      done_at[id] = std::chrono::duration<double>(Clock::now() - start).count();
      if (status == "usable") {
        ++out.usable;
        out.last_usable_seconds = std::max(out.last_usable_seconds, done_at[id]);
      } else {
        ++out.other;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out.lost = out.accepted - static_cast<int>(done_at.size());
  return out;
}

json rate_json(const RateResult& r) {
  json by_status = json::object();
  for (const auto& [status, n] : r.errors_by_status) by_status[std::to_string(status)] = n;
  return {{"offered_per_s", r.rate}, {"achieved_per_s", r.achieved_rate}, {"sent", r.sent},
          {"errors", r.errors},      {"errors_by_status", by_status},     {"p50_ms", r.p50_ms},
          {"p99_ms", r.p99_ms},      {"max_ms", r.max_ms},                {"answered_p50_ms", r.ok_p50_ms},
          {"answered_p99_ms", r.ok_p99_ms}};
}

void print_rate(const RateResult& r) {
  std::printf("%7.1f searches/s offered (%7.1f achieved), %lld sent, %lld errors: p50 %7.1f ms, p99 %7.1f ms, max %7.1f ms\n",
              r.rate, r.achieved_rate, static_cast<long long>(r.sent), static_cast<long long>(r.errors), r.p50_ms,
              r.p99_ms, r.max_ms);
  if (r.errors > 0) std::printf("    answered 200: p50 %7.1f ms, p99 %7.1f ms\n", r.ok_p50_ms, r.ok_p99_ms);
  for (const auto& [status, n] : r.errors_by_status) {
    std::printf("    %lld errors: %s\n", static_cast<long long>(n),
                status == 0 ? "no reply (connection failed or timed out)" : ("HTTP " + std::to_string(status)).c_str());
  }
  std::fflush(stdout);
}

// A market of `n` synthetic table learnwares in `dir` (which has none).
void make_market(const std::string& dir, const std::string& db, int n, std::int64_t width) {
  std::fprintf(stderr, "server_load: making a market of %d synthetic learnwares of width %lld in %s\n", n,
               static_cast<long long>(width), dir.c_str());
  lwd::IndexUrls urls;
  urls.db = db;
  lwd::Market market = lwd::Market::create(dir, lwd::kernels::Context{.n_threads = 1}, {}, urls);
  const std::filesystem::path work = std::filesystem::path(dir) / "bench-packages";
  for (int i = 0; i < n; ++i) {
    const auto r = market.add(lwd::bench::synthetic_package(work, i, width));
    if ((i + 1) % 100 == 0) std::fprintf(stderr, "server_load: %d of %d learnwares\n", i + 1, n);
    if (r.status != lwd::LearnwareStatus::usable) throw lwd::Error("synthetic learnware not usable: " + r.reason);
  }
  std::filesystem::remove_all(work);
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--rates", "10,25,50,100"}, {"--seconds", "10"},
                                            {"--connections", "32"},      {"--http-threads", "8"},
                                            {"--p99-target-ms", "100"},   {"--db", ""},
                                            {"--learnwares", "50"},       {"--find-steps", "5"},
                                            {"--workers", "0"},           {"--submissions", "0"},
                                            {"--width", "32"},            {"--search-threads", "1"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: server_load --server BIN --market DIR [--learnwares 50] [--width 32] [--spec RKME.json]\n"
                  "                   [--db URL] [--search-threads 1] [--search-slots N] [--search-queue-ms MS]\n"
                  "                   [--rates 10,25,50,100] [--seconds 10] [--connections 32] [--http-threads 8]\n"
                  "                   [--p99-target-ms 100] [--find-max RATE] [--find-steps 5]\n"
                  "                   [--submissions N] [--workers W] [-o results.json]\n");
      return 0;
    }
    if (!opt.contains(key) && key != "--server" && key != "--market" && key != "--spec" && key != "--find-max" &&
        key != "--search-slots" && key != "--search-queue-ms" && key != "-o") {
      throw lwd::Error("unknown option " + key + " (see --help)");
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  for (const char* required : {"--server", "--market"})
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
  const std::int64_t width = std::stoll(opt["--width"]);
  const int search_threads = std::stoi(opt["--search-threads"]);
  std::vector<std::string> server_extra;  // the server's own defaults unless given
  for (const char* passed : {"--search-slots", "--search-queue-ms"}) {
    if (opt.contains(passed)) server_extra.insert(server_extra.end(), {passed, opt[passed]});
  }
  if (search_threads < 1 || search_threads > 256) throw lwd::Error("--search-threads: 1..256");
  if (width < 1 || width > 4096) throw lwd::Error("--width: 1..4096");
  if (!std::filesystem::exists(std::filesystem::path(opt["--market"]) / "market.h5")) {
    make_market(opt["--market"], opt["--db"], std::stoi(opt["--learnwares"]), width);
  }
  std::string spec_path = opt.contains("--spec") ? opt["--spec"] : "";
  if (spec_path.empty()) {
    spec_path = (std::filesystem::temp_directory_path() / ("server_load_spec_" + std::to_string(::getpid()) + ".json")).string();
    const lwd::StatSpec spec = lwd::bench::table_search_request(width).spec;
    spec.kind().save(spec, spec_path);
  }
  const std::string spec_text = read_file(spec_path);

  // The engine alone: the same search through Market::search, one at a time.
  lwd::IndexUrls db;
  db.db = opt["--db"];
  std::vector<double> engine_ms;
  std::vector<double> http_ms;
  std::size_t learnwares = 0;
  lwd::Market market = lwd::Market::open(opt["--market"], lwd::kernels::Context{.n_threads = search_threads}, {}, db);
  learnwares = market.list(lwd::LearnwareStatus::usable).size();
  ServerProcess server(opt["--server"], opt["--market"], opt["--db"], std::stoi(opt["--http-threads"]),
                       std::stoi(opt["--workers"]), search_threads, server_extra);
  {
    // The server's own cost: one search at a time, through Market::search in
    // this process and over HTTP in turn (engine, HTTP, engine, ...), so both
    // see the same moments of a shared machine; the first pair warms up.
    lwd::SearchRequest request;
    request.spec = lwd::load_stat_spec(spec_path);
    httplib::Client client("127.0.0.1", server.port());
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    const httplib::MultipartFormDataItems items = {{"spec", spec_text, "user.json", "application/json"}};
    for (int i = 0; i < 41; ++i) {
      auto t = Clock::now();
      (void)market.search(request);
      if (i > 0) engine_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
      t = Clock::now();
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
              {"http_threads", std::stoi(opt["--http-threads"])},
              {"search_threads", search_threads},
              {"backend", opt["--db"].rfind("postgresql://", 0) == 0 ? "postgresql" : "sqlite"},
              {"usable_learnwares", learnwares},
              {"spec", opt.contains("--spec") ? opt["--spec"] : "synthetic table search, width " + opt["--width"]},
              {"seconds", seconds},
              {"load_average_at_start", {load[0], load[1], load[2]}},
              {"rates", json::array()}};
  double best = 0;
  for (const double rate : rates) {
    const RateResult r = run_rate(server.port(), spec_text, rate, seconds, connections);
    print_rate(r);
    if (r.errors == 0 && r.p99_ms <= target) best = std::max(best, rate);
    out["rates"].push_back(rate_json(r));
  }
  if (!rates.empty()) {
    std::printf("highest offered rate with p99 <= %.0f ms and no error: %.1f searches/s\n", target, best);
    out["highest_rate_meeting_target_per_s"] = best;
  }
  out["p99_target_ms"] = target;
  if (opt.contains("--find-max")) {
    // Doubling from the given rate until one fails, then bisecting.
    double pass = 0, fail = 0;
    json tried = json::array();
    auto meets = [&](double rate) {
      const RateResult r = run_rate(server.port(), spec_text, rate, seconds, connections);
      print_rate(r);
      tried.push_back(rate_json(r));
      return r.errors == 0 && r.p99_ms <= target;
    };
    for (double rate = std::stod(opt["--find-max"]); rate <= 1e6; rate *= 2) {
      if (!meets(rate)) {
        fail = rate;
        break;
      }
      pass = rate;
    }
    for (int step = 0; step < std::stoi(opt["--find-steps"]) && fail > 0; ++step) {
      const double mid = pass > 0 ? (pass + fail) / 2 : fail / 2;
      if (mid < 0.5) break;
      (meets(mid) ? pass : fail) = mid;
    }
    std::printf("found: highest rate with p99 <= %.0f ms and no error: %.1f searches/s (%.1f failed)\n", target, pass,
                fail);
    out["find_max"] = {{"highest_passing_per_s", pass}, {"lowest_failing_per_s", fail}, {"tried", tried}};
  }
  if (const int n = std::stoi(opt["--submissions"]); n > 0) {
    if (std::stoi(opt["--workers"]) < 1) throw lwd::Error("--submissions needs --workers >= 1");
    const SubmissionResult r = run_submissions(server.port(), opt["--market"], opt["--db"], n, width, 1800.0);
    std::printf("%d submissions at once: %d accepted in %.2f s, %d usable, %d not usable, %d lost; last usable after "
                "%.2f s\n",
                r.submitted, r.accepted, r.accept_seconds, r.usable, r.other, r.lost, r.last_usable_seconds);
    json refused = json::object();
    for (const auto& [status, count] : r.refused_by_status) {
      std::printf("    %d refused with %s\n", count, status == 0 ? "no reply" : ("HTTP " + std::to_string(status)).c_str());
      refused[std::to_string(status)] = count;
    }
    if (!r.first_refusal.empty()) std::printf("    the first refusal: %s\n", r.first_refusal.c_str());
    out["submissions"] = {{"submitted", r.submitted},
                          {"accepted", r.accepted},
                          {"accept_seconds", r.accept_seconds},
                          {"usable", r.usable},
                          {"not_usable_or_invalid", r.other},
                          {"lost", r.lost},
                          {"workers", std::stoi(opt["--workers"])},
                          {"last_usable_seconds", r.last_usable_seconds},
                          {"refused_by_status", refused},
                          {"first_refusal", r.first_refusal}};
  }
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
