#!/usr/bin/env bash
# Builds everything (Release, OpenMP) and runs the whole test suite, then
# builds and tests lwd::kernels alone (the `kernels` preset: no engine, no
# other dependencies), which shows the kernels stand without the layers above.
# Installs missing packages first. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
ctest --preset release -j "$(nproc)"
scripts/build.sh kernels
ctest --preset kernels -j "$(nproc)"
