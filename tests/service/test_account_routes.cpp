// The account routes over real HTTP: a server on 127.0.0.1 at a free port
// over a market of its own per test, its index and accounts in SQLite or in
// the test PostgreSQL server (stopped by the fixture also when an
// assertion fails), driven by a real client. Every auth, user and admin
// route: what it does, who may call it (401 without a valid token, 403
// below its role, 404 for another user's object), and what it refuses (400
// for a malformed body, 413 for an oversized one, 429 beyond the rate limits).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/scratch_dir.h"
#include "engine/market/market.h"
#include "engine/store/sql_open.h"
#include "service/account_service.h"
#include "service/dock_service.h"
#include "service/http_server.h"
#include "store/index_test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace lwd::service;

const std::string kPassword = "correct horse battery";

class RunningServer {
 public:
  explicit RunningServer(DockConfig dock) : service_(std::move(dock)) {
    log_ = std::tmpfile();
    HttpServerConfig http;
    http.host = "127.0.0.1";
    http.port = 0;
    http.threads = 4;
    http.access_log = log_;
    server_ = std::make_unique<HttpServer>(service_, http);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
    for (int i = 0; i < 200; ++i) {
      if (auto r = client_->Get("/healthz"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the server never answered /healthz";
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
    std::fclose(log_);
  }
  httplib::Client& client() { return *client_; }
  const DockService& service() const { return service_; }
  std::string access_log() {
    std::fflush(log_);
    std::rewind(log_);
    std::string out;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, log_)) out.append(buffer, n);
    return out;
  }

 private:
  DockService service_;
  std::FILE* log_ = nullptr;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

struct Reply {
  int status = 0;
  json body;
  std::string retry_after;
  std::string text;
};

// One request: a JSON body (or `raw` with its content type), a bearer token.
Reply call(httplib::Client& client, const std::string& method, const std::string& path, const std::string& token = "",
           const std::optional<json>& body = std::nullopt, const std::string& raw = "",
           const std::string& content_type = "application/json") {
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
  }
  const auto r = client.send(req);
  EXPECT_TRUE(r) << method << " " << path << ": no reply";
  if (!r) return {};
  Reply out;
  out.status = r->status;
  out.text = r->body;
  out.retry_after = r->get_header_value("Retry-After");
  out.body = json::parse(r->body, nullptr, false);
  EXPECT_FALSE(out.body.is_discarded()) << "not JSON: " << r->body.substr(0, 200);
  return out;
}

void expect_error(const Reply& r, int status, ApiCode code) {
  EXPECT_EQ(r.status, status) << r.text.substr(0, 300);
  if (!r.body.is_object()) return;
  EXPECT_EQ(r.body.value("code", -1), static_cast<int>(code)) << r.text.substr(0, 300);
  EXPECT_FALSE(r.body.value("msg", std::string()).empty());
}

AccountServiceConfig fast_accounts() {
  AccountServiceConfig c;
  c.store.hash_cost = PasswordHashCost::minimum();
  c.registration = RegistrationPolicy::open;
  c.rate = {1000, 1000, 1000, 60};
  return c;
}

// A market of its own with four accounts made beside the server (as
// `lwdock admin create-user` does): root (super-admin), boss (admin), ada
// and bob (users), all with kPassword.
class AccountRoutes : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // SQLite: the market's own index.sqlite; PostgreSQL: a schema of its own.
    if (GetParam() == "postgresql") {
      LWD_INDEX_LOCATION_OR_RETURN(location_, GetParam());
      db_url_ = location_->url();
    }
    lwd::Market::create(dir(), {}, {}, lwd::IndexUrls{db_url_, ""});
    AccountStoreConfig sc;
    sc.hash_cost = PasswordHashCost::minimum();
    AccountStore store(connect(), sc);
    root_id = store.create_user("root", "root@example.org", kPassword, Role::super_admin).id;
    boss_id = store.create_user("boss", "boss@example.org", kPassword, Role::admin).id;
    ada_id = store.create_user("ada", "ada@example.org", kPassword, Role::user).id;
    bob_id = store.create_user("bob", "bob@example.org", kPassword, Role::user).id;
    start(fast_accounts());
    root = log_in("root");
    boss = log_in("boss");
    ada = log_in("ada");
    bob = log_in("bob");
  }
  void TearDown() override { server_.reset(); }

  fs::path dir() const { return tmp_.path() / "market"; }
  AccountStore::Connect connect() const {
    return [url = db_url_, file = dir() / "index.sqlite"] { return lwd::open_database_connection(url, file); };
  }
  DockConfig dock(const AccountServiceConfig& accounts) const {
    DockConfig c;
    c.market_dir = dir();
    c.db.db = db_url_;
    c.ctx.n_threads = 1;
    c.accounts = accounts;
    return c;
  }
  void start(const AccountServiceConfig& accounts) {
    server_.reset();
    server_ = std::make_unique<RunningServer>(dock(accounts));
  }
  httplib::Client& client() { return server_->client(); }
  // The counters start again (SetUp's log-ins count against the address too).
  void reset_rate_limits() {
    connect()()->run("DELETE FROM accounts_rate_limits");
  }
  Reply get(const std::string& path, const std::string& token = "") { return call(client(), "GET", path, token); }
  Reply post(const std::string& path, const json& body, const std::string& token = "") {
    return call(client(), "POST", path, token, body);
  }
  std::string log_in(const std::string& login, const std::string& password = kPassword) {
    const Reply r = post("/api/auth/login", {{"login", login}, {"password", password}});
    EXPECT_EQ(r.status, 200) << r.text;
    return r.body["data"].value("token", "");
  }

  std::unique_ptr<lwd::test::IndexLocation> location_;  // before the server: dropped after it
  std::string db_url_;
  lwd::io::ScratchDir tmp_{"lwd-account-routes-"};
  std::unique_ptr<RunningServer> server_;
  std::int64_t root_id = 0, boss_id = 0, ada_id = 0, bob_id = 0;
  std::string root, boss, ada, bob;
};

// The account routes among all: tag auth, the user's own account (not their
// learnwares, uploads or submissions, also tagged user) and the
// administration of users.
bool is_account_route(const Route& route) {
  if (route.tag == "auth") return true;
  for (const char* prefix : {"/api/user/profile", "/api/user/password", "/api/user/tokens", "/api/admin/users"}) {
    if (route.path.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST_P(AccountRoutes, EveryAccountRouteIsInTheTableWithItsRole) {
  std::map<std::string, Role> expected = {
      {"POST /api/auth/register", Role::anonymous},        {"POST /api/auth/login", Role::anonymous},
      {"POST /api/auth/token-login", Role::anonymous},     {"POST /api/auth/logout", Role::user},
      {"GET /api/auth/me", Role::user},                    {"POST /api/auth/password-reset", Role::anonymous},
      {"GET /api/user/profile", Role::user},               {"POST /api/user/password", Role::user},
      {"GET /api/user/tokens", Role::user},                {"POST /api/user/tokens", Role::user},
      {"DELETE /api/user/tokens/{id}", Role::user},        {"GET /api/admin/users", Role::admin},
      {"DELETE /api/admin/users/{id}", Role::admin},       {"POST /api/admin/users/{id}/password-reset", Role::admin},
      {"PUT /api/admin/users/{id}/role", Role::admin},
  };
  std::map<std::string, Role> found;
  for (const Route& route : server_->service().routes()) {
    if (is_account_route(route)) found[route.method + " " + route.path] = route.min_role;
  }
  EXPECT_EQ(found, expected);
  // The document says who may call each, and that a token is needed.
  const json& doc = server_->service().openapi();
  for (const auto& [key, role] : expected) {
    const std::string method = key.substr(0, key.find(' '));
    std::string lower = method;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const json& op = doc["paths"][key.substr(key.find(' ') + 1)][lower];
    EXPECT_EQ(op["x-lwdock-min-role"], std::string(to_string(role))) << key;
    EXPECT_EQ(op["security"].empty(), role == Role::anonymous) << key;
    EXPECT_NE(op["description"].get<std::string>().find(role == Role::anonymous ? "no token" : to_string(role)),
              std::string::npos)
        << key;
  }
  EXPECT_TRUE(doc["paths"]["/api/auth/login"]["post"]["responses"].contains("429"));
  EXPECT_TRUE(doc["paths"]["/api/auth/register"]["post"]["responses"].contains("409"));
}

// The route's path with {id} filled in: a user for the admin routes, one of
// root's client tokens for the user routes.
std::string concrete_path(const Route& route, std::int64_t user_id, std::int64_t token_id) {
  std::string path = route.path;
  if (const auto at = path.find("{id}"); at != std::string::npos) {
    path.replace(at, 4, std::to_string(route.tag == "admin" ? user_id : token_id));
  }
  return path;
}

TEST_P(AccountRoutes, EveryRouteBelowItsRoleIs401WithoutAValidTokenAnd403WithTooLowARole) {
  const Reply created = post("/api/user/tokens", {{"label", "x"}}, root);
  const std::int64_t token_id = created.body["data"]["id"];
  const std::string dead = "lwd_s_" + std::string(43, 'A');
  for (const Route& route : server_->service().routes()) {
    if (!is_account_route(route) || route.min_role == Role::anonymous) continue;
    const std::string path = concrete_path(route, bob_id, token_id);
    SCOPED_TRACE(route.method + " " + path);
    expect_error(call(client(), route.method, path), 401, ApiCode::unauthenticated);
    expect_error(call(client(), route.method, path, dead), 401, ApiCode::unauthenticated);
    expect_error(call(client(), route.method, path, "lwd_c_" + std::string(43, 'A')), 401, ApiCode::unauthenticated);
    expect_error(call(client(), route.method, path, std::string(4000, 'x')), 401, ApiCode::unauthenticated);
    httplib::Headers basic = {{"Authorization", "Basic cm9vdDpwdw=="}};
    httplib::Request req;
    req.method = route.method;
    req.path = path;
    req.headers = basic;
    const auto r = client().send(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    if (route.min_role == Role::admin) expect_error(call(client(), route.method, path, ada), 403, ApiCode::forbidden);
  }
  // Nothing changed: bob still logs in.
  EXPECT_FALSE(log_in("bob").empty());
}

TEST_P(AccountRoutes, EveryRouteWithABodyRefusesMalformedAndOversizedBodies) {
  const Reply created = post("/api/user/tokens", {{"label", "x"}}, root);
  const std::int64_t token_id = created.body["data"]["id"];
  for (const Route& route : server_->service().routes()) {
    if (!is_account_route(route) || route.request_body.is_null()) continue;
    const std::string path = concrete_path(route, bob_id, token_id);
    SCOPED_TRACE(route.method + " " + path);
    const auto send_raw = [&](const std::string& raw, const std::string& type = "application/json") {
      return call(client(), route.method, path, root, std::nullopt, raw, type);
    };
    expect_error(send_raw(json({{"label", std::string(20000, 'x')}}).dump()), 413, ApiCode::payload_too_large);
    expect_error(send_raw("{bad"), 400, ApiCode::malformed_request);
    expect_error(send_raw("[]"), 400, ApiCode::malformed_request);
    expect_error(send_raw("null"), 400, ApiCode::malformed_request);
    expect_error(send_raw(R"({"no_such_field": 1})"), 400, ApiCode::malformed_request);
    expect_error(send_raw(std::string(50, '[') + std::string(50, ']')), 400, ApiCode::malformed_request);
    expect_error(send_raw("name=x", "application/x-www-form-urlencoded"), 400, ApiCode::malformed_request);
    // Each string field given another JSON type.
    const json& schema = route.request_body["content"]["application/json"]["schema"];
    for (const auto& [field, type] : schema["properties"].items()) {
      for (const json& wrong : {json(5), json(nullptr), json::array({"x"}), json::object(), json(true)}) {
        if ((type["type"] == "integer") == wrong.is_number_integer()) continue;
        json body = json::object();
        for (const auto& [other, _] : schema["properties"].items()) body[other] = other == field ? wrong : json("x");
        if (schema["properties"].contains("role") && field != "role") body["role"] = "user";
        SCOPED_TRACE(body.dump());
        expect_error(call(client(), route.method, path, root, body), 400, ApiCode::malformed_request);
      }
    }
    // A required field missing.
    if (!schema["required"].empty()) expect_error(send_raw("{}"), 400, ApiCode::malformed_request);
  }
  EXPECT_FALSE(log_in("bob").empty());
  EXPECT_FALSE(log_in("root").empty());
}

TEST_P(AccountRoutes, RegisterLogInWhoAmIAndLogOut) {
  const Reply reg = post("/api/auth/register", {{"name", "Eve"}, {"email", "Eve@Example.org"}, {"password", kPassword}});
  ASSERT_EQ(reg.status, 200) << reg.text;
  EXPECT_EQ(reg.body["data"]["user"]["name"], "Eve");
  EXPECT_EQ(reg.body["data"]["user"]["email"], "eve@example.org");
  EXPECT_EQ(reg.body["data"]["user"]["role"], "user");
  EXPECT_FALSE(reg.body["data"]["user"].contains("password"));

  const Reply login = post("/api/auth/login", {{"login", "EVE@example.org"}, {"password", kPassword}});
  ASSERT_EQ(login.status, 200) << login.text;
  const std::string token = login.body["data"]["token"];
  EXPECT_EQ(token.rfind("lwd_s_", 0), 0u);
  EXPECT_TRUE(login.body["data"]["expires_at"].is_string());
  EXPECT_EQ(login.body["data"]["user"]["name"], "Eve");

  const Reply me = get("/api/auth/me", token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.body["data"], (json{{"id", reg.body["data"]["user"]["id"]}, {"name", "Eve"},
                                   {"email", "eve@example.org"}, {"role", "user"}}));
  EXPECT_EQ(get("/api/auth/me", root).body["data"]["role"], "super-admin");
  // The scheme's name in any case.
  httplib::Request lower_case;
  lower_case.method = "GET";
  lower_case.path = "/api/auth/me";
  lower_case.headers.emplace("Authorization", "bearer " + token);
  const auto lower_reply = client().send(lower_case);
  ASSERT_TRUE(lower_reply);
  EXPECT_EQ(lower_reply->status, 200);

  expect_error(post("/api/auth/login", {{"login", "eve"}, {"password", "wrong password"}}), 401,
               ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", "nobody"}, {"password", kPassword}}), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", std::string(100000 / 8, 'x')}, {"password", kPassword}}), 401,
               ApiCode::unauthenticated);

  ASSERT_EQ(call(client(), "POST", "/api/auth/logout", token).status, 200);
  expect_error(get("/api/auth/me", token), 401, ApiCode::unauthenticated);
  expect_error(call(client(), "POST", "/api/auth/logout", token), 401, ApiCode::unauthenticated);
  // Other sessions of the same user live on.
  EXPECT_EQ(get("/api/auth/me", root).status, 200);
}

TEST_P(AccountRoutes, RegistrationRefusesTakenInvalidAndHostileInput) {
  const auto reg = [&](const json& body) { return post("/api/auth/register", body); };
  const json ok = {{"name", "eve"}, {"email", "eve@example.org"}, {"password", kPassword}};
  const auto with = [&](const std::string& key, const json& value) {
    json b = ok;
    b[key] = value;
    return b;
  };
  expect_error(reg(with("name", "ADA")), 409, ApiCode::conflict);
  expect_error(reg(with("email", "Ada@Example.org")), 409, ApiCode::conflict);
  for (const std::string& name : {std::string(100000 / 8, 'n'), std::string("Ëve"), std::string("eve\u202e"),
                                  std::string("x'; DROP TABLE accounts_users; --"), std::string("eve\nroot"),
                                  std::string("")}) {
    SCOPED_TRACE(name.substr(0, 40));
    expect_error(reg(with("name", name)), 422, ApiCode::unprocessable);
  }
  for (const std::string& email : {std::string("not-an-address"), std::string("a@b@c"), std::string("ev e@x.org"),
                                   std::string(300, 'e') + "@x.org"}) {
    expect_error(reg(with("email", email)), 422, ApiCode::unprocessable);
  }
  for (const std::string& password : {std::string("short"), std::string(12, 'z'), std::string("eve@example.org"),
                                      std::string(2000, 'p')}) {
    expect_error(reg(with("password", password)), 422, ApiCode::unprocessable);
  }
  expect_error(reg({{"name", "eve"}, {"email", "eve@example.org"}}), 400, ApiCode::malformed_request);
  expect_error(reg(with("name", 42)), 400, ApiCode::malformed_request);
  expect_error(reg(with("password", nullptr)), 400, ApiCode::malformed_request);
  expect_error(reg(with("role", "super-admin")), 400, ApiCode::malformed_request);  // no one registers a role
  // Quotes and non-ASCII letters in an address, and SQL in a password, are only data.
  json hostile = ok;
  hostile["email"] = "o'brien+ünï@example.org";
  hostile["password"] = "'); DROP TABLE accounts_users; --";
  const Reply r = reg(hostile);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["data"]["user"]["email"], "o'brien+ünï@example.org");
  EXPECT_FALSE(log_in("o'brien+ünï@example.org", "'); DROP TABLE accounts_users; --").empty());
  EXPECT_FALSE(log_in("ada").empty());
}

TEST_P(AccountRoutes, RegistrationFollowsThePolicy) {
  const json eve = {{"name", "eve"}, {"email", "eve@example.org"}, {"password", kPassword}};
  AccountServiceConfig closed = fast_accounts();
  closed.registration = RegistrationPolicy::closed;
  start(closed);
  expect_error(post("/api/auth/register", eve), 403, ApiCode::forbidden);
  AccountServiceConfig patterns = fast_accounts();
  patterns.registration = RegistrationPolicy::email_patterns;
  patterns.registration_email_patterns = {"*@Example.ORG", "admin-?@corp.net"};
  start(patterns);
  expect_error(post("/api/auth/register", {{"name", "mal"}, {"email", "mal@example.org.evil.net"}, {"password", kPassword}}),
               403, ApiCode::forbidden);
  expect_error(post("/api/auth/register", {{"name", "mal"}, {"email", "admin-12@corp.net"}, {"password", kPassword}}),
               403, ApiCode::forbidden);
  EXPECT_EQ(post("/api/auth/register", {{"name", "kim"}, {"email", "admin-1@corp.net"}, {"password", kPassword}}).status,
            200);
  EXPECT_EQ(post("/api/auth/register", eve).status, 200);
  // The default is closed.
  EXPECT_EQ(AccountServiceConfig{}.registration, RegistrationPolicy::closed);
}

TEST_P(AccountRoutes, AClientTokenLogsInAndItsSessionsDieWithIt) {
  const Reply created = post("/api/user/tokens", {{"label", "laptop"}, {"expires_in_days", 7}}, ada);
  ASSERT_EQ(created.status, 200) << created.text;
  const std::string client_token = created.body["data"]["token"];
  EXPECT_EQ(client_token.rfind("lwd_c_", 0), 0u);
  const Reply session = post("/api/auth/token-login", {{"token", client_token}});
  ASSERT_EQ(session.status, 200) << session.text;
  const std::string session_token = session.body["data"]["token"];
  EXPECT_EQ(session_token.rfind("lwd_s_", 0), 0u);
  EXPECT_EQ(session.body["data"]["user"]["name"], "ada");
  EXPECT_EQ(get("/api/auth/me", session_token).body["data"]["name"], "ada");
  EXPECT_EQ(get("/api/auth/me", client_token).body["data"]["name"], "ada");  // a client token is a bearer token too
  // A session token or garbage is no client token.
  expect_error(post("/api/auth/token-login", {{"token", ada}}), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/token-login", {{"token", "lwd_c_'; --"}}), 401, ApiCode::unauthenticated);
  const std::int64_t id = created.body["data"]["id"];
  ASSERT_EQ(call(client(), "DELETE", "/api/user/tokens/" + std::to_string(id), ada).status, 200);
  expect_error(get("/api/auth/me", client_token), 401, ApiCode::unauthenticated);
  expect_error(get("/api/auth/me", session_token), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/token-login", {{"token", client_token}}), 401, ApiCode::unauthenticated);
}

TEST_P(AccountRoutes, ClientTokensAreListedWithoutTheirTextAndAreTheOwnersOnly) {
  const Reply created = post("/api/user/tokens", {{"label", "ci ✓"}}, ada);
  ASSERT_EQ(created.status, 200);
  const std::string text = created.body["data"]["token"];
  const std::int64_t id = created.body["data"]["id"];
  const Reply list = get("/api/user/tokens", ada);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["data"]["items"].size(), 1u);
  EXPECT_EQ(list.body["data"]["items"][0]["label"], "ci ✓");
  EXPECT_EQ(list.body["data"]["items"][0]["revoked"], false);
  EXPECT_EQ(list.text.find(text.substr(6)), std::string::npos) << "a listing shows the token's text";
  EXPECT_TRUE(get("/api/user/tokens", bob).body["data"]["items"].empty());
  // Another user's token is not found, whatever their role; nor is a made-up one.
  for (const std::string& other : {bob, boss, root}) {
    expect_error(call(client(), "DELETE", "/api/user/tokens/" + std::to_string(id), other), 404, ApiCode::not_found);
  }
  for (const std::string& bad : {std::string("99999"), std::string("abc"), std::string("-1"), std::string("0"),
                                 std::string("1%20OR%201=1"), std::string(400, '9')}) {
    expect_error(call(client(), "DELETE", "/api/user/tokens/" + bad, ada), 404, ApiCode::not_found);
  }
  EXPECT_EQ(get("/api/auth/me", text).status, 200);
  for (const json& days : {json(0), json(-1), json(100000), json(1.5), json("7")}) {
    SCOPED_TRACE(days.dump());
    expect_error(post("/api/user/tokens", {{"expires_in_days", days}}, ada), 400, ApiCode::malformed_request);
  }
  expect_error(post("/api/user/tokens", {{"label", std::string(101, 'l')}}, ada), 422, ApiCode::unprocessable);
  EXPECT_EQ(post("/api/user/tokens", json::object(), ada).status, 200);  // a label is optional
}

TEST_P(AccountRoutes, ChangingThePasswordRevokesTheOtherSessions) {
  const std::string other = log_in("ada");
  const Reply profile = get("/api/user/profile", ada);
  ASSERT_EQ(profile.status, 200);
  EXPECT_EQ(profile.body["data"]["name"], "ada");
  EXPECT_EQ(profile.body["data"]["id"], ada_id);
  expect_error(post("/api/user/password", {{"old_password", "wrong password"}, {"new_password", "a new pass phrase"}}, ada),
               403, ApiCode::forbidden);
  EXPECT_EQ(get("/api/auth/me", other).status, 200);
  expect_error(post("/api/user/password", {{"old_password", kPassword}, {"new_password", "short"}}, ada), 422,
               ApiCode::unprocessable);
  ASSERT_EQ(post("/api/user/password", {{"old_password", kPassword}, {"new_password", "a new pass phrase"}}, ada).status,
            200);
  EXPECT_EQ(get("/api/auth/me", ada).status, 200);
  expect_error(get("/api/auth/me", other), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", "ada"}, {"password", kPassword}}), 401, ApiCode::unauthenticated);
  EXPECT_FALSE(log_in("ada", "a new pass phrase").empty());
}

TEST_P(AccountRoutes, AdministratorsListAndFilterUsers) {
  Reply r = get("/api/admin/users", boss);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["data"]["total"], 4);
  std::vector<std::string> names;
  for (const auto& u : r.body["data"]["items"]) names.push_back(u["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"root", "boss", "ada", "bob"}));
  EXPECT_EQ(r.text.find("argon2"), std::string::npos);
  r = get("/api/admin/users?role=user", root);
  EXPECT_EQ(r.body["data"]["total"], 2);
  r = get("/api/admin/users?q=BO", root);
  EXPECT_EQ(r.body["data"]["total"], 2);  // boss, bob
  r = get("/api/admin/users?page_size=1&page=3", root);
  ASSERT_EQ(r.body["data"]["items"].size(), 1u);
  EXPECT_EQ(r.body["data"]["items"][0]["name"], "ada");
  for (const char* q : {"%25", "_", "%27%3B%20DROP%20TABLE%20accounts_users%3B--"}) {
    r = get(std::string("/api/admin/users?q=") + q, root);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body["data"]["total"], 0) << q;
  }
  for (const char* bad : {"role=god", "role=anonymous", "page=0", "page_size=1000", "page=x"}) {
    expect_error(get(std::string("/api/admin/users?") + bad, root), 400, ApiCode::malformed_request);
  }
  expect_error(get("/api/admin/users?q=" + std::string(300, 'q'), root), 400, ApiCode::malformed_request);
}

TEST_P(AccountRoutes, AdministratorsDeleteUsersBelowTheirRoleOnly) {
  const auto del = [&](std::int64_t id, const std::string& token) {
    return call(client(), "DELETE", "/api/admin/users/" + std::to_string(id), token);
  };
  expect_error(del(root_id, boss), 403, ApiCode::forbidden);
  expect_error(del(boss_id, boss), 403, ApiCode::forbidden);  // not oneself
  expect_error(del(root_id, root), 403, ApiCode::forbidden);
  expect_error(del(99999, boss), 404, ApiCode::not_found);
  expect_error(call(client(), "DELETE", "/api/admin/users/abc", boss), 404, ApiCode::not_found);
  ASSERT_EQ(del(ada_id, boss).status, 200);
  expect_error(get("/api/auth/me", ada), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", "ada"}, {"password", kPassword}}), 401, ApiCode::unauthenticated);
  expect_error(del(ada_id, boss), 404, ApiCode::not_found);
  ASSERT_EQ(del(boss_id, root).status, 200);
  expect_error(get("/api/admin/users", boss), 401, ApiCode::unauthenticated);
  EXPECT_EQ(get("/api/admin/users", root).body["data"]["total"], 2);
}

TEST_P(AccountRoutes, AnAdministratorsResetHandsOverASingleUseTokenNeverAPassword) {
  const std::string bobs_client = post("/api/user/tokens", {{"label", "x"}}, bob).body["data"]["token"];
  const Reply reset = call(client(), "POST", "/api/admin/users/" + std::to_string(bob_id) + "/password-reset", boss);
  ASSERT_EQ(reset.status, 200) << reset.text;
  const std::string token = reset.body["data"]["reset_token"];
  EXPECT_EQ(token.rfind("lwd_r_", 0), 0u);
  EXPECT_TRUE(reset.body["data"]["expires_at"].is_string());
  EXPECT_EQ(reset.body["data"]["user"]["name"], "bob");
  for (const auto& [key, _] : reset.body["data"].items()) EXPECT_EQ(key.find("password"), std::string::npos) << key;
  // Bob is logged out everywhere and his password no longer works.
  expect_error(get("/api/auth/me", bob), 401, ApiCode::unauthenticated);
  expect_error(get("/api/auth/me", bobs_client), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", "bob"}, {"password", kPassword}}), 401, ApiCode::unauthenticated);
  // The reset token is not a bearer token.
  expect_error(get("/api/auth/me", token), 401, ApiCode::unauthenticated);
  // Bob chooses a new password with it, once.
  expect_error(post("/api/auth/password-reset", {{"token", token}, {"new_password", "weak"}}), 422,
               ApiCode::unprocessable);
  ASSERT_EQ(post("/api/auth/password-reset", {{"token", token}, {"new_password", "bobs new pass phrase"}}).status, 200);
  EXPECT_FALSE(log_in("bob", "bobs new pass phrase").empty());
  expect_error(post("/api/auth/password-reset", {{"token", token}, {"new_password", "another pass phrase"}}), 401,
               ApiCode::unauthenticated);
  expect_error(post("/api/auth/password-reset", {{"token", "lwd_r_" + std::string(43, 'A')}, {"new_password", "x"}}),
               401, ApiCode::unauthenticated);
  // An admin resets users only; nobody resets themselves here.
  const auto reset_of = [&](std::int64_t id, const std::string& by) {
    return call(client(), "POST", "/api/admin/users/" + std::to_string(id) + "/password-reset", by);
  };
  expect_error(reset_of(root_id, boss), 403, ApiCode::forbidden);
  expect_error(reset_of(boss_id, boss), 403, ApiCode::forbidden);
  expect_error(reset_of(99999, boss), 404, ApiCode::not_found);
  EXPECT_EQ(reset_of(boss_id, root).status, 200);
}

TEST_P(AccountRoutes, RolesAreChangedOnlyByAHigherRoleAndNeverByOneself) {
  const auto set_role = [&](std::int64_t id, const std::string& role, const std::string& by) {
    return call(client(), "PUT", "/api/admin/users/" + std::to_string(id) + "/role", by, json{{"role", role}});
  };
  expect_error(set_role(ada_id, "admin", boss), 403, ApiCode::forbidden);  // an admin makes no admin
  expect_error(set_role(ada_id, "super-admin", boss), 403, ApiCode::forbidden);
  expect_error(set_role(root_id, "user", boss), 403, ApiCode::forbidden);
  expect_error(set_role(boss_id, "super-admin", boss), 403, ApiCode::forbidden);  // nor changes their own
  expect_error(set_role(root_id, "user", root), 403, ApiCode::forbidden);
  expect_error(set_role(ada_id, "god", root), 400, ApiCode::malformed_request);
  expect_error(set_role(ada_id, "anonymous", root), 400, ApiCode::malformed_request);
  expect_error(set_role(99999, "user", root), 404, ApiCode::not_found);
  expect_error(set_role(ada_id, "admin", ada), 403, ApiCode::forbidden);
  EXPECT_EQ(set_role(ada_id, "user", boss).status, 200);
  // A super-admin grants admin; the role holds at the next request, same token.
  const Reply r = set_role(ada_id, "admin", root);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["data"]["user"]["role"], "admin");
  EXPECT_EQ(get("/api/auth/me", ada).body["data"]["role"], "admin");
  EXPECT_EQ(get("/api/admin/users", ada).status, 200);
  // A second super-admin may demote the first.
  ASSERT_EQ(set_role(bob_id, "super-admin", root).status, 200);
  ASSERT_EQ(set_role(root_id, "admin", bob).status, 200);
  EXPECT_EQ(get("/api/auth/me", root).body["data"]["role"], "admin");
  expect_error(set_role(bob_id, "user", root), 403, ApiCode::forbidden);
}

TEST_P(AccountRoutes, LogInsAreRateLimitedPerAddressWithRetryAfter) {
  AccountServiceConfig limited = fast_accounts();
  limited.rate.login_per_address = 3;
  start(limited);
  reset_rate_limits();
  for (int i = 0; i < 3; ++i) {
    expect_error(post("/api/auth/login", {{"login", "ada" + std::to_string(i)}, {"password", "wrong"}}), 401,
                 ApiCode::unauthenticated);
  }
  const Reply limited_reply = post("/api/auth/login", {{"login", "ada"}, {"password", kPassword}});
  expect_error(limited_reply, 429, ApiCode::rate_limited);
  ASSERT_FALSE(limited_reply.retry_after.empty());
  const int after = std::stoi(limited_reply.retry_after);
  EXPECT_GT(after, 0);
  EXPECT_LE(after, 60);
  // Token logins and resets from the address count too; a logged-in user is not limited.
  expect_error(post("/api/auth/token-login", {{"token", "x"}}), 429, ApiCode::rate_limited);
  expect_error(post("/api/auth/password-reset", {{"token", "x"}, {"new_password", "y"}}), 429, ApiCode::rate_limited);
  EXPECT_EQ(get("/api/auth/me", ada).status, 200);
}

TEST_P(AccountRoutes, LogInsAreRateLimitedPerAccountWhateverTheAddress) {
  AccountServiceConfig limited = fast_accounts();
  limited.rate.login_per_account = 2;
  start(limited);
  reset_rate_limits();
  expect_error(post("/api/auth/login", {{"login", "ada"}, {"password", "wrong"}}), 401, ApiCode::unauthenticated);
  expect_error(post("/api/auth/login", {{"login", "ADA"}, {"password", "wrong"}}), 401, ApiCode::unauthenticated);
  // The e-mail names the same account.
  const Reply r = post("/api/auth/login", {{"login", "Ada@Example.org"}, {"password", kPassword}});
  expect_error(r, 429, ApiCode::rate_limited);
  EXPECT_FALSE(r.retry_after.empty());
  EXPECT_FALSE(log_in("bob").empty());
  // Password changes of one account count against it too.
  for (int i = 0; i < 2; ++i) {
    expect_error(post("/api/user/password", {{"old_password", "wrong"}, {"new_password", "a new pass phrase"}}, bob),
                 403, ApiCode::forbidden);
  }
  expect_error(post("/api/user/password", {{"old_password", kPassword}, {"new_password", "a new pass phrase"}}, bob),
               429, ApiCode::rate_limited);
}

TEST_P(AccountRoutes, RegistrationsAreRateLimitedPerAddress) {
  AccountServiceConfig limited = fast_accounts();
  limited.rate.register_per_address = 2;
  start(limited);
  reset_rate_limits();
  EXPECT_EQ(post("/api/auth/register", {{"name", "e1"}, {"email", "e1@x.org"}, {"password", kPassword}}).status, 200);
  expect_error(post("/api/auth/register", {{"name", "e2"}}), 400, ApiCode::malformed_request);
  const Reply r = post("/api/auth/register", {{"name", "e3"}, {"email", "e3@x.org"}, {"password", kPassword}});
  expect_error(r, 429, ApiCode::rate_limited);
  EXPECT_FALSE(r.retry_after.empty());
}

TEST_P(AccountRoutes, TwoReplicasOnOneDatabaseShareSessions) {
  RunningServer replica(dock(fast_accounts()));
  EXPECT_EQ(call(replica.client(), "GET", "/api/auth/me", ada).body["data"]["name"], "ada");
  ASSERT_EQ(call(replica.client(), "POST", "/api/auth/logout", ada).status, 200);
  expect_error(get("/api/auth/me", ada), 401, ApiCode::unauthenticated);
  const Reply login = call(replica.client(), "POST", "/api/auth/login", "", json{{"login", "bob"}, {"password", kPassword}});
  EXPECT_EQ(get("/api/auth/me", login.body["data"]["token"]).body["data"]["name"], "bob");
}

TEST_P(AccountRoutes, NoTokenOrPasswordReachesTheAccessLog) {
  const std::string client_token = post("/api/user/tokens", {{"label", "x"}}, ada).body["data"]["token"];
  const std::string reset =
      call(client(), "POST", "/api/admin/users/" + std::to_string(bob_id) + "/password-reset", root)
          .body["data"]["reset_token"];
  get("/api/auth/me?token=" + ada, ada);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string log = server_->access_log();
  EXPECT_NE(log.find("/api/auth/me"), std::string::npos);
  EXPECT_NE(log.find("\"user\":\"" + std::to_string(ada_id) + "\""), std::string::npos) << log.substr(0, 500);
  for (const std::string& secret : {ada, root, client_token, reset, kPassword}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret.substr(0, 8);
  }
  EXPECT_EQ(log.find("lwd_"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Backends, AccountRoutes, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
