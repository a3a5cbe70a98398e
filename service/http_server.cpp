#include "service/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "service/openapi.h"
#include "service/zip_stream.h"

namespace lwd::service {
namespace {

using Clock = std::chrono::steady_clock;

// What the access log needs of the request being served on this thread
// (cpp-httplib serves one request at a time per thread).
struct RequestTrace {
  Clock::time_point start;
  std::string route = "-";  // the route's pattern, never the path (ids, later tokens)
  std::string user;         // empty: anonymous
};
thread_local RequestTrace t_trace;

std::string utc_now_with_millis() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return text;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "/api/engine/learnwares/{id}" -> "/api/engine/learnwares/([^/]+)", regex
// characters of the literal parts escaped.
std::string path_regex(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '{') {
      i = path.find('}', i);
      out += "([^/]+)";
    } else if (std::string_view(".^$|()[]*+?\\").find(c) != std::string_view::npos) {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

void send_envelope(httplib::Response& res, int status, ApiCode code, std::string_view message,
                   const nlohmann::json& data = nullptr) {
  res.status = status;
  res.set_content(envelope(code, message, data).dump(), "application/json");
}

ApiRequest to_api_request(const httplib::Request& req, const std::vector<std::string>& param_names) {
  ApiRequest out;
  out.method = req.method;
  out.path = req.path;
  for (std::size_t i = 0; i < param_names.size() && i + 1 < req.matches.size(); ++i) {
    out.path_params[param_names[i]] = req.matches[i + 1].str();
  }
  for (const auto& [key, value] : req.params) out.query.emplace(key, value);
  for (const auto& [key, value] : req.headers) out.headers.emplace(lower(key), value);
  std::string type = req.get_header_value("Content-Type");
  type = lower(type.substr(0, type.find(';')));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.pop_back();
  out.content_type = type;
  if (type == "multipart/form-data") {
    for (const auto& [name, part] : req.files) {
      if (out.files.contains(name) || out.form_fields.contains(name)) {
        throw ApiError(ApiCode::malformed_request, "part \"" + name + "\" appears twice");
      }
      if (part.filename.empty()) {
        out.form_fields[name] = part.content;
      } else {
        out.files[name] = UploadedFile{part.filename, part.content_type, part.content};
      }
    }
  } else {
    out.body = req.body;
  }
  out.remote_addr = req.remote_addr;
  return out;
}

}  // namespace

struct HttpServer::Impl {
  const DockService& service;
  HttpServerConfig config;
  httplib::Server server;
  std::mutex log_mutex;
  bool bound = false;

  Impl(const DockService& s, HttpServerConfig c) : service(s), config(std::move(c)) {}

  void log(const httplib::Request& req, const httplib::Response& res) {
    if (config.access_log == nullptr) return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t_trace.start).count();
    const nlohmann::json line = {{"time", utc_now_with_millis()},
                                 {"method", req.method},
                                 {"route", t_trace.route},
                                 {"status", res.status},
                                 {"duration_ms", std::round(ms * 1000.0) / 1000.0},
                                 {"user", t_trace.user.empty() ? nlohmann::json(nullptr) : nlohmann::json(t_trace.user)},
                                 {"remote", req.remote_addr}};
    const std::string text = line.dump() + "\n";
    std::lock_guard lock(log_mutex);
    std::fputs(text.c_str(), config.access_log);
    std::fflush(config.access_log);
  }

  void answer(const Route& route, const std::vector<std::string>& param_names, const httplib::Request& req,
              httplib::Response& res) {
    t_trace.route = route.path;
    if (route.path == "/api/openapi.json") {
      res.set_content(service.openapi().dump(), "application/json");
      return;
    }
    try {
      ApiRequest request = to_api_request(req, param_names);
      service.authenticate(request);
      if (request.user_id != 0) t_trace.user = std::to_string(request.user_id);
      if (request.role < route.min_role) {
        if (request.role == Role::anonymous) throw ApiError(ApiCode::unauthenticated, "log in first");
        throw ApiError(ApiCode::forbidden, "this needs the role " + std::string(to_string(route.min_role)));
      }
      ApiReply reply = route.handler(request);
      if (reply.is_file()) {
        send_file(reply, res);
        return;
      }
      res.status = reply.http_status;
      res.set_content(envelope(ApiCode::ok, "ok", std::move(reply.data)).dump(), "application/json");
    } catch (const ApiError& e) {
      for (const auto& [name, value] : e.headers()) res.set_header(name, value);
      send_envelope(res, e.http_status(), e.code(), e.what());
    } catch (const Error& e) {
      // An engine error a handler did not classify: the server's failure.
      send_envelope(res, 500, ApiCode::internal, e.what());
    }
  }

  static void send_file(const ApiReply& reply, httplib::Response& res) {
    if (!reply.zip_members.empty()) {
      const auto size = stored_zip_size(reply.zip_members);
      if (!size) throw ApiError(ApiCode::payload_too_large, "the packages are too large for one zip: download them one by one");
      res.set_header("Content-Disposition", "attachment; filename=\"" + reply.download_name + "\"");
      res.set_content_provider(static_cast<std::size_t>(*size), "application/zip",
                               [members = reply.zip_members](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                                 // One call writes the whole archive (the library then sees its length reached).
                                 if (offset != 0) return false;
                                 return write_stored_zip(members, [&sink](const char* data, std::size_t n) {
                                   return sink.write(data, n);
                                 });
                               });
      return;
    }
    auto in = std::make_shared<std::ifstream>(reply.file_path, std::ios::binary);
    std::error_code ec;
    const auto size = std::filesystem::file_size(reply.file_path, ec);
    if (!*in || ec) throw Error("cannot read " + reply.file_path);
    res.set_header("Content-Disposition", "attachment; filename=\"" + reply.download_name + "\"");
    res.set_content_provider(
        static_cast<std::size_t>(size), reply.file_content_type,
        [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          std::vector<char> buffer(std::min<std::size_t>(length, std::size_t{1} << 16));
          in->seekg(static_cast<std::streamoff>(offset));
          in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
          const auto got = static_cast<std::size_t>(in->gcount());
          return got > 0 && sink.write(buffer.data(), got);
        });
  }

  void install() {
    const int threads = std::max(1, config.threads);
    server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    server.set_payload_max_length(static_cast<std::size_t>(config.max_body_bytes));
    // Replies go out in several writes (headers, then the body); with Nagle's
    // algorithm the second waits for the client's delayed ACK, 40 ms a request.
    server.set_tcp_nodelay(true);
    server.set_read_timeout(30, 0);
    server.set_write_timeout(30, 0);
    server.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
      t_trace = RequestTrace{Clock::now(), "-", ""};
      return httplib::Server::HandlerResponse::Unhandled;
    });
    for (const Route& route : service.routes()) {
      const std::vector<std::string> names = path_parameter_names(route.path);
      const std::string pattern = path_regex(route.path);
      auto handler = [this, &route, names](const httplib::Request& req, httplib::Response& res) {
        answer(route, names, req, res);
      };
      if (route.method == "GET") server.Get(pattern, handler);
      else if (route.method == "POST") server.Post(pattern, handler);
      else if (route.method == "PUT") server.Put(pattern, handler);
      else if (route.method == "PATCH") server.Patch(pattern, handler);
      else if (route.method == "DELETE") server.Delete(pattern, handler);
      else throw Error("route " + route.path + ": unsupported method " + route.method);
    }
    // What the library answers by itself (no route, a body over the limit,
    // an unreadable request) gets the envelope too.
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      switch (res.status) {
        case 404:
          send_envelope(res, 404, ApiCode::not_found, "no such route");
          break;
        case 413:
          send_envelope(res, 413, ApiCode::payload_too_large, "the body is larger than this server accepts");
          break;
        case 400:
          send_envelope(res, 400, ApiCode::malformed_request, "the request cannot be read");
          break;
        default:
          if (res.status >= 500) send_envelope(res, res.status, ApiCode::internal, "internal error");
          else send_envelope(res, res.status, ApiCode::malformed_request, "request refused");
      }
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = std::string("internal error: ") + e.what();
      } catch (...) {
      }
      send_envelope(res, 500, ApiCode::internal, what);
    });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) { log(req, res); });
    if (!config.web_root.empty()) mount_web_pages();
  }

  // The pages are files: the library serves them (GET and HEAD, MIME types by
  // extension, no path outside the directory) before any route is tried, so
  // nothing under web_root may be named api/ (web/CMakeLists.txt copies only
  // the page files). Every page and script comes from this origin: the policy
  // forbids inline scripts and other origins, which also keeps a learnware's
  // name or description from ever running as script in a page.
  void mount_web_pages() {
    if (!std::filesystem::is_directory(config.web_root) ||
        !std::filesystem::is_regular_file(config.web_root / "index.html")) {
      throw Error("the web pages' directory " + config.web_root.string() + " has no index.html");
    }
    if (std::filesystem::exists(config.web_root / "api")) {
      throw Error("the web pages' directory " + config.web_root.string() + " has an api/ entry, which would hide the API");
    }
    const httplib::Headers headers = {
        {"Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
         "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-cache"}};
    server.set_file_extension_and_mimetype_mapping("mjs", "text/javascript");
    server.set_file_extension_and_mimetype_mapping("js", "text/javascript");
    server.set_file_extension_and_mimetype_mapping("svg", "image/svg+xml");
    if (!server.set_mount_point("/", config.web_root.string(), headers)) {
      throw Error("cannot serve the web pages from " + config.web_root.string());
    }
    server.set_file_request_handler([](const httplib::Request&, httplib::Response&) { t_trace.route = "(page)"; });
  }
};

HttpServer::HttpServer(const DockService& service, HttpServerConfig config)
    : impl_(std::make_unique<Impl>(service, std::move(config))) {
  impl_->install();
}

HttpServer::~HttpServer() { stop(); }

namespace {

// cpp-httplib (Debian's 0.11, a compiled library) listens with a backlog of
// 5: a burst of more connections than that -- 50 clients submitting at once,
// a balancer opening its pool -- overflows the accept queue, and the
// connections beyond it stall or are reset before a thread ever sees them.
// Linux lets listen() be called again on a listening socket to change its
// backlog; the library keeps the socket to itself, so it is found among this
// process's descriptors by being the one listening on our port.
void widen_listen_backlog(int port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    int listening = 0;
    socklen_t size = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || listening == 0) continue;
    sockaddr_storage address{};
    socklen_t address_size = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_size) != 0) continue;
    int bound_port = -1;
    if (address.ss_family == AF_INET) bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    if (address.ss_family == AF_INET6) bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    if (bound_port == port) ::listen(fd, SOMAXCONN);
  }
}

}  // namespace

std::filesystem::path default_web_root() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // bin/ or libexec/lwdock/ of an installation
    for (const char* up : {"../share/lwdock/web", "../../share/lwdock/web"}) {
      const auto dir = (self.parent_path() / up).lexically_normal();
      if (std::filesystem::is_regular_file(dir / "index.html", ec)) return dir;
    }
  }
#ifdef LWD_WEB_BUILD_DIR
  if (std::filesystem::is_regular_file(std::filesystem::path(LWD_WEB_BUILD_DIR) / "index.html", ec))
    return LWD_WEB_BUILD_DIR;
#endif
  return {};
}

int HttpServer::bind() {
  const std::string& host = impl_->config.host;
  int port = impl_->config.port;
  if (port == 0) {
    port = impl_->server.bind_to_any_port(host);
    if (port < 0) throw Error("cannot listen on " + host + ": no free port, or not a local address");
  } else if (!impl_->server.bind_to_port(host, port)) {
    throw Error("cannot listen on " + host + ":" + std::to_string(port) +
                ": the port is in use, or the address is not this machine's");
  }
  impl_->bound = true;
  widen_listen_backlog(port);
  return port;
}

bool HttpServer::serve() {
  if (!impl_->bound) bind();
  return impl_->server.listen_after_bind();
}

void HttpServer::stop() {
  if (impl_) impl_->server.stop();
}

}  // namespace lwd::service
