// The dock's accounts, in the market's database beside the learnware index
// (so every server replica, and the command line, sees the same users and
// sessions): users with a role, their session and client tokens, the
// single-use tokens of a password reset, and the counters of the rate limits.
//
// Secrets are never stored: passwords as argon2id strings (libsodium's
// crypto_pwhash_str), tokens as the BLAKE2b-256 hash of their text. A token is
// "lwd_s_" (session) or "lwd_c_" (client) or "lwd_r_" (reset) followed by 256
// random bits in URL-safe base64, so that logs and secret scanners can spot
// one; its text exists only in the reply that created it.
//
// Every statement is portable between SQLite and PostgreSQL; the tables are
// migrated as the service component "accounts" (service_schema.h). An
// AccountStore is safe to use from many threads: it keeps a small pool of
// connections and takes one per call.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/store/sql_index.h"
#include "service/api.h"

namespace lwd::service {

// A refusal the caller can act on; the message says what to change.
class AccountError : public Error {
 public:
  enum class Kind {
    invalid,    // a name, e-mail or password the rules refuse
    conflict,   // the name or e-mail is taken; the last super-admin would go
    not_found,  // no such user or token (of this owner)
  };
  AccountError(Kind kind, const std::string& what) : Error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// argon2id's cost: libsodium's INTERACTIVE limits by default (2 passes over
// 64 MiB: about 0.1 s on one core). Tests lower it.
struct PasswordHashCost {
  unsigned long long opslimit;
  std::size_t memlimit;
  static PasswordHashCost interactive();
  static PasswordHashCost minimum();  // for tests only: as cheap as argon2id allows
};

struct AccountStoreConfig {
  std::chrono::seconds session_ttl = std::chrono::hours(24);
  std::chrono::seconds client_token_ttl = std::chrono::hours(24 * 90);  // the default, and the most one may ask
  std::chrono::seconds reset_token_ttl = std::chrono::hours(1);
  PasswordHashCost hash_cost = PasswordHashCost::interactive();
  int max_concurrent_hashes = 4;  // argon2id's memory, times this, is what logins may take at once
  int max_idle_connections = 8;
};

struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;  // lower case
  Role role = Role::user;
  std::int64_t created_at = 0;  // Unix seconds
  bool has_password = true;     // false after an administrator's reset, until the user sets one
};

enum class TokenKind { session, client, reset };

// A token as created: its text (shown once) and when it stops working.
struct IssuedToken {
  std::int64_t id = 0;
  std::string token;
  std::int64_t expires_at = 0;
};

struct ClientTokenInfo {
  std::int64_t id = 0;
  std::string label;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t last_used_at = 0;  // 0: never
  bool revoked = false;
};

// Who a valid session or client token belongs to.
struct Caller {
  User user;
  std::int64_t token_id = 0;
  TokenKind kind = TokenKind::session;
};

struct UserFilter {
  std::optional<Role> role;
  std::string text;  // part of the name or e-mail, case-insensitive; "" for all
  std::int64_t offset = 0;
  std::int64_t limit = 100;
};

struct RateDecision {
  bool allowed = true;
  std::int64_t retry_after_s = 0;  // when refused: seconds until the window ends
};

class AccountStore {
 public:
  using Connect = std::function<std::unique_ptr<SqlConnection>()>;
  using Clock = std::function<std::int64_t()>;  // Unix seconds

  // Opens a first connection and migrates the tables (service_schema.h).
  // `clock` replaces the system's in tests.
  explicit AccountStore(Connect connect, AccountStoreConfig config = {}, Clock clock = {});
  ~AccountStore();
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;

  const AccountStoreConfig& config() const { return config_; }
  std::int64_t now() const { return clock_(); }

  // The rules, also for the command line (AccountError(invalid) saying why):
  // a name of 1-64 letters, digits, '.', '_' or '-', starting with a letter
  // or digit; an e-mail of at most 254 bytes with one '@' and no spaces; a
  // password of 10-1024 bytes, at least 10 characters, not one character
  // repeated, not the name or e-mail, not a well-known one.
  static void check_name(std::string_view name);
  static std::string normalize_email(std::string_view email);  // lower case, checked
  static void check_password(std::string_view password, std::string_view name, std::string_view email);

  // Throws AccountError: invalid (the rules), conflict (name or e-mail taken,
  // case-insensitively).
  User create_user(const std::string& name, const std::string& email, const std::string& password, Role role);
  std::optional<User> find_user(std::int64_t id);
  // The user whose name or e-mail is `login`, in any case.
  std::optional<User> find_user_by_login(const std::string& login);
  std::vector<User> list_users(const UserFilter& filter, std::int64_t* total);
  // Removes the user and every token of theirs. AccountError: not_found, or
  // conflict for the last super-admin.
  void delete_user(std::int64_t id);
  // AccountError: not_found, or conflict when it would leave no super-admin.
  User set_role(std::int64_t id, Role role);
  std::int64_t count_role(Role role);

  // A new session for the user whose name or e-mail is `login`, when the
  // password is theirs; nullopt otherwise (which of the two is wrong is not
  // said). Unknown users take as long as known ones.
  std::optional<std::pair<User, IssuedToken>> log_in(const std::string& login, const std::string& password);
  // A new session from a valid client token, expiring with it at the latest;
  // revoking the client token revokes it too.
  std::optional<std::pair<User, IssuedToken>> log_in_with_client_token(const std::string& client_token);
  // The caller a session or client token belongs to; nullopt when it is
  // unknown, expired or revoked. A client token's last use is kept (to the minute).
  std::optional<Caller> authenticate(const std::string& token);
  // Revokes the token (a session or client token); false if it was not valid.
  bool revoke(const std::string& token);

  // False, changing nothing, when `old_password` is not the user's; otherwise
  // sets the new one and revokes the user's sessions except `keep_token_id`.
  bool change_password(std::int64_t user_id, const std::string& old_password, const std::string& new_password,
                       std::int64_t keep_token_id);

  // `ttl` 0: the configured client_token_ttl; at most that.
  IssuedToken create_client_token(std::int64_t user_id, const std::string& label, std::chrono::seconds ttl = {});
  std::vector<ClientTokenInfo> list_client_tokens(std::int64_t user_id);
  // AccountError(not_found) unless the token is the user's.
  void revoke_client_token(std::int64_t user_id, std::int64_t token_id);

  // An administrator's reset: the password stops working, every token of the
  // user is revoked, and the single-use reset token returned (valid
  // reset_token_ttl) lets the user choose a new one.
  IssuedToken issue_reset_token(std::int64_t user_id);
  // Sets the password of the reset token's user and uses the token up;
  // nullopt when the token is unknown, used or expired.
  std::optional<User> reset_password(const std::string& reset_token, const std::string& new_password);

  // One attempt against a fixed-window counter kept in the database (so
  // replicas count together): allowed while the window holds at most `limit`.
  RateDecision hit_rate_limit(const std::string& bucket, std::int64_t limit, std::int64_t window_s);

  // The argon2id string of a password at the configured cost (exposed for tests).
  std::string hash_password(std::string_view password);
  // The stored form of a token's text (exposed for tests).
  static std::string token_hash(std::string_view token);

 private:
  class Lease;
  std::unique_ptr<SqlConnection> take();
  void give_back(std::unique_ptr<SqlConnection> db);
  bool verify_password(const std::string& stored, std::string_view password);
  IssuedToken insert_token(SqlConnection& db, std::int64_t user_id, TokenKind kind, const std::string& label,
                           std::int64_t expires_at, std::int64_t parent_id);
  std::int64_t next_id(SqlConnection& db, const std::string& counter);
  void sweep(SqlConnection& db);

  Connect connect_;
  AccountStoreConfig config_;
  Clock clock_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<SqlConnection>> idle_;
  std::mutex hash_mutex_;
  std::condition_variable hash_slot_;
  int hashing_ = 0;
  std::string dummy_hash_;  // verified against when the user is unknown
  std::int64_t last_sweep_ = 0;
};

std::string_view to_string(TokenKind kind);
// "user", "admin", "super-admin" (to_string(Role)); nullopt for anything else.
std::optional<Role> role_from_string(std::string_view text);

}  // namespace lwd::service
