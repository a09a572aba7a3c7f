#!/usr/bin/env python
"""`make bench`: speed (and peak memory) of every stage, written to bench-results/ and printed as a table.

Each benchmark is a function returning rows ``{"benchmark", "case", "value", "unit", "note"}``; the machine
is recorded with every row. Run one with ``python benchmarks/run.py NAME``.
"""
from __future__ import annotations

import csv
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flarelib.download import fetch_reference  # noqa: E402

REGISTRY = {}


def bench(fn):
    REGISTRY[fn.__name__] = fn
    return fn


def machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # pragma: no cover
        gpu = "no torch"
    return f"{platform.node()} {os.cpu_count()} cores {platform.machine()} {gpu}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timeit(fn, min_s=1.0, min_n=3):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < min_n or time.perf_counter() - t0 < min_s:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


@bench
def decode():
    """Reduced-resolution JP2 decode against a full decode then a resize, on the real HMI JP2."""
    import glymur
    import numpy as np
    from PIL import Image

    from flarelib.magnetogram import read_magnetogram

    path = fetch_reference("helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2")
    t_reduced = timeit(lambda: read_magnetogram(path, 512))

    def full():
        a = glymur.Jp2k(str(path))[:]
        return np.asarray(Image.fromarray(a).resize((512, 512), Image.Resampling.BOX))

    t_full = timeit(full)
    return [
        {"benchmark": "decode", "case": "reduced-resolution JP2 -> 512 px", "value": 1 / t_reduced, "unit": "images/s"},
        {"benchmark": "decode", "case": "full 4096 px decode + resize", "value": 1 / t_full, "unit": "images/s"},
        {"benchmark": "decode", "case": "speed-up (reduced / full)", "value": t_full / t_reduced, "unit": "x"},
    ]


@bench
def simulator():
    """Simulated frames per second at 512 px (one process) and peak memory."""
    from flarelib.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(start="2012-06-01", end="2012-06-10", size_px=512))
    i = iter(range(10_000))
    t = timeit(lambda: sim.frame(next(i) % len(sim.times)), min_s=2.0)
    return [{"benchmark": "simulator", "case": "frame 512 px, 1 process", "value": 1 / t, "unit": "frames/s",
             "note": f"one simulated year hourly: {8784 * t / 60 / min(2, os.cpu_count() or 1):.1f} min on {min(2, os.cpu_count() or 1)} cores"},
            {"benchmark": "simulator", "case": "peak memory", "value": peak_rss_mb(), "unit": "MB"}]


def main(argv=None) -> int:
    names = (argv or sys.argv[1:]) or list(REGISTRY)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    rows = []
    m = machine()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in names:
        for r in REGISTRY[name]():
            rows.append({"benchmark": r["benchmark"], "case": r["case"], "value": f"{r['value']:.4g}", "unit": r["unit"],
                         "note": r.get("note", ""), "machine": m, "date": stamp})
    old = []
    if (out_dir / "latest.csv").is_file():  # keep rows of benchmarks not rerun now (e.g. GPU rows from a lent device)
        with open(out_dir / "latest.csv") as fh:
            old = [r for r in csv.DictReader(fh) if r["benchmark"] not in names]
    rows = old + rows
    with open(out_dir / "latest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["| benchmark | case | value | unit | note | machine | date |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['benchmark']} | {r['case']} | {r['value']} | {r['unit']} | {r['note']} | {r['machine']} | {r['date']} |" for r in rows]
    (out_dir / "summary.md").write_text("\n".join(md) + "\n")
    width = max(len(r["case"]) for r in rows)
    print(f"machine: {m}")
    for r in rows:
        print(f"{r['benchmark']:<12} {r['case']:<{width}} {r['value']:>10} {r['unit']:<10} {r['note']}")
    print(f"written: {out_dir / 'latest.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
