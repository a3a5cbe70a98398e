// The scenario list. A new runner adds one line here (and its library to
// lwd_scenarios in scenarios/CMakeLists.txt).
#include "scenarios/scenarios.h"

#include "scenarios/tabular/tabular_homo.h"

namespace lwd::scenarios {

ScenarioRegistry default_scenario_registry() {
  ScenarioRegistry registry;
  register_tabular_scenarios(registry);
  return registry;
}

}  // namespace lwd::scenarios
