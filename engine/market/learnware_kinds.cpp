#include "engine/market/learnware_kinds.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/image/image_classifier.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/text/rkme_text_spec.h"
#include "engine/text/text_model.h"

namespace lwd {

const std::vector<std::string>& learnware_model_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> out = model_kinds();
    for (const auto& kind : text_model_kinds()) out.push_back(kind);
    out.emplace_back(ImageMlpClassifier::kKind);
    return out;
  }();
  return kinds;
}

std::unique_ptr<Model> load_learnware_model(const ModelConfig& config, const std::filesystem::path& package_root) {
  const auto& text = text_model_kinds();
  if (std::find(text.begin(), text.end(), config.kind) != text.end()) return load_text_model(config, package_root);
  if (config.kind == ImageMlpClassifier::kKind) return load_image_model(config, package_root);
  const auto& numeric = model_kinds();
  if (std::find(numeric.begin(), numeric.end(), config.kind) != numeric.end()) return load_model(config, package_root);
  std::string known;
  for (const auto& kind : learnware_model_kinds()) known += (known.empty() ? "\"" : ", \"") + kind + "\"";
  throw Error("unknown model kind \"" + config.kind + "\" (known kinds: " + known + ")");
}

const std::vector<std::string_view>& stat_spec_types() {
  static const std::vector<std::string_view> types = {RKMETableSpec::kTypeName, RKMETextSpec::kTypeName,
                                                      RKMEImageSpec::kTypeName};
  return types;
}

}  // namespace lwd
