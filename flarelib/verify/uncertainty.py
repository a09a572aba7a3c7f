"""Uncertainty of verification scores: block bootstrap over days, per-flare bootstrap for near-limb recall.

Hourly windows overlap by 23/24 and flaring regions live for days, so the
63,649 hourly instants of the reference data are far from independent.
:func:`label_autocorrelation` measures it: on the published labels the
autocorrelation of the target is 0.97 at 1 h, 0.42 at 24 h, 0.29 at 3 days
and about 0.18 at 7 days, beyond which it decays only slowly (the solar-cycle
modulation). Intervals therefore resample **whole blocks of days**
(:data:`DEFAULT_BLOCK_DAYS` = 7) within each fold, keeping the fold
structure, and the near-limb recall resamples **distinct flares**
(:func:`flare_ids`): the 212 near-limb X-class windows of the reference data
come from about a dozen flares.

All intervals are percentile intervals (2.5 %, 97.5 %) of ``n_boot``
resamples drawn from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import InputError
from .metrics import LIMB_DEG, _hss, _tss, limb_masks, roc_auc

__all__ = ["DEFAULT_BLOCK_DAYS", "label_autocorrelation", "day_blocks", "flare_ids", "bootstrap_scores", "limb_recall_intervals",
           "paired_difference", "paired_tss_interval", "percentile_interval", "cluster_interval", "interval_verdict", "stratified_skill"]

#: Block length of the day-block bootstrap (see the module docstring for the measurement behind it).
DEFAULT_BLOCK_DAYS = 7


def percentile_interval(samples, level: float = 0.95) -> list[float]:
    """[lo, hi] percentile interval of bootstrap samples (NaN samples ignored)."""
    s = np.asarray(samples, float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return [float("nan"), float("nan")]
    a = (1 - level) / 2
    return [float(np.quantile(s, a)), float(np.quantile(s, 1 - a))]


def interval_verdict(lo: float, hi: float, above: str = "above", below: str = "below",
                     neither: str = "not distinguishable from", missing: str = "not compared with") -> str:
    """The one reading of a difference's interval: ``above`` when it excludes 0 from above, ``below`` from below.

    ``neither`` when it holds 0, ``missing`` when a bound is NaN (no interval could be computed).
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return missing
    return above if lo > 0 else below if hi < 0 else neither


def label_autocorrelation(timestamps, target, lags_h=(1, 6, 12, 24, 48, 72, 120, 168, 240)) -> pd.DataFrame:
    """Autocorrelation of the binary target on an hourly grid (gaps stay gaps), at the given lags in hours."""
    s = pd.Series(np.asarray(target, float), index=pd.DatetimeIndex(pd.to_datetime(timestamps)).floor("h"))
    s = s[~s.index.duplicated()].sort_index()
    x = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="h")).to_numpy()
    x = x - np.nanmean(x)
    rows = []
    for lag in lags_h:
        a, b = x[lag:], x[:-lag]
        m = np.isfinite(a) & np.isfinite(b)
        r = float(np.corrcoef(a[m], b[m])[0, 1]) if m.sum() > 2 else float("nan")
        rows.append({"lag_h": int(lag), "autocorrelation": r, "pairs": int(m.sum())})
    return pd.DataFrame(rows)


def day_blocks(timestamps, block_days: int = DEFAULT_BLOCK_DAYS) -> np.ndarray:
    """Block number of each instant: consecutive runs of ``block_days`` calendar days."""
    if block_days < 1:
        raise InputError(f"block_days must be >= 1, got {block_days}")
    days = pd.DatetimeIndex(pd.to_datetime(timestamps)).floor("D").to_numpy(dtype="datetime64[D]").astype(np.int64)
    return days // block_days


def flare_ids(frame: pd.DataFrame) -> np.ndarray:
    """An identifier of the flare behind each window's largest flare; -1 for windows without one.

    Windows whose largest flare has the same class and location, at
    consecutive instants less than 25 h apart, are one flare (a flare is the
    largest of up to 24 hourly windows).
    """
    cls = frame["max_class"].fillna("").astype(str).to_numpy()
    lon = pd.to_numeric(frame["fl_lon"], errors="coerce").round(2).to_numpy()
    lat = pd.to_numeric(frame["fl_lat"], errors="coerce").round(2).to_numpy()
    t = pd.to_datetime(frame["timestamp"]).to_numpy()
    order = np.argsort(t, kind="stable")
    ids = np.full(len(frame), -1, np.int64)
    last_seen: dict = {}
    nxt = 0
    for i in order:
        if not cls[i]:
            continue
        key = (cls[i], lon[i], lat[i])
        prev = last_seen.get(key)
        if prev is not None and (t[i] - prev[0]) <= np.timedelta64(25, "h"):
            ids[i] = prev[1]
        else:
            ids[i] = nxt
            nxt += 1
        last_seen[key] = (t[i], ids[i])
    return ids


def _block_members(blocks: np.ndarray) -> list[np.ndarray]:
    """Row positions of each block, in block order (computed once per data set, not per resample)."""
    _, inverse = np.unique(blocks, return_inverse=True)
    return np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])


def _resample_blocks(members: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Row positions of one block-bootstrap resample (blocks drawn with replacement)."""
    pick = rng.integers(0, len(members), len(members))
    return np.concatenate([members[k] for k in pick])


def cluster_interval(statistic: Callable[[np.ndarray], float], groups, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """A statistic of a set of rows and its percentile interval from resampling whole groups with replacement.

    Rows of one group (the windows of one flare, the instants of one day) are not independent; drawing the groups,
    not the rows, keeps that dependence in the interval.

    Parameters
    ----------
    statistic : callable
        Takes an integer array of row positions (with repeats) and returns a number (NaN allowed).
    groups : array-like
        One group label per row.
    n_boot : int
        Resamples (0: no interval, NaN bounds).

    Returns
    -------
    (estimate, lo, hi)
    """
    groups = np.asarray(groups)
    rows = np.arange(len(groups))
    est = float(statistic(rows)) if len(rows) else float("nan")
    if n_boot <= 0 or len(rows) == 0:
        return est, float("nan"), float("nan")
    members = _block_members(groups)
    rng = np.random.default_rng(seed)
    lo, hi = percentile_interval([statistic(_resample_blocks(members, rng)) for _ in range(n_boot)], level)
    return est, lo, hi


class _PooledScores:
    """ROC AUC and Brier skill score of resamples given as row multiplicities, in O(n) each.

    The rows are sorted by probability once; a resample's AUC is the Mann-Whitney statistic with its multiplicities
    as weights (ties count one half), its BSS uses its own base rate: the values :func:`roc_auc` and
    :func:`brier_skill_score` give on the resampled rows (to rounding), without sorting each resample.
    """

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        self.n = len(y)
        self.order = np.argsort(p, kind="stable")
        sp = p[self.order]
        self.sy = y[self.order].astype(float)
        self.starts = np.r_[0, np.flatnonzero(np.diff(sp)) + 1] if self.n else np.zeros(0, int)
        self.y, self.p = y.astype(float), p.astype(float)

    def auc_bss(self, counts: np.ndarray) -> tuple[float, float]:
        c = counts[self.order].astype(float)
        pos_g = np.add.reduceat(c * self.sy, self.starts)
        neg_g = np.add.reduceat(c * (1.0 - self.sy), self.starts)
        n_pos, n_neg = pos_g.sum(), neg_g.sum()
        below = np.cumsum(neg_g) - neg_g
        auc = float((pos_g * (below + 0.5 * neg_g)).sum() / (n_pos * n_neg)) if n_pos > 0 and n_neg > 0 else float("nan")
        w = counts.astype(float)
        total = w.sum()
        base = (w * self.y).sum() / total
        bs = (w * (self.p - self.y) ** 2).sum() / total
        bs_c = (w * (base - self.y) ** 2).sum() / total
        return auc, (float(1 - bs / bs_c) if bs_c > 0 else float("nan"))


def bootstrap_scores(frames: list[pd.DataFrame], thresholds, n_boot: int = 1000, seed: int = 0,
                     block_days: int = DEFAULT_BLOCK_DAYS, prob_column: str = "flare_prob") -> dict:
    """95 % block-bootstrap intervals of the fold-mean TSS and HSS, and of the pooled AUC and BSS.

    Each resample draws day blocks with replacement *within each fold*,
    scores every fold at its threshold and averages over folds, as the point
    estimates are computed.

    Returns
    -------
    dict
        ``tss_ci``, ``hss_ci``, ``auc_ci``, ``bss_ci`` (two-element lists),
        ``n_boot``, ``block_days``, ``seed``.
    """
    if n_boot < 1:
        raise InputError(f"--bootstrap must be >= 1, got {n_boot}")
    thresholds = list(np.broadcast_to(np.asarray(thresholds, float), (len(frames),)))
    rng = np.random.default_rng(seed)
    data = [(f["target"].to_numpy(int), f[prob_column].to_numpy(float), _block_members(day_blocks(f["timestamp"], block_days)))
            for f in frames]
    pooled = _PooledScores(np.concatenate([d[0] for d in data]), np.concatenate([d[1] for d in data]))
    offsets = np.cumsum([0] + [len(d[0]) for d in data])[:-1]
    tss, hss, auc, bss = (np.empty(n_boot) for _ in range(4))
    for b in range(n_boot):
        ts, hs, picked = [], [], []
        for (y, p, blk), thr, off in zip(data, thresholds, offsets):
            rows = _resample_blocks(blk, rng)
            tn, fp, fn, tp = np.bincount(2 * y[rows] + (p[rows] >= thr), minlength=4)  # fast 2x2 table
            ts.append(float(_tss(tp, fp, fn, tn)))
            hs.append(float(_hss(tp, fp, fn, tn)))
            picked.append(rows + off)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample whose every fold lacks a class: NaN, left out below
            tss[b], hss[b] = np.nanmean(ts), np.nanmean(hs)
        auc[b], bss[b] = pooled.auc_bss(np.bincount(np.concatenate(picked), minlength=pooled.n))
    return {"tss_ci": percentile_interval(tss), "hss_ci": percentile_interval(hss), "auc_ci": percentile_interval(auc),
            "bss_ci": percentile_interval(bss), "n_boot": int(n_boot), "block_days": int(block_days), "seed": int(seed)}


def limb_recall_intervals(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0, limb_deg: float = LIMB_DEG,
                          classes=("M", "X")) -> dict:
    """Per class letter: distinct flares behind the near-limb windows, and a 95 % interval of near-limb recall.

    Resamples distinct flares with replacement (all windows of a drawn flare
    come together). ``frame`` needs ``pred`` (0/1), ``max_class``, ``fl_lon``,
    ``fl_lat`` and ``timestamp``.
    """
    rng = np.random.default_rng(seed)
    ids = flare_ids(frame)
    letter = frame["max_class"].fillna("").astype(str).str.strip().str.upper().str[:1].to_numpy()
    limb = limb_masks(frame["fl_lon"], limb_deg)["limb"]  # the visible limb, as recall_by_class_and_region counts it
    pred = frame["pred"].to_numpy(float)
    out = {}
    for c in classes:
        m = (letter == c) & limb & (ids >= 0)
        if not m.any():
            out[c] = {"n_flares": 0, "limb_recall_ci": [float("nan"), float("nan")]}
            continue
        flares, inv = np.unique(ids[m], return_inverse=True)
        hits = np.bincount(inv, weights=pred[m])
        counts = np.bincount(inv).astype(float)
        samples = np.empty(n_boot)
        for b in range(n_boot):
            k = rng.integers(0, len(flares), len(flares))
            samples[b] = hits[k].sum() / counts[k].sum()
        out[c] = {"n_flares": int(len(flares)), "limb_recall_ci": percentile_interval(samples)}
    return out


def _fold_mean_tss(folds: list[tuple[np.ndarray, np.ndarray]], rows: list[np.ndarray] | None = None) -> float:
    vals = []
    for k, (y, d) in enumerate(folds):
        yy, dd = (y, d) if rows is None else (y[rows[k]], d[rows[k]])
        tp, fn = int(np.sum(dd & yy)), int(np.sum(~dd & yy))
        fp, tn = int(np.sum(dd & ~yy)), int(np.sum(~dd & ~yy))
        vals.append(float(_tss(tp, fp, fn, tn)))
    vals = [v for v in vals if np.isfinite(v)]  # a fold (or resample) without one of the classes has no TSS
    return float(np.mean(vals)) if vals else float("nan")


def paired_tss_interval(targets: list[np.ndarray], yes_a: list[np.ndarray], yes_b: list[np.ndarray], timestamps: list, n_boot: int = 1000,
                        seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS) -> dict:
    """Fold-mean TSS of yes/no forecast A minus B on the same instants, with a paired block-bootstrap interval.

    Per fold: outcomes, A's and B's yes/no forecasts and the timestamps (for the day blocks). The arithmetic of
    :func:`paired_difference` with the fold-mean TSS as its score, the same resamples drawn in the same order, on
    arrays instead of data frames (a 2,000-instant comparison with 1,000 resamples in well under a second).
    """
    ys = [np.asarray(y).astype(bool) for y in targets]
    a = [(y, np.asarray(d).astype(bool)) for y, d in zip(ys, yes_a)]
    b = [(y, np.asarray(d).astype(bool)) for y, d in zip(ys, yes_b)]
    rng = np.random.default_rng(seed)
    blocks = [_block_members(day_blocks(t, block_days)) for t in timestamps]
    point = _fold_mean_tss(a) - _fold_mean_tss(b)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        rows = [_resample_blocks(blk, rng) for blk in blocks]
        diffs[i] = _fold_mean_tss(a, rows) - _fold_mean_tss(b, rows)
    return {"difference": float(point), "ci": percentile_interval(diffs), "n_boot": int(n_boot), "block_days": int(block_days)}


def paired_difference(frames: list[pd.DataFrame], score: Callable[[list[pd.DataFrame], str], float], column_a: str,
                      column_b: str, n_boot: int = 1000, seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS) -> dict:
    """Difference ``score(a) - score(b)`` of two forecasts of the same instants, with a paired block-bootstrap interval.

    ``score(frames, column)`` computes a statistic (for example the fold-mean
    TSS) of the probabilities in ``column``; both forecasts are resampled with
    the same blocks, so what they share cancels.
    """
    rng = np.random.default_rng(seed)
    blocks = [_block_members(day_blocks(f["timestamp"], block_days)) for f in frames]
    point = score(frames, column_a) - score(frames, column_b)
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        res = [f.iloc[_resample_blocks(blk, rng)] for f, blk in zip(frames, blocks)]
        diffs[b] = score(res, column_a) - score(res, column_b)
    return {"difference": float(point), "ci": percentile_interval(diffs), "n_boot": int(n_boot), "block_days": int(block_days)}


def _pooled_tss(y: np.ndarray, yes: np.ndarray, rows: np.ndarray | None = None) -> float:
    """TSS of one set of instants (the one-fold case of :func:`_fold_mean_tss`)."""
    return _fold_mean_tss([(y.astype(bool), yes.astype(bool))], None if rows is None else [rows])


def stratified_skill(frames: list[pd.DataFrame], thresholds, strata: list, reference: tuple | None = None, n_boot: int = 1000,
                     seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS, order=None) -> pd.DataFrame:
    """TSS and AUC in each stratum (a year, an activity level), with block-bootstrap intervals, optionally paired.

    Every instant is forecast "yes" at its own fold's threshold and the folds are pooled within a stratum (a year
    holds instants of every fold). Intervals resample the stratum's day blocks; with ``reference`` the same
    resamples score the reference forecast on the same instants, and the difference gets its paired interval.

    Parameters
    ----------
    frames : list of DataFrame
        One per fold: ``timestamp, target, flare_prob`` (``max_class, fl_lon, fl_lat`` for the count of distinct
        flares).
    thresholds : float or list of float
        One decision threshold per fold.
    strata : list of array-like
        One stratum label per instant of each frame; ``""`` (or NaN) leaves the instant out.
    reference : (frames, thresholds), optional
        Another forecast, matched to these instants by timestamp (instants it does not cover are left out).
    order : sequence of str, optional
        The strata in the order wanted (e.g. ``("low", "middle", "high")``); sorted by default.

    Returns
    -------
    DataFrame
        Per stratum (sorted): ``stratum, n, events, flares, tss, tss_lo, tss_hi, auc``; with ``reference`` also
        ``reference_tss, difference, difference_lo, difference_hi``. A stratum without events or without
        non-events has NaN scores.
    """
    thresholds = list(np.broadcast_to(np.asarray(thresholds, float), (len(frames),)))
    parts = []
    for f, th, st in zip(frames, thresholds, strata):
        g = pd.DataFrame({"timestamp": pd.to_datetime(f["timestamp"]).to_numpy(), "target": f["target"].to_numpy(int),
                          "flare_prob": f["flare_prob"].to_numpy(float), "yes": (f["flare_prob"].to_numpy(float) >= th),
                          "stratum": pd.Series(np.asarray(st, dtype=object)).fillna("").astype(str).to_numpy()})
        for c in ("max_class", "fl_lon", "fl_lat"):
            if c in f:
                g[c] = f[c].to_numpy()
        parts.append(g)
    allf = pd.concat(parts, ignore_index=True)
    if reference is not None:
        ref_frames, ref_th = reference
        ref_th = list(np.broadcast_to(np.asarray(ref_th, float), (len(ref_frames),)))
        ref = pd.concat([pd.DataFrame({"timestamp": pd.to_datetime(f["timestamp"]).to_numpy(),
                                       "yes_ref": f["flare_prob"].to_numpy(float) >= th}) for f, th in zip(ref_frames, ref_th)])
        allf = allf.merge(ref.drop_duplicates("timestamp"), on="timestamp", how="inner")
    allf = allf[allf["stratum"] != ""]
    ids = flare_ids(allf) if "max_class" in allf else np.full(len(allf), -1)
    rng = np.random.default_rng(seed)
    rows = []
    present = set(allf["stratum"].unique())
    for name in ([o for o in order if o in present] if order is not None else sorted(present)):
        m = (allf["stratum"] == name).to_numpy()
        sub = allf[m]
        y, yes = sub["target"].to_numpy(int), sub["yes"].to_numpy(bool)
        members = _block_members(day_blocks(sub["timestamp"], block_days))
        row = {"stratum": name, "n": int(m.sum()), "events": int(y.sum()),
               "flares": int(len(np.unique(ids[m][(ids[m] >= 0) & (y == 1)]))), "tss": _pooled_tss(y, yes)}
        yes_ref = sub["yes_ref"].to_numpy(bool) if reference is not None else None
        samples, diffs = np.full(n_boot, np.nan), np.full(n_boot, np.nan)
        for b in range(n_boot):
            r = _resample_blocks(members, rng)
            samples[b] = _pooled_tss(y, yes, r)
            if yes_ref is not None:
                diffs[b] = samples[b] - _pooled_tss(y, yes_ref, r)
        row["tss_lo"], row["tss_hi"] = percentile_interval(samples)
        p = sub["flare_prob"].to_numpy(float)
        row["auc"] = roc_auc(y, p)
        if yes_ref is not None:
            row["reference_tss"] = _pooled_tss(y, yes_ref)
            row["difference"] = row["tss"] - row["reference_tss"]
            row["difference_lo"], row["difference_hi"] = percentile_interval(diffs)
        rows.append(row)
    cols = ["stratum", "n", "events", "flares", "tss", "tss_lo", "tss_hi", "auc"]
    if reference is not None:
        cols += ["reference_tss", "difference", "difference_lo", "difference_hi"]
    return pd.DataFrame(rows, columns=cols)
