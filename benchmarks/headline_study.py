#!/usr/bin/env python
"""The book's headline forecast, run outside the book: its per-fold rows into ``benchmarks/results/seeds.csv``.

Runs (or, with the same configuration, resumes) :func:`flarelib.model.headline.train_headline` with the book's
configuration (the Makefile's ``headline_*`` parameters) on the book's store and merges its per-fold rows, image only
(``kind`` image) and with the regional flare record (``kind`` record), one row per model seed and fold, with the
store's fingerprint, into the seed table (a rerun replaces its own rows).

Example (about 3 minutes on 2 cores once the book's store exists; seconds when ``--work`` holds the book's runs)::

    python benchmarks/headline_study.py --store runs/book/data --work runs/book/headline
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seeds import write_seed_rows  # noqa: E402  (benchmarks/seeds.py, beside this script)

from flarelib.model.headline import HeadlineConfig, train_headline  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="the book's simulated store (reported, never trained on)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "book" / "headline"), help="the Suns and runs (resumed when they match)")
    ap.add_argument("--train-seeds", default="1,2,3")
    ap.add_argument("--train-cadence-h", type=float, default=48.0)
    ap.add_argument("--calibration-seed", type=int, default=4)
    ap.add_argument("--model-seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "seeds.csv"))
    args = ap.parse_args(argv)
    cfg = HeadlineConfig(train_seeds=args.train_seeds, train_cadence_h=args.train_cadence_h, calibration_seed=args.calibration_seed,
                         model_seeds=args.model_seeds, epochs=args.epochs)
    head = train_headline(args.store, cfg, args.work, progress=False)
    rows = head.seed_rows()
    write_seed_rows(rows, Path(args.out))
    print(rows.groupby(["kind", "seed"])[["tss", "auc"]].mean().round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
