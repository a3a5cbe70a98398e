#!/usr/bin/env bash
# The performance step of the test command (and so of CI): a short benchmark
# run (a few seconds) whose speed-ups, each measured within the run, must stay
# above half of results/bench/perf_baseline.json (bench/perf_gate.py). The
# Google Benchmark JSON is kept under build/release/perf/. Absolute times are
# printed, never gated: a shared machine moves them, a ratio much less.
# Usage: scripts/perf-check.sh [--update-baseline]   (needs the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/release/perf
mkdir -p "$out"
build/release/bench/bench_search \
  --benchmark_filter='BM_Search_(Ours|Float64Only|ReferencePattern)/1100/32/|BM_IndexedSearch_(Scan|Exact)/4000/' \
  --benchmark_min_time=0.2 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/bench_search.json" --benchmark_out_format=json >/dev/null
if [[ "${1:-}" == "--update-baseline" ]]; then
  python3 bench/perf_gate.py "$out/bench_search.json" results/bench/perf_baseline.json --update \
    --measured "$(git rev-parse --short HEAD), $(nproc) CPUs, $(uname -m)"
else
  python3 bench/perf_gate.py "$out/bench_search.json" results/bench/perf_baseline.json
fi
