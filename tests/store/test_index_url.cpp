// Choosing the index by URL, and what goes wrong on the way to a database:
// each failure is one line that names the database and never the password.
#include "engine/store/index_url.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/store/postgres_index.h"
#include "store/index_test_support.h"
#include "store/store_test_support.h"

namespace lwd {
namespace {

constexpr const char* kSecret = "s3cr3t-Pa55";

void expect_one_clean_line(const std::string& message, const std::string& secret) {
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.find(secret), std::string::npos) << message;
}

TEST(IndexUrl, SqliteUrlsNameAFile) {
  const auto parsed = parse_index_url("sqlite:/var/markets/a/index.sqlite");
  EXPECT_EQ(parsed.backend, ParsedIndexUrl::Backend::sqlite);
  EXPECT_EQ(parsed.sqlite_path, "/var/markets/a/index.sqlite");
  EXPECT_EQ(parse_index_url("sqlite:rel/x.db").sqlite_path, "rel/x.db");
}

TEST(IndexUrl, PostgresUrlsAreKeptWholeForLibpqAndShownWithoutPassword) {
  const std::string url = std::string("postgresql://lw:") + kSecret + "@db.example.org:6432/market?sslmode=require";
  const auto parsed = parse_index_url(url);
  EXPECT_EQ(parsed.backend, ParsedIndexUrl::Backend::postgresql);
  EXPECT_EQ(parsed.conninfo, url);
  EXPECT_EQ(parsed.display, "postgresql://lw@db.example.org:6432/market");
  EXPECT_EQ(parsed.password, kSecret);
}

TEST(IndexUrl, AcceptsTheShortSchemeSeveralHostsIpv6AndEncodedNames) {
  EXPECT_EQ(parse_index_url("postgres://lw@h/db").display, "postgres://lw@h/db");
  EXPECT_NO_THROW(parse_index_url("postgresql://lw@h1:5432,h2:5433/db?target_session_attrs=read-write"));
  EXPECT_NO_THROW(parse_index_url("postgresql://lw@[::1]:5432/db"));
  EXPECT_EQ(parse_index_url("postgresql://lw:p%40ss@h/db").password, "p@ss");
  EXPECT_EQ(parse_index_url("postgresql://lw@h/db?password=p%26w").password, "p&w");
}

TEST(IndexUrl, MalformedUrlsAreOneLineAndHideThePassword) {
  const std::string s = kSecret;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is empty"},
      {"mysql://u:" + s + "@h/db", "unknown kind of database"},
      {"index.sqlite", "unknown kind of database"},
      {"sqlite:", "names no file"},
      {"sqlite://var/x.db", "sqlite:PATH"},
      {"postgresql://u:" + s + "@h", "names no database"},
      {"postgresql://u:" + s + "@h/", "names no database"},
      {"postgresql://h/db", "names no user"},
      {"postgresql://:" + s + "@h/db", "names no user"},
      {"postgresql://u:" + s + "@/db", "names no host"},
      {"postgresql://u:" + s + "@h:port/db", "port \"port\""},
      {"postgresql://u:" + s + "@h:70000/db", "port \"70000\""},
      {"postgresql://u:" + s + "@h:/db", "port after ':' is empty"},
      {"postgresql://u:" + s + "@[::1/db", "closing ']'"},
      {"postgresql://u:" + s + "@h/db/x", "holds a '/'"},
      {"postgresql://u:" + s + "@h/db?sslmode", "name=value"},
      {"postgresql://u:" + s + "@h/db?", "name=value"},
      {"postgresql://u:" + s + "@h/db?Bad-Name=1", "libpq parameter name"},
      {"postgresql://u:" + s + "@h/d%zzb", "two hex digits"},
      {"postgresql://u:" + s + "@h/d b", "space"},
      {"postgresql://u@h/db?password=" + s + "&sslmode", "name=value"},
      {"postgresql://u:" + s + "@x@h/db", "written %40"},
  };
  for (const auto& [url, expected] : cases) {
    SCOPED_TRACE(url);
    const std::string message = test::error_of([&] { parse_index_url(url); });
    expect_one_clean_line(message, s);
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.rfind("database URL", 0), 0u) << message;
    // The factory refuses them the same way, before connecting anywhere
    // (an empty URL is its default file instead: the next test).
    if (!url.empty()) {
      EXPECT_EQ(test::error_of([&] { open_learnware_index(url, "unused.sqlite"); }), message);
    }
  }
}

TEST(IndexUrl, RedactionCoversThePasswordWhereverItIs) {
  EXPECT_EQ(redact_index_url("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(redact_index_url("postgresql://u:p@w@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(redact_index_url("postgresql://u@h/db?password=pw&x=1"), "postgresql://u@h/db?password=***&x=1");
  EXPECT_EQ(redact_index_url("sqlite:/a:b@c"), "sqlite:/a:b@c");
}

TEST(IndexUrl, AnEmptyUrlOpensTheDefaultFile) {
  test::ScratchDir dir;
  open_learnware_index("", dir / "own.sqlite")->insert([] {
    LearnwareRecord r;
    r.id = "00000001";
    return r;
  }());
  EXPECT_EQ(open_learnware_index("sqlite:" + (dir / "own.sqlite").string(), "")->list().size(), 1u);
}

// ---- connection failures against the test server ------------------------------

class PostgresConnectionFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    url_ = test::postgres_test_url(&why);
    if (url_.empty()) {
      if (test::postgres_tests_opted_out()) GTEST_SKIP() << why;
      FAIL() << why;
    }
  }
  // The test URL with its password replaced.
  std::string with_password(const std::string& password) const {
    const auto start = url_.find(':', url_.find("://") + 3);
    const auto at = url_.rfind('@');
    return url_.substr(0, start + 1) + password + url_.substr(at);
  }

  std::string url_;
};

TEST_F(PostgresConnectionFailures, AWrongPasswordIsOneLineNamingTheDatabaseButNotThePassword) {
  const std::string message = test::error_of([&] { open_learnware_index(with_password(kSecret), ""); });
  expect_one_clean_line(message, kSecret);
  EXPECT_NE(message.find(parse_index_url(url_).display), std::string::npos) << message;
  EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
}

TEST_F(PostgresConnectionFailures, AClosedPortIsOneLineSayingItCannotConnect) {
  // A port nobody listens on: bound, then closed again.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  ::close(fd);
  const std::string url = std::string("postgresql://lw:") + kSecret + "@127.0.0.1:" + std::to_string(port) + "/db";
  const std::string message = test::error_of([&] { open_learnware_index(url, ""); });
  expect_one_clean_line(message, kSecret);
  EXPECT_NE(message.find("postgresql://lw@127.0.0.1:" + std::to_string(port) + "/db: cannot connect"),
            std::string::npos)
      << message;
}

TEST_F(PostgresConnectionFailures, AnUnknownDatabaseIsOneLine) {
  auto url = url_;
  url.replace(url.rfind('/'), std::string::npos, "/no_such_database");
  const std::string message = test::error_of([&] { open_learnware_index(url, ""); });
  expect_one_clean_line(message, parse_index_url(url_).password);
  EXPECT_NE(message.find("no_such_database"), std::string::npos) << message;
}

// The server ends the session (a restart, an administrator): the next call
// fails with one line, a transaction open then is not reported as committed,
// and a fresh open works.
TEST_F(PostgresConnectionFailures, ALostConnectionIsOneLineAndNothingIsCommittedByMistake) {
  test::PostgresLocation location(url_);
  const std::string name = "lwd_victim_" + test::random_suffix();
  auto index = open_learnware_index(location.url() + "&application_name=" + name, "");
  index->begin();
  LearnwareRecord record;
  record.id = "00000001";
  index->insert(record);
  open_postgres_connection(url_, IndexAccess::read_write)
      ->run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", {name});
  const std::string message = test::error_of([&] {
    record.id = "00000002";
    index->insert(record);
    index->commit();
  });
  expect_one_clean_line(message, parse_index_url(url_).password);
  EXPECT_NE(message.find(parse_index_url(url_).display), std::string::npos) << message;
  EXPECT_NE(message.find("connection"), std::string::npos) << message;
  index->rollback();
  EXPECT_TRUE(open_learnware_index(location.url(), "")->list().empty());
}

// The server refuses text that is not UTF-8; such bytes (a manifest's name is
// not checked) are stored as U+FFFD rather than failing the submission.
TEST_F(PostgresConnectionFailures, TextThatIsNotUtf8IsStoredWithReplacementCharacters) {
  test::PostgresLocation location(url_);
  auto index = open_learnware_index(location.url(), "");
  LearnwareRecord record;
  record.id = "00000001";
  record.name = "ok \xE6\x97\xA5 bad \xFF\xC3( end";
  index->insert(record);
  EXPECT_EQ(index->get("00000001")->name, "ok \xE6\x97\xA5 bad \xEF\xBF\xBD\xEF\xBF\xBD( end");
}

TEST(SqliteIndexText, BytesThatAreNotUtf8AreKeptAsGiven) {
  test::ScratchDir dir;
  auto index = open_learnware_index("", dir / "index.sqlite");
  LearnwareRecord record;
  record.id = "00000001";
  record.name = "bad \xFF\xC3( end";
  index->insert(record);
  EXPECT_EQ(index->get("00000001")->name, record.name);
}

}  // namespace
}  // namespace lwd
