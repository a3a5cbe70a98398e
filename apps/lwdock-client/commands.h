// The subcommands of `lwdock client`, each with its own --help. Failures are
// thrown as ClientError (dock_client.h), whose kind is the exit status, or as
// CLI11's parse errors (usage, 2); main.cpp turns either into one line.
#pragma once

#include <CLI/CLI.hpp>

namespace lwdock::client {

void register_client_commands(CLI::App& app);

}  // namespace lwdock::client
