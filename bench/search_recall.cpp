// Planted-learnware recall of the statistical search: users whose data are
// drawn from a known mixture of market learnwares' distributions, searched in
// a market whose specs (and the users' own) were built by one construction;
// how often the planted learnwares come back, among the top 5 singles and in
// the mixture, for each construction and each mixture rule (the greedy rule's
// decay, and auto). A driver: it measures outcomes, not loops.
//
//   search_recall [--users 40] [--seeds 2] [--commit HASH] [-o results/bench/search_recall.json]
//
// Markets (60 learnwares each, K = 100, gamma = 0.1, specs of 1 000 rows):
//   gmm     learnware l draws from 3 of 40 shared Gaussians in 16-d (centres
//           N(0, 2² I), unit spread) with random weights: learnwares overlap,
//           as learnwares trained on related data do
//   retail  the 60 stores of the PFS-like chain, `full` features (34 columns,
//           as the market's learnwares have them): a learnware is 1 000 rows of
//           one half of its store's training rows, a user draws from the other
//           half -- stores of one chain, so nearly alike
// A user plants s = 1, 2 or 3 distinct learnwares with weights uniform in
// [0.2, 1] (normalised) and draws 1 000 rows from their mixture (fresh draws,
// not the learnwares' own rows). Per user:
//   top-5        planted learnwares among the 5 nearest singles (MMD²), / s
//   recall       planted learnwares in the recommendation, / s; the
//                recommendation is the search's mixture, or its top single when
//                it reports no mixture (what a user is offered)
//   precision    planted learnwares in the recommendation, / its size
//   exact        the recommendation is the planted set
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/market/statistical_search.h"
#include "kernels/random.h"

namespace {

namespace ds = lwd::datasets;
using lwd::MixtureMethod;
using lwd::RKMETableSpec;
using lwd::SpecPack;
using lwd::StatSearchOptions;
using lwd::kernels::Context;
using lwd::kernels::Matrix;
using lwd::kernels::RkmeConstruction;
using lwd::kernels::RkmeOptions;
using lwd::kernels::Rng;

constexpr int kLearnwares = 60;
constexpr std::int64_t kLearnwareRows = 1000;
constexpr std::int64_t kUserRows = 1000;

// A source of rows: learnware l's distribution. draw(l, rows, rng) returns
// `rows` fresh rows from it (for the learnware's spec or for a user).
struct MarketData {
  std::string name;
  std::function<Matrix<double>(int l, std::int64_t rows, Rng& rng, bool for_user)> draw;
};

MarketData gaussian_market(std::uint64_t seed) {
  constexpr int kPool = 40, kPerLearnware = 3;
  constexpr std::int64_t d = 16;
  Rng rng(seed);
  auto centres = std::make_shared<Matrix<double>>(kPool, d);
  for (double& v : centres->values()) v = 2.0 * rng.normal();
  auto parts = std::make_shared<std::vector<std::vector<std::pair<int, double>>>>(kLearnwares);
  for (auto& p : *parts) {
    std::set<int> chosen;
    while (static_cast<int>(chosen.size()) < kPerLearnware) chosen.insert(static_cast<int>(rng.below(kPool)));
    double total = 0.0;
    for (int c : chosen) {
      const double w = 0.2 + 0.8 * rng.uniform();
      p.emplace_back(c, w);
      total += w;
    }
    for (auto& [c, w] : p) w /= total;
  }
  return {"gmm", [centres, parts](int l, std::int64_t rows, Rng& r, bool) {
            const auto& p = (*parts)[static_cast<std::size_t>(l)];
            Matrix<double> x(rows, d);
            for (std::int64_t i = 0; i < rows; ++i) {
              double u = r.uniform();
              std::size_t c = 0;
              while (c + 1 < p.size() && u >= p[c].second) u -= p[c++].second;
              for (std::int64_t j = 0; j < d; ++j) x(i, j) = (*centres)(p[c].first, j) + r.normal();
            }
            return x;
          }};
}

// A store's training rows, split in two by a fixed shuffle: learnwares draw
// from one half, users from the other, so a user's rows are the store's
// distribution but never the rows its learnware was built from.
MarketData retail_market() {
  ds::ChainConfig config = ds::default_chain_config(ds::ChainKind::kPfs);
  config.num_stores = kLearnwares;
  const ds::ChainSales sales = ds::simulate_chain(config, Context{.n_threads = 2});
  auto halves = std::make_shared<std::vector<std::array<Matrix<double>, 2>>>();
  Rng split(99);
  for (const ds::StoreSales& store : sales.stores) {
    const ds::StoreDataset f = ds::build_features(store, ds::FeatureSpace::kFull, ds::LabelSpace::kUnits);
    const Matrix<double>& x = f.x_train;
    std::vector<std::int64_t> order(static_cast<std::size_t>(x.rows()));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    for (std::int64_t i = x.rows() - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[split.below(static_cast<std::uint64_t>(i + 1))]);
    std::array<Matrix<double>, 2> h{Matrix<double>(x.rows() / 2, x.cols()), Matrix<double>(x.rows() - x.rows() / 2, x.cols())};
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      Matrix<double>& to = h[i < x.rows() / 2 ? 0 : 1];
      const std::int64_t row = i < x.rows() / 2 ? i : i - x.rows() / 2;
      std::copy(x.row(order[static_cast<std::size_t>(i)]), x.row(order[static_cast<std::size_t>(i)]) + x.cols(), to.row(row));
    }
    halves->push_back(std::move(h));
  }
  return {"retail", [halves](int l, std::int64_t rows, Rng& r, bool for_user) {
            const Matrix<double>& pool = (*halves)[static_cast<std::size_t>(l)][for_user ? 1 : 0];
            Matrix<double> x(rows, pool.cols());
            for (std::int64_t i = 0; i < rows; ++i) {
              const double* src = pool.row(static_cast<std::int64_t>(r.below(static_cast<std::uint64_t>(pool.rows()))));
              std::copy(src, src + pool.cols(), x.row(i));
            }
            return x;
          }};
}

struct User {
  std::vector<int> planted;
  Matrix<double> x;
};

std::vector<User> draw_users(const MarketData& market, int users_per_size, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<User> users;
  for (int s = 1; s <= 3; ++s) {
    for (int u = 0; u < users_per_size; ++u) {
      User user;
      std::set<int> chosen;
      while (static_cast<int>(chosen.size()) < s) chosen.insert(static_cast<int>(rng.below(kLearnwares)));
      user.planted.assign(chosen.begin(), chosen.end());
      std::vector<double> w;
      double total = 0.0;
      for (int i = 0; i < s; ++i) {
        w.push_back(0.2 + 0.8 * rng.uniform());
        total += w.back();
      }
      // Rows per planted learnware in proportion to its weight.
      std::vector<Matrix<double>> parts;
      std::int64_t given = 0;
      for (int i = 0; i < s; ++i) {
        const std::int64_t rows =
            i + 1 == s ? kUserRows - given : static_cast<std::int64_t>(std::llround(kUserRows * w[static_cast<std::size_t>(i)] / total));
        given += rows;
        parts.push_back(market.draw(user.planted[static_cast<std::size_t>(i)], rows, rng, true));
      }
      user.x = Matrix<double>(kUserRows, parts.front().cols());
      std::int64_t row = 0;
      for (const auto& p : parts) {
        std::copy(p.data(), p.data() + p.size(), user.x.row(row));
        row += p.rows();
      }
      users.push_back(std::move(user));
    }
  }
  return users;
}

std::string learnware_id(int l) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08d", l + 1);
  return buf;
}

struct Rule {
  std::string name;
  StatSearchOptions options;
};

std::vector<Rule> rules() {
  std::vector<Rule> out;
  for (const double decay : {0.99, 0.95, 0.9, 0.8}) {
    StatSearchOptions o;
    o.greedy_decay = decay;
    char name[32];
    std::snprintf(name, sizeof name, "greedy %.2f", decay);
    out.push_back({name, o});
  }
  StatSearchOptions a;
  a.method = MixtureMethod::kAuto;
  out.push_back({"auto", a});
  return out;
}

struct Tally {
  double top5 = 0, recall = 0, precision = 0, exact = 0, size = 0, mixtures = 0;
  int users = 0;
};

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string read_cpu() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "?";
}

int run(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"--users", "40"}, {"--seeds", "2"}, {"--commit", "?"}};
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf("usage: search_recall [--users 40] [--seeds 2] [--commit HASH] [-o results.json]\n");
      return 0;
    }
    if (i + 1 >= argc) throw lwd::Error(key + ": missing value");
    opt[key] = argv[++i];
  }
  const int users_per_size = std::stoi(opt["--users"]);
  const int seeds = std::stoi(opt["--seeds"]);
  const std::vector<std::pair<std::string, RkmeConstruction>> constructions = {
      {"kmeans++", RkmeConstruction::kKMeansPlusPlus}, {"herding-descent", RkmeConstruction::kHerdingDescent}};
  // The top 5 with no reduction at all (Z = the rows, beta = 1/n): what
  // exact embeddings of these samples would rank, the bound a sketch approaches.
  std::map<std::pair<std::string, int>, std::pair<double, int>> exact_top5;
  const std::vector<Rule> mixture_rules = rules();

  // (market, construction, rule, planted size) -> tally
  std::map<std::tuple<std::string, std::string, std::string, int>, Tally> tallies;
  const MarketData retail_data = retail_market();  // the chain is the same for every seed; the draws differ
  for (int seed = 0; seed < seeds; ++seed) {
    for (const bool retail : {false, true}) {
      const MarketData market = retail ? retail_data : gaussian_market(600 + static_cast<std::uint64_t>(seed));
      std::fprintf(stderr, "search_recall: %s market, seed %d\n", market.name.c_str(), seed);
      // The same rows for both constructions: only the specs differ.
      Rng rng(700 + static_cast<std::uint64_t>(seed));
      std::vector<Matrix<double>> learnware_rows;
      for (int l = 0; l < kLearnwares; ++l) learnware_rows.push_back(market.draw(l, kLearnwareRows, rng, false));
      const std::vector<User> users = draw_users(market, users_per_size, 800 + static_cast<std::uint64_t>(seed));
      {
        RkmeOptions full;
        full.reduce = false;
        SpecPack pack;
        pack.type = std::string(RKMETableSpec::kTypeName);
        const Context ctx{.n_threads = 2};
        for (int l = 0; l < kLearnwares; ++l)
          pack.append(learnware_id(l), RKMETableSpec::generate(ctx, learnware_rows[static_cast<std::size_t>(l)], full), ctx);
        for (const User& user : users) {
          const std::vector<double> dist = lwd::batch_mmd2(ctx, RKMETableSpec::generate(ctx, user.x, full), pack, {});
          std::vector<std::int64_t> order(dist.size());
          std::iota(order.begin(), order.end(), std::int64_t{0});
          std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
            return dist[static_cast<std::size_t>(a)] < dist[static_cast<std::size_t>(b)];
          });
          int hits = 0;
          for (std::size_t r = 0; r < 5; ++r)
            hits += std::find(user.planted.begin(), user.planted.end(), static_cast<int>(order[r])) != user.planted.end();
          auto& [sum, count] = exact_top5[{market.name, static_cast<int>(user.planted.size())}];
          sum += static_cast<double>(hits) / static_cast<double>(user.planted.size());
          ++count;
        }
      }
      for (const auto& [cname, construction] : constructions) {
        RkmeOptions o;
        o.construction = construction;
        SpecPack pack;
        pack.type = std::string(RKMETableSpec::kTypeName);
        for (int l = 0; l < kLearnwares; ++l) {
          const Context ctx{.n_threads = 2, .seed = static_cast<std::uint64_t>(l)};
          pack.append(learnware_id(l), RKMETableSpec::generate(ctx, learnware_rows[static_cast<std::size_t>(l)], o), ctx);
        }
        for (std::size_t u = 0; u < users.size(); ++u) {
          const User& user = users[u];
          const Context ctx{.n_threads = 2, .seed = 1000 + u};
          const RKMETableSpec spec = RKMETableSpec::generate(ctx, user.x, o);
          std::set<std::string> planted;
          for (int l : user.planted) planted.insert(learnware_id(l));
          const auto s = static_cast<int>(planted.size());
          // The 5 nearest singles, by MMD² over the whole market.
          const std::vector<double> dist = lwd::batch_mmd2(ctx, spec, pack, {});
          std::vector<std::int64_t> order(dist.size());
          std::iota(order.begin(), order.end(), std::int64_t{0});
          std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
            return dist[static_cast<std::size_t>(a)] < dist[static_cast<std::size_t>(b)];
          });
          int top5 = 0;
          for (std::size_t r = 0; r < 5 && r < order.size(); ++r)
            top5 += planted.contains(pack.ids[static_cast<std::size_t>(order[r])]) ? 1 : 0;
          for (const Rule& rule : mixture_rules) {
            const lwd::StatSearchResult result = lwd::statistical_search(ctx, spec, pack, {}, rule.options);
            std::vector<std::string> offered =
                result.mixture ? result.mixture->ids : std::vector<std::string>{result.singles.front().id};
            int hits = 0;
            for (const auto& id : offered) hits += planted.contains(id) ? 1 : 0;
            const bool exact = hits == s && static_cast<int>(offered.size()) == s;
            Tally& t = tallies[{market.name, cname, rule.name, s}];
            t.top5 += static_cast<double>(top5) / s;
            t.recall += static_cast<double>(hits) / s;
            t.precision += static_cast<double>(hits) / static_cast<double>(offered.size());
            t.exact += exact ? 1.0 : 0.0;
            t.size += static_cast<double>(offered.size());
            t.mixtures += result.mixture ? 1.0 : 0.0;
            ++t.users;
          }
        }
      }
    }
  }

  std::printf("Planted recall, %d users per planted count and seed, %d seeds (%s):\n\n", users_per_size, seeds,
              "means over users");
  std::printf("| market | construction | rule | s | top-5 | recall | precision | exact | offered | mixture |\n"
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  nlohmann::json summary = nlohmann::json::array();
  for (const auto& [key, t] : tallies) {
    const auto& [market, cname, rule, s] = key;
    const double n = t.users;
    std::printf("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", market.c_str(), cname.c_str(), rule.c_str(), s,
                fixed(t.top5 / n, 2).c_str(), fixed(t.recall / n, 2).c_str(), fixed(t.precision / n, 2).c_str(),
                fixed(t.exact / n, 2).c_str(), fixed(t.size / n, 2).c_str(), fixed(t.mixtures / n, 2).c_str());
    summary.push_back({{"market", market}, {"construction", cname}, {"rule", rule}, {"planted", s}, {"users", t.users},
                       {"top5", t.top5 / n}, {"recall", t.recall / n}, {"precision", t.precision / n},
                       {"exact", t.exact / n}, {"offered", t.size / n}, {"mixture_reported", t.mixtures / n}});
  }
  std::printf("\nTop-5 with no reduction (the rows themselves):\n\n| market | s | top-5 |\n|---|---:|---:|\n");
  nlohmann::json exact = nlohmann::json::array();
  for (const auto& [key, value] : exact_top5) {
    std::printf("| %s | %d | %s |\n", key.first.c_str(), key.second, fixed(value.first / value.second, 2).c_str());
    exact.push_back({{"market", key.first}, {"planted", key.second}, {"top5", value.first / value.second}});
  }
  nlohmann::json out;
  out["exact_top5"] = exact;
  double load[3] = {0, 0, 0};
  std::ifstream("/proc/loadavg") >> load[0] >> load[1] >> load[2];
  out["context"] = {{"commit", opt["--commit"]}, {"cpu", read_cpu()}, {"cpus", std::thread::hardware_concurrency()},
                    {"users_per_size", users_per_size}, {"seeds", seeds}, {"load_average_at_end", {load[0], load[1], load[2]}}};
  out["summary"] = summary;
  if (opt.contains("-o")) lwd::io::write_text_file_atomically(opt["-o"], out.dump(1) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "search_recall: %s\n", e.what());
    return 1;
  }
}
