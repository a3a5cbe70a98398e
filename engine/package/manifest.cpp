#include "engine/package/manifest.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/io/json_text.h"
#include "engine/kinds/model_kinds.h"

namespace lwd {
namespace {

// The model kinds a manifest may name are the registered ones
// (engine/kinds/model_kinds.cpp), the same list the checker and the loaders read.

bool parse_task_name(std::string_view text, TaskType& task) {
  if (text == "regression") {
    task = TaskType::kRegression;
    return true;
  }
  if (text == "classification") {
    task = TaskType::kClassification;
    return true;
  }
  return false;
}

std::string_view task_name(TaskType task) {
  return task == TaskType::kClassification ? "classification" : "regression";
}

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ", ";
    out += words[i];
  }
  return out;
}

// Builds error messages that start with the manifest's source and the field.
class ManifestErrors {
 public:
  explicit ManifestErrors(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    std::string message(source_);
    message += ": ";
    if (!field.empty()) {
      message += "field '";
      message += field;
      message += "' ";
    }
    message += problem;
    throw Error(message);
  }

 private:
  std::string source_;
};

std::string node_kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "undefined";
  }
}

// A mapping's keys, checked against the allowed set: yaml-cpp silently keeps
// only one of two equal keys, and an unknown key is almost always a typo.
std::map<std::string, YAML::Node> strict_mapping(const YAML::Node& node, std::string_view field,
                                                 const std::vector<std::string_view>& allowed,
                                                 const ManifestErrors& errors) {
  if (!node.IsMap()) errors.fail(field, "must be a mapping, found " + node_kind_name(node));
  std::map<std::string, YAML::Node> entries;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) errors.fail(field, "has a key that is not a string");
    const std::string key = item.first.Scalar();
    const std::string path = field.empty() ? key : std::string(field) + "." + key;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      errors.fail(path, "is not a known key (allowed here: " + join(allowed) + ")");
    }
    if (!entries.emplace(key, item.second).second) errors.fail(path, "appears more than once");
  }
  return entries;
}

const YAML::Node* find_key(const std::map<std::string, YAML::Node>& entries, const std::string& key) {
  const auto it = entries.find(key);
  return it == entries.end() ? nullptr : &it->second;
}

const YAML::Node& require_key(const std::map<std::string, YAML::Node>& entries, const std::string& key,
                              const std::string& field, const ManifestErrors& errors) {
  const YAML::Node* node = find_key(entries, key);
  if (node == nullptr) errors.fail(field, "is required but missing");
  return *node;
}

std::string read_string(const YAML::Node& node, const std::string& field, const ManifestErrors& errors) {
  if (!node.IsScalar()) errors.fail(field, "must be a string, found " + node_kind_name(node));
  // Written back out (manifest_to_yaml), other bytes would not read back the same.
  if (!io::is_valid_utf8(node.Scalar())) errors.fail(field, "must be UTF-8 text, found '" + io::excerpt(node.Scalar()) + "'");
  return node.Scalar();
}

std::string read_nonempty_string(const YAML::Node& node, const std::string& field, const ManifestErrors& errors) {
  std::string value = read_string(node, field, errors);
  if (value.empty()) errors.fail(field, "must not be empty");
  return value;
}

std::int64_t read_dimension(const YAML::Node& node, const std::string& field, const ManifestErrors& errors) {
  if (!node.IsScalar()) errors.fail(field, "must be an integer >= 1, found " + node_kind_name(node));
  std::int64_t value = 0;
  try {
    value = node.as<std::int64_t>();
  } catch (const YAML::Exception&) {
    errors.fail(field, "must be an integer >= 1, found '" + io::excerpt(node.Scalar()) + "'");
  }
  if (value < 1) errors.fail(field, "must be an integer >= 1, found " + std::to_string(value));
  return value;
}

double read_timeout(const YAML::Node& node, const std::string& field, const ManifestErrors& errors) {
  if (!node.IsScalar()) errors.fail(field, "must be a number of seconds > 0, found " + node_kind_name(node));
  double value = 0.0;
  try {
    value = node.as<double>();
  } catch (const YAML::Exception&) {
    errors.fail(field, "must be a number of seconds > 0, found '" + io::excerpt(node.Scalar()) + "'");
  }
  if (!std::isfinite(value) || value <= 0.0) {
    errors.fail(field, "must be a finite number of seconds > 0, found '" + io::excerpt(node.Scalar()) + "'");
  }
  return value;
}

std::string read_archive_name(const YAML::Node& node, const std::string& field, const ManifestErrors& errors) {
  std::string value = read_string(node, field, errors);
  if (const std::string problem = archive_name_problem(value); !problem.empty()) {
    errors.fail(field, "is not a usable file name inside the package: " + problem);
  }
  if (value == kManifestFileName) errors.fail(field, "must not name the manifest itself");
  return value;
}

// A relative argv[0] names a file in the package; "./run.sh" is the natural
// way to write that, so a leading "./" is accepted and dropped.
std::string command_archive_name(const std::string& argv0) {
  std::string_view name = argv0;
  while (name.size() > 2 && name.substr(0, 2) == "./") name.remove_prefix(2);
  return std::string(name);
}

ModelConfig read_model(const YAML::Node& node, const ManifestErrors& errors) {
  const auto entries = strict_mapping(
      node, "model", {"kind", "file", "task", "input_dim", "output_dim", "command", "timeout_seconds"}, errors);
  ModelConfig model;
  model.kind = read_nonempty_string(require_key(entries, "kind", "model.kind", errors), "model.kind", errors);
  const auto& known_kinds = learnware_model_kinds();
  if (std::find(known_kinds.begin(), known_kinds.end(), model.kind) == known_kinds.end()) {
    errors.fail("model.kind", "has unknown value '" + io::excerpt(model.kind) + "' (known kinds: " +
                                  join(std::vector<std::string_view>(known_kinds.begin(), known_kinds.end())) + ")");
  }
  const bool is_process = model.kind == "process";

  if (const YAML::Node* file = find_key(entries, "file")) {
    model.file = read_archive_name(*file, "model.file", errors);
  } else if (!is_process) {
    errors.fail("model.file", "is required for model kind '" + io::excerpt(model.kind) + "' but missing");
  }

  const std::string task = read_string(require_key(entries, "task", "model.task", errors), "model.task", errors);
  if (!parse_task_name(task, model.task)) {
    errors.fail("model.task", "has unknown value '" + io::excerpt(task) + "' (expected regression or classification)");
  }
  model.input_dim =
      read_dimension(require_key(entries, "input_dim", "model.input_dim", errors), "model.input_dim", errors);
  model.output_dim =
      read_dimension(require_key(entries, "output_dim", "model.output_dim", errors), "model.output_dim", errors);

  const YAML::Node* command = find_key(entries, "command");
  const YAML::Node* timeout = find_key(entries, "timeout_seconds");
  if (!is_process) {
    if (command != nullptr) errors.fail("model.command", "is only allowed for model kind 'process'");
    if (timeout != nullptr) errors.fail("model.timeout_seconds", "is only allowed for model kind 'process'");
    return model;
  }
  if (command == nullptr) errors.fail("model.command", "is required for model kind 'process' but missing");
  if (!command->IsSequence()) {
    errors.fail("model.command", "must be a list of strings (the argv), found " + node_kind_name(*command));
  }
  if (command->size() == 0) errors.fail("model.command", "must not be empty");
  for (std::size_t i = 0; i < command->size(); ++i) {
    const std::string field = "model.command[" + std::to_string(i) + "]";
    model.command.push_back(read_string((*command)[i], field, errors));
  }
  const std::string& argv0 = model.command.front();
  if (argv0.empty()) errors.fail("model.command[0]", "must not be empty");
  if (argv0.front() != '/') {
    if (const std::string problem = archive_name_problem(command_archive_name(argv0)); !problem.empty()) {
      errors.fail("model.command[0]", "is a relative path, so it must name a file in the package, but " + problem);
    }
    if (command_archive_name(argv0) == kManifestFileName) errors.fail("model.command[0]", "must not name the manifest");
  }
  if (timeout != nullptr) model.timeout_seconds = read_timeout(*timeout, "model.timeout_seconds", errors);
  return model;
}

void check_each_file_named_once(const Manifest& manifest, const ManifestErrors& errors) {
  std::vector<std::pair<std::string, std::string>> named;
  if (!manifest.model.file.empty()) named.emplace_back(manifest.model.file.generic_string(), "model.file");
  named.emplace_back(manifest.semantic_file, "semantic_specification");
  for (std::size_t i = 0; i < manifest.stat_specs.size(); ++i) {
    named.emplace_back(manifest.stat_specs[i].file, "stat_specifications[" + std::to_string(i) + "].file");
  }
  named.emplace_back(manifest.environment_file, "environment");
  std::map<std::string, std::string> first_field;
  for (const auto& [name, field] : named) {
    const auto [it, inserted] = first_field.emplace(name, field);
    if (!inserted) errors.fail(field, "names '" + io::excerpt(name) + "', which is already used by field '" + it->second + "'");
  }
  // The command may be the model file (a self-contained executable model) but
  // must not double as a spec or environment file.
  if (const std::string command_file = process_command_file(manifest); !command_file.empty()) {
    const auto it = first_field.find(command_file);
    if (it != first_field.end() && it->second != "model.file") {
      errors.fail("model.command[0]",
                  "names '" + io::excerpt(command_file) + "', which is already used by field '" + it->second + "'");
    }
  }
}

}  // namespace

bool Manifest::operator==(const Manifest& other) const {
  return format == other.format && name == other.name && model.kind == other.model.kind &&
         model.file == other.model.file && model.task == other.model.task && model.input_dim == other.model.input_dim &&
         model.output_dim == other.model.output_dim && model.command == other.model.command &&
         model.timeout_seconds == other.model.timeout_seconds && semantic_file == other.semantic_file &&
         stat_specs == other.stat_specs && environment_file == other.environment_file;
}

std::string archive_name_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) return "'" + io::excerpt(name.substr(0, name.find('\0'))) + "' contains a NUL byte";
    if (c == '\\') return "'" + io::excerpt(name) + "' contains a backslash (use '/' between folders)";
    if (byte < 0x20 || byte == 0x7f) return "'" + io::excerpt(name) + "' contains a control character";
  }
  if (name.front() == '/') return "'" + io::excerpt(name) + "' is an absolute path";
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t slash = std::min(name.find('/', start), name.size());
    const std::string_view component = name.substr(start, slash - start);
    if (component == "..") return "'" + io::excerpt(name) + "' contains a '..' component";
    if (component == ".") return "'" + io::excerpt(name) + "' contains a '.' component";
    if (component.empty()) return "'" + io::excerpt(name) + "' contains an empty path component";
    start = slash + 1;
  }
  return {};
}

Manifest parse_manifest(std::string_view yaml_text, std::string_view source) {
  const ManifestErrors errors(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    errors.fail("", "is not valid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) + ", column " +
                        std::to_string(e.mark.column + 1) + ")");
  }
  if (!root.IsDefined() || root.IsNull())
    errors.fail("", "is empty; expected a mapping starting with 'format: " + std::string(kManifestFormat) + "'");
  const auto entries = strict_mapping(
      root, "", {"format", "name", "model", "semantic_specification", "stat_specifications", "environment"}, errors);

  Manifest manifest;
  manifest.format = read_string(require_key(entries, "format", "format", errors), "format", errors);
  if (manifest.format != kManifestFormat) {
    errors.fail("format",
                "is '" + io::excerpt(manifest.format) + "', but this dock reads only '" + std::string(kManifestFormat) + "'");
  }
  if (const YAML::Node* name = find_key(entries, "name")) manifest.name = read_string(*name, "name", errors);
  manifest.model = read_model(require_key(entries, "model", "model", errors), errors);
  manifest.semantic_file =
      read_archive_name(require_key(entries, "semantic_specification", "semantic_specification", errors),
                        "semantic_specification", errors);

  const YAML::Node& stat_list = require_key(entries, "stat_specifications", "stat_specifications", errors);
  if (!stat_list.IsSequence()) {
    errors.fail("stat_specifications", "must be a list of {type, file} entries, found " + node_kind_name(stat_list));
  }
  if (stat_list.size() == 0) errors.fail("stat_specifications", "must list at least one statistical specification");
  for (std::size_t i = 0; i < stat_list.size(); ++i) {
    const std::string field = "stat_specifications[" + std::to_string(i) + "]";
    const auto stat_entries = strict_mapping(stat_list[i], field, {"type", "file"}, errors);
    StatSpecEntry entry;
    entry.type =
        read_nonempty_string(require_key(stat_entries, "type", field + ".type", errors), field + ".type", errors);
    entry.file = read_archive_name(require_key(stat_entries, "file", field + ".file", errors), field + ".file", errors);
    manifest.stat_specs.push_back(std::move(entry));
  }
  manifest.environment_file =
      read_archive_name(require_key(entries, "environment", "environment", errors), "environment", errors);
  check_each_file_named_once(manifest, errors);
  return manifest;
}

std::string manifest_to_yaml(const Manifest& manifest) {
  YAML::Emitter out;
  // 17 significant digits make every double survive the text round trip.
  out.SetDoublePrecision(17);
  out << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << manifest.format;
  if (!manifest.name.empty()) out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << manifest.name;
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "kind" << YAML::Value << manifest.model.kind;
  if (!manifest.model.file.empty())
    out << YAML::Key << "file" << YAML::Value << YAML::DoubleQuoted << manifest.model.file.generic_string();
  out << YAML::Key << "task" << YAML::Value << std::string(task_name(manifest.model.task));
  out << YAML::Key << "input_dim" << YAML::Value << manifest.model.input_dim;
  out << YAML::Key << "output_dim" << YAML::Value << manifest.model.output_dim;
  if (manifest.model.kind == "process") {
    out << YAML::Key << "command" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& arg : manifest.model.command) out << YAML::DoubleQuoted << arg;
    out << YAML::EndSeq;
    out << YAML::Key << "timeout_seconds" << YAML::Value << manifest.model.timeout_seconds;
  }
  out << YAML::EndMap;
  out << YAML::Key << "semantic_specification" << YAML::Value << YAML::DoubleQuoted << manifest.semantic_file;
  out << YAML::Key << "stat_specifications" << YAML::Value << YAML::BeginSeq;
  for (const StatSpecEntry& entry : manifest.stat_specs) {
    out << YAML::BeginMap << YAML::Key << "type" << YAML::Value << YAML::DoubleQuoted << entry.type << YAML::Key
        << "file" << YAML::Value << YAML::DoubleQuoted << entry.file << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "environment" << YAML::Value << YAML::DoubleQuoted << manifest.environment_file;
  out << YAML::EndMap;
  if (!out.good()) throw Error("cannot write manifest as YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

std::string process_command_file(const Manifest& manifest) {
  if (manifest.model.kind != "process" || manifest.model.command.empty()) return {};
  const std::string& argv0 = manifest.model.command.front();
  if (argv0.empty() || argv0.front() == '/') return {};
  return command_archive_name(argv0);
}

std::vector<ManifestFileReference> manifest_file_references(const Manifest& manifest) {
  std::vector<ManifestFileReference> refs;
  const auto add = [&refs](std::string name, std::string field) {
    const bool seen = std::any_of(refs.begin(), refs.end(), [&](const auto& r) { return r.archive_name == name; });
    if (!seen) refs.push_back({std::move(name), std::move(field)});
  };
  if (!manifest.model.file.empty()) add(manifest.model.file.generic_string(), "model.file");
  if (const std::string command_file = process_command_file(manifest); !command_file.empty()) {
    add(command_file, "model.command[0]");
  }
  add(manifest.semantic_file, "semantic_specification");
  for (std::size_t i = 0; i < manifest.stat_specs.size(); ++i) {
    add(manifest.stat_specs[i].file, "stat_specifications[" + std::to_string(i) + "].file");
  }
  add(manifest.environment_file, "environment");
  return refs;
}

}  // namespace lwd
