#!/usr/bin/env python
"""FlareRateNet with regional flare memory: the study's trained networks plus the last day's flares, cell by cell.

An image-only forecast of the simulated Sun is capped below its oracle because one image measures each region's
Schrijver R (its flare rate's driver, in delta spots one or two pixels wide) coarsely, while its recent flares are
draws from that rate (:mod:`flarelib.model.history`). This script takes the networks
``benchmarks/ratenet_study.py`` trained (``--work``/model{seed}/model.pt, level refitted), and for each

1. computes its cell log-rates on the calibration Sun (``--calibration-store``: neither trained on nor reported)
   and on the book's Sun (``--store``), and each cell's >= C1.0 / >= M1.0 flare counts of the last 24 h;
2. fits a :class:`~flarelib.model.history.HistoryHead` (four numbers) on the calibration Sun with the training's
   class weights, in each design of :data:`HEAD_DESIGNS` (the one reported is chosen by cross-validation on the
   calibration Sun), and scores it at 0.5 on the book Sun's four folds, beside the network alone (the rate maps
   must reproduce its written predictions) and a **no-image control**: the same head on a flat map (every
   on-disk cell alike), which is regional persistence;
3. writes ``benchmarks/results/ratenet_history.csv`` (one row per forecast: fold-mean TSS/HSS with 95 % block
   intervals, AUC, BSS, the head's numbers, the paired TSS differences against 24-h persistence and against the
   no-image control) and appends
   the per-fold rows to ``seeds.csv`` (with the store's fingerprint).

Example (about 5 minutes on 2 cores: six passes of 2192 frames at 512 px, about 50 s each, then the bootstraps)::

    python benchmarks/history_study.py --store runs/book512/data --calibration-store runs/ratenet/sun4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from seeds import write_seed_rows  # noqa: E402  (benchmarks/seeds.py, beside this script)

from flarelib.data.store import open_store  # noqa: E402
from flarelib.errors import InputError  # noqa: E402
from flarelib.model.headline import FLARE_RECORD, FOLDS, record_control, score_run  # noqa: E402
from flarelib.model.history import cell_flare_history  # noqa: E402
from flarelib.verify import baselines  # noqa: E402
from flarelib.verify.evaluation import paired_tss_difference, score_table  # noqa: E402
from flarelib.verify.metrics import hss, roc_auc, tss  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def paired(name: str, frames: list[pd.DataFrame], other, other_thresholds, n_boot: int) -> dict:
    """``tss_minus_{name}`` and its 95 % interval bounds: ``frames`` at 0.5 against ``other``, paired on the same instants."""
    d = paired_tss_difference(frames, 0.5, other, other_thresholds, n_boot=n_boot)
    return {f"tss_minus_{name}": d["difference"], f"tss_minus_{name}_lo": d["ci"][0], f"tss_minus_{name}_hi": d["ci"][1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="the book's simulated 512 px store (reported)")
    ap.add_argument("--calibration-store", required=True, help="the Sun the head is fitted on (neither trained on nor reported)")
    ap.add_argument("--model-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", default=str(ROOT / "runs" / "ratenet"))
    ap.add_argument("--n-boot", type=int, default=500)
    args = ap.parse_args(argv)
    store, cal = open_store(args.store), open_store(args.calibration_store)
    if store.fingerprint == cal.fingerprint:
        raise InputError(f"--calibration-store {args.calibration_store}: the reported store itself")
    fp = store.fingerprint[:16]
    hist_ev, hist_cal = (cell_flare_history(s.index, pd.read_csv(s.path / "catalog.csv"), s.size_px) for s in (store, cal))
    persist = baselines.persistence(store.index)
    forecasts, extra, rows = {}, {}, []
    control = None
    for seed in args.model_seeds:
        run = Path(args.work) / f"model{seed}"
        m = score_run(run, seed, store, cal, hist_ev, hist_cal)
        template = m.image_only
        if control is None:  # the no-image control, on the first model's instants
            control, cframes = record_control(store, cal, hist_ev, hist_cal, m.class_weights, template)
            forecasts[FLARE_RECORD] = (cframes, [0.5] * 4)
            extra[FLARE_RECORD] = {**{f"head_{k}": v for k, v in control.to_dict().items()},
                                   **paired("persistence", cframes, persist.frames, persist.thresholds, args.n_boot)}
        # the design is chosen on the calibration Sun (score_run), never on the reported Sun; every design is reported
        for v, head in m.heads.items():
            f_v = m.designs[v]
            name_v = f"FlareRateNet + regional flare history ({v}), model seed {seed}"
            forecasts[name_v] = (f_v, [0.5] * 4)
            extra[name_v] = {**{f"head_{k}": val for k, val in head.to_dict().items()}, "design": v, "chosen": v == m.chosen,
                             "calibration_cv_tss": m.calibration_cv_tss[v],
                             **paired("persistence", f_v, persist.frames, persist.thresholds, args.n_boot),
                             **paired("flare_record", f_v, cframes, 0.5, args.n_boot)}
            print(f"model seed {seed}, {v}: calibration-Sun CV TSS {m.calibration_cv_tss[v]:.3f}{' (chosen)' if v == m.chosen else ''}; "
                  f"{head}", flush=True)
        frames = m.with_record
        forecasts[f"FlareRateNet alone, model seed {seed}"] = (template, [0.5] * 4)
        for k, f in zip(FOLDS, frames):
            y, yes = f["target"].to_numpy(int), (f["flare_prob"].to_numpy() >= 0.5).astype(int)
            rows.append({"configuration": "ratenet, trained on 3 independent Suns, 4 epochs, 512 px, level refitted on a further Sun, "
                                          "+ regional 24-h flare history fitted on that Sun (design chosen there)",
                         "store": fp, "seed": seed, "fold": k, "epochs": 4, "tss": tss(y, yes), "hss": hss(y, yes),
                         "forecast_positive": float((f["flare_prob"] >= 0.5).mean()), "collapsed": False,
                         "auc": roc_auc(y, f["flare_prob"].to_numpy())})
    forecasts["24-h persistence"] = (persist.frames, persist.thresholds)
    tab = score_table(forecasts, n_boot=args.n_boot)
    tab = tab.join(pd.DataFrame.from_dict(extra, orient="index"), on="forecast")
    tab.insert(0, "store", fp)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tab.to_csv(RESULTS / "ratenet_history.csv", index=False)
    print(tab[["forecast", "tss", "tss_lo", "tss_hi", "auc", "bss"]].round(3).to_string(index=False))
    new = pd.DataFrame(rows)
    write_seed_rows(new, RESULTS / "seeds.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
