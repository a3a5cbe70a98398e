// Reusers: deploy a list of learnwares on a user's data in one call, with or
// without a little labelled data of the user's own (docs/DESIGN.md §5).
//
// Conventions shared by every reuser (the Model conventions of model.h):
//   x         rows x input_dim features; non-finite entries are filled with
//             column means (the user's data often has gaps, models need
//             finite input);
//   y         regression: one real target per row; classification: the class
//             index 0..num_classes-1 of each row, as a double;
//   predict   regression: rows x output_dim values; classification:
//             rows x num_classes scores, the label being the argmax (ties:
//             lowest index, as lwd::argmax_labels).
// Every mistake a user can make (empty list, learnwares that disagree,
// shapes, labels out of range, predict before fit) is an lwd::Error that says
// what to change.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"
#include "engine/reuse/learnware.h"
#include "kernels/matrix.h"

namespace lwd {

class Reuser {
 public:
  virtual ~Reuser() = default;

  virtual std::string_view name() const = 0;
  // Whether fit() must be called before predict().
  virtual bool uses_labels() const { return false; }
  // Learns from labelled rows. Reusers that need no labels throw an lwd::Error
  // saying so (silently ignoring the user's labels would hide a mistake).
  virtual void fit(kernels::ConstMatrixView<double> x, std::span<const double> y);
  virtual kernels::Matrix<double> predict(kernels::ConstMatrixView<double> x) const = 0;
};

// What a list of learnwares has in common, checked once by every reuser.
struct LearnwareListShape {
  TaskType task = TaskType::kRegression;
  std::int64_t input_dim = 0;
  std::int64_t output_dim = 0;
};

// Checks that the list is non-empty and that every learnware has the first
// one's input width, task and (when same_output is true) output width.
// Errors start with `reuser` and name the learnware that disagrees.
LearnwareListShape check_learnware_list(const std::vector<Learnware>& learnwares, std::string_view reuser,
                                        bool same_output = true);

// Throws unless x has at least one row and `input_dim` columns.
void check_feature_shape(kernels::ConstMatrixView<double> x, std::int64_t input_dim, std::string_view what);

// Throws unless y has one entry per row, every entry finite, and, for
// classification, every entry an integer in [0, num_classes).
void check_targets(std::span<const double> y, std::int64_t rows, TaskType task, std::int64_t num_classes,
                   std::string_view what);

// Column means over the finite entries; a column without any finite entry is
// an lwd::Error naming it (there is nothing to fill it with).
std::vector<double> finite_column_means(kernels::ConstMatrixView<double> x, std::string_view what);
// A copy of x with every non-finite entry replaced by its column's mean.
kernels::Matrix<double> fill_non_finite(kernels::ConstMatrixView<double> x, std::span<const double> column_means);
// fill_non_finite with x's own column means.
kernels::Matrix<double> fill_non_finite_with_column_means(kernels::ConstMatrixView<double> x, std::string_view what);

// Row-wise softmax (max-shifted, so large scores do not overflow).
kernels::Matrix<double> softmax_rows(const kernels::Matrix<double>& scores);

}  // namespace lwd
