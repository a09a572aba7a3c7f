#!/usr/bin/env python
"""How the simulated problem changes from one simulator version to the next: measured, not remembered.

For the flarelib checkout at ``--root`` (default: this one), simulates two configurations without images for
several seeds - 2011-2018 at a 24 h cadence (the real record's period) and the book's 2012-2014 at 12 h - and
records, per seed, the share of flare-positive instants, the TSS of the oracle (the best forecast, knowing every
region's rate over the next 24 h), of the present-disk oracle (the regions on the visible disk at t only) and of
24-hour persistence. Rows go to ``benchmarks/results/simulator_versions.csv``, replacing that version's earlier
rows, so a new version is measured beside the last one. Chapter 1 of the book shows the table. Example, the
previous version from a worktree of its commit::

    git worktree add /tmp/v1 1b51d1b
    python benchmarks/simulator_versions.py --root /tmp/v1 --commit 1b51d1b
    python benchmarks/simulator_versions.py
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The configurations measured: name -> SimConfig keywords.
CONFIGS = {
    "2011-2018, 24 h": dict(start="2011-01-01", end="2018-12-31", cadence_h=24.0),
    "book: 2012-2014, 12 h": dict(start="2012-01-01T00:00:00", end="2014-12-31T12:00:00", cadence_h=12.0),
}


def measure(seeds) -> list[dict]:
    """Rows of the measurements with the flarelib on ``sys.path``."""
    from flarelib.sim import simulator

    version = getattr(simulator, "SIMULATOR_VERSION", 1)  # version 1 did not name itself
    rows = []
    for name, kw in CONFIGS.items():
        for seed in seeds:
            t0 = time.perf_counter()
            sim = simulator.Simulator(simulator.SimConfig(size_px=64, seed=seed, **kw))
            index, _ = simulator.frame_index(sim)
            rep = simulator.simulation_report(sim, index, sim.oracle())
            rows.append({"simulator_version": version, "configuration": name, "seed": seed,
                         "flare_positive_share": round(float(index["target"].mean()), 4),
                         "oracle_tss": round(rep["oracle"]["tss"], 4), "present_disk_oracle_tss": round(rep["oracle_present"]["tss"], 4),
                         "persistence_tss": round(rep["persistence_tss"], 4), "x_per_m": round(rep["x_per_m"], 4),
                         "wall_s": round(time.perf_counter() - t0, 1)})
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=str(ROOT), help="the flarelib checkout to measure")
    ap.add_argument("--commit", default=None, help="its commit (default: git rev-parse HEAD in --root)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "simulator_versions.csv"))
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    if not (root / "flarelib" / "sim").is_dir():
        print(f"simulator_versions.py: --root {root}: not a flarelib checkout", file=sys.stderr)
        return 2
    sys.path.insert(0, str(root))
    import pandas as pd

    commit = args.commit or subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                           text=True).stdout.strip()
    new = pd.DataFrame(measure(args.seeds)).assign(commit=commit)
    out = Path(args.out)
    if out.is_file():
        old = pd.read_csv(out)
        new = pd.concat([old[old["simulator_version"] != new["simulator_version"].iat[0]], new], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    new.sort_values(["simulator_version", "configuration", "seed"]).to_csv(out, index=False)
    print(new.groupby(["simulator_version", "configuration"])[["flare_positive_share", "oracle_tss", "present_disk_oracle_tss",
                                                              "persistence_tss"]].mean().round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
