// What the model sandbox costs a model run: one predict of a trivial process
// model (a /bin/sh script answering one row), sandboxed against unsandboxed
// (posix_spawn in a process group, as before the sandbox). The target is
// <= 20 ms added per run, whatever memory the dock holds: the sandbox's own
// program is started vfork-style, so its cost must not grow with the dock's
// resident memory, and BM_SandboxOverhead/<MiB> runs with 0 and 1024 MiB of
// touched memory in the benchmark process to show that it does not.
//
// Each iteration runs the model once unsandboxed and once sandboxed, in
// turn, so that the load of a shared machine weighs on both alike; the
// reported time is the sandboxed run's, and the counters give the medians of
// both, their difference and their ratio.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
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

lwd::ProcessModel trivial_model(const Package& package, bool unsandboxed) {
  lwd::ModelConfig config;
  config.kind = "process";
  config.input_dim = 1;
  config.output_dim = 1;
  config.command = {"./model.sh"};
  config.sandbox.unsandboxed = unsandboxed;
  return lwd::ProcessModel(config, package.root);
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

void BM_SandboxOverhead(benchmark::State& state) {
  static Package package;
  // Memory the dock holds while it runs models (a loaded market, say).
  std::vector<char> resident(static_cast<std::size_t>(state.range(0)) << 20, 1);
  benchmark::DoNotOptimize(resident.data());
  const lwd::ProcessModel plain = trivial_model(package, true);
  const lwd::ProcessModel sandboxed = trivial_model(package, false);
  const Matrix<double> x(1, 1, 1.0);
  const auto timed_ms = [&x](const lwd::ProcessModel& model) {
    const auto start = std::chrono::steady_clock::now();
    const auto out = model.predict(x.cview());
    benchmark::DoNotOptimize(out(0, 0));
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<double> plain_ms;
  std::vector<double> sandboxed_ms;
  for (auto _ : state) {
    plain_ms.push_back(timed_ms(plain));
    sandboxed_ms.push_back(timed_ms(sandboxed));
    state.SetIterationTime(sandboxed_ms.back() / 1e3);
  }
  const double plain_median = median(plain_ms);
  const double sandboxed_median = median(sandboxed_ms);
  state.counters["rss_mib"] = static_cast<double>(state.range(0));
  state.counters["unsandboxed_ms"] = plain_median;
  state.counters["sandboxed_ms"] = sandboxed_median;
  state.counters["added_ms"] = sandboxed_median - plain_median;
  state.counters["ratio"] = plain_median > 0 ? sandboxed_median / plain_median : 0.0;
}

// Manual time: the work happens in child processes, not on this thread's CPU clock.
BENCHMARK(BM_SandboxOverhead)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();
