// The search and reuse methods of the dock, in one registry: search methods
// (how a user's requirement becomes learnwares) and reuse methods (how those
// learnwares become predictions). Every front end enumerates the same
// registry: `lwdock search --search-method`, `lwdock reuse --method`,
// `lwdock methods list`, and the scenario runners, which run every registered
// search method, and for each one every registered reuse method, and report
// each as a table row (label-free methods) or a curve series (methods that
// need the user's labelled rows).
//
// What the registry holds: the built-ins (register_builtin_methods, below)
// and the extensions a researcher adds. Adding a method (the whole
// procedure; scenarios/README.md has an example):
//   1. write a function that fills a ReuseMethodEntry (or SearchMethodEntry)
//      and calls registry.add_reuse(...) -- see scenarios/examples/median_ensemble.cpp;
//   2. call it from register_extension_methods() in scenarios/extensions.cpp
//      (default_method_registry(), scenarios/scenarios.h, is built-ins + those;
//      lwdock builds its registry from it too).
// Nothing else: no static initialisers (the linker may drop them), one list.
//
// Determinism contract: a method gets a Context with a seed (scenarios: one
// thread and a seed derived from the run seed, the user and the repeat); it
// must give the same predictions for the same input and seed, and must not
// use more threads than the Context gives (scenario users run in parallel,
// one per thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/market/market.h"
#include "engine/model/model.h"
#include "engine/reuse/learnware.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd {

// ---- search ------------------------------------------------------------------

struct SearchInput {
  const Market* market = nullptr;
  // What the user submits: the semantic query, the RKME of the rows to
  // predict (tables, text or images) and the search options (max_search_num...).
  const SearchRequest* query = nullptr;
  kernels::Context ctx;
};

struct SearchOutput {
  std::vector<std::string> single_ids;       // best first; at least one for a usable result
  std::vector<std::string> mixture_ids;      // empty: no mixture
  std::vector<double> mixture_weights;       // one per mixture id
  // The market's whole answer (scores, MMD², match counts), for methods that
  // are Market::search; empty for others. `lwdock search` prints it.
  std::optional<SearchResponse> market_response{};
};

using SearchFn = std::function<SearchOutput(const SearchInput&)>;

// The market's answer as a search method's output: its singles' ids, its
// mixture, and the answer itself (market_response).
SearchOutput search_output_of(SearchResponse response);

struct SearchMethodEntry {
  std::string key;          // identifier (scenario rows, --search, --search-method), e.g. "market"
  std::string label;        // shown in row labels of non-default searches
  std::string description;
  SearchFn search;
};

// ---- reuse -------------------------------------------------------------------

struct ReuseInput {
  // What the search found (or the learnwares the user named), loaded and
  // ready to predict.
  std::span<const Learnware> single;         // the singles, best first (never empty)
  std::span<const Learnware> multiple;       // the mixture, or the top singles when there is no mixture
  std::span<const double> mixture_weights;   // weights of `multiple`; empty when it is the top singles
  // The user's rows to predict, as the learnwares' models read them:
  // tables: the features; images: the flattened 28 x 28 pixels; text: the
  // documents' sentence embeddings, the learnwares being handed over wrapped
  // to read them (scenarios/common/embedded_documents.h). For every kind they
  // are also the user's own numeric features (feature augmentation).
  kernels::ConstMatrixView<double> x_test;
  // The user's labelled rows: only for methods with needs_labels (else empty).
  kernels::ConstMatrixView<double> x_labelled;
  std::span<const double> y_labelled;
  // Image learnwares only, for methods that compare the user's rows with the
  // learnwares' specifications (the job selector): the rows to predict in the
  // space image specs live in (preprocessed 32 x 32 pixels, one row per
  // image, RKMEImageSpec::generate with reduce = false) and the user's image
  // RKME. Tables and text need neither: their specs describe x_test's space.
  kernels::ConstMatrixView<double> spec_rows_test;
  const RKMEImageSpec* user_image_spec = nullptr;
  TaskType task = TaskType::kRegression;     // the user's task
  std::int64_t num_classes = 0;              // classification: classes of the user's labels (0: the learnwares')
  kernels::Context ctx;
  // One of the entry's modes, or empty for its default (scenarios: empty).
  std::string mode{};
  // Methods that align features (ReuseMethodEntry::aligns_features): the
  // user's column descriptions (semantic Input), or null when there are none.
  const FeatureSemantics* user_columns = nullptr;
  // Where the caller wants it: a short note of what the method chose (e.g.
  // "kept 3 7" for ensemble pruning); methods may leave it alone.
  std::string* note = nullptr;
};

// Predictions for x_test, in the Reuser conventions (reuser.h): regression
// rows x output_dim, classification rows x num_classes scores.
using ReuseFn = std::function<kernels::Matrix<double>(const ReuseInput&)>;

struct ReuseMethodEntry {
  std::string key;          // identifier (rows, series, --reuse, --method), e.g. "job-selector"
  std::string label;        // as a table row / legend entry, e.g. "Job Selector Reuse (Multiple)"
  bool needs_labels = false;  // true: reported on the labelled-data curve; the CLI needs --labeled
  std::string description;
  ReuseFn predict;
  // The values ReuseInput::mode may take (empty: the method has no modes),
  // and in words what an empty mode means.
  std::vector<std::string> modes{};
  std::string default_mode{};
  // Other names the method answers to (`lwdock reuse --method averaging`).
  std::vector<std::string> aliases{};
  // true: the method maps x_test's columns into each learnware's input space
  // itself (feature alignment), so x_test may have another width than the
  // learnwares' -- a method for users of another feature space. The command
  // line lets its data differ in width; the scenario runners, whose users
  // share the learnwares' space, leave it out.
  bool aligns_features = false;

  bool answers_to(const std::string& name) const;
  // Empty, or one of `modes`.
  bool accepts_mode(const std::string& mode) const;
};

// ---- the registry --------------------------------------------------------------

class MethodRegistry {
 public:
  // Throw lwd::Error for an empty key or label, a missing function, or a key
  // or alias already registered.
  void add_search(SearchMethodEntry entry);
  void add_reuse(ReuseMethodEntry entry);

  const std::vector<SearchMethodEntry>& search_methods() const { return search_; }
  const std::vector<ReuseMethodEntry>& reuse_methods() const { return reuse_; }
  // By key or alias; nullptr when none.
  const SearchMethodEntry* find_search(const std::string& name) const;
  const ReuseMethodEntry* find_reuse(const std::string& name) const;
  // The same, but an unknown name is an lwd::Error listing the registered keys:
  // "unknown reuse method 'x' (registered: a, b)".
  const SearchMethodEntry& search_method(const std::string& name) const;
  const ReuseMethodEntry& reuse_method(const std::string& name) const;

  // The registry restricted to the listed names (in registration order); an
  // empty list keeps every method of that kind. Unknown names are an
  // lwd::Error listing the registered ones.
  MethodRegistry subset(const std::vector<std::string>& search_names,
                        const std::vector<std::string>& reuse_names) const;

 private:
  std::vector<SearchMethodEntry> search_;
  std::vector<ReuseMethodEntry> reuse_;
};

// Built-in keys (their rows carry the published figures).
inline constexpr const char* kMarketSearch = "market";           // Market::search: semantic filter + RKME search
inline constexpr const char* kTop1Reuse = "top1-reuse";          // Top-1 Reuse (Single)
inline constexpr const char* kJobSelector = "job-selector";      // Job Selector Reuse (Multiple)
inline constexpr const char* kAverageEnsemble = "average-ensemble";  // Average Ensemble Reuse (Multiple); alias "averaging"
inline constexpr const char* kEnsemblePruning = "ensemble-pruning";  // labelled
inline constexpr const char* kFeatureAugment = "feature-augment";    // labelled
// Feature alignment (feature_align.h): learnwares of other feature spaces
// aligned to the user's, then reused as above.
inline constexpr const char* kAlign = "align";                  // top1 | average
inline constexpr const char* kAlignAugment = "align-augment";   // labelled: feature augmentation
inline constexpr const char* kAlignPrune = "align-prune";       // labelled: ensemble pruning

// The market's own search and the engine's reuse methods (make_reuser,
// reuse_methods.h; the align methods over align_learnware), in the order above.
void register_builtin_methods(MethodRegistry& registry);

// What a search method found, loaded: `get` turns an id into a learnware
// (a cache, or load_learnware); multiple = the mixture, or the first
// max_multiple singles when there is none. Throws lwd::Error when the search
// returned no single learnware or mixture weights that do not match its ids.
struct FoundLearnwares {
  std::vector<Learnware> single;
  std::vector<Learnware> multiple;
  std::vector<double> mixture_weights;
  bool has_mixture = false;
};
FoundLearnwares resolve_search_output(const SearchOutput& output,
                                      const std::function<Learnware(const std::string&)>& get,
                                      std::size_t max_multiple);

// Rows `rows` of x, in that order (a user's labelled draw, the rows routed to
// one learnware).
kernels::Matrix<double> gather_rows(kernels::ConstMatrixView<double> x, std::span<const std::int64_t> rows);

}  // namespace lwd
