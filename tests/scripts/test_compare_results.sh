#!/usr/bin/env bash
# scripts/compare_results.py on made-up result trees: settings compared with the
# change signed by the metric's direction, the order of the settings before and
# after, a changed note listed, curves at the ends of the grid, nested scenario
# folders found; a missing tree, a tree without tables and a malformed table.json
# are errors with exit 2.
set -uo pipefail
compare="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
table() {  # table DIR A_MEAN B_MEAN NOTE
  mkdir -p "$1"
  cat >"$1/table.json" <<JSON
{"title": "t", "tables": [{"key": "k", "title": "Headline", "metric": "MSE", "higher_is_better": false,
  "notes": ["$4"],
  "rows": [{"key": "a", "label": "Method A", "ours": {"count": 3, "mean": $2, "std": 0.1}},
           {"key": "b", "label": "Method B", "ours": {"count": 3, "mean": $3, "std": 0.2}}]}],
 "curves": [{"key": "c", "x": [10, 100], "series": [{"key": "a", "label": "Method A",
   "points": [{"mean": $2, "std": 0, "count": 3}, {"mean": 0.5, "std": 0, "count": 3}]}]}]}
JSON
  echo '{"commit": "abc1234", "dirty": false, "threads": 2, "total_seconds": 12.5}' >"$1/run.json"
}
table "$work/old/s1" 1.0 2.0 "mixtures for 3 users"
table "$work/new/s1" 0.5 2.0 "mixtures for 4 users"
table "$work/old/s1/inner" 1.0 2.0 "same"
table "$work/new/s1/inner" 3.0 2.0 "same"

python3 "$compare" "$work/old" "$work/new" --label-old A --label-new B >"$work/out" 2>&1 ||
  fail "a plain comparison failed: $(cat "$work/out")"
grep -q '^### s1$' "$work/out" || fail "scenario s1 not compared"
grep -q '^### s1/inner$' "$work/out" || fail "the nested scenario is not found"
grep -q '| Method A | 1.0000 ± 0.1000 | 0.5000 ± 0.1000 | +50.0 % |' "$work/out" ||
  fail "a lower MSE is not a positive change: $(grep 'Method A' "$work/out" | head -1)"
grep -q '| Method B | 2.0000 ± 0.2000 | 2.0000 ± 0.2000 | = |' "$work/out" || fail "an unchanged mean is not '='"
grep -q 'Order, best first (unchanged): Method A > Method B' "$work/out" || fail "the unchanged order is not stated"
grep -q 'Order, best first: A: Method A > Method B; B: Method B > Method A' "$work/out" ||
  fail "the changed order (s1/inner) is not stated"
grep -q -- '- A: mixtures for 3 users' "$work/out" || fail "the changed note is not listed"
grep -q 'same' "$work/out" && fail "an unchanged note is listed"
grep -q '| n = 10, A | n = 10, B | n = 100, A | n = 100, B |' "$work/out" || fail "no curve table at the grid's ends"
grep -q 'A: commit `abc1234`, 2 threads, 12 s' "$work/out" || fail "the runs are not named"

python3 "$compare" "$work/old" "$work/new" --no-curves s1 >"$work/out" 2>&1 || fail "--no-curves with a scenario failed"
grep -q 'n = 10' "$work/out" && fail "--no-curves printed a curve"
grep -q 's1/inner' "$work/out" && fail "a scenario not asked for was compared"

python3 "$compare" "$work/old" "$work/none" >"$work/out" 2>&1
[[ $? -eq 2 ]] || fail "a missing tree should exit 2"
mkdir -p "$work/empty"
python3 "$compare" "$work/old" "$work/empty" >"$work/out" 2>&1
[[ $? -eq 2 ]] || fail "a tree without tables should exit 2"
echo '{"tables": [' >"$work/new/s1/table.json"
python3 "$compare" "$work/old" "$work/new" s1 >"$work/out" 2>&1
[[ $? -eq 2 ]] || fail "a malformed table.json should exit 2: $(cat "$work/out")"
grep -q 's1' "$work/out" || fail "the malformed table is not named"
echo PASS
