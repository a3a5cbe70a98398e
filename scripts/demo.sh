#!/usr/bin/env bash
# The main job on the embedded defaults: install what is missing, build, and run
# the end-to-end demo (RKME specs of synthetic tables, their distances, herding),
# then the same through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release lwdock
LWDOCK=build/release/apps/lwdock
OUT="${LWDOCK_DEMO_DIR:-build/demo}"
"$LWDOCK" demo --out "$OUT"
echo
echo "== through the CLI =="
set -x
"$LWDOCK" spec generate --type table --input "$OUT/store_a.csv" -o "$OUT/cli_a.json"
"$LWDOCK" spec inspect "$OUT/cli_a.json"
"$LWDOCK" spec dist "$OUT/cli_a.json" "$OUT/store_a_again.json"
"$LWDOCK" spec dist "$OUT/cli_a.json" "$OUT/store_b.json"
"$LWDOCK" spec herd "$OUT/cli_a.json" -n 5 -o "$OUT/cli_a_herded.csv"
