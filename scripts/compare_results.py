#!/usr/bin/env python3
"""Compares two runs of the reproduction, scenario by scenario, as Markdown.

  scripts/compare_results.py OLD NEW [--label-old A] [--label-new B] [--no-curves] [SCENARIO ...]

OLD and NEW are folders holding one sub-folder per scenario run (a results/
tree: NAME/table.json and NAME/run.json; NAME may be nested, such as
tabular-hetero-fe/world-token-mlp). OLD may also be `git:REV`, meaning the
results/ tree committed at REV. With no SCENARIO, every table.json under NEW is
compared with its counterpart under OLD.

For each table: every setting's mean ± std before and after, the change
relative to before (signed so that + is better), and the order of the settings
best first, before and after. For each curve: every series at the smallest and
the largest labelled-data size. Notes that differ (the search's mixtures, the
top picks) are listed before / after.
"""
import argparse
import json
import os
import subprocess
import sys


def load_json(root, rel):
    if root.startswith("git:"):
        rev = root[4:]
        try:
            text = subprocess.run(["git", "show", f"{rev}:results/{rel}"], check=True, capture_output=True,
                                  text=True).stdout
        except subprocess.CalledProcessError:
            return None
        return json.loads(text)
    path = os.path.join(root, rel)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def scenario_names(root):
    out = []
    for dirpath, _, files in os.walk(root):
        if "table.json" in files:
            out.append(os.path.relpath(dirpath, root))
    return sorted(out)


def fmt(v):
    if v is None:
        return "—"
    return f"{v['mean']:.4f} ± {v['std']:.4f}"


def order(rows, higher_is_better):
    ranked = [r for r in rows if r.get("ours")]
    ranked.sort(key=lambda r: r["ours"]["mean"], reverse=higher_is_better)
    return " > ".join(r["label"] for r in ranked)


def change(old, new, higher_is_better):
    if not old or not new or old["mean"] == 0:
        return "—"
    if new["mean"] == old["mean"]:
        return "="
    rel = (new["mean"] - old["mean"]) / abs(old["mean"])
    if not higher_is_better:
        rel = -rel
    return f"{100 * rel:+.1f} %"


def compare_table(t_old, t_new, labels, out):
    hib = t_new.get("higher_is_better", False)
    out.append(f"**{t_new.get('title') or t_new['key']}** ({t_new.get('metric', '')}, "
               f"{'higher' if hib else 'lower'} is better; change: + is better)")
    out.append("")
    out.append(f"| Setting | {labels[0]} | {labels[1]} | change |")
    out.append("|---|---:|---:|---:|")
    old_rows = {r["key"]: r for r in (t_old or {}).get("rows", [])}
    for r in t_new["rows"]:
        o = old_rows.get(r["key"], {}).get("ours")
        out.append(f"| {r['label']} | {fmt(o)} | {fmt(r.get('ours'))} | {change(o, r.get('ours'), hib)} |")
    out.append("")
    if t_old:
        before, after = order(t_old["rows"], hib), order(t_new["rows"], hib)
        if before == after:
            out.append(f"Order, best first (unchanged): {after}.")
        else:
            out.append(f"Order, best first: {labels[0]}: {before}; {labels[1]}: {after}.")
        out.append("")
        old_notes, new_notes = t_old.get("notes", []), t_new.get("notes", [])
        changed = [(a, b) for a, b in zip(old_notes, new_notes) if a != b]
        for a, b in changed:
            out.append(f"- {labels[0]}: {a}")
            out.append(f"  {labels[1]}: {b}")
        if changed:
            out.append("")


def compare_curve(c_old, c_new, labels, out):
    x = c_new.get("x", [])
    if not x:
        return
    ends = [0, len(x) - 1] if len(x) > 1 else [0]
    head = " | ".join(f"n = {x[i]:g}, {lab}" for i in ends for lab in labels)
    out.append(f"Labelled-data curve {c_new['key']}, mean over repeats at the ends of the grid:")
    out.append("")
    out.append(f"| Series | {head} |")
    out.append("|---|" + "---:|" * (2 * len(ends)))
    old_series = {s["key"]: s for s in (c_old or {}).get("series", [])}
    for s in c_new["series"]:
        o = old_series.get(s["key"])
        cells = []
        for i in ends:
            ov = o["points"][i]["mean"] if o and i < len(o["points"]) else None
            nv = s["points"][i]["mean"] if i < len(s["points"]) else None
            cells += ["—" if ov is None else f"{ov:.4f}", "—" if nv is None else f"{nv:.4f}"]
        out.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    out.append("")


def run_line(run, label):
    if not run:
        return f"{label}: no run.json"
    dirty = " (dirty)" if run.get("dirty") else ""
    return f"{label}: commit `{run.get('commit', '?')}`{dirty}, {run.get('threads', '?')} threads, " \
           f"{run.get('total_seconds', 0):.0f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("scenarios", nargs="*")
    p.add_argument("--label-old", default="before")
    p.add_argument("--label-new", default="after")
    p.add_argument("--no-curves", action="store_true", help="tables only")
    args = p.parse_intermixed_args()
    if not os.path.isdir(args.new):
        print(f"compare_results: {args.new} is not a folder", file=sys.stderr)
        return 2
    names = args.scenarios or scenario_names(args.new)
    if not names:
        print(f"compare_results: no table.json under {args.new}", file=sys.stderr)
        return 2
    labels = (args.label_old, args.label_new)
    out = []
    for name in names:
        try:
            new = load_json(args.new, f"{name}/table.json")
            old = load_json(args.old, f"{name}/table.json")
        except (OSError, ValueError) as e:
            print(f"compare_results: {name}: {e}", file=sys.stderr)
            return 2
        if new is None:
            print(f"compare_results: {name}: no table.json under {args.new}", file=sys.stderr)
            return 2
        out.append(f"### {name}")
        out.append("")
        out.append(run_line(load_json(args.old, f"{name}/run.json"), labels[0]) + "; " +
                   run_line(load_json(args.new, f"{name}/run.json"), labels[1]) + ".")
        out.append("")
        old_tables = {t["key"]: t for t in (old or {}).get("tables", [])}
        for t in new.get("tables", []):
            compare_table(old_tables.get(t["key"]), t, labels, out)
        old_curves = {c["key"]: c for c in (old or {}).get("curves", [])}
        for c in ([] if args.no_curves else new.get("curves", [])):
            compare_curve(old_curves.get(c["key"]), c, labels, out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
