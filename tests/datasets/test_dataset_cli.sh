#!/usr/bin/env bash
# Drives `lwdock dataset retail ...` as a user would: info, exports (market and
# user feature spaces) that `lwdock spec generate` accepts, a small transfer
# table, and bad input that must exit non-zero with exactly one
# "lwdock: error: ..." line and no output.
#
# usage: test_dataset_cli.sh PATH/TO/lwdock
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/lwdock" >&2
  exit 2
fi
# shellcheck source=../cli/harness.sh
source "$(dirname "$0")/../cli/harness.sh" dataset-cli "$1"
# expect_error STATUS OUTPUT TEXT ARGS...: fails with STATUS, one error line
# mentioning TEXT, nothing on stdout, OUTPUT (or - for none) not created.
expect_error() {
  local want=$1 output=$2 text=$3
  shift 3
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock: error: '"
  grep -qF -- "$text" stderr.txt || fail "lwdock $*: error does not mention '$text'"
  [[ ! -s stdout.txt ]] || fail "lwdock $*: wrote to stdout on error"
  if [[ $output != - && -e $output ]]; then fail "lwdock $*: created $output"; fi
  pass
}

# ---- help and info -----------------------------------------------------------
for cmd in "dataset" "dataset retail" "dataset retail info" "dataset retail export" "dataset retail transfer-table"; do
  # shellcheck disable=SC2086
  expect_ok $cmd --help
  grep -q '^Usage: lwdock' stdout.txt || fail "lwdock $cmd --help prints no usage"
done
expect_ok dataset retail info
grep -Eq '^  compact +9 ' stdout.txt || fail "info does not list compact with width 9"
grep -Eq '^  full +34 ' stdout.txt || fail "info does not list full with width 34"
grep -Eq '^  pfs +60 ' stdout.txt || fail "info does not list 60 pfs stores"
grep -Eq '^  pos_daily +12 +units_yesterday,' stdout.txt || fail "info does not list the user space pos_daily, 12 wide"
grep -Eq '^  pos_trend +18 ' stdout.txt || fail "info does not list the user space pos_trend, 18 wide"
grep -Eq '^  pos_promo +11 ' stdout.txt || fail "info does not list the user space pos_promo, 11 wide"
pass
expect_ok dataset retail export --help
grep -q 'compact,pos_daily,pos_trend,pos_promo' stdout.txt || fail "export --help does not list the user spaces"
pass

# ---- export ------------------------------------------------------------------
expect_ok dataset retail export --chain m5 --store 3 --space weekly_onehot --split test --label log1p_units \
  --labels-out y.csv -o x.csv
[[ $(head -1 x.csv | tr ',' '\n' | wc -l) -eq 22 ]] || fail "weekly_onehot export is not 22 columns wide"
[[ $(head -1 x.csv) == lag_7,* ]] || fail "export header does not start with lag_7"
# 91 test days x 50 items, plus the header line.
[[ $(wc -l <x.csv) -eq $((91 * 50 + 1)) ]] || fail "test split of an m5 store is not 91 x 50 rows"
[[ $(wc -l <y.csv) -eq $((91 * 50 + 1)) ]] || fail "labels do not match the rows"
[[ $(head -1 y.csv) == log1p_units ]] || fail "label header is not log1p_units"
pass
# Same seed, same bytes; another seed, other bytes.
expect_ok dataset retail export --chain m5 --store 3 --space weekly_onehot --split test -o x2.csv
cmp -s x.csv x2.csv || fail "two exports with the same seed differ"
expect_ok dataset retail export --chain m5 --store 3 --space weekly_onehot --split test --seed 5 -o x3.csv
if cmp -s x.csv x3.csv; then fail "exports with different seeds are identical"; fi
# The export is what `spec generate` takes.
expect_ok dataset retail export --chain pfs --store 0 --space compact --test-days 600 --split train -o small.csv
expect_ok spec generate -i small.csv --k 10 -o spec.json
expect_ok spec inspect spec.json
grep -q '^d: 9$' stdout.txt || fail "spec of the compact space is not 9 wide"

# A user feature space: its own columns, the market's rows and labels.
expect_ok dataset retail export --chain m5 --store 3 --space pos_daily --split test --label log1p_units \
  --labels-out yu.csv -o xu.csv
[[ $(head -1 xu.csv | tr ',' '\n' | wc -l) -eq 12 ]] || fail "pos_daily export is not 12 columns wide"
[[ $(head -1 xu.csv) == units_yesterday,* ]] || fail "pos_daily header does not start with units_yesterday"
[[ $(wc -l <xu.csv) -eq $(wc -l <x.csv) ]] || fail "pos_daily rows differ in number from weekly_onehot's"
cmp -s y.csv yu.csv || fail "pos_daily labels differ from weekly_onehot's (rows not aligned)"
pass
expect_ok dataset retail export --chain pfs --store 0 --space pos_promo --test-days 600 --split train -o small_user.csv
expect_ok spec generate -i small_user.csv --k 10 -o spec_user.json
expect_ok spec inspect spec_user.json
grep -q '^d: 11$' stdout.txt || fail "spec of the pos_promo space is not 11 wide"

expect_error 2 out.csv "walmart" dataset retail export --chain walmart -o out.csv
expect_error 2 out.csv "lags" dataset retail export --space lags -o out.csv
grep -qF 'compact,pos_daily,pos_trend,pos_promo' stderr.txt || fail "unknown --space error does not list the user spaces"
expect_error 2 out.csv "--store" dataset retail export --store -1 -o out.csv
expect_error 2 - "--output" dataset retail export
expect_error 1 out.csv "stores 0..9" dataset retail export --chain m5 --store 10 -o out.csv
expect_error 1 out.csv "leave no training rows" dataset retail export --test-days 700 -o out.csv
expect_error 1 - "does not exist" dataset retail export -o missing/out.csv

# ---- transfer table (small) --------------------------------------------------
expect_ok dataset retail transfer-table --stores-per-chain 2 --space compact --label log1p_units --rounds 10 --out t.md
grep -q '^| compact | 9 | log1p_units |' t.md || fail "transfer table lacks the compact row"
grep -q '^| corporacion | log1p_units |' t.md || fail "transfer table lacks the corporacion row"
expect_error 2 - "--stores-per-chain" dataset retail transfer-table --stores-per-chain 1

echo "ok: $checks checks"
