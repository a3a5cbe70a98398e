#include "engine/store/postgres_module.h"

#include <poll.h>

#include <pqxx/pqxx>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "engine/error.h"
#include "engine/store/index_url.h"

namespace lwd {
namespace {

// Any number, as long as nothing else takes the same advisory lock on the
// database; it reads "lwd-index" in ASCII.
constexpr long long kSchemaLockKey = 0x6c77642d696e6465LL;
// What every change announces when it commits (NOTIFY) and a waiting
// connection listens to. Notifications are per database, so markets kept in
// schemas of one database wake each other's waiters; a waiter then reads its
// own counter, finds it unchanged and waits again.
constexpr const char* kChangeChannel = "lwdock_index_change";
// Without it, a host that drops packets would hold an open for minutes.
constexpr const char* kDefaultConnectTimeout = "connect_timeout=10";

// One line of a server or libpq message (they come over several, indented),
// with the password masked should the server ever echo it back.
std::string one_line(std::string text, const std::string& password) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  std::string out;
  for (char c : text) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (!password.empty()) {
    for (auto pos = out.find(password); pos != std::string::npos; pos = out.find(password, pos + 3)) {
      out.replace(pos, password.size(), "***");
    }
  }
  return out;
}

// Invalid UTF-8 sequences become U+FFFD: the server refuses them outright.
std::string valid_utf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k) ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (ok && length > 1) {
      // Overlong forms, surrogates and code points above U+10FFFF are invalid too.
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      if (length == 2) ok = c >= 0xc2;
      if (length == 3) ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
      if (length == 4) ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90) && c <= 0xf4;
    }
    if (ok) {
      out.append(text, i, length);
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Notes that an announcement arrived (pqxx calls it from get_notifs()).
class ChangeReceiver final : public pqxx::notification_receiver {
 public:
  ChangeReceiver(pqxx::connection_base& connection, std::atomic<bool>& arrived)
      : pqxx::notification_receiver(connection, kChangeChannel), arrived_(arrived) {}
  void operator()(const std::string&, int) override { arrived_.store(true); }

 private:
  std::atomic<bool>& arrived_;
};

class PostgresConnection final : public SqlConnection {
 public:
  PostgresConnection(std::string_view url, IndexAccess access) {
    const ParsedIndexUrl parsed = parse_index_url(url);
    if (parsed.backend != ParsedIndexUrl::Backend::postgresql) {
      throw Error("database URL \"" + redact_index_url(url) + "\" is not a PostgreSQL URL");
    }
    name_ = parsed.display;
    password_ = parsed.password;
    std::string conninfo = parsed.conninfo;
    if (conninfo.find("connect_timeout=") == std::string::npos) {
      conninfo += conninfo.find('?') == std::string::npos ? "?" : "&";
      conninfo += kDefaultConnectTimeout;
    }
    try {
      connection_.emplace(conninfo);
    } catch (const std::exception& e) {
      throw Error(name_ + ": cannot connect: " + one_line(e.what(), password_));
    }
    guard("cannot set up the connection", [&] {
      connection_->set_client_encoding("UTF8");
      if (access == IndexAccess::read_only) {
        // A replica refuses writes by itself; a primary given as the read
        // database is kept from them the same way.
        pqxx::nontransaction(*connection_).exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      }
    });
  }

  ~PostgresConnection() override { rollback(); }

  const std::string& name() const override { return name_; }

  SqlResult run(std::string_view sql, const std::vector<SqlValue>& params = {}) override {
    std::vector<std::string> texts;
    texts.reserve(params.size());
    for (const auto& value : params) {
      if (const auto* text = std::get_if<std::string>(&value)) {
        texts.push_back(valid_utf8(*text));
      } else {
        texts.push_back(std::to_string(std::get<std::int64_t>(value)));
      }
    }
    SqlResult out;
    guard("learnware index query failed", [&] {
      const std::string query(sql);
      pqxx::result result;
      if (work_) {
        result = work_->exec_params(query, pqxx::prepare::make_dynamic_params(texts));
      } else {
        // Outside an explicit transaction each statement commits by itself,
        // as in SQLite.
        pqxx::nontransaction single(*connection_);
        result = single.exec_params(query, pqxx::prepare::make_dynamic_params(texts));
      }
      out.affected = static_cast<std::int64_t>(result.affected_rows());
      out.rows.reserve(result.size());
      for (const auto& row : result) {
        std::vector<std::string>& fields = out.rows.emplace_back();
        fields.reserve(row.size());
        for (const auto& field : row) fields.emplace_back(field.is_null() ? std::string() : field.c_str());
      }
    });
    return out;
  }

  void begin() override {
    guard("cannot begin a transaction", [&] { work_ = std::make_unique<pqxx::work>(*connection_); });
  }

  void commit() override {
    if (!work_) throw Error(name_ + ": cannot commit: the transaction was lost with the connection");
    // The transaction object is spent either way; a commit whose outcome the
    // connection could not learn is reported as such.
    const std::unique_ptr<pqxx::work> work = std::move(work_);
    try {
      work->commit();
    } catch (const pqxx::in_doubt_error& e) {
      throw Error(name_ + ": the connection was lost while committing; the change may or may not have been made: " +
                  one_line(e.what(), password_));
    } catch (const std::exception& e) {
      throw Error(name_ + ": cannot commit: " + one_line(e.what(), password_));
    }
  }

  void rollback() noexcept override {
    if (!work_) return;
    try {
      work_->abort();
    } catch (...) {
      // The connection is gone, and with it the transaction.
    }
    work_.reset();
  }

  bool has_table(std::string_view table) override {
    // A query of the catalog under the statement's snapshot, not to_regclass:
    // that one answers from the session's cache, which still says "no such
    // table" after the schema lock was waited for while another session
    // created it. current_schema() is where unqualified names resolve and
    // where CREATE TABLE puts a table (the URL may set the search_path).
    const SqlResult result = run(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = $1 AND n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
        {std::string(table)});
    return !result.rows.empty();
  }

  std::string byte_order(std::string_view column) const override {
    return std::string(column) + " COLLATE \"C\"";
  }

  void lock_schema() override { run("SELECT pg_advisory_xact_lock($1)", {std::int64_t{kSchemaLockKey}}); }

  void announce_change() override { run("SELECT pg_notify($1, '')", {std::string(kChangeChannel)}); }

  bool listen_for_changes() override {
    // The receiver's constructor sends LISTEN.
    guard("cannot listen for changes", [&] { receiver_ = std::make_unique<ChangeReceiver>(*connection_, arrived_); });
    return true;
  }

  bool wait_for_announcement(int wake_fd, std::chrono::milliseconds timeout) override {
    bool arrived = false;
    guard("lost while waiting for changes", [&] {
      // Announcements may already sit in libpq's buffer, read along with the
      // last query's answer: the socket would not show them.
      connection_->get_notifs();
      if (!arrived_.exchange(false)) {
        pollfd fds[2] = {{connection_->sock(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
        const auto ms = std::min<std::chrono::milliseconds::rep>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0), 1 << 30);
        if (::poll(fds, 2, static_cast<int>(ms)) > 0 && fds[0].revents != 0) connection_->get_notifs();
        arrived = arrived_.exchange(false);
      } else {
        arrived = true;
      }
    });
    return arrived;
  }

 private:
  template <class Body>
  void guard(const char* what, Body&& body) {
    try {
      body();
    } catch (const pqxx::broken_connection& e) {
      work_.reset();
      throw Error(name_ + ": lost the connection: " + one_line(e.what(), password_));
    } catch (const pqxx::sql_error& e) {
      throw Error(name_ + ": " + what + ": " + one_line(e.what(), password_));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(name_ + ": " + what + ": " + one_line(e.what(), password_));
    }
  }

  std::string name_;
  std::string password_;
  std::optional<pqxx::connection> connection_;
  std::unique_ptr<pqxx::work> work_;
  std::atomic<bool> arrived_{false};
  std::unique_ptr<ChangeReceiver> receiver_;  // after connection_: unregisters before it closes
};

}  // namespace

}  // namespace lwd

// The module's one entry point (postgres_module.h): the connection, or null
// with the reason in *error. Errors do not leave it as exceptions: the two
// sides each have their own copy of lwd::Error's code.
extern "C" LWD_POSTGRES_MODULE_EXPORT lwd::SqlConnection* LWD_POSTGRES_MODULE_ENTRY(const char* url, int access,
                                                                                    std::string* error) noexcept {
  try {
    return new lwd::PostgresConnection(url, access == 1 ? lwd::IndexAccess::read_only : lwd::IndexAccess::read_write);
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "cannot connect: unknown error";
  }
  return nullptr;
}
