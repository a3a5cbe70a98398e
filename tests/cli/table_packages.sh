# Shared by the test scripts that build small table learnwares from the
# command line (sourced, not run): three-column CSVs of 300 rows around a
# centre, and the semantic spec of such a learnware.
#
#   make_csv FILE CENTRE SEED   rows of 3 Gaussian columns (a, b, c) around CENTRE
#   semantic FILE NAME          a Table/Regression semantic spec named NAME
make_csv() {
  python3 - "$@" <<'PY'
import random, sys
path, centre, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(path, "w") as f:
    f.write("a,b,c\n")
    for _ in range(300):
        f.write(",".join(f"{centre + r.gauss(0, 1):.6f}" for _ in range(3)) + "\n")
PY
}
semantic() {
  cat >"$1" <<JSON
{"Data":{"Values":["Table"],"Type":"Class"},"Task":{"Values":["Regression"],"Type":"Class"},
 "Library":{"Values":["Others"],"Type":"Class"},"Scenario":{"Values":["Business"],"Type":"Tag"},
 "License":{"Values":["MIT"],"Type":"Class"},"Name":{"Values":"$2","Type":"String"},
 "Description":{"Values":"sales model $2","Type":"String"},
 "Input":{"Dimension":3,"Description":{"0":"a","1":"b","2":"c"}},
 "Output":{"Dimension":1,"Description":{"0":"sales"}}}
JSON
}
