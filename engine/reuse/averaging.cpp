#include "engine/reuse/averaging.h"

#include "engine/error.h"

namespace lwd {

std::string_view to_string(AveragingMode mode) {
  switch (mode) {
    case AveragingMode::kMean: return "mean";
    case AveragingMode::kVoteByLabel: return "vote_by_label";
    case AveragingMode::kVoteByProb: return "vote_by_prob";
  }
  return "?";
}

AveragingMode parse_averaging_mode(std::string_view text) {
  for (AveragingMode m : {AveragingMode::kMean, AveragingMode::kVoteByLabel, AveragingMode::kVoteByProb})
    if (text == to_string(m)) return m;
  throw Error("unknown averaging mode '" + std::string(text) + "' (expected mean, vote_by_label or vote_by_prob)");
}

AveragingMode default_averaging_mode(TaskType task) {
  return task == TaskType::kRegression ? AveragingMode::kMean : AveragingMode::kVoteByProb;
}

AveragingReuser::AveragingReuser(std::vector<Learnware> learnwares, AveragingMode mode)
    : learnwares_(std::move(learnwares)), mode_(mode), shape_(check_learnware_list(learnwares_, "averaging")) {
  const bool regression = shape_.task == TaskType::kRegression;
  if (mode_ == AveragingMode::kMean && !regression) {
    throw Error("averaging mode mean averages regression outputs, but the learnwares are classifiers; "
                "use vote_by_label or vote_by_prob");
  }
  if (mode_ != AveragingMode::kMean && regression) {
    throw Error("averaging mode " + std::string(to_string(mode_)) +
                " votes over classes, but the learnwares are regression models; use mean");
  }
}

kernels::Matrix<double> AveragingReuser::predict(kernels::ConstMatrixView<double> x_raw) const {
  check_feature_shape(x_raw, shape_.input_dim, "the data to predict");
  const kernels::Matrix<double> x = fill_non_finite_with_column_means(x_raw, "the data to predict");
  const std::int64_t n = x.rows();
  const std::int64_t k = shape_.output_dim;
  kernels::Matrix<double> total(n, k, 0.0);
  for (const Learnware& lw : learnwares_) {
    const kernels::Matrix<double> scores = lw.predict(x.view());
    switch (mode_) {
      case AveragingMode::kMean:
        for (std::int64_t i = 0; i < scores.size(); ++i) total.data()[i] += scores.data()[i];
        break;
      case AveragingMode::kVoteByLabel: {
        const std::vector<std::int64_t> labels = argmax_labels(scores);
        for (std::int64_t i = 0; i < n; ++i) total(i, labels[static_cast<std::size_t>(i)]) += 1.0;
        break;
      }
      case AveragingMode::kVoteByProb: {
        const kernels::Matrix<double> probabilities = softmax_rows(scores);
        for (std::int64_t i = 0; i < probabilities.size(); ++i) total.data()[i] += probabilities.data()[i];
        break;
      }
    }
  }
  const double m = static_cast<double>(learnwares_.size());
  for (double& v : total.values()) v /= m;
  return total;
}

}  // namespace lwd
