#include "scenarios/examples/median_ensemble.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/reuse/reuser.h"

namespace lwd::scenarios {

kernels::Matrix<double> median_ensemble_predict(std::span<const Learnware> learnwares,
                                                kernels::ConstMatrixView<double> x_raw) {
  if (learnwares.empty()) throw Error("median ensemble: no learnware to reuse");
  // Models need finite input; the Reuser convention fills gaps with column means.
  const kernels::Matrix<double> x = fill_non_finite_with_column_means(x_raw, "the data to predict");
  std::vector<kernels::Matrix<double>> outputs;
  outputs.reserve(learnwares.size());
  for (const Learnware& lw : learnwares) {
    kernels::Matrix<double> p = lw.predict(x.view());
    if (lw.task() == TaskType::kClassification) p = softmax_rows(p);
    if (!outputs.empty() && (p.rows() != outputs.front().rows() || p.cols() != outputs.front().cols()))
      throw Error("median ensemble: learnware " + lw.id + " predicts a different shape than " + learnwares.front().id);
    outputs.push_back(std::move(p));
  }
  kernels::Matrix<double> out(outputs.front().rows(), outputs.front().cols());
  std::vector<double> values(outputs.size());
  for (std::int64_t k = 0; k < out.size(); ++k) {
    for (std::size_t m = 0; m < outputs.size(); ++m) values[m] = outputs[m].data()[k];
    const std::size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
    double median = values[mid];
    if (values.size() % 2 == 0) {
      const double below = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
      median = 0.5 * (median + below);
    }
    out.data()[k] = median;
  }
  return out;
}

void register_median_ensemble(MethodRegistry& registry) {
  registry.add_reuse({"median-ensemble", "Median Ensemble Reuse (Multiple)", /*needs_labels=*/false,
                      "example extension: element-wise median of the found learnwares' predictions",
                      [](const ReuseInput& in) { return median_ensemble_predict(in.multiple, in.x_test); }});
}

}  // namespace lwd::scenarios
