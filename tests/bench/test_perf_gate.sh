#!/usr/bin/env bash
# bench/perf_gate.py on made-up runs: a run whose ratios hold passes, one whose
# ratio fell below half its baseline fails with exit 1 and names it, a run
# missing a benchmark fails, an unreadable baseline is exit 2, and --update
# rewrites the ratios.
set -uo pipefail
gate="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {  # run FILE SLOW_MS FAST_MS
  cat >"$1" <<JSON
{"context": {"host_name": "test", "num_cpus": 2},
 "benchmarks": [
  {"name": "BM_Slow/1/real_time_median", "run_name": "BM_Slow/1/real_time", "run_type": "aggregate",
   "aggregate_name": "median", "real_time": $2},
  {"name": "BM_Slow/1/real_time_mean", "run_name": "BM_Slow/1/real_time", "run_type": "aggregate",
   "aggregate_name": "mean", "real_time": 1e9},
  {"name": "BM_Fast/1/real_time_median", "run_name": "BM_Fast/1/real_time", "run_type": "aggregate",
   "aggregate_name": "median", "real_time": $3}]}
JSON
}
cat >"$work/base.json" <<'JSON'
{"ratios": [{"name": "slow over fast", "slow": "BM_Slow/1/real_time", "fast": "BM_Fast/1/real_time", "ratio": 10}],
 "min_fraction": 0.5}
JSON
fail() { echo "FAIL: $*"; exit 1; }

run "$work/good.json" 80 10      # 8x: above half of 10x (the mean is ignored)
python3 "$gate" "$work/good.json" "$work/base.json" >"$work/out" 2>&1 || fail "a ratio of 8 against 10 should pass: $(cat "$work/out")"
grep -q "8.00x" "$work/out" || fail "the ratio is not printed: $(cat "$work/out")"

run "$work/bad.json" 40 10       # 4x: below half of 10x
python3 "$gate" "$work/bad.json" "$work/base.json" >"$work/out" 2>&1
[[ $? -eq 1 ]] || fail "a ratio of 4 against 10 should fail with exit 1"
grep -q "slow over fast" "$work/out" || fail "the failing ratio is not named"

cat >"$work/missing.json" <<'JSON'
{"benchmarks": [{"name": "BM_Fast/1/real_time", "real_time": 1}]}
JSON
python3 "$gate" "$work/missing.json" "$work/base.json" >"$work/out" 2>&1
[[ $? -eq 1 ]] || fail "a run without a benchmark of the baseline should fail"
grep -q "not in the run" "$work/out" || fail "the missing benchmark is not reported"

echo '{not json' >"$work/broken.json"
python3 "$gate" "$work/good.json" "$work/broken.json" >"$work/out" 2>&1
[[ $? -eq 2 ]] || fail "an unreadable baseline should be exit 2"

cp "$work/base.json" "$work/updated.json"
python3 "$gate" "$work/bad.json" "$work/updated.json" --update --measured "test" >"$work/out" 2>&1 || fail "--update failed"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['ratios'][0]['ratio'] == 4.0 and d['measured'] == 'test', d" \
  "$work/updated.json" || fail "--update did not rewrite the ratio"
echo "perf_gate: all cases behave"
