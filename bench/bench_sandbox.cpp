// What the model sandbox costs a model run: one predict of a trivial process
// model (a /bin/sh script answering one row), sandboxed against unsandboxed
// (posix_spawn in a process group, as before the sandbox) in the same run.
// The target is <= 20 ms added per run. The sandbox's init is a fork of the
// dock (clone(2) without CLONE_VM), whose cost grows with the dock's
// resident memory, so both are also timed with 1 GiB of touched memory in
// the benchmark process (rss_mib).
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/process_model.h"

namespace {

namespace fs = std::filesystem;
using lwd::kernels::Matrix;

struct Package {
  fs::path root;
  Package() {
    std::string pattern = (fs::temp_directory_path() / "lwd-bench-sandbox-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root = pattern;
    ::chmod(root.c_str(), 0755);  // read by the sandbox's unprivileged uid when run as root
    std::ofstream(root / "model.sh") << "#!/bin/sh\ncat > /dev/null\necho 1\n";
    ::chmod((root / "model.sh").c_str(), 0755);
  }
  ~Package() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

void run_predict(benchmark::State& state, bool unsandboxed) {
  static Package package;
  // Memory the dock holds while it runs models (a loaded market, say).
  std::vector<char> resident(static_cast<std::size_t>(state.range(0)) << 20, 1);
  benchmark::DoNotOptimize(resident.data());
  lwd::ModelConfig config;
  config.kind = "process";
  config.input_dim = 1;
  config.output_dim = 1;
  config.command = {"./model.sh"};
  config.sandbox.unsandboxed = unsandboxed;
  const lwd::ProcessModel model(config, package.root);
  const Matrix<double> x(1, 1, 1.0);
  for (auto _ : state) {
    const auto out = model.predict(x.cview());
    benchmark::DoNotOptimize(out(0, 0));
  }
  state.counters["rss_mib"] = static_cast<double>(state.range(0));
}

void BM_PredictSandboxed(benchmark::State& state) { run_predict(state, false); }
void BM_PredictUnsandboxed(benchmark::State& state) { run_predict(state, true); }

// Real time: the work happens in child processes, not on this thread's CPU clock.
BENCHMARK(BM_PredictUnsandboxed)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_PredictSandboxed)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
