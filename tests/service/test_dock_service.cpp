// The dock service over HTTP: a real server on 127.0.0.1 at a free port,
// driven by a real client, stopped by the test (also when an assertion
// fails: the fixture's destructor stops it). And the server's program:
// started as a process, stopped with SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/json_api.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/market/market.h"
#include "service/dock_service.h"
#include "service/http_server.h"
#include "service/spec_summary.h"
#include "tests/market/market_fixture.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using lwd::testing_market::make_package;
using lwd::testing_market::PackageParts;
using lwd::testing_market::TempDir;
using namespace lwd::service;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A market of three usable table learnwares (width 3, apart from each
// other) and one invalid one, made once for the whole suite.
class ServiceMarket {
 public:
  ServiceMarket() {
    const fs::path packages = tmp.path() / "packages";
    fs::create_directories(packages);
    lwd::Market market = lwd::Market::create(dir());
    for (int i = 0; i < 3; ++i) {
      PackageParts parts;
      parts.name = "lw" + std::to_string(i);
      parts.centre = 3.0 * i;
      parts.seed = 10 + i;
      usable.push_back(market.add(make_package(packages, parts)).id);
    }
    PackageParts bad;
    bad.name = "bad";
    bad.spec_width = 4;  // the model takes 3 features: invalid
    invalid = market.add(make_package(packages, bad)).id;
    user_spec_path = tmp.path() / "user.json";
    lwd::kernels::RkmeOptions o;
    o.k = 10;
    lwd::RKMETableSpec::generate(lwd::kernels::Context{.seed = 99},
                                 lwd::testing_market::blob(200, 3, 3.0, 99), o)
        .save(user_spec_path);
  }
  fs::path dir() const { return tmp.path() / "market"; }

  TempDir tmp;
  std::vector<std::string> usable;
  std::string invalid;
  fs::path user_spec_path;
};

ServiceMarket& shared_market() {
  static ServiceMarket market;
  return market;
}

// A server on a free port, serving on its own thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(DockConfig dock, HttpServerConfig http = {}) : service_(std::move(dock)) {
    log_ = std::tmpfile();
    http.host = "127.0.0.1";
    http.port = 0;
    http.threads = 4;
    http.access_log = log_;
    server_ = std::make_unique<HttpServer>(service_, http);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
    // Ready when it answers.
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

DockConfig config_for(const ServiceMarket& m) {
  DockConfig c;
  c.market_dir = m.dir();
  c.ctx.n_threads = 1;
  return c;
}

// The reply's status, and its body parsed as the envelope (which it must be).
struct Reply {
  int status = 0;
  json body;
};

Reply as_reply(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no reply";
  if (!r) return {};
  Reply out;
  out.status = r->status;
  out.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(out.body.is_discarded()) << "not JSON: " << r->body.substr(0, 200);
  return out;
}

void expect_error(const Reply& r, int status, ApiCode code) {
  EXPECT_EQ(r.status, status) << r.body.dump();
  ASSERT_TRUE(r.body.is_object());
  EXPECT_EQ(r.body.value("code", -1), static_cast<int>(code)) << r.body.dump();
  EXPECT_FALSE(r.body.value("msg", std::string()).empty());
  EXPECT_TRUE(r.body.contains("data"));
}

class DockServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RunningServer(config_for(shared_market())); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  httplib::Client& client() { return server_->client(); }
  static RunningServer* server_;
};
RunningServer* DockServiceTest::server_ = nullptr;

TEST_F(DockServiceTest, HealthAndReadinessAnswerWithTheEnvelope) {
  for (const char* path : {"/healthz", "/readyz"}) {
    const Reply r = as_reply(client().Get(path));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body["code"], 0);
    EXPECT_EQ(r.body["msg"], "ok");
    EXPECT_TRUE(r.body["data"].contains("status"));
  }
}

TEST_F(DockServiceTest, TheOpenApiDocumentListsExactlyTheRoutesWithTheirSecurity) {
  const auto r = client().Get("/api/openapi.json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json doc = json::parse(r->body);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  std::set<std::string> documented;
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, op] : methods.items()) documented.insert(method + " " + path);
  }
  std::set<std::string> routed;
  for (const Route& route : server_->service().routes()) {
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    routed.insert(method + " " + route.path);
    const json& op = doc["paths"][route.path][method];
    ASSERT_TRUE(op.is_object()) << route.path;
    EXPECT_EQ(op["x-lwdock-min-role"], std::string(to_string(route.min_role))) << route.path;
    EXPECT_TRUE(op.contains("security")) << route.path << ": every operation declares its security";
    EXPECT_EQ(op["security"].empty(), route.min_role == Role::anonymous) << route.path;
    if (!op["security"].empty()) {
      EXPECT_TRUE(doc["components"]["securitySchemes"].contains(op["security"][0].begin().key())) << route.path;
      EXPECT_TRUE(op["responses"].contains("401")) << route.path;
      EXPECT_TRUE(op["responses"].contains("403")) << route.path;
    }
    // The least role in words too, for a reader of the document.
    EXPECT_NE(op["description"].get<std::string>().find(route.min_role == Role::anonymous
                                                            ? std::string("no token")
                                                            : std::string(to_string(route.min_role))),
              std::string::npos)
        << route.path;
    EXPECT_TRUE(op["responses"].contains("200")) << route.path;
    EXPECT_TRUE(op["responses"].contains("500")) << route.path;
    // Each documented path parameter is in the path, and the other way round.
    std::size_t path_params = 0;
    for (const auto& p : op["parameters"]) path_params += p["in"] == "path";
    EXPECT_EQ(path_params, static_cast<std::size_t>(std::count(route.path.begin(), route.path.end(), '{')));
  }
  EXPECT_EQ(documented, routed);
  // Every code the server can answer is documented with its HTTP status.
  EXPECT_EQ(doc["x-lwdock-codes"].size(), api_codes().size());
}

TEST_F(DockServiceTest, EveryRouteIsServedNotLeftToTheLibrary) {
  ServiceMarket& m = shared_market();
  for (const Route& route : server_->service().routes()) {
    std::string path = route.path;
    if (const auto open = path.find("{id}"); open != std::string::npos) path.replace(open, 4, m.usable[0]);
    // The download routes need what to download.
    if (route.path == "/api/engine/download") path += "?ids=" + m.usable[0];
    httplib::Request req;
    req.method = route.method;
    req.path = path;
    if (route.method != "GET") {
      req.body = route.path == "/api/engine/download-tokens" ? json{{"ids", {m.usable[0]}}}.dump() : "{}";
      req.headers.emplace("Content-Type", "application/json");
    }
    const auto r = client().send(req);
    ASSERT_TRUE(r) << path;
    const std::string what = route.method + " " + path + ": " + r->body.substr(0, 300);
    if (route.min_role != Role::anonymous) {
      // The route's own answer to a caller without a token, not the library's 404.
      expect_error(as_reply(r), 401, ApiCode::unauthenticated);
    } else if (route.tag == "auth") {
      // "{}" lacks the fields (400), or registration is closed (403, the default).
      EXPECT_TRUE(r->status == 400 || r->status == 403) << what;
      EXPECT_EQ(r->body.find("no such route"), std::string::npos) << what;
    } else {
      EXPECT_TRUE(r->status == 200 || r->status == 201) << what;
    }
  }
}

TEST_F(DockServiceTest, TheVocabularyHasTheSemanticFields) {
  const Reply r = as_reply(client().Get("/api/engine/vocabulary"));
  ASSERT_EQ(r.status, 200);
  std::set<std::string> keys;
  for (const auto& field : r.body["data"]) keys.insert(field["key"]);
  for (const char* key : {"Data", "Task", "Library", "Scenario", "License", "Name", "Description"}) {
    EXPECT_TRUE(keys.contains(key)) << key;
  }
}

TEST_F(DockServiceTest, ListingShowsUsableLearnwaresOnlyAndPages) {
  ServiceMarket& m = shared_market();
  Reply r = as_reply(client().Get("/api/engine/learnwares?page_size=2"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["data"]["total"], 3);
  ASSERT_EQ(r.body["data"]["items"].size(), 2u);
  EXPECT_EQ(r.body["data"]["items"][0]["id"], m.usable[0]);
  r = as_reply(client().Get("/api/engine/learnwares?page_size=2&page=2"));
  ASSERT_EQ(r.body["data"]["items"].size(), 1u);
  EXPECT_EQ(r.body["data"]["items"][0]["id"], m.usable[2]);
  r = as_reply(client().Get("/api/engine/learnwares?page=9"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body["data"]["items"].empty());
  for (const char* bad : {"page_size=0", "page_size=1000", "page=0", "page=abc", "page=-1", "page_size=2x", "page="}) {
    SCOPED_TRACE(bad);
    expect_error(as_reply(client().Get(std::string("/api/engine/learnwares?") + bad)), 400, ApiCode::malformed_request);
  }
}

TEST_F(DockServiceTest, LearnwareInfoAndDownloadOnlyForUsableLearnwares) {
  ServiceMarket& m = shared_market();
  Reply r = as_reply(client().Get("/api/engine/learnwares/" + m.usable[1]));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["data"]["record"]["id"], m.usable[1]);
  EXPECT_EQ(r.body["data"]["semantic"]["Name"]["Values"], "lw1");

  const auto download = client().Get("/api/engine/learnwares/" + m.usable[1] + "/download");
  ASSERT_TRUE(download);
  EXPECT_EQ(download->status, 200);
  EXPECT_EQ(download->get_header_value("Content-Type"), "application/zip");
  EXPECT_NE(download->get_header_value("Content-Disposition").find(m.usable[1] + ".zip"), std::string::npos);
  lwd::Market market = lwd::Market::open(m.dir());
  EXPECT_EQ(download->body, read_file(market.store().package_path(m.usable[1])));

  // Unverified, unknown and hostile ids are all simply not found.
  for (const std::string& id : {m.invalid, std::string("99999999"), std::string("..%2F..%2Fetc"),
                                std::string("a%00b"), std::string(300, 'x')}) {
    SCOPED_TRACE(id);
    expect_error(as_reply(client().Get("/api/engine/learnwares/" + id)), 404, ApiCode::not_found);
    expect_error(as_reply(client().Get("/api/engine/learnwares/" + id + "/download")), 404, ApiCode::not_found);
  }
}

TEST_F(DockServiceTest, SearchWithAnUploadedSpecAnswersWhatTheEngineAnswers) {
  ServiceMarket& m = shared_market();
  const std::string spec_text = read_file(m.user_spec_path);
  httplib::MultipartFormDataItems items = {{"spec", spec_text, "user.json", "application/json"}};
  const Reply r = as_reply(client().Post("/api/engine/search", items));
  ASSERT_EQ(r.status, 200) << r.body.dump();

  lwd::Market market = lwd::Market::open(m.dir());
  lwd::SearchRequest request;
  request.spec = lwd::load_stat_spec(m.user_spec_path);
  json expected = lwd::to_json(market.search(request), true);
  json got = r.body["data"];
  EXPECT_EQ(got["total"], expected["single"].size());
  for (const char* key : {"page", "page_size", "total"}) got.erase(key);
  EXPECT_EQ(got, expected);
  // The learnware the user's data came from ranks first.
  EXPECT_EQ(got["single"][0]["id"], m.usable[1]);

  // The same search as one JSON document.
  const json body = {{"spec", json::parse(spec_text)}};
  const Reply as_json = as_reply(client().Post("/api/engine/search", body.dump(), "application/json"));
  ASSERT_EQ(as_json.status, 200);
  EXPECT_EQ(as_json.body["data"]["single"], expected["single"]);
}

TEST_F(DockServiceTest, TheOverviewCountsLearnwaresByStatusAndUsableOnesByKind) {
  const Reply r = as_reply(client().Get("/api/engine/overview"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const json& d = r.body["data"];
  EXPECT_EQ(d["total"], 4);
  EXPECT_EQ(d["by_status"]["usable"], 3);
  EXPECT_EQ(d["by_status"]["invalid"], 1);
  EXPECT_EQ(d["by_status"]["not_usable"], 0);
  EXPECT_EQ(d["usable_by_kind"], json({{"RKMETableSpecification", 3}}));
}

TEST_F(DockServiceTest, TheSpecRouteGivesTheSpecFileItsSummaryAndItsPlane) {
  ServiceMarket& m = shared_market();
  const Reply r = as_reply(client().Get("/api/engine/learnwares/" + m.usable[1] + "/spec"));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const json& specs = r.body["data"]["specs"];
  ASSERT_EQ(specs.size(), 1u);
  const json& s = specs[0];
  EXPECT_EQ(s["type"], "RKMETableSpecification");
  const int k = s["summary"]["K"].get<int>();
  EXPECT_GT(k, 1);
  EXPECT_EQ(s["summary"]["d"], 3);
  ASSERT_TRUE(s["projection"].is_object());
  EXPECT_EQ(s["projection"]["x"].size(), static_cast<std::size_t>(k));
  EXPECT_EQ(s["projection"]["y"].size(), static_cast<std::size_t>(k));
  EXPECT_EQ(s["projection"]["weight"].size(), static_cast<std::size_t>(k));
  const double e0 = s["projection"]["explained"][0], e1 = s["projection"]["explained"][1];
  EXPECT_GE(e0, e1);
  EXPECT_LE(e0 + e1, 1.0 + 1e-12);
  // The file is the learnware's own spec: searching with it ranks the learnware first.
  const json body = {{"spec", s["file"]}};
  const Reply search = as_reply(client().Post("/api/engine/search", body.dump(), "application/json"));
  ASSERT_EQ(search.status, 200) << search.body.dump();
  EXPECT_EQ(search.body["data"]["single"][0]["id"], m.usable[1]);
  // Unverified, unknown and hostile ids are not found, as for the record.
  for (const std::string& id : {m.invalid, std::string("99999999"), std::string("..%2F..%2Fetc"), std::string(300, 'x')}) {
    SCOPED_TRACE(id);
    expect_error(as_reply(client().Get("/api/engine/learnwares/" + id + "/spec")), 404, ApiCode::not_found);
  }
}

// The plane against a plain computation: in two dimensions the weighted
// covariance's eigenvectors have a closed form.
TEST(SpecSummary, ThePrincipalPlaneOfTwoDimensionalPointsIsTheWeightedCovariancesEigenbasis) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const int k = 40;
  lwd::kernels::Matrix<double> z(k, 2);
  std::vector<double> w(k);
  for (int i = 0; i < k; ++i) {
    z(i, 0) = 3.0 * normal(rng) + 1.0;
    z(i, 1) = 0.5 * z(i, 0) + normal(rng);
    w[static_cast<std::size_t>(i)] = uniform(rng);
  }
  w[3] = -0.2;  // a negative weight counts as 0
  double total = 0, mx = 0, my = 0;
  for (int i = 0; i < k; ++i) total += std::max(0.0, w[static_cast<std::size_t>(i)]);
  for (int i = 0; i < k; ++i) {
    const double wi = std::max(0.0, w[static_cast<std::size_t>(i)]) / total;
    mx += wi * z(i, 0);
    my += wi * z(i, 1);
  }
  double a = 0, b = 0, c = 0;
  for (int i = 0; i < k; ++i) {
    const double wi = std::max(0.0, w[static_cast<std::size_t>(i)]) / total;
    a += wi * (z(i, 0) - mx) * (z(i, 0) - mx);
    b += wi * (z(i, 0) - mx) * (z(i, 1) - my);
    c += wi * (z(i, 1) - my) * (z(i, 1) - my);
  }
  const double half = std::sqrt((a - c) * (a - c) / 4 + b * b);
  const double l1 = (a + c) / 2 + half, l2 = (a + c) / 2 - half;
  double v1x = b, v1y = l1 - a;
  const double n1 = std::hypot(v1x, v1y);
  v1x /= n1;
  v1y /= n1;
  const double v2x = -v1y, v2y = v1x;
  std::vector<double> x(k), y(k);
  for (int i = 0; i < k; ++i) {
    x[static_cast<std::size_t>(i)] = (z(i, 0) - mx) * v1x + (z(i, 1) - my) * v1y;
    y[static_cast<std::size_t>(i)] = (z(i, 0) - mx) * v2x + (z(i, 1) - my) * v2y;
  }
  for (auto* axis : {&x, &y}) {  // the sign rule: the largest |coordinate| is positive
    const auto largest = std::max_element(axis->begin(), axis->end(), [](double p, double q) { return std::abs(p) < std::abs(q); });
    if (*largest < 0)
      for (double& v : *axis) v = -v;
  }
  const json plane = principal_plane_json(z, w);
  ASSERT_TRUE(plane.is_object());
  for (int i = 0; i < k; ++i) {
    EXPECT_NEAR(plane["x"][i].get<double>(), x[static_cast<std::size_t>(i)], 1e-10) << i;
    EXPECT_NEAR(plane["y"][i].get<double>(), y[static_cast<std::size_t>(i)], 1e-10) << i;
    EXPECT_EQ(plane["weight"][i].get<double>(), w[static_cast<std::size_t>(i)]);
  }
  EXPECT_NEAR(plane["explained"][0].get<double>(), l1 / (l1 + l2), 1e-12);
  EXPECT_NEAR(plane["explained"][1].get<double>(), l2 / (l1 + l2), 1e-12);
  // One point has no plane; all-zero weights count every point alike.
  EXPECT_TRUE(principal_plane_json(lwd::kernels::Matrix<double>(1, 2, 1.0), {1.0}).is_null());
  const json even = principal_plane_json(z, std::vector<double>(k, 0.0));
  const json ones = principal_plane_json(z, std::vector<double>(k, 1.0));
  for (int i = 0; i < k; ++i) EXPECT_NEAR(even["x"][i].get<double>(), ones["x"][i].get<double>(), 1e-12);
}

// The web pages: files of the web root at /, under the content policy, beside
// an API that still answers as before; nothing outside the root is served.
TEST(DockServiceWebPages, ThePagesAreServedBesideTheApiAndNothingOutsideTheirDirectory) {
  ServiceMarket& m = shared_market();
  TempDir tmp;
  const fs::path root = tmp.path() / "web";
  fs::create_directories(root);
  std::ofstream(root / "index.html") << "<!doctype html><title>dock</title>";
  std::ofstream(root / "app.mjs") << "export const x = 1;";
  std::ofstream(tmp.path() / "secret.txt") << "not a page";
  HttpServerConfig http;
  http.web_root = root;
  RunningServer server(config_for(m), http);
  auto home = server.client().Get("/");
  ASSERT_TRUE(home);
  EXPECT_EQ(home->status, 200);
  EXPECT_EQ(home->body, "<!doctype html><title>dock</title>");
  EXPECT_NE(home->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(home->get_header_value("X-Content-Type-Options"), "nosniff");
  auto script = server.client().Get("/app.mjs");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript");
  for (const char* path : {"/../secret.txt", "/%2e%2e/secret.txt", "/nope.html", "/..%2fsecret.txt"}) {
    SCOPED_TRACE(path);
    auto r = server.client().Get(path);
    ASSERT_TRUE(r);
    EXPECT_NE(r->status, 200);
    EXPECT_EQ(r->body.find("not a page"), std::string::npos);
  }
  EXPECT_EQ(as_reply(server.client().Get("/api/engine/overview")).status, 200);
  expect_error(as_reply(server.client().Get("/api/nope")), 404, ApiCode::not_found);

  // A root without index.html, or with an api/ entry that would hide the API, is refused at start.
  const DockService service(config_for(m));
  HttpServerConfig bad;
  bad.access_log = nullptr;
  bad.web_root = tmp.path() / "empty";
  fs::create_directories(bad.web_root);
  EXPECT_THROW(HttpServer(service, bad), lwd::Error);
  fs::create_directories(root / "api");
  bad.web_root = root;
  EXPECT_THROW(HttpServer(service, bad), lwd::Error);
}

// A burst of connections larger than cpp-httplib's own listen backlog (5)
// waits in the accept queue instead of being dropped: bound but not serving,
// the server accepts nobody, so every connection that completes is queued.
TEST(DockServiceHttp, ABurstOfConnectionsWaitsInTheAcceptQueue) {
  ServiceMarket& m = shared_market();
  DockService service(config_for(m));
  HttpServerConfig http;
  http.host = "127.0.0.1";
  http.port = 0;
  http.threads = 1;
  HttpServer server(service, http);
  const int port = server.bind();
  constexpr int kConnections = 32;
  std::vector<int> fds;
  int connected = 0;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0) {
      ++connected;
      continue;
    }
    ASSERT_EQ(errno, EINPROGRESS);
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t size = sizeof error;
    if (::poll(&p, 1, 2000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0)
      ++connected;
  }
  EXPECT_EQ(connected, kConnections);
  for (const int fd : fds) ::close(fd);
}

// Every slot taken and no time to wait: the search is refused at once with
// 503 busy and Retry-After, and served again once a slot frees up.
TEST(DockServiceSearchGate, ASearchBeyondTheSlotsIsRefusedWithRetryAfter) {
  ServiceMarket& m = shared_market();
  DockConfig config = config_for(m);
  config.search_slots = 1;
  config.search_queue_wait = std::chrono::milliseconds(0);
  RunningServer server(std::move(config));
  const httplib::MultipartFormDataItems items = {{"spec", read_file(m.user_spec_path), "user.json", "application/json"}};
  {
    const auto held = server.service().search_gate().enter();
    ASSERT_TRUE(held);
    const auto r = server.client().Post("/api/engine/search", items);
    ASSERT_TRUE(r);
    expect_error(as_reply(r), 503, ApiCode::busy);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    // A malformed search is still told so: the gate is only in front of the engine.
    expect_error(as_reply(server.client().Post("/api/engine/search", "{bad", "application/json")), 400,
                 ApiCode::malformed_request);
  }
  EXPECT_EQ(as_reply(server.client().Post("/api/engine/search", items)).status, 200);
  EXPECT_EQ(server.service().search_gate().running(), 0);
}

TEST_F(DockServiceTest, ASemanticOnlySearchListsTheMatches) {
  const json semantic = {{"Task", {{"Values", {"Regression"}}, {"Type", "Class"}}}};
  httplib::MultipartFormDataItems items = {{"semantic", semantic.dump(), "", ""}};
  const Reply r = as_reply(client().Post("/api/engine/search", items));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["data"]["semantic_matches"], 3);
  EXPECT_EQ(r.body["data"]["total"], 3);
  EXPECT_EQ(r.body["data"]["single"].size(), 3u);
  // Paged: the second of pages of one.
  const Reply second = as_reply(client().Post("/api/engine/search?page=2&page_size=1", items));
  ASSERT_EQ(second.body["data"]["single"].size(), 1u) << second.body.dump();
  EXPECT_EQ(second.body["data"]["single"][0], r.body["data"]["single"][1]);
  EXPECT_EQ(second.body["data"]["total"], 3);
}

TEST_F(DockServiceTest, MalformedSearchesAreRefusedWithTheirReason) {
  const auto post_json = [&](const std::string& body) {
    return as_reply(client().Post("/api/engine/search", body, "application/json"));
  };
  expect_error(post_json("{bad"), 400, ApiCode::malformed_request);
  expect_error(post_json("[]"), 400, ApiCode::malformed_request);
  expect_error(post_json(R"({"spec": 5})"), 400, ApiCode::malformed_request);
  expect_error(post_json(R"({"unknown": 1})"), 400, ApiCode::malformed_request);
  expect_error(post_json(std::string(100, '[') + std::string(100, ']')), 400, ApiCode::malformed_request);
  expect_error(as_reply(client().Post("/api/engine/search", "spec=1", "text/plain")), 400, ApiCode::malformed_request);
  httplib::MultipartFormDataItems unknown_part = {{"model", "x", "m.bin", "application/octet-stream"}};
  expect_error(as_reply(client().Post("/api/engine/search", unknown_part)), 400, ApiCode::malformed_request);
  httplib::MultipartFormDataItems bad_spec = {{"spec", "{\"type\": \"nothing\"}", "s.json", "application/json"}};
  const Reply r = as_reply(client().Post("/api/engine/search", bad_spec));
  EXPECT_TRUE(r.status == 400 || r.status == 422) << r.body.dump();
}

TEST_F(DockServiceTest, UnknownRoutesAnswerWithTheEnvelope) {
  expect_error(as_reply(client().Get("/api/nothing")), 404, ApiCode::not_found);
  expect_error(as_reply(client().Get("/")), 404, ApiCode::not_found);
}

TEST_F(DockServiceTest, TheAccessLogHasOneJsonLinePerRequestWithTheRouteNotThePath) {
  ServiceMarket& m = shared_market();
  ASSERT_TRUE(client().Get("/api/engine/learnwares/" + m.usable[0] + "?secret=do-not-log"));
  // The line is written after the reply is sent: wait for it (a loaded machine takes a while).
  json last;
  int count = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::istringstream lines(server_->access_log());
    std::string line;
    count = 0;
    while (std::getline(lines, line)) {
      last = json::parse(line);  // every line is one JSON document
      ++count;
    }
    if (count > 0 && last["route"] == "/api/engine/learnwares/{id}") break;
  }
  ASSERT_GT(count, 0);
  EXPECT_EQ(last["route"], "/api/engine/learnwares/{id}");
  EXPECT_EQ(last["status"], 200);
  EXPECT_EQ(last["method"], "GET");
  EXPECT_TRUE(last["duration_ms"].is_number());
  EXPECT_TRUE(last.contains("user"));
  EXPECT_TRUE(last["time"].is_string());
  EXPECT_EQ(server_->access_log().find("do-not-log"), std::string::npos);
}

TEST(DockServiceLimits, ABodyOverTheLimitIs413AndASpecBeyondTheMarketsLimitsIs422) {
  ServiceMarket& m = shared_market();
  HttpServerConfig http;
  http.max_body_bytes = 4096;
  DockConfig dock = config_for(m);
  dock.limits.spec.max_points = 5;  // the user's spec has 10
  RunningServer server(dock, http);
  expect_error(as_reply(server.client().Post("/api/engine/search", std::string(10000, ' '), "application/json")), 413,
               ApiCode::payload_too_large);
  httplib::MultipartFormDataItems items = {{"spec", read_file(m.user_spec_path), "user.json", "application/json"}};
  http.max_body_bytes = 1 << 20;
  RunningServer roomy(dock, http);
  expect_error(as_reply(roomy.client().Post("/api/engine/search", items)), 422, ApiCode::unprocessable);
}

// A learnware another process adds (here: another Market object on the same
// directory) is listed and found by the running server's next request: the
// market looks at the change counter before each read (docs/DESIGN.md §7.6).
TEST(DockServiceFollowing, ALearnwareAddedElsewhereIsServedAtTheNextRequest) {
  ServiceMarket m;  // a market of its own: this test changes it
  RunningServer server(config_for(m));
  Reply r = as_reply(server.client().Get("/api/engine/learnwares"));
  ASSERT_EQ(r.body["data"]["total"], 3);
  PackageParts parts;
  parts.name = "late";
  parts.centre = 20.0;
  parts.seed = 77;
  const std::string id = lwd::Market::open(m.dir()).add(make_package(m.tmp.path() / "packages", parts)).id;
  r = as_reply(server.client().Get("/api/engine/learnwares"));
  EXPECT_EQ(r.body["data"]["total"], 4);
  r = as_reply(server.client().Get("/api/engine/learnwares/" + id));
  EXPECT_EQ(r.status, 200);
}

// The program: `lwdock-server` started as `lwdock serve` would, on a free
// port, stopped with SIGTERM: it finishes and exits 0.
TEST(DockServerProgram, StartsOnAFreePortAndStopsGracefullyOnSigterm) {
  ServiceMarket& m = shared_market();
  int err_pipe[2];
  ASSERT_EQ(::pipe(err_pipe), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  const std::string market = m.dir().string();
  const std::vector<std::string> args = {LWD_SERVER_PROGRAM, "--market", market, "--listen", "127.0.0.1:0",
                                         "--access-log", "/dev/null"};
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  struct Reaper {  // the server never outlives the test
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && ::kill(pid, 0) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};

  // Its first line names the port.
  std::string banner;
  char c = 0;
  while (banner.find('\n') == std::string::npos && ::read(err_pipe[0], &c, 1) == 1) banner += c;
  const auto at = banner.find("127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << banner;
  const int port = std::stoi(banner.substr(at + 10));
  httplib::Client client("127.0.0.1", port);
  const auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(done, pid) << "the server did not stop within 20 s of SIGTERM";
  reaper.pid = -1;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::string rest;
  while (::read(err_pipe[0], &c, 1) == 1) rest += c;
  ::close(err_pipe[0]);
  EXPECT_NE(rest.find("stopped"), std::string::npos) << rest;
}

TEST(DockServerProgram, BadArgumentsAreOneLineAndANonZeroExit) {
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{}, 2, "--market"},
      {{"--market", "/nonexistent/market"}, 1, "/nonexistent/market"},
      {{"--market", shared_market().dir().string(), "--listen", "nowhere"}, 1, "HOST:PORT"},
      {{"--market", shared_market().dir().string(), "--listen", "127.0.0.1:99999"}, 1, "0..65535"},
      {{"--market", shared_market().dir().string(), "--http-threads", "0"}, 2, "http-threads"},
      {{"--market", shared_market().dir().string(), "--workers", "-1"}, 2, "workers"},
      {{"--market", shared_market().dir().string(), "--no-http", "--workers", "0"}, 1, "would do nothing"},
      {{"--market", shared_market().dir().string(), "--config", "/nonexistent.json"}, 2, "/nonexistent.json"},
  };
  for (const auto& c : cases) {
    std::string command = std::string(LWD_SERVER_PROGRAM);
    for (const auto& a : c.args) command += " '" + a + "'";
    SCOPED_TRACE(command);
    const std::string out_file = ::testing::TempDir() + "/server-stderr.txt";
    const int raw = std::system((command + " 2>" + out_file + " >/dev/null").c_str());
    ASSERT_TRUE(WIFEXITED(raw));
    EXPECT_EQ(WEXITSTATUS(raw), c.status);
    const std::string err = read_file(out_file);
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("lwdock serve: error:"), std::string::npos) << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
  }
}

}  // namespace
