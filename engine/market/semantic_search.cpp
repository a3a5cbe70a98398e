#include "engine/market/semantic_search.h"

#include <algorithm>
#include <cctype>

namespace lwd {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool semantic_tags_match(const SemanticSpec& user, const SemanticSpec& learnware) {
  for (const auto& vocab : semantic_vocabularies()) {
    if (vocab.type == SemanticFieldType::kString) continue;
    const auto& wanted = user.values(vocab.key);
    if (wanted.empty()) continue;
    const auto& have = learnware.values(vocab.key);
    if (have.empty()) return false;
    if (vocab.type == SemanticFieldType::kClass) {
      if (std::find(wanted.begin(), wanted.end(), have.front()) == wanted.end()) return false;
    } else {
      const bool intersect = std::any_of(have.begin(), have.end(), [&](const std::string& v) {
        return std::find(wanted.begin(), wanted.end(), v) != wanted.end();
      });
      if (!intersect) return false;
    }
  }
  return true;
}

std::vector<std::string> semantic_search(const SemanticSpec& user, const std::vector<SemanticCandidate>& candidates,
                                         const SemanticSearchOptions& options) {
  std::vector<const SemanticCandidate*> tagged;
  for (const auto& c : candidates)
    if (semantic_tags_match(user, *c.spec)) tagged.push_back(&c);

  std::vector<std::string> out;
  const std::string name = lower(user.name);
  if (name.empty()) {
    for (const auto* c : tagged) out.push_back(c->id);
    return out;
  }
  for (const auto* c : tagged) {
    if (lower(c->spec->name).find(name) != std::string::npos ||
        lower(c->spec->description).find(name) != std::string::npos) {
      out.push_back(c->id);
    }
  }
  if (!out.empty()) return out;

  std::vector<std::pair<double, const SemanticCandidate*>> fuzzy;
  for (const auto* c : tagged) {
    const double score = std::max(fuzzy_partial_ratio(name, lower(c->spec->name)),
                                  fuzzy_partial_ratio(name, lower(c->spec->description)));
    if (score >= options.min_fuzzy_score) fuzzy.emplace_back(score, c);
  }
  std::stable_sort(fuzzy.begin(), fuzzy.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [score, c] : fuzzy) out.push_back(c->id);
  return out;
}

}  // namespace lwd
