"""Region-level forecasts from a full-disk attribution map.

The full-disk model says *whether* a >= M1.0 flare is likely; its attribution says *where* the evidence is.
:func:`attribution_components` splits the positive attribution on the disk into connected components (the map
smoothed over a few percent of the solar radius, above an on-disk quantile) and gives each its share of the
positive attribution; :func:`region_forecasts` turns a magnetogram and a checkpoint into one row per component:
its Stonyhurst centre (through the header's WCS), its share, and its share of the flare probability
(probability x share; what lies outside every component is reported as ``elsewhere``).

The shares are a reading of the model's evidence, not separately calibrated region probabilities: chapter 5 scores
them against the simulator's flaring regions, beside the same split of the model-free |B| map.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter, label

from ..errors import InputError
from ..forecast import Forecaster
from ..io.geometry import disk_coverage, disk_mask, pixel_to_stonyhurst
from ..plots import plot_attribution, show_magnetogram
from .attribution import METHODS, explain, output_stems

__all__ = ["attribution_components", "split_probability", "match_components", "region_forecasts"]


def attribution_components(a: np.ndarray, disk: np.ndarray, radius_px: float, quantile: float = 0.97,
                           smooth_frac_radius: float = 0.03, min_frac_disk: float = 5e-4) -> tuple[np.ndarray, pd.DataFrame]:
    """Connected on-disk components of a map's positive attribution, largest share first.

    Parameters
    ----------
    a : (H, W) attribution
    disk : (H, W) bool, the header disk
    radius_px : float
        The disk radius (sets the smoothing and the smallest component, so the split does not depend on the image size).
    quantile : float
        Pixels whose smoothed positive attribution reaches this on-disk quantile form the components.
    smooth_frac_radius : float
        Gaussian smoothing as a fraction of the radius (0.03: about 20 Mm, the size of an active region's core).
    min_frac_disk : float
        Components smaller than this share of the disk are dropped.

    Returns
    -------
    labels : (H, W) int
        Component number per pixel (0: none), numbered as the table's rows.
    table : DataFrame
        ``component``, ``n_px``, ``share`` (of the positive attribution on the disk, unsmoothed), ``x_px``, ``y_px``
        (attribution-weighted centre, row 0 at the top).
    """
    if not 0 < quantile < 1:
        raise InputError(f"quantile must be in (0, 1), got {quantile}")
    disk = np.asarray(disk, bool)
    pos = np.clip(a, 0, None) * disk
    total = pos.sum()
    empty = (np.zeros(a.shape, int), pd.DataFrame(columns=["component", "n_px", "share", "x_px", "y_px"]))
    if total <= 0:
        return empty
    sm = gaussian_filter(pos, max(smooth_frac_radius * radius_px, 0.5)) * disk
    thr = np.quantile(sm[disk], quantile)
    lab, n = label(disk & (sm >= thr) & (sm > 0))
    min_px = max(1, int(round(min_frac_disk * disk.sum())))
    yy, xx = np.mgrid[: a.shape[0], : a.shape[1]]
    rows = []
    for c in range(1, n + 1):
        m = lab == c
        if m.sum() < min_px:
            continue
        w = pos[m]
        wx = float((xx[m] * w).sum() / w.sum()) if w.sum() > 0 else float(xx[m].mean())
        wy = float((yy[m] * w).sum() / w.sum()) if w.sum() > 0 else float(yy[m].mean())
        rows.append({"old": c, "n_px": int(m.sum()), "share": float(w.sum() / total), "x_px": wx, "y_px": wy})
    if not rows:
        return empty
    table = pd.DataFrame(rows).sort_values("share", ascending=False).reset_index(drop=True)
    table["component"] = np.arange(1, len(table) + 1)
    relabel = np.zeros(n + 1, int)
    relabel[table["old"].to_numpy()] = table["component"].to_numpy()
    return relabel[lab], table.drop(columns="old")[["component", "n_px", "share", "x_px", "y_px"]]


def split_probability(a: np.ndarray, disk: np.ndarray, meta, probability: float, quantile: float = 0.97) -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`attribution_components` of a map with each component's Stonyhurst centre (through ``meta``'s WCS) and
    its share of ``probability``.

    ``meta`` is the image's :class:`~flarelib.io.magnetogram.MagnetogramMeta` at the map's size (its disk radius and
    header); the table gains ``lon_deg``, ``lat_deg`` and ``probability``.
    """
    labels, table = attribution_components(a, disk, meta.disk_radius_px, quantile)
    if len(table):
        lon, lat = pixel_to_stonyhurst(table["x_px"], table["y_px"], meta)
        table = table.assign(lon_deg=np.round(lon, 1), lat_deg=np.round(lat, 1), probability=probability * table["share"])
    return labels, table


def match_components(labels: np.ndarray, table: pd.DataFrame, truth: np.ndarray, flaring) -> pd.DataFrame:
    """The components of :func:`attribution_components` beside a ground-truth region image (e.g. the simulator's
    :meth:`~flarelib.sim.simulator.Simulator.region_masks` at the same size).

    Parameters
    ----------
    labels : (H, W) int
        Component labels (0: none).
    table : DataFrame
        One row per component, with ``component``.
    truth : (H, W) int
        True region ids (0: none).
    flaring : set of int
        The ids of the regions that produced the flare(s) of interest.

    Returns
    -------
    DataFrame
        ``table`` with ``true_regions`` (sorted ids the component overlaps) and ``flared`` (whether one of them is
        in ``flaring``).
    """
    if labels.shape != truth.shape:
        raise InputError(f"component labels {labels.shape} and true regions {truth.shape} differ in shape")
    overlap = [sorted(int(v) for v in np.unique(truth[labels == c]) if v != 0) for c in table["component"]]
    flaring = {int(v) for v in flaring}
    return table.assign(true_regions=overlap, flared=[bool(set(o) & flaring) for o in overlap])


def region_forecasts(checkpoint, paths, method: str = "ig", n_steps: int = 32, quantile: float = 0.97,
                     out: Path | None = None) -> list[dict]:
    """Per-region shares of the full-disk flare probability for magnetogram files.

    Parameters
    ----------
    checkpoint : path-like
    paths : magnetogram files (JP2 or FITS)
    method : {'ig', 'gradcam', 'deepshap'}
        The attribution split (Integrated Gradients from the field-free disk by default; Deep SHAP uses a
        synthetic field-free background here).
    out : path-like, optional
        Where to write ``NAME_regions.png`` (the magnetogram, the map and the numbered components) and
        ``NAME_regions.npy`` (the component labels).

    Returns
    -------
    One dict per file: the input, the full-disk probability, ``regions`` (component, Stonyhurst ``lon_deg``,
    ``lat_deg``, pixel centre, ``share``, ``probability``) and ``elsewhere`` (the share outside every component).
    """
    if method not in METHODS:
        raise InputError(f"--region-method must be one of {METHODS}, got {method!r}")
    fc = Forecaster(checkpoint)
    results = []
    paths = [Path(p) for p in paths]
    for p, stem in zip(paths, output_stems(paths)):
        x, m = fc.image_tensor(p)
        prob, _ = fc.probability(x)
        disk = disk_mask(x.shape[-1], m.meta.disk_center_px, m.meta.disk_radius_px)
        cover = disk_coverage(x.shape[-1], m.meta.disk_center_px, m.meta.disk_radius_px).astype(np.float32)
        a = explain(fc.model, x, (method,), n_steps=n_steps, disks=cover[None]).maps[method][0]
        labels, table = split_probability(a, disk, m.meta, prob, quantile)
        regions = [{k: (round(float(v), 4) if isinstance(v, float) else int(v)) for k, v in r.items()} for r in table.to_dict("records")]
        res = {"input": str(p), "date_obs": m.meta.date_obs.isoformat(), "probability": prob, "method": method,
               "regions": regions, "elsewhere": float(1.0 - table["share"].sum()) if len(table) else 1.0}
        if out is not None:
            res.update(_write_region_figure(Path(out), stem, m, a, labels, table, prob, method))
        results.append(res)
    return results


def _write_region_figure(out: Path, stem: str, m, a, labels, table, prob, method) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{stem}_regions.npy", labels)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
    show_magnetogram(m.data, m.meta.disk_center_px, m.meta.disk_radius_px, ax=axes[0],
                     title=f"{m.meta.date_obs:%Y-%m-%d %H:%M} UT  P(\u2265M1.0, 24 h) = {prob:.2f}")
    plot_attribution(m.data, a, ax=axes[1], title=f"{method}: regions", center_px=m.meta.disk_center_px, radius_px=m.meta.disk_radius_px)
    if labels.any():
        axes[1].contour(labels > 0, levels=[0.5], colors="cyan", linewidths=0.8)
    for r in table.itertuples():
        axes[1].annotate(f"{r.component}: {r.share:.0%}", (r.x_px, r.y_px), color="cyan", fontsize=8, ha="left", va="bottom")
    fig.tight_layout()
    png = out / f"{stem}_regions.png"
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return {"figure": str(png), "labels": str(out / f"{stem}_regions.npy")}
