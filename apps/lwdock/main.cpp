// lwdock: the learnware dock's command line. Every failure ends as exactly one
// line on stderr, "lwdock: error: ...", and a non-zero exit status:
// 1 for runtime errors (unreadable or malformed input, failed writes),
// 2 for usage errors (unknown options, missing or invalid option values).
// Under mpirun with several ranks (engine/dist/session.h) a usage error, the
// same on every rank, is printed by rank 0 alone; a runtime error is printed
// by each rank it happens on (rank k > 0 names itself) and ends every rank
// (MPI_Abort), since the others may wait for it in an exchange.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "apps/lwdock/allocator.h"
#include "apps/lwdock/commands.h"
#include "engine/error.h"
#include "kernels/context.h"
#include "kernels/error.h"

#ifndef LWD_VERSION
#define LWD_VERSION "0.1.0"
#endif

namespace {

constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;

const lwd::dist::Session* g_session = nullptr;

int report(const std::string& message, int status) {
  std::string line = message;
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  while (!line.empty() && line.back() == ' ') line.pop_back();
  const int rank = g_session ? g_session->world().rank() : 0;
  const bool several = g_session && g_session->world().size() > 1;
  if (!several) {
    std::fprintf(stderr, "lwdock: error: %s\n", line.c_str());
    return status;
  }
  if (status == kUsageError) {
    if (rank == 0) std::fprintf(stderr, "lwdock: error: %s\n", line.c_str());
    return status;
  }
  if (rank == 0) {
    std::fprintf(stderr, "lwdock: error: %s\n", line.c_str());
  } else {
    std::fprintf(stderr, "lwdock: error: rank %d: %s\n", rank, line.c_str());
  }
  std::fflush(stderr);
  g_session->abort(status);
}

// "lwdock spec generate": the deepest subcommand the parser had reached, so a
// usage error can point at the right --help.
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

const lwd::dist::Session& lwdock::session() { return *g_session; }

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "serve" || std::string(argv[1]) == "client")) {
    try {
      exec_helper(std::string(argv[1]) == "serve" ? kServerProgram : kClientProgram,
                  std::vector<std::string>(argv + 2, argv + argc));
    } catch (const lwd::Error& e) {
      return report(e.what(), kRuntimeError);
    }
  }
  std::unique_ptr<lwd::dist::Session> session;
  try {
    session = std::make_unique<lwd::dist::Session>(argc, argv);
  } catch (const lwd::Error& e) {
    return report(e.what(), kRuntimeError);
  }
  g_session = session.get();
  lwd::kernels::Context ctx;
  CLI::App app{"lwdock: the learnware dock -- specifications, packages, markets and search", "lwdock"};
  app.set_version_flag("--version", [] {
    return std::string("lwdock ") + LWD_VERSION + " (allocator: " + lwdock::allocator_description() + ")";
  });
  app.footer("Exit status: 0 on success, 1 on runtime errors, 2 on usage errors.");
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `lwdock spec dist a b --threads 4`.
  app.fallthrough();
  app.add_option("--threads", ctx.n_threads, "OpenMP threads (0 = all cores)")
      ->capture_default_str()
      ->check(lwdock::integer_at_least(0));

  register_spec_commands(app, ctx);
  register_model_commands(app, ctx);
  register_package_commands(app, ctx);
  register_market_commands(app, ctx);
  register_market_build_command(app, ctx);
  register_world_commands(app, ctx);
  register_search_command(app, ctx);
  register_reuse_commands(app, ctx);
  register_method_commands(app, ctx);
  register_demo_command(app, ctx);
  register_dataset_commands(app, ctx);
  register_data_commands(app, ctx);
  register_scenario_commands(app, ctx);
  register_admin_commands(app);
  register_serve_command(app);
  register_client_command(app);
  // Several ranks share the work of two commands only; any other would run
  // once per rank (N adds of one package, N servers on one port).
  app.parse_complete_callback([&app, &session] {
    const int ranks = session->world().size();
    if (ranks == 1) return;
    const std::string path = command_path(app);
    if (path != "lwdock search" && path != "lwdock scenario run")
      throw CLI::ValidationError(path, "runs as one process; under mpirun (" + std::to_string(ranks) +
                                           " ranks) only `lwdock search` and `lwdock scenario run` share their work");
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    return report(std::string(e.what()) + " (see '" + command_path(app) + " --help')", kUsageError);
  } catch (const lwd::Error& e) {
    return report(e.what(), kRuntimeError);
  } catch (const lwd::kernels::KernelError& e) {
    return report(e.what(), kRuntimeError);
  } catch (const std::bad_alloc&) {
    return report("out of memory", kRuntimeError);
  } catch (const std::exception& e) {
    return report(e.what(), kRuntimeError);
  }

  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return report("cannot write to standard output", kRuntimeError);
  return 0;
}
