// A retail store as a user of a scenario: its test split to predict, its
// training split as the labelled pool, and its self-trained XGBoost -- what
// the homogeneous and heterogeneous tabular runners share (they differ in
// the feature pipeline the rows come through and in how they search).
#pragma once

#include <string>

#include "datasets/retail/feature_pipelines.h"
#include "engine/model/xgboost_model.h"
#include "scenarios/common/user_study.h"

namespace lwd::scenarios {

// The rows, truth, pool, draw and user model of `data` (query.spec: the RKME
// of its test rows with the market's RKME options and ctx's seed).
StudyUser store_study_user(const datasets::StoreDataset& data, const XGBoostTrainParams& model_params,
                           std::string description, const kernels::Context& ctx);

}  // namespace lwd::scenarios
