// The numeric CSV reader (engine/io/csv.h): every byte string either parses
// into a non-empty rows x columns table whose header, when there is one, has
// one name per column, or is refused with lwd::Error.
#include <sstream>
#include <string>

#include "engine/error.h"
#include "engine/io/csv.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(lwd::fuzz::as_text(data, size)));
  try {
    const lwd::io::NumericTable table = lwd::io::parse_numeric_csv(in, "fuzz.csv");
    LWD_FUZZ_CHECK(table.values.rows() >= 1 && table.values.cols() >= 1, "an accepted table has rows and columns");
    LWD_FUZZ_CHECK(table.column_names.empty() ||
                       static_cast<std::int64_t>(table.column_names.size()) == table.values.cols(),
                   "a header names every column");
  } catch (const lwd::Error&) {
    // expected refusal
  }
  return 0;
}
