// The manifest of a learnware package, `learnware.yaml` at the archive root:
//
//   format: lwdock-learnware/1
//   name: "store-17 sales (xgboost)"     # optional, informational
//   model:
//     kind: xgboost                      # xgboost | linear | process | tfidf_naive_bayes | image_mlp
//     file: model.json                   # required unless kind is process
//     task: regression                   # regression | classification
//     input_dim: 32
//     output_dim: 1
//     command: ["./predict.sh", "--fast"]  # process only, required there
//     timeout_seconds: 30                # process only, optional (default 30)
//   semantic_specification: semantic.json
//   stat_specifications:
//     - type: RKMETableSpecification     # or RKMETextSpecification, RKMEImageSpecification
//       file: rkme.json
//   environment: environment.yaml        # any text file describing the runtime
//
// Parsing is strict: an unknown or repeated key is an error, so a typo fails at
// submission instead of silently meaning "absent". Every file the manifest
// names is a relative archive path; the package reader refuses archives that
// hold files the manifest does not name, so the manifest is the whole inventory.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"

namespace lwd {

// The one format version this dock reads and writes.
inline constexpr std::string_view kManifestFormat = "lwdock-learnware/1";
// The manifest's own name inside a package archive.
inline constexpr std::string_view kManifestFileName = "learnware.yaml";

struct StatSpecEntry {
  std::string type;  // e.g. "RKMETableSpecification"
  std::string file;  // archive path of the spec JSON
  bool operator==(const StatSpecEntry&) const = default;
};

struct Manifest {
  std::string format = std::string(kManifestFormat);
  std::string name;  // informational, may be empty
  ModelConfig model;
  std::string semantic_file;
  std::vector<StatSpecEntry> stat_specs;  // at least one
  std::string environment_file;

  // Field by field, including every ModelConfig field (ModelConfig itself has no ==).
  bool operator==(const Manifest& other) const;
};

// A file a manifest refers to, with the manifest field that names it so that
// "missing file" messages can point at the line to fix.
struct ManifestFileReference {
  std::string archive_name;  // normalised relative path ("./run.sh" -> "run.sh")
  std::string field;         // e.g. "stat_specifications[1].file"
  bool operator==(const ManifestFileReference&) const = default;
};

// Parses and validates a manifest. `source` names where the text came from
// (a path or "archive.zip!learnware.yaml") and starts every error message.
// Throws lwd::Error naming the field on: malformed YAML, a format other than
// kManifestFormat, a missing, repeated or unknown key, a value of the wrong
// type, an unknown model kind or task, dims < 1, process-only keys on another
// kind, an empty stat spec list, a file name that is empty, absolute, contains
// a `..` component, a backslash or a control character, or the same file named
// twice (the one exception: a process model's `file` may be its command).
Manifest parse_manifest(std::string_view yaml_text, std::string_view source);

// The YAML text of a manifest, in the layout above. parse_manifest of the
// result gives back an equal Manifest for every manifest that passes validation.
std::string manifest_to_yaml(const Manifest& manifest);

// Every archive file the manifest names, each once, in manifest order: model
// file, process command (when relative), semantic spec, stat specs, environment.
// Assumes a validated manifest.
std::vector<ManifestFileReference> manifest_file_references(const Manifest& manifest);

// The archive name of a process model's command file ("./run.sh" -> "run.sh"),
// or "" when the model is not a process or its command is an absolute path.
std::string process_command_file(const Manifest& manifest);

// Checks one archive path as both manifests and archives must spell it:
// non-empty, relative, '/'-separated, no empty, "." or ".." components, no
// backslash, NUL or other control character. Returns a description of the
// first problem, or an empty string when the name is acceptable.
std::string archive_name_problem(std::string_view name);

}  // namespace lwd
