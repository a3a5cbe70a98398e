#!/usr/bin/env python3
"""Fails when a speed-up measured within one run falls below half its baseline.

  perf_gate.py RUN.json BASELINE.json            check (exit 1 if a ratio fell)
  perf_gate.py RUN.json BASELINE.json --update   rewrite the baseline's ratios from RUN

RUN.json is Google Benchmark JSON (--benchmark_format=json, with repetitions:
the median aggregate is used). BASELINE.json lists the ratios that matter:

  {"ratios": [{"name": "...", "slow": "BM_A/args", "fast": "BM_B/args", "ratio": 30.7}],
   "min_fraction": 0.5, "measured": "...where and at which commit..."}

Each ratio is time(slow) / time(fast) from the same run, so a loaded machine
slows both sides alike; absolute times are printed, never gated.
"""
import argparse
import json
import sys


def medians(path):
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        out[name] = float(b["real_time"])
    return doc.get("context", {}), out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("baseline")
    p.add_argument("--update", action="store_true", help="rewrite the baseline's ratios from this run")
    p.add_argument("--measured", default="", help="with --update: where and at which commit")
    args = p.parse_args()
    try:
        context, times = medians(args.run)
        with open(args.baseline) as f:
            baseline = json.load(f)
        ratios = baseline["ratios"]
        min_fraction = float(baseline.get("min_fraction", 0.5))
    except (OSError, ValueError, KeyError) as e:
        print(f"perf_gate: cannot read the run or the baseline: {e}", file=sys.stderr)
        return 2
    failed = []
    print(f"{'ratio':<44} {'slow ms':>10} {'fast ms':>10} {'now':>8} {'baseline':>9}")
    for r in ratios:
        missing = [side for side in (r["slow"], r["fast"]) if side not in times]
        if missing:
            print(f"perf_gate: {r['name']}: not in the run: {', '.join(missing)}", file=sys.stderr)
            failed.append(r["name"])
            continue
        slow, fast = times[r["slow"]], times[r["fast"]]
        now = slow / fast if fast > 0 else float("inf")
        print(f"{r['name']:<44} {slow:>10.3f} {fast:>10.3f} {now:>7.2f}x {r['ratio']:>8.2f}x")
        if args.update:
            r["ratio"] = round(now, 2)
        elif now < min_fraction * float(r["ratio"]):
            failed.append(r["name"])
    if args.update:
        if failed:
            print("perf_gate: not updated: a benchmark is missing", file=sys.stderr)
            return 1
        baseline["measured"] = args.measured
        with open(args.baseline, "w") as f:
            json.dump(baseline, f, indent=2)
            f.write("\n")
        print(f"perf_gate: {args.baseline} rewritten")
        return 0
    host = context.get("host_name", "?")
    print(f"(run on {host}, {context.get('num_cpus', '?')} CPUs; a ratio fails below {min_fraction:g} of its baseline)")
    if failed:
        print(f"perf_gate: fell below {min_fraction:g} of the baseline: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
