// Example extension: the "median ensemble" reuse method -- the element-wise
// median of the predictions of the learnwares the search found (the mixture,
// or the top singles). Label-free, so every scenario reports it as a table
// row next to Average Ensemble Reuse. It shows the whole extension API:
// a ReuseMethodEntry (key, label, needs_labels, predict function) added to
// the registry from scenarios/extensions.cpp.
#pragma once

#include "kernels/matrix.h"
#include "engine/reuse/method_registry.h"

namespace lwd::scenarios {

// The median over learnwares of each prediction entry (rows x output_dim);
// an even count takes the mean of the two middle values. Classification
// scores are softmax-ed first, so models with different score scales vote
// alike (the label is still the argmax). Throws lwd::Error for an empty list.
kernels::Matrix<double> median_ensemble_predict(std::span<const Learnware> learnwares,
                                                kernels::ConstMatrixView<double> x);

void register_median_ensemble(MethodRegistry& registry);

}  // namespace lwd::scenarios
