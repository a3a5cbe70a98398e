// The accounts over HTTP: the auth, user and admin routes (their rows of the
// route table, with least roles, joined to DockService's), authentication of
// each request by its bearer token, the registration policy and the rate
// limits of logins and registrations. The rules of who may manage whom are
// here, in may_manage() and may_grant(); the route table's min_role says who
// may call each route at all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "service/accounts.h"
#include "service/api.h"

namespace lwd::service {

// Who may open an account over HTTP. closed (the default): nobody, an
// administrator creates accounts with `lwdock admin create-user`; open:
// anyone; email_patterns: an e-mail address matching one of the patterns
// ('*' any run of characters, '?' one; case-insensitive), e.g. "*@example.org".
enum class RegistrationPolicy { closed, open, email_patterns };
// "closed", "open", "email_patterns"; nullopt for anything else.
std::optional<RegistrationPolicy> registration_policy_from_string(std::string_view text);

// Attempts allowed per window; every attempt counts, successful or not. The
// counters are in the database, so replicas share them.
struct RateLimits {
  std::int64_t login_per_address = 30;   // logins, token logins, password resets from one address
  std::int64_t login_per_account = 10;   // logins naming one account, password changes of one account
  std::int64_t register_per_address = 5;
  std::int64_t window_s = 300;
};

struct AccountServiceConfig {
  AccountStoreConfig store;
  RegistrationPolicy registration = RegistrationPolicy::closed;
  std::vector<std::string> registration_email_patterns;
  RateLimits rate;
  std::uint64_t max_body_bytes = 16 * 1024;  // an account route's body: 413 beyond
};

class AccountService {
 public:
  AccountService(AccountStore::Connect connect, AccountServiceConfig config);

  // The routes of tags auth, user and admin, for the route table.
  std::vector<Route> routes();
  // DockService::authenticate: the caller of `Authorization: Bearer <token>`.
  void authenticate(ApiRequest& request);
  AccountStore& store() { return store_; }

  // Whether a caller may delete, reset or change the role of `target`: never
  // themselves; a super-admin anyone else; an admin users only.
  static bool may_manage(Role caller, std::int64_t caller_id, const User& target);
  // Whether a caller may give the role: a super-admin any; an admin user only.
  static bool may_grant(Role caller, Role role);

 private:
  ApiReply register_user(const ApiRequest& request);
  ApiReply log_in(const ApiRequest& request);
  ApiReply log_in_with_token(const ApiRequest& request);
  ApiReply log_out(const ApiRequest& request);
  ApiReply who_am_i(const ApiRequest& request);
  ApiReply reset_password(const ApiRequest& request);
  ApiReply profile(const ApiRequest& request);
  ApiReply change_password(const ApiRequest& request);
  ApiReply list_tokens(const ApiRequest& request);
  ApiReply create_token(const ApiRequest& request);
  ApiReply revoke_token(const ApiRequest& request);
  ApiReply list_users(const ApiRequest& request);
  ApiReply delete_user(const ApiRequest& request);
  ApiReply issue_reset(const ApiRequest& request);
  ApiReply set_role(const ApiRequest& request);

  // ApiError(rate_limited) with Retry-After when the bucket is full.
  void limit(const std::string& bucket, std::int64_t allowed);
  // The user a path's {id} names, if the caller may manage them: 404 for no
  // such user, 403 when the caller may not.
  User managed_user(const ApiRequest& request);

  AccountServiceConfig config_;
  AccountStore store_;
};

}  // namespace lwd::service
