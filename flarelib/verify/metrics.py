"""Forecast verification: skill scores, probabilistic scores and the near-limb analysis.

Binary scores follow the reference study: the true skill statistic
TSS = TP/(TP+FN) - FP/(FP+TN) and the Heidke skill score in its second form
HSS2 = 2 (TP TN - FN FP) / ((TP+FN)(FN+TN) + (TP+FP)(FP+TN)).
Beyond the paper, the standard set of flare-forecast verification (Bloomfield
et al. 2012, ApJL 747, L41; Leka et al. 2019, ApJS 243, 36): the Appleman
skill score (accuracy against always forecasting the commoner outcome), the
equitable threat score, the frequency bias, the probability of false
detection POFD = FP/(FP+TN) and the false-alarm *ratio* FAR = FP/(TP+FP)
(two different quantities, named apart: ``far`` in older JSON is the POFD);
ROC AUC and Gini, the Brier skill score against climatology and the
reliability diagram with counts, since operational forecasts are
probabilities; skill by year; near-limb recall split east and west, with
flares behind the limb kept apart; event-based recall (per distinct flare). The
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
    "appleman_skill_score",
    "equitable_threat_score",
    "false_alarm_ratio",
    "pofd",
    "frequency_bias",
    "gini",
    "skill_by_year",
    "event_recall",
    "threshold_sweep",
    "best_threshold",
    "roc_auc",
    "brier_skill_score",
    "reliability",
    "limb_masks",
    "recall_by_class_and_region",
    "recall_by_longitude",
    "false_alarms_by_class",
    "LIMB_DEG",
    "BEHIND_DEG",
]

#: Absolute Stonyhurst longitude above which an instance counts as near-limb (the paper's 70 deg).
LIMB_DEG = 70.0
#: Absolute longitude beyond which a flare is behind the limb (seen by GOES, its region not on the magnetogram).
BEHIND_DEG = 90.0


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


def _apss(tp, fp, fn, tn):
    """(accuracy - accuracy of the commoner outcome forecast always) / (1 - that accuracy)."""
    tp, fp, fn, tn = (np.asarray(v, float) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    ref = np.maximum(tp + fn, fp + tn) / np.where(n > 0, n, 1.0)
    return _ratio((tp + tn) / np.where(n > 0, n, 1.0) - ref, 1.0 - ref)


def _ets(tp, fp, fn, tn):
    tp, fp, fn, tn = (np.asarray(v, float) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    hits_random = (tp + fn) * (tp + fp) / np.where(n > 0, n, 1.0)
    return _ratio(tp - hits_random, tp + fp + fn - hits_random)


def appleman_skill_score(y_true, y_pred) -> float:
    """Appleman skill score: accuracy relative to forecasting the commoner outcome always.

    Negative when the yes/no forecast is less often right than "never" (for rare events).
    """
    return float(_apss(**confusion(y_true, y_pred)))


def equitable_threat_score(y_true, y_pred) -> float:
    """Equitable threat score (Gilbert skill score): hits beyond those of a random forecast of the same bias."""
    return float(_ets(**confusion(y_true, y_pred)))


def false_alarm_ratio(y_true, y_pred) -> float:
    """False-alarm ratio FP / (TP + FP): the share of "yes" forecasts not followed by an event."""
    c = confusion(y_true, y_pred)
    return float(_ratio(c["fp"], c["tp"] + c["fp"]))


def pofd(y_true, y_pred) -> float:
    """Probability of false detection FP / (FP + TN), the false-alarm *rate* (the second term of TSS)."""
    c = confusion(y_true, y_pred)
    return float(_ratio(c["fp"], c["fp"] + c["tn"]))


def frequency_bias(y_true, y_pred) -> float:
    """Frequency bias (TP + FP) / (TP + FN): yes forecasts per event (1 is unbiased)."""
    c = confusion(y_true, y_pred)
    return float(_ratio(c["tp"] + c["fp"], c["tp"] + c["fn"]))


def tss(y_true, y_pred) -> float:
    """True skill statistic (recall minus false-alarm rate)."""
    return float(_tss(**confusion(y_true, y_pred)))


def hss(y_true, y_pred) -> float:
    """Heidke skill score, HSS2."""
    return float(_hss(**confusion(y_true, y_pred)))


def skill_scores(y_true, y_pred) -> dict:
    """Confusion counts with the binary scores of the standard verification set.

    Returns
    -------
    dict
        ``tp, fp, fn, tn``, ``tss``, ``hss``, ``apss`` (Appleman), ``ets`` (equitable threat score), ``recall``,
        ``pofd`` (FP/(FP+TN)), ``false_alarm_ratio`` (FP/(TP+FP)), ``frequency_bias``, ``precision``, and
        ``far``: the POFD under its older name, kept for JSON written before the ratio was reported.
    """
    c = confusion(y_true, y_pred)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    nan = float("nan")
    pofd_ = fp / (fp + tn) if fp + tn else nan
    return {
        **c,
        "tss": float(_tss(tp, fp, fn, tn)),
        "hss": float(_hss(tp, fp, fn, tn)),
        "apss": float(_apss(tp, fp, fn, tn)),
        "ets": float(_ets(tp, fp, fn, tn)),
        "recall": tp / (tp + fn) if tp + fn else nan,
        "pofd": pofd_,
        "false_alarm_ratio": fp / (tp + fp) if tp + fp else nan,
        "frequency_bias": (tp + fp) / (tp + fn) if tp + fn else nan,
        "precision": tp / (tp + fp) if tp + fp else nan,
        "far": pofd_,
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


def gini(y_true, prob) -> float:
    """Gini coefficient 2 AUC - 1 (the ROC skill score); NaN when only one class is present."""
    return 2.0 * roc_auc(y_true, prob) - 1.0


def brier_skill_score(y_true, prob, climatology: float | None = None) -> float:
    """1 - BS / BS_clim, with the climatological forecast = the base rate (of these data unless given)."""
    y = np.asarray(y_true, float)
    p = np.asarray(prob, float)
    c = y.mean() if climatology is None else climatology
    bs = brier_score_loss(y, p, labels=[0, 1])
    bs_c = float(np.mean((c - y) ** 2))
    return float(1 - bs / bs_c) if bs_c > 0 else float("nan")


def reliability(y_true, prob, n_bins: int = 10) -> pd.DataFrame:
    """Reliability diagram table: per probability bin, mean forecast, observed frequency, count and share.

    ``share`` (the count over all instances) is the sharpness histogram. Leka et al. (2019) use 20 bins.
    """
    y = np.asarray(y_true, float)
    p = np.asarray(prob, float)
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.digitize(p, edges) - 1, 0, n_bins - 1)
    rows = []
    for k in range(n_bins):
        m = b == k
        rows.append({"bin_lo": edges[k], "bin_hi": edges[k + 1], "mean_forecast": p[m].mean() if m.any() else np.nan,
                     "observed_frequency": y[m].mean() if m.any() else np.nan, "count": int(m.sum()),
                     "share": float(m.mean()) if len(p) else np.nan})
    return pd.DataFrame(rows)


def _letter(max_class: pd.Series) -> pd.Series:
    return max_class.fillna("").astype(str).str.strip().str.upper().str[:1]


def limb_masks(lon_deg, limb_deg: float = LIMB_DEG, behind_deg: float = BEHIND_DEG) -> dict[str, np.ndarray]:
    """Masks of the windows whose largest flare is central, near the east or west limb (visible) or behind the limb.

    ``east``: -behind_deg <= lon < -limb_deg; ``west``: limb_deg < lon <= behind_deg; ``limb``: either;
    ``behind``: |lon| > behind_deg. The real labels have no flare behind the limb; a simulated Sun has them
    (GOES sees flares a little behind the limb), and they are kept apart so the near-limb figures mean the same
    on both.
    """
    lon = pd.to_numeric(pd.Series(np.asarray(lon_deg, float).ravel()), errors="coerce").to_numpy(float)
    a = np.abs(lon)
    with np.errstate(invalid="ignore"):
        east = (lon < -limb_deg) & (lon >= -behind_deg)
        west = (lon > limb_deg) & (lon <= behind_deg)
        return {"central": a <= limb_deg, "east": east, "west": west, "limb": east | west, "behind": a > behind_deg}


def recall_by_class_and_region(df: pd.DataFrame, limb_deg: float = LIMB_DEG, classes=("C", "M", "X")) -> dict:
    """Share of instances predicted positive, by GOES class of the window's largest flare, central vs near-limb.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``pred`` (0/1), ``max_class`` and ``fl_lon`` (deg).

    Returns
    -------
    dict
        ``{letter: {"central_recall", "limb_recall", "east_recall", "west_recall", "behind_recall", "n_central",
        "n_limb", "n_east", "n_west", "n_behind"}}`` (see :func:`limb_masks`: near-limb is the visible limb;
        flares behind it are counted apart); for C class this is the share of C-class windows *forecast*
        positive (false alarms when the threshold is M1.0).
    """
    letter = _letter(df["max_class"]).to_numpy()
    masks = limb_masks(df["fl_lon"], limb_deg)
    pred = df["pred"].to_numpy(float)
    out = {}
    for c in classes:
        m = letter == c
        row = {}
        for key in ("central", "limb", "east", "west", "behind"):
            sel = m & masks[key]
            row[f"{key}_recall"] = float(pred[sel].mean()) if sel.any() else float("nan")
        row.update({f"n_{key}": int((m & masks[key]).sum()) for key in ("central", "limb", "east", "west", "behind")})
        out[c] = row
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


def skill_by_year(df: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year: instances, events, TSS, HSS, Appleman skill score and AUC of a scored frame.

    ``df`` needs ``timestamp``, ``target``, ``pred`` (0/1) and ``flare_prob``. Skill follows the solar cycle's
    phase (the base rate changes by year), so a pooled score mixes years of very different difficulty.
    """
    years = pd.to_datetime(df["timestamp"]).dt.year.to_numpy()
    rows = []
    for yr in np.unique(years):
        m = years == yr
        y, pr, p = df["target"].to_numpy()[m], df["pred"].to_numpy()[m], df["flare_prob"].to_numpy()[m]
        s = skill_scores(y, pr)
        rows.append({"year": int(yr), "n": int(m.sum()), "events": int(y.sum()), "base_rate": float(y.mean()), "tss": s["tss"],
                     "hss": s["hss"], "apss": s["apss"], "auc": roc_auc(y, p)})
    return pd.DataFrame(rows, columns=["year", "n", "events", "base_rate", "tss", "hss", "apss", "auc"])


def event_recall(df: pd.DataFrame, flare_id, classes=("M", "X"), window_h: float = 24.0) -> dict:
    """Event-based recall: per distinct flare, was any instant of its forecast window forecast "yes"?

    An instance-based recall counts a long-lived window many times; an operations desk asks whether each flare
    was warned of. A flare is the set of windows whose largest flare it is (``flare_id``, e.g.
    :func:`flarelib.verify.uncertainty.flare_ids`; a smaller M flare inside an X flare's windows is not seen).
    A *first* flare has no window of another >= ``classes`` flare in the ``window_h`` hours before its own first
    window: persistence cannot warn of it.

    Returns
    -------
    dict
        ``{letter or "all": {"n_flares", "detected", "recall", "n_first", "first_detected", "first_recall"}}``.
    """
    ids = np.asarray(flare_id)
    letter = _letter(df["max_class"]).to_numpy()
    t = pd.to_datetime(df["timestamp"]).to_numpy()
    pred = df["pred"].to_numpy().astype(bool)
    big = np.isin(letter, list(classes)) & (ids >= 0)
    flares = np.unique(ids[big])
    first_t = {f: t[big & (ids == f)].min() for f in flares}
    hit = {f: bool(pred[big & (ids == f)].any()) for f in flares}
    cls = {f: letter[big & (ids == f)][0] for f in flares}
    w = np.timedelta64(int(window_h * 3600), "s")
    big_t, big_id = t[big], ids[big]
    first = {f: not np.any((big_id != f) & (big_t < first_t[f]) & (big_t >= first_t[f] - w)) for f in flares}
    out = {}
    for key, members in [("all", list(flares))] + [(c, [f for f in flares if cls[f] == c]) for c in classes]:
        firsts = [f for f in members if first[f]]
        n, d = len(members), sum(hit[f] for f in members)
        n1, d1 = len(firsts), sum(hit[f] for f in firsts)
        out[key] = {"n_flares": n, "detected": int(d), "recall": d / n if n else float("nan"), "n_first": n1,
                    "first_detected": int(d1), "first_recall": d1 / n1 if n1 else float("nan")}
    return out
