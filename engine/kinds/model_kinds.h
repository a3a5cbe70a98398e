// The model kinds a learnware may carry, registered once (model_kinds.cpp):
// the numeric kinds of engine/model (xgboost, linear, process), the text
// kind (tfidf_naive_bayes) and the image kind (image_mlp). The checker and
// every learnware loader go through load_learnware_model.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"

namespace lwd {

struct ModelKind {
  std::string name;  // the manifest's model.kind
  std::function<std::unique_ptr<Model>(const ModelConfig&, const std::filesystem::path& package_root)> load;
};

// Every kind, in registration order.
const std::vector<ModelKind>& registered_model_kinds();
// Their names, in the same order.
const std::vector<std::string>& learnware_model_kinds();

// Loads a model of any registered kind. Throws lwd::Error on an unknown kind
// (listing every known one) or whatever the kind's loader refuses.
std::unique_ptr<Model> load_learnware_model(const ModelConfig& config, const std::filesystem::path& package_root);

}  // namespace lwd
