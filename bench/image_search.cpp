// Image search as the market grows (docs/DESIGN.md §4.7): whole
// `lwdock search --spec USER.json` commands with the screen (the default) and
// without it (--image-screen off), in turn, on markets grown from a seed of
// real image learnwares with synthetic ones; and, in this process, the
// screen's error against the exact MMD² of every candidate, for every user.
//
//   image_search --seed-market DIR --work DIR --lwdock BIN --users U1.json[,U2.json,...]
//                [--sizes 50,100,200,500,1000] [--runs 5] [--baseline BIN] [--threads N]
//                [-o results.json]
//
// The seed is a market of image learnwares (`lwdock market build --image`);
// the first size is the seed itself, made current by Market::rebuild (the
// image learnwares' search facts of today: self products and screen
// embeddings). Each synthetic learnware is one of the seed's packages (model,
// semantic spec) with a spec mixed from two of the seed's specs: the union of
// their supports, weights w and 1 - w (w uniform in [0.2, 0.8]), every pixel
// moved by N(0, 0.05²) -- the sparse weights and the data-shaped images of a
// real spec, at the scale a market of 1 000 would have. Markets are built
// once and reused by later runs (the size is checked).
//
// The first user is the one timed. --baseline BIN times that binary too, on an
// untouched copy of the seed (an older lwdock reads the older facts) and at
// the seed's size only (it compares every pair, tens of seconds beyond).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/whole_command.h"
#include "engine/error.h"
#include "engine/image/image_search_facts.h"
#include "engine/image/rkme_image_spec.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/image_kind.h"
#include "engine/market/market.h"
#include "engine/package/manifest.h"
#include "engine/package/package.h"
#include "kernels/random.h"

namespace {

namespace fs = std::filesystem;
using lwd::bench::median;
using lwd::bench::time_command;
using lwd::kernels::Context;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

// A seed learnware's package and spec.
struct SeedLearnware {
  fs::path zip;
  lwd::RKMEImageSpec spec;
};

std::vector<SeedLearnware> read_seed(const fs::path& seed, const fs::path& scratch) {
  std::vector<SeedLearnware> out;
  std::vector<fs::path> zips;
  for (const auto& entry : fs::directory_iterator(seed / "packages")) zips.push_back(entry.path());
  std::sort(zips.begin(), zips.end());
  for (const fs::path& zip : zips) {
    const lwd::StagedPackage package = lwd::StagedPackage::open(zip, {}, scratch);
    for (std::size_t i = 0; i < package.manifest().stat_specs.size(); ++i) {
      if (package.manifest().stat_specs[i].type != lwd::RKMEImageSpec::kTypeName) continue;
      out.push_back({zip, lwd::RKMEImageSpec::load(package.stat_spec_paths()[i])});
    }
  }
  if (out.size() < 2) throw lwd::Error(seed.string() + ": needs at least two image learnwares");
  return out;
}

// Synthetic learnware `index`: a seed package with a spec mixed from two seed specs.
fs::path synthetic_image_package(const std::vector<SeedLearnware>& seed, std::int64_t index, const fs::path& scratch) {
  lwd::kernels::Rng rng(0x1A6E5EA2ULL + static_cast<std::uint64_t>(index));
  const std::uint64_t n = seed.size();
  const std::uint64_t a = rng.below(n);
  std::uint64_t b = rng.below(n - 1);
  if (b >= a) ++b;
  const double w = 0.2 + 0.6 * rng.uniform();
  const lwd::RKMEImageSpec sa = seed[a].spec.support(), sb = seed[b].spec.support();
  std::vector<float> z;
  std::vector<double> beta;
  for (const auto& [part, weight] : {std::pair{&sa, w}, std::pair{&sb, 1.0 - w}}) {
    for (const float v : part->z()) z.push_back(static_cast<float>(v + 0.05 * rng.normal()));
    for (const double v : part->beta()) beta.push_back(weight * v);
  }
  lwd::kernels::ImageShape shape = sa.z_shape();
  shape.count = static_cast<std::int64_t>(beta.size());
  const lwd::RKMEImageSpec spec(std::move(z), shape, std::move(beta), sa.n_models(), sa.net_config());

  const lwd::StagedPackage package = lwd::StagedPackage::open(seed[a].zip, {}, scratch);
  lwd::Manifest manifest = package.manifest();
  manifest.name = "synthetic-image-" + std::to_string(index);
  std::map<std::string, fs::path> files;
  for (const auto& ref : lwd::manifest_file_references(manifest)) files[ref.archive_name] = package.path_of(ref.archive_name);
  for (const auto& entry : manifest.stat_specs) {
    if (entry.type != lwd::RKMEImageSpec::kTypeName) continue;
    const fs::path spec_file = scratch / ("synthetic-" + std::to_string(index) + ".json");
    spec.save(spec_file);
    files[entry.file] = spec_file;
  }
  const fs::path zip = scratch / ("synthetic-" + std::to_string(index) + ".zip");
  lwd::build_package(manifest, files, zip);
  for (const auto& entry : manifest.stat_specs) fs::remove(scratch / ("synthetic-" + std::to_string(index) + ".json"));
  return zip;
}

std::int64_t learnwares_in(const fs::path& market) {
  return static_cast<std::int64_t>(lwd::Market::open(market).list().size());
}

// market-<size>: `from` grown with synthetic learnwares to `size`.
void grow_market(const std::vector<SeedLearnware>& seed, const fs::path& from, const fs::path& to, std::int64_t size,
                 const fs::path& scratch, const Context& ctx) {
  if (fs::exists(to)) {
    if (learnwares_in(to) == size) return;
    fs::remove_all(to);
  }
  fs::copy(from, to, fs::copy_options::recursive);
  lwd::Market market = lwd::Market::open(to, ctx);
  auto count = static_cast<std::int64_t>(market.list().size());
  if (count > size) throw lwd::Error(to.string() + ": already holds " + std::to_string(count) + " learnwares");
  std::fprintf(stderr, "image_search: growing %s from %lld to %lld learnwares\n", to.c_str(),
               static_cast<long long>(count), static_cast<long long>(size));
  for (; count < size; ++count) {
    const fs::path zip = synthetic_image_package(seed, count, scratch);
    const auto r = market.add(zip, "bench");
    fs::remove(zip);
    if (r.status != lwd::LearnwareStatus::usable) throw lwd::Error("synthetic learnware not usable: " + r.reason);
  }
}

std::vector<double> ranks_of(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> rank(v.size());
  for (std::size_t r = 0; r < order.size(); ++r) rank[order[r]] = static_cast<double>(r);
  return rank;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const auto ra = ranks_of(a), rb = ranks_of(b);
  const auto n = static_cast<double>(a.size());
  double d2 = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// The screen against the exact MMD² of every candidate, for each user: rank
// correlation, the share of the exact best k among the screen's best
// pairwise_exact() (what goes on to the exact search), and whether the search
// with the screen answers as the one without.
nlohmann::json screen_error(const fs::path& market_dir, const std::vector<lwd::RKMEImageSpec>& users, const Context& ctx) {
  const lwd::Market market = lwd::Market::open(market_dir, ctx);
  const lwd::SpecKind& kind = lwd::image_spec_kind();
  std::vector<lwd::StatSpec> facts;
  for (const auto& record : market.list(lwd::LearnwareStatus::usable)) {
    const auto& stored = market.store().search_facts(lwd::RKMEImageSpec::kTypeName);
    if (const auto it = stored.find(record.id); it != stored.end())
      facts.push_back(kind.from_search_facts(it->second, record.id, {}));
  }
  std::vector<const lwd::StatSpec*> pointers;
  for (const auto& f : facts) pointers.push_back(&f);
  const std::size_t keep = static_cast<std::size_t>(lwd::pairwise_exact(lwd::StatSearchOptions{}));
  nlohmann::json per_user = nlohmann::json::array();
  for (const lwd::RKMEImageSpec& user_spec : users) {
    const lwd::StatSpec user = lwd::stat_spec(user_spec);
    auto start = std::chrono::steady_clock::now();
    const auto estimate = kind.screen_mmd2(user, pointers, ctx);
    const double screen_ms = ms_since(start);
    if (!estimate) throw lwd::Error(market_dir.string() + ": a learnware has no screen embedding");
    start = std::chrono::steady_clock::now();
    std::vector<double> cross(facts.size());
    kind.inner_products(user, pointers, ctx, cross);
    const double uu = kind.inner_product(user, user, ctx);
    const double exact_ms = ms_since(start);
    std::vector<double> exact(facts.size());
    for (std::size_t i = 0; i < facts.size(); ++i) exact[i] = *kind.stored_self_product(facts[i]) - 2.0 * cross[i] + uu;
    const auto rank_exact = ranks_of(exact), rank_screen = ranks_of(*estimate);
    const auto recall = [&](std::size_t k) {
      k = std::min(k, facts.size());
      std::size_t hits = 0;
      for (std::size_t i = 0; i < facts.size(); ++i)
        if (rank_exact[i] < static_cast<double>(k) && rank_screen[i] < static_cast<double>(keep)) ++hits;
      return static_cast<double>(hits) / static_cast<double>(k);
    };
    double ratio_sum = 0.0;
    for (std::size_t i = 0; i < facts.size(); ++i) ratio_sum += (*estimate)[i] / exact[i];
    // The searches themselves, with and without the screen.
    lwd::SearchRequest request;
    request.spec = user;
    const lwd::SearchResponse screened = market.search(request);
    request.options.pairwise_screening = false;
    const lwd::SearchResponse scan = market.search(request);
    const bool same_best = !screened.stat.singles.empty() && !scan.stat.singles.empty() &&
                           screened.stat.singles.front().id == scan.stat.singles.front().id &&
                           screened.stat.singles.front().mmd2 == scan.stat.singles.front().mmd2;
    const bool same_mixture = screened.stat.mixture.has_value() == scan.stat.mixture.has_value() &&
                              (!scan.stat.mixture || (screened.stat.mixture->ids == scan.stat.mixture->ids &&
                                                      screened.stat.mixture->weights == scan.stat.mixture->weights));
    per_user.push_back({{"spearman", spearman(exact, *estimate)},
                        {"recall_at_1", recall(1)},
                        {"recall_at_5", recall(5)},
                        {"recall_at_25", recall(25)},
                        {"mean_estimate_over_exact", ratio_sum / static_cast<double>(facts.size())},
                        {"screen_pass_ms", screen_ms},
                        {"exact_pass_ms", exact_ms},
                        {"same_best_single", same_best},
                        {"same_mixture", same_mixture},
                        {"method", screened.stat.method}});
  }
  return per_user;
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--sizes", "50,100,200,500,1000"}, {"--runs", "5"}, {"--threads", "0"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: image_search --seed-market DIR --work DIR --lwdock BIN --users U1.json[,U2.json...] "
                  "[--sizes 50,100,200,500,1000] [--runs 5] [--baseline BIN] [--threads N] [-o results.json]\n");
      return 0;
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  for (const char* required : {"--seed-market", "--work", "--lwdock", "--users"})
    if (!opt.contains(required)) throw lwd::Error(std::string(required) + " is required (see --help)");
  const fs::path work = fs::absolute(opt["--work"]);
  const fs::path scratch = work / "scratch";
  fs::create_directories(scratch);
  std::vector<std::int64_t> sizes;
  for (const auto& s : split(opt["--sizes"])) sizes.push_back(std::stoll(s));
  if (sizes.empty() || !std::is_sorted(sizes.begin(), sizes.end())) throw lwd::Error("--sizes: give ascending sizes");
  const int runs = std::stoi(opt["--runs"]);
  const Context ctx{.n_threads = std::stoi(opt["--threads"])};
  const std::string lwdock = fs::absolute(opt["--lwdock"]).string();
  const std::vector<std::string> user_files = split(opt["--users"]);
  std::vector<lwd::RKMEImageSpec> users;
  for (const auto& f : user_files) users.push_back(lwd::RKMEImageSpec::load(f));
  const fs::path seed_dir = opt["--seed-market"];
  const std::vector<SeedLearnware> seed = read_seed(seed_dir, scratch);
  const auto seed_size = static_cast<std::int64_t>(seed.size());
  if (sizes.front() != seed_size)
    throw lwd::Error("--sizes must start at the seed's size, " + std::to_string(seed_size));

  // The seed made current (its facts derived again), and an untouched copy for the baseline.
  const fs::path first = work / ("market-" + std::to_string(seed_size));
  if (!fs::exists(first) || learnwares_in(first) != seed_size) {
    fs::remove_all(first);
    fs::copy(seed_dir, first, fs::copy_options::recursive);
    lwd::Market::rebuild(first, ctx);
  }
  const fs::path baseline_market = work / ("market-" + std::to_string(seed_size) + "-baseline");
  if (opt.contains("--baseline") && !fs::exists(baseline_market))
    fs::copy(seed_dir, baseline_market, fs::copy_options::recursive);

  nlohmann::json rows = nlohmann::json::array();
  fs::path previous = first;
  for (const std::int64_t size : sizes) {
    const fs::path market = work / ("market-" + std::to_string(size));
    grow_market(seed, previous, market, size, scratch, ctx);
    previous = market;
    // Whole commands, in turn: ours with the screen, ours without, the baseline.
    std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
        {"screen", {lwdock, "search", "--market", market.string(), "--spec", user_files.front()}},
        {"no_screen",
         {lwdock, "search", "--market", market.string(), "--spec", user_files.front(), "--image-screen", "off"}}};
    if (opt.contains("--baseline") && size == seed_size)
      commands.push_back({"baseline",
                          {fs::absolute(opt["--baseline"]).string(), "search", "--market", baseline_market.string(),
                           "--spec", user_files.front()}});
    if (ctx.n_threads > 0)
      for (auto& [name, argv_] : commands) argv_.insert(argv_.begin() + 1, {"--threads", std::to_string(ctx.n_threads)});
    std::map<std::string, std::vector<double>> times;
    for (int r = -1; r < runs; ++r)  // run -1 warms the page cache
      for (const auto& [name, argv_] : commands) {
        const double t = time_command(argv_);
        if (r >= 0) times[name].push_back(t);
      }
    nlohmann::json row = {{"learnwares", size}, {"synthetic", size - seed_size}, {"runs", runs}};
    std::printf("%6lld learnwares", static_cast<long long>(size));
    for (const auto& [name, t] : times) {
      row[name + "_median_ms"] = 1e3 * median(t);
      row[name + "_min_ms"] = 1e3 * *std::min_element(t.begin(), t.end());
      std::printf("  %s %7.1f ms", name.c_str(), 1e3 * median(t));
    }
    row["users"] = screen_error(market, users, ctx);
    double rho_min = 1.0, recall5_min = 1.0, recall25_min = 1.0;
    int same = 0;
    for (const auto& u : row["users"]) {
      rho_min = std::min(rho_min, u["spearman"].get<double>());
      recall5_min = std::min(recall5_min, u["recall_at_5"].get<double>());
      recall25_min = std::min(recall25_min, u["recall_at_25"].get<double>());
      same += u["same_best_single"].get<bool>() && u["same_mixture"].get<bool>() ? 1 : 0;
    }
    std::printf("  | screen: spearman >= %.3f, recall@5 >= %.2f, recall@25 >= %.2f, same answer %d/%zu\n", rho_min,
                recall5_min, recall25_min, same, users.size());
    std::fflush(stdout);
    rows.push_back(std::move(row));
  }
  nlohmann::json out = {{"driver", "bench/image_search"},
                        {"hardware_threads", std::thread::hardware_concurrency()},
                        {"threads", ctx.n_threads},
                        {"users", user_files},
                        {"exact_after_screen", lwd::pairwise_exact(lwd::StatSearchOptions{})},
                        {"sizes", rows}};
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "image_search: %s\n", e.what());
    return 1;
  }
}
