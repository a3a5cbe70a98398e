#!/usr/bin/env bash
# `lwdock admin create-user` as the administrator of a new dock runs it: the
# first super-admin, the password from standard input or a file and never
# from the command line, weak passwords and taken names refused with one
# error line; then `lwdock serve --market DIR` alone (registration closed, no
# default account) lets that super-admin log in over HTTP and nobody
# register. The same accounts in PostgreSQL (--db) when the test server runs.
#
# usage: test_admin_cli.sh PATH/TO/lwdock URL_FILE
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock URL_FILE" >&2
  exit 2
fi
URL_FILE=$2
# shellcheck source=harness.sh
source "$(dirname "$0")/harness.sh" admin-cli "$1"
PASSWORD='correct horse battery staple'

expect_ok market create market
# ---- the first super-admin, the password piped in ----
set +e
printf '%s\n' "$PASSWORD" | "$LWDOCK" admin create-user --market market --name root --email Root@Example.org \
  --role super-admin >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 0 ]] || fail "create-user from stdin exited $status"
grep -q 'created user 1 root <root@example.org> (super-admin)' stdout.txt || fail "unexpected output"
pass
# Nothing of the password is printed or stored as text.
! grep -qF "$PASSWORD" stdout.txt stderr.txt || fail "the password was printed"
! grep -qaF "$PASSWORD" market/index.sqlite* || fail "the password is stored as text"
pass

# ---- from a file; the default role is user ----
printf '%s\n' 'another long pass phrase' >pw.txt
expect_ok admin create-user --market market --name ada --email ada@example.org --password-file pw.txt
grep -q '(user)' stdout.txt || fail "the default role is not user"
pass

# ---- the mistakes: one error line each, no account made ----
with_stdin() {  # with_stdin TEXT ARGS...: run lwdock ARGS with TEXT on stdin
  local text=$1
  shift
  set +e
  printf '%s' "$text" | "$LWDOCK" "$@" >stdout.txt 2>stderr.txt
  status=$?
  set -e
}
expect_refused() {  # expect_refused STATUS TEXT: the last command failed so, saying TEXT
  [[ $status -eq $1 ]] || fail "exited $status, expected $1"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "expected one error line"
  grep -q '^lwdock: error: ' stderr.txt || fail "stderr does not start with 'lwdock: error: '"
  grep -qF -- "$2" stderr.txt || fail "the error does not mention '$2'"
  [[ ! -s stdout.txt ]] || fail "wrote to stdout on error"
  pass
}
with_stdin "" admin create-user --market market --name bob --email bob@example.org
expect_refused 1 "empty"
with_stdin "short" admin create-user --market market --name bob --email bob@example.org
expect_refused 1 "at least 10 characters"
with_stdin "aaaaaaaaaaaaaaa" admin create-user --market market --name bob --email bob@example.org
expect_refused 1 "repeated"
with_stdin "bob@example.org" admin create-user --market market --name bob --email bob@example.org
expect_refused 1 "e-mail"
with_stdin "$PASSWORD" admin create-user --market market --name ROOT --email other@example.org
expect_refused 1 "name is taken"
with_stdin "$PASSWORD" admin create-user --market market --name other --email ROOT@example.org
expect_refused 1 "e-mail address exists"
with_stdin "$PASSWORD" admin create-user --market market --name "bad name" --email x@example.org
expect_refused 1 "letters, digits"
with_stdin "$PASSWORD" admin create-user --market market --name "x'; DROP TABLE accounts_users; --" --email x@example.org
expect_refused 1 "letters, digits"
with_stdin "$PASSWORD" admin create-user --market market --name bob --email bob@example.org --role god
expect_refused 2 "--role"
with_stdin "" admin create-user --market market --name bob --email bob@example.org --password "$PASSWORD"
expect_refused 2 "command line"
with_stdin "$PASSWORD" admin create-user --market nowhere --name bob --email bob@example.org
expect_refused 1 "nowhere"
with_stdin "" admin create-user --market market --name bob --email bob@example.org --password-file missing.txt
expect_refused 1 "missing.txt"
# None of them made an account: bob's name is still free.
with_stdin "$PASSWORD" admin create-user --market market --name bob --email bob@example.org
[[ $status -eq 0 ]] && grep -q 'created user 3 bob' stdout.txt || fail "bob was not created next: $(cat stdout.txt)"
pass

# ---- `lwdock serve --market DIR` alone: the super-admin logs in, nobody registers ----
# serve_and_check DIR [--db URL]: starts the server on a free port, runs the
# HTTP checks in Python, stops it with SIGTERM.
serve_and_check() {
  "$LWDOCK" serve --market "$@" --listen 127.0.0.1:0 --access-log access.log 2>server.txt &
  local pid=$!
  local port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' server.txt | head -n1)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    kill "$pid" 2>/dev/null || true
    fail "the server did not start: $(cat server.txt)"
  fi
  set +e
  python3 - "$port" "$PASSWORD" <<'PY' >stdout.txt 2>stderr.txt
import json, sys, urllib.request, urllib.error
port, password = sys.argv[1], sys.argv[2]
def call(method, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
status, body = call("POST", "/api/auth/login", {"login": "root", "password": password})
assert status == 200, (status, body)
token = body["data"]["token"]
assert token.startswith("lwd_s_"), token
status, body = call("GET", "/api/auth/me", token=token)
assert status == 200 and body["data"]["role"] == "super-admin" and body["data"]["name"] == "root", body
status, body = call("POST", "/api/auth/register", {"name": "eve", "email": "eve@example.org", "password": password})
assert status == 403 and body["code"] == 1003, (status, body)
status, body = call("GET", "/api/admin/users", token=token)
assert status == 200 and body["data"]["total"] == 3, body
status, body = call("POST", "/api/auth/logout", token=token)
assert status == 200, body
status, body = call("GET", "/api/auth/me", token=token)
assert status == 401, (status, body)
print(token)
PY
  status=$?
  set -e
  kill -TERM "$pid"
  wait "$pid" || fail "the server exited $? after SIGTERM"
  [[ $status -eq 0 ]] || fail "the HTTP checks failed"
  # The token was never logged.
  ! grep -qF "$(cat stdout.txt)" access.log server.txt || fail "the token is in a log"
  pass
}
serve_and_check market

# ---- registration by --config: only the configured addresses may register ----
cat >config.json <<'JSON'
{"registration": "email_patterns", "registration_email_patterns": ["*@example.org", "*@corp.example"],
 "register_limit_per_address": 100}
JSON
"$LWDOCK" serve --market market --config config.json --listen 127.0.0.1:0 --access-log /dev/null 2>server.txt &
pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' server.txt | head -n1)
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[[ -n $port ]] || { kill "$pid" 2>/dev/null || true; fail "the server did not start with config.json: $(cat server.txt)"; }
set +e
python3 - "$port" "$PASSWORD" <<'PY' >stdout.txt 2>stderr.txt
import json, sys, urllib.request, urllib.error
port, password = sys.argv[1], sys.argv[2]
def register(name, email):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/auth/register", method="POST",
                                 data=json.dumps({"name": name, "email": email, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
assert register("carol", "carol@Example.org") == 200
assert register("dan", "dan@corp.example") == 200
assert register("mallory", "mallory@evil.example") == 403
assert register("mallory", "mallory@example.org.evil.example") == 403
PY
status=$?
set -e
kill -TERM "$pid"
wait "$pid" || fail "the server exited $? after SIGTERM"
[[ $status -eq 0 ]] || fail "the registration checks failed"
pass
# A policy without its patterns, or an unknown one, is refused at start.
run serve --market market --registration email_patterns --listen 127.0.0.1:0
[[ $status -eq 1 ]] || fail "a policy without patterns: exited $status"
grep -q '^lwdock serve: error: .*--registration-email-patterns' stderr.txt || fail "the error does not name the option"
pass
set +e
"$LWDOCK" serve --market market --registration sometimes --listen 127.0.0.1:0 >stdout.txt 2>stderr.txt
status=$?
set -e
[[ $status -eq 2 ]] && grep -q "registration" stderr.txt || fail "an unknown policy was not refused: $status"
pass

# ---- the same accounts in PostgreSQL ----
if [[ ! -s $URL_FILE ]]; then
  if [[ ${LWDOCK_TEST_NO_POSTGRES:-} == 1 ]]; then
    echo "PostgreSQL part skipped (LWDOCK_TEST_NO_POSTGRES=1)"
    echo "ok: $checks checks"
    exit 0
  fi
  fail "no PostgreSQL test server: $URL_FILE is missing (see the postgres.start test)"
fi
BASE_URL=$(head -n1 "$URL_FILE")
SCHEMA="lwd_admin_cli_$$_$RANDOM"
psql_admin() { PGOPTIONS='--client-min-messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BASE_URL" "$@" >/dev/null; }
psql_admin -c "CREATE SCHEMA $SCHEMA"
trap 'psql_admin -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" || true; rm -rf "$WORK"' EXIT
URL="$BASE_URL?options=-csearch_path%3D$SCHEMA"
expect_ok market create pgmarket --db "$URL"
with_stdin "$PASSWORD" admin create-user --market pgmarket --db "$URL" --name root --email root@example.org \
  --role super-admin
[[ $status -eq 0 ]] || fail "create-user on PostgreSQL exited $status"
pass
with_stdin "another long pass phrase" admin create-user --market pgmarket --db "$URL" --name ada --email ada@example.org
with_stdin "$PASSWORD" admin create-user --market pgmarket --db "$URL" --name bob --email bob@example.org
with_stdin "$PASSWORD" admin create-user --market pgmarket --db "$URL" --name root --email x@example.org
expect_refused 1 "name is taken"
serve_and_check pgmarket --db "$URL"

echo "ok: $checks checks"
