// Heterogeneous search against homogeneous search on a built experiment market
// (`lwdock market build --tabular`), in one process and one run: the same
// stores' test rows, once through a user pipeline no learnware uses (the
// search maps the user's RKME into the specification world and searches the
// system specs of every table learnware) and once through a market feature
// space (the ordinary search of that space's pack). Also the time to train
// the world and map every learnware (what `lwdock market remap` does), per
// model kind. A driver: it times whole searches, each repeated.
//
//   hetero_search --market DIR [--users 20] [--repeats 5] [--models token-mlp,desc-pool]
//                 [--epochs 10] [--threads 0 (all)] [--commit HASH] [-o results/bench/hetero_search.json]
//
// Times are medians over users x repeats of one search each (the user's RKME
// is built before the clock starts, as the user sends it); "ratio" is the
// heterogeneous median over the homogeneous one, measured in the same run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/retail/feature_pipelines.h"
#include "datasets/retail/retail_simulator.h"
#include "engine/error.h"
#include "engine/hetero/spec_world.h"
#include "engine/io/atomic_file.h"
#include "engine/kinds/table_kind.h"
#include "engine/market/market.h"
#include "engine/market/statistical_search.h"
#include "scenarios/market/market_builder.h"

namespace {

namespace ds = lwd::datasets;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Args {
  std::string market, out, commit = "unknown";
  int users = 20, repeats = 5, epochs = 10, threads = 0;
  std::vector<std::string> models = {"token-mlp", "desc-pool"};
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw lwd::Error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--market") a.market = value();
    else if (k == "--users") a.users = std::stoi(value());
    else if (k == "--repeats") a.repeats = std::stoi(value());
    else if (k == "--epochs") a.epochs = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--commit") a.commit = value();
    else if (k == "-o") a.out = value();
    else if (k == "--models") {
      a.models.clear();
      std::string list = value(), item;
      for (char c : list + ",") {
        if (c == ',') {
          if (!item.empty()) a.models.push_back(item);
          item.clear();
        } else {
          item += c;
        }
      }
    } else if (k == "--help" || k == "-h") {
      std::printf("hetero_search --market DIR [--users 20] [--repeats 5] [--models token-mlp,desc-pool] "
                  "[--epochs 10] [--threads 0] [--commit HASH] [-o FILE]\n");
      std::exit(0);
    } else {
      throw lwd::Error("unknown option " + k);
    }
  }
  if (a.market.empty()) throw lwd::Error("--market DIR is required (a market built by `lwdock market build --tabular`)");
  if (a.users < 1 || a.repeats < 1) throw lwd::Error("--users and --repeats must be at least 1");
  return a;
}

int run(const Args& args) {
  const lwd::kernels::Context ctx{args.threads, 1};
  const lwd::Market market = lwd::Market::open(args.market, ctx);
  const ds::ChainConfig chain = ds::default_chain_config(ds::ChainKind::kPfs);
  const int users = std::min(args.users, chain.num_stores);

  // The users' RKMEs, in a user pipeline and in a market space.
  std::vector<lwd::RKMETableSpec> hetero_users, homo_users;
  for (int s = 0; s < users; ++s) {
    const ds::StoreSales store = ds::simulate_store(chain, s);
    const lwd::kernels::Context c{1, static_cast<std::uint64_t>(s + 1)};
    hetero_users.push_back(lwd::RKMETableSpec::generate(
        c, ds::build_user_features(store, ds::UserFeatureSpace::kPosDaily, ds::LabelSpace::kLog1pUnits).x_test,
        lwd::scenarios::market_table_rkme_options()));
    homo_users.push_back(lwd::RKMETableSpec::generate(
        c, ds::build_features(store, ds::FeatureSpace::kFull, ds::LabelSpace::kLog1pUnits).x_test,
        lwd::scenarios::market_table_rkme_options()));
  }
  const lwd::FeatureSemantics user_input = lwd::scenarios::tabular_user_input(ds::UserFeatureSpace::kPosDaily);
  const std::vector<std::string> descriptions =
      *lwd::hetero::column_descriptions(user_input, hetero_users.front().dim());

  // Homogeneous: Market::search of the full-features users (the pack of width 34).
  std::vector<double> homo_ms;
  std::int64_t homo_candidates = 0;
  for (int r = 0; r < args.repeats; ++r) {
    for (const lwd::RKMETableSpec& u : homo_users) {
      lwd::SearchRequest request;
      request.spec = lwd::stat_spec(u);
      const Clock::time_point start = Clock::now();
      const lwd::SearchResponse response = market.search(request);
      homo_ms.push_back(ms_since(start));
      homo_candidates = response.stat.candidates;
    }
  }

  nlohmann::json out{{"benchmark", "hetero_search"},
                     {"market", args.market},
                     {"commit", args.commit},
                     {"threads", ctx.threads()},
                     {"users", users},
                     {"repeats", args.repeats},
                     {"homogeneous", {{"median_ms", median(homo_ms)}, {"candidates", homo_candidates}}},
                     {"models", nlohmann::json::array()}};
  std::printf("homogeneous search (full features, %lld candidates): median %.2f ms\n",
              static_cast<long long>(homo_candidates), median(homo_ms));

  std::int64_t undescribed = 0;
  const std::vector<lwd::hetero::WorldTable> tables = lwd::hetero::described_tables(market, nullptr, &undescribed);
  for (const std::string& kind : args.models) {
    lwd::hetero::WorldTrainOptions options;
    options.epochs = args.epochs;
    const Clock::time_point train_start = Clock::now();
    lwd::hetero::WorldTrainReport report;
    const auto model = lwd::hetero::train_world_model(kind, tables, options, ctx, &report);
    const double train_ms = ms_since(train_start);
    const Clock::time_point map_start = Clock::now();
    const lwd::SpecPack pack = lwd::hetero::map_tables(*model, tables, ctx);
    const double map_ms = ms_since(map_start);
    std::vector<double> hetero_ms, refined, settled;
    for (int r = 0; r < args.repeats; ++r) {
      for (const lwd::RKMETableSpec& u : hetero_users) {
        const Clock::time_point start = Clock::now();
        const lwd::StatSearchResult result =
            lwd::hetero::search_world(*model, pack, u, descriptions, {}, lwd::StatSearchOptions{}, ctx);
        hetero_ms.push_back(ms_since(start));
        refined.push_back(static_cast<double>(result.refined));
        settled.push_back(static_cast<double>(result.settled));
        if (result.candidates != pack.count()) throw lwd::Error("the world search skipped candidates");
      }
    }
    const double ratio = median(hetero_ms) / median(homo_ms);
    std::printf("%s: trained on %lld tables in %.1f s, mapped in %.2f s; heterogeneous search over %lld system specs: "
                "median %.2f ms (%.2fx the homogeneous search; float64 refinement of %.0f of them, %.0f settled by "
                "their separation bounds)\n",
                kind.c_str(), static_cast<long long>(report.tables), train_ms / 1000.0, map_ms / 1000.0,
                static_cast<long long>(pack.count()), median(hetero_ms), ratio, median(refined), median(settled));
    out["models"].push_back({{"model", kind},
                             {"tables", report.tables},
                             {"points", report.points},
                             {"epochs", kind == "token-mlp" ? args.epochs : 0},
                             {"train_seconds", train_ms / 1000.0},
                             {"map_seconds", map_ms / 1000.0},
                             {"system_specs", pack.count()},
                             {"median_ms", median(hetero_ms)},
                             {"ratio_to_homogeneous", ratio},
                             {"median_refined", median(refined)},
                             {"median_settled", median(settled)}});
  }
  if (!args.out.empty()) lwd::io::write_text_file_atomically(args.out, out.dump(2) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hetero_search: error: %s\n", e.what());
    return 1;
  }
}
