// The engine's JSON schema: what the command line prints with --json and what
// the dock service will send and accept. One function per direction and type,
// so every front end speaks the same documents (docs/DESIGN.md §6.5 lists them).
//
//   search request   {"spec": <spec JSON of any kind> | null,
//                     "semantic": <semantic spec JSON> | null,
//                     "options": {"max_search_num": 5, "mixture_method": "greedy" | "auto",
//                                 "greedy_decay": 0.95 (in (0, 1]),
//                                 "image_score": "mmd" | "reference"}}     (every key optional)
//   search response  {"candidates": n, "semantic_matches": n,
//                     "single": [{"id", "score", "mmd2"}...],   score/mmd2 null for a
//                                                                 semantic-only search
//                     "mixture": {"ids", "weights", "score", "mmd2"} | null}
//                    counts and scores a search method does not know are null
//   learnware record {"id", "name", "owner", "status", "reason", "package", "spec_keys",
//                     "created_at", "updated_at"}
//   add result       {"id", "status", "reason", "nearest": [{"id", "mmd2", "same_semantic"}...]}
//   reuse result     {"method", "mode", "learnwares": [id...], "task": "regression" | "classification",
//                     "predictions": [[...]...]}
//
// The from_json readers treat their input as hostile: a wrong type, an
// unknown key or an out-of-range value is an lwd::Error naming `source` and
// the field, never a JSON library exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/market/market.h"
#include "engine/model/model.h"
#include "engine/store/learnware_index.h"
#include "kernels/matrix.h"

namespace lwd {

nlohmann::json to_json(const SearchRequest& request);
SearchRequest search_request_from_json(const nlohmann::json& in, std::string_view source);

// `with_stat` false: the search had no statistical spec, so the semantic
// matches are the singles (with null scores).
nlohmann::json to_json(const SearchResponse& response, bool with_stat);
SearchResponse search_response_from_json(const nlohmann::json& in, std::string_view source);

nlohmann::json to_json(const LearnwareRecord& record);
LearnwareRecord learnware_record_from_json(const nlohmann::json& in, std::string_view source);

nlohmann::json to_json(const AddResult& result);
AddResult add_result_from_json(const nlohmann::json& in, std::string_view source);

// What a reuse produced: the predictions for the user's rows and how.
struct ReuseResult {
  std::string method;                    // registry key, e.g. "job-selector"
  std::string mode;                      // empty: the method's default
  std::vector<std::string> learnwares;   // ids, in the order reused
  TaskType task = TaskType::kRegression;
  kernels::Matrix<double> predictions;   // rows x outputs (classification: class scores)
};
nlohmann::json to_json(const ReuseResult& result);
ReuseResult reuse_result_from_json(const nlohmann::json& in, std::string_view source);

}  // namespace lwd
