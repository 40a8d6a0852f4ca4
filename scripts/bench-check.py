#!/usr/bin/env python3
"""`make bench-check`: runs the benchmarks (scripts/bench.sh) and fails when a figure misses
its target. The targets are read from the one table of BENCHMARKS.md between its `targets`
markers, so the document and the check cannot drift; each figure is printed against its
target. Figures come from suite-bench (SUITE_BENCH_FIGURES, one JSON line per figure) and
from the benchmarks' printed output (the alarm-scaler scale step's Kubernetes calls)."""
import json
import operator
import os
import re
import subprocess
import sys
import tempfile

# Figures suite-bench emits once per function: a function with none (its stand-ins or runs
# failed) misses its target rather than going unnoticed.
FUNCTIONS = ("queue-scaler", "alarm-scaler", "alarm-sync", "iam-sync", "concurrency-scaler",
             "node-autoscaler")
PER_FUNCTION = ("cold_extra_vs_floor_call", "cold_extra_vs_defaults", "cold_extra_python_speedup")
OPS = {"≤": operator.le, "<": operator.lt, "≥": operator.ge, ">": operator.gt, "=": operator.eq}
BEGIN, END = "<!-- targets: begin -->", "<!-- targets: end -->"


def targets(doc):
    """{figure id: (op, bound)} for the rows whose `checked by` is `make bench-check`."""
    table = doc[doc.index(BEGIN) + len(BEGIN) : doc.index(END)]
    found = {}
    for row in table.splitlines():
        cells = [c.strip().strip("`") for c in row.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("figure", "") or set(cells[0]) <= set("-"):
            continue
        if not cells[3].startswith("make bench-check"):
            continue
        m = re.fullmatch(r"(≤|<|≥|>|=)\s*([0-9.]+)\s*×?\s*(MB|s)?", cells[2])
        if not m:
            sys.exit(f"BENCHMARKS.md targets: cannot read the target of {cells[0]}: {cells[2]!r}")
        found[cells[0]] = (m.group(1), float(m.group(2)))
    return found


def printed_figures(output):
    """Figures only the benchmarks' printed output carries."""
    figures = []
    m = re.search(r"Kubernetes calls, one scale step \(warm\) \|.*all requests: (\d+)", output)
    if m:
        figures.append(("k8s_calls_scale_step", "alarm-scaler", float(m.group(1))))
    return figures


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.chdir(root)
    wanted = targets(open("BENCHMARKS.md").read())
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as f:
        env = dict(os.environ, SUITE_BENCH_FIGURES=f.name)
        run = subprocess.run(["scripts/bench.sh"], env=env, stdout=subprocess.PIPE, text=True)
        print(run.stdout)
        if run.returncode != 0:
            sys.exit(f"scripts/bench.sh failed ({run.returncode})")
        figures = [(j["figure"], j["subject"], j["value"]) for j in map(json.loads, f)]
    figures += printed_figures(run.stdout)
    print("\nbench-check: each figure against its target (BENCHMARKS.md, Targets table)\n")
    missed, seen = [], set()
    for figure, subject, value in figures:
        if figure not in wanted:
            continue
        seen.add(figure)
        op, bound = wanted[figure]
        ok = OPS[op](value, bound)
        print(f"  {'ok  ' if ok else 'MISS'} {figure:26} {subject:20} {value:10.3f}  target {op} {bound:g}")
        if not ok:
            missed.append(f"{figure} {subject}")
    for figure in PER_FUNCTION:
        got = {subject for f, subject, _ in figures if f == figure}
        for subject in FUNCTIONS:
            if figure in wanted and subject not in got:
                print(f"  MISS {figure:26} {subject:20} {'(no figure)':>10}  target {' '.join(map(str, wanted[figure]))}")
                missed.append(f"{figure} {subject}: no figure")
    for figure in sorted(set(wanted) - seen):
        print(f"  MISS {figure:26} {'(no figure)':20} {'':10}  target {' '.join(map(str, wanted[figure]))}")
        missed.append(f"{figure}: the benchmarks printed no figure")
    if missed:
        sys.exit(f"\nbench-check: {len(missed)} missed: " + "; ".join(missed))
    print(f"\nbench-check: all {len(seen)} targets met")


if __name__ == "__main__":
    main()
