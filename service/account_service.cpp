#include "service/account_service.h"

#include <charconv>
#include <map>
#include <ctime>
#include <set>
#include <utility>

#include "engine/io/json_text.h"

namespace lwd::service {
namespace {

using nlohmann::json;

std::string iso_time(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

json user_json(const User& u) {
  return {{"id", u.id},
          {"name", u.name},
          {"email", u.email},
          {"role", to_string(u.role)},
          {"created_at", iso_time(u.created_at)},
          {"has_password", u.has_password}};
}

ApiReply json_reply(json data) {
  ApiReply reply;
  reply.data = std::move(data);
  return reply;
}

[[noreturn]] void rethrow_as_api_error(const AccountError& e) {
  switch (e.kind()) {
    case AccountError::Kind::invalid:
      throw ApiError(ApiCode::unprocessable, e.what());
    case AccountError::Kind::conflict:
      throw ApiError(ApiCode::conflict, e.what());
    case AccountError::Kind::not_found:
      throw ApiError(ApiCode::not_found, e.what());
  }
  throw ApiError(ApiCode::internal, e.what());
}

// Runs body, turning the store's refusals into the API's codes.
template <typename Body>
auto refusals_as_api_errors(Body&& body) {
  try {
    return body();
  } catch (const AccountError& e) {
    rethrow_as_api_error(e);
  }
}

// A route's JSON body: an object of the fields in `known` only, within the
// size limit (413), readable (400).
json body_object(const ApiRequest& request, std::uint64_t max_bytes, const std::set<std::string>& known) {
  if (request.body.size() > max_bytes) {
    throw ApiError(ApiCode::payload_too_large,
                   "the body has more than " + std::to_string(max_bytes) + " bytes, the most this route reads");
  }
  if (request.content_type != "application/json") throw ApiError(ApiCode::malformed_request, "send a JSON object as application/json");
  json body;
  try {
    body = io::parse_json(request.body, "the request body", io::JsonLimits{256, 4});
  } catch (const Error& e) {
    throw ApiError(ApiCode::malformed_request, e.what());
  }
  if (!body.is_object()) throw ApiError(ApiCode::malformed_request, "the request body must be a JSON object");
  for (const auto& [key, _] : body.items()) {
    if (!known.contains(key)) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      throw ApiError(ApiCode::malformed_request, "unknown field \"" + key.substr(0, 64) + "\" (" + names + ")");
    }
  }
  return body;
}

std::string string_field(const json& body, const std::string& key, bool required = true) {
  const auto it = body.find(key);
  if (it == body.end()) {
    if (required) throw ApiError(ApiCode::malformed_request, "the field \"" + key + "\" is required");
    return "";
  }
  if (!it->is_string()) throw ApiError(ApiCode::malformed_request, "the field \"" + key + "\" must be a string");
  return it->get<std::string>();
}

// "Authorization: Bearer <token>" -> the token; "" when there is no header.
// A header of another form is a client's mistake it should hear of (401).
std::string bearer_token(const ApiRequest& request) {
  const auto it = request.headers.find("authorization");
  if (it == request.headers.end()) return "";
  const std::string& value = it->second;
  // The scheme's name is case-insensitive (RFC 9110 §11.1).
  constexpr std::string_view scheme = "bearer ";
  std::string head = value.substr(0, scheme.size());
  for (char& c : head) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (value.size() <= scheme.size() || head != scheme) {
    throw ApiError(ApiCode::unauthenticated, "the Authorization header must be \"Bearer <token>\"");
  }
  return value.substr(scheme.size());
}

// A path's {id}: a positive integer, or no such object (404).
std::int64_t path_id(const ApiRequest& request, const std::string& what) {
  const std::string& text = request.path_params.at("id");
  std::int64_t id = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (text.empty() || ec != std::errc() || ptr != end || id <= 0) {
    throw ApiError(ApiCode::not_found, "no " + what + " " + text.substr(0, 64));
  }
  return id;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative '*' matching with one backtrack point: linear enough for addresses.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const json kUserSchema = {{"type", "object"},
                          {"properties",
                           {{"id", {{"type", "integer"}}},
                            {"name", {{"type", "string"}}},
                            {"email", {{"type", "string"}}},
                            {"role", {{"type", "string"}, {"enum", {"user", "admin", "super-admin"}}}},
                            {"created_at", {{"type", "string"}}},
                            {"has_password", {{"type", "boolean"}}}}}};

const json kSessionSchema = {{"type", "object"},
                             {"properties",
                              {{"token", {{"type", "string"}, {"description", "lwd_s_...: send as Authorization: Bearer"}}},
                               {"expires_at", {{"type", "string"}}},
                               {"user", kUserSchema}}}};

const json kClientTokenSchema = {{"type", "object"},
                                 {"properties",
                                  {{"id", {{"type", "integer"}}},
                                   {"label", {{"type", "string"}}},
                                   {"created_at", {{"type", "string"}}},
                                   {"expires_at", {{"type", "string"}}},
                                   {"last_used_at", {{"type", "string"}, {"nullable", true}}},
                                   {"revoked", {{"type", "boolean"}}},
                                   {"expired", {{"type", "boolean"}}}}}};

// A JSON body of string fields (`required` of them), documented.
json json_body(const std::vector<std::pair<std::string, std::string>>& fields, const std::vector<std::string>& required,
               json extra = json::object()) {
  json properties = json::object();
  for (const auto& [name, description] : fields) properties[name] = {{"type", "string"}, {"description", description}};
  for (const auto& [name, schema] : extra.items()) properties[name] = schema;
  return {{"required", true},
          {"content",
           {{"application/json", {{"schema", {{"type", "object"}, {"required", required}, {"properties", properties}}}}}}}};
}

json query_param(const std::string& name, const std::string& type, const std::string& description) {
  return {{"name", name}, {"in", "query"}, {"required", false}, {"schema", {{"type", type}}}, {"description", description}};
}

}  // namespace

std::optional<RegistrationPolicy> registration_policy_from_string(std::string_view text) {
  if (text == "closed") return RegistrationPolicy::closed;
  if (text == "open") return RegistrationPolicy::open;
  if (text == "email_patterns") return RegistrationPolicy::email_patterns;
  return std::nullopt;
}

AccountService::AccountService(AccountStore::Connect connect, AccountServiceConfig config)
    : config_(std::move(config)), store_(std::move(connect), config_.store) {}

bool AccountService::may_manage(Role caller, std::int64_t caller_id, const User& target) {
  if (target.id == caller_id) return false;
  if (caller == Role::super_admin) return true;
  return caller == Role::admin && target.role < Role::admin;
}

bool AccountService::may_grant(Role caller, Role role) {
  if (caller == Role::super_admin) return true;
  return caller == Role::admin && role < Role::admin;
}

void AccountService::authenticate(ApiRequest& request) {
  request.role = Role::anonymous;
  request.user_id = 0;
  request.username.clear();
  const std::string token = bearer_token(request);
  if (token.empty() && request.headers.find("authorization") == request.headers.end()) return;
  const auto caller = store_.authenticate(token);
  if (!caller) throw ApiError(ApiCode::unauthenticated, "the token is unknown, expired or revoked; log in again");
  request.role = caller->user.role;
  request.user_id = caller->user.id;
  request.username = caller->user.name;
}

void AccountService::limit(const std::string& bucket, std::int64_t allowed) {
  const RateDecision d = store_.hit_rate_limit(bucket, allowed, config_.rate.window_s);
  if (d.allowed) return;
  throw ApiError(ApiCode::rate_limited, "too many attempts; retry in " + std::to_string(d.retry_after_s) + " s",
                 {{"Retry-After", std::to_string(d.retry_after_s)}});
}

User AccountService::managed_user(const ApiRequest& request) {
  const std::int64_t id = path_id(request, "user");
  const auto target = store_.find_user(id);
  if (!target) throw ApiError(ApiCode::not_found, "no user " + std::to_string(id));
  if (!may_manage(request.role, request.user_id, *target)) {
    throw ApiError(ApiCode::forbidden, target->id == request.user_id
                                           ? "not your own account: another administrator manages it"
                                           : "only a super-admin manages an administrator");
  }
  return *target;
}

ApiReply AccountService::register_user(const ApiRequest& request) {
  if (config_.registration == RegistrationPolicy::closed) {
    throw ApiError(ApiCode::forbidden, "registration is closed on this dock: an administrator creates accounts");
  }
  limit("register:address:" + request.remote_addr, config_.rate.register_per_address);
  const json body = body_object(request, config_.max_body_bytes, {"name", "email", "password"});
  const std::string name = string_field(body, "name");
  const std::string email = string_field(body, "email");
  const std::string password = string_field(body, "password");
  return refusals_as_api_errors([&] {
    const std::string mail = AccountStore::normalize_email(email);
    if (config_.registration == RegistrationPolicy::email_patterns) {
      bool allowed = false;
      for (const auto& pattern : config_.registration_email_patterns) allowed = allowed || glob_match(pattern, mail);
      if (!allowed) throw ApiError(ApiCode::forbidden, "this dock registers only the e-mail addresses it was told to");
    }
    return json_reply({{"user", user_json(store_.create_user(name, mail, password, Role::user))}});
  });
}

ApiReply AccountService::log_in(const ApiRequest& request) {
  limit("login:address:" + request.remote_addr, config_.rate.login_per_address);
  const json body = body_object(request, config_.max_body_bytes, {"login", "password"});
  const std::string login = string_field(body, "login");
  const std::string password = string_field(body, "password");
  // Per account whether it is named by its name or its e-mail; a login that
  // names no account has a bucket of its own (the store lowers its case).
  const auto named = store_.find_user_by_login(login);
  std::string key = login.substr(0, 256);
  for (char& c : key) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  limit(named ? "login:account:" + std::to_string(named->id) : "login:unknown:" + key, config_.rate.login_per_account);
  const auto session = store_.log_in(login, password);
  if (!session) throw ApiError(ApiCode::unauthenticated, "wrong name or password");
  return json_reply({{"token", session->second.token},
                     {"expires_at", iso_time(session->second.expires_at)},
                     {"user", user_json(session->first)}});
}

ApiReply AccountService::log_in_with_token(const ApiRequest& request) {
  limit("login:address:" + request.remote_addr, config_.rate.login_per_address);
  const json body = body_object(request, config_.max_body_bytes, {"token"});
  const auto session = store_.log_in_with_client_token(string_field(body, "token"));
  if (!session) throw ApiError(ApiCode::unauthenticated, "the client token is unknown, expired or revoked");
  return json_reply({{"token", session->second.token},
                     {"expires_at", iso_time(session->second.expires_at)},
                     {"user", user_json(session->first)}});
}

ApiReply AccountService::log_out(const ApiRequest& request) {
  store_.revoke(bearer_token(request));
  return json_reply({{"revoked", true}});
}

ApiReply AccountService::who_am_i(const ApiRequest& request) {
  const auto user = store_.find_user(request.user_id);
  if (!user) throw ApiError(ApiCode::unauthenticated, "the account is gone");
  return json_reply({{"id", user->id}, {"name", user->name}, {"email", user->email}, {"role", to_string(user->role)}});
}

ApiReply AccountService::reset_password(const ApiRequest& request) {
  limit("login:address:" + request.remote_addr, config_.rate.login_per_address);
  const json body = body_object(request, config_.max_body_bytes, {"token", "new_password"});
  const std::string token = string_field(body, "token");
  const std::string password = string_field(body, "new_password");
  const auto user = refusals_as_api_errors([&] { return store_.reset_password(token, password); });
  if (!user) throw ApiError(ApiCode::unauthenticated, "the reset token is unknown, used or expired");
  return json_reply({{"user", user_json(*user)}});
}

ApiReply AccountService::profile(const ApiRequest& request) {
  const auto user = store_.find_user(request.user_id);
  if (!user) throw ApiError(ApiCode::unauthenticated, "the account is gone");
  return json_reply(user_json(*user));
}

ApiReply AccountService::change_password(const ApiRequest& request) {
  const json body = body_object(request, config_.max_body_bytes, {"old_password", "new_password"});
  const std::string old_password = string_field(body, "old_password");
  const std::string new_password = string_field(body, "new_password");
  limit("password:account:" + std::to_string(request.user_id), config_.rate.login_per_account);
  const auto caller = store_.authenticate(bearer_token(request));
  const bool changed = refusals_as_api_errors([&] {
    return store_.change_password(request.user_id, old_password, new_password, caller ? caller->token_id : 0);
  });
  if (!changed) throw ApiError(ApiCode::forbidden, "the old password is wrong");
  return json_reply({{"changed", true}});
}

ApiReply AccountService::list_tokens(const ApiRequest& request) {
  const std::int64_t now = store_.now();
  json items = json::array();
  for (const auto& t : store_.list_client_tokens(request.user_id)) {
    items.push_back({{"id", t.id},
                     {"label", t.label},
                     {"created_at", iso_time(t.created_at)},
                     {"expires_at", iso_time(t.expires_at)},
                     {"last_used_at", t.last_used_at == 0 ? json(nullptr) : json(iso_time(t.last_used_at))},
                     {"revoked", t.revoked},
                     {"expired", t.expires_at <= now}});
  }
  return json_reply({{"items", items}});
}

ApiReply AccountService::create_token(const ApiRequest& request) {
  const json body = body_object(request, config_.max_body_bytes, {"label", "expires_in_days"});
  const std::string label = string_field(body, "label", false);
  if (label.size() > 100) throw ApiError(ApiCode::unprocessable, "a token's label has at most 100 bytes");
  const std::int64_t max_days = std::max<std::int64_t>(1, config_.store.client_token_ttl.count() / 86400);
  std::chrono::seconds ttl{0};
  if (const auto it = body.find("expires_in_days"); it != body.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > max_days) {
      throw ApiError(ApiCode::malformed_request,
                     "expires_in_days must be an integer from 1 to " + std::to_string(max_days));
    }
    ttl = std::chrono::hours(24 * it->get<std::int64_t>());
  }
  const IssuedToken token =
      refusals_as_api_errors([&] { return store_.create_client_token(request.user_id, label, ttl); });
  return json_reply(
      {{"id", token.id}, {"token", token.token}, {"label", label}, {"expires_at", iso_time(token.expires_at)}});
}

ApiReply AccountService::revoke_token(const ApiRequest& request) {
  const std::int64_t id = path_id(request, "token");
  refusals_as_api_errors([&] { store_.revoke_client_token(request.user_id, id); });
  return json_reply({{"revoked", true}});
}

ApiReply AccountService::list_users(const ApiRequest& request) {
  UserFilter filter;
  if (const auto role = request.query_param("role")) {
    filter.role = role_from_string(*role);
    if (!filter.role) throw ApiError(ApiCode::malformed_request, "role must be user, admin or super-admin");
  }
  if (const auto q = request.query_param("q")) {
    if (q->size() > 254) throw ApiError(ApiCode::malformed_request, "q has at most 254 bytes");
    filter.text = *q;
  }
  const std::int64_t page = request.query_int("page", 1, 1, 1'000'000'000);
  const std::int64_t size = request.query_int("page_size", 20, 1, 100);
  filter.offset = (page - 1) * size;
  filter.limit = size;
  std::int64_t total = 0;
  json items = json::array();
  for (const User& u : store_.list_users(filter, &total)) items.push_back(user_json(u));
  return json_reply({{"items", items}, {"page", page}, {"page_size", size}, {"total", total}});
}

ApiReply AccountService::delete_user(const ApiRequest& request) {
  const User target = managed_user(request);
  refusals_as_api_errors([&] { store_.delete_user(target.id); });
  return json_reply({{"deleted", true}});
}

ApiReply AccountService::issue_reset(const ApiRequest& request) {
  const User target = managed_user(request);
  const IssuedToken token = refusals_as_api_errors([&] { return store_.issue_reset_token(target.id); });
  return json_reply(
      {{"reset_token", token.token}, {"expires_at", iso_time(token.expires_at)}, {"user", user_json(target)}});
}

ApiReply AccountService::set_role(const ApiRequest& request) {
  const json body = body_object(request, config_.max_body_bytes, {"role"});
  const auto role = role_from_string(string_field(body, "role"));
  if (!role) throw ApiError(ApiCode::malformed_request, "role must be user, admin or super-admin");
  const User target = managed_user(request);
  if (!may_grant(request.role, *role)) {
    throw ApiError(ApiCode::forbidden, "only a super-admin grants the role " + std::string(to_string(*role)));
  }
  return json_reply({{"user", user_json(refusals_as_api_errors([&] { return store_.set_role(target.id, *role); }))}});
}

std::vector<Route> AccountService::routes() {
  auto bind = [this](ApiReply (AccountService::*member)(const ApiRequest&)) {
    return [this, member](const ApiRequest& request) { return (this->*member)(request); };
  };
  const json none = json::array();
  std::vector<Route> routes = {
      {"POST", "/api/auth/register", Role::anonymous, "auth",
       "Open an account (when the dock's registration policy allows the address); rate-limited", none,
       json_body({{"name", "1-64 of a-z A-Z 0-9 . _ -"}, {"email", "local@domain"}, {"password", "10+ characters"}},
                 {"name", "email", "password"}),
       {{"type", "object"}, {"properties", {{"user", kUserSchema}}}}, "application/json",
       bind(&AccountService::register_user)},
      {"POST", "/api/auth/login", Role::anonymous, "auth",
       "Log in with a name or e-mail and the password: a session token; rate-limited", none,
       json_body({{"login", "name or e-mail"}, {"password", ""}}, {"login", "password"}), kSessionSchema,
       "application/json", bind(&AccountService::log_in)},
      {"POST", "/api/auth/token-login", Role::anonymous, "auth",
       "Log in with a client token: a session token that ends with it at the latest; rate-limited", none,
       json_body({{"token", "a client token, lwd_c_..."}}, {"token"}), kSessionSchema, "application/json",
       bind(&AccountService::log_in_with_token)},
      {"POST", "/api/auth/logout", Role::user, "auth", "Revoke the token this request carries", none, nullptr,
       {{"type", "object"}, {"properties", {{"revoked", {{"type", "boolean"}}}}}}, "application/json",
       bind(&AccountService::log_out)},
      {"GET", "/api/auth/me", Role::user, "auth", "Who the token belongs to, with the role", none, nullptr,
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "integer"}}},
          {"name", {{"type", "string"}}},
          {"email", {{"type", "string"}}},
          {"role", {{"type", "string"}}}}}},
       "application/json", bind(&AccountService::who_am_i)},
      {"POST", "/api/auth/password-reset", Role::anonymous, "auth",
       "Choose a new password with the single-use reset token an administrator handed over; rate-limited", none,
       json_body({{"token", "lwd_r_..."}, {"new_password", "10+ characters"}}, {"token", "new_password"}),
       {{"type", "object"}, {"properties", {{"user", kUserSchema}}}}, "application/json",
       bind(&AccountService::reset_password)},
      {"GET", "/api/user/profile", Role::user, "user", "The caller's account", none, nullptr, kUserSchema,
       "application/json", bind(&AccountService::profile)},
      {"POST", "/api/user/password", Role::user, "user",
       "Change the password; the caller's other sessions are revoked", none,
       json_body({{"old_password", ""}, {"new_password", "10+ characters"}}, {"old_password", "new_password"}),
       {{"type", "object"}, {"properties", {{"changed", {{"type", "boolean"}}}}}}, "application/json",
       bind(&AccountService::change_password)},
      {"GET", "/api/user/tokens", Role::user, "user", "The caller's client tokens (never their text)", none, nullptr,
       {{"type", "object"}, {"properties", {{"items", {{"type", "array"}, {"items", kClientTokenSchema}}}}}},
       "application/json", bind(&AccountService::list_tokens)},
      {"POST", "/api/user/tokens", Role::user, "user",
       "Create a client token for programs; its text is in this reply only", none,
       json_body({{"label", "what it is for (at most 100 bytes)"}}, {},
                 {{"expires_in_days", {{"type", "integer"}, {"minimum", 1}}}}),
       {{"type", "object"},
        {"properties",
         {{"id", {{"type", "integer"}}},
          {"token", {{"type", "string"}, {"description", "lwd_c_...: shown once"}}},
          {"label", {{"type", "string"}}},
          {"expires_at", {{"type", "string"}}}}}},
       "application/json", bind(&AccountService::create_token)},
      {"DELETE", "/api/user/tokens/{id}", Role::user, "user",
       "Revoke one of the caller's client tokens (and the sessions made with it)", none, nullptr,
       {{"type", "object"}, {"properties", {{"revoked", {{"type", "boolean"}}}}}}, "application/json",
       bind(&AccountService::revoke_token)},
      {"GET", "/api/admin/users", Role::admin, "admin", "Users, by id, filtered and paged",
       json::array({query_param("role", "string", "user, admin or super-admin"),
                    query_param("q", "string", "part of the name or e-mail, case-insensitive"),
                    query_param("page", "integer", "1-based page number (default 1)"),
                    query_param("page_size", "integer", "items per page, 1-100 (default 20)")}),
       nullptr,
       {{"type", "object"},
        {"properties",
         {{"items", {{"type", "array"}, {"items", kUserSchema}}},
          {"page", {{"type", "integer"}}},
          {"page_size", {{"type", "integer"}}},
          {"total", {{"type", "integer"}}}}}},
       "application/json", bind(&AccountService::list_users)},
      {"DELETE", "/api/admin/users/{id}", Role::admin, "admin",
       "Delete a user and their tokens (an admin: users only; never oneself, never the last super-admin)", none,
       nullptr, {{"type", "object"}, {"properties", {{"deleted", {{"type", "boolean"}}}}}}, "application/json",
       bind(&AccountService::delete_user)},
      {"POST", "/api/admin/users/{id}/password-reset", Role::admin, "admin",
       "Invalidate the user's password and tokens; a single-use reset token (1 h) to hand to them", none, nullptr,
       {{"type", "object"},
        {"properties",
         {{"reset_token", {{"type", "string"}, {"description", "lwd_r_...: for POST /api/auth/password-reset"}}},
          {"expires_at", {{"type", "string"}}},
          {"user", kUserSchema}}}},
       "application/json", bind(&AccountService::issue_reset)},
      {"PUT", "/api/admin/users/{id}/role", Role::admin, "admin",
       "Set a user's role (an admin: users only, to user; a super-admin: anyone else, to any role; never "
       "oneself, never the last super-admin)",
       none,
       {{"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"role"}},
              {"properties", {{"role", {{"type", "string"}, {"enum", {"user", "admin", "super-admin"}}}}}}}}}}}}},
       {{"type", "object"}, {"properties", {{"user", kUserSchema}}}}, "application/json",
       bind(&AccountService::set_role)},
  };
  using C = ApiCode;
  const std::map<std::string, std::vector<ApiCode>> more = {
      {"POST /api/auth/register", {C::forbidden, C::conflict, C::rate_limited}},
      {"POST /api/auth/login", {C::unauthenticated, C::rate_limited}},
      {"POST /api/auth/token-login", {C::unauthenticated, C::rate_limited}},
      {"POST /api/auth/password-reset", {C::unauthenticated, C::rate_limited}},
      {"POST /api/user/password", {C::rate_limited}},
      {"DELETE /api/admin/users/{id}", {C::conflict}},
      {"PUT /api/admin/users/{id}/role", {C::conflict}},
  };
  for (Route& route : routes) {
    if (const auto it = more.find(route.method + " " + route.path); it != more.end()) route.more_errors = it->second;
  }
  return routes;
}

}  // namespace lwd::service
