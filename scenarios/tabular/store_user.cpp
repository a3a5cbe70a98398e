#include "scenarios/tabular/store_user.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/kinds/table_kind.h"
#include "engine/reuse/baselines.h"
#include "scenarios/market/market_builder.h"

namespace lwd::scenarios {

void apply_store_search_params(const ScenarioOptions& options, int& max_search_num, std::uint64_t& simulator_seed) {
  max_search_num = static_cast<int>(param_int(options, "max_search_num", max_search_num));
  if (max_search_num < 1) throw Error("parameter max_search_num: must be at least 1");
  simulator_seed =
      static_cast<std::uint64_t>(param_int(options, "simulator_seed", static_cast<std::int64_t>(simulator_seed)));
}

StudyUser store_study_user(const datasets::StoreDataset& data, const XGBoostTrainParams& model_params,
                           std::string description, const kernels::Context& ctx) {
  StudyUser out;
  out.description = std::move(description);
  out.query.spec = stat_spec(RKMETableSpec::generate(ctx, data.x_test, market_table_rkme_options()));
  out.x_test = data.x_test;
  out.y_test = data.y_test;
  out.x_pool = data.x_train;
  out.y_pool = data.y_train;
  out.max_labelled = data.x_train.rows();
  out.draw = [rows = data.x_train.rows()](std::int64_t n, std::uint64_t seed) { return sample_rows(rows, n, seed); };
  out.user_model = [x = data.x_train, y = data.y_train, x_test = data.x_test, model_params](
                       std::span<const std::int64_t> rows, const kernels::Context& c) {
    const kernels::Matrix<double> xs = gather_rows(x.view(), rows);
    std::vector<double> ys;
    for (const std::int64_t r : rows) ys.push_back(y[static_cast<std::size_t>(r)]);
    UserModelBaseline model(TaskType::kRegression, 0, c, model_params);
    model.fit(xs.view(), ys);
    return model.predict(x_test.view());
  };
  return out;
}

StoreCurveGrid store_curve_grid(const datasets::ChainConfig& chain, const std::vector<std::int64_t>& n_grid,
                                const std::vector<std::int64_t>& repeats, bool curve) {
  const datasets::SplitConfig split;
  StoreCurveGrid out;
  out.train_rows =
      static_cast<std::int64_t>(chain.num_days - datasets::kHistoryDays - split.test_days) * chain.num_items;
  for (std::size_t g = 0; g < n_grid.size() && curve; ++g) {
    const std::int64_t n = std::min(n_grid[g], out.train_rows);
    if (std::find(out.n.begin(), out.n.end(), n) != out.n.end()) continue;
    out.n.push_back(n);
    out.repeats.push_back(repeats[g]);
  }
  return out;
}

}  // namespace lwd::scenarios
