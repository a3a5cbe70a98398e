#include "scenarios/common/scenario.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace lwd::scenarios {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ',') {
      if (!current.empty()) out.push_back(current);
      current.clear();
    } else if (c != ' ') {
      current += c;
    }
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

std::int64_t param_int(const ScenarioOptions& options, const std::string& key, std::int64_t fallback) {
  const auto it = options.params.find(key);
  if (it == options.params.end()) return fallback;
  std::int64_t value = 0;
  const std::string& text = it->second;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size())
    throw Error("parameter " + key + ": expected an integer, got '" + text + "'");
  return value;
}

std::string param_string(const ScenarioOptions& options, const std::string& key, const std::string& fallback) {
  const auto it = options.params.find(key);
  return it == options.params.end() ? fallback : it->second;
}

std::vector<std::string> param_list(const ScenarioOptions& options, const std::string& key) {
  const auto it = options.params.find(key);
  return it == options.params.end() ? std::vector<std::string>{} : split_list(it->second);
}

void check_params(const ScenarioOptions& options, const std::vector<std::string>& known, const std::string& scenario) {
  for (const auto& [key, value] : options.params) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error("scenario " + scenario + " has no parameter '" + key + "' (known: " + (list.empty() ? "none" : list) +
                ")");
  }
}

void ScenarioRegistry::add(ScenarioEntry entry) {
  if (entry.name.empty()) throw Error("scenario: the name is empty");
  if (!entry.run) throw Error("scenario " + entry.name + ": no run function");
  if (find(entry.name) != nullptr) throw Error("scenario " + entry.name + " is registered twice");
  entries_.push_back(std::move(entry));
}

const ScenarioEntry* ScenarioRegistry::find(const std::string& name) const {
  for (const ScenarioEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

const ScenarioEntry& ScenarioRegistry::at(const std::string& name) const {
  if (const ScenarioEntry* e = find(name)) return *e;
  std::string names;
  for (const ScenarioEntry& e : entries_) names += (names.empty() ? "" : ", ") + e.name;
  throw Error("unknown scenario '" + name + "' (known: " + (names.empty() ? "none" : names) + ")");
}

std::string file_slug(const std::string& key) {
  std::string out;
  for (char c : key) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                       c == '-' || c == '.';
    out += plain ? c : '-';
  }
  return out.empty() ? "curve" : out;
}

std::vector<std::filesystem::path> write_scenario_result(const std::filesystem::path& out_dir,
                                                         const ScenarioResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir.string() + ": cannot create the output directory: " + ec.message());
  std::vector<std::filesystem::path> written;
  auto write = [&](const std::string& name, const std::string& content) {
    const std::filesystem::path path = out_dir / name;
    io::write_text_file_atomically(path, content);
    written.push_back(path);
  };
  std::string md = tables_markdown(result.tables, result.title);
  if (!result.curves.empty()) {
    md += "## Labelled-data curve\n\n";
    md += "![" + result.curves.front().title + "](curve.svg)\n\n";
    const Curve& c = result.curves.front();
    md += "Data: [curve.csv](curve.csv). Mean ± std over repeats of the users' mean loss. Grid n = ";
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%g (%lld)", i ? ", " : "", c.x[i],
                    static_cast<long long>(i < c.repeats.size() ? c.repeats[i] : 0));
      md += buf;
    }
    md += " (repeats in brackets).\n\n";
  }
  if (!result.warnings.empty()) {
    md += "## Warnings\n\n";
    for (const std::string& w : result.warnings) md += "- " + w + "\n";
    md += "\n";
  }
  write("table.md", md);
  {
    nlohmann::json tables = nlohmann::json::parse(tables_json(result.tables));
    tables["title"] = result.title;
    tables["curves"] = nlohmann::json::array();
    for (const Curve& c : result.curves) tables["curves"].push_back(curve_to_json(c));
    tables["warnings"] = result.warnings;
    write("table.json", tables.dump(2) + "\n");
  }
  for (std::size_t i = 0; i < result.curves.size(); ++i) {
    const std::string base = i == 0 ? "curve" : "curve-" + file_slug(result.curves[i].key);
    write(base + ".csv", curve_csv(result.curves[i]));
    write(base + ".svg", curve_svg(result.curves[i]));
  }
  nlohmann::json run = result.run.to_json();
  run["warnings"] = result.warnings;
  write("run.json", run.dump(2) + "\n");
  return written;
}

std::uint64_t derive_seed(std::uint64_t base, std::initializer_list<std::uint64_t> parts) {
  return derive_seed(base, std::span<const std::uint64_t>(parts.begin(), parts.size()));
}

std::uint64_t derive_seed(std::uint64_t base, std::span<const std::uint64_t> parts) {
  std::uint64_t h = splitmix64(base);
  for (std::uint64_t p : parts) h = splitmix64(h ^ splitmix64(p + 0x632BE59BD9B4E019ULL));
  return h;
}

}  // namespace lwd::scenarios
