#include "engine/kinds/stat_spec.h"

#include <charconv>

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
