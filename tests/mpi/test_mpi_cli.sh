#!/usr/bin/env bash
# `mpirun -np N lwdock search` and `mpirun -np N lwdock scenario run` against
# one process: the same answer byte for byte (search, text and --json; the
# scenario's table.md, table.json and curve.csv), run.json recording N ranks,
# and the commands and options that do not run on several ranks refused.
#   test_mpi_cli.sh LWDOCK MPIRUN N
set -euo pipefail
source "$(dirname "$0")/../cli/harness.sh" "mpi-$3" "$1"
MPIRUN=$2
NP=$3
# Open MPI refuses root unless told; CI runs as root. --oversubscribe: more
# ranks than cores is fine for a test.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() {
  set +e
  "$MPIRUN" --oversubscribe -np "$NP" "$LWDOCK" --threads 1 "$@" >stdout.txt 2>stderr.txt
  status=$?
  set -e
}
mpi_ok() {
  mpi "$@"
  [[ $status -eq 0 ]] || fail "mpirun -np $NP lwdock $* exited $status"
  pass
}

# A market of 9 table learnwares (3 stores of each chain) and a user from
# another store of the first chain.
expect_ok market build m --tabular --stores-per-chain 3 --space compact --label log1p_units --quiet
expect_ok dataset retail export --chain pfs --store 7 --space compact --split test -o user.csv
expect_ok spec generate --type table --input user.csv --k 30 -o user.json

for args in "--json" "" "--max 3 --method auto --json" "--max 1 --json"; do
  # shellcheck disable=SC2086
  expect_ok --threads 1 search --market m --spec user.json $args
  cp stdout.txt one.txt
  # shellcheck disable=SC2086
  mpi_ok search --market m --spec user.json $args
  cmp -s one.txt stdout.txt || fail "search $args on $NP ranks differs from one process: $(diff one.txt stdout.txt | head -5)"
  pass
done
grep -q '"single"' one.txt || fail "search --json printed no singles"

# A scenario: 5 users over N ranks (some ranks run more users than others).
scenario=(scenario run tabular-homo --market m --quiet --param users=5 --param spaces=compact/log1p_units
          --param grid=20,60 --param repeats=2 --reuse top1-reuse,average-ensemble,job-selector,feature-augment)
expect_ok --threads 1 "${scenario[@]}" --out one
mpi_ok "${scenario[@]}" --out many
for f in table.md table.json curve.csv; do
  cmp -s "one/$f" "many/$f" || fail "scenario $f on $NP ranks differs from one process: $(diff "one/$f" "many/$f" | head -5)"
  pass
done
python3 - "$NP" <<'PY' || fail "run.json does not record $NP ranks"
import json, sys
run = json.load(open("many/run.json"))
assert run["extra"]["ranks"] == int(sys.argv[1]), run["extra"].get("ranks")
assert run["command_line"].startswith("mpirun -np " + sys.argv[1] + " "), run["command_line"]
PY
pass
[[ $(grep -c 'Top-1 Reuse' many/table.md) -ge 1 ]] || fail "the scenario's table lacks its rows"
pass

# What does not share its work is refused, on one line from rank 0.
mpi market list m
[[ $status -ne 0 ]] || fail "mpirun lwdock market list succeeded"
grep -q "lwdock: error: lwdock market list: runs as one process; under mpirun ($NP ranks)" stderr.txt ||
  fail "mpirun lwdock market list: no error naming the command"
[[ $(grep -c '^lwdock: error:' stderr.txt) -eq 1 ]] || fail "the usage error was printed more than once"
pass
mpi search --market m --spec user.json --index exact
[[ $status -ne 0 ]] || fail "mpirun lwdock search --index succeeded"
grep -q "lwdock: error: --index: a search under mpirun scans the pack on every rank" stderr.txt ||
  fail "mpirun lwdock search --index: no error naming the option"
pass
echo "MPI on $NP ranks: $checks checks passed"
