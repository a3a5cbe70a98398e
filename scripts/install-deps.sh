#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the build needs (idempotent).
# Runs apt-get through sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-openmp-dev liblapacke-dev libeigen3-dev
  libhdf5-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libxgboost-dev libzip-dev libyaml-cpp-dev libssl-dev zlib1g-dev python3
  # tools the test suite runs: unzip checks download archives, tar makes data package fixtures
  unzip tar
  # the model sandbox's system-call filter
  libseccomp-dev
  # lwdock's allocator (jemalloc's archive: huge pages for the heap)
  libjemalloc-dev
  # the approximate search index's graph (HNSW, header-only; engine/market/spec_index.cpp)
  libhnswlib-dev
  # the dock service's HTTP server (lwdock serve)
  libcpp-httplib-dev
  # the dock's accounts: argon2id password hashes, random tokens
  libsodium-dev
  # the learnware index in PostgreSQL (libpqxx), and the server the tests
  # start a throwaway cluster of (scripts/pg-test-cluster.sh; psql included)
  libpqxx-dev postgresql
  # the fuzz targets (scripts/fuzz.sh): clang with libFuzzer and the sanitizer
  # runtimes, and LLVM's OpenMP runtime for OpenMP under clang
  clang libclang-rt-dev libomp-dev
  # MPI (Open MPI): `mpirun -np N lwdock search|scenario run` shards the work
  # over ranks (engine/dist; the build finds it and turns LW_MPI on)
  libopenmpi-dev openmpi-bin
  # the web pages' browser tests (tests/web): a real Chromium, driven over the
  # DevTools protocol by puppeteer-core from npm (web/package.json)
  chromium
)
# Node and npm fetch the pages' browser libraries and the test driver
# (web/package.json). A Node from elsewhere (nodesource) brings its own npm,
# which Debian's npm package would conflict with: only add them when absent.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install these packages yourself: ${PACKAGES[*]}" >&2
    exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: done"
fi

# The npm packages of web/ (package-lock.json pins them), when they changed.
cd "$(dirname "$0")/../web"
if ! cmp -s package-lock.json node_modules/.installed-lock.json 2>/dev/null; then
  echo "install-deps: npm ci in web/"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.installed-lock.json
fi
