// RKMETableSpec: the statistical specification of tabular data, a reduced
// kernel mean embedding (Z, beta) plus gamma and the number of rows it sums up.
//
// Its JSON form is the reference package's, field for field, so files written
// by either side load in the other:
//   {"type":"RKMETableSpecification","gamma":0.1,"num_points":n,
//    "z":[[...],...],"beta":[...], "cuda_idx":-1, "device":"cpu"}
// ("cuda_idx" and "device" are written because the reference loader reads
// them; we ignore them on load.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/io/json_text.h"
#include "kernels/context.h"
#include "kernels/matrix.h"
#include "kernels/rkme.h"

namespace lwd {

class RKMETableSpec {
 public:
  static constexpr std::string_view kTypeName = "RKMETableSpecification";

  RKMETableSpec() = default;
  // Validates: K >= 1, d >= 1, beta has K entries, everything finite,
  // gamma > 0, num_points >= 1. Throws lwd::Error otherwise.
  RKMETableSpec(kernels::Matrix<double> z, std::vector<double> beta, double gamma, std::int64_t num_points);

  // Builds the spec of x (n x d). Non-finite entries are imputed with column
  // means (an all-non-finite column is an error naming it). ctx.seed seeds k-means++.
  static RKMETableSpec generate(const kernels::Context& ctx, kernels::Matrix<double> x,
                                const kernels::RkmeOptions& options = {});

  // <this, other> with this spec's gamma. Throws if the widths differ.
  double inner_product(const RKMETableSpec& other, const kernels::Context& ctx = {}) const;
  // MMD^2(this, other) with this spec's gamma.
  double dist(const RKMETableSpec& other, const kernels::Context& ctx = {}) const;
  // n points that follow the spec (kernel herding), seeded by ctx.seed.
  kernels::Matrix<double> herding(std::int64_t n, const kernels::Context& ctx = {}) const;

  const kernels::Matrix<double>& z() const { return z_; }
  const std::vector<double>& beta() const { return beta_; }
  double gamma() const { return gamma_; }
  std::int64_t num_points() const { return num_points_; }
  std::int64_t size() const { return z_.rows(); }  // K
  std::int64_t dim() const { return z_.cols(); }   // d
  bool empty() const { return z_.empty(); }

  // JSON text in the reference format; parse() rejects malformed input with an
  // lwd::Error naming `source` and the problem (missing field, wrong type,
  // ragged z, beta length != rows of z, non-finite number, invalid JSON).
  std::string to_json_text() const;
  // The JSON is read within `limits` (engine/io/json_text.h); quoted input in
  // messages is cut to a short excerpt.
  static RKMETableSpec parse(std::string_view json_text, std::string_view source = "<memory>",
                             const io::JsonLimits& limits = {});
  void to_json(nlohmann::json& out) const;
  static RKMETableSpec from_json(const nlohmann::json& in, std::string_view source = "<memory>");

  // File forms: save is atomic (no partial file on error).
  void save(const std::filesystem::path& path) const;
  static RKMETableSpec load(const std::filesystem::path& path);

 private:
  kernels::Matrix<double> z_;
  std::vector<double> beta_;
  double gamma_ = 0.1;
  std::int64_t num_points_ = 0;
};

// Z as the reference's JSON holds it: an array of rows (Json is nlohmann::json
// or nlohmann::ordered_json; the text spec's files write Z this way too).
template <class Json>
Json json_rows(const kernels::Matrix<double>& z) {
  Json rows = Json::array();
  for (std::int64_t i = 0; i < z.rows(); ++i) {
    Json row = Json::array();
    for (std::int64_t j = 0; j < z.cols(); ++j) row.push_back(z(i, j));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace lwd
