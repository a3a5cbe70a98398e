// Synthetic table learnwares for the whole-market drivers (market_commands,
// market_writers, server_load): width 12 unless asked (server_load's
// default is 32), K = 100, a ridge model each, a package zip
// built under a scratch folder. Learnware i's data are drawn from its own
// seed, centred a little apart from its neighbours', so searches have a
// ranking to find.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/spec/rkme_table_spec.h"

namespace lwd::bench {

namespace fs = std::filesystem;

inline constexpr std::int64_t kDim = 12;

inline lwd::kernels::Matrix<double> sample(std::int64_t n, double centre, std::uint64_t seed,
                                           std::int64_t dim = kDim) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  lwd::kernels::Matrix<double> x(n, dim);
  for (auto& v : x.values()) v = centre + normal(rng);
  return x;
}

inline std::string semantic_json(const std::string& name, std::int64_t dim = kDim) {
  nlohmann::json description = nlohmann::json::object();
  for (std::int64_t i = 0; i < dim; ++i) description[std::to_string(i)] = "feature " + std::to_string(i);
  nlohmann::json s = {
      {"Data", {{"Values", {"Table"}}, {"Type", "Class"}}},
      {"Task", {{"Values", {"Regression"}}, {"Type", "Class"}}},
      {"Library", {{"Values", {"Others"}}, {"Type", "Class"}}},
      {"Scenario", {{"Values", {"Business"}}, {"Type", "Tag"}}},
      {"License", {{"Values", {"MIT"}}, {"Type", "Class"}}},
      {"Name", {{"Values", name}, {"Type", "String"}}},
      {"Description", {{"Values", "synthetic benchmark learnware " + name}, {"Type", "String"}}},
      {"Input", {{"Dimension", dim}, {"Description", description}}},
      {"Output", {{"Dimension", 1}, {"Description", {{"0", "target"}}}}},
  };
  return s.dump();
}

// One synthetic table learnware's package, written under `work`.
inline fs::path synthetic_package(const fs::path& work, std::int64_t index, std::int64_t dim = kDim) {
  const std::string name = "bench-" + std::to_string(index);
  const fs::path dir = work / name;
  fs::create_directories(dir);
  const auto seed = static_cast<std::uint64_t>(1000 + index);
  const auto x = sample(400, 0.05 * static_cast<double>(index % 40), seed, dim);
  std::vector<double> y(static_cast<std::size_t>(x.rows()));
  for (std::int64_t i = 0; i < x.rows(); ++i) y[static_cast<std::size_t>(i)] = x(i, 0) - 0.5 * x(i, dim - 1);
  lwd::save_linear_model(lwd::fit_ridge(x.view(), y, 1.0), dir / "model.json");
  lwd::RKMETableSpec::generate(lwd::kernels::Context{.n_threads = 1, .seed = seed}, x, lwd::kernels::RkmeOptions{})
      .save(dir / "rkme.json");
  lwd::io::write_text_file_atomically(dir / "semantic.json", semantic_json(name, dim));
  lwd::io::write_text_file_atomically(dir / "environment.yaml", "runtime: bench\n");
  lwd::Manifest m;
  m.name = name;
  m.model.kind = "linear";
  m.model.file = "model.json";
  m.model.task = lwd::TaskType::kRegression;
  m.model.input_dim = dim;
  m.model.output_dim = 1;
  m.semantic_file = "semantic.json";
  m.stat_specs.push_back({std::string(lwd::RKMETableSpec::kTypeName), "rkme.json"});
  m.environment_file = "environment.yaml";
  const fs::path zip = work / (name + ".zip");
  lwd::build_package(m,
                     {{"model.json", dir / "model.json"},
                      {"rkme.json", dir / "rkme.json"},
                      {"semantic.json", dir / "semantic.json"},
                      {"environment.yaml", dir / "environment.yaml"}},
                     zip);
  fs::remove_all(dir);
  return zip;
}

// A table search over these learnwares (of their width): every usable one is compared.
inline lwd::SearchRequest table_search_request(std::int64_t dim = kDim) {
  lwd::SearchRequest request;
  request.spec = lwd::stat_spec(lwd::RKMETableSpec::generate(lwd::kernels::Context{.n_threads = 1, .seed = 5},
                                                             sample(500, 0.7, 5, dim)));
  return request;
}

}  // namespace lwd::bench
