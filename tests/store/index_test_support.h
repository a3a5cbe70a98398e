// The databases the index suites run against: a SQLite file in a scratch
// directory, or a schema of its own in the PostgreSQL test server.
//
// The server is real: CTest starts it before these suites (the `postgres`
// fixture, scripts/pg-test-cluster.sh), which writes its URL to the file the
// build names in LWD_POSTGRES_URL_FILE; LWDOCK_TEST_POSTGRES_URL_FILE names
// another file, LWDOCK_TEST_POSTGRES_URL gives a URL directly. Without a server the PostgreSQL cases fail, saying so, unless
// LWDOCK_TEST_NO_POSTGRES=1 (a developer without PostgreSQL) skips them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "engine/error.h"
#include "engine/store/postgres_index.h"
#include "engine/store/sqlite_index.h"
#include "engine/io/scratch_dir.h"

namespace lwd::test {

// The test server's URL, or "" with `why` saying what is missing.
inline std::string postgres_test_url(std::string* why) {
  if (const char* url = std::getenv("LWDOCK_TEST_POSTGRES_URL"); url && *url) return url;
  const char* file = std::getenv("LWDOCK_TEST_POSTGRES_URL_FILE");
#ifdef LWD_POSTGRES_URL_FILE
  if (!file || !*file) file = LWD_POSTGRES_URL_FILE;
#endif
  if (!file || !*file) {
    *why = "no PostgreSQL test server: run the suite through ctest (its postgres fixture starts one) or set "
           "LWDOCK_TEST_POSTGRES_URL; LWDOCK_TEST_NO_POSTGRES=1 skips these cases";
    return "";
  }
  std::ifstream in(file);
  std::string url;
  std::getline(in, url);
  if (url.empty()) {
    *why = std::string("no PostgreSQL test server: ") + file +
           " is missing or empty (did scripts/pg-test-cluster.sh start fail? see the postgres.start test); "
           "LWDOCK_TEST_NO_POSTGRES=1 skips these cases";
  }
  return url;
}

inline bool postgres_tests_opted_out() {
  const char* value = std::getenv("LWDOCK_TEST_NO_POSTGRES");
  return value && std::string(value) == "1";
}

inline std::string random_suffix() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> digit(0, 35);
  std::string text;
  for (int i = 0; i < 12; ++i) text += "0123456789abcdefghijklmnopqrstuvwxyz"[digit(device)];
  return text;
}

// One empty place for an index, removed afterwards.
class IndexLocation {
 public:
  virtual ~IndexLocation() = default;
  // The URL that opens it (open_learnware_index).
  virtual const std::string& url() const = 0;
  // A second, separate empty place of the same backend.
  virtual std::unique_ptr<IndexLocation> sibling() const = 0;
  // A connection with no schema check, as another program would use.
  std::unique_ptr<SqlConnection> raw(IndexAccess access = IndexAccess::read_write) const {
    if (url().rfind("sqlite:", 0) == 0) return open_sqlite_connection(url().substr(7), access);
    return open_postgres_connection(url(), access);
  }
};

class SqliteLocation final : public IndexLocation {
 public:
  SqliteLocation() : url_("sqlite:" + (dir_.path() / "index.sqlite").string()) {}
  const std::string& url() const override { return url_; }
  std::unique_ptr<IndexLocation> sibling() const override { return std::make_unique<SqliteLocation>(); }

 private:
  io::ScratchDir dir_{"lwd-index-test-"};
  std::string url_;
};

// A schema named after a random suffix in the test database, chosen by the
// URL's search_path: every test gets an empty database of its own, and the
// URL parameters are exercised on the way.
class PostgresLocation final : public IndexLocation {
 public:
  explicit PostgresLocation(std::string base) : base_(std::move(base)), schema_("lwd_test_" + random_suffix()) {
    open_postgres_connection(base_, IndexAccess::read_write)->run("CREATE SCHEMA " + schema_);
    url_ = base_ + (base_.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
  }
  ~PostgresLocation() override {
    try {
      open_postgres_connection(base_, IndexAccess::read_write)->run("DROP SCHEMA " + schema_ + " CASCADE");
    } catch (const Error&) {
      // The server is gone with everything in it.
    }
  }
  const std::string& url() const override { return url_; }
  std::unique_ptr<IndexLocation> sibling() const override { return std::make_unique<PostgresLocation>(base_); }
  const std::string& base_url() const { return base_; }

 private:
  std::string base_;
  std::string schema_;
  std::string url_;
};

// "sqlite" or "postgresql"; nullptr with `why` when the server is missing.
inline std::unique_ptr<IndexLocation> make_index_location(const std::string& backend, std::string* why) {
  if (backend == "sqlite") return std::make_unique<SqliteLocation>();
  const std::string url = postgres_test_url(why);
  if (url.empty()) return nullptr;
  try {
    return std::make_unique<PostgresLocation>(url);
  } catch (const Error& e) {
    *why = std::string("the PostgreSQL test server does not answer: ") + e.what();
    return nullptr;
  }
}

// In SetUp(): the location, or the test fails (skips, when opted out) saying why.
#define LWD_INDEX_LOCATION_OR_RETURN(location, backend)                     \
  do {                                                                      \
    std::string why_;                                                       \
    location = ::lwd::test::make_index_location(backend, &why_);            \
    if (!location) {                                                        \
      if (::lwd::test::postgres_tests_opted_out()) GTEST_SKIP() << why_;    \
      FAIL() << why_;                                                       \
    }                                                                       \
  } while (0)

// The message of the lwd::Error that body throws (fails the test if none).
inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no lwd::Error was thrown";
  return "";
}

}  // namespace lwd::test
