// The checks a learnware passes before users can find it (the reference
// dock's semantic and statistical checkers).
//
//   invalid     the submission cannot be understood: semantic spec malformed
//               or outside the vocabularies, a stat spec that does not parse
//               or has an unsupported type, widths that disagree (model input
//               vs Z width vs semantic Input.Dimension), output widths that
//               disagree with the semantic Output.Dimension;
//   not_usable  well-formed, but the model does not work: it fails to load, or
//               predicting rows herded from its own spec fails or returns the
//               wrong shape or non-finite values, or MMD²(spec, spec) is not
//               finite;
//   usable      everything above passed; only these are searched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/package/package.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/store/learnware_index.h"
#include "kernels/context.h"

namespace lwd {

struct CheckResult {
  LearnwareStatus status = LearnwareStatus::invalid;
  std::string reason;  // empty when usable
};

struct CheckerOptions {
  std::int64_t probe_rows = 10;  // rows herded from the spec and predicted
};

// What a staged package holds once its files are read: what the checker looks
// at and what the store keeps.
struct LoadedSubmission {
  std::string semantic_json;                                    // as submitted
  std::optional<SemanticSpec> semantic;                         // nullopt when it does not parse
  std::vector<std::pair<std::string, RKMETableSpec>> specs;     // (type, spec) that parsed
  std::vector<std::string> problems;                            // why something did not parse
};

// Reads the semantic and stat spec files of a staged package; never throws for
// a malformed file (the problem is recorded and the checker marks it invalid).
LoadedSubmission load_submission(const StagedPackage& package);

CheckResult check_learnware(const kernels::Context& ctx, const StagedPackage& package,
                            const LoadedSubmission& submission, const CheckerOptions& options = {});

}  // namespace lwd
