#include "service/spec_summary.h"

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <vector>

namespace lwd::service {

nlohmann::json principal_plane_json(const kernels::Matrix<double>& z, const std::vector<double>& weight) {
  const Eigen::Index k = z.rows();
  const Eigen::Index d = z.cols();
  if (k < 2 || d < 1 || static_cast<Eigen::Index>(weight.size()) != k) return nullptr;
  Eigen::VectorXd w(k);
  double total = 0;
  for (Eigen::Index i = 0; i < k; ++i) {
    w[i] = std::max(0.0, weight[static_cast<std::size_t>(i)]);
    total += w[i];
  }
  if (!(total > 0)) {
    w.setConstant(1.0 / static_cast<double>(k));
  } else {
    w /= total;
  }
  const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> rows(z.data(), k, d);
  const Eigen::RowVectorXd mean = w.transpose() * rows;
  const Eigen::MatrixXd centred = rows.rowwise() - mean;
  const Eigen::MatrixXd scaled = w.cwiseSqrt().asDiagonal() * centred;
  const Eigen::BDCSVD<Eigen::MatrixXd> svd(scaled, Eigen::ComputeThinV);
  const Eigen::Index axes = std::min<Eigen::Index>(2, svd.singularValues().size());
  Eigen::MatrixXd plane = Eigen::MatrixXd::Zero(k, 2);
  if (axes > 0) plane.leftCols(axes) = centred * svd.matrixV().leftCols(axes);
  for (Eigen::Index a = 0; a < 2; ++a) {
    Eigen::Index largest = 0;
    plane.col(a).cwiseAbs().maxCoeff(&largest);
    if (plane(largest, a) < 0) plane.col(a) = -plane.col(a);
  }
  const double variance = svd.singularValues().squaredNorm();
  nlohmann::json explained = nlohmann::json::array();
  for (Eigen::Index a = 0; a < 2; ++a) {
    const double s = a < axes ? svd.singularValues()[a] : 0.0;
    explained.push_back(variance > 0 ? s * s / variance : 0.0);
  }
  std::vector<double> x(static_cast<std::size_t>(k)), y(x.size()), kept(x.size());
  for (Eigen::Index i = 0; i < k; ++i) {
    x[static_cast<std::size_t>(i)] = plane(i, 0);
    y[static_cast<std::size_t>(i)] = plane(i, 1);
    kept[static_cast<std::size_t>(i)] = weight[static_cast<std::size_t>(i)];
  }
  return {{"x", x}, {"y", y}, {"weight", kept}, {"explained", explained}};
}

nlohmann::json spec_summary_json(const StatSpec& spec) {
  const SpecKind& kind = spec.kind();
  nlohmann::json out = {{"type", std::string(kind.type_name())},
                        {"summary", nlohmann::json::parse(kind.summary_json(spec).dump())},
                        {"projection", nullptr}};
  if (const auto packed = kind.packed(spec); packed && packed->rkme != nullptr) {
    out["projection"] = principal_plane_json(packed->rkme->z(), packed->rkme->beta());
  }
  return out;
}

}  // namespace lwd::service
