#include "engine/kinds/stat_spec.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace lwd {

const SpecKind& StatSpec::kind() const {
  if (kind_ == nullptr) throw Error("no statistical specification (an empty StatSpec)");
  return *kind_;
}

void StatSpec::throw_wrong_type() const {
  if (kind_ == nullptr) throw Error("no statistical specification (an empty StatSpec)");
  throw Error("the statistical specification is an " + std::string(kind_->type_name()) +
              ", not the value type asked for");
}

StatSpec SpecKind::from_search_facts(std::string_view, std::string_view source, const io::JsonLimits&) const {
  throw Error(std::string(source) + ": " + std::string(type_name()) + " specs have no search facts");
}

void SpecKind::inner_products(const StatSpec& a, std::span<const StatSpec* const> facts, const kernels::Context& ctx,
                              std::span<double> out) const {
  if (out.size() != facts.size()) throw Error("inner_products: one output per learnware");
  for (std::size_t i = 0; i < facts.size(); ++i) out[i] = inner_product(a, *facts[i], ctx);
}

namespace {

std::string limit_number(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

std::optional<std::string> rkme_limit_violation(std::span<const double> z, std::span<const double> beta, double gamma,
                                                std::int64_t dim, const SpecLimits& limits) {
  const auto k = static_cast<std::int64_t>(beta.size());
  if (k > limits.max_points)
    return "K = " + std::to_string(k) + " points, more than the limit of " + std::to_string(limits.max_points);
  if (dim > limits.max_dim)
    return "field \"z\" has width " + std::to_string(dim) + ", more than the limit of " + std::to_string(limits.max_dim);
  if (k * dim > limits.max_values)
    return "field \"z\" holds " + std::to_string(k * dim) + " numbers, more than the limit of " +
           std::to_string(limits.max_values);
  for (std::size_t i = 0; i < z.size(); ++i) {
    // Written so that NaN is out of range too.
    if (!(std::abs(z[i]) <= limits.max_abs_z)) {
      const auto d = static_cast<std::size_t>(std::max<std::int64_t>(dim, 1));
      return "field \"z\": z[" + std::to_string(i / d) + "][" + std::to_string(i % d) + "] = " + limit_number(z[i]) +
             " is beyond the limit |z| <= " + limit_number(limits.max_abs_z);
    }
  }
  for (std::size_t i = 0; i < beta.size(); ++i) {
    if (!(std::abs(beta[i]) <= limits.max_abs_beta))
      return "field \"beta\": beta[" + std::to_string(i) + "] = " + limit_number(beta[i]) +
             " is beyond the limit |beta| <= " + limit_number(limits.max_abs_beta);
  }
  if (!(gamma >= limits.min_gamma && gamma <= limits.max_gamma))
    return "field \"gamma\" = " + limit_number(gamma) + " is outside [" + limit_number(limits.min_gamma) + ", " +
           limit_number(limits.max_gamma) + "]";
  return std::nullopt;
}

std::optional<std::string> rkme_limit_violation(const RKMETableSpec& rkme, const SpecLimits& limits) {
  return rkme_limit_violation(rkme.z().values(), rkme.beta(), rkme.gamma(), rkme.dim(), limits);
}

double sum_of(const std::vector<double>& values) {
  double s = 0;
  for (double v : values) s += v;
  return s;
}

std::string shortest_number(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace lwd
