#include "engine/hetero/spec_world.h"

#include <algorithm>
#include <set>
#include <utility>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/store/hdf5_spec_store.h"
#include "engine/store/learnware_index.h"
#include "engine/warning.h"

namespace lwd::hetero {
namespace {

constexpr std::string_view kConfigFile = "config.json";
constexpr std::string_view kModelFile = "model.json";
constexpr std::string_view kSpecsFile = "system_specs.h5";
// The system specs file keeps the model version it was mapped with as a
// search-facts entry of this type (market.h5's format has no free attributes).
constexpr std::string_view kVersionFacts = "SpecWorldVersion";
constexpr std::int64_t kFormat = 1;

[[noreturn]] void fail(const std::string& message) { throw Error(message); }

std::string pack_key_for(std::int64_t dim) { return spec_pack_key(kSystemSpecType, dim); }

}  // namespace

std::vector<WorldTable> described_tables(const Market& market, const std::function<bool(const std::string& id)>& keep,
                                         std::int64_t* without_descriptions) {
  std::vector<WorldTable> out;
  std::int64_t missing = 0;
  const std::string prefix = std::string(RKMETableSpec::kTypeName) + "/";
  for (const LearnwareRecord& record : market.list(LearnwareStatus::usable)) {
    if (keep && !keep(record.id)) continue;
    for (const std::string& key : record.spec_keys) {
      if (key.rfind(prefix, 0) != 0) continue;
      const StoredPack* pack = market.store().pack(key);
      if (pack == nullptr) continue;
      const std::optional<std::int64_t> m = pack->find(record.id);
      if (!m) continue;
      const std::optional<SemanticSpec> semantic = market.semantic_spec(record.id);
      std::optional<std::vector<std::string>> descriptions =
          column_descriptions(semantic ? semantic->input : std::nullopt, pack->slots().dim);
      if (!descriptions) {
        ++missing;
        continue;
      }
      const RKMETableSpec spec = pack->slots().spec(*m);
      out.push_back({record.id, spec.z(), spec.beta(), std::move(*descriptions), spec.num_points()});
    }
  }
  std::sort(out.begin(), out.end(), [](const WorldTable& a, const WorldTable& b) { return a.id < b.id; });
  if (without_descriptions != nullptr) *without_descriptions = missing;
  return out;
}

namespace {
RKMETableSpec table_spec(const WorldTable& t) {
  return RKMETableSpec(t.z, t.beta, kSystemSpecGamma, std::max<std::int64_t>(1, t.num_points));
}
}  // namespace

SpecPack map_tables(const WorldModel& model, std::span<const WorldTable> tables, const kernels::Context& ctx) {
  SpecPack pack;
  pack.type = std::string(kSystemSpecType);
  for (const WorldTable& t : tables) pack.append(t.id, map_spec(model, table_spec(t), t.descriptions, ctx), ctx);
  return pack;
}

StatSearchResult search_world(const WorldModel& model, const SpecPack& pack, const RKMETableSpec& user,
                              std::span<const std::string> descriptions, std::span<const std::int64_t> members,
                              const StatSearchOptions& options, const kernels::Context& ctx) {
  const RKMETableSpec mapped = map_spec(model, user, descriptions, ctx);
  // No float32 screen: the system specs lie close together (the world puts
  // the same quantities of every feature space in one place), so the screen
  // sends about 60 % of them to the float64 pass anyway (763 of 1 240 on the
  // experiment market) and the two passes cost more than the one
  // (bench/hetero_search).
  return statistical_search(ctx, mapped, pack, members, options, {});
}

// ---- config -------------------------------------------------------------------

nlohmann::json SpecWorldConfig::to_json() const {
  return {{"format", kFormat},
          {"model", model},
          {"dim", train.dim},
          {"hidden", train.hidden},
          {"epochs", train.epochs},
          {"batch", train.batch},
          {"learning_rate", train.learning_rate},
          {"temperature", train.temperature},
          {"view_fraction", train.view_fraction},
          {"seed", train.seed},
          {"retrain_every", retrain_every}};
}

SpecWorldConfig SpecWorldConfig::from_json(const nlohmann::json& in, std::string_view source) {
  if (!in.is_object()) fail(std::string(source) + ": not a JSON object");
  SpecWorldConfig c;
  try {
    if (in.value("format", kFormat) != kFormat) fail("format " + in.at("format").dump() + " is not " + std::to_string(kFormat));
    c.model = in.value("model", c.model);
    c.train.dim = in.value("dim", c.train.dim);
    c.train.hidden = in.value("hidden", c.train.hidden);
    c.train.epochs = in.value("epochs", c.train.epochs);
    c.train.batch = in.value("batch", c.train.batch);
    c.train.learning_rate = in.value("learning_rate", c.train.learning_rate);
    c.train.temperature = in.value("temperature", c.train.temperature);
    c.train.view_fraction = in.value("view_fraction", c.train.view_fraction);
    c.train.seed = in.value("seed", c.train.seed);
    c.retrain_every = in.value("retrain_every", c.retrain_every);
  } catch (const nlohmann::json::exception& e) {
    fail(std::string(source) + ": " + e.what());
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail(std::string(source) + ": " + e.what());
  }
  return c;
}

void SpecWorldConfig::validate() const {
  world_model_kind(model);
  train.validate();
  if (retrain_every < 0) fail("the specification world's --retrain-every must be >= 0");
}

std::optional<std::vector<std::string>> column_descriptions(const std::optional<FeatureSemantics>& input,
                                                            std::int64_t width) {
  if (!input || width <= 0 || input->dimension != width) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(width));
  for (std::int64_t j = 0; j < width; ++j) {
    const auto it = input->descriptions.find(j);
    if (it == input->descriptions.end() ||
        it->second.find_first_not_of(" \t\r\n") == std::string::npos) {
      return std::nullopt;
    }
    out.push_back(it->second);
  }
  return out;
}

// ---- the world ------------------------------------------------------------------

std::optional<SpecWorldConfig> read_spec_world_config(const std::filesystem::path& market_dir) {
  const std::filesystem::path path = SpecWorld::dir_of(market_dir) / kConfigFile;
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json in;
  try {
    in = nlohmann::json::parse(io::read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path.string() + ": " + e.what());
  }
  return SpecWorldConfig::from_json(in, path.string());
}

bool SpecWorld::exists(const std::filesystem::path& market_dir) {
  return std::filesystem::exists(dir_of(market_dir) / kConfigFile);
}

void SpecWorld::set_pack(SpecPack pack) { pack_ = std::move(pack); }

SpecWorld SpecWorld::train(const Market& market, const SpecWorldConfig& config, const kernels::Context& ctx,
                           WorldTrainReport* report) {
  config.validate();
  std::int64_t without_descriptions = 0;
  const std::vector<WorldTable> tables = described_tables(market, nullptr, &without_descriptions);
  if (tables.size() < 2) {
    fail("the market has " + std::to_string(tables.size()) +
         " usable table learnware(s) with a description for every feature (" +
         std::to_string(without_descriptions) +
         " without); the specification world needs at least two (semantic Input.Description)");
  }
  WorldTrainReport local;
  std::unique_ptr<WorldModel> model = train_world_model(config.model, tables, config.train, ctx, &local);

  SpecWorld world;
  const std::optional<SpecWorld> previous = [&]() -> std::optional<SpecWorld> {
    try {
      if (!exists(market.store().dir())) return std::nullopt;
      const nlohmann::json in = nlohmann::json::parse(io::read_text_file(dir_of(market.store().dir()) / kModelFile));
      SpecWorld w;
      w.version_ = in.value("version", std::int64_t{0});
      return w;
    } catch (const std::exception&) {
      return std::nullopt;  // a model that does not read is replaced; its version is lost
    }
  }();
  world.config_ = config;
  world.model_ = std::move(model);
  world.version_ = (previous ? previous->version_ : 0) + 1;
  world.trained_at_ = utc_now_iso8601();
  for (const WorldTable& t : tables) world.trained_ids_.push_back(t.id);
  world.set_pack(map_tables(*world.model_, tables, ctx));
  std::filesystem::create_directories(dir_of(market.store().dir()));
  io::write_text_file_atomically(dir_of(market.store().dir()) / kConfigFile, config.to_json().dump(2) + "\n");
  world.save_model(market.store().dir());
  world.save_specs(market.store().dir());
  if (report != nullptr) *report = std::move(local);
  return world;
}

void SpecWorld::save_model(const std::filesystem::path& market_dir) const {
  nlohmann::json out{{"format", kFormat},
                     {"version", version_},
                     {"trained_at", trained_at_},
                     {"trained_on", trained_ids_},
                     {"model", world_model_to_json(*model_)}};
  io::write_text_file_atomically(dir_of(market_dir) / kModelFile, out.dump() + "\n");
}

void SpecWorld::save_specs(const std::filesystem::path& market_dir) const {
  MarketSnapshot snapshot;
  if (pack_.count() > 0) snapshot.packs.emplace(pack_key_for(pack_.dim), pack_);
  snapshot.facts_by_type[std::string(kVersionFacts)]["version"] = std::to_string(version_);
  write_market_h5(dir_of(market_dir) / kSpecsFile, snapshot);
}

std::optional<SpecWorld> SpecWorld::load(const Market& market, const kernels::Context& ctx) {
  const std::filesystem::path market_dir = market.store().dir();
  if (!exists(market_dir)) return std::nullopt;
  const std::filesystem::path dir = dir_of(market_dir);
  SpecWorld world;
  const auto read_json = [](const std::filesystem::path& path) {
    try {
      return nlohmann::json::parse(io::read_text_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail(path.string() + ": " + e.what() + " (`lwdock market remap` makes the world again)");
    }
  };
  world.config_ = *read_spec_world_config(market_dir);
  const std::filesystem::path model_path = dir / kModelFile;
  if (!std::filesystem::exists(model_path)) {
    fail(model_path.string() + " is missing (`lwdock market remap` makes the world again)");
  }
  const nlohmann::json model = read_json(model_path);
  try {
    world.version_ = model.at("version").get<std::int64_t>();
    world.trained_at_ = model.value("trained_at", std::string());
    world.trained_ids_ = model.at("trained_on").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    fail(model_path.string() + ": " + e.what() + " (`lwdock market remap` makes the world again)");
  }
  if (!model.contains("model")) fail(model_path.string() + ": no 'model' (`lwdock market remap` makes the world again)");
  world.model_ = world_model_from_json(model.at("model"), model_path.string());
  std::sort(world.trained_ids_.begin(), world.trained_ids_.end());

  bool mapped = false;
  try {
    MarketSnapshot snapshot = read_market_h5(dir / kSpecsFile);
    const auto facts = snapshot.facts_by_type.find(std::string(kVersionFacts));
    const bool same_version = facts != snapshot.facts_by_type.end() && facts->second.count("version") > 0 &&
                              facts->second.at("version") == std::to_string(world.version_);
    if (same_version) {
      const auto it = snapshot.packs.find(pack_key_for(world.model_->dim()));
      SpecPack pack = it != snapshot.packs.end() ? std::move(it->second) : SpecPack{};
      pack.type = std::string(kSystemSpecType);
      world.set_pack(std::move(pack));
      mapped = true;
    } else {
      warn((dir / kSpecsFile).string() + " was mapped with another model version; mapping again");
    }
  } catch (const Error& e) {
    warn(std::string("the system specifications do not read (") + e.what() + "); mapping again");
  }
  if (!mapped) {
    SpecPack empty;
    empty.type = std::string(kSystemSpecType);
    world.set_pack(std::move(empty));
  }
  (void)ctx;
  return world;
}

WorldRefreshReport SpecWorld::refresh(const Market& market, const kernels::Context& ctx) {
  WorldRefreshReport report;
  const std::vector<WorldTable> found = described_tables(market, nullptr, &report.skipped);
  std::set<std::string> trained(trained_ids_.begin(), trained_ids_.end());
  std::int64_t arrived = 0;
  for (const WorldTable& t : found) arrived += trained.count(t.id) == 0 ? 1 : 0;
  if (config_.retrain_every > 0 && arrived >= config_.retrain_every) {
    WorldTrainReport train_report;
    *this = train(market, config_, ctx, &train_report);
    report.retrained = true;
    report.mapped = pack_.count();
    report.train = std::move(train_report);
    return report;
  }
  // Drop the specs of learnwares that left, map those that arrived.
  std::set<std::string> present;
  for (const WorldTable& t : found) present.insert(t.id);
  SpecPack pack = pack_;
  for (const std::string& id : pack_.ids) {
    if (present.count(id) == 0) {
      pack.remove(id);
      ++report.dropped;
    }
  }
  for (const WorldTable& t : found) {
    if (pack.find(t.id)) continue;
    pack.append(t.id, map_spec(*model_, table_spec(t), t.descriptions, ctx), ctx);
    ++report.mapped;
  }
  if (report.mapped > 0 || report.dropped > 0) {
    set_pack(std::move(pack));
    try {
      save_specs(market.store().dir());
    } catch (const Error& e) {
      // A reader of a market it may not write (a read-only mount) keeps the
      // specs it mapped in memory.
      warn(std::string("the system specifications could not be saved: ") + e.what());
    }
  }
  return report;
}

RKMETableSpec SpecWorld::map_user(const RKMETableSpec& user, std::span<const std::string> descriptions,
                                  const kernels::Context& ctx) const {
  return map_spec(*model_, user, descriptions, ctx);
}

// ---- search in any space ----------------------------------------------------

bool feature_space_in_market(const Market& market, std::int64_t width, const std::optional<FeatureSemantics>& columns) {
  const std::string key = spec_pack_key(RKMETableSpec::kTypeName, width);
  const StoredPack* pack = market.store().pack(key);
  if (pack == nullptr) return false;
  const std::optional<std::vector<std::string>> user = column_descriptions(columns, width);
  for (const LearnwareRecord& record : market.list(LearnwareStatus::usable)) {
    if (std::find(record.spec_keys.begin(), record.spec_keys.end(), key) == record.spec_keys.end()) continue;
    if (!user) return true;
    const std::optional<SemanticSpec> semantic = market.semantic_spec(record.id);
    const std::optional<std::vector<std::string>> theirs =
        column_descriptions(semantic ? semantic->input : std::nullopt, width);
    if (!theirs || *theirs == *user) return true;
  }
  return false;
}

AnySpaceSearchResponse search_any_space(const Market& market, const SpecWorld* world,
                                        const AnySpaceSearchRequest& request, const kernels::Context& ctx) {
  AnySpaceSearchResponse out;
  const std::int64_t width = request.spec.dim();
  if (feature_space_in_market(market, width, request.columns)) {
    out.space = "homogeneous";
    out.why = "the market holds usable table learnwares of the user's feature space (width " + std::to_string(width) +
              (request.columns ? ", the same feature descriptions)" : ")");
    SearchRequest homogeneous;
    homogeneous.spec = StatSpec(*find_spec_kind(RKMETableSpec::kTypeName), request.spec);
    homogeneous.semantic = request.semantic;
    homogeneous.options = request.options;
    out.response = market.search(homogeneous);
    return out;
  }
  if (world == nullptr) {
    fail("no usable table learnware of the market shares the user's feature space (width " + std::to_string(width) +
         "), and the market has no specification world for a heterogeneous search: run `lwdock market remap DIR`");
  }
  const std::optional<std::vector<std::string>> descriptions = column_descriptions(request.columns, width);
  if (!descriptions) {
    fail("a heterogeneous search needs a description of every one of the user's " + std::to_string(width) +
         " features (semantic Input.Dimension " + std::to_string(width) + " and Input.Description \"0\".." +
         std::to_string(width - 1) + ")");
  }
  out.space = "heterogeneous";
  out.why = "no usable table learnware shares the user's feature space (width " + std::to_string(width) +
            "); searched the specification world (model " + std::string(world->model().kind()) + " version " +
            std::to_string(world->version()) + ")";
  out.world_version = world->version();

  // The members the semantic query allows (every system spec without one).
  const SpecPack& pack = world->system_specs();
  std::vector<std::int64_t> members;
  if (request.semantic) {
    SearchRequest semantic_only;
    semantic_only.semantic = request.semantic;
    const SearchResponse filtered = market.search(semantic_only);
    out.response.semantic_matches = filtered.semantic_matches;
    out.response.semantic_ids = filtered.semantic_ids;
    for (const std::string& id : filtered.semantic_ids) {
      if (const std::optional<std::int64_t> m = pack.find(id)) members.push_back(*m);
    }
    std::sort(members.begin(), members.end());
    if (members.empty()) return out;
  } else {
    out.response.semantic_matches = pack.count();
    out.response.semantic_ids = pack.ids;
  }
  if (pack.count() == 0) return out;
  out.response.stat = search_world(world->model(), pack, request.spec, *descriptions, members, request.options, ctx);
  return out;
}

}  // namespace lwd::hetero
