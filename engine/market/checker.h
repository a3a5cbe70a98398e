// The checks a learnware passes before users can find it (the reference
// dock's semantic and statistical checkers).
//
//   invalid     the submission cannot be understood: semantic spec malformed
//               or outside the vocabularies, a spec file or a semantic
//               dimension beyond the market's limits, a stat spec that does not parse
//               or lies outside the limits (K, width, |z|, |beta|, gamma)
//               or has an unsupported type, a spec type that does not fit the
//               semantic Data type (Table -> RKMETableSpecification, Text ->
//               RKMETextSpecification, Image -> RKMEImageSpecification),
//               widths that disagree (tables: model input vs Z width vs
//               semantic Input.Dimension), output widths that disagree with
//               the semantic Output.Dimension;
//   not_usable  well-formed, but the model does not work: it fails to load, or
//               predicting a probe batch fails or returns the wrong shape or
//               non-finite values, or <spec, spec> is not finite. The probe
//               is what the model's inputs look like: tables, rows herded from
//               its own spec; text, random documents of Latin and CJK
//               characters (a spec holds embeddings, not documents); images,
//               random 0..255 pixels of the model's input shape (the spec's Z
//               are preprocessed 32 x 32 images, not the model's input);
//   usable      everything above passed; only these are searched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/kinds/spec_limits.h"
#include "engine/kinds/stat_spec.h"
#include "engine/model/sandbox.h"
#include "engine/package/package.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "kernels/context.h"

namespace lwd {

struct CheckerOptions {
  std::int64_t probe_rows = 10;  // rows (documents, images) predicted
  std::uint64_t probe_seed = 20240229;
  SandboxLimits sandbox;         // how the probe runs a process model (engine/model/sandbox.h)
};

// What a staged package holds once its files are read: what the checker looks
// at and what the store keeps.
struct LoadedSubmission {
  std::string semantic_json;                                    // as submitted
  std::optional<SemanticSpec> semantic;                         // nullopt when it does not parse
  // The statistical specs that parsed, at most one per kind, in manifest order.
  std::vector<StatSpec> stat_specs;
  // What the store packs, as (pack type, RKME): each spec's SpecKind::packed()
  // (a table spec under its type name, a text spec's RKME under
  // RKMETextSpec::pack_type(), so one pack never mixes encoders). Image specs
  // are not packed (their kernel is not an RBF).
  std::vector<std::pair<std::string, RKMETableSpec>> specs;
  std::vector<std::string> problems;                            // why something did not parse

  // The spec of that kind, or nullptr.
  const StatSpec* find(const SpecKind& kind) const;
  // The spec whose value is a T (RKMETableSpec, RKMETextSpec...), or nullptr.
  template <class T>
  const T* spec() const {
    for (const StatSpec& s : stat_specs)
      if (const T* value = s.get_if<T>()) return value;
    return nullptr;
  }
};

// Reads the semantic and stat spec files of a staged package within `limits`
// (spec_limits.h); never throws for a malformed file or one beyond the limits
// (the problem is recorded, the spec is not kept, and the checker marks the
// learnware invalid), so nothing out of range ever reaches the store.
LoadedSubmission load_submission(const StagedPackage& package, const SpecLimits& limits = {});

CheckResult check_learnware(const kernels::Context& ctx, const StagedPackage& package,
                            const LoadedSubmission& submission, const CheckerOptions& options = {});

}  // namespace lwd
