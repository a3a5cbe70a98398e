#include "engine/market/spec_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <unistd.h>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/statistical_search.h"
#include "kernels/parallel.h"
#include "kernels/rff_embedding.h"
#include "kernels/rkme.h"

namespace lwd {

namespace {

using kernels::Context;
using Hit = SpecIndex::Hit;

constexpr char kMagic[8] = {'L', 'W', 'D', 'I', 'D', 'X', '0', '1'};

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::uint64_t fnv1a(const char* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Best-first order of hits: by MMD², then by id (the scan's order: the
// candidates are listed by ascending id and sorted stably by distance).
struct HitKey {
  double mmd2;
  const std::string* id;
  std::int64_t member;
};
bool hit_before(const HitKey& a, const HitKey& b) {
  if (a.mmd2 != b.mmd2) return a.mmd2 < b.mmd2;
  return *a.id < *b.id;
}

// The k best hits seen so far (a max-heap by hit_before).
class TopK {
 public:
  explicit TopK(std::int64_t k) : k_(static_cast<std::size_t>(std::max<std::int64_t>(k, 0))) {}
  void offer(const HitKey& h) {
    if (!std::isfinite(h.mmd2) || k_ == 0) return;  // the scan drops non-finite distances
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), hit_before);
    } else if (hit_before(h, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), hit_before);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), hit_before);
    }
  }
  bool full() const { return heap_.size() == k_; }
  // The k-th best MMD² (+inf until k are known).
  double bound() const { return full() ? heap_.front().mmd2 : std::numeric_limits<double>::infinity(); }
  std::vector<Hit> sorted() const {
    std::vector<HitKey> v = heap_;
    std::sort(v.begin(), v.end(), hit_before);
    std::vector<Hit> out;
    out.reserve(v.size());
    for (const auto& h : v) out.push_back(Hit{h.member, h.mmd2});
    return out;
  }

 private:
  std::size_t k_;
  std::vector<HitKey> heap_;
};

double l1(std::span<const double> beta) {
  double s = 0.0;
  for (double b : beta) s += std::abs(b);
  return s;
}

std::int64_t member_of(const StoredPack& pack, const std::string& id) {
  const auto m = pack.find(id);
  if (!m) throw Error("search index: learnware " + id + " is indexed but no longer in the pack (out of step)");
  return *m;
}

// MMD²(from, m) for members m of one gamma group, the expression the scan
// evaluates (statistical_search.cpp, batch_mmd2: <m,m> - 2<from,m> + <from,from>,
// the products under m's gamma), with <from, from> given once instead of
// recomputed per call: one batched kernel pass over the members' rows.
std::vector<double> group_mmd2(const Context& ctx, kernels::ConstMatrixView<double> z, std::span<const double> beta,
                               double from_self, const SpecPack& pack, const std::vector<std::int64_t>& members,
                               double gamma) {
  std::vector<double> rows;
  std::vector<double> weights;
  std::vector<std::int64_t> offsets{0};
  for (std::int64_t m : members) {
    const auto zm = pack.member_z(m);
    const auto bm = pack.member_beta(m);
    rows.insert(rows.end(), zm.data, zm.data + zm.rows * zm.cols);
    weights.insert(weights.end(), bm.begin(), bm.end());
    offsets.push_back(offsets.back() + zm.rows);
  }
  std::vector<double> inner(members.size());
  if (members.empty()) return inner;
  kernels::rkme_batch_inner_products(ctx, z, beta, kernels::ConstMatrixView<double>(rows.data(), offsets.back(), pack.dim),
                                     weights, offsets, gamma, inner);
  std::vector<double> out(members.size());
  for (std::size_t i = 0; i < members.size(); ++i)
    out[i] = pack.self_inner[static_cast<std::size_t>(members[i])] - 2.0 * inner[i] + from_self;
  return out;
}

// Member m's random-feature embedding (kernels/rff_embedding.h), kept in
// float32 by both indexes.
void embed_member(const Context& ctx, const kernels::RffMap& map, const SpecPack& p, std::int64_t m,
                  std::span<float> out) {
  std::vector<double> e(out.size());
  kernels::rff_embed(ctx, map, p.member_z(m), p.member_beta(m), e);
  std::copy(e.begin(), e.end(), out.begin());
}

double user_self(const Context& ctx, const RKMETableSpec& user, double gamma) {
  return kernels::rkme_inner_product(ctx, user.z().view(), user.beta(), user.z().view(), user.beta(), gamma);
}

// --- binary file helpers ----------------------------------------------------

class Writer {
 public:
  template <class T>
  void pod(const T& v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s) {
    pod<std::uint64_t>(s.size());
    bytes_.append(s);
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    pod<std::uint64_t>(v.size());
    bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class Reader {
 public:
  Reader(const std::string& bytes, std::string where) : bytes_(bytes), where_(std::move(where)) {}
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = pod<std::uint64_t>();
    need(n);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T>
  std::vector<T> vec() {
    const auto n = pod<std::uint64_t>();
    if (n > (bytes_.size() - pos_) / sizeof(T)) fail("a length runs past the end");
    std::vector<T> v(n);
    std::memcpy(v.data(), bytes_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return v;
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }

 private:
  void need(std::uint64_t n) const {
    if (n > bytes_.size() - pos_) fail("truncated");
  }
  const std::string& bytes_;
  std::string where_;
  std::size_t pos_ = 0;
};

// --- what both kinds share: slots (id, fingerprint, gamma group) -------------

struct Slots {
  std::vector<std::string> id;
  std::vector<std::uint64_t> fingerprint;
  std::vector<std::int32_t> group;       // -1: free
  std::vector<std::int32_t> free;
  std::unordered_map<std::string, std::int32_t> of;
  std::int64_t live = 0;

  std::int32_t take(const std::string& name, std::uint64_t fp, std::int32_t g) {
    std::int32_t s;
    if (!free.empty()) {
      s = free.back();
      free.pop_back();
      id[static_cast<std::size_t>(s)] = name;
      fingerprint[static_cast<std::size_t>(s)] = fp;
      group[static_cast<std::size_t>(s)] = g;
    } else {
      s = static_cast<std::int32_t>(id.size());
      id.push_back(name);
      fingerprint.push_back(fp);
      group.push_back(g);
    }
    of.emplace(name, s);
    ++live;
    return s;
  }
  void release(std::int32_t s) {
    of.erase(id[static_cast<std::size_t>(s)]);
    id[static_cast<std::size_t>(s)].clear();
    group[static_cast<std::size_t>(s)] = -1;
    free.push_back(s);
    --live;
  }
  std::size_t bytes() const {
    std::size_t b = id.capacity() * sizeof(std::string) + fingerprint.capacity() * 8 + group.capacity() * 4 +
                    free.capacity() * 4 + of.size() * (sizeof(std::string) + 4 + 2 * sizeof(void*)) +
                    of.bucket_count() * sizeof(void*);
    for (const auto& s : id) b += s.capacity() > 15 ? s.capacity() : 0;
    return b;
  }
  void write(Writer& w) const {
    w.pod<std::uint64_t>(id.size());
    for (const auto& s : id) w.str(s);
    w.vec(fingerprint);
    w.vec(group);
  }
  void read(Reader& r) {
    const auto n = r.pod<std::uint64_t>();
    id.clear();
    for (std::uint64_t i = 0; i < n; ++i) id.push_back(r.str());
    fingerprint = r.vec<std::uint64_t>();
    group = r.vec<std::int32_t>();
    if (fingerprint.size() != n || group.size() != n) r.fail("the slot table is inconsistent");
    of.clear();
    free.clear();
    live = 0;
    for (std::size_t s = 0; s < n; ++s) {
      if (group[s] < 0) {
        free.push_back(static_cast<std::int32_t>(s));
      } else {
        if (!of.emplace(id[s], static_cast<std::int32_t>(s)).second) r.fail("an id is indexed twice");
        ++live;
      }
    }
  }
  std::vector<std::pair<std::string, std::uint64_t>> pairs() const {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (std::size_t s = 0; s < id.size(); ++s)
      if (group[s] >= 0) out.emplace_back(id[s], fingerprint[s]);
    return out;
  }
};

void write_index_file(const std::filesystem::path& path, IndexKind kind, std::int64_t stamp, Writer& body) {
  Writer head;
  head.bytes().append(kMagic, sizeof(kMagic));
  head.pod<std::int32_t>(static_cast<std::int32_t>(kind));
  head.pod<std::int64_t>(stamp);
  std::string all = head.bytes() + body.bytes();
  const std::uint64_t sum = fnv1a(all.data(), all.size());
  all.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
  io::write_file_atomically(path, [&](std::ostream& out) { out.write(all.data(), static_cast<std::streamsize>(all.size())); });
}

// --- exact: a tree of balls in the RKHS ---------------------------------------

// Each node is a ball: a centre (one of its members) and a radius, the exact
// largest distance from the centre to a member of its subtree. An inner node
// has between 2 and max_children children whose centres are picked farthest-
// first; its first child shares its centre, so a query knows that distance
// already. A query evaluates the centres of a node's children in one batch and
// walks the balls best-first by the lower bound d(u, c) − r on every member
// inside; balls that cannot hold a member nearer than the k-th best are never
// opened.
//
// Why farthest-first with many children rather than two: in a market of many
// groups of related learnwares the groups lie about equally far from one
// another (the RBF kernel saturates), so a two-way split by the nearer of two
// centres scatters the groups that are near neither over both halves, and the
// balls of the upper levels -- each holding parts of many groups -- have radii
// that prune nothing (38 % of 10⁵ members evaluated). Farthest-first picks one
// centre in each group before a second in any, so each group lands in one
// ball, and a query opens the balls of its own group only (bench/README.md,
// "Search indexes").
//
// The split only decides the tree's shape, never an answer (every radius is an
// exact distance), so it runs on cheap random-Fourier-feature embeddings
// (kTreeFrequencies frequencies, squared distance ≈ MMD²) and costs one exact
// distance per member per level: the member's distance to its ball's centre.
class BallTreeIndex final : public SpecIndex {
 public:
  // Frequencies of the embeddings that shape the tree: enough to tell groups
  // apart (the estimate's spread is small against the distances between
  // groups), and a quarter of the approximate index's cost per member.
  static constexpr std::int64_t kTreeFrequencies = 32;
  // A node stops adding centres once every member is within this fraction of
  // the first (largest) farthest-first distance of a centre ...
  static constexpr double kCoverRatio = 0.5;
  // ... and its largest child holds at most this fraction of its members.
  static constexpr double kLargestChild = 0.75;
  static constexpr std::int64_t kFileVersion = -2;  // the first field; older files held the leaf size

  explicit BallTreeIndex(const IndexOptions& options) : options_(options) {}

  IndexKind kind() const override { return IndexKind::kExact; }
  std::int64_t size() const override { return slots_.live; }
  bool contains(std::string_view id) const override { return slots_.of.contains(std::string(id)); }

  void build(const Context& ctx, const StoredPack& pack, const std::vector<std::int64_t>& members) {
    const SpecPack& p = pack.slots();
    std::vector<std::vector<std::int32_t>> by_group;
    for (std::int64_t m : members) {
      const auto g = group_for(p, m);
      if (static_cast<std::size_t>(g) >= by_group.size()) by_group.resize(static_cast<std::size_t>(g) + 1);
      const auto s = slots_.take(p.ids[static_cast<std::size_t>(m)], member_fingerprint(p, m), g);
      ensure_slot_maps();
      by_group[static_cast<std::size_t>(g)].push_back(s);
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      auto emb = embeddings(ctx, pack, g, by_group[g]);
      groups_[g].root = build_subtree(ctx, pack, std::move(by_group[g]), std::move(emb), -1, {}, -1);
    }
  }

  void add(const Context& ctx, const StoredPack& pack, std::int64_t m) override {
    const SpecPack& p = pack.slots();
    const std::string& id = p.ids[static_cast<std::size_t>(m)];
    if (slots_.of.contains(id)) throw Error("search index: learnware " + id + " is indexed already");
    const auto g = group_for(p, m);
    const auto slot = slots_.take(id, member_fingerprint(p, m), g);
    ensure_slot_maps();
    Group& group = groups_[static_cast<std::size_t>(g)];
    if (group.root < 0 || node(group.root).size == 0) {
      if (group.root >= 0) {
        rebuild_with(ctx, pack, group.root, {slot});
      } else {
        auto emb = embeddings(ctx, pack, static_cast<std::size_t>(g), {slot});
        group.root = build_subtree(ctx, pack, {slot}, std::move(emb), -1, {}, -1);
      }
      return;
    }
    // Down to a leaf, to the nearest child centre at each level.
    std::vector<std::int32_t> path;
    std::int32_t cur = group.root;
    double d = distances(ctx, pack, m, {node(cur).centre}).front();
    for (;;) {
      path.push_back(cur);
      Node& n = node(cur);
      ++n.size;
      n.radius = std::max(n.radius, d);
      if (n.leaf()) {
        n.bucket.push_back(slot);
        node_of_[static_cast<std::size_t>(slot)] = cur;
        break;
      }
      std::vector<std::int32_t> others;
      std::vector<std::size_t> which;
      other_child_centres(n, others, which);
      std::size_t best = 0;
      double best_d = d;
      if (!others.empty()) {
        const auto dc = distances(ctx, pack, m, others);
        for (std::size_t i = 0; i < dc.size(); ++i)
          if (dc[i] < best_d) {
            best_d = dc[i];
            best = which[i];
          }
      }
      cur = node(cur).child[best];
      d = best_d;
    }
    // Rebuild the highest node that has doubled since it was built, or split
    // an overfull leaf: amortised, each member takes part in O(depth) rebuilds.
    for (std::int32_t n : path) {
      const Node& nd = node(n);
      if (nd.leaf()) {
        if (static_cast<std::int64_t>(nd.bucket.size()) > 2 * options_.leaf_size) rebuild(ctx, pack, n);
        break;
      }
      if (nd.size > 2 * nd.built_size) {
        rebuild(ctx, pack, n);
        break;
      }
    }
  }

  bool remove(const Context& ctx, const StoredPack& pack, std::string_view id) override {
    return remove_all(ctx, pack, {std::string(id)}) == 1;
  }

  std::int64_t remove_all(const Context& ctx, const StoredPack& pack, const std::vector<std::string>& ids) override {
    // First every id leaves its leaf; the balls centred on it are marked, then
    // each topmost marked subtree is built again from the members left in it.
    std::int64_t removed = 0;
    std::vector<std::int32_t> marked;
    for (const auto& id : ids) {
      const auto it = slots_.of.find(id);
      if (it == slots_.of.end()) continue;
      const std::int32_t slot = it->second;
      const std::int32_t leaf = node_of_[static_cast<std::size_t>(slot)];
      const std::int32_t top = centre_of_[static_cast<std::size_t>(slot)];
      slots_.release(slot);
      node_of_[static_cast<std::size_t>(slot)] = -1;
      centre_of_[static_cast<std::size_t>(slot)] = -1;
      ++removed;
      for (std::int32_t a = leaf; a >= 0; a = node(a).parent) --node(a).size;
      std::erase(node(leaf).bucket, slot);
      if (top >= 0) {
        node(top).dead = true;
        marked.push_back(top);
      }
    }
    std::vector<std::int32_t> topmost;
    for (std::int32_t n : marked) {
      std::int32_t t = n;
      for (std::int32_t a = node(n).parent; a >= 0; a = node(a).parent)
        if (node(a).dead) t = a;
      if (std::find(topmost.begin(), topmost.end(), t) == topmost.end()) topmost.push_back(t);
    }
    for (std::int32_t n : topmost) rebuild(ctx, pack, n);
    return removed;
  }

  std::vector<Hit> query(const Context& ctx, const RKMETableSpec& user, const StoredPack& pack, std::int64_t k,
                         IndexQueryStats* stats) const override {
    TopK top(k);
    const Context serial{.n_threads = 1, .seed = ctx.seed};
    std::unordered_map<std::int32_t, double> seen;  // slot -> its distance, each member evaluated once
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      const Group& group = groups_[g];
      if (group.root < 0 || node(group.root).size == 0) continue;
      // Rounding bound: every product of the distances is a sum of terms of
      // magnitude at most |beta_a| |beta_b| (the kernel is at most 1), so a
      // computed MMD² is within delta of the true one, and its square root
      // within sqrt(delta); a prune compares three such distances.
      const double scale = group.max_beta_l1 + l1(user.beta());
      const double slack = 3.0 * std::sqrt(1e-9 * scale * scale);
      // Each step evaluates a few centres or one leaf: too little work to
      // share between threads, so the walk runs on the calling one.
      Search s{serial, user, pack, top, seen, slack, group.map.gamma, user_self(serial, user, group.map.gamma)};
      walk(s, group.root);
    }
    if (stats) {
      stats->evaluations = static_cast<std::int64_t>(seen.size());
      stats->members = size();
    }
    return top.sorted();
  }

  std::size_t memory_bytes() const override {
    std::size_t b = slots_.bytes() + nodes_.capacity() * sizeof(Node) + node_of_.capacity() * 4 +
                    centre_of_.capacity() * 4 + free_nodes_.capacity() * 4;
    for (const auto& n : nodes_) b += n.bucket.capacity() * 4 + n.child.capacity() * 4;
    for (const auto& g : groups_) b += g.map.w.capacity() * sizeof(double);
    return b;
  }

  std::vector<std::pair<std::string, std::uint64_t>> fingerprints() const override { return slots_.pairs(); }

  void save(const std::filesystem::path& path, std::int64_t stamp) const override {
    Writer w;
    w.pod<std::int64_t>(kFileVersion);
    w.pod<std::int64_t>(options_.leaf_size);
    w.pod<std::int64_t>(options_.max_children);
    w.pod<std::uint64_t>(options_.seed);
    slots_.write(w);
    w.pod<std::uint64_t>(groups_.size());
    for (const auto& g : groups_) {
      w.pod(g.map.gamma);
      w.pod(g.map.dim);
      w.pod(g.root);
      w.pod(g.max_beta_l1);
    }
    w.pod<std::uint64_t>(nodes_.size());
    for (const auto& n : nodes_) {
      w.pod(n.centre);
      w.pod(n.radius);
      w.pod(n.parent);
      w.pod(n.size);
      w.pod(n.built_size);
      w.vec(n.child);
      w.vec(n.bucket);
    }
    w.vec(free_nodes_);
    w.vec(node_of_);
    w.vec(centre_of_);
    w.pod(draws_);
    write_index_file(path, kind(), stamp, w);
  }

  void read(Reader& r) {
    if (r.pod<std::int64_t>() != kFileVersion) r.fail("written by an older version of the exact index");
    if (r.pod<std::int64_t>() != options_.leaf_size) r.fail("made with another leaf size");
    if (r.pod<std::int64_t>() != options_.max_children) r.fail("made with another number of children per node");
    if (r.pod<std::uint64_t>() != options_.seed) r.fail("made with another seed");
    slots_.read(r);
    const auto ng = r.pod<std::uint64_t>();
    if (ng > 1'000'000) r.fail("too many gamma groups");
    groups_.resize(ng);
    for (auto& g : groups_) {
      const auto gamma = r.pod<double>();
      const auto dim = r.pod<std::int64_t>();
      g.root = r.pod<std::int32_t>();
      g.max_beta_l1 = r.pod<double>();
      if (!(std::isfinite(gamma) && gamma > 0.0) || dim < 1 || dim > (1 << 24)) r.fail("a gamma group is out of range");
      g.map = kernels::make_rff_map(dim, kTreeFrequencies, gamma, options_.seed);
    }
    for (std::size_t s = 0; s < slots_.group.size(); ++s)
      if (slots_.group[s] >= static_cast<std::int32_t>(ng)) r.fail("a member's gamma group is out of range");
    const auto nn = r.pod<std::uint64_t>();
    if (nn > (1ULL << 31)) r.fail("too many nodes");
    nodes_.resize(nn);
    for (auto& n : nodes_) {
      n.centre = r.pod<std::int32_t>();
      n.radius = r.pod<double>();
      n.parent = r.pod<std::int32_t>();
      n.size = r.pod<std::int64_t>();
      n.built_size = r.pod<std::int64_t>();
      n.child = r.vec<std::int32_t>();
      n.bucket = r.vec<std::int32_t>();
    }
    free_nodes_ = r.vec<std::int32_t>();
    node_of_ = r.vec<std::int32_t>();
    centre_of_ = r.vec<std::int32_t>();
    draws_ = r.pod<std::uint64_t>();
    // Every reference must point inside the arrays: a file whose checksum
    // passes was written by save(), but a walk must not run wild either way.
    const auto nodes = static_cast<std::int32_t>(nodes_.size());
    const auto slots = static_cast<std::int32_t>(slots_.id.size());
    auto node_ok = [&](std::int32_t i) { return i >= -1 && i < nodes; };
    auto slot_ok = [&](std::int32_t i) { return i >= -1 && i < slots; };
    if (node_of_.size() != slots_.id.size() || centre_of_.size() != slots_.id.size()) r.fail("the node maps are inconsistent");
    for (const auto& g : groups_)
      if (!node_ok(g.root)) r.fail("a root is out of range");
    for (std::int32_t i = 0; i < nodes; ++i) {
      const Node& n = nodes_[static_cast<std::size_t>(i)];
      if (!slot_ok(n.centre) || !node_ok(n.parent)) r.fail("a node is out of range");
      if (n.child.size() == 1) r.fail("an inner node has one child");
      for (auto c : n.child)
        if (c < 0 || c >= nodes) r.fail("a child is out of range");
      for (auto s : n.bucket)
        if (s < 0 || s >= slots) r.fail("a leaf is out of range");
    }
    for (auto n : node_of_)
      if (!node_ok(n)) r.fail("the node map is out of range");
    for (auto n : centre_of_)
      if (!node_ok(n)) r.fail("the centre map is out of range");
    // Every node below a root is reached once: a walk down always ends.
    std::vector<char> reached(nodes_.size(), 0);
    std::vector<std::int32_t> stack;
    for (const auto& g : groups_)
      if (g.root >= 0) stack.push_back(g.root);
    while (!stack.empty()) {
      const std::int32_t i = stack.back();
      stack.pop_back();
      if (reached[static_cast<std::size_t>(i)]) r.fail("the tree has a cycle or a shared node");
      reached[static_cast<std::size_t>(i)] = 1;
      for (auto c : nodes_[static_cast<std::size_t>(i)].child) stack.push_back(c);
    }
  }

 private:
  struct Node {
    std::int32_t centre = -1;  // slot of a member of the subtree (-1: empty)
    double radius = 0.0;       // every member lies within it of the centre
    std::int32_t parent = -1;
    std::int64_t size = 0;
    std::int64_t built_size = 0;       // size when last built (rebuilt once it doubles)
    std::vector<std::int32_t> child;   // child[0] shares the centre; empty: a leaf
    std::vector<std::int32_t> bucket;  // a leaf's members
    bool dead = false;                 // its centre was removed: rebuilt before any query
    bool leaf() const { return child.empty(); }
  };
  struct Group {
    std::int32_t root = -1;
    double max_beta_l1 = 0.0;  // the largest sum |beta| of a member (rounding bound)
    kernels::RffMap map;       // shapes the tree only; its gamma and width are the group's
  };
  struct Search {
    const Context& ctx;
    const RKMETableSpec& user;
    const StoredPack& pack;
    TopK& top;
    std::unordered_map<std::int32_t, double>& seen;
    double slack;
    double gamma;
    double user_self;  // <u, u> under gamma
  };

  Node& node(std::int32_t i) { return nodes_[static_cast<std::size_t>(i)]; }
  const Node& node(std::int32_t i) const { return nodes_[static_cast<std::size_t>(i)]; }

  // The centres of inner node n's children after the first (which shares n's
  // centre, so its distance is known) that still hold members, and their
  // positions in n.child.
  void other_child_centres(const Node& n, std::vector<std::int32_t>& centres, std::vector<std::size_t>& which) const {
    for (std::size_t c = 1; c < n.child.size(); ++c) {
      const Node& ch = node(n.child[c]);
      if (ch.size > 0 && ch.centre >= 0) {
        centres.push_back(ch.centre);
        which.push_back(c);
      }
    }
  }

  void ensure_slot_maps() {
    node_of_.resize(slots_.id.size(), -1);
    centre_of_.resize(slots_.id.size(), -1);
  }

  // Member m's gamma group (created on first sight), its |beta| sum noted.
  std::int32_t group_for(const SpecPack& p, std::int64_t m) {
    const double gamma = p.gamma[static_cast<std::size_t>(m)];
    std::size_t g = 0;
    while (g < groups_.size() && groups_[g].map.gamma != gamma) ++g;
    if (g == groups_.size()) {
      Group fresh;
      fresh.map = kernels::make_rff_map(p.dim, kTreeFrequencies, gamma, options_.seed);
      groups_.push_back(std::move(fresh));
    }
    groups_[g].max_beta_l1 = std::max(groups_[g].max_beta_l1, l1(p.member_beta(m)));
    return static_cast<std::int32_t>(g);
  }

  // The tree-shaping embeddings of `slots` (rows in their order, float32).
  std::vector<float> embeddings(const Context& ctx, const StoredPack& pack, std::size_t g,
                                const std::vector<std::int32_t>& slots) const {
    const kernels::RffMap& map = groups_[g].map;
    const auto f = static_cast<std::size_t>(map.features());
    std::vector<float> out(slots.size() * f);
    const SpecPack& p = pack.slots();
    kernels::parallel_for(ctx, 0, static_cast<std::int64_t>(slots.size()), [&](std::int64_t i) {
      const auto m = member_of(pack, slots_.id[static_cast<std::size_t>(slots[static_cast<std::size_t>(i)])]);
      embed_member(Context{.n_threads = 1}, map, p, m, std::span<float>(out.data() + static_cast<std::size_t>(i) * f, f));
    });
    return out;
  }

  // sqrt(MMD²(member, x)) for the members x of `slots` (one gamma group).
  std::vector<double> distances(const Context& ctx, const StoredPack& pack, std::int64_t member,
                                const std::vector<std::int32_t>& slots) const {
    const SpecPack& p = pack.slots();
    std::vector<std::int64_t> members;
    members.reserve(slots.size());
    for (auto s : slots) members.push_back(member_of(pack, slots_.id[static_cast<std::size_t>(s)]));
    std::vector<double> d = group_mmd2(ctx, p.member_z(member), p.member_beta(member),
                                       p.self_inner[static_cast<std::size_t>(member)], p, members,
                                       p.gamma[static_cast<std::size_t>(member)]);
    for (double& v : d) v = std::sqrt(std::max(v, 0.0));
    return d;
  }
  std::vector<double> distances_from(const Context& ctx, const StoredPack& pack, std::int32_t centre,
                                     const std::vector<std::int32_t>& slots) const {
    std::vector<double> d =
        distances(ctx, pack, member_of(pack, slots_.id[static_cast<std::size_t>(centre)]), slots);
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (slots[i] == centre) d[i] = 0.0;
    return d;
  }

  std::int32_t new_node() {
    if (!free_nodes_.empty()) {
      const auto n = free_nodes_.back();
      free_nodes_.pop_back();
      nodes_[static_cast<std::size_t>(n)] = Node{};
      return n;
    }
    nodes_.emplace_back();
    return static_cast<std::int32_t>(nodes_.size() - 1);
  }

  // Splits positions 0..m-1 (embedding rows `emb`, the centre at `first`)
  // into children: returns each position's child; child 0 holds `first`, and
  // centres[c] is child c's centre position.
  std::vector<std::int32_t> split(const std::vector<std::int32_t>& slots, const std::vector<float>& emb,
                                  std::size_t first, std::vector<std::size_t>& centres) const {
    const std::size_t m = slots.size();
    const std::size_t f = emb.size() / std::max<std::size_t>(m, 1);
    const auto cap = static_cast<std::size_t>(std::clamp<std::int64_t>(
        (static_cast<std::int64_t>(m) + options_.leaf_size - 1) / options_.leaf_size, 2, options_.max_children));
    auto sq = [&](std::size_t a, std::size_t b) {
      const float* x = emb.data() + a * f;
      const float* y = emb.data() + b * f;
      float s = 0.0f;
      for (std::size_t j = 0; j < f; ++j) s += (x[j] - y[j]) * (x[j] - y[j]);
      return s;
    };
    std::vector<std::int32_t> near(m, 0);
    std::vector<float> nd(m);
    std::vector<std::size_t> count{m};
    centres.assign(1, first);
    for (std::size_t i = 0; i < m; ++i) nd[i] = i == first ? 0.0f : sq(i, first);
    float first_far = -1.0f;
    while (centres.size() < cap) {
      std::size_t far = first;
      for (std::size_t i = 0; i < m; ++i)
        if (nd[i] > nd[far] || (nd[i] == nd[far] && nd[i] > 0.0f && slots[i] < slots[far])) far = i;
      if (!(nd[far] > 0.0f)) break;  // every member on a centre
      if (first_far < 0.0f) first_far = nd[far];
      const bool covered = nd[far] <= kCoverRatio * kCoverRatio * first_far;
      const bool lopsided = static_cast<double>(*std::max_element(count.begin(), count.end())) >
                            kLargestChild * static_cast<double>(m);
      if (covered && !lopsided) break;
      const auto c = static_cast<std::int32_t>(centres.size());
      centres.push_back(far);
      count.push_back(0);
      for (std::size_t i = 0; i < m; ++i) {
        const float d = i == far ? 0.0f : sq(i, far);
        if (i == far || d < nd[i]) {
          --count[static_cast<std::size_t>(near[i])];
          ++count.back();
          near[i] = c;
          nd[i] = d;
        }
      }
    }
    if (centres.size() == 1) {
      // Members alike to the embedding: cut them into equal runs by slot
      // instead; the radii are exact either way, and the tree stays shallow.
      std::vector<std::size_t> order;
      for (std::size_t i = 0; i < m; ++i)
        if (i != first) order.push_back(i);
      std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return slots[a] < slots[b]; });
      const std::size_t parts = std::min(cap, m);
      const std::size_t run = (order.size() + parts - 1) / parts;
      for (std::size_t r = 0; r < order.size(); ++r) {
        const auto c = static_cast<std::int32_t>(r / run);
        if (r % run == 0 && c > 0) centres.push_back(order[r]);
        near[order[r]] = c;
      }
    }
    return near;
  }

  // The subtree over `slots` (tree-shaping embeddings `emb`, rows in their
  // order) around `centre` (-1: a pseudo-random member), `dist` its exact
  // distances to them when known.
  std::int32_t build_subtree(const Context& ctx, const StoredPack& pack, std::vector<std::int32_t> slots,
                             std::vector<float> emb, std::int32_t centre, std::vector<double> dist,
                             std::int32_t parent) {
    const std::int32_t n = new_node();
    node(n).parent = parent;
    node(n).size = node(n).built_size = static_cast<std::int64_t>(slots.size());
    if (slots.empty()) return n;
    if (centre < 0) {
      centre = slots[static_cast<std::size_t>(mix64(options_.seed ^ (++draws_ * 0x9e3779b97f4a7c15ULL)) % slots.size())];
      dist.clear();
    }
    if (dist.size() != slots.size()) dist = distances_from(ctx, pack, centre, slots);
    node(n).centre = centre;
    node(n).radius = *std::max_element(dist.begin(), dist.end());
    if (centre_of_[static_cast<std::size_t>(centre)] < 0) centre_of_[static_cast<std::size_t>(centre)] = n;
    if (static_cast<std::int64_t>(slots.size()) <= options_.leaf_size) {
      for (auto s : slots) node_of_[static_cast<std::size_t>(s)] = n;
      node(n).bucket = std::move(slots);
      return n;
    }
    const std::size_t first = static_cast<std::size_t>(std::find(slots.begin(), slots.end(), centre) - slots.begin());
    std::vector<std::size_t> centres;
    const std::vector<std::int32_t> near = split(slots, emb, first, centres);
    const std::size_t f = emb.size() / slots.size();
    std::vector<std::vector<std::int32_t>> slots_of(centres.size());
    std::vector<std::vector<float>> emb_of(centres.size());
    std::vector<double> dist0;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const auto c = static_cast<std::size_t>(near[i]);
      slots_of[c].push_back(slots[i]);
      emb_of[c].insert(emb_of[c].end(), emb.begin() + static_cast<std::ptrdiff_t>(i * f),
                       emb.begin() + static_cast<std::ptrdiff_t>((i + 1) * f));
      if (c == 0) dist0.push_back(dist[i]);
    }
    std::vector<std::int32_t> centre_slots(centres.size());
    for (std::size_t c = 0; c < centres.size(); ++c) centre_slots[c] = slots[centres[c]];
    slots.clear();
    emb.clear();
    emb.shrink_to_fit();
    // Child 0 keeps the centre and its known distances; the others are
    // centred on their farthest-first pick.
    std::vector<std::int32_t> children;
    children.push_back(build_subtree(ctx, pack, std::move(slots_of[0]), std::move(emb_of[0]), centre, std::move(dist0), n));
    for (std::size_t c = 1; c < centres.size(); ++c)
      children.push_back(build_subtree(ctx, pack, std::move(slots_of[c]), std::move(emb_of[c]), centre_slots[c], {}, n));
    node(n).child = std::move(children);
    return n;
  }

  void collect(std::int32_t n, std::vector<std::int32_t>& out) {
    Node& nd = node(n);
    out.insert(out.end(), nd.bucket.begin(), nd.bucket.end());
    if (nd.centre >= 0 && centre_of_[static_cast<std::size_t>(nd.centre)] == n)
      centre_of_[static_cast<std::size_t>(nd.centre)] = -1;
    const std::vector<std::int32_t> children = nd.child;
    for (auto c : children) collect(c, out);
    free_nodes_.push_back(n);
  }

  // Builds node n's subtree again from its members (and `extra`), in place of
  // the old one; it keeps its centre unless that was removed (a first child
  // must keep its parent's).
  void rebuild_with(const Context& ctx, const StoredPack& pack, std::int32_t n, std::vector<std::int32_t> extra) {
    const std::int32_t parent = node(n).parent;
    const std::int32_t centre = node(n).dead ? -1 : node(n).centre;
    std::vector<std::int32_t> members = std::move(extra);
    collect(n, members);
    std::sort(members.begin(), members.end());
    const bool keep = centre >= 0 && std::binary_search(members.begin(), members.end(), centre);
    std::vector<float> emb;
    if (!members.empty())
      emb = embeddings(ctx, pack, static_cast<std::size_t>(slots_.group[static_cast<std::size_t>(members[0])]), members);
    const std::int32_t fresh = build_subtree(ctx, pack, std::move(members), std::move(emb), keep ? centre : -1, {}, parent);
    if (parent < 0) {
      for (auto& g : groups_)
        if (g.root == n) g.root = fresh;
    } else {
      for (auto& c : node(parent).child)
        if (c == n) c = fresh;
    }
  }
  void rebuild(const Context& ctx, const StoredPack& pack, std::int32_t n) { rebuild_with(ctx, pack, n, {}); }

  // Distances of the user to these members (evaluated once per query each),
  // every new one offered to the top k.
  std::vector<double> evaluate(Search& s, const std::vector<std::int32_t>& slots) const {
    std::vector<double> out(slots.size());
    std::vector<std::size_t> todo;
    std::vector<std::int64_t> members;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const auto it = s.seen.find(slots[i]);
      if (it != s.seen.end()) {
        out[i] = it->second;
        continue;
      }
      todo.push_back(i);
      members.push_back(member_of(s.pack, slots_.id[static_cast<std::size_t>(slots[i])]));
    }
    if (todo.empty()) return out;
    const std::vector<double> mmd2 =
        group_mmd2(s.ctx, s.user.z().view(), s.user.beta(), s.user_self, s.pack.slots(), members, s.gamma);
    for (std::size_t j = 0; j < todo.size(); ++j) {
      const auto slot = slots[todo[j]];
      s.top.offer(HitKey{mmd2[j], &slots_.id[static_cast<std::size_t>(slot)], members[j]});
      out[todo[j]] = std::sqrt(std::max(mmd2[j], 0.0));
      s.seen.emplace(slot, out[todo[j]]);
    }
    return out;
  }

  // Best-first over the balls by their lower bound on the distance of any
  // member inside (the largest of d(u, c) - r over the ball and its
  // ancestors). A ball is opened unless that bound exceeds the k-th best
  // distance by more than the rounding slack: equal distances are all seen,
  // so ties are broken by id as the scan breaks them.
  void walk(Search& s, std::int32_t root) const {
    struct Open {
      double lower;
      std::int32_t node;
      double dc;  // the user's distance to the node's centre
    };
    auto after = [](const Open& a, const Open& b) { return a.lower != b.lower ? a.lower > b.lower : a.node > b.node; };
    std::priority_queue<Open, std::vector<Open>, decltype(after)> open(after);
    const double d_root = evaluate(s, {node(root).centre}).front();
    open.push(Open{std::max(d_root - node(root).radius, 0.0), root, d_root});
    auto pruned = [&](double lower) {
      const double bound = s.top.bound();
      return std::isfinite(bound) && lower > std::sqrt(std::max(bound, 0.0)) + s.slack;
    };
    while (!open.empty()) {
      const Open o = open.top();
      open.pop();
      if (pruned(o.lower)) break;  // every ball left is at least as far
      const Node& nd = node(o.node);
      if (nd.leaf()) {
        evaluate(s, nd.bucket);
        continue;
      }
      std::vector<std::int32_t> centres;
      std::vector<std::size_t> which;
      other_child_centres(nd, centres, which);
      const std::vector<double> dc = evaluate(s, centres);
      auto offer = [&](std::int32_t child, double d) {
        const Node& ch = node(child);
        if (ch.size == 0) return;
        const double lower = std::max(o.lower, d - ch.radius);
        if (!pruned(lower)) open.push(Open{lower, child, d});
      };
      offer(nd.child[0], o.dc);
      for (std::size_t i = 0; i < which.size(); ++i) offer(nd.child[which[i]], dc[i]);
    }
  }

  IndexOptions options_;
  Slots slots_;
  std::vector<Group> groups_;
  std::vector<Node> nodes_;
  std::vector<std::int32_t> free_nodes_;
  std::vector<std::int32_t> node_of_;    // slot -> the leaf holding it
  std::vector<std::int32_t> centre_of_;  // slot -> the topmost node it is the centre of, or -1
  std::uint64_t draws_ = 0;
};

// --- approx: random Fourier features + HNSW ----------------------------------

class RffHnswIndex final : public SpecIndex {
 public:
  explicit RffHnswIndex(const IndexOptions& options) : options_(options) {}

  IndexKind kind() const override { return IndexKind::kApprox; }
  std::int64_t size() const override { return slots_.live; }
  bool contains(std::string_view id) const override { return slots_.of.contains(std::string(id)); }

  void build(const Context& ctx, const StoredPack& pack, const std::vector<std::int64_t>& members) {
    // Embeddings in parallel (each member owns its row), the graph in member order.
    const SpecPack& p = pack.slots();
    for (std::int64_t m : members) group_for(p.dim, p.gamma[static_cast<std::size_t>(m)]);
    const auto features = static_cast<std::size_t>(2 * options_.rff_frequencies);
    std::vector<float> rows(members.size() * features);
    kernels::parallel_for(ctx, 0, static_cast<std::int64_t>(members.size()), [&](std::int64_t i) {
      const std::int64_t m = members[static_cast<std::size_t>(i)];
      const Group& g = *groups_[static_cast<std::size_t>(group_index(p.gamma[static_cast<std::size_t>(m)]))];
      embed_member(Context{.n_threads = 1}, g.map, p, m, std::span<float>(rows.data() + static_cast<std::size_t>(i) * features, features));
    });
    for (std::size_t i = 0; i < members.size(); ++i) {
      const std::int64_t m = members[i];
      insert(p, m, std::span<const float>(rows.data() + i * features, features));
    }
  }

  void add(const Context& ctx, const StoredPack& pack, std::int64_t m) override {
    const SpecPack& p = pack.slots();
    const std::string& id = p.ids[static_cast<std::size_t>(m)];
    if (slots_.of.contains(id)) throw Error("search index: learnware " + id + " is indexed already");
    Group& g = group_for(p.dim, p.gamma[static_cast<std::size_t>(m)]);
    std::vector<float> row(static_cast<std::size_t>(2 * options_.rff_frequencies));
    embed_member(ctx, g.map, p, m, row);
    insert(p, m, row);
  }

  bool remove(const Context&, const StoredPack&, std::string_view id) override {
    const auto it = slots_.of.find(std::string(id));
    if (it == slots_.of.end()) return false;
    const std::int32_t slot = it->second;
    Group& g = *groups_[static_cast<std::size_t>(slots_.group[static_cast<std::size_t>(slot)])];
    const auto label = label_of_[static_cast<std::size_t>(slot)];
    g.graph->markDelete(label);
    g.slot_of_label[label] = -1;
    ++g.deleted;
    slots_.release(slot);
    // Deleted nodes still route the graph's searches; once they are as many
    // as the live ones the group's graph is built again from its vectors.
    if (g.deleted > 64 && g.deleted > static_cast<std::int64_t>(g.graph->cur_element_count) / 2) compact(g);
    return true;
  }

  std::vector<Hit> query(const Context& ctx, const RKMETableSpec& user, const StoredPack& pack, std::int64_t k,
                         IndexQueryStats* stats) const override {
    TopK top(k);
    std::int64_t evaluations = 0;
    const std::int64_t wanted = std::max(options_.rerank, k);
    std::vector<float> q(static_cast<std::size_t>(2 * options_.rff_frequencies));
    std::vector<double> qd(q.size());
    // A query is a few milliseconds of work in small pieces: on the calling
    // thread, waking no team for each piece (on a busy machine each wake-up
    // costs more than the piece), unless the re-ranking is large.
    const Context serial{.n_threads = 1, .seed = ctx.seed};
    const Context& rerank_ctx = wanted >= 256 ? ctx : serial;
    for (const auto& gp : groups_) {
      const Group& g = *gp;
      const std::int64_t live = static_cast<std::int64_t>(g.graph->cur_element_count) - g.deleted;
      if (live <= 0) continue;
      kernels::rff_embed(serial, g.map, user.z().view(), user.beta(), qd);
      std::copy(qd.begin(), qd.end(), q.begin());
      auto found = search_graph(g, q.data(), static_cast<std::size_t>(std::min(wanted, live)));
      std::vector<std::int64_t> members;
      std::vector<const std::string*> ids;
      while (!found.empty()) {
        const auto slot = g.slot_of_label[found.top().second];
        found.pop();
        if (slot < 0) continue;
        ids.push_back(&slots_.id[static_cast<std::size_t>(slot)]);
        members.push_back(member_of(pack, *ids.back()));
      }
      // Exact MMD² of every candidate: distances reported are never estimates.
      const std::vector<double> mmd2 = group_mmd2(rerank_ctx, user.z().view(), user.beta(),
                                                  user_self(serial, user, g.map.gamma), pack.slots(), members,
                                                  g.map.gamma);
      evaluations += static_cast<std::int64_t>(members.size());
      for (std::size_t i = 0; i < members.size(); ++i) top.offer(HitKey{mmd2[i], ids[i], members[i]});
    }
    if (stats) {
      stats->evaluations = evaluations;
      stats->members = size();
    }
    return top.sorted();
  }

  std::size_t memory_bytes() const override {
    std::size_t b = slots_.bytes() + label_of_.capacity() * 8;
    for (const auto& g : groups_) {
      const auto& h = *g->graph;
      b += h.max_elements_ * h.size_data_per_element_;  // vectors, level-0 links, labels
      for (std::size_t i = 0; i < h.cur_element_count; ++i)
        b += h.element_levels_[i] > 0 ? h.size_links_per_element_ * static_cast<std::size_t>(h.element_levels_[i]) : 0;
      b += h.max_elements_ * (sizeof(void*) + sizeof(int) + sizeof(std::mutex));  // link list pointers, levels, locks
      b += h.label_lookup_.size() * (sizeof(std::size_t) + 4 + 2 * sizeof(void*));
      b += g->slot_of_label.capacity() * 4 + g->map.w.capacity() * 8;
    }
    return b;
  }

  std::vector<std::pair<std::string, std::uint64_t>> fingerprints() const override { return slots_.pairs(); }

  void set_search_effort(std::int64_t rerank, int ef_search) override {
    options_.rerank = rerank;
    options_.hnsw_ef_search = ef_search;
    for (auto& g : groups_) g->graph->setEf(static_cast<std::size_t>(ef_search));
  }

  void save(const std::filesystem::path& path, std::int64_t stamp) const override {
    Writer w;
    write_settings(w);
    slots_.write(w);
    w.vec(label_of_);
    w.pod<std::uint64_t>(groups_.size());
    for (const auto& g : groups_) {
      w.pod(g->map.dim);
      w.pod(g->map.gamma);
      w.pod(g->deleted);
      w.vec(g->slot_of_label);
      // hnswlib writes to a file only: through a temporary beside the index.
      const std::filesystem::path tmp = path.string() + ".hnsw." + std::to_string(::getpid());
      g->graph->saveIndex(tmp.string());
      std::string bytes;
      {
        std::ifstream in(tmp, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
      }
      std::filesystem::remove(tmp);
      w.str(bytes);
    }
    write_index_file(path, kind(), stamp, w);
  }

  void read(Reader& r, const std::filesystem::path& path) {
    Writer expected;
    write_settings(expected);
    for (char c : expected.bytes())
      if (r.pod<char>() != c) r.fail("made with other settings (features, graph degree or seed)");
    slots_.read(r);
    label_of_ = r.vec<std::int64_t>();
    if (label_of_.size() != slots_.id.size()) r.fail("the label map is inconsistent");
    const auto ng = r.pod<std::uint64_t>();
    for (std::uint64_t i = 0; i < ng; ++i) {
      const auto dim = r.pod<std::int64_t>();
      const auto gamma = r.pod<double>();
      if (dim < 1 || !std::isfinite(gamma) || gamma <= 0.0) r.fail("a group's width or gamma is invalid");
      Group& g = new_group(dim, gamma);
      g.deleted = r.pod<std::int64_t>();
      g.slot_of_label = r.vec<std::int32_t>();
      const std::string bytes = r.str();
      const std::filesystem::path tmp = path.string() + ".hnsw-load." + std::to_string(::getpid());
      {
        std::ofstream out(tmp, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      try {
        g.graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(g.space.get());
        g.graph->loadIndex(tmp.string(), g.space.get());
      } catch (const std::exception& e) {
        std::filesystem::remove(tmp);
        r.fail(std::string("the graph does not read: ") + e.what());
      }
      std::filesystem::remove(tmp);
      if (g.graph->cur_element_count != g.slot_of_label.size()) r.fail("the graph and its labels differ in size");
      g.graph->setEf(static_cast<std::size_t>(options_.hnsw_ef_search));
    }
    for (std::size_t s = 0; s < slots_.id.size(); ++s) {
      const auto grp = slots_.group[s];
      if (grp < 0) continue;
      if (static_cast<std::size_t>(grp) >= groups_.size()) r.fail("a slot's group is out of range");
      const auto label = label_of_[s];
      if (label < 0 || static_cast<std::size_t>(label) >= groups_[static_cast<std::size_t>(grp)]->slot_of_label.size())
        r.fail("a slot's label is out of range");
    }
  }

 private:
  struct Group {
    kernels::RffMap map;
    std::unique_ptr<hnswlib::L2Space> space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
    std::vector<std::int32_t> slot_of_label;  // -1: deleted
    std::int64_t deleted = 0;
  };

  void write_settings(Writer& w) const {
    w.pod(options_.rff_frequencies);
    w.pod(options_.hnsw_m);
    w.pod(options_.hnsw_ef_construction);
    w.pod(options_.seed);
  }

  std::int32_t group_index(double gamma) const {
    for (std::size_t g = 0; g < groups_.size(); ++g)
      if (groups_[g]->map.gamma == gamma) return static_cast<std::int32_t>(g);
    return -1;
  }

  Group& new_group(std::int64_t dim, double gamma) {
    auto g = std::make_unique<Group>();
    // One map per (width, gamma), seeded by the index's seed alone: the
    // same member always gets the same vector.
    g->map = kernels::make_rff_map(dim, options_.rff_frequencies, gamma, options_.seed);
    g->space = std::make_unique<hnswlib::L2Space>(static_cast<std::size_t>(2 * options_.rff_frequencies));
    groups_.push_back(std::move(g));
    return *groups_.back();
  }

  Group& group_for(std::int64_t dim, double gamma) {
    const auto i = group_index(gamma);
    if (i >= 0) return *groups_[static_cast<std::size_t>(i)];
    Group& g = new_group(dim, gamma);
    g.graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        g.space.get(), 1024, static_cast<std::size_t>(options_.hnsw_m),
        static_cast<std::size_t>(options_.hnsw_ef_construction), static_cast<std::size_t>(options_.seed));
    g.graph->setEf(static_cast<std::size_t>(options_.hnsw_ef_search));
    return g;
  }

  void insert(const SpecPack& p, std::int64_t m, std::span<const float> row) {
    const auto gi = group_index(p.gamma[static_cast<std::size_t>(m)]);
    Group& g = *groups_[static_cast<std::size_t>(gi)];
    const auto slot = slots_.take(p.ids[static_cast<std::size_t>(m)], member_fingerprint(p, m), gi);
    label_of_.resize(slots_.id.size(), -1);
    auto& h = *g.graph;
    if (h.cur_element_count == h.max_elements_) h.resizeIndex(2 * h.max_elements_);
    const auto label = static_cast<hnswlib::labeltype>(g.slot_of_label.size());
    g.slot_of_label.push_back(slot);
    label_of_[static_cast<std::size_t>(slot)] = static_cast<std::int64_t>(label);
    h.addPoint(row.data(), label);
  }

  // The group's graph again from its live vectors (labels renumbered).
  void compact(Group& g) {
    const auto features = static_cast<std::size_t>(2 * options_.rff_frequencies);
    auto fresh = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        g.space.get(), std::max<std::size_t>(1024, g.graph->cur_element_count), static_cast<std::size_t>(options_.hnsw_m),
        static_cast<std::size_t>(options_.hnsw_ef_construction), static_cast<std::size_t>(options_.seed));
    fresh->setEf(static_cast<std::size_t>(options_.hnsw_ef_search));
    std::vector<std::int32_t> slot_of_label;
    std::vector<float> row(features);
    for (std::size_t label = 0; label < g.slot_of_label.size(); ++label) {
      const auto slot = g.slot_of_label[label];
      if (slot < 0) continue;
      const auto data = g.graph->template getDataByLabel<float>(label);
      const auto fresh_label = static_cast<hnswlib::labeltype>(slot_of_label.size());
      slot_of_label.push_back(slot);
      label_of_[static_cast<std::size_t>(slot)] = static_cast<std::int64_t>(fresh_label);
      fresh->addPoint(data.data(), fresh_label);
    }
    g.graph = std::move(fresh);
    g.slot_of_label = std::move(slot_of_label);
    g.deleted = 0;
  }

  std::priority_queue<std::pair<float, hnswlib::labeltype>> search_graph(const Group& g, const float* q,
                                                                        std::size_t k) const {
    // searchKnn uses the graph's ef (at least k); k beyond ef widens it.
    return g.graph->searchKnn(q, k);
  }

  IndexOptions options_;
  Slots slots_;
  std::vector<std::int64_t> label_of_;  // slot -> label in its group's graph
  std::vector<std::unique_ptr<Group>> groups_;
};

}  // namespace

std::string_view index_kind_name(IndexKind kind) {
  switch (kind) {
    case IndexKind::kNone: return "none";
    case IndexKind::kExact: return "exact";
    case IndexKind::kApprox: return "approx";
  }
  return "none";
}

std::optional<IndexKind> parse_index_kind(std::string_view name) {
  if (name == "none") return IndexKind::kNone;
  if (name == "exact") return IndexKind::kExact;
  if (name == "approx") return IndexKind::kApprox;
  return std::nullopt;
}

std::uint64_t member_fingerprint(const SpecPack& pack, std::int64_t m) {
  const auto z = pack.member_z(m);
  std::uint64_t h = mix64(std::bit_cast<std::uint64_t>(pack.gamma[static_cast<std::size_t>(m)]));
  h = mix64(h ^ std::bit_cast<std::uint64_t>(pack.self_inner[static_cast<std::size_t>(m)]));
  h = mix64(h ^ static_cast<std::uint64_t>(z.rows));
  if (z.rows > 0) {
    h = fnv1a(reinterpret_cast<const char*>(z.row(0)), static_cast<std::size_t>(z.cols) * sizeof(double), h);
    h = fnv1a(reinterpret_cast<const char*>(z.row(z.rows - 1)), static_cast<std::size_t>(z.cols) * sizeof(double), h);
  }
  const auto beta = pack.member_beta(m);
  return fnv1a(reinterpret_cast<const char*>(beta.data()), beta.size() * sizeof(double), h);
}

std::unique_ptr<SpecIndex> build_spec_index(const Context& ctx, const StoredPack& pack,
                                            const std::vector<std::int64_t>& members, IndexKind kind,
                                            const IndexOptions& options) {
  if (options.leaf_size < 1) throw Error("search index: the leaf size must be at least 1");
  if (options.max_children < 2) throw Error("search index: a node needs at least 2 children");
  if (options.rff_frequencies < 1) throw Error("search index: the number of RFF frequencies must be at least 1");
  switch (kind) {
    case IndexKind::kExact: {
      auto index = std::make_unique<BallTreeIndex>(options);
      index->build(ctx, pack, members);
      return index;
    }
    case IndexKind::kApprox: {
      auto index = std::make_unique<RffHnswIndex>(options);
      index->build(ctx, pack, members);
      return index;
    }
    case IndexKind::kNone: break;
  }
  throw Error("search index: no index of kind none");
}

LoadedIndex load_spec_index(const std::filesystem::path& path, IndexKind kind, const IndexOptions& options) {
  const std::string where = path.string();
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(where + ": cannot be read");
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  if (bytes.size() < sizeof(kMagic) + 4 + 8 + 8 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    throw Error(where + ": not a search index of this version");
  std::uint64_t sum;
  std::memcpy(&sum, bytes.data() + bytes.size() - sizeof(sum), sizeof(sum));
  bytes.resize(bytes.size() - sizeof(sum));
  if (fnv1a(bytes.data(), bytes.size()) != sum) throw Error(where + ": the checksum does not match (damaged)");
  Reader r(bytes, where);
  for (std::size_t i = 0; i < sizeof(kMagic); ++i) r.pod<char>();
  const auto stored_kind = r.pod<std::int32_t>();
  if (stored_kind != static_cast<std::int32_t>(kind)) r.fail("an index of another kind");
  LoadedIndex out;
  out.stamp = r.pod<std::int64_t>();
  if (kind == IndexKind::kExact) {
    auto index = std::make_unique<BallTreeIndex>(options);
    index->read(r);
    out.index = std::move(index);
  } else if (kind == IndexKind::kApprox) {
    auto index = std::make_unique<RffHnswIndex>(options);
    index->read(r, path);
    out.index = std::move(index);
  } else {
    r.fail("no index of kind none");
  }
  return out;
}

std::int64_t SpecIndex::remove_all(const Context& ctx, const StoredPack& pack, const std::vector<std::string>& ids) {
  std::int64_t removed = 0;
  for (const auto& id : ids) removed += remove(ctx, pack, id) ? 1 : 0;
  return removed;
}

IndexCatchUp catch_up_spec_index(const Context& ctx, SpecIndex& index, const StoredPack& pack,
                                 const std::vector<std::int64_t>& members) {
  const SpecPack& p = pack.slots();
  std::unordered_map<std::string, std::uint64_t> wanted;
  for (std::int64_t m : members) wanted.emplace(p.ids[static_cast<std::size_t>(m)], member_fingerprint(p, m));
  IndexCatchUp done;
  std::vector<std::string> stale;
  for (const auto& [id, fp] : index.fingerprints()) {
    const auto it = wanted.find(id);
    if (it == wanted.end() || it->second != fp) stale.push_back(id);
  }
  done.removed = index.remove_all(ctx, pack, stale);
  for (std::int64_t m : members) {
    if (index.contains(p.ids[static_cast<std::size_t>(m)])) continue;
    index.add(ctx, pack, m);
    ++done.added;
  }
  return done;
}

}  // namespace lwd
