"""Forecast verification: skill scores, probabilistic scores and the near-limb analysis.

Binary scores follow the reference study: the true skill statistic
TSS = TP/(TP+FN) - FP/(FP+TN) and the Heidke skill score in its second form
HSS2 = 2 (TP TN - FN FP) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN)).
Beyond the paper: ROC AUC, the Brier skill score against climatology and the
reliability diagram, since operational forecasts are probabilities. The
confusion matrix, ROC curve, AUC and Brier score come from scikit-learn; the
inputs are checked first (:func:`check_targets`, :func:`check_probabilities`):
impossible values are refused, never scored.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score, roc_curve

from ..errors import InputError

__all__ = [
    "check_targets",
    "check_probabilities",
    "confusion",
    "tss",
    "hss",
    "skill_scores",
    "threshold_sweep",
    "best_threshold",
    "roc_auc",
    "brier_skill_score",
    "reliability",
    "recall_by_class_and_region",
    "recall_by_longitude",
    "false_alarms_by_class",
    "LIMB_DEG",
]

#: Absolute Stonyhurst longitude above which an instance counts as near-limb (the paper's 70 deg).
LIMB_DEG = 70.0


def check_targets(y_true, where: str = "targets") -> np.ndarray:
    """Targets as an int array of 0 and 1.

    Raises
    ------
    ValueError
        Empty, NaN, or values other than 0 and 1 (the message says which and where).
    """
    y = np.asarray(y_true)
    if y.size == 0:
        raise InputError(f"{where}: no instances")
    yf = pd.to_numeric(pd.Series(y.ravel()), errors="coerce").to_numpy(float)
    bad = ~np.isin(yf, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: {int(bad.sum())} target(s) not 0 or 1 (first at row {i + 1}: {y.ravel()[i]!r})")
    return yf.astype(int)


def check_probabilities(prob, where: str = "flare_prob") -> np.ndarray:
    """Probabilities as a float array in [0, 1].

    Raises
    ------
    ValueError
        Empty, NaN, or values outside [0, 1] (the message says how many and the first row).
    """
    p = pd.to_numeric(pd.Series(np.asarray(prob).ravel()), errors="coerce").to_numpy(float)
    if p.size == 0:
        raise InputError(f"{where}: no instances")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: {int(bad.sum())} value(s) NaN or outside [0, 1] (first at row {i + 1}: {np.asarray(prob).ravel()[i]!r})")
    return p


def confusion(y_true, y_pred) -> dict[str, int]:
    """TP, FP, FN, TN of binary arrays (scikit-learn's confusion matrix)."""
    tn, fp, fn, tp = confusion_matrix(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), labels=[0, 1]).ravel()
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _tss(tp, fp, fn, tn):
    return _ratio(tp, tp + fn) - _ratio(fp, fp + tn)


def _hss(tp, fp, fn, tn):
    tp, fp, fn, tn = (np.asarray(v, float) for v in (tp, fp, fn, tn))
    return _ratio(2.0 * (tp * tn - fn * fp), (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def tss(y_true, y_pred) -> float:
    """True skill statistic (recall minus false-alarm rate)."""
    return float(_tss(**confusion(y_true, y_pred)))


def hss(y_true, y_pred) -> float:
    """Heidke skill score, HSS2."""
    return float(_hss(**confusion(y_true, y_pred)))


def skill_scores(y_true, y_pred) -> dict:
    """Confusion counts with TSS, HSS2, recall, false-alarm rate and precision."""
    c = confusion(y_true, y_pred)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    return {
        **c,
        "tss": float(_tss(tp, fp, fn, tn)),
        "hss": float(_hss(tp, fp, fn, tn)),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "far": fp / (fp + tn) if fp + tn else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
    }


def threshold_sweep(y_true, prob, thresholds=None) -> pd.DataFrame:
    """TSS and HSS at each probability threshold (0.01 to 0.99 by default), vectorised."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(prob, float)
    th = np.linspace(0.01, 0.99, 99) if thresholds is None else np.asarray(thresholds, float)
    pred = p[None, :] >= th[:, None]
    tp = (pred & y).sum(1).astype(float)
    fp = (pred & ~y).sum(1).astype(float)
    fn = y.sum() - tp
    tn = (~y).sum() - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"threshold": th, "tss": _tss(tp, fp, fn, tn), "hss": _hss(tp, fp, fn, tn), "tp": tp, "fp": fp, "fn": fn, "tn": tn})


def best_threshold(y_true, prob) -> dict:
    """The threshold of maximum TSS, exactly: over every distinct score (scikit-learn's ``roc_curve``).

    TSS = TPR - FPR, so the best threshold is the ROC point farthest above the
    diagonal; forecasting "yes" at ``prob >= threshold`` reproduces it.
    Returns ``{"threshold", "tss", "hss"}``; threshold 0.5 and TSS NaN when
    only one class is present.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(prob, float)
    if len(np.unique(y)) < 2:
        return {"threshold": 0.5, "tss": float("nan"), "hss": float("nan")}
    fpr, tpr, th = roc_curve(y, p)
    k = int(np.argmax(tpr - fpr))
    thr = float(min(th[k], 1.0))  # roc_curve's first threshold is +inf (nothing forecast positive)
    s = skill_scores(y, p >= thr)
    return {"threshold": thr, "tss": s["tss"], "hss": s["hss"]}


def roc_auc(y_true, prob) -> float:
    """Area under the ROC curve (scikit-learn); NaN when only one class is present."""
    y = np.asarray(y_true).astype(int)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(prob, float)))


def brier_skill_score(y_true, prob, climatology: float | None = None) -> float:
    """1 - BS / BS_clim, with the climatological forecast = the base rate (of these data unless given)."""
    y = np.asarray(y_true, float)
    p = np.asarray(prob, float)
    c = y.mean() if climatology is None else climatology
    bs = brier_score_loss(y, p, labels=[0, 1])
    bs_c = float(np.mean((c - y) ** 2))
    return float(1 - bs / bs_c) if bs_c > 0 else float("nan")


def reliability(y_true, prob, n_bins: int = 10) -> pd.DataFrame:
    """Reliability diagram table: per probability bin, mean forecast, observed frequency and count."""
    y = np.asarray(y_true, float)
    p = np.asarray(prob, float)
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.digitize(p, edges) - 1, 0, n_bins - 1)
    rows = []
    for k in range(n_bins):
        m = b == k
        rows.append({"bin_lo": edges[k], "bin_hi": edges[k + 1], "mean_forecast": p[m].mean() if m.any() else np.nan,
                     "observed_frequency": y[m].mean() if m.any() else np.nan, "count": int(m.sum())})
    return pd.DataFrame(rows)


def _letter(max_class: pd.Series) -> pd.Series:
    return max_class.fillna("").astype(str).str.strip().str.upper().str[:1]


def recall_by_class_and_region(df: pd.DataFrame, limb_deg: float = LIMB_DEG, classes=("C", "M", "X")) -> dict:
    """Share of instances predicted positive, by GOES class of the window's largest flare, central vs near-limb.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``pred`` (0/1), ``max_class`` and ``fl_lon`` (deg).

    Returns
    -------
    dict
        ``{letter: {"central_recall", "limb_recall", "n_central", "n_limb"}}``;
        for C class this is the share of C-class windows *forecast* positive
        (false alarms when the threshold is M1.0).
    """
    letter = _letter(df["max_class"])
    lon = np.abs(pd.to_numeric(df["fl_lon"], errors="coerce"))
    out = {}
    for c in classes:
        m = letter == c
        cen = m & (lon <= limb_deg)
        lim = m & (lon > limb_deg)
        out[c] = {
            "central_recall": float(df.loc[cen, "pred"].mean()) if cen.any() else float("nan"),
            "limb_recall": float(df.loc[lim, "pred"].mean()) if lim.any() else float("nan"),
            "n_central": int(cen.sum()),
            "n_limb": int(lim.sum()),
        }
    return out


def recall_by_longitude(df: pd.DataFrame, bin_deg: float = 10.0, classes=("M", "X")) -> pd.DataFrame:
    """Recall of flare instances (largest flare in ``classes``) in longitude bins of ``bin_deg``."""
    letter = _letter(df["max_class"])
    sub = df[letter.isin(list(classes))].copy()
    lon = pd.to_numeric(sub["fl_lon"], errors="coerce")
    sub = sub[lon.notna()]
    lon = lon[lon.notna()]
    edges = np.arange(-90 - bin_deg, 90 + 2 * bin_deg, bin_deg)
    sub["lon_bin"] = pd.cut(lon.clip(-100, 100), edges, right=False)
    g = sub.groupby("lon_bin", observed=False)["pred"]
    return pd.DataFrame({"lon_lo": edges[:-1], "lon_hi": edges[1:], "recall": g.mean().to_numpy(), "count": g.size().to_numpy()})


def false_alarms_by_class(df: pd.DataFrame) -> pd.DataFrame:
    """False alarms (pred 1, target 0) by the class letter of the window's largest flare ('' = none)."""
    fa = df[(df["pred"] == 1) & (df["target"] == 0)]
    neg = df[df["target"] == 0]
    letters = _letter(fa["max_class"]).replace("", "none")
    all_neg = _letter(neg["max_class"]).replace("", "none")
    counts = letters.value_counts()
    totals = all_neg.value_counts()
    out = pd.DataFrame({"false_alarms": counts, "negatives": totals}).fillna(0).astype(int)
    out["share_of_false_alarms"] = out["false_alarms"] / max(len(fa), 1)
    out["rate"] = out["false_alarms"] / out["negatives"].where(out["negatives"] > 0)
    return out.reindex([c for c in ["none", "A", "B", "C"] if c in out.index])
