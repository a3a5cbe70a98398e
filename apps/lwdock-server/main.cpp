// lwdock-server: the dock service's program, what `lwdock serve` runs (the
// command line hands its arguments over with exec, so that the HTTP library
// and its TLS and compression libraries are loaded only by the server, not by
// every short command). Every failure to start is one line on stderr,
// "lwdock serve: error: ...", and a non-zero exit status.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/io/json_text.h"
#include "service/dock_service.h"
#include "service/http_server.h"

namespace {

struct ServeOptions {
  std::string market;
  std::string db;
  std::string read_db;
  std::string listen = "127.0.0.1:8080";
  int http_threads = 8;
  int workers = 1;
  bool no_http = false;
  double job_deadline_seconds = 120.0;
  double lease_seconds = 60.0;
  int max_attempts = 3;
  int search_threads = 1;
  int search_slots = 0;
  int search_queue_ms = 500;
  std::string access_log;
  std::uint64_t max_body_mib = 64;
  // Accounts (docs/DESIGN.md §6.9).
  std::string registration = "closed";
  std::vector<std::string> registration_email_patterns;
  double session_hours = 24;
  int client_token_days = 90;
  std::int64_t login_limit_per_address = 30;
  std::int64_t login_limit_per_account = 10;
  std::int64_t register_limit_per_address = 5;
  std::int64_t rate_window_seconds = 300;
  std::uint64_t max_package_mib = 1024;
  double download_link_seconds = 300;
  int admission_nearest = 3;
  double refuse_duplicates_within = -1;  // < 0: not given
  std::string web_root;  // empty: the installed pages, or the build tree's
  bool no_web = false;
};

// HOST:PORT (an IPv4 address or name, then a port 0..65535; 0: any free one).
std::pair<std::string, int> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw lwd::Error("--listen \"" + text + "\": write HOST:PORT, e.g. 127.0.0.1:8080");
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw lwd::Error("--listen \"" + text + "\": the port must be 0..65535");
  return {text.substr(0, colon), port};
}

// Keys of a --config file (JSON) are the long options without the leading
// dashes ('_' may stand for '-': "registration_email_patterns"); an array
// gives a list option its values; options on the command line win.
void apply_config_file(const std::string& path, CLI::App& app) {
  std::ifstream in(path);
  if (!in) throw lwd::Error(path + ": cannot read the configuration file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json config = lwd::io::parse_json(text, path);
  if (!config.is_object()) throw lwd::Error(path + ": the configuration must be a JSON object");
  for (const auto& [raw_key, value] : config.items()) {
    std::string key = raw_key;
    for (char& c : key)
      if (c == '_') c = '-';
    CLI::Option* option = nullptr;
    try {
      option = app.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      throw lwd::Error(path + ": unknown key \"" + key + "\"");
    }
    if (key == "config") throw lwd::Error(path + ": a configuration file cannot name another");
    if (option->count() > 0) continue;  // given on the command line
    const auto as_text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    option->clear();
    if (value.is_array()) {
      for (const auto& item : value) option->add_result(as_text(item));
    } else {
      option->add_result(as_text(value));
    }
    option->run_callback();
  }
}

int serve(const ServeOptions& o) {
  // SIGTERM and SIGINT are taken by one thread (sigwait), never by a handler
  // in the middle of a request: it stops the server gracefully. Blocked
  // before any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto [host, port] = parse_listen(o.listen);
  lwd::service::DockConfig dock;
  dock.market_dir = o.market;
  dock.db = {o.db, o.read_db};
  dock.ctx.n_threads = o.search_threads;
  dock.search_slots = o.search_slots;
  dock.search_queue_wait = std::chrono::milliseconds(o.search_queue_ms);
  lwd::service::AccountServiceConfig& accounts = dock.accounts;
  const auto policy = lwd::service::registration_policy_from_string(o.registration);
  if (!policy) throw lwd::Error("--registration \"" + o.registration + "\": closed, open or email_patterns");
  accounts.registration = *policy;
  accounts.registration_email_patterns = o.registration_email_patterns;
  if (accounts.registration == lwd::service::RegistrationPolicy::email_patterns && o.registration_email_patterns.empty())
    throw lwd::Error("--registration email_patterns needs --registration-email-patterns");
  accounts.store.session_ttl = std::chrono::seconds(static_cast<std::int64_t>(o.session_hours * 3600));
  accounts.store.client_token_ttl = std::chrono::hours(24 * o.client_token_days);
  accounts.rate = {o.login_limit_per_address, o.login_limit_per_account, o.register_limit_per_address,
                   o.rate_window_seconds};
  dock.uploads.max_package_bytes = o.max_package_mib << 20;
  dock.download_token_ttl = std::chrono::seconds(static_cast<std::int64_t>(o.download_link_seconds));
  dock.verification.workers = o.workers;
  dock.verification.job_deadline_seconds = o.job_deadline_seconds;
  dock.verification.lease = std::chrono::milliseconds(static_cast<std::int64_t>(o.lease_seconds * 1000.0));
  dock.verification.max_attempts = o.max_attempts;
  dock.verification.admission.nearest = o.admission_nearest;
  if (o.refuse_duplicates_within >= 0) dock.verification.admission.refuse_within_mmd2 = o.refuse_duplicates_within;
  if (o.no_http && o.workers == 0) throw lwd::Error("--no-http with --workers 0 would do nothing");
  lwd::service::DockService service(dock);

  if (o.no_http) {
    std::fprintf(stderr, "lwdock serve: market %s, %d verification workers, no HTTP\n", o.market.c_str(), o.workers);
    std::fflush(stderr);
    int which = 0;
    sigwait(&signals, &which);
    std::fprintf(stderr, "lwdock serve: %s received; finishing the jobs under way\n",
                 which == SIGTERM ? "SIGTERM" : "SIGINT");
    return 0;  // ~DockService stops the workers after their jobs
  }

  lwd::service::HttpServerConfig http;
  http.host = host;
  http.port = port;
  http.threads = o.http_threads;
  http.max_body_bytes = o.max_body_mib << 20;
  if (!o.no_web) {
    http.web_root = o.web_root.empty() ? lwd::service::default_web_root() : std::filesystem::path(o.web_root);
    if (http.web_root.empty())
      std::fprintf(stderr, "lwdock serve: no web pages installed beside this program: serving the API only\n");
  }
  std::FILE* log_file = nullptr;
  if (!o.access_log.empty()) {
    log_file = std::fopen(o.access_log.c_str(), "a");
    if (log_file == nullptr) throw lwd::Error(o.access_log + ": cannot open the access log for appending");
    http.access_log = log_file;
  }
  lwd::service::HttpServer server(service, http);
  const int bound = server.bind();
  std::fprintf(stderr,
               "lwdock serve: market %s, listening on http://%s:%d/ (API document: /api/openapi.json), %d "
               "verification workers\n",
               o.market.c_str(), host.c_str(), bound, o.workers);
  std::fflush(stderr);

  std::thread watcher([&server, signals] {
    int which = 0;
    sigwait(&signals, &which);
    std::fprintf(stderr, "lwdock serve: %s received; finishing the requests in flight\n",
                 which == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();
  });
  const bool ok = server.serve();
  // Whatever ended serve(), the watcher must end too: wake it.
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  if (log_file != nullptr) std::fclose(log_file);
  if (!ok) throw lwd::Error("the server stopped on an error");
  std::fprintf(stderr, "lwdock serve: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ServeOptions o;
  std::string config_file;
  CLI::App app{"Serve the dock's HTTP API over a market (JSON replies {code, msg, data}; the API's document is "
               "at /api/openapi.json)",
               "lwdock serve"};
  app.add_option("--market", o.market, "Market directory")->required();
  app.add_option("--db", o.db, "Database of the learnware table: sqlite:PATH or postgresql://... (default: the "
                               "market's own file; also LWDOCK_DB)")
      ->envname("LWDOCK_DB");
  app.add_option("--read-db", o.read_db, "A read replica for the queries that only read (also LWDOCK_READ_DB)")
      ->envname("LWDOCK_READ_DB");
  app.add_option("--listen", o.listen, "HOST:PORT to listen on (port 0: any free one)")->capture_default_str();
  app.add_option("--http-threads", o.http_threads, "Requests (and kept-alive connections) served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--workers", o.workers, "Verification workers of submitted learnwares in this process (0: none; "
                                         "other processes sharing the market's database do the work)")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  app.add_flag("--no-http", o.no_http, "Run the verification workers only: no HTTP listener (a worker process)");
  app.add_option("--job-deadline-seconds", o.job_deadline_seconds,
                 "Cap of every sandboxed run of one verification job (models that never answer end there)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 24 * 3600.0));
  app.add_option("--lease-seconds", o.lease_seconds,
                 "A job's lease: a worker that stops renewing it (it died) leaves the job to another after this")
      ->capture_default_str()
      ->check(CLI::Range(3.0, 24 * 3600.0));
  app.add_option("--max-attempts", o.max_attempts, "Claims of one job before it is given up as invalid")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--max-package-mib", o.max_package_mib, "Largest package accepted (multipart or chunked), MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--download-link-seconds", o.download_link_seconds,
                 "How long a download link (POST /api/engine/download-tokens) works, once")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 24 * 3600.0));
  app.add_option("--search-threads", o.search_threads, "OpenMP threads of one search")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--search-slots", o.search_slots,
                 "Searches run at once; more wait for a slot (0: this machine's cores over --search-threads)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option("--search-queue-ms", o.search_queue_ms,
                 "How long a search waits for a slot before the answer is 503 busy with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  app.add_option("--access-log", o.access_log, "Append the access log (one JSON line per request) to FILE "
                                               "instead of stderr");
  app.add_option("--admission-nearest", o.admission_nearest,
                 "Each verification's log names this many (at most 25) nearest usable learnwares (0: no search)")
      ->capture_default_str()
      ->check(CLI::Range(0, 25));
  app.add_option("--refuse-duplicates-within", o.refuse_duplicates_within,
                 "A submission whose nearest learnware with the same semantic fields lies within this MMD² is "
                 "stored as not usable, naming it (needs --admission-nearest >= 1; default: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--web-root", o.web_root,
                 "Directory of the web pages served at / (default: share/lwdock/web of the installation, or the "
                 "build tree's web/)");
  app.add_flag("--no-web", o.no_web, "Serve the API only, no web pages");
  app.add_option("--max-body-mib", o.max_body_mib, "Largest request body accepted, MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--config", config_file, "JSON file of options (keys: the long option names); the command "
                                          "line wins");
  const std::string accounts = "Accounts (docs/DESIGN.md, The dock service's API)";
  app.add_option("--registration", o.registration,
                 "Who may open an account over HTTP: closed (administrators create them with `lwdock admin "
                 "create-user`), open, or email_patterns")
      ->capture_default_str()
      ->check(CLI::IsMember({"closed", "open", "email_patterns"}))
      ->group(accounts);
  app.add_option("--registration-email-patterns", o.registration_email_patterns,
                 "With --registration email_patterns: the addresses that may register ('*' and '?' wildcards, "
                 "case-insensitive), e.g. '*@example.org'")
      ->group(accounts);
  app.add_option("--session-hours", o.session_hours, "Hours a session token lasts")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 24.0 * 365))
      ->group(accounts);
  app.add_option("--client-token-days", o.client_token_days, "Days a client token lasts at most (and by default)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3650))
      ->group(accounts);
  app.add_option("--login-limit-per-address", o.login_limit_per_address,
                 "Logins (and password resets) one address may try per window")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000))
      ->group(accounts);
  app.add_option("--login-limit-per-account", o.login_limit_per_account,
                 "Logins naming one account (and its password changes) per window")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000))
      ->group(accounts);
  app.add_option("--register-limit-per-address", o.register_limit_per_address,
                 "Registrations one address may try per window")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000))
      ->group(accounts);
  app.add_option("--rate-window-seconds", o.rate_window_seconds, "The rate limits' window")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400))
      ->group(accounts);
  app.footer("Exit status: 0 after a graceful stop (SIGTERM or SIGINT), 1 on runtime errors, 2 on usage errors.");
  try {
    app.parse(argc, argv);
    if (!config_file.empty()) apply_config_file(config_file, app);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "lwdock serve: error: %s (see 'lwdock serve --help')\n", e.what());
    return 2;
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "lwdock serve: error: %s\n", e.what());
    return 2;
  }
  try {
    return serve(o);
  } catch (const std::exception& e) {
    std::string line = e.what();
    for (char& c : line)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "lwdock serve: error: %s\n", line.c_str());
    return 1;
  }
}
