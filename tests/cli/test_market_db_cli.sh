#!/usr/bin/env bash
# A market whose learnware index lives in PostgreSQL, driven through
# `lwdock --db` and LWDOCK_DB as a user would: create, add, list, search,
# show, delete, rebuild, reuse; then the mistakes (malformed URL, wrong
# password, the directory opened without its database), each one error line
# that never shows the password.
#
# usage: test_market_db_cli.sh PATH/TO/lwdock URL_FILE
# URL_FILE holds the test server's URL (scripts/pg-test-cluster.sh); with
# LWDOCK_TEST_NO_POSTGRES=1 and no server, the script skips (exit 77).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock URL_FILE" >&2
  exit 2
fi
if [[ ! -s $2 ]]; then
  if [[ ${LWDOCK_TEST_NO_POSTGRES:-} == 1 ]]; then
    echo "skipped: no PostgreSQL test server (LWDOCK_TEST_NO_POSTGRES=1)"
    exit 77
  fi
  echo "FAIL: no PostgreSQL test server: $2 is missing (see the postgres.start test); LWDOCK_TEST_NO_POSTGRES=1 skips" >&2
  exit 1
fi
BASE_URL=$(head -n1 "$2")
# shellcheck source=harness.sh
source "$(dirname "$0")/harness.sh" market-db-cli "$1"
json_get() { python3 -c "import json,sys; d=json.load(open('stdout.txt')); print($1)"; }

# A schema of its own in the test database, chosen through the URL, dropped on exit.
SCHEMA="lwd_cli_$$_$RANDOM"
psql_admin() { PGOPTIONS='--client-min-messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BASE_URL" "$@" >/dev/null; }
psql_admin -c "CREATE SCHEMA $SCHEMA"
trap 'psql_admin -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true; rm -rf "$WORK"' EXIT
URL="$BASE_URL?options=-csearch_path%3D$SCHEMA"
PASSWORD=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).password or ""))' "$BASE_URL")
no_password() { ! grep -qF -- "$PASSWORD" stderr.txt stdout.txt || fail "the password was printed"; pass; }

# ---- two learnwares on two blobs of data (3 columns) ----
python3 - <<'PY'
import random
for i, centre in enumerate((0.0, 6.0)):
    r = random.Random(i + 1)
    with open(f"data{i}.csv", "w") as f:
        f.write("a,b,c\n")
        for _ in range(200):
            f.write(",".join(f"{centre + r.gauss(0, 1):.6f}" for _ in range(3)) + "\n")
PY
echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
for i in 0 1; do
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

# ---- the round trip: --db for some commands, LWDOCK_DB for others ----
expect_ok market create market --db "$URL"
no_password
[[ -f market/market.id && ! -e market/index.sqlite ]] || fail "the index went to the directory, not the database"
pass
expect_ok market add market lw0.zip --db "$URL" --json
[[ $(json_get 'd["status"]') == usable ]] || fail "lw0.zip not usable: $(cat stdout.txt)"
pass
export LWDOCK_DB="$URL"
expect_ok market add market lw1.zip --json
[[ $(json_get 'd["id"]') == 00000002 ]] || fail "the second learnware is not 00000002"
pass
expect_ok market list market --json
[[ $(json_get 'len(d)') -eq 2 ]] || fail "market list does not show 2 learnwares"
pass
# The rows are in the database: count them there.
[[ $(psql -X -At "$URL" -c "SELECT count(*) FROM learnware") -eq 2 ]] || fail "the database does not hold 2 rows"
pass
# The flag wins over the environment.
LWDOCK_DB="postgresql://nobody@127.0.0.1:1/none" expect_ok market list market --db "$URL" --json
[[ $(json_get 'len(d)') -eq 2 ]] || fail "--db did not win over LWDOCK_DB"
pass
# Reads through --read-db (the same server here, read-only).
expect_ok market list market --read-db "$URL" --json
[[ $(json_get 'len(d)') -eq 2 ]] || fail "market list through --read-db"
pass
python3 - <<'PY'
import random
r = random.Random(9)
with open("user.csv", "w") as f:
    f.write("a,b,c\n")
    for _ in range(200):
        f.write(",".join(f"{6.0 + r.gauss(0, 1):.6f}" for _ in range(3)) + "\n")
PY
expect_ok spec generate --type table --input user.csv --k 10 -o user.json
expect_ok search --market market --spec user.json --read-db "$URL" --json
[[ $(json_get 'd["single"][0]["id"]') == 00000002 ]] || fail "search did not rank store 1 first"
pass
expect_ok market show market 00000001
[[ $(json_get 'd["semantic"]["Name"]["Values"]') == "store 0" ]] || fail "market show lost the semantic spec"
pass
expect_ok reuse --market market --learnwares 00000001,00000002 --method averaging --data data0.csv -o pred.csv
[[ -s pred.csv ]] || fail "reuse wrote no predictions"
pass
expect_ok market delete market 00000001
expect_ok market rebuild market
expect_ok market list market --json
[[ $(json_get 'len(d)') -eq 1 && $(json_get 'd[0]["id"]') == 00000002 ]] || fail "delete or rebuild went wrong"
pass
expect_ok market add market lw0.zip --json
[[ $(json_get 'd["id"]') == 00000003 ]] || fail "a deleted id came back"
pass
unset LWDOCK_DB

# ---- mistakes: one error line each, no password, nothing changed ----
expect_error 1 - market list market
expect_error_mentions "not a market directory (no index.sqlite)"
expect_error 1 - market list market --db "postgresql://lwdock_test:$PASSWORD@127.0.0.1:port/x"
expect_error_mentions 'port "port"'
no_password
WRONG=$(python3 -c 'import sys, urllib.parse as u; s=u.urlsplit(sys.argv[1]); print(sys.argv[1].replace(":" + s.password + "@", ":not-the-password@"))' "$URL")
expect_error 1 - market list market --db "$WRONG"
expect_error_mentions "password authentication failed"
! grep -qF "not-the-password" stderr.txt || fail "the wrong password was printed"
pass
expect_error 1 - market create market2 --db "$URL"
expect_error_mentions "already holds a market's learnware index"
[[ ! -e market2 ]] || fail "a refused create left market2 behind"
pass
expect_error 1 - market create market3 --db "mysql://u@h/db"
expect_error_mentions "unknown kind of database"
[[ $(psql -X -At "$URL" -c "SELECT count(*) FROM learnware") -eq 2 ]] || fail "a mistake changed the database"
pass

echo "ok: $checks checks"
