// The procedure every scenario runner shares (tabular-homo, image, text):
// many users, each with rows to predict and a labelled pool, search the whole
// market and reuse what they find; the study scores every built-in and
// registered method and writes one table and one labelled-data curve.
//
// Per user (one thread, seeds derived from the run seed and the user):
//   1. the runner builds the user (make_user): their query (semantic tags +
//      the RKME of the rows to predict), rows and truth, labelled pool, and
//      how their self-trained model is trained;
//   2. Mean / Best in Market: every learnware the semantic filter alone
//      returns, scored on the user's rows (Best is an oracle: the best of
//      them on the rows the user wants predicted);
//   3. every registered search method, then every label-free reuse method
//      on what it found (a mixture, or the top max_search_num singles when
//      there is none); the methods that align features
//      (ReuseMethodEntry::aligns_features) are left out: a study's users
//      share the learnwares' feature space;
//   4. the curve: for each n of the grid and each repeat, n labelled rows
//      drawn from the user's pool (the runner's draw), the self-trained model
//      and every labelled reuse method.
// Users run in parallel and are aggregated in user order: the numbers do not
// depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/market/market.h"
#include "engine/reuse/learnware.h"
#include "engine/reuse/metrics.h"
#include "kernels/context.h"
#include "kernels/matrix.h"
#include "engine/reuse/method_registry.h"
#include "scenarios/common/run_info.h"
#include "scenarios/common/scenario.h"

namespace lwd::scenarios {

// Learnwares loaded once and shared, read-only, by the user workers (a
// Learnware is a handle: copies share the model). Loading goes through the
// market's store, so it is serialised.
class LearnwareCache {
 public:
  explicit LearnwareCache(const Market& market) : market_(market) {}
  Learnware get(const std::string& id);
  std::size_t size() const;

 private:
  const Market& market_;
  mutable std::mutex mutex_;
  std::map<std::string, Learnware> loaded_;
};

// n distinct indices of [0, total) (all of them when n >= total), by a seeded
// partial Fisher-Yates shuffle, in draw order.
std::vector<std::int64_t> sample_rows(std::int64_t total, std::int64_t n, std::uint64_t seed);

// n split by `ratios` (summing to 1) into whole counts that sum to n: floors,
// then the largest remainders (ties to the earlier class) get one more.
std::vector<std::int64_t> counts_in_ratio(std::int64_t n, std::span<const double> ratios);

// The curve's knobs every runner takes: grid=n1,n2,...  repeats=r1,r2,...
// (or one value for every n)  curve=0|1. Checks n >= 2, repeats >= 1 and
// equal lengths (lwd::Error naming the parameter).
void apply_curve_params(const ScenarioOptions& options, std::vector<std::int64_t>& grid,
                        std::vector<std::int64_t>& repeats, bool& curve);

// A RunInfo with what every scenario records: name, start time, commit,
// machine, threads, seed, quick, command line.
RunInfo begin_run_info(const std::string& scenario, const ScenarioOptions& options, const kernels::Context& ctx);

struct StudyUser {
  std::string description;                  // e.g. "digits 3,7 (30 % each), 1,2,5,9": table notes, warnings
  SearchRequest query;                      // the RKME of x_test (the study sets the semantic query and options)
  kernels::Matrix<double> x_test;           // the rows to predict, as ReuseInput::x_test
  std::vector<double> y_test;               // the class of each row
  kernels::Matrix<double> spec_rows_test;   // image users: ReuseInput::spec_rows_test (else empty)
  kernels::Matrix<double> x_pool;           // the labelled pool, rows as x_test
  std::vector<double> y_pool;
  // Rows of the pool for one repeat at n (n never exceeds max_labelled).
  std::function<std::vector<std::int64_t>(std::int64_t n, std::uint64_t seed)> draw;
  std::int64_t max_labelled = 0;            // the most rows draw can give
  // The self-trained baseline: trained on pool rows `rows`, returns its
  // predictions for x_test (ReuseFn conventions).
  std::function<kernels::Matrix<double>(std::span<const std::int64_t> rows, const kernels::Context& ctx)> user_model;
  // How a learnware found is handed to reuse and scoring (text:
  // on_embedded_documents); null: as loaded.
  std::function<Learnware(const Learnware&)> adapt;
  // The user's own columns (semantic Input), when users of one study differ
  // in them (tabular-hetero-task: three feature engineerings): replaces the
  // setup's semantic_query.input in this user's query. nullopt: the setup's.
  std::optional<FeatureSemantics> input;
  // The name (semantic spec) of the learnware made from this user's own data,
  // if the market has one (tabular: the user's store): the notes say how
  // often the search's top single and the oracle's pick are it. Empty: none.
  std::string own_learnware;
};

struct StudySetup {
  std::string scenario;                     // the name, e.g. "image"
  std::string title;                        // ScenarioResult::title
  int users = 0;
  SemanticSpec semantic_query;              // every user's tags (as real users: the market's conventions)
  TaskType task = TaskType::kClassification;  // the user's task
  std::int64_t num_classes = 0;             // of the user's labels (classification)
  // Appended after the user index in every derived seed (tabular-homo: the
  // feature/label space, so each space draws its own).
  std::vector<std::uint64_t> seed_path;
  Metric metric = Metric::kError;           // the table's and the curve's score (engine/reuse/metrics.h)
  std::string metric_label;                 // e.g. "error (1 - accuracy)"
  bool higher_is_better = false;
  std::map<std::string, double> published;  // row key -> the paper's figure
  std::string published_source;
  std::string table_key, table_title;
  std::vector<std::string> notes;           // the runner's notes under the table
  // What StudyUser::own_learnware is, for the notes ("store's learnware");
  // empty: users have none.
  std::string own_learnware_noun;
  // Learnwares outside this study's market (tabular-hetero-task: the chain
  // the market never saw): left out of Mean / Best in Market. The search
  // methods the runner passes must leave them out too.
  std::set<std::string> excluded_ids;
  // Reuse methods this study does not run, with the reason (a table note).
  std::map<std::string, std::string> skipped_methods;
  int max_search_num = 5;
  bool curve = true;
  std::vector<std::int64_t> n_grid, repeats;
  std::string user_model_label;             // legend of the self-trained baseline
  std::string curve_x_label;
};

// Row keys of the two market rows every table has.
inline constexpr const char* kMeanInMarket = "mean-in-market";
inline constexpr const char* kBestInMarket = "best-in-market";
inline constexpr const char* kUserModel = "user-model";

// Runs the study over users 0..setup.users-1 of `make_user` (called with a
// one-thread context seeded for the user) against `market`; appends the
// table, the curve and warnings to `result` and times its phases with
// `timer`. A user whose construction or search fails is left out with a
// warning; a reuse method that fails leaves its value out for that user.
void run_user_study(const StudySetup& setup,
                    const std::function<StudyUser(int user, const kernels::Context& ctx)>& make_user,
                    const Market& market, const ScenarioOptions& options, const MethodRegistry& methods,
                    const kernels::Context& ctx, ScenarioResult& result, PhaseTimer& timer);

}  // namespace lwd::scenarios
