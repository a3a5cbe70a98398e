#include "engine/market/checker.h"

#include <cmath>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_text.h"
#include "engine/kinds/model_kinds.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/model/model.h"

namespace lwd {

namespace {

CheckResult verdict(LearnwareStatus status, std::string reason) { return CheckResult{status, std::move(reason)}; }

// The check runs in a staging folder that is gone by the time anyone reads a
// reason (it is stored with the learnware and printed by `market add`), and
// whose path says nothing about the package: messages from the loaders name
// files by their staged path, so every spelling of the folder (as given, and
// canonical, as the sandbox reports it) becomes "<package>".
std::string in_package_terms(std::string text, const StagedPackage& package) {
  std::vector<std::string> spellings = {package.root().string()};
  std::error_code ec;
  const auto canonical = std::filesystem::canonical(package.root(), ec);
  if (!ec && canonical.string() != spellings.front()) spellings.push_back(canonical.string());
  for (const std::string& root : spellings) {
    if (root.empty() || root == "/") continue;
    for (auto at = text.find(root); at != std::string::npos; at = text.find(root, at + 9))
      text.replace(at, root.size(), "<package>");
  }
  return text;
}

}  // namespace

const StatSpec* LoadedSubmission::find(const SpecKind& kind) const {
  for (const StatSpec& s : stat_specs)
    if (&s.kind() == &kind) return &s;
  return nullptr;
}

LoadedSubmission load_submission(const StagedPackage& package, const SpecLimits& limits) {
  LoadedSubmission out;
  const Manifest& manifest = package.manifest();
  try {
    out.semantic_json = io::read_text_file_limited(package.path_of(manifest.semantic_file),
                                                   limits.max_semantic_file_bytes, "a semantic specification");
    out.semantic = SemanticSpec::parse(out.semantic_json, manifest.semantic_file, limits.semantic_json());
    for (const auto& [field, features] : {std::pair{"Input", &out.semantic->input}, std::pair{"Output", &out.semantic->output}}) {
      if (*features && (*features)->dimension > limits.max_dim) {
        throw Error("semantic specification " + manifest.semantic_file + ": \"" + field + ".Dimension\" = " +
                    std::to_string((*features)->dimension) + " is more than the limit of " +
                    std::to_string(limits.max_dim));
      }
    }
  } catch (const Error& e) {
    out.problems.push_back(in_package_terms(e.what(), package));
  }
  const auto paths = package.stat_spec_paths();
  for (std::size_t i = 0; i < manifest.stat_specs.size(); ++i) {
    const auto& entry = manifest.stat_specs[i];
    try {
      const SpecKind* kind = find_spec_kind(entry.type);
      if (kind == nullptr) {
        out.problems.push_back("stat spec " + entry.file + ": type '" + io::excerpt(entry.type) +
                               "' is not supported (supported: " + spec_kind_list(", ") + ")");
        continue;
      }
      if (out.find(*kind) != nullptr) throw Error("stat spec " + entry.file + ": a second " + entry.type);
      StatSpec spec = load_stat_spec(paths[i], *kind, limits);
      if (const auto packed = kind->packed(spec)) out.specs.emplace_back(packed->pack_type, *packed->rkme);
      out.stat_specs.push_back(std::move(spec));
    } catch (const std::exception& e) {
      out.problems.push_back(in_package_terms(e.what(), package));
    }
  }
  return out;
}

namespace {

std::optional<CheckResult> check_output(const kernels::Matrix<double>& out, std::int64_t rows,
                                        std::int64_t output_dim) {
  using enum LearnwareStatus;
  if (out.rows() != rows) {
    return verdict(not_usable,
                   "the model returned " + std::to_string(out.rows()) + " rows for " + std::to_string(rows) + " inputs");
  }
  if (out.cols() != output_dim) {
    return verdict(not_usable, "the model returned " + std::to_string(out.cols()) +
                                   " columns, its manifest declares " + std::to_string(output_dim));
  }
  for (double v : out.values()) {
    if (!std::isfinite(v)) return verdict(not_usable, "the model returned a non-finite prediction");
  }
  return std::nullopt;
}

}  // namespace

namespace {

CheckResult check_staged(const kernels::Context& ctx, const StagedPackage& package, const LoadedSubmission& submission,
                         const CheckerOptions& options) {
  using enum LearnwareStatus;
  if (!submission.problems.empty()) return verdict(invalid, submission.problems.front());
  if (!submission.semantic) return verdict(invalid, "semantic specification missing");
  if (auto reason = check_semantic_spec(*submission.semantic)) return verdict(invalid, "semantic specification: " + *reason);
  if (submission.stat_specs.empty()) return verdict(invalid, "no statistical specification");

  const SemanticSpec& semantic = *submission.semantic;
  ModelConfig config = package.manifest().model;
  config.sandbox = options.sandbox;
  const std::string data = semantic.first("Data");
  const SpecKind& kind = spec_kind_for_data(data);
  const StatSpec* spec = submission.find(kind);
  if (spec == nullptr) {
    return verdict(invalid, "semantic Data '" + data + "' needs a statistical specification of type " +
                                std::string(kind.type_name()));
  }
  if (auto reason = kind.mismatch(*spec, semantic, config)) return verdict(invalid, *reason);
  const std::string task = semantic.first("Task");
  if ((task == "Regression" || task == "Classification") && semantic.output->dimension != config.output_dim) {
    return verdict(invalid, "semantic Output.Dimension " + std::to_string(semantic.output->dimension) +
                                " differs from the model's output_dim " + std::to_string(config.output_dim));
  }
  if ((task == "Classification") != (config.task == TaskType::kClassification)) {
    return verdict(invalid, "semantic Task '" + task + "' disagrees with the model's task '" +
                                std::string(to_string(config.task)) + "'");
  }

  double self = 0.0;
  try {
    self = kind.inner_product(*spec, *spec, ctx);
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("cannot evaluate the statistical specification: ") + e.what());
  }
  if (!std::isfinite(self)) return verdict(not_usable, "<spec, spec> is not finite");

  std::unique_ptr<Model> model;
  try {
    model = load_learnware_model(config, package.root());
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("the model does not load: ") + e.what());
  }
  ProbeOutcome probe;
  try {
    probe = kind.probe(*spec, *model, config, ProbeSettings{options.probe_rows, options.probe_seed}, ctx);
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("prediction failed: ") + e.what());
  }
  if (probe.verdict) return *probe.verdict;
  if (auto bad = check_output(probe.predictions, probe.rows, config.output_dim)) return *bad;
  return verdict(usable, "");
}

}  // namespace

CheckResult check_learnware(const kernels::Context& ctx, const StagedPackage& package,
                            const LoadedSubmission& submission, const CheckerOptions& options) {
  CheckResult result = check_staged(ctx, package, submission, options);
  result.reason = in_package_terms(std::move(result.reason), package);
  return result;
}

}  // namespace lwd
