#!/usr/bin/env bash
# Drives `lwdock package build`, `lwdock market ...` and `lwdock search` as a
# user would: build packages from files made with the CLI itself, fill a market,
# search it (text and JSON), delete, rebuild; then bad input, each of which
# must exit non-zero with exactly one "lwdock: error: ..." line and change nothing.
#
# usage: test_market_cli.sh PATH/TO/lwdock
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/lwdock" >&2
  exit 2
fi
# shellcheck source=../cli/harness.sh
# shellcheck source=table_packages.sh
source "$(dirname "$0")/table_packages.sh"
source "$(dirname "$0")/harness.sh" market-cli "$1"
expect_error() {
  local want=$1
  shift
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock: error: '"
  pass
}
json_get() { python3 -c "import json,sys; d=json.load(open('stdout.txt')); print($1)"; }

# ---- three learnwares on three blobs of data (3 columns), one CSV each ----
echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
for i in 0 1 2; do
  make_csv "data$i.csv" $((i * 4)) $((i + 1))
  expect_ok spec generate --type table --input "data$i.csv" --k 20 -o "rkme$i.json"
  semantic "sem$i.json" "store $i"
  expect_ok package build --model model.json --spec "rkme$i.json" --semantic "sem$i.json" -o "lw$i.zip"
  [[ -s lw$i.zip ]] || fail "package build wrote no lw$i.zip"
done
# Equal inputs give byte-identical packages.
expect_ok package build --model model.json --spec rkme0.json --semantic sem0.json -o again.zip
cmp -s lw0.zip again.zip || fail "package build is not deterministic"
pass

expect_ok market create market
for i in 0 1 2; do
  expect_ok market add market "lw$i.zip" --owner tester --json
  [[ $(json_get 'd["status"]') == usable ]] || fail "lw$i.zip not usable: $(cat stdout.txt)"
  pass
done
expect_ok market list market --json
[[ $(json_get 'len(d)') -eq 3 ]] || fail "market list does not show 3 learnwares"
pass
ID2=$(json_get 'd[2]["id"]')
ID1=$(json_get 'd[1]["id"]')

# ---- admission: the nearest learnwares, and a near duplicate refused ----
expect_ok market add market lw1.zip --nearest 2 --refuse-duplicates-within 1e-9 --json
[[ $(json_get 'd["status"]') == not_usable ]] || fail "a near duplicate of store 1 was stored as usable"
[[ $(json_get 'd["nearest"][0]["id"]') == "$ID1" && $(json_get 'd["nearest"][0]["same_semantic"]') == True ]] ||
  fail "the nearest learnware is not store 1"
[[ $(json_get 'len(d["nearest"])') -eq 2 ]] || fail "--nearest 2 did not report 2"
grep -q "near duplicate of learnware $ID1" stdout.txt || fail "the reason does not name store 1"
pass
DUP=$(json_get 'd["id"]')
expect_ok market add market lw1.zip --nearest 1
grep -q "^  nearest $ID1 mmd2=" stdout.txt || fail "the text output does not list the nearest learnware"
DUP2=$(head -1 stdout.txt | cut -f1)
expect_error 1 market add market lw1.zip --refuse-duplicates-within 0.1
expect_error_mentions "needs nearest >= 1"
expect_ok market delete market "$DUP"
expect_ok market delete market "$DUP2"

# ---- search: the user's data is store 2's distribution ----
make_csv user.csv 8 77
expect_ok spec generate --type table --input user.csv --k 20 -o user.json
expect_ok search --market market --spec user.json --json
[[ $(json_get 'd["single"][0]["id"]') == "$ID2" ]] || fail "search did not rank store 2 first"
[[ $(json_get 'd["candidates"]') -eq 3 ]] || fail "search compared a wrong number of learnwares"
python3 -c "import json; d=json.load(open('stdout.txt')); assert set(d) == {'candidates','semantic_matches','single','mixture'}; assert set(d['single'][0]) == {'id','score','mmd2'}" ||
  fail "search --json schema changed"
pass
expect_ok search --market market --spec user.json
grep -q "$ID2" stdout.txt || fail "text search output lacks the best id"
pass
# The search index: the same best learnware through either index; `market
# index` builds and saves it, --check reports it up to date, or not.
for kind in exact approx; do
  expect_ok search --market market --spec user.json --index "$kind" --index-min 1 --json
  [[ $(json_get 'd["single"][0]["id"]') == "$ID2" ]] || fail "search --index $kind did not rank store 2 first"
  pass
done
expect_ok market index market
grep -q $'RKMETableSpecification/3\texact\t3 learnwares' stdout.txt || fail "market index did not index 3 learnwares"
pass
expect_ok market index market --check
grep -q $'\tloaded\t' stdout.txt || fail "market index --check does not find the index up to date"
pass
printf 'junk' >>market/search_index/RKMETableSpecification.3.exact.idx
run market index market --check
[[ $status -eq 1 ]] || fail "market index --check accepted a damaged index (status $status)"
grep -q 'damaged\|checksum' stdout.txt || fail "market index --check does not say the index is damaged"
pass
expect_ok market index market
expect_ok market index market --check
pass
# A semantic query alone lists matching ids.
echo '{"Name":{"Values":"store 1","Type":"String"}}' >q.json
expect_ok search --market market --semantic q.json --json
[[ $(json_get 'len(d["single"])') -eq 1 ]] || fail "semantic search for 'store 1' should match one learnware"
pass
# The same search as one request document (the engine's JSON schema) answers the same.
expect_ok search --market market --spec user.json --json
mv stdout.txt by_flags.json
python3 -c "import json; print(json.dumps({'spec': json.load(open('user.json')), 'options': {'max_search_num': 5, 'mixture_method': 'greedy'}}))" >request.json
expect_ok search --market market --request request.json --json
cmp -s stdout.txt by_flags.json || fail "search --request answers differently from --spec"
# The greedy mixture's decay, by flag and by request: the same answer.
expect_ok search --market market --spec user.json --decay 0.99 --json
mv stdout.txt decay_flag.json
python3 -c "import json; print(json.dumps({'spec': json.load(open('user.json')), 'options': {'greedy_decay': 0.99}}))" >decay_request.json
expect_ok search --market market --request decay_request.json --json
cmp -s stdout.txt decay_flag.json || fail "search --request greedy_decay answers differently from --decay"
pass
# The image screen's flags (docs/DESIGN.md §4.7) leave a table search as it was.
expect_ok search --market market --spec user.json --image-screen off --image-exact 2 --json
cmp -s stdout.txt by_flags.json || fail "--image-screen off --image-exact 2 changed a table search"
expect_error 2 search --market market --spec user.json --image-screen maybe
pass
echo '{"spec": null, "options": {"max_search_num": 0}}' >bad_request.json
expect_error 1 search --market market --request bad_request.json
expect_error_mentions "options.max_search_num"
echo '{"spec": null, "optoins": {}}' >bad_request.json
expect_error 1 search --market market --request bad_request.json
expect_error_mentions "optoins"
echo '{"spec": ' >bad_request.json
expect_error 1 search --market market --request bad_request.json
expect_error_mentions "not valid JSON"
expect_error 2 search --market market --request request.json --spec user.json
pass

# ---- model train / predict: a trained model packages and is usable ----
python3 - <<'PY'
import random
r = random.Random(5)
with open("xy.csv", "w") as f, open("xc.csv", "w") as g:
    f.write("a,b,c,y\n"); g.write("a,b,c,label\n")
    for _ in range(400):
        a, b, c = (r.gauss(0, 1) for _ in range(3))
        f.write(f"{a},{b},{c},{a - 2 * b + 0.1 * r.gauss(0, 1)}\n")
        g.write(f"{a},{b},{c},{int(a + b > 0)}\n")
PY
expect_ok model train --kind linear --input xy.csv -o ridge.json
expect_ok model predict --kind linear --model ridge.json --input data0.csv -o pred.csv
[[ $(wc -l <pred.csv) -eq 300 ]] || fail "model predict wrote $(wc -l <pred.csv) rows for 300"
pass
expect_ok model train --kind xgboost --task classification --rounds 20 --input xc.csv -o clf.json
expect_ok model predict --kind xgboost --task classification --output-dim 2 --model clf.json --input data0.csv -o proba.csv
python3 -c "
import csv
rows = [list(map(float, r)) for r in csv.reader(open('proba.csv'))]
assert len(rows) == 300 and all(len(r) == 2 and abs(sum(r) - 1) < 1e-6 for r in rows)" || fail "classifier probabilities"
pass
expect_error 1 model train --kind xgboost --task classification --input xy.csv -o bad.json   # labels not 0..C-1
[[ ! -e bad.json ]] || fail "failed training left bad.json"
pass
expect_error 1 model train --kind linear --input xy.csv --target-column 9 -o bad.json

# ---- a process model that crashes is stored as not usable, with the reason ----
printf '#!/bin/bash\nexit 7\n' >crash.sh
chmod +x crash.sh
expect_ok package build --command ./crash.sh --spec rkme0.json --semantic sem0.json -o crash.zip
expect_ok market add market crash.zip --json
[[ $(json_get 'd["status"]') == not_usable ]] || fail "crashing model was not marked not_usable"
pass
expect_ok market list market --status not_usable
grep -q "prediction failed" stdout.txt || fail "list does not show the checker's reason"
pass

# ---- process models run sandboxed: a huge timeout is capped, the market is out of reach ----
printf '#!/bin/bash\nexec sleep 1000\n' >hang.sh
chmod +x hang.sh
expect_ok package build --command ./hang.sh --timeout 1e30 --spec rkme0.json --semantic sem0.json -o hang.zip
expect_ok market add market hang.zip --json --model-time-cap 1
[[ $(json_get 'd["status"]') == not_usable ]] || fail "a model that never answers was not marked not_usable"
json_get 'd["reason"]' | grep -q "capped by the dock at 1" || fail "the reason does not name the dock's cap"
pass
HANG_ID=$(json_get 'd["id"]')
expect_error 2 market add market hang.zip --model-time-cap 0
printf '#!/bin/bash\necho planted > "%s"; tail -n +2 | awk "{ print 1 }"\n' "$PWD/market/market.h5" >plant.sh
chmod +x plant.sh
expect_ok package build --command ./plant.sh --spec rkme0.json --semantic sem0.json -o plant.zip
expect_ok market add market plant.zip --json
[[ $(json_get 'd["status"]') == usable ]] || fail "a model that answers was not usable: $(json_get 'd["reason"]')"
pass
PLANT_ID=$(json_get 'd["id"]')
python3 -c "import sys; sys.exit(open('market/market.h5', 'rb').read(8) != b'\\x89HDF\\r\\n\\x1a\\n')" ||
  fail "a process model overwrote market.h5 during the check"
pass
expect_ok market delete market "$HANG_ID"
expect_ok market delete market "$PLANT_ID"

# ---- delete, show, rebuild ----
expect_ok market show market "$ID2"
expect_ok market delete market "$ID2"
expect_error 1 market delete market "$ID2"
expect_ok search --market market --spec user.json --json
[[ $(json_get 'd["single"][0]["id"]') != "$ID2" ]] || fail "deleted learnware still found"
pass
cp stdout.txt before.json
rm market/market.h5
# The packages are the truth: the next command re-derives market.h5 by itself.
expect_ok search --market market --spec user.json --json
grep -q "^lwdock: warning: .*rebuilding it from the packages" stderr.txt || fail "no warning about the automatic rebuild"
cmp -s stdout.txt before.json || fail "search after the automatic rebuild differs"
pass
expect_ok market rebuild market
expect_ok search --market market --spec user.json --json
cmp -s stdout.txt before.json || fail "search after rebuild differs"
pass

# ---- bad input: one error line, exit status, nothing stored ----
echo "not a zip" >bad.zip
expect_error 1 market add market bad.zip
expect_ok market list market --json
[[ $(json_get 'len(d)') -eq 3 ]] || fail "a refused package changed the market"
pass
expect_error 1 market create market           # not empty
expect_error 1 market list nowhere
expect_error 2 market list market --status bogus
expect_error 2 search --market market --spec user.json --method best
expect_error 2 search --market market --spec user.json --decay 0
expect_error 2 search --market market --spec user.json --decay 1.2
expect_error 2 search --market market --spec user.json --method auto --decay 0.9
expect_error_mentions "--decay"
expect_error 1 search --market market
head -c 50 user.json >truncated.json
expect_error 1 search --market market --spec truncated.json
expect_error 1 package build --model model.json --spec rkme0.json --semantic truncated.json -o x.zip
[[ ! -e x.zip ]] || fail "failed package build left x.zip"
pass
# ---- limits: one short error line naming the file; the market keeps working ----
expect_error 1 search --market market --spec user.json --max-k 3
grep -q "user.json: K = .* more than the limit of 3" stderr.txt || fail "K limit error does not say so"
pass
python3 - <<'PY'
import json
s = json.load(open("user.json"))
s["z"][0][0] = 1e200
json.dump(s, open("huge.json", "w"))
sem = open("sem0.json").read()
open("absurd.json", "w").write(sem.replace('"Dimension":3', '"Dimension":1e400', 1))
open("longtype.json", "w").write('{"type": "' + "x" * 100000 + '"}')
PY
expect_error 1 search --market market --spec huge.json
grep -q "huge.json: field \"z\": z\[0\]\[0\] = 1e+200 is beyond the limit" stderr.txt || fail "huge z not named"
pass
expect_error 1 search --market market --spec longtype.json
[[ $(wc -c <stderr.txt) -lt 300 ]] || fail "the error quotes the whole input"
pass
expect_error 1 package build --model model.json --spec rkme0.json --semantic absurd.json -o x.zip
grep -q "absurd.json: invalid JSON: number overflow parsing '1e400'" stderr.txt || fail "absurd dimension not named"
pass
expect_ok market list market --json

for cmd in "market" "market add" "market list" "market rebuild" "package build" "search"; do
  # shellcheck disable=SC2086
  expect_ok $cmd --help
done

echo "test_market_cli: $checks checks passed"
