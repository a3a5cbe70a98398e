// The two lists of the experiment layer, each defined in one file:
//   scenarios.cpp   every scenario runner (`lwdock scenario list|run`);
//   extensions.cpp  every search / reuse method added beside the built-ins.
// See scenarios/README.md for how to add either.
#pragma once

#include "engine/reuse/method_registry.h"
#include "scenarios/common/scenario.h"

namespace lwd::scenarios {

// Every runner in the tree, in listing order.
ScenarioRegistry default_scenario_registry();

// Adds the extension methods (scenarios/examples/ and your own) to `registry`.
void register_extension_methods(MethodRegistry& registry);

// register_builtin_methods + register_extension_methods: what every scenario
// reports by default.
MethodRegistry default_method_registry();

}  // namespace lwd::scenarios
