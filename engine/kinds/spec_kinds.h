// The statistical specification kinds, registered once (spec_kinds.cpp), and
// what reads a spec whose kind is not known beforehand.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "engine/kinds/stat_spec.h"

namespace lwd {

// Every kind, in registration order (table first: it is the default).
const std::vector<const SpecKind*>& spec_kinds();
// The kind whose files carry this "type"; nullptr if none.
const SpecKind* find_spec_kind(std::string_view type_name);
// The kind a learnware with this semantic Data value must carry ("Table",
// "Text", "Image"); the table kind for any other value.
const SpecKind& spec_kind_for_data(std::string_view semantic_data);
// "RKMETableSpecification, RKMETextSpecification and RKMEImageSpecification".
std::string spec_kind_list(std::string_view last_separator = " and ");

// Parses a spec of any kind, dispatching on its "type" field. JSON without a
// "type" goes to the table reader (the reference's oldest files have none),
// whose errors say what is wrong; an unknown "type" is an lwd::Error listing
// the kinds. `source` names the input in messages.
StatSpec parse_stat_spec(const nlohmann::json& in, std::string_view source);
// The same from text: text that is not JSON goes to the table reader, whose
// errors say what is wrong (invalid JSON, NaN...).
StatSpec parse_stat_spec_text(std::string_view json_text, std::string_view source, const io::JsonLimits& limits = {});
// Reads a spec file of any kind.
StatSpec load_stat_spec(const std::filesystem::path& path);

// What a market reads, from its learnwares and its users alike: a file over
// limits.max_spec_file_bytes is refused before it is read, its JSON is read
// within limits.spec_json(), and the spec must pass its kind's
// limit_violation. Every error is one line naming the file (and the field).
// The first form dispatches on "type" as load_stat_spec does; the second
// reads a spec the caller knows the kind of (a manifest entry's type).
StatSpec load_stat_spec(const std::filesystem::path& path, const SpecLimits& limits);
StatSpec load_stat_spec(const std::filesystem::path& path, const SpecKind& kind, const SpecLimits& limits);
// Throws lwd::Error "SOURCE: ..." when `spec` lies outside `limits`.
void check_spec_limits(const StatSpec& spec, const SpecLimits& limits, std::string_view source);

}  // namespace lwd
