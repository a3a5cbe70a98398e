// The server's routes over real HTTP with logged-in callers, on SQLite and
// PostgreSQL: submissions (multipart and chunked) verified by the server's
// own workers, who sees them, hostile learnwares end to end through the API
// while the server keeps serving; downloads of several packages in one zip
// and single-use download links; the administrators' learnware routes and
// the summary with its per-day counters. Every new route: what it does, 401
// without a valid token, 403 below its role, 404 for another user's object,
// 400 for a malformed request, 413 for an oversized body.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include "service/engine_tables.h"
#include "service/verifier.h"
#include "tests/model/model_test_util.h"
#include "tests/service/server_test_support.h"
#include "tests/service/submission_test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace lwd::service;
using lwd::test::HttpReply;
using lwd::testing_market::PackageParts;
using std::chrono::milliseconds;

class ServerRoutes : public lwd::test::SubmissionBackendTest {
 protected:
  void SetUp() override {
    SubmissionBackendTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    boss_id_ = lwd::test::create_account(url(), market_dir_, "boss", Role::admin);
    ada_id_ = lwd::test::create_account(url(), market_dir_, "ada", Role::user);
    bob_id_ = lwd::test::create_account(url(), market_dir_, "bob", Role::user);
  }
  void TearDown() override { server_.reset(); }

  DockConfig dock(int workers) const {
    DockConfig config;
    config.market_dir = market_dir_;
    config.db = urls();
    config.ctx.n_threads = 1;
    config.accounts = lwd::test::fast_accounts();
    config.uploads.max_package_bytes = 1 << 20;
    config.verification.workers = workers;
    config.verification.idle_poll = milliseconds(50);
    config.verification.job_deadline_seconds = 1.5;
    config.verification.sandbox.processes = 16;
    config.verification.sandbox.address_space_bytes = std::uint64_t{256} << 20;
    return config;
  }
  void start(int workers = 0) {
    server_.reset();
    server_ = std::make_unique<lwd::test::InProcessServer>(dock(workers));
    boss_ = lwd::test::log_in(client(), "boss");
    ada_ = lwd::test::log_in(client(), "ada");
    bob_ = lwd::test::log_in(client(), "bob");
  }
  httplib::Client& client() { return server_->client(); }
  HttpReply call(const std::string& method, const std::string& path, const std::string& token = "",
                 const std::optional<json>& body = std::nullopt, const std::string& raw = "",
                 const std::string& type = "application/json") {
    return lwd::test::http_call(client(), method, path, token, body, raw, type);
  }
  std::string package_bytes(const PackageParts& parts) { return lwd::test::file_bytes(package(parts)); }
  // POST /api/user/learnwares as a multipart form; the reply.
  HttpReply submit(const std::string& token, const std::string& bytes, const std::string& name = "pkg.zip") {
    httplib::MultipartFormDataItems items = {{"package", bytes, name, "application/zip"}};
    const auto r = client().Post("/api/user/learnwares", {{"Authorization", "Bearer " + token}}, items);
    EXPECT_TRUE(r);
    if (!r) return {};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }
  json submit_ok(const std::string& token, const PackageParts& parts) {
    const HttpReply r = submit(token, package_bytes(parts), parts.name + ".zip");
    EXPECT_EQ(r.status, 202) << r.text;
    return r.data();
  }
  // A worker of the test's own verifies every waiting job.
  void run_worker() {
    auto db = open_submission_database(url(), market_dir_);
    JobQueue queue(*db);
    lwd::Market market = open_market();
    VerifierOptions options;
    options.job_deadline_seconds = 20;
    market.sandbox_limits() = verifier_sandbox_limits(options);
    while (verify_next_job(queue, market, market_dir_, options, "test-worker")) {
    }
  }
  // Polls the submission (as its owner) until it is done; its last reply.
  json wait_done(const std::string& token, const std::string& submission_id, int seconds = 120) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    json last;
    while (std::chrono::steady_clock::now() < give_up) {
      const HttpReply r = call("GET", "/api/user/submissions/" + submission_id, token);
      last = r.data();
      const std::string status = last.value("status", "");
      if (status != "waiting" && status != "processing") return last;
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "submission " << submission_id << " not done after " << seconds << " s: " << last.dump();
    return last;
  }
  // Writes `bytes` to a file and lists it with unzip: the member names, or
  // empty when unzip finds the archive broken.
  std::set<std::string> zip_listing(const std::string& bytes) {
    const fs::path zip = tmp_.path() / "download.zip";
    std::ofstream(zip, std::ios::binary) << bytes;
    const fs::path listing = tmp_.path() / "listing.txt";
    if (std::system(("unzip -tqq '" + zip.string() + "' >/dev/null 2>&1").c_str()) != 0) return {};
    if (std::system(("unzip -Z1 '" + zip.string() + "' > '" + listing.string() + "'").c_str()) != 0) return {};
    std::set<std::string> names;
    std::ifstream in(listing);
    for (std::string line; std::getline(in, line);) names.insert(line);
    return names;
  }
  std::string unzip_member(const std::string& bytes, const std::string& member) {
    const fs::path zip = tmp_.path() / "member.zip";
    std::ofstream(zip, std::ios::binary) << bytes;
    const fs::path out = tmp_.path() / "member.bin";
    EXPECT_EQ(std::system(("unzip -p '" + zip.string() + "' '" + member + "' > '" + out.string() + "'").c_str()), 0);
    return lwd::test::file_bytes(out);
  }

  std::unique_ptr<lwd::test::InProcessServer> server_;
  std::int64_t boss_id_ = 0, ada_id_ = 0, bob_id_ = 0;
  std::string boss_, ada_, bob_;
};

void expect_error(const HttpReply& r, int status, ApiCode code) {
  EXPECT_EQ(r.status, status) << r.text.substr(0, 300);
  ASSERT_TRUE(r.body.is_object()) << r.text.substr(0, 300);
  EXPECT_EQ(r.body.value("code", -1), static_cast<int>(code)) << r.text.substr(0, 300);
}

TEST_P(ServerRoutes, SubmissionsOverHttpMultipartAndChunkedAreVerifiedByTheServersWorker) {
  start(/*workers=*/1);
  // One multipart request.
  const json one = submit_ok(ada_, {.seed = 1, .name = "multipart"});
  EXPECT_EQ(one["status"], "waiting");
  // A chunked upload, its chunks sent out of order, then submitted by id.
  const std::string bytes = package_bytes({.seed = 2, .name = "chunked"});
  const auto size = static_cast<std::int64_t>(bytes.size());
  const HttpReply created = call("POST", "/api/user/uploads", ada_,
                                 json{{"filename", "chunked.zip"}, {"size", size}, {"sha256", lwd::test::sha256_of(bytes)}});
  ASSERT_EQ(created.status, 201) << created.text;
  const std::string uid = created.data()["id"];
  const std::int64_t half = size / 2;
  for (const auto& [at, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{{half, size - half}, {0, half}}) {
    const HttpReply chunk = call("PUT", "/api/user/uploads/" + uid + "?offset=" + std::to_string(at), ada_,
                                 std::nullopt, bytes.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(n)),
                                 "application/octet-stream");
    ASSERT_EQ(chunk.status, 200) << chunk.text;
  }
  expect_error(call("GET", "/api/user/uploads/" + uid, bob_), 404, ApiCode::not_found);
  const HttpReply two = call("POST", "/api/user/learnwares", ada_, json{{"upload_id", uid}});
  ASSERT_EQ(two.status, 202) << two.text;
  EXPECT_EQ(two.data()["sha256"], lwd::test::sha256_of(bytes));

  for (const json& s : {one, two.data()}) {
    const json done = wait_done(ada_, s["id"]);
    EXPECT_EQ(done["status"], "usable") << done.dump();
    // Another user: the submission and the learnware do not exist.
    expect_error(call("GET", "/api/user/submissions/" + s["id"].get<std::string>(), bob_), 404, ApiCode::not_found);
    expect_error(call("GET", "/api/user/learnwares/" + s["learnware_id"].get<std::string>(), bob_), 404,
                 ApiCode::not_found);
    // An admin sees it.
    EXPECT_EQ(call("GET", "/api/user/submissions/" + s["id"].get<std::string>(), boss_).status, 200);
    // Usable: everyone finds it.
    EXPECT_EQ(call("GET", "/api/engine/learnwares/" + s["learnware_id"].get<std::string>()).status, 200);
  }
  EXPECT_EQ(call("GET", "/api/user/learnwares", ada_).data()["total"], 2);
  EXPECT_EQ(call("GET", "/api/user/learnwares", bob_).data()["total"], 0);
  EXPECT_EQ(call("GET", "/api/user/learnwares?all=true", boss_).data()["total"], 2);
  expect_error(call("GET", "/api/user/learnwares?all=true", bob_), 403, ApiCode::forbidden);
}

TEST_P(ServerRoutes, HostileLearnwaresEndNotUsableThroughTheApiWhileTheServerKeepsServing) {
  // A listener the socket model would reach if the sandbox let it.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  const fs::path planted = market_dir_ / "planted-by-a-model";
  const std::string child = lwd::test::unique_process_name("bomb");
  struct Hostile {
    PackageParts parts;
    std::string log_says;
  };
  const std::vector<Hostile> hostile = {
      {{.name = "socket",
        .process_script = "read header\nif (exec 3<>/dev/tcp/127.0.0.1/" + port +
                          ") 2>/dev/null; then\n  while IFS=, read -r a b c; do echo \"$a\"; done\nelse\n"
                          "  echo 'hostile: no network from the sandbox' >&2; exit 1\nfi\n"},
       "no network from the sandbox"},
      {{.name = "writer",
        .process_script = "read header\nif echo planted > '" + planted.string() +
                          "' 2>/dev/null; then\n  while IFS=, read -r a b c; do echo \"$a\"; done\nelse\n"
                          "  echo 'hostile: cannot write outside the scratch directory' >&2; exit 1\nfi\n"},
       "cannot write outside the scratch directory"},
      {{.name = "bomb",
        .process_script = "use POSIX ();\nfor (1 .. 300) {\n  my $pid = fork();\n  last unless defined $pid;\n"
                          "  if ($pid == 0) { POSIX::setsid(); exec { '/bin/sleep' } '" + child + "', '1000'; }\n"
                          "}\nsleep 1000;\n",
        .process_interpreter = "/usr/bin/perl"},
       "timed out"},
      {{.name = "hog",
        .process_script = "my $x = 'a' x 1_000_000_000;\nprint length($x), \"\\n\";\n",
        .process_interpreter = "/usr/bin/perl"},
       "Out of memory"},
      {{.name = "silent", .process_script = "exec sleep 1000\n"}, "timed out"},
  };
  start(/*workers=*/2);
  // Something usable to search for meanwhile.
  const json good = submit_ok(boss_, {.seed = 3, .name = "good"});
  ASSERT_EQ(wait_done(boss_, good["id"])["status"], "usable");
  std::vector<json> submitted;
  for (const Hostile& h : hostile) submitted.push_back(submit_ok(ada_, h.parts));
  int answered = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  auto all_done = [&] {
    for (const json& s : submitted) {
      const std::string status = call("GET", "/api/user/submissions/" + s["id"].get<std::string>(), ada_).data().value("status", "");
      if (status == "waiting" || status == "processing") return false;
    }
    return true;
  };
  while (!all_done() && std::chrono::steady_clock::now() < give_up) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(call("GET", "/healthz").status, 200);
    const HttpReply found = call("POST", "/api/engine/search", "", json{{"semantic", {{"Name", {{"Values", "good"}}}}}});
    EXPECT_EQ(found.status, 200) << found.text;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    ++answered;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GT(answered, 0);
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const HttpReply r = call("GET", "/api/user/submissions/" + submitted[i]["id"].get<std::string>(), ada_);
    ASSERT_EQ(r.status, 200);
    const std::string log = r.data()["log"];
    EXPECT_EQ(r.data()["status"], "not_usable") << hostile[i].parts.name << ": " << log;
    EXPECT_NE(log.find(hostile[i].log_says), std::string::npos) << hostile[i].parts.name << ": " << log;
    // The learnware is its owner's: not found by others, not in searches.
    const std::string lid = submitted[i]["learnware_id"];
    expect_error(call("GET", "/api/engine/learnwares/" + lid, bob_), 404, ApiCode::not_found);
    EXPECT_EQ(call("GET", "/api/engine/learnwares/" + lid, ada_).status, 200);
  }
  EXPECT_EQ(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), -1) << "a model reached the listener";
  ::close(listener);
  EXPECT_FALSE(fs::exists(planted));
  EXPECT_TRUE(lwd::test::no_process_named(child)) << "processes of the fork bomb survived";
  EXPECT_EQ(call("GET", "/readyz").status, 200);
}

TEST_P(ServerRoutes, SeveralPackagesComeInOneZip) {
  start();
  const std::string a = submit_ok(ada_, {.seed = 1, .name = "a"})["learnware_id"];
  const std::string b = submit_ok(bob_, {.seed = 2, .name = "b"})["learnware_id"];
  run_worker();
  const auto r = client().Get("/api/engine/download?ids=" + a + "," + b + "," + a);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body.substr(0, 300);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/zip");
  EXPECT_NE(r->get_header_value("Content-Disposition").find("learnwares.zip"), std::string::npos);
  EXPECT_EQ(zip_listing(r->body), (std::set<std::string>{a + ".zip", b + ".zip"}));
  const lwd::Market market = open_market();
  EXPECT_EQ(unzip_member(r->body, a + ".zip"), lwd::test::file_bytes(market.store().package_path(a)));
  EXPECT_EQ(unzip_member(r->body, b + ".zip"), lwd::test::file_bytes(market.store().package_path(b)));
  // One id: the package itself.
  const auto single = client().Get("/api/engine/download?ids=" + a);
  ASSERT_TRUE(single);
  EXPECT_EQ(single->body, lwd::test::file_bytes(market.store().package_path(a)));
  // Refusals.
  std::string eleven;
  for (int i = 0; i < 11; ++i) eleven += (i ? "," : "") + std::string("0000000") + std::to_string(i % 10);
  expect_error(call("GET", "/api/engine/download?ids=" + eleven), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/engine/download"), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/engine/download?ids=" + a + "&token=x"), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/engine/download?ids=" + a + ",,"), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/engine/download?ids=" + a + ",99999999"), 404, ApiCode::not_found);
  expect_error(call("GET", "/api/engine/download?ids=" + a, "lwd_s_" + std::string(43, 'A')), 401,
               ApiCode::unauthenticated);
}

TEST_P(ServerRoutes, ADownloadLinkWorksOnceWithoutAuthorizationForWhatItsMakerMaySee) {
  start();
  const std::string usable = submit_ok(ada_, {.seed = 1, .name = "usable"})["learnware_id"];
  const std::string broken =
      submit_ok(ada_, {.name = "broken", .process_script = "echo 'model broke' >&2; exit 3\n"})["learnware_id"];
  run_worker();
  const lwd::Market market = open_market();
  // Ada may see her learnware that is not usable; a link of hers carries that.
  const HttpReply made = call("POST", "/api/engine/download-tokens", ada_, json{{"ids", {usable, broken}}});
  ASSERT_EQ(made.status, 201) << made.text;
  const std::string token = made.data()["token"];
  EXPECT_EQ(token.rfind("lwd_d_", 0), 0u);
  EXPECT_TRUE(made.data()["expires_at"].is_string());
  const std::string link = made.data()["url"];
  EXPECT_EQ(link, "/api/engine/download?token=" + token);
  // Stored as a hash only.
  {
    std::lock_guard lock(db_->mutex);
    EXPECT_TRUE(db_->connection->run("SELECT hash FROM download_tokens WHERE hash = $1", {token}).rows.empty());
    EXPECT_EQ(db_->connection->run("SELECT hash FROM download_tokens WHERE hash = $1",
                                   {AccountStore::token_hash(token)}).rows.size(), 1u);
  }
  httplib::Client anonymous("127.0.0.1", server_->port());
  const auto first = anonymous.Get(link);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body.substr(0, 300);
  EXPECT_EQ(zip_listing(first->body), (std::set<std::string>{usable + ".zip", broken + ".zip"}));
  // Once.
  const auto second = anonymous.Get(link);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 404);
  expect_error(call("GET", "/api/engine/download?token=lwd_d_nonsense"), 404, ApiCode::not_found);
  // Anyone may make a link to a usable learnware; to another user's learnware
  // that is not usable, nobody but its owner and admins.
  const HttpReply anon = call("POST", "/api/engine/download-tokens", "", json{{"ids", {usable}}});
  ASSERT_EQ(anon.status, 201) << anon.text;
  const auto anon_get = anonymous.Get(anon.data()["url"].get<std::string>());
  ASSERT_TRUE(anon_get);
  EXPECT_EQ(anon_get->body, lwd::test::file_bytes(market.store().package_path(usable)));
  expect_error(call("POST", "/api/engine/download-tokens", bob_, json{{"ids", {broken}}}), 404, ApiCode::not_found);
  expect_error(call("POST", "/api/engine/download-tokens", "", json{{"ids", {broken}}}), 404, ApiCode::not_found);
  EXPECT_EQ(call("POST", "/api/engine/download-tokens", boss_, json{{"ids", {broken}}}).status, 201);
  expect_error(call("POST", "/api/engine/download-tokens", ada_, json{{"ids", {"99999999"}}}), 404, ApiCode::not_found);
  // A link whose learnware was deleted since: not found.
  const HttpReply doomed = call("POST", "/api/engine/download-tokens", ada_, json{{"ids", {broken}}});
  ASSERT_EQ(call("DELETE", "/api/user/learnwares/" + broken, ada_).status, 200);
  EXPECT_EQ(anonymous.Get(doomed.data()["url"].get<std::string>())->status, 404);
  // A bad bearer token is 401, as on every route.
  expect_error(call("POST", "/api/engine/download-tokens", "lwd_s_" + std::string(43, 'A'), json{{"ids", {usable}}}),
               401, ApiCode::unauthenticated);
  // Malformed and oversized bodies.
  // 11 ids are too many, even when they repeat one.
  const std::string eleven = json{{"ids", std::vector<std::string>(11, usable)}}.dump();
  for (const std::string& raw : {std::string("{bad"), std::string("[]"), std::string("null"), std::string("{}"),
                                 std::string(R"({"ids": "x"})"), std::string(R"({"ids": []})"),
                                 std::string(R"({"ids": [5]})"), std::string(R"({"ids": ["a"], "x": 1})"), eleven}) {
    SCOPED_TRACE(raw);
    expect_error(call("POST", "/api/engine/download-tokens", ada_, std::nullopt, raw), 400, ApiCode::malformed_request);
  }
  expect_error(call("POST", "/api/engine/download-tokens", ada_, std::nullopt, "ids=1", "application/x-www-form-urlencoded"),
               400, ApiCode::malformed_request);
  expect_error(call("POST", "/api/engine/download-tokens", ada_, json{{"ids", {std::string(20000, 'x')}}}), 413,
               ApiCode::payload_too_large);
}

TEST_P(ServerRoutes, ADownloadLinkExpires) {
  migrate_engine_tables(*db_);
  DownloadTokens tokens(*db_);
  const IssuedDownload gone = tokens.issue(0, {"00000001"}, std::chrono::seconds(0));
  EXPECT_FALSE(tokens.redeem(gone.token));
  const IssuedDownload fresh = tokens.issue(7, {"00000001", "00000002"}, std::chrono::seconds(300));
  const auto redeemed = tokens.redeem(fresh.token);
  ASSERT_TRUE(redeemed);
  EXPECT_EQ(redeemed->user_id, 7);
  EXPECT_EQ(redeemed->ids, (std::vector<std::string>{"00000001", "00000002"}));
  EXPECT_FALSE(tokens.redeem(fresh.token));
}

TEST_P(ServerRoutes, AdministratorsListEveryLearnwareWhateverItsStatusFilteredAndPaged) {
  start();
  const json usable = submit_ok(ada_, {.seed = 1, .name = "usable-one"});
  const json broken = submit_ok(bob_, {.name = "broken-one", .process_script = "echo 'model broke' >&2; exit 3\n"});
  run_worker();
  const json waiting = submit_ok(ada_, {.seed = 2, .name = "waiting-one"});
  // Who may call it.
  expect_error(call("GET", "/api/admin/learnwares"), 401, ApiCode::unauthenticated);
  expect_error(call("GET", "/api/admin/learnwares", ada_), 403, ApiCode::forbidden);
  const HttpReply all = call("GET", "/api/admin/learnwares", boss_);
  ASSERT_EQ(all.status, 200) << all.text;
  EXPECT_EQ(all.data()["total"], 3);
  std::map<std::string, json> by_id;
  for (const json& item : all.data()["items"]) by_id[item["id"]] = item;
  EXPECT_EQ(by_id[usable["learnware_id"]]["status"], "usable");
  EXPECT_EQ(by_id[usable["learnware_id"]]["owner"], "ada");
  EXPECT_EQ(by_id[broken["learnware_id"]]["status"], "not_usable");
  EXPECT_EQ(by_id[broken["learnware_id"]]["owner"], "bob");
  EXPECT_EQ(by_id[waiting["learnware_id"]]["status"], "waiting");
  EXPECT_TRUE(by_id[waiting["learnware_id"]]["record"].is_null());
  EXPECT_EQ(by_id[waiting["learnware_id"]]["submission_id"], waiting["id"]);
  // Filters.
  auto ids = [&](const std::string& query) {
    std::set<std::string> out;
    const HttpReply r = call("GET", "/api/admin/learnwares" + query, boss_);
    EXPECT_EQ(r.status, 200) << query << ": " << r.text;
    for (const json& item : r.data()["items"]) out.insert(item["id"]);
    return out;
  };
  EXPECT_EQ(ids("?status=waiting"), (std::set<std::string>{waiting["learnware_id"]}));
  EXPECT_EQ(ids("?status=not_usable"), (std::set<std::string>{broken["learnware_id"]}));
  EXPECT_EQ(ids("?owner=ADA"), (std::set<std::string>{usable["learnware_id"], waiting["learnware_id"]}));
  EXPECT_EQ(ids("?owner=ada&status=usable"), (std::set<std::string>{usable["learnware_id"]}));
  EXPECT_EQ(ids("?q=BROKEN"), (std::set<std::string>{broken["learnware_id"]}));
  EXPECT_EQ(ids("?owner=nobody"), std::set<std::string>{});
  // Paging.
  const HttpReply page2 = call("GET", "/api/admin/learnwares?page=2&page_size=2", boss_);
  EXPECT_EQ(page2.data()["items"].size(), 1u);
  EXPECT_EQ(page2.data()["total"], 3);
  // Refusals.
  expect_error(call("GET", "/api/admin/learnwares?status=lost", boss_), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/admin/learnwares?page=0", boss_), 400, ApiCode::malformed_request);
  expect_error(call("GET", "/api/admin/learnwares?page_size=1000", boss_), 400, ApiCode::malformed_request);
}

TEST_P(ServerRoutes, AdministratorsDeleteLearnwaresOfAnyOwnerAndStatus) {
  start();
  const json usable = submit_ok(ada_, {.seed = 1, .name = "usable-one"});
  run_worker();
  const json waiting = submit_ok(bob_, {.seed = 2, .name = "waiting-one"});
  const std::string usable_id = usable["learnware_id"], waiting_id = waiting["learnware_id"];
  expect_error(call("DELETE", "/api/admin/learnwares/" + usable_id), 401, ApiCode::unauthenticated);
  expect_error(call("DELETE", "/api/admin/learnwares/" + usable_id, ada_), 403, ApiCode::forbidden);
  expect_error(call("DELETE", "/api/admin/learnwares/99999999", boss_), 404, ApiCode::not_found);
  expect_error(call("DELETE", "/api/admin/learnwares/..%2f..", boss_), 404, ApiCode::not_found);
  // Being verified: 409.
  {
    JobQueue queue(*db_);
    const auto claim = queue.claim("w", milliseconds(60'000), 3);
    ASSERT_TRUE(claim);
    expect_error(call("DELETE", "/api/admin/learnwares/" + waiting_id, boss_), 409, ApiCode::conflict);
    // Back to waiting: the claim's lease runs out at once.
    std::lock_guard lock(db_->mutex);
    db_->connection->run("UPDATE submissions SET state = 'queued', lease_owner = '' WHERE id = $1", {claim->id});
  }
  const HttpReply gone_waiting = call("DELETE", "/api/admin/learnwares/" + waiting_id, boss_);
  ASSERT_EQ(gone_waiting.status, 200) << gone_waiting.text;
  EXPECT_EQ(call("GET", "/api/user/submissions/" + waiting["id"].get<std::string>(), bob_).data()["status"],
            "withdrawn");
  const HttpReply gone_usable = call("DELETE", "/api/admin/learnwares/" + usable_id, boss_);
  ASSERT_EQ(gone_usable.status, 200) << gone_usable.text;
  EXPECT_EQ(gone_usable.data()["deleted"], true);
  expect_error(call("GET", "/api/engine/learnwares/" + usable_id), 404, ApiCode::not_found);
  EXPECT_EQ(call("GET", "/api/admin/learnwares", boss_).data()["total"], 0);
  expect_error(call("DELETE", "/api/admin/learnwares/" + usable_id, boss_), 404, ApiCode::not_found);
}

TEST_P(ServerRoutes, TheSummaryCountsLearnwaresStorageActivityAndTheQueue) {
  start();
  const json usable = submit_ok(ada_, {.seed = 1, .name = "usable-one"});
  submit_ok(bob_, {.name = "broken-one", .process_script = "echo 'model broke' >&2; exit 3\n"});
  run_worker();
  submit_ok(ada_, {.seed = 2, .name = "waiting-one"});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(call("POST", "/api/engine/search", "", json::object()).status, 200);
  const std::string lid = usable["learnware_id"];
  ASSERT_EQ(client().Get("/api/engine/learnwares/" + lid + "/download")->status, 200);
  ASSERT_EQ(client().Get("/api/engine/download?ids=" + lid)->status, 200);

  expect_error(call("GET", "/api/admin/summary"), 401, ApiCode::unauthenticated);
  expect_error(call("GET", "/api/admin/summary", ada_), 403, ApiCode::forbidden);
  expect_error(call("GET", "/api/admin/summary?days=0", boss_), 400, ApiCode::malformed_request);
  const HttpReply r = call("GET", "/api/admin/summary", boss_);
  ASSERT_EQ(r.status, 200) << r.text;
  const json s = r.data();
  EXPECT_EQ(s["learnwares"]["total"], 3);
  EXPECT_EQ(s["learnwares"]["by_status"]["usable"], 1);
  EXPECT_EQ(s["learnwares"]["by_status"]["not_usable"], 1);
  EXPECT_EQ(s["learnwares"]["by_status"]["waiting"], 1);
  EXPECT_EQ(s["learnwares"]["by_status"]["invalid"], 0);
  EXPECT_EQ(s["semantic"]["Data"]["Table"], 2) << s["semantic"].dump();
  EXPECT_TRUE(s["semantic"].contains("License"));
  EXPECT_GT(s["storage"]["packages_bytes"].get<std::int64_t>(), 0);
  EXPECT_GT(s["storage"]["market_h5_bytes"].get<std::int64_t>(), 0);
  EXPECT_GT(s["storage"]["submissions_bytes"].get<std::int64_t>(), 0);  // the waiting package
  EXPECT_GT(s["storage"]["database_bytes"].get<std::int64_t>(), 0);
  EXPECT_EQ(s["queue"], (json{{"queued", 1}, {"processing", 0}}));
  ASSERT_EQ(s["activity"].size(), 1u) << s["activity"].dump();
  EXPECT_EQ(s["activity"][0]["day"], utc_day(unix_millis()));
  EXPECT_EQ(s["activity"][0]["searches"], 3);
  EXPECT_EQ(s["activity"][0]["downloads"], 2);
}

// The counters are in the database: two services on one market add up.
TEST_P(ServerRoutes, TheDailyCountersOfReplicasAddUp) {
  migrate_engine_tables(*db_);
  auto other = open_submission_database(url(), market_dir_);
  {
    UsageCounters one(*db_);
    UsageCounters two(*other);
    one.count("searches", 2);
    two.count("searches", 3);
    two.count("downloads");
  }
  UsageCounters reader(*db_);
  const auto days = reader.last_days(1);
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].name, "downloads");
  EXPECT_EQ(days[0].count, 1);
  EXPECT_EQ(days[1].name, "searches");
  EXPECT_EQ(days[1].count, 5);
}

TEST_P(ServerRoutes, EveryNewRouteIsDocumentedWithItsRoleAndSecurity) {
  start();
  const std::map<std::string, Role> expected = {
      {"GET /api/engine/download", Role::anonymous},
      {"POST /api/engine/download-tokens", Role::anonymous},
      {"GET /api/admin/learnwares", Role::admin},
      {"DELETE /api/admin/learnwares/{id}", Role::admin},
      {"GET /api/admin/summary", Role::admin},
  };
  const json doc = json::parse(client().Get("/api/openapi.json")->body);
  for (const auto& [key, role] : expected) {
    std::string method = key.substr(0, key.find(' '));
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const json& op = doc["paths"][key.substr(key.find(' ') + 1)][method];
    ASSERT_TRUE(op.is_object()) << key;
    EXPECT_EQ(op["x-lwdock-min-role"], std::string(to_string(role))) << key;
    EXPECT_EQ(op["security"].empty(), role == Role::anonymous) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerRoutes, ::testing::Values("sqlite", "postgresql"), lwd::test::backend_name);

}  // namespace
