#include "engine/market/market.h"

#include <map>
#include <numeric>

#include <sstream>

#include <limits>

#include <cmath>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "engine/error.h"
#include "engine/kinds/spec_kinds.h"
#include "engine/spec/rkme_table_spec.h"
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
  // Per pack key, the search index (docs/DESIGN.md §4.5) over the pack's
  // searchable members, once a search or `market index` wanted it, and the
  // changes it followed since its file was written.
  struct Index {
    std::unique_ptr<SpecIndex> index;
    std::int64_t changes_since_save = 0;
  };
  std::map<std::string, Index, std::less<>> indexes;
  bool index_save_warned = false;
};

namespace {

// What a submission's specs add to market.h5 besides their pack members
// (an image spec's: its support, self product and screen embedding, computed
// here once instead of by every search).
SearchFacts search_facts_of(const LoadedSubmission& submission, const kernels::Context& ctx) {
  SearchFacts facts;
  for (const StatSpec& spec : submission.stat_specs) {
    if (auto json = spec.kind().search_facts(spec, ctx))
      facts.emplace_back(std::string(spec.kind().type_name()), *json);
  }
  return facts;
}

// Waits for other processes' changes on a thread and a database connection
// of its own (LearnwareIndex::wait_for_change) and keeps the latest value of
// the change counter it saw; the market's next read compares it with the
// one it is at. It touches nothing of the market, which may move meanwhile.
class ChangeWatcher {
 public:
  using Open = std::function<std::unique_ptr<LearnwareIndex>()>;
  ChangeWatcher(Open open, std::int64_t seen, std::chrono::milliseconds poll_period)
      : open_(std::move(open)), poll_period_(poll_period), latest_(seen), thread_([this] { run(); }) {}
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;
  ~ChangeWatcher() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      if (waiting_on_ != nullptr) waiting_on_->interrupt_wait();
    }
    stopped_.notify_all();
    thread_.join();
  }

  std::int64_t latest() const { return latest_.load(); }

 private:
  void run() {
    using namespace std::chrono_literals;
    std::unique_ptr<LearnwareIndex> index;
    bool warned = false;
    for (;;) {
      try {
        if (!index) {
          auto opened = open_();
          std::lock_guard lock(mutex_);
          if (stop_) return;
          index = std::move(opened);
          waiting_on_ = index.get();
        }
        // The timeout only bounds how long a wait goes unchecked; the stop
        // interrupts it at once.
        latest_.store(index->wait_for_change(latest_.load(), 10s, poll_period_));
        warned = false;
      } catch (const Error& e) {
        // The database went away (a restart, the network): the reads that
        // look before they read still see every change; try again in a while.
        if (!warned) warn(std::string(e.what()) + "; waiting for changes again every second");
        warned = true;
        std::unique_lock lock(mutex_);
        waiting_on_ = nullptr;
        lock.unlock();
        index.reset();
        lock.lock();
        stopped_.wait_for(lock, 1s, [&] { return stop_; });
      }
      std::lock_guard lock(mutex_);
      if (stop_) {
        waiting_on_ = nullptr;
        return;
      }
    }
  }

  Open open_;
  std::chrono::milliseconds poll_period_;
  std::atomic<std::int64_t> latest_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
  LearnwareIndex* waiting_on_ = nullptr;  // the index the thread waits on (under mutex_)
  std::thread thread_;                    // last: starts once the rest is in place
};

}  // namespace

struct Market::Following {
  FollowOptions options;
  // The last look at the change counter before a read: when it began and
  // what it found (under look_mutex).
  std::mutex look_mutex;
  bool looked = false;
  std::chrono::steady_clock::time_point last_look;
  std::int64_t last_seen = 0;
  std::unique_ptr<ChangeWatcher> watcher;
};

struct Market::PairProductMemo {
  std::mutex mutex;
  std::map<std::string, double> self;
  std::map<std::pair<std::string, std::string>, double> pair;
  bool warned_unstored_self = false;  // the once-per-market note that `market rebuild` stores them
};

Market::Market(std::unique_ptr<MarketStore> store, kernels::Context ctx, MarketLimits limits)
    : store_(std::move(store)),
      ctx_(ctx),
      limits_(std::move(limits)),
      state_(std::make_unique<SearchState>()),
      pair_memo_(std::make_unique<PairProductMemo>()),
      mutex_(std::make_unique<WriterPreferringSharedMutex>()),
      following_(std::make_unique<Following>()) {
  store_->take_changes();  // what opening it read: nothing is derived yet
}
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

std::string Market::reserve_id() {
  std::unique_lock lock(*mutex_);
  return store_->next_id();
}

namespace {

AddResult as_add_result(const LearnwareRecord& record) { return {record.id, record.status, record.status_reason, {}}; }

}  // namespace

AddResult Market::add_as(const std::string& id, const std::filesystem::path& package_zip, const std::string& owner) {
  if (const auto stored = get(id)) return as_add_result(*stored);
  return submit(std::nullopt, package_zip, owner, id);
}

AddResult Market::update(const std::string& id, const std::filesystem::path& package_zip) {
  const auto existing = get(id);
  if (!existing) throw Error("no learnware with id " + id);
  return submit(id, package_zip, existing->owner);
}

void Market::set_admission(const AdmissionOptions& options) {
  validate_admission_options(options);
  admission_ = options;
}

void validate_admission_options(const AdmissionOptions& options) {
  if (options.nearest < 0) throw Error("admission: the count of nearest learnwares must be >= 0");
  if (options.refuse_within_mmd2) {
    if (!(*options.refuse_within_mmd2 >= 0.0) || !std::isfinite(*options.refuse_within_mmd2))
      throw Error("admission: the near-duplicate MMD² must be a finite number >= 0");
    if (options.nearest < 1) throw Error("admission: refusing near duplicates needs nearest >= 1");
  }
}

namespace {

// Class and Tag fields as sets: the order a developer listed tags in is no difference.
bool same_semantic_fields(const SemanticSpec& a, const SemanticSpec& b) {
  auto sorted = [](const SemanticSpec& s) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& [key, values] : s.tags) {
      if (values.empty()) continue;
      auto& v = out[key] = values;
      std::sort(v.begin(), v.end());
    }
    return out;
  };
  return sorted(a) == sorted(b);
}

}  // namespace

std::vector<NearLearnware> Market::nearest_learnwares(const StatSpec& spec, const std::optional<SemanticSpec>& semantic,
                                                      const std::optional<std::string>& self) const {
  SearchRequest request;
  request.spec = spec;
  // Every candidate ranked as a single (no score cut), and a pool -- the
  // square of max_search_num -- that holds the nearest ones plus `self`.
  request.options.single_min_score = -std::numeric_limits<double>::infinity();
  request.options.max_search_num = std::max(2, static_cast<int>(std::ceil(std::sqrt(admission_.nearest + 1.0))));
  const SearchResponse found = search(request);
  std::vector<NearLearnware> out;
  for (const SingleMatch& single : found.stat.singles) {
    if (static_cast<int>(out.size()) == admission_.nearest) break;
    if (self && single.id == *self) continue;
    NearLearnware near{single.id, single.mmd2, false};
    if (semantic) {
      if (const auto theirs = semantic_spec(single.id)) near.same_semantic = same_semantic_fields(*semantic, *theirs);
    }
    out.push_back(std::move(near));
  }
  return out;
}

AddResult Market::submit(const std::optional<std::string>& existing_id, const std::filesystem::path& package_zip,
                         const std::string& owner, const std::optional<std::string>& reserved_id) {
  const StagedPackage package = stage_package(package_zip);
  const LoadedSubmission submission = load_submission(package, limits_.spec);
  CheckerOptions checker;
  checker.sandbox = sandbox_;
  CheckResult check = check_learnware(ctx_, package, submission, checker);
  // Admission runs before the lock, like the checker: two near duplicates
  // submitted at the same moment can both pass (each searched a market
  // without the other).
  std::vector<NearLearnware> nearest;
  if (check.status == LearnwareStatus::usable && admission_.nearest > 0 && !submission.stat_specs.empty()) {
    nearest = nearest_learnwares(submission.stat_specs.front(), submission.semantic, existing_id);
    if (admission_.refuse_within_mmd2) {
      for (const NearLearnware& near : nearest) {
        if (!near.same_semantic || near.mmd2 > *admission_.refuse_within_mmd2) continue;
        std::ostringstream why;
        why << "a near duplicate of learnware " << near.id << ": MMD² " << near.mmd2 << " <= "
            << *admission_.refuse_within_mmd2 << " with the same semantic fields";
        check = CheckResult{LearnwareStatus::not_usable, why.str()};
        break;
      }
    }
  }
  // Computed here, outside the lock: an image spec's facts take NNGP products.
  const SearchFacts facts = search_facts_of(submission, ctx_);

  // Staging and checking (the slow part) ran without the lock; the change runs under it.
  std::unique_lock lock(*mutex_);
  LearnwareRecord record;
  if (existing_id) {
    const auto existing = store_->get(*existing_id);
    if (!existing) throw Error("no learnware with id " + *existing_id);
    record = *existing;
    record.updated_at.clear();
  } else {
    record.id = reserved_id ? *reserved_id : store_->next_id();
  }
  record.name = submission.semantic && !submission.semantic->name.empty() ? submission.semantic->name
                                                                          : package.manifest().name;
  record.owner = owner;
  record.status = check.status;
  record.status_reason = check.reason;
  // An invalid learnware keeps only the specs that parsed; nothing of it is searched.
  // The store catches up with other processes before it writes; the search
  // state follows what it brought in, also when the change then fails.
  const auto store_it = [&] {
    if (existing_id) {
      store_->update(record, package_zip, submission.specs, submission.semantic_json, facts);
    } else {
      store_->add(record, package_zip, submission.specs, submission.semantic_json, facts);
    }
  };
  try {
    try {
      store_it();
    } catch (const DamagedMarketFile& e) {
      // market.h5 holds rows that no longer read (a writer killed while it
      // rewrote them): re-derived from the packages, as an open would, and
      // the change made on the new file.
      follow_store_changes();
      rebuild_damaged(e);
      store_it();
    }
  } catch (const Error&) {
    follow_store_changes();
    // add_as racing another attempt at the same id: that one stored it.
    if (reserved_id) {
      if (const auto stored = store_->get(record.id)) return as_add_result(*stored);
    }
    throw;
  } catch (...) {
    follow_store_changes();
    throw;
  }
  follow_store_changes();
  if (existing_id) forget_learnware(record.id);
  remember_added(record.id, check.status, submission, facts);
  return AddResult{record.id, check.status, check.reason, std::move(nearest)};
}

bool Market::remove(const std::string& id) {
  std::unique_lock lock(*mutex_);
  bool removed = false;
  try {
    removed = store_->remove(id);
  } catch (...) {
    follow_store_changes();
    throw;
  }
  follow_store_changes();
  if (removed) forget_learnware(id);
  return removed;
}

std::optional<LearnwareRecord> Market::get(const std::string& id) const {
  look_for_changes();
  std::shared_lock lock(*mutex_);
  return store_->get(id);
}

std::vector<LearnwareRecord> Market::list(std::optional<LearnwareStatus> status) const {
  look_for_changes();
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
  look_for_changes();
  std::shared_lock lock(*mutex_);
  return parse_stored_semantic(*store_, id);
}

void Market::rebuild_packs() {
  std::unique_lock lock(*mutex_);
  rebuild_locked();
}

void Market::rebuild_locked() const {
  store_->rebuild([this](const LearnwareRecord&, const std::filesystem::path& zip) {
    const StagedPackage package = stage_package(zip);
    LoadedSubmission submission = load_submission(package, limits_.spec);
    RederivedLearnware derived{std::move(submission.specs), std::move(submission.semantic_json), std::nullopt,
                               search_facts_of(submission, ctx_)};
    // A learnware that passed once and no longer does (the limits changed, or
    // its spec was stored before there were any) is not searched again.
    if (!submission.problems.empty()) derived.invalid_reason = submission.problems.front();
    return derived;
  });
  store_->take_changes();
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
  store_->take_changes();
  reset_search_state();
}

bool Market::catch_up() {
  std::unique_lock lock(*mutex_);
  return catch_up_locked();
}

void Market::follow_changes(const FollowOptions& options) {
  std::unique_lock lock(*mutex_);
  Following& following = *following_;
  following.watcher.reset();
  following.options = options;
  following.looked = false;
  if (!options.watch) return;
  following.watcher = std::make_unique<ChangeWatcher>(
      [dir = store_->dir(), urls = store_->index_urls()] { return MarketStore::open_change_watch(dir, urls); },
      store_->applied_change_seq(), options.poll_period);
}

void Market::look_for_changes() const {
  using Clock = std::chrono::steady_clock;
  Following& following = *following_;
  const auto& interval = following.options.check_before_reads;
  if (!interval && !following.watcher) return;
  const auto called = Clock::now();
  bool behind = false;
  {
    // The shared lock keeps changes out, and with them every other use of
    // the store's index connection but the looks, which take turns.
    std::shared_lock lock(*mutex_);
    const std::int64_t applied = store_->applied_change_seq();
    if (following.watcher && following.watcher->latest() > applied) {
      behind = true;
    } else if (interval) {
      std::lock_guard look(following.look_mutex);
      // A look that began after this read was asked for (or within the
      // interval before) saw every change committed before it: its finding
      // stands for this read too, which spares concurrent reads a query each.
      if (!following.looked || following.last_look < called - *interval) {
        following.last_look = Clock::now();
        following.last_seen = store_->latest_change_seq();
        following.looked = true;
      }
      behind = following.last_seen > applied;
    }
  }
  if (!behind) return;
  std::unique_lock lock(*mutex_);
  catch_up_locked();  // nothing to do if another read caught up meanwhile
}

bool Market::catch_up_locked() const {
  bool changed = false;
  try {
    changed = store_->catch_up();
  } catch (const DamagedMarketFile& e) {
    rebuild_damaged(e);
    return true;
  }
  follow_store_changes();
  return changed;
}

void Market::rebuild_damaged(const DamagedMarketFile& damage) const {
  warn(damage.problem() + "; rebuilding it from the packages");
  rebuild_locked();
}

void Market::follow_store_changes() const {
  const StoreChanges changes = store_->take_changes();
  if (changes.reloaded) {
    reset_search_state();
    return;
  }
  // Every index first lets go of every changed learnware at once: the pack
  // may have lost several of them already, and an index rebuilding a part
  // of itself must not meet one of those.
  for (auto& [key, entry] : state_->indexes) {
    const StoredPack* pack = store_->pack(key);
    if (pack == nullptr || changes.ids.empty()) continue;
    const std::vector<std::string> ids(changes.ids.begin(), changes.ids.end());
    for (std::int64_t i = 0, n = entry.index->remove_all(ctx_, *pack, ids); i < n; ++i) index_changed(key);
  }
  for (const auto& id : changes.ids) {
    forget_learnware(id);
    const auto record = store_->get(id);
    if (record && record->status == LearnwareStatus::usable) remember_stored(id);
  }
}

void Market::reset_search_state() const {
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
  if (!key) return true;
  if (!st.beyond_limits.contains(*key)) return false;
  return !wants_index(request, *key) || st.indexes.contains(*key);
}

bool Market::wants_index(const SearchRequest& request, const std::string& key) const {
  if (index_options_.kind == IndexKind::kNone || request.semantic || !request.spec) return false;
  if (!dist::is_single(comm_)) return false;  // several ranks scan (set_communicator)
  if (request.spec.kind().has_search_facts()) return false;
  const StoredPack* pack = store_->pack(key);
  return pack != nullptr && pack->count() >= index_options_.min_members;
}

void Market::set_index_options(const IndexOptions& options) {
  std::unique_lock lock(*mutex_);
  index_options_ = options;
  state_->indexes.clear();
}

std::filesystem::path Market::index_path(const std::string& key) const {
  std::string name = key;
  std::replace(name.begin(), name.end(), '/', '.');
  return store_->dir() / "search_index" / (name + "." + std::string(index_kind_name(index_options_.kind)) + ".idx");
}

std::vector<std::int64_t> Market::searchable_members(const std::string& key) const {
  const SearchState& st = *state_;
  std::vector<std::int64_t> members;
  const StoredPack* pack = store_->pack(key);
  if (pack == nullptr) return members;
  const auto beyond = st.beyond_limits.find(key);
  for (const auto& id : *st.usable_ids) {
    if (beyond != st.beyond_limits.end() && beyond->second.contains(id)) continue;
    if (const auto m = pack->find(id)) members.push_back(*m);
  }
  return members;
}

void Market::save_index(const std::string& key) const {
  SearchState& st = *state_;
  auto& entry = st.indexes.at(key);
  entry.changes_since_save = 0;
  const auto path = index_path(key);
  try {
    std::filesystem::create_directories(path.parent_path());
    entry.index->save(path, store_->applied_change_seq());
  } catch (const std::exception& e) {
    // A market directory this process may not write (a read-only copy):
    // the index serves this process and is built again by the next.
    if (!st.index_save_warned) warn(path.string() + ": the search index is not saved: " + e.what());
    st.index_save_warned = true;
  }
}

void Market::index_changed(const std::string& key) const {
  auto& entry = state_->indexes.at(key);
  if (++entry.changes_since_save >= std::max<std::int64_t>(64, entry.index->size() / 10)) save_index(key);
}

SearchIndexReport Market::prepare_index(const std::string& key, bool save_always, bool may_write) const {
  SearchState& st = *state_;
  SearchIndexReport report;
  report.pack_key = key;
  report.kind = index_options_.kind;
  report.file = index_path(key);
  const StoredPack* pack = store_->pack(key);
  if (pack == nullptr) return report;
  const std::vector<std::int64_t> members = searchable_members(key);
  std::unique_ptr<SpecIndex> index;
  bool dirty = false;
  std::error_code ec;
  if (std::filesystem::exists(report.file, ec)) {
    // Never trusted as it stands: each member it holds is checked against
    // the pack by its fingerprint, and what changed since it was written is
    // removed and added one by one (docs/DESIGN.md §4.5).
    try {
      LoadedIndex loaded = load_spec_index(report.file, index_options_.kind, index_options_);
      const IndexCatchUp caught = catch_up_spec_index(ctx_, *loaded.index, *pack, members);
      index = std::move(loaded.index);
      report.how = "loaded";
      if (caught.added > 0 || caught.removed > 0) {
        dirty = true;
        report.how = "loaded (made at change " + std::to_string(loaded.stamp) + ", the market is at " +
                     std::to_string(store_->applied_change_seq()) + "), brought up to date: " +
                     std::to_string(caught.added) + " added, " + std::to_string(caught.removed) + " removed";
        warn(report.file.string() + ": search index " + report.how);
      }
    } catch (const std::exception& e) {
      report.how = std::string("rebuilt: ") + e.what();
      warn(std::string(e.what()) + "; rebuilding the search index");
    }
  }
  if (!index) {
    index = build_spec_index(ctx_, *pack, members, index_options_.kind, index_options_);
    dirty = true;
    if (report.how.empty()) report.how = "built";
  }
  report.members = index->size();
  report.memory_bytes = index->memory_bytes();
  st.indexes.insert_or_assign(key, SearchState::Index{std::move(index), 0});
  if (may_write && (dirty || save_always)) save_index(key);
  return report;
}

std::vector<SearchIndexReport> Market::build_search_indexes(bool write) {
  if (index_options_.kind == IndexKind::kNone) throw Error("market index: an index of kind none builds nothing");
  std::unique_lock lock(*mutex_);
  catch_up_locked();
  std::vector<SearchIndexReport> reports;
  for (const auto& key : store_->pack_keys()) {
    const StoredPack* pack = store_->pack(key);
    // Packs of kinds without search facts (tables); text packs are searched
    // with their languages' filter, which an index does not apply.
    if (pack == nullptr || pack->slots().type != RKMETableSpec::kTypeName) continue;
    ensure_usable_ids();
    ensure_beyond_limits(key);
    reports.push_back(prepare_index(key, write, write));
  }
  return reports;
}

void Market::ensure_usable_ids() const {
  SearchState& st = *state_;
  if (st.usable_ids) return;
  std::vector<std::string> ids;
  for (const auto& record : store_->list(LearnwareStatus::usable)) ids.push_back(record.id);
  st.usable_ids = std::move(ids);
}

void Market::ensure_beyond_limits(const std::string& key) const {
  SearchState& st = *state_;
  if (st.beyond_limits.contains(key)) return;
  std::set<std::string> beyond;
  if (const StoredPack* pack = store_->pack(key)) {
    const SpecPack& members = pack->slots();
    for (std::int64_t m = 0; m < members.count(); ++m) {
      if (pack->is_live(m) && beyond_limits(members, m, key)) beyond.insert(members.ids[static_cast<std::size_t>(m)]);
    }
  }
  st.beyond_limits.emplace(key, std::move(beyond));
}

bool Market::prepare_search(const SearchRequest& request) const {
  if (search_ready(request)) return true;
  SearchState& st = *state_;
  ensure_usable_ids();
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
  if (const auto key = pack_key_of(request.spec)) {
    ensure_beyond_limits(*key);
    if (wants_index(request, *key) && !st.indexes.contains(*key)) prepare_index(*key, false);
  }
  return false;
}

std::optional<std::string> Market::beyond_limits(const SpecPack& members, std::int64_t m, const std::string& key) const {
  // A member stored before the limits (or under wider ones, by another
  // process) could make every search's products overflow: it is not searched.
  const auto z = members.member_z(m);
  auto why = rkme_limit_violation(std::span<const double>(z.data, static_cast<std::size_t>(z.rows * z.cols)),
                                  members.member_beta(m), members.gamma[static_cast<std::size_t>(m)], members.dim,
                                  limits_.spec);
  if (why) {
    warn(store_->dir().string() + ": learnware " + members.ids[static_cast<std::size_t>(m)] + " (pack " + key +
         "): " + *why + "; left out of statistical search");
  }
  return why;
}

void Market::forget_learnware(const std::string& id) const {
  SearchState& st = *state_;
  if (st.usable_ids) {
    auto& ids = *st.usable_ids;  // ascending
    if (const auto it = std::lower_bound(ids.begin(), ids.end(), id); it != ids.end() && *it == id) ids.erase(it);
  }
  if (st.semantic) st.semantic->erase(id);
  for (auto& [kind, by_id] : st.facts) by_id.erase(id);
  for (auto& [key, ids] : st.beyond_limits) ids.erase(id);
  for (auto it = st.indexes.begin(); it != st.indexes.end();) {
    const StoredPack* pack = store_->pack(it->first);
    if (pack == nullptr) {
      it = st.indexes.erase(it);
      continue;
    }
    if (it->second.index->remove(ctx_, *pack, id)) index_changed(it->first);
    ++it;
  }
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
  index_learnware(id);
  // Read back as a reopened market reads them from market.h5.
  for (const auto& [type, json] : facts) {
    const SpecKind* kind = find_spec_kind(type);
    const auto parsed = kind == nullptr ? st.facts.end() : st.facts.find(kind);
    if (parsed == st.facts.end()) continue;
    parsed->second.insert_or_assign(id, kind->from_search_facts(json, "learnware " + id, limits_.spec.spec_json()));
  }
}

void Market::remember_stored(const std::string& id) const {
  // What the search state holds is derived from the store as prepare_search
  // derives it, piece by piece where it was built.
  SearchState& st = *state_;
  if (st.usable_ids) {
    auto& ids = *st.usable_ids;
    ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
  }
  if (st.semantic) {
    if (auto spec = parse_stored_semantic(*store_, id)) st.semantic->insert_or_assign(id, std::move(*spec));
  }
  for (auto& [kind, by_id] : st.facts) {
    const JsonById& stored = store_->search_facts(kind->type_name());
    const auto it = stored.find(id);
    if (it == stored.end()) continue;
    try {
      by_id.insert_or_assign(id, kind->from_search_facts(it->second, "learnware " + id + "'s search facts in market.h5",
                                                        limits_.spec.spec_json()));
    } catch (const Error& e) {
      warn(store_->dir().string() + ": " + e.what() + "; left out of statistical search");
    }
  }
  for (auto& [key, beyond] : st.beyond_limits) {
    const StoredPack* pack = store_->pack(key);
    const auto m = pack == nullptr ? std::nullopt : pack->find(id);
    if (m && beyond_limits(pack->slots(), *m, key)) beyond.insert(id);
  }
  index_learnware(id);
}

void Market::index_learnware(const std::string& id) const {
  // A usable learnware, as the store now holds it, joins each index whose
  // pack holds it within the limits.
  SearchState& st = *state_;
  for (auto& [key, entry] : st.indexes) {
    const StoredPack* pack = store_->pack(key);
    const auto m = pack == nullptr ? std::nullopt : pack->find(id);
    if (!m || entry.index->contains(id)) continue;
    const auto beyond = st.beyond_limits.find(key);
    if (beyond != st.beyond_limits.end() && beyond->second.contains(id)) continue;
    entry.index->add(ctx_, *pack, *m);
    index_changed(key);
  }
}

SearchResponse Market::search(const SearchRequest& request) const {
  if (request.spec) check_spec_limits(request.spec, limits_.spec, "the user's statistical specification");
  look_for_changes();
  std::shared_lock lock(*mutex_);
  int recoveries = 0;
  while (!search_ready(request)) {
    // Build what is missing under the exclusive lock, then search under the
    // shared one (a change in between may have dropped a piece again: check).
    lock.unlock();
    {
      std::unique_lock exclusive(*mutex_);
      try {
        prepare_search(request);
      } catch (const DamagedMarketFile& e) {
        // A part of market.h5 read for the first time does not read. A
        // writer that died left it so: reloading recovers what it left
        // open, as an open would; rows it tore come back only from the
        // packages. What fails after both is for the caller.
        switch (recoveries++) {
          case 0:
            store_->reload();
            follow_store_changes();
            break;
          case 1:
            rebuild_damaged(e);
            break;
          default:
            throw;
        }
      }
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
    response.stat = search_packed(request.spec, *packed, ids, request.options, request.semantic.has_value());
  } else {
    response.stat = search_pairwise(request.spec, ids, request.options);
  }
  return response;
}

StatSearchResult Market::search_packed(const StatSpec& user, const PackedRkme& packed,
                                       const std::vector<std::string>& ids, const StatSearchOptions& options,
                                       bool filtered) const {
  const std::string key = spec_pack_key(packed.pack_type, packed.rkme->dim());
  const StoredPack* pack = store_->pack(key);
  const auto beyond = state_->beyond_limits.find(key);
  if (pack == nullptr || beyond == state_->beyond_limits.end()) return {};  // nothing comparable
  const SpecKind& kind = user.kind();
  if (const auto indexed = state_->indexes.find(key); !filtered && !kind.has_search_facts() && dist::is_single(comm_) &&
                                                       indexed != state_->indexes.end() &&
                                                       indexed->second.index->size() >= index_options_.min_members) {
    // The index holds exactly the members the scan would compare (usable,
    // within the limits); it returns the best of them by (MMD², id), and the
    // search -- singles, pool, mixture, scores -- runs on those, with every
    // distance computed as the scan computes it.
    const SpecIndex& index = *indexed->second.index;
    const std::int64_t wanted = std::max<std::int64_t>(
        index_options_.candidates, static_cast<std::int64_t>(options.max_search_num) * options.max_search_num);
    IndexQueryStats stats;
    const auto hits = index.query(ctx_, *packed.rkme, *pack, wanted, &stats);
    std::vector<std::int64_t> members;
    for (const auto& hit : hits) members.push_back(hit.member);
    // Listed by id, as the scan lists its candidates (ties keep that order).
    const SpecPack& p = pack->slots();
    std::sort(members.begin(), members.end(), [&](std::int64_t a, std::int64_t b) {
      return p.ids[static_cast<std::size_t>(a)] < p.ids[static_cast<std::size_t>(b)];
    });
    StatSearchOptions on_candidates = options;
    on_candidates.float32_screening = false;
    // Tens of candidates: small kernel calls, best on the calling thread.
    const kernels::Context serial{.n_threads = 1, .seed = ctx_.seed};
    StatSearchResult result = statistical_search(serial, *packed.rkme, p, members, on_candidates);
    result.candidates = index.size();
    result.method = std::string(index_kind_name(index.kind()));
    result.evaluated = stats.evaluations;
    return result;
  }
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
  return statistical_search(ctx_, *packed.rkme, pack->slots(), members, options,
                            screens ? pack->z32() : std::span<const float>{}, comm_);
}

StatSearchResult Market::search_pairwise(const StatSpec& user, const std::vector<std::string>& ids,
                                         const StatSearchOptions& options) const {
  const SpecKind& kind = user.kind();
  // A kind that is not packed keeps what its search compares as its facts
  // (image specs: the support, <m, m> and the screen embedding).
  const auto& facts = state_->facts.at(&kind);
  std::vector<std::string> candidate_ids;
  std::vector<const StatSpec*> candidates;
  for (const auto& id : ids) {
    const auto own = facts.find(id);
    if (own == facts.end() || !kind.searchable_against(user, own->second)) continue;
    candidate_ids.push_back(id);
    candidates.push_back(&own->second);
  }
  // The screen (docs/DESIGN.md §4.7): beyond pairwise_exact() candidates, an
  // estimate of every MMD² ranks them and the best go on, in market order, to
  // the exact search below. Deterministic (the estimate does not depend on
  // the thread count), so every rank of a shared search keeps the same ones.
  std::string method = "scan";
  const auto comparable = static_cast<std::int64_t>(candidates.size());
  const std::int64_t exact_count = pairwise_exact(options);
  if (options.pairwise_screening && comparable > exact_count) {
    if (const auto estimate = kind.screen_mmd2(user, candidates, ctx_)) {
      std::vector<std::size_t> order(candidates.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      const auto best = order.begin() + exact_count;
      std::partial_sort(order.begin(), best, order.end(), [&](std::size_t a, std::size_t b) {
        const double da = (*estimate)[a], db = (*estimate)[b];
        return da < db || (da == db && a < b);  // NaN-free: embeddings are finite
      });
      order.resize(static_cast<std::size_t>(exact_count));
      std::sort(order.begin(), order.end());
      std::vector<std::string> kept_ids;
      std::vector<const StatSpec*> kept;
      for (const std::size_t i : order) {
        kept_ids.push_back(std::move(candidate_ids[i]));
        kept.push_back(candidates[i]);
      }
      candidate_ids = std::move(kept_ids);
      candidates = std::move(kept);
      method = "screen";
    }
  }
  const std::size_t n = candidates.size();
  CandidateProducts products;
  products.ids = candidate_ids;
  products.self.resize(n);
  products.cross.resize(n);
  products.user_self = kind.inner_product(user, user, ctx_);
  // <m, m> as stored with the learnware; a market whose facts predate that
  // computes it, once per process.
  const auto self_product = [&](std::size_t i) {
    if (const auto stored = kind.stored_self_product(*candidates[i])) return *stored;
    {
      std::lock_guard lock(pair_memo_->mutex);
      if (!pair_memo_->warned_unstored_self) {
        pair_memo_->warned_unstored_self = true;
        warn(store_->dir().string() + ": the search facts of " + std::string(kind.type_name()) +
             " learnwares were stored without their self products (by an older lwdock), so each search computes "
             "them; `lwdock market rebuild " + store_->dir().string() + "` stores them");
      }
    }
    return memoised(pair_memo_->mutex, pair_memo_->self, candidate_ids[i],
                    [&] { return kind.inner_product(*candidates[i], *candidates[i], ctx_); });
  };
  // <u, m_i> for every candidate in one batched pass over the context's
  // threads. Several ranks (set_communicator) each take a contiguous share of
  // the candidates and gather the products in rank order; the pool's
  // products, a few, every rank computes.
  const dist::Shard share = dist::is_single(comm_) ? dist::Shard{0, n} : dist::shard_of(n, comm_->rank(), comm_->size());
  kind.inner_products(user, std::span<const StatSpec* const>(candidates).subspan(share.begin, share.end - share.begin),
                      ctx_, std::span<double>(products.cross).subspan(share.begin, share.end - share.begin));
  for (std::size_t i = share.begin; i < share.end; ++i) products.self[i] = self_product(i);
  if (!dist::is_single(comm_)) {
    const auto mine = [&](const std::vector<double>& v) {
      return std::span<const double>(v).subspan(share.begin, share.end - share.begin);
    };
    products.cross = dist::allgather_doubles(*comm_, mine(products.cross));
    products.self = dist::allgather_doubles(*comm_, mine(products.self));
    if (products.cross.size() != n || products.self.size() != n)
      throw Error("search: the ranks' shares do not add up to the candidates searched");
  }
  // A row <m_a, ·> of the pool in one batched pass: the pairs this process
  // has not computed yet (memoised per pair, <m_a, m_b> with m_a's settings;
  // the candidates share them, so the products are symmetric).
  products.member_row = [&](std::int64_t a, std::span<const std::int64_t> bs, std::span<double> out) {
    const auto& id_a = candidate_ids[static_cast<std::size_t>(a)];
    const auto key = [&](std::int64_t b) {
      const auto& id_b = candidate_ids[static_cast<std::size_t>(b)];
      return id_a < id_b ? std::make_pair(id_a, id_b) : std::make_pair(id_b, id_a);
    };
    std::vector<std::size_t> missing;
    std::vector<const StatSpec*> others;
    {
      std::lock_guard lock(pair_memo_->mutex);
      for (std::size_t k = 0; k < bs.size(); ++k) {
        const auto it = pair_memo_->pair.find(key(bs[k]));
        if (it != pair_memo_->pair.end()) {
          out[k] = it->second;
          continue;
        }
        missing.push_back(k);
        others.push_back(candidates[static_cast<std::size_t>(bs[k])]);
      }
    }
    if (missing.empty()) return;
    // Outside the lock: NNGP products. Two threads missing together both
    // compute the same values.
    std::vector<double> computed(missing.size());
    kind.inner_products(*candidates[static_cast<std::size_t>(a)], others, ctx_, computed);
    std::lock_guard lock(pair_memo_->mutex);
    for (std::size_t t = 0; t < missing.size(); ++t) {
      out[missing[t]] = computed[t];
      pair_memo_->pair.emplace(key(bs[missing[t]]), computed[t]);
    }
  };
  StatSearchResult result = statistical_search_from_products(products, options);
  if (method == "screen") {
    result.candidates = comparable;
    result.method = method;
    result.evaluated = static_cast<std::int64_t>(n);
  }
  return result;
}

}  // namespace lwd
