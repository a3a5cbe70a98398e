#include "engine/reuse/learnware.h"

#include <cmath>
#include <set>
#include <utility>

#include "engine/error.h"
#include "engine/market/checker.h"
#include "engine/kinds/model_kinds.h"
#include "engine/market/market.h"

namespace lwd {
namespace {

// Owns a model together with the package it was loaded from. Members are
// destroyed in reverse order, so the model (which may hold a process running
// from the package) goes before the staging directory is removed.
struct ModelWithPackage {
  std::shared_ptr<const StagedPackage> package;
  std::unique_ptr<Model> model;
};

std::string shape_text(std::int64_t rows, std::int64_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

}  // namespace

kernels::Matrix<double> Learnware::predict(kernels::ConstMatrixView<double> x) const {
  if (x.cols != input_dim()) {
    throw Error("learnware " + id + " takes " + std::to_string(input_dim()) + " feature(s) but the data has " +
                std::to_string(x.cols) + " column(s)");
  }
  kernels::Matrix<double> out;
  try {
    out = model->predict(x);
  } catch (const Error& e) {
    throw Error("learnware " + id + ": " + e.what());
  }
  if (out.rows() != x.rows || out.cols() != output_dim()) {
    throw Error("learnware " + id + " returned predictions of shape " + shape_text(out.rows(), out.cols()) +
                ", expected " + shape_text(x.rows, output_dim()));
  }
  for (std::int64_t i = 0; i < out.rows(); ++i)
    for (std::int64_t j = 0; j < out.cols(); ++j)
      if (!std::isfinite(out(i, j)))
        throw Error("learnware " + id + " returned a non-finite prediction at row " + std::to_string(i) +
                    ", column " + std::to_string(j));
  return out;
}

Learnware make_learnware(std::string id, std::shared_ptr<const Model> model, RKMETableSpec spec,
                         std::optional<SemanticSpec> semantic) {
  if (!model) throw Error("learnware " + id + " has no model");
  if (spec.empty()) throw Error("learnware " + id + " has an empty RKME specification");
  if (spec.dim() != model->input_dim()) {
    throw Error("learnware " + id + ": RKME width " + std::to_string(spec.dim()) + " differs from the model's input_dim " +
                std::to_string(model->input_dim()));
  }
  Learnware lw;
  lw.id = std::move(id);
  lw.model = std::move(model);
  lw.spec = std::move(spec);
  lw.semantic = std::move(semantic);
  return lw;
}

Learnware load_learnware(const Market& market, const std::string& id, const PackageLimits& limits) {
  const auto record = market.get(id);
  if (!record) throw Error("no learnware with id '" + id + "' in the market at " + market.store().dir().string());
  if (record->status != LearnwareStatus::usable) {
    throw Error("learnware " + id + " is " + std::string(to_string(record->status)) +
                (record->status_reason.empty() ? std::string() : " (" + record->status_reason + ")") +
                "; only usable learnwares can be reused");
  }
  auto package = std::make_shared<const StagedPackage>(StagedPackage::open(market.store().package_path(id), limits));
  LoadedSubmission submission = load_submission(*package);
  if (submission.stat_specs.empty()) {
    throw Error("learnware " + id + " has no statistical specification");
  }

  auto holder = std::make_shared<ModelWithPackage>();
  holder->package = package;
  try {
    ModelConfig config = package->manifest().model;
    config.sandbox = market.sandbox_limits();
    holder->model = load_learnware_model(config, package->root());
  } catch (const Error& e) {
    throw Error("learnware " + id + ": " + e.what());
  }
  std::shared_ptr<const Model> model(holder, holder->model.get());
  Learnware lw;
  if (const auto* table = submission.spec<RKMETableSpec>()) {
    lw = make_learnware(id, std::move(model), *table, std::move(submission.semantic));
  } else {
    // Text and image specs live in another space than the model's input.
    lw.id = id;
    lw.model = std::move(model);
    lw.semantic = std::move(submission.semantic);
    if (const auto* text = submission.spec<RKMETextSpec>()) {
      lw.spec = text->rkme();
      lw.text_spec = *text;
    }
    if (const auto* image = submission.spec<RKMEImageSpec>()) lw.image_spec = *image;
  }
  lw.package = std::move(package);
  return lw;
}

std::vector<Learnware> load_learnwares(const Market& market, std::span<const std::string> ids,
                                       const PackageLimits& limits) {
  if (ids.empty()) throw Error("the learnware list is empty; give at least one learnware id");
  std::set<std::string> seen;
  for (const auto& id : ids)
    if (!seen.insert(id).second) throw Error("learnware " + id + " is listed twice");
  std::vector<Learnware> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(load_learnware(market, id, limits));
  return out;
}

}  // namespace lwd
