// SemanticSpec::parse (engine/semantic/semantic_spec.h): structure checks of
// the reference JSON layout, then the submission rules (check_semantic_spec)
// and the fuzzy matcher on the parsed text fields. What parse accepted,
// to_json_text writes and parse reads back equal.
#include <string>

#include "engine/error.h"
#include "engine/semantic/semantic_spec.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lwd::SemanticSpec spec;
  try {
    spec = lwd::SemanticSpec::parse(lwd::fuzz::as_text(data, size), "fuzz.json");
  } catch (const lwd::Error&) {
    return 0;  // expected refusal
  }
  (void)lwd::check_semantic_spec(spec);
  const double ratio = lwd::fuzzy_partial_ratio(spec.name, spec.description);
  LWD_FUZZ_CHECK(ratio >= 0.0 && ratio <= 100.0, "fuzzy_partial_ratio lies in [0, 100]");
  try {
    LWD_FUZZ_CHECK(lwd::SemanticSpec::parse(spec.to_json_text(), "written.json") == spec,
                   "a written semantic spec reads back equal");
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    LWD_FUZZ_CHECK(false, "a semantic spec the reader accepted and wrote out is accepted again");
  }
  return 0;
}
