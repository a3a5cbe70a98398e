// Planted synthetic markets for the search-index measurements (bench/search_index
// and the index benchmarks of bench_search): learnwares whose data come from
// known neighbourhoods, so a search has a neighbourhood to find.
//
// "domains" (the default): n/1000 domains (centres at scale 1 per coordinate)
// of 20 tasks each (moved by 0.35 from their domain), each learnware a task
// centre moved by 0.1 with K points around it (spread 0.3, weights on the
// simplex, gamma 0.1). "flat": n/50 tasks at scale 1, learnwares moved by
// 0.15, every other task about equally far (the RBF kernel saturates), the
// hardest shape for a metric index. A user is a learnware's centre moved by
// 0.1 with fresh points (planted_user).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/market/statistical_search.h"
#include "kernels/random.h"

namespace lwd::bench {

inline RKMETableSpec spec_around(const std::vector<double>& centre, std::int64_t k, kernels::Rng& rng) {
  const auto d = static_cast<std::int64_t>(centre.size());
  kernels::Matrix<double> z(k, d);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t c = 0; c < d; ++c) z(i, c) = centre[static_cast<std::size_t>(c)] + 0.3 * rng.normal();
  std::vector<double> beta(static_cast<std::size_t>(k));
  double total = 0.0;
  for (auto& b : beta) total += (b = rng.uniform() + 0.05);
  for (auto& b : beta) b /= total;
  return RKMETableSpec(std::move(z), std::move(beta), 0.1, 1000);
}

inline std::vector<double> moved(const std::vector<double>& c, double by, kernels::Rng& rng) {
  std::vector<double> out = c;
  for (auto& v : out) v += by * rng.normal();
  return out;
}

struct PlantedMarket {
  SpecPack pack;                                    // ids "0000000000", "0000000001", ...
  std::vector<std::vector<double>> learnware_centre;
};

inline PlantedMarket planted_market(std::int64_t n, std::int64_t k, std::int64_t d, const std::string& shape,
                                    kernels::Rng& rng, const kernels::Context& ctx) {
  const std::int64_t tasks = std::max<std::int64_t>(1, n / 50);
  std::vector<std::vector<double>> centres(static_cast<std::size_t>(tasks));
  std::vector<std::vector<double>> domains(static_cast<std::size_t>(std::max<std::int64_t>(1, tasks / 20)));
  for (auto& c : domains) {
    c.resize(static_cast<std::size_t>(d));
    for (auto& v : c) v = rng.normal();
  }
  for (std::size_t t = 0; t < centres.size(); ++t) {
    if (shape == "flat") {
      centres[t].resize(static_cast<std::size_t>(d));
      for (auto& v : centres[t]) v = rng.normal();
    } else {
      centres[t] = moved(domains[t % domains.size()], 0.35, rng);
    }
  }
  const double learnware_move = shape == "flat" ? 0.15 : 0.1;
  PlantedMarket m;
  m.pack.type = "RKMETableSpecification";
  for (std::int64_t i = 0; i < n; ++i) {
    m.learnware_centre.push_back(
        moved(centres[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(tasks)))], learnware_move, rng));
    std::string id = std::to_string(i);
    // Through a one-member pack: SpecPack::append checks the id against every
    // id packed so far (a linear scan, quadratic over 10⁶ learnwares), and
    // these ids are distinct by construction.
    SpecPack one;
    one.type = m.pack.type;
    one.append(std::string(10 - id.size(), '0') + id, spec_around(m.learnware_centre.back(), k, rng), ctx);
    if (m.pack.dim == 0) m.pack.dim = one.dim;
    m.pack.append_member_of(one, 0);
  }
  return m;
}

inline RKMETableSpec planted_user(const PlantedMarket& m, std::int64_t k, kernels::Rng& rng) {
  const auto& centre = m.learnware_centre[static_cast<std::size_t>(rng.below(m.learnware_centre.size()))];
  return spec_around(moved(centre, 0.1, rng), k, rng);
}

}  // namespace lwd::bench
