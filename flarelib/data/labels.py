"""Labels and partitions: from a flare catalog to a per-instant index.

The label of an instant ``t`` follows the reference study: the largest GOES
class among flares whose *start* lies in ``(t, t + window]`` (24 h by
default); the binary target is 1 when that class is at least the threshold
(M1.0 = 1e-5 W m^-2 by default). Instances are split into four tri-monthly
partitions by calendar month: 1 = Jan-Mar, 2 = Apr-Jun, 3 = Jul-Sep,
4 = Oct-Dec.

The index table (:data:`INDEX_COLUMNS`) is the hand-over from the label stage
to the store and everything after it.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._fileio import atomic_write_text
from ..errors import CatalogError, GoesClassError, InputError
from ..io.catalog import FlareCatalog
from ..io.goes import M1_FLUX_WM2, parse_goes_class
from ..schemas import INDEX

__all__ = [
    "LabelConfig",
    "INDEX_COLUMNS",
    "partition_of",
    "hourly_instants",
    "make_index",
    "read_index",
    "write_index",
    "read_published_index",
    "distinct_published_flares",
    "timestamp_from_path",
    "partition_summary",
    "FOLDS",
    "inner_split",
]

#: Fold k validates on partition k and trains on the other three (the reference study's tri-monthly protocol).
FOLDS = {1: (2, 3, 4), 2: (1, 3, 4), 3: (1, 2, 4), 4: (1, 2, 3)}

#: Columns of the index table, as declared by :data:`flarelib.schemas.INDEX`.
INDEX_COLUMNS = INDEX.names


#: Bounds of a label threshold: a GOES peak flux from A1.0 (1e-8 W m^-2) to X10000 (1 W m^-2 is no flare).
MIN_THRESHOLD_WM2, MAX_THRESHOLD_WM2 = 1e-8, 1e-1
#: The shortest cadence of labelled instants (hours): one minute.
MIN_CADENCE_H = 1.0 / 60.0
#: The most instants one index may hold (30 years every 15 minutes).
MAX_INSTANTS = 1_100_000


@dataclass(frozen=True)
class LabelConfig:
    """How instants are labelled.

    Attributes
    ----------
    window_h : float
        Forecast window length in hours after the instant (24).
    threshold_wm2 : float
        Peak flux in W m^-2 at and above which the target is 1 (1e-5, M1.0).
    cadence_h : float
        Spacing of the instants in hours (1).
    """

    window_h: float = 24.0
    threshold_wm2: float = M1_FLUX_WM2
    cadence_h: float = 1.0

    def __post_init__(self) -> None:
        """Refuse impossible labels (one line naming the field and its flag) before any instant is made."""
        if not (np.isfinite(self.threshold_wm2) and MIN_THRESHOLD_WM2 <= self.threshold_wm2 <= MAX_THRESHOLD_WM2):
            raise InputError(f"threshold_wm2 (--threshold) {self.threshold_wm2!r}: a GOES peak flux in [{MIN_THRESHOLD_WM2:g}, "
                             f"{MAX_THRESHOLD_WM2:g}] W m^-2 (A1.0 to X10000), e.g. M1.0 = 1e-5")
        if not (np.isfinite(self.window_h) and 0 < self.window_h <= 24 * 30):
            raise InputError(f"window_h (--window-h) {self.window_h!r}: must be in (0, 720] hours")
        if not (np.isfinite(self.cadence_h) and self.cadence_h >= MIN_CADENCE_H):
            raise InputError(f"cadence_h (--cadence-h) {self.cadence_h!r}: at least {MIN_CADENCE_H * 60:g} minute")


def partition_of(timestamps) -> np.ndarray:
    """Tri-monthly partition (1-4) of each timestamp: Jan-Mar -> 1 ... Oct-Dec -> 4."""
    months = pd.DatetimeIndex(pd.to_datetime(timestamps, format="mixed")).month.to_numpy()
    return (months - 1) // 3 + 1


def hourly_instants(start, end, cadence_h: float = 1.0) -> pd.DatetimeIndex:
    """Instants from ``start`` to ``end`` inclusive at ``cadence_h`` hours.

    Raises
    ------
    InputError
        A cadence below one minute, an end before the start, or more than :data:`MAX_INSTANTS` instants.
    """
    if not (np.isfinite(cadence_h) and cadence_h >= MIN_CADENCE_H):
        raise InputError(f"--cadence-h {cadence_h!r}: at least {MIN_CADENCE_H * 60:g} minute")
    try:
        t0, t1 = pd.Timestamp(start).as_unit("ns"), pd.Timestamp(end).as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"--start/--end {start} .. {end}: not a time pandas can hold ({exc})") from None
    if t1 < t0:
        raise InputError(f"--end {end} is before --start {start}: no instant to label")
    n = int((t1 - t0) / pd.Timedelta(hours=cadence_h)) + 1
    if n > MAX_INSTANTS:
        raise InputError(f"{n:,} instants from {start} to {end} every {cadence_h:g} h: more than {MAX_INSTANTS:,}")
    return pd.date_range(t0, t1, freq=pd.Timedelta(hours=cadence_h))


def make_index(
    instants: Iterable,
    catalog: FlareCatalog,
    config: LabelConfig = LabelConfig(),
    image_paths: dict | Callable | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Label instants from a flare catalog.

    Parameters
    ----------
    instants : sequence of datetime-like
        The forecast issue times.
    catalog : FlareCatalog
        Flares (only start time, peak flux and location are used).
    config : LabelConfig
        Window and threshold.
    image_paths : dict or callable, optional
        Maps an instant (``pandas.Timestamp``) to the image path for it, or to
        ``None`` when there is no image. Instants without an image are left out
        of the index and counted in the report. When omitted every instant is
        kept with an empty path.

    Returns
    -------
    index : pandas.DataFrame
        Columns :data:`INDEX_COLUMNS`.
    report : dict
        ``n_instants``, ``n_missing_image``, ``n_indexed``, ``n_flare``, ``n_noflare``.
    """
    times = pd.DatetimeIndex(pd.to_datetime(list(instants))).sort_values()
    tab = catalog.table
    starts = tab["start"].to_numpy(dtype="datetime64[ns]")
    flux = tab["peak_flux_wm2"].to_numpy(float)
    lon = tab["lon_deg"].to_numpy(float)
    lat = tab["lat_deg"].to_numpy(float)
    classes = tab["goes_class"].to_numpy(object)
    t_ns = times.to_numpy(dtype="datetime64[ns]")
    window = np.timedelta64(int(config.window_h * 3600e9), "ns")
    lo = np.searchsorted(starts, t_ns, side="right")
    hi = np.searchsorted(starts, t_ns + window, side="right")

    lookup = None
    if isinstance(image_paths, dict):
        lookup = image_paths.get
    elif callable(image_paths):
        lookup = image_paths

    rows, missing = [], 0
    for t, a, b in zip(times, lo, hi):
        path = ""
        if lookup is not None:
            p = lookup(t)
            if p is None:
                missing += 1
                continue
            path = str(p)
        if b > a:
            k = a + int(np.argmax(flux[a:b]))
            order = a + np.argsort(-flux[a:b], kind="stable")
            rows.append((t, path, flux[k], classes[k], lon[k], lat[k], b - a, json.dumps([classes[j] for j in order])))
        else:
            rows.append((t, path, np.nan, "", np.nan, np.nan, 0, "[]"))
    df = pd.DataFrame(rows, columns=["timestamp", "path", "peak_flux_wm2", "max_class", "fl_lon", "fl_lat", "n_flares", "flares"])
    df["target"] = (df["peak_flux_wm2"].fillna(0.0) >= config.threshold_wm2).astype(int)
    df["partition"] = partition_of(df["timestamp"]) if len(df) else np.array([], int)
    df = df[INDEX_COLUMNS]
    report = {
        "n_instants": int(len(times)),
        "n_missing_image": int(missing),
        "n_indexed": int(len(df)),
        "n_flare": int(df["target"].sum()),
        "n_noflare": int((df["target"] == 0).sum()),
    }
    return df, report


def write_index(index: pd.DataFrame, path: str | Path) -> None:
    """Write an index table as CSV, atomically."""

    out = INDEX.validate(index, f"{path} (index to write)")
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_text(path, out.to_csv(index=False))


_NAME_TIME = re.compile(r"(\d{4})[._](\d{2})[._](\d{2})[_T ](\d{2})[._:](\d{2})[._:](\d{2})")


def timestamp_from_path(path: str) -> pd.Timestamp:
    """Observation time encoded in an image name.

    Understands the reference study's ``HMI.m2011.01.01_00.00.00.jpg`` and
    Helioviewer's ``2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2``
    (and a bare ISO time).

    Raises
    ------
    ValueError
        When no time can be found in the name.
    """
    name = Path(str(path)).name
    m = _NAME_TIME.search(name) or re.search(r"(\d{4})_(\d{2})_(\d{2})__(\d{2})_(\d{2})_(\d{2})", name)
    if m:
        return pd.Timestamp(*map(int, m.groups()))
    try:
        return pd.Timestamp(str(path).strip())
    except ValueError as exc:
        raise ValueError(f"no observation time in {path!r}") from exc


#: Values of the published ``goes_class`` column that mean "no flare in the window".
_NO_FLARE = {"", "NF", "NONE", "0"}


def _is_published(columns) -> bool:
    return {"label", "target", "goes_class", "fl_lon", "fl_lat"} <= set(columns)


def _read_published_raw(path: str | Path) -> pd.DataFrame:
    """The rows of a published label file as strings (empty cells stay empty), its columns checked."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such label file")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not _is_published(raw.columns):
        raise CatalogError(f"{path}: not a published label file (columns {list(raw.columns)})")
    return raw


def read_published_index(path: str | Path) -> pd.DataFrame:
    """Read one of the reference study's label files (``Fold{k}_val.csv``) as an index.

    The timestamp comes from the image name in column ``label``; ``goes_class``
    (largest flare of the window, empty for none) gives ``max_class`` and
    ``peak_flux_wm2``; ``rest_fl`` is parsed into the list of all flares.
    The published ``target`` is kept as it is.

    Raises
    ------
    CatalogError
        When the file is missing, lacks the columns, or a row cannot be parsed
        (the message names the row).
    """
    path = Path(path)
    raw = _read_published_raw(path)
    ts, flux, nfl, flares = [], [], [], []
    for i, r in enumerate(raw.itertuples(index=False)):
        try:
            ts.append(timestamp_from_path(r.label))
            cls = r.goes_class.strip()
            cls = "" if cls.upper() in _NO_FLARE else cls
            f = parse_goes_class(cls) if cls else np.nan
            rest = ast.literal_eval(r.rest_fl) if getattr(r, "rest_fl", "").strip() else []
            rest = rest if isinstance(rest, (list, tuple)) else []  # '0' stands for none
        except (ValueError, GoesClassError, SyntaxError) as exc:
            raise CatalogError(f"{path}: data row {i + 1}: {exc}") from exc
        flux.append(f)
        allf = ([cls] if cls else []) + [str(x) for x in rest]
        nfl.append(len(allf))
        flares.append(json.dumps(allf))
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ts),
            "path": raw["label"],
            "target": raw["target"].astype(int),
            "max_class": [json.loads(x)[0] if n else "" for x, n in zip(flares, nfl)],
            "peak_flux_wm2": flux,
            "fl_lon": pd.to_numeric(raw["fl_lon"].replace("", np.nan), errors="coerce"),
            "fl_lat": pd.to_numeric(raw["fl_lat"].replace("", np.nan), errors="coerce"),
            "n_flares": nfl,
            "flares": flares,
        }
    )
    df["partition"] = partition_of(df["timestamp"])
    return INDEX.validate(df[INDEX_COLUMNS], str(path))


def _float_or_nan(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None  # 'UNK' or empty: a flare without a location (None, unlike NaN, compares equal to itself)


def distinct_published_flares(paths) -> pd.DataFrame:
    """The distinct flares named in the reference study's label files: ``goes_class``, ``lon_deg``, ``lat_deg``.

    Each hourly window lists its largest flare (``goes_class``, ``fl_lon``,
    ``fl_lat``) and the others (``rest_fl``, ``rest_lon``, ``rest_lat``); a flare
    appears in up to 24 windows. A flare is identified by its class and
    location (as the files give them), so two flares of the same class at the
    same place count once: the counts are a lower bound, close to the GOES
    catalog's (45 X flares from 2011 to 2017 here; cycle 24 had 49 in all).
    """
    seen = set()
    for path in paths:
        raw = _read_published_raw(path)
        for i, r in enumerate(raw.itertuples(index=False)):
            try:
                if r.goes_class.strip() and r.goes_class.strip().upper() not in _NO_FLARE:
                    seen.add((r.goes_class.strip(), _float_or_nan(r.fl_lon), _float_or_nan(r.fl_lat)))
                rest = [ast.literal_eval(getattr(r, c)) if getattr(r, c, "").strip() else [] for c in ("rest_fl", "rest_lon", "rest_lat")]
            except (ValueError, SyntaxError) as exc:
                raise CatalogError(f"{path}: data row {i + 1}: {exc}") from exc
            if all(isinstance(x, (list, tuple)) for x in rest):
                seen.update((str(c), _float_or_nan(lo), _float_or_nan(la)) for c, lo, la in zip(*rest))
    df = pd.DataFrame(list(seen), columns=["goes_class", "lon_deg", "lat_deg"]).sort_values(["goes_class", "lon_deg", "lat_deg"])
    return df[df["goes_class"].str[0].isin(list("ABCMX"))].reset_index(drop=True)


def read_index(path: str | Path) -> pd.DataFrame:
    """Read an index in our format or the published format (detected from the columns)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: no such index file")
    head = pd.read_csv(path, nrows=0)
    if _is_published(head.columns):
        return read_published_index(path)
    missing = set(INDEX_COLUMNS) - set(head.columns)
    if missing:
        raise CatalogError(f"{path}: not an index file, missing columns {sorted(missing)}")
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values={"peak_flux_wm2": [""], "fl_lon": [""], "fl_lat": [""]})
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    return INDEX.validate(df, str(path))


def partition_summary(index: pd.DataFrame) -> dict:
    """Flare (FL) and no-flare (NF) counts per partition and the total.

    Returns
    -------
    dict
        ``{"partitions": {"1": {"FL": n, "NF": n}, ...}, "total": n}``.
    """
    parts = {}
    for p in (1, 2, 3, 4):
        sub = index[index["partition"] == p]
        parts[str(p)] = {"FL": int((sub["target"] == 1).sum()), "NF": int((sub["target"] == 0).sum())}
    return {"partitions": parts, "total": int(len(index))}


def inner_split(timestamps, block_days: int = 5, every: int = 5) -> np.ndarray:
    """Boolean mask of an inner validation split: whole blocks of ``block_days`` days, one block in ``every``.

    Used to choose epochs, stop early, step the learning-rate scheduler and fit
    calibrators from the *training* partitions only, never from the fold that
    is reported. Hourly windows overlap by 23/24 and flares cluster over
    days, so the split takes contiguous multi-day blocks rather than single
    instants (default: 5-day blocks, 20 % of the instants).

    Parameters
    ----------
    timestamps : array-like of datetime
        The instants (for example the training partitions' index).
    block_days, every : int
        Block length in days, and one block in ``every`` goes to the inner split.
    """
    if block_days < 1 or every < 2:
        raise InputError(f"inner_split: need block_days >= 1 and every >= 2, got {block_days}, {every}")
    days = pd.DatetimeIndex(pd.to_datetime(timestamps)).floor("D").to_numpy(dtype="datetime64[D]").astype(np.int64)
    return (days // block_days) % every == 0
