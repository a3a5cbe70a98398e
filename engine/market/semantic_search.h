// Semantic search (docs/DESIGN.md §4.4): which learnwares agree with the tags and the
// name a user asked for. A learnware matches when every non-empty Class/Tag
// field of the user agrees: Class -- the learnware's value is among the user's
// values; Tag -- the two value sets intersect. Then, if the user gave a name:
// learnwares whose name or description contains it (case-insensitively), or,
// when none does, those whose fuzzy partial ratio to it is at least 75, best
// first.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/semantic/semantic_spec.h"

namespace lwd {

struct SemanticSearchOptions {
  double min_fuzzy_score = 75.0;  // partial ratio, 0..100
};

struct SemanticCandidate {
  std::string id;
  const SemanticSpec* spec = nullptr;
};

// Whether the learnware's tags agree with every non-empty user field.
bool semantic_tags_match(const SemanticSpec& user, const SemanticSpec& learnware);

// The ids of the matching candidates: in the given order for tag-only and exact
// name matches, by descending fuzzy score for fuzzy matches.
std::vector<std::string> semantic_search(const SemanticSpec& user, const std::vector<SemanticCandidate>& candidates,
                                         const SemanticSearchOptions& options = {});

}  // namespace lwd
