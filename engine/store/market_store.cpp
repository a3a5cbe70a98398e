#include "engine/store/market_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <random>
#include <set>
#include <system_error>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/locked_dir.h"
#include "engine/store/hdf5_spec_store.h"
#include "engine/store/sqlite_index.h"
#include "engine/warning.h"

namespace lwd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLockFile = "market.lock";
constexpr const char* kPackagesDir = "packages";
constexpr const char* kIndexFile = "index.sqlite";
constexpr const char* kTagFile = "market.id";
constexpr const char* kUpdateIntentFile = "market.h5.update";
// Compaction waits until dead members outnumber live ones (so its O(market)
// cost is paid at most once per O(market) deletions) and there are at least
// this many, so small markets do not rewrite on every deletion.
constexpr std::int64_t kMinDeadMembersToCompact = 64;

std::string errno_text(int err) { return std::generic_category().message(err); }

// An advisory lock on <dir>/market.lock (flock: per open file, so two stores
// in one process exclude each other just like two processes). Writers hold it
// exclusively for a whole change; loading holds it shared, so a reader never
// sees a change half-written.
class MarketLock {
 public:
  enum class Mode { shared, exclusive };

  MarketLock(const fs::path& dir, Mode mode) {
    const fs::path path = dir / kLockFile;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    // A market on read-only media can still be read: nobody can write it.
    if (fd_ < 0) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (mode == Mode::shared) return;
      throw Error(path.string() + ": cannot open the market lock file: " + errno_text(errno));
    }
    while (::flock(fd_, mode == Mode::shared ? LOCK_SH : LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd_);
      throw Error(path.string() + ": cannot lock the market: " + errno_text(err));
    }
  }
  // Exclusive if nobody else holds the lock right now, else nullopt.
  static std::unique_ptr<MarketLock> try_exclusive(const fs::path& dir) {
    auto lock = std::unique_ptr<MarketLock>(new MarketLock());
    lock->fd_ = ::open((dir / kLockFile).c_str(), O_RDWR | O_CLOEXEC);
    if (lock->fd_ < 0 || ::flock(lock->fd_, LOCK_EX | LOCK_NB) != 0) return nullptr;
    return lock;
  }
  MarketLock(const MarketLock&) = delete;
  MarketLock& operator=(const MarketLock&) = delete;
  ~MarketLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  MarketLock() = default;
  int fd_ = -1;
};

// Copies a package through a temporary next to the target and a rename, so
// packages/ never holds a partial zip under a real name.
void copy_file_atomically(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (!fs::is_regular_file(from, ec)) throw Error(from.string() + ": the package is not a readable file");
  std::ifstream in(from, std::ios::binary);
  if (!in) throw Error(from.string() + ": cannot open the package: " + errno_text(errno));
  io::write_file_atomically(to, [&](std::ostream& out) {
    std::vector<char> buffer(1 << 16);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      out.write(buffer.data(), in.gcount());
    }
    if (in.bad()) throw Error(from.string() + ": read failed while copying the package");
  });
}

void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

// Makes a removal in `dir` durable.
void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(dir.string() + ": cannot open to sync: " + errno_text(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(dir.string() + ": fsync failed: " + errno_text(err));
}

// "packages/<id>.zip" -> "packages/<id>.2.zip" -> "packages/<id>.3.zip": an
// update writes a new name, so the old package stays intact until the index
// commit switches to the new one.
std::string next_package_name(const std::string& id, const std::string& current) {
  const std::string stem = fs::path(current).stem().string();
  std::int64_t revision = 1;
  const std::string prefix = id + ".";
  if (stem.size() > prefix.size() && stem.compare(0, prefix.size(), prefix) == 0) {
    const char* first = stem.data() + prefix.size();
    const char* last = stem.data() + stem.size();
    std::int64_t parsed = 0;
    const auto res = std::from_chars(first, last, parsed);
    if (res.ec == std::errc() && res.ptr == last && parsed > 0) revision = parsed;
  }
  return std::string(kPackagesDir) + "/" + id + "." + std::to_string(revision + 1) + ".zip";
}

void append_packed_member(SpecPack& pack, const std::string& id, const PackedSpec& spec) {
  if (pack.count() == 0) {
    pack.type = spec.type;
    pack.dim = spec.dim;
  }
  pack.ids.push_back(id);
  pack.z.insert(pack.z.end(), spec.z.begin(), spec.z.end());
  pack.beta.insert(pack.beta.end(), spec.beta.begin(), spec.beta.end());
  pack.offsets.push_back(pack.offsets.back() + spec.rows());
  pack.gamma.push_back(spec.gamma);
  pack.self_inner.push_back(spec.self_inner);
  pack.num_points.push_back(spec.num_points);
}

// The specs of one submission, checked and with their self products computed
// before anything touches the disk.
std::vector<PackedSpec> pack_specs(const std::string& id, const SpecsByType& specs_by_type) {
  std::vector<PackedSpec> packed;
  std::set<std::string> types;
  for (const auto& [type, spec] : specs_by_type) {
    if (!types.insert(type).second) throw Error("learnware " + id + " has two specs of type " + type);
    if (spec.empty()) throw Error("learnware " + id + " has an empty " + type + " spec");
    packed.push_back(pack_spec(type, spec));
    // Whatever is stored is read back by every later open: a spec whose self
    // product overflows would make its pack unreadable, so it never gets in.
    // (The market's limits keep such specs out long before; this is the
    // store's own guarantee.)
    if (!std::isfinite(packed.back().self_inner)) {
      throw Error("learnware " + id + ": its " + type +
                  " spec has a non-finite self product <spec, spec>; it cannot be stored");
    }
  }
  return packed;
}

std::optional<std::string> read_market_tag(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kTagFile, ec)) return std::nullopt;
  std::string tag = io::read_text_file(dir / kTagFile);
  while (!tag.empty() && (tag.back() == '\n' || tag.back() == ' ')) tag.pop_back();
  return tag;
}

// An index belongs to the market whose directory holds the same tag. Markets
// made before the tag existed have neither, and keep their index.sqlite.
void check_market_tag(const fs::path& dir, const std::optional<std::string>& dir_tag, const LearnwareIndex& index) {
  const std::optional<std::string> index_tag = index.market_tag();
  if (index_tag == dir_tag) return;
  if (!index_tag) {
    throw Error(index.name() + ": holds no learnware index of the market at " + dir.string() +
                "; is the database URL (--db, --read-db, LWDOCK_DB) right?");
  }
  throw Error(index.name() + ": holds the learnware index of another market, not of " + dir.string() +
              "; is the database URL (--db, --read-db, LWDOCK_DB) right?");
}

// An update appends its learnware's new members to market.h5, and the newest
// member of an id supersedes the older ones; should the update die before its
// index row commits, its members would supersede those of the version the
// row still names. So an update first writes what market.h5's committed
// counts were (market.h5.update), and removes the note once the row has
// committed; whoever finds the note with no writer alive (under the
// exclusive lock) sets the counts back unless the row names the update's
// package, which means it committed.
struct UpdateIntent {
  std::string id;
  std::string package_path;  // the one the row names once the update commits
  MarketCommitPoint before;
};

void write_update_intent(const fs::path& path, const UpdateIntent& intent) {
  nlohmann::json j = {{"id", intent.id},
                      {"package_path", intent.package_path},
                      {"pack_members", intent.before.pack_members},
                      {"semantic_count", intent.before.semantic_count},
                      {"fact_counts", intent.before.fact_counts}};
  io::write_text_file_atomically(path, j.dump() + "\n");
}

// nullopt if there is none. A note that does not read (it is written whole,
// through a rename, so only damage does that) throws.
std::optional<UpdateIntent> read_update_intent(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(io::read_text_file(path));
    UpdateIntent intent;
    intent.id = j.at("id").get<std::string>();
    intent.package_path = j.at("package_path").get<std::string>();
    intent.before.pack_members = j.at("pack_members").get<std::map<std::string, std::int64_t>>();
    intent.before.semantic_count = j.at("semantic_count").get<std::int64_t>();
    intent.before.fact_counts = j.at("fact_counts").get<std::map<std::string, std::int64_t>>();
    return intent;
  } catch (const std::exception& e) {
    throw Error(path.string() + ": the note of an interrupted update does not read (" + e.what() + ")");
  }
}

}  // namespace

std::string new_market_tag() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> nibble(0, 15);
  std::string tag;
  for (int i = 0; i < 32; ++i) tag += "0123456789abcdef"[nibble(device)];
  return tag;
}

bool is_own_market_index(const fs::path& dir, const std::string& url) {
  if (url.empty()) return true;
  const ParsedIndexUrl parsed = parse_index_url(url);
  if (parsed.backend != ParsedIndexUrl::Backend::sqlite) return false;
  std::error_code ec;
  return fs::weakly_canonical(parsed.sqlite_path, ec) == fs::weakly_canonical(dir / kIndexFile, ec);
}

bool holds_a_market(const LearnwareIndex& index) {
  return index.market_tag() || index.change_seq() != 0 || !index.list().empty();
}

DamagedMarketFile::DamagedMarketFile(const std::string& problem)
    : Error(problem + "; run `lwdock market rebuild` to re-create market.h5 from the packages"), problem_(problem) {}

MarketStore::MarketStore(fs::path dir, IndexUrls urls, std::unique_ptr<LearnwareIndex> index,
                         std::unique_ptr<LearnwareIndex> read_index)
    : dir_(std::move(dir)), urls_(std::move(urls)), index_(std::move(index)), read_index_(std::move(read_index)) {}
MarketStore::MarketStore(MarketStore&&) noexcept = default;
MarketStore& MarketStore::operator=(MarketStore&&) noexcept = default;
MarketStore::~MarketStore() = default;

MarketStore MarketStore::create(const fs::path& dir, const IndexUrls& db) {
  // A malformed URL is refused before anything is made.
  const bool own_index = is_own_market_index(dir, db.db);
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  if (existed) {
    if (!fs::is_directory(dir, ec)) throw Error(dir.string() + ": exists and is not a directory");
    if (!fs::is_empty(dir, ec)) {
      throw Error(dir.string() + ": already exists and is not empty; create the market in a new directory or open "
                                 "the existing one");
    }
  }
  try {
    fs::create_directories(dir / kPackagesDir);
    MarketLock lock(dir, MarketLock::Mode::exclusive);
    write_market_h5(dir / "market.h5", MarketSnapshot{});
    // The index last: its presence (index.sqlite, or the tag in the database)
    // is what makes the directory a market.
    auto index = open_learnware_index(db.db, dir / kIndexFile);
    if (!own_index && holds_a_market(*index)) {
      throw Error(index->name() + ": already holds a market's learnware index; give each market a database (or "
                                  "a schema: ?options=-csearch_path%3DNAME) of its own");
    }
    const std::string tag = new_market_tag();
    io::write_text_file_atomically(dir / kTagFile, tag + "\n");
    index->set_market_tag(tag);
    IndexUrls urls = db;
    urls.read_db.clear();
    return MarketStore(dir, std::move(urls), std::move(index), nullptr);
  } catch (...) {
    // The directory was empty or absent before, so everything in it is ours to remove.
    if (existed) {
      for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
    } else {
      fs::remove_all(dir, ec);
    }
    try {
      throw;
    } catch (const fs::filesystem_error& e) {
      throw Error(dir.string() + ": cannot create the market: " + e.code().message());
    }
  }
}

MarketStore MarketStore::open_indexes(const fs::path& dir, const IndexUrls& db, const char* purpose) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir.string() + ": no such market directory");
  const std::optional<std::string> tag = read_market_tag(dir);
  if (is_own_market_index(dir, db.db)) {
    if (!fs::exists(dir / kIndexFile, ec)) {
      throw Error(dir.string() + ": not a market directory (no index.sqlite); " + purpose);
    }
  } else if (!tag) {
    throw Error(dir.string() + ": not a market directory kept in another database (no market.id); " + purpose);
  }
  auto index = open_learnware_index(db.db, dir / kIndexFile);
  check_market_tag(dir, tag, *index);
  std::unique_ptr<LearnwareIndex> read_index;
  if (!db.read_db.empty()) {
    read_index = open_learnware_index(db.read_db, dir / kIndexFile, IndexAccess::read_only);
    check_market_tag(dir, tag, *read_index);
  }
  return MarketStore(dir, db, std::move(index), std::move(read_index));
}

MarketStore MarketStore::open(const fs::path& dir, const IndexUrls& db) {
  MarketStore store = open_indexes(dir, db, "create one with `lwdock market create`");
  // The table and market.h5's attributes now, its packs and strings when
  // first needed. Opening the file also catches one left marked open for
  // writing by a dead writer, which is recovered here (it needs the whole file).
  bool h5_reads = true;
  {
    MarketLock lock(dir, MarketLock::Mode::shared);
    try {
      store.load(/*tolerate_bad_h5=*/false, /*from_read_db=*/true);
    } catch (const DamagedMarketFile&) {
      h5_reads = false;
    }
  }
  if (!h5_reads) store.reload();
  store.sweep_stray_files();
  return store;
}

MarketStore MarketStore::open_for_rebuild(const fs::path& dir, const IndexUrls& db) {
  MarketStore store = open_indexes(dir, db, "nothing to rebuild from");
  {
    MarketLock lock(dir, MarketLock::Mode::shared);
    store.load(/*tolerate_bad_h5=*/true, /*from_read_db=*/true);
  }
  store.sweep_stray_files();
  return store;
}

void MarketStore::stage(std::string_view name) const {
  if (faults_.before_stage) faults_.before_stage(name);
}

void MarketStore::reload() {
  note_reloaded();
  std::optional<DamagedMarketFile> damage;
  {
    MarketLock lock(dir_, MarketLock::Mode::shared);
    try {
      load(/*tolerate_bad_h5=*/false, /*from_read_db=*/true);
      return;
    } catch (const DamagedMarketFile& e) {
      damage = e;
    }
  }
  // Readers hold the shared lock and writers the exclusive one, so no writer
  // was active while the file failed to read: a writer that left it this way
  // is dead. Repair under the exclusive lock (which keeps new writers out).
  std::unique_ptr<MarketLock> lock;
  try {
    lock = std::make_unique<MarketLock>(dir_, MarketLock::Mode::exclusive);
  } catch (const Error&) {
    throw *damage;  // e.g. a market on read-only media: nothing can be repaired
  }
  recover_h5(*damage);
}

void MarketStore::recover_h5(const DamagedMarketFile& damage, bool rewrite) {
  note_reloaded();
  // An update that died before its row committed: what it appended must not
  // count. Setting the counts back needs a file HDF5 opens for writing, so
  // the write mark the dead writer may have left goes first.
  bool cleared = false;
  try {
    settle_interrupted_update();
  } catch (const DamagedMarketFile&) {
    try {
      clear_market_h5_write_mark(h5_path());
      cleared = true;
      settle_interrupted_update();
    } catch (const Error&) {
      throw damage;
    }
  }
  if (!cleared && !rewrite) {
    try {
      load(/*tolerate_bad_h5=*/false);
      return;  // another process repaired it between our two locks, or the update was all there was
    } catch (const DamagedMarketFile&) {
    }
    try {
      clear_market_h5_write_mark(h5_path());
    } catch (const Error&) {
      throw damage;
    }
  }
  load_records(*index_);
  load_everything(/*tolerate_bad_h5=*/false);
  // It reads again. Rewrite it from what was read, so that nothing the dead
  // writer left half-done past the committed counts stays in the file.
  MarketSnapshot snapshot;
  std::int64_t members = 0;
  for (const auto& [key, pack] : parts_->packs) {
    if (!pack) continue;
    members += pack->count();
    snapshot.packs.emplace(key, pack->live_members());
  }
  snapshot.semantic_json_by_id = *parts_->semantic;
  snapshot.facts_by_type.insert(parts_->facts.begin(), parts_->facts.end());
  try {
    rewrite_h5(std::move(snapshot));
  } catch (const Error& e) {
    throw DamagedMarketFile(e.what());
  }
  warn(h5_path().string() + " was left open for writing by a process that ended without closing it; recovered (" +
       std::to_string(members) + " spec(s) of " + std::to_string(records_.size()) + " learnware(s)) and rewritten");
}

void MarketStore::load(bool tolerate_bad_h5, bool from_read_db) {
  load_records(from_read_db ? read_index() : *index_);
  load_contents(tolerate_bad_h5);
}

void MarketStore::load_records(const LearnwareIndex& from) {
  // The counter before the rows: should a change commit in between (a
  // writer that does not take the market lock), the next catch-up brings in
  // its row again rather than missing it.
  applied_seq_ = from.change_seq();
  stale_ = false;
  clear_records();
  for (auto& record : from.list()) put_record(std::move(record));
}

namespace {

std::optional<std::pair<std::uintmax_t, std::uintmax_t>> file_identity(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return std::pair<std::uintmax_t, std::uintmax_t>(st.st_dev, st.st_ino);
}

}  // namespace

void MarketStore::load_contents(bool tolerate_bad_h5) {
  std::lock_guard guard(parts_->mutex);
  parts_->everything = false;
  parts_->packs.clear();
  parts_->semantic.reset();
  parts_->facts.clear();
  h5_identity_ = file_identity(h5_path());
  try {
    if (!tolerate_bad_h5) check_no_interrupted_update();
    contents_ = read_market_h5_contents(h5_path());
  } catch (const Error& e) {
    if (!tolerate_bad_h5) throw DamagedMarketFile(e.what());
    contents_ = MarketH5Contents{kMarketH5Version, {}, 0, {}};
    parts_->everything = true;  // an unreadable file reads as an empty one
    parts_->semantic = JsonById{};
  }
  stored_members_ = contents_.stored_members();
}

void MarketStore::load_everything(bool tolerate_bad_h5) {
  MarketSnapshot snapshot;
  try {
    snapshot = read_market_h5(h5_path());
  } catch (const Error& e) {
    if (!tolerate_bad_h5) throw DamagedMarketFile(e.what());
  }
  std::lock_guard guard(parts_->mutex);
  parts_->packs.clear();
  for (auto& [key, pack] : snapshot.packs) {
    SpecPack kept = live_members(std::move(pack), key);
    if (kept.count() > 0) parts_->packs.emplace(key, StoredPack(std::move(kept)));
  }
  JsonById semantic;
  for (auto& [id, json] : snapshot.semantic_json_by_id)
    if (records_.contains(id)) semantic.emplace(id, std::move(json));
  parts_->semantic = std::move(semantic);
  parts_->facts.clear();
  for (auto& [type, by_id] : snapshot.facts_by_type) {
    JsonById kept;
    for (auto& [id, json] : by_id)
      if (records_.contains(id)) kept.emplace(id, std::move(json));
    parts_->facts.emplace(type, std::move(kept));
  }
  parts_->everything = true;
  stored_members_ = snapshot.stored_member_count;
}

SpecPack MarketStore::live_members(SpecPack pack, std::string_view key) const {
  std::vector<bool> live(pack.ids.size());
  bool all_live = true;
  for (std::size_t m = 0; m < pack.ids.size(); ++m) {
    live[m] = is_live(pack.ids[m], key);
    all_live = all_live && live[m];
  }
  if (all_live) return pack;  // the usual case: no copy
  return pack.with_members(live);
}

bool MarketStore::is_live(const std::string& id, std::string_view key) const {
  const auto it = records_.find(id);
  if (it == records_.end()) return false;
  return std::find(it->second.spec_keys.begin(), it->second.spec_keys.end(), key) != it->second.spec_keys.end();
}

std::optional<std::int64_t> MarketStore::read_cap(std::optional<std::int64_t> seen) const {
  if (!h5_identity_ || file_identity(h5_path()) != h5_identity_) return std::nullopt;
  return seen.value_or(0);
}

std::vector<std::string> MarketStore::pack_keys() const {
  std::set<std::string> keys;
  for (const auto& [id, record] : records_) keys.insert(record.spec_keys.begin(), record.spec_keys.end());
  return {keys.begin(), keys.end()};
}

const StoredPack* MarketStore::pack(std::string_view key) const {
  std::lock_guard guard(parts_->mutex);
  auto it = parts_->packs.find(key);
  if (it == parts_->packs.end()) {
    if (parts_->everything) return nullptr;
    const std::string name(key);
    std::optional<SpecPack> read;
    {
      MarketLock lock(dir_, MarketLock::Mode::shared);
      check_no_interrupted_update();
      const auto seen = contents_.pack_members.find(name);
      try {
        read = read_market_h5_pack(h5_path(), name,
                                   read_cap(seen == contents_.pack_members.end() ? std::nullopt
                                                                                 : std::optional(seen->second)));
      } catch (const Error& e) {
        throw DamagedMarketFile(e.what());
      }
    }
    std::optional<StoredPack> stored;
    if (read) {
      SpecPack kept = live_members(std::move(*read), name);
      if (kept.count() > 0) stored.emplace(std::move(kept));
    }
    it = parts_->packs.emplace(name, std::move(stored)).first;
  }
  return it->second ? &*it->second : nullptr;
}

std::map<std::string, SpecPack> MarketStore::all_packs() const {
  std::map<std::string, SpecPack> packs;
  for (const auto& key : pack_keys())
    if (const StoredPack* stored = pack(key)) packs.emplace(key, stored->live_members());
  return packs;
}

std::optional<std::string> MarketStore::semantic_json(std::string_view id) const {
  std::lock_guard guard(parts_->mutex);
  if (!parts_->semantic) {
    JsonById read;
    {
      MarketLock lock(dir_, MarketLock::Mode::shared);
      check_no_interrupted_update();
      try {
        read = read_market_h5_semantic(h5_path(), read_cap(contents_.semantic_count));
      } catch (const Error& e) {
        throw DamagedMarketFile(e.what());
      }
    }
    std::erase_if(read, [&](const auto& entry) { return !records_.contains(entry.first); });
    parts_->semantic = std::move(read);
  }
  const auto it = parts_->semantic->find(std::string(id));
  if (it == parts_->semantic->end()) return std::nullopt;
  return it->second;
}

const JsonById& MarketStore::search_facts(std::string_view type) const {
  std::lock_guard guard(parts_->mutex);
  auto it = parts_->facts.find(type);
  if (it == parts_->facts.end()) {
    const std::string name(type);
    JsonById read;
    if (!parts_->everything) {
      MarketLock lock(dir_, MarketLock::Mode::shared);
      check_no_interrupted_update();
      const auto seen = contents_.fact_counts.find(name);
      try {
        read = read_market_h5_facts(
            h5_path(), name,
            read_cap(seen == contents_.fact_counts.end() ? std::nullopt : std::optional(seen->second)));
      } catch (const Error& e) {
        throw DamagedMarketFile(e.what());
      }
    }
    std::erase_if(read, [&](const auto& entry) { return !records_.contains(entry.first); });
    it = parts_->facts.emplace(name, std::move(read)).first;
  }
  return it->second;
}

void MarketStore::put_record(LearnwareRecord record) {
  live_members_ += static_cast<std::int64_t>(record.spec_keys.size());
  const auto it = records_.find(record.id);
  if (it == records_.end()) {
    std::string id = record.id;
    records_.emplace(std::move(id), std::move(record));
    return;
  }
  live_members_ -= static_cast<std::int64_t>(it->second.spec_keys.size());
  it->second = std::move(record);
}

void MarketStore::erase_record(std::string_view id) {
  const auto it = records_.find(id);
  if (it == records_.end()) return;
  live_members_ -= static_cast<std::int64_t>(it->second.spec_keys.size());
  records_.erase(it);
}

void MarketStore::clear_records() {
  records_.clear();
  live_members_ = 0;
}

std::int64_t MarketStore::live_member_count() const { return live_members_; }

std::int64_t MarketStore::dead_member_count() const {
  return std::max<std::int64_t>(0, stored_members_ - live_member_count());
}

bool MarketStore::may_hold_stray_files() const {
  std::error_code ec;
  fs::path h5_temp = h5_path();
  h5_temp += ".tmp";
  if (fs::exists(h5_temp, ec)) return true;
  if (fs::is_directory(staging_dir(), ec) && !fs::is_empty(staging_dir(), ec)) return true;
  std::set<std::string, std::less<>> named;
  for (const auto& [id, record] : records_) named.insert(fs::path(record.package_path).filename().string());
  for (const auto& entry : fs::directory_iterator(packages_dir(), ec)) {
    if (!named.contains(entry.path().filename().string())) return true;
  }
  return false;
}

void MarketStore::sweep_stray_files() const {
  // Usually every file is one the table just loaded names, and there is
  // nothing to sweep: that is checked without the index or the lock. A file
  // it does not name may be debris, or a writer's change since the load.
  if (!may_hold_stray_files()) return;
  // Only when no writer is active: its temporary or not-yet-committed package
  // would look exactly like the debris of a crashed one.
  const auto lock = MarketLock::try_exclusive(dir_);
  if (!lock) return;
  std::set<fs::path> referenced;
  try {
    for (const auto& record : index_->list()) referenced.insert((dir_ / record.package_path).lexically_normal());
  } catch (const Error&) {
    return;  // without the index we cannot tell debris from packages
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(packages_dir(), ec)) {
    if (!entry.is_regular_file(ec)) continue;
    if (referenced.count(entry.path().lexically_normal()) == 0) remove_quietly(entry.path());
  }
  fs::path h5_temp = h5_path();
  h5_temp += ".tmp";
  remove_quietly(h5_temp);
  // Staging folders whose process is gone (a live one holds its folder's lock).
  io::remove_abandoned_directories(staging_dir(), "");
}

void MarketStore::between_changes(const std::function<void(const LearnwareIndex& primary)>& body) const {
  MarketLock lock(dir_, MarketLock::Mode::shared);
  body(*index_);
}

std::int64_t MarketStore::latest_change_seq() const { return index_->change_seq(); }

std::unique_ptr<LearnwareIndex> MarketStore::open_change_watch(const fs::path& dir, const IndexUrls& db) {
  return open_learnware_index(db.db, dir / kIndexFile);
}

void MarketStore::note_reloaded() {
  changes_.reloaded = true;
  changes_.ids.clear();
}

void MarketStore::note_own_change(std::int64_t seq_after, std::int64_t count) {
  if (seq_after == applied_seq_ + count) {
    applied_seq_ = seq_after;
  } else {
    stale_ = true;
  }
}

bool MarketStore::catch_up() {
  const std::int64_t before = applied_seq_;
  const bool was_reloaded = changes_.reloaded;
  const std::size_t had = changes_.ids.size();
  {
    MarketLock lock(dir_, MarketLock::Mode::shared);
    try {
      catch_up_locked();
    } catch (const DamagedMarketFile&) {
      // Written half by a writer that died: reload() repairs it under the
      // exclusive lock, as an open would.
      stale_ = true;
    }
  }
  if (stale_) reload();
  return applied_seq_ != before || changes_.reloaded != was_reloaded || changes_.ids.size() != had;
}

void MarketStore::catch_up_for_change() {
  try {
    // Nobody has read what a dead update appended (readers refuse the file
    // while its note is there); its counts set back, memory stands.
    settle_interrupted_update();
    catch_up_locked();
  } catch (const DamagedMarketFile& damage) {
    recover_h5(damage);
  }
}

void MarketStore::check_no_interrupted_update() const {
  std::error_code ec;
  if (fs::exists(dir_ / kUpdateIntentFile, ec)) {
    throw DamagedMarketFile(h5_path().string() + ": an update was interrupted (" + kUpdateIntentFile +
                            " is there) and is not undone yet");
  }
}

bool MarketStore::settle_interrupted_update() {
  const fs::path note = dir_ / kUpdateIntentFile;
  std::optional<UpdateIntent> intent;
  try {
    intent = read_update_intent(note);
  } catch (const Error& e) {
    throw DamagedMarketFile(e.what());
  }
  if (!intent) return false;
  const auto row = index_->get(intent->id);
  if (!row || row->package_path != intent->package_path) {
    try {
      restore_market_h5_commit(h5_path(), intent->before);
    } catch (const Error& e) {
      throw DamagedMarketFile(e.what());
    }
    warn(h5_path().string() + ": the update of learnware " + intent->id +
         " was interrupted before it committed; what it had added to market.h5 no longer counts");
  }
  // Durably gone before any later change: should the note come back, it
  // would set back counts that later changes advanced.
  std::error_code ec;
  fs::remove(note, ec);
  if (ec) throw Error(note.string() + ": cannot remove the note of an interrupted update: " + ec.message());
  sync_directory(dir_);
  return true;
}

void MarketStore::forget_parts_of(const std::string& id) {
  for (auto& [key, pack] : parts_->packs) {
    if (pack && pack->remove(id) && pack->count() == 0) pack.reset();
  }
  if (parts_->semantic) parts_->semantic->erase(id);
  for (auto& [type, by_id] : parts_->facts) by_id.erase(id);
}

void MarketStore::catch_up_locked() {
  check_no_interrupted_update();
  const std::int64_t seq = index_->change_seq();
  if (seq == applied_seq_ && !stale_) return;
  // A market.h5 replaced since (compaction, rebuild, recovery) has its
  // members elsewhere: the counts mean nothing there, so read it again. Rare.
  auto read_everything = [&] {
    note_reloaded();
    load(/*tolerate_bad_h5=*/false);
  };
  if (stale_ || file_identity(h5_path()) != h5_identity_) return read_everything();

  const IndexChanges changes = index_->changes_since(applied_seq_);
  MarketH5Contents now;
  try {
    now = read_market_h5_contents(h5_path());
  } catch (const Error& e) {
    throw DamagedMarketFile(e.what());
  }
  // New learnwares and updated ones (an update always writes a package of
  // a new name) have new members in market.h5; a status change alone does not.
  std::set<std::string, std::less<>> repackaged;
  for (const auto& record : changes.changed) {
    const auto old = records_.find(record.id);
    if (old == records_.end() || old->second.package_path != record.package_path) repackaged.insert(record.id);
  }

  std::lock_guard guard(parts_->mutex);
  // What was appended to the parts already read; the others are read up to
  // the new counts when first needed. Every appended member belongs to a
  // change since applied_seq_ (writers hold the exclusive lock, this the
  // shared one), so each repackaged learnware's must be among them.
  auto count_in = [](const std::map<std::string, std::int64_t>& counts, const std::string& key) {
    const auto it = counts.find(key);
    return it == counts.end() ? std::int64_t{0} : it->second;
  };
  std::map<std::string, PackAppended> packs;
  AppendedEntries semantic;
  std::map<std::string, AppendedEntries> facts;
  try {
    if (!repackaged.empty()) {
      std::set<std::string> keys;
      for (const auto& record : changes.changed) {
        if (!repackaged.contains(record.id)) continue;
        for (const auto& key : record.spec_keys) {
          if (parts_->everything || parts_->packs.contains(key)) keys.insert(key);
        }
      }
      for (const auto& key : keys) {
        const std::int64_t from = count_in(contents_.pack_members, key);
        const std::int64_t to = count_in(now.pack_members, key);
        if (to < from) return read_everything();
        packs.emplace(key, read_market_h5_pack_appended(h5_path(), key, from, to));
      }
      if (parts_->semantic) {
        if (now.semantic_count < contents_.semantic_count) return read_everything();
        semantic = read_market_h5_semantic_appended(h5_path(), contents_.semantic_count, now.semantic_count);
      }
      std::set<std::string> types;
      for (const auto& [type, by_id] : parts_->facts) types.insert(type);
      if (parts_->everything)
        for (const auto& [type, count] : now.fact_counts) types.insert(type);
      for (const auto& type : types) {
        const std::int64_t from = count_in(contents_.fact_counts, type);
        const std::int64_t to = count_in(now.fact_counts, type);
        if (to < from) return read_everything();
        if (to > from) facts.emplace(type, read_market_h5_facts_appended(h5_path(), type, from, to));
      }
    }
  } catch (const Error& e) {
    throw DamagedMarketFile(e.what());
  }
  // Memory out of step with the file (a writer outside the lock, or a
  // store that missed a change): read everything rather than guess.
  for (const auto& record : changes.changed) {
    if (!repackaged.contains(record.id)) continue;
    for (const auto& key : record.spec_keys) {
      const auto it = packs.find(key);
      if (it != packs.end() && std::find(it->second.ids.begin(), it->second.ids.end(), record.id) == it->second.ids.end())
        return read_everything();
    }
    if (parts_->semantic && std::none_of(semantic.begin(), semantic.end(),
                                         [&](const auto& entry) { return entry.first == record.id; }))
      return read_everything();
  }

  // Apply, as this store's own changes do.
  for (const auto& id : changes.removed) {
    erase_record(id);
    forget_parts_of(id);
    if (!changes_.reloaded) changes_.ids.insert(id);
  }
  for (const auto& record : changes.changed) {
    if (repackaged.contains(record.id)) forget_parts_of(record.id);
    put_record(record);
    if (!changes_.reloaded) changes_.ids.insert(record.id);
  }
  for (auto& [key, appended] : packs) {
    const SpecPack& members = appended.members;
    for (std::int64_t m = 0; m < members.count(); ++m) {
      const std::string& id = members.ids[static_cast<std::size_t>(m)];
      if (!repackaged.contains(id) || !is_live(id, key)) continue;
      auto& slot = parts_->packs[key];
      if (!slot) slot.emplace(SpecPack{});
      slot->append_member_of(members, m);
    }
  }
  auto follow_entries = [&](JsonById& by_id, const AppendedEntries& entries) {
    for (const auto& [id, json] : entries) {
      if (!repackaged.contains(id)) continue;
      if (json.empty()) {
        by_id.erase(id);  // cleared by an update
      } else {
        by_id[id] = json;
      }
    }
  };
  if (parts_->semantic) follow_entries(*parts_->semantic, semantic);
  for (const auto& [type, entries] : facts) follow_entries(parts_->facts[type], entries);
  now.version = contents_.version;
  contents_ = std::move(now);
  stored_members_ = contents_.stored_members();
  applied_seq_ = std::max(seq, changes.seq);
}

std::string MarketStore::next_id() { return index_->reserve_id(); }

void MarketStore::add(const LearnwareRecord& record, const fs::path& package_zip, const SpecsByType& specs_by_type,
                      const std::string& semantic_json, const SearchFacts& facts) {
  store_learnware(record, package_zip, specs_by_type, semantic_json, facts, /*replacing=*/false);
}

void MarketStore::update(const LearnwareRecord& record, const fs::path& package_zip, const SpecsByType& specs_by_type,
                         const std::string& semantic_json, const SearchFacts& facts) {
  store_learnware(record, package_zip, specs_by_type, semantic_json, facts, /*replacing=*/true);
}

void MarketStore::store_learnware(const LearnwareRecord& record, const fs::path& package_zip,
                                  const SpecsByType& specs_by_type, const std::string& semantic_json,
                                  const SearchFacts& facts, bool replacing) {
  const std::string& id = record.id;
  if (!is_valid_learnware_id(id)) {
    throw Error("learnware id \"" + id + "\" is not valid (use 1 to 64 letters, digits, '-' or '_')");
  }
  const std::vector<PackedSpec> packed = pack_specs(id, specs_by_type);
  std::error_code ec;
  if (!fs::is_regular_file(package_zip, ec)) throw Error(package_zip.string() + ": the package is not a readable file");

  MarketLock lock(dir_, MarketLock::Mode::exclusive);
  catch_up_for_change();
  const auto existing = index_->get(id);
  if (!replacing && existing) throw Error("learnware " + id + " is already in the market at " + dir_.string());
  if (replacing && !existing) throw Error("learnware " + id + " is not in the market at " + dir_.string());

  LearnwareRecord row = record;
  row.package_path = replacing ? next_package_name(id, existing->package_path)
                               : std::string(kPackagesDir) + "/" + id + ".zip";
  row.spec_keys.clear();
  for (const auto& spec : packed) row.spec_keys.push_back(spec.pack_key());
  row.updated_at = utc_now_iso8601();
  if (replacing) {
    row.created_at = existing->created_at;
  } else if (row.created_at.empty()) {
    row.created_at = row.updated_at;
  }
  const fs::path package_target = dir_ / row.package_path;

  bool package_placed = false;
  std::optional<MarketCommitPoint> appended;
  std::optional<UpdateIntent> update_intent;
  std::int64_t seq_after = 0;
  try {
    stage("copy_package");
    copy_file_atomically(package_zip, package_target);
    package_placed = true;
    stage("append_h5");
    if (replacing) {
      // What the counts are now, with every key and type this append may
      // touch: an update also clears the facts of every other type.
      update_intent.emplace(UpdateIntent{id, row.package_path, {contents_.pack_members, contents_.semantic_count,
                                                                 contents_.fact_counts}});
      for (const auto& spec : packed) update_intent->before.pack_members.try_emplace(spec.pack_key(), 0);
      for (const auto& [type, json] : facts) update_intent->before.fact_counts.try_emplace(type, 0);
      write_update_intent(dir_ / kUpdateIntentFile, *update_intent);
    }
    const MarketAppend entry{id, packed, semantic_json, facts, replacing};
    const auto at_step = [&](std::string_view step) { stage(step); };
    try {
      appended = append_to_market_h5(h5_path(), entry, at_step);
    } catch (const Error& e) {
      // A writer that died with market.h5 open for writing leaves it so
      // marked, and HDF5 will not open it; with nothing committed in the
      // index, catching up did not look. Recover it (this store holds the
      // exclusive lock: no writer is alive) and append once more.
      bool opens = true;
      try {
        read_market_h5_contents(h5_path());
      } catch (const Error&) {
        opens = false;
      }
      if (!opens) {
        recover_h5(DamagedMarketFile(e.what()));
        appended = append_to_market_h5(h5_path(), entry, at_step);
      } else {
        // One killed while HDF5 rewrote the last, partly filled chunk of a
        // dataset in place can leave it torn: its checksum fails, and the
        // rows of committed learnwares in it are gone from the file. Only
        // their packages can give them back (rebuild()).
        try {
          read_market_h5(h5_path());
        } catch (const Error& damage) {
          throw DamagedMarketFile(damage.what());
        }
        // It reads, yet HDF5 refused the write: a writer killed before it
        // closed the file can leave metadata past the end of allocation the
        // superblock records (written at close), which reads never touch and
        // a write that loads it fails on ("len not positive after adjustment
        // for EOA"). Rewriting the file from what it reads makes it whole.
        recover_h5(DamagedMarketFile(e.what()), /*rewrite=*/true);
        appended = append_to_market_h5(h5_path(), entry, at_step);
      }
    }
    index_->transaction([&] {
      stage(replacing ? "index_update" : "index_insert");
      if (replacing) {
        index_->update(row);
      } else {
        index_->insert(row);
      }
      seq_after = index_->change_seq();
      stage("commit");
    });
  } catch (...) {
    // Undo in reverse order. Each undo is best effort: whatever it cannot undo
    // is invisible anyway (the index never named it) and the next open sweeps
    // it -- an update's rows included, whose note stays until they are undone.
    if (update_intent) {
      try {
        restore_market_h5_commit(h5_path(), update_intent->before);
        remove_quietly(dir_ / kUpdateIntentFile);
      } catch (...) {
      }
    } else if (appended) {
      try {
        restore_market_h5_commit(h5_path(), *appended);
      } catch (...) {
      }
    }
    if (package_placed) remove_quietly(package_target);
    throw;
  }
  // Committed: the note has done its work (should its removal not last, the
  // next change finds the row naming the new package and removes it again).
  if (update_intent) remove_quietly(dir_ / kUpdateIntentFile);

  // Committed. Bring memory in line with the disk: the parts read so far
  // change by this learnware; the others, read later, will see it there (the
  // counts they may read up to now include its rows).
  if (replacing && existing->package_path != row.package_path) remove_quietly(dir_ / existing->package_path);
  put_record(row);
  note_own_change(seq_after, 1);
  stored_members_ += static_cast<std::int64_t>(packed.size());
  // Caught up under this lock, the counts before the append are the ones
  // known; anything else was appended outside the lock.
  const auto known = [](const std::map<std::string, std::int64_t>& counts, const std::string& key) {
    const auto it = counts.find(key);
    return it == counts.end() ? std::int64_t{0} : it->second;
  };
  for (const auto& [key, members] : appended->pack_members) {
    if (known(contents_.pack_members, key) != members) stale_ = true;
    contents_.pack_members[key] = members + 1;
  }
  if (contents_.semantic_count != appended->semantic_count) stale_ = true;
  contents_.semantic_count = appended->semantic_count + 1;
  for (const auto& [type, count] : appended->fact_counts) {
    if (known(contents_.fact_counts, type) != count) stale_ = true;
    contents_.fact_counts[type] = count + 1;
  }
  {
    std::lock_guard guard(parts_->mutex);
    follow_stored_learnware(id, packed, semantic_json, facts, replacing);
  }
  if (replacing) compact_if_mostly_dead();
}

void MarketStore::follow_stored_learnware(const std::string& id, const std::vector<PackedSpec>& packed,
                                          const std::string& semantic_json, const SearchFacts& facts,
                                          bool replacing) {
  if (replacing) {
    for (auto& [key, pack] : parts_->packs) {
      if (pack && pack->remove(id) && pack->count() == 0) pack.reset();
    }
    for (auto& [type, by_id] : parts_->facts) by_id.erase(id);
  }
  for (const auto& spec : packed) {
    const auto it = parts_->packs.find(spec.pack_key());
    if (it == parts_->packs.end() && !parts_->everything) continue;  // not read yet
    SpecPack one;
    append_packed_member(one, id, spec);
    auto& slot = parts_->packs[spec.pack_key()];
    if (!slot) slot.emplace(SpecPack{});
    slot->append_member_of(one, 0);
  }
  if (parts_->semantic) (*parts_->semantic)[id] = semantic_json;
  for (const auto& [type, json] : facts) {
    const auto it = parts_->facts.find(type);
    if (it != parts_->facts.end()) it->second[id] = json;
    else if (parts_->everything) parts_->facts[type][id] = json;
  }
}

void MarketStore::update_status(std::string_view id, LearnwareStatus status, std::string_view reason) {
  MarketLock lock(dir_, MarketLock::Mode::exclusive);
  catch_up_for_change();
  auto record = index_->get(id);
  if (!record) throw Error("learnware " + std::string(id) + " is not in the market at " + dir_.string());
  record->status = status;
  record->status_reason = std::string(reason);
  record->updated_at = utc_now_iso8601();
  std::int64_t seq_after = 0;
  index_->transaction([&] {
    stage("index_update");
    index_->update(*record);
    seq_after = index_->change_seq();
    stage("commit");
  });
  put_record(*record);
  note_own_change(seq_after, 1);
}

bool MarketStore::remove(std::string_view id) {
  {
    MarketLock lock(dir_, MarketLock::Mode::exclusive);
    catch_up_for_change();
    const auto record = index_->get(id);
    if (!record) return false;
    std::int64_t seq_after = 0;
    index_->transaction([&] {
      stage("index_remove");
      index_->remove(id);
      seq_after = index_->change_seq();
      stage("commit");
    });
    note_own_change(seq_after, 1);
    // Committed: the package and pack rows are garbage now. A failure to delete
    // the zip is harmless (the next open sweeps unreferenced packages).
    remove_quietly(dir_ / record->package_path);
    erase_record(id);
    {
      std::lock_guard guard(parts_->mutex);
      forget_parts_of(std::string(id));
    }
    compact_if_mostly_dead();
  }
  return true;
}

std::optional<LearnwareRecord> MarketStore::get(std::string_view id) const {
  const auto it = records_.find(id);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

std::vector<LearnwareRecord> MarketStore::list(std::optional<LearnwareStatus> status) const {
  std::vector<LearnwareRecord> records;
  for (const auto& [id, record] : records_) {
    if (!status || record.status == *status) records.push_back(record);
  }
  return records;
}

fs::path MarketStore::package_path(std::string_view id) const {
  const auto it = records_.find(id);
  if (it == records_.end()) throw Error("learnware " + std::string(id) + " is not in the market at " + dir_.string());
  return dir_ / it->second.package_path;
}

// Called with the exclusive lock held (and parts_->mutex not).
void MarketStore::compact_if_mostly_dead() {
  const std::int64_t dead = dead_member_count();
  if (dead < kMinDeadMembersToCompact || dead <= live_member_count()) return;
  // Compaction is housekeeping: the change that triggered it has already
  // committed, so its failure must not be reported as that change's failure;
  // the next trigger tries again.
  try {
    compact_locked();
  } catch (const Error&) {
  }
}

void MarketStore::compact() {
  MarketLock lock(dir_, MarketLock::Mode::exclusive);
  catch_up_for_change();
  compact_locked();
}

void MarketStore::compact_locked() {
  // The records are current (every change catches up first, under the
  // lock); the file is read whole to be written again.
  load_everything(/*tolerate_bad_h5=*/false);
  MarketSnapshot snapshot;
  for (const auto& [key, pack] : parts_->packs)
    if (pack) snapshot.packs.emplace(key, pack->live_members());
  snapshot.semantic_json_by_id = *parts_->semantic;
  snapshot.facts_by_type.insert(parts_->facts.begin(), parts_->facts.end());
  rewrite_h5(std::move(snapshot));
}

void MarketStore::rewrite_h5(MarketSnapshot snapshot) {
  stage("write_h5");
  write_market_h5(h5_path(), snapshot);
  std::lock_guard guard(parts_->mutex);
  parts_->packs.clear();
  stored_members_ = 0;
  for (auto& [key, pack] : snapshot.packs) {
    stored_members_ += pack.count();
    parts_->packs.emplace(key, StoredPack(std::move(pack)));
  }
  parts_->semantic = std::move(snapshot.semantic_json_by_id);
  parts_->facts.clear();
  parts_->facts.insert(snapshot.facts_by_type.begin(), snapshot.facts_by_type.end());
  parts_->everything = true;
  contents_.version = kMarketH5Version;
  h5_identity_ = file_identity(h5_path());
  contents_.pack_members.clear();
  for (const auto& [key, pack] : parts_->packs) contents_.pack_members[key] = pack->count();
  contents_.semantic_count = static_cast<std::int64_t>(parts_->semantic->size());
  contents_.fact_counts.clear();
  for (const auto& [type, by_id] : parts_->facts) contents_.fact_counts[type] = static_cast<std::int64_t>(by_id.size());
}

void MarketStore::rebuild(const RederiveLearnware& derive) {
  MarketLock lock(dir_, MarketLock::Mode::exclusive);
  note_reloaded();
  // A dead update's note: the file is rewritten whole below, so one that
  // cannot be settled (the file does not read) goes once that is done.
  bool unsettled_update = false;
  try {
    settle_interrupted_update();
  } catch (const DamagedMarketFile&) {
    unsettled_update = true;
  }
  // Whatever semantic specs the current file still holds (it may be unreadable).
  load_records(*index_);
  load_everything(/*tolerate_bad_h5=*/true);
  const JsonById& old_semantic = *parts_->semantic;
  auto records = index_->list();

  MarketSnapshot snapshot;
  auto& packs = snapshot.packs;
  auto& semantic = snapshot.semantic_json_by_id;
  std::vector<LearnwareRecord> changed_rows;
  for (auto& record : records) {
    const fs::path package = dir_ / record.package_path;
    RederivedLearnware derived;
    std::vector<PackedSpec> packed;
    try {
      derived = derive(record, package);
      packed = pack_specs(record.id, derived.specs_by_type);
    } catch (const Error& e) {
      throw Error("rebuild: learnware " + record.id + " (" + package.string() + "): " + e.what());
    }
    std::vector<std::string> keys;
    for (const auto& spec : packed) {
      keys.push_back(spec.pack_key());
      append_packed_member(packs[spec.pack_key()], record.id, spec);
    }
    if (derived.semantic_json) {
      semantic[record.id] = std::move(*derived.semantic_json);
    } else if (const auto it = old_semantic.find(record.id); it != old_semantic.end()) {
      semantic[record.id] = it->second;
    } else {
      throw Error("rebuild: learnware " + record.id +
                  ": market.h5 held no semantic spec for it, so the rebuild callback must provide one");
    }
    for (auto& [type, json] : derived.facts) snapshot.facts_by_type[type][record.id] = std::move(json);
    bool changed = keys != record.spec_keys;
    record.spec_keys = keys;
    if (derived.invalid_reason && record.status != LearnwareStatus::invalid) {
      record.status = LearnwareStatus::invalid;
      record.status_reason = *derived.invalid_reason;
      record.updated_at = utc_now_iso8601();
      changed = true;
    }
    if (changed) changed_rows.push_back(record);
  }

  // The index update commits only after the new file is in place; if the file
  // cannot be written, neither changes.
  std::int64_t seq_after = 0;
  index_->transaction([&] {
    stage("index_update");
    for (const auto& row : changed_rows) index_->update(row);
    seq_after = index_->change_seq();
    rewrite_h5(std::move(snapshot));
    stage("commit");
  });
  for (const auto& row : changed_rows) put_record(row);
  note_own_change(seq_after, static_cast<std::int64_t>(changed_rows.size()));
  if (unsettled_update) {
    remove_quietly(dir_ / kUpdateIntentFile);
    sync_directory(dir_);
  }
}

}  // namespace lwd
