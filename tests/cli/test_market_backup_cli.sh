#!/usr/bin/env bash
# `lwdock market backup` and `lwdock market restore` as an administrator runs
# them: a round trip gives the same listing, packages and search answer; the
# id counter goes on; backups taken while other lwdock processes add and
# delete each restore to a consistent market; --keep prunes; the same through
# PostgreSQL (--db) and from it back to SQLite. Then the mistakes, each one
# error line that changes nothing.
#
# usage: test_market_backup_cli.sh PATH/TO/lwdock URL_FILE
# URL_FILE holds the test server's URL (scripts/pg-test-cluster.sh); with
# LWDOCK_TEST_NO_POSTGRES=1 and no server, the PostgreSQL part is skipped.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock URL_FILE" >&2
  exit 2
fi
URL_FILE=$2
# shellcheck source=harness.sh
source "$(dirname "$0")/harness.sh" market-backup-cli "$1"
json_get() { python3 -c "import json,sys; d=json.load(open('stdout.txt')); print($1)"; }
# The listing and the search answer of a market, to compare two markets by.
describe() {  # describe DIR [--db URL] > FILE
  "$LWDOCK" market list "$@" --json
  "$LWDOCK" search --market "$@" --spec user.json --json
}

# ---- three learnwares on three blobs of data (3 columns) ----
python3 - <<'PY'
import random
for i, centre in enumerate((0.0, 4.0, 8.0, 7.0)):
    r = random.Random(i + 1)
    name = f"data{i}.csv" if i < 3 else "user.csv"
    with open(name, "w") as f:
        f.write("a,b,c\n")
        for _ in range(200):
            f.write(",".join(f"{centre + r.gauss(0, 1):.6f}" for _ in range(3)) + "\n")
PY
echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
for i in 0 1 2; do
  cat >"sem$i.json" <<JSON
{"Data":{"Values":["Table"],"Type":"Class"},"Task":{"Values":["Regression"],"Type":"Class"},
 "Library":{"Values":["Others"],"Type":"Class"},"Scenario":{"Values":["Business"],"Type":"Tag"},
 "License":{"Values":["MIT"],"Type":"Class"},"Name":{"Values":"store $i","Type":"String"},
 "Description":{"Values":"sales model $i","Type":"String"},
 "Input":{"Dimension":3,"Description":{"0":"a","1":"b","2":"c"}},
 "Output":{"Dimension":1,"Description":{"0":"sales"}}}
JSON
  expect_ok spec generate --type table --input "data$i.csv" --k 10 -o "rkme$i.json"
  expect_ok package build --model model.json --spec "rkme$i.json" --semantic "sem$i.json" -o "lw$i.zip"
done
expect_ok spec generate --type table --input user.csv --k 10 -o user.json

expect_ok market create market
for i in 0 1 2 0; do expect_ok market add market "lw$i.zip" --owner admin; done
expect_ok market update market 00000002 lw2.zip
expect_ok market delete market 00000004  # the newest: only the id counter remembers it

# ---- the round trip ----
expect_ok market backup market --out backups
BACKUP=$(cat stdout.txt)
[[ $BACKUP =~ ^backups/[0-9]{8}T[0-9]{6}Z$ && -f $BACKUP/manifest.json ]] || fail "backup path '$BACKUP'"
grep -q "backed up market: 3 learnware(s)" stderr.txt || fail "no summary on stderr"
pass
expect_ok market restore "$BACKUP" --to restored
[[ ! -s stdout.txt ]] || fail "restore printed on stdout"
pass
describe market >original.txt
describe restored >copy.txt
cmp -s original.txt copy.txt || fail "the restored market lists or searches differently: $(diff original.txt copy.txt)"
pass
for zip in market/packages/*.zip; do
  cmp -s "$zip" "restored/packages/$(basename "$zip")" || fail "$zip differs in the restored market"
done
[[ $(ls market/packages | wc -l) -eq $(ls restored/packages | wc -l) ]] || fail "package counts differ"
pass
expect_ok market add restored lw1.zip --json
[[ $(json_get 'd["id"]') == 00000005 ]] || fail "the restored market reused an id: $(cat stdout.txt)"
pass

# ---- backups while other processes add and delete ----
(
  set +e
  for round in 1 2 3 4; do
    for i in 0 1 2; do
      "$LWDOCK" market add market "lw$i.zip" >/dev/null 2>>writers.txt || echo "market add lw$i.zip failed" >>writers.txt
    done
    id=$(printf '%08d' $((round + 4)))
    "$LWDOCK" market delete market "$id" 2>>writers.txt >/dev/null || echo "market delete $id failed" >>writers.txt
  done
) &
WRITERS=$!
made=()
for n in 1 2 3 4; do
  expect_ok market backup market --out busy --keep 10
  made+=("$(cat stdout.txt)")
done
wait "$WRITERS"
grep -v '^deleted ' writers.txt >writer-errors.txt || true
[[ ! -s writer-errors.txt ]] || fail "a writer failed beside the backups: $(cat writer-errors.txt)"
pass
n=0
for b in "${made[@]}"; do
  n=$((n + 1))
  expect_ok market restore "$b" --to "busy-restored-$n"
  expect_ok market list "busy-restored-$n" --json
  python3 - "busy-restored-$n" <<'PY' || fail "backup $b restored to an inconsistent market"
import filecmp, json, os, sys
d = sys.argv[1]
rows = json.load(open("stdout.txt"))
named = {os.path.basename(r["package"]) for r in rows}
assert named == set(os.listdir(os.path.join(d, "packages"))), "packages on disk differ from the listing"
for r in rows:
    path = os.path.join(d, r["package"])
    assert any(filecmp.cmp(path, f"lw{i}.zip", shallow=False) for i in range(3)), r["id"]
PY
  pass
done

# ---- --keep ----
mkdir -p busy/notes
for n in 1 2; do expect_ok market backup market --out busy --keep 2; done
[[ $(ls busy | grep -c '^[0-9]\{8\}T') -eq 2 && -d busy/notes ]] || fail "--keep 2 left $(ls busy)"
pass

# ---- a backup killed at any moment never looks complete ----
for n in 1 2 3 4 5 6; do
  "$LWDOCK" market backup market --out killed --keep 100 >/dev/null 2>&1 &
  sleep "0.0$((RANDOM % 10))"
  kill -9 $! 2>/dev/null || true
  wait $! 2>/dev/null || true
done
expect_ok market backup market --out killed --keep 100
if ls -A killed | grep -q '^\.incomplete-'; then fail "a killed backup's folder is still there: $(ls -A killed)"; fi
pass
n=0
for b in killed/*; do  # every folder that looks complete restores
  n=$((n + 1))
  expect_ok market restore "$b" --to "killed-restored-$n"
done
[[ -z $(ls -A market/staging 2>/dev/null) ]] || fail "the killed backups left something in the market's staging/"
pass

# ---- mistakes: one error line each, nothing changed ----
ls -A busy >before.txt
expect_error 1 - market backup nowhere --out busy
expect_error_mentions "nowhere: no such market directory"
expect_error 2 - market backup market --out busy --keep 0
expect_error_mentions "--keep: must be an integer >= 1"
expect_error 2 - market backup market --out busy --keep -3
ls -A busy | cmp -s - before.txt || fail "a refused backup changed the backups folder"
pass
expect_error 1 target market restore market --to target
expect_error_mentions "not a market backup (no manifest.json)"
cp -r "$BACKUP" damaged
head -c 200 "$BACKUP/manifest.json" >damaged/manifest.json
expect_error 1 target market restore damaged --to target
expect_error_mentions "manifest.json: invalid JSON"
rm -rf damaged && cp -r "$BACKUP" damaged
printf 'X' | dd of=damaged/packages/00000001.zip bs=1 seek=40 conv=notrunc 2>/dev/null
expect_error 1 target market restore damaged --to target
expect_error_mentions "damaged/packages/00000001.zip: its SHA-256 is not the manifest's"
mkdir busy-target && echo mine >busy-target/file
expect_error 1 - market restore "$BACKUP" --to busy-target
expect_error_mentions "busy-target: already exists and is not empty"
[[ $(ls -A busy-target) == file && $(cat busy-target/file) == mine ]] || fail "a refused restore touched busy-target"
pass

# ---- PostgreSQL: restore into it, and back out of it into SQLite ----
if [[ ! -s $URL_FILE ]]; then
  if [[ ${LWDOCK_TEST_NO_POSTGRES:-} == 1 ]]; then
    echo "ok: $checks checks (PostgreSQL part skipped: LWDOCK_TEST_NO_POSTGRES=1)"
    exit 0
  fi
  fail "no PostgreSQL test server: $URL_FILE is missing (see the postgres.start test); LWDOCK_TEST_NO_POSTGRES=1 skips"
fi
BASE_URL=$(head -n1 "$URL_FILE")
SCHEMA="lwd_backup_cli_$$_$RANDOM"
psql_admin() { PGOPTIONS='--client-min-messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BASE_URL" "$@" >/dev/null; }
psql_admin -c "CREATE SCHEMA $SCHEMA"
trap 'psql_admin -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true; rm -rf "$WORK"' EXIT
URL="$BASE_URL?options=-csearch_path%3D$SCHEMA"

expect_ok market restore "$BACKUP" --to in-pg --db "$URL"
[[ ! -e in-pg/index.sqlite ]] || fail "the index went to the directory, not the database"
describe in-pg --db "$URL" >pg.txt
cmp -s original.txt pg.txt || fail "the market restored into PostgreSQL differs: $(diff original.txt pg.txt)"
pass
expect_error 1 again market restore "$BACKUP" --to again --db "$URL"
expect_error_mentions "already holds a market's learnware index"
expect_ok market backup in-pg --db "$URL" --out pg-backups
expect_ok market restore "$(cat stdout.txt)" --to from-pg
describe from-pg >from-pg.txt
cmp -s original.txt from-pg.txt || fail "PostgreSQL -> SQLite changed the market: $(diff original.txt from-pg.txt)"
pass
expect_ok market add from-pg lw1.zip --json
[[ $(json_get 'd["id"]') == 00000005 ]] || fail "the id counter did not survive PostgreSQL: $(cat stdout.txt)"
pass

echo "ok: $checks checks"
