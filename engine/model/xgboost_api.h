// XGBoost's C API, loaded on first use (dlopen) instead of linked: libxgboost
// and libdmlc cost every process about 190 page faults and their static
// constructors before main (~8 ms of a bare program's start on the virtual
// machines we measure on), and most lwdock commands (search, list, spec work)
// never run a tree model. The functions keep their C API names and types
// (taken from xgboost/c_api.h, so a changed signature fails to compile).
#pragma once

#include <xgboost/c_api.h>

namespace lwd {

struct XGBoostApi {
  decltype(&::XGBGetLastError) XGBGetLastError;
  decltype(&::XGDMatrixCreateFromMat) XGDMatrixCreateFromMat;
  decltype(&::XGDMatrixFree) XGDMatrixFree;
  decltype(&::XGDMatrixSetFloatInfo) XGDMatrixSetFloatInfo;
  decltype(&::XGBoosterCreate) XGBoosterCreate;
  decltype(&::XGBoosterFree) XGBoosterFree;
  decltype(&::XGBoosterSetParam) XGBoosterSetParam;
  decltype(&::XGBoosterLoadModelFromBuffer) XGBoosterLoadModelFromBuffer;
  decltype(&::XGBoosterGetNumFeature) XGBoosterGetNumFeature;
  decltype(&::XGBoosterSaveJsonConfig) XGBoosterSaveJsonConfig;
  decltype(&::XGBoosterBoostedRounds) XGBoosterBoostedRounds;
  decltype(&::XGBoosterSaveModelToBuffer) XGBoosterSaveModelToBuffer;
  decltype(&::XGBoosterPredict) XGBoosterPredict;
  decltype(&::XGBoosterUpdateOneIter) XGBoosterUpdateOneIter;
  decltype(&::XGBoosterEvalOneIter) XGBoosterEvalOneIter;
  decltype(&::XGBoosterSlice) XGBoosterSlice;
};

// The API, loaded once per process (thread-safe). Throws lwd::Error naming
// the library and what is missing when it cannot be loaded.
const XGBoostApi& xgboost_api();

}  // namespace lwd
