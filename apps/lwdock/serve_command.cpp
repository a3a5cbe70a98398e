// `lwdock serve ...`: runs the dock service's own program, lwdock-server,
// with the same arguments (exec: it takes over this process, its exit status
// and signals). The server links the HTTP library and what comes with it
// (OpenSSL, zlib, Brotli); keeping them out of lwdock keeps every other
// command's start short.
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include "engine/error.h"

namespace {

// Beside this program (a build tree's apps/, an installed bin/), in
// ../libexec/lwdock, at the install prefix, in this build tree.
std::vector<std::filesystem::path> server_candidates() {
  std::vector<std::filesystem::path> out;
  std::array<char, 4096> self{};
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n > 0) {
    const auto dir = std::filesystem::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
    out.push_back(dir / LWD_SERVER_NAME);
    out.push_back((dir / ".." / LWD_SERVER_LIBEXEC_DIR / LWD_SERVER_NAME).lexically_normal());
  }
  out.emplace_back(LWD_SERVER_INSTALL_PATH);
  out.emplace_back(LWD_SERVER_BUILD_PATH);
  return out;
}

}  // namespace

[[noreturn]] void exec_server(const std::vector<std::string>& args) {
  std::string tried;
  for (const auto& candidate : server_candidates()) {
    if (::access(candidate.c_str(), X_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + candidate.string();
      continue;
    }
    std::vector<char*> argv;
    std::string name = "lwdock serve";
    argv.push_back(name.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(candidate.c_str(), argv.data());
    throw lwd::Error("cannot start " + candidate.string() + ": " + std::strerror(errno));
  }
  throw lwd::Error(std::string("the dock service's program (") + LWD_SERVER_NAME + ") is not installed; looked in " +
                   tried);
}

void register_serve_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("serve", "Serve the dock's HTTP API over a market (see 'lwdock serve --help')");
  // Everything after `serve` is the server's, --help included.
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->callback([cmd] { exec_server(cmd->remaining()); });
}
