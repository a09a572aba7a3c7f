#!/usr/bin/env python
"""The headline network measured: FlareRateNet trained on independent simulated Suns, scored on the book's Sun.

On the book's 512 px store (``--store``, simulated), this script

1. measures the **resolution ladder**: Schrijver's R measured on the images reduced to 64, 128, 256 and 512 px,
   with flux and strong-field area, in a logistic regression fitted on the training folds; beside it the free
   baselines (24-h persistence, graded persistence, the flux + strong-field-area regression) and the oracles;
2. simulates ``--train-seeds`` further Suns of the same configuration (other seeds: independent data), trains
   one :class:`~flarelib.model.network.FlareRateNet` per ``--model-seeds`` on them
   (:func:`~flarelib.model.training.train_independent`: the book's Sun is never trained on, final epoch
   reported) and scores it on the book Sun's four folds;
3. writes ``benchmarks/results/ratenet_ladder.csv`` (one row per forecast: fold-mean TSS and HSS with 95 %
   block-bootstrap intervals, AUC, BSS), ``ratenet_epochs.csv`` (per model seed, epoch and fold: loss, TSS, AUC,
   BSS, share forecast "flare") and appends the per-fold rows to ``seeds.csv`` (with the store's fingerprint).

Example (about 25 minutes on 2 cores)::

    python benchmarks/ratenet_study.py --store runs/book512/data --train-seeds 1 2 3 --model-seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from seeds import write_seed_rows  # noqa: E402  (benchmarks/seeds.py, beside this script)

from flarelib.data.store import open_store  # noqa: E402
from flarelib.errors import InputError  # noqa: E402
from flarelib.model.headline import independent_suns  # noqa: E402
from flarelib.model.training import TrainConfig, train_independent  # noqa: E402
from flarelib.verify import baselines  # noqa: E402
from flarelib.verify.evaluation import read_predictions, score_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def ladder(store, sizes, n_boot: int) -> pd.DataFrame:
    idx = store.index
    fc = {"24-h persistence": baselines.persistence(idx), "graded persistence": baselines.graded_persistence(idx)}
    t0 = time.perf_counter()
    fc.update(baselines.resolution_ladder(store, sizes, progress=False))
    print(f"ladder {list(sizes)} px: {time.perf_counter() - t0:.0f} s", flush=True)
    oracle = pd.read_csv(store.path / "oracle.csv", parse_dates=["timestamp"]).set_index("timestamp")
    for col, name in (("p_oracle", "oracle"), ("p_present", "present-disk oracle")):
        if col in oracle:
            fc[name] = baselines.from_scores(name, idx, oracle[col])
    return score_table({k: (v.frames, v.thresholds) for k, v in fc.items()}, n_boot=n_boot)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="the book's simulated 512 px store")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--model-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--calibration-seed", type=int, default=4,
                    help="seed of the Sun the rate level is refitted on (neither trained on nor reported); -1: no refit")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--work", default=str(ROOT / "runs" / "ratenet"))
    ap.add_argument("--skip-ladder", action="store_true")
    args = ap.parse_args(argv)
    store = open_store(args.store)
    made = json.loads((store.path / "inputs.json").read_text())
    if "simulator" not in made:
        raise InputError(f"{args.store}: not a simulated store (independent Suns need the simulator's configuration)")
    fp = store.fingerprint[:16]
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.skip_ladder:
        tab = ladder(store, args.sizes, args.n_boot)
        tab.insert(0, "store", fp)
        tab.to_csv(RESULTS / "ratenet_ladder.csv", index=False)
        print(tab[["forecast", "tss", "tss_lo", "tss_hi", "auc"]].round(3).to_string(index=False), flush=True)
    work = Path(args.work)
    t0 = time.perf_counter()
    suns = independent_suns(store.path, args.train_seeds, work, progress=False)
    print(f"training Suns {args.train_seeds}: {time.perf_counter() - t0:.0f} s", flush=True)
    cal = None
    if args.calibration_seed >= 0:
        if args.calibration_seed in args.train_seeds:
            raise InputError(f"--calibration-seed {args.calibration_seed}: also a training seed")
        cal, = independent_suns(store.path, (args.calibration_seed,), work, progress=False)
    refit = "" if cal is None else ", level refitted on a further Sun"
    epochs, rows, model_rows, stems = [], [], [], {}  # stems: the fixed stem's output, once for every model seed
    for seed in args.model_seeds:
        cfg = TrainConfig.ratenet(seed=seed, epochs=args.epochs)
        t0 = time.perf_counter()
        res = train_independent(suns, store.path, cfg, work / f"model{seed}", overwrite=True, progress=False, calibration_store=cal,
                                stem_cache=stems)
        wall = time.perf_counter() - t0
        for r in res:
            epochs.append(r.log.assign(model_seed=seed))
            rep = r.log[r.log["epoch"] == r.reported_epoch].iloc[-1]  # the refitted row when there is one
            rows.append({"configuration": f"ratenet, trained on {len(suns)} independent Suns, {args.epochs} epochs, 512 px{refit}",
                         "store": fp, "seed": seed, "fold": r.fold, "epochs": args.epochs, "tss": rep["val_tss"], "hss": rep["val_hss"],
                         "forecast_positive": rep["val_forecast_positive"], "collapsed": r.collapsed, "wall_s_all_folds": round(wall, 1),
                         "auc": rep["val_auc"], "bss": rep["val_bss"]})
        frames = [read_predictions(work / f"model{seed}" / f"fold{k}" / "predictions.csv") for k in (1, 2, 3, 4)]
        t = score_table({f"FlareRateNet, model seed {seed}": (frames, [0.5] * 4)}, n_boot=args.n_boot)
        model_rows.append(t)
        print(t[["forecast", "tss", "tss_lo", "tss_hi", "auc", "bss"]].round(3).to_string(index=False), f"({wall:.0f} s)", flush=True)
    pd.concat(epochs, ignore_index=True).assign(store=fp).to_csv(RESULTS / "ratenet_epochs.csv", index=False)
    pd.concat(model_rows, ignore_index=True).assign(store=fp).to_csv(RESULTS / "ratenet_models.csv", index=False)
    new = pd.DataFrame(rows)
    write_seed_rows(new, RESULTS / "seeds.csv")
    print(new.groupby("seed")[["tss", "auc"]].mean().round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
