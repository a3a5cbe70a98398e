// A learnware as reuse sees it: the model (ready to predict), its RKME table
// specification, its semantic specification, and the staged package the model
// runs from. Users get learnwares back from a search as ids; load_learnwares
// turns ids into these values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/package/package.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/text/rkme_text_spec.h"
#include "kernels/matrix.h"

namespace lwd {

class Market;

struct Learnware {
  std::string id;
  // The staged package the model was loaded from; null for a learnware built
  // in memory. The model keeps its own share of it (a process model runs its
  // command from the staging directory), so copying a model pointer out of a
  // Learnware is safe.
  std::shared_ptr<const StagedPackage> package;
  std::shared_ptr<const Model> model;
  // The RKME in the space reuse compares learnwares in: a table learnware's
  // own spec (the model's input space); a text learnware's RKME of sentence
  // embeddings (text_spec's), not of the model's bag-of-words input; empty for
  // an image learnware (image_spec is its specification).
  RKMETableSpec spec;
  std::optional<RKMETextSpec> text_spec;
  std::optional<RKMEImageSpec> image_spec;
  std::optional<SemanticSpec> semantic;

  TaskType task() const { return model->task(); }
  std::int64_t input_dim() const { return model->input_dim(); }
  std::int64_t output_dim() const { return model->output_dim(); }

  // model->predict(x), checked: x must have input_dim() columns and the result
  // must be x.rows x output_dim() and finite. Every failure is an lwd::Error
  // naming the learnware.
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const;
};

// Builds an in-memory learnware (tests, benchmarks, scenario runners that
// train their own models). Throws lwd::Error when the spec's width differs
// from the model's input width or the model is null.
Learnware make_learnware(std::string id, std::shared_ptr<const Model> model, RKMETableSpec spec,
                         std::optional<SemanticSpec> semantic = std::nullopt);

// Stages learnware `id`'s package from the market and loads its model and
// specifications (any model kind: tables, text, images). Throws lwd::Error for
// an unknown id, a learnware that is not usable (naming its status and the
// checker's reason), a package without a statistical specification, or a model
// that fails to load.
Learnware load_learnware(const Market& market, const std::string& id, const PackageLimits& limits = {});

// load_learnware for each id, in the order given. An empty list or an id
// listed twice is an lwd::Error.
std::vector<Learnware> load_learnwares(const Market& market, std::span<const std::string> ids,
                                       const PackageLimits& limits = {});

}  // namespace lwd
