#!/usr/bin/env bash
# Drives `lwdock reuse` and `lwdock evaluate` as a user would: a market of
# learnwares built with the CLI itself, every reuse method on a user's CSV,
# scores of the predictions; then bad input, each of which must exit with the
# documented status (1 runtime, 2 usage) and exactly one "lwdock: error: ..."
# line, and leave no predictions file behind.
#
# usage: test_reuse_cli.sh PATH/TO/lwdock
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/lwdock" >&2
  exit 2
fi
# shellcheck source=../cli/harness.sh
source "$(dirname "$0")/../cli/harness.sh" reuse-cli "$1"
expect_error() {
  local want=$1
  shift
  rm -f out.csv
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock: error: '"
  [[ ! -e out.csv ]] || fail "lwdock $*: wrote out.csv despite the error"
  pass
}
# py 'expression over the CSV files' -> must print True
check_py() {
  local what=$1
  shift
  python3 - "$@" <<PY || fail "$what"
import csv, sys
def rows(path):
    with open(path) as f:
        r = list(csv.reader(f))
    return r[0], [[float(v) for v in row] for row in r[1:]]
ok = $what
sys.exit(0 if ok else 1)
PY
  pass
}

# ---- data: region A around 0, region B around 6 (3 columns) ----
python3 - <<'PY'
import random
r = random.Random(5)
def blob(n, centre):
    return [[centre + r.gauss(0, 1) for _ in range(3)] for _ in range(n)]
def model_a(x): return x[0] + 2 * x[1] - x[2]
def model_b(x): return -x[0] + 5
def write(path, rows, header):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(f"{v:.10g}" for v in row) + "\n")
write("train_a.csv", blob(300, 0), ["a", "b", "c"])
write("train_b.csv", blob(300, 6), ["a", "b", "c"])
user = blob(100, 0) + blob(100, 6)
write("user.csv", user, ["a", "b", "c"])
write("truth.csv", [[model_a(x) if i < 100 else model_b(x)] for i, x in enumerate(user)], ["y"])
labeled = blob(60, 0)
write("labeled_a.csv", [x + [model_a(x)] for x in labeled], ["a", "b", "c", "y"])
write("labels_cls.csv", [x + [1.0 if x[0] > 0 else 0.0] for x in labeled], ["a", "b", "c", "y"])
write("truth_cls.csv", [[1.0 if x[0] > 0 else 0.0] for x in user], ["y"])
write("labeled_bad.csv", [x + [2.0] for x in labeled], ["a", "b", "c", "y"])
write("user_wide.csv", [x + [0.0] for x in user], ["a", "b", "c", "d"])
PY
echo '{"type":"ridge","coef":[[1.0,2.0,-1.0]],"intercept":[0.0]}' >model_a.json
echo '{"type":"ridge","coef":[[-1.0,0.0,0.0]],"intercept":[5.0]}' >model_b.json
echo '{"type":"logistic","coef":[[0.0,0.0,0.0],[4.0,0.0,0.0]],"intercept":[0.0,0.0]}' >model_c.json
echo '{"type":"logistic","coef":[[4.0,0.0,0.0],[0.0,0.0,0.0]],"intercept":[0.0,0.0]}' >model_d.json
semantic() {  # semantic FILE NAME TASK OUTPUTS
  cat >"$1" <<JSON
{"Data":{"Values":["Table"],"Type":"Class"},"Task":{"Values":["$3"],"Type":"Class"},
 "Library":{"Values":["Others"],"Type":"Class"},"Scenario":{"Values":["Business"],"Type":"Tag"},
 "License":{"Values":["MIT"],"Type":"Class"},"Name":{"Values":"$2","Type":"String"},
 "Description":{"Values":"reuse test $2","Type":"String"},
 "Input":{"Dimension":3,"Description":{"0":"a","1":"b","2":"c"}},
 "Output":{"Dimension":$4,"Description":{}}}
JSON
}
expect_ok market create market
ids=()
for spec in "a train_a Regression 1" "b train_b Regression 1" "c train_a Classification 2" "d train_a Classification 2"; do
  read -r name data task outputs <<<"$spec"
  expect_ok spec generate --type table --input "$data.csv" --k 20 -o "rkme_$name.json"
  semantic "sem_$name.json" "model $name" "$task" "$outputs"
  expect_ok package build --model "model_$name.json" --spec "rkme_$name.json" --semantic "sem_$name.json" -o "lw_$name.zip"
  expect_ok market add market "lw_$name.zip" --json
  ids+=("$(python3 -c "import json; d=json.load(open('stdout.txt')); assert d['status']=='usable', d; print(d['id'])")")
done
A=${ids[0]} B=${ids[1]} C=${ids[2]} D=${ids[3]}

# ---- reuse: every method ----
expect_ok reuse --help
grep -q -- '--learnwares' stdout.txt || fail "reuse --help does not list --learnwares"
pass
expect_ok evaluate --help

expect_ok reuse --market market --learnwares "$A,$B" --method averaging --data user.csv -o avg.csv
check_py "rows('avg.csv')[0] == ['prediction'] and len(rows('avg.csv')[1]) == 200 and all(abs(p[0] - ((u[0] + 2*u[1] - u[2]) + (5 - u[0])) / 2) < 1e-9 for p, u in zip(rows('avg.csv')[1], rows('user.csv')[1]))"

expect_ok reuse --market market --learnwares "$A,$B" --method job-selector --data user.csv -o js.csv --seed 3
# Each row takes one learnware's prediction; at least 95% of them the one of its own region.
check_py "sum(abs(p[0] - t[0]) < 1e-9 for p, t in zip(rows('js.csv')[1], rows('truth.csv')[1])) >= 190"
expect_ok evaluate --pred avg.csv --truth truth.csv --metric mse
avg_mse=$(cat stdout.txt)
expect_ok evaluate --pred js.csv --truth truth.csv --metric mse
js_mse=$(cat stdout.txt)
python3 -c "import sys; sys.exit(0 if float('$js_mse') < 0.1 * float('$avg_mse') else 1)" ||
  fail "job selector mse $js_mse is not far below averaging's $avg_mse"
pass

expect_ok reuse --market market --learnwares "$A,$B" --method ensemble-pruning --data user.csv --labeled labeled_a.csv -o ep.csv --seed 1
grep -q "kept $A\b" stderr.txt || fail "ensemble pruning did not keep only $A: $(cat stderr.txt)"
pass
check_py "all(abs(p[0] - (u[0] + 2*u[1] - u[2])) < 1e-9 for p, u in zip(rows('ep.csv')[1], rows('user.csv')[1]))"

expect_ok reuse --market market --learnwares "$A,$B" --method feature-augment --data user.csv --labeled labeled_a.csv -o fa.csv
check_py "rows('fa.csv')[0] == ['prediction'] and len(rows('fa.csv')[1]) == 200"
expect_ok reuse --market market --learnwares "$A" --method feature-augment --mode classification --data user.csv --labeled labels_cls.csv -o fa_cls.csv
check_py "rows('fa_cls.csv')[0] == ['label'] and set(p[0] for p in rows('fa_cls.csv')[1]) <= {0.0, 1.0}"

# Classification: labels by default, scores with --scores; evaluated as accuracy.
expect_ok reuse --market market --learnwares "$C,$D" --method averaging --mode vote_by_label --data user.csv -o vote.csv
# C and D disagree on every row with x0 != 0; the tie goes to the lowest label.
check_py "rows('vote.csv')[0] == ['label'] and all(p[0] == 0.0 for p in rows('vote.csv')[1])"
expect_ok reuse --market market --learnwares "$C,$D" --method averaging --mode vote_by_prob --data user.csv -o probs.csv --scores
check_py "rows('probs.csv')[0] == ['score_0', 'score_1'] and all(abs(p[0] + p[1] - 1) < 1e-12 for p in rows('probs.csv')[1])"
expect_ok reuse --market market --learnwares "$C" --method averaging --data user.csv -o c.csv
expect_ok evaluate --pred c.csv --truth truth_cls.csv --metric accuracy
[[ $(cat stdout.txt) == 1 ]] || fail "learnware C is exact on x0 > 0 but scored $(cat stdout.txt)"
pass
expect_ok evaluate --pred probs.csv --truth truth_cls.csv --metric error
python3 -c "import sys; v=float(open('stdout.txt').read()); sys.exit(0 if 0 <= v <= 1 else 1)" || fail "error rate out of [0, 1]"
pass

# ---- the method registry: one list for reuse, search and the scenarios ----
expect_ok methods list
for m in market top1-reuse job-selector average-ensemble averaging ensemble-pruning feature-augment align align-augment align-prune median-ensemble; do
  grep -q -- "$m" stdout.txt || fail "methods list lacks $m"
done
pass
expect_ok methods list --json
python3 - <<'PY' || fail "methods list --json"
import json
d = json.load(open("stdout.txt"))
assert [m["key"] for m in d["search"]] == ["market"], d["search"]
r = {m["key"]: m for m in d["reuse"]}
assert list(r) == ["top1-reuse", "job-selector", "average-ensemble", "ensemble-pruning", "feature-augment",
                   "align", "align-augment", "align-prune", "median-ensemble"], list(r)
assert r["average-ensemble"]["aliases"] == ["averaging"]
assert r["average-ensemble"]["modes"] == ["mean", "vote_by_prob", "vote_by_label"]
assert r["ensemble-pruning"]["needs_labels"] and r["feature-augment"]["needs_labels"]
assert r["feature-augment"]["modes"] == ["regression", "classification"]
assert not r["median-ensemble"]["needs_labels"] and r["median-ensemble"]["modes"] == []
assert r["align"]["aligns_features"] and not r["align"]["needs_labels"] and r["align"]["modes"] == ["top1", "average"]
assert r["align-augment"]["needs_labels"] and r["align-prune"]["needs_labels"]
assert not r["average-ensemble"]["aligns_features"]
PY
pass
expect_ok reuse --help
for text in median-ensemble "average-ensemble (alias averaging)" "labels: needed" "mean | vote_by_prob | vote_by_label"; do
  grep -qF -- "$text" stdout.txt || fail "reuse --help does not list '$text'"
done
pass
expect_ok search --help
grep -qF -- "--search-method" stdout.txt || fail "search --help lacks --search-method"
grep -q "^Search methods" stdout.txt && grep -q "^  market" stdout.txt || fail "search --help does not list the search methods"
pass

# The example extension (scenarios/examples/median_ensemble.cpp) from the command line.
expect_ok reuse --market market --learnwares "$A,$B" --method median-ensemble --data user.csv -o median.csv
grep -q "median-ensemble over 2 learnware(s)" stderr.txt || fail "median-ensemble summary: $(cat stderr.txt)"
# The median of two predictions is their mean: what averaging gave.
check_py "rows('median.csv')[0] == ['prediction'] and len(rows('median.csv')[1]) == 200 and all(abs(p[0] - a[0]) < 1e-9 for p, a in zip(rows('median.csv')[1], rows('avg.csv')[1]))"
expect_ok reuse --market market --learnwares "$C,$D" --method median-ensemble --data user.csv -o median_cls.csv --scores
check_py "rows('median_cls.csv')[0] == ['score_0', 'score_1'] and all(abs(p[0] + p[1] - 1) < 1e-12 for p in rows('median_cls.csv')[1])"
# Names and aliases reach the same method; top-1 reuses the first learnware named.
expect_ok reuse --market market --learnwares "$A,$B" --method average-ensemble --data user.csv -o avg_key.csv
cmp -s avg.csv avg_key.csv || fail "average-ensemble and its alias averaging differ"
pass
expect_ok reuse --market market --learnwares "$A,$B" --method top1-reuse --data user.csv -o top1.csv
check_py "all(abs(p[0] - (u[0] + 2*u[1] - u[2])) < 1e-9 for p, u in zip(rows('top1.csv')[1], rows('user.csv')[1]))"
# search: --search-method market is the default.
expect_ok search --market market --spec rkme_a.json --json
cp stdout.txt search_default.json
expect_ok search --market market --spec rkme_a.json --json --search-method market
cmp -s stdout.txt search_default.json || fail "--search-method market differs from the default"
pass

# ---- feature alignment: a user of another feature space ----
# The user's table has four columns: learnware A's c, a, 10 b + 3, and a
# column A never saw; their descriptions name them. align maps them into A's
# three columns (a map fitted to the two RKMEs, started from the matching
# descriptions) and predicts through A's model.
python3 - <<'PY2'
import random
r = random.Random(7)
rows = [[r.gauss(0, 1) for _ in range(3)] for _ in range(1000)]
def write(path, rows, header):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(f"{v:.10g}" for v in row) + "\n")
het = [[x[2], x[0], 10 * x[1] + 3, r.gauss(0, 1)] for x in rows]
write("user_het.csv", het, ["c", "a", "b10", "noise"])
write("truth_het.csv", [[x[0] + 2 * x[1] - x[2]] for x in rows], ["y"])
write("labeled_het.csv", [h + [x[0] + 2 * x[1] - x[2]] for h, x in zip(het[:80], rows[:80])], ["c", "a", "b10", "noise", "y"])
PY2
cat >user_het_sem.json <<'JSON'
{"Input":{"Dimension":4,"Description":{"0":"c","1":"a","2":"b","3":"noise"}}}
JSON
cat >user_het_sem_3.json <<'JSON'
{"Input":{"Dimension":3,"Description":{"0":"c","1":"a","2":"b"}}}
JSON
expect_ok reuse --market market --learnwares "$A" --method align --data user_het.csv --user-semantic user_het_sem.json -o align.csv --seed 2
grep -q "aligned $A MMD" stderr.txt && grep -q "descriptions start" stderr.txt || fail "align summary: $(cat stderr.txt)"
pass
# Within a fifth of the target's spread (measured: 0.087; the RKMEs
# summarise 300 and 1000 rows, and the two samples' own differences count).
check_py "(lambda p, t: (sum((a[0] - b[0])**2 for a, b in zip(p, t)) / sum((b[0] - sum(x[0] for x in t) / len(t))**2 for b in t)) ** 0.5 < 0.2)(rows('align.csv')[1], rows('truth_het.csv')[1])"
expect_ok reuse --market market --learnwares "$A" --method align --data user_het.csv --user-semantic user_het_sem.json -o align_again.csv --seed 2
cmp -s align.csv align_again.csv || fail "align is not deterministic for a seed"
pass
# Without descriptions it still runs (the starts come from the columns' moments).
expect_ok reuse --market market --learnwares "$A" --method align --data user_het.csv -o align_plain.csv
check_py "len(rows('align_plain.csv')[1]) == 1000"
expect_ok reuse --market market --learnwares "$A,$B" --method align --mode average --data user_het.csv --user-semantic user_het_sem.json -o align_avg.csv
grep -q "aligned $B MMD" stderr.txt || fail "align average did not align $B: $(cat stderr.txt)"
pass
expect_ok reuse --market market --learnwares "$A,$B" --method align-augment --data user_het.csv --labeled labeled_het.csv --user-semantic user_het_sem.json -o align_fa.csv
check_py "rows('align_fa.csv')[0] == ['prediction'] and len(rows('align_fa.csv')[1]) == 1000"
expect_ok reuse --market market --learnwares "$A,$B" --method align-prune --data user_het.csv --labeled labeled_het.csv --user-semantic user_het_sem.json -o align_ep.csv --seed 1
grep -q "kept $A\b" stderr.txt || fail "align-prune did not keep only $A: $(cat stderr.txt)"
pass
# Bad input: another width without an align method, descriptions for another
# width, descriptions for a method that does not align.
expect_error 1 reuse --market market --learnwares "$A" --method averaging --data user_het.csv -o out.csv
grep -q "user_het.csv has 4 column(s) but learnware $A reads 3 (for learnwares of another feature space: --method align" stderr.txt ||
  fail "width mismatch: $(cat stderr.txt)"
pass
expect_error 1 reuse --market market --learnwares "$A" --method align --data user_het.csv --user-semantic user_het_sem_3.json -o out.csv
grep -q "user_het_sem_3.json: Input describes 3 column(s), --data has 4" stderr.txt || fail "descriptions width: $(cat stderr.txt)"
pass
expect_error 1 reuse --market market --learnwares "$A" --method align --data user_het.csv --user-semantic missing.json -o out.csv
expect_error 2 reuse --market market --learnwares "$A" --method averaging --data user.csv --user-semantic user_het_sem.json -o out.csv
grep -q "does not align features" stderr.txt || fail "--user-semantic without align: $(cat stderr.txt)"
pass
expect_error 2 reuse --market market --learnwares "$A" --method align --mode median --data user_het.csv -o out.csv
expect_error 2 reuse --market market --learnwares "$A" --method align-augment --data user_het.csv -o out.csv

# ---- evaluate on known values ----
printf 'p\n1\n2\n3\n' >p.csv
printf 'y\n1\n4\n0\n' >y.csv
expect_ok evaluate --pred p.csv --truth y.csv --metric mse
[[ $(cat stdout.txt) == 4.333333333 ]] || fail "mse of known values: $(cat stdout.txt)"
pass
expect_ok evaluate --pred p.csv --truth y.csv --metric rmse
[[ $(cat stdout.txt) == 2.081665999 ]] || fail "rmse of known values: $(cat stdout.txt)"
pass

# ---- errors ----
expect_error 2 reuse --market market --learnwares "$A" --method stacking --data user.csv -o out.csv
grep -qF "unknown reuse method 'stacking' (registered: top1-reuse, job-selector, average-ensemble (alias averaging)," stderr.txt &&
  grep -q "median-ensemble)" stderr.txt || fail "unknown method: the error does not list the registered ones: $(cat stderr.txt)"
pass
expect_error 2 reuse --market market --learnwares "$A,$B" --method median-ensemble --mode mean --data user.csv -o out.csv
grep -q "not a mode of --method median-ensemble (it has none)" stderr.txt || fail "mode of median-ensemble: $(cat stderr.txt)"
pass
expect_error 2 reuse --market market --learnwares "$A,$B" --method median-ensemble --data user.csv --labeled labeled_a.csv -o out.csv
rm -f out.csv
run search --market market --spec rkme_a.json --search-method nearest
[[ $status -eq 2 ]] || fail "unknown search method exited $status, expected 2"
grep -qF "unknown search method 'nearest' (registered: market)" stderr.txt || fail "unknown search method: $(cat stderr.txt)"
[[ ! -s stdout.txt ]] || fail "unknown search method: wrote to stdout"
pass
expect_error 2 reuse --market market --learnwares "$A" --method ensemble-pruning --data user.csv -o out.csv
expect_error 2 reuse --market market --learnwares "$A" --method averaging --data user.csv --labeled labeled_a.csv -o out.csv
expect_error 2 reuse --market market --learnwares "$A" --method ensemble-pruning --mode mean --data user.csv --labeled labeled_a.csv -o out.csv
expect_error 2 reuse --market market --learnwares "$A,$B" --method job-selector --mode regression --data user.csv -o out.csv
expect_error 2 reuse --market market --learnwares "," --method averaging --data user.csv -o out.csv
expect_error 2 reuse --market market --method averaging --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A,99999999" --method averaging --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A,$A" --method averaging --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A,$C" --method averaging --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A" --method averaging --mode vote_by_prob --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A" --method averaging --data user_wide.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A" --method averaging --data missing.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$A" --method averaging --data user.csv -o no/such/dir/out.csv
grep -q 'does not exist' stderr.txt || fail "output into a missing directory: $(cat stderr.txt)"
pass
expect_error 1 reuse --market nowhere --learnwares "$A" --method averaging --data user.csv -o out.csv
expect_error 1 reuse --market market --learnwares "$C,$D" --method ensemble-pruning --data user.csv --labeled labeled_bad.csv -o out.csv
grep -q 'out of range' stderr.txt || fail "labels out of range: $(cat stderr.txt)"
pass
expect_error 1 reuse --market market --learnwares "$A" --method feature-augment --data user.csv --labeled user.csv -o out.csv
expect_error 1 evaluate --pred p.csv --truth truth.csv --metric mse
expect_error 1 evaluate --pred avg.csv --truth truth_cls.csv --metric accuracy
expect_error 2 evaluate --pred p.csv --truth y.csv --metric r2
expect_error 2 evaluate --pred p.csv --metric mse

echo "reuse CLI: $checks checks passed"
