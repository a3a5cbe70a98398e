#include "engine/reuse/job_selector.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/model/xgboost_model.h"
#include "kernels/parallel.h"
#include "kernels/rkme.h"
#include "kernels/simplex_qp.h"

namespace lwd {
namespace {

// A seed per learnware derived from the base seed (splitmix64 finaliser), so
// that the herded points of one learnware do not repeat another's draws.
std::uint64_t derived_seed(std::uint64_t base, std::uint64_t index) {
  std::uint64_t z = base + 0x9e3779b97f4a7c15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<double> job_selector_mixture_weights(std::span<const RKMETableSpec* const> specs,
                                                 std::span<const std::string> names,
                                                 kernels::ConstMatrixView<double> x, const kernels::Context& ctx) {
  const auto m = static_cast<std::int64_t>(specs.size());
  if (m == 0) throw Error("job selector: the learnware list is empty");
  if (names.size() != specs.size()) throw Error("job selector: specs and names differ in length");
  if (x.rows < 1) throw Error("job selector: the user's data has no rows");

  kernels::Matrix<double> gram(m, m);
  for (std::int64_t i = 0; i < m; ++i) {
    const RKMETableSpec& si = *specs[static_cast<std::size_t>(i)];
    if (si.dim() != x.cols) {
      throw Error("job selector: the RKME of learnware " + names[static_cast<std::size_t>(i)] + " has width " +
                  std::to_string(si.dim()) + " but the data has " + std::to_string(x.cols) + " column(s)");
    }
    for (std::int64_t j = i; j < m; ++j) gram(i, j) = gram(j, i) = si.inner_product(*specs[static_cast<std::size_t>(j)], ctx);
  }

  // <u, m_i> for every learnware at once: the user's rows against all
  // learnware Z rows packed back to back.
  std::vector<std::int64_t> offsets{0};
  for (const RKMETableSpec* s : specs) offsets.push_back(offsets.back() + s->size());
  kernels::Matrix<double> packed_z(offsets.back(), x.cols);
  std::vector<double> packed_beta;
  packed_beta.reserve(static_cast<std::size_t>(offsets.back()));
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const RKMETableSpec& s = *specs[i];
    std::copy(s.z().data(), s.z().data() + s.z().size(), packed_z.row(offsets[i]));
    packed_beta.insert(packed_beta.end(), s.beta().begin(), s.beta().end());
  }
  const std::vector<double> user_beta(static_cast<std::size_t>(x.rows), 1.0 / static_cast<double>(x.rows));
  std::vector<double> c(static_cast<std::size_t>(m));
  kernels::rkme_batch_inner_products(ctx, x, user_beta, packed_z.view(), packed_beta, offsets,
                                     specs.front()->gamma(), c);
  return kernels::solve_simplex_qp(gram.view(), c).x;
}

std::vector<double> job_selector_mixture_weights(std::span<const Learnware> learnwares,
                                                 kernels::ConstMatrixView<double> x, const kernels::Context& ctx) {
  std::vector<const RKMETableSpec*> specs;
  std::vector<std::string> names;
  for (const Learnware& lw : learnwares) {
    specs.push_back(&lw.spec);
    names.push_back(lw.id);
  }
  return job_selector_mixture_weights(specs, names, x, ctx);
}

JobSelection route_jobs(std::span<const double> weights, const HerdFn& herd, kernels::ConstMatrixView<double> x,
                        const kernels::Context& ctx, const JobSelectorOptions& options) {
  const auto m = static_cast<std::int64_t>(weights.size());
  if (m == 0) throw Error("job selector: the learnware list is empty");
  if (options.min_points < 5) {
    // Each learnware needs at least one held-out point (a fifth) and some to train on.
    throw Error("job selector: min_points must be at least 5 (got " + std::to_string(options.min_points) + ")");
  }
  JobSelection out;
  out.weights.assign(weights.begin(), weights.end());
  if (m == 1) {
    out.herded_points = {0};
    out.routes.assign(static_cast<std::size_t>(x.rows), 0);
    return out;
  }
  const std::int64_t d = x.cols;
  std::vector<kernels::Matrix<double>> herded(static_cast<std::size_t>(m));
  std::int64_t n_train = 0;
  std::int64_t n_validation = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    const double w = out.weights[static_cast<std::size_t>(i)];
    const auto count = std::max(options.min_points,
                                static_cast<std::int64_t>(std::floor(static_cast<double>(options.herding_budget) * w)));
    out.herded_points.push_back(count);
    n_validation += count / 5;
    n_train += count - count / 5;
  }
  // One learnware per task, each herding on one thread: a herding step is a
  // single point against all candidates, too little work per parallel region
  // to pay for waking threads (herding's result does not depend on threads).
  kernels::parallel_for(ctx, 0, m, [&](std::int64_t i) {
    const kernels::Context herd_ctx{1, derived_seed(ctx.seed, static_cast<std::uint64_t>(i))};
    herded[static_cast<std::size_t>(i)] = herd(i, out.herded_points[static_cast<std::size_t>(i)], herd_ctx);
  });

  kernels::Matrix<double> train_x(n_train, d);
  kernels::Matrix<double> validation_x(n_validation, d);
  std::vector<double> train_y;
  std::vector<double> validation_y;
  train_y.reserve(static_cast<std::size_t>(n_train));
  validation_y.reserve(static_cast<std::size_t>(n_validation));
  for (std::int64_t i = 0; i < m; ++i) {
    const kernels::Matrix<double>& points = herded[static_cast<std::size_t>(i)];
    if (points.rows() != out.herded_points[static_cast<std::size_t>(i)] || points.cols() != d) {
      throw Error("job selector: herding learnware " + std::to_string(i) + " gave " + std::to_string(points.rows()) +
                  " x " + std::to_string(points.cols()) + " points, expected " +
                  std::to_string(out.herded_points[static_cast<std::size_t>(i)]) + " x " + std::to_string(d));
    }
    const std::int64_t held_out = points.rows() / 5;
    for (std::int64_t r = 0; r < points.rows(); ++r) {
      const bool validation = r >= points.rows() - held_out;
      auto& ys = validation ? validation_y : train_y;
      double* dst = validation ? validation_x.row(static_cast<std::int64_t>(ys.size()))
                               : train_x.row(static_cast<std::int64_t>(ys.size()));
      std::copy(points.row(r), points.row(r) + d, dst);
      ys.push_back(static_cast<double>(i));
    }
  }

  XGBoostTrainParams params;
  params.num_rounds = options.max_rounds;
  params.eta = options.eta;
  params.max_depth = options.max_depth;
  params.seed = ctx.seed;
  params.nthread = ctx.threads();
  params.early_stopping_rounds = options.early_stopping_rounds;
  params.validation = XGBoostValidationSet{validation_x.view(), validation_y};
  XGBoostTrainResult trained;
  const XGBoostModel selector =
      train_xgboost_model(train_x.view(), train_y, TaskType::kClassification, m, params, &trained);
  out.selector_rounds = trained.best_rounds;
  out.routes = argmax_labels(selector.predict(x));
  return out;
}

JobSelectorReuser::JobSelectorReuser(std::vector<Learnware> learnwares, const kernels::Context& ctx,
                                     JobSelectorOptions options)
    : learnwares_(std::move(learnwares)),
      ctx_(ctx),
      options_(options),
      shape_(check_learnware_list(learnwares_, "job selector")) {
  if (options_.min_points < 5) {
    // Each learnware needs at least one held-out point (a fifth) and some to train on.
    throw Error("job selector: min_points must be at least 5 (got " + std::to_string(options_.min_points) + ")");
  }
  if (options_.herding_budget < 0) throw Error("job selector: herding_budget must be >= 0");
}

JobSelection JobSelectorReuser::select(kernels::ConstMatrixView<double> x) const {
  check_feature_shape(x, shape_.input_dim, "the data to predict");
  return select_filled(fill_non_finite_with_column_means(x, "the data to predict"));
}

JobSelection JobSelectorReuser::select_filled(const kernels::Matrix<double>& x) const {
  if (learnwares_.size() == 1) return route_jobs(std::vector<double>{1.0}, {}, x.view(), ctx_, options_);
  const std::vector<double> weights = job_selector_mixture_weights(learnwares_, x.view(), ctx_);
  const HerdFn herd = [this](std::int64_t i, std::int64_t count, const kernels::Context& herd_ctx) {
    return learnwares_[static_cast<std::size_t>(i)].spec.herding(count, herd_ctx);
  };
  return route_jobs(weights, herd, x.view(), ctx_, options_);
}

kernels::Matrix<double> JobSelectorReuser::predict(kernels::ConstMatrixView<double> x_raw) const {
  check_feature_shape(x_raw, shape_.input_dim, "the data to predict");
  const kernels::Matrix<double> x = fill_non_finite_with_column_means(x_raw, "the data to predict");
  const JobSelection selection = select_filled(x);

  const std::int64_t d = shape_.input_dim;
  kernels::Matrix<double> out(x.rows(), shape_.output_dim);
  for (std::size_t i = 0; i < learnwares_.size(); ++i) {
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < x.rows(); ++r)
      if (selection.routes[static_cast<std::size_t>(r)] == static_cast<std::int64_t>(i)) rows.push_back(r);
    if (rows.empty()) continue;
    kernels::Matrix<double> part(static_cast<std::int64_t>(rows.size()), d);
    for (std::size_t k = 0; k < rows.size(); ++k)
      std::copy(x.row(rows[k]), x.row(rows[k]) + d, part.row(static_cast<std::int64_t>(k)));
    const kernels::Matrix<double> predicted = learnwares_[i].predict(part.view());
    for (std::size_t k = 0; k < rows.size(); ++k)
      std::copy(predicted.row(static_cast<std::int64_t>(k)), predicted.row(static_cast<std::int64_t>(k)) + out.cols(),
                out.row(rows[k]));
  }
  return out;
}

}  // namespace lwd
