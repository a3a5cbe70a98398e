// Submitting to the market store costs O(the learnware), not O(the market):
// the time of one MarketStore::add (package copy, HDF5 append with fsync,
// SQLite commit) on markets of 10, 100 and 1 000 learnwares (K = 100, d = 32).
// Flat times across sizes are the claim; the counter "h5_mib" shows the file
// growing underneath.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "engine/io/atomic_file.h"
#include "engine/model/linear_model.h"
#include "engine/package/package.h"
#include "engine/store/market_store.h"
#include "kernels/random.h"

namespace {

namespace fs = std::filesystem;
using lwd::RKMETableSpec;
using lwd::kernels::Matrix;
using lwd::kernels::Rng;

constexpr std::int64_t kDim = 32;

RKMETableSpec random_spec(Rng& rng) {
  Matrix<double> z(100, kDim);
  for (auto& v : z.values()) v = rng.normal();
  std::vector<double> beta(100, 0.01);
  return RKMETableSpec(std::move(z), std::move(beta), 0.1, 1000);
}

// A real (small) package zip, built once.
fs::path sample_package(const fs::path& dir) {
  Matrix<double> coef(1, kDim, 0.5);
  lwd::save_linear_model(lwd::LinearModel(lwd::LinearModel::Type::kRidge, coef, {0.0}), dir / "model.json");
  Rng rng(1);
  random_spec(rng).save(dir / "rkme.json");
  lwd::io::write_text_file_atomically(dir / "semantic.json", "{}");
  lwd::io::write_text_file_atomically(dir / "environment.yaml", "runtime: bench\n");
  lwd::Manifest m;
  m.model.kind = "linear";
  m.model.file = "model.json";
  m.model.input_dim = kDim;
  m.model.output_dim = 1;
  m.semantic_file = "semantic.json";
  m.stat_specs.push_back({"RKMETableSpecification", "rkme.json"});
  m.environment_file = "environment.yaml";
  const fs::path zip = dir / "sample.zip";
  lwd::build_package(m, {{"model.json", dir / "model.json"}, {"rkme.json", dir / "rkme.json"},
                         {"semantic.json", dir / "semantic.json"}, {"environment.yaml", dir / "environment.yaml"}},
                     zip);
  return zip;
}

struct Fixture {
  fs::path root;
  fs::path zip;
  std::unique_ptr<lwd::MarketStore> store;
  Rng rng{7};
  ~Fixture() {
    store.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

void add_one(Fixture& f) {
  lwd::LearnwareRecord r;
  r.id = f.store->next_id();
  r.name = "bench";
  r.status = lwd::LearnwareStatus::usable;
  f.store->add(r, f.zip, {{"RKMETableSpecification", random_spec(f.rng)}}, "{}");
}

void BM_StoreAdd(benchmark::State& state) {
  Fixture f;
  std::string pattern = (fs::temp_directory_path() / "lwd-bench-store-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  f.root = pattern;
  f.zip = sample_package(f.root);
  f.store = std::make_unique<lwd::MarketStore>(lwd::MarketStore::create(f.root / "market"));
  for (std::int64_t i = 0; i < state.range(0); ++i) add_one(f);
  for (auto _ : state) add_one(f);
  state.counters["market_size"] = static_cast<double>(state.range(0));
  state.counters["h5_mib"] = static_cast<double>(fs::file_size(f.root / "market" / "market.h5")) / (1 << 20);
}

}  // namespace

BENCHMARK(BM_StoreAdd)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(30);

BENCHMARK_MAIN();
