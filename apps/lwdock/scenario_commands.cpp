// `lwdock scenario list|run|plot`: the experiment runners of scenarios/ (the list
// lives in scenarios/scenarios.cpp, the methods they report in
// scenarios/extensions.cpp).
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/lwdock/commands.h"
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "scenarios/scenarios.h"

namespace {

struct RunOptions {
  std::string name;
  bool quick = false;
  std::string market = "market";
  lwdock::DatabaseOptions db;
  std::string out;
  std::string data_dir;
  unsigned long long seed = 1;
  std::vector<std::string> params;
  std::string search;
  std::string reuse;
  bool quiet = false;
  bool list_methods = false;
};

void list_scenarios(bool names_only) {
  const lwd::scenarios::ScenarioRegistry registry = lwd::scenarios::default_scenario_registry();
  if (names_only) {  // for scripts: one name per line
    for (const auto& entry : registry.entries()) std::printf("%s\n", entry.name.c_str());
    return;
  }
  for (const auto& entry : registry.entries()) {
    std::printf("%-16s %s\n", entry.name.c_str(), entry.description.c_str());
    for (const auto& [key, help] : entry.params) std::printf("  %-24s %s\n", ("--param " + key).c_str(), help.c_str());
  }
  const lwd::MethodRegistry methods = lwd::scenarios::default_method_registry();
  std::printf("\nsearch methods (--search):\n");
  for (const auto& m : methods.search_methods()) std::printf("  %-18s %s\n", m.key.c_str(), m.description.c_str());
  std::printf("reuse methods (--reuse):\n");
  // The methods that align features are for users of another feature space
  // (`lwdock reuse`); the runners' users share the learnwares' space.
  for (const auto& m : methods.reuse_methods())
    if (!m.aligns_features)
      std::printf("  %-18s %s%s\n", m.key.c_str(), m.description.c_str(), m.needs_labels ? " [labelled: curve]" : "");
}

void run_scenario(const RunOptions& o, const lwd::kernels::Context& ctx, const std::string& command_line) {
  const lwd::scenarios::ScenarioRegistry registry = lwd::scenarios::default_scenario_registry();
  const lwd::scenarios::ScenarioEntry& entry = registry.at(o.name);
  const lwd::MethodRegistry methods = lwd::scenarios::default_method_registry().subset(
      lwd::scenarios::split_list(o.search), lwd::scenarios::split_list(o.reuse));
  if (!o.reuse.empty())
    for (const auto& m : methods.reuse_methods())
      if (m.aligns_features)
        throw CLI::ValidationError("--reuse", m.key + " aligns learnwares of another feature space to the user's; the "
                                              "scenarios' users share the learnwares' space (use `lwdock reuse "
                                              "--method " + m.key + "`)");

  lwd::scenarios::ScenarioOptions options;
  options.market_dir = o.market;
  options.db = o.db.urls;
  options.data_dir = o.data_dir;
  options.out_dir = o.out.empty() ? std::filesystem::path("results") / o.name : std::filesystem::path(o.out);
  options.quick = o.quick;
  options.seed = o.seed;
  // Under mpirun the ranks share the users (run_user_study); rank 0 alone
  // shows progress, prints and writes.
  const bool writes = lwdock::prints_results();
  if (lwdock::session().mpi()) options.comm = &lwdock::session().world();
  options.quiet = o.quiet || !writes;
  options.command_line = command_line;
  for (const std::string& p : o.params) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError("--param", "expected KEY=VALUE, got '" + p + "'");
    options.params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(options.market_dir, ec))
    throw lwd::Error("market " + options.market_dir.string() +
                     " does not exist (build it with `lwdock market build DIR --all`, or pass --market DIR)");

  const lwd::scenarios::ScenarioResult result = entry.run(options, methods, ctx);
  if (!writes) return;
  const auto files = lwd::scenarios::write_scenario_result(options.out_dir, result);
  for (const auto& table : result.tables) {
    std::printf("%s -- %s\n", table.title.c_str(), table.metric.c_str());
    for (const auto& row : table.rows) {
      const std::string published = row.published ? std::to_string(*row.published).substr(0, 5) : std::string("-");
      std::printf("  %-48s published %-6s ours %s\n", row.label.c_str(), published.c_str(),
                  lwd::scenarios::format_mean_std(row.ours).c_str());
    }
  }
  for (const auto& w : result.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::printf("%s: %.1f s on %d thread(s); wrote", o.name.c_str(), result.run.total_seconds, result.run.threads);
  for (const auto& f : files) std::printf(" %s", f.string().c_str());
  std::printf("\n");
}

// Redraws DIR/curve*.svg from the curves recorded in DIR/table.json (after a
// change to the SVG writer, without rerunning the experiment).
void plot_curves(const std::string& dir) {
  const std::filesystem::path table = std::filesystem::path(dir) / "table.json";
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(lwd::io::read_text_file(table));
  } catch (const nlohmann::json::exception& e) {
    throw lwd::Error(table.string() + ": not valid JSON: " + e.what());
  }
  if (!json.contains("curves") || !json["curves"].is_array() || json["curves"].empty())
    throw lwd::Error(table.string() + ": no curve recorded");
  for (std::size_t i = 0; i < json["curves"].size(); ++i) {
    const lwd::scenarios::Curve curve = lwd::scenarios::curve_from_json(json["curves"][i]);
    const std::string name = i == 0 ? "curve.svg" : "curve-" + lwd::scenarios::file_slug(curve.key) + ".svg";
    const std::filesystem::path out = std::filesystem::path(dir) / name;
    lwd::io::write_text_file_atomically(out, lwd::scenarios::curve_svg(curve));
    std::printf("wrote %s\n", out.string().c_str());
  }
}

}  // namespace

void register_scenario_commands(CLI::App& app, lwd::kernels::Context& ctx) {
  CLI::App* scenario = app.add_subcommand("scenario", "Experiment runners that reproduce the paper's tables and curves");
  scenario->require_subcommand(1);

  CLI::App* list = scenario->add_subcommand("list", "List the scenarios and the methods they report");
  auto names_only = std::make_shared<bool>(false);
  list->add_flag("--names", *names_only, "Only the scenario names, one per line (for scripts)");
  list->callback([names_only] { list_scenarios(*names_only); });

  auto plot_dir = std::make_shared<std::string>();
  CLI::App* plot = scenario->add_subcommand("plot", "Redraw DIR/curve.svg from the curves in DIR/table.json");
  plot->add_option("dir", *plot_dir, "A scenario's output directory")->required();
  plot->callback([plot_dir] { plot_curves(*plot_dir); });

  auto o = std::make_shared<RunOptions>();
  CLI::App* run = scenario->add_subcommand("run", "Run a scenario; writes table.md/json, curve.csv/svg, run.json");
  run->add_option("name", o->name, "Scenario name (see `lwdock scenario list`)")->required();
  run->add_flag("--quick", o->quick, "Reduced grid (fewer users, n points and repeats): a couple of minutes");
  run->add_option("--market", o->market, "Market directory (`lwdock market build DIR --all`)")->capture_default_str();
  lwdock::add_database_options(run, o->db);
  run->add_option("--out", o->out, "Output directory (default results/NAME)");
  run->add_option("--data-dir", o->data_dir,
                  "Fetched data packages the image and text users come from (default: lwdock data's cache)");
  run->add_option("--seed", o->seed, "Run seed (users' RKMEs, labelled draws, reuse methods)")
      ->capture_default_str()
      ->check(lwdock::unsigned_integer());
  run->add_option("--param", o->params, "Scenario parameter KEY=VALUE (repeatable; see `lwdock scenario list`)");
  run->add_option("--search", o->search, "Search methods to report, comma-separated (default: all registered)");
  run->add_option("--reuse", o->reuse, "Reuse methods to report, comma-separated (default: all registered)");
  run->add_flag("--quiet", o->quiet, "No progress output");
  run->callback([o, &ctx] {
    std::string command_line = "lwdock --threads " + std::to_string(ctx.n_threads) + " scenario run " + o->name;
    if (o->quick) command_line += " --quick";
    command_line += " --market " + o->market;
    if (!o->out.empty()) command_line += " --out " + o->out;
    command_line += " --seed " + std::to_string(o->seed);
    for (const auto& p : o->params) command_line += " --param " + p;
    if (!o->search.empty()) command_line += " --search " + o->search;
    if (!o->reuse.empty()) command_line += " --reuse " + o->reuse;
    const int ranks = lwdock::session().world().size();
    if (lwdock::session().mpi()) command_line = "mpirun -np " + std::to_string(ranks) + " " + command_line;
    run_scenario(*o, ctx, command_line);
  });
}
