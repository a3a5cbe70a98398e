// `lwdock methods list`: the search and reuse methods of the dock's one
// registry (engine/reuse/method_registry.h) -- the engine's built-ins and the
// extensions of scenarios/extensions.cpp -- which `lwdock search
// --search-method`, `lwdock reuse --method` and the scenario runners all use.
//
// --json prints a stable schema:
//   {"search": [{"key", "label", "description"}, ...],
//    "reuse":  [{"key", "aliases", "label", "description", "needs_labels",
//                "modes", "default_mode", "aligns_features"}, ...]}
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/lwdock/commands.h"
#include "engine/reuse/method_registry.h"
#include "scenarios/scenarios.h"

namespace lwdock {

const lwd::MethodRegistry& method_registry() {
  static const lwd::MethodRegistry registry = lwd::scenarios::default_method_registry();
  return registry;
}

namespace {

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string reuse_line(const lwd::ReuseMethodEntry& m) {
  std::string head = m.key;
  if (!m.aliases.empty()) head += " (alias " + join(m.aliases, ", ") + ")";
  std::string line = "  " + head + "\n      " + m.description + "\n      labels: " +
                     (m.needs_labels ? "needed (--labeled XY.csv)" : "not used") + "; modes: ";
  line += m.modes.empty() ? "none" : join(m.modes, " | ") + (m.default_mode.empty() ? "" : " (default: " + m.default_mode + ")");
  if (m.aligns_features)
    line += "\n      learnwares of another feature space: --data may differ in width; column descriptions from "
            "--user-semantic";
  return line + "\n";
}

}  // namespace

std::string search_methods_help() {
  std::string out = "Search methods (--search-method; `lwdock methods list`):\n";
  for (const lwd::SearchMethodEntry& m : method_registry().search_methods())
    out += "  " + m.key + "\n      " + m.description + "\n";
  return out;
}

std::string reuse_methods_help() {
  std::string out = "Reuse methods (--method; `lwdock methods list`):\n";
  for (const lwd::ReuseMethodEntry& m : method_registry().reuse_methods()) out += reuse_line(m);
  return out;
}

}  // namespace lwdock

namespace {

void list_methods(bool as_json) {
  const lwd::MethodRegistry& registry = lwdock::method_registry();
  if (!as_json) {
    std::printf("%s\n%s", lwdock::search_methods_help().c_str(), lwdock::reuse_methods_help().c_str());
    return;
  }
  nlohmann::json out{{"search", nlohmann::json::array()}, {"reuse", nlohmann::json::array()}};
  for (const lwd::SearchMethodEntry& m : registry.search_methods())
    out["search"].push_back({{"key", m.key}, {"label", m.label}, {"description", m.description}});
  for (const lwd::ReuseMethodEntry& m : registry.reuse_methods()) {
    out["reuse"].push_back({{"key", m.key},
                            {"aliases", m.aliases},
                            {"label", m.label},
                            {"description", m.description},
                            {"needs_labels", m.needs_labels},
                            {"modes", m.modes},
                            {"default_mode", m.default_mode},
                            {"aligns_features", m.aligns_features}});
  }
  std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

void register_method_commands(CLI::App& app, lwd::kernels::Context&) {
  CLI::App* methods =
      app.add_subcommand("methods", "The search and reuse methods registered (built-ins and extensions)");
  methods->require_subcommand(1);
  auto as_json = std::make_shared<bool>(false);
  CLI::App* list = methods->add_subcommand(
      "list", "List the search methods (`search --search-method`) and reuse methods (`reuse --method`)");
  list->add_flag("--json", *as_json, "Print the stable JSON schema");
  list->callback([as_json] { list_methods(*as_json); });
}
