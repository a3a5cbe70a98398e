// RKMEImageSpec::parse (engine/image/rkme_image_spec.h), the reference JSON
// format: input is refused with lwd::Error or accepted, and what was accepted
// is accepted again after to_json_text, which then writes the same text.
#include <string>

#include "engine/error.h"
#include "engine/image/rkme_image_spec.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text;
  try {
    text = lwd::RKMEImageSpec::parse(lwd::fuzz::as_text(data, size), "fuzz.json").to_json_text();
  } catch (const lwd::Error&) {
    return 0;  // expected refusal
  }
  try {
    const lwd::RKMEImageSpec again = lwd::RKMEImageSpec::parse(text, "written.json");
    LWD_FUZZ_CHECK(again.to_json_text() == text, "writing a re-read spec gives the same text");
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    LWD_FUZZ_CHECK(false, "a spec the reader accepted and wrote out is accepted again");
  }
  return 0;
}
