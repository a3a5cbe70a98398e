// Every model kind and statistical specification type a learnware may carry,
// in one place. engine/model knows the kinds that need nothing but numbers
// (xgboost, linear, process); the text and image kinds live in their own
// modules, which depend on engine/model, so the dispatch over all of them sits
// here, above both.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"

namespace lwd {

// model_kinds() + text_model_kinds() + "image_mlp".
const std::vector<std::string>& learnware_model_kinds();

// Loads any kind (load_model, load_text_model or load_image_model). Throws
// lwd::Error on an unknown kind (listing every known one) or whatever the
// kind's loader refuses.
std::unique_ptr<Model> load_learnware_model(const ModelConfig& config, const std::filesystem::path& package_root);

// The statistical specification types a package may declare.
const std::vector<std::string_view>& stat_spec_types();

}  // namespace lwd
