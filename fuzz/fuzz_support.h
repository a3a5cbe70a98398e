// What every fuzz target shares.
//
// Expected refusals: the readers under test document one exception type,
// lwd::Error (engine/error.h), for every input they reject, so a target
// catches exactly that and nothing else. Any other exception that leaves a
// reader -- nlohmann::json::exception, YAML::Exception, std::out_of_range,
// std::length_error, std::bad_alloc, ... -- reaches libFuzzer uncaught,
// std::terminate aborts, and the input is reported as a crash: it is a bug
// (a refusal without the documented type and message, or worse).
//
// LWD_FUZZ_CHECK states a property that must hold for every accepted input
// (e.g. "what the reader accepted, it accepts again after writing it out");
// a violation aborts with the property, which libFuzzer reports as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/error.h"

#define LWD_FUZZ_CHECK(condition, what)                                                         \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, (what)); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)

namespace lwd::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The property of a spec reader (Spec::parse and to_json_text, the reference
// JSON formats): input is refused with lwd::Error or accepted, and what was
// accepted is accepted again after to_json_text, which then writes the same text.
template <typename Spec>
int check_spec_round_trip(const std::uint8_t* data, std::size_t size) {
  std::string text;
  try {
    text = Spec::parse(as_text(data, size), "fuzz.json").to_json_text();
  } catch (const lwd::Error&) {
    return 0;  // expected refusal
  }
  try {
    const Spec again = Spec::parse(text, "written.json");
    LWD_FUZZ_CHECK(again.to_json_text() == text, "writing a re-read spec gives the same text");
  } catch (const lwd::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    LWD_FUZZ_CHECK(false, "a spec the reader accepted and wrote out is accepted again");
  }
  return 0;
}

}  // namespace lwd::fuzz
