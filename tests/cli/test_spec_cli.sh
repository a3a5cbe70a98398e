#!/usr/bin/env bash
# Drives `lwdock spec ...` as a user would: the happy path end to end, then
# every kind of bad input, each of which must exit non-zero with exactly one
# "lwdock: error: ..." line on stderr and leave no (or the old) output file.
#
# usage: test_spec_cli.sh PATH/TO/lwdock PATH/TO/tests/data
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock PATH/TO/tests/data" >&2
  exit 2
fi
# Absolute before the harness changes into its scratch directory.
DATA=$(realpath "$2")
# shellcheck source=harness.sh
source "$(dirname "$0")/harness.sh" cli-test "$1"

# expect_untouched STATUS OUTPUT ARGS...: as expect_error, but OUTPUT exists
# beforehand and must keep its content.
expect_untouched() {
  local want=$1 output=$2
  shift 2
  echo "previous content" >"$output"
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock: error: '"
  [[ $(cat "$output") == "previous content" ]] || fail "lwdock $*: modified $output"
  rm -f "$output"
  pass
}

is_tiny() { awk -v v="$1" 'BEGIN { exit !(v + 0 < 1e-12 && v + 0 > -1e-12) }'; }
is_positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

# ---- help and version --------------------------------------------------------
for cmd in "" "spec" "spec generate" "spec dist" "spec inspect" "spec herd"; do
  # shellcheck disable=SC2086
  expect_ok $cmd --help
  grep -q '^Usage: lwdock' stdout.txt || fail "lwdock $cmd --help printed no usage"
done
# `lwdock serve` hands every argument, --help too, to the dock service's program.
expect_ok serve --help
grep -q -- '--market' stdout.txt || fail "lwdock serve --help printed no server options: '$(head -3 stdout.txt)'"
expect_ok --version
grep -q '^lwdock ' stdout.txt || fail "--version printed '$(cat stdout.txt)'"
# A build with LW_JEMALLOC runs on jemalloc with huge pages for its heap (apps/lwdock/allocator.cpp).
if [[ "${LWD_EXPECT_JEMALLOC:-}" == 1 ]]; then
  grep -q 'allocator: jemalloc .*thp:always' stdout.txt || fail "--version names no jemalloc with thp: '$(cat stdout.txt)'"
elif [[ "${LWD_EXPECT_JEMALLOC:-}" == 0 ]]; then
  grep -q "allocator: the C library's malloc" stdout.txt || fail "--version names another allocator: '$(cat stdout.txt)'"
else
  fail "LWD_EXPECT_JEMALLOC is not set (tests/CMakeLists.txt sets it)"
fi

# ---- generate -> inspect -> dist -> herd ---------------------------------------
expect_ok spec generate --type table --input "$DATA/table_small.csv" --k 10 --seed 1 -o a.json
[[ ! -s stdout.txt ]] || fail "generate wrote to stdout"
grep -q 'table_small.csv' stderr.txt || fail "generate printed no summary on stderr"
[[ -s a.json ]] || fail "generate wrote no a.json"
grep -q '"cuda_idx":-1' a.json || fail "a.json lacks the reference's cuda_idx field"
grep -q '"type":"RKMETableSpecification"' a.json || fail "a.json lacks the type field"

expect_ok spec inspect a.json
grep -qx 'type: RKMETableSpecification' stdout.txt || fail "inspect: type line"
grep -qx 'K: 10' stdout.txt || fail "inspect: K line"
grep -qx 'd: 3' stdout.txt || fail "inspect: d line"
grep -qx 'gamma: 0.1' stdout.txt || fail "inspect: gamma line"
grep -qx 'num_points: 60' stdout.txt || fail "inspect: num_points line"
grep -q '^sum(beta): ' stdout.txt || fail "inspect: sum(beta) line"
[[ $(wc -l <stdout.txt) -eq 6 ]] || fail "inspect printed $(wc -l <stdout.txt) lines"

expect_ok spec inspect --json a.json
grep -q '"K":10' stdout.txt || fail "inspect --json: $(cat stdout.txt)"

expect_ok spec dist a.json a.json
[[ $(wc -l <stdout.txt) -eq 1 ]] || fail "dist printed more than one line"
is_tiny "$(cat stdout.txt)" || fail "dist(A, A) = $(cat stdout.txt), expected 0"

expect_ok spec generate --input "$DATA/table_small.csv" --k 10 --seed 1 -o a_again.json
cmp -s a.json a_again.json || fail "the same seed gave a different spec"
pass

expect_ok spec generate --input "$DATA/table_small.csv" --no-reduce -o full.json
expect_ok spec inspect full.json
grep -qx 'K: 60' stdout.txt || fail "--no-reduce kept $(grep '^K' stdout.txt)"

expect_ok --threads 1 spec generate --input "$DATA/table_small.csv" --k 5 --gamma 0.5 --steps 1 --construction kmeans++ --step-size 0.05 -o b.json
expect_ok spec dist a.json b.json
d_ab=$(cat stdout.txt)
is_positive "$d_ab" || fail "dist(A, B) = $d_ab, expected > 0"

# The three constructions: the same K and seed, each a valid spec; herding-descent
# lands closer to the data than the reference's algorithm (bench/README.md).
for construction in kmeans++ reference herding-descent; do
  expect_ok spec generate --input "$DATA/table_small.csv" --k 10 --seed 1 --construction "$construction" -o "c-$construction.json"
  expect_ok spec dist "c-$construction.json" full.json
  eval "d_${construction//[^a-z]/_}=$(cat stdout.txt)"
done
cmp -s a.json c-herding-descent.json || fail "--construction herding-descent is not the default"
awk -v a="$d_herding_descent" -v b="$d_reference" 'BEGIN { exit !(a < b) }' ||
  fail "herding-descent is $d_herding_descent from the data, the reference's algorithm $d_reference"
expect_ok --threads 1 spec generate --input "$DATA/table_small.csv" --k 10 --seed 1 --construction herding-descent -o c-one.json
cmp -s c-herding-descent.json c-one.json || fail "herding-descent differs between 1 and the default thread count"
pass

expect_ok spec generate --input "$DATA/table_no_header.csv" --k 4 -o c.json
expect_ok spec dist c.json "$DATA/spec_reference_table.json"

expect_ok spec inspect "$DATA/spec_reference_table.json"
grep -qx 'K: 3' stdout.txt || fail "reference fixture: $(cat stdout.txt)"

expect_ok spec herd a.json -n 7 --seed 2 -o samples.csv
[[ $(wc -l <samples.csv) -eq 7 ]] || fail "herd wrote $(wc -l <samples.csv) rows, expected 7"
awk -F, 'NF != 3 { exit 1 }' samples.csv || fail "herd rows do not have 3 columns"
pass

# ---- bad input: runtime errors (exit 1) ----------------------------------------
expect_error 1 out.json spec generate --input missing.csv -o out.json
expect_error_mentions "missing.csv"
expect_error 1 out.json spec generate --input "$DATA/table_ragged.csv" -o out.json
expect_error_mentions "table_ragged.csv:4:"
expect_error 1 out.json spec generate --input "$DATA/table_non_numeric.csv" -o out.json
expect_error_mentions "table_non_numeric.csv:3: column 2"
expect_error 1 out.json spec generate --input "$DATA/table_header_only.csv" -o out.json
expect_error_mentions "no data rows"
expect_error 1 out.json spec generate --input "$DATA/table_all_missing_column.csv" -o out.json
expect_error 1 - spec generate --input "$DATA/table_small.csv" -o no/such/dir/out.json
expect_error_mentions "does not exist"
expect_error 1 - spec inspect missing.json
expect_error 1 - spec inspect "$DATA/spec_python_nan.json"
expect_error_mentions "non-finite number (NaN/Infinity)"
expect_error 1 - spec inspect "$DATA/table_small.csv"
expect_error_mentions "invalid JSON"
expect_error 1 - spec dist a.json "$DATA/spec_reference_table.json"
expect_error_mentions "different widths"
expect_error 1 - spec dist a.json missing.json
expect_error 1 out.csv spec herd "$DATA/spec_python_nan.json" -n 3 -o out.csv

printf '{"z":[[1,2],[3]],"beta":[0.5,0.5],"gamma":0.1,"num_points":2,"type":"RKMETableSpecification"}' >ragged.json
expect_error 1 - spec inspect ragged.json
expect_error_mentions "ragged"
printf '{"z":[[1,2]],"beta":[0.5,0.5],' >truncated.json
expect_error 1 - spec inspect truncated.json

# ---- bad input: usage errors (exit 2) -------------------------------------------
expect_error 2 out.json spec generate --type video --input "$DATA/table_small.csv" -o out.json
expect_error_mentions "unknown spec type 'video'; supported: table, text, image"
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --k 0 -o out.json
expect_error_mentions "--k"
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --gamma -0.1 -o out.json
expect_error_mentions "--gamma"
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --gamma 0 -o out.json
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --steps -1 -o out.json
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --construction lloyd -o out.json
expect_error_mentions "unknown construction 'lloyd'; supported: kmeans++, reference, herding-descent"
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --construction herding-descent --step-size 0.2 -o out.json
expect_error_mentions "--step-size"
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --k ten -o out.json
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" --seed -1 -o out.json
expect_error 2 out.json spec generate --input "$DATA/table_small.csv" -o out.json --no-such-option
expect_error 2 - spec generate --input "$DATA/table_small.csv"
expect_error 2 out.json spec generate -o out.json
expect_error 2 out.csv spec herd a.json -n 0 -o out.csv
expect_error 2 - spec herd a.json -n 3
expect_error 2 - spec dist a.json
expect_error 2 - spec
expect_error 2 -
expect_error 2 - --threads -2 spec inspect a.json

# ---- failures never clobber an existing output --------------------------------
expect_untouched 1 keep.json spec generate --input "$DATA/table_ragged.csv" -o keep.json
expect_untouched 1 keep.json spec generate --input "$DATA/table_all_missing_column.csv" -o keep.json
expect_untouched 2 keep.json spec generate --input "$DATA/table_small.csv" --k 0 -o keep.json
expect_untouched 1 keep.csv spec herd "$DATA/spec_python_nan.json" -n 3 -o keep.csv
expect_untouched 2 keep.csv spec herd a.json -n -1 -o keep.csv

# No temporary files left behind by any of the above.
leftovers=$(find . -name '.*.tmp.*' | wc -l)
[[ $leftovers -eq 0 ]] || fail "$leftovers temporary files left behind"
pass

echo "test_spec_cli: $checks checks passed"
