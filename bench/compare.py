#!/usr/bin/env python3
"""Ratios from Google Benchmark JSON output (--benchmark_format=json).

  compare.py RUN.json               speed-ups inside one run: for every benchmark
                                    BM_X_ReferencePattern/args (or a baseline named
                                    with --baseline-suffix) beside BM_X_Ours/args or
                                    BM_X/args, prints baseline_time / our_time.
  compare.py OLD.json NEW.json      per benchmark present in both: old / new time
                                    (> 1 means NEW is faster).

Only ratios measured within one run are meaningful on a shared, noisy machine.
"""
import argparse
import json
import sys


def load(path):
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        rows[name] = b
    return doc.get("context", {}), rows


def time_of(b):
    # real_time and cpu_time share the benchmark's time_unit; real_time is what a user waits for.
    return float(b["real_time"])


def split(name):
    head, _, args = name.partition("/")
    return head, args


def within(path, suffix):
    ctx, rows = load(path)
    print(f"# {path}: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} cpus, {ctx.get('date', '?')}")
    print(f"{'benchmark':60s} {'ours':>12s} {'baseline':>12s} {'speed-up':>9s}")
    found = False
    for name, b in rows.items():
        head, args = split(name)
        if not head.endswith(suffix):
            continue
        stem = head[: -len(suffix)]
        for ours_head in (stem + "_Ours", stem):
            ours_name = ours_head + ("/" + args if args else "")
            if ours_name in rows:
                o = rows[ours_name]
                print(f"{ours_name:60s} {time_of(o):12.4g} {time_of(b):12.4g} {time_of(b) / time_of(o):8.1f}x"
                      f"   ({o['time_unit']})")
                found = True
                break
    if not found:
        print(f"no benchmark pairs with suffix {suffix!r}", file=sys.stderr)
        return 1
    return 0


def between(old_path, new_path):
    _, old = load(old_path)
    _, new = load(new_path)
    print(f"{'benchmark':60s} {'old':>12s} {'new':>12s} {'old/new':>8s}")
    for name in old:
        if name in new:
            print(f"{name:60s} {time_of(old[name]):12.4g} {time_of(new[name]):12.4g} "
                  f"{time_of(old[name]) / time_of(new[name]):7.2f}x")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="one or two Google Benchmark JSON files")
    p.add_argument("--baseline-suffix", default="_ReferencePattern")
    a = p.parse_args()
    if len(a.runs) == 1:
        return within(a.runs[0], a.baseline_suffix)
    if len(a.runs) == 2:
        return between(*a.runs)
    p.error("give one or two JSON files")


if __name__ == "__main__":
    sys.exit(main())
