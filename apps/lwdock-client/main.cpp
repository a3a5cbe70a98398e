// lwdock-client: the dock server's command-line client, what `lwdock client`
// runs (exec, as `lwdock serve` runs lwdock-server: the HTTP library and
// OpenSSL stay out of lwdock's own start). Every failure ends as exactly one
// line on stderr, "lwdock client: error: ...", and the exit status of its
// kind (dock_client.h, Failure; listed in --help).
#include <csignal>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "apps/lwdock-client/commands.h"
#include "apps/lwdock-client/dock_client.h"

namespace {

int report(const std::string& message, lwdock::client::Failure kind) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::fprintf(stderr, "lwdock client: error: %s\n", line.c_str());
  return static_cast<int>(kind);
}

std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* current = &app;
  while (!current->get_subcommands().empty()) {
    current = current->get_subcommands().front();
    path += " " + current->get_name();
  }
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  using lwdock::client::Failure;
  // A server that closes the connection mid-request is an error to report, not a signal to die of.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"lwdock client: use a dock server over HTTP -- log in with a client token, search, download, "
               "submit and manage your learnwares",
               "lwdock client"};
  app.footer(
      "Every command takes --server URL (or LWDOCK_SERVER). The token is LWDOCK_TOKEN when set, else the one "
      "'login' stored for that server in $XDG_CONFIG_HOME/lwdock/credentials.json (default ~/.config/lwdock).\n"
      "Exit status: 0 success; 1 a local failure (a file, a checksum, a wait that ran out); 2 usage; 3 the server "
      "cannot be reached (refused, timed out, connection lost); 4 not logged in, or the token is unknown, expired "
      "or revoked (401); 5 the server refused the request (4xx, its message shown); 6 the server failed (5xx).");
  lwdock::client::register_client_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report(std::string(e.what()) + " (see '" + command_path(app) + " --help')", Failure::usage);
  } catch (const lwdock::client::ClientError& e) {
    return report(e.what(), e.kind());
  } catch (const std::bad_alloc&) {
    return report("out of memory", Failure::local);
  } catch (const std::exception& e) {
    return report(e.what(), Failure::local);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return report("cannot write to standard output", Failure::local);
  return 0;
}
