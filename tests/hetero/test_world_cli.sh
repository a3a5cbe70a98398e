#!/usr/bin/env bash
# Drives `lwdock market remap` and `lwdock search --hetero` as a user would:
# a market of learnwares in two feature spaces (same width, other feature
# descriptions), a world trained on them, a user whose columns are described
# in an order no learnware has, and every way of asking wrongly.
#
#   test_world_cli.sh PATH/TO/lwdock
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../cli/harness.sh" world "$1"
source "$HERE/../cli/table_packages.sh"

expect_usage_error() {
  run "$@"
  [[ $status -eq 2 ]] || fail "lwdock $* exited $status, expected 2"
  pass
}
json_get() { python3 -c "import json,sys; d=json.load(open('stdout.txt')); print($1)"; }

# semantic_described FILE NAME D0 D1 D2: a Table/Regression semantic spec whose
# three features are described by D0, D1, D2.
semantic_described() {
  cat >"$1" <<JSON
{"Data":{"Values":["Table"],"Type":"Class"},"Task":{"Values":["Regression"],"Type":"Class"},
 "Library":{"Values":["Others"],"Type":"Class"},"Scenario":{"Values":["Business"],"Type":"Tag"},
 "License":{"Values":["MIT"],"Type":"Class"},"Name":{"Values":"$2","Type":"String"},
 "Description":{"Values":"sales model $2","Type":"String"},
 "Input":{"Dimension":3,"Description":{"0":"$3","1":"$4","2":"$5"}},
 "Output":{"Dimension":1,"Description":{"0":"units sold today"}}}
JSON
}

A=("units sold one day before" "shelf price today" "day of the week")
B=("mean units sold over the previous week" "whether a promotion runs today" "units sold seven days before")

echo '{"type":"ridge","coef":[[1.0,-2.0,0.5]],"intercept":[0.1]}' >model.json
expect_ok market create m
n=0
for space in A B; do
  for centre in 0 6; do
    n=$((n + 1))
    make_csv "data$n.csv" "$centre" "$n"
    expect_ok spec generate --type table --input "data$n.csv" --k 20 -o "rkme$n.json"
    if [[ $space == A ]]; then
      semantic_described "sem$n.json" "store $n" "${A[@]}"
    else
      semantic_described "sem$n.json" "store $n" "${B[@]}"
    fi
    expect_ok package build --model model.json --spec "rkme$n.json" --semantic "sem$n.json" -o "lw$n.zip"
    expect_ok market add m "lw$n.zip"
  done
done

# The user: the centre-6 data of space A, described in another order.
make_csv user.csv 6 99
expect_ok spec generate --type table --input user.csv --k 20 -o user.json
semantic_described user_sem.json store "${A[1]}" "${A[2]}" "${A[0]}"

# ---- without a world: the error says what to run -----------------------------
expect_ok market remap m --status
grep -q "has no specification world" stdout.txt || fail "--status of a market without a world"
pass
expect_error 1 - search --market m --spec user.json --semantic user_sem.json --hetero
expect_error_mentions "lwdock market remap"
expect_usage_error search --market m --semantic user_sem.json --hetero
expect_usage_error market remap m --model transformer
expect_usage_error market remap m --dim 0

# ---- remap ----------------------------------------------------------------------
for model in desc-pool token-mlp; do
  expect_ok market remap m --model "$model" --dim 8 --epochs 3 --retrain-every 3 --json
  [[ $(json_get 'd["model"]') == "$model" ]] || fail "remap --model $model"
  [[ $(json_get 'd["system_specs"]') == 4 && $(json_get 'd["tables"]') == 4 ]] || fail "remap mapped $(cat stdout.txt)"
  pass
done
[[ $(json_get 'd["version"]') == 2 ]] || fail "the second remap is version 2"
[[ -s m/spec_world/model.json && -s m/spec_world/system_specs.h5 && -s m/spec_world/config.json ]] ||
  fail "remap left no world files"
pass
# The flags given became the market's: a remap without them keeps them.
expect_ok market remap m --json
[[ $(json_get 'd["model"]') == token-mlp && $(json_get 'd["dim"]') == 8 ]] || fail "remap forgot the settings"
pass

# ---- search --hetero ----------------------------------------------------------------
expect_ok search --market m --spec user.json --semantic user_sem.json --hetero --json
[[ $(json_get 'd["space"]') == heterogeneous ]] || fail "the user's order of descriptions is no market space"
[[ $(json_get 'd["world_version"]') == 3 ]] || fail "world_version"
[[ $(json_get 'd["candidates"]') == 4 ]] || fail "every system spec is a candidate"
pass
# A user of space B's descriptions, in B's order: the homogeneous search.
semantic_described user_b.json store "${B[@]}"
expect_ok search --market m --spec user.json --semantic user_b.json --hetero --json
[[ $(json_get 'd["space"]') == homogeneous && $(json_get '"world_version" not in d') == True ]] ||
  fail "a market space is searched homogeneously"
pass
# Without --hetero the JSON is the stable schema, unchanged.
expect_ok search --market m --spec user.json --semantic user_b.json --json
[[ $(json_get '"space" in d') == False ]] || fail "search without --hetero gained fields"
pass
# A feature left undescribed: a heterogeneous search cannot read the columns.
python3 - <<'PY'
import json
s = json.load(open("user_sem.json"))
del s["Input"]["Description"]["1"]
json.dump(s, open("user_half.json", "w"))
PY
# (width 3 with an undescribed column still counts as a market space: the
# homogeneous search runs; a width no learnware has cannot)
python3 - <<'PY'
import random
r = random.Random(5)
with open("wide.csv", "w") as f:
    f.write("a,b,c,d\n")
    for _ in range(100):
        f.write(",".join(f"{6 + r.gauss(0, 1):.6f}" for _ in range(4)) + "\n")
PY
expect_ok spec generate --type table --input wide.csv --k 10 -o wide.json
expect_error 1 - search --market m --spec wide.json --semantic user_half.json --hetero
expect_error_mentions "description of every one"
expect_ok search --market m --spec user.json --semantic user_half.json --hetero --json
[[ $(json_get 'd["space"]') == homogeneous ]] || fail "an undescribed column of a market width"
pass

# ---- the world follows the market ----------------------------------------------------
make_csv data5.csv 3 5
expect_ok spec generate --type table --input data5.csv --k 20 -o rkme5.json
semantic_described sem5.json "store 5" "${A[@]}"
expect_ok package build --model model.json --spec rkme5.json --semantic sem5.json -o lw5.zip
expect_ok market add m lw5.zip
grep -q "specification world: 1 system spec(s) mapped" stderr.txt || fail "add did not map the new learnware"
pass
expect_ok market delete m 00000001
grep -q "0 system spec(s) mapped, 1 dropped" stderr.txt || fail "delete did not drop the system spec"
pass
expect_ok market remap m --status --json
[[ $(json_get 'd["system_specs"]') == 4 && $(json_get 'd["version"]') == 3 ]] || fail "status after add and delete"
pass
# Two more arrivals (three since training; --retrain-every 3): retrained.
for k in 6 7; do
  make_csv "data$k.csv" "$k" "$k"
  expect_ok spec generate --type table --input "data$k.csv" --k 20 -o "rkme$k.json"
  semantic_described "sem$k.json" "store $k" "${B[@]}"
  expect_ok package build --model model.json --spec "rkme$k.json" --semantic "sem$k.json" -o "lw$k.zip"
  expect_ok market add m "lw$k.zip"
done
grep -q "specification world: retrained (version 4" stderr.txt || fail "no retraining after 3 arrivals"
pass

# ---- damaged files ------------------------------------------------------------------------
echo 'not json' >m/spec_world/model.json
expect_error 1 - search --market m --spec user.json --semantic user_sem.json --hetero
expect_error_mentions "model.json"
expect_ok market remap m --json
[[ $(json_get 'd["version"]') == 1 ]] || fail "a remap over a damaged model starts again at version 1"
pass

echo "world cli: $checks checks passed"
