#!/usr/bin/env bash
# `lwdock market build`, driven as a user would drive it: a tiny tabular
# market, the summary lines, build.json, a resumed rerun, and the usage errors.
# Usage: test_market_build_cli.sh PATH/TO/lwdock
set -euo pipefail
source "$(dirname "$0")/../cli/harness.sh" market_build "$1"

expect_error() {
  local want=$1
  shift
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $* printed more than one error line"
  grep -q "^lwdock: error: " stderr.txt || fail "lwdock $* error line lacks the prefix"
  pass
}

expect_ok market build --help
grep -q -- "--stores-per-chain" stdout.txt || fail "--help does not list --stores-per-chain"
pass

# ---- a tiny tabular market: 3 chains x 1 store x 1 space x 1 label ----
expect_ok --threads 2 market build --tabular --stores-per-chain 1 --space compact --label units --quiet market
grep -q "3 learnware(s) added, 0 already there" stdout.txt || fail "summary does not count 3 added"
grep -q "usable 3 (tabular 3, image 0, text 0), not usable or invalid 0" stdout.txt || fail "summary counts"
grep -q "size on disk" stdout.txt || fail "summary lacks the size on disk"
[[ ! -s stderr.txt ]] || fail "--quiet still printed progress"
pass
[[ -f market/build.json ]] || fail "no build.json"
python3 -c "import json,sys; d=json.load(open('market/build.json')); assert d['seed']==1 and d['last_run']['added']==3" ||
  fail "build.json content"
pass
expect_ok market list market --json
python3 -c "
import json; d=json.load(open('stdout.txt'))
names=sorted(r['name'] for r in d)
assert names==['retail-corporacion-s000-compact-units','retail-m5-s000-compact-units','retail-pfs-s000-compact-units'], names
assert all(r['status']=='usable' for r in d)" || fail "market list after the build"
pass

# ---- a rerun resumes: nothing added ----
expect_ok market build --tabular --stores-per-chain 1 --space compact --label units market
grep -q "0 learnware(s) added, 3 already there" stdout.txt || fail "rerun added learnwares"
pass

# ---- usage and runtime errors ----
expect_error 2 market build market                                   # nothing selected
expect_error 2 market build --tabular --stores-per-chain -1 market
expect_error 2 market build --tabular --space bogus market
expect_error 2 market build --tabular --label dollars market
expect_error 2 market build --tabular --text-encoder bert market
expect_error 2 market build --tabular --bogus market
expect_error 2 market build --tabular
expect_error 1 market build --tabular --seed 7 --stores-per-chain 1 --space compact --label units market  # other seed
grep -q "same seed" stderr.txt || fail "seed mismatch message"
pass
expect_error 1 market build --image --data-dir "$WORK/no-data" market2
grep -q "lwdock data fetch" stderr.txt || fail "missing data message lacks the fetch command"
[[ ! -e market2 ]] || fail "a build that failed for want of data created the market"
pass

echo "test_market_build_cli: $checks checks passed"
