#!/usr/bin/env python
"""Seeds measured, not hoped: train the book's configuration for several seeds and record every fold.

For each seed, all four folds are trained with the given profile and options (final-epoch reporting, as the
book), and each fold's reported TSS and HSS, whether it collapsed to one forecast for every validation instant,
and the wall time are written to ``benchmarks/results/seeds.csv`` (rows of earlier runs with other settings are
kept, so configurations and seeds accumulate; each row names the store's fingerprint, so results on other data
are never mixed in). Example, the book's configuration on its store::

    python benchmarks/seeds.py --store runs/book/data --seeds 0 1 2 --profile offline --epochs 3 --batch-size 32 --image-size 128
    python benchmarks/seeds.py --store runs/book/data --seeds 0 1 2 --profile offline --epochs 3 --head gap --label 'gap head'
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from flarelib.cli.options import add_dataclass_options, dataclass_overrides  # noqa: E402
from flarelib.data.store import open_store  # noqa: E402
from flarelib.model.network import ModelConfig  # noqa: E402
from flarelib.model.training import TrainConfig, cross_validate  # noqa: E402


def write_seed_rows(new: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Merge per-fold rows into the seed table ``out`` and write it; returns the whole table.

    A rerun of a (configuration, store, seed) replaces its rows; rows of other runs are kept.
    """
    if out.is_file():
        old = pd.read_csv(out)
        if "store" not in old:
            old["store"] = ""
        key = ["configuration", "store", "seed"]
        rerun = old.set_index(key).index.isin(new.set_index(key).index)
        new = pd.concat([old[~rerun], new], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(out, index=False)
    return new


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--profile", choices=["paper", "offline", "ratenet"], default="offline")
    ap.add_argument("--label", default="", help="name of this configuration in the table")
    ap.add_argument("--work", default=str(ROOT / "runs" / "seeds"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "seeds.csv"))
    add_dataclass_options(ap, TrainConfig, skip=("profile", "model", "seed"))
    add_dataclass_options(ap, ModelConfig, help_prefix="model.")
    args = ap.parse_args(argv)
    rows = []
    store_fp = open_store(args.store).fingerprint[:16]  # which data the rows belong to (the book shows only its own)
    for seed in args.seeds:
        cfg = TrainConfig.for_profile(args.profile, seed=seed, **dataclass_overrides(args, TrainConfig, ("profile", "model", "seed")))
        model_kw = dataclass_overrides(args, ModelConfig)
        if model_kw:
            cfg = replace(cfg, model=replace(cfg.model, **model_kw))
        label = args.label or ", ".join(f"{k}={v[1]}" for k, v in cfg.deviations_from_paper().items() if not isinstance(v[1], str) or len(v[1]) < 30)
        t0 = time.perf_counter()
        results = cross_validate(args.store, cfg, Path(args.work) / f"seed{seed}", overwrite=True, progress=False)
        wall = time.perf_counter() - t0
        for r in results:
            rep = r.log[r.log["epoch"] == r.reported_epoch].iloc[0]
            rows.append({"configuration": label, "store": store_fp, "seed": seed, "fold": r.fold, "epochs": cfg.epochs, "tss": rep["val_tss"],
                         "hss": rep["val_hss"], "forecast_positive": rep["val_forecast_positive"], "collapsed": r.collapsed,
                         "wall_s_all_folds": round(wall, 1)})
        print(pd.DataFrame(rows[-len(results):]).round(3).to_string(index=False), flush=True)
    new = write_seed_rows(pd.DataFrame(rows), Path(args.out))
    summary = new.groupby(["configuration", "store"]).agg(tss_mean=("tss", "mean"), tss_sd=("tss", "std"), collapsed=("collapsed", "sum"),
                                               folds=("tss", "size"))
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
