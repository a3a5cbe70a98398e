#!/usr/bin/env bash
# Runs every benchmark suite (Release build) and records the figures:
#   results/bench/<suite>.json     Google Benchmark JSON of each suite
#   results/bench/peak_memory.json peak resident memory of RKME generation
#   bench/README.md                the figures section, rewritten by bench/report.py
# Usage: scripts/bench.sh [--quick] [suite ...]   (suites: kernels rkme spec search solvers store)
# --quick runs each benchmark for less time (noisier; for a first look).
set -euo pipefail
cd "$(dirname "$0")/.."
min_time=0.5
if [[ "${1:-}" == "--quick" ]]; then
  min_time=0.1
  shift
fi
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(kernels rkme spec search solvers store)

scripts/install-deps.sh
targets=()
for s in "${suites[@]}"; do targets+=("bench_$s"); done
scripts/build.sh release "${targets[@]}" rkme_peak_memory
mkdir -p results/bench
for s in "${suites[@]}"; do
  echo "== bench_$s" >&2
  "build/release/bench/bench_$s" --benchmark_min_time="$min_time" \
    --benchmark_out="results/bench/$s.json" --benchmark_out_format=json
done
{
  echo "["
  first=1
  for n in 10000 100000; do
    [[ $first -eq 1 ]] || echo ","
    first=0
    build/release/bench/rkme_peak_memory "$n" 32 100
  done
  echo "]"
} >results/bench/peak_memory.json
python3 bench/report.py --commit "$(git rev-parse --short HEAD)" results/bench bench/README.md
