#include "engine/reuse/ensemble_pruning.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "engine/error.h"

namespace lwd {
namespace {

constexpr double kNoPositiveMargin = 100000.0;  // the reference's value when mean(margin) <= 0

std::vector<std::int64_t> members_of(const BitMask& mask) {
  std::vector<std::int64_t> members;
  for (std::size_t j = 0; j < mask.size(); ++j)
    if (mask[j]) members.push_back(static_cast<std::int64_t>(j));
  return members;
}

}  // namespace

std::vector<double> classification_pruning_objectives(const kernels::Matrix<std::int64_t>& member_labels,
                                                      std::span<const std::int64_t> labels, std::int64_t num_classes,
                                                      const BitMask& mask) {
  const std::vector<std::int64_t> members = members_of(mask);
  const auto size = static_cast<std::int64_t>(members.size());
  if (size == 0) return {kNoPositiveMargin, static_cast<double>(member_labels.rows()), 0.0};
  const std::int64_t n = member_labels.rows();
  std::vector<std::int64_t> votes(static_cast<std::size_t>(num_classes), 0);
  std::vector<double> margins(static_cast<std::size_t>(n));
  std::int64_t errors = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t* row = member_labels.row(i);
    for (std::int64_t j : members) ++votes[static_cast<std::size_t>(row[j])];
    // Winner: most votes, ties to the lowest label (the reference's bincount argmax).
    std::int64_t winner = 0;
    for (std::int64_t c = 1; c < num_classes; ++c)
      if (votes[static_cast<std::size_t>(c)] > votes[static_cast<std::size_t>(winner)]) winner = c;
    const std::int64_t winner_votes = votes[static_cast<std::size_t>(winner)];
    std::int64_t runner_up_votes = 0;
    for (std::int64_t c = 0; c < num_classes; ++c)
      if (c != winner) runner_up_votes = std::max(runner_up_votes, votes[static_cast<std::size_t>(c)]);
    const std::int64_t truth = labels[static_cast<std::size_t>(i)];
    const std::int64_t margin =
        winner == truth ? winner_votes - runner_up_votes : votes[static_cast<std::size_t>(truth)] - winner_votes;
    if (winner != truth) ++errors;
    margins[static_cast<std::size_t>(i)] = static_cast<double>(margin) / static_cast<double>(size);
    for (std::int64_t j : members) votes[static_cast<std::size_t>(row[j])] = 0;
  }
  double mean = 0.0;
  for (double v : margins) mean += v;
  mean /= static_cast<double>(n);
  double spread = kNoPositiveMargin;
  if (mean > 0.0) {
    double sum_sq = 0.0;
    for (double v : margins) sum_sq += (v - mean) * (v - mean);
    spread = std::sqrt(sum_sq / static_cast<double>(n)) / mean;
  }
  return {spread, static_cast<double>(errors), static_cast<double>(size)};
}

std::vector<double> regression_pruning_objectives(const kernels::Matrix<double>& member_predictions,
                                                  std::span<const double> targets, const BitMask& mask) {
  const std::vector<std::int64_t> members = members_of(mask);
  const auto size = static_cast<double>(members.size());
  if (members.empty()) return {std::numeric_limits<double>::max(), 0.0};
  double sum_sq = 0.0;
  for (std::int64_t i = 0; i < member_predictions.rows(); ++i) {
    const double* row = member_predictions.row(i);
    double mean = 0.0;
    for (std::int64_t j : members) mean += row[j];
    const double diff = mean / size - targets[static_cast<std::size_t>(i)];
    sum_sq += diff * diff;
  }
  return {sum_sq / static_cast<double>(member_predictions.rows()), size};
}

EnsemblePruningReuser::EnsemblePruningReuser(std::vector<Learnware> learnwares, const kernels::Context& ctx,
                                             EnsemblePruningOptions options)
    : learnwares_(std::move(learnwares)),
      ctx_(ctx),
      options_(options),
      shape_(check_learnware_list(learnwares_, "ensemble pruning")) {
  if (shape_.task == TaskType::kRegression && shape_.output_dim != 1) {
    throw Error("ensemble pruning: regression learnwares must have one output (these have " +
                std::to_string(shape_.output_dim) + ")");
  }
  if (options_.generations < 0) throw Error("ensemble pruning: generations must be >= 0");
  if (options_.population_size != 0 && options_.population_size < 2) {
    throw Error("ensemble pruning: population_size must be at least 2 (or 0 for the default)");
  }
}

void EnsemblePruningReuser::fit(kernels::ConstMatrixView<double> x_raw, std::span<const double> y) {
  check_feature_shape(x_raw, shape_.input_dim, "the labelled data");
  const bool classification = shape_.task == TaskType::kClassification;
  const std::int64_t num_classes = classification ? shape_.output_dim : 0;
  check_targets(y, x_raw.rows, shape_.task, num_classes, "the labelled data");
  fill_means_ = finite_column_means(x_raw, "the labelled data");
  const kernels::Matrix<double> x = fill_non_finite(x_raw, fill_means_);

  const std::int64_t n = x.rows();
  const auto m = static_cast<std::int64_t>(learnwares_.size());
  kernels::Matrix<double> member_predictions(n, m);
  kernels::Matrix<std::int64_t> member_labels(n, m);
  for (std::int64_t j = 0; j < m; ++j) {
    const kernels::Matrix<double> out = learnwares_[static_cast<std::size_t>(j)].predict(x.view());
    if (classification) {
      const std::vector<std::int64_t> labels = argmax_labels(out);
      for (std::int64_t i = 0; i < n; ++i) member_labels(i, j) = labels[static_cast<std::size_t>(i)];
    } else {
      for (std::int64_t i = 0; i < n; ++i) member_predictions(i, j) = out(i, 0);
    }
  }
  std::vector<std::int64_t> labels;
  if (classification)
    for (double v : y) labels.push_back(static_cast<std::int64_t>(v));

  if (m == 1) {
    selected_ = {0};
    search_ = {};
    return;
  }

  BinaryObjectives objectives;
  if (classification) {
    objectives = [&](const BitMask& mask) {
      return classification_pruning_objectives(member_labels, labels, num_classes, mask);
    };
  } else {
    objectives = [&](const BitMask& mask) { return regression_pruning_objectives(member_predictions, y, mask); };
  }
  // Every single learnware starts in the population (the reference seeds the
  // best singles as "prophets"); the rest is random.
  std::vector<BitMask> initial;
  for (std::int64_t j = 0; j < m; ++j) {
    BitMask single(static_cast<std::size_t>(m), 0);
    single[static_cast<std::size_t>(j)] = 1;
    initial.push_back(std::move(single));
  }
  Nsga2Options search_options;
  search_options.population_size = options_.population_size ? options_.population_size : std::max<std::int64_t>(m, 20);
  search_options.generations = options_.generations;
  search_options.min_ones = 1;
  search_options.seed = ctx_.seed;
  // One thread for the search: a mask's objectives cost microseconds (one
  // pass over the labelled rows), less than waking a thread team once per
  // generation; measured 4x slower with 2 threads on 25 x 2 000 (bench_reuse).
  search_ = nsga2_minimise(m, classification ? 3 : 2, objectives, std::move(initial), search_options,
                           kernels::Context{1, ctx_.seed});

  // The front is sorted by objectives; pick by (errors or MSE, size, first objective).
  auto key = [&](const Nsga2Solution& s) {
    return classification ? std::make_tuple(s.objectives[1], s.objectives[2], s.objectives[0])
                          : std::make_tuple(s.objectives[0], s.objectives[1], 0.0);
  };
  const Nsga2Solution* best = &search_.front.front();
  for (const Nsga2Solution& s : search_.front)
    if (key(s) < key(*best)) best = &s;
  selected_ = members_of(best->mask);
}

kernels::Matrix<double> EnsemblePruningReuser::predict(kernels::ConstMatrixView<double> x_raw) const {
  if (selected_.empty()) throw Error("ensemble pruning: call fit with labelled data before predict");
  check_feature_shape(x_raw, shape_.input_dim, "the data to predict");
  const kernels::Matrix<double> x = fill_non_finite(x_raw, fill_means_);
  const bool classification = shape_.task == TaskType::kClassification;
  kernels::Matrix<double> out(x.rows(), classification ? shape_.output_dim : 1, 0.0);
  for (std::int64_t j : selected_) {
    const kernels::Matrix<double> scores = learnwares_[static_cast<std::size_t>(j)].predict(x.view());
    if (classification) {
      const std::vector<std::int64_t> labels = argmax_labels(scores);
      for (std::int64_t i = 0; i < x.rows(); ++i) out(i, labels[static_cast<std::size_t>(i)]) += 1.0;
    } else {
      for (std::int64_t i = 0; i < x.rows(); ++i) out(i, 0) += scores(i, 0);
    }
  }
  for (double& v : out.values()) v /= static_cast<double>(selected_.size());
  return out;
}

}  // namespace lwd
