#!/usr/bin/env bash
# The main job on the embedded defaults: install what is missing, build, and run
# the end-to-end tour: RKME specs of synthetic store tables and their distances,
# then a developer's and a user's path through the CLI -- train a model per
# store, package each as a learnware, submit them to a new market (SQLite index,
# HDF5 spec packs), and search it with a user's spec.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release lwdock
LWDOCK=build/release/apps/lwdock
OUT="${LWDOCK_DEMO_DIR:-build/demo}"
"$LWDOCK" demo --out "$OUT"

echo
echo "== a developer's path: model -> package -> market =="
rm -rf "$OUT/market"
"$LWDOCK" market create "$OUT/market"
for store in store_a store_a_shifted store_b; do
  "$LWDOCK" model train --kind xgboost --rounds 50 --input "$OUT/${store}_labelled.csv" -o "$OUT/$store.model.json"
  dim=$(head -1 "$OUT/$store.csv" | awk -F, '{print NF}')
  cat >"$OUT/$store.semantic.json" <<JSON
{"Data": {"Values": ["Table"], "Type": "Class"}, "Task": {"Values": ["Regression"], "Type": "Class"},
 "Library": {"Values": ["Others"], "Type": "Class"}, "Scenario": {"Values": ["Business"], "Type": "Tag"},
 "License": {"Values": ["MIT"], "Type": "Class"}, "Name": {"Values": "$store sales", "Type": "String"},
 "Description": {"Values": "daily sales model of $store (demo data)", "Type": "String"},
 "Input": {"Dimension": $dim, "Description": {}}, "Output": {"Dimension": 1, "Description": {"0": "sales"}}}
JSON
  "$LWDOCK" package build --model "$OUT/$store.model.json" --spec "$OUT/$store.json" \
    --semantic "$OUT/$store.semantic.json" -o "$OUT/$store.zip"
  "$LWDOCK" market add "$OUT/market" "$OUT/$store.zip" --owner demo
done
"$LWDOCK" market list "$OUT/market"

echo
echo "== a user's path: search with the RKME of their own data (another sample of store A) =="
"$LWDOCK" search --market "$OUT/market" --spec "$OUT/store_a_again.json"
