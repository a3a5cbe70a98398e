#!/usr/bin/env bash
# `lwdock client` against a real `lwdock serve` on 127.0.0.1 (a free port,
# stopped on exit whatever happens): every command's happy path with --json
# in the local commands' shapes, the credentials file (mode 0600, the token
# never echoed), an upload cut off after two chunks and resumed with only the
# missing chunks sent, the downloaded bytes equal to the package, and each
# failure as one "lwdock client: error: ..." line with its exit status: no
# token, a bogus or revoked token (4), the server's 4xx message (5), the
# server down (3), usage (2).
#
# usage: test_client_cli.sh PATH/TO/lwdock
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/lwdock" >&2
  exit 2
fi
# shellcheck source=harness.sh
# shellcheck source=table_packages.sh
source "$(dirname "$0")/table_packages.sh"
source "$(dirname "$0")/harness.sh" client-cli "$1"
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# The client's state lives here, never in the user's home; no token or
# server comes from the environment the test runs in.
export XDG_CONFIG_HOME=$WORK/config
unset LWDOCK_TOKEN LWDOCK_SERVER LWDOCK_CLIENT_STOP_AFTER_CHUNKS
PASSWORD='correct horse battery staple'
json_get() { python3 -c "import json,sys; d=json.load(open('stdout.txt')); print($1)"; }
# expect_failure STATUS TEXT ARGS...: lwdock ARGS fails with STATUS, one
# "lwdock client: error:" line that mentions TEXT, nothing on stdout.
expect_failure() {
  local want=$1 text=$2
  shift 2
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock client: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock client: error: '"
  grep -qF -- "$text" stderr.txt || fail "lwdock $*: the error does not mention '$text'"
  [[ ! -s stdout.txt ]] || fail "lwdock $*: wrote to stdout on error"
  pass
}

# ---- two packages, a market, an account ----
echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
for i in 0 1; do
  make_csv "data$i.csv" $((i * 4)) $((i + 1))
  expect_ok spec generate --type table --input "data$i.csv" --k 200 -o "rkme$i.json"
  semantic "sem$i.json" "store $i"
  expect_ok package build --model model.json --spec "rkme$i.json" --semantic "sem$i.json" -o "lw$i.zip"
done
make_csv user.csv 4 77
expect_ok spec generate --type table --input user.csv --k 20 -o user.json
expect_ok market create market
printf '%s\n' "$PASSWORD" | "$LWDOCK" admin create-user --market market --name ada --email ada@example.org \
  >/dev/null 2>stderr.txt || fail "create-user failed"

# ---- the server, on a free port ----
start_server() {
  : >server.txt
  "$LWDOCK" serve --market market --listen 127.0.0.1:0 --access-log access.log 2>server.txt &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 400); do
    PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' server.txt | head -n1)
    [[ -n $PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $PORT ]] || fail "the server did not start: $(cat server.txt)"
  URL="http://127.0.0.1:$PORT"
}
start_server
# A client token as a user makes one: log in with the password, POST /api/user/tokens.
python3 - "$URL" "$PASSWORD" <<'PY' >token.txt || fail "cannot make a client token over HTTP"
import json, sys, urllib.request
url, password = sys.argv[1], sys.argv[2]
def call(path, body, token=None):
    req = urllib.request.Request(url + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["data"]
session = call("/api/auth/login", {"login": "ada", "password": password})["token"]
print(call("/api/user/tokens", {"label": "test"}, session)["token"])
PY
TOKEN=$(cat token.txt)
[[ $TOKEN == lwd_c_* ]] || fail "not a client token: $TOKEN"
pass

# ---- help, usage ----
expect_ok --help
grep -q '^  client ' stdout.txt || fail "lwdock --help does not list client"
expect_ok client --help
grep -q 'Exit status' stdout.txt || fail "client --help does not list the exit statuses"
for cmd in login logout whoami search info download submit status update delete tokens "tokens create"; do
  # shellcheck disable=SC2086
  expect_ok client $cmd --help
  grep -q -- '--server' stdout.txt || fail "client $cmd --help does not show --server"
done
expect_failure 2 "--server" client whoami
expect_failure 2 "http://HOST:PORT" client whoami --server ftp://example.org
expect_failure 2 "--sha256" client download 00000001 --server "$URL" --sha256 abc

# ---- not logged in, then login (token on stdin, never echoed), whoami ----
expect_failure 4 "not logged in to $URL" client whoami --server "$URL"
export LWDOCK_SERVER=$URL
set +e
printf '%s\n' "$TOKEN" | "$LWDOCK" client login >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 0 ]] || fail "login exited $status"
! grep -qF "$TOKEN" stdout.txt stderr.txt || fail "login echoed the token"
grep -q "logged in to $URL as ada" stderr.txt || fail "login does not say who"
pass
CREDENTIALS=$XDG_CONFIG_HOME/lwdock/credentials.json
[[ $(stat -c %a "$CREDENTIALS") == 600 ]] || fail "credentials.json has mode $(stat -c %a "$CREDENTIALS")"
[[ $(stat -c %a "$XDG_CONFIG_HOME/lwdock") == 700 ]] || fail "the config directory is not 0700"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['servers'][sys.argv[2]]['token'] == sys.argv[3]" \
  "$CREDENTIALS" "$URL" "$TOKEN" || fail "the token is not stored under the server's URL"
pass
expect_ok client whoami --json
[[ $(json_get 'd["name"]') == ada && $(json_get 'd["role"]') == user ]] || fail "whoami: $(cat stdout.txt)"
pass
expect_ok client whoami
grep -q "^ada <ada@example.org> (user) at $URL" stdout.txt || fail "whoami text: $(cat stdout.txt)"
pass
# A bogus token is refused before anything is stored.
set +e
printf 'lwd_c_bogus\n' | "$LWDOCK" client login >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 4 ]] || fail "login with a bogus token exited $status"
grep -q 'unknown, expired or revoked' stderr.txt || fail "login with a bogus token: $(cat stderr.txt)"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['servers'][sys.argv[2]]['token'] == sys.argv[3]" \
  "$CREDENTIALS" "$URL" "$TOKEN" || fail "a refused login replaced the stored token"
pass

# ---- submit (one go), wait: the outcome in `market add --json`'s shape ----
expect_ok client submit lw0.zip --wait --json
python3 -c "import json; d=json.load(open('stdout.txt')); assert set(d) == {'id','status','reason'}, d; assert d['status'] == 'usable', d" ||
  fail "submit --wait --json: $(cat stdout.txt)"
ID0=$(json_get 'd["id"]')
pass
[[ $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1])).get('uploads', {})))" \
  "$XDG_CONFIG_HOME/lwdock/uploads.json") -eq 0 ]] || fail "a finished upload is still in uploads.json"
pass

# ---- an upload cut off after 2 chunks of 1 KiB, then resumed ----
puts() { grep '"method":"PUT"' access.log | grep -c '"route":"/api/user/uploads/{id}"' || true; }
# The server logs a request after its reply is sent: the last line may come
# after the client has exited. sent_chunks_since BEFORE WANT: the chunks
# logged since BEFORE, once WANT are in (or after 20 s without them).
sent_chunks_since() {
  for _ in $(seq 1 400); do
    [[ $(($(puts) - $1)) -ge $2 ]] && break
    sleep 0.05
  done
  echo $(($(puts) - $1))
}
SIZE1=$(stat -c %s lw1.zip)
CHUNKS=$(((SIZE1 + 1023) / 1024))
[[ $CHUNKS -gt 3 ]] || fail "lw1.zip is too small to cut off ($SIZE1 bytes)"
before=$(puts)
export LWDOCK_CLIENT_STOP_AFTER_CHUNKS=2
expect_failure 3 "resumes upload" client submit lw1.zip --chunk-kib 1 --json
unset LWDOCK_CLIENT_STOP_AFTER_CHUNKS
sent=$(sent_chunks_since "$before" 2)
[[ $sent -eq 2 ]] || fail "the cut-off run sent $sent chunks, not 2"
# The server holds exactly those two chunks.
python3 - "$URL" "$TOKEN" "$XDG_CONFIG_HOME/lwdock/uploads.json" <<'PY' || fail "the server does not hold the first 2 KiB"
import json, sys, urllib.request
url, token, state = sys.argv[1:4]
(entry,) = json.load(open(state))["uploads"].values()
req = urllib.request.Request(url + "/api/user/uploads/" + entry["upload_id"], headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(req, timeout=30) as r:
    upload = json.load(r)["data"]
assert upload["received"] == [[0, 2048]], upload
PY
[[ $(stat -c %a "$XDG_CONFIG_HOME/lwdock/uploads.json") == 600 ]] || fail "uploads.json is not 0600"
pass
before=$(puts)
expect_ok client submit lw1.zip --chunk-kib 1 --json
grep -q "resuming upload .*: 2048 of $SIZE1 bytes already on the server" stderr.txt ||
  fail "the second run did not resume: $(cat stderr.txt)"
sent=$(sent_chunks_since "$before" $((CHUNKS - 2)))
[[ $sent -eq $((CHUNKS - 2)) ]] || fail "the resumed run sent $sent chunks, not $((CHUNKS - 2))"
SUB1=$(json_get 'd["id"]')
ID1=$(json_get 'd["learnware_id"]')
[[ $(json_get 'd["status"]') == waiting || $(json_get 'd["status"]') == processing ]] || fail "submit: $(cat stdout.txt)"
pass
# status --wait follows it to usable.
expect_ok client status "$SUB1" --wait --json
[[ $(json_get 'd["status"]') == usable && $(json_get 'd["learnware_id"]') == "$ID1" ]] ||
  fail "status --wait: $(cat stdout.txt)"
pass
expect_ok client status "$SUB1"
grep -q "submission $SUB1: learnware $ID1, usable" stdout.txt || fail "status text: $(cat stdout.txt)"
pass

# ---- search: `lwdock search --json`'s schema ----
expect_ok client search --spec user.json --json
python3 -c "import json; d=json.load(open('stdout.txt')); assert set(d) == {'candidates','semantic_matches','single','mixture'}, d; assert set(d['single'][0]) == {'id','score','mmd2'}" ||
  fail "search --json schema: $(cat stdout.txt)"
[[ $(json_get 'd["single"][0]["id"]') == "$ID1" ]] || fail "search did not rank store 1 first"
[[ $(json_get 'd["candidates"]') -eq 2 ]] || fail "search compared a wrong number of learnwares"
pass
echo '{"Name":{"Values":"store 0","Type":"String"}}' >q.json
expect_ok client search --semantic q.json --json
[[ $(json_get '[s["id"] for s in d["single"]]') == "['$ID0']" ]] || fail "semantic search: $(cat stdout.txt)"
pass
expect_ok client search --spec user.json
grep -q "$ID1" stdout.txt || fail "text search lacks the best id"
pass

# ---- info: `lwdock market show`'s shape ----
expect_ok client info "$ID0" --json
python3 -c "
import json; d=json.load(open('stdout.txt'))
assert set(d) == {'id','name','owner','status','reason','package','spec_keys','created_at','updated_at','semantic'}, d
assert d['semantic']['Name']['Values'] == 'store 0' and d['owner'] == 'ada', d" || fail "info --json: $(cat stdout.txt)"
pass

# ---- download: the package's bytes, its SHA-256; a wrong --sha256 writes nothing ----
expect_ok client download "$ID0" -o got.zip --json
cmp -s got.zip lw0.zip || fail "the downloaded package differs from lw0.zip"
SUM=$(sha256sum lw0.zip | cut -d' ' -f1)
[[ $(json_get 'd["sha256"]') == "$SUM" && $(json_get 'd["size"]') -eq $(stat -c %s lw0.zip) ]] ||
  fail "download --json: $(cat stdout.txt)"
pass
expect_ok client download "$ID0" -o checked.zip --sha256 "$SUM"
cmp -s checked.zip lw0.zip || fail "download --sha256 wrote other bytes"
pass
expect_failure 1 "SHA-256" client download "$ID0" -o bad.zip --sha256 "$(printf '0%.0s' {1..64})"
[[ ! -e bad.zip ]] && [[ -z $(find . -maxdepth 1 -name '.bad.zip.partial-*') ]] || fail "a refused download left a file"
pass
expect_failure 1 "exists" client download "$ID0" -o got.zip
pass
# The progress bar: on stderr only, with --progress when stderr is no terminal.
expect_ok client download "$ID0" -o shown.zip
! grep -q 'download' stderr.txt || fail "a progress bar was drawn on a stderr that is no terminal"
expect_ok client download "$ID0" -o shown.zip --force --progress
grep -q "download $ID0 \[#*\] 100%" stderr.txt || fail "no progress bar with --progress: $(cat stderr.txt)"
cmp -s shown.zip lw0.zip || fail "download --force wrote other bytes"
pass

# ---- update, delete; the server's 4xx message passed through ----
expect_ok client update "$ID0" lw1.zip --wait --json
[[ $(json_get 'd["id"]') == "$ID0" && $(json_get 'd["status"]') == usable ]] || fail "update --wait: $(cat stdout.txt)"
pass
expect_ok client delete "$ID0" --json
[[ $(json_get 'd["deleted"]') == True ]] || fail "delete --json: $(cat stdout.txt)"
pass
expect_failure 5 "no learnware $ID0 (HTTP 404)" client info "$ID0"
expect_failure 5 "no learnware $ID0 (HTTP 404)" client download "$ID0" -o gone.zip
[[ ! -e gone.zip ]] && [[ -z $(find . -maxdepth 1 -name '.gone.zip.partial-*') ]] || fail "a refused download left a file"
pass
PUTS_BEFORE=$(grep -c '"method":"PUT"' access.log || true)
expect_failure 5 "no learnware $ID0 (HTTP 404)" client update "$ID0" lw0.zip
[[ $(grep -c '"method":"PUT"' access.log || true) -eq $PUTS_BEFORE ]] || fail "update of a deleted learnware uploaded"
pass
expect_failure 5 "no submission 0123abcd (HTTP 404)" client status 0123abcd
expect_failure 1 "missing.zip" client submit missing.zip

# ---- tokens: list, create, revoke; a revoked token is refused ----
expect_ok client tokens --json
[[ $(json_get 'len(d)') -eq 1 && $(json_get 'd[0]["label"]') == test ]] || fail "tokens --json: $(cat stdout.txt)"
pass
expect_ok client tokens create --label second --days 1 --json
SECOND=$(json_get 'd["token"]')
SECOND_ID=$(json_get 'd["id"]')
[[ $SECOND == lwd_c_* ]] || fail "tokens create: $(cat stdout.txt)"
pass
LWDOCK_TOKEN=$SECOND expect_ok client whoami
expect_ok client tokens list
grep -q "second" stdout.txt || fail "tokens list lacks the new token"
pass
expect_ok client tokens revoke "$SECOND_ID"
LWDOCK_TOKEN=$SECOND expect_failure 4 "refused the token in LWDOCK_TOKEN: the token is unknown, expired or revoked" \
  client whoami
LWDOCK_TOKEN=lwd_c_bogus expect_failure 4 "unknown, expired or revoked" client search --spec user.json
# An expired token (its expiry moved into the past in the accounts table) is refused, and listed as expired.
expect_ok client tokens create --label old --json
OLD=$(json_get 'd["token"]')
OLD_ID=$(json_get 'd["id"]')
LWDOCK_TOKEN=$OLD expect_ok client whoami
python3 -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
with db:
    assert db.execute('UPDATE accounts_tokens SET expires_at = 1 WHERE id = ?', (int(sys.argv[2]),)).rowcount == 1
" market/index.sqlite "$OLD_ID" || fail "cannot expire token $OLD_ID"
LWDOCK_TOKEN=$OLD expect_failure 4 "refused the token in LWDOCK_TOKEN: the token is unknown, expired or revoked" \
  client whoami
expect_ok client tokens --json
python3 -c "import json,sys; t=[t for t in json.load(open('stdout.txt')) if t['id'] == int(sys.argv[1])][0]; assert t['expired'] and not t['revoked'], t" \
  "$OLD_ID" || fail "the expired token is not listed as expired: $(cat stdout.txt)"
pass

# ---- logout --revoke: the stored token is gone here and dead there ----
expect_ok client logout --revoke
grep -q "logged out of $URL; the token is revoked" stderr.txt || fail "logout: $(cat stderr.txt)"
python3 -c "import json,sys; assert sys.argv[2] not in json.load(open(sys.argv[1]))['servers']" "$CREDENTIALS" "$URL" ||
  fail "logout left the token in credentials.json"
pass
expect_failure 4 "not logged in" client whoami
LWDOCK_TOKEN=$TOKEN expect_failure 4 "unknown, expired or revoked" client whoami
expect_ok client logout
grep -q "no token was stored for $URL" stderr.txt || fail "logout with nothing stored: $(cat stderr.txt)"
pass

# ---- login --user: a password login makes and stores a client token of its own ----
set +e
printf '%s\n' "$PASSWORD" | "$LWDOCK" client login --user ada >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 0 ]] || fail "login --user exited $status: $(cat stderr.txt)"
! grep -qF "$PASSWORD" "$CREDENTIALS" stdout.txt stderr.txt || fail "the password was stored or printed"
pass
expect_ok client whoami
grep -q "^ada " stdout.txt || fail "whoami after login --user: $(cat stdout.txt)"
expect_ok client tokens
grep -q "lwdock client on" stdout.txt || fail "login --user made no labelled token: $(cat stdout.txt)"
pass
set +e
printf 'not the password\n' | "$LWDOCK" client login --user ada >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 4 && $(wc -l <stderr.txt) -eq 1 ]] || fail "a wrong password: exited $status"
grep -q "^lwdock client: error: $URL refused the login: wrong name or password" stderr.txt ||
  fail "a wrong password: $(cat stderr.txt)"
pass
expect_ok client whoami
expect_failure 2 "excludes" client login --user ada --token lwd_c_x

# ---- the server down ----
stop_server
LWDOCK_TOKEN=$TOKEN expect_failure 3 "cannot connect to $URL" client whoami
expect_failure 3 "cannot connect to $URL" client info 00000001

echo "client CLI: $checks checks passed"
