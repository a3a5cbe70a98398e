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
StatSpec parse_stat_spec_text(std::string_view json_text, std::string_view source);
// Reads a spec file of any kind.
StatSpec load_stat_spec(const std::filesystem::path& path);

}  // namespace lwd
