#include "engine/kinds/table_kind.h"

namespace lwd {
namespace {

class TableKind final : public SpecKindOf<RKMETableSpec> {
 public:
  std::string_view type_name() const override { return RKMETableSpec::kTypeName; }
  std::string_view semantic_data() const override { return "Table"; }

  nlohmann::ordered_json summary_json(const StatSpec& any) const override {
    const auto& spec = any.get<RKMETableSpec>();
    nlohmann::ordered_json out;
    out["type"] = RKMETableSpec::kTypeName;
    out["K"] = spec.size();
    out["d"] = spec.dim();
    out["gamma"] = spec.gamma();
    out["num_points"] = spec.num_points();
    out["sum_beta"] = sum_of(spec.beta());
    return out;
  }
  std::vector<std::pair<std::string, std::string>> summary_lines(const StatSpec& any) const override {
    const auto& spec = any.get<RKMETableSpec>();
    return {{"type", std::string(RKMETableSpec::kTypeName)},
            {"K", std::to_string(spec.size())},
            {"d", std::to_string(spec.dim())},
            {"gamma", shortest_number(spec.gamma())},
            {"num_points", std::to_string(spec.num_points())},
            {"sum(beta)", shortest_number(sum_of(spec.beta()))}};
  }

  std::optional<std::string> limit_violation(const StatSpec& spec, const SpecLimits& limits) const override {
    return rkme_limit_violation(spec.get<RKMETableSpec>(), limits);
  }

  std::optional<PackedRkme> packed(const StatSpec& spec) const override {
    return PackedRkme{std::string(RKMETableSpec::kTypeName), &spec.get<RKMETableSpec>()};
  }

  // Tables: the semantic Input.Dimension, the model's input_dim and the Z
  // width are one number.
  std::optional<std::string> mismatch(const StatSpec& any, const SemanticSpec& semantic,
                                      const ModelConfig& config) const override {
    const auto& spec = any.get<RKMETableSpec>();
    if (semantic.input->dimension != config.input_dim) {
      return "semantic Input.Dimension " + std::to_string(semantic.input->dimension) +
             " differs from the model's input_dim " + std::to_string(config.input_dim);
    }
    if (spec.dim() != config.input_dim) {
      return "the statistical specification has Z width " + std::to_string(spec.dim()) + " but the model takes " +
             std::to_string(config.input_dim) + " columns";
    }
    return std::nullopt;
  }

  // Rows herded from the spec itself: what the model was trained on.
  ProbeOutcome probe(const StatSpec& any, const Model& model, const ModelConfig&, const ProbeSettings& settings,
                     const kernels::Context& ctx) const override {
    const auto& spec = any.get<RKMETableSpec>();
    ProbeOutcome out;
    if (model.input_dim() != spec.dim()) {
      out.verdict = CheckResult{LearnwareStatus::invalid, "the model takes " + std::to_string(model.input_dim()) +
                                                              " columns but its spec has " + std::to_string(spec.dim())};
      return out;
    }
    kernels::Matrix<double> rows;
    try {
      rows = spec.herding(settings.rows, ctx);
    } catch (const std::exception& e) {
      out.verdict = CheckResult{LearnwareStatus::not_usable,
                                std::string("cannot sample from the statistical specification: ") + e.what()};
      return out;
    }
    out.rows = rows.rows();
    out.predictions = model.predict(rows.view());
    return out;
  }

};

}  // namespace

const SpecKind& table_spec_kind() {
  static const TableKind kind;
  return kind;
}

StatSpec stat_spec(RKMETableSpec spec) { return StatSpec(table_spec_kind(), std::move(spec)); }

}  // namespace lwd
