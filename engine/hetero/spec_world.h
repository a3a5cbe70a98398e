// The specification world of a market (docs/DESIGN.md §5.6): its mapping
// (world_model.h), trained on the market's own table learnwares, and the
// system specification of every usable table learnware with feature
// descriptions -- its RKME points mapped into the shared space, its weights
// kept -- packed like the market's other specs, so a heterogeneous search is
// the same one-pass packed search (statistical_search.h) as a homogeneous one.
//
//   <market>/spec_world/config.json        the model kind, training settings, retrain_every
//   <market>/spec_world/model.json         the model, its version and the ids it was trained on
//   <market>/spec_world/system_specs.h5    the system specs: one pack (market.h5's format)
//
// Every file is replaced atomically; the model is written before the system
// specs, and the specs file names the model version it was mapped with, so a
// reader that finds them out of step maps again (never mixes two versions).
// The world is derived data: deleting spec_world/ loses nothing a remap
// cannot make again.
//
// Following the market (refresh): a usable table learnware with
// descriptions and no system spec gets one with the current model; one that
// left (deleted, no longer usable, descriptions gone) loses its spec; once
// `retrain_every` such learnwares have arrived since the model was trained,
// the model is trained again on all of them and every system spec is mapped
// again (a new version).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/hetero/world_model.h"
#include "engine/market/market.h"
#include "engine/semantic/semantic_spec.h"
#include "engine/store/spec_pack.h"

namespace lwd::hetero {

inline constexpr std::string_view kSpecWorldDir = "spec_world";
// The pack type of system specs (the reference's name for them).
inline constexpr std::string_view kSystemSpecType = "HeteroMapTableSpecification";

struct SpecWorldConfig {
  std::string model = "desc-pool";
  WorldTrainOptions train;
  // Retrain once this many table learnwares have arrived since the model was
  // trained; 0: only by hand (`lwdock market remap`).
  int retrain_every = 100;

  nlohmann::json to_json() const;
  // Throws lwd::Error naming `source` and the field.
  static SpecWorldConfig from_json(const nlohmann::json& in, std::string_view source);
  void validate() const;
};

// The market's world settings (spec_world/config.json) alone; nullopt when
// the market has no world. Throws lwd::Error naming the file when it does
// not read.
std::optional<SpecWorldConfig> read_spec_world_config(const std::filesystem::path& market_dir);

// A table learnware's feature descriptions, one per column in order, when
// its semantic spec describes every column (Input.Dimension == width and a
// non-blank description for each index); nullopt otherwise.
std::optional<std::vector<std::string>> column_descriptions(const std::optional<FeatureSemantics>& input,
                                                            std::int64_t width);

// ---- the pieces, for a world that lives only in memory (the heterogeneous
// scenarios train one over their own market: a chain left out, another kind)

// Every usable table learnware whose semantic spec describes every column, by
// id; those `keep` refuses are left out (null: none). `without_descriptions`
// (optional) counts the usable table learnwares left out for lack of
// descriptions.
std::vector<WorldTable> described_tables(const Market& market,
                                         const std::function<bool(const std::string& id)>& keep = nullptr,
                                         std::int64_t* without_descriptions = nullptr);
// The system specs of `tables` under `model`, one pack in table order.
SpecPack map_tables(const WorldModel& model, std::span<const WorldTable> tables, const kernels::Context& ctx);
// The statistical search of the user's RKME, whose columns `descriptions`
// describe, against the system specs `pack` (members: indices into the pack,
// empty = all), in float64 throughout (spec_world.cpp says why).
StatSearchResult search_world(const WorldModel& model, const SpecPack& pack, const RKMETableSpec& user,
                              std::span<const std::string> descriptions, std::span<const std::int64_t> members,
                              const StatSearchOptions& options, const kernels::Context& ctx);

struct WorldRefreshReport {
  bool retrained = false;
  std::int64_t mapped = 0;    // system specs added (or all of them, after a retrain)
  std::int64_t dropped = 0;   // system specs of learnwares that left
  std::int64_t skipped = 0;   // usable table learnwares without descriptions for every column
  WorldTrainReport train;     // when retrained
};

class SpecWorld {
 public:
  static std::filesystem::path dir_of(const std::filesystem::path& market_dir) {
    return market_dir / kSpecWorldDir;
  }
  // Whether the market has a world (its config file).
  static bool exists(const std::filesystem::path& market_dir);
  // Reads the market's world; nullopt if it has none. Files that do not read
  // are an lwd::Error naming the file, except system_specs.h5, which is
  // left empty (with a warning) when it is missing, damaged or of another
  // model version: the refresh() every reader calls next maps them again.
  static std::optional<SpecWorld> load(const Market& market, const kernels::Context& ctx);
  // Trains the model on every usable table learnware with feature
  // descriptions, maps them all and saves (version = the previous one + 1).
  // Throws lwd::Error when fewer than two such learnwares exist.
  static SpecWorld train(const Market& market, const SpecWorldConfig& config, const kernels::Context& ctx,
                         WorldTrainReport* report = nullptr);

  // Follows the market (see the file comment); saves what changed.
  WorldRefreshReport refresh(const Market& market, const kernels::Context& ctx);

  const SpecWorldConfig& config() const { return config_; }
  const WorldModel& model() const { return *model_; }
  std::int64_t version() const { return version_; }
  std::int64_t trained_on() const { return static_cast<std::int64_t>(trained_ids_.size()); }
  const SpecPack& system_specs() const { return pack_; }

  // The user's system spec: their RKME points mapped, beta kept. Throws
  // lwd::Error when `descriptions` do not describe every column.
  RKMETableSpec map_user(const RKMETableSpec& user, std::span<const std::string> descriptions,
                         const kernels::Context& ctx) const;

 private:
  SpecWorld() = default;
  void save_model(const std::filesystem::path& market_dir) const;
  void save_specs(const std::filesystem::path& market_dir) const;
  void set_pack(SpecPack pack);

  SpecWorldConfig config_;
  std::shared_ptr<const WorldModel> model_;
  std::int64_t version_ = 0;
  std::vector<std::string> trained_ids_;  // sorted
  std::string trained_at_;
  SpecPack pack_;
};

// ---- search in any space ----------------------------------------------------

// What `lwdock search --hetero` asks: the user's RKME and, for a search in
// the world, the descriptions of their columns (semantic Input.Description).
struct AnySpaceSearchRequest {
  RKMETableSpec spec;
  std::optional<FeatureSemantics> columns;  // from the user's semantic spec's Input
  std::optional<SemanticSpec> semantic;     // tag filter (as SearchRequest::semantic)
  StatSearchOptions options;
};

struct AnySpaceSearchResponse {
  std::string space;   // "homogeneous" or "heterogeneous"
  std::string why;     // one line: why that space
  std::int64_t world_version = 0;  // heterogeneous: the model version searched
  SearchResponse response;
};

// Whether the user's feature space exists in the market: a usable table
// learnware of the user's width whose descriptions equal the user's column
// for column (or, when either side has none, any usable table learnware of
// that width). The one rule `search --hetero` decides by.
bool feature_space_in_market(const Market& market, std::int64_t width, const std::optional<FeatureSemantics>& columns);

// Searches the user's own space when it exists in the market (Market::search),
// and the specification world otherwise. `world` may be null when the market
// has none: then a user whose space is not in the market gets an lwd::Error
// saying to run `lwdock market remap`. A heterogeneous search needs every
// column described (else an lwd::Error naming what is missing).
AnySpaceSearchResponse search_any_space(const Market& market, const SpecWorld* world,
                                        const AnySpaceSearchRequest& request, const kernels::Context& ctx);

}  // namespace lwd::hetero
