// Ensemble pruning (labelled): MDEP, margin-distribution-guided
// multi-objective evolutionary ensemble pruning (Wu, He, Qian, Zhou, PPSN
// 2022), as the reference's EnsemblePruningReuser. NSGA-II searches binary
// masks over the learnwares with the user's labelled rows as validation set;
// the pruned ensemble predicts like averaging (regression: mean; classification:
// vote by label).
//
// Objectives (all minimised), from each member's predictions on the labelled rows:
//   regression      {MSE of the members' mean, ensemble size};
//   classification  {std(margin) / mean(margin)  (1e5 when mean(margin) <= 0),
//                    number of rows the vote gets wrong, ensemble size},
//                   where a row's margin, with the members' votes counted per
//                   class, is (votes of the winner - votes of the runner-up)
//                   when the vote is right and (votes of the true class -
//                   votes of the winner) when it is wrong, divided by the
//                   ensemble size (population standard deviation).
// The chosen ensemble: the fewest errors (regression: lowest MSE) on the front,
// ties to the smaller ensemble, then to the smaller first objective.
//
// Differences from the reference, each for a stated reason: binary tasks use
// the same vote-count margins as multi-class ones (the reference's ±1 variant
// counts tied votes as half an error, which the vote it predicts with does
// not, so its chosen ensemble could lose to a single member); single-member
// ensembles are allowed and every single member is in the initial population,
// so the chosen ensemble is never worse on the labelled rows than the best
// single learnware; the search is seeded (ctx.seed) and deterministic.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/reuse/nsga2.h"
#include "engine/reuse/reuser.h"
#include "kernels/context.h"

namespace lwd {

struct EnsemblePruningOptions {
  int generations = 500;            // the reference's maxgen
  std::int64_t population_size = 0;  // 0: max(number of learnwares, 20)
};

// The objectives above for one mask. member_labels is rows x members (each
// member's predicted label), member_predictions rows x members.
std::vector<double> classification_pruning_objectives(const kernels::Matrix<std::int64_t>& member_labels,
                                                      std::span<const std::int64_t> labels, std::int64_t num_classes,
                                                      const BitMask& mask);
std::vector<double> regression_pruning_objectives(const kernels::Matrix<double>& member_predictions,
                                                  std::span<const double> targets, const BitMask& mask);

class EnsemblePruningReuser final : public Reuser {
 public:
  // ctx: seed of the search (which runs on one thread: see fit). Throws lwd::Error
  // for an empty list, learnwares that disagree in input width, task or output
  // width, or regression learnwares with more than one output.
  EnsemblePruningReuser(std::vector<Learnware> learnwares, const kernels::Context& ctx,
                        EnsemblePruningOptions options = {});

  std::string_view name() const override { return "ensemble pruning"; }
  bool uses_labels() const override { return true; }
  // Runs the search on the labelled rows (y as in reuser.h).
  void fit(kernels::ConstMatrixView<double> x, std::span<const double> y) override;
  // The selected members' mean (regression) or vote fractions (classification).
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  // After fit: indices of the chosen learnwares (ascending), and the search.
  const std::vector<std::int64_t>& selected() const { return selected_; }
  const Nsga2Result& search_result() const { return search_; }

 private:
  std::vector<Learnware> learnwares_;
  kernels::Context ctx_;
  EnsemblePruningOptions options_;
  LearnwareListShape shape_;
  std::vector<std::int64_t> selected_;
  Nsga2Result search_;
  std::vector<double> fill_means_;  // column means of the labelled rows, for gaps in later data
};

}  // namespace lwd
