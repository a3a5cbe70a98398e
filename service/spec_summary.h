// What the learnware page shows of a statistical specification: the kind's
// own summary (type, K, width, ...) and, for kinds searched as an RBF RKME
// (tables, text), where its K points lie on the plane of their first two
// principal components, each with its weight -- a picture of the sketch a
// person can read, computed on the server so the page needs no linear algebra.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/kinds/stat_spec.h"

namespace lwd::service {

// {"type", "summary": {...}, "projection": {"x": [K], "y": [K], "weight": [K],
//  "explained": [share of the weighted variance along each axis]} | null}.
// The projection is null for kinds that are not RKME point sets (images) and
// for a spec of one point.
nlohmann::json spec_summary_json(const StatSpec& spec);

// The plane: rows of `z` (K x d) centred on their `weight`-weighted mean
// (negative weights count as 0; all zero: equal weights), projected on the
// top two right singular vectors of the weighted, centred rows. Signs are
// fixed so that the largest |coordinate| on each axis is positive, which
// makes the picture the same on every machine.
nlohmann::json principal_plane_json(const kernels::Matrix<double>& z, const std::vector<double>& weight);

}  // namespace lwd::service
