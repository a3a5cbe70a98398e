// What the suites over a logged-in HTTP server share: a server on
// 127.0.0.1 at a free port, on its own thread, stopped by its destructor
// (also when an assertion fails); accounts made beside it as `lwdock admin
// create-user` makes them; and a client call with a bearer token.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "engine/store/sql_open.h"
#include "service/accounts.h"
#include "service/dock_service.h"
#include "service/http_server.h"

namespace lwd::test {

const std::string kTestPassword = "correct horse battery";

class InProcessServer {
 public:
  explicit InProcessServer(service::DockConfig dock, int threads = 8) : service_(std::move(dock)) {
    service::HttpServerConfig http;
    http.host = "127.0.0.1";
    http.port = 0;
    http.threads = threads;
    http.max_body_bytes = std::uint64_t{4} << 20;
    http.access_log = nullptr;
    server_ = std::make_unique<service::HttpServer>(service_, http);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60, 0);
    for (int i = 0; i < 300; ++i) {
      if (auto r = client_->Get("/healthz"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the server never answered /healthz";
  }
  ~InProcessServer() {
    server_->stop();
    thread_.join();
  }
  httplib::Client& client() { return *client_; }
  service::DockService& service() { return service_; }
  int port() const { return port_; }

 private:
  service::DockService service_;
  std::unique_ptr<service::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

struct HttpReply {
  int status = 0;
  nlohmann::json body;  // the envelope (discarded when the reply is not JSON)
  std::string text;
  const nlohmann::json& data() const {
    static const nlohmann::json none;
    return body.is_object() && body.contains("data") ? body["data"] : none;
  }
};

inline HttpReply http_call(httplib::Client& client, const std::string& method, const std::string& path,
                           const std::string& token = "", const std::optional<nlohmann::json>& body = std::nullopt,
                           const std::string& raw = "", const std::string& content_type = "application/json") {
  httplib::Request req;
  req.method = method;
  req.path = path;
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  if (body) {
    req.body = body->dump();
    req.headers.emplace("Content-Type", "application/json");
  } else if (!raw.empty()) {
    req.body = raw;
    req.headers.emplace("Content-Type", content_type);
  } else if (method == "POST" || method == "PUT") {
    req.headers.emplace("Content-Length", "0");
  }
  const auto r = client.send(req);
  EXPECT_TRUE(r) << method << " " << path << ": no reply";
  if (!r) return {};
  HttpReply out;
  out.status = r->status;
  out.text = r->body;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  return out;
}

inline std::string log_in(httplib::Client& client, const std::string& name) {
  const HttpReply r = http_call(client, "POST", "/api/auth/login", "", nlohmann::json{{"login", name}, {"password", kTestPassword}});
  EXPECT_EQ(r.status, 200) << r.text;
  return r.data().value("token", "");
}

// Makes the accounts in the market's database (url "" : the market's index.sqlite).
inline std::int64_t create_account(const std::string& url, const std::filesystem::path& market_dir,
                                   const std::string& name, service::Role role) {
  service::AccountStoreConfig config;
  config.hash_cost = service::PasswordHashCost::minimum();
  service::AccountStore store(
      [url, file = market_dir / "index.sqlite"] { return open_database_connection(url, file); }, config);
  return store.create_user(name, name + "@example.org", kTestPassword, role).id;
}

inline service::AccountServiceConfig fast_accounts() {
  service::AccountServiceConfig c;
  c.store.hash_cost = service::PasswordHashCost::minimum();
  c.rate = {10000, 10000, 10000, 60};
  return c;
}

}  // namespace lwd::test
