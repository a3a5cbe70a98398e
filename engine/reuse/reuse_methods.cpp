#include "engine/reuse/reuse_methods.h"

#include "engine/error.h"
#include "engine/reuse/averaging.h"
#include "engine/reuse/ensemble_pruning.h"
#include "engine/reuse/feature_augment.h"
#include "engine/reuse/job_selector.h"

namespace lwd {
namespace {

// The task a mode names for ensemble-pruning and feature-augment.
TaskType task_mode(std::string_view method, const std::string& mode, TaskType fallback) {
  if (mode.empty()) return fallback;
  if (mode == "regression") return TaskType::kRegression;
  if (mode == "classification") return TaskType::kClassification;
  throw Error("unknown mode '" + mode + "' for " + std::string(method) + " (expected regression or classification)");
}

}  // namespace

std::string_view to_string(ReuseMethod method) {
  switch (method) {
    case ReuseMethod::kAveraging: return "averaging";
    case ReuseMethod::kJobSelector: return "job-selector";
    case ReuseMethod::kEnsemblePruning: return "ensemble-pruning";
    case ReuseMethod::kFeatureAugment: return "feature-augment";
  }
  return "?";
}

std::unique_ptr<Reuser> make_reuser(std::vector<Learnware> learnwares, const ReuserRequest& request) {
  const std::string method(to_string(request.method));
  const LearnwareListShape shape =
      check_learnware_list(learnwares, method, request.method != ReuseMethod::kFeatureAugment);
  switch (request.method) {
    case ReuseMethod::kAveraging: {
      const AveragingMode mode =
          request.mode.empty() ? default_averaging_mode(shape.task) : parse_averaging_mode(request.mode);
      return std::make_unique<AveragingReuser>(std::move(learnwares), mode);
    }
    case ReuseMethod::kJobSelector:
      if (!request.mode.empty()) throw Error("job-selector has no modes (got '" + request.mode + "')");
      return std::make_unique<JobSelectorReuser>(std::move(learnwares), request.ctx);
    case ReuseMethod::kEnsemblePruning: {
      const TaskType task = task_mode(method, request.mode, shape.task);
      if (task != shape.task) {
        throw Error("ensemble-pruning mode " + request.mode + " does not fit the learnwares, which are " +
                    std::string(to_string(shape.task)) + " models");
      }
      return std::make_unique<EnsemblePruningReuser>(std::move(learnwares), request.ctx);
    }
    case ReuseMethod::kFeatureAugment: {
      const TaskType task = task_mode(method, request.mode, shape.task);
      std::int64_t num_classes = 0;
      if (task == TaskType::kClassification) {
        num_classes = request.num_classes;
        if (num_classes == 0 && shape.task == TaskType::kClassification) num_classes = shape.output_dim;
        if (num_classes == 0) throw Error("feature-augment classification needs the number of classes");
      }
      return std::make_unique<FeatureAugmentReuser>(std::move(learnwares), task, num_classes, request.ctx);
    }
  }
  throw Error("unknown reuse method");
}

}  // namespace lwd
