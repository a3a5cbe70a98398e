#include "engine/api/json_api.h"

#include <cmath>
#include <initializer_list>
#include <limits>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"

namespace lwd {
namespace {

using nlohmann::json;

// ---- reading hostile JSON --------------------------------------------------------

[[noreturn]] void fail(std::string_view source, const std::string& field, const std::string& what) {
  throw Error(std::string(source) + ": " + (field.empty() ? std::string() : "field '" + field + "' ") + what);
}

std::string type_word(const json& v) { return v.type_name(); }

const json& require_object(const json& in, std::string_view source, const std::string& field,
                           std::initializer_list<std::string_view> keys) {
  if (!in.is_object()) fail(source, field, "must be an object, found " + type_word(in));
  for (const auto& [key, value] : in.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || key == k;
    if (!known) {
      std::string list;
      for (std::string_view k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(source, field.empty() ? key : field + "." + key, "is not known (known: " + list + ")");
    }
  }
  return in;
}

std::string path_of(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

const json* optional_field(const json& obj, std::string_view key) {
  const auto it = obj.find(std::string(key));
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const json& required_field(const json& obj, std::string_view source, const std::string& parent, std::string_view key) {
  const auto it = obj.find(std::string(key));
  if (it == obj.end()) fail(source, path_of(parent, key), "is missing");
  return *it;
}

std::string read_string(const json& v, std::string_view source, const std::string& field) {
  if (!v.is_string()) fail(source, field, "must be a string, found " + type_word(v));
  return v.get<std::string>();
}

std::int64_t read_integer(const json& v, std::string_view source, const std::string& field, std::int64_t min,
                          std::int64_t max) {
  if (!v.is_number_integer()) fail(source, field, "must be an integer, found " + type_word(v));
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
    fail(source, field, "must be at most " + std::to_string(max));
  const std::int64_t x = v.get<std::int64_t>();
  if (x < min || x > max)
    fail(source, field, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], found " +
                            std::to_string(x));
  return x;
}

double read_number(const json& v, std::string_view source, const std::string& field) {
  if (!v.is_number()) fail(source, field, "must be a number, found " + type_word(v));
  const double x = v.get<double>();
  if (!std::isfinite(x)) fail(source, field, "must be finite");
  return x;
}

std::vector<std::string> read_strings(const json& v, std::string_view source, const std::string& field) {
  if (!v.is_array()) fail(source, field, "must be an array of strings, found " + type_word(v));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(read_string(v[i], source, field + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<double> read_numbers(const json& v, std::string_view source, const std::string& field) {
  if (!v.is_array()) fail(source, field, "must be an array of numbers, found " + type_word(v));
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(read_number(v[i], source, field + "[" + std::to_string(i) + "]"));
  return out;
}

std::string_view mixture_word(MixtureMethod m) { return m == MixtureMethod::kAuto ? "auto" : "greedy"; }

LearnwareStatus read_status(const json& v, std::string_view source, const std::string& field) {
  const std::string word = read_string(v, source, field);
  try {
    return parse_learnware_status(word);
  } catch (const Error& e) {
    fail(source, field, e.what());
  }
}

}  // namespace

// ---- search request ----------------------------------------------------------------

json to_json(const SearchRequest& request) {
  json out;
  out["spec"] = request.spec ? request.spec.kind().to_json(request.spec) : json(nullptr);
  if (request.semantic) {
    json semantic;
    request.semantic->to_json(semantic);
    out["semantic"] = std::move(semantic);
  } else {
    out["semantic"] = nullptr;
  }
  out["options"] = {{"max_search_num", request.options.max_search_num},
                    {"mixture_method", mixture_word(request.options.method)},
                    {"greedy_decay", request.options.greedy_decay},
                    {"image_score", request.options.image_distance_transform ? "reference" : "mmd"}};
  return out;
}

SearchRequest search_request_from_json(const json& in, std::string_view source) {
  require_object(in, source, "", {"spec", "semantic", "options"});
  SearchRequest request;
  if (const json* spec = optional_field(in, "spec")) request.spec = parse_stat_spec(*spec, std::string(source) + ": spec");
  if (const json* semantic = optional_field(in, "semantic"))
    request.semantic = SemanticSpec::from_json(*semantic, std::string(source) + ": semantic");
  if (const json* options = optional_field(in, "options")) {
    require_object(*options, source, "options", {"max_search_num", "mixture_method", "greedy_decay", "image_score"});
    if (const json* max = optional_field(*options, "max_search_num"))
      request.options.max_search_num =
          static_cast<int>(read_integer(*max, source, "options.max_search_num", 1, 1000));
    if (const json* method = optional_field(*options, "mixture_method")) {
      const std::string word = read_string(*method, source, "options.mixture_method");
      if (word != "greedy" && word != "auto")
        fail(source, "options.mixture_method", "must be \"greedy\" or \"auto\", found \"" + word + "\"");
      request.options.method = word == "auto" ? MixtureMethod::kAuto : MixtureMethod::kGreedy;
    }
    if (const json* decay = optional_field(*options, "greedy_decay")) {
      const double d = read_number(*decay, source, "options.greedy_decay");
      if (!(d > 0.0 && d <= 1.0)) fail(source, "options.greedy_decay", "must be in (0, 1], found " + shortest_number(d));
      request.options.greedy_decay = d;
    }
    if (const json* score = optional_field(*options, "image_score")) {
      const std::string word = read_string(*score, source, "options.image_score");
      if (word != "mmd" && word != "reference")
        fail(source, "options.image_score", "must be \"mmd\" or \"reference\", found \"" + word + "\"");
      request.options.image_distance_transform = word == "reference";
    }
  }
  return request;
}

// ---- search response ---------------------------------------------------------------

namespace {
// A search method other than the market's may not know its counts and
// scores (-1, NaN): those are written as null.
json count_or_null(std::int64_t n) { return n < 0 ? json(nullptr) : json(n); }
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
}  // namespace

json to_json(const SearchResponse& r, bool with_stat) {
  json out;
  out["candidates"] = count_or_null(r.stat.candidates);
  out["semantic_matches"] = count_or_null(r.semantic_matches);
  json single = json::array();
  if (with_stat) {
    for (const auto& s : r.stat.singles)
      single.push_back(json{{"id", s.id}, {"score", number_or_null(s.score)}, {"mmd2", number_or_null(s.mmd2)}});
  } else {
    for (const auto& id : r.semantic_ids) single.push_back(json{{"id", id}, {"score", nullptr}, {"mmd2", nullptr}});
  }
  out["single"] = std::move(single);
  if (r.stat.mixture) {
    const auto& m = *r.stat.mixture;
    out["mixture"] =
        json{{"ids", m.ids}, {"weights", m.weights}, {"score", number_or_null(m.score)}, {"mmd2", number_or_null(m.mmd2)}};
  } else {
    out["mixture"] = nullptr;
  }
  return out;
}

SearchResponse search_response_from_json(const json& in, std::string_view source) {
  require_object(in, source, "", {"candidates", "semantic_matches", "single", "mixture"});
  SearchResponse r;
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const json& candidates = required_field(in, source, "", "candidates");
  const json& matches = required_field(in, source, "", "semantic_matches");
  r.stat.candidates = candidates.is_null() ? -1 : read_integer(candidates, source, "candidates", 0, max);
  r.semantic_matches = matches.is_null() ? -1 : read_integer(matches, source, "semantic_matches", 0, max);
  const json& single = required_field(in, source, "", "single");
  if (!single.is_array()) fail(source, "single", "must be an array, found " + type_word(single));
  bool semantic_only = !single.empty();
  for (std::size_t i = 0; i < single.size(); ++i) {
    const std::string field = "single[" + std::to_string(i) + "]";
    require_object(single[i], source, field, {"id", "score", "mmd2"});
    const std::string id = read_string(required_field(single[i], source, field, "id"), source, field + ".id");
    const json* score = optional_field(single[i], "score");
    const json* mmd2 = optional_field(single[i], "mmd2");
    if ((score == nullptr) != (mmd2 == nullptr)) fail(source, field, "has one of score and mmd2 but not the other");
    if (score == nullptr) {
      r.semantic_ids.push_back(id);
    } else {
      semantic_only = false;
      r.stat.singles.push_back(
          SingleMatch{id, read_number(*score, source, field + ".score"), read_number(*mmd2, source, field + ".mmd2")});
    }
  }
  if (!semantic_only && !r.semantic_ids.empty())
    fail(source, "single", "mixes entries with and without scores");
  if (const json* mixture = optional_field(in, "mixture")) {
    require_object(*mixture, source, "mixture", {"ids", "weights", "score", "mmd2"});
    MixtureMatch m;
    m.ids = read_strings(required_field(*mixture, source, "mixture", "ids"), source, "mixture.ids");
    m.weights = read_numbers(required_field(*mixture, source, "mixture", "weights"), source, "mixture.weights");
    if (m.ids.size() != m.weights.size()) fail(source, "mixture", "has " + std::to_string(m.ids.size()) +
                                                                     " ids but " + std::to_string(m.weights.size()) +
                                                                     " weights");
    const json& score = required_field(*mixture, source, "mixture", "score");
    const json& mmd2 = required_field(*mixture, source, "mixture", "mmd2");
    const double unknown = std::numeric_limits<double>::quiet_NaN();
    m.score = score.is_null() ? unknown : read_number(score, source, "mixture.score");
    m.mmd2 = mmd2.is_null() ? unknown : read_number(mmd2, source, "mixture.mmd2");
    r.stat.mixture = std::move(m);
  }
  return r;
}

// ---- learnware record, add result ----------------------------------------------------

json to_json(const LearnwareRecord& r) {
  return json{{"id", r.id},
              {"name", r.name},
              {"owner", r.owner},
              {"status", std::string(to_string(r.status))},
              {"reason", r.status_reason},
              {"package", r.package_path},
              {"spec_keys", r.spec_keys},
              {"created_at", r.created_at},
              {"updated_at", r.updated_at}};
}

LearnwareRecord learnware_record_from_json(const json& in, std::string_view source) {
  require_object(in, source, "",
                 {"id", "name", "owner", "status", "reason", "package", "spec_keys", "created_at", "updated_at",
                  "semantic"});
  LearnwareRecord r;
  r.id = read_string(required_field(in, source, "", "id"), source, "id");
  if (!is_valid_learnware_id(r.id)) fail(source, "id", "is not a valid learnware id (1..64 of [A-Za-z0-9_-])");
  r.name = read_string(required_field(in, source, "", "name"), source, "name");
  r.owner = read_string(required_field(in, source, "", "owner"), source, "owner");
  r.status = read_status(required_field(in, source, "", "status"), source, "status");
  r.status_reason = read_string(required_field(in, source, "", "reason"), source, "reason");
  r.package_path = read_string(required_field(in, source, "", "package"), source, "package");
  r.spec_keys = read_strings(required_field(in, source, "", "spec_keys"), source, "spec_keys");
  r.created_at = read_string(required_field(in, source, "", "created_at"), source, "created_at");
  r.updated_at = read_string(required_field(in, source, "", "updated_at"), source, "updated_at");
  return r;
}

json to_json(const AddResult& r) {
  json nearest = json::array();
  for (const NearLearnware& n : r.nearest)
    nearest.push_back({{"id", n.id}, {"mmd2", n.mmd2}, {"same_semantic", n.same_semantic}});
  return json{{"id", r.id}, {"status", std::string(to_string(r.status))}, {"reason", r.reason}, {"nearest", nearest}};
}

AddResult add_result_from_json(const json& in, std::string_view source) {
  require_object(in, source, "", {"id", "status", "reason", "nearest"});
  AddResult r;
  r.id = read_string(required_field(in, source, "", "id"), source, "id");
  r.status = read_status(required_field(in, source, "", "status"), source, "status");
  r.reason = read_string(required_field(in, source, "", "reason"), source, "reason");
  if (const json* list = optional_field(in, "nearest")) {
    if (!list->is_array()) fail(source, "nearest", "must be an array, found " + type_word(*list));
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string at = "nearest[" + std::to_string(i) + "]";
      const json& item = require_object((*list)[i], source, at, {"id", "mmd2", "same_semantic"});
      NearLearnware n;
      n.id = read_string(required_field(item, source, at, "id"), source, path_of(at, "id"));
      n.mmd2 = read_number(required_field(item, source, at, "mmd2"), source, path_of(at, "mmd2"));
      const json& same = required_field(item, source, at, "same_semantic");
      if (!same.is_boolean()) fail(source, path_of(at, "same_semantic"), "must be true or false, found " + type_word(same));
      n.same_semantic = same.get<bool>();
      r.nearest.push_back(std::move(n));
    }
  }
  return r;
}

// ---- reuse result ------------------------------------------------------------------

json to_json(const ReuseResult& r) {
  json rows = json::array();
  for (std::int64_t i = 0; i < r.predictions.rows(); ++i) {
    json row = json::array();
    for (std::int64_t j = 0; j < r.predictions.cols(); ++j) row.push_back(r.predictions(i, j));
    rows.push_back(std::move(row));
  }
  return json{{"method", r.method},
              {"mode", r.mode},
              {"learnwares", r.learnwares},
              {"task", std::string(to_string(r.task))},
              {"predictions", std::move(rows)}};
}

ReuseResult reuse_result_from_json(const json& in, std::string_view source) {
  require_object(in, source, "", {"method", "mode", "learnwares", "task", "predictions"});
  ReuseResult r;
  r.method = read_string(required_field(in, source, "", "method"), source, "method");
  r.mode = read_string(required_field(in, source, "", "mode"), source, "mode");
  r.learnwares = read_strings(required_field(in, source, "", "learnwares"), source, "learnwares");
  const std::string task = read_string(required_field(in, source, "", "task"), source, "task");
  try {
    r.task = parse_task_type(task);
  } catch (const Error& e) {
    fail(source, "task", e.what());
  }
  const json& rows = required_field(in, source, "", "predictions");
  if (!rows.is_array()) fail(source, "predictions", "must be an array of rows, found " + type_word(rows));
  const std::int64_t n = static_cast<std::int64_t>(rows.size());
  std::int64_t width = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::string field = "predictions[" + std::to_string(i) + "]";
    const std::vector<double> row = read_numbers(rows[static_cast<std::size_t>(i)], source, field);
    if (width < 0) {
      width = static_cast<std::int64_t>(row.size());
      r.predictions = kernels::Matrix<double>(n, width);
    } else if (static_cast<std::int64_t>(row.size()) != width) {
      fail(source, field, "has " + std::to_string(row.size()) + " values, the first row " + std::to_string(width));
    }
    for (std::int64_t j = 0; j < width; ++j) r.predictions(i, j) = row[static_cast<std::size_t>(j)];
  }
  return r;
}

}  // namespace lwd
