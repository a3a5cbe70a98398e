// The scenario list. A new runner adds one line here (and its library to
// lwd_scenarios in scenarios/CMakeLists.txt).
#include "scenarios/scenarios.h"

#include "scenarios/image/image_scenario.h"
#include "scenarios/tabular/tabular_hetero.h"
#include "scenarios/tabular/tabular_homo.h"
#include "scenarios/text/text_scenario.h"

namespace lwd::scenarios {

ScenarioRegistry default_scenario_registry() {
  ScenarioRegistry registry;
  register_tabular_scenarios(registry);
  register_tabular_hetero_scenarios(registry);
  register_image_scenarios(registry);
  register_text_scenarios(registry);
  return registry;
}

}  // namespace lwd::scenarios
