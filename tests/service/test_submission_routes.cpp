// The user routes of submissions (service/submission_routes.h), on SQLite
// and PostgreSQL. Until accounts exist the handlers are called from the
// route table with the caller set by hand -- two users, an admin -- as
// DockService::authenticate would set it; what needs no identity (an
// anonymous caller's 401, bodies over the limit, unreadable multipart, the
// server answering while its workers verify hostile learnwares) goes through
// HTTP on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "engine/api/json_api.h"
#include "service/dock_service.h"
#include "service/http_server.h"
#include "tests/service/submission_test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace lwd::service;
using lwd::testing_market::PackageParts;
using std::chrono::milliseconds;

ApiRequest as_user(std::int64_t id, Role role = Role::user) {
  ApiRequest r;
  r.role = role;
  r.user_id = id;
  r.username = "user" + std::to_string(id);
  return r;
}
const ApiRequest kAlice = as_user(1);
const ApiRequest kBob = as_user(2);
const ApiRequest kAdmin = as_user(3, Role::admin);

struct Outcome {
  int status = 0;
  ApiCode code = ApiCode::ok;
  json data;
  std::string message;
};

class SubmissionRoutes : public lwd::test::SubmissionBackendTest {
 protected:
  void SetUp() override {
    SubmissionBackendTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    DockConfig config;
    config.market_dir = market_dir_;
    config.db = urls();
    config.ctx.n_threads = 1;
    config.uploads.max_package_bytes = 1 << 20;
    service_ = std::make_unique<DockService>(config);
  }

  // Calls the route's handler as the HTTP layer would, after its role check.
  Outcome call(const std::string& method, const std::string& pattern, ApiRequest request,
               std::map<std::string, std::string> path_params = {}) {
    for (const Route& route : service_->routes()) {
      if (route.method != method || route.path != pattern) continue;
      request.method = method;
      request.path_params = std::move(path_params);
      Outcome out;
      try {
        if (request.role < route.min_role) throw ApiError(ApiCode::unauthenticated, "log in first");
        const ApiReply reply = route.handler(request);
        out.status = reply.http_status;
        out.data = reply.data;
      } catch (const ApiError& e) {
        out.status = e.http_status();
        out.code = e.code();
        out.message = e.what();
      }
      return out;
    }
    ADD_FAILURE() << "no route " << method << " " << pattern;
    return {};
  }
  static ApiRequest with_package(ApiRequest r, const std::string& bytes, const std::string& name = "pkg.zip") {
    r.content_type = "multipart/form-data";
    r.files["package"] = UploadedFile{name, "application/zip", bytes};
    return r;
  }
  static ApiRequest with_json(ApiRequest r, const json& body) {
    r.content_type = "application/json";
    r.body = body.dump();
    return r;
  }
  std::string package_bytes(const PackageParts& parts) { return lwd::test::file_bytes(package(parts)); }
  // Submits as `who`; the reply's submission.
  json submit(const ApiRequest& who, const PackageParts& parts) {
    const Outcome o = call("POST", "/api/user/learnwares", with_package(who, package_bytes(parts)));
    EXPECT_EQ(o.status, 202) << o.message;
    return o.data;
  }
  // A worker of its own verifies every waiting job.
  void run_worker(double deadline_seconds = 20.0, lwd::AdmissionOptions admission = VerifierOptions{}.admission) {
    auto db = open_submission_database(url(), market_dir_);
    JobQueue queue(*db);
    lwd::Market market = open_market();
    VerifierOptions options;
    options.job_deadline_seconds = deadline_seconds;
    options.admission = admission;
    market.sandbox_limits() = verifier_sandbox_limits(options);
    while (verify_next_job(queue, market, market_dir_, options, "test-worker")) {
    }
  }

  std::unique_ptr<DockService> service_;
};

TEST_P(SubmissionRoutes, TheLogNamesTheNearestLearnwaresAndANearDuplicateIsNotUsable) {
  const json first = submit(kAlice, {.seed = 1, .name = "first"});
  run_worker();
  const json other = submit(kBob, {.centre = 5.0, .seed = 2, .name = "other"});
  run_worker();
  Outcome log = call("GET", "/api/user/submissions/{id}", kBob, {{"id", other["id"]}});
  ASSERT_EQ(log.status, 200);
  EXPECT_EQ(log.data["status"], "usable");
  // By default the three nearest are named; here the one that exists.
  EXPECT_NE(log.data["log"].get<std::string>().find("nearest: " + first["learnware_id"].get<std::string>() + " (MMD² "),
            std::string::npos)
      << log.data["log"];
  // The same package again, by someone else, on a dock that refuses near duplicates.
  const json copy = submit(kBob, {.seed = 1, .name = "copy"});
  run_worker(20.0, {.nearest = 3, .refuse_within_mmd2 = 1e-9});
  log = call("GET", "/api/user/submissions/{id}", kBob, {{"id", copy["id"]}});
  ASSERT_EQ(log.status, 200);
  EXPECT_EQ(log.data["status"], "not_usable");
  EXPECT_NE(log.data["log"].get<std::string>().find("near duplicate of learnware " + first["learnware_id"].get<std::string>()),
            std::string::npos)
      << log.data["log"];
}

TEST_P(SubmissionRoutes, ASubmissionIsWaitingAtOnceThenVerifiedAndItsOwnerSeesStatusAndLog) {
  const json s = submit(kAlice, {.seed = 1, .name = "mine"});
  EXPECT_EQ(s["status"], "waiting");
  EXPECT_EQ(s["action"], "add");
  EXPECT_EQ(s["filename"], "pkg.zip");
  const std::string lid = s["learnware_id"];
  ASSERT_FALSE(lid.empty());
  Outcome list = call("GET", "/api/user/learnwares", kAlice);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.data["total"], 1);
  EXPECT_EQ(list.data["items"][0]["status"], "waiting");
  // Waiting: the owner sees it, nobody else does, not even that it exists.
  EXPECT_EQ(call("GET", "/api/user/learnwares/{id}", kAlice, {{"id", lid}}).status, 200);
  EXPECT_EQ(call("GET", "/api/user/learnwares/{id}", kBob, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", ApiRequest{}, {{"id", lid}}).status, 404);

  run_worker();
  const Outcome one = call("GET", "/api/user/submissions/{id}", kAlice, {{"id", s["id"]}});
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.data["status"], "usable");
  EXPECT_NE(one.data["log"].get<std::string>().find("checked: usable"), std::string::npos) << one.data["log"];
  const Outcome mine = call("GET", "/api/user/learnwares/{id}", kAlice, {{"id", lid}});
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.data["record"]["status"], "usable");
  EXPECT_EQ(mine.data["record"]["owner"], "user1");
  EXPECT_EQ(mine.data["semantic"]["Name"]["Values"], "mine");
  EXPECT_EQ(mine.data["submissions"].size(), 1u);
  // Usable: everyone finds it in the engine's routes.
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", ApiRequest{}, {{"id", lid}}).status, 200);
  // Bob's list does not have it.
  EXPECT_EQ(call("GET", "/api/user/learnwares", kBob).data["total"], 0);
}

TEST_P(SubmissionRoutes, AFailedLearnwareIsItsOwnersAndTheAdminsOnly) {
  const json s = submit(kAlice, {.name = "fails", .process_script = "echo 'model broke' >&2; exit 3\n"});
  run_worker();
  const std::string lid = s["learnware_id"];
  const Outcome mine = call("GET", "/api/user/learnwares/{id}", kAlice, {{"id", lid}});
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.data["record"]["status"], "not_usable");
  EXPECT_NE(mine.data["submissions"][0]["log"].get<std::string>().find("model broke"), std::string::npos)
      << mine.data["submissions"][0]["log"];
  // The engine's own routes: the owner and admins see it, others get 404.
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", kAlice, {{"id", lid}}).status, 200);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", kAdmin, {{"id", lid}}).status, 200);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", kBob, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", ApiRequest{}, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}/download", kBob, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}/download", kAlice, {{"id", lid}}).status, 200);
  // Bob cannot read, update or delete it, nor see the submission.
  EXPECT_EQ(call("GET", "/api/user/learnwares/{id}", kBob, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("GET", "/api/user/submissions/{id}", kBob, {{"id", s["id"]}}).status, 404);
  EXPECT_EQ(call("PUT", "/api/user/learnwares/{id}", with_package(kBob, package_bytes({.name = "takeover"})),
                 {{"id", lid}})
                .status,
            404);
  EXPECT_EQ(call("DELETE", "/api/user/learnwares/{id}", kBob, {{"id", lid}}).status, 404);
  // The admin can see everything, also in the list.
  EXPECT_EQ(call("GET", "/api/user/submissions/{id}", kAdmin, {{"id", s["id"]}}).status, 200);
  ApiRequest all = kAdmin;
  all.query["all"] = "true";
  EXPECT_EQ(call("GET", "/api/user/learnwares", all).data["total"], 1);
  ApiRequest bob_all = kBob;
  bob_all.query["all"] = "true";
  EXPECT_EQ(call("GET", "/api/user/learnwares", bob_all).status, 403);
}

TEST_P(SubmissionRoutes, AChunkedUploadBecomesASubmission) {
  const std::string bytes = package_bytes({.seed = 2, .name = "chunked"});
  const auto size = static_cast<std::int64_t>(bytes.size());
  Outcome created = call("POST", "/api/user/uploads",
                         with_json(kAlice, {{"filename", "../chunked.zip"}, {"size", size},
                                            {"sha256", lwd::test::sha256_of(bytes)}}));
  ASSERT_EQ(created.status, 201) << created.message;
  const std::string uid = created.data["id"];
  EXPECT_EQ(created.data["filename"], "chunked.zip");
  auto chunk = [&](const ApiRequest& who, std::int64_t at, std::int64_t n) {
    ApiRequest r = who;
    r.content_type = "application/octet-stream";
    r.query["offset"] = std::to_string(at);
    r.body = bytes.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    return call("PUT", "/api/user/uploads/{id}", r, {{"id", uid}});
  };
  const std::int64_t half = size / 2;
  EXPECT_EQ(chunk(kAlice, half, size - half).status, 200);
  EXPECT_EQ(chunk(kBob, 0, half).status, 404);  // not Bob's
  // Submitting before every byte arrived: 409, naming the gap.
  const Outcome early = call("POST", "/api/user/learnwares", with_json(kAlice, {{"upload_id", uid}}));
  EXPECT_EQ(early.status, 409);
  EXPECT_NE(early.message.find("[0, " + std::to_string(half) + ")"), std::string::npos) << early.message;
  EXPECT_EQ(chunk(kAlice, 0, half).status, 200);
  EXPECT_EQ(chunk(kAlice, 0, half).status, 200);  // a retry
  const Outcome status = call("GET", "/api/user/uploads/{id}", kAlice, {{"id", uid}});
  EXPECT_EQ(status.data["complete"], true);
  EXPECT_EQ(call("POST", "/api/user/learnwares", with_json(kBob, {{"upload_id", uid}})).status, 404);
  const Outcome submitted = call("POST", "/api/user/learnwares", with_json(kAlice, {{"upload_id", uid}}));
  ASSERT_EQ(submitted.status, 202) << submitted.message;
  EXPECT_EQ(submitted.data["size"], size);
  EXPECT_EQ(submitted.data["filename"], "chunked.zip");
  EXPECT_EQ(call("GET", "/api/user/uploads/{id}", kAlice, {{"id", uid}}).status, 404);  // consumed
  run_worker();
  EXPECT_EQ(call("GET", "/api/user/submissions/{id}", kAlice, {{"id", submitted.data["id"]}}).data["status"],
            "usable");
}

TEST_P(SubmissionRoutes, AnUploadCanBeAbandoned) {
  const Outcome created =
      call("POST", "/api/user/uploads",
           with_json(kAlice, {{"filename", "a.zip"}, {"size", 10}, {"sha256", lwd::test::sha256_of("0123456789")}}));
  const std::string uid = created.data["id"];
  EXPECT_EQ(call("DELETE", "/api/user/uploads/{id}", kBob, {{"id", uid}}).status, 404);
  EXPECT_EQ(call("DELETE", "/api/user/uploads/{id}", kAlice, {{"id", uid}}).status, 200);
  EXPECT_EQ(call("GET", "/api/user/uploads/{id}", kAlice, {{"id", uid}}).status, 404);
}

TEST_P(SubmissionRoutes, TheOwnerUpdatesAndDeletesTheirLearnware) {
  const json s = submit(kAlice, {.seed = 3, .name = "v1"});
  const std::string lid = s["learnware_id"];
  run_worker();
  const Outcome updated = call("PUT", "/api/user/learnwares/{id}",
                               with_package(kAlice, package_bytes({.seed = 4, .name = "v2"})), {{"id", lid}});
  ASSERT_EQ(updated.status, 202) << updated.message;
  EXPECT_EQ(updated.data["action"], "update");
  EXPECT_EQ(updated.data["learnware_id"], lid);
  run_worker();
  const Outcome after = call("GET", "/api/user/learnwares/{id}", kAlice, {{"id", lid}});
  EXPECT_EQ(after.data["record"]["name"], "v2");
  EXPECT_EQ(after.data["submissions"].size(), 2u);
  // The admin may update too; Bob may not.
  EXPECT_EQ(call("PUT", "/api/user/learnwares/{id}", with_package(kAdmin, package_bytes({.seed = 5, .name = "v3"})),
                 {{"id", lid}})
                .status,
            202);
  // Being verified: deleting waits. Queued: the job is withdrawn.
  {
    auto db = open_submission_database(url(), market_dir_);
    JobQueue queue(*db);
    const auto claim = queue.claim("w", milliseconds(60'000), 3);
    ASSERT_TRUE(claim);
    EXPECT_EQ(call("DELETE", "/api/user/learnwares/{id}", kAlice, {{"id", lid}}).status, 409);
    queue.finish(*claim, "usable", "done by hand");
  }
  const json pending = call("PUT", "/api/user/learnwares/{id}",
                            with_package(kAlice, package_bytes({.seed = 6, .name = "v4"})), {{"id", lid}})
                           .data;
  const Outcome deleted = call("DELETE", "/api/user/learnwares/{id}", kAlice, {{"id", lid}});
  ASSERT_EQ(deleted.status, 200) << deleted.message;
  EXPECT_EQ(deleted.data["deleted"], true);
  EXPECT_EQ(call("GET", "/api/user/submissions/{id}", kAlice, {{"id", pending["id"]}}).data["status"], "withdrawn");
  EXPECT_EQ(call("GET", "/api/engine/learnwares/{id}", kAlice, {{"id", lid}}).status, 404);
  EXPECT_EQ(call("DELETE", "/api/user/learnwares/{id}", kAlice, {{"id", lid}}).status, 404);
  run_worker();  // nothing left to do
  EXPECT_FALSE(open_market().get(lid));
}

TEST_P(SubmissionRoutes, MalformedBodiesAre400) {
  ApiRequest text = kAlice;
  text.content_type = "text/plain";
  text.body = "package";
  EXPECT_EQ(call("POST", "/api/user/learnwares", text).status, 400);
  ApiRequest unknown = with_package(kAlice, "zip");
  unknown.files["extra"] = UploadedFile{"x", "", "x"};
  EXPECT_EQ(call("POST", "/api/user/learnwares", unknown).status, 400);
  ApiRequest no_file = kAlice;
  no_file.content_type = "multipart/form-data";
  no_file.form_fields["package"] = "not a file part";
  EXPECT_EQ(call("POST", "/api/user/learnwares", no_file).status, 400);
  EXPECT_EQ(call("POST", "/api/user/learnwares", with_package(kAlice, "")).status, 400);
  EXPECT_EQ(call("POST", "/api/user/learnwares", with_json(kAlice, json::object())).status, 400);
  EXPECT_EQ(call("POST", "/api/user/learnwares", with_json(kAlice, {{"upload_id", 5}})).status, 400);
  ApiRequest broken = kAlice;
  broken.content_type = "application/json";
  broken.body = "{nope";
  EXPECT_EQ(call("POST", "/api/user/learnwares", broken).status, 400);
  EXPECT_EQ(call("POST", "/api/user/uploads", with_json(kAlice, {{"filename", "a"}})).status, 400);
  EXPECT_EQ(call("POST", "/api/user/uploads", with_json(kAlice, {{"filename", "a"}, {"size", "10"}, {"sha256", "x"}}))
                .status,
            400);
  EXPECT_EQ(call("POST", "/api/user/uploads",
                 with_json(kAlice, {{"filename", "a"}, {"size", 10}, {"sha256", std::string(64, '0')}, {"x", 1}}))
                .status,
            400);
  const Outcome created =
      call("POST", "/api/user/uploads",
           with_json(kAlice, {{"filename", "a.zip"}, {"size", 10}, {"sha256", std::string(64, '0')}}));
  ApiRequest no_offset = kAlice;
  no_offset.content_type = "application/octet-stream";
  no_offset.body = "0123456789";
  EXPECT_EQ(call("PUT", "/api/user/uploads/{id}", no_offset, {{"id", created.data["id"]}}).status, 400);
  no_offset.query["offset"] = "-3";
  EXPECT_EQ(call("PUT", "/api/user/uploads/{id}", no_offset, {{"id", created.data["id"]}}).status, 400);
  // Nothing was queued by any of it.
  EXPECT_EQ(call("GET", "/api/user/learnwares", kAlice).data["total"], 0);
}

TEST_P(SubmissionRoutes, PackagesOverTheLimitAre413) {
  EXPECT_EQ(call("POST", "/api/user/learnwares", with_package(kAlice, std::string((1 << 20) + 1, 'z'))).status, 413);
  EXPECT_EQ(call("POST", "/api/user/uploads",
                 with_json(kAlice, {{"filename", "a.zip"}, {"size", (1 << 20) + 1}, {"sha256", std::string(64, '0')}}))
                .status,
            413);
  EXPECT_EQ(call("GET", "/api/user/learnwares", kAlice).data["total"], 0);
  // Nor for an update.
  const std::string lid = submit(kAlice, {.seed = 1, .name = "small"})["learnware_id"];
  run_worker();
  EXPECT_EQ(call("PUT", "/api/user/learnwares/{id}", with_package(kAlice, std::string((1 << 20) + 1, 'z')),
                 {{"id", lid}})
                .status,
            413);
  EXPECT_EQ(call("GET", "/api/user/learnwares", kAlice).data["total"], 1);
}

TEST_P(SubmissionRoutes, AnonymousCallersAreRefusedBeforeAnyHandler) {
  for (const Route& route : service_->routes()) {
    if (route.tag != "user") continue;
    EXPECT_EQ(route.min_role, Role::user) << route.path;
    std::map<std::string, std::string> params;
    if (route.path.find("{id}") != std::string::npos) params["id"] = "x";
    EXPECT_EQ(call(route.method, route.path, ApiRequest{}, params).status, 401) << route.method << " " << route.path;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SubmissionRoutes, ::testing::Values("sqlite", "postgresql"),
                         lwd::test::backend_name);

// Over HTTP: a server with verification workers on a free port, stopped
// (and its workers with it) when the test ends, passed or not.
class ServerWithWorkers {
 public:
  ServerWithWorkers(DockConfig dock, HttpServerConfig http) : service_(std::move(dock)) {
    http.host = "127.0.0.1";
    http.port = 0;
    http.threads = 4;
    http.access_log = nullptr;
    server_ = std::make_unique<HttpServer>(service_, http);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
    for (int i = 0; i < 200; ++i) {
      if (auto r = client_->Get("/healthz"); r && r->status == 200) return;
      std::this_thread::sleep_for(milliseconds(10));
    }
    ADD_FAILURE() << "the server never answered";
  }
  ~ServerWithWorkers() {
    server_->stop();
    thread_.join();
  }
  httplib::Client& client() { return *client_; }
  DockService& service() { return service_; }

 private:
  DockService service_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

class SubmissionHttp : public lwd::test::SubmissionBackendTest {
 protected:
  DockConfig dock(int workers) const {
    DockConfig config;
    config.market_dir = market_dir_;
    config.db = urls();
    config.ctx.n_threads = 1;
    config.uploads.max_package_bytes = 1 << 20;
    config.verification.workers = workers;
    config.verification.idle_poll = milliseconds(50);
    config.verification.job_deadline_seconds = 1.5;
    config.verification.sandbox.processes = 16;
    config.verification.sandbox.address_space_bytes = std::uint64_t{256} << 20;
    return config;
  }
};

TEST_P(SubmissionHttp, AnonymousCallersGet401AndOversizedOrUnreadableBodies413Or400) {
  HttpServerConfig http;
  http.max_body_bytes = 64 << 10;
  ServerWithWorkers server(dock(0), http);
  httplib::Client& c = server.client();
  const auto anonymous = c.Get("/api/user/learnwares");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(json::parse(anonymous->body)["code"], static_cast<int>(ApiCode::unauthenticated));
  const auto chunk = c.Put("/api/user/uploads/abc?offset=0", "bytes", "application/octet-stream");
  ASSERT_TRUE(chunk);
  EXPECT_EQ(chunk->status, 401);
  // A body over the server's limit is refused before anything reads it, on
  // every route that takes one.
  const std::string big_body(100 << 10, 'z');
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/api/user/learnwares"},
           {"PUT", "/api/user/learnwares/00000001"},
           {"POST", "/api/user/uploads"},
           {"PUT", "/api/user/uploads/abc?offset=0"}}) {
    const auto big = method == "POST" ? c.Post(path, big_body, "application/octet-stream")
                                      : c.Put(path, big_body, "application/octet-stream");
    ASSERT_TRUE(big) << method << " " << path;
    EXPECT_EQ(big->status, 413) << method << " " << path;
    EXPECT_EQ(json::parse(big->body)["code"], static_cast<int>(ApiCode::payload_too_large)) << path;
  }
  // A multipart body that does not parse.
  const auto garbled = c.Post("/api/user/learnwares", "--x\r\nno headers at all", "multipart/form-data; boundary=x");
  ASSERT_TRUE(garbled);
  EXPECT_EQ(garbled->status, 400) << garbled->body;
  // And the server goes on serving.
  const auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_P(SubmissionHttp, TheServerKeepsAnsweringWhileItsWorkersVerifyHostileLearnwares) {
  ServerWithWorkers server(dock(2), {});
  const std::vector<PackageParts> hostile = {
      {.name = "silent", .process_script = "exec sleep 1000\n"},
      {.name = "hog", .process_script = "my $x = 'a' x 1_000_000_000;\nprint length($x), \"\\n\";\n",
       .process_interpreter = "/usr/bin/perl"},
      {.name = "bomb",
       .process_script = "my $n = 0;\nfor (1 .. 300) { my $pid = fork(); last unless defined $pid; "
                         "if ($pid == 0) { sleep 1000; exit 0; } $n++; }\nsleep 1000;\n",
       .process_interpreter = "/usr/bin/perl"},
  };
  std::vector<std::string> ids;
  for (const auto& parts : hostile) {
    ApiRequest r = kAlice;
    r.content_type = "multipart/form-data";
    r.files["package"] = UploadedFile{parts.name + ".zip", "application/zip", lwd::test::file_bytes(package(parts))};
    for (const Route& route : server.service().routes()) {
      if (route.method == "POST" && route.path == "/api/user/learnwares") ids.push_back(route.handler(r).data["id"]);
    }
  }
  ASSERT_EQ(ids.size(), hostile.size());
  JobQueue& queue = server.service().submissions().queue();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int answered = 0;
  auto all_done = [&] {
    for (const auto& id : ids)
      if (queue.get(id)->state != "done") return false;
    return true;
  };
  while (!all_done() && std::chrono::steady_clock::now() < give_up) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = server.client().Get("/api/engine/learnwares");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    ++answered;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(answered, 0);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const Submission s = *queue.get(ids[i]);
    EXPECT_EQ(s.status(), "not_usable") << hostile[i].name << ": " << s.log;
    EXPECT_NE(s.log.find("checked: not_usable"), std::string::npos) << s.log;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SubmissionHttp, ::testing::Values("sqlite", "postgresql"),
                         lwd::test::backend_name);

}  // namespace
