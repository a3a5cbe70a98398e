#!/usr/bin/env bash
# Builds everything (Release, OpenMP) and runs the whole test suite, then
# builds and tests lwd::kernels alone (the `kernels` preset: no engine, no
# other dependencies), which shows the kernels stand without the layers above,
# and last fuzzes every input reader for 25 s each (scripts/fuzz.sh: the
# `fuzz` preset, clang + libFuzzer + ASan/UBSan; fails on any finding).
# The release suite runs the learnware index on SQLite and on PostgreSQL: ctest
# starts a throwaway server for it (scripts/pg-test-cluster.sh) and stops it.
# After the release suite, scripts/perf-check.sh: a few seconds of benchmarks
# whose in-run speed-ups must stay above half of results/bench/perf_baseline.json.
# With Open MPI installed (install-deps.sh) the release build has LW_MPI, and
# the suite runs `mpirun -np 2` and `-np 4` against one process (ctest mpi.*).
# Installs missing packages first. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
ctest --preset release -j "$(nproc)"
scripts/perf-check.sh
scripts/build.sh kernels
ctest --preset kernels -j "$(nproc)"
scripts/fuzz.sh --seconds 25
