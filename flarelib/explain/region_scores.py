"""Region-level forecasts scored against the simulator's flaring regions: attribution splits and rate maps alike.

A full-disk probability ``p`` split over the visible regions by a map's shares (``p_region = p x share``) is a
region-level forecast. :func:`region_level_scores` scores such forecasts for any set of maps: the ROC AUC of
``p_region`` over (instance, region) pairs against "this region produced a >= M1.0 flare in the window", the TSS of
"the top region of a yes forecast flares", and the hit rate of the top region on flare instances (is it the region
of the largest flare?), each with a 95 % interval from resampling whole clusters (a flaring region, else a day).

Chapter 5 feeds it the attribution maps' splits; :func:`rate_map_region_rows` feeds it a
:class:`~flarelib.model.network.FlareRateNet`'s own rate map (each cell's rate spread over that cell's region
pixels, else its on-disk pixels), beside the model-free splits by |B| and by area, all with the same full-disk
probability, so the map is compared with what a split without a model gets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import InputError
from ..io.geometry import disk_mask
from ..io.magnetogram import uint8_to_gauss
from ..sim.simulator import flaring_regions, largest_flare_regions
from ..verify.metrics import roc_auc
from ..verify.uncertainty import cluster_interval

__all__ = ["region_level_scores", "region_rows", "spread_cell_rates", "rate_map_region_rows", "SPLITS"]

#: The model-free splits scored beside a rate map: by unsigned field and by area.
SPLITS = ("abs_field", "uniform")


def region_level_scores(regions: pd.DataFrame, instances: pd.DataFrame, maps=None, threshold: float = 0.5, n_boot: int = 1000,
                        seed: int = 0) -> pd.DataFrame:
    """Per map: ROC AUC of the regions' probabilities, TSS of the top region of a yes forecast, top-region hit rate.

    Parameters
    ----------
    regions : pandas.DataFrame
        One row per instance, map and visible region: ``instance``, ``map``, ``region_id``, ``share``,
        ``flare_prob`` (the full-disk probability), ``p_region``, ``flared`` (0/1), ``top`` (the map's largest share).
    instances : pandas.DataFrame
        ``instance``, ``region_id`` (of the largest flare in the window, 0 when none) and ``cluster`` (the unit of
        resampling: the flaring region, else the day).
    maps : sequence of str, optional
        Maps to score, in this order (default: those in ``regions``).
    threshold : float
        Decision threshold of the full-disk probability.
    """
    if not len(regions):
        return pd.DataFrame()
    r = regions.merge(instances[["instance", "cluster"]], on="instance")
    rows = []
    for m in (list(dict.fromkeys(r["map"])) if maps is None else maps):
        g = r[r["map"] == m].reset_index(drop=True)
        if not len(g):
            continue
        y, p = g["flared"].to_numpy(int), g["p_region"].to_numpy(float)
        yes = g["top"].to_numpy(bool) & (g["flare_prob"].to_numpy(float) >= threshold)

        def tss(rows_, y=y, yes=yes):
            yy, dd = y[rows_], yes[rows_]
            pos, neg = yy.sum(), (1 - yy).sum()
            return float((dd & (yy == 1)).sum() / pos - (dd & (yy == 0)).sum() / neg) if pos and neg else float("nan")

        groups = g["cluster"].to_numpy()
        auc = cluster_interval(lambda rows_, y=y, p=p: roc_auc(y[rows_], p[rows_]), groups, n_boot, seed)
        t = cluster_interval(tss, groups, n_boot, seed)
        flaring_region = g["instance"].map(instances.set_index("instance")["region_id"])
        fl = g[flaring_region > 0]  # flare instances: is their top region the one that produced the largest flare?
        hits = (fl["top"] & (fl["region_id"] == flaring_region[fl.index])).groupby(fl["instance"]).any().astype(float)
        hit_frame = pd.DataFrame({"instance": hits.index, "hit": hits.to_numpy()}).merge(instances[["instance", "cluster"]])
        if len(hit_frame):
            v = hit_frame["hit"].to_numpy(float)
            h = cluster_interval(lambda rows_, v=v: float(np.mean(v[rows_])), hit_frame["cluster"].to_numpy(), n_boot, seed)
        else:
            h = (np.nan,) * 3
        rows.append({"map": m, "n_regions": len(g), "n_flaring": int(y.sum()), "n_instances": int(g["instance"].nunique()),
                     "n_clusters": int(len(set(groups))), "auc": auc[0], "auc_lo": auc[1], "auc_hi": auc[2],
                     "tss_top_region": t[0], "tss_top_region_lo": t[1], "tss_top_region_hi": t[2],
                     "top_region_hit": h[0], "top_region_hit_lo": h[1], "top_region_hit_hi": h[2]})
    return pd.DataFrame(rows)


def region_rows(instance: int, maps: dict[str, np.ndarray], labels: np.ndarray, flare_prob: float, flared: set) -> list[dict]:
    """The (instance, map, region) rows of one image: each visible region's share of each non-negative map.

    ``labels`` is the region-id image (0: no region) at the maps' size; a map with no mass on any region gives
    every region share 0 and no top region (it ranks nothing).
    """
    ids = np.unique(labels[labels > 0])
    out = []
    if not len(ids):
        return out
    for name, a in maps.items():
        if a.shape != labels.shape:
            raise InputError(f"map {name!r} is {a.shape}, the region labels {labels.shape}")
        mass = np.bincount(labels.ravel(), weights=np.clip(a, 0, None).ravel(), minlength=int(labels.max()) + 1)
        total = float(np.clip(a, 0, None).sum())
        shares = mass[ids] / total if total > 0 else np.zeros(len(ids))
        top = ids[np.argmax(shares)] if total > 0 else -1
        for rid, sh in zip(ids, shares):
            out.append({"instance": int(instance), "map": name, "region_id": int(rid), "share": float(sh), "flare_prob": float(flare_prob),
                        "p_region": float(flare_prob * sh), "flared": int(rid in flared), "top": bool(rid == top)})
    return out


def spread_cell_rates(log_rate: np.ndarray, labels: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """A pixel map of a rate map: each cell's rate spread evenly over its region pixels, else over its on-disk pixels.

    ``log_rate`` (G, G) cell log-rates of an (H, W) image with cells of H / G pixels; ``labels`` (H, W) region ids;
    ``disk`` (H, W) bool. A cell's rate on no region stays in the quiet Sun (the share no region gets); a cell off
    the disk adds nothing. The map's total is the disk's rate.
    """
    g = log_rate.shape[-1]
    h = labels.shape[-1]
    if h % g:
        raise InputError(f"a {g} x {g} rate map does not tile a {h} px image")
    c = h // g
    lam = np.exp(np.asarray(log_rate, float))
    region = (labels > 0) & disk
    n_region = region.reshape(g, c, g, c).sum(axis=(1, 3))
    n_disk = disk.reshape(g, c, g, c).sum(axis=(1, 3))
    on_region = n_region > 0
    per_px = np.where(on_region, lam / np.maximum(n_region, 1), np.where(n_disk > 0, lam / np.maximum(n_disk, 1), 0.0))
    spread = np.kron(per_px, np.ones((c, c)))
    where = np.kron(on_region, np.ones((c, c), bool))
    return np.where(where, region, disk) * spread


def rate_map_region_rows(store, sim, catalog: pd.DataFrame, log_rates: dict[str, np.ndarray], flare_prob: np.ndarray,
                         positions, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Region rows of rate maps and of the |B| and area splits on the store's instants ``positions``.

    Parameters
    ----------
    store : Store
        A simulated store (its header disks are used).
    sim : Simulator
        The simulator that made it (:func:`~flarelib.sim.simulator.simulator_of_store`), for the region masks.
    catalog : pandas.DataFrame
        The simulator's flare catalog table.
    log_rates : dict
        ``{map name: (N, G, G) cell log-rates}`` for every instant of the store (rows of ``store.index``).
    flare_prob : numpy.ndarray
        (N,) the full-disk probability every split shares (the headline's).
    positions : array_like of int
        Rows of ``store.index`` to score.

    Returns
    -------
    (regions, instances) : the rows for :func:`region_level_scores` and the instances with ``region_id`` and
    ``cluster``.
    """
    pos = np.asarray(positions, int)
    ts = pd.to_datetime(store.index["timestamp"]).to_numpy()[pos]
    inst = pd.DataFrame({"instance": np.arange(len(pos)), "store_pos": pos, "timestamp": ts,
                         "target": store.index["target"].to_numpy(int)[pos], "flare_prob": np.asarray(flare_prob, float)[pos]})
    inst["region_id"] = largest_flare_regions(catalog, inst["timestamp"])
    flared = flaring_regions(catalog, inst["timestamp"])
    day = pd.to_datetime(inst["timestamp"]).dt.strftime("d%Y%m%d")
    inst["cluster"] = np.where(inst["region_id"] > 0, "r" + inst["region_id"].astype(str), day)
    times = sim.times
    rows = []
    for r in tqdm(inst.itertuples(), total=len(inst), desc="region masks", unit="img", disable=not progress):
        labels = sim.region_masks(int(times.searchsorted(pd.Timestamp(r.timestamp))))
        if labels.shape[-1] != store.size_px:
            raise InputError(f"region masks of {labels.shape[-1]} px for a {store.size_px} px store")
        cx, cy, rad = store.disk(r.store_pos)
        disk = disk_mask(store.size_px, (cx, cy), rad)  # from the header's geometry, never from pixel > 0
        b = np.where(disk, np.abs(uint8_to_gauss(store.image(r.store_pos).astype(float))), 0.0)
        maps = {name: spread_cell_rates(lr[r.store_pos], labels, disk) for name, lr in log_rates.items()}
        maps["abs_field"] = b
        maps["uniform"] = disk.astype(float)
        rows.extend(region_rows(r.instance, maps, np.where(disk, labels, 0), r.flare_prob, flared[r.instance]))
    return pd.DataFrame(rows), inst

