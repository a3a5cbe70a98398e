// The account store's specification, on SQLite and on the test PostgreSQL
// server alike (an empty database of its own per test): what is stored (no
// password, no token text), how long tokens live, what revokes them, the
// role rules the data itself keeps, and the rate-limit counters.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/store/sql_open.h"
#include "service/accounts.h"
#include "service/service_schema.h"
#include "store/index_test_support.h"

namespace {

using namespace lwd::service;
using lwd::test::IndexLocation;

const std::string kPassword = "correct horse battery";

class AccountStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { LWD_INDEX_LOCATION_OR_RETURN(location_, GetParam()); }

  AccountStore::Connect connect() const {
    return [url = location_->url()] { return lwd::open_database_connection(url, ""); };
  }
  std::unique_ptr<AccountStore> open(AccountStoreConfig config = fast()) {
    return std::make_unique<AccountStore>(connect(), config, [this] { return now_.load(); });
  }
  static AccountStoreConfig fast() {
    AccountStoreConfig c;
    c.hash_cost = PasswordHashCost::minimum();
    return c;
  }
  AccountStore& store() {
    if (!store_) store_ = open();
    return *store_;
  }
  // Every field of every row of `table`, as text.
  std::string dump(const std::string& table) {
    std::string out;
    for (const auto& row : location_->raw()->run("SELECT * FROM " + table).rows) {
      for (const auto& field : row) out += field + "|";
      out += "\n";
    }
    return out;
  }

  std::unique_ptr<IndexLocation> location_;
  std::unique_ptr<AccountStore> store_;
  std::atomic<std::int64_t> now_{1'800'000'000};
};

TEST_P(AccountStoreTest, PasswordsAreStoredAsArgon2idStringsAtTheInteractiveCost) {
  AccountStore store(connect(), AccountStoreConfig{}, [this] { return now_.load(); });
  store.create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto rows = location_->raw()->run("SELECT password_hash FROM accounts_users").rows;
  ASSERT_EQ(rows.size(), 1u);
  const std::string& hash = rows[0][0];
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=65536,t=2,p=1$", 0), 0u) << hash;
  EXPECT_NE(hash, kPassword);
  EXPECT_EQ(dump("accounts_users").find(kPassword), std::string::npos);
  // Two hashes of one password differ (a random salt each).
  EXPECT_NE(store.hash_password(kPassword), store.hash_password(kPassword));
}

TEST_P(AccountStoreTest, TokensAreStoredOnlyAsTheirHashes) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto session = store().log_in("ada", kPassword);
  ASSERT_TRUE(session);
  const IssuedToken client = store().create_client_token(ada.id, "ci");
  const IssuedToken reset = store().issue_reset_token(ada.id);
  const std::string tables = dump("accounts_tokens");
  for (const std::string& token : {session->second.token, client.token, reset.token}) {
    EXPECT_EQ(token.size(), 49u);
    EXPECT_EQ(tables.find(token), std::string::npos) << "the token's text is stored";
    EXPECT_EQ(tables.find(token.substr(6)), std::string::npos) << "the token's random part is stored";
    EXPECT_NE(tables.find(AccountStore::token_hash(token)), std::string::npos);
  }
  EXPECT_EQ(session->second.token.rfind("lwd_s_", 0), 0u);
  EXPECT_EQ(client.token.rfind("lwd_c_", 0), 0u);
  EXPECT_EQ(reset.token.rfind("lwd_r_", 0), 0u);
}

TEST_P(AccountStoreTest, LogInTakesTheNameOrTheEmailInAnyCaseAndTheRightPasswordOnly) {
  store().create_user("Ada", "Ada@Example.org", kPassword, Role::user);
  EXPECT_TRUE(store().log_in("ada", kPassword));
  EXPECT_TRUE(store().log_in("ADA@example.ORG", kPassword));
  EXPECT_FALSE(store().log_in("ada", "correct horse batterY"));
  EXPECT_FALSE(store().log_in("nobody", kPassword));
  EXPECT_FALSE(store().log_in("", ""));
  EXPECT_FALSE(store().log_in("ada", std::string(5000, 'x')));
  const auto session = store().log_in("ada", kPassword);
  const auto caller = store().authenticate(session->second.token);
  ASSERT_TRUE(caller);
  EXPECT_EQ(caller->user.name, "Ada");
  EXPECT_EQ(caller->user.email, "ada@example.org");
  EXPECT_EQ(caller->kind, TokenKind::session);
}

TEST_P(AccountStoreTest, ASessionExpiresAfterItsLifetime) {
  store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto session = store().log_in("ada", kPassword);
  EXPECT_EQ(session->second.expires_at, now_ + 24 * 3600);
  now_ += 24 * 3600 - 1;
  EXPECT_TRUE(store().authenticate(session->second.token));
  now_ += 1;
  EXPECT_FALSE(store().authenticate(session->second.token));
}

TEST_P(AccountStoreTest, AClientTokenExpiresAndItsLifetimeIsCapped) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const IssuedToken capped = store().create_client_token(ada.id, "", std::chrono::hours(24 * 1000));
  EXPECT_EQ(capped.expires_at, now_ + 90 * 86400);
  const IssuedToken short_lived = store().create_client_token(ada.id, "", std::chrono::hours(24));
  EXPECT_TRUE(store().authenticate(short_lived.token));
  now_ += 86400;
  EXPECT_FALSE(store().authenticate(short_lived.token));
  EXPECT_TRUE(store().authenticate(capped.token));
}

TEST_P(AccountStoreTest, ARevokedTokenStopsWorkingAndTakesItsSessionsAlong) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const IssuedToken client = store().create_client_token(ada.id, "laptop");
  const auto from_client = store().log_in_with_client_token(client.token);
  ASSERT_TRUE(from_client);
  EXPECT_LE(from_client->second.expires_at, client.expires_at);
  EXPECT_TRUE(store().authenticate(from_client->second.token));
  EXPECT_TRUE(store().revoke(client.token));
  EXPECT_FALSE(store().authenticate(client.token));
  EXPECT_FALSE(store().authenticate(from_client->second.token));
  EXPECT_FALSE(store().revoke(client.token));
  EXPECT_FALSE(store().log_in_with_client_token(client.token));
  // A session is no client token.
  const auto session = store().log_in("ada", kPassword);
  EXPECT_FALSE(store().log_in_with_client_token(session->second.token));
}

TEST_P(AccountStoreTest, AClientTokenIsRevokedByItsOwnerOnly) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const User bob = store().create_user("bob", "bob@example.org", kPassword, Role::user);
  const IssuedToken token = store().create_client_token(ada.id, "ci");
  try {
    store().revoke_client_token(bob.id, token.id);
    ADD_FAILURE() << "bob revoked ada's token";
  } catch (const AccountError& e) {
    EXPECT_EQ(e.kind(), AccountError::Kind::not_found);
  }
  EXPECT_TRUE(store().authenticate(token.token));
  ASSERT_EQ(store().list_client_tokens(ada.id).size(), 1u);
  EXPECT_TRUE(store().list_client_tokens(bob.id).empty());
  store().revoke_client_token(ada.id, token.id);
  EXPECT_FALSE(store().authenticate(token.token));
  EXPECT_TRUE(store().list_client_tokens(ada.id)[0].revoked);
}

TEST_P(AccountStoreTest, AClientTokensLastUseIsKeptToTheMinute) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const IssuedToken token = store().create_client_token(ada.id, "ci");
  EXPECT_EQ(store().list_client_tokens(ada.id)[0].last_used_at, 0);
  ASSERT_TRUE(store().authenticate(token.token));
  const std::int64_t first = now_;
  EXPECT_EQ(store().list_client_tokens(ada.id)[0].last_used_at, first);
  now_ += 30;
  store().authenticate(token.token);
  EXPECT_EQ(store().list_client_tokens(ada.id)[0].last_used_at, first);
  now_ += 30;
  store().authenticate(token.token);
  EXPECT_EQ(store().list_client_tokens(ada.id)[0].last_used_at, now_.load());
}

TEST_P(AccountStoreTest, ChangingThePasswordRevokesTheOtherSessionsOnly) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto here = store().log_in("ada", kPassword);
  const auto elsewhere = store().log_in("ada", kPassword);
  const IssuedToken client = store().create_client_token(ada.id, "ci");
  EXPECT_FALSE(store().change_password(ada.id, "not the password", "a new pass phrase", here->second.id));
  EXPECT_TRUE(store().authenticate(elsewhere->second.token));
  EXPECT_TRUE(store().change_password(ada.id, kPassword, "a new pass phrase", here->second.id));
  EXPECT_TRUE(store().authenticate(here->second.token));
  EXPECT_FALSE(store().authenticate(elsewhere->second.token));
  EXPECT_TRUE(store().authenticate(client.token));  // listed and revoked one by one
  EXPECT_FALSE(store().log_in("ada", kPassword));
  EXPECT_TRUE(store().log_in("ada", "a new pass phrase"));
  // The new password obeys the rules.
  EXPECT_THROW(store().change_password(ada.id, "a new pass phrase", "short", 0), AccountError);
}

TEST_P(AccountStoreTest, AResetInvalidatesThePasswordAndTokensAndItsTokenWorksOnce) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto session = store().log_in("ada", kPassword);
  const IssuedToken client = store().create_client_token(ada.id, "ci");
  const IssuedToken reset = store().issue_reset_token(ada.id);
  EXPECT_EQ(reset.expires_at, now_ + 3600);
  EXPECT_FALSE(store().authenticate(session->second.token));
  EXPECT_FALSE(store().authenticate(client.token));
  EXPECT_FALSE(store().log_in("ada", kPassword));
  EXPECT_FALSE(store().find_user(ada.id)->has_password);
  // A reset token is no bearer token.
  EXPECT_FALSE(store().authenticate(reset.token));
  EXPECT_FALSE(store().reset_password(session->second.token, "a new pass phrase"));
  // A weak password leaves the token unused.
  EXPECT_THROW(store().reset_password(reset.token, "weak"), AccountError);
  const auto user = store().reset_password(reset.token, "a new pass phrase");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->id, ada.id);
  EXPECT_TRUE(store().log_in("ada", "a new pass phrase"));
  EXPECT_FALSE(store().reset_password(reset.token, "another pass phrase"));
  EXPECT_TRUE(store().log_in("ada", "a new pass phrase"));
}

TEST_P(AccountStoreTest, AResetTokenExpiresAfterAnHour) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const IssuedToken reset = store().issue_reset_token(ada.id);
  now_ += 3600;
  EXPECT_FALSE(store().reset_password(reset.token, "a new pass phrase"));
  EXPECT_FALSE(store().log_in("ada", "a new pass phrase"));
  // A second reset replaces the first.
  const IssuedToken first = store().issue_reset_token(ada.id);
  const IssuedToken second = store().issue_reset_token(ada.id);
  EXPECT_FALSE(store().reset_password(first.token, "a new pass phrase"));
  EXPECT_TRUE(store().reset_password(second.token, "a new pass phrase"));
}

TEST_P(AccountStoreTest, NamesAndEmailsAreUniqueWhateverTheirCase) {
  store().create_user("ada", "ada@example.org", kPassword, Role::user);
  for (const auto& [name, email] : std::vector<std::pair<std::string, std::string>>{
           {"ADA", "other@example.org"}, {"other", "ADA@EXAMPLE.ORG"}}) {
    try {
      store().create_user(name, email, kPassword, Role::user);
      ADD_FAILURE() << name << " " << email << " was created";
    } catch (const AccountError& e) {
      EXPECT_EQ(e.kind(), AccountError::Kind::conflict) << e.what();
    }
  }
}

TEST_P(AccountStoreTest, TheLastSuperAdminCanNeitherBeDemotedNorDeleted) {
  const User root = store().create_user("root", "root@example.org", kPassword, Role::super_admin);
  const auto kind_of = [&](const std::function<void()>& body) {
    try {
      body();
    } catch (const AccountError& e) {
      return e.kind();
    }
    ADD_FAILURE() << "no refusal";
    return AccountError::Kind::invalid;
  };
  EXPECT_EQ(kind_of([&] { store().set_role(root.id, Role::admin); }), AccountError::Kind::conflict);
  EXPECT_EQ(kind_of([&] { store().delete_user(root.id); }), AccountError::Kind::conflict);
  EXPECT_EQ(kind_of([&] { store().set_role(9999, Role::user); }), AccountError::Kind::not_found);
  const User second = store().create_user("root2", "root2@example.org", kPassword, Role::user);
  store().set_role(second.id, Role::super_admin);
  EXPECT_EQ(store().count_role(Role::super_admin), 2);
  store().set_role(root.id, Role::user);
  EXPECT_EQ(kind_of([&] { store().delete_user(second.id); }), AccountError::Kind::conflict);
  store().delete_user(root.id);
  EXPECT_FALSE(store().find_user(root.id));
}

TEST_P(AccountStoreTest, DeletingAUserRemovesTheirTokens) {
  const User ada = store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto session = store().log_in("ada", kPassword);
  store().create_client_token(ada.id, "ci");
  store().delete_user(ada.id);
  EXPECT_FALSE(store().authenticate(session->second.token));
  EXPECT_TRUE(location_->raw()->run("SELECT id FROM accounts_tokens").rows.empty());
}

TEST_P(AccountStoreTest, UsersAreListedByIdFilteredByRoleAndText) {
  store().create_user("ada", "ada@example.org", kPassword, Role::admin);
  store().create_user("bob_1", "bob@example.net", kPassword, Role::user);
  store().create_user("bobx1", "o'brien@example.net", kPassword, Role::user);
  std::int64_t total = 0;
  const auto filter = [](std::optional<Role> role, std::string text, std::int64_t offset = 0, std::int64_t limit = 100) {
    UserFilter f;
    f.role = role;
    f.text = std::move(text);
    f.offset = offset;
    f.limit = limit;
    return f;
  };
  auto names = [&](const UserFilter& f) {
    std::vector<std::string> out;
    for (const auto& u : store().list_users(f, &total)) out.push_back(u.name);
    return out;
  };
  EXPECT_EQ(names(filter(std::nullopt, "")), (std::vector<std::string>{"ada", "bob_1", "bobx1"}));
  EXPECT_EQ(total, 3);
  EXPECT_EQ(names(filter(Role::admin, "")), std::vector<std::string>{"ada"});
  EXPECT_EQ(names(filter(std::nullopt, "EXAMPLE.NET")), (std::vector<std::string>{"bob_1", "bobx1"}));
  // LIKE's metacharacters and quotes are the text's own.
  EXPECT_EQ(names(filter(std::nullopt, "b_1")), std::vector<std::string>{"bob_1"});
  EXPECT_EQ(names(filter(std::nullopt, "%")), std::vector<std::string>{});
  EXPECT_EQ(names(filter(std::nullopt, "o'brien")), std::vector<std::string>{"bobx1"});
  EXPECT_EQ(names(filter(std::nullopt, "'; DROP TABLE accounts_users; --")), std::vector<std::string>{});
  EXPECT_EQ(names(filter(std::nullopt, "", 1, 1)), std::vector<std::string>{"bob_1"});
  EXPECT_EQ(total, 3);
}

TEST_P(AccountStoreTest, TheRateLimitCountsAttemptsInAWindowThenStartsAgain) {
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(store().hit_rate_limit("login:1.2.3.4", 3, 60).allowed);
  now_ += 20;
  const RateDecision refused = store().hit_rate_limit("login:1.2.3.4", 3, 60);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 40);
  EXPECT_TRUE(store().hit_rate_limit("login:5.6.7.8", 3, 60).allowed);  // buckets are apart
  now_ += 40;
  EXPECT_TRUE(store().hit_rate_limit("login:1.2.3.4", 3, 60).allowed);
  // Neither the address nor the bucket's name is kept.
  EXPECT_EQ(dump("accounts_rate_limits").find("1.2.3.4"), std::string::npos);
}

TEST_P(AccountStoreTest, TwoStoresOnOneDatabaseShareUsersSessionsAndLimits) {
  auto replica = open();
  store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const auto session = replica->log_in("ada", kPassword);
  ASSERT_TRUE(session);
  EXPECT_TRUE(store().authenticate(session->second.token));
  EXPECT_TRUE(store().revoke(session->second.token));
  EXPECT_FALSE(replica->authenticate(session->second.token));
  EXPECT_TRUE(store().hit_rate_limit("x", 1, 60).allowed);
  EXPECT_FALSE(replica->hit_rate_limit("x", 1, 60).allowed);
  auto conn = location_->raw();
  EXPECT_EQ(service_schema_version(*conn, "accounts"), 1);
}

TEST_P(AccountStoreTest, AHashOfAnotherCostIsRenewedAtTheNextLogIn) {
  store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const std::string before = location_->raw()->run("SELECT password_hash FROM accounts_users").rows[0][0];
  AccountStoreConfig stronger = fast();
  stronger.hash_cost.opslimit += 1;
  auto upgraded = open(stronger);
  ASSERT_TRUE(upgraded->log_in("ada", kPassword));
  const std::string after = location_->raw()->run("SELECT password_hash FROM accounts_users").rows[0][0];
  EXPECT_NE(before, after);
  EXPECT_NE(after.find("t=" + std::to_string(stronger.hash_cost.opslimit)), std::string::npos) << after;
  EXPECT_TRUE(upgraded->log_in("ada", kPassword));
}

TEST_P(AccountStoreTest, ManyThreadsAuthenticateAtOnce) {
  store().create_user("ada", "ada@example.org", kPassword, Role::user);
  const std::string token = store().log_in("ada", kPassword)->second.token;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ok += store().authenticate(token).has_value();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 120);
}

INSTANTIATE_TEST_SUITE_P(Backends, AccountStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// The rules, the same for the command line and HTTP.
TEST(AccountRules, NamesAreShortAndPlain) {
  for (const std::string& ok : {std::string("a"), std::string("Ada.Lovelace_1-x"), std::string(64, 'n')}) {
    EXPECT_NO_THROW(AccountStore::check_name(ok)) << ok;
  }
  for (const std::string& bad : {std::string(), std::string(65, 'n'), std::string("-ada"), std::string(".ada"),
                                std::string("ada lovelace"), std::string("ada'--"), std::string("Äda"),
                                std::string("a\0b", 3), std::string("a/b")}) {
    EXPECT_THROW(AccountStore::check_name(bad), AccountError) << bad;
  }
}

TEST(AccountRules, EmailsAreLowerCasedAndShapedLikeOne) {
  EXPECT_EQ(AccountStore::normalize_email("Ada@Example.ORG"), "ada@example.org");
  EXPECT_EQ(AccountStore::normalize_email("o'brien+tag@example.org"), "o'brien+tag@example.org");
  EXPECT_EQ(AccountStore::normalize_email("用户@例子.中国"), "用户@例子.中国");
  for (const std::string bad : {"", "ada", "@example.org", "ada@", "a@b@c", "ada @example.org", "ada@exa\tmple.org",
                                "<ada@example.org>"}) {
    EXPECT_THROW(AccountStore::normalize_email(bad), AccountError) << bad;
  }
  EXPECT_THROW(AccountStore::normalize_email(std::string(250, 'a') + "@b.org"), AccountError);
}

TEST(AccountRules, WeakPasswordsAreRefusedWithAReason) {
  EXPECT_NO_THROW(AccountStore::check_password(kPassword, "ada", "ada@example.org"));
  EXPECT_NO_THROW(AccountStore::check_password("pässwört-ünïcødé", "ada", "ada@example.org"));
  for (const std::string& bad : {std::string(), std::string("short"), std::string("ääääääääää"), std::string(10, 'a'),
                                std::string("ada@example.org"), std::string("Password123"), std::string(1025, 'x')}) {
    try {
      AccountStore::check_password(bad, "ada", "ada@example.org");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const AccountError& e) {
      EXPECT_EQ(e.kind(), AccountError::Kind::invalid);
      EXPECT_NE(std::string(e.what()).find("password"), std::string::npos) << e.what();
    }
  }
  // Nine characters of two bytes each are still nine characters.
  EXPECT_THROW(AccountStore::check_password("äöüäöüäöü", "ada", "x@y.z"), AccountError);
}

TEST(AccountRules, RolesReadAsTheyAreWritten) {
  for (const Role role : {Role::user, Role::admin, Role::super_admin}) EXPECT_EQ(role_from_string(to_string(role)), role);
  EXPECT_FALSE(role_from_string("anonymous"));
  EXPECT_FALSE(role_from_string("Admin"));
  EXPECT_FALSE(role_from_string("super_admin"));
}

}  // namespace
