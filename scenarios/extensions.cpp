// The one registration point for methods beyond the built-ins. Every scenario
// reports each method registered here beside the built-in ones: a label-free
// reuse method as a table row (and a flat line on the curve), a labelled one
// as a curve series, a search method as a second set of rows.
//
// To add yours: write `void register_my_method(MethodRegistry&)` (see
// scenarios/examples/median_ensemble.cpp), add its source to
// lwd_scenarios_examples (or your own library linked into lwd_scenarios), and
// call it below.
#include "scenarios/examples/median_ensemble.h"
#include "scenarios/scenarios.h"

namespace lwd::scenarios {

void register_extension_methods(MethodRegistry& registry) {
  register_median_ensemble(registry);
}

MethodRegistry default_method_registry() {
  MethodRegistry registry;
  register_builtin_methods(registry);
  register_extension_methods(registry);
  return registry;
}

}  // namespace lwd::scenarios
