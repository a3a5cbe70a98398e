// MarketStore: a directory that keeps a market's learnwares safely.
//
//   <dir>/index.sqlite        the learnware table (LearnwareIndex, SQLite), unless
//                             the market keeps it in another database (IndexUrls)
//   <dir>/market.id           the market's random tag, also kept in its index: an
//                             index with another tag (or none) belongs to another
//                             market and is refused, so a wrong --db can never
//                             make the packages it does not name look like debris
//   <dir>/market.h5           semantic specs and packed statistical specs (hdf5_spec_store.h)
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
// specs it returns are those of its last load plus its own changes, never a
// mix with another writer's half. reload() brings in other stores' changes.
// It is not thread-safe; share one behind a mutex, or open one per thread or
// process (they coordinate through market.lock).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/spec/rkme_table_spec.h"
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
  void add(const LearnwareRecord& record, const std::filesystem::path& package_zip, const SpecsByType& specs_by_type,
           const std::string& semantic_json);
  // Replaces an existing learnware's package, specs and semantic spec (and the
  // other record fields; created_at is kept). Same guarantees as add().
  void update(const LearnwareRecord& record, const std::filesystem::path& package_zip,
              const SpecsByType& specs_by_type, const std::string& semantic_json);
  void update_status(std::string_view id, LearnwareStatus status, std::string_view reason);
  // Deletes the learnware (row, package, pack members); false if unknown.
  bool remove(std::string_view id);

  std::optional<LearnwareRecord> get(std::string_view id) const;
  // Ordered by id.
  std::vector<LearnwareRecord> list(std::optional<LearnwareStatus> status = std::nullopt) const;
  // Absolute path of the learnware's package; throws for an unknown id.
  std::filesystem::path package_path(std::string_view id) const;

  // Every packed learnware, whatever its status (the search filters by status
  // through the index), by spec_pack_key(type, dim). Empty packs are absent.
  // market.h5 is read on the first call of packs(), semantic_json(),
  // dead_member_count() or a change, not by open(): commands that need only
  // the learnware table (`market list`, `market show`) never read it. Safe to
  // call from several threads at once. A file that fails to read then throws
  // DamagedMarketFile.
  const std::map<std::string, SpecPack>& packs() const;
  std::optional<std::string> semantic_json(std::string_view id) const;

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

  // Members stored in market.h5 that no live learnware uses any more.
  std::int64_t dead_member_count() const {
    ensure_h5_loaded();
    return dead_members_;
  }

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
  // Loads index + market.h5; with tolerate_bad_h5, a bad file gives empty
  // packs, without it a bad file throws DamagedMarketFile. The table comes
  // from the primary database unless from_read_db: what a change rewrites
  // must never follow a replica that lags behind.
  void load(bool tolerate_bad_h5, bool from_read_db = false);
  // The two halves of load(): the learnware table, then market.h5's packs and
  // semantic specs, of which only what the loaded table names is kept.
  void load_records(const LearnwareIndex& from);
  void load_h5(bool tolerate_bad_h5);
  // Reads market.h5 (under the shared lock) unless it is in memory already.
  // Never call it while holding a MarketLock: flock locks are per open file,
  // so a second lock in the same process waits for the first.
  void ensure_h5_loaded() const;
  // Under the exclusive lock, after load() found market.h5 unreadable:
  // clears the open-for-writing mark of a dead writer and rewrites the file
  // from what reads. Throws DamagedMarketFile if it still does not read.
  void recover_h5(const DamagedMarketFile& damage);
  // Removes temporary files and packages the index does not reference, if no
  // other writer holds the lock right now.
  void sweep_stray_files() const;
  // Whether anything in the directory may be debris: a file in packages/ that
  // the loaded table does not name, a market.h5 temporary, a staging folder.
  bool may_hold_stray_files() const;
  void store_learnware(const LearnwareRecord& record, const std::filesystem::path& package_zip,
                       const SpecsByType& specs_by_type, const std::string& semantic_json, bool replacing);
  void rewrite_h5(std::map<std::string, SpecPack> packs, std::map<std::string, std::string> semantic);
  void compact_if_mostly_dead();

  std::filesystem::path dir_;
  IndexUrls urls_;
  std::unique_ptr<LearnwareIndex> index_;
  std::unique_ptr<LearnwareIndex> read_index_;  // null: reads go to index_
  std::map<std::string, LearnwareRecord, std::less<>> records_;
  std::map<std::string, SpecPack> packs_;
  std::map<std::string, std::string> semantic_;
  std::int64_t dead_members_ = 0;
  // Whether packs_, semantic_ and dead_members_ hold market.h5 yet; the mutex
  // makes the first read safe when several searching threads ask at once.
  struct H5Loading {
    std::mutex mutex;
    std::atomic<bool> loaded{false};
  };
  std::unique_ptr<H5Loading> h5_loading_ = std::make_unique<H5Loading>();
  StoreFaults faults_;
};

}  // namespace lwd
