#include "engine/model/xgboost_api.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "engine/error.h"

namespace lwd {
namespace {

template <class Fn>
void bind(void* library, const char* name, Fn& slot, std::string& missing) {
  slot = reinterpret_cast<Fn>(::dlsym(library, name));
  if (slot == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
}

}  // namespace

const XGBoostApi& xgboost_api() {
  static std::once_flag once;
  static XGBoostApi api{};
  static std::string problem;
  std::call_once(once, [] {
    // The library this build compiled against first, then the one its
    // SONAME names wherever the loader finds it.
    void* library = nullptr;
    std::string why;
    for (const char* candidate : {LWD_XGBOOST_LIBRARY_PATH, LWD_XGBOOST_SONAME}) {
      library = ::dlopen(candidate, RTLD_NOW | RTLD_LOCAL);
      if (library != nullptr) break;
      const char* error = ::dlerror();
      why += std::string(why.empty() ? "" : "; ") + (error ? error : candidate);
    }
    if (library == nullptr) {
      problem = "cannot load XGBoost (" + std::string(LWD_XGBOOST_SONAME) + ", package libxgboost0): " + why;
      return;
    }
    std::string missing;
#define LWD_BIND(name) bind(library, #name, api.name, missing)
    LWD_BIND(XGBGetLastError);
    LWD_BIND(XGDMatrixCreateFromMat);
    LWD_BIND(XGDMatrixFree);
    LWD_BIND(XGDMatrixSetFloatInfo);
    LWD_BIND(XGBoosterCreate);
    LWD_BIND(XGBoosterFree);
    LWD_BIND(XGBoosterSetParam);
    LWD_BIND(XGBoosterLoadModelFromBuffer);
    LWD_BIND(XGBoosterGetNumFeature);
    LWD_BIND(XGBoosterSaveJsonConfig);
    LWD_BIND(XGBoosterBoostedRounds);
    LWD_BIND(XGBoosterSaveModelToBuffer);
    LWD_BIND(XGBoosterPredict);
    LWD_BIND(XGBoosterUpdateOneIter);
    LWD_BIND(XGBoosterEvalOneIter);
    LWD_BIND(XGBoosterSlice);
#undef LWD_BIND
    if (!missing.empty()) problem = "the XGBoost library found lacks " + missing + " (a version older than 1.6?)";
  });
  if (!problem.empty()) throw Error(problem);
  return api;
}

}  // namespace lwd
