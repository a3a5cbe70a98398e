#include "service/accounts.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <utility>

#include "service/service_schema.h"

namespace lwd::service {
namespace {

constexpr std::string_view kSessionPrefix = "lwd_s_";
constexpr std::string_view kClientPrefix = "lwd_c_";
constexpr std::string_view kResetPrefix = "lwd_r_";
constexpr std::size_t kTokenBytes = 32;    // 256 random bits
constexpr std::size_t kTokenTextLength = 6 + 43;  // prefix + unpadded URL-safe base64 of 32 bytes
constexpr std::int64_t kLastUsedResolution = 60;  // a client token's last use is written at most once a minute
constexpr std::int64_t kSweepPeriod = 60;
constexpr std::int64_t kKeepExpiredTokens = 30 * 86400;  // listed as expired for a month, then deleted
constexpr std::int64_t kKeepRateWindows = 86400;

// The tables. Ids come from accounts_counters (UPDATE ... RETURNING): the
// same statement on both databases, where an auto-increment column is not.
// The 'roles' counter is a row to lock: role changes and deletions update it
// first, so two of them never both see a second super-admin and both remove it.
const std::vector<ServiceMigration>& account_migrations() {
  static const std::vector<ServiceMigration> migrations = {
      {1,
       {
           "CREATE TABLE accounts_users ("
           " id BIGINT PRIMARY KEY,"
           " name TEXT NOT NULL,"
           " name_key TEXT NOT NULL UNIQUE,"  // the name in lower case: names are unique whatever their case
           " email TEXT NOT NULL UNIQUE,"     // lower case
           " password_hash TEXT NOT NULL,"    // argon2id string; '' after an administrator's reset
           " role TEXT NOT NULL,"
           " created_at BIGINT NOT NULL)",
           "CREATE TABLE accounts_tokens ("
           " id BIGINT PRIMARY KEY,"
           " user_id BIGINT NOT NULL,"
           " kind TEXT NOT NULL,"             // session, client, reset
           " label TEXT NOT NULL,"
           " token_hash TEXT NOT NULL UNIQUE,"  // BLAKE2b-256 of the token's text, hex
           " parent_id BIGINT NOT NULL,"      // a session's client token (revoked with it), or 0
           " created_at BIGINT NOT NULL,"
           " expires_at BIGINT NOT NULL,"
           " last_used_at BIGINT NOT NULL,"
           " revoked_at BIGINT NOT NULL)",    // 0: valid; a reset token's use revokes it
           "CREATE INDEX accounts_tokens_user ON accounts_tokens (user_id)",
           "CREATE INDEX accounts_tokens_parent ON accounts_tokens (parent_id)",
           "CREATE INDEX accounts_tokens_expiry ON accounts_tokens (expires_at)",
           "CREATE TABLE accounts_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
           "INSERT INTO accounts_counters (name, value) VALUES ('user', 0), ('token', 0), ('roles', 0)",
           "CREATE TABLE accounts_rate_limits ("
           " bucket TEXT PRIMARY KEY,"        // BLAKE2b of "what:address" or "what:login": no address kept
           " window_start BIGINT NOT NULL,"
           " hits BIGINT NOT NULL)",
       }},
  };
  return migrations;
}

constexpr const char* kUserColumns = "id, name, email, password_hash, role, created_at";

std::int64_t to_int(const std::string& text) { return text.empty() ? 0 : std::stoll(text); }

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Columns in kUserColumns order, from `first`.
User user_from_row(const std::vector<std::string>& row, std::size_t first = 0) {
  User u;
  u.id = to_int(row[first]);
  u.name = row[first + 1];
  u.email = row[first + 2];
  u.has_password = !row[first + 3].empty();
  u.role = role_from_string(row[first + 4]).value_or(Role::user);
  u.created_at = to_int(row[first + 5]);
  return u;
}

std::string random_token(std::string_view prefix) {
  std::array<unsigned char, kTokenBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::array<char, sodium_base64_ENCODED_LEN(kTokenBytes, variant)> text{};
  sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(), variant);
  sodium_memzero(bytes.data(), bytes.size());
  return std::string(prefix) + text.data();
}

std::string_view prefix_of(TokenKind kind) {
  switch (kind) {
    case TokenKind::session:
      return kSessionPrefix;
    case TokenKind::client:
      return kClientPrefix;
    case TokenKind::reset:
      return kResetPrefix;
  }
  return kSessionPrefix;
}

std::optional<TokenKind> kind_of_text(std::string_view token) {
  if (token.size() != kTokenTextLength) return std::nullopt;
  for (const TokenKind kind : {TokenKind::session, TokenKind::client, TokenKind::reset}) {
    if (token.substr(0, 6) == prefix_of(kind)) return kind;
  }
  return std::nullopt;
}

std::optional<TokenKind> kind_from_string(std::string_view text) {
  for (const TokenKind kind : {TokenKind::session, TokenKind::client, TokenKind::reset}) {
    if (text == to_string(kind)) return kind;
  }
  return std::nullopt;
}

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw Error("libsodium cannot start (sodium_init failed)");
}

// Code points of valid UTF-8 (the JSON reader has checked it; the command
// line's password is counted the same way, bytes that start none not counted).
std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string_view to_string(TokenKind kind) {
  switch (kind) {
    case TokenKind::session:
      return "session";
    case TokenKind::client:
      return "client";
    case TokenKind::reset:
      return "reset";
  }
  return "session";
}

std::optional<Role> role_from_string(std::string_view text) {
  for (const Role role : {Role::user, Role::admin, Role::super_admin}) {
    if (text == to_string(role)) return role;
  }
  return std::nullopt;
}

PasswordHashCost PasswordHashCost::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordHashCost PasswordHashCost::minimum() { return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN}; }

// One connection of the pool, for one call: given back when the call ends,
// dropped when it ends with an exception (the connection may be broken).
class AccountStore::Lease {
 public:
  explicit Lease(AccountStore& store) : store_(store), db_(store.take()), exceptions_(std::uncaught_exceptions()) {}
  ~Lease() {
    if (std::uncaught_exceptions() == exceptions_) store_.give_back(std::move(db_));
  }
  SqlConnection& operator*() { return *db_; }
  SqlConnection* operator->() { return db_.get(); }

 private:
  AccountStore& store_;
  std::unique_ptr<SqlConnection> db_;
  int exceptions_;
};

// Runs body inside a transaction on db: committed when it returns, rolled back when it throws.
template <typename Body>
auto in_transaction(SqlConnection& db, Body&& body) {
  db.begin();
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      db.commit();
    } else {
      auto result = body();
      db.commit();
      return result;
    }
  } catch (...) {
    db.rollback();
    throw;
  }
}

AccountStore::AccountStore(Connect connect, AccountStoreConfig config, Clock clock)
    : connect_(std::move(connect)), config_(config), clock_(std::move(clock)) {
  ensure_sodium();
  if (!clock_) {
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  config_.max_concurrent_hashes = std::max(1, config_.max_concurrent_hashes);
  {
    Lease db(*this);
    migrate_service_schema(*db, "accounts", account_migrations());
  }
  dummy_hash_ = hash_password("a password no account has, for the timing of unknown users");
}

AccountStore::~AccountStore() = default;

std::unique_ptr<SqlConnection> AccountStore::take() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return db;
    }
  }
  return connect_();
}

void AccountStore::give_back(std::unique_ptr<SqlConnection> db) {
  std::lock_guard lock(pool_mutex_);
  if (static_cast<int>(idle_.size()) < config_.max_idle_connections) idle_.push_back(std::move(db));
}

void AccountStore::check_name(std::string_view name) {
  const auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  if (name.empty() || name.size() > 64) throw AccountError(AccountError::Kind::invalid, "a name has 1 to 64 characters");
  if (!std::all_of(name.begin(), name.end(), ok_char) || name.front() == '.' || name.front() == '_' ||
      name.front() == '-') {
    throw AccountError(AccountError::Kind::invalid,
                       "a name has letters, digits, '.', '_' and '-' only (a-z, A-Z, 0-9), and starts with a letter "
                       "or digit");
  }
}

std::string AccountStore::normalize_email(std::string_view email) {
  const auto at = email.find('@');
  const bool shaped = at != std::string_view::npos && at > 0 && at + 1 < email.size() &&
                      email.find('@', at + 1) == std::string_view::npos;
  const bool clean = std::none_of(email.begin(), email.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == ',' || c == ';';
  });
  if (email.size() > 254 || !shaped || !clean) {
    throw AccountError(AccountError::Kind::invalid,
                       "an e-mail address is local@domain, at most 254 bytes, with no spaces or control characters");
  }
  return ascii_lower(email);
}

void AccountStore::check_password(std::string_view password, std::string_view name, std::string_view email) {
  using K = AccountError::Kind;
  if (password.size() > 1024) throw AccountError(K::invalid, "a password has at most 1024 bytes");
  if (code_points(password) < 10) throw AccountError(K::invalid, "a password has at least 10 characters");
  // One character repeated: the bytes repeat the first character's (1-4 bytes of UTF-8).
  std::size_t first = 1;
  while (first < password.size() && (static_cast<unsigned char>(password[first]) & 0xC0) == 0x80) ++first;
  bool repeated = password.size() % first == 0;
  for (std::size_t i = first; repeated && i < password.size(); ++i) repeated = password[i] == password[i % first];
  if (repeated) {
    throw AccountError(K::invalid, "a password is not one character repeated");
  }
  const std::string lowered = ascii_lower(password);
  if ((!name.empty() && lowered == ascii_lower(name)) || (!email.empty() && lowered == ascii_lower(email))) {
    throw AccountError(K::invalid, "a password is not the account's name or e-mail address");
  }
  static const std::array<std::string_view, 16> common = {
      "1234567890",   "0123456789",   "12345678910", "123456789012", "password12", "password123",
      "password1234", "qwertyuiop",   "1q2w3e4r5t",  "iloveyou12",   "letmein123", "administrator",
      "qwerty1234",   "abcdefghij",   "changeme123", "welcome123"};
  if (std::find(common.begin(), common.end(), lowered) != common.end()) {
    throw AccountError(K::invalid, "this password is one of the most common ones; choose another");
  }
}

std::string AccountStore::hash_password(std::string_view password) {
  std::unique_lock lock(hash_mutex_);
  hash_slot_.wait(lock, [&] { return hashing_ < config_.max_concurrent_hashes; });
  ++hashing_;
  lock.unlock();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  const int rc = crypto_pwhash_str_alg(out.data(), password.data(), password.size(), config_.hash_cost.opslimit,
                                       config_.hash_cost.memlimit, crypto_pwhash_ALG_ARGON2ID13);
  lock.lock();
  --hashing_;
  hash_slot_.notify_one();
  if (rc != 0) throw Error("cannot hash a password: out of memory (argon2id needs " +
                           std::to_string(config_.hash_cost.memlimit >> 20) + " MiB)");
  return out.data();
}

bool AccountStore::verify_password(const std::string& stored, std::string_view password) {
  const std::string& against = stored.empty() ? dummy_hash_ : stored;
  std::unique_lock lock(hash_mutex_);
  hash_slot_.wait(lock, [&] { return hashing_ < config_.max_concurrent_hashes; });
  ++hashing_;
  lock.unlock();
  const bool ok = crypto_pwhash_str_verify(against.c_str(), password.data(), password.size()) == 0;
  lock.lock();
  --hashing_;
  hash_slot_.notify_one();
  return ok && !stored.empty();
}

std::string AccountStore::token_hash(std::string_view token) {
  ensure_sodium();
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                     nullptr, 0);
  std::array<char, crypto_generichash_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return hex.data();
}

std::int64_t AccountStore::next_id(SqlConnection& db, const std::string& counter) {
  const SqlResult r =
      db.run("UPDATE accounts_counters SET value = value + 1 WHERE name = $1 RETURNING value", {counter});
  if (r.rows.empty()) throw Error(db.name() + ": the accounts tables have no counter " + counter);
  return to_int(r.rows.front().front());
}

void AccountStore::sweep(SqlConnection& db) {
  const std::int64_t t = now();
  {
    std::lock_guard lock(pool_mutex_);
    if (t - last_sweep_ < kSweepPeriod) return;
    last_sweep_ = t;
  }
  db.run("DELETE FROM accounts_rate_limits WHERE window_start < $1", {t - kKeepRateWindows});
  db.run("DELETE FROM accounts_tokens WHERE expires_at < $1", {t - kKeepExpiredTokens});
}

IssuedToken AccountStore::insert_token(SqlConnection& db, std::int64_t user_id, TokenKind kind,
                                       const std::string& label, std::int64_t expires_at, std::int64_t parent_id) {
  IssuedToken issued;
  issued.id = next_id(db, "token");
  issued.token = random_token(prefix_of(kind));
  issued.expires_at = expires_at;
  db.run("INSERT INTO accounts_tokens (id, user_id, kind, label, token_hash, parent_id, created_at, expires_at,"
         " last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0)",
         {issued.id, user_id, std::string(to_string(kind)), label, token_hash(issued.token), parent_id, now(),
          expires_at});
  return issued;
}

User AccountStore::create_user(const std::string& name, const std::string& email, const std::string& password,
                               Role role) {
  check_name(name);
  const std::string mail = normalize_email(email);
  check_password(password, name, mail);
  if (role == Role::anonymous) throw AccountError(AccountError::Kind::invalid, "an account's role is user or above");
  const std::string hash = hash_password(password);
  Lease db(*this);
  return in_transaction(*db, [&] {
    const std::int64_t id = next_id(*db, "user");  // locks the counter row: creations run one at a time
    const SqlResult taken = db->run("SELECT name_key, email FROM accounts_users WHERE name_key = $1 OR email = $2",
                                    {ascii_lower(name), mail});
    if (!taken.rows.empty()) {
      const bool name_taken = taken.rows.front()[0] == ascii_lower(name);
      throw AccountError(AccountError::Kind::conflict,
                         name_taken ? "the name is taken" : "an account with this e-mail address exists");
    }
    User user;
    user.id = id;
    user.name = name;
    user.email = mail;
    user.role = role;
    user.created_at = now();
    db->run("INSERT INTO accounts_users (id, name, name_key, email, password_hash, role, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            {id, name, ascii_lower(name), mail, hash, std::string(to_string(role)), user.created_at});
    return user;
  });
}

std::optional<User> AccountStore::find_user(std::int64_t id) {
  Lease db(*this);
  const SqlResult r = db->run(std::string("SELECT ") + kUserColumns + " FROM accounts_users WHERE id = $1", {id});
  if (r.rows.empty()) return std::nullopt;
  return user_from_row(r.rows.front());
}

std::optional<User> AccountStore::find_user_by_login(const std::string& login) {
  if (login.size() > 254) return std::nullopt;
  Lease db(*this);
  const SqlResult r = db->run(std::string("SELECT ") + kUserColumns +
                                  " FROM accounts_users WHERE name_key = $1 OR email = $1 ORDER BY id",
                              {ascii_lower(login)});
  if (r.rows.empty()) return std::nullopt;
  return user_from_row(r.rows.front());
}

std::vector<User> AccountStore::list_users(const UserFilter& filter, std::int64_t* total) {
  std::string where = " WHERE 1 = 1";
  std::vector<SqlValue> params;
  if (filter.role) {
    params.emplace_back(std::string(to_string(*filter.role)));
    where += " AND role = $" + std::to_string(params.size());
  }
  if (!filter.text.empty()) {
    std::string pattern = "%";
    for (const char c : ascii_lower(filter.text)) {
      if (c == '%' || c == '_' || c == '\\') pattern += '\\';
      pattern += c;
    }
    pattern += '%';
    params.emplace_back(pattern);
    const std::string p = std::to_string(params.size());
    where.append(" AND (name_key LIKE $").append(p).append(" ESCAPE '\\' OR email LIKE $").append(p).append(
        " ESCAPE '\\')");
  }
  Lease db(*this);
  if (total != nullptr) *total = to_int(db->run("SELECT COUNT(*) FROM accounts_users" + where, params).rows[0][0]);
  params.emplace_back(filter.limit);
  params.emplace_back(filter.offset);
  const SqlResult r = db->run(std::string("SELECT ") + kUserColumns + " FROM accounts_users" + where +
                                  " ORDER BY id LIMIT $" + std::to_string(params.size() - 1) + " OFFSET $" +
                                  std::to_string(params.size()),
                              params);
  std::vector<User> users;
  for (const auto& row : r.rows) users.push_back(user_from_row(row));
  return users;
}

std::int64_t AccountStore::count_role(Role role) {
  Lease db(*this);
  return to_int(
      db->run("SELECT COUNT(*) FROM accounts_users WHERE role = $1", {std::string(to_string(role))}).rows[0][0]);
}

namespace {

// Inside a transaction: the user, after locking the 'roles' row (see the migration).
User locked_user(SqlConnection& db, std::int64_t id) {
  db.run("UPDATE accounts_counters SET value = value + 1 WHERE name = 'roles'");
  const SqlResult r = db.run(std::string("SELECT ") + kUserColumns + " FROM accounts_users WHERE id = $1", {id});
  if (r.rows.empty()) throw AccountError(AccountError::Kind::not_found, "no user " + std::to_string(id));
  return user_from_row(r.rows.front());
}

void keep_a_super_admin(SqlConnection& db, const User& user) {
  if (user.role != Role::super_admin) return;
  const auto count = to_int(db.run("SELECT COUNT(*) FROM accounts_users WHERE role = 'super-admin'").rows[0][0]);
  if (count <= 1) throw AccountError(AccountError::Kind::conflict, "the last super-admin stays one");
}

}  // namespace

void AccountStore::delete_user(std::int64_t id) {
  Lease db(*this);
  in_transaction(*db, [&] {
    keep_a_super_admin(*db, locked_user(*db, id));
    db->run("DELETE FROM accounts_tokens WHERE user_id = $1", {id});
    db->run("DELETE FROM accounts_users WHERE id = $1", {id});
  });
}

User AccountStore::set_role(std::int64_t id, Role role) {
  if (role == Role::anonymous) throw AccountError(AccountError::Kind::invalid, "an account's role is user or above");
  Lease db(*this);
  return in_transaction(*db, [&] {
    User user = locked_user(*db, id);
    if (role != Role::super_admin) keep_a_super_admin(*db, user);
    db->run("UPDATE accounts_users SET role = $1 WHERE id = $2", {std::string(to_string(role)), id});
    user.role = role;
    return user;
  });
}

std::optional<std::pair<User, IssuedToken>> AccountStore::log_in(const std::string& login,
                                                                 const std::string& password) {
  std::optional<User> user;
  std::string stored;
  if (login.size() <= 254 && password.size() <= 1024) {
    Lease db(*this);
    const std::string key = ascii_lower(login);
    const SqlResult r = db->run(std::string("SELECT ") + kUserColumns +
                                    " FROM accounts_users WHERE name_key = $1 OR email = $1 ORDER BY id",
                                {key});
    if (!r.rows.empty()) {
      user = user_from_row(r.rows.front());
      stored = r.rows.front()[3];
    }
  }
  // Verified whether the user exists or not: an unknown name takes as long.
  if (!verify_password(stored, password.size() <= 1024 ? password : std::string_view()) || !user) return std::nullopt;
  Lease db(*this);
  if (crypto_pwhash_str_needs_rehash(stored.c_str(), config_.hash_cost.opslimit, config_.hash_cost.memlimit) != 0) {
    db->run("UPDATE accounts_users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
            {hash_password(password), user->id, stored});
  }
  IssuedToken token = in_transaction(*db, [&] {
    sweep(*db);
    return insert_token(*db, user->id, TokenKind::session, "", now() + config_.session_ttl.count(), 0);
  });
  return std::make_pair(*user, token);
}

std::optional<std::pair<User, IssuedToken>> AccountStore::log_in_with_client_token(const std::string& client_token) {
  const auto caller = authenticate(client_token);
  if (!caller || caller->kind != TokenKind::client) return std::nullopt;
  Lease db(*this);
  const SqlResult r = db->run("SELECT expires_at FROM accounts_tokens WHERE id = $1", {caller->token_id});
  const std::int64_t client_expiry = r.rows.empty() ? now() : to_int(r.rows.front().front());
  const std::int64_t expires = std::min(now() + config_.session_ttl.count(), client_expiry);
  IssuedToken token = in_transaction(
      *db, [&] { return insert_token(*db, caller->user.id, TokenKind::session, "", expires, caller->token_id); });
  return std::make_pair(caller->user, token);
}

std::optional<Caller> AccountStore::authenticate(const std::string& token) {
  const auto kind = kind_of_text(token);
  if (!kind || *kind == TokenKind::reset) return std::nullopt;
  Lease db(*this);
  const SqlResult r = db->run(
      std::string("SELECT t.id, t.kind, t.expires_at, t.last_used_at, t.revoked_at, ") +
          "u.id, u.name, u.email, u.password_hash, u.role, u.created_at"
          " FROM accounts_tokens t JOIN accounts_users u ON u.id = t.user_id WHERE t.token_hash = $1",
      {token_hash(token)});
  if (r.rows.empty()) return std::nullopt;
  const auto& row = r.rows.front();
  const std::int64_t t = now();
  if (kind_from_string(row[1]) != kind || to_int(row[4]) != 0 || to_int(row[2]) <= t) return std::nullopt;
  Caller caller;
  caller.token_id = to_int(row[0]);
  caller.kind = *kind;
  caller.user = user_from_row(row, 5);
  if (*kind == TokenKind::client && t - to_int(row[3]) >= kLastUsedResolution) {
    db->run("UPDATE accounts_tokens SET last_used_at = $1 WHERE id = $2", {t, caller.token_id});
  }
  return caller;
}

bool AccountStore::revoke(const std::string& token) {
  const auto caller = authenticate(token);
  if (!caller) return false;
  Lease db(*this);
  db->run("UPDATE accounts_tokens SET revoked_at = $1 WHERE (id = $2 OR parent_id = $2) AND revoked_at = 0",
          {now(), caller->token_id});
  return true;
}

bool AccountStore::change_password(std::int64_t user_id, const std::string& old_password,
                                   const std::string& new_password, std::int64_t keep_token_id) {
  std::string stored;
  User user;
  {
    Lease db(*this);
    const SqlResult r =
        db->run(std::string("SELECT ") + kUserColumns + " FROM accounts_users WHERE id = $1", {user_id});
    if (r.rows.empty()) throw AccountError(AccountError::Kind::not_found, "no user " + std::to_string(user_id));
    user = user_from_row(r.rows.front());
    stored = r.rows.front()[3];
  }
  if (old_password.size() > 1024 || !verify_password(stored, old_password)) return false;
  check_password(new_password, user.name, user.email);
  const std::string hash = hash_password(new_password);
  Lease db(*this);
  in_transaction(*db, [&] {
    // Only if nobody changed it meanwhile (the old password was verified against `stored`).
    const SqlResult changed = db->run(
        "UPDATE accounts_users SET password_hash = $1 WHERE id = $2 AND password_hash = $3", {hash, user_id, stored});
    if (changed.affected != 1) throw AccountError(AccountError::Kind::conflict, "the password changed meanwhile");
    db->run("UPDATE accounts_tokens SET revoked_at = $1 WHERE user_id = $2 AND kind = 'session' AND id <> $3"
            " AND revoked_at = 0",
            {now(), user_id, keep_token_id});
  });
  return true;
}

IssuedToken AccountStore::create_client_token(std::int64_t user_id, const std::string& label,
                                              std::chrono::seconds ttl) {
  if (ttl.count() <= 0 || ttl > config_.client_token_ttl) ttl = config_.client_token_ttl;
  Lease db(*this);
  return in_transaction(*db, [&] {
    if (db->run("SELECT id FROM accounts_users WHERE id = $1", {user_id}).rows.empty()) {
      throw AccountError(AccountError::Kind::not_found, "no user " + std::to_string(user_id));
    }
    return insert_token(*db, user_id, TokenKind::client, label, now() + ttl.count(), 0);
  });
}

std::vector<ClientTokenInfo> AccountStore::list_client_tokens(std::int64_t user_id) {
  Lease db(*this);
  const SqlResult r = db->run(
      "SELECT id, label, created_at, expires_at, last_used_at, revoked_at FROM accounts_tokens"
      " WHERE user_id = $1 AND kind = 'client' ORDER BY id",
      {user_id});
  std::vector<ClientTokenInfo> out;
  for (const auto& row : r.rows) {
    out.push_back({to_int(row[0]), row[1], to_int(row[2]), to_int(row[3]), to_int(row[4]), to_int(row[5]) != 0});
  }
  return out;
}

void AccountStore::revoke_client_token(std::int64_t user_id, std::int64_t token_id) {
  Lease db(*this);
  in_transaction(*db, [&] {
    const SqlResult r = db->run("SELECT id FROM accounts_tokens WHERE id = $1 AND user_id = $2 AND kind = 'client'",
                                {token_id, user_id});
    if (r.rows.empty()) throw AccountError(AccountError::Kind::not_found, "no token " + std::to_string(token_id));
    db->run("UPDATE accounts_tokens SET revoked_at = $1 WHERE (id = $2 OR parent_id = $2) AND user_id = $3"
            " AND revoked_at = 0",
            {now(), token_id, user_id});
  });
}

IssuedToken AccountStore::issue_reset_token(std::int64_t user_id) {
  Lease db(*this);
  return in_transaction(*db, [&] {
    const SqlResult changed = db->run("UPDATE accounts_users SET password_hash = '' WHERE id = $1", {user_id});
    if (changed.affected != 1) throw AccountError(AccountError::Kind::not_found, "no user " + std::to_string(user_id));
    db->run("UPDATE accounts_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at = 0", {now(), user_id});
    return insert_token(*db, user_id, TokenKind::reset, "", now() + config_.reset_token_ttl.count(), 0);
  });
}

std::optional<User> AccountStore::reset_password(const std::string& reset_token, const std::string& new_password) {
  if (kind_of_text(reset_token) != TokenKind::reset) return std::nullopt;
  User user;
  std::int64_t token_id = 0;
  {
    Lease db(*this);
    const SqlResult r = db->run(
        std::string("SELECT t.id, t.kind, t.expires_at, t.revoked_at, ") +
            "u.id, u.name, u.email, u.password_hash, u.role, u.created_at"
            " FROM accounts_tokens t JOIN accounts_users u ON u.id = t.user_id WHERE t.token_hash = $1",
        {token_hash(reset_token)});
    if (r.rows.empty()) return std::nullopt;
    const auto& row = r.rows.front();
    if (row[1] != "reset" || to_int(row[3]) != 0 || to_int(row[2]) <= now()) return std::nullopt;
    token_id = to_int(row[0]);
    user = user_from_row(row, 4);
  }
  check_password(new_password, user.name, user.email);
  const std::string hash = hash_password(new_password);
  Lease db(*this);
  const bool used = in_transaction(*db, [&] {
    // Used once: of two uses at the same time, one revokes it and the other changes nothing.
    const SqlResult taken = db->run(
        "UPDATE accounts_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0 AND expires_at > $1",
        {now(), token_id});
    if (taken.affected != 1) return false;
    db->run("UPDATE accounts_users SET password_hash = $1 WHERE id = $2", {hash, user.id});
    return true;
  });
  if (!used) return std::nullopt;
  user.has_password = true;
  return user;
}

RateDecision AccountStore::hit_rate_limit(const std::string& bucket, std::int64_t limit, std::int64_t window_s) {
  const std::string key = token_hash(bucket);
  window_s = std::max<std::int64_t>(window_s, 1);
  Lease db(*this);
  const std::int64_t t = now();
  const SqlResult r = in_transaction(*db, [&] {
    sweep(*db);
    db->run("INSERT INTO accounts_rate_limits (bucket, window_start, hits) VALUES ($1, $2, 0)"
            " ON CONFLICT (bucket) DO NOTHING",
            {key, t});
    // Both CASEs read the row as it was: a window that has ended starts again at t.
    return db->run(
        "UPDATE accounts_rate_limits SET"
        " hits = CASE WHEN window_start <= $3 THEN 1 ELSE hits + 1 END,"
        " window_start = CASE WHEN window_start <= $3 THEN $2 ELSE window_start END"
        " WHERE bucket = $1 RETURNING window_start, hits",
        {key, t, t - window_s});
  });
  RateDecision decision;
  if (r.rows.empty()) return decision;
  const std::int64_t start = to_int(r.rows.front()[0]);
  const std::int64_t hits = to_int(r.rows.front()[1]);
  if (hits > limit) {
    decision.allowed = false;
    decision.retry_after_s = std::max<std::int64_t>(1, start + window_s - t);
  }
  return decision;
}

}  // namespace lwd::service
