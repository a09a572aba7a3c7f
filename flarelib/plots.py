"""Figures of the compendium. Every function draws on given or new axes and labels them with units."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "show_magnetogram",
    "plot_histograms",
    "plot_butterfly",
    "plot_class_distribution",
    "plot_partitions",
    "plot_learning_curves",
    "plot_data_curve",
    "plot_reliability",
    "plot_recall_by_longitude",
    "plot_attribution",
    "plot_skill_intervals",
    "plot_stratified_skill",
    "plot_fold_heatmap",
    "plot_resolution_ladder",
    "plot_epoch_scores",
]


def _axes(ax, figsize=(5, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_magnetogram(data: np.ndarray, center_px=None, radius_px=None, ax=None, title: str = "", marker_px=None, outline=True):
    """An 8-bit magnetogram in grey (black -250 G, white +250 G), north up, with its disk outline and a marker."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    ax.imshow(data, cmap="gray", vmin=0, vmax=255, origin="upper", interpolation="nearest")
    if outline and center_px is not None and radius_px is not None:
        ax.add_patch(plt.Circle(center_px, radius_px, fill=False, color="tab:orange", lw=1.0, ls="--"))
    if marker_px is not None:
        ax.plot(*marker_px, marker="+", color="red", ms=14, mew=2)
    ax.set_xlabel("x (pixel, east \u2192 west)")
    ax.set_ylabel("y (pixel, north \u2192 south)")
    ax.set_title(title)
    return ax


def plot_histograms(samples: dict[str, np.ndarray], ax=None, title="On-disk pixel values"):
    """Normalised histograms of on-disk 8-bit values (log count) for several images."""
    ax = _axes(ax, (6, 4))
    bins = np.arange(257) - 0.5
    for name, v in samples.items():
        ax.hist(np.asarray(v).ravel(), bins=bins, density=True, histtype="step", label=name, lw=1.3)
    ax.set_yscale("log")
    ax.set_xlabel("8-bit value (127.5 = 0 G; 1 count \u2248 1.96 G)")
    ax.set_ylabel("fraction of on-disk pixels")
    ax.set_title(title)
    ax.legend()
    return ax


def plot_butterfly(regions: pd.DataFrame, ax=None):
    """Emergence latitude against time of the simulated active regions, sized by flux, coloured by complexity."""
    ax = _axes(ax, (7, 3.5))
    sc = ax.scatter(pd.to_datetime(regions["emerge_time"]), regions["lat_deg"], s=6 + 30 * regions["flux_mx"] / 1e22,
                    c=regions["complexity"], cmap="viridis", vmin=0, vmax=1, alpha=0.8)
    ax.figure.colorbar(sc, ax=ax, label="complexity (0 = simple bipole)")
    ax.set_xlabel("emergence time (UTC)")
    ax.set_ylabel("latitude (deg)")
    ax.set_ylim(-45, 45)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title("Butterfly diagram of the simulated regions")
    return ax


def plot_class_distribution(peak_flux_wm2, ax=None, label=None, title="Flare peak-flux distribution"):
    """Cumulative number of flares above a peak flux, log-log (a power law is a straight line)."""
    ax = _axes(ax, (5, 4))
    f = np.sort(np.asarray(peak_flux_wm2, float))[::-1]
    f = f[np.isfinite(f)]
    ax.loglog(f, np.arange(1, len(f) + 1), drawstyle="steps-post", label=label)
    for x, c in ((1e-6, "C"), (1e-5, "M"), (1e-4, "X")):
        ax.axvline(x, color="grey", lw=0.5)
        ax.text(x * 1.1, 1.2, c, color="grey")
    ax.set_xlabel("GOES 1-8 \u00c5 peak flux (W m$^{-2}$)")
    ax.set_ylabel("number of flares \u2265 flux")
    ax.set_title(title)
    if label:
        ax.legend()
    return ax


def plot_partitions(summary: dict, ax=None, title="Instances per partition"):
    """Stacked bars of flare (FL) and no-flare (NF) instances per tri-monthly partition."""
    ax = _axes(ax, (5, 3.5))
    parts = summary["partitions"]
    k = list(parts)
    fl = np.array([parts[p]["FL"] for p in k])
    nf = np.array([parts[p]["NF"] for p in k])
    ax.bar(k, nf, label="NF (no \u2265M1.0 flare in 24 h)", color="tab:blue")
    ax.bar(k, fl, bottom=nf, label="FL (\u2265M1.0 flare in 24 h)", color="tab:red")
    for i, (a, b) in enumerate(zip(fl, nf)):
        ax.text(i, a + b, f"1:{b / max(a, 1):.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(k)), ["1 Jan-Mar", "2 Apr-Jun", "3 Jul-Sep", "4 Oct-Dec"][: len(k)])
    ax.set_xlabel("partition")
    ax.set_ylabel("instances (hourly magnetograms)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_learning_curves(log: pd.DataFrame, ax=None, title="Learning curves"):
    """Per epoch, one line per fold: training and validation loss, validation TSS, the share of validation instants
    forecast "flare" (0 or 1: a collapsed fold), and the mean gradient norm (when the log has them)."""
    import matplotlib.pyplot as plt

    panels = [("class-weighted cross-entropy", None), ("validation TSS", "val_tss")]
    panels += [(lab, col) for lab, col in (("share forecast 'flare'", "val_forecast_positive"), ("mean gradient norm", "grad_norm"))
               if col in log]
    if ax is None:
        _, ax = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.5))
    ax = np.atleast_1d(ax)
    for fold, g in log.groupby("fold"):
        ax[0].plot(g["epoch"], g["train_loss"], label=f"fold {fold} train")
        ax[0].plot(g["epoch"], g["val_loss"], ls="--", label=f"fold {fold} val")
        for a, (_, col) in zip(ax[1:], panels[1:]):
            a.plot(g["epoch"], g[col], marker="o", label=f"fold {fold}")
    for a, (lab, _) in zip(ax, panels):
        a.set_xlabel("epoch")
        a.set_ylabel(lab)
    if len(panels) > 2:
        ax[2].set_ylim(-0.03, 1.03)
        ax[2].axhline(0, color="k", lw=0.5), ax[2].axhline(1, color="k", lw=0.5)
    ax[0].legend(fontsize=7, ncol=2)
    ax[1].legend(fontsize=7)
    ax[0].set_title(title)
    return ax


def plot_reliability(tables: dict[str, pd.DataFrame], ax=None, sharpness_ax=None):
    """Reliability diagram: observed frequency against forecast probability, per model; sharpness beneath.

    ``tables`` maps a name to a :func:`~flarelib.verify.metrics.reliability` table. With ``sharpness_ax`` (or
    when neither axis is given: a figure with both) the number of instances in each probability bin is drawn
    beneath on a log scale, so a reader sees which points rest on few forecasts (Leka et al. 2019's layout).
    Bins with no instance are left out.
    """
    import matplotlib.pyplot as plt

    if ax is None and sharpness_ax is None:
        _, (ax, sharpness_ax) = plt.subplots(2, 1, figsize=(5, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax = _axes(ax, (4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="perfect reliability")
    for name, t in tables.items():
        ok = t["count"] > 0
        line, = ax.plot(t.loc[ok, "mean_forecast"], t.loc[ok, "observed_frequency"], marker="o", ms=4, label=name)
        if sharpness_ax is not None:
            sharpness_ax.step(np.r_[t["bin_lo"].to_numpy(float), t["bin_hi"].iloc[-1]], np.r_[t["count"].to_numpy(float), t["count"].iloc[-1]],
                              where="post", color=line.get_color())
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title("Reliability diagram")
    xlabel = "forecast probability of a \u2265M1.0 flare in 24 h"
    if sharpness_ax is not None:
        sharpness_ax.set_yscale("log")
        sharpness_ax.set_ylabel("instances")
        sharpness_ax.set_xlabel(xlabel)
    else:
        ax.set_xlabel(xlabel)
    return ax


def plot_recall_by_longitude(tables: dict[str, pd.DataFrame], ax=None):
    """Recall of flare instances in longitude bins (with the 70 deg near-limb borders)."""
    ax = _axes(ax, (7, 3.5))
    for name, t in tables.items():
        mid = (t["lon_lo"] + t["lon_hi"]) / 2
        ax.plot(mid, t["recall"], marker="o", label=name)
    for x in (-70, 70):
        ax.axvline(x, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("Stonyhurst longitude of the largest flare (deg)")
    ax.set_ylabel("recall (share predicted)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("Recall of \u2265M1.0 instances by flare longitude")
    return ax


def plot_attribution(image: np.ndarray, attribution: np.ndarray, ax=None, title: str = "", center_px=None, radius_px=None,
                     marker_px=None, alpha: float = 0.6):
    """An attribution map (positive toward the flare class, red) over the magnetogram."""
    ax = show_magnetogram(image, center_px, radius_px, ax=ax, title=title, marker_px=marker_px)
    a = np.asarray(attribution, float)
    lim = np.nanpercentile(np.abs(a), 99.5) or 1.0
    pos = np.ma.masked_less_equal(a, 0.02 * lim)
    im = ax.imshow(pos, cmap="hot", vmin=0, vmax=lim, alpha=alpha, origin="upper")
    return ax, im


def plot_skill_intervals(table: pd.DataFrame, metric: str = "tss", ax=None, title: str = ""):
    """Forest plot: one row per forecast, the score and its 95 % interval (columns ``metric``, ``metric_lo``, ``metric_hi``)."""
    ax = _axes(ax, (6, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    v = table[metric].to_numpy(float)
    err = np.vstack([v - table[f"{metric}_lo"].to_numpy(float), table[f"{metric}_hi"].to_numpy(float) - v])
    ax.errorbar(v, y, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="o", color="k", ecolor="tab:blue", capsize=3)
    ax.set_yticks(y, table["forecast"])
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel(f"{metric.upper()} (95 % block-bootstrap interval)")
    ax.set_title(title)
    return ax


def plot_stratified_skill(tables: dict[str, pd.DataFrame], ax=None, xlabel: str = "", base_rate: pd.Series | None = None,
                          metric: str = "tss"):
    """Skill per stratum (a year, an activity level) of several forecasts, each with its 95 % interval.

    ``tables`` maps a forecast's name to a :func:`~flarelib.verify.uncertainty.stratified_skill` table (columns
    ``stratum``, ``metric``, ``metric_lo``, ``metric_hi``); the forecasts are drawn side by side within each
    stratum. ``base_rate``, indexed by stratum, is drawn as grey bars on a right-hand axis.
    """
    ax = _axes(ax, (7, 3.6))
    strata = list(dict.fromkeys(s for t in tables.values() for s in t["stratum"]))
    x = np.arange(len(strata))
    width = 0.7 / max(len(tables), 1)
    if base_rate is not None:
        ax2 = ax.twinx()
        ax2.bar(x, base_rate.reindex(strata).to_numpy(float), color="0.88", width=0.8, zorder=0)
        ax2.set_ylabel("base rate (bars)")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    for k, (name, t) in enumerate(tables.items()):
        t = t.set_index("stratum").reindex(strata)
        v = t[metric].to_numpy(float)
        err = np.vstack([v - t[f"{metric}_lo"].to_numpy(float), t[f"{metric}_hi"].to_numpy(float) - v])
        # a percentile interval of a small stratum can leave out its estimate: no bar below zero length
        ax.errorbar(x + (k - (len(tables) - 1) / 2) * width, v, yerr=np.clip(np.where(np.isfinite(err), err, 0), 0, None), fmt="o",
                    capsize=2, label=name)
    ax.set_xticks(x, strata)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{metric.upper()} (95 % interval)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return ax


def plot_fold_heatmap(scores: pd.DataFrame, ax=None, title: str = "TSS per fold", fmt: str = ".2f"):
    """Heatmap (seaborn) of a score per forecast (rows) and fold (columns), annotated with the values."""
    import seaborn as sns

    ax = _axes(ax, (1.1 * scores.shape[1] + 3, 0.45 * scores.shape[0] + 1.2))
    sns.heatmap(scores.astype(float), annot=True, fmt=fmt, cmap="viridis", vmin=0, vmax=1, cbar_kws={"label": "score"}, ax=ax)
    ax.set_xlabel("validation fold")
    ax.set_ylabel("")
    ax.set_title(title)
    return ax


def plot_resolution_ladder(table: pd.DataFrame, prefixes=("image R + flux + area", "image R alone", "flux + area"), references=(),
                           metric: str = "tss", ax=None, title: str = "What the image shows, by resolution"):
    """Fold-mean skill (with its 95 % interval) of image-measured forecasts against the image size.

    ``table`` is a :func:`~flarelib.verify.evaluation.score_table` whose forecasts are named ``"<prefix>, <size> px"``;
    ``references`` names rows drawn as horizontal lines (e.g. persistence, an oracle).
    """
    ax = _axes(ax, (6, 4))
    for prefix in prefixes:
        rows = table[table["forecast"].str.startswith(prefix + ", ")]
        size = rows["forecast"].str.extract(r"(\d+) px$")[0].astype(int)
        order = np.argsort(size.to_numpy())
        x, r = size.to_numpy()[order], rows.iloc[order]
        ax.errorbar(x, r[metric], yerr=[r[metric] - r[f"{metric}_lo"], r[f"{metric}_hi"] - r[metric]], marker="o", capsize=3, label=prefix)
    for name, style in zip(references, ("--", ":", "-.", (0, (1, 3)))):
        row = table[table["forecast"] == name]
        if len(row):
            ax.axhline(float(row[metric].iloc[0]), ls=style, color="0.4", lw=1)
            ax.annotate(name, (64, float(row[metric].iloc[0])), fontsize=8, color="0.3",
                        xytext=(2, 2), textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.set_xticks([64, 128, 256, 512], ["64", "128", "256", "512"])
    ax.set(xlabel="image size (pixels)", ylabel=f"fold-mean {metric.upper()}", title=title)
    # below the axes: the reference lines are labelled at the top left, where a legend inside would cover them
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    return ax


def plot_data_curve(curve: pd.DataFrame, columns=("auc", "tss", "forecast_positive"), axes=None,
                    xlabel: str = "training frames"):
    """Skill against the number of training frames: every model seed in grey, their mean in black.

    ``curve`` has one row per (training-set size, model seed): ``train_frames``, ``model_seed`` and the ``columns``.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.2))
    names = {"auc": "ROC AUC", "tss": "TSS at 0.5", "bss": "Brier skill score", "forecast_positive": 'share forecast "flare"'}
    mean = curve.groupby("train_frames")[list(columns)].mean()
    for ax, col in zip(np.atleast_1d(axes), columns):
        ax.scatter(curve["train_frames"], curve[col], color="0.6", s=14, label="one model seed")
        ax.plot(mean.index, mean[col], "ko-", label="mean over seeds")
        ax.set(xscale="log", xlabel=xlabel, ylabel=names.get(col, col))
        ax.set_xticks(mean.index.to_numpy(), [f"{int(n):,}" for n in mean.index])  # the sizes measured, not decades
        ax.minorticks_off()
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return axes


def plot_epoch_scores(epochs: pd.DataFrame, columns=("val_auc", "val_bss", "val_tss", "val_forecast_positive"), axes=None):
    """Per-epoch validation scores, one line per (model seed, fold), the mean over them in black.

    Rows marked ``refit`` (the final model after a rate refit, :func:`~flarelib.model.training.train_independent`)
    are drawn apart, as their mean (a red diamond at the final epoch), not as a further step of the trajectory.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(columns), figsize=(3.4 * len(columns), 3))
    names = {"val_auc": "ROC AUC", "val_bss": "Brier skill score", "val_tss": "TSS at 0.5", "val_forecast_positive": 'share forecast "flare"',
             "train_loss": "training loss"}
    refit = epochs["refit"].fillna(False).astype(bool) if "refit" in epochs else pd.Series(False, index=epochs.index)
    trajectory, refitted = epochs[~refit], epochs[refit]
    for ax, col in zip(np.atleast_1d(axes), columns):
        for _, g in trajectory.groupby(["model_seed", "fold"]):
            ax.plot(g["epoch"], g[col], color="tab:blue", alpha=0.3, lw=1)
        mean = trajectory.groupby("epoch")[col].mean()
        ax.plot(mean.index, mean.to_numpy(), color="k", lw=2, marker="o", label="mean")
        if len(refitted):
            ax.plot(refitted["epoch"].max(), refitted[col].mean(), color="tab:red", marker="D", ls="none", label="after the rate refit")
        ax.set(xlabel="epoch", ylabel=names.get(col, col), title=names.get(col, col))
        ax.set_xticks(sorted(epochs["epoch"].unique()))
    return axes
