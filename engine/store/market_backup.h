// Backups of a market: a consistent snapshot taken while other processes add,
// update and delete, and a restore that makes a new market of one, checked
// whole before anything is written.
//
//   BACKUPS/20261206T013000Z/    named by the UTC second of the snapshot; a second
//                                backup in the same second is ...Z-2, then -3, ...
//     manifest.json              what the backup holds (below), written last
//     index.json                 the learnware table, backend-neutral (below)
//     market.h5                  the market's file as it was at the snapshot
//     build.json                 only if the market has one (`lwdock market build`)
//     packages/<file>            every package the table names, nothing else
//   BACKUPS/.incomplete-XXXXXX/  a backup being made: renamed to its final name
//                                when complete, so a killed backup never looks
//                                like one (the next backup removes it)
//
// manifest.json: {"format": "lwdock-market-backup", "version": 1, "taken_at",
// "market" (the directory), "database" (its index, without password),
// "learnwares", "statuses": {status: count}, "bytes", "files": [{"path",
// "bytes", "sha256"}, ...]} listing every other file of the backup.
// index.json: {"format": "lwdock-index-dump", "version": 1, "schema_version",
// "market_tag", "counters": {"last_id", "change_seq"}, "learnwares": [{"id",
// "name", "owner", "status", "reason", "package", "spec_keys", "created_at",
// "updated_at"}, ...]}; a text that is not UTF-8 is written {"hex": "..."},
// so every byte comes back.
//
// The snapshot (MarketStore::between_changes: no writer is in the middle of a
// change, and none starts) reads the table and the counters from the primary
// database, hard-links the packages it names (stored packages are never
// changed: an update writes a new file) and copies market.h5 (appends change
// it in place). Only that runs while writers wait; checksums, fsyncs and the
// manifest come after. A package that cannot be linked into BACKUPS (another
// file system) is linked into a folder of the market's staging/ instead and
// copied after the snapshot; only where that fails too is it copied during it.
// docs/DESIGN.md §6.8 says more.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/store/index_url.h"
#include "engine/store/learnware_index.h"

namespace lwd {

// Lines for a person watching a long backup or restore (stderr, say).
using BackupProgress = std::function<void(const std::string& line)>;

struct BackupOptions {
  // Complete backups kept in BACKUPS, the new one among them: older ones
  // beyond this many are deleted. At least 1.
  int keep = 7;
  BackupProgress progress;
};

struct BackupSummary {
  std::filesystem::path path;  // the new backup
  std::int64_t learnwares = 0;
  std::int64_t files = 0;        // besides manifest.json
  std::uintmax_t bytes = 0;      // of those files
  std::int64_t linked = 0;       // packages hard-linked during the snapshot
  double snapshot_seconds = 0;   // how long writers were held off
  std::vector<std::filesystem::path> pruned;  // older backups deleted
};

// Backs up the market in `market_dir` (its index: db.db, as for
// MarketStore::open; db.read_db is not used) into a new folder of
// `backups_dir` (created if absent), then deletes the oldest complete backups
// beyond options.keep. Throws lwd::Error (one line) for a missing or damaged
// market, a keep below 1, or a failure to write; a failed backup leaves no
// folder that looks complete.
BackupSummary backup_market(const std::filesystem::path& market_dir, const IndexUrls& db,
                            const std::filesystem::path& backups_dir, const BackupOptions& options = {});

// The complete backups in `backups_dir`, oldest first: folders named like one
// that hold a manifest.json of this format. Nothing else counts (and nothing
// else is ever pruned).
std::vector<std::filesystem::path> list_backups(const std::filesystem::path& backups_dir);

// What a backup holds, once verified.
struct BackupContents {
  std::vector<LearnwareRecord> records;  // ordered by id
  IndexCounters counters;
  std::string taken_at;
  struct File {
    std::string path;  // relative to the backup, e.g. "packages/00000001.zip"
    std::uintmax_t bytes = 0;
    std::string sha256;
  };
  std::vector<File> files;  // every file but manifest.json
  std::uintmax_t bytes = 0;
};

// Reads and checks a backup without writing anything: the manifest, that the
// folder holds exactly the files it lists with their sizes and SHA-256, and
// the index dump (ids, statuses, each learnware's package present). Throws
// lwd::Error naming the backup and the first problem.
BackupContents verify_backup(const std::filesystem::path& backup, const BackupProgress& progress = {});

struct RestoreSummary {
  std::int64_t learnwares = 0;
  std::int64_t files = 0;
  std::uintmax_t bytes = 0;
};

// Makes a new market in `to` from a backup, its index in db.db (default:
// to/index.sqlite): the same learnwares with the same ids, statuses, reasons,
// timestamps, spec keys and package bytes, market.h5 as backed up, and the id
// counter of the backup (no id used before the backup is handed out again).
// The market gets a tag of its own, so it and the original never take each
// other's database. Refuses, before writing anything, a `to` that exists and
// is not an empty directory, a database that already holds a market, and a
// backup that does not verify. The market is assembled in a folder beside
// `to` and renamed into place after the index commits; on failure nothing of
// it remains.
RestoreSummary restore_market(const std::filesystem::path& backup, const std::filesystem::path& to,
                              const IndexUrls& db = {}, const BackupProgress& progress = {});

}  // namespace lwd
