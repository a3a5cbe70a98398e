#include "scenarios/common/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace lwd::scenarios {
namespace {

std::string format_number(double value, int precision) {
  if (!std::isfinite(value)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, value);
  return buf;
}

// Shortest round-trip text for CSV (so a reader gets back the exact double).
std::string exact_number(double value) {
  if (!std::isfinite(value)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json mean_std_json(const MeanStd& v) {
  return {{"mean", number_or_null(v.mean)}, {"std", number_or_null(v.std)}, {"count", v.count}};
}

// CSV field: quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

// ---- SVG helpers --------------------------------------------------------------

std::string svg_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Tick label for a grid value: 100, 500, 1k, 2.5k, 10k.
std::string count_label(double v) {
  char buf[32];
  if (v >= 1000.0 && std::fabs(v / 1000.0 - std::round(v / 1000.0 * 10.0) / 10.0) < 1e-9) {
    std::snprintf(buf, sizeof buf, "%gk", std::round(v / 100.0) / 10.0);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

std::string value_label(double v, double step) {
  // As many decimals as the tick step needs.
  int decimals = 0;
  if (step > 0.0 && step < 1.0) decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  decimals = std::clamp(decimals, 0, 8);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::fabs(v) < step * 1e-6 ? 0.0 : v);
  return buf;
}

// "Nice" linear ticks (steps of 1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target, double* step_out) {
  if (!(hi > lo)) {
    const double pad = std::max(std::fabs(lo) * 0.05, 1e-3);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  // From the last step at or below lo to the first at or above hi, so the
  // axis ends on labelled ticks and every error bar fits inside.
  std::vector<double> ticks;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last; k += 1.0) ticks.push_back(k * step);
  if (step_out != nullptr) *step_out = step;
  return ticks;
}

// Colour-blind friendly palette (Okabe-Ito, then Tableau extras).
const char* const kPalette[] = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00",
                                "#0072B2", "#CC79A7", "#8C564B", "#7F7F7F", "#BCBD22"};
const char* const kMarkers[] = {"circle", "square", "diamond", "triangle"};

std::string marker_svg(const char* shape, double x, double y, const char* colour) {
  std::ostringstream s;
  const double r = 3.5;
  if (std::string(shape) == "circle") {
    s << "<circle cx=\"" << svg_number(x) << "\" cy=\"" << svg_number(y) << "\" r=\"" << r << "\" fill=\"" << colour
      << "\"/>";
  } else if (std::string(shape) == "square") {
    s << "<rect x=\"" << svg_number(x - r) << "\" y=\"" << svg_number(y - r) << "\" width=\"" << 2 * r
      << "\" height=\"" << 2 * r << "\" fill=\"" << colour << "\"/>";
  } else if (std::string(shape) == "diamond") {
    s << "<polygon points=\"" << svg_number(x) << "," << svg_number(y - r - 1) << " " << svg_number(x + r + 1) << ","
      << svg_number(y) << " " << svg_number(x) << "," << svg_number(y + r + 1) << " " << svg_number(x - r - 1) << ","
      << svg_number(y) << "\" fill=\"" << colour << "\"/>";
  } else {
    s << "<polygon points=\"" << svg_number(x) << "," << svg_number(y - r - 1) << " " << svg_number(x + r + 1) << ","
      << svg_number(y + r) << " " << svg_number(x - r - 1) << "," << svg_number(y + r) << "\" fill=\"" << colour
      << "\"/>";
  }
  return s.str();
}

}  // namespace

MeanStd mean_std(std::span<const double> values) {
  MeanStd out;
  double sum = 0.0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    ++out.count;
  }
  if (out.count == 0) return out;
  out.mean = sum / static_cast<double>(out.count);
  double squares = 0.0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - out.mean) * (v - out.mean);
  out.std = out.count > 1 ? std::sqrt(squares / static_cast<double>(out.count - 1)) : 0.0;
  return out;
}

const ResultRow* ResultTable::find(const std::string& row_key) const {
  for (const ResultRow& row : rows)
    if (row.key == row_key) return &row;
  return nullptr;
}

const CurveSeries* Curve::find(const std::string& series_key) const {
  for (const CurveSeries& s : series)
    if (s.key == series_key) return &s;
  return nullptr;
}

std::string format_mean_std(const MeanStd& value, int precision) {
  if (!std::isfinite(value.mean)) return "n/a";
  return format_number(value.mean, precision) + " ± " + format_number(value.std, precision);
}

std::string tables_markdown(std::span<const ResultTable> tables, const std::string& heading) {
  std::ostringstream md;
  if (!heading.empty()) md << "# " << heading << "\n\n";
  for (const ResultTable& table : tables) {
    md << "## " << table.title << "\n\n";
    md << "Metric: " << table.metric << " (" << (table.higher_is_better ? "higher" : "lower")
       << " is better). Ours: mean ± std over users";
    if (!table.rows.empty()) md << " (" << table.rows.front().ours.count << " users)";
    md << ".";
    if (!table.published_source.empty()) md << " Published: " << table.published_source << ".";
    md << "\n\n";
    md << "| Setting | Published | Ours | Note |\n|---|---:|---:|---|\n";
    for (const ResultRow& row : table.rows) {
      md << "| " << md_cell(row.label) << " | "
         << (row.published ? format_number(*row.published, 3) : std::string("—")) << " | "
         << format_mean_std(row.ours) << " | " << md_cell(row.note) << " |\n";
    }
    if (!table.notes.empty()) {
      md << "\n";
      for (const std::string& note : table.notes) md << "- " << note << "\n";
    }
    md << "\n";
  }
  return md.str();
}

nlohmann::json table_to_json(const ResultTable& table) {
  nlohmann::json rows = nlohmann::json::array();
  for (const ResultRow& row : table.rows) {
    rows.push_back({{"key", row.key},
                    {"label", row.label},
                    {"published", row.published ? number_or_null(*row.published) : nlohmann::json(nullptr)},
                    {"ours", mean_std_json(row.ours)},
                    {"note", row.note}});
  }
  return {{"key", table.key},
          {"title", table.title},
          {"metric", table.metric},
          {"higher_is_better", table.higher_is_better},
          {"published_source", table.published_source},
          {"rows", std::move(rows)},
          {"notes", table.notes}};
}

std::string tables_json(std::span<const ResultTable> tables) {
  nlohmann::json out = {{"tables", nlohmann::json::array()}};
  for (const ResultTable& table : tables) out["tables"].push_back(table_to_json(table));
  return out.dump(2) + "\n";
}

nlohmann::json curve_to_json(const Curve& curve) {
  nlohmann::json series = nlohmann::json::array();
  for (const CurveSeries& s : curve.series) {
    nlohmann::json points = nlohmann::json::array();
    for (const MeanStd& p : s.points) points.push_back(mean_std_json(p));
    series.push_back({{"key", s.key}, {"label", s.label}, {"uses_labels", s.uses_labels}, {"points", points}});
  }
  return {{"key", curve.key},           {"title", curve.title},     {"x_label", curve.x_label},
          {"y_label", curve.y_label},   {"log_x", curve.log_x},     {"higher_is_better", curve.higher_is_better},
          {"x", curve.x},               {"repeats", curve.repeats}, {"series", series}};
}

Curve curve_from_json(const nlohmann::json& j) {
  auto number = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : kNaN; };
  try {
    Curve c;
    c.key = j.at("key").get<std::string>();
    c.title = j.at("title").get<std::string>();
    c.x_label = j.at("x_label").get<std::string>();
    c.y_label = j.at("y_label").get<std::string>();
    c.log_x = j.at("log_x").get<bool>();
    c.higher_is_better = j.at("higher_is_better").get<bool>();
    c.x = j.at("x").get<std::vector<double>>();
    c.repeats = j.at("repeats").get<std::vector<std::int64_t>>();
    for (const nlohmann::json& s : j.at("series")) {
      CurveSeries series{s.at("key").get<std::string>(), s.at("label").get<std::string>(),
                         s.at("uses_labels").get<bool>(), {}};
      for (const nlohmann::json& p : s.at("points"))
        series.points.push_back({number(p.at("mean")), number(p.at("std")), p.at("count").get<std::int64_t>()});
      c.series.push_back(std::move(series));
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("curve JSON: ") + e.what());
  }
}

std::string curve_csv(const Curve& curve) {
  std::ostringstream csv;
  csv << "series,label,uses_labels,n,repeats,mean,std,count\n";
  for (const CurveSeries& s : curve.series) {
    for (std::size_t i = 0; i < curve.x.size(); ++i) {
      const MeanStd p = i < s.points.size() ? s.points[i] : MeanStd{};
      const std::int64_t repeats = i < curve.repeats.size() ? curve.repeats[i] : 0;
      csv << csv_field(s.key) << ',' << csv_field(s.label) << ',' << (s.uses_labels ? 1 : 0) << ','
          << exact_number(curve.x[i]) << ',' << repeats << ',' << exact_number(p.mean) << ',' << exact_number(p.std)
          << ',' << p.count << '\n';
    }
  }
  return csv.str();
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string curve_svg(const Curve& curve, const SvgOptions& options) {
  const double width = options.width, height = options.height;
  const double left = 78, right = 300, top = 52, bottom = 64;
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  // x domain: the grid, padded a little so end markers are not on the frame.
  bool log_x = curve.log_x;
  double x_lo = 0, x_hi = 1;
  if (!curve.x.empty()) {
    x_lo = *std::min_element(curve.x.begin(), curve.x.end());
    x_hi = *std::max_element(curve.x.begin(), curve.x.end());
  }
  if (log_x && !(x_lo > 0)) log_x = false;
  auto fx = [&](double v) { return log_x ? std::log10(v) : v; };
  double dx_lo = fx(x_lo), dx_hi = fx(x_hi);
  if (!(dx_hi > dx_lo)) {
    dx_lo -= 0.5;
    dx_hi += 0.5;
  }
  const double x_pad = (dx_hi - dx_lo) * 0.04;
  dx_lo -= x_pad;
  dx_hi += x_pad;
  auto px = [&](double v) { return left + (fx(v) - dx_lo) / (dx_hi - dx_lo) * plot_w; };

  // y domain: every mean ± std.
  double y_lo = std::numeric_limits<double>::infinity(), y_hi = -y_lo;
  for (const CurveSeries& s : curve.series) {
    for (const MeanStd& p : s.points) {
      if (!std::isfinite(p.mean)) continue;
      const double e = std::isfinite(p.std) ? p.std : 0.0;
      y_lo = std::min(y_lo, p.mean - e);
      y_hi = std::max(y_hi, p.mean + e);
    }
  }
  if (!std::isfinite(y_lo)) {
    y_lo = 0.0;
    y_hi = 1.0;
  }
  double y_step = 0.0;
  const std::vector<double> y_ticks = nice_ticks(y_lo, y_hi, 6, &y_step);
  const double dy_lo = std::min(y_lo, y_ticks.front()), dy_hi = std::max(y_hi, y_ticks.back());
  auto py = [&](double v) { return top + (1.0 - (v - dy_lo) / (dy_hi - dy_lo)) * plot_h; };

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << options.width << "\" height=\"" << options.height
      << "\" viewBox=\"0 0 " << options.width << ' ' << options.height
      << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  svg << "<rect x=\"0\" y=\"0\" width=\"" << options.width << "\" height=\"" << options.height
      << "\" fill=\"#ffffff\"/>\n";
  svg << "<text class=\"title\" x=\"" << svg_number(left + plot_w / 2) << "\" y=\"28\" text-anchor=\"middle\" "
      << "font-size=\"15\" font-weight=\"bold\">" << xml_escape(curve.title) << "</text>\n";

  // Grid and y ticks.
  svg << "<g class=\"y-axis\">\n";
  for (double t : y_ticks) {
    const double y = py(t);
    svg << "<line x1=\"" << svg_number(left) << "\" y1=\"" << svg_number(y) << "\" x2=\"" << svg_number(left + plot_w)
        << "\" y2=\"" << svg_number(y) << "\" stroke=\"#e0e0e0\" stroke-width=\"1\"/>";
    svg << "<line x1=\"" << svg_number(left - 5) << "\" y1=\"" << svg_number(y) << "\" x2=\"" << svg_number(left)
        << "\" y2=\"" << svg_number(y) << "\" stroke=\"#000000\"/>";
    svg << "<text x=\"" << svg_number(left - 8) << "\" y=\"" << svg_number(y + 4) << "\" text-anchor=\"end\">"
        << value_label(t, y_step) << "</text>\n";
  }
  svg << "<text x=\"18\" y=\"" << svg_number(top + plot_h / 2) << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 "
      << svg_number(top + plot_h / 2) << ")\">" << xml_escape(curve.y_label)
      << (curve.higher_is_better ? " (higher is better)" : " (lower is better)") << "</text>\n";
  svg << "</g>\n";

  // x ticks at the grid values (the sizes actually measured).
  svg << "<g class=\"x-axis\">\n";
  for (double v : curve.x) {
    const double x = px(v);
    svg << "<line x1=\"" << svg_number(x) << "\" y1=\"" << svg_number(top + plot_h) << "\" x2=\"" << svg_number(x)
        << "\" y2=\"" << svg_number(top + plot_h + 5) << "\" stroke=\"#000000\"/>";
    svg << "<line x1=\"" << svg_number(x) << "\" y1=\"" << svg_number(top) << "\" x2=\"" << svg_number(x)
        << "\" y2=\"" << svg_number(top + plot_h) << "\" stroke=\"#f0f0f0\" stroke-width=\"1\"/>";
    svg << "<text x=\"" << svg_number(x) << "\" y=\"" << svg_number(top + plot_h + 19)
        << "\" text-anchor=\"middle\">" << count_label(v) << "</text>\n";
  }
  svg << "<text x=\"" << svg_number(left + plot_w / 2) << "\" y=\"" << svg_number(height - 16)
      << "\" text-anchor=\"middle\">" << xml_escape(curve.x_label) << (log_x ? " (log scale)" : "") << "</text>\n";
  svg << "</g>\n";

  // Frame.
  svg << "<rect x=\"" << svg_number(left) << "\" y=\"" << svg_number(top) << "\" width=\"" << svg_number(plot_w)
      << "\" height=\"" << svg_number(plot_h) << "\" fill=\"none\" stroke=\"#000000\"/>\n";

  // Series.
  const std::size_t palette_size = sizeof kPalette / sizeof kPalette[0];
  const std::size_t marker_count = sizeof kMarkers / sizeof kMarkers[0];
  for (std::size_t si = 0; si < curve.series.size(); ++si) {
    const CurveSeries& s = curve.series[si];
    const char* colour = kPalette[si % palette_size];
    const char* marker = kMarkers[si % marker_count];
    const std::string dash = s.uses_labels ? "" : " stroke-dasharray=\"6 4\"";
    svg << "<g class=\"series\" data-key=\"" << xml_escape(s.key) << "\">\n";
    svg << "<title>" << xml_escape(s.label) << "</title>\n";
    // Polyline segments between consecutive finite points.
    std::string points;
    auto flush = [&]() {
      if (points.empty()) return;
      svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\"" << dash << " points=\""
          << points << "\"/>\n";
      points.clear();
    };
    for (std::size_t i = 0; i < curve.x.size() && i < s.points.size(); ++i) {
      const MeanStd& p = s.points[i];
      if (!std::isfinite(p.mean)) {
        flush();
        continue;
      }
      if (!points.empty()) points += ' ';
      points += svg_number(px(curve.x[i])) + "," + svg_number(py(p.mean));
    }
    flush();
    for (std::size_t i = 0; i < curve.x.size() && i < s.points.size(); ++i) {
      const MeanStd& p = s.points[i];
      if (!std::isfinite(p.mean)) continue;
      const double x = px(curve.x[i]), y = py(p.mean);
      if (std::isfinite(p.std) && p.std > 0.0) {
        const double y1 = py(p.mean - p.std), y2 = py(p.mean + p.std);
        svg << "<path class=\"error-bar\" d=\"M" << svg_number(x) << ' ' << svg_number(y1) << "V" << svg_number(y2)
            << "M" << svg_number(x - 4) << ' ' << svg_number(y1) << "H" << svg_number(x + 4) << "M"
            << svg_number(x - 4) << ' ' << svg_number(y2) << "H" << svg_number(x + 4) << "\" stroke=\"" << colour
            << "\" stroke-width=\"1.2\" fill=\"none\"/>";
      }
      svg << marker_svg(marker, x, y, colour) << "\n";
    }
    svg << "</g>\n";
  }

  // Legend, right of the plot.
  const double lx = left + plot_w + 18;
  double ly = top + 8;
  svg << "<g class=\"legend\">\n";
  svg << "<rect x=\"" << svg_number(lx - 8) << "\" y=\"" << svg_number(top) << "\" width=\"" << svg_number(right - 20)
      << "\" height=\"" << svg_number(22.0 * static_cast<double>(curve.series.size()) + 30.0)
      << "\" fill=\"#ffffff\" stroke=\"#999999\"/>\n";
  for (std::size_t si = 0; si < curve.series.size(); ++si) {
    const CurveSeries& s = curve.series[si];
    const char* colour = kPalette[si % palette_size];
    const double y = ly + 10;
    svg << "<line x1=\"" << svg_number(lx) << "\" y1=\"" << svg_number(y) << "\" x2=\"" << svg_number(lx + 26)
        << "\" y2=\"" << svg_number(y) << "\" stroke=\"" << colour << "\" stroke-width=\"2\""
        << (s.uses_labels ? "" : " stroke-dasharray=\"6 4\"") << "/>";
    svg << marker_svg(kMarkers[si % marker_count], lx + 13, y, colour);
    svg << "<text x=\"" << svg_number(lx + 34) << "\" y=\"" << svg_number(y + 4) << "\" font-size=\"11\">"
        << xml_escape(s.label) << "</text>\n";
    ly += 22;
  }
  svg << "<text x=\"" << svg_number(lx) << "\" y=\"" << svg_number(ly + 16)
      << "\" font-size=\"10\" fill=\"#555555\">bars: ± std over repeats; dashed: no labels</text>\n";
  svg << "</g>\n";
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace lwd::scenarios
