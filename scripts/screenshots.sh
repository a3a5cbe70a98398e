#!/usr/bin/env bash
# Screenshots of every web page at 360 and 1440 px wide, taken by the browser
# tests themselves (tests/web/e2e.mjs --screenshots) on a fresh small market,
# into docs/screenshots/ (the README shows them). Builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/screenshots}
scripts/build.sh release lwdock lwdock-server web_pages >/dev/null
mkdir -p "$OUT"
bash tests/web/run_e2e.sh build/release/apps/lwdock build/release/apps/lwdock-server build/release/share/lwdock/web \
  --screenshots "$(realpath "$OUT")"
echo "screenshots: $(ls "$OUT"/*.png | wc -l) pages in $OUT (commit $(git rev-parse --short HEAD))"
