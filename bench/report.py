#!/usr/bin/env python3
"""Writes the figures section of bench/README.md from the JSON of one benchmark run.

  report.py [--commit SHA] RESULTS_DIR README

RESULTS_DIR holds <suite>.json files (Google Benchmark --benchmark_out) and
peak_memory.json (rkme_peak_memory lines). The section between the markers
<!-- figures:begin --> and <!-- figures:end --> in README is replaced; nothing
else in the file changes. Every ratio is computed inside one run: ours against
the baseline timed beside it, on the same machine, in the same process.
"""
import argparse
import json
import os
import platform
import re
import sys

BEGIN = "<!-- figures:begin -->"
END = "<!-- figures:end -->"
BASELINES = ("_ReferencePattern", "_PerPairFused", "_Float64Only", "_Materialised", "Ref")


def clean(name):
    """BM_X/mn:256/d:32/min_time:0.500/real_time -> BM_X/mn:256/d:32"""
    parts = [p for p in name.split("/") if not p.startswith("min_time:") and p not in ("real_time", "process_time")]
    return "/".join(parts)


def load(path):
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        rows[clean(b.get("run_name", b["name"]))] = b
    return doc.get("context", {}), rows


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_time(b):
    return f"{b['real_time']:.4g} {b['time_unit']}"


def counters(b):
    skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "family_index", "per_family_instance_index", "aggregate_name", "label"}
    out = []
    for k, v in b.items():
        if k in skip or not isinstance(v, (int, float)):
            continue
        if k.endswith("bytes"):
            out.append(f"{k}={v / 2**20:.1f} MiB")
        elif abs(v) >= 1e5:
            out.append(f"{k}={v:.3g}")
        else:
            out.append(f"{k}={v:.4g}")
    return ", ".join(out)


def to_seconds(b):
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return b["real_time"] * scale


def speedups(rows):
    """(ours, baseline, ratio) for every baseline with an _Ours (or bare) twin."""
    found = []
    for name, b in rows.items():
        head, _, args = name.partition("/")
        for suffix in BASELINES:
            if not head.endswith(suffix):
                continue
            stem = head[: -len(suffix)]
            # BM_RbfKernelMatrixRef/f64/... pairs with BM_RbfKernelMatrix/f64/...
            for ours_head in (stem + "_Ours", stem, stem + "Fused"):
                ours = ours_head + ("/" + args if args else "")
                if ours in rows and ours != name:
                    found.append((ours, name, to_seconds(b) / to_seconds(rows[ours])))
                    break
            break
    return found


def suite_section(suite, path):
    ctx, rows = load(path)
    lines = [f"### {suite}", ""]
    lines.append(f"`build/release/bench/bench_{suite}` — {ctx.get('num_cpus', '?')} CPUs, load average "
                 f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))} at start, {ctx.get('date', '?')}")
    lines += ["", "| benchmark | time | counters |", "|---|---:|---|"]
    for name, b in rows.items():
        lines.append(f"| `{name}` | {fmt_time(b)} | {counters(b)} |")
    pairs = speedups(rows)
    if pairs:
        lines += ["", "Speed-ups in this run (baseline time / our time):", "",
                  "| ours | baseline | speed-up |", "|---|---|---:|"]
        for ours, base, ratio in pairs:
            lines.append(f"| `{ours}` | `{base}` | {ratio:.1f}× |")
    return lines, rows


def find(rows, pattern):
    for name, b in rows.items():
        if re.fullmatch(pattern, name):
            return b
    return None


def targets(all_rows, peak):
    """The issue targets, each checked against this run's figures."""
    out = ["### Targets", "", "| target | measured | met |", "|---|---|:---:|"]

    def row(what, measured, ok):
        out.append(f"| {what} | {measured} | {'yes' if ok else '**no**'} |")

    rkme = all_rows.get("rkme", {})
    b = find(rkme, r"BM_RkmeGenerate/10000/32")
    if b:
        row("RKME generation n=10 000, d=32, K=100, 3 steps ≤ 250 ms", fmt_time(b), to_seconds(b) <= 0.250)
    kern = all_rows.get("kernels", {})
    for shape in ("mn:4096/d:32", "mn:4096/d:64", "mn:4096/d:256"):
        dg = find(kern, rf"BM_Dgemm/{shape}")
        rk = find(kern, rf"BM_RbfKernelMatrix/f64/{shape}")
        if dg and rk and dg.get("GFLOP/s") and rk.get("GFLOP/s"):
            share = rk["GFLOP/s"] / dg["GFLOP/s"]
            row(f"kernel matrix f64 ({shape}) ≥ 50 % of DGEMM rate",
                f"{rk['GFLOP/s']:.1f} vs {dg['GFLOP/s']:.1f} GFLOP/s = {100 * share:.0f} %", share >= 0.5)
    search = all_rows.get("search", {})
    ours = find(search, r"BM_Search_Ours/1100/32")
    ref = find(search, r"BM_Search_ReferencePattern/1100/32")
    fused = find(search, r"BM_Search_PerPairFused/1100/32")
    if ours:
        row("one search (singles + greedy mixture) over 1 100 learnwares ≤ 20 ms", fmt_time(ours),
            to_seconds(ours) <= 0.020)
    if ours and ref:
        ratio = to_seconds(ref) / to_seconds(ours)
        row("… ≥ 30× faster than the reference's per-pair pattern", f"{ratio:.1f}×", ratio >= 30)
    if ours and fused:
        ratio = to_seconds(fused) / to_seconds(ours)
        out.append(f"| (for scale: the per-pair pattern with our fused kernels) | {ratio:.1f}× | — |")
    store = all_rows.get("store", {})
    small = find(store, r"BM_StoreAdd/10(/.*)?")
    large = find(store, r"BM_StoreAdd/1000(/.*)?")
    if small and large:
        ratio = to_seconds(large) / to_seconds(small)
        row("adding a learnware is O(its own size): add time at 1 000 vs 10 learnwares",
            f"{fmt_time(large)} vs {fmt_time(small)} ({ratio:.2f}×)", ratio <= 2.0)
    for p in peak:
        row(f"peak memory of generation n={p['n']}, d={p['d']}, K={p['k']} is O(n·d + K·n)",
            f"peak RSS {p['peak_rss_mib']:.1f} MiB for {p['data_mib']:.1f} MiB of data "
            f"(n·d + K·n doubles = {(p['n'] * p['d'] + p['k'] * p['n']) * 8 / 2**20:.1f} MiB)",
            p["peak_rss_mib"] - p["rss_before_mib"] <= 2.0 * (p["n"] * p["d"] + p["k"] * p["n"]) * 8 / 2**20 + 16)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("readme")
    ap.add_argument("--commit", default="unknown")
    a = ap.parse_args()

    body = [BEGIN, "", f"Produced by `scripts/bench.sh` at commit `{a.commit}` on {cpu_model()} "
            f"({os.cpu_count()} CPUs). Times are wall-clock; the machine is shared, so read the ratios.", ""]
    all_rows = {}
    sections = []
    for suite in ("kernels", "rkme", "spec", "search", "solvers", "store", "reuse", "simulator"):
        path = os.path.join(a.results, suite + ".json")
        if not os.path.exists(path):
            continue
        lines, rows = suite_section(suite, path)
        all_rows[suite] = rows
        sections += lines + [""]
    peak = []
    peak_path = os.path.join(a.results, "peak_memory.json")
    if os.path.exists(peak_path):
        with open(peak_path) as f:
            peak = json.load(f)
    body += targets(all_rows, peak) + [""] + sections + [END]

    text = open(a.readme).read() if os.path.exists(a.readme) else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + "\n".join(body) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    with open(a.readme, "w") as f:
        f.write(text)
    print(f"wrote the figures section of {a.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
