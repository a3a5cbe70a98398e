// What every scenario reports, and the writers that turn it into files:
//
//   ResultTable  one row per setting (Mean in Market, Top-1 Reuse, ...): the
//                published figure beside ours (mean ± std over users);
//   Curve        the labelled-data curve: series (user model, reuse methods)
//                over a grid of labelled-set sizes n, mean ± std over repeats.
//
// Writers (all pure functions of the values, so tests pin their output):
//   tables_markdown  table.md      tables_json  table.json
//   curve_csv        curve.csv     curve_svg    curve.svg (hand-written SVG:
//                    log-x axis, ticks, grid, error bars, legend; no dependency)
// Non-finite numbers are written as "n/a" (md), null (json) and empty (csv).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lwd::scenarios {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mean and sample standard deviation (n - 1 in the denominator; 0 for a single
// value) of the finite values; count = how many were finite.
struct MeanStd {
  double mean = kNaN;
  double std = kNaN;
  std::int64_t count = 0;
};
MeanStd mean_std(std::span<const double> values);

struct ResultRow {
  std::string key;                  // stable identifier, e.g. "top1-reuse"
  std::string label;                // as the paper prints it, e.g. "Top-1 Reuse (Single)"
  std::optional<double> published;  // the paper's figure; empty where the paper has none
  MeanStd ours;                     // over users
  std::string note;                 // e.g. "extension method", "search: market"
};

struct ResultTable {
  std::string key;                  // e.g. "full/log1p_units"
  std::string title;
  std::string metric;               // e.g. "MSE (log1p units)"
  bool higher_is_better = false;
  std::string published_source;     // where the published column comes from
  std::vector<ResultRow> rows;
  std::vector<std::string> notes;   // printed under the table

  const ResultRow* find(const std::string& row_key) const;
};

struct CurveSeries {
  std::string key;                  // e.g. "user-model"
  std::string label;                // legend text
  bool uses_labels = true;          // false: a label-free method, flat in n (drawn dashed)
  std::vector<MeanStd> points;      // one per grid point
};

struct Curve {
  std::string key;                  // e.g. "full/log1p_units"
  std::string title;
  std::string x_label = "labelled rows n";
  std::string y_label;
  bool log_x = true;
  bool higher_is_better = false;
  std::vector<double> x;            // the grid
  std::vector<std::int64_t> repeats;  // repeats at each grid point
  std::vector<CurveSeries> series;

  const CurveSeries* find(const std::string& series_key) const;
};

// "0.8123 ± 0.0456" style cell (precision significant digits after the point).
std::string format_mean_std(const MeanStd& value, int precision = 4);

std::string tables_markdown(std::span<const ResultTable> tables, const std::string& heading = "");
nlohmann::json table_to_json(const ResultTable& table);
std::string tables_json(std::span<const ResultTable> tables);
nlohmann::json curve_to_json(const Curve& curve);
// The inverse of curve_to_json (null numbers read back as NaN); throws
// lwd::Error naming the missing or mistyped field.
Curve curve_from_json(const nlohmann::json& json);

// Long format, one line per (series, grid point):
//   series,label,uses_labels,n,repeats,mean,std,count
std::string curve_csv(const Curve& curve);

struct SvgOptions {
  int width = 980;
  int height = 540;
};
// A self-contained SVG document: title, axes with ticks and labels (x on a
// log scale when curve.log_x), horizontal grid lines, one polyline with
// markers and ±std error bars per series, dashed for label-free series, and
// a legend to the right of the plot.
std::string curve_svg(const Curve& curve, const SvgOptions& options = {});

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace lwd::scenarios
