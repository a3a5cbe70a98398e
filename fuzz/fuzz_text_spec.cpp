// RKMETextSpec::parse (engine/text/rkme_text_spec.h), the reference JSON
// format plus language and encoder; the property is
// lwd::fuzz::check_spec_round_trip (fuzz_support.h).
#include "engine/text/rkme_text_spec.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lwd::fuzz::check_spec_round_trip<lwd::RKMETextSpec>(data, size);
}
