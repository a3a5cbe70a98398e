// The engine's reusers by kind, and one factory that builds them with a mode:
// what the built-in reuse methods of the method registry (method_registry.h,
// where the methods have their names, labels and modes) run.
//
//   kind              modes (default first)                       labels
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

// "averaging", "job-selector", "ensemble-pruning", "feature-augment" (for messages).
std::string_view to_string(ReuseMethod method);

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
