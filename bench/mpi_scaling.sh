#!/usr/bin/env bash
# How `lwdock scenario run tabular-homo` scales when its users are sharded over
# MPI ranks on this machine (engine/dist): the same run on one rank and on
# --ranks ranks, each configuration --repeat times (the fastest kept), in one
# invocation, with the tables checked identical. Two one-rank baselines:
#   one rank, T/N threads   the per-rank resources of the sharded run: the scaling of the sharding
#   one rank, T threads     every core in one process (OpenMP over users): same cores, the fair comparison
# where T is --cores (default: nproc) and each of the N ranks runs T/N OpenMP
# threads (--threads), so the sharded run uses the same cores as the second.
#
#   bench/mpi_scaling.sh [--ranks 2] [--cores N] [--stores-per-chain 6] [--users 20]
#                        [--grid 20,50,100] [--repeats-per-n 3] [--repeat 2] [-o FILE.json]
# Builds lwdock (release preset, LW_MPI) and a market of --stores-per-chain
# stores of each chain (compact features, log1p units). Prints one JSON document; -o writes it too.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
ranks=2
cores=$(nproc)
stores=6
users=20
grid=20,50,100
repeats_per_n=3
repeat=2
out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --cores) cores=$2; shift 2 ;;
    --stores-per-chain) stores=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --grid) grid=$2; shift 2 ;;
    --repeats-per-n) repeats_per_n=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "mpi_scaling.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( cores % ranks != 0 )); then
  echo "mpi_scaling.sh: --cores $cores is not a multiple of --ranks $ranks" >&2
  exit 2
fi
[[ -z $out || $out == /* ]] || out=$caller/$out
command -v mpirun >/dev/null || { echo "mpi_scaling.sh: mpirun not found (scripts/install-deps.sh)" >&2; exit 1; }
scripts/build.sh release lwdock >/dev/null
ROOT=$PWD
LWDOCK=$ROOT/build/release/apps/lwdock
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-mpi-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$LWDOCK" market build m --tabular --stores-per-chain "$stores" --space compact --label log1p_units --quiet >/dev/null
learnwares=$("$LWDOCK" market list m 2>/dev/null | tail -n +2 | wc -l)
args=(scenario run tabular-homo --market m --quiet --param "users=$users" --param spaces=compact/log1p_units
      --param "grid=$grid" --param "repeats=$repeats_per_n")
per_rank=$((cores / ranks))

# seconds of the fastest of --repeat runs of "$@" (wall clock of the whole command)
fastest() {
  local best="" t0 t1 s
  for ((i = 0; i < repeat; i++)); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    s=$(python3 -c "print($t1 - $t0)")
    best=$(python3 -c "b='$best'; print($s if not b else min(float(b), $s))")
  done
  echo "$best"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
one_small=$(fastest "$LWDOCK" --threads "$per_rank" "${args[@]}" --out one_small)
one_all=$(fastest "$LWDOCK" --threads "$cores" "${args[@]}" --out one_all)
sharded=$(fastest mpirun --oversubscribe -np "$ranks" "$LWDOCK" --threads "$per_rank" "${args[@]}" --out sharded)
for f in table.json curve.csv; do
  cmp -s one_all/$f sharded/$f || { echo "mpi_scaling.sh: $f on $ranks ranks differs from one rank" >&2; exit 1; }
  cmp -s one_small/$f sharded/$f || { echo "mpi_scaling.sh: $f on $ranks ranks differs from one rank" >&2; exit 1; }
done

commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo "+changes")
json=$(python3 - "$ranks" "$cores" "$per_rank" "$one_small" "$one_all" "$sharded" "$learnwares" "$users" "$grid" \
  "$repeats_per_n" "$repeat" "$commit" "$(nproc)" "$(mpirun --version | head -1)" "$load_before" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$WORK" <<'PY'
import json, platform, sys
(ranks, cores, per_rank, one_small, one_all, sharded, learnwares, users, grid, reps, repeat, commit, nproc,
 mpi, load_before, load_after, work) = sys.argv[1:]
ranks, cores, per_rank = int(ranks), int(cores), int(per_rank)
one_small, one_all, sharded = float(one_small), float(one_all), float(sharded)
cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
# Where the time went, from each configuration's run.json (rank 0's; its
# users phase includes waiting for the other ranks' users at the exchange).
def phases(name):
    run = json.load(open("%s/%s/run.json" % (work, name)))
    return {"in_run_seconds": round(run["total_seconds"], 3),
            "phases": {p["name"]: round(p["seconds"], 3) for p in run["phases"]}}
print(json.dumps({
    "benchmark": "tabular-homo users sharded over MPI ranks (whole command, wall clock, fastest of %s)" % repeat,
    "command": "lwdock --threads T scenario run tabular-homo --market M --quiet --param users=%s "
               "--param spaces=compact/log1p_units --param grid=%s --param repeats=%s" % (users, grid, reps),
    "market_learnwares": int(learnwares), "users": int(users),
    "ranks": ranks, "cores": cores, "threads_per_rank": per_rank,
    "seconds": {"one_rank_%d_threads" % per_rank: round(one_small, 3),
                "one_rank_%d_threads" % cores: round(one_all, 3),
                "%d_ranks_%d_threads_each" % (ranks, per_rank): round(sharded, 3)},
    "last_run": {"one_rank_%d_threads" % per_rank: phases("one_small"),
                 "one_rank_%d_threads" % cores: phases("one_all"),
                 "%d_ranks_%d_threads_each" % (ranks, per_rank): phases("sharded")},
    "speedup_vs_one_rank_same_threads_per_rank": round(one_small / sharded, 3),
    "speedup_vs_one_rank_all_cores": round(one_all / sharded, 3),
    "tables_identical": True,
    "load_average_before_after": [load_before, load_after],
    "commit": commit, "machine": "%s, %s, %s CPUs" % (platform.machine(), cpu, nproc), "mpi": mpi,
}, indent=2))
PY
)
echo "$json"
if [[ -n $out ]]; then
  mkdir -p "$(dirname "$out")"
  echo "$json" >"$out"
fi
