# Shared by the CLI test scripts (sourced, not run): a scratch directory that
# is removed on exit, the check counter, and running lwdock with its output
# captured. expect_error below is the strict form (exit status, one error
# line, no stdout, no output file); a script whose commands need another
# defines its own after sourcing this.
#
#   source harness.sh NAME PATH/TO/lwdock
# sets LWDOCK (absolute), enters a fresh $WORK, and defines:
#   fail MESSAGE    print MESSAGE with the last stderr/stdout and exit 1
#   pass            count one passed check
#   run ARGS...     run lwdock ARGS, leaving stdout.txt, stderr.txt and $status
#   expect_ok ARGS  run, and fail unless it exited 0
#   expect_error STATUS OUTPUT ARGS, expect_error_mentions TEXT (see below)

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

# expect_error STATUS OUTPUT ARGS...: lwdock ARGS fails with exit STATUS, one
# error line, nothing on stdout, and OUTPUT (a path, or - for none) not created.
expect_error() {
  local want=$1 output=$2
  shift 2
  run "$@"
  [[ $status -eq $want ]] || fail "lwdock $* exited $status, expected $want"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "lwdock $*: expected exactly one line on stderr"
  grep -q '^lwdock: error: ' stderr.txt || fail "lwdock $*: stderr does not start with 'lwdock: error: '"
  [[ ! -s stdout.txt ]] || fail "lwdock $*: wrote to stdout on error"
  if [[ $output != - && -e $output ]]; then fail "lwdock $*: created $output"; fi
  pass
}

# expect_error_mentions TEXT: the last error line contains TEXT.
expect_error_mentions() {
  grep -qF -- "$1" stderr.txt || fail "error line does not mention '$1': $(cat stderr.txt)"
  pass
}
