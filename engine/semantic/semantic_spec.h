// The semantic specification of a learnware (and of a user's requirement):
// tags and text in the reference package's JSON layout,
//   {"Data":{"Values":["Table"],"Type":"Class"}, "Task":{...,"Type":"Class"},
//    "Library":{...,"Type":"Class"}, "Scenario":{"Values":[...],"Type":"Tag"},
//    "License":{...,"Type":"Class"}, "Name":{"Values":"...","Type":"String"},
//    "Description":{"Values":"...","Type":"String"},
//    "Input":{"Dimension":d,"Description":{"0":"...",...}}, "Output":{...}}
// so specs written by either side load in the other. Parsing checks structure
// only (a user's query may leave fields empty); check_semantic_spec applies the
// submission rules: vocabularies, one value per Class field, dimensions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/io/json_text.h"

namespace lwd {

enum class SemanticFieldType { kClass, kTag, kString };

// One field of the reference vocabulary ("Data", "Task", ...).
struct SemanticVocabulary {
  std::string key;
  SemanticFieldType type;
  std::vector<std::string> values;  // allowed values; empty for String fields
};

// The reference vocabularies, in the reference order.
const std::vector<SemanticVocabulary>& semantic_vocabularies();

struct FeatureSemantics {
  std::int64_t dimension = 0;
  std::map<std::int64_t, std::string> descriptions;  // feature index -> text
  bool operator==(const FeatureSemantics&) const = default;
};

struct SemanticSpec {
  // Class and Tag fields by key ("Data", "Task", "Library", "Scenario", "License").
  std::map<std::string, std::vector<std::string>> tags;
  std::string name;
  std::string description;
  std::optional<FeatureSemantics> input;
  std::optional<FeatureSemantics> output;

  // Values of a Class/Tag field (empty if absent).
  const std::vector<std::string>& values(std::string_view key) const;
  // First value of a Class field, or "" (e.g. data_type() == "Table").
  std::string first(std::string_view key) const;

  // Throws lwd::Error naming `source` and the field when the structure is wrong
  // (not an object, a Class/Tag field whose Values is not a list of strings, a
  // Type that disagrees with the vocabulary, Dimension not a positive integer,
  // description keys that are not integers, ...). Unknown keys are ignored,
  // as the reference does.
  static SemanticSpec from_json(const nlohmann::json& json, std::string_view source = "<memory>");
  // The JSON is read within `limits` (engine/io/json_text.h); every error,
  // syntax included, names `source` and quotes at most a short excerpt.
  static SemanticSpec parse(std::string_view json_text, std::string_view source = "<memory>",
                            const io::JsonLimits& limits = {});
  void to_json(nlohmann::json& out) const;
  std::string to_json_text() const;

  bool operator==(const SemanticSpec&) const = default;
};

// Submission rules of the reference checker. Returns the reason the spec is
// invalid, or nullopt when it is valid: every vocabulary field present with
// the right Type; Class fields exactly one allowed value; Tag fields at least
// one, all allowed; Name and Description non-empty; Table data needs Input
// with description keys in [0, Dimension); Classification/Regression need
// Output, Classification with Dimension > 1.
std::optional<std::string> check_semantic_spec(const SemanticSpec& spec);

// Normalised InDel similarity of the best-aligned substring, in [0, 100]
// (the "partial ratio" of fuzzy string matching): the shorter string is
// compared with every window of the longer one of the same length, and with
// the shorter prefixes and suffixes that overhang either end.
double fuzzy_partial_ratio(std::string_view a, std::string_view b);

}  // namespace lwd
