// market.h5: every learnware's semantic spec and the packed statistical specs.
//
// Layout (HDF5 1.10 file format, all numbers little-endian float64 / int64):
//
//   /                         attributes format = "lwdock-market", version = 1
//   /packs/<type>/<dim>/      one group per spec pack (SpecPack, key "<type>/<dim>")
//       z           [rows, dim] float64   Z rows of every member, back to back
//       beta        [rows]      float64
//       offsets     [members+1] int64     member m owns rows [offsets[m], offsets[m+1])
//       gamma       [members]   float64
//       self_inner  [members]   float64   <m, m>, computed once at submission
//       num_points  [members]   int64
//       ids         [members]   UTF-8 string (variable length)
//     attribute committed_members (int64)   the commit point; rows = offsets[committed_members]
//   /semantic/
//       ids         [n]         UTF-8 string   learnware id of entry i
//       json        [n]         UTF-8 string   its semantic spec JSON
//     attribute committed_count (int64)
//   /facts/<type>/            (version 2) what the search must know of a
//                             learnware's own spec of that kind beyond the packs
//                             (SpecKind::search_facts: a text spec's languages,
//                             an image spec whole), laid out as /semantic is;
//                             an empty entry clears the id's earlier one
//
// Version 1 files have no /facts; they read, and a market that holds text or
// image learnwares re-derives the file from its packages once (market.h).
//
// Growth is O(the added learnware): every dataset is chunked and extendible
// (H5S_UNLIMITED), so an append writes only the new rows (plus the last,
// partial chunk and a little metadata) into the existing file. The commit
// point of a pack is its committed_members attribute, written after the rows
// have been flushed and fsync'ed (one small write: old or new, never a mix). Readers look only at rows below the committed
// counts, so an append that fails or is killed midway leaves the previous
// committed state readable; the next append overwrites the abandoned rows.
// Chunks carry Fletcher-32 checksums and the 1.10 format checksums its
// metadata, so damaged bytes are reported as errors rather than read as data.
//
// Entries are never modified in place. Replacing a learnware's spec appends a
// new member with the same id; a later member supersedes an earlier one with
// the same id in the same pack (likewise for /semantic). Deleting a learnware
// leaves its rows on disk: the relational index no longer lists it, and the
// market store skips members whose id (and pack key) the index does not name.
// The space comes back only with a full, atomic rewrite (write_market_h5 of
// the live snapshot, "compaction"). That trade-off keeps both submission and
// deletion O(one learnware) at the cost of dead bytes until the next rewrite.
//
// HDF5 has no journal: if the process dies while HDF5 itself is updating the
// file's metadata, the file can become unreadable, and a process that dies
// with the file open for writing leaves it marked so. read_market_h5 then
// says so; the market store clears the mark and rewrites the file from what
// still reads (clear_market_h5_write_mark), and the market re-derives the
// file from its packages when nothing does (market_store.h, market.h).
//
// All functions serialise their HDF5 calls on one process-wide mutex (HDF5
// builds without thread safety must never be entered twice) and throw lwd::Error naming
// the file and the problem; HDF5's own error printing is switched off.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/spec/rkme_table_spec.h"
#include "engine/store/spec_pack.h"
#include "kernels/context.h"

namespace lwd {

inline constexpr std::string_view kMarketH5Format = "lwdock-market";
inline constexpr std::int64_t kMarketH5Version = 2;

// Per learnware id, a JSON text: the semantic specs, or one kind's search facts.
using JsonById = std::map<std::string, std::string>;

struct MarketSnapshot {
  std::map<std::string, SpecPack> packs;  // by spec_pack_key(type, dim)
  JsonById semantic_json_by_id;
  std::map<std::string, JsonById> facts_by_type;  // spec type -> id -> facts JSON
  // Filled by read_market_h5: committed pack members on disk, counting the
  // superseded ones that the packs above no longer show (compaction metric).
  std::int64_t stored_member_count = 0;
};

// Replaces `path` with a file holding exactly `snapshot`: written to
// "<path>.tmp", fsync'ed, then renamed over `path` (atomic; on failure `path`
// is untouched and the temporary removed). Empty packs are not stored. Pack
// type names must be 1..kMaxPackTypeLength of [A-Za-z0-9_] (they name HDF5 groups).
void write_market_h5(const std::filesystem::path& path, const MarketSnapshot& snapshot);

// Reads and validates the whole file: format and version attributes, dataset
// ranks and shapes, committed counts within the extents, offsets, and every
// pack's SpecPack::validate(). Members superseded by a later one with the same
// id are dropped. A missing, truncated, damaged or foreign file throws
// lwd::Error naming the file and the problem.
MarketSnapshot read_market_h5(const std::filesystem::path& path);

// What the file holds, from its attributes alone (no pack or string is read):
// a cheap look, at open, that also catches a file a dead writer left marked
// as open for writing or truncated below its header (it throws lwd::Error
// naming the file, as read_market_h5 would).
struct MarketH5Contents {
  std::int64_t version = 0;
  std::map<std::string, std::int64_t> pack_members;  // committed members by pack key, superseded ones included
  std::int64_t semantic_count = 0;
  std::map<std::string, std::int64_t> fact_counts;   // committed entries by spec type
  std::int64_t stored_members() const;                // sum of pack_members
};
MarketH5Contents read_market_h5_contents(const std::filesystem::path& path);

// The parts of the file one at a time, checked as read_market_h5 checks them.
// `committed` caps what is read at a count seen earlier (a snapshot taken at
// open; rows appended since are left out); nullopt reads all that is
// committed. A pack with no usable member reads as nullopt.
std::optional<SpecPack> read_market_h5_pack(const std::filesystem::path& path, const std::string& key,
                                            std::optional<std::int64_t> committed = std::nullopt);
JsonById read_market_h5_semantic(const std::filesystem::path& path,
                                 std::optional<std::int64_t> committed = std::nullopt);
JsonById read_market_h5_facts(const std::filesystem::path& path, const std::string& type,
                              std::optional<std::int64_t> committed = std::nullopt);

// What was appended to the file after counts seen earlier, for a process
// that follows another's changes (MarketStore::catch_up) in O(what it reads):
// members (or entries) [from, to) of one part, where `to` is a committed
// count read since, under the same market lock. A part whose committed count
// is below `to` throws lwd::Error (the file was replaced or damaged).
struct PackAppended {
  SpecPack members;              // of the members appended, the last one per id, its numbers checked
  std::vector<std::string> ids;  // every id among them, also one left out as unusable (with a warning)
};
PackAppended read_market_h5_pack_appended(const std::filesystem::path& path, const std::string& key,
                                          std::int64_t from, std::int64_t to);
// (id, JSON) in file order; an empty JSON clears the id's earlier entry.
using AppendedEntries = std::vector<std::pair<std::string, std::string>>;
AppendedEntries read_market_h5_semantic_appended(const std::filesystem::path& path, std::int64_t from,
                                                 std::int64_t to);
AppendedEntries read_market_h5_facts_appended(const std::filesystem::path& path, const std::string& type,
                                              std::int64_t from, std::int64_t to);

// One statistical spec of one learnware as it is stored in a pack.
struct PackedSpec {
  std::string type;  // e.g. "RKMETableSpecification"
  std::int64_t dim = 0;
  std::vector<double> z;     // rows() x dim, row-major
  std::vector<double> beta;  // rows()
  double gamma = 0.0;
  double self_inner = 0.0;  // <spec, spec>
  std::int64_t num_points = 0;

  std::int64_t rows() const { return static_cast<std::int64_t>(beta.size()); }
  std::string pack_key() const { return spec_pack_key(type, dim); }
};

// A spec ready to be stored (computes its self inner product).
PackedSpec pack_spec(std::string_view type, const RKMETableSpec& spec, const kernels::Context& ctx = {});

// (spec type, facts JSON): what a learnware's specs add under /facts.
using SearchFacts = std::vector<std::pair<std::string, std::string>>;

// What one learnware adds to market.h5.
struct MarketAppend {
  std::string id;
  std::vector<PackedSpec> specs;              // at most one per pack key
  std::optional<std::string> semantic_json;   // nullopt: no /semantic entry
  SearchFacts facts;                          // at most one per type
  // An update: the facts of every other type stored for this id are cleared
  // (an empty entry, which reads as none), so the old spec's do not linger.
  bool replaces = false;
};

// The committed counts before an append, to undo it (restore_market_h5_commit).
struct MarketCommitPoint {
  std::map<std::string, std::int64_t> pack_members;  // committed members of the packs the append touched
  std::int64_t semantic_count = 0;
  std::map<std::string, std::int64_t> fact_counts;   // of the fact types the append touched
};

// Appends one learnware in place: writes its rows past the committed counts
// (creating the pack if new), flushes and fsyncs, then advances the committed
// counts and fsyncs again. Returns the counts before the append. The file
// must already exist (write_market_h5 creates it).
// at_step is a test hook, called at each step while the file is open for
// writing: "append_h5_open" (nothing written yet), "append_h5_rows" (rows
// written, not yet flushed), "append_h5_commit" (rows on disk, counts not yet
// advanced), "append_h5_close" (counts advanced, not yet flushed). Throwing
// there abandons the append as a failure would; a process killed there
// leaves the file marked as open for writing (see recover_market_h5).
MarketCommitPoint append_to_market_h5(const std::filesystem::path& path, const MarketAppend& entry,
                                      const std::function<void(std::string_view step)>& at_step = {});

// After a process died with market.h5 open for writing, HDF5 refuses to open
// the file (its superblock still says "open for writing"). This clears that
// mark, as HDF5's h5clear tool does, and returns; it is only safe when no
// process can be writing the file (the caller holds the market's exclusive
// lock). Whether the content survived is for read_market_h5 to tell. Throws
// lwd::Error naming the file when the HDF5 library cannot.
void clear_market_h5_write_mark(const std::filesystem::path& path);

// Sets the committed counts back to `point`, undoing a committed append whose
// other half (the index row) could not be written. Rows past the counts stay
// on disk and are overwritten by the next append.
void restore_market_h5_commit(const std::filesystem::path& path, const MarketCommitPoint& point);

}  // namespace lwd
