// The server's program (what `lwdock serve` runs) as real processes on one
// market, on SQLite and PostgreSQL: SIGTERM in the middle of a chunked
// upload (the request in flight finishes, nothing half-written counts, a
// restarted server completes the upload); two replicas on one database and
// market directory (a learnware verified through one is served by the
// other; sessions and logouts hold on both); a worker-only process killed
// with SIGKILL while it verifies (another finishes the job after the lease,
// and exactly one learnware results).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/service/server_test_support.h"
#include "tests/service/submission_test_support.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace lwd::service;
using lwd::test::HttpReply;
using lwd::testing_market::PackageParts;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// lwdock-server on the test's market, its stderr in a file; killed (SIGKILL)
// when this goes, unless it was stopped.
class ServerProcess {
 public:
  ServerProcess(const fs::path& market_dir, const std::string& url, std::vector<std::string> extra,
                const fs::path& stderr_file)
      : stderr_file_(stderr_file) {
    std::vector<std::string> args = {LWD_SERVER_PROGRAM, "--market", market_dir.string(), "--access-log",
                                     "/dev/null", "--session-hours", "1"};
    if (!url.empty()) {
      args.push_back("--db");
      args.push_back(url);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    EXPECT_GT(pid_, 0) << "cannot start " << LWD_SERVER_PROGRAM;
  }
  ~ServerProcess() { kill_now(); }
  // The port of its banner ("listening on http://127.0.0.1:PORT/"); 0 if it
  // did not say within 60 s.
  int port() {
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < give_up) {
      const std::string err = lwd::test::file_bytes(stderr_file_);
      if (const auto at = err.find("http://127.0.0.1:"); at != std::string::npos) return std::stoi(err.substr(at + 17));
      if (err.find("error:") != std::string::npos) {
        ADD_FAILURE() << err;
        return 0;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    ADD_FAILURE() << "no banner: " << lwd::test::file_bytes(stderr_file_);
    return 0;
  }
  // SIGTERM, then its exit status (-1: it did not stop within 60 s).
  int terminate() {
    if (pid_ <= 0 || ::kill(pid_, SIGTERM) != 0) return -1;
    return wait_exit(std::chrono::seconds(60));
  }
  int wait_exit(std::chrono::seconds limit) {
    int status = 0;
    pid_t done = 0;
    const auto give_up = Clock::now() + limit;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < give_up)
      std::this_thread::sleep_for(milliseconds(20));
    if (done != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void send(int signal) { ::kill(pid_, signal); }
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string err() const { return lwd::test::file_bytes(stderr_file_); }

 private:
  fs::path stderr_file_;
  pid_t pid_ = -1;
};

// A plain TCP connection to 127.0.0.1:port, to send a request in pieces.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    timeval timeout{60, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawConnection() { close(); }
  bool send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  // The reply's status line's code, after reading the whole reply (the
  // server closes or the body's length is read); 0 when none came.
  int read_status() {
    std::string reply;
    char buffer[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      reply.append(buffer, static_cast<std::size_t>(n));
      const auto end = reply.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const auto length_at = reply.find("Content-Length: ");
      if (length_at != std::string::npos &&
          reply.size() >= end + 4 + std::stoul(reply.substr(length_at + 16))) break;
    }
    if (reply.rfind("HTTP/1.1 ", 0) != 0) return 0;
    return std::stoi(reply.substr(9, 3));
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class ServerProcesses : public lwd::test::SubmissionBackendTest {
 protected:
  void SetUp() override {
    SubmissionBackendTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ada_id_ = lwd::test::create_account(url(), market_dir_, "ada", Role::user);
  }
  std::unique_ptr<ServerProcess> start(std::vector<std::string> extra, const std::string& label) {
    return std::make_unique<ServerProcess>(market_dir_, url(), std::move(extra), tmp_.path() / (label + ".err"));
  }
  std::unique_ptr<httplib::Client> client(int port) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(60, 0);
    return c;
  }
  HttpReply submit(httplib::Client& c, const std::string& token, const std::string& bytes) {
    httplib::MultipartFormDataItems items = {{"package", bytes, "pkg.zip", "application/zip"}};
    const auto r = c.Post("/api/user/learnwares", {{"Authorization", "Bearer " + token}}, items);
    EXPECT_TRUE(r);
    if (!r) return {};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }
  std::optional<Submission> job(const std::string& id) {
    JobQueue queue(*db_);
    return queue.get(id);
  }
  // Waits until the job's state is `state` (or it is done); its last value.
  Submission wait_state(const std::string& id, const std::string& state, std::chrono::seconds limit) {
    const auto give_up = Clock::now() + limit;
    Submission s;
    while (Clock::now() < give_up) {
      s = job(id).value_or(Submission{});
      if (s.state == state || s.state == "done") return s;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return s;
  }

  std::int64_t ada_id_ = 0;
};

std::string chunk_request(const std::string& upload_id, std::int64_t offset, std::size_t length,
                          const std::string& token) {
  return "PUT /api/user/uploads/" + upload_id + "?offset=" + std::to_string(offset) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(length) +
         "\r\nConnection: close\r\n\r\n";
}

TEST_P(ServerProcesses, SigtermMidUploadFinishesTheChunkInFlightAndARestartedServerCompletesTheUpload) {
  const std::string bytes = lwd::test::file_bytes(package({.seed = 5, .name = "upload"}));
  const std::string sha = lwd::test::sha256_of(bytes);
  const auto size = static_cast<std::int64_t>(bytes.size());
  auto server = start({"--listen", "127.0.0.1:0", "--workers", "1"}, "first");
  const int port = server->port();
  ASSERT_GT(port, 0);
  auto c = client(port);
  const std::string ada = lwd::test::log_in(*c, "ada");
  const HttpReply created = lwd::test::http_call(*c, "POST", "/api/user/uploads", ada,
                                                 json{{"filename", "big.zip"}, {"size", size}, {"sha256", sha}});
  ASSERT_EQ(created.status, 201) << created.text;
  const std::string uid = created.data()["id"];
  // Three chunks: the first sent whole, the second in flight at SIGTERM and
  // then finished, the third abandoned half-way by a client that goes away.
  const std::size_t piece = bytes.size() / 3;
  const std::string first = bytes.substr(0, piece);
  const std::string second = bytes.substr(piece, piece);
  const std::string third = bytes.substr(2 * piece);
  ASSERT_EQ(lwd::test::http_call(*c, "PUT", "/api/user/uploads/" + uid + "?offset=0", ada, std::nullopt, first,
                                 "application/octet-stream").status,
            200);
  RawConnection in_flight(port);
  ASSERT_TRUE(in_flight.send_all(chunk_request(uid, static_cast<std::int64_t>(piece), second.size(), ada) +
                                 second.substr(0, second.size() / 2)));
  RawConnection abandoned(port);
  ASSERT_TRUE(abandoned.send_all(chunk_request(uid, static_cast<std::int64_t>(2 * piece), third.size(), ada) +
                                 third.substr(0, third.size() / 2)));
  std::this_thread::sleep_for(milliseconds(300));  // both requests are being read
  server->send(SIGTERM);
  std::this_thread::sleep_for(milliseconds(300));
  // The server no longer accepts connections, but finishes the request in flight.
  httplib::Client late("127.0.0.1", port);
  late.set_connection_timeout(2, 0);
  EXPECT_FALSE(late.Get("/healthz")) << "a new connection was served after SIGTERM";
  ASSERT_TRUE(in_flight.send_all(second.substr(second.size() / 2)));
  EXPECT_EQ(in_flight.read_status(), 200);
  abandoned.close();  // the client goes away mid-body
  EXPECT_EQ(server->wait_exit(std::chrono::seconds(60)), 0) << server->err();
  // Nothing half-written counts: the upload has the two whole chunks only.
  {
    UploadStore uploads(*db_, uploads_dir(market_dir_), {});
    EXPECT_EQ(uploads.get(uid, ada_id_).received_bytes, static_cast<std::int64_t>(2 * piece));
  }
  // A restarted server resumes it: the status lists what arrived, the rest
  // is sent, and the submission's SHA-256 is the package's.
  server = start({"--listen", "127.0.0.1:0", "--workers", "1"}, "second");
  const int port2 = server->port();
  ASSERT_GT(port2, 0);
  c = client(port2);
  const HttpReply status = lwd::test::http_call(*c, "GET", "/api/user/uploads/" + uid, ada);
  ASSERT_EQ(status.status, 200) << status.text;
  EXPECT_EQ(status.data()["received"], (json::array({json::array({0, 2 * piece})})));
  ASSERT_EQ(lwd::test::http_call(*c, "PUT", "/api/user/uploads/" + uid + "?offset=" + std::to_string(2 * piece), ada,
                                 std::nullopt, third, "application/octet-stream").status,
            200);
  const HttpReply submitted = lwd::test::http_call(*c, "POST", "/api/user/learnwares", ada, json{{"upload_id", uid}});
  ASSERT_EQ(submitted.status, 202) << submitted.text;
  EXPECT_EQ(submitted.data()["sha256"], sha);
  const Submission done = wait_state(submitted.data()["id"], "done", std::chrono::seconds(120));
  EXPECT_EQ(done.status(), "usable") << done.log;
  EXPECT_EQ(server->terminate(), 0);
}

// Polls `f` every 20 ms until it is true or `limit` passed; whether it became true.
template <class F>
bool within(std::chrono::milliseconds limit, F&& f) {
  const auto give_up = Clock::now() + limit;
  while (Clock::now() < give_up) {
    if (f()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return f();
}

TEST_P(ServerProcesses, TwoReplicasOnOneDatabaseAndMarketServeTheSameLearnwaresAndSessions) {
  auto a = start({"--listen", "127.0.0.1:0", "--workers", "1"}, "a");
  auto b = start({"--listen", "127.0.0.1:0", "--workers", "0"}, "b");
  const int port_a = a->port(), port_b = b->port();
  ASSERT_GT(port_a, 0);
  ASSERT_GT(port_b, 0);
  auto ca = client(port_a);
  auto cb = client(port_b);
  const std::string ada = lwd::test::log_in(*ca, "ada");
  // A session issued by one works on the other.
  EXPECT_EQ(lwd::test::http_call(*cb, "GET", "/api/auth/me", ada).data()["name"], "ada");
  const HttpReply s = submit(*ca, ada, lwd::test::file_bytes(package({.seed = 9, .name = "replicated"})));
  ASSERT_EQ(s.status, 202) << s.text;
  const std::string lid = s.data()["learnware_id"];
  const Submission done = wait_state(s.data()["id"], "done", std::chrono::seconds(120));
  ASSERT_EQ(done.status(), "usable") << done.log;
  // Within 1 s of the verification, the other replica finds it, shows it and sends its package.
  const auto verified = Clock::now();
  const json query = {{"semantic", {{"Name", {{"Values", "replicated"}}}}}};
  EXPECT_TRUE(within(milliseconds(1000), [&] {
    const HttpReply r = lwd::test::http_call(*cb, "POST", "/api/engine/search", "", query);
    return r.status == 200 && r.data()["total"] == 1;
  })) << "not found through the other replica within 1 s";
  EXPECT_LT(Clock::now() - verified, milliseconds(1500));
  EXPECT_EQ(lwd::test::http_call(*cb, "GET", "/api/engine/learnwares/" + lid).status, 200);
  const auto download = cb->Get("/api/engine/learnwares/" + lid + "/download");
  ASSERT_TRUE(download);
  EXPECT_EQ(download->status, 200);
  EXPECT_EQ(download->body, lwd::test::file_bytes(open_market().store().package_path(lid)));
  // A download link made on one is redeemed on the other, once.
  const HttpReply link = lwd::test::http_call(*ca, "POST", "/api/engine/download-tokens", ada, json{{"ids", {lid}}});
  ASSERT_EQ(link.status, 201) << link.text;
  EXPECT_EQ(cb->Get(link.data()["url"].get<std::string>())->status, 200);
  EXPECT_EQ(ca->Get(link.data()["url"].get<std::string>())->status, 404);
  // A logout on one holds on both.
  EXPECT_EQ(lwd::test::http_call(*cb, "POST", "/api/auth/logout", ada).status, 200);
  EXPECT_EQ(lwd::test::http_call(*ca, "GET", "/api/auth/me", ada).status, 401);
  EXPECT_EQ(lwd::test::http_call(*cb, "GET", "/api/auth/me", ada).status, 401);
  EXPECT_EQ(a->terminate(), 0);
  EXPECT_EQ(b->terminate(), 0);
}

TEST_P(ServerProcesses, AWorkerKilledMidVerificationLeavesTheJobToAnotherAndOneLearnware) {
  // The HTTP replica queues; worker-only processes verify.
  auto http = start({"--listen", "127.0.0.1:0", "--workers", "0"}, "http");
  const int port = http->port();
  ASSERT_GT(port, 0);
  auto c = client(port);
  const std::string ada = lwd::test::log_in(*c, "ada");
  // A model slow enough to be caught verifying (each answer takes 1 s; the
  // package allows 2).
  const HttpReply s = submit(*c, ada,
                             lwd::test::file_bytes(package(
                                 {.name = "slow",
                                  .process_script = "sleep 1\nread header\nwhile IFS=, read -r a b c; do echo \"$a\"; done\n"})));
  ASSERT_EQ(s.status, 202) << s.text;
  const std::string id = s.data()["id"];
  const std::vector<std::string> worker_args = {"--no-http", "--workers", "1", "--lease-seconds", "3",
                                                "--job-deadline-seconds", "30"};
  auto doomed = start(worker_args, "doomed");
  const Submission taken = wait_state(id, "processing", std::chrono::seconds(60));
  ASSERT_EQ(taken.state, "processing") << taken.log;
  std::this_thread::sleep_for(milliseconds(300));  // in the checker's sandboxed run
  doomed->kill_now();                              // kill -9
  ASSERT_EQ(job(id)->state, "processing");
  auto rescuer = start(worker_args, "rescuer");
  const Submission done = wait_state(id, "done", std::chrono::seconds(120));
  EXPECT_EQ(done.status(), "usable") << done.log;
  EXPECT_EQ(done.attempts, 2) << done.log;
  EXPECT_NE(done.log.find("attempt 1 ended without a result"), std::string::npos) << done.log;
  EXPECT_EQ(open_market().list().size(), 1u);
  EXPECT_EQ(lwd::test::http_call(*c, "GET", "/api/user/submissions/" + id, ada).data()["status"], "usable");
  EXPECT_EQ(rescuer->terminate(), 0);
  EXPECT_EQ(http->terminate(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerProcesses, ::testing::Values("sqlite", "postgresql"),
                         lwd::test::backend_name);

}  // namespace
