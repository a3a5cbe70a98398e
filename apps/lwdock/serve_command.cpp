// `lwdock serve ...` and `lwdock client ...`: run the dock's own programs,
// lwdock-server and lwdock-client, with the same arguments (exec: each takes
// over this process, its exit status and signals). Both link the HTTP library
// and what comes with it (OpenSSL, zlib, Brotli); keeping them out of lwdock
// keeps every other command's start short.
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "engine/error.h"

const HelperProgram kServerProgram{LWD_SERVER_NAME, LWD_SERVER_INSTALL_PATH, LWD_SERVER_BUILD_PATH, "lwdock serve",
                                   "the dock service's program"};
const HelperProgram kClientProgram{LWD_CLIENT_NAME, LWD_CLIENT_INSTALL_PATH, LWD_CLIENT_BUILD_PATH, "lwdock client",
                                   "the dock's client program"};

namespace {

// Beside this program (a build tree's apps/, an installed bin/), in
// ../libexec/lwdock, at the install prefix, in this build tree.
std::vector<std::filesystem::path> candidates(const HelperProgram& program) {
  std::vector<std::filesystem::path> out;
  std::array<char, 4096> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    const auto dir = std::filesystem::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
    out.push_back(dir / program.name);
    out.push_back((dir / ".." / LWD_HELPER_LIBEXEC_DIR / program.name).lexically_normal());
  }
  out.emplace_back(program.install_path);
  out.emplace_back(program.build_path);
  return out;
}

// Everything after the subcommand is the program's, --help included.
void register_handover(CLI::App& app, const HelperProgram& program, const char* name, const char* summary) {
  CLI::App* cmd = app.add_subcommand(name, summary);
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->callback([cmd, &program] { exec_helper(program, cmd->remaining()); });
}

}  // namespace

[[noreturn]] void exec_helper(const HelperProgram& program, const std::vector<std::string>& args) {
  std::string tried;
  for (const auto& candidate : candidates(program)) {
    if (::access(candidate.c_str(), X_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + candidate.string();
      continue;
    }
    std::vector<char*> argv;
    std::string shown_as = program.shown_as;
    argv.push_back(shown_as.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(candidate.c_str(), argv.data());
    throw lwd::Error("cannot start " + candidate.string() + ": " + std::strerror(errno));
  }
  throw lwd::Error(std::string(program.what) + " (" + program.name + ") is not installed; looked in " + tried);
}

void register_serve_command(CLI::App& app) {
  register_handover(app, kServerProgram, "serve",
                    "Serve the dock's HTTP API over a market (see 'lwdock serve --help')");
}

void register_client_command(CLI::App& app) {
  register_handover(app, kClientProgram, "client",
                    "Use a dock server: login, search, info, download, submit, status, update, delete, tokens (see "
                    "'lwdock client --help')");
}
