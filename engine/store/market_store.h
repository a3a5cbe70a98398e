// MarketStore: a directory that keeps a market's learnwares safely.
//
//   <dir>/index.sqlite        the learnware table (LearnwareIndex, SQLite), unless
//                             the market keeps it in another database (IndexUrls)
//   <dir>/market.id           the market's random tag, also kept in its index: an
//                             index with another tag (or none) belongs to another
//                             market and is refused, so a wrong --db can never
//                             make the packages it does not name look like debris
//   <dir>/market.h5           semantic specs and packed statistical specs (hdf5_spec_store.h)
//   <dir>/market.h5.update    only while an update is being made: market.h5's
//                             counts before it, so that an update killed before
//                             its index commit is undone (its members would
//                             otherwise supersede those the row still names)
//   <dir>/packages/<id>.zip   the submitted packages (an update writes <id>.<n>.zip)
//   <dir>/market.lock         advisory lock file (flock): one writer at a time,
//                             readers load only between writes
//
// The index is the source of truth: a pack member or semantic entry in
// market.h5 counts only if the index lists its id with that pack key. Every
// change writes in the order package -> market.h5 -> index, and the index
// commit is the moment the change happens; whatever an interrupted change left
// before that point is invisible (uncommitted h5 rows, h5 members the index
// does not name) or swept away by the next open (temporary and unreferenced
// package files). A failure reported by an exception is undone on the spot.
//
// Deletion removes the index row and the in-memory pack member; the rows stay
// in market.h5 until a compaction rewrites the file from the live learnwares
// (automatically once dead members outnumber live ones, or by compact()), so
// both submission and deletion cost O(one learnware) amortised.
//
// A MarketStore object is a consistent view: the records, packs and semantic
// specs it returns are those of the index at one value of its change counter
// (applied_change_seq()), never a mix with another writer's half. catch_up()
// brings in what other stores (processes) committed since, in O(what
// changed); every change of its own catches up first, under the lock it
// takes for the change, so it always writes on top of the latest state;
// reload() reads everything again. It is not thread-safe; share one behind a
// mutex, or open one per thread or process (they coordinate through
// market.lock).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/spec/rkme_table_spec.h"
#include "engine/store/hdf5_spec_store.h"
#include "engine/store/index_url.h"
#include "engine/store/learnware_index.h"
#include "engine/store/spec_pack.h"

namespace lwd {

// (spec type name, spec), e.g. {"RKMETableSpecification", spec}; one per type.
using SpecsByType = std::vector<std::pair<std::string, RKMETableSpec>>;

// Test hook: before_stage(stage) runs before each step of a change; throwing
// from it simulates a failure there (and killing the process, a crash). Stages, in order:
//   add:           "copy_package", "append_h5", "append_h5_open", "append_h5_rows",
//                  "append_h5_commit", "append_h5_close", "index_insert", "commit"
//   update:        the same with "index_update" for "index_insert"
//   update_status: "index_update", "commit"
//   remove:        "index_remove", "commit"
//   rebuild:       "index_update", "write_h5", "commit"
//   compact:       "write_h5"
// (The "append_h5_*" stages fall inside the window where market.h5 is open for
// writing: see append_to_market_h5.)
struct StoreFaults {
  std::function<void(std::string_view stage)> before_stage;
};

// What a store brought in from other processes' changes (catch_up(), and the
// catching up each change of its own does first), for whoever derives state
// from it (the Market's search state) to follow.
struct StoreChanges {
  // Everything was read again (reload(), a market.h5 replaced by a compaction
  // or rebuild, recovered, or memory found out of step): whatever was derived
  // from the store must be derived again. `ids` is then empty.
  bool reloaded = false;
  std::set<std::string> ids;  // learnwares added, changed or removed since (get() tells which)
  bool empty() const { return !reloaded && ids.empty(); }
};

// What rebuild() needs from the organizer for one learnware.
struct RederivedLearnware {
  SpecsByType specs_by_type;
  // The semantic spec JSON; nullopt keeps the one market.h5 held (an error if
  // market.h5 was unreadable and so there is none).
  std::optional<std::string> semantic_json;
  // Set when the package no longer passes what the market accepts (a spec
  // beyond today's limits): the learnware becomes invalid with this reason
  // (its specs_by_type hold only what passed). A status is never raised.
  std::optional<std::string> invalid_reason;
  SearchFacts facts;  // what the search must know of its specs beyond the packs (hdf5_spec_store.h)
};
using RederiveLearnware =
    std::function<RederivedLearnware(const LearnwareRecord& record, const std::filesystem::path& package_zip)>;

// market.h5 cannot be read (missing, truncated, damaged, foreign) and could
// not be recovered in place; the packages and the index are intact, so the
// file can be re-derived from them (MarketStore::rebuild; Market::open does
// it by itself). what() adds the advice to run `lwdock market rebuild`.
class DamagedMarketFile : public Error {
 public:
  explicit DamagedMarketFile(const std::string& problem);
  const std::string& problem() const { return problem_; }

 private:
  std::string problem_;
};

// Whether `url` names the market directory's own index.sqlite (as the
// empty URL, the default, does). Throws lwd::Error for a malformed URL.
bool is_own_market_index(const std::filesystem::path& dir, const std::string& url);
// A new random market tag (32 hex digits): what market.id and the index hold.
std::string new_market_tag();
// Whether an index already holds a market's learnwares: a tag, a change made,
// or a row. A new market (create, a restore) needs one that does not.
bool holds_a_market(const LearnwareIndex& index);

class MarketStore {
 public:
  // Makes a new market in `dir` (created if absent). Refuses a directory that
  // exists and is not empty, and a database (db.db) that already holds a
  // market's learnwares. db.read_db is not used: a replica has nothing yet.
  static MarketStore create(const std::filesystem::path& dir, const IndexUrls& db = {});
  // Loads the index and market.h5 into memory. Recovers by itself from what a
  // process killed at any point of a change leaves (staging folders, package
  // temporaries, uncommitted rows, market.h5 still marked as open for
  // writing: the mark is cleared and the file rewritten from what reads, with
  // a warning). A market.h5 that still does not read throws DamagedMarketFile.
  // With db.read_db, the learnware table is loaded from that database (open,
  // reload); every change, and every read a change decides on, goes to db.db.
  static MarketStore open(const std::filesystem::path& dir, const IndexUrls& db = {});
  // Like open(), but tolerates a missing or damaged market.h5 (packs start
  // empty); meant to be followed by rebuild().
  static MarketStore open_for_rebuild(const std::filesystem::path& dir, const IndexUrls& db = {});

  MarketStore(MarketStore&&) noexcept;
  MarketStore& operator=(MarketStore&&) noexcept;
  ~MarketStore();

  const std::filesystem::path& dir() const { return dir_; }
  // The databases it was opened with (to open the market again alike).
  const IndexUrls& index_urls() const { return urls_; }
  // Where packages are staged while they are checked (<dir>/staging): a
  // process killed while it stages leaves its folder there, and the next
  // open removes it (engine/io/locked_dir.h).
  std::filesystem::path staging_dir() const { return dir_ / "staging"; }

  // Reserves a fresh id ("00000001", ...): larger than every id handed out
  // before, also after deletions and reopening; each call reserves another.
  std::string next_id();

  // Stores a new learnware: copies package_zip to packages/<id>.zip, appends
  // its specs and semantic JSON to market.h5, inserts the index row. The
  // record's package_path and spec_keys are filled in by the store;
  // created_at/updated_at default to now. On failure nothing of it remains.
  // Throws lwd::Error for an invalid or taken id, an unreadable zip, two specs
  // of one type, or any storage failure.
  // `facts` go to market.h5's /facts (at most one per spec type). Throws
  // DamagedMarketFile when market.h5 holds rows that no longer read (a
  // writer killed while HDF5 rewrote a chunk in place can tear it): only
  // rebuild() from the packages brings them back.
  void add(const LearnwareRecord& record, const std::filesystem::path& package_zip, const SpecsByType& specs_by_type,
           const std::string& semantic_json, const SearchFacts& facts = {});
  // Replaces an existing learnware's package, specs, semantic spec and facts
  // (and the other record fields; created_at is kept). Same guarantees as add().
  void update(const LearnwareRecord& record, const std::filesystem::path& package_zip,
              const SpecsByType& specs_by_type, const std::string& semantic_json, const SearchFacts& facts = {});
  void update_status(std::string_view id, LearnwareStatus status, std::string_view reason);
  // Deletes the learnware (row, package, pack members); false if unknown.
  bool remove(std::string_view id);

  std::optional<LearnwareRecord> get(std::string_view id) const;
  // Ordered by id.
  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status = std::nullopt) const;
  // Absolute path of the learnware's package; throws for an unknown id.
  std::filesystem::path package_path(std::string_view id) const;

  // What market.h5 holds is read part by part, on first use, never by
  // open(): `market list` reads none of it, a table search one pack, a
  // semantic query the semantic specs. Each part is read as it was when the
  // store loaded (counts are capped at those seen then, unless a compaction
  // has replaced the file since), with only the members and entries of the
  // learnwares in the loaded table, and then follows this store's own
  // changes. Safe to call from several threads at once; a file that fails to
  // read throws DamagedMarketFile. Never called while this store holds the
  // market lock (flock locks are per open file: it would wait for itself).

  // The pack keys the table names (no file is read).
  std::vector<std::string> pack_keys() const;
  // One pack, whatever its members' status (the search filters by status
  // through the table); nullptr if it has no live member. Valid until the
  // next change or reload.
  const StoredPack* pack(std::string_view key) const;
  // Every pack, read whole and copied (inspection and tests).
  std::map<std::string, SpecPack> all_packs() const;
  std::optional<std::string> semantic_json(std::string_view id) const;
  // The search facts of one spec type by learnware id (market.h5 /facts).
  const JsonById& search_facts(std::string_view type) const;
  // market.h5's format version when loaded (1: written before /facts existed).
  std::int64_t h5_version() const { return contents_.version; }
  // Rewrites market.h5 from scratch (atomically): for every learnware in the
  // index, derive(record, package) gives its specs; spec_keys in the index
  // follow. If derive throws or the file cannot be written, market.h5 and the
  // index stay as they were (derive's lwd::Error comes back naming the
  // learnware). Should the index commit fail after the new file is in place,
  // the market is readable and running rebuild again brings the keys in line.
  void rebuild(const RederiveLearnware& derive);
  // Rewrites market.h5 from the live learnwares only, dropping dead rows.
  void compact();
  // Re-reads index and market.h5 (to see another process's changes),
  // recovering market.h5 as open() does.
  void reload();

  // Runs body between two changes: it holds the market lock shared, as a
  // load does, so no writer is in the middle of a change and none starts
  // until body returns (readers go on). `primary` is the index every change
  // goes to, never the read replica, so what body reads there matches the
  // directory's files. For backups (market_backup.h): writers wait for body,
  // so it should only do what must see one state of the market.
  void between_changes(const std::function<void(const LearnwareIndex& primary)>& body) const;
  // Following other processes' changes (docs/DESIGN.md §7.6).
  // The value of the index's change counter this store's view is at.
  std::int64_t applied_change_seq() const { return applied_seq_; }
  // The counter's value in the index now: one small query (of the primary
  // database, where changes commit).
  std::int64_t latest_change_seq() const;
  // Brings in what other processes committed since applied_change_seq():
  // the rows changed and removed since (LearnwareIndex::changes_since), and
  // of market.h5 only what was appended to the parts already read (the
  // others are read up to the new counts when first needed). O(what
  // changed); a market.h5 that another process replaced (compaction,
  // rebuild, recovery) is read again whole, as reload() would. Returns
  // whether anything came in; take_changes() says what. Throws
  // DamagedMarketFile, having tried to recover market.h5, as reload() does.
  bool catch_up();
  // What catch_up(), reload() and the catching up of this store's own
  // changes brought in since the last call.
  StoreChanges take_changes() { return std::exchange(changes_, {}); }
  // The index of the market at `dir` (with databases `db`) again, on a
  // connection of its own to the primary database, to wait for changes on
  // from a thread of its own (LearnwareIndex::wait_for_change).
  static std::unique_ptr<LearnwareIndex> open_change_watch(const std::filesystem::path& dir, const IndexUrls& db);

  // Members stored in market.h5 that no live learnware uses any more (as far
  // as this store has seen: its load plus its own changes).
  std::int64_t dead_member_count() const;

  void set_faults(StoreFaults faults) { faults_ = std::move(faults); }

 private:
  MarketStore(std::filesystem::path dir, IndexUrls urls, std::unique_ptr<LearnwareIndex> index,
              std::unique_ptr<LearnwareIndex> read_index);
  // Opens the market's indexes and checks that they are this market's (market.id).
  static MarketStore open_indexes(const std::filesystem::path& dir, const IndexUrls& db, const char* purpose);
  // What loads of the learnware table read: the read database if there is one.
  const LearnwareIndex& read_index() const { return read_index_ ? *read_index_ : *index_; }

  std::filesystem::path index_path() const { return dir_ / "index.sqlite"; }
  std::filesystem::path h5_path() const { return dir_ / "market.h5"; }
  std::filesystem::path packages_dir() const { return dir_ / "packages"; }

  void stage(std::string_view name) const;
  // Loads the table and what market.h5 holds (its attributes only); forgets
  // the parts read before. With tolerate_bad_h5 an unreadable file counts as
  // empty, without it it throws DamagedMarketFile. The table comes from the
  // primary database unless from_read_db: what a change rewrites must never
  // follow a replica that lags behind.
  void load(bool tolerate_bad_h5, bool from_read_db = false);
  void load_records(const LearnwareIndex& from);
  void load_contents(bool tolerate_bad_h5);
  // Reads every part of market.h5 at once (recovery, compaction, rebuild).
  void load_everything(bool tolerate_bad_h5);
  // The members of `pack` that the loaded table names with key `key`.
  SpecPack live_members(SpecPack pack, std::string_view key) const;
  // Pack members the loaded table names (one per spec key of each learnware).
  std::int64_t live_member_count() const;
  // Whether `id` is in the loaded table with a spec in pack `key`.
  bool is_live(const std::string& id, std::string_view key) const;
  // The count a part may be read up to: the one seen at load (or after this
  // store's own appends), unless market.h5 has been replaced since.
  std::optional<std::int64_t> read_cap(std::optional<std::int64_t> seen) const;
  // Under the exclusive lock, after load() found market.h5 unreadable:
  // clears the open-for-writing mark of a dead writer and rewrites the file
  // from what reads. Throws DamagedMarketFile if it still does not read.
  // `rewrite`: rewrite market.h5 from what it reads even when it reads (a
  // file that reads but refuses a write).
  void recover_h5(const DamagedMarketFile& damage, bool rewrite = false);
  // Removes temporary files and packages the index does not reference, if no
  // other writer holds the lock right now.
  void sweep_stray_files() const;
  // Whether anything in the directory may be debris: a file in packages/ that
  // the loaded table does not name, a market.h5 temporary, a staging folder.
  bool may_hold_stray_files() const;
  void store_learnware(const LearnwareRecord& record, const std::filesystem::path& package_zip,
                       const SpecsByType& specs_by_type, const std::string& semantic_json, const SearchFacts& facts,
                       bool replacing);
  // The parts read so far follow a learnware just stored (parts_->mutex held).
  void follow_stored_learnware(const std::string& id, const std::vector<PackedSpec>& packed,
                               const std::string& semantic_json, const SearchFacts& facts, bool replacing);
  void rewrite_h5(MarketSnapshot snapshot);
  // catch_up() under the market lock (either mode) the caller holds.
  void catch_up_locked();
  // Under the exclusive lock, before a change: catches up, recovering a
  // market.h5 that a dead writer left open for writing.
  void catch_up_for_change();
  // After a change of this store's own committed with the counter at
  // `seq_after`, having raised it `count` times: the view is at seq_after,
  // unless another writer slipped in (then the next catch-up reads all).
  void note_own_change(std::int64_t seq_after, std::int64_t count);
  // Everything was read again: whatever was derived from the store is stale.
  void note_reloaded();
  // Under the exclusive lock: an update that died before its row committed
  // left its note (market.h5.update); market.h5's counts go back to what
  // they were before it, unless the row shows it committed, and the note
  // goes. Returns whether there was one. Throws DamagedMarketFile when
  // market.h5 cannot be written (a dead writer's mark: recover_h5 clears it).
  bool settle_interrupted_update();
  // Throws DamagedMarketFile while such a note is there: a reader holding
  // the shared lock knows its writer is dead, and leaves the undoing to the
  // exclusive lock (reload(), the next change).
  void check_no_interrupted_update() const;
  // Forgets what the parts read so far hold of `id` (parts_->mutex held).
  void forget_parts_of(const std::string& id);
  void compact_if_mostly_dead();
  void put_record(LearnwareRecord record);
  void erase_record(std::string_view id);
  void clear_records();
  // compact() under the exclusive lock the caller holds.
  void compact_locked();

  std::filesystem::path dir_;
  IndexUrls urls_;
  std::unique_ptr<LearnwareIndex> index_;
  std::unique_ptr<LearnwareIndex> read_index_;  // null: reads go to index_
  // Written only through put_record / erase_record / clear_records, which
  // keep live_members_ (the spec keys the records name: the pack members
  // alive) in step, so a change need not walk every record to count them.
  std::map<std::string, LearnwareRecord, std::less<>> records_;
  std::int64_t live_members_ = 0;
  // market.h5's attributes as of applied_seq_ (the committed counts the
  // changes up to it left; parts are read up to them), and which file it was
  // (a compaction by another store replaces the file, and the counts mean
  // nothing there).
  MarketH5Contents contents_;
  std::optional<std::pair<std::uintmax_t, std::uintmax_t>> h5_identity_;  // (device, inode)
  // Members this store knows market.h5 to hold, live or dead.
  std::int64_t stored_members_ = 0;
  // The change counter the records and contents_ are at (catch_up()).
  std::int64_t applied_seq_ = 0;
  // Memory may be out of step with the disk (another writer changed the
  // market outside the lock): the next catch-up reads everything again.
  bool stale_ = false;
  StoreChanges changes_;  // not yet taken
  // The parts of market.h5 read so far; the mutex makes a first read safe when
  // several searching threads ask at once.
  struct Parts {
    std::mutex mutex;
    bool everything = false;  // every part is in memory (nothing to read)
    std::map<std::string, std::optional<StoredPack>, std::less<>> packs;  // nullopt: read, no live member
    std::optional<JsonById> semantic;
    std::map<std::string, JsonById, std::less<>> facts;
  };
  std::unique_ptr<Parts> parts_ = std::make_unique<Parts>();
  StoreFaults faults_;
};

}  // namespace lwd
