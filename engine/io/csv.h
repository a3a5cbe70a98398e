// Numeric CSV: what users hand to `lwdock spec generate` and what herding writes.
//
// Accepted: comma-separated fields, optional header row (detected: a first row
// with any field that is not a number), optional surrounding spaces, CRLF line
// endings, a UTF-8 byte-order mark, blank lines (skipped, as pandas does) and
// RFC 4180 quoting within a line. Numbers are parsed with from_chars; "nan",
// "NaN", "inf", "-inf", "Infinity", empty fields and the usual missing-value
// tokens ("NA", "N/A", "NULL", "null", "None", "#N/A", "<NA>") are read as
// non-finite values (the RKME builder imputes them). Anything else -- a ragged
// row, a non-numeric field after the header, no data rows -- is an lwd::Error
// naming the file, line and column.
#pragma once

#include <filesystem>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/matrix.h"

namespace lwd::io {

struct NumericTable {
  std::vector<std::string> column_names;  // empty when the file had no header
  kernels::Matrix<double> values;         // rows x columns
};

NumericTable read_numeric_csv(const std::filesystem::path& path);
// `source_name` is used in error messages.
NumericTable parse_numeric_csv(std::istream& in, std::string_view source_name);

// Writes values with %.17g (round-trippable), optional header; atomically.
void write_numeric_csv(const std::filesystem::path& path, const kernels::Matrix<double>& values,
                       const std::vector<std::string>& column_names = {});

}  // namespace lwd::io
