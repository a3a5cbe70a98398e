#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (the `fuzz` preset: clang, ASan +
# UBSan) and runs each for a bounded time on a scratch copy of its committed
# seed corpus (fuzz/corpus/<target>/ is never written). Fails on any finding --
# crash, sanitizer report, leak, uncaught exception, timeout, out of memory --
# after printing the reproducer. Prints the executions of every target and the
# total. scripts/test.sh (CI) runs it with the default 25 s per target.
#
# Usage: scripts/fuzz.sh [--seconds N] [--runs N] [--target NAME]... [--keep-going] [--no-build]
#   --seconds N   fuzzing time per target (default 25)
#   --runs N      stop each target after N executions instead (or earlier, at
#                 --seconds when that is given too)
#   --target NAME run only this target (repeatable): csv table_spec text_spec
#                 image_spec stat_spec semantic_spec manifest package
#   --keep-going  fuzz in a child process (libFuzzer -fork=1) that is restarted
#                 after a crash, timeout or OOM, so one known bug does not end a
#                 long run; every finding is kept and the script still fails
#   --no-build    use the binaries already in build/fuzz
# Scratch corpora, logs and reproducers go to build/fuzz/run/<target>/
# (LW_FUZZ_WORKDIR overrides). Reproduce a finding with
#   build/fuzz/fuzz/fuzz_<target> <reproducer file>
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(csv table_spec text_spec image_spec stat_spec semantic_spec manifest package)
seconds=""
runs=""
targets=()
build=1
keep_going=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
    --target) targets+=("${2:?--target needs a value}"); shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$seconds" ] || [ -n "$runs" ] || seconds=25
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: no target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# Per format: the longest input worth mutating, and the dictionary.
# Twice the largest seed or so: long enough for every structure the reader
# knows, short enough to keep the executions per second high.
max_len_of() {
  case "$1" in
    manifest) echo 1024 ;;
    image_spec) echo 4096 ;;
    *) echo 2048 ;;
  esac
}
dict_of() {
  case "$1" in
    table_spec|text_spec|image_spec|stat_spec) echo fuzz/dict/spec.dict ;;
    *) echo "fuzz/dict/$1.dict" ;;
  esac
}

if [ "$build" -eq 1 ]; then
  scripts/install-deps.sh
  cmake --preset fuzz >/dev/null
  build_targets=()
  for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
  cmake --build --preset fuzz --target "${build_targets[@]}"
fi

work="${LW_FUZZ_WORKDIR:-build/fuzz/run}"
mkdir -p "$work"
# A UBSan report aborts (also compiled with -fno-sanitize-recover); ASan's
# leak checker runs at the end of every input (libFuzzer's -detect_leaks=1).
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
if [ -s fuzz/lsan.supp ]; then
  export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi

total=0
failed=()
start=$(date +%s)
printf '%-14s %12s %10s %8s %8s  %s\n' target executions exec/s cov corpus result
for t in "${targets[@]}"; do
  dir="$work/$t"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -R "fuzz/corpus/$t/." "$dir/corpus/"
  limits=()
  [ -n "$seconds" ] && limits+=("-max_total_time=$seconds")
  [ -n "$runs" ] && limits+=("-runs=$runs")
  [ "$keep_going" -eq 1 ] && limits+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  t0=$(date +%s)
  status=0
  "build/fuzz/fuzz/fuzz_$t" "${limits[@]}" -max_len="$(max_len_of "$t")" -rss_limit_mb=2048 -timeout=10 \
    -dict="$(dict_of "$t")" -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$dir/corpus" >"$dir/log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
  # With --keep-going the parent prints no final stats: take its last status
  # line ("#N: cov: ..."), which lags the children by a few seconds at most.
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$dir/log" | tail -n 1)
  rate=$(( ${execs:-0} / ( $(date +%s) - t0 > 0 ? $(date +%s) - t0 : 1 ) ))
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  artifacts=$(find "$dir/artifacts" -type f | sort)
  result=ok
  if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
    result="FAILED (exit $status)"
    failed+=("$t")
  fi
  total=$((total + ${execs:-0}))
  printf '%-14s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corpus" "$result"
  if [ "$result" != ok ]; then
    echo "---- fuzz_$t: the end of $dir/log" >&2
    grep -v -e '^#[0-9]' -e 'NEW_FUNC' "$dir/log" | tail -n 40 >&2
    for a in $(echo "$artifacts" | head -n 10); do
      echo "fuzz_$t reproducer: $a (run: build/fuzz/fuzz/fuzz_$t $a)" >&2
    done
    n=$(echo "$artifacts" | grep -c . || true)
    [ "$n" -le 10 ] || echo "fuzz_$t: $((n - 10)) more reproducers in $dir/artifacts/" >&2
    echo "----" >&2
  fi
done
printf '%-14s %12s   (%s s of fuzzing)\n' total "$total" "$(($(date +%s) - start))"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in ${failed[*]}; reproducers under $work/<target>/artifacts/" >&2
  exit 1
fi
