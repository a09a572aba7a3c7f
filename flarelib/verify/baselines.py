"""Baselines a forecaster gets for free, scored by the same code and fold protocol as the model.

* **climatology**: the training folds' base rate, for every instant (the
  reference forecast of the Brier skill score);
* **persistence**: "yes" when a >= M1.0 flare started in (t - 24 h, t], that
  is, when the window of the instant 24 h earlier was positive;
* **graded persistence**: a probability from the previous window's largest
  flare (log10 peak flux, a floor of 1e-9 W m^-2 for none), a logistic
  regression fitted on the training folds;
* **lagged activity**: the share of positive windows among those that ended in
  the previous 81 days (three solar rotations; no image), a logistic
  regression fitted on the training folds: how much of a forecast's skill is
  the solar cycle's phase;
* **image features**: a logistic regression on quantities measured on the
  magnetogram itself inside the disk given by the image header: total
  unsigned flux above a noise floor, strong-field area, and a Schrijver-R-like
  measure of strong-field flux next to strong opposite polarity (a
  polarity-inversion-line proxy), fitted on the training folds;
* **image R**: Schrijver's (2007) R measured on the magnetogram (strong
  field of each polarity, the overlap of their 3 x 3 dilations, weighted by a
  15 Mm FWHM Gaussian), with the unsigned flux and strong-field area, in a
  logistic regression fitted on the training folds. R is the quantity the
  simulator draws its flare rates from: where the image resolves the
  polarity-inversion lines (512 px) it is a strong baseline; at 128 px it
  sees next to nothing.

The persistence family works from the labels alone: the previous window of an
instant is the index row exactly 24 h earlier; instants without one are left
out and counted (``n_left_out``), never guessed. Fitted baselines choose their
decision threshold where the training folds' TSS is largest
(:func:`~flarelib.verify.metrics.best_threshold`), never on the fold they
are scored on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation, gaussian_filter
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from ..data.labels import FOLDS
from ..data.store import Store
from ..errors import InputError
from ..io.geometry import disk_mask
from ..io.magnetogram import uint8_to_gauss
from .metrics import best_threshold

__all__ = ["BASELINES", "BaselineForecast", "previous_window", "from_scores", "store_features", "magnetogram_features",
           "persistence", "climatology", "graded_persistence", "lagged_activity", "activity_rate", "activity_terciles", "activity_levels", "ACTIVITY_DAYS",
           "image_features", "fit_and_forecast", "NOISE_FLOOR_G", "STRONG_FIELD_G", "schrijver_r", "image_r", "block_mean",
           "store_r_features", "resolution_ladder", "LADDER_SIZES_PX"]

BASELINES = ("climatology", "persistence", "graded-persistence", "lagged-activity", "image-features", "image-r")
#: Image sizes of the resolution ladder (:func:`resolution_ladder`), pixels.
LADDER_SIZES_PX = (64, 128, 256, 512)
#: Days of label history the lagged-activity baseline averages (three Carrington rotations).
ACTIVITY_DAYS = 81.0
#: Share of the instants a window of label history must hold (at the index's median cadence) to give a rate.
MIN_HISTORY_SHARE = 0.5
#: |B| below which a pixel counts as noise (HMI's LOS noise is about 10 G; Helioviewer's byte is ~2 G).
NOISE_FLOOR_G = 25.0
#: |B| of strong (plage and spot) field, the level of Schrijver's (2007) strong-field masks (150 G).
STRONG_FIELD_G = 150.0
#: Floor of the previous window's peak flux when it had no flare (W m^-2; below A1.0).
FLUX_FLOOR_WM2 = 1e-9


@dataclass
class BaselineForecast:
    """Per-fold prediction frames of a baseline (``timestamp, flare_prob, target, max_class, fl_lon, fl_lat, partition``),
    the decision threshold of each fold, and the instants left out."""

    name: str
    frames: list
    thresholds: list
    n_left_out: int

    def only(self, folds) -> BaselineForecast:
        """The same forecast restricted to some folds (partitions)."""
        keep = [i for i, f in enumerate(self.frames) if int(f["partition"].iloc[0]) in set(folds)]
        return BaselineForecast(self.name, [self.frames[i] for i in keep], [self.thresholds[i] for i in keep], self.n_left_out)


def previous_window(index: pd.DataFrame, lag_h: float = 24.0) -> pd.DataFrame:
    """For each instant, the ``target`` and ``peak_flux_wm2`` of the instant ``lag_h`` hours earlier (NaN when absent)."""
    t = pd.to_datetime(index["timestamp"])
    prev = index.assign(timestamp=t + pd.Timedelta(hours=lag_h))[["timestamp", "target", "peak_flux_wm2"]]
    prev = prev.drop_duplicates("timestamp").set_index("timestamp")
    got = prev.reindex(t)
    return pd.DataFrame({"prev_target": got["target"].to_numpy(float), "prev_peak_flux_wm2": got["peak_flux_wm2"].to_numpy(float)},
                        index=index.index)


def _frame(sub: pd.DataFrame, prob: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.to_datetime(sub["timestamp"]).to_numpy(), "flare_prob": np.asarray(prob, float),
                         "target": sub["target"].to_numpy(int), "max_class": sub["max_class"].fillna("").astype(str).to_numpy(),
                         "fl_lon": sub["fl_lon"].to_numpy(float), "fl_lat": sub["fl_lat"].to_numpy(float),
                         "partition": sub["partition"].to_numpy(int)})


def _folds(index: pd.DataFrame) -> list[int]:
    return [k for k in (1, 2, 3, 4) if (index["partition"] == k).any()]


def climatology(index: pd.DataFrame) -> BaselineForecast:
    """The training folds' base rate for every instant of each fold (threshold 0.5: never "yes")."""
    frames = []
    for k in _folds(index):
        train = index[index["partition"].isin(FOLDS[k])]
        sub = index[index["partition"] == k]
        frames.append(_frame(sub, np.full(len(sub), train["target"].mean())))
    return BaselineForecast("climatology", frames, [0.5] * len(frames), 0)


def persistence(index: pd.DataFrame, lag_h: float = 24.0) -> BaselineForecast:
    """"Yes" (probability 1) when the window ``lag_h`` hours earlier was positive; instants without it left out."""
    prev = _previous_or_refuse(index, lag_h)
    have = prev["prev_target"].notna()
    folds = [k for k in _folds(index) if (have & (index["partition"] == k)).any()]
    frames = [_frame(index[(index["partition"] == k) & have], prev.loc[(index["partition"] == k) & have, "prev_target"])
              for k in folds]
    return BaselineForecast("persistence", frames, [0.5] * len(frames), int((~have).sum()))


def _previous_or_refuse(index: pd.DataFrame, lag_h: float) -> pd.DataFrame:
    prev = previous_window(index, lag_h)
    if prev["prev_target"].isna().all():
        step = pd.Series(pd.to_datetime(index["timestamp"])).sort_values().diff().median()
        raise InputError(f"no instant has the instant {lag_h:g} h earlier in the index (instants are {step} apart): "
                         f"persistence needs a cadence that divides {lag_h:g} h")
    return prev


def fit_and_forecast(name: str, index: pd.DataFrame, features: pd.DataFrame, usable: pd.Series) -> BaselineForecast:
    """Logistic regression on ``features`` fitted on the training folds of each fold; threshold of best training TSS."""
    frames, thresholds = [], []
    for k in _folds(index):
        tr = usable & index["partition"].isin(FOLDS[k])
        te = usable & (index["partition"] == k)
        if not te.any():
            continue
        y = index.loc[tr, "target"].to_numpy(int)
        if len(np.unique(y)) < 2:
            raise InputError(f"{name}: the training folds of fold {k} hold only one class; nothing to fit")
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features.loc[tr].to_numpy(), y)
        thresholds.append(best_threshold(y, clf.predict_proba(features.loc[tr].to_numpy())[:, 1])["threshold"])
        frames.append(_frame(index[te], clf.predict_proba(features.loc[te].to_numpy())[:, 1]))
    return BaselineForecast(name, frames, thresholds, int((~usable).sum()))


def from_scores(name: str, index: pd.DataFrame, scores: pd.Series) -> BaselineForecast:
    """A ranking score per instant (an oracle, a diagnostic score) as a forecast, thresholded on the training folds.

    ``scores`` is indexed by timestamp; each fold's threshold is where the
    other partitions' TSS is largest, so no threshold is chosen on the
    instants it is scored on. Scores are clipped to [0, 1] as probabilities
    only where they already are; other ranking scores are min-max scaled over
    the whole index (a monotone map, which leaves TSS and AUC unchanged).
    """
    s = scores.reindex(pd.to_datetime(index["timestamp"])).to_numpy(float)
    have = np.isfinite(s)
    if np.nanmin(s) < 0 or np.nanmax(s) > 1:
        s = (s - np.nanmin(s)) / max(np.nanmax(s) - np.nanmin(s), 1e-300)
    frames, thresholds = [], []
    for k in _folds(index):
        tr = have & index["partition"].isin(FOLDS[k]).to_numpy()
        te = have & (index["partition"] == k).to_numpy()
        thresholds.append(best_threshold(index["target"].to_numpy(int)[tr], s[tr])["threshold"])
        frames.append(_frame(index[te], s[te]))
    return BaselineForecast(name, frames, thresholds, int((~have).sum()))


def graded_persistence(index: pd.DataFrame, lag_h: float = 24.0) -> BaselineForecast:
    """Probability from the log10 peak flux of the window ``lag_h`` hours earlier, fitted on the training folds."""
    prev = _previous_or_refuse(index, lag_h)
    have = prev["prev_target"].notna()
    x = pd.DataFrame({"log_prev_peak_flux": np.log10(prev["prev_peak_flux_wm2"].fillna(FLUX_FLOOR_WM2).clip(lower=FLUX_FLOOR_WM2))},
                     index=index.index)
    return fit_and_forecast("graded-persistence", index, x, have)


def activity_rate(index: pd.DataFrame, days: float = ACTIVITY_DAYS, lag_h: float = 24.0) -> pd.Series:
    """Share of positive windows among the instants ``lag_h`` to ``lag_h`` + ``days`` hours earlier (NaN without that history).

    A window of ``lag_h`` hours has ended by the forecast time only for instants at least ``lag_h`` hours earlier,
    so only those are counted (all partitions: the label history is known at forecast time). The Sun's recent
    activity level, from the labels alone: the predictor of :func:`lagged_activity` and the stratifying variable of
    :func:`activity_terciles`.
    """
    t = pd.to_datetime(index["timestamp"]).to_numpy()
    order = np.argsort(t, kind="stable")
    ts = t[order]
    cum = np.r_[0.0, np.cumsum(index["target"].to_numpy(float)[order])]
    end = t - np.timedelta64(int(lag_h * 3600), "s")
    start = end - np.timedelta64(int(days * 86400), "s")
    hi = np.searchsorted(ts, end, side="right")  # instants <= t - lag_h
    lo = np.searchsorted(ts, start, side="right")  # instants > t - lag_h - days
    n = hi - lo
    step_s = float(np.median(np.diff(ts)) / np.timedelta64(1, "s")) if len(ts) > 1 else np.inf
    expected = days * 86400.0 / step_s if np.isfinite(step_s) and step_s > 0 else np.inf
    # the window must hold most of the instants its length implies: a fold's first days, whose 81 days before lie in
    # other (unevaluated) partitions, get no rate rather than one from a handful of instants
    have = (start >= ts[0]) & (n > 0) & (n >= MIN_HISTORY_SHARE * expected)
    rate = np.where(have, (cum[hi] - cum[lo]) / np.maximum(n, 1), np.nan)
    return pd.Series(rate, index=index.index, name="lagged_activity_rate")


def activity_terciles(index: pd.DataFrame, days: float = ACTIVITY_DAYS, lag_h: float = 24.0) -> tuple[pd.Series, list[float]]:
    """Each instant's activity level, "low", "middle" or "high": terciles of :func:`activity_rate` over the index.

    The edges are the rate's 1/3 and 2/3 quantiles over the instants with ``days`` of history (no forecast is
    fitted to them: they only sort instants by how active the Sun had been). Instants without the history get "".

    Returns
    -------
    (levels, edges)
        A string Series aligned with ``index`` and the two edges (share of positive windows).
    """
    rate = activity_rate(index, days, lag_h)
    have = rate.notna()
    if not have.any():
        raise InputError(f"activity terciles: no instant has {days:g} days of label history before it")
    edges = [float(np.quantile(rate[have], 1 / 3)), float(np.quantile(rate[have], 2 / 3))]
    level = np.where(rate <= edges[0], "low", np.where(rate <= edges[1], "middle", "high"))
    levels = pd.Series(np.where(have, level, ""), index=index.index, name="activity")
    levels.attrs["edges"] = edges
    return levels, edges


def activity_levels(index: pd.DataFrame, days: float = ACTIVITY_DAYS, lag_h: float = 24.0) -> pd.Series:
    """:func:`activity_terciles` of a label record, indexed by timestamp (its edges in ``attrs["edges"]``).

    The form :func:`~flarelib.verify.evaluation.evaluate` takes (``activity=``), so that forecasts of different
    instants of one record are stratified alike.
    """
    levels, edges = activity_terciles(index, days, lag_h)
    out = pd.Series(levels.to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(index["timestamp"])), name="activity")
    out = out[~out.index.duplicated()]
    out.attrs["edges"] = edges
    return out


def lagged_activity(index: pd.DataFrame, days: float = ACTIVITY_DAYS, lag_h: float = 24.0) -> BaselineForecast:
    """Probability from :func:`activity_rate` (the share of positive windows in the ``days`` before the last ``lag_h``).

    Instants with less than ``days`` of history before them are left out. Fitted (logistic regression) and
    thresholded on the training folds.

    Raises
    ------
    InputError
        No instant has ``days`` of history.
    """
    rate = activity_rate(index, days, lag_h)
    have = rate.notna()
    if not have.any():
        raise InputError(f"lagged activity: no instant has {days:g} days of label history before it")
    return fit_and_forecast("lagged-activity", index, rate.fillna(0.0).to_frame(), have)


def magnetogram_features(image_u8: np.ndarray, disk: tuple[float, float, float], noise_floor_g: float = NOISE_FLOOR_G,
                         strong_g: float = STRONG_FIELD_G) -> dict:
    """Field quantities of one 8-bit magnetogram inside its disk (from the header geometry, never pixel > 0).

    Returns ``unsigned_flux`` (sum of |B| above the noise floor, G px^2 at
    this resolution), ``strong_area`` (pixels with |B| >= ``strong_g``) and
    ``pil_flux`` (sum of |B| over strong pixels within 2 px of strong field
    of the opposite sign, a Schrijver-R-like measure), each log1p-transformed.
    """
    b = uint8_to_gauss(image_u8)
    on = disk_mask(image_u8.shape[0], disk[:2], disk[2])
    absb = np.abs(b) * on
    pos = (b >= strong_g) & on
    neg = (b <= -strong_g) & on
    st = np.ones((5, 5), bool)
    pil = (binary_dilation(pos, st) & neg) | (binary_dilation(neg, st) & pos)
    return {"unsigned_flux": float(np.log1p(absb[absb >= noise_floor_g].sum())),
            "strong_area": float(np.log1p((pos | neg).sum())),
            "pil_flux": float(np.log1p(absb[pil].sum()))}


#: FWHM of the Gaussian that weights the polarity-inversion mask in Schrijver's R (Mm).
R_FWHM_MM = 15.0
#: Mean solar radius (Mm), for the pixel scale from the disk's radius in pixels.
RSUN_MM = 695.7


def schrijver_r(image_u8: np.ndarray, disk: tuple[float, float, float], strong_g: float = STRONG_FIELD_G,
                fwhm_mm: float = R_FWHM_MM) -> float:
    """Schrijver's (2007) R of one 8-bit magnetogram, in Mx, on the disk given by the header geometry.

    Pixels of |B| >= ``strong_g`` of each polarity are dilated by 3 x 3; their
    overlap is the strong-field polarity-inversion mask, which is smoothed by
    a Gaussian of ``fwhm_mm`` (the pixel scale from the disk radius), and R is
    the sum of |B| weighted by it, times the pixel area (projected, as a
    line-of-sight image measures it). 0 when the image has no strong-field
    inversion line; at coarse resolutions the umbrae merge and it vanishes.
    """
    b = uint8_to_gauss(image_u8)
    on = disk_mask(image_u8.shape[0], disk[:2], disk[2])
    st = np.ones((3, 3), bool)
    pil = binary_dilation((b >= strong_g) & on, st) & binary_dilation((b <= -strong_g) & on, st)
    if not pil.any():
        return 0.0
    mm_per_px = RSUN_MM / disk[2]
    w = gaussian_filter(pil.astype(np.float64), fwhm_mm / mm_per_px / 2.3548)
    pixel_cm2 = (mm_per_px * 1e8) ** 2
    return float((np.abs(b) * on * w).sum() * pixel_cm2)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """The image reduced by ``factor`` (means of factor x factor blocks, as the training loader reduces images)."""
    if factor == 1:
        return image
    s = image.shape[0] // factor
    return image[: s * factor, : s * factor].reshape(s, factor, s, factor).astype(np.float32).mean(axis=(1, 3))


def store_r_features(store: Store, progress: bool = True, size_px: int | None = None) -> pd.DataFrame:
    """log10(1 + R / 1 Mx), log unsigned flux and log strong-field area of every image (rows aligned with ``store.index``).

    ``size_px`` measures them on the images reduced to that size (block means; it must divide the store's size):
    the resolution ladder of what a model of that input size can see.
    """
    size_px = size_px or store.size_px
    if store.size_px % size_px:
        raise InputError(f"size_px {size_px} must divide the store's {store.size_px}")
    factor = store.size_px // size_px
    rows = []
    for i in tqdm(range(len(store)), desc=f"image R at {size_px} px", unit="img", disable=not progress):
        x, y, r = store.disk(i)
        img = block_mean(store.image(i), factor)
        # one pixel in from the limb: limb pixels mix the sky (byte 0 = -250 G) into the disk and read as strong field
        disk = ((x + 0.5) / factor - 0.5, (y + 0.5) / factor - 0.5, r / factor - 1.0)
        field = magnetogram_features(img, disk)
        rows.append({"log_r": float(np.log10(1.0 + schrijver_r(img, disk))), "unsigned_flux": field["unsigned_flux"],
                     "strong_area": field["strong_area"]})
    return pd.DataFrame(rows, index=store.index.index)


def image_r(store: Store, progress: bool = True, features: pd.DataFrame | None = None,
            columns: tuple[str, ...] = ("log_r", "unsigned_flux", "strong_area")) -> BaselineForecast:
    """Logistic regression on Schrijver's R measured on the image (with flux and strong-field area by default).

    ``features`` (from :func:`store_r_features`) saves measuring twice; ``columns`` chooses the regressors
    (``("log_r",)``: R alone; ``("unsigned_flux", "strong_area")``: the field-only regression).
    """
    feats = store_r_features(store, progress) if features is None else features
    name = "image-r" if "log_r" in columns else "flux-area"
    return fit_and_forecast(name, store.index, feats[list(columns)], pd.Series(True, index=store.index.index))


def resolution_ladder(store: Store, sizes_px=LADDER_SIZES_PX, progress: bool = True) -> dict[str, BaselineForecast]:
    """What an image of each size shows: the image-R regressions on the store's images reduced to ``sizes_px``.

    Per size (those that divide the store's and are no larger), ``"image R + flux + area, {n} px"``,
    ``"image R alone, {n} px"`` and ``"flux + area, {n} px"`` (:func:`image_r`, fitted and thresholded on the
    training folds), in the naming :func:`~flarelib.plots.plot_resolution_ladder` reads.

    Raises
    ------
    InputError
        No size of ``sizes_px`` divides the store's.
    """
    usable = [int(n) for n in sizes_px if int(n) <= store.size_px and store.size_px % int(n) == 0]
    if not usable:
        raise InputError(f"resolution ladder: none of {tuple(sizes_px)} px divides the store's {store.size_px} px")
    out = {}
    for n in usable:
        feats = store_r_features(store, progress=progress, size_px=n)
        out[f"image R + flux + area, {n} px"] = image_r(store, features=feats)
        out[f"image R alone, {n} px"] = image_r(store, features=feats, columns=("log_r",))
        out[f"flux + area, {n} px"] = image_r(store, features=feats, columns=("unsigned_flux", "strong_area"))
    return out


def store_features(store: Store, progress: bool = True, size_px: int | None = None) -> pd.DataFrame:
    """:func:`magnetogram_features` of every usable image of a store (rows aligned with ``store.index``).

    ``size_px`` measures them on the images reduced to that size (block means, as a model of that input size sees
    them; it must divide the store's size).
    """
    size_px = size_px or store.size_px
    if store.size_px % size_px:
        raise InputError(f"size_px {size_px} must divide the store's {store.size_px}")
    k = store.size_px // size_px
    rows = []
    for i in tqdm(range(len(store)), desc="image features", unit="img", disable=not progress):
        x, y, r = store.disk(i)
        disk = (x, y, r) if k == 1 else ((x + 0.5) / k - 0.5, (y + 0.5) / k - 0.5, r / k - 1.0)  # one pixel in from the limb
        rows.append(magnetogram_features(block_mean(store.image(i), k), disk))
    return pd.DataFrame(rows, index=store.index.index)


def image_features(store: Store, progress: bool = True, size_px: int | None = None) -> BaselineForecast:
    """Logistic regression on :func:`store_features` (at ``size_px``), fitted on the training folds."""
    feats = store_features(store, progress, size_px=size_px)
    return fit_and_forecast("image-features", store.index, feats, pd.Series(True, index=store.index.index))
