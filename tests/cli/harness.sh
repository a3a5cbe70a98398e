# Shared by the CLI test scripts (sourced, not run): a scratch directory that
# is removed on exit, the check counter, and running lwdock with its output
# captured. Each script adds the expect_error its commands need.
#
#   source harness.sh NAME PATH/TO/lwdock
# sets LWDOCK (absolute), enters a fresh $WORK, and defines:
#   fail MESSAGE    print MESSAGE with the last stderr/stdout and exit 1
#   pass            count one passed check
#   run ARGS...     run lwdock ARGS, leaving stdout.txt, stderr.txt and $status
#   expect_ok ARGS  run, and fail unless it exited 0

LWDOCK=$(realpath "$2")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-$1.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

checks=0
fail() {
  echo "FAIL: $*" >&2
  if [[ -s stderr.txt ]]; then
    echo "--- stderr:" >&2
    cat stderr.txt >&2
  fi
  if [[ -s stdout.txt ]]; then
    echo "--- stdout:" >&2
    head -c 4000 stdout.txt >&2
  fi
  exit 1
}
pass() { checks=$((checks + 1)); }
run() {
  set +e
  "$LWDOCK" "$@" >stdout.txt 2>stderr.txt
  status=$?
  set -e
}
expect_ok() {
  run "$@"
  [[ $status -eq 0 ]] || fail "lwdock $* exited $status"
  pass
}
