#!/usr/bin/env bash
# The web pages' targets, measured in a real browser (headless Chromium) on
# loopback: how long the search page takes from pressing Search with a spec
# file to showing the results, over a market of --learnwares synthetic table
# learnwares (width 32, K = 100, as bench/server_load builds them), and a
# package of --package-mib MiB submitted through the submit page, then through
# `lwdock client submit`, while the server's resident memory is watched (its
# peak before and after, and the highest RSS sampled every 100 ms during the
# upload and verification).
#
#   bench/web_pages.sh [--learnwares 1100] [--package-mib 200] [--searches 20] [-o FILE.json]
# Builds what it needs (release preset). Prints one JSON document; -o writes it too.
set -euo pipefail
cd "$(dirname "$0")/.."
learnwares=1100
package_mib=200
searches=20
out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --learnwares) learnwares=$2; shift 2 ;;
    --package-mib) package_mib=$2; shift 2 ;;
    --searches) searches=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "web_pages.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
scripts/build.sh release lwdock lwdock-server web_pages server_load >/dev/null
ROOT=$PWD
LWDOCK=$ROOT/build/release/apps/lwdock
SERVER=$ROOT/build/release/apps/lwdock-server
CHROMIUM=${LWDOCK_CHROMIUM:-$(command -v chromium)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-web-bench.XXXXXX")
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

echo "web_pages: building a market of $learnwares learnwares" >&2
# server_load builds its synthetic market when the directory has none; one
# second of one search a second is the least it runs.
"$ROOT/build/release/bench/server_load" --server "$SERVER" --market market --learnwares "$learnwares" \
  --rates 1 --seconds 1 >/dev/null
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$PASSWORD" | "$LWDOCK" admin create-user --market market --name bench --email bench@example.org >/dev/null

echo "web_pages: a package of $package_mib MiB" >&2
python3 - "$package_mib" <<'PY'
import json, random, sys
mib = int(sys.argv[1])
r = random.Random(1)
dim = 32
rows = [[r.gauss(0, 1) for _ in range(dim)] for _ in range(300)]
with open("data.csv", "w") as f:
    f.write(",".join(f"x{i}" for i in range(dim)) + "\n")
    for row in rows:
        f.write(",".join(f"{v:.6f}" for v in row) + "\n")
json.dump({"type": "ridge", "coef": [[0.01] * dim], "intercept": [0.0]}, open("model.json", "w"))
sem = {"Data": {"Values": ["Table"], "Type": "Class"}, "Task": {"Values": ["Regression"], "Type": "Class"},
       "Library": {"Values": ["Others"], "Type": "Class"}, "Scenario": {"Values": ["Business"], "Type": "Tag"},
       "License": {"Values": ["MIT"], "Type": "Class"}, "Name": {"Values": "large package", "Type": "String"},
       "Description": {"Values": "a model with a large environment file", "Type": "String"},
       "Input": {"Dimension": dim, "Description": {str(i): f"x{i}" for i in range(dim)}},
       "Output": {"Dimension": 1, "Description": {"0": "y"}}}
json.dump(sem, open("semantic.json", "w"))
# incompressible bytes: the zip is as large as asked
with open("environment.bin", "wb") as f:
    for _ in range(mib):
        f.write(random.randbytes(1 << 20))
PY
"$LWDOCK" spec generate --type table --input data.csv --k 20 -o rkme.json >/dev/null
"$LWDOCK" package build --model model.json --spec rkme.json --semantic semantic.json --env environment.bin \
  -o large.zip >/dev/null

"$SERVER" --market market --listen 127.0.0.1:0 --workers 1 --web-root "$ROOT/build/release/share/lwdock/web" \
  --access-log /dev/null >server.log 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' server.log)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat server.log >&2; exit 1; }
  sleep 0.1
done
# One learnware's own spec is the user's file (it ranks that learnware first).
curl -sf "http://127.0.0.1:$port/api/engine/learnwares/00000001/spec" |
  python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["data"]["specs"][0]["file"], open("user-spec.json","w"))'

node "$ROOT/bench/web_pages.mjs" --url "http://127.0.0.1:$port" --chromium "$CHROMIUM" \
  --node-modules "$ROOT/web/node_modules" --spec "$WORK/user-spec.json" --searches "$searches" \
  --package "$WORK/large.zip" --user bench --password "$PASSWORD" --server-pid "$server_pid" >browser.json

# The same package through `lwdock client submit`, the server's memory sampled
# every 100 ms; the client's own peak from the kernel's accounting of children.
echo "web_pages: the package through lwdock client" >&2
export XDG_CONFIG_HOME=$WORK/config LWDOCK_SERVER="http://127.0.0.1:$port"
printf '%s\n' "$PASSWORD" | "$LWDOCK" client login --user bench >/dev/null
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status"; }
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status"; }
rss_before=$(rss)
hwm_before=$(hwm)
( peak=0; while [[ ! -e client.done ]]; do r=$(rss); (( r > peak )) && peak=$r; echo "$peak" >rss.peak; sleep 0.1; done ) &
sampler=$!
start=$(date +%s.%N)
python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=open("client.json", "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)' "$LWDOCK" client submit large.zip --wait --json >client.maxrss
end=$(date +%s.%N)
touch client.done
wait "$sampler"
python3 - "$rss_before" "$(cat rss.peak)" "$hwm_before" "$(hwm)" "$(cat client.maxrss)" "$start" "$end" >client-bench.json <<'PY'
import json, sys
rb, rp, hb, ha, cm, t0, t1 = (float(x) for x in sys.argv[1:])
c = json.load(open("client.json"))
print(json.dumps({"status": c["status"], "seconds_to_verified": round(t1 - t0, 3),
                  "server_rss_mib_before": rb / 1024, "server_peak_rss_mib_during": rp / 1024,
                  "server_hwm_mib_before": hb / 1024, "server_hwm_mib_after": ha / 1024,
                  "client_peak_rss_mib": cm / 1024}))
PY

python3 - "$learnwares" "$package_mib" "$(git -C "$ROOT" rev-parse --short HEAD)" "$(nproc)" >result.json <<'PY'
import json, sys, platform
b = json.load(open("browser.json"))
b["upload_client"] = json.load(open("client-bench.json"))
b.update({"learnwares": int(sys.argv[1]), "package_mib": int(sys.argv[2]), "commit": sys.argv[3],
          "machine": f"{platform.machine()}, {sys.argv[4]} CPUs", "browser": "headless Chromium (Debian)"})
print(json.dumps(b, indent=1))
PY
cat result.json
[[ -z $out ]] || cp result.json "$ROOT/$out"
