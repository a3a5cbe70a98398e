#!/usr/bin/env bash
# The web pages in a real browser: builds a small market (three table
# learnwares, a fourth package to submit through the page and a user's spec
# near it), creates the dock's super-admin and a second user with
# `lwdock admin create-user`, starts `lwdock serve` on 127.0.0.1 at a free port
# and runs e2e.mjs (puppeteer-core driving the system's Chromium) against it.
# The server is stopped and the scratch directory removed on every exit.
#
#   run_e2e.sh LWDOCK LWDOCK_SERVER WEB_DIR [--screenshots DIR]
set -euo pipefail
LWDOCK=$(realpath "$1")
SERVER=$(realpath "$2")
WEB=$(realpath "$3")
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../cli/table_packages.sh
source "$HERE/../cli/table_packages.sh"
NODE_MODULES=$(realpath "$HERE/../../web/node_modules")
CHROMIUM=${LWDOCK_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -n $CHROMIUM ]] || { echo "run_e2e: no chromium (apt-get install chromium; scripts/install-deps.sh does)" >&2; exit 1; }
[[ -d $NODE_MODULES/puppeteer-core ]] || { echo "run_e2e: web/node_modules has no puppeteer-core (npm ci --prefix web)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-web.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

quiet() { "$@" >/dev/null 2>>setup.log || { cat setup.log >&2; exit 1; }; }
echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
for i in 0 1 2 3; do
  make_csv "data$i.csv" $((i * 4)) $((i + 1))
  quiet "$LWDOCK" spec generate --type table --input "data$i.csv" --k 20 -o "rkme$i.json"
  semantic "sem$i.json" "store $i"
  quiet "$LWDOCK" package build --model model.json --spec "rkme$i.json" --semantic "sem$i.json" -o "lw$i.zip"
done
make_csv user.csv 12 99   # the user's data: like store 3's, which the browser submits
quiet "$LWDOCK" spec generate --type table --input user.csv --k 20 -o user-spec.json
quiet "$LWDOCK" market create market
for i in 0 1 2; do quiet "$LWDOCK" market add market "lw$i.zip" --owner dock; done
# Passwords are made here, for this run only.
ADMIN_PASSWORD="admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
BOB_PASSWORD="bob-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$ADMIN_PASSWORD" | quiet "$LWDOCK" admin create-user --market market --name root --email root@example.org --role super-admin
printf '%s\n' "$BOB_PASSWORD" | quiet "$LWDOCK" admin create-user --market market --name bob --email bob@example.org

"$SERVER" --market market --listen 127.0.0.1:0 --workers 1 --registration open --web-root "$WEB" \
  --access-log access.log >server.log 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' server.log)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run_e2e: the server exited:" >&2; cat server.log >&2; exit 1; }
  sleep 0.1
done
[[ -n $port ]] || { echo "run_e2e: the server never said where it listens" >&2; cat server.log >&2; exit 1; }

set +e
node "$HERE/e2e.mjs" --node-modules "$NODE_MODULES" --url "http://127.0.0.1:$port" --chromium "$CHROMIUM" \
  --work "$WORK" --package "$WORK/lw3.zip" --spec "$WORK/user-spec.json" --package-name "store 3" \
  --admin root --admin-password "$ADMIN_PASSWORD" --other bob "$@"
status=$?
set -e
if [[ $status -ne 0 ]]; then
  echo "--- server log" >&2
  tail -n 30 server.log >&2
fi
exit $status
