"""Regional flare memory for a rate map: each cell's rate raised by the flares its region started in the last day.

A simulated region's flare rate is set by its flux and Schrijver's R, and R lives in delta spots one or two pixels
wide at 512 px: one image measures it coarsely and with noise, while the region's recent flares are draws from that
very rate (the simulator can add flaring *episodes*, a factor no image shows,
:meth:`flarelib.sim.flares.FlareProcess.episodes`; off by default). That is why 24-h persistence is a hard bar for
an image-only forecast, and why operational forecasters read the flare record beside the magnetogram.

:class:`HistoryHead` adds that record to a :class:`~flarelib.model.network.FlareRateNet` without retraining it.
For each cell ``i`` of the rate map and the forecast time ``t``, ``n_C,i`` and ``n_M,i`` count the >= C1.0 and
>= M1.0 flares that started in ``(t - window_h, t]`` at a position that differential rotation has carried into the
cell (or one of its eight neighbours: a region spans more than one cell) by ``t``. The cell's rate becomes

    lambda'_i = s * lambda_i^gamma * (1 + n_C,i)^beta_C * (1 + n_M,i)^beta_M,

four numbers fitted by the training loss (class-weighted cross-entropy) on a Sun the network was neither trained
on nor is scored on (``gamma`` held at 1 when the history should only multiply the network's rates; below 1 it
tempers the network's contrast between cells). The map is still a region-level forecast. Only flares that started
by ``t`` are used: a forecast desk has them in the GOES event list.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import maximum_filter
from scipy.optimize import minimize
from scipy.special import logsumexp
from tqdm.auto import tqdm

from ..data.dataset import StoreDataset
from ..errors import InputError
from ..io.geometry import orthographic_project
from ..io.goes import parse_goes_class
from ..sim.flares import C1_WM2, M1_WM2
from ..sim.observer import b0_annual_deg, synodic_rotation_deg_day
from ..verify.metrics import tss

__all__ = ["HistoryHead", "cell_flare_history", "fit_history_head", "store_log_rate_maps", "cached_log_rate_maps", "flat_log_rates",
           "calibration_cv_tss", "frames_with_probabilities", "HISTORY_WINDOW_H", "HEAD_DESIGNS"]

#: Hours of flare record a forecast reads (the persistence window).
HISTORY_WINDOW_H = 24.0
#: Designs of the head, ``{name: fit_image_weight}``: the history multiplies the network's rates (``gamma`` = 1), or
#: the network's contrast between cells is tempered too (``gamma`` fitted).
HEAD_DESIGNS = {"multiplied": False, "tempered": True}


def _catalog_columns(catalog: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Start times, peak fluxes (W m^-2), longitudes and latitudes of a flare catalog in either schema."""
    def pick(*names):
        for n in names:
            if n in catalog:
                return catalog[n]
        raise InputError(f"flare catalog: no column {' or '.join(repr(n) for n in names)} (columns: {list(catalog.columns)})")
    start = pd.to_datetime(pick("start_time", "start")).to_numpy("datetime64[s]")
    if "peak_flux_wm2" in catalog:
        flux = catalog["peak_flux_wm2"].to_numpy(float)
    else:
        flux = np.array([parse_goes_class(str(c)) for c in pick("goes_class")], float)
    return start, flux, pick("fl_lon", "lon_deg").to_numpy(float), pick("fl_lat", "lat_deg").to_numpy(float)


def cell_flare_history(index: pd.DataFrame, catalog: pd.DataFrame, size_px: int, cell_px: int = 32,
                       window_h: float = HISTORY_WINDOW_H, b0_deg=None) -> np.ndarray:
    """Counts of the flares each rate-map cell started in the ``window_h`` hours before each forecast time.

    Parameters
    ----------
    index : pandas.DataFrame
        The store's index: ``timestamp`` and the disk geometry ``disk_x_px``, ``disk_y_px``, ``disk_r_px``
        (in pixels of a ``size_px`` image).
    catalog : pandas.DataFrame
        Flares with start time, GOES class or peak flux and Stonyhurst position (the simulator's
        ``catalog.csv`` or the :data:`~flarelib.schemas.CATALOG` schema). Flares without a position are skipped.
    size_px, cell_px : int
        Image size and the rate map's cell size, pixels (``FlareRateNet.CELL_PX``).
    window_h : float
        Hours of flare record read, ending at the forecast time (flares starting exactly at ``t`` count).
    b0_deg : array_like, optional
        B0 angle of each forecast time, degrees (default: the annual formula, within 0.3 deg of sunpy's).

    Returns
    -------
    numpy.ndarray
        float32 (N, 2, G, G) with ``G = size_px // cell_px``: >= C1.0 and >= M1.0 counts. A flare's position is
        rotated (Snodgrass & Ulrich) from its start to the forecast time and clipped to the limb, so a region's
        flares seen just behind a limb count in the limb's cells.
    """
    if size_px % cell_px:
        raise InputError(f"cell_px {cell_px} must divide the image size {size_px}")
    g = size_px // cell_px
    t = pd.to_datetime(index["timestamp"]).to_numpy("datetime64[s]")
    start, flux, lon, lat = _catalog_columns(catalog)
    keep = np.isfinite(lon) & np.isfinite(lat) & (flux >= C1_WM2)
    order = np.argsort(start[keep], kind="stable")
    start, flux, lon, lat = start[keep][order], flux[keep][order], lon[keep][order], lat[keep][order]
    b0 = b0_annual_deg(t) if b0_deg is None else np.asarray(b0_deg, float)
    geo = index[["disk_x_px", "disk_y_px", "disk_r_px"]].to_numpy(float)
    lo = np.searchsorted(start, t - np.timedelta64(int(round(window_h * 3600)), "s"), side="right")
    hi = np.searchsorted(start, t, side="right")
    out = np.zeros((len(t), 2, g, g), np.float32)
    for n in np.nonzero(hi > lo)[0]:
        s = slice(lo[n], hi[n])
        dt_d = (t[n] - start[s]).astype("timedelta64[s]").astype(float) / 86400.0
        lon_t = np.clip(lon[s] + synodic_rotation_deg_day(lat[s]) * dt_d, -90.0, 90.0)
        x, y, _ = orthographic_project(lon_t, lat[s], b0[n], geo[n, :2], geo[n, 2])
        cx = np.clip((x / cell_px).astype(int), 0, g - 1)
        cy = np.clip((y / cell_px).astype(int), 0, g - 1)
        np.add.at(out[n, 0], (cy, cx), 1.0)
        m = flux[s] >= M1_WM2
        np.add.at(out[n, 1], (cy[m], cx[m]), 1.0)
    return out


def _head_loss(theta: np.ndarray, lr: np.ndarray, f: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted cross-entropy of ``p = 1 - exp(-Lambda)`` and its gradient in (log_scale, image_weight, beta_c, beta_m).

    ``lr`` (N, C) cell log-rates, ``f`` (N, 2, C) history features, ``w`` (N,) instance weights.
    """
    a = theta[1] * lr + theta[0] + theta[2] * f[:, 0] + theta[3] * f[:, 1]
    log_lam = logsumexp(a, axis=1)
    lam = np.exp(log_lam)
    share = np.exp(a - log_lam[:, None])  # each cell's share of the disk's rate
    log_p = np.where(lam < 1e-8, log_lam, np.log(-np.expm1(-np.maximum(lam, 1e-300))))
    # d(-log p)/d Lambda = -exp(-Lambda) / (1 - exp(-Lambda)); d(-log(1 - p))/d Lambda = 1;
    # d Lambda / d theta_k = Lambda <share, d a / d theta_k>
    dlam = np.where(y == 1, -np.exp(-lam) / np.maximum(-np.expm1(-lam), 1e-300), 1.0) * w * lam
    grad = np.array([dlam.sum(), (dlam * (share * lr).sum(1)).sum(), (dlam * (share * f[:, 0]).sum(1)).sum(),
                     (dlam * (share * f[:, 1]).sum(1)).sum()])
    return float(-(w * np.where(y == 1, log_p, -lam)).sum()), grad


@dataclass(frozen=True)
class HistoryHead:
    """The fitted regional memory: ``lambda'_i = exp(log_scale) lambda_i^image_weight exp(beta_c f_C,i + beta_m f_M,i)``.

    Attributes
    ----------
    log_scale : float
        Natural log of the factor on every cell's rate (the level refit).
    image_weight : float
        Power of the network's rate: 1 keeps its contrast between cells, below 1 tempers it (0: a flat map, the
        regional flare record alone).
    beta_c, beta_m : float
        Weights of ``f = log(1 + n)`` for >= C1.0 and >= M1.0 flares in the cell's 3 x 3 neighbourhood.
    window_h : float
        Hours of flare record read.
    n_fit : int
        Forecast instants the head was fitted on.
    """

    log_scale: float = 0.0
    image_weight: float = 1.0
    beta_c: float = 0.0
    beta_m: float = 0.0
    window_h: float = HISTORY_WINDOW_H
    n_fit: int = 0

    @staticmethod
    def features(history: np.ndarray) -> np.ndarray:
        """``log(1 + n)`` of the 3 x 3-neighbourhood maxima of the counts, (N, 2, G, G) float64."""
        h = np.asarray(history, float)
        return np.log1p(maximum_filter(h, size=(1,) * (h.ndim - 2) + (3, 3), mode="constant", cval=0.0))

    def log_rate_maps(self, log_rate: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Each cell's log-rate with the history (N, G, G)."""
        f = self.features(history)
        return self.image_weight * np.asarray(log_rate, float) + self.log_scale + self.beta_c * f[:, 0] + self.beta_m * f[:, 1]

    def probability(self, log_rate: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Full-disk probability ``1 - exp(-sum_i lambda'_i)`` (N,)."""
        lam = np.exp(logsumexp(self.log_rate_maps(log_rate, history).reshape(len(log_rate), -1), axis=1))
        return -np.expm1(-lam)

    def to_dict(self) -> dict:
        return asdict(self)


def fit_history_head(log_rate: np.ndarray, history: np.ndarray, y_true, class_weights: tuple[float, float] = (1.0, 1.0),
                     window_h: float = HISTORY_WINDOW_H, fit_image_weight: bool = True, max_abs: float = 6.0) -> HistoryHead:
    """The :class:`HistoryHead` that minimises the class-weighted cross-entropy of the outcomes ``y_true``.

    Parameters
    ----------
    log_rate : numpy.ndarray
        (N, G, G) cell log-rates of the frozen network (:func:`store_log_rate_maps`).
    history : numpy.ndarray
        (N, 2, G, G) flare counts (:func:`cell_flare_history`).
    y_true : array_like
        Outcomes 0/1.
    class_weights : (float, float)
        Weights of no flare and flare (those of the training loss, so the 0.5 threshold keeps its meaning).
    fit_image_weight : bool
        Fit the power of the network's rate (else it stays 1: the history only multiplies the network's rates).

    Raises
    ------
    InputError
        Outcomes of a single class, or arrays that do not match.
    """
    y = np.asarray(y_true, int)
    lr = np.asarray(log_rate, float)
    if len(np.unique(y)) < 2:
        raise InputError("a history head needs both outcomes among the fitting instances")
    if lr.shape[0] != len(y) or history.shape[0] != len(y) or history.shape[2:] != lr.shape[1:]:
        raise InputError(f"history head: log-rates {lr.shape}, history {history.shape} and {len(y)} outcomes do not match")
    f = HistoryHead.features(history).reshape(len(y), 2, -1)
    lr = lr.reshape(len(y), -1)
    w = np.where(y == 1, class_weights[1], class_weights[0]) / len(y)

    bounds = [(-max_abs, max_abs), (0.0, 2.0) if fit_image_weight else (1.0, 1.0), (-max_abs, max_abs), (-max_abs, max_abs)]
    res = minimize(_head_loss, np.array([0.0, 1.0, 0.0, 0.0]), args=(lr, f, y, w), jac=True, method="L-BFGS-B", bounds=bounds)
    x = [float(v) for v in res.x]
    return HistoryHead(log_scale=x[0], image_weight=x[1], beta_c=x[2], beta_m=x[3], window_h=float(window_h), n_fit=int(len(y)))


@torch.no_grad()
def store_log_rate_maps(model, store, batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """A :class:`~flarelib.model.network.FlareRateNet`'s cell log-rates for every instant of ``store`` (N, G, G).

    Rows follow ``store.index``; images are read at the model's training size (the store's size).
    """
    if not hasattr(model, "log_rate_map"):
        raise InputError(f"{type(model).__name__} has no rate map (a history head needs a FlareRateNet)")
    ds = StoreDataset(store)
    model = model.eval()
    out = []
    for i in tqdm(range(0, len(ds), batch_size), desc="rate maps", disable=not progress, unit="batch"):
        pos = np.arange(i, min(i + batch_size, len(ds)))
        out.append(model.log_rate_map(ds.images(pos, dtype=torch.uint8))[:, 0].float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0, 0), np.float32)


def cached_log_rate_maps(model, store, cache_dir, progress: bool = True) -> np.ndarray:
    """:func:`store_log_rate_maps`, cached in ``cache_dir/log_rates_{fingerprint}.npy`` (one file per store)."""
    path = Path(cache_dir) / f"log_rates_{store.fingerprint[:16]}.npy"
    if path.is_file():
        lr = np.load(path)
        if lr.shape[0] == len(store):
            return lr
    lr = store_log_rate_maps(model, store, progress=progress)
    np.save(path, lr)
    return lr


def flat_log_rates(store, g: int, cell_px: int) -> np.ndarray:
    """A (N, G, G) map with every cell that touches the disk alike (log-rate 0), the rest empty: no image information."""
    cx, cy, r = store.disk(0)
    c = (np.arange(g) + 0.5) * cell_px
    d = np.hypot(c[None, :] - cx, c[:, None] - cy)
    on = d <= r + cell_px / np.sqrt(2)
    return np.broadcast_to(np.where(on, 0.0, -50.0), (len(store), g, g))


def calibration_cv_tss(log_rate: np.ndarray, history: np.ndarray, index: pd.DataFrame, class_weights,
                       fit_image_weight: bool) -> float:
    """Fold-mean TSS at 0.5 of heads fitted on three partitions of a store and scored on the fourth.

    The design of a head is chosen with this on the calibration Sun, never on the reported one.
    """
    part, y = index["partition"].to_numpy(int), index["target"].to_numpy(int)
    out = []
    for k in np.unique(part):
        tr, te = part != k, part == k
        head = fit_history_head(log_rate[tr], history[tr], y[tr], class_weights, fit_image_weight=fit_image_weight)
        out.append(tss(y[te], (head.probability(log_rate[te], history[te]) >= 0.5).astype(int)))
    return float(np.nanmean(out))  # a partition without flares has no TSS


def frames_with_probabilities(store, prob: np.ndarray, template: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Copies of the per-fold prediction frames ``template`` with the probabilities ``prob`` (rows of ``store.index``).

    Raises
    ------
    InputError
        An instant of ``template`` is not in the store's index.
    """
    by_time = pd.Series(np.asarray(prob, float), index=pd.to_datetime(store.index["timestamp"]).to_numpy())
    out = []
    for f in template:
        p = by_time.reindex(pd.to_datetime(f["timestamp"]).to_numpy()).to_numpy(float)
        if not np.isfinite(p).all():
            raise InputError("a prediction's instant is missing from the store's index")
        out.append(f.assign(flare_prob=p))
    return out
