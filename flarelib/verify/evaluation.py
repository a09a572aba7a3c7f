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

from ..data.labels import partition_of, read_index, timestamp_from_path
from ..errors import CatalogError, InputError
from ..schemas import PREDICTIONS
from .baselines import ACTIVITY_DAYS, activity_terciles
from .calibration import cross_fit
from .metrics import (
    best_threshold,
    brier_skill_score,
    check_probabilities,
    check_targets,
    event_recall,
    false_alarms_by_class,
    gini,
    recall_by_class_and_region,
    recall_by_longitude,
    reliability,
    roc_auc,
    skill_by_year,
    skill_scores,
    threshold_sweep,
)
from .uncertainty import DEFAULT_BLOCK_DAYS, bootstrap_scores, flare_ids, limb_recall_intervals, paired_tss_interval, stratified_skill

__all__ = ["read_predictions", "evaluate", "summarise", "score_table", "paired_tss_difference", "train_optimal_thresholds",
           "THRESHOLD_RULES", "RELIABILITY_BINS", "ACTIVITY_LEVELS", "verification_row"]

#: The decision rules :func:`evaluate` can be asked for by name: a fixed threshold, or each fold's threshold
#: chosen where the TSS of the *other* folds' forecasts is largest (the rule the fitted baselines use).
THRESHOLD_RULES = ("fixed", "train-optimal")
#: Bins of the reliability table (Leka et al. 2019).
RELIABILITY_BINS = 20
#: The activity levels of :func:`~flarelib.verify.baselines.activity_terciles`, in order.
ACTIVITY_LEVELS = ("low", "middle", "high")


def train_optimal_thresholds(frames: list[pd.DataFrame]) -> list[float]:
    """Per fold, the threshold of maximum TSS on the other folds' forecasts pooled (never on the fold itself).

    The same rule for every forecast, so a model scored at 0.5 is not compared with baselines thresholded where
    their training-fold TSS is largest. Needs at least two folds.

    Raises
    ------
    InputError
        Fewer than two folds.
    """
    if len(frames) < 2:
        raise InputError("a training-fold threshold needs at least two folds (each is thresholded on the others)")
    out = []
    for k in range(len(frames)):
        rest = pd.concat([f for j, f in enumerate(frames) if j != k], ignore_index=True)
        out.append(float(best_threshold(rest["target"].to_numpy(), rest["flare_prob"].to_numpy())["threshold"]))
    return out


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
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = {"timestamp", "flare_prob", "target"} - set(df.columns)
    if missing:
        raise CatalogError(f"{path}: not a prediction file, missing columns {sorted(missing)}")
    if len(df) == 0:
        raise CatalogError(f"{path}: no predictions (empty file)")
    df["timestamp"] = _parse_timestamps(df["timestamp"].astype(str))
    df = PREDICTIONS.validate(df, str(path))
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
    if "partition" in df and df["partition"].notna().any():
        have = df["partition"].notna()
        wrong = have & (df["partition"] != partition_of(df["timestamp"]))
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy())[0])
            raise CatalogError(f"{path}: {int(wrong.sum())} row(s) whose partition contradicts the month of their timestamp "
                               f"(first at row {i + 1}: {df['timestamp'].iloc[i]} in partition {int(df['partition'].iloc[i])})")
    for c in ("max_class", "fl_lon", "fl_lat"):
        if c not in df:
            df[c] = np.nan if c != "max_class" else ""
    df["max_class"] = df["max_class"].fillna("").astype(str)
    df["source"] = str(path)
    return df


def evaluate(frames: list[pd.DataFrame], threshold: float | list[float] = 0.5, names: list[str] | None = None, bootstrap: int = 0,
             seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS, calibrate: str | None = None,
             activity: pd.Series | None = None) -> dict:
    """Skill per file (fold) and overall, near-limb analysis, probabilistic scores, optionally with intervals.

    Parameters
    ----------
    frames : list of DataFrame
        One per fold: ``timestamp, flare_prob, target, max_class, fl_lon, fl_lat``.
    threshold : float or list of float
        Decision threshold, or one per fold (chosen without the fold, e.g. on the training folds).
    bootstrap : int
        Resamples for 95 % intervals (0: none): day blocks for TSS, HSS, AUC,
        BSS; distinct flares for near-limb recall (:mod:`flarelib.verify.uncertainty`).
    calibrate : {'isotonic', 'platt'}, optional
        Also score probabilities calibrated by a map cross-fitted on the other
        folds, under the key ``calibrated``.
    activity : Series, optional
        Each instant's activity level ("low", "middle", "high"; "" for none), indexed by timestamp: from
        :func:`~flarelib.verify.baselines.activity_terciles` of the *whole* label record, so that forecasts of
        different instants share one stratification. Without it the levels come from the evaluated instants
        themselves, and only instants whose 81 days before are mostly evaluated too get one.

    Returns
    -------
    dict
        ``folds`` (per file: name, n, threshold, confusion and every score of
        :func:`~flarelib.verify.metrics.skill_scores` (TSS, HSS, ApSS, ETS, POFD,
        false-alarm ratio, frequency bias), base rate, AUC, BSS against the fold's
        own climatology and ``bss_train_climatology`` against the other folds'),
        ``tss_mean``, ``tss_sd``, ``hss_mean``, ``hss_sd`` (sample standard
        deviation over folds), ``pooled`` (the binary scores of all folds
        together), ``near_limb`` ({C, M, X}: central, near-limb, east, west and
        behind-the-limb recall and counts, pooled), ``events`` (event-based
        recall per distinct flare, :func:`~flarelib.verify.metrics.event_recall`),
        ``by_year`` (per calendar year: TSS, HSS, ApSS, AUC; with ``bootstrap`` also ``tss_lo, tss_hi``),
        ``by_activity`` (per tercile of the previous 81 days' share of positive windows among the evaluated
        instants, :func:`~flarelib.verify.baselines.activity_terciles`: ``stratum, n, events, flares, tss, tss_lo,
        tss_hi, auc``, and ``activity_edges``), ``by_longitude``, ``false_alarms``, ``reliability``
        (:data:`RELIABILITY_BINS` bins with counts and shares), ``sweep``
        (pooled), ``auc``, ``gini``, ``bss`` (pooled), ``threshold``; with ``bootstrap``: ``tss_ci``,
        ``hss_ci``, ``auc_ci``, ``bss_ci`` and, per near-limb class, ``n_flares``
        and ``limb_recall_ci``; with ``calibrate``: ``calibrated`` (the same
        fields for the calibrated probabilities).
    """
    if not frames:
        raise InputError("nothing to evaluate: no prediction frames")
    names = names or [str(f["source"].iloc[0]) if "source" in f else f"fold{i + 1}" for i, f in enumerate(frames)]
    ths = [float(v) for v in np.broadcast_to(np.asarray(threshold, float), (len(frames),))]
    for name, f, th in zip(names, frames, ths):
        check_targets(f["target"], f"{name}: target")
        check_probabilities(f["flare_prob"], f"{name}: flare_prob")
        if not 0.0 <= th <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {th}")
    folds = []
    for k, (name, f, th) in enumerate(zip(names, frames, ths)):
        y = f["target"].to_numpy()
        p = f["flare_prob"].to_numpy()
        s = skill_scores(y, p >= th)
        others = [g["target"].to_numpy() for j, g in enumerate(frames) if j != k]
        clim_train = float(np.concatenate(others).mean()) if others else float("nan")
        folds.append({"name": name, "n": int(len(f)), "threshold": th, **s, "base_rate": float(np.mean(y)), "auc": roc_auc(y, p),
                      "bss": brier_skill_score(y, p),
                      "bss_train_climatology": brier_skill_score(y, p, clim_train) if others else float("nan")})
    allf = pd.concat([f.assign(pred=(f["flare_prob"] >= th).astype(int)) for f, th in zip(frames, ths)], ignore_index=True)
    tss = np.array([f["tss"] for f in folds])
    hss = np.array([f["hss"] for f in folds])
    sd = lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else float("nan")  # noqa: E731
    y, p = allf["target"].to_numpy(), allf["flare_prob"].to_numpy()
    res = {
        "threshold": threshold if np.ndim(threshold) == 0 else ths,
        "folds": folds,
        "tss_mean": float(tss.mean()),
        "tss_sd": sd(tss),
        "hss_mean": float(hss.mean()),
        "hss_sd": sd(hss),
        "pooled": skill_scores(y, allf["pred"].to_numpy()),
        "auc": roc_auc(y, p),
        "gini": gini(y, p),
        "bss": brier_skill_score(y, p),
        "near_limb": recall_by_class_and_region(allf),
        "events": event_recall(allf, flare_ids(allf)),
        "by_year": skill_by_year(allf).to_dict(orient="records"),
        "by_longitude": recall_by_longitude(allf).to_dict(orient="records"),
        "false_alarms": false_alarms_by_class(allf).reset_index(names="max_class").to_dict(orient="records"),
        "reliability": reliability(y, p, RELIABILITY_BINS).to_dict(orient="records"),
        "sweep": threshold_sweep(y, p, np.round(np.arange(0.05, 1.0, 0.05), 2))[["threshold", "tss", "hss"]].to_dict(orient="records"),
    }
    years = [pd.to_datetime(f["timestamp"]).dt.year.astype(str).to_numpy() for f in frames]
    if bootstrap:
        ci = stratified_skill(frames, ths, years, n_boot=bootstrap, seed=seed, block_days=block_days).set_index("stratum")
        for row in res["by_year"]:
            row["tss_lo"], row["tss_hi"] = (float(ci.loc[str(row["year"]), c]) for c in ("tss_lo", "tss_hi"))
    try:
        if activity is not None:
            lev = activity[~activity.index.duplicated()]
            levels = pd.Series(lev.reindex(pd.to_datetime(allf["timestamp"])).fillna("").to_numpy(), index=allf.index)
            edges = list(activity.attrs.get("edges", []))
        else:
            levels, edges = activity_terciles(allf)
    except InputError:  # less than 81 days of instants: no activity level
        res["by_activity"], res["activity_edges"] = [], []
    else:
        offsets = np.cumsum([0] + [len(f) for f in frames])
        strata = [levels.to_numpy()[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        res["by_activity"] = stratified_skill(frames, ths, strata, n_boot=bootstrap, seed=seed, block_days=block_days,
                                              order=ACTIVITY_LEVELS).to_dict(orient="records")
        res["activity_edges"] = edges
        res["activity_days"] = ACTIVITY_DAYS
    if bootstrap:
        res.update(bootstrap_scores(frames, ths, n_boot=bootstrap, seed=seed, block_days=block_days))
        for c, v in limb_recall_intervals(allf, n_boot=bootstrap, seed=seed).items():
            res["near_limb"][c].update(v)
    if calibrate:
        cal = cross_fit([f["target"].to_numpy() for f in frames], [f["flare_prob"].to_numpy() for f in frames], calibrate)
        cal_frames = [f.assign(flare_prob=c) for f, c in zip(frames, cal)]
        sub = evaluate(cal_frames, ths, names, bootstrap=bootstrap, seed=seed, block_days=block_days)
        res["calibrated"] = {"method": calibrate, "cross_fitted": "each fold by a map fitted on the other folds",
                             **{k: sub[k] for k in sub if k in CALIBRATED_KEYS}}
    return res


#: The fields of a ``calibrated`` result.
CALIBRATED_KEYS = ("folds", "tss_mean", "tss_sd", "hss_mean", "hss_sd", "auc", "bss", "reliability", "tss_ci", "hss_ci", "auc_ci", "bss_ci")


def verification_row(result: dict) -> dict:
    """One flat row of the standard verification set from :func:`evaluate`'s result (for tables across forecasts).

    Keys: ``tss`` (fold mean), ``apss``, ``false_alarm_ratio``, ``pofd``, ``frequency_bias`` (pooled over folds),
    ``auc``, ``bss``; per class X and M, near-limb recall at the *visible* limb east and west with their window
    counts, and the recall of windows whose flare was behind the limb (``behind``, NaN on real labels, which have
    none); event-based recall (``flares_warned``, of ``n_flares`` distinct flares; ``first_flares_warned`` of
    ``n_first``); TSS per activity tercile (``tss_low``, ``tss_middle``, ``tss_high``).
    """
    po = result["pooled"]
    row = {"tss": result["tss_mean"], "apss": po["apss"], "false_alarm_ratio": po["false_alarm_ratio"], "pofd": po["pofd"],
           "frequency_bias": po["frequency_bias"], "auc": result["auc"], "bss": result["bss"]}
    for c in ("X", "M"):
        nl = result["near_limb"][c]
        for key in ("limb", "east", "west", "behind"):
            row[f"{c}_{key}_recall"], row[f"{c}_n_{key}"] = nl[f"{key}_recall"], nl[f"n_{key}"]
    ev = result["events"]["all"]
    row.update({"flares_warned": ev["recall"], "n_flares": ev["n_flares"], "first_flares_warned": ev["first_recall"],
                "n_first": ev["n_first"]})
    by_act = {r["stratum"]: r["tss"] for r in result.get("by_activity", [])}
    row.update({f"tss_{lev}": by_act.get(lev, float("nan")) for lev in ACTIVITY_LEVELS})
    return row


def summarise(result: dict) -> str:
    """Plain-text report of :func:`evaluate`'s result."""
    th = result["threshold"]
    lines = [f"threshold {th:.3g}" if np.ndim(th) == 0 else "thresholds " + ", ".join(f"{v:.3g}" for v in th)]
    ci = lambda k: f" [{result[k][0]:.2f}, {result[k][1]:.2f}]" if k in result else ""  # noqa: E731
    for f in result["folds"]:
        lines.append(f"  {Path(f['name']).name:<28} n={f['n']:>6}  TSS {f['tss']:.3f}  HSS {f['hss']:.3f}  "
                     f"AUC {f['auc']:.3f}  TP {f['tp']} FP {f['fp']} FN {f['fn']} TN {f['tn']}")
    lines.append(f"TSS {result['tss_mean']:.2f} +/- {result['tss_sd']:.2f}{ci('tss_ci')}   HSS {result['hss_mean']:.2f} +/- "
                 f"{result['hss_sd']:.2f}{ci('hss_ci')}   AUC {result['auc']:.3f}{ci('auc_ci')}   BSS {result['bss']:.3f}{ci('bss_ci')}")
    po = result["pooled"]
    lines.append(f"pooled: ApSS {po['apss']:.2f}   ETS {po['ets']:.2f}   false-alarm ratio {po['false_alarm_ratio']:.2f}   "
                 f"POFD {po['pofd']:.3f}   frequency bias {po['frequency_bias']:.2f}")
    if "calibrated" in result:
        c = result["calibrated"]
        lines.append(f"calibrated ({c['method']}, cross-fitted): BSS {c['bss']:.3f}   AUC {c['auc']:.3f}")
    for c in ("X", "M", "C"):
        r = result["near_limb"][c]
        word = "recall" if c != "C" else "forecast positive"
        extra = ""
        if "limb_recall_ci" in r:
            extra = f" [{r['limb_recall_ci'][0]:.2f}, {r['limb_recall_ci'][1]:.2f}] from {r['n_flares']} flares"
        behind = f"  behind the limb {r['behind_recall']:.2f} (n={r['n_behind']})" if r["n_behind"] else ""
        lines.append(f"  {c}: {word} central {r['central_recall']:.2f} (n={r['n_central']})  near-limb {r['limb_recall']:.2f} "
                     f"(n={r['n_limb']}){extra}  east {r['east_recall']:.2f} (n={r['n_east']})  west {r['west_recall']:.2f} "
                     f"(n={r['n_west']}){behind}")
    if result.get("by_activity"):
        e = list(result["activity_edges"]) + [float("nan")] * 2
        parts = [f"{r['stratum']} {r['tss']:.2f}" + (f" [{r['tss_lo']:.2f}, {r['tss_hi']:.2f}]" if np.isfinite(r["tss_lo"]) else "")
                 + f" ({r['events']} events)" for r in result["by_activity"]]
        lines.append(f"TSS by activity (share of positive windows in the previous {result['activity_days']:g} days; terciles at "
                     f"{e[0]:.3f}, {e[1]:.3f}): " + ", ".join(parts))
    ev = result["events"]["all"]
    lines.append(f"event-based: {ev['detected']} of {ev['n_flares']} distinct flares warned of ({ev['recall']:.2f}); "
                 f"first flares {ev['first_detected']} of {ev['n_first']} ({ev['first_recall']:.2f})")
    return "\n".join(lines)


def score_table(forecasts: dict, n_boot: int = 1000, seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS) -> pd.DataFrame:
    """One row per forecast: fold-mean TSS and HSS with their spread over folds and 95 % block-bootstrap intervals, AUC, BSS.

    Parameters
    ----------
    forecasts : dict
        ``{name: (frames, thresholds)}``, every forecast scored by :func:`evaluate`.
    """
    rows = []
    nan2 = [float("nan")] * 2
    for name, (frames, thresholds) in forecasts.items():
        r = evaluate(frames, thresholds, bootstrap=n_boot, seed=seed, block_days=block_days)
        ci = {k: r.get(f"{k}_ci", nan2) for k in ("tss", "hss", "auc", "bss")}  # n_boot=0: no interval, NaN bounds
        rows.append({"forecast": name, "n": sum(len(f) for f in frames), "tss": r["tss_mean"], "tss_sd": r["tss_sd"],
                     "tss_lo": ci["tss"][0], "tss_hi": ci["tss"][1], "hss": r["hss_mean"], "hss_sd": r["hss_sd"],
                     "hss_lo": ci["hss"][0], "hss_hi": ci["hss"][1], "auc": r["auc"], "auc_lo": ci["auc"][0],
                     "auc_hi": ci["auc"][1], "bss": r["bss"], "bss_lo": ci["bss"][0], "bss_hi": ci["bss"][1]})
    return pd.DataFrame(rows)


def paired_tss_difference(frames_a: list[pd.DataFrame], thresholds_a, frames_b: list[pd.DataFrame], thresholds_b, n_boot: int = 1000,
                          seed: int = 0, block_days: int = DEFAULT_BLOCK_DAYS) -> dict:
    """Fold-mean TSS of forecast A minus forecast B on the instants both cover, with a paired block-bootstrap interval.

    Folds are matched by position; instants by timestamp. Returns
    ``{"difference", "ci", "n", "n_boot", "block_days"}``.
    """
    merged = []
    for fa, fb, ta, tb in zip(frames_a, frames_b, np.broadcast_to(thresholds_a, (len(frames_a),)),
                              np.broadcast_to(thresholds_b, (len(frames_b),))):
        m = fa[["timestamp", "target", "flare_prob"]].merge(fb[["timestamp", "flare_prob"]], on="timestamp", suffixes=("_a", "_b"))
        merged.append(m.assign(pred_a=(m["flare_prob_a"] >= ta).astype(int), pred_b=(m["flare_prob_b"] >= tb).astype(int)))

    res = paired_tss_interval([m["target"].to_numpy() for m in merged], [m["pred_a"].to_numpy() for m in merged],
                              [m["pred_b"].to_numpy() for m in merged], [m["timestamp"] for m in merged], n_boot=n_boot, seed=seed,
                              block_days=block_days)
    res["n"] = int(sum(len(m) for m in merged))
    return res
