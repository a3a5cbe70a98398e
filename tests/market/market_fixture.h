// Building real learnware packages in tests: a ridge model fitted on a blob of
// data, the blob's RKME, a semantic spec, all zipped by build_package.
#pragma once

#include "tests/support/scratch_dir.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "engine/io/atomic_file.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"

namespace lwd::testing_market {

namespace fs = std::filesystem;

using TempDir = ::lwd::test::ScratchDir;

inline kernels::Matrix<double> blob(std::int64_t n, std::int64_t d, double centre, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  kernels::Matrix<double> x(n, d);
  for (auto& v : x.values()) v = centre + normal(rng);
  return x;
}

inline SemanticSpec table_regression_semantic(std::int64_t d, const std::string& name) {
  SemanticSpec s;
  s.tags["Data"] = {"Table"};
  s.tags["Task"] = {"Regression"};
  s.tags["Library"] = {"Others"};
  s.tags["Scenario"] = {"Business"};
  s.tags["License"] = {"MIT"};
  s.name = name;
  s.description = "test learnware " + name;
  s.input = FeatureSemantics{d, {}};
  s.output = FeatureSemantics{1, {{0, "target"}}};
  return s;
}

struct PackageParts {
  std::int64_t d = 3;
  double centre = 0.0;
  std::uint64_t seed = 1;
  std::string name = "learnware";
  // Overrides to make a package bad in one specific way.
  std::int64_t spec_width = 0;        // 0: same as d
  std::int64_t manifest_input_dim = 0;  // 0: same as d
  std::string semantic_json{};        // non-empty: used verbatim
  // Non-empty: applied to the generated spec's JSON before it is written
  // (e.g. to put out-of-range numbers in it).
  std::function<void(nlohmann::json&)> edit_spec{};
  std::string process_script{};       // non-empty: a process model running this bash script
  std::string process_interpreter = "/bin/bash";  // its #! line
};

// Writes a package for `parts` into dir/name.zip and returns its path.
inline fs::path make_package(const fs::path& dir, const PackageParts& parts) {
  const fs::path work = dir / (parts.name + ".parts");
  fs::create_directories(work);
  const kernels::Matrix<double> x = blob(300, parts.d, parts.centre, parts.seed);
  std::vector<double> y(static_cast<std::size_t>(x.rows()));
  for (std::int64_t i = 0; i < x.rows(); ++i) y[static_cast<std::size_t>(i)] = x(i, 0) - 2.0 * x(i, parts.d - 1);

  Manifest manifest;
  manifest.name = parts.name;
  manifest.model.task = TaskType::kRegression;
  manifest.model.input_dim = parts.manifest_input_dim ? parts.manifest_input_dim : parts.d;
  manifest.model.output_dim = 1;
  std::map<std::string, fs::path> files;
  if (parts.process_script.empty()) {
    manifest.model.kind = "linear";
    manifest.model.file = "model.json";
    save_linear_model(fit_ridge(x.view(), y, 1.0), work / "model.json");
    files["model.json"] = work / "model.json";
  } else {
    manifest.model.kind = "process";
    manifest.model.command = {"predict.sh"};
    manifest.model.timeout_seconds = 2.0;
    io::write_text_file_atomically(work / "predict.sh", "#!" + parts.process_interpreter + "\n" + parts.process_script);
    files["predict.sh"] = work / "predict.sh";
  }

  const std::int64_t spec_width = parts.spec_width ? parts.spec_width : parts.d;
  kernels::RkmeOptions o;
  o.k = 20;
  const RKMETableSpec spec =
      RKMETableSpec::generate(kernels::Context{.seed = parts.seed}, blob(300, spec_width, parts.centre, parts.seed), o);
  if (parts.edit_spec) {
    nlohmann::json j;
    spec.to_json(j);
    parts.edit_spec(j);
    io::write_text_file_atomically(work / "rkme.json", j.dump());
  } else {
    spec.save(work / "rkme.json");
  }
  manifest.stat_specs.push_back({std::string(RKMETableSpec::kTypeName), "rkme.json"});
  files["rkme.json"] = work / "rkme.json";

  const std::string semantic =
      parts.semantic_json.empty() ? table_regression_semantic(parts.d, parts.name).to_json_text() : parts.semantic_json;
  io::write_text_file_atomically(work / "semantic.json", semantic);
  manifest.semantic_file = "semantic.json";
  files["semantic.json"] = work / "semantic.json";
  io::write_text_file_atomically(work / "environment.yaml", "runtime: test\n");
  manifest.environment_file = "environment.yaml";
  files["environment.yaml"] = work / "environment.yaml";

  const fs::path zip = dir / (parts.name + ".zip");
  build_package(manifest, files, zip);
  return zip;
}

}  // namespace lwd::testing_market
