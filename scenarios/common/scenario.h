// The scenario framework: a registry of experiment runners (name, one-line
// description, run function), the options every runner takes, what a runner
// returns (tables, curves, run metadata) and the one function that writes it
// to results/<name>/:
//
//   table.md, table.json   every ResultTable (published figure beside ours)
//   curve.csv, curve.svg   the first Curve (further curves: curve-<key>.csv/.svg)
//   run.json               RunInfo (commit, machine, threads, seeds, phase times)
//
// A runner (tabular, image, text) plugs in with one call in scenarios/scenarios.cpp:
//
//   registry.add({"image", "CIFAR-like MNIST users ...", run_image_scenario});
//
// where run_image_scenario(const ScenarioOptions&, const MethodRegistry&,
// const kernels::Context&) returns a ScenarioResult. It reports every method
// of the MethodRegistry it is given (method_registry.h), runs users in
// parallel with ctx.threads() and one thread per user, and derives every seed
// with derive_seed(options.seed, {user, ...}) so results do not depend on the
// thread count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "kernels/context.h"
#include "engine/dist/communicator.h"
#include "engine/reuse/method_registry.h"
#include "engine/store/index_url.h"
#include "scenarios/common/report.h"
#include "scenarios/common/run_info.h"

namespace lwd::scenarios {

struct ScenarioOptions {
  std::filesystem::path market_dir;          // the experiment market (lwdock market build)
  IndexUrls db;                              // where its learnware index lives (default: in market_dir)
  std::filesystem::path data_dir;            // fetched data packages (image, text); empty = lwdock data's cache
  std::filesystem::path out_dir;             // where the files go; empty = write nothing
  bool quick = false;                        // the reduced grid (a couple of minutes)
  std::uint64_t seed = 1;                    // the run seed
  bool quiet = false;                        // no progress output
  std::map<std::string, std::string> params;  // runner-specific knobs (--param key=value)
  std::string command_line;                  // recorded in run.json
  // Ranks that share the run (engine/dist; `mpirun -np N lwdock scenario run`):
  // each runs its share of the users and every rank aggregates all of them,
  // so every rank holds the one-rank result. Null: this process alone.
  const dist::Communicator* comm = nullptr;
};

// Typed access to ScenarioOptions::params; a malformed value is an lwd::Error
// naming the key and what was expected.
std::int64_t param_int(const ScenarioOptions& options, const std::string& key, std::int64_t fallback);
std::string param_string(const ScenarioOptions& options, const std::string& key, const std::string& fallback);
// Comma-separated list ("a,b,c"); empty entries are dropped.
std::vector<std::string> param_list(const ScenarioOptions& options, const std::string& key);
// Throws when a key is not among `known` (typos should not be silently ignored).
void check_params(const ScenarioOptions& options, const std::vector<std::string>& known, const std::string& scenario);
std::vector<std::string> split_list(const std::string& text);

struct ScenarioResult {
  std::string title;                  // heading of table.md
  std::vector<ResultTable> tables;
  std::vector<Curve> curves;
  RunInfo run;
  std::vector<std::string> warnings;  // users skipped, methods that failed (also in run.json)
};

using ScenarioRunFn =
    std::function<ScenarioResult(const ScenarioOptions&, const MethodRegistry&, const kernels::Context&)>;

struct ScenarioEntry {
  std::string name;                   // `lwdock scenario run NAME`
  std::string description;            // one line, for `lwdock scenario list`
  std::vector<std::pair<std::string, std::string>> params;  // runner knobs: key, help
  ScenarioRunFn run;
};

class ScenarioRegistry {
 public:
  // Throws lwd::Error for an empty name, a missing run function or a duplicate.
  void add(ScenarioEntry entry);
  const ScenarioEntry* find(const std::string& name) const;
  // Throws lwd::Error listing the registered names.
  const ScenarioEntry& at(const std::string& name) const;
  const std::vector<ScenarioEntry>& entries() const { return entries_; }

 private:
  std::vector<ScenarioEntry> entries_;
};

// Writes the files listed at the top into out_dir (created if missing), each
// atomically; returns their paths in writing order.
std::vector<std::filesystem::path> write_scenario_result(const std::filesystem::path& out_dir,
                                                         const ScenarioResult& result);

// A seed for one piece of a run (a user, a repeat, ...): splitmix64 folded over
// the base seed and the parts, so it depends on nothing else.
std::uint64_t derive_seed(std::uint64_t base, std::initializer_list<std::uint64_t> parts);
std::uint64_t derive_seed(std::uint64_t base, std::span<const std::uint64_t> parts);

// "full/log1p_units" -> "full-log1p_units": a key as a file-name part.
std::string file_slug(const std::string& key);

}  // namespace lwd::scenarios
