#include "engine/kinds/spec_kinds.h"

#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/kinds/image_kind.h"
#include "engine/kinds/table_kind.h"
#include "engine/kinds/text_kind.h"

namespace lwd {

// The one list of kinds. A new kind: its SpecKind in its own file, one line here.
const std::vector<const SpecKind*>& spec_kinds() {
  static const std::vector<const SpecKind*> kinds = {
      &table_spec_kind(),
      &text_spec_kind(),
      &image_spec_kind(),
  };
  return kinds;
}

const SpecKind* find_spec_kind(std::string_view type_name) {
  for (const SpecKind* kind : spec_kinds())
    if (kind->type_name() == type_name) return kind;
  return nullptr;
}

const SpecKind& spec_kind_for_data(std::string_view semantic_data) {
  for (const SpecKind* kind : spec_kinds())
    if (kind->semantic_data() == semantic_data) return *kind;
  return table_spec_kind();
}

std::string spec_kind_list(std::string_view last_separator) {
  const auto& kinds = spec_kinds();
  std::string out;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) out += i + 1 == kinds.size() ? std::string(last_separator) : std::string(", ");
    out += kinds[i]->type_name();
  }
  return out;
}

StatSpec parse_stat_spec(const nlohmann::json& in, std::string_view source) {
  if (in.is_object()) {
    if (const auto it = in.find("type"); it != in.end() && it->is_string()) {
      const std::string& type = it->get_ref<const std::string&>();
      const SpecKind* kind = find_spec_kind(type);
      if (kind == nullptr)
        throw Error(std::string(source) + ": unknown specification type \"" + io::excerpt(type) + "\"; lwdock reads " +
                    spec_kind_list());
      return kind->from_json(in, source);
    }
  }
  return table_spec_kind().from_json(in, source);
}

StatSpec parse_stat_spec_text(std::string_view json_text, std::string_view source, const io::JsonLimits& limits) {
  nlohmann::json in;
  try {
    in = io::parse_json(json_text, source, limits);
  } catch (const io::JsonSyntaxError&) {
    return stat_spec(RKMETableSpec::parse(json_text, source, limits));
  }
  return parse_stat_spec(in, source);
}

StatSpec load_stat_spec(const std::filesystem::path& path) {
  return parse_stat_spec_text(io::read_text_file(path), path.string());
}

void check_spec_limits(const StatSpec& spec, const SpecLimits& limits, std::string_view source) {
  if (auto why = spec.kind().limit_violation(spec, limits)) throw Error(std::string(source) + ": " + *why);
}

StatSpec load_stat_spec(const std::filesystem::path& path, const SpecLimits& limits) {
  const std::string text = io::read_text_file_limited(path, limits.max_spec_file_bytes, "a statistical specification");
  StatSpec spec = parse_stat_spec_text(text, path.string(), limits.spec_json());
  check_spec_limits(spec, limits, path.string());
  return spec;
}

StatSpec load_stat_spec(const std::filesystem::path& path, const SpecKind& kind, const SpecLimits& limits) {
  const std::string text = io::read_text_file_limited(path, limits.max_spec_file_bytes, "a statistical specification");
  StatSpec spec = kind.parse(text, path.string(), limits.spec_json());
  check_spec_limits(spec, limits, path.string());
  return spec;
}

}  // namespace lwd
