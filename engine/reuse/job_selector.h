// Job selector (no labels needed): route every user row to the one learnware
// whose training distribution it most likely comes from (docs/DESIGN.md §5.2,
// the reference's JobSelectorReuser).
//
//   1. Mixture weights w of the learnwares w.r.t. the user's data: the RKME of
//      the unreduced user data u = (X, 1/n) is matched by the simplex QP
//      min 1/2 w^T K w - c^T w, w >= 0, sum w = 1, with K_ij = <m_i, m_j> and
//      c_i = <u, m_i> (all rows of X enter c, not a reduced sketch).
//   2. Herd max(min_points, floor(budget * w_i)) points from each learnware's
//      RKME and label them with the learnware's index.
//   3. Train a multi-class XGBoost selector on them, holding back the last
//      fifth of each learnware's herded points (herding yields the most
//      representative points first) for early stopping.
//   4. Each user row goes to the learnware the selector predicts.
// One learnware: every row goes to it (nothing to select).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/reuse/reuser.h"
#include "kernels/context.h"

namespace lwd {

struct JobSelectorOptions {
  std::int64_t herding_budget = 1000;  // points herded in total, split by mixture weight
  std::int64_t min_points = 5;         // herded from every learnware, whatever its weight
  // Selector training (XGBoost; the reference uses LightGBM with a small
  // learning rate and a patient early stop, which this mirrors at lower cost).
  int max_rounds = 500;
  int early_stopping_rounds = 20;
  double eta = 0.1;
  int max_depth = 6;
};

struct JobSelection {
  std::vector<double> weights;               // mixture weight of each learnware
  std::vector<std::int64_t> herded_points;   // points herded from each learnware
  std::vector<std::int64_t> routes;          // learnware index chosen for each user row
  int selector_rounds = 0;                   // boosting rounds the selector kept (0: one learnware)
};

// Step 1 alone: the mixture weights of `learnwares` for the user's data x
// (finite, width = the learnwares' width), with the first learnware's gamma.
std::vector<double> job_selector_mixture_weights(std::span<const Learnware> learnwares,
                                                 kernels::ConstMatrixView<double> x, const kernels::Context& ctx);
// The same for table RKMEs in any space (text learnwares: the RKMEs of
// sentence embeddings, x the user's documents embedded by the same encoder).
// `names` label errors.
std::vector<double> job_selector_mixture_weights(std::span<const RKMETableSpec* const> specs,
                                                 std::span<const std::string> names,
                                                 kernels::ConstMatrixView<double> x, const kernels::Context& ctx);

// Steps 2-3 and the routing of step 4, for specs of any kind: herd(i, count,
// ctx) returns `count` points sampled from learnware i's spec, as rows in the
// space of `user_rows` (tables: the features; text: embeddings; images:
// preprocessed pixels). Returns weights (as given), herded counts and the
// route of every user row. What the Reuser runs, and what runners use for
// learnwares whose models take another input than their specs describe.
using HerdFn = std::function<kernels::Matrix<double>(std::int64_t learnware, std::int64_t count,
                                                     const kernels::Context& ctx)>;
JobSelection route_jobs(std::span<const double> weights, const HerdFn& herd,
                        kernels::ConstMatrixView<double> user_rows, const kernels::Context& ctx,
                        const JobSelectorOptions& options = {});

class JobSelectorReuser final : public Reuser {
 public:
  // ctx: threads for kernels and XGBoost, seed for herding and the selector.
  // Throws lwd::Error for an empty list or learnwares that disagree in input
  // width, task or output width (their outputs are pieced together row by row).
  JobSelectorReuser(std::vector<Learnware> learnwares, const kernels::Context& ctx, JobSelectorOptions options = {});

  std::string_view name() const override { return "job selector"; }
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  // Steps 1-4 without predicting: which learnware serves each row, and why.
  JobSelection select(kernels::ConstMatrixView<double> x) const;

 private:
  JobSelection select_filled(const kernels::Matrix<double>& x) const;

  std::vector<Learnware> learnwares_;
  kernels::Context ctx_;
  JobSelectorOptions options_;
  LearnwareListShape shape_;
};

}  // namespace lwd
