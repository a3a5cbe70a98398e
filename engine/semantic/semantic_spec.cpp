#include "engine/semantic/semantic_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/json_text.h"

namespace lwd {

namespace {

using nlohmann::json;

const char* type_name(SemanticFieldType type) {
  switch (type) {
    case SemanticFieldType::kClass: return "Class";
    case SemanticFieldType::kTag: return "Tag";
    case SemanticFieldType::kString: return "String";
  }
  return "?";
}

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error("semantic specification " + std::string(source) + ": " + what);
}

FeatureSemantics parse_features(const json& j, std::string_view key, std::string_view source) {
  if (!j.is_object()) fail(source, "\"" + std::string(key) + "\" must be an object with Dimension and Description");
  FeatureSemantics out;
  const auto dim = j.find("Dimension");
  if (dim == j.end()) fail(source, "\"" + std::string(key) + "\" lacks \"Dimension\"");
  // Integers beyond 2^53 are not exact in the doubles other writers use, and
  // a float that large converted to int64 is undefined: both are refused here.
  constexpr std::int64_t kLargest = std::int64_t{1} << 53;
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "\"" + string + ...
  std::string what(1, '"');
  what += key;
  what += ".Dimension\" must be an integer in [1, " + std::to_string(kLargest) + "]";
  if (dim->is_number_unsigned()) {
    if (dim->get<std::uint64_t>() > static_cast<std::uint64_t>(kLargest)) fail(source, what);
    out.dimension = static_cast<std::int64_t>(dim->get<std::uint64_t>());
  } else if (dim->is_number_integer()) {
    out.dimension = dim->get<std::int64_t>();
  } else if (dim->is_number_float() && std::isfinite(dim->get<double>()) &&
             std::floor(dim->get<double>()) == dim->get<double>() &&
             std::abs(dim->get<double>()) <= static_cast<double>(kLargest)) {
    out.dimension = static_cast<std::int64_t>(dim->get<double>());  // 32.0 from a Python writer
  } else {
    fail(source, what);
  }
  if (out.dimension < 1 || out.dimension > kLargest) fail(source, what);
  const auto desc = j.find("Description");
  if (desc == j.end() || desc->is_null()) return out;
  if (!desc->is_object()) fail(source, "\"" + std::string(key) + ".Description\" must be an object");
  for (const auto& [index_text, text] : desc->items()) {
    std::int64_t index = -1;
    const char* end = index_text.data() + index_text.size();
    const auto [ptr, ec] = std::from_chars(index_text.data(), end, index);
    if (ec != std::errc() || ptr != end || index < 0) {
      fail(source, "\"" + std::string(key) + ".Description\" key '" + io::excerpt(index_text) + "' is not a feature index");
    }
    if (!text.is_string()) fail(source, "\"" + std::string(key) + ".Description." + index_text + "\" must be a string");
    out.descriptions[index] = text.get<std::string>();
  }
  return out;
}

void features_to_json(const FeatureSemantics& f, json& out) {
  out = json::object();
  out["Dimension"] = f.dimension;
  json desc = json::object();
  for (const auto& [index, text] : f.descriptions) desc[std::to_string(index)] = text;
  out["Description"] = std::move(desc);
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

std::optional<std::string> check_features(const std::optional<FeatureSemantics>& f, const char* key) {
  if (!f) return std::string("lacks \"") + key + "\" semantics";
  for (const auto& [index, text] : f->descriptions) {
    if (index >= f->dimension) {
      return std::string(key) + " description index " + std::to_string(index) + " is outside [0, " +
             std::to_string(f->dimension) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<SemanticVocabulary>& semantic_vocabularies() {
  static const std::vector<SemanticVocabulary> vocabularies = {
      {"Data", SemanticFieldType::kClass, {"Table", "Image", "Text"}},
      {"Task",
       SemanticFieldType::kClass,
       {"Classification", "Regression", "Feature Extraction", "Segmentation", "Object Detection", "Others"}},
      {"Library", SemanticFieldType::kClass, {"Scikit-learn", "PyTorch", "TensorFlow", "Others"}},
      {"Scenario",
       SemanticFieldType::kTag,
       {"Business", "Financial", "Health", "Politics", "Computer", "Internet", "Traffic", "Nature", "Fashion",
        "Industry", "Agriculture", "Education", "Entertainment", "Architecture", "Others"}},
      {"Description", SemanticFieldType::kString, {}},
      {"Name", SemanticFieldType::kString, {}},
      {"License",
       SemanticFieldType::kClass,
       {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "GPL-2.0", "GPL-3.0", "LGPL-2.1", "LGPL-3.0", "AGPL-3.0",
        "ECL-2.0", "AFL-3.0", "CC-BY-4.0", "CC-BY-SA-4.0", "Others"}},
  };
  return vocabularies;
}

const std::vector<std::string>& SemanticSpec::values(std::string_view key) const {
  static const std::vector<std::string> none;
  const auto it = tags.find(std::string(key));
  return it == tags.end() ? none : it->second;
}

std::string SemanticSpec::first(std::string_view key) const {
  const auto& v = values(key);
  return v.empty() ? std::string() : v.front();
}

SemanticSpec SemanticSpec::from_json(const json& j, std::string_view source) {
  if (!j.is_object()) fail(source, "must be a JSON object");
  SemanticSpec out;
  for (const auto& vocab : semantic_vocabularies()) {
    const auto field = j.find(vocab.key);
    if (field == j.end() || field->is_null()) continue;
    if (!field->is_object()) fail(source, "\"" + vocab.key + "\" must be an object with Values and Type");
    if (const auto type = field->find("Type"); type != field->end()) {
      if (!type->is_string() || type->get<std::string>() != type_name(vocab.type)) {
        fail(source, "\"" + vocab.key + ".Type\" must be \"" + type_name(vocab.type) + "\"");
      }
    }
    const auto values = field->find("Values");
    if (values == field->end() || values->is_null()) continue;
    if (vocab.type == SemanticFieldType::kString) {
      if (!values->is_string()) fail(source, "\"" + vocab.key + ".Values\" must be a string");
      (vocab.key == "Name" ? out.name : out.description) = values->get<std::string>();
      continue;
    }
    std::vector<std::string> list;
    if (values->is_string()) {
      // A bare string is accepted for a Class field: some writers drop the list.
      if (!values->get<std::string>().empty()) list.push_back(values->get<std::string>());
    } else if (values->is_array()) {
      for (const auto& v : *values) {
        if (!v.is_string()) fail(source, "\"" + vocab.key + ".Values\" must be a list of strings");
        list.push_back(v.get<std::string>());
      }
    } else {
      fail(source, "\"" + vocab.key + ".Values\" must be a list of strings");
    }
    if (!list.empty()) out.tags[vocab.key] = std::move(list);
  }
  if (const auto in = j.find("Input"); in != j.end() && !in->is_null() && !in->empty()) {
    out.input = parse_features(*in, "Input", source);
  }
  if (const auto o = j.find("Output"); o != j.end() && !o->is_null() && !o->empty()) {
    out.output = parse_features(*o, "Output", source);
  }
  return out;
}

SemanticSpec SemanticSpec::parse(std::string_view json_text, std::string_view source, const io::JsonLimits& limits) {
  json j;
  try {
    j = io::parse_json(json_text, std::string("semantic specification ") + std::string(source), limits);
  } catch (const io::JsonSyntaxError& e) {
    throw Error(e.what());
  }
  return from_json(j, source);
}

void SemanticSpec::to_json(json& out) const {
  out = json::object();
  for (const auto& vocab : semantic_vocabularies()) {
    json field = json::object();
    if (vocab.type == SemanticFieldType::kString) {
      field["Values"] = vocab.key == "Name" ? name : description;
    } else {
      field["Values"] = values(vocab.key);
    }
    field["Type"] = type_name(vocab.type);
    out[vocab.key] = std::move(field);
  }
  if (input) features_to_json(*input, out["Input"]);
  if (output) features_to_json(*output, out["Output"]);
}

std::string SemanticSpec::to_json_text() const {
  json j;
  to_json(j);
  return j.dump(2);
}

std::optional<std::string> check_semantic_spec(const SemanticSpec& spec) {
  for (const auto& vocab : semantic_vocabularies()) {
    if (vocab.type == SemanticFieldType::kString) {
      const std::string& text = vocab.key == "Name" ? spec.name : spec.description;
      if (text.empty()) return vocab.key + " cannot be empty";
      continue;
    }
    const auto& values = spec.values(vocab.key);
    if (vocab.type == SemanticFieldType::kClass && values.size() != 1) {
      return vocab.key + " must have exactly one value, one of: " + join(vocab.values);
    }
    if (vocab.type == SemanticFieldType::kTag && values.empty()) {
      return vocab.key + " needs at least one value among: " + join(vocab.values);
    }
    for (const auto& v : values) {
      if (std::find(vocab.values.begin(), vocab.values.end(), v) == vocab.values.end()) {
        return vocab.key + " value '" + io::excerpt(v) + "' is not one of: " + join(vocab.values);
      }
    }
  }
  if (spec.first("Data") == "Table") {
    if (auto reason = check_features(spec.input, "Input")) return reason;
  }
  const std::string task = spec.first("Task");
  if (task == "Classification" || task == "Regression") {
    if (auto reason = check_features(spec.output, "Output")) return reason;
    if (task == "Classification" && spec.output->dimension < 2) {
      return "a Classification task needs Output.Dimension > 1 (one column per class)";
    }
  }
  return std::nullopt;
}

namespace {

// Longest common subsequence length, O(|a||b|) with one row of memory.
std::size_t lcs_length(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1, 0);
  for (char ca : a) {
    std::size_t diagonal = 0;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = ca == b[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Normalised InDel similarity: 100 * (1 - indel / (|a| + |b|)) = 200 LCS / (|a| + |b|).
double indel_ratio(std::string_view a, std::string_view b) {
  if (a.empty() && b.empty()) return 100.0;
  return 200.0 * static_cast<double>(lcs_length(a, b)) / static_cast<double>(a.size() + b.size());
}

}  // namespace

double fuzzy_partial_ratio(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return 0.0;
  std::string_view shorter = a.size() <= b.size() ? a : b;
  std::string_view longer = a.size() <= b.size() ? b : a;
  const std::size_t m = shorter.size();
  const std::size_t n = longer.size();
  double best = 0.0;
  // Overhanging the start: prefixes of the longer string shorter than m.
  for (std::size_t k = 1; k < m && best < 100.0; ++k) best = std::max(best, indel_ratio(shorter, longer.substr(0, k)));
  for (std::size_t i = 0; i + m <= n && best < 100.0; ++i) best = std::max(best, indel_ratio(shorter, longer.substr(i, m)));
  // Overhanging the end: suffixes shorter than m.
  for (std::size_t k = 1; k < m && best < 100.0; ++k) best = std::max(best, indel_ratio(shorter, longer.substr(n - k)));
  return best;
}

}  // namespace lwd
