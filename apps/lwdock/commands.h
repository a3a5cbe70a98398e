// The lwdock subcommands, registered in one explicit list by main.cpp. Each
// register_* function adds its subcommand(s) to `app`; their callbacks run the
// work with `ctx` (whose thread count the global --threads option has set by
// then). Failures are reported by throwing lwd::Error (runtime, exit 1) or
// CLI::ValidationError (usage, exit 2); main turns either into one line on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/dist/session.h"
#include "engine/error.h"
#include "engine/model/sandbox.h"
#include "engine/store/index_url.h"
#include "kernels/context.h"

namespace lwd {
class MethodRegistry;
class Market;
struct SearchRequest;
struct SearchResponse;
}

namespace lwdock {

// Option checks that run on the raw text, so a bad value is reported as
// "--k: must be an integer >= 1 (got '0')" rather than as a conversion failure.
inline CLI::Validator integer_at_least(long long min) {
  const std::string rule = "must be an integer >= " + std::to_string(min);
  return CLI::Validator(
      [min, rule](std::string& text) -> std::string {
        long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || ptr != end || v < min) return rule + " (got '" + text + "')";
        return {};
      },
      min == 0   ? "NONNEGATIVE"
      : min == 1 ? "POSITIVE"
                 : ">=" + std::to_string(min));
}

// Any unsigned 64-bit value; a leading '-' would otherwise wrap around silently.
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        unsigned long long v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || ptr != end) return "must be an integer in [0, 2^64) (got '" + text + "')";
        return {};
      },
      "");
}

// A finite number, strictly above `min` when `strict`, else at least `min`.
inline CLI::Validator finite_number_above(double min, bool strict) {
  char buf[32];
  const std::string min_text(buf, std::to_chars(buf, buf + sizeof buf, min).ptr);
  const std::string rule = std::string("must be a finite number ") + (strict ? "> " : ">= ") + min_text;
  return CLI::Validator(
      [min, strict, rule](std::string& text) -> std::string {
        double v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        const bool ok = ec == std::errc() && ptr == end && std::isfinite(v) && (strict ? v > min : v >= min);
        return ok ? std::string() : rule + " (got '" + text + "')";
      },
      min == 0 ? (strict ? "POSITIVE" : "NONNEGATIVE") : (strict ? ">" : ">=") + min_text);
}

// Fails before any work is done when the result could not be written anyway:
// minutes of computation should not end in "directory does not exist".
inline void check_output_path(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::path dir = path.parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    throw lwd::Error(path.string() + ": cannot write: directory " + dir.string() + " does not exist");
  if (std::filesystem::is_directory(path, ec)) throw lwd::Error(path.string() + ": cannot write: it is a directory");
}

// The --model-* options of the commands that run process models (market add,
// market update, reuse): the dock's limits on each model run
// (engine/model/sandbox.h), defaulting to SandboxLimits' defaults.
struct SandboxOptions {
  lwd::SandboxLimits limits;
  std::uint64_t memory_mib = limits.address_space_bytes >> 20;
  std::uint64_t file_size_mib = limits.file_size_bytes >> 20;
  std::uint64_t scratch_mib = limits.scratch_bytes >> 20;

  // The limits the options give; a value the engine refuses is a usage error.
  lwd::SandboxLimits resolve() const {
    lwd::SandboxLimits out = limits;
    out.address_space_bytes = memory_mib << 20;
    out.file_size_bytes = file_size_mib << 20;
    out.scratch_bytes = scratch_mib << 20;
    try {
      lwd::validate_sandbox_limits(out);
    } catch (const lwd::Error& e) {
      throw CLI::ValidationError("--model-*", e.what());
    }
    return out;
  }
};

inline void add_sandbox_options(CLI::App* cmd, SandboxOptions& o) {
  const std::string group = "Model sandbox (process models; see docs/DESIGN.md, Model sandbox)";
  cmd->add_option("--model-time-cap", o.limits.wall_seconds_cap,
                  "Seconds a model run may take, whatever its package's timeout_seconds says")
      ->capture_default_str()
      ->check(finite_number_above(0, true))
      ->group(group);
  cmd->add_option("--model-cpu", o.limits.cpu_seconds, "CPU seconds per model process")
      ->capture_default_str()
      ->check(integer_at_least(1))
      ->group(group);
  cmd->add_option("--model-memory", o.memory_mib, "MiB of address space per model process")
      ->capture_default_str()
      ->check(integer_at_least(16))
      ->group(group);
  cmd->add_option("--model-processes", o.limits.processes, "Processes and threads of one model run")
      ->capture_default_str()
      ->check(integer_at_least(1))
      ->group(group);
  cmd->add_option("--model-open-files", o.limits.open_files, "Open files per model process")
      ->capture_default_str()
      ->check(integer_at_least(8))
      ->group(group);
  cmd->add_option("--model-file-size", o.file_size_mib, "MiB of the largest file a model may write")
      ->capture_default_str()
      ->check(integer_at_least(1))
      ->group(group);
  cmd->add_option("--model-scratch", o.scratch_mib, "MiB of the model's private /tmp (memory)")
      ->capture_default_str()
      ->check(integer_at_least(1))
      ->group(group);
  cmd->add_flag("--unsandboxed-models", o.limits.unsandboxed,
                "Development only: run process models without the sandbox (they see your environment and files)")
      ->group(group);
}

// The --db and --read-db options of every command that opens a market:
// where its learnware index lives (engine/store/index_url.h). Without them
// (and without LWDOCK_DB / LWDOCK_READ_DB in the environment; an option
// given on the command line wins) the market directory's own index.sqlite.
struct DatabaseOptions {
  lwd::IndexUrls urls;
};

inline void add_database_options(CLI::App* cmd, DatabaseOptions& o, bool with_read_db = true) {
  const std::string group = "Database (docs/DESIGN.md, Storage backends)";
  cmd->add_option("--db", o.urls.db,
                  "The market's learnware index: sqlite:PATH or postgresql://user[:password]@host[:port]/dbname "
                  "(default: DIR/index.sqlite)")
      ->envname("LWDOCK_DB")
      ->group(group);
  if (!with_read_db) return;
  cmd->add_option("--read-db", o.urls.read_db,
                  "A read-only copy of the index (a replica) that loads of the learnware table go to; "
                  "changes still go to --db")
      ->envname("LWDOCK_READ_DB")
      ->group(group);
}

// The search and reuse methods every command enumerates: the engine's
// built-ins and the extensions of scenarios/extensions.cpp
// (lwd::scenarios::default_method_registry()), built once. Defined in
// method_commands.cpp, with the help text below.
const lwd::MethodRegistry& method_registry();
// "Search methods (--search-method): ..." / "Reuse methods (--method): ...":
// one entry per method with its description (reuse: whether it needs
// labelled rows, its modes), for the --help footers.
std::string search_methods_help();
std::string reuse_methods_help();

// The ranks this run belongs to (main.cpp opens the Session): one, unless
// lwdock was started by mpirun in a build with MPI. Only `search` and
// `scenario run` share their work over several ranks; main refuses the other
// commands there. With several, rank 0 alone prints and writes the results.
const lwd::dist::Session& session();
inline bool prints_results() { return session().world().rank() == 0; }

// The market's specification world follows a change made from the command
// line (world_commands.cpp): system specs mapped or dropped, a retraining
// when --retrain-every learnwares have arrived; one line on stderr when
// anything happened. Nothing when the market has no world.
void follow_spec_world(const lwd::Market& market, const lwd::kernels::Context& ctx);
// `lwdock search --hetero`: the search in the user's space or the world's
// (engine/hetero/spec_world.h search_any_space); fills `response` and returns
// the JSON fields saying which space was searched and why.
nlohmann::json hetero_search(const lwd::Market& market, const lwd::SearchRequest& request,
                             const lwd::kernels::Context& ctx, lwd::SearchResponse& response);

}  // namespace lwdock

// `lwdock spec generate|dist|inspect|herd`.
void register_spec_commands(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock demo`.
void register_demo_command(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock market create|add|update|list|show|delete|rebuild|backup|restore`.
void register_market_commands(CLI::App& app, lwd::kernels::Context& ctx);
// `lwdock market build` (after register_market_commands: it joins that group).
void register_market_build_command(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock market remap` (after register_market_commands: it joins that group).
void register_world_commands(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock model train|predict`.
void register_model_commands(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock package build`.
void register_package_commands(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock search`.
void register_search_command(CLI::App& app, lwd::kernels::Context& ctx);

// `lwdock dataset retail info|export|transfer-table`.
void register_dataset_commands(CLI::App& app, lwd::kernels::Context& ctx);
void register_data_commands(CLI::App& app, lwd::kernels::Context& ctx);
void register_reuse_commands(CLI::App& app, lwd::kernels::Context& ctx);
// `lwdock methods list`.
void register_method_commands(CLI::App& app, lwd::kernels::Context& ctx);
// `lwdock scenario list|run|plot`.
void register_scenario_commands(CLI::App& app, lwd::kernels::Context& ctx);
// `lwdock admin create-user` (admin_commands.cpp).
void register_admin_commands(CLI::App& app);
// `lwdock serve` and `lwdock client`: hand over to the dock's server and
// client programs (serve_command.cpp).
void register_serve_command(CLI::App& app);
void register_client_command(CLI::App& app);
// A program of the dock's that lwdock runs in its own place: its file name,
// where an install and this build tree put it, the command users type, and
// what it is (for the error when it is missing).
struct HelperProgram {
  const char* name;
  const char* install_path;
  const char* build_path;
  const char* shown_as;
  const char* what;
};
extern const HelperProgram kServerProgram;  // lwdock-server
extern const HelperProgram kClientProgram;  // lwdock-client
// Runs `program` with `args` in place of this process; throws lwd::Error
// when it cannot be found or started. main() calls it before parsing
// anything when the first argument is `serve` or `client`, so that every
// argument, --help too, is the program's.
[[noreturn]] void exec_helper(const HelperProgram& program, const std::vector<std::string>& args);
