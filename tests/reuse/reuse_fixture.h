// Learnwares for the reuse tests: in memory (a model plus the RKME of the data
// it was trained on) and as real packages in a market.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/reuse/learnware.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "tests/market/market_fixture.h"

namespace lwd::testing_reuse {

namespace fs = std::filesystem;
using kernels::Matrix;

// n rows of N(centre, scale^2 I) in d columns.
inline Matrix<double> gaussian_rows(std::int64_t n, std::int64_t d, double centre, std::uint64_t seed,
                                    double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Matrix<double> x(n, d);
  for (auto& v : x.values()) v = centre + normal(rng);
  return x;
}

inline Matrix<double> stack_rows(const Matrix<double>& a, const Matrix<double>& b) {
  Matrix<double> out(a.rows() + b.rows(), a.cols());
  std::copy(a.values().begin(), a.values().end(), out.data());
  std::copy(b.values().begin(), b.values().end(), out.data() + a.size());
  return out;
}

inline RKMETableSpec small_spec(const Matrix<double>& x, std::uint64_t seed, int k = 20) {
  kernels::RkmeOptions options;
  options.k = k;
  return RKMETableSpec::generate(kernels::Context{.seed = seed}, x, options);
}

// A ridge learnware with fixed coefficients whose spec describes `data`.
inline Learnware ridge_learnware(const std::string& id, std::vector<double> coef, double intercept,
                                 const Matrix<double>& data, std::uint64_t seed = 1) {
  const auto d = static_cast<std::int64_t>(coef.size());
  auto model = std::make_shared<LinearModel>(LinearModel::Type::kRidge, Matrix<double>(1, d, std::move(coef)),
                                             std::vector<double>{intercept});
  return make_learnware(id, model, small_spec(data, seed));
}

// A multinomial logistic learnware with coefficient rows `coef` (classes x d).
inline Learnware logistic_learnware(const std::string& id, Matrix<double> coef, std::vector<double> intercept,
                                    const Matrix<double>& data, std::uint64_t seed = 1) {
  auto model = std::make_shared<LinearModel>(LinearModel::Type::kLogistic, std::move(coef), std::move(intercept));
  return make_learnware(id, model, small_spec(data, seed));
}

inline SemanticSpec table_semantic(std::int64_t d, const std::string& name, const std::string& task,
                                   std::int64_t outputs) {
  SemanticSpec s = testing_market::table_regression_semantic(d, name);
  s.tags["Task"] = {task};
  s.output = FeatureSemantics{outputs, {}};
  return s;
}

// A package holding `model` (a linear model), the RKME of `data` and a
// semantic spec matching the model's task and widths; returns the zip path.
inline fs::path linear_package(const fs::path& dir, const std::string& name, const LinearModel& model,
                               const Matrix<double>& data, std::uint64_t seed = 1) {
  const fs::path work = dir / (name + ".parts");
  fs::create_directories(work);
  Manifest manifest;
  manifest.name = name;
  manifest.model.kind = "linear";
  manifest.model.file = "model.json";
  manifest.model.task = model.task();
  manifest.model.input_dim = model.input_dim();
  manifest.model.output_dim = model.output_dim();
  save_linear_model(model, work / "model.json");
  small_spec(data, seed).save(work / "rkme.json");
  manifest.stat_specs.push_back({std::string(RKMETableSpec::kTypeName), "rkme.json"});
  const bool classification = model.task() == TaskType::kClassification;
  io::write_text_file_atomically(
      work / "semantic.json",
      table_semantic(model.input_dim(), name, classification ? "Classification" : "Regression", model.output_dim())
          .to_json_text());
  manifest.semantic_file = "semantic.json";
  io::write_text_file_atomically(work / "environment.yaml", "runtime: test\n");
  manifest.environment_file = "environment.yaml";
  const std::map<std::string, fs::path> files{{"model.json", work / "model.json"},
                                              {"rkme.json", work / "rkme.json"},
                                              {"semantic.json", work / "semantic.json"},
                                              {"environment.yaml", work / "environment.yaml"}};
  const fs::path zip = dir / (name + ".zip");
  build_package(manifest, files, zip);
  return zip;
}

inline LinearModel ridge_model(std::vector<double> coef, double intercept) {
  const auto d = static_cast<std::int64_t>(coef.size());
  return LinearModel(LinearModel::Type::kRidge, Matrix<double>(1, d, std::move(coef)), {intercept});
}

}  // namespace lwd::testing_reuse
