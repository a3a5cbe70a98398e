#include "engine/kinds/model_kinds.h"

#include "engine/error.h"
#include "engine/image/image_classifier.h"
#include "engine/model/linear_model.h"
#include "engine/model/process_model.h"
#include "engine/model/xgboost_model.h"
#include "engine/text/naive_bayes_model.h"
#include "engine/text/text_model.h"

namespace lwd {

// The one list of model kinds. A new kind: its Model and loader in its own
// module, one line here.
const std::vector<ModelKind>& registered_model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {std::string(XGBoostModel::kKind), load_model},
      {std::string(LinearModel::kKind), load_model},
      {std::string(ProcessModel::kKind), load_model},
      {std::string(NaiveBayesTextModel::kKind), load_text_model},
      {std::string(ImageMlpClassifier::kKind), load_image_model},
  };
  return kinds;
}

const std::vector<std::string>& learnware_model_kinds() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ModelKind& kind : registered_model_kinds()) out.push_back(kind.name);
    return out;
  }();
  return names;
}

std::unique_ptr<Model> load_learnware_model(const ModelConfig& config, const std::filesystem::path& package_root) {
  for (const ModelKind& kind : registered_model_kinds())
    if (kind.name == config.kind) return kind.load(config, package_root);
  std::string known;
  for (const auto& name : learnware_model_kinds()) known += (known.empty() ? "\"" : ", \"") + name + "\"";
  throw Error("unknown model kind \"" + config.kind + "\" (known kinds: " + known + ")");
}

}  // namespace lwd
