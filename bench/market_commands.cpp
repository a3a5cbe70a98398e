// Whole-command times of `lwdock market list` and `lwdock search` as a market
// grows: what a user waits for, process start, opening the market and output
// included. Ours and a baseline binary run in turn (A B A B ...), so the ratio
// of their medians is measured in one run on the same machine state.
//
//   market_commands --seed-market DIR --work DIR --lwdock BIN [--baseline BIN]
//                   [--baseline-seed DIR] [--sizes 550,1100,2200] [--runs 7]
//                   [--user-spec RKME.json] [-o results.json]
//
// Each market is a copy of the seed market (e.g. the quick experiment market,
// with its image and text learnwares) grown with synthetic table learnwares
// (width 12, K = 100, a ridge model each) up to the size; the search is a
// table RKME of width 12, so it compares every synthetic learnware. Markets
// are built once and reused by later runs (the size is checked). A size equal
// to the seed market's copies it as it is; --user-spec searches with that
// table RKME instead (e.g. one store's spec against the experiment market).
// An older baseline may not read the formats ours writes: its markets are
// grown by the baseline itself (`market add`, the same synthetic packages)
// from --baseline-seed, a copy of the seed it has never opened with ours.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/market.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/spec/rkme_table_spec.h"
#include "bench/synthetic_learnware.h"
#include "bench/whole_command.h"

namespace {

namespace fs = std::filesystem;
using lwd::bench::sample;
using lwd::bench::median;
using lwd::bench::synthetic_package;
using lwd::bench::time_command;

// Copies `from` (a market, or a smaller grown one) to `to` and adds synthetic
// learnwares until it holds `size`.
void grow_market(const fs::path& from, const fs::path& to, std::int64_t size, const fs::path& scratch) {
  if (fs::exists(to)) {
    const auto count = static_cast<std::int64_t>(lwd::Market::open(to).list().size());
    if (count == size) return;
    fs::remove_all(to);
  }
  fs::copy(from, to, fs::copy_options::recursive);
  lwd::Market market = lwd::Market::open(to, lwd::kernels::Context{.n_threads = 1});
  auto count = static_cast<std::int64_t>(market.list().size());
  if (count > size) throw lwd::Error(to.string() + ": already holds " + std::to_string(count) + " learnwares");
  std::fprintf(stderr, "market_commands: growing %s from %lld to %lld learnwares\n", to.c_str(),
               static_cast<long long>(count), static_cast<long long>(size));
  for (; count < size; ++count) {
    const fs::path zip = synthetic_package(scratch, count);
    const auto r = market.add(zip, "bench");
    fs::remove(zip);
    if (r.status != lwd::LearnwareStatus::usable) throw lwd::Error("synthetic learnware not usable: " + r.reason);
  }
}

std::vector<std::int64_t> parse_sizes(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  if (out.empty() || !std::is_sorted(out.begin(), out.end()))
    throw lwd::Error("--sizes: give ascending sizes, e.g. 550,1100,2200");
  return out;
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--sizes", "550,1100,2200"}, {"--runs", "7"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: market_commands --seed-market DIR --work DIR --lwdock BIN [--baseline BIN] "
                  "[--baseline-seed DIR] [--sizes 550,1100,2200] [--runs 7] [--user-spec RKME.json] "
                  "[-o results.json]\n");
      return 0;
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  for (const char* required : {"--seed-market", "--work", "--lwdock"})
    if (!opt.contains(required)) throw lwd::Error(std::string(required) + " is required (see --help)");
  const fs::path work = opt["--work"];
  const fs::path scratch = work / "scratch";
  fs::create_directories(scratch);
  const std::vector<std::int64_t> sizes = parse_sizes(opt["--sizes"]);
  const int runs = std::stoi(opt["--runs"]);
  std::vector<std::pair<std::string, std::string>> binaries = {{"ours", fs::absolute(opt["--lwdock"]).string()}};
  if (opt.contains("--baseline")) binaries.emplace_back("baseline", fs::absolute(opt["--baseline"]).string());

  // The user's spec: a sample like the synthetic learnwares', or the one given
  // (to search a market of another shape, e.g. the experiment market).
  fs::path user = work / "user_rkme.json";
  if (opt.contains("--user-spec")) {
    user = fs::absolute(opt["--user-spec"]);
  } else {
    lwd::RKMETableSpec::generate(lwd::kernels::Context{.n_threads = 1, .seed = 5}, sample(500, 0.7, 5),
                                 lwd::kernels::RkmeOptions{})
        .save(user);
  }

  nlohmann::json out = nlohmann::json::array();
  fs::path previous = opt["--seed-market"];
  fs::path baseline_previous = opt.contains("--baseline-seed") ? opt["--baseline-seed"] : opt["--seed-market"];
  // Learnwares in the seed, one package each (synthetic ones are numbered
  // from here on); counted without opening it, which would migrate it.
  std::int64_t baseline_count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(previous / "packages")) ++baseline_count;
  for (const std::int64_t size : sizes) {
    const fs::path market = work / ("market-" + std::to_string(size));
    grow_market(previous, market, size, scratch);
    previous = market;
    // Each binary reads a market in its own formats (an older lwdock refuses
    // a newer market.h5 or index schema): the baseline's is grown from
    // --baseline-seed (default: the seed) by the baseline itself, with the
    // same synthetic packages.
    std::map<std::string, fs::path> market_of = {{"ours", market}};
    if (binaries.size() > 1) {
      const fs::path copy = work / ("market-" + std::to_string(size) + "-baseline");
      if (!fs::exists(copy)) {
        fs::copy(baseline_previous, copy, fs::copy_options::recursive);
        const std::string bin = binaries[1].second;
        // The packages ours added past the seed, in the same order.
        for (std::int64_t i = baseline_count; i < size; ++i) {
          const fs::path zip = synthetic_package(scratch, i);
          time_command({bin, "--threads", "1", "market", "add", copy.string(), zip.string()});
          fs::remove(zip);
        }
      }
      baseline_count = size;
      baseline_previous = copy;
      market_of["baseline"] = copy;
    }
    for (const std::string name : {"market list", "search"}) {
      std::map<std::string, std::vector<double>> times;
      for (int r = -1; r < runs; ++r) {  // run -1 warms the page cache
        for (const auto& [who, bin] : binaries) {
          const std::string dir = market_of.at(who).string();
          const std::vector<std::string> args =
              name == "search" ? std::vector<std::string>{"search", "--market", dir, "--spec", user.string()}
                               : std::vector<std::string>{"market", "list", dir};
          std::vector<std::string> argv = {bin, "--threads", "1"};
          argv.insert(argv.end(), args.begin(), args.end());
          const double t = time_command(argv);
          if (r >= 0) times[who].push_back(t);
        }
      }
      nlohmann::json row = {{"learnwares", size}, {"command", name}, {"runs", runs}};
      std::printf("%6lld learnwares  %-12s", static_cast<long long>(size), name.c_str());
      for (const auto& [who, t] : times) {
        row[who + "_median_ms"] = 1e3 * median(t);
        std::printf("  %s %7.1f ms", who.c_str(), 1e3 * median(t));
      }
      if (times.contains("baseline")) {
        const double ratio = median(times["ours"]) / median(times["baseline"]);
        row["ours_over_baseline"] = ratio;
        std::printf("  ours/baseline %.3f", ratio);
      }
      std::printf("\n");
      std::fflush(stdout);
      out.push_back(std::move(row));
    }
  }
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market_commands: %s\n", e.what());
    return 1;
  }
}
