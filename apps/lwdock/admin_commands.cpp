// `lwdock admin create-user`: an account made by whoever administers the
// market's files and database, not over HTTP. The dock has no default
// account and no default secret: the first super-admin is made this way.
// The password is read from standard input or a file, never from the
// command line (where `ps` and the shell's history would show it).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "engine/market/market.h"
#include "engine/store/sql_open.h"
#include "service/accounts.h"

namespace {

struct CreateUserOptions {
  std::string market;
  lwdock::DatabaseOptions db;
  std::string name;
  std::string email;
  std::string role = "user";
  std::string password_file;
  std::string password_on_command_line;
};

std::string without_final_newline(std::string text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

// Standard input: a terminal is asked without echo; a pipe is read whole.
std::string read_password_from_stdin() {
  if (::isatty(STDIN_FILENO) == 0) {
    return without_final_newline(std::string(std::istreambuf_iterator<char>(std::cin), {}));
  }
  termios saved{};
  ::tcgetattr(STDIN_FILENO, &saved);
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::fprintf(stderr, "Password: ");
  std::fflush(stderr);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string password;
  std::getline(std::cin, password);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  std::fprintf(stderr, "\n");
  return without_final_newline(password);
}

std::string read_password(const CreateUserOptions& o) {
  if (o.password_file.empty()) return read_password_from_stdin();
  std::ifstream in(o.password_file, std::ios::binary);
  if (!in) throw lwd::Error(o.password_file + ": cannot read the password file");
  return without_final_newline(std::string(std::istreambuf_iterator<char>(in), {}));
}

void run_create_user(const CreateUserOptions& o) {
  const auto role = lwd::service::role_from_string(o.role);
  if (!role) throw CLI::ValidationError("--role", "must be user, admin or super-admin (got '" + o.role + "')");
  // The rules first, so a typo costs no password prompt.
  lwd::service::AccountStore::check_name(o.name);
  const std::string email = lwd::service::AccountStore::normalize_email(o.email);
  const std::string password = read_password(o);
  if (password.empty()) throw lwd::Error("the password is empty: give one on standard input or in --password-file");
  lwd::service::AccountStore::check_password(password, o.name, email);
  // Opening the market checks that DIR is one and its database is current.
  { const lwd::Market market = lwd::Market::open(o.market, {}, {}, o.db.urls); }
  const std::string url = o.db.urls.db;
  const std::filesystem::path file = std::filesystem::path(o.market) / "index.sqlite";
  lwd::service::AccountStore store([url, file] { return lwd::open_database_connection(url, file); });
  const lwd::service::User user = store.create_user(o.name, email, password, *role);
  std::printf("created user %lld %s <%s> (%s)\n", static_cast<long long>(user.id), user.name.c_str(),
              user.email.c_str(), std::string(lwd::service::to_string(user.role)).c_str());
}

}  // namespace

void register_admin_commands(CLI::App& app) {
  CLI::App* admin =
      app.add_subcommand("admin", "Administer the dock service's accounts (in the market's database)");
  admin->require_subcommand(1);
  auto o = std::make_shared<CreateUserOptions>();
  CLI::App* cmd = admin->add_subcommand(
      "create-user",
      "Create an account, e.g. the first super-admin; the password comes from standard input or --password-file");
  cmd->add_option("--market", o->market, "Market directory")->required();
  lwdock::add_database_options(cmd, o->db, /*with_read_db=*/false);
  cmd->add_option("--name", o->name, "Account name: 1-64 of a-z A-Z 0-9 . _ -")->required();
  cmd->add_option("--email", o->email, "E-mail address")->required();
  cmd->add_option("--role", o->role, "user, admin or super-admin")->capture_default_str();
  cmd->add_option("--password-file", o->password_file,
                  "Read the password from FILE (one line) instead of standard input");
  // Refused with a reason rather than as an unknown option.
  cmd->add_option("--password", o->password_on_command_line, "Not accepted: see --password-file")
      ->check(CLI::Validator(
          [](std::string&) -> std::string {
            return "a password on the command line is visible to every user of the machine; pipe it to standard "
                   "input or use --password-file";
          },
          ""));
  cmd->callback([o] { run_create_user(*o); });
}
