// Averaging: the plain ensemble of every learnware in the list.
//   mean           regression: the mean of the learnwares' predictions;
//   vote_by_label  classification: each learnware votes for its argmax label;
//                  the scores are the vote fractions (argmax: the most voted
//                  label, ties to the lowest index, as the reference's bincount);
//   vote_by_prob   classification: the mean over learnwares of the row-wise
//                  softmax of their scores (the reference applies softmax to
//                  whatever the model returns, probabilities included).
#pragma once

#include <string_view>
#include <vector>

#include "engine/reuse/reuser.h"

namespace lwd {

enum class AveragingMode { kMean, kVoteByLabel, kVoteByProb };

// "mean", "vote_by_label", "vote_by_prob"; parse throws lwd::Error listing them.
std::string_view to_string(AveragingMode mode);
AveragingMode parse_averaging_mode(std::string_view text);
// The mode the reference uses by default for a task: mean for regression,
// vote_by_prob for classification.
AveragingMode default_averaging_mode(TaskType task);

class AveragingReuser final : public Reuser {
 public:
  // Throws lwd::Error for an empty list, learnwares that disagree in input
  // width, task or output width, or a mode that does not fit the task (mean
  // needs regression, the votes need classification).
  AveragingReuser(std::vector<Learnware> learnwares, AveragingMode mode);

  std::string_view name() const override { return "averaging"; }
  kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const override;

  AveragingMode mode() const { return mode_; }

 private:
  std::vector<Learnware> learnwares_;
  AveragingMode mode_;
  LearnwareListShape shape_;
};

}  // namespace lwd
