// The search indexes (engine/market/spec_index.h) on synthetic markets held
// in memory: build time and memory per learnware of each index, the time of
// one query of the scan, the exact index and the approximate index, the
// fraction of the market the exact index evaluates, and the approximate
// index's recall@5 against exact search.
//
//   search_index [--n 10000] [--k 100] [--d 32] [--queries 50] [--scan-queries 5]
//                [--index both|exact|approx] [--frequencies 128] [--rerank 128]
//                [--ef 160] [--rerank-list 25,32] [--ef-list 160,400] [--threads 0] [--check 3] [-o results.json]
//
// The market is planted (bench/planted_market.h; --market domains, the default): n/1000 domains
// (centres at scale 1 per coordinate) of 20 tasks each (moved by 0.35 from
// their domain), each learnware a task centre moved by 0.1 with K points
// around it (spread 0.3, weights on the simplex, gamma 0.1): learnwares of one
// task close together, of one domain nearer than the rest. --market flat: n/50
// tasks at scale 1, learnwares moved by 0.15, every other task about equally
// far (the RBF kernel saturates), the hardest shape for a metric index.
// Each user is a learnware's centre moved by 0.1 with fresh points, so it has
// a neighbourhood to find. --check compares the exact index with the scan's
// order on that many queries (it must agree), the baseline the recall is
// measured against.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "bench/planted_market.h"
#include "engine/market/spec_index.h"
#include "engine/market/statistical_search.h"
#include "kernels/random.h"

namespace {

using lwd::IndexKind;
using lwd::IndexOptions;
using lwd::RKMETableSpec;
using lwd::SpecIndex;
using lwd::SpecPack;
using lwd::StoredPack;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;
using Clock = std::chrono::steady_clock;
using lwd::bench::moved;
using lwd::bench::spec_around;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 10000, k = 100, d = 32, queries = 50, scan_queries = 5, check = 3;
  std::string which = "both", out_path, shape = "domains", rerank_list, ef_list;
  IndexOptions options;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--n") n = std::stoll(next());
    else if (a == "--k") k = std::stoll(next());
    else if (a == "--d") d = std::stoll(next());
    else if (a == "--queries") queries = std::stoll(next());
    else if (a == "--scan-queries") scan_queries = std::stoll(next());
    else if (a == "--check") check = std::stoll(next());
    else if (a == "--index") which = next();
    else if (a == "--market") shape = next();
    else if (a == "--frequencies") options.rff_frequencies = std::stoll(next());
    else if (a == "--rerank") options.rerank = std::stoll(next());
    else if (a == "--rerank-list") rerank_list = next();
    else if (a == "--ef-list") ef_list = next();
    else if (a == "--ef") options.hnsw_ef_search = std::stoi(next());
    else if (a == "--ef-construction") options.hnsw_ef_construction = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--leaf") options.leaf_size = std::stoll(next());
    else if (a == "--candidates") options.candidates = std::stoll(next());
    else if (a == "-o") out_path = next();
    else {
      std::cerr << "search_index: unknown option " << a << "\n";
      return 2;
    }
  }
  const Context ctx{.n_threads = threads};
  nlohmann::json result = {{"n", n}, {"k", k}, {"d", d}, {"queries", queries}, {"threads", ctx.threads()}};

  // The market.
  auto t = Clock::now();
  Rng rng(20261206);
  result["market"] = shape;
  const long rss0 = rss_kib();
  lwd::bench::PlantedMarket planted = lwd::bench::planted_market(n, k, d, shape, rng, ctx);
  const std::vector<std::vector<double>>& learnware_centre = planted.learnware_centre;
  SpecPack p = std::move(planted.pack);
  const StoredPack pack(std::move(p));
  result["market_seconds"] = seconds_since(t);
  result["pack_bytes_per_learnware"] = static_cast<double>((rss_kib() - rss0) * 1024) / static_cast<double>(n);
  std::vector<RKMETableSpec> users;
  for (std::int64_t q = 0; q < queries; ++q)
    users.push_back(spec_around(moved(learnware_centre[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(n)))], 0.1, rng), k, rng));
  std::vector<std::int64_t> members(static_cast<std::size_t>(n));
  std::iota(members.begin(), members.end(), 0);
  std::fprintf(stderr, "market of %lld built in %.1f s\n", static_cast<long long>(n), seconds_since(t));

  // The scan: the search as the market runs it below the index threshold.
  {
    std::vector<double> times;
    const auto z32 = pack.z32();
    for (std::int64_t q = 0; q < std::min(scan_queries, queries); ++q) {
      t = Clock::now();
      const auto r = lwd::statistical_search(ctx, users[static_cast<std::size_t>(q)], pack.slots(), members, {}, z32);
      times.push_back(seconds_since(t));
    }
    result["scan_ms"] = 1e3 * median(times);
    std::fprintf(stderr, "scan: %.1f ms\n", 1e3 * median(times));
  }

  // Exact top 5 (and the scan's order for --check queries).
  std::vector<std::vector<std::int64_t>> exact_top5(static_cast<std::size_t>(queries));
  const std::int64_t kTop = 5;
  auto run_index = [&](IndexKind kind) {
    const std::string name(lwd::index_kind_name(kind));
    t = Clock::now();
    const auto index = lwd::build_spec_index(ctx, pack, members, kind, options);
    const double build = seconds_since(t);
    nlohmann::json r = {{"build_seconds", build},
                        {"memory_bytes_per_learnware", static_cast<double>(index->memory_bytes()) / static_cast<double>(n)}};
    std::fprintf(stderr, "%s: built in %.1f s, %.0f B per learnware\n", name.c_str(), build,
                 static_cast<double>(index->memory_bytes()) / static_cast<double>(n));
    // (rerank, ef) pairs: every rerank of --rerank-list with every beam width
    // of --ef-list (the graph is built once; both are set per query).
    auto parse_list = [](const std::string& text) {
      std::vector<std::int64_t> v;
      std::stringstream list(text);
      for (std::string item; std::getline(list, item, ',');) v.push_back(std::stoll(item));
      return v;
    };
    std::vector<std::int64_t> reranks{options.rerank};
    std::vector<std::int64_t> efs{options.hnsw_ef_search};
    if (kind == IndexKind::kApprox && !rerank_list.empty()) reranks = parse_list(rerank_list);
    if (kind == IndexKind::kApprox && !ef_list.empty()) efs = parse_list(ef_list);
    std::vector<std::pair<std::int64_t, std::int64_t>> efforts;
    for (const std::int64_t ef : efs)
      for (const std::int64_t rr : reranks) efforts.emplace_back(rr, ef);
    for (const auto& [rerank, ef_wanted] : efforts) {
    const int ef = std::max<int>(static_cast<int>(ef_wanted), static_cast<int>(rerank));
    index->set_search_effort(rerank, ef);
    std::vector<double> times;
    std::vector<double> search_times;
    std::int64_t evaluations = 0;
    std::int64_t hits = 0;
    std::int64_t checked_ok = 0;
    for (std::int64_t q = 0; q < queries; ++q) {
      const auto& user = users[static_cast<std::size_t>(q)];
      lwd::IndexQueryStats stats;
      t = Clock::now();
      const auto got = index->query(ctx, user, pack, options.candidates, &stats);
      times.push_back(seconds_since(t));
      evaluations += stats.evaluations;
      // The whole search on the candidates: singles, pool and mixture, on
      // the calling thread as the market runs it (Market::search_packed).
      std::vector<std::int64_t> cands;
      for (const auto& h : got) cands.push_back(h.member);
      std::sort(cands.begin(), cands.end());
      t = Clock::now();
      lwd::statistical_search(Context{.n_threads = 1}, user, pack.slots(), cands, {});
      search_times.push_back(times.back() + seconds_since(t));
      std::vector<std::int64_t> top;
      for (std::size_t r2 = 0; r2 < got.size() && r2 < static_cast<std::size_t>(kTop); ++r2) top.push_back(got[r2].member);
      if (kind == IndexKind::kExact) {
        exact_top5[static_cast<std::size_t>(q)] = top;
        if (q < check) {
          const auto dist = lwd::batch_mmd2(ctx, user, pack.slots(), members);
          std::vector<std::int64_t> order = members;
          std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return dist[static_cast<std::size_t>(a)] < dist[static_cast<std::size_t>(b)]; });
          if (q == 0) {
            std::vector<double> sd = dist;
            std::sort(sd.begin(), sd.end());
            r["distance_profile"] = {{"nearest", std::sqrt(sd[0])}, {"rank_25", std::sqrt(sd[24])},
                                     {"rank_100", std::sqrt(sd[std::min<std::size_t>(99, sd.size() - 1)])},
                                     {"median", std::sqrt(sd[sd.size() / 2])}};
          }
          bool same = true;
          for (std::size_t r2 = 0; r2 < got.size(); ++r2) same = same && got[r2].member == order[r2];
          checked_ok += same ? 1 : 0;
        }
      } else if (!exact_top5[static_cast<std::size_t>(q)].empty()) {
        for (auto m : exact_top5[static_cast<std::size_t>(q)]) hits += std::count(top.begin(), top.end(), m);
      }
    }
    r["query_ms_median"] = 1e3 * median(times);
    r["query_ms_mean"] = 1e3 * std::accumulate(times.begin(), times.end(), 0.0) / static_cast<double>(times.size());
    r["search_ms_median"] = 1e3 * median(search_times);
    r["evaluated_fraction"] = static_cast<double>(evaluations) / static_cast<double>(queries * n);
    if (kind == IndexKind::kExact) r["agrees_with_scan"] = std::to_string(checked_ok) + "/" + std::to_string(std::min(check, queries));
    if (kind == IndexKind::kApprox && hits > 0) r["recall_at_5"] = static_cast<double>(hits) / static_cast<double>(queries * kTop);
    if (kind == IndexKind::kApprox) r["ef_search"] = ef;
    std::fprintf(stderr, "%s (rerank %lld, ef %d): %s\n", name.c_str(), static_cast<long long>(rerank), ef,
                 r.dump().c_str());
    if (kind == IndexKind::kApprox)
      result[name + "_rerank_" + std::to_string(rerank) + (ef_list.empty() ? "" : "_ef_" + std::to_string(ef))] = r;
    else result[name] = r;
    }
  };
  if (which == "both" || which == "exact") run_index(IndexKind::kExact);
  if (which == "both" || which == "approx") {
    result["options"] = {{"rff_frequencies", options.rff_frequencies}, {"rerank", options.rerank},
                         {"hnsw_m", options.hnsw_m}, {"ef_search", options.hnsw_ef_search},
                         {"ef_construction", options.hnsw_ef_construction}, {"candidates", options.candidates}};
    run_index(IndexKind::kApprox);
  }
  std::cout << result.dump(2) << "\n";
  if (!out_path.empty()) std::ofstream(out_path) << result.dump(2) << "\n";
  return 0;
}
