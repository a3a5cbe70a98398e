#include "engine/market/market.h"

#include <unistd.h>

#include <algorithm>
#include <span>
#include <system_error>
#include <exception>
#include <mutex>
#include <set>
#include <unordered_map>
#include <shared_mutex>
#include <utility>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/warning.h"

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

struct Market::SearchState {
  // Each piece is built on first use (prepare_search) and kept in step by
  // changes; the packs themselves, with their float32 mirrors and member
  // maps, belong to the store (StoredPack).
  std::optional<std::vector<std::string>> usable_ids;              // ascending
  std::optional<std::map<std::string, SemanticSpec>> semantic;     // usable id -> parsed spec
  // Per pack key, once checked: members stored before the market's limits
  // (or under wider ones) that statistical search leaves out.
  std::map<std::string, std::set<std::string>, std::less<>> beyond_limits;
  // Per kind with search facts: usable id -> its facts (SpecKind::from_search_facts).
  std::map<const SpecKind*, std::map<std::string, StatSpec>> facts;
};

namespace {

// What a submission's specs add to market.h5 besides their pack members.
SearchFacts search_facts_of(const LoadedSubmission& submission) {
  SearchFacts facts;
  for (const StatSpec& spec : submission.stat_specs) {
    if (auto json = spec.kind().search_facts(spec)) facts.emplace_back(std::string(spec.kind().type_name()), *json);
  }
  return facts;
}

}  // namespace

struct Market::PairProductMemo {
  std::mutex mutex;
  std::map<std::string, double> self;
  std::map<std::pair<std::string, std::string>, double> pair;
};

Market::Market(std::unique_ptr<MarketStore> store, kernels::Context ctx, MarketLimits limits)
    : store_(std::move(store)),
      ctx_(ctx),
      limits_(std::move(limits)),
      state_(std::make_unique<SearchState>()),
      pair_memo_(std::make_unique<PairProductMemo>()),
      mutex_(std::make_unique<WriterPreferringSharedMutex>()) {}
Market::Market(Market&&) noexcept = default;
Market& Market::operator=(Market&&) noexcept = default;
Market::~Market() = default;

Market Market::create(const std::filesystem::path& dir, kernels::Context ctx, MarketLimits limits,
                      const IndexUrls& db) {
  return Market(std::make_unique<MarketStore>(MarketStore::create(dir, db)), ctx, std::move(limits));
}

Market Market::open(const std::filesystem::path& dir, kernels::Context ctx, MarketLimits limits,
                    const IndexUrls& db) {
  std::unique_ptr<MarketStore> store;
  try {
    store = std::make_unique<MarketStore>(MarketStore::open(dir, db));
  } catch (const DamagedMarketFile& e) {
    // The index and the packages are the truth; market.h5 is derived from them.
    warn(e.problem() + "; rebuilding it from the packages");
    return rebuild(dir, ctx, std::move(limits), db);
  }
  if (store->h5_version() < kMarketH5Version && !store->list().empty()) {
    // Written before market.h5 kept the search facts of text and image
    // specs: derive them (and everything else) from the packages, once.
    warn((dir / "market.h5").string() + " has format version " + std::to_string(store->h5_version()) +
         ", without the search facts of text and image specs; rebuilding it from the packages (once)");
    store.reset();
    try {
      return rebuild(dir, ctx, limits, db);
    } catch (const Error& e) {
      warn(std::string(e.what()) + "; text and image learnwares are not searched until `lwdock market rebuild`");
      store = std::make_unique<MarketStore>(MarketStore::open(dir, db));
    }
  }
  return Market(std::move(store), ctx, std::move(limits));
}

Market Market::rebuild(const std::filesystem::path& dir, kernels::Context ctx, MarketLimits limits,
                       const IndexUrls& db) {
  Market market(std::make_unique<MarketStore>(MarketStore::open_for_rebuild(dir, db)), ctx, std::move(limits));
  market.rebuild_packs();
  return market;
}

std::filesystem::path Market::staging_parent() const {
  std::error_code ec;
  std::filesystem::create_directories(store_->staging_dir(), ec);
  if (ec || ::access(store_->staging_dir().c_str(), W_OK) != 0) return {};
  return store_->staging_dir();
}

StagedPackage Market::stage_package(const std::filesystem::path& zip) const {
  return StagedPackage::open(zip, limits_.package, staging_parent());
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
  const StagedPackage package = stage_package(package_zip);
  const LoadedSubmission submission = load_submission(package, limits_.spec);
  CheckerOptions checker;
  checker.sandbox = sandbox_;
  const CheckResult check = check_learnware(ctx_, package, submission, checker);
  // Serialised here, outside the lock: an image spec's facts are the whole spec.
  const SearchFacts facts = search_facts_of(submission);

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
    store_->update(record, package_zip, submission.specs, submission.semantic_json, facts);
    forget_learnware(record.id);
  } else {
    store_->add(record, package_zip, submission.specs, submission.semantic_json, facts);
  }
  remember_added(record.id, check.status, submission, facts);
  return AddResult{record.id, check.status, check.reason};
}

bool Market::remove(const std::string& id) {
  std::unique_lock lock(*mutex_);
  const bool removed = store_->remove(id);
  if (removed) forget_learnware(id);
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
  rebuild_locked();
}

void Market::rebuild_locked() {
  store_->rebuild([this](const LearnwareRecord&, const std::filesystem::path& zip) {
    const StagedPackage package = stage_package(zip);
    LoadedSubmission submission = load_submission(package, limits_.spec);
    RederivedLearnware derived{std::move(submission.specs), std::move(submission.semantic_json), std::nullopt,
                               search_facts_of(submission)};
    // A learnware that passed once and no longer does (the limits changed, or
    // its spec was stored before there were any) is not searched again.
    if (!submission.problems.empty()) derived.invalid_reason = submission.problems.front();
    return derived;
  });
  reset_search_state();
}

void Market::reload() {
  std::unique_lock lock(*mutex_);
  try {
    store_->reload();
  } catch (const DamagedMarketFile& e) {
    warn(e.problem() + "; rebuilding it from the packages");
    store_ = std::make_unique<MarketStore>(MarketStore::open_for_rebuild(store_->dir(), store_->index_urls()));
    rebuild_locked();
    return;
  }
  reset_search_state();
}

void Market::reset_search_state() {
  *state_ = SearchState{};
  std::lock_guard lock(pair_memo_->mutex);
  pair_memo_->self.clear();
  pair_memo_->pair.clear();
}

namespace {

// The pack key a search with this user spec reads (nullopt: a pairwise kind).
std::optional<std::string> pack_key_of(const StatSpec& user) {
  if (!user) return std::nullopt;
  const auto packed = user.kind().packed(user);
  if (!packed) return std::nullopt;
  return spec_pack_key(packed->pack_type, packed->rkme->dim());
}

}  // namespace

bool Market::search_ready(const SearchRequest& request) const {
  const SearchState& st = *state_;
  if (!st.usable_ids) return false;
  if (request.semantic && !st.semantic) return false;
  if (!request.spec) return true;
  const SpecKind& kind = request.spec.kind();
  if (kind.has_search_facts() && !st.facts.contains(&kind)) return false;
  const auto key = pack_key_of(request.spec);
  return !key || st.beyond_limits.contains(*key);
}

bool Market::prepare_search(const SearchRequest& request) const {
  if (search_ready(request)) return true;
  SearchState& st = *state_;
  if (!st.usable_ids) {
    std::vector<std::string> ids;
    for (const auto& record : store_->list(LearnwareStatus::usable)) ids.push_back(record.id);
    st.usable_ids = std::move(ids);
  }
  if (request.semantic && !st.semantic) {
    std::map<std::string, SemanticSpec> semantic;
    for (const auto& id : *st.usable_ids)
      if (auto spec = parse_stored_semantic(*store_, id)) semantic.emplace(id, std::move(*spec));
    st.semantic = std::move(semantic);
  }
  if (!request.spec) return false;
  const SpecKind& kind = request.spec.kind();
  if (kind.has_search_facts() && !st.facts.contains(&kind)) {
    std::map<std::string, StatSpec> facts;
    const JsonById& stored = store_->search_facts(kind.type_name());
    for (const auto& id : *st.usable_ids) {
      const auto it = stored.find(id);
      if (it == stored.end()) continue;
      try {
        facts.emplace(id, kind.from_search_facts(it->second, "learnware " + id + "'s search facts in market.h5",
                                                 limits_.spec.spec_json()));
      } catch (const Error& e) {
        // Damaged where no checksum looks: `lwdock market rebuild` re-derives them.
        warn(store_->dir().string() + ": " + e.what() + "; left out of statistical search");
      }
    }
    st.facts.emplace(&kind, std::move(facts));
  }
  if (const auto key = pack_key_of(request.spec); key && !st.beyond_limits.contains(*key)) {
    std::set<std::string> beyond;
    if (const StoredPack* pack = store_->pack(*key)) {
      const SpecPack& members = pack->members();
      for (std::int64_t m = 0; m < members.count(); ++m) {
        const std::string& id = members.ids[static_cast<std::size_t>(m)];
        // A member stored before the limits (or under wider ones) could make
        // every search's products overflow: it is not searched.
        const auto z = members.member_z(m);
        const auto why = rkme_limit_violation(std::span<const double>(z.data, static_cast<std::size_t>(z.rows * z.cols)),
                                              members.member_beta(m), members.gamma[static_cast<std::size_t>(m)],
                                              members.dim, limits_.spec);
        if (why) {
          warn(store_->dir().string() + ": learnware " + id + " (pack " + *key + "): " + *why +
               "; left out of statistical search");
          beyond.insert(id);
        }
      }
    }
    st.beyond_limits.emplace(*key, std::move(beyond));
  }
  return false;
}

void Market::forget_learnware(const std::string& id) {
  SearchState& st = *state_;
  if (st.usable_ids) std::erase(*st.usable_ids, id);
  if (st.semantic) st.semantic->erase(id);
  for (auto& [kind, by_id] : st.facts) by_id.erase(id);
  for (auto& [key, ids] : st.beyond_limits) ids.erase(id);
  std::lock_guard lock(pair_memo_->mutex);
  pair_memo_->self.erase(id);
  std::erase_if(pair_memo_->pair, [&](const auto& entry) { return entry.first.first == id || entry.first.second == id; });
}

void Market::remember_added(const std::string& id, LearnwareStatus status, const LoadedSubmission& submission,
                            const SearchFacts& facts) {
  // The store's packs follow the change by themselves; what is left is what
  // this market derived for its searches, of usable learnwares only.
  if (status != LearnwareStatus::usable) return;
  SearchState& st = *state_;
  if (st.usable_ids) {
    // Ids only grow, but an update re-adds an older one: keep the list ascending.
    auto& ids = *st.usable_ids;
    ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
  }
  if (st.semantic && submission.semantic) st.semantic->insert_or_assign(id, *submission.semantic);
  // Read back as a reopened market reads them from market.h5.
  for (const auto& [type, json] : facts) {
    const SpecKind* kind = find_spec_kind(type);
    const auto parsed = kind == nullptr ? st.facts.end() : st.facts.find(kind);
    if (parsed == st.facts.end()) continue;
    parsed->second.insert_or_assign(id, kind->from_search_facts(json, "learnware " + id, limits_.spec.spec_json()));
  }
}

SearchResponse Market::search(const SearchRequest& request) const {
  if (request.spec) check_spec_limits(request.spec, limits_.spec, "the user's statistical specification");
  std::shared_lock lock(*mutex_);
  while (!search_ready(request)) {
    // Build what is missing under the exclusive lock, then search under the
    // shared one (a change in between may have dropped a piece again: check).
    lock.unlock();
    {
      std::unique_lock exclusive(*mutex_);
      prepare_search(request);
    }
    lock.lock();
  }
  const SearchState& st = *state_;
  SearchResponse response;
  std::vector<std::string> ids;
  if (request.semantic) {
    std::vector<SemanticCandidate> candidates;
    candidates.reserve(st.semantic->size());
    for (const auto& id : *st.usable_ids) {
      const auto it = st.semantic->find(id);
      if (it != st.semantic->end()) candidates.push_back({id, &it->second});
    }
    ids = semantic_search(*request.semantic, candidates);
  } else {
    ids = *st.usable_ids;
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
  const StoredPack* pack = store_->pack(key);
  const auto beyond = state_->beyond_limits.find(key);
  if (pack == nullptr || beyond == state_->beyond_limits.end()) return {};  // nothing comparable
  const SpecKind& kind = user.kind();
  const std::map<std::string, StatSpec>* facts = kind.has_search_facts() ? &state_->facts.at(&kind) : nullptr;
  std::vector<std::int64_t> members;
  members.reserve(ids.size());
  for (const auto& id : ids) {
    if (facts != nullptr) {
      const auto own = facts->find(id);
      if (own == facts->end() || !kind.searchable_against(user, own->second)) continue;
    }
    if (beyond->second.contains(id)) continue;
    if (const auto m = pack->find(id)) members.push_back(*m);
  }
  if (members.empty()) return {};
  // The float32 copy only where the search screens with it (it is made on first use).
  const bool screens =
      options.float32_screening && static_cast<std::int64_t>(members.size()) >= options.float32_min_members;
  return statistical_search(ctx_, *packed.rkme, pack->members(), members, options,
                            screens ? pack->z32() : std::span<const float>{});
}

StatSearchResult Market::search_pairwise(const StatSpec& user, const std::vector<std::string>& ids,
                                         const StatSearchOptions& options) const {
  const SpecKind& kind = user.kind();
  CandidateProducts products;
  std::vector<const StatSpec*> specs;
  // A kind that is not packed keeps the whole spec as its search facts.
  const auto& facts = state_->facts.at(&kind);
  for (const auto& id : ids) {
    const auto own = facts.find(id);
    if (own == facts.end() || !kind.searchable_against(user, own->second)) continue;
    products.ids.push_back(id);
    specs.push_back(&own->second);
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
