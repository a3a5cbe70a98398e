#include "engine/market/checker.h"

#include <cmath>
#include <exception>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/model/model.h"
#include "kernels/error.h"

namespace lwd {

namespace {

CheckResult verdict(LearnwareStatus status, std::string reason) { return CheckResult{status, std::move(reason)}; }

}  // namespace

LoadedSubmission load_submission(const StagedPackage& package) {
  LoadedSubmission out;
  const Manifest& manifest = package.manifest();
  try {
    out.semantic_json = package.semantic_json_text();
    out.semantic = SemanticSpec::parse(out.semantic_json, manifest.semantic_file);
  } catch (const Error& e) {
    out.problems.push_back(e.what());
  }
  const auto paths = package.stat_spec_paths();
  for (std::size_t i = 0; i < manifest.stat_specs.size(); ++i) {
    const auto& entry = manifest.stat_specs[i];
    if (entry.type != RKMETableSpec::kTypeName) {
      out.problems.push_back("stat spec " + entry.file + ": type '" + entry.type + "' is not supported (supported: " +
                             std::string(RKMETableSpec::kTypeName) + ")");
      continue;
    }
    try {
      out.specs.emplace_back(entry.type, RKMETableSpec::load(paths[i]));
    } catch (const std::exception& e) {
      out.problems.push_back(e.what());
    }
  }
  return out;
}

CheckResult check_learnware(const kernels::Context& ctx, const StagedPackage& package,
                            const LoadedSubmission& submission, const CheckerOptions& options) {
  using enum LearnwareStatus;
  if (!submission.problems.empty()) return verdict(invalid, submission.problems.front());
  if (!submission.semantic) return verdict(invalid, "semantic specification missing");
  if (auto reason = check_semantic_spec(*submission.semantic)) return verdict(invalid, "semantic specification: " + *reason);
  if (submission.specs.empty()) return verdict(invalid, "no statistical specification");

  const SemanticSpec& semantic = *submission.semantic;
  const ModelConfig& config = package.manifest().model;
  const RKMETableSpec& spec = submission.specs.front().second;
  if (semantic.first("Data") == "Table") {
    if (semantic.input->dimension != config.input_dim) {
      return verdict(invalid, "semantic Input.Dimension " + std::to_string(semantic.input->dimension) +
                                  " differs from the model's input_dim " + std::to_string(config.input_dim));
    }
    if (spec.dim() != config.input_dim) {
      return verdict(invalid, "the statistical specification has Z width " + std::to_string(spec.dim()) +
                                  " but the model takes " + std::to_string(config.input_dim) + " columns");
    }
  }
  const std::string task = semantic.first("Task");
  if ((task == "Regression" || task == "Classification") && semantic.output->dimension != config.output_dim) {
    return verdict(invalid, "semantic Output.Dimension " + std::to_string(semantic.output->dimension) +
                                " differs from the model's output_dim " + std::to_string(config.output_dim));
  }
  if ((task == "Classification") != (config.task == TaskType::kClassification)) {
    return verdict(invalid, "semantic Task '" + task + "' disagrees with the model's task '" +
                                std::string(to_string(config.task)) + "'");
  }

  const double self = spec.dist(spec, ctx);
  if (!std::isfinite(self)) return verdict(not_usable, "MMD²(spec, spec) is not finite");

  std::unique_ptr<Model> model;
  try {
    model = load_model(config, package.root());
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("the model does not load: ") + e.what());
  }
  if (model->input_dim() != spec.dim()) {
    return verdict(invalid, "the model takes " + std::to_string(model->input_dim()) + " columns but its spec has " +
                                std::to_string(spec.dim()));
  }
  kernels::Matrix<double> probe;
  try {
    probe = spec.herding(options.probe_rows, ctx);
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("cannot sample from the statistical specification: ") + e.what());
  }
  kernels::Matrix<double> out;
  try {
    out = model->predict(probe.view());
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("prediction failed: ") + e.what());
  }
  if (out.rows() != probe.rows()) {
    return verdict(not_usable, "the model returned " + std::to_string(out.rows()) + " rows for " +
                                   std::to_string(probe.rows()) + " inputs");
  }
  if (out.cols() != config.output_dim) {
    return verdict(not_usable, "the model returned " + std::to_string(out.cols()) + " columns, its manifest declares " +
                                   std::to_string(config.output_dim));
  }
  for (double v : out.values()) {
    if (!std::isfinite(v)) return verdict(not_usable, "the model returned a non-finite prediction");
  }
  return verdict(usable, "");
}

}  // namespace lwd
