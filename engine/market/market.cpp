#include "engine/market/market.h"

#include <algorithm>
#include <exception>

#include "engine/error.h"

namespace lwd {

Market::Market(std::unique_ptr<MarketStore> store, kernels::Context ctx) : store_(std::move(store)), ctx_(ctx) {
  refresh_caches();
}
Market::Market(Market&&) noexcept = default;
Market& Market::operator=(Market&&) noexcept = default;
Market::~Market() = default;

Market Market::create(const std::filesystem::path& dir, kernels::Context ctx) {
  return Market(std::make_unique<MarketStore>(MarketStore::create(dir)), ctx);
}

Market Market::open(const std::filesystem::path& dir, kernels::Context ctx) {
  return Market(std::make_unique<MarketStore>(MarketStore::open(dir)), ctx);
}

Market Market::rebuild(const std::filesystem::path& dir, kernels::Context ctx) {
  Market market(std::make_unique<MarketStore>(MarketStore::open_for_rebuild(dir)), ctx);
  market.rebuild_packs();
  return market;
}

AddResult Market::add(const std::filesystem::path& package_zip, const std::string& owner) {
  return submit(std::nullopt, package_zip, owner);
}

AddResult Market::update(const std::string& id, const std::filesystem::path& package_zip) {
  const auto existing = store_->get(id);
  if (!existing) throw Error("no learnware with id " + id);
  return submit(id, package_zip, existing->owner);
}

AddResult Market::submit(const std::optional<std::string>& existing_id, const std::filesystem::path& package_zip,
                         const std::string& owner) {
  const StagedPackage package = StagedPackage::open(package_zip, limits_);
  const LoadedSubmission submission = load_submission(package);
  const CheckResult check = check_learnware(ctx_, package, submission);

  LearnwareRecord record;
  if (existing_id) {
    record = *store_->get(*existing_id);
    record.updated_at.clear();
  } else {
    record.id = store_->next_id();
  }
  record.name = submission.semantic && !submission.semantic->name.empty() ? submission.semantic->name
                                                                          : package.manifest().name;
  record.owner = owner;
  record.status = check.status;
  record.status_reason = check.reason;
  // An invalid learnware keeps only the specs that parsed; nothing of it is searched.
  if (existing_id) {
    store_->update(record, package_zip, submission.specs, submission.semantic_json);
  } else {
    store_->add(record, package_zip, submission.specs, submission.semantic_json);
  }
  refresh_caches();
  return AddResult{record.id, check.status, check.reason};
}

bool Market::remove(const std::string& id) {
  const bool removed = store_->remove(id);
  if (removed) refresh_caches();
  return removed;
}

std::optional<LearnwareRecord> Market::get(const std::string& id) const { return store_->get(id); }

std::vector<LearnwareRecord> Market::list(std::optional<LearnwareStatus> status) const { return store_->list(status); }

std::optional<SemanticSpec> Market::semantic_spec(const std::string& id) const {
  const auto json = store_->semantic_json(id);
  if (!json) return std::nullopt;
  try {
    return SemanticSpec::parse(*json, "learnware " + id);
  } catch (const Error&) {
    return std::nullopt;  // an invalid learnware may carry an unparsable one
  }
}

void Market::rebuild_packs() {
  store_->rebuild([this](const LearnwareRecord&, const std::filesystem::path& zip) {
    const StagedPackage package = StagedPackage::open(zip, limits_);
    LoadedSubmission submission = load_submission(package);
    return RederivedLearnware{std::move(submission.specs), std::move(submission.semantic_json)};
  });
  refresh_caches();
}

void Market::reload() {
  store_->reload();
  refresh_caches();
}

void Market::refresh_caches() {
  usable_ids_.clear();
  usable_semantic_.clear();
  for (const auto& record : store_->list(LearnwareStatus::usable)) {
    usable_ids_.push_back(record.id);
    if (auto spec = semantic_spec(record.id)) usable_semantic_.emplace(record.id, std::move(*spec));
  }
  member_index_.clear();
  float32_z_.clear();
  for (const auto& [key, pack] : store_->packs()) {
    float32_z_[key] = float32_mirror(pack);
    auto& index = member_index_[key];
    for (std::int64_t m = 0; m < pack.count(); ++m) index.emplace(pack.ids[static_cast<std::size_t>(m)], m);
  }
}

SearchResponse Market::search(const SearchRequest& request) const {
  SearchResponse response;
  std::vector<std::string> ids;
  if (request.semantic) {
    std::vector<SemanticCandidate> candidates;
    candidates.reserve(usable_semantic_.size());
    for (const auto& id : usable_ids_) {
      const auto it = usable_semantic_.find(id);
      if (it != usable_semantic_.end()) candidates.push_back({id, &it->second});
    }
    ids = semantic_search(*request.semantic, candidates);
  } else {
    ids = usable_ids_;
  }
  response.semantic_matches = static_cast<std::int64_t>(ids.size());
  if (!request.stat) {
    response.semantic_ids = std::move(ids);
    return response;
  }
  response.semantic_ids = ids;
  const RKMETableSpec& user = *request.stat;
  const std::string key = spec_pack_key(RKMETableSpec::kTypeName, user.dim());
  const auto pack = store_->packs().find(key);
  const auto index = member_index_.find(key);
  if (pack == store_->packs().end() || index == member_index_.end()) return response;  // nothing of that width
  std::vector<std::int64_t> members;
  members.reserve(ids.size());
  for (const auto& id : ids) {
    const auto it = index->second.find(id);
    if (it != index->second.end()) members.push_back(it->second);
  }
  if (members.empty()) return response;
  response.stat = statistical_search(ctx_, user, pack->second, members, request.options, float32_z_.at(key));
  return response;
}

}  // namespace lwd
