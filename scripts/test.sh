#!/usr/bin/env bash
# Builds everything (Release, OpenMP) and runs the whole test suite.
# Installs missing packages first. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
ctest --preset release -j "$(nproc)"
