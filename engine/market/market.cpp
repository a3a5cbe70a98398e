#include "engine/market/market.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"

namespace lwd {

namespace {

// memo[key], computed (outside the lock: an NNGP product takes tens of ms) and
// stored on a miss. Two threads missing together both compute the same value.
template <class Map, class Compute>
double memoised(std::mutex& mutex, Map& memo, const typename Map::key_type& key, Compute compute) {
  {
    std::lock_guard lock(mutex);
    const auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  const double value = compute();
  std::lock_guard lock(mutex);
  memo.emplace(key, value);
  return value;
}

}  // namespace

struct Market::PairProductMemo {
  std::mutex mutex;
  std::map<std::string, double> self;
  std::map<std::pair<std::string, std::string>, double> pair;
};

Market::Market(std::unique_ptr<MarketStore> store, kernels::Context ctx)
    : store_(std::move(store)),
      ctx_(ctx),
      pair_memo_(std::make_unique<PairProductMemo>()),
      mutex_(std::make_unique<WriterPreferringSharedMutex>()) {
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
  const auto existing = get(id);
  if (!existing) throw Error("no learnware with id " + id);
  return submit(id, package_zip, existing->owner);
}

AddResult Market::submit(const std::optional<std::string>& existing_id, const std::filesystem::path& package_zip,
                         const std::string& owner) {
  const StagedPackage package = StagedPackage::open(package_zip, limits_);
  const LoadedSubmission submission = load_submission(package);
  const CheckResult check = check_learnware(ctx_, package, submission);

  // Staging and checking (the slow part) ran without the lock; the change runs under it.
  std::unique_lock lock(*mutex_);
  LearnwareRecord record;
  if (existing_id) {
    const auto existing = store_->get(*existing_id);
    if (!existing) throw Error("no learnware with id " + *existing_id);
    record = *existing;
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
    refresh_caches();
  } else {
    store_->add(record, package_zip, submission.specs, submission.semantic_json);
    cache_added(record.id, check.status, submission);
  }
  return AddResult{record.id, check.status, check.reason};
}

bool Market::remove(const std::string& id) {
  std::unique_lock lock(*mutex_);
  const bool removed = store_->remove(id);
  if (removed) refresh_caches();
  return removed;
}

std::optional<LearnwareRecord> Market::get(const std::string& id) const {
  std::shared_lock lock(*mutex_);
  return store_->get(id);
}

std::vector<LearnwareRecord> Market::list(std::optional<LearnwareStatus> status) const {
  std::shared_lock lock(*mutex_);
  return store_->list(status);
}

namespace {

std::optional<SemanticSpec> parse_stored_semantic(const MarketStore& store, const std::string& id) {
  const auto json = store.semantic_json(id);
  if (!json) return std::nullopt;
  try {
    return SemanticSpec::parse(*json, "learnware " + id);
  } catch (const Error&) {
    return std::nullopt;  // an invalid learnware may carry an unparsable one
  }
}

}  // namespace

std::optional<SemanticSpec> Market::semantic_spec(const std::string& id) const {
  std::shared_lock lock(*mutex_);
  return parse_stored_semantic(*store_, id);
}

void Market::rebuild_packs() {
  std::unique_lock lock(*mutex_);
  store_->rebuild([this](const LearnwareRecord&, const std::filesystem::path& zip) {
    const StagedPackage package = StagedPackage::open(zip, limits_);
    LoadedSubmission submission = load_submission(package);
    return RederivedLearnware{std::move(submission.specs), std::move(submission.semantic_json)};
  });
  refresh_caches();
}

void Market::reload() {
  std::unique_lock lock(*mutex_);
  store_->reload();
  refresh_caches();
}

void Market::refresh_caches() {
  usable_ids_.clear();
  usable_semantic_.clear();
  learnware_specs_.clear();
  const auto& kinds = spec_kinds();
  const bool some_kind_reads_specs = std::any_of(kinds.begin(), kinds.end(), [](const SpecKind* kind) {
    return kind->search_reads_learnware_specs();
  });
  for (const auto& record : store_->list(LearnwareStatus::usable)) {
    usable_ids_.push_back(record.id);
    auto spec = parse_stored_semantic(*store_, record.id);
    if (!spec) continue;
    const SpecKind& kind = spec_kind_for_data(spec->first("Data"));
    usable_semantic_.emplace(record.id, std::move(*spec));
    if (!some_kind_reads_specs || !kind.search_reads_learnware_specs()) continue;
    // The specs such a search reads are not in market.h5: read them from the
    // package (only learnwares of those kinds pay this, once per open).
    try {
      const StagedPackage package = StagedPackage::open(store_->package_path(record.id), limits_);
      cache_learnware_specs(record.id, load_submission(package));
    } catch (const std::exception&) {
      // An unreadable package leaves the learnware out of statistical search;
      // `lwdock market rebuild` re-derives what can be derived.
    }
  }
  member_index_.clear();
  float32_z_.clear();
  for (const auto& [key, pack] : store_->packs()) {
    float32_z_[key] = float32_mirror(pack);
    auto& index = member_index_[key];
    for (std::int64_t m = 0; m < pack.count(); ++m) index.emplace(pack.ids[static_cast<std::size_t>(m)], m);
  }
  std::lock_guard lock(pair_memo_->mutex);
  pair_memo_->self.clear();
  pair_memo_->pair.clear();
}

void Market::cache_learnware_specs(const std::string& id, const LoadedSubmission& submission) {
  std::vector<StatSpec> kept;
  for (const StatSpec& spec : submission.stat_specs)
    if (spec.kind().search_reads_learnware_specs()) kept.push_back(spec);
  if (kept.empty()) {
    learnware_specs_.erase(id);
  } else {
    learnware_specs_.insert_or_assign(id, std::move(kept));
  }
}

const StatSpec* Market::learnware_spec(const std::string& id, const SpecKind& kind) const {
  const auto it = learnware_specs_.find(id);
  if (it == learnware_specs_.end()) return nullptr;
  for (const StatSpec& spec : it->second)
    if (&spec.kind() == &kind) return &spec;
  return nullptr;
}

void Market::cache_added(const std::string& id, LearnwareStatus status, const LoadedSubmission& submission) {
  // Packs hold every learnware whatever its status; the store appended this
  // one's members at the end of each pack.
  for (const auto& [type, spec] : submission.specs) {
    const std::string key = spec_pack_key(type, spec.dim());
    const auto pack = store_->packs().find(key);
    if (pack == store_->packs().end()) continue;
    const auto member = pack->second.find(id);
    auto& mirror = float32_z_[key];
    const auto rows = static_cast<std::size_t>(spec.size() * spec.dim());
    if (member && *member == pack->second.count() - 1 && mirror.size() + rows == pack->second.z.size()) {
      mirror.insert(mirror.end(), pack->second.z.end() - static_cast<std::ptrdiff_t>(rows), pack->second.z.end());
      member_index_[key].emplace(id, *member);
    } else {
      refresh_caches();  // the store reorganised the pack (compaction): start over
      return;
    }
  }
  if (status != LearnwareStatus::usable) return;
  usable_ids_.push_back(id);  // ids only grow, so the list stays ordered
  if (submission.semantic) usable_semantic_.insert_or_assign(id, *submission.semantic);
  cache_learnware_specs(id, submission);
}

SearchResponse Market::search(const SearchRequest& request) const {
  std::shared_lock lock(*mutex_);
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
  response.semantic_ids = ids;
  if (!request.spec) return response;
  if (const auto packed = request.spec.kind().packed(request.spec)) {
    response.stat = search_packed(request.spec, *packed, ids, request.options);
  } else {
    response.stat = search_pairwise(request.spec, ids, request.options);
  }
  return response;
}

StatSearchResult Market::search_packed(const StatSpec& user, const PackedRkme& packed,
                                       const std::vector<std::string>& ids, const StatSearchOptions& options) const {
  const std::string key = spec_pack_key(packed.pack_type, packed.rkme->dim());
  const auto pack = store_->packs().find(key);
  const auto index = member_index_.find(key);
  if (pack == store_->packs().end() || index == member_index_.end()) return {};  // nothing comparable
  const SpecKind& kind = user.kind();
  const bool filter = kind.search_reads_learnware_specs();
  std::vector<std::int64_t> members;
  members.reserve(ids.size());
  for (const auto& id : ids) {
    if (filter) {
      const StatSpec* own = learnware_spec(id, kind);
      if (own == nullptr || !kind.searchable_against(user, *own)) continue;
    }
    const auto it = index->second.find(id);
    if (it != index->second.end()) members.push_back(it->second);
  }
  if (members.empty()) return {};
  return statistical_search(ctx_, *packed.rkme, pack->second, members, options, float32_z_.at(key));
}

StatSearchResult Market::search_pairwise(const StatSpec& user, const std::vector<std::string>& ids,
                                         const StatSearchOptions& options) const {
  const SpecKind& kind = user.kind();
  CandidateProducts products;
  std::vector<const StatSpec*> specs;
  for (const auto& id : ids) {
    const StatSpec* own = learnware_spec(id, kind);
    if (own == nullptr || !kind.searchable_against(user, *own)) continue;
    products.ids.push_back(id);
    specs.push_back(own);
  }
  const std::size_t n = specs.size();
  products.self.resize(n);
  products.cross.resize(n);
  products.user_self = kind.inner_product(user, user, ctx_);
  // Each product is itself parallel over kernel rows (conv_nngp_bilinear), so
  // candidates go one after another.
  for (std::size_t i = 0; i < n; ++i) {
    products.cross[i] = kind.inner_product(user, *specs[i], ctx_);
    products.self[i] = memoised(pair_memo_->mutex, pair_memo_->self, products.ids[i],
                                [&] { return kind.inner_product(*specs[i], *specs[i], ctx_); });
  }
  products.member_inner = [&](std::int64_t a, std::int64_t b) {
    const auto& id_a = products.ids[static_cast<std::size_t>(a)];
    const auto& id_b = products.ids[static_cast<std::size_t>(b)];
    // <m_a, m_b> with m_a's settings; the candidates share them, so it is symmetric.
    const auto key = id_a < id_b ? std::make_pair(id_a, id_b) : std::make_pair(id_b, id_a);
    return memoised(pair_memo_->mutex, pair_memo_->pair, key, [&] {
      return kind.inner_product(*specs[static_cast<std::size_t>(a)], *specs[static_cast<std::size_t>(b)], ctx_);
    });
  };
  return statistical_search_from_products(products, options);
}

}  // namespace lwd
