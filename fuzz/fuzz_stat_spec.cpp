// parse_stat_spec_text (engine/kinds/spec_kinds.h): a spec of any kind,
// dispatched on its "type" (what `lwdock inspect` and the market read). An
// accepted spec must also give its kind's inspect summary, and its kind's
// to_json must be accepted again by the dispatcher.
#include <string>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lwd::StatSpec spec;
  try {
    spec = lwd::parse_stat_spec_text(lwd::fuzz::as_text(data, size), "fuzz.json");
  } catch (const lwd::Error&) {
    return 0;  // expected refusal
  }
  LWD_FUZZ_CHECK(!spec.empty(), "an accepted spec has a kind");
  const lwd::SpecKind& kind = spec.kind();
  (void)kind.summary_json(spec).dump();
  (void)kind.summary_lines(spec);
  try {
    const lwd::StatSpec again = lwd::parse_stat_spec(kind.to_json(spec), "written.json");
    LWD_FUZZ_CHECK(&again.kind() == &kind, "a written spec is read back as the same kind");
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    LWD_FUZZ_CHECK(false, "a spec the reader accepted and wrote out is accepted again");
  }
  return 0;
}
