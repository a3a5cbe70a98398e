// A statistical specification of any registered kind, and the interface every
// kind implements. The kinds themselves (table, text, image) are listed once,
// in spec_kinds.cpp; everything that must treat specs of every kind alike --
// reading a file whose type is not known yet, the checker, the store, the
// search, `lwdock spec inspect|dist` -- goes through SpecKind instead of
// naming the kinds. Adding a kind is one new SpecKind implementation (its own
// file beside table_kind.cpp) and one line in spec_kinds.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/io/json_text.h"
#include "engine/kinds/spec_limits.h"
#include "engine/model/model.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/store/learnware_index.h"
#include "kernels/context.h"
#include "kernels/matrix.h"

namespace lwd {

class SpecKind;

// An immutable spec value of some kind (RKMETableSpec, RKMETextSpec, ...),
// shared on copy. Empty when default-constructed.
class StatSpec {
 public:
  StatSpec() = default;
  template <class T>
  StatSpec(const SpecKind& kind, T value)
      : kind_(&kind), type_(&typeid(T)), value_(std::make_shared<const T>(std::move(value))) {}

  bool empty() const { return kind_ == nullptr; }
  explicit operator bool() const { return !empty(); }
  // Throws lwd::Error when empty.
  const SpecKind& kind() const;

  // The value, if it is a T; nullptr otherwise (and when empty).
  template <class T>
  const T* get_if() const {
    return type_ != nullptr && *type_ == typeid(T) ? static_cast<const T*>(value_.get()) : nullptr;
  }
  // The value; throws lwd::Error naming the kind when it is not a T.
  template <class T>
  const T& get() const {
    if (const T* value = get_if<T>()) return *value;
    throw_wrong_type();
  }

 private:
  [[noreturn]] void throw_wrong_type() const;

  const SpecKind* kind_ = nullptr;
  const std::type_info* type_ = nullptr;
  std::shared_ptr<const void> value_;
};

// The RBF RKME a kind's spec is packed and searched as, and the pack type it
// goes under (a text spec's names its encoder, so one pack never mixes
// encoders). `rkme` points into the StatSpec it came from.
struct PackedRkme {
  std::string pack_type;
  const RKMETableSpec* rkme = nullptr;
};

// What the checker concluded about a learnware (checker.h lists the rules).
struct CheckResult {
  LearnwareStatus status = LearnwareStatus::invalid;
  std::string reason;  // empty when usable
};

// How the checker probes a model: this many rows (documents, images) from this seed.
struct ProbeSettings {
  std::int64_t rows = 10;
  std::uint64_t seed = 0;
};

// A probe's predictions, or the verdict that ended the check before there were any.
struct ProbeOutcome {
  kernels::Matrix<double> predictions;
  std::int64_t rows = 0;                 // inputs predicted (the shape the output must have)
  std::optional<CheckResult> verdict;    // set: the check ends with this
};

class SpecKind {
 public:
  virtual ~SpecKind() = default;

  // The "type" field of its JSON files, also the type a package manifest declares.
  virtual std::string_view type_name() const = 0;
  // The semantic Data value of learnwares that carry this kind ("Table", ...).
  virtual std::string_view semantic_data() const = 0;

  // ---- values and files (the reference JSON formats) ----
  virtual StatSpec from_json(const nlohmann::json& in, std::string_view source) const = 0;
  // JSON text read within `limits` (engine/io/json_text.h); syntax errors are
  // explained as the kind's own parser explains them (NaN tokens...).
  virtual StatSpec parse(std::string_view text, std::string_view source, const io::JsonLimits& limits) const = 0;
  virtual StatSpec load(const std::filesystem::path& path) const = 0;
  virtual nlohmann::json to_json(const StatSpec& spec) const = 0;
  virtual void save(const StatSpec& spec, const std::filesystem::path& path) const = 0;  // atomic

  // ---- comparison: both specs of this kind. Throws lwd::Error saying why two
  // specs cannot be compared (width, encoder, image shape...).
  virtual double inner_product(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const = 0;
  virtual double dist(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const = 0;

  // ---- `lwdock spec inspect`: the fields for --json, and "name: value" lines.
  virtual nlohmann::ordered_json summary_json(const StatSpec& spec) const = 0;
  virtual std::vector<std::pair<std::string, std::string>> summary_lines(const StatSpec& spec) const = 0;

  // ---- limits (spec_limits.h): why `spec` lies outside them -- its K, width,
  // the magnitudes of Z and beta, gamma, whatever else makes this kind's
  // products overflow or cost too much -- as one line naming the field; nullopt
  // when within. O(the spec's size): no kernel is evaluated. Every spec a
  // market stores or searches with passes this first (load_stat_spec).
  virtual std::optional<std::string> limit_violation(const StatSpec& spec, const SpecLimits& limits) const = 0;

  // ---- the store: nullopt for kinds whose kernel is not an RBF on Z rows
  // (image specs): those are not packed, and are searched pair by pair.
  virtual std::optional<PackedRkme> packed(const StatSpec& spec) const = 0;

  // ---- the checker ----
  // Why `spec` cannot describe a learnware with this semantic spec and model
  // (e.g. widths that disagree); nullopt when it can.
  virtual std::optional<std::string> mismatch(const StatSpec& spec, const SemanticSpec& semantic,
                                              const ModelConfig& config) const = 0;
  // Predicts a probe batch shaped like the model's inputs. May throw (the
  // checker reports "prediction failed: ...").
  virtual ProbeOutcome probe(const StatSpec& spec, const Model& model, const ModelConfig& config,
                             const ProbeSettings& settings, const kernels::Context& ctx) const = 0;

  // ---- the search ----
  // What the search must know of a learnware's own spec besides its pack
  // member (a text spec's languages), as JSON text that the store keeps with
  // the learnware in market.h5 (/facts/<type>), so that no search opens a
  // package. A kind that is not packed gives what its pairwise search compares
  // (image specs: the spec's support, its self product and its screen
  // embedding, docs/DESIGN.md §4.7). Computed once, when the learnware is
  // stored, with ctx's threads. nullopt: nothing beyond the pack (the default).
  virtual std::optional<std::string> search_facts(const StatSpec& /*spec*/, const kernels::Context& /*ctx*/) const {
    return std::nullopt;
  }
  // Whether this kind has search facts at all (then every learnware's are read).
  bool has_search_facts() const { return has_search_facts_; }
  // The facts read back as the value searchable_against takes; for a kind
  // that is not packed, the spec itself. Throws lwd::Error naming `source`.
  virtual StatSpec from_search_facts(std::string_view facts, std::string_view source,
                                     const io::JsonLimits& limits) const;
  // Whether the user's spec may be compared with the learnware whose facts
  // these are (from_search_facts).
  virtual bool searchable_against(const StatSpec& /*user*/, const StatSpec& /*facts*/) const { return true; }

  // ---- the pairwise search (kinds that are not packed; docs/DESIGN.md §4.7).
  // `facts` are from_search_facts values; inner_product and dist take them
  // as they take specs.
  // <m, m> as the facts keep it (computed when the learnware was stored);
  // nullopt when they do not (the search computes it).
  virtual std::optional<double> stored_self_product(const StatSpec& /*facts*/) const { return std::nullopt; }
  // out[i] = <a, m_i> for every learnware of `facts`, `a` a spec or a
  // learnware's facts: bit for bit inner_product(a, *facts[i]), in one pass
  // that does the work they share once. The default asks inner_product.
  virtual void inner_products(const StatSpec& a, std::span<const StatSpec* const> facts, const kernels::Context& ctx,
                              std::span<double> out) const;
  // A cheap estimate of MMD²(user, m_i) for every learnware, to rank them
  // before the exact products are taken on the best (the screen); nullopt when
  // the kind has none or some learnware's facts lack what it needs.
  virtual std::optional<std::vector<double>> screen_mmd2(const StatSpec& /*user*/,
                                                         std::span<const StatSpec* const> /*facts*/,
                                                         const kernels::Context& /*ctx*/) const {
    return std::nullopt;
  }

 protected:
  SpecKind() = default;
  explicit SpecKind(bool has_search_facts) : has_search_facts_(has_search_facts) {}

 private:
  bool has_search_facts_ = false;
};

// What every kind whose value type T has the spec classes' usual members
// (T::from_json, T::load, to_json, save, inner_product, dist) does the same
// way; a kind derives from SpecKindOf<T> and writes only what is its own.
template <class T>
class SpecKindOf : public SpecKind {
 protected:
  SpecKindOf() = default;
  explicit SpecKindOf(bool has_search_facts) : SpecKind(has_search_facts) {}

 public:
  StatSpec from_json(const nlohmann::json& in, std::string_view source) const override {
    return StatSpec(*this, T::from_json(in, source));
  }
  StatSpec parse(std::string_view text, std::string_view source, const io::JsonLimits& limits) const override {
    return StatSpec(*this, T::parse(text, source, limits));
  }
  StatSpec load(const std::filesystem::path& path) const override { return StatSpec(*this, T::load(path)); }
  nlohmann::json to_json(const StatSpec& spec) const override {
    nlohmann::json out;
    spec.get<T>().to_json(out);
    return out;
  }
  void save(const StatSpec& spec, const std::filesystem::path& path) const override { spec.get<T>().save(path); }
  double inner_product(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const override {
    return a.get<T>().inner_product(b.get<T>(), ctx);
  }
  double dist(const StatSpec& a, const StatSpec& b, const kernels::Context& ctx) const override {
    return a.get<T>().dist(b.get<T>(), ctx);
  }
};

// Why an RBF RKME (K x d Z row-major, beta, gamma) lies outside `limits`
// (K against limits.max_points), naming the field; nullopt when within. The
// table and text kinds check their RKME with it, and the market the members
// of the packs it reads back from disk.
std::optional<std::string> rkme_limit_violation(std::span<const double> z, std::span<const double> beta, double gamma,
                                                std::int64_t dim, const SpecLimits& limits);
std::optional<std::string> rkme_limit_violation(const RKMETableSpec& rkme, const SpecLimits& limits);

// Sum of a spec's weights (the summaries report it).
double sum_of(const std::vector<double>& values);
// The shortest text that reads back as `v` (summaries).
std::string shortest_number(double v);

}  // namespace lwd
