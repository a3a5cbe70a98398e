#include "apps/lwdock-client/commands.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/lwdock-client/dock_client.h"
#include "apps/lwdock-client/local_state.h"
#include "apps/lwdock-client/progress.h"
#include "engine/io/sha256.h"

namespace lwdock::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// What every subcommand takes (each lists them in its own --help).
struct Common {
  std::string server;
  bool json = false;
  bool progress = false;
  int timeout_s = 60;
};

void add_common(CLI::App* cmd, Common& c, bool with_json = true) {
  cmd->add_option("--server", c.server, "The dock's URL, http://HOST:PORT")
      ->envname("LWDOCK_SERVER");
  cmd->add_option("--timeout", c.timeout_s, "Seconds to wait for the server to connect and for each reply")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  if (with_json) cmd->add_flag("--json", c.json, "Print JSON (the local command's shape where there is one)");
}

void print_json(const json& doc) {
  std::printf("%s\n", doc.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

ServerUrl server_of(const Common& c) {
  if (c.server.empty()) throw ClientError(Failure::usage, "give --server URL or set LWDOCK_SERVER");
  return parse_server_url(c.server);
}

// The token: LWDOCK_TOKEN, else the one `login` stored for the server.
std::unique_ptr<DockClient> connect(const Common& c, bool needs_token) {
  const ServerUrl server = server_of(c);
  std::string token;
  TokenSource source = TokenSource::none;
  if (const char* env = std::getenv("LWDOCK_TOKEN"); env != nullptr && env[0] != '\0') {
    token = env;
    source = TokenSource::environment;
  } else if (const auto stored = stored_token(server.text)) {
    token = stored->token;
    source = TokenSource::credentials;
  }
  auto client = std::make_unique<DockClient>(server, token, source, std::chrono::seconds(c.timeout_s));
  if (needs_token) client->require_token();
  return client;
}

// Ids go into paths: letters, digits, '.', '-' and '_' only.
std::string checked_id(const std::string& id, const char* what) {
  const bool ok = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
                  });
  if (!ok) throw ClientError(Failure::usage, std::string(what) + " \"" + id + "\": letters, digits, '.', '-', '_'");
  return id;
}

std::string read_file_text(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ClientError(Failure::local, path + ": cannot read " + what);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string trimmed(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// One line of standard input (without its line end): asked for with
// `prompt`, without echo, on a terminal.
std::string read_secret_line(const std::string& prompt) {
  std::string line;
  if (::isatty(STDIN_FILENO) == 1) {
    std::fprintf(stderr, "%s", prompt.c_str());
    std::fflush(stderr);
    termios old_mode{};
    const bool quiet = ::tcgetattr(STDIN_FILENO, &old_mode) == 0;
    if (quiet) {
      termios silent = old_mode;
      silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    }
    std::getline(std::cin, line);
    if (quiet) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    std::fputc('\n', stderr);
  } else {
    std::getline(std::cin, line);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// A password login (the password from standard input) turned into a client
// token of its own, labelled with this machine's name; the session it took
// is revoked again. What `login --user` stores.
std::string client_token_by_password(const ServerUrl& server, const std::string& user, std::chrono::seconds timeout) {
  const std::string password = read_secret_line("password of " + user + " at " + server.text + ": ");
  if (password.empty()) throw ClientError(Failure::usage, "no password on standard input");
  DockClient anonymous(server, "", TokenSource::password, timeout);
  const std::string session =
      anonymous.post_json("/api/auth/login", {{"login", user}, {"password", password}}).value("token", "");
  DockClient with_session(server, session, TokenSource::command_line, timeout);
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  const json made = with_session.post_json("/api/user/tokens", {{"label", std::string("lwdock client on ") + host}});
  try {
    with_session.post_json("/api/auth/logout", json::object());
  } catch (const ClientError&) {
    // The session ends by itself; the client token is what matters.
  }
  return made.value("token", "");
}

// ---- uploads -------------------------------------------------------------------

FileFingerprint fingerprint_of(const fs::path& file) {
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0) {
    throw ClientError(Failure::local, file.string() + ": cannot read: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw ClientError(Failure::local, file.string() + ": not a regular file");
  if (st.st_size == 0) throw ClientError(Failure::local, file.string() + ": the package is empty");
  FileFingerprint fp;
  fp.size = static_cast<std::uint64_t>(st.st_size);
  fp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  try {
    fp.sha256 = lwd::io::sha256_hex_of_file(file);
  } catch (const std::exception& e) {
    throw ClientError(Failure::local, e.what());
  }
  return fp;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> missing_ranges(const json& upload, std::uint64_t size) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  std::uint64_t at = 0;
  for (const json& range : upload.value("received", json::array())) {
    const auto begin = range.at(0).get<std::uint64_t>();
    const auto end = range.at(1).get<std::uint64_t>();
    if (begin > at) out.emplace_back(at, begin);
    at = std::max(at, end);
  }
  if (at < size) out.emplace_back(at, size);
  return out;
}

// For the tests of resuming: the client stops as if cut off after sending
// this many chunks (LWDOCK_CLIENT_STOP_AFTER_CHUNKS).
std::optional<long> stop_after_chunks() {
  const char* text = std::getenv("LWDOCK_CLIENT_STOP_AFTER_CHUNKS");
  if (text == nullptr || text[0] == '\0') return std::nullopt;
  return std::strtol(text, nullptr, 10);
}

struct UploadOptions {
  std::string package;
  std::uint64_t chunk_kib = 8192;
  bool wait = false;
  double wait_seconds = 600;
};

// Sends `file` in chunks (resuming the upload a previous run of the same
// file left, when the server still has it); the upload's id, every byte received.
std::string upload_package(DockClient& client, const Common& c, const UploadOptions& o) {
  const fs::path file = o.package;
  const FileFingerprint fp = fingerprint_of(file);
  const std::string& server = client.server().text;
  json upload;
  std::string id;
  if (const auto saved = saved_upload(server, file)) {
    if (saved->file == fp) {
      try {
        upload = client.get("/api/user/uploads/" + checked_id(saved->upload_id, "upload"));
        id = saved->upload_id;
      } catch (const ClientError& e) {
        // Expired or removed on the server: start again.
        if (e.http_status() != 404) throw;
      }
    } else {
      // The file changed since: its old upload is of no use.
      try {
        client.del("/api/user/uploads/" + checked_id(saved->upload_id, "upload"));
      } catch (const ClientError& e) {
        if (e.http_status() != 404) throw;
      }
    }
    if (id.empty()) forget_upload(server, file);
  }
  if (id.empty()) {
    upload = client.post_json("/api/user/uploads", {{"filename", file.filename().string()},
                                                    {"size", fp.size},
                                                    {"sha256", fp.sha256}});
    id = upload.at("id").get<std::string>();
    save_upload(server, file, {id, fp});
  } else {
    std::fprintf(stderr, "resuming upload %s of %s: %llu of %llu bytes already on the server\n", id.c_str(),
                 file.string().c_str(), static_cast<unsigned long long>(upload.value("received_bytes", 0ULL)),
                 static_cast<unsigned long long>(fp.size));
  }
  const std::uint64_t chunk = o.chunk_kib * 1024;
  const auto stop_after = stop_after_chunks();
  long chunks = 0;
  ProgressBar bar(c.progress || stderr_is_terminal(), "upload " + file.filename().string(), fp.size);
  std::uint64_t done = upload.value("received_bytes", 0ULL);
  bar.update(done);
  for (const auto& [begin, end] : missing_ranges(upload, fp.size)) {
    for (std::uint64_t at = begin; at < end; at += chunk) {
      if (stop_after && chunks >= *stop_after) {
        bar.finish();
        throw ClientError(Failure::unreachable, "stopped after " + std::to_string(chunks) +
                                                    " chunks (LWDOCK_CLIENT_STOP_AFTER_CHUNKS); the same command "
                                                    "again resumes upload " + id);
      }
      const std::uint64_t length = std::min(chunk, end - at);
      const std::uint64_t before = done;
      client.put_file_range("/api/user/uploads/" + id + "?offset=" + std::to_string(at), file, at, length,
                            [&](std::uint64_t position, std::uint64_t) { bar.update(before + (position - at)); });
      done = before + length;
      bar.update(done);
      ++chunks;
    }
  }
  bar.finish();
  return id;
}

// POSTs or PUTs {"upload_id"}: the submission; the upload is forgotten once
// the server took it, or discarded it (a wrong hash).
json submit_upload(DockClient& client, const UploadOptions& o, const std::string& path, bool put,
                   const std::string& upload_id) {
  try {
    const json body = {{"upload_id", upload_id}};
    json submission = put ? client.put_json(path, body) : client.post_json(path, body);
    forget_upload(client.server().text, o.package);
    return submission;
  } catch (const ClientError& e) {
    if (e.http_status() == 422) forget_upload(client.server().text, o.package);
    throw;
  }
}

bool still_running(const json& submission) {
  const std::string status = submission.value("status", "");
  return status == "waiting" || status == "processing";
}

json wait_for(DockClient& client, json submission, double wait_seconds) {
  const std::string id = submission.value("id", "");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  auto pause = std::chrono::milliseconds(100);
  while (still_running(submission)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw ClientError(Failure::local, "submission " + id + " is still " + submission.value("status", "") +
                                            " after " + std::to_string(static_cast<long>(wait_seconds)) +
                                            " s; 'lwdock client status " + id + " --wait' waits again");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 3 / 2, std::chrono::milliseconds(2000));
    submission = client.get("/api/user/submissions/" + checked_id(id, "submission"));
  }
  return submission;
}

std::string last_line(const std::string& text) {
  std::string t = trimmed(text);
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// The outcome as `lwdock market add --json` prints it: {id, status, reason}.
json outcome_of(DockClient& client, const json& submission) {
  const std::string learnware = submission.value("learnware_id", "");
  json out = {{"id", learnware},
              {"status", submission.value("status", "")},
              {"reason", last_line(submission.value("log", ""))}};
  try {
    const json mine = client.get("/api/user/learnwares/" + checked_id(learnware, "learnware"));
    if (mine.contains("record") && mine["record"].is_object()) {
      out["status"] = mine["record"].value("status", out["status"].get<std::string>());
      out["reason"] = mine["record"].value("reason", std::string());
    }
  } catch (const ClientError& e) {
    // An invalid package is never stored: its submission's log says why.
    if (e.http_status() != 404) throw;
  }
  return out;
}

void print_submission_text(const json& s) {
  std::printf("submission %s: learnware %s, %s (%s, attempts %lld)\n", s.value("id", "").c_str(),
              s.value("learnware_id", "").c_str(), s.value("status", "").c_str(), s.value("action", "").c_str(),
              static_cast<long long>(s.value("attempts", 0LL)));
  const std::string log = trimmed(s.value("log", ""));
  if (!log.empty()) {
    std::size_t at = 0;
    while (at <= log.size()) {
      const auto nl = log.find('\n', at);
      std::printf("  %s\n", log.substr(at, nl == std::string::npos ? std::string::npos : nl - at).c_str());
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
  }
}

void run_submit(const Common& c, const UploadOptions& o, const std::string& learnware_or_empty) {
  auto client = connect(c, true);
  const bool update = !learnware_or_empty.empty();
  const std::string path = update ? "/api/user/learnwares/" + checked_id(learnware_or_empty, "learnware")
                                  : "/api/user/learnwares";
  // Someone else's learnware, or none (a deleted one still lists its
  // submissions, with no record): refused before any byte is sent.
  if (update && client->get(path).value("record", json()).is_null()) {
    throw ClientError(Failure::refused, "no learnware " + learnware_or_empty + " (HTTP 404)");
  }
  const std::string upload_id = upload_package(*client, c, o);
  json submission = submit_upload(*client, o, path, update, upload_id);
  if (!o.wait) {
    if (c.json) {
      print_json(submission);
    } else {
      std::printf("%s\t%s\t%s\n", submission.value("learnware_id", "").c_str(), submission.value("status", "").c_str(),
                  submission.value("id", "").c_str());
      std::fflush(stdout);
      std::fprintf(stderr, "submitted %s: 'lwdock client status %s' follows its verification\n", o.package.c_str(),
                   submission.value("id", "").c_str());
    }
    return;
  }
  submission = wait_for(*client, submission, o.wait_seconds);
  const json outcome = outcome_of(*client, submission);
  if (c.json) {
    std::printf("%s\n", outcome.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    const std::string reason = outcome["reason"].get<std::string>();
    std::printf("%s\t%s%s%s\n", outcome["id"].get<std::string>().c_str(), outcome["status"].get<std::string>().c_str(),
                reason.empty() ? "" : "\t", reason.c_str());
  }
}

// ---- search --------------------------------------------------------------------

struct SearchOptions {
  std::string request;
  std::string spec;
  std::string semantic;
  int max = 5;
  std::string method = "greedy";
  double decay = 0;
  int page = 1;
  int page_size = 10;
};

void run_search(const Common& c, const SearchOptions& o, bool decay_given) {
  auto client = connect(c, false);
  const std::string path =
      "/api/engine/search?page=" + std::to_string(o.page) + "&page_size=" + std::to_string(o.page_size);
  json found;
  bool with_stat = false;
  if (!o.request.empty()) {
    const std::string text = read_file_text(o.request, "the search request");
    try {
      const json doc = json::parse(text);
      with_stat = doc.is_object() && doc.contains("spec") && !doc["spec"].is_null();
    } catch (const json::exception&) {
      throw ClientError(Failure::local, o.request + ": not valid JSON");
    }
    found = client->post_json(path, json::parse(text));
  } else {
    std::vector<FormPart> parts;
    if (!o.spec.empty()) {
      parts.push_back({"spec", read_file_text(o.spec, "the spec"), fs::path(o.spec).filename().string(),
                       "application/json"});
      with_stat = true;
    }
    if (!o.semantic.empty()) {
      parts.push_back({"semantic", read_file_text(o.semantic, "the semantic specification"),
                       fs::path(o.semantic).filename().string(), "application/json"});
    }
    json options = {{"max_search_num", o.max}, {"mixture_method", o.method}};
    if (decay_given) options["greedy_decay"] = o.decay;
    parts.push_back({"options", options.dump(), "", ""});
    found = client->post_form(path, parts);
  }
  // The local command's shape: the page is the one asked for.
  for (const char* key : {"page", "page_size", "total"}) found.erase(key);
  if (c.json) {
    print_json(found);
    return;
  }
  const auto count = [](const json& n) {
    return n.is_number() ? std::to_string(n.get<long long>()) : std::string("?");
  };
  std::fprintf(stderr, "%s usable learnware(s) match semantically; %s compared statistically\n",
               count(found.value("semantic_matches", json())).c_str(),
               count(found.value("candidates", json())).c_str());
  if (!with_stat) {
    for (const json& s : found.value("single", json::array())) std::printf("%s\n", s.value("id", "").c_str());
    return;
  }
  const auto number = [](const json& v) { return v.is_number() ? v.get<double>() : std::nan(""); };
  std::printf("single learnwares:\n  %-10s %7s  %s\n", "ID", "SCORE", "MMD2");
  for (const json& s : found.value("single", json::array())) {
    std::printf("  %-10s %6.1f%%  %.6g\n", s.value("id", "").c_str(), 100.0 * number(s.value("score", json())),
                number(s.value("mmd2", json())));
  }
  const json mixture = found.value("mixture", json());
  if (mixture.is_object()) {
    std::printf("mixture (score %.1f%%, MMD2 %.6g):\n", 100.0 * number(mixture.value("score", json())),
                number(mixture.value("mmd2", json())));
    const json ids = mixture.value("ids", json::array());
    const json weights = mixture.value("weights", json::array());
    for (std::size_t i = 0; i < ids.size() && i < weights.size(); ++i)
      std::printf("  %-10s weight %.4f\n", ids[i].get<std::string>().c_str(), weights[i].get<double>());
  } else {
    std::printf("mixture: none better than the best single learnware\n");
  }
}

// ---- info, download ------------------------------------------------------------

void run_info(const Common& c, const std::string& id) {
  auto client = connect(c, false);
  const json found = client->get("/api/engine/learnwares/" + checked_id(id, "learnware"));
  // `lwdock market show`'s shape: the record, with "semantic" beside its fields.
  json out = found.value("record", json::object());
  if (found.contains("semantic") && !found["semantic"].is_null()) out["semantic"] = found["semantic"];
  if (c.json) {
    print_json(out);
    return;
  }
  std::printf("%s\t%s\t%s\towner %s\tupdated %s\n", out.value("id", "").c_str(), out.value("status", "").c_str(),
              out.value("name", "").c_str(), out.value("owner", "").c_str(), out.value("updated_at", "").c_str());
  const std::string reason = out.value("reason", "");
  if (!reason.empty()) std::printf("  %s\n", reason.c_str());
}

struct DownloadOptions {
  std::string id;
  std::string output;
  std::string sha256;
  bool force = false;
};

void run_download(const Common& c, const DownloadOptions& o) {
  auto client = connect(c, false);
  const std::string id = checked_id(o.id, "learnware");
  const fs::path out = o.output.empty() ? fs::path(id + ".zip") : fs::path(o.output);
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw ClientError(Failure::local, out.string() + ": cannot write: it is a directory");
  if (fs::exists(out, ec) && !o.force) {
    throw ClientError(Failure::local, out.string() + " exists (--force replaces it)");
  }
  std::string expected = o.sha256;
  std::transform(expected.begin(), expected.end(), expected.begin(), [](unsigned char ch) { return std::tolower(ch); });
  const bool hex = expected.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!expected.empty() && (expected.size() != 64 || !hex))
    throw ClientError(Failure::usage, "--sha256: 64 hex digits");
  // Beside the target, so the rename is atomic; never seen as the package until whole and checked.
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + out.filename().string() + ".partial-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throw ClientError(Failure::local, out.string() + ": cannot write: " + std::strerror(errno));
  ::close(fd);
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } cleanup{temp};
  DownloadResult got;
  {
    // The total is known once the reply's headers are in.
    std::unique_ptr<ProgressBar> sized;
    got = client->download("/api/engine/learnwares/" + id + "/download", temp,
                           [&](std::uint64_t done, std::uint64_t total) {
                             if (!sized) sized = std::make_unique<ProgressBar>(c.progress || stderr_is_terminal(),
                                                                               "download " + id, total);
                             sized->update(done);
                           });
  }
  if (got.announced && *got.announced != got.bytes) {
    throw ClientError(Failure::unreachable, "the download of " + id + " ended after " + std::to_string(got.bytes) +
                                                " of " + std::to_string(*got.announced) + " bytes");
  }
  if (!expected.empty() && expected != got.sha256) {
    throw ClientError(Failure::local, "the download of " + id + " has SHA-256 " + got.sha256 + ", not " + expected +
                                          " as --sha256 says; nothing was written");
  }
  // mkstemp's 0600 is for the partial file; the package is an ordinary file.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(temp.c_str(), 0666 & ~mask);
  if (::rename(temp.c_str(), out.c_str()) != 0) {
    throw ClientError(Failure::local, out.string() + ": cannot write: " + std::strerror(errno));
  }
  cleanup.path.clear();
  const json result = {{"id", id},
                       {"path", out.string()},
                       {"size", got.bytes},
                       {"sha256", got.sha256},
                       {"sha256_checked", !expected.empty()}};
  if (c.json) {
    print_json(result);
  } else {
    std::printf("%s\n", out.string().c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %llu bytes, sha256 %s%s\n", out.string().c_str(),
                 static_cast<unsigned long long>(got.bytes), got.sha256.c_str(),
                 expected.empty() ? "" : " (as expected)");
  }
}

// ---- accounts ------------------------------------------------------------------

void run_login(const Common& c, const std::string& token_option, const std::string& user) {
  const ServerUrl server = server_of(c);
  std::string token;
  if (!user.empty()) {
    token = client_token_by_password(server, user, std::chrono::seconds(c.timeout_s));
  } else {
    token = trimmed(token_option.empty() ? read_secret_line("client token for " + server.text + ": ") : token_option);
    if (token.empty()) throw ClientError(Failure::usage, "no token: give --token TOKEN or the token on standard input");
  }
  DockClient client(server, token, TokenSource::command_line, std::chrono::seconds(c.timeout_s));
  const json me = client.get("/api/auth/me");
  store_token(server.text, {token, me.value("name", "")});
  if (c.json) {
    print_json(me);
    return;
  }
  std::fprintf(stderr, "logged in to %s as %s (%s); the token is in %s\n", server.text.c_str(),
               me.value("name", "").c_str(), me.value("role", "").c_str(),
               (config_dir() / "credentials.json").c_str());
}

void run_logout(const Common& c, bool revoke) {
  const ServerUrl server = server_of(c);
  const auto stored = stored_token(server.text);
  bool revoked = false;
  if (stored && revoke) {
    DockClient client(server, stored->token, TokenSource::credentials, std::chrono::seconds(c.timeout_s));
    try {
      client.post_json("/api/auth/logout", json::object());
      revoked = true;
    } catch (const ClientError& e) {
      // A token the server refuses is dead already.
      if (e.kind() != Failure::unauthenticated) throw;
    }
  }
  if (stored) forget_token(server.text);
  if (c.json) {
    print_json({{"server", server.text}, {"logged_out", stored.has_value()}, {"revoked", revoked}});
    return;
  }
  if (!stored) {
    std::fprintf(stderr, "no token was stored for %s\n", server.text.c_str());
  } else {
    std::fprintf(stderr, "logged out of %s%s\n", server.text.c_str(), revoked ? "; the token is revoked" : "");
  }
}

void run_whoami(const Common& c) {
  auto client = connect(c, true);
  const json me = client->get("/api/auth/me");
  if (c.json) {
    print_json(me);
    return;
  }
  std::printf("%s <%s> (%s) at %s\n", me.value("name", "").c_str(), me.value("email", "").c_str(),
              me.value("role", "").c_str(), client->server().text.c_str());
}

void run_tokens_list(const Common& c) {
  auto client = connect(c, true);
  const json items = client->get("/api/user/tokens").value("items", json::array());
  if (c.json) {
    print_json(items);
    return;
  }
  std::printf("%-6s %-24s %-20s %-20s %-20s %s\n", "ID", "LABEL", "CREATED", "EXPIRES", "LAST USED", "STATE");
  for (const json& t : items) {
    const std::string state = t.value("revoked", false) ? "revoked" : t.value("expired", false) ? "expired" : "valid";
    const json last = t.value("last_used_at", json());
    std::printf("%-6lld %-24s %-20s %-20s %-20s %s\n", static_cast<long long>(t.value("id", 0LL)),
                t.value("label", "").substr(0, 24).c_str(), t.value("created_at", "").c_str(),
                t.value("expires_at", "").c_str(), last.is_string() ? last.get<std::string>().c_str() : "-",
                state.c_str());
  }
}

void run_tokens_create(const Common& c, const std::string& label, int days) {
  auto client = connect(c, true);
  json body = {{"label", label}};
  if (days > 0) body["expires_in_days"] = days;
  const json made = client->post_json("/api/user/tokens", body);
  if (c.json) {
    print_json(made);
    return;
  }
  std::printf("%s\n", made.value("token", "").c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "token %lld (%s), expires %s: shown this once\n", static_cast<long long>(made.value("id", 0LL)),
               made.value("label", "").c_str(), made.value("expires_at", "").c_str());
}

void run_tokens_revoke(const Common& c, long long id) {
  auto client = connect(c, true);
  const json done = client->del("/api/user/tokens/" + std::to_string(id));
  if (c.json) {
    print_json({{"id", id}, {"revoked", done.value("revoked", false)}});
    return;
  }
  std::fprintf(stderr, "revoked token %lld\n", id);
}

void run_status(const Common& c, const std::string& id, bool wait, double wait_seconds) {
  auto client = connect(c, true);
  json submission = client->get("/api/user/submissions/" + checked_id(id, "submission"));
  if (wait) submission = wait_for(*client, submission, wait_seconds);
  if (c.json) {
    print_json(submission);
    return;
  }
  print_submission_text(submission);
}

void run_delete(const Common& c, const std::string& id) {
  auto client = connect(c, true);
  const json done = client->del("/api/user/learnwares/" + checked_id(id, "learnware"));
  if (c.json) {
    print_json(done);
    return;
  }
  std::fprintf(stderr, "deleted %s\n", done.value("id", id).c_str());
}

}  // namespace

void register_client_commands(CLI::App& app) {
  app.require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    auto token = std::make_shared<std::string>();
    auto user = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand(
        "login", "Check a client token with the server (/api/auth/me) and store it for that server (mode 0600)");
    add_common(cmd, *c);
    auto* token_opt = cmd->add_option(
        "--token", *token,
        "The token (lwd_c_...; default: read from standard input, without echo on a terminal). On the command line "
        "it is visible to other users of this machine: prefer standard input");
    cmd->add_option("--user", *user,
                    "Log in as NAME (or e-mail) with the password from standard input instead, and store a new client "
                    "token made for this machine (the password itself is never stored)")
        ->excludes(token_opt);
    cmd->footer("A client token comes from POST /api/user/tokens, from 'lwdock client tokens create', or from "
                "'login --user NAME'.");
    cmd->callback([c, token, user] { run_login(*c, *token, *user); });
  }
  {
    auto c = std::make_shared<Common>();
    auto revoke = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("logout", "Forget the token stored for the server");
    add_common(cmd, *c);
    cmd->add_flag("--revoke", *revoke, "Revoke it on the server too (POST /api/auth/logout), so that no copy works");
    cmd->callback([c, revoke] { run_logout(*c, *revoke); });
  }
  {
    auto c = std::make_shared<Common>();
    CLI::App* cmd = app.add_subcommand("whoami", "Who the token belongs to, with the role");
    add_common(cmd, *c);
    cmd->callback([c] { run_whoami(*c); });
  }
  {
    auto c = std::make_shared<Common>();
    auto o = std::make_shared<SearchOptions>();
    CLI::App* cmd = app.add_subcommand(
        "search", "Search the dock as 'lwdock search' searches a market: a statistical spec and/or semantic fields");
    add_common(cmd, *c);
    auto* request_opt = cmd->add_option("--request", o->request,
                                        "The whole request as JSON: {\"spec\", \"semantic\", \"options\"} (as "
                                        "'lwdock search --request')");
    cmd->add_option("--spec", o->spec, "The user's spec JSON of any kind (table, text, image)");
    cmd->add_option("--semantic", o->semantic, "The user's semantic spec JSON (empty fields match anything)");
    cmd->add_option("--max", o->max, "Most learnwares in the mixture")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--method", o->method, "Mixture search: greedy or auto")
        ->capture_default_str()
        ->check(CLI::IsMember({"greedy", "auto"}));
    auto* decay_opt = cmd->add_option("--decay", o->decay, "Greedy mixture's decay, in (0, 1]")
                          ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--page", o->page, "Which page of the single learnwares (or semantic matches)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1'000'000'000));
    cmd->add_option("--page-size", o->page_size, "How many per page (the server caps it)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    for (const char* name : {"--spec", "--semantic", "--max", "--method", "--decay"})
      request_opt->excludes(cmd->get_option(name));
    cmd->footer("--json prints 'lwdock search --json''s schema: {candidates, semantic_matches, single, mixture}, the "
                "single learnwares of the page asked for.");
    cmd->callback([c, o, decay_opt] {
      if (o->request.empty() && o->spec.empty() && o->semantic.empty())
        throw ClientError(Failure::usage,
                          "give --spec USER.json and/or --semantic SEM.json, or --request REQUEST.json");
      run_search(*c, *o, decay_opt->count() > 0);
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("info", "One learnware's record and semantic spec");
    add_common(cmd, *c);
    cmd->add_option("id", *id, "Learnware id")->required();
    cmd->footer("--json prints 'lwdock market show''s shape: the record's fields and \"semantic\".");
    cmd->callback([c, id] { run_info(*c, *id); });
  }
  {
    auto c = std::make_shared<Common>();
    auto o = std::make_shared<DownloadOptions>();
    CLI::App* cmd = app.add_subcommand(
        "download", "Download a learnware's package: streamed to a temporary file, checked, renamed into place");
    add_common(cmd, *c);
    cmd->add_option("id", o->id, "Learnware id")->required();
    cmd->add_option("-o,--output", o->output, "Where to write it (default: ID.zip here)");
    cmd->add_option("--sha256", o->sha256, "Refuse the download unless its SHA-256 is this (64 hex digits)");
    cmd->add_flag("--force", o->force, "Replace the output file if it exists");
    cmd->add_flag("--progress", c->progress, "Draw the progress bar even when stderr is not a terminal");
    cmd->footer("The size is checked against the reply's Content-Length; the server sends no checksum, so the "
                "SHA-256 computed while writing is printed (--json: {id, path, size, sha256, sha256_checked}).");
    cmd->callback([c, o] { run_download(*c, *o); });
  }
  for (const bool update : {false, true}) {
    auto c = std::make_shared<Common>();
    auto o = std::make_shared<UploadOptions>();
    auto id = std::make_shared<std::string>();
    CLI::App* cmd =
        update ? app.add_subcommand("update", "Replace one of your learnwares' package (verified again)")
               : app.add_subcommand("submit", "Submit a learnware package: uploaded in chunks, then verified by "
                                              "the server");
    add_common(cmd, *c);
    if (update) cmd->add_option("id", *id, "Your learnware's id")->required();
    cmd->add_option("package", o->package, "The learnware package (zip), e.g. from 'lwdock package build'")
        ->required();
    cmd->add_flag("--wait", o->wait,
                  "Wait for the verification; print its outcome as 'lwdock market add' does: {id, status, reason}");
    cmd->add_option("--wait-seconds", o->wait_seconds, "With --wait: give up after this long (exit 1)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 7 * 86400.0));
    cmd->add_option("--chunk-kib", o->chunk_kib, "Size of each chunk sent, KiB (at most the server's --max-body-mib)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_flag("--progress", c->progress, "Draw the progress bar even when stderr is not a terminal");
    cmd->footer(
        "An interrupted upload resumes: the same command again asks the server which bytes it has and sends the "
        "rest (the upload's id and the file's size, mtime and SHA-256 are kept in uploads.json beside the "
        "credentials). Without --wait, --json prints the server's submission {id, learnware_id, status, log, ...}.");
    cmd->callback([c, o, id] { run_submit(*c, *o, *id); });
  }
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto wait_seconds = std::make_shared<double>(600);
    CLI::App* cmd = app.add_subcommand("status", "A submission's status and verification log");
    add_common(cmd, *c);
    cmd->add_option("id", *id, "Submission id (what submit printed)")->required();
    cmd->add_flag("--wait", *wait, "Wait until it is verified (usable, not_usable or invalid)");
    cmd->add_option("--wait-seconds", *wait_seconds, "With --wait: give up after this long (exit 1)")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 7 * 86400.0));
    cmd->callback([c, id, wait, wait_seconds] { run_status(*c, *id, *wait, *wait_seconds); });
  }
  {
    auto c = std::make_shared<Common>();
    auto id = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("delete", "Delete one of your learnwares");
    add_common(cmd, *c);
    cmd->add_option("id", *id, "Learnware id")->required();
    cmd->callback([c, id] { run_delete(*c, *id); });
  }
  {
    auto c = std::make_shared<Common>();
    CLI::App* tokens = app.add_subcommand("tokens", "Your client tokens: list (the default), create, revoke");
    add_common(tokens, *c);
    tokens->fallthrough();
    tokens->require_subcommand(0, 1);
    CLI::App* list = tokens->add_subcommand("list", "List them (never their text)");
    add_common(list, *c);
    auto label = std::make_shared<std::string>();
    auto days = std::make_shared<int>(0);
    CLI::App* create = tokens->add_subcommand("create", "Make one; its text is printed this once");
    add_common(create, *c);
    create->add_option("--label", *label, "What it is for (at most 100 bytes)");
    create->add_option("--days", *days, "Days it lasts (default and most: the server's --client-token-days)")
        ->check(CLI::Range(1, 3650));
    auto token_id = std::make_shared<long long>(0);
    CLI::App* revoke = tokens->add_subcommand("revoke", "Revoke one, and the sessions made with it");
    add_common(revoke, *c);
    revoke->add_option("id", *token_id, "Token id (as listed)")->required()->check(CLI::Range(1LL, 1LL << 62));
    list->callback([c] { run_tokens_list(*c); });
    create->callback([c, label, days] { run_tokens_create(*c, *label, *days); });
    revoke->callback([c, token_id] { run_tokens_revoke(*c, *token_id); });
    tokens->callback([c, tokens] {
      if (tokens->get_subcommands().empty()) run_tokens_list(*c);
    });
  }
}

}  // namespace lwdock::client
