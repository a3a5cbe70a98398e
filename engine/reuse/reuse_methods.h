// The reuse methods by name, in one explicit list, and one factory: what the
// command line and the scenario runners use to turn "--method X --mode Y"
// into a Reuser.
//
//   method            modes (default first)                       labels
//   averaging         mean (regression) | vote_by_prob, vote_by_label   no
//   job-selector      (none)                                      no
//   ensemble-pruning  the learnwares' task: regression | classification  yes
//   feature-augment   regression | classification (the user's task;
//                     default: the learnwares' task)              yes
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/reuse/reuser.h"
#include "kernels/context.h"

namespace lwd {

enum class ReuseMethod { kAveraging, kJobSelector, kEnsemblePruning, kFeatureAugment };

// "averaging", "job-selector", "ensemble-pruning", "feature-augment".
std::string_view to_string(ReuseMethod method);
// Throws lwd::Error listing the names.
ReuseMethod parse_reuse_method(std::string_view text);
const std::vector<ReuseMethod>& reuse_methods();
bool reuse_method_uses_labels(ReuseMethod method);

struct ReuserRequest {
  ReuseMethod method = ReuseMethod::kAveraging;
  std::string mode;                // empty: the method's default for the learnwares
  std::int64_t num_classes = 0;    // feature-augment classification over regression learnwares only
  kernels::Context ctx;
};

// Builds the reuser. Throws lwd::Error for a mode the method does not know or
// that contradicts the learnwares' task, and for everything the reuser's own
// constructor refuses (empty list, learnwares that disagree).
std::unique_ptr<Reuser> make_reuser(std::vector<Learnware> learnwares, const ReuserRequest& request);

}  // namespace lwd
