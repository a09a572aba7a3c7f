"""Evaluation of prediction files: ours, or the reference study's published ones joined to their labels.

A prediction file has at least ``timestamp, flare_prob, target`` (the published
schema); ours also carry ``max_class, fl_lon, fl_lat`` (the window's largest
flare). Published predictions are joined to their label files row by row, in
order (the timestamp may be a bare time or an image path, relative or absolute),
and the join is checked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CatalogError
from .labels import read_index, timestamp_from_path
from .metrics import (best_threshold, brier_skill_score, false_alarms_by_class, recall_by_class_and_region, recall_by_longitude,
                      reliability, roc_auc, skill_scores, threshold_sweep)

__all__ = ["read_predictions", "evaluate", "best_tss_per_fold", "summarise"]


def _parse_timestamps(values: pd.Series) -> pd.Series:
    try:
        return pd.to_datetime(values, format="mixed")
    except (ValueError, TypeError):
        return pd.Series([timestamp_from_path(v) for v in values], index=values.index)


def read_predictions(path: str | Path, labels: str | Path | None = None) -> pd.DataFrame:
    """Read a prediction CSV, joined to a label index when given.

    Raises
    ------
    CatalogError
        Missing columns, or labels that do not match the predictions row by row.
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such prediction file")
    df = pd.read_csv(path)
    missing = {"timestamp", "flare_prob", "target"} - set(df.columns)
    if missing:
        raise CatalogError(f"{path}: not a prediction file, missing columns {sorted(missing)}")
    df["timestamp"] = _parse_timestamps(df["timestamp"].astype(str))
    if labels is not None:
        lab = read_index(labels)
        if len(lab) != len(df):
            raise CatalogError(f"{path}: {len(df)} rows but labels {labels} have {len(lab)}")
        if not (lab["target"].to_numpy() == df["target"].to_numpy()).all():
            raise CatalogError(f"{path}: targets differ from those of {labels}: not the same rows")
        dt = np.abs((pd.to_datetime(lab["timestamp"]).to_numpy() - df["timestamp"].to_numpy()) / np.timedelta64(1, "m"))
        if np.nanmax(dt) > 30:
            raise CatalogError(f"{path}: timestamps differ from those of {labels} by up to {np.nanmax(dt):.0f} min")
        for c in ("max_class", "fl_lon", "fl_lat", "partition"):
            df[c] = lab[c].to_numpy()
    for c in ("max_class", "fl_lon", "fl_lat"):
        if c not in df:
            df[c] = np.nan if c != "max_class" else ""
    df["max_class"] = df["max_class"].fillna("").astype(str)
    df["source"] = str(path)
    return df


def evaluate(frames: list[pd.DataFrame], threshold: float = 0.5, names: list[str] | None = None) -> dict:
    """Skill per file (fold) and overall, near-limb analysis, probabilistic scores.

    Returns
    -------
    dict
        ``folds`` (per file: name, n, confusion, tss, hss, auc, bss), ``tss_mean``,
        ``tss_sd``, ``hss_mean``, ``hss_sd`` (sample standard deviation over folds),
        ``near_limb`` ({C, M, X}: central/limb recall and counts, pooled),
        ``by_longitude``, ``false_alarms``, ``reliability``, ``sweep`` (pooled),
        ``auc``, ``bss`` (pooled), ``threshold``.
    """
    names = names or [str(f["source"].iloc[0]) if "source" in f else f"fold{i + 1}" for i, f in enumerate(frames)]
    folds = []
    for name, f in zip(names, frames):
        y = f["target"].to_numpy()
        p = f["flare_prob"].to_numpy()
        s = skill_scores(y, p >= threshold)
        folds.append({"name": name, "n": int(len(f)), **s, "auc": roc_auc(y, p), "bss": brier_skill_score(y, p)})
    allf = pd.concat(frames, ignore_index=True)
    allf["pred"] = (allf["flare_prob"] >= threshold).astype(int)
    tss = np.array([f["tss"] for f in folds])
    hss = np.array([f["hss"] for f in folds])
    sd = lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else float("nan")  # noqa: E731
    y, p = allf["target"].to_numpy(), allf["flare_prob"].to_numpy()
    return {
        "threshold": threshold,
        "folds": folds,
        "tss_mean": float(tss.mean()),
        "tss_sd": sd(tss),
        "hss_mean": float(hss.mean()),
        "hss_sd": sd(hss),
        "pooled": skill_scores(y, p >= threshold),
        "auc": roc_auc(y, p),
        "bss": brier_skill_score(y, p),
        "near_limb": recall_by_class_and_region(allf),
        "by_longitude": recall_by_longitude(allf).to_dict(orient="records"),
        "false_alarms": false_alarms_by_class(allf).reset_index(names="max_class").to_dict(orient="records"),
        "reliability": reliability(y, p).to_dict(orient="records"),
        "sweep": threshold_sweep(y, p, np.round(np.arange(0.05, 1.0, 0.05), 2))[["threshold", "tss", "hss"]].to_dict(orient="records"),
    }


def best_tss_per_fold(frames: list[pd.DataFrame], score: pd.Series) -> list[float]:
    """TSS at its best threshold of a ranking score on each fold's instants.

    ``score`` is indexed by timestamp (an oracle's probability, a diagnostic
    score); each frame gives the instants (``timestamp``) and their ``target``.
    The best threshold is chosen on the fold itself: a ceiling to compare a
    model's TSS at a fixed threshold with, not a forecast.
    """
    return [best_threshold(f["target"].to_numpy(), score.reindex(f["timestamp"]).to_numpy())["tss"] for f in frames]


def summarise(result: dict) -> str:
    """Plain-text report of :func:`evaluate`'s result."""
    lines = [f"threshold {result['threshold']}"]
    for f in result["folds"]:
        lines.append(f"  {Path(f['name']).name:<28} n={f['n']:>6}  TSS {f['tss']:.3f}  HSS {f['hss']:.3f}  "
                     f"AUC {f['auc']:.3f}  TP {f['tp']} FP {f['fp']} FN {f['fn']} TN {f['tn']}")
    lines.append(f"TSS {result['tss_mean']:.2f} +/- {result['tss_sd']:.2f}   HSS {result['hss_mean']:.2f} +/- {result['hss_sd']:.2f}"
                 f"   AUC {result['auc']:.3f}   BSS {result['bss']:.3f}")
    for c in ("X", "M", "C"):
        r = result["near_limb"][c]
        word = "recall" if c != "C" else "forecast positive"
        lines.append(f"  {c}: {word} central {r['central_recall']:.2f} (n={r['n_central']})  near-limb {r['limb_recall']:.2f} (n={r['n_limb']})")
    return "\n".join(lines)
