#include "engine/kinds/text_kind.h"

#include "engine/store/spec_pack.h"
#include "engine/text/text_model.h"

namespace lwd {
namespace {

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// A text learnware's search facts: its languages.
struct TextLanguages {
  std::vector<std::string> codes;
};

class TextKind final : public SpecKindOf<RKMETextSpec> {
 public:
  TextKind() : SpecKindOf(/*has_search_facts=*/true) {}

  std::string_view type_name() const override { return RKMETextSpec::kTypeName; }
  std::string_view semantic_data() const override { return "Text"; }

  nlohmann::ordered_json summary_json(const StatSpec& any) const override {
    const auto& spec = any.get<RKMETextSpec>();
    const text::TextEncoderId& encoder = spec.encoder();
    nlohmann::ordered_json out;
    out["type"] = RKMETextSpec::kTypeName;
    out["language"] = spec.language();
    out["encoder"] = {{"name", encoder.name}, {"dim", encoder.dim}, {"fingerprint", encoder.fingerprint}};
    out["K"] = spec.size();
    out["d"] = spec.dim();
    out["gamma"] = spec.gamma();
    out["num_points"] = spec.num_points();
    out["sum_beta"] = sum_of(spec.rkme().beta());
    return out;
  }
  std::vector<std::pair<std::string, std::string>> summary_lines(const StatSpec& any) const override {
    const auto& spec = any.get<RKMETextSpec>();
    const text::TextEncoderId& encoder = spec.encoder();
    return {{"type", std::string(RKMETextSpec::kTypeName)},
            {"language", spec.language().empty() ? "(none)" : join(spec.language(), ", ")},
            {"encoder", encoder.name},
            {"encoder_fingerprint", encoder.fingerprint.empty() ? "(none)" : encoder.fingerprint},
            {"K", std::to_string(spec.size())},
            {"d", std::to_string(spec.dim())},
            {"gamma", shortest_number(spec.gamma())},
            {"num_points", std::to_string(spec.num_points())},
            {"sum(beta)", shortest_number(sum_of(spec.rkme().beta()))}};
  }

  // The RKME's limits, and an encoder id short enough to name the market pack
  // its specs go to (the reference's long encoder name fits).
  std::optional<std::string> limit_violation(const StatSpec& any, const SpecLimits& limits) const override {
    const auto& spec = any.get<RKMETextSpec>();
    if (auto why = rkme_limit_violation(spec.rkme(), limits)) return why;
    if (spec.pack_type().size() > kMaxPackTypeLength)
      return "field \"encoder\": the name and fingerprint are too long (" + std::to_string(spec.pack_type().size()) +
             " characters once escaped for a pack name; the limit is " + std::to_string(kMaxPackTypeLength) + ")";
    return std::nullopt;
  }

  std::optional<PackedRkme> packed(const StatSpec& any) const override {
    const auto& spec = any.get<RKMETextSpec>();
    return PackedRkme{spec.pack_type(), &spec.rkme()};
  }

  // A text spec holds embeddings, so nothing in it is compared with the
  // model's input width.
  std::optional<std::string> mismatch(const StatSpec&, const SemanticSpec&, const ModelConfig&) const override {
    return std::nullopt;
  }

  // Random documents of Latin and CJK characters: a text model must take raw text.
  ProbeOutcome probe(const StatSpec&, const Model& model, const ModelConfig& config, const ProbeSettings& settings,
                     const kernels::Context&) const override {
    ProbeOutcome out;
    const TextModel* text_model = as_text_model(model);
    if (text_model == nullptr) {
      out.verdict = CheckResult{LearnwareStatus::invalid,
                                "semantic Data 'Text' but model kind '" + config.kind + "' does not take text"};
      return out;
    }
    out.rows = settings.rows;
    out.predictions = text_model->predict_text(text_probe_documents(settings.rows, settings.seed));
    return out;
  }

  // The reference's rule: the user's languages must all be the learnware's.
  // (The encoder is already the same: it is part of the pack type.)
  std::optional<std::string> search_facts(const StatSpec& any, const kernels::Context&) const override {
    nlohmann::json out;
    out["language"] = any.get<RKMETextSpec>().language();
    return out.dump();
  }
  StatSpec from_search_facts(std::string_view facts, std::string_view source,
                             const io::JsonLimits& limits) const override {
    const nlohmann::json in = io::parse_json(facts, source, limits);
    const auto it = in.is_object() ? in.find("language") : in.end();
    if (it == in.end() || !it->is_array())
      throw Error(std::string(source) + ": the search facts of a text spec need a \"language\" array");
    TextLanguages languages;
    for (const auto& code : *it) {
      if (!code.is_string()) throw Error(std::string(source) + ": field \"language\" holds a non-string");
      languages.codes.push_back(code.get<std::string>());
    }
    return StatSpec(*this, std::move(languages));
  }
  bool searchable_against(const StatSpec& user, const StatSpec& facts) const override {
    return text_languages_compatible(user.get<RKMETextSpec>().language(), facts.get<TextLanguages>().codes);
  }
};

}  // namespace

const SpecKind& text_spec_kind() {
  static const TextKind kind;
  return kind;
}

StatSpec stat_spec(RKMETextSpec spec) { return StatSpec(text_spec_kind(), std::move(spec)); }

}  // namespace lwd
