// HTTP for the dock service, on cpp-httplib (Debian's libcpp-httplib): the
// route table of a DockService becomes HTTP routes; every JSON reply is the
// {code, msg, data} envelope with a meaningful status, also for what the
// library answers by itself (no such route, a body over the limit); each
// request leaves one JSON line in the access log; stop() is graceful.
//
// Why cpp-httplib: one library from Debian, a thread pool and keep-alive,
// multipart parsing, streaming replies, and no framework to adopt; the
// handlers never see its types (service/api.h), so it can be replaced.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "service/dock_service.h"

namespace lwd::service {

struct HttpServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (bind() says which)
  int threads = 8;                  // requests served at once
  std::uint64_t max_body_bytes = std::uint64_t{64} << 20;
  std::FILE* access_log = stderr;   // one JSON line per request; nullptr: none
  // The web pages (web/, installed to share/lwdock/web): served at / from this
  // directory, beside the API; empty: no pages.
  std::filesystem::path web_root;
};

// Where the web pages are when --web-root is not given: beside an installed
// program (../share/lwdock/web), else this build tree's copy; empty when
// neither exists.
std::filesystem::path default_web_root();

class HttpServer {
 public:
  HttpServer(const DockService& service, HttpServerConfig config);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port. Throws lwd::Error when the
  // address cannot be bound (in use, not local, ...).
  int bind();
  // Serves until stop(); returns false if it stopped on an error.
  bool serve();
  // Stops accepting, lets the requests in flight finish, then serve()
  // returns. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lwd::service
