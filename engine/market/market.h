// The market: the organizer (add, update, delete, get, list, reload, rebuild)
// and the search, over one MarketStore directory. This is what the command
// line, the scenario runners and the dock service drive.
//
// Submission: the package is staged (package.h refuses hostile archives
// outright: nothing is stored), its semantic and stat specs are read, the
// checker decides the status (checker.h), and the store keeps package, specs
// and index row atomically. Invalid and not-usable learnwares are kept with the
// reason, so their developers can see why; only usable ones are searched.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/kinds/spec_limits.h"
#include "engine/kinds/stat_spec.h"
#include "engine/market/checker.h"
#include "engine/dist/communicator.h"
#include "engine/market/semantic_search.h"
#include "engine/market/shared_lock.h"
#include "engine/market/spec_index.h"
#include "engine/market/statistical_search.h"
#include "engine/package/package.h"
#include "engine/store/market_store.h"
#include "kernels/context.h"

namespace lwd {

// An existing learnware near a submitted one (Market::set_admission).
struct NearLearnware {
  std::string id;
  double mmd2 = 0.0;           // between the two learnwares' first statistical specs
  bool same_semantic = false;  // the same values in every Class and Tag field (Data, Task, ...)
};

struct AddResult {
  std::string id;
  LearnwareStatus status = LearnwareStatus::invalid;
  std::string reason;
  // With AdmissionOptions::nearest > 0, the nearest usable learnwares, nearest first.
  std::vector<NearLearnware> nearest;
};

// What the market does with a package the checker passed, before storing it
// (docs/DESIGN.md §4.6). The nearest learnwares are found by the statistical
// search with the new learnware's first spec as the query, so an index
// (set_index_options) makes it sublinear and its answer is exact.
struct AdmissionOptions {
  int nearest = 0;  // report this many nearest usable learnwares of the same kind (0: no search)
  // Set: a learnware whose nearest with the same semantic fields lies within
  // this MMD² is stored as not usable, with the reason naming that learnware
  // (a near duplicate). Needs nearest >= 1.
  std::optional<double> refuse_within_mmd2 = std::nullopt;
};
// Throws lwd::Error saying what is wrong: a negative count or threshold, or a
// threshold without nearest.
void validate_admission_options(const AdmissionOptions& options);

// The user's statistical specification, of any kind (engine/kinds), is
// compared with the learnwares that carry the same kind and that its kind
// finds comparable (tables: the same width; text: the same encoder, and only
// learnwares whose languages include all of the user's; image: the same
// image shape and net depth). Without one, the search is semantic only.
struct SearchRequest {
  StatSpec spec;                          // empty: semantic search only
  std::optional<SemanticSpec> semantic;   // the user's tags/name; without it every usable learnware
  StatSearchOptions options;
};

struct SearchResponse {
  std::int64_t semantic_matches = 0;      // usable learnwares agreeing with the semantic query
  std::vector<std::string> semantic_ids;  // those ids (when there was no stat spec: the result)
  StatSearchResult stat;                  // empty without a stat spec
};

// How a market follows the changes other processes make to the same market
// (docs/DESIGN.md §7.6). What changed is brought in in O(what changed)
// (MarketStore::catch_up) and the search state follows it as it follows the
// market's own changes.
struct FollowOptions {
  // Reads (search, get, list, semantic_spec) first look at the index's change
  // counter when at least this long has passed since the last look. 0, the
  // default: every read looks, so it sees every change committed before it
  // began -- one small query (microseconds on SQLite, a round trip to
  // PostgreSQL; bench/README.md); a look that fails (the database is out of
  // reach) fails the read. nullopt: reads do not look.
  std::optional<std::chrono::milliseconds> check_before_reads = std::chrono::milliseconds(0);
  // A thread that waits for changes on a connection of its own (PostgreSQL:
  // LISTEN/NOTIFY, told of each commit at once; SQLite: the counter read
  // every poll_period). The next read brings them in without asking the
  // database; with check_before_reads off, that is how a long-lived process
  // (the dock service) follows the market at no cost per read.
  bool watch = false;
  std::chrono::milliseconds poll_period{100};
};

// What a market accepts: package archives (package.h) and the specs in them,
// which are also the limits on the specs users search with (spec_limits.h).
struct MarketLimits {
  PackageLimits package;
  SpecLimits spec;
};

// What Market::build_search_indexes did for one pack.
struct SearchIndexReport {
  std::string pack_key;
  IndexKind kind = IndexKind::kNone;
  std::int64_t members = 0;
  std::string how;  // "built", "loaded", "loaded, brought up to date (...)", "rebuilt: <why>"
  std::size_t memory_bytes = 0;
  std::filesystem::path file;
};

// Thread safety: any number of threads may call the const members (search,
// get, list...) while one thread adds, updates, removes, reloads or rebuilds.
// A reader/writer lock (shared_lock.h; a waiting writer goes before new
// readers, so a stream of searches cannot starve an add) guards the state:
// readers share it; a change takes it exclusively only for the part that touches the store
// and the search state (O(one learnware) for an add), never while the
// package is staged and its model probed by the checker, which is most of a
// submission's time. Immutable snapshots would let a search run on through a
// change, but each add would have to copy the packs it grows (O(market)) or
// the packs would have to become chunked; the lock keeps both the O(one
// learnware) add and the contiguous packs a search streams through.
// Changes are serialised with each other (one writer at a time); bringing
// in another process's changes is one of them (FollowOptions), so a search
// sees the market before or after it, never half of it.
class Market {
 public:
  // `db`: where the learnware index lives (index_url.h); by default the
  // directory's own index.sqlite.
  static Market create(const std::filesystem::path& dir, kernels::Context ctx = {}, MarketLimits limits = {},
                       const IndexUrls& db = {});
  // Opens a market, recovering by itself from a crash at any point of a change
  // (MarketStore::open); should market.h5 still not read, it is re-derived from
  // the packages (as rebuild() does), with a warning.
  static Market open(const std::filesystem::path& dir, kernels::Context ctx = {}, MarketLimits limits = {},
                     const IndexUrls& db = {});
  // Opens a market whose market.h5 is missing or damaged and rebuilds it.
  static Market rebuild(const std::filesystem::path& dir, kernels::Context ctx = {}, MarketLimits limits = {},
                        const IndexUrls& db = {});

  Market(Market&&) noexcept;
  Market& operator=(Market&&) noexcept;
  ~Market();

  // Stages, checks and stores a package. Throws lwd::Error (nothing stored)
  // when the archive itself is refused; otherwise the learnware is stored with
  // the status the checker gave.
  AddResult add(const std::filesystem::path& package_zip, const std::string& owner = "");
  // A fresh id for add_as, reserved in the index (MarketStore::next_id):
  // never handed out again, also when it is never used.
  std::string reserve_id();
  // add() under `id`, reserved before with reserve_id(), at most once: when
  // learnware `id` is in the market already (an earlier attempt stored it
  // and was interrupted before its caller could record that, or another
  // attempt is racing this one), nothing is checked or stored again and the
  // stored learnware's status is returned. A caller that keeps the reserved
  // id with its job (the dock's verification queue) can therefore retry the
  // job after any crash without adding a second learnware.
  AddResult add_as(const std::string& id, const std::filesystem::path& package_zip, const std::string& owner = "");
  // Replaces learnware `id`'s package (checked again). Throws for an unknown id.
  AddResult update(const std::string& id, const std::filesystem::path& package_zip);
  bool remove(const std::string& id);
  std::optional<LearnwareRecord> get(const std::string& id) const;
  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status = std::nullopt) const;
  std::optional<SemanticSpec> semantic_spec(const std::string& id) const;
  // Re-derives every learnware's specs from its package and rewrites market.h5.
  // A spec beyond the limits is left out and its learnware becomes invalid
  // with the reason; a package that cannot be read at all fails the rebuild
  // (nothing changes).
  void rebuild_packs();
  // Reads the whole market again.
  void reload();
  // Brings in now what other processes committed since the market last
  // looked, O(what changed); true if anything did.
  bool catch_up();
  // How the market follows other processes' changes (FollowOptions; by
  // default every read looks first). Not while other threads use the market.
  void follow_changes(const FollowOptions& options);

  // The search index (docs/DESIGN.md §4.5): a statistical search of a packed
  // kind without search facts and without a semantic filter, over at least
  // options.min_members learnwares, goes through an index of options.kind
  // (built on the first such search, or read from <dir>/search_index/ and
  // brought up to date member by member; then it follows every change like
  // the rest of the search state). Not while other threads use the market.
  void set_index_options(const IndexOptions& options);
  const IndexOptions& index_options() const { return index_options_; }
  // Admission of new and updated learnwares (AdmissionOptions). Throws
  // lwd::Error for a negative count or threshold, or a threshold without
  // nearest. Not while other threads use the market.
  void set_admission(const AdmissionOptions& options);
  const AdmissionOptions& admission() const { return admission_; }
  // Builds, or reads and brings up to date, the index of every table pack
  // (whatever min_members says) and saves it: `lwdock market index`. With
  // write false, only reports what it found (`market index --check`): the
  // file's state is in each report's `how` ("loaded" when up to date).
  std::vector<SearchIndexReport> build_search_indexes(bool write = true);

  // Ranks that search together (engine/dist): with a communicator of several
  // ranks, every rank must call search() with the same request, in the same
  // order; each evaluates its share of the distances, and every rank returns
  // the one-rank answer. Such a search always scans (no search index: an
  // index's answer is that of its candidates, not of the whole pack). Null
  // (the default): this process alone. Not while other threads use the market.
  void set_communicator(const dist::Communicator* comm) { comm_ = comm; }

  // Throws lwd::Error, before any work, when the user's spec lies outside the
  // market's spec limits. Pack members beyond the limits (stored before
  // them) are left out of statistical search, with a warning.
  SearchResponse search(const SearchRequest& request) const;

  // Read-only: changes go through add/update/remove so the search state
  // follows them. Not to be used while another thread changes the market.
  const MarketStore& store() const { return *store_; }
  const kernels::Context& context() const { return ctx_; }
  // Test hook (market_store.h): runs before each step of the store's changes;
  // the crash tests kill the process there.
  void set_store_faults(StoreFaults faults) { store_->set_faults(std::move(faults)); }
  PackageLimits& package_limits() { return limits_.package; }
  SpecLimits& spec_limits() { return limits_.spec; }
  const MarketLimits& limits() const { return limits_; }
  // How process models run when the checker probes them and when they are
  // reused (engine/model/sandbox.h); set before adding or loading learnwares.
  SandboxLimits& sandbox_limits() { return sandbox_; }
  const SandboxLimits& sandbox_limits() const { return sandbox_; }

 private:
  Market(std::unique_ptr<MarketStore> store, kernels::Context ctx, MarketLimits limits);
  // The market's staging folder (created on first use), or empty (the system
  // temporary directory) when the market directory is not writable.
  std::filesystem::path staging_parent() const;
  StagedPackage stage_package(const std::filesystem::path& zip) const;
  // rebuild_packs() under the exclusive lock the caller holds.
  void rebuild_locked() const;
  // Before a read, with no lock held: whether other processes changed the
  // market (FollowOptions), and if so bringing it in.
  void look_for_changes() const;
  // Under the exclusive lock: the store catches up and the search state
  // follows; true if anything came in.
  bool catch_up_locked() const;
  // Under the exclusive lock: the search state follows what the store
  // brought in from other processes (MarketStore::take_changes).
  void follow_store_changes() const;
  // Under the exclusive lock: market.h5 no longer reads; re-derived from the
  // packages, with a warning.
  void rebuild_damaged(const DamagedMarketFile& damage) const;
  // existing_id: an update; reserved_id: an add under that id (add_as).
  AddResult submit(const std::optional<std::string>& existing_id, const std::filesystem::path& package_zip,
                   const std::string& owner, const std::optional<std::string>& reserved_id = std::nullopt);
  // What searches derive from the store (the SearchState in market.cpp): the
  // usable ids, their parsed semantic specs, the search facts of each kind
  // that has them (SpecKind::search_facts: a text spec's languages, an image
  // spec whole) and, per pack, the members beyond the market's limits. The
  // packs, with their float32 mirrors and member maps, are the store's
  // (StoredPack). Each piece is built on the first search that needs it --
  // opening a market parses nothing, `market list` builds none of it, a
  // table search reads one pack -- and then follows every change: O(one
  // learnware) for an add, an update or a removal.
  struct SearchState;
  // Builds what `request` needs and is not built yet; true if nothing was
  // missing. Under the exclusive lock.
  bool prepare_search(const SearchRequest& request) const;
  bool search_ready(const SearchRequest& request) const;
  void forget_learnware(const std::string& id) const;
  // `facts` are those the store kept with it (SpecKind::search_facts, by spec type).
  void remember_added(const std::string& id, LearnwareStatus status, const LoadedSubmission& submission,
                      const SearchFacts& facts);
  // A usable learnware another process stored, as the store now holds it.
  void remember_stored(const std::string& id) const;
  // Why member m of pack `key` is left out of statistical search (it is
  // beyond the market's spec limits), with a warning; nullopt if it is not.
  std::optional<std::string> beyond_limits(const SpecPack& members, std::int64_t m, const std::string& key) const;
  void reset_search_state() const;
  StatSearchResult search_packed(const StatSpec& user, const PackedRkme& packed, const std::vector<std::string>& ids,
                                 const StatSearchOptions& options, bool filtered) const;
  // Whether a search of `request` goes through the index of `key`.
  bool wants_index(const SearchRequest& request, const std::string& key) const;
  // Under the exclusive lock: the index of pack `key` read from its file and
  // brought up to date, or built (and saved); nullptr if the pack is gone.
  SearchIndexReport prepare_index(const std::string& key, bool save_always, bool may_write = true) const;
  std::vector<std::int64_t> searchable_members(const std::string& key) const;
  // Under the exclusive lock: the pieces of the search state every search
  // needs (the usable ids; pack `key`'s members beyond the limits).
  void ensure_usable_ids() const;
  void ensure_beyond_limits(const std::string& key) const;
  void save_index(const std::string& key) const;
  void index_learnware(const std::string& id) const;
  std::filesystem::path index_path(const std::string& key) const;
  // After each change an index follows: saved again once the changes since
  // its file was written reach a tenth of its size.
  void index_changed(const std::string& key) const;
  StatSearchResult search_pairwise(const StatSpec& user, const std::vector<std::string>& ids,
                                   const StatSearchOptions& options) const;

  std::unique_ptr<MarketStore> store_;
  kernels::Context ctx_;
  MarketLimits limits_;
  SandboxLimits sandbox_;
  std::unique_ptr<SearchState> state_;  // mutable through the pointer: built lazily by const searches
  IndexOptions index_options_;
  AdmissionOptions admission_;
  // The nearest usable learnwares to a checked submission (set_admission), `self` left out.
  std::vector<NearLearnware> nearest_learnwares(const StatSpec& spec, const std::optional<SemanticSpec>& semantic,
                                                const std::optional<std::string>& self) const;
  const dist::Communicator* comm_ = nullptr;
  // Products of kinds searched pair by pair (image specs: NNGP evaluations,
  // tens of ms each) are memoised across searches, <m, m> per learnware and
  // <m_a, m_b> per pair.
  struct PairProductMemo;
  std::unique_ptr<PairProductMemo> pair_memo_;
  // The reader/writer lock (see the class comment); behind a pointer so that
  // Market stays movable.
  std::unique_ptr<WriterPreferringSharedMutex> mutex_;
  // How it follows other processes: the options, the last look, the watcher.
  struct Following;
  std::unique_ptr<Following> following_;
};

}  // namespace lwd
