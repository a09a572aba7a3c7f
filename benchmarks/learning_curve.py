#!/usr/bin/env python
"""The headline network's learning curve: FlareRateNet's skill on the book's Sun against its training frames.

``benchmarks/ratenet_study.py`` trains FlareRateNet on every instant of three independent Suns (6576 frames). This
script trains the same recipe (:meth:`~flarelib.model.training.TrainConfig.ratenet`, the same epochs, the level
refitted on the calibration Sun) on every ``k``-th instant of those Suns (``--every``, in time order: smaller
training sets spread over the same Suns and regions, each region seen at a coarser cadence), for each model seed,
scores the final epoch on the book Sun's four folds at 0.5, and writes ``benchmarks/results/ratenet_learning.csv``:
one row per (training set, model seed) with the fold-mean TSS and its 95 % block-bootstrap interval, AUC, BSS and
the share forecast "flare". The full training set's rows are read from the study's own runs (``--work``/model{seed}),
so every point is the same recipe and nothing is trained twice. It answers two questions: does more simulated data
still help, and how much training would a book run at 512 px need?

Example (measured: 90 s and 140-170 s for the two smaller sets, about 5 minutes per model seed on 2 cores)::

    python benchmarks/learning_curve.py --store runs/book512/data --work runs/ratenet
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

from flarelib.data.store import open_store  # noqa: E402
from flarelib.errors import InputError  # noqa: E402
from flarelib.model.training import TrainConfig, train_independent  # noqa: E402
from flarelib.verify.evaluation import read_predictions, score_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
FOLDS = (1, 2, 3, 4)


def ordinal(k: int) -> str:
    """``4`` -> ``"4th"``, ``2`` -> ``"2nd"``, ``12`` -> ``"12th"``."""
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def scored(run: Path, name: str, n_boot: int) -> dict:
    """Fold-mean scores of one trained run's written predictions (final epoch, level refitted), 0.5 threshold."""
    frames = [read_predictions(run / f"fold{k}" / "predictions.csv") for k in FOLDS]
    row = score_table({name: (frames, [0.5] * 4)}, n_boot=n_boot).iloc[0].to_dict()
    row["forecast_positive"] = float(pd.concat(frames)["flare_prob"].ge(0.5).mean())
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="the book's simulated 512 px store (scored, never trained on)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "ratenet"), help="the ratenet study's directory (Suns, full runs)")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--calibration-seed", type=int, default=4)
    ap.add_argument("--model-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--every", type=int, nargs="+", default=[12, 4], help="keep every k-th training instant (1 = the study's runs)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--n-boot", type=int, default=500)
    args = ap.parse_args(argv)
    store = open_store(args.store)
    work = Path(args.work)
    suns = [work / f"sun{s}" for s in args.train_seeds]
    cal = work / f"sun{args.calibration_seed}"
    for p in [*suns, cal]:
        if not (p / "inputs.json").is_file():
            raise InputError(f"{p}: no simulated Sun there; run benchmarks/ratenet_study.py first")
    n_total = sum(len(open_store(p).index) for p in suns)
    rows, stems = [], {}  # the fixed stem's output, once per training subset (and for the scored Suns) for all model seeds
    for seed in args.model_seeds:
        full = work / f"model{seed}"
        if (full / "model.pt").is_file():
            refit = json.loads((full / "rate_refit.json").read_text()) if (full / "rate_refit.json").is_file() else {}
            rows.append({**scored(full, f"every instant, model seed {seed}", args.n_boot), "every": 1, "model_seed": seed,
                         "train_frames": n_total, "wall_s": None, "refit_scale": refit.get("scale")})
        for k in sorted(set(args.every) - {1}):
            out = work / "learning" / f"every{k}_model{seed}"
            t0 = time.perf_counter()
            res = train_independent(suns, store.path, TrainConfig.ratenet(seed=seed, epochs=args.epochs), out, overwrite=True,
                                    progress=False, calibration_store=cal, train_every=k, score_every_epoch=False,
                                    stem_cache=stems)
            wall = time.perf_counter() - t0
            n = int(res[0].log["train_images"].iloc[-1])
            refit = json.loads((out / "rate_refit.json").read_text())
            rows.append({**scored(out, f"every {ordinal(k)} instant, model seed {seed}", args.n_boot), "every": k, "model_seed": seed,
                         "train_frames": n, "wall_s": round(wall, 1), "refit_scale": refit["scale"]})
            print(f"every {k}: {n} frames, seed {seed}: TSS {rows[-1]['tss']:.3f}, AUC {rows[-1]['auc']:.3f} ({wall:.0f} s)", flush=True)
    tab = pd.DataFrame(rows).assign(store=store.fingerprint[:16], epochs=args.epochs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tab.to_csv(RESULTS / "ratenet_learning.csv", index=False)
    print(tab.groupby("train_frames")[["tss", "auc", "bss", "forecast_positive"]].agg(["mean", "std"]).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
