#include "engine/market/checker.h"

#include <cmath>
#include <exception>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/learnware_kinds.h"
#include "engine/model/model.h"
#include "engine/text/text_model.h"
#include "kernels/random.h"
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
    try {
      if (entry.type == RKMETableSpec::kTypeName) {
        if (out.table) throw Error("stat spec " + entry.file + ": a second " + entry.type);
        out.table = RKMETableSpec::load(paths[i]);
        out.specs.emplace_back(entry.type, *out.table);
      } else if (entry.type == RKMETextSpec::kTypeName) {
        if (out.text) throw Error("stat spec " + entry.file + ": a second " + entry.type);
        out.text = RKMETextSpec::load(paths[i]);
        out.specs.emplace_back(out.text->pack_type(), out.text->rkme());
      } else if (entry.type == RKMEImageSpec::kTypeName) {
        if (out.image) throw Error("stat spec " + entry.file + ": a second " + entry.type);
        out.image = RKMEImageSpec::load(paths[i]);
      } else {
        std::string supported;
        for (auto type : stat_spec_types()) supported += (supported.empty() ? "" : ", ") + std::string(type);
        out.problems.push_back("stat spec " + entry.file + ": type '" + entry.type +
                               "' is not supported (supported: " + supported + ")");
      }
    } catch (const std::exception& e) {
      out.problems.push_back(e.what());
    }
  }
  return out;
}

namespace {

// Uniform random pixels in [0, 255]: inputs an image model must survive.
kernels::Matrix<double> random_image_rows(std::int64_t rows, std::int64_t width, std::uint64_t seed) {
  kernels::Matrix<double> out(rows, width);
  kernels::Rng rng(seed);
  for (double& v : out.values()) v = std::floor(rng.uniform() * 256.0);
  return out;
}

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

CheckResult check_learnware(const kernels::Context& ctx, const StagedPackage& package,
                            const LoadedSubmission& submission, const CheckerOptions& options) {
  using enum LearnwareStatus;
  if (!submission.problems.empty()) return verdict(invalid, submission.problems.front());
  if (!submission.semantic) return verdict(invalid, "semantic specification missing");
  if (auto reason = check_semantic_spec(*submission.semantic)) return verdict(invalid, "semantic specification: " + *reason);
  if (!submission.table && !submission.text && !submission.image) return verdict(invalid, "no statistical specification");

  const SemanticSpec& semantic = *submission.semantic;
  const ModelConfig& config = package.manifest().model;
  const std::string data = semantic.first("Data");
  const bool is_text = data == "Text";
  const bool is_image = data == "Image";
  const std::string_view wanted_type =
      is_text ? RKMETextSpec::kTypeName : is_image ? RKMEImageSpec::kTypeName : RKMETableSpec::kTypeName;
  if ((is_text && !submission.text) || (is_image && !submission.image) || (!is_text && !is_image && !submission.table)) {
    return verdict(invalid, "semantic Data '" + data + "' needs a statistical specification of type " +
                                std::string(wanted_type));
  }
  if (!is_text && !is_image) {
    const RKMETableSpec& spec = *submission.table;
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

  double self = 0.0;
  try {
    self = is_text ? submission.text->inner_product(*submission.text, ctx)
           : is_image ? submission.image->inner_product(*submission.image, ctx)
                      : submission.table->inner_product(*submission.table, ctx);
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
  kernels::Matrix<double> out;
  std::int64_t probe_rows = options.probe_rows;
  try {
    if (is_text) {
      const TextModel* text_model = as_text_model(*model);
      if (text_model == nullptr) {
        return verdict(invalid, "semantic Data 'Text' but model kind '" + config.kind + "' does not take text");
      }
      out = text_model->predict_text(text_probe_documents(probe_rows, options.probe_seed));
    } else if (is_image) {
      out = model->predict(random_image_rows(probe_rows, model->input_dim(), options.probe_seed).view());
    } else {
      const RKMETableSpec& spec = *submission.table;
      if (model->input_dim() != spec.dim()) {
        return verdict(invalid, "the model takes " + std::to_string(model->input_dim()) +
                                    " columns but its spec has " + std::to_string(spec.dim()));
      }
      kernels::Matrix<double> probe;
      try {
        probe = spec.herding(options.probe_rows, ctx);
      } catch (const std::exception& e) {
        return verdict(not_usable, std::string("cannot sample from the statistical specification: ") + e.what());
      }
      probe_rows = probe.rows();
      out = model->predict(probe.view());
    }
  } catch (const std::exception& e) {
    return verdict(not_usable, std::string("prediction failed: ") + e.what());
  }
  if (auto bad = check_output(out, probe_rows, config.output_dim)) return *bad;
  return verdict(usable, "");
}

}  // namespace lwd
