"""GOES flare catalogs: reading, validating and querying.

Two input schemas are understood:

* the SWAN-SF integrated GOES catalog (``start_time, peak_time, end_time,
  goes_class, fl_lon, fl_lat, noaa_active_region``), which is also what
  :mod:`flarelib.simulator` writes (with an extra ``region_id``);
* HEK / SunPy exports (``event_starttime, event_peaktime, event_endtime,
  fl_goescls, hgs_x, hgs_y, ar_noaanum``).

Both are mapped onto one table, :class:`FlareCatalog`, with columns
``start, peak, end`` (UTC, tz-naive ``datetime64``), ``goes_class``,
``peak_flux_wm2``, ``lon_deg``, ``lat_deg`` (Stonyhurst heliographic, NaN
when unknown), ``noaa_ar`` and optionally ``region_id``.

Malformed rows are never silently dropped nor silently kept: they are
collected in :attr:`FlareCatalog.rejected` with the reason, and
:func:`read_catalog` raises :class:`~flarelib.errors.CatalogError` unless
``on_bad_rows='report'`` is given, in which case a warning names the count
and the first examples.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._fileio import atomic_write_text
from ..errors import CatalogError, GoesClassError, InputError
from ..schemas import CATALOG
from .goes import parse_goes_class

__all__ = ["FlareCatalog", "read_catalog", "catalog_from_frame", "SCHEMAS"]

#: Source column names of each known schema, keyed by our column name.
SCHEMAS: dict[str, dict[str, str]] = {
    "swan": {
        "start": "start_time",
        "peak": "peak_time",
        "end": "end_time",
        "goes_class": "goes_class",
        "lon_deg": "fl_lon",
        "lat_deg": "fl_lat",
        "noaa_ar": "noaa_active_region",
    },
    "hek": {
        "start": "event_starttime",
        "peak": "event_peaktime",
        "end": "event_endtime",
        "goes_class": "fl_goescls",
        "lon_deg": "hgs_x",
        "lat_deg": "hgs_y",
        "noaa_ar": "ar_noaanum",
    },
}

COLUMNS = ["start", "peak", "end", "goes_class", "peak_flux_wm2", "lon_deg", "lat_deg", "noaa_ar"]


@dataclass
class FlareCatalog:
    """A validated table of flares.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per flare, sorted by start time, columns as in the module docstring.
    rejected : pandas.DataFrame
        Rows of the source that could not be parsed, with columns ``row`` (0-based
        data row number), ``reason`` and the raw values.
    source : str
        Where the catalog came from (file name or a description).
    """

    table: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "reason"]))
    source: str = ""

    def __len__(self) -> int:
        return len(self.table)

    def between(self, start, end) -> pd.DataFrame:
        """Flares whose start lies in the half-open interval (start, end]."""
        s = self.table["start"]
        return self.table[(s > pd.Timestamp(start)) & (s <= pd.Timestamp(end))]

    def rejected_summary(self, n_examples: int = 3) -> str:
        """One line: how many rows were rejected and the first examples with reasons."""
        if len(self.rejected) == 0:
            return f"{self.source}: no malformed rows"
        ex = "; ".join(
            f"row {int(r.row)}: {r.reason}" for r in self.rejected.head(n_examples).itertuples()
        )
        return f"{self.source}: {len(self.rejected)} malformed row(s), e.g. {ex}"

    def to_csv(self, path: str | Path) -> None:
        """Write the catalog in the SWAN-SF schema (plus ``region_id`` when present)."""
        t = self.table
        out = pd.DataFrame(
            {
                "start_time": t["start"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                "peak_time": t["peak"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                "end_time": t["end"].dt.strftime("%Y-%m-%d %H:%M:%S"),
                "goes_class": t["goes_class"],
                "fl_lon": t["lon_deg"].round(3),
                "fl_lat": t["lat_deg"].round(3),
                "noaa_active_region": t["noaa_ar"],
            }
        )
        if "region_id" in t:
            out["region_id"] = t["region_id"]

        atomic_write_text(path, out.to_csv(index=False))


def _detect_schema(columns) -> str:
    cols = set(columns)
    for name, mapping in SCHEMAS.items():
        required = {mapping["start"], mapping["goes_class"]}
        if required <= cols:
            return name
    raise CatalogError(
        "unknown catalog schema: columns "
        f"{sorted(cols)} match neither SWAN-SF ({sorted(SCHEMAS['swan'].values())}) "
        f"nor HEK ({sorted(SCHEMAS['hek'].values())})"
    )


#: The longest text a time field can hold (an ISO time with zone and fraction is about 32 characters); longer text
#: is junk, refused before the parser sees it (pandas' parser takes seconds on a megabyte).
MAX_TIME_CHARS = 64


def _short(value, n: int = 60) -> str:
    """``repr(value)`` cut to ``n`` characters, for messages and the rejected-rows table."""
    r = repr(value)
    return r if len(r) <= n else r[: n - 12] + f"... ({len(r)} chars)"


def _parse_time(value) -> pd.Timestamp | None:
    """A time field: None when empty.

    Raises
    ------
    ValueError
        The field holds text that is not a time (or is longer than :data:`MAX_TIME_CHARS`).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    text = str(value).strip()
    if len(text) > MAX_TIME_CHARS:
        raise ValueError("too long to be a time")
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("not a time") from None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _parse_float(value) -> float | None:
    """Float or NaN for empty; None when the text is not a number."""
    if value is None:
        return float("nan")
    s = str(value).strip()
    if s == "" or s.lower() in {"nan", "none", "unk"}:
        return float("nan")
    try:
        return float(s)
    except ValueError:
        return None


def catalog_from_frame(raw: pd.DataFrame, source: str = "", schema: str | None = None) -> FlareCatalog:
    """Validate a raw table in a known schema into a :class:`FlareCatalog`.

    Parameters
    ----------
    raw : pandas.DataFrame
        The table as read, all values as strings or numbers.
    source : str
        Name used in messages.
    schema : {'swan', 'hek'}, optional
        Column schema; detected from the column names when omitted.
    """
    schema = schema or _detect_schema(raw.columns)
    cmap = SCHEMAS[schema]
    good, bad = [], []
    for i, row in enumerate(raw.to_dict("records")):
        get = lambda key, row=row: row.get(cmap[key])  # noqa: E731
        reason = None
        times = {}
        for key in ("start", "peak", "end"):
            try:
                times[key] = _parse_time(get(key)) if key == "start" or cmap[key] in row else None
            except ValueError:
                times[key] = None
                reason = reason or f"unreadable {key} time {_short(get(key))}"  # never silently the start time
        start, peak, end = times["start"], times["peak"], times["end"]
        cls = str(get("goes_class") if get("goes_class") is not None else "").strip()
        lon = _parse_float(get("lon_deg")) if cmap["lon_deg"] in row else float("nan")
        lat = _parse_float(get("lat_deg")) if cmap["lat_deg"] in row else float("nan")
        flux = None
        if reason is not None:
            pass
        elif start is None:
            reason = f"no start time {_short(get('start'))}"
        else:
            try:
                flux = parse_goes_class(cls)
            except GoesClassError as exc:
                reason = str(exc)
        if reason is None and (lon is None or lat is None):
            reason = f"unreadable location lon={get('lon_deg')!r} lat={get('lat_deg')!r}"
        if reason is None and lon is not None and not np.isnan(lon) and not (-180 <= lon <= 180 and -90 <= lat <= 90):
            reason = f"location out of range lon={lon} lat={lat}"
        peak = peak or start
        end = end or peak
        if reason is None and not (start <= peak <= end):
            reason = f"times out of order start={start} peak={peak} end={end}"
        if reason is not None:
            bad.append({"row": i, "reason": reason, **{k: _short(row.get(v)) if len(str(row.get(v))) > 60 else row.get(v)
                                                       for k, v in cmap.items()}})
            continue
        ar = row.get(cmap["noaa_ar"])
        ar_f = _parse_float(ar)
        rec = {
            "start": start,
            "peak": peak,
            "end": end,
            "goes_class": cls.upper().replace(" ", ""),
            "peak_flux_wm2": flux,
            "lon_deg": lon,
            "lat_deg": lat,
            "noaa_ar": int(ar_f) if ar_f is not None and np.isfinite(ar_f) and ar_f > 0 else 0,
        }
        if "region_id" in row:
            rec["region_id"] = int(row["region_id"])
        good.append(rec)
    table = pd.DataFrame(good, columns=COLUMNS + (["region_id"] if "region_id" in raw.columns else []))
    for c in ("start", "peak", "end"):
        table[c] = pd.to_datetime(table[c])
    table = CATALOG.validate(table.sort_values("start", kind="stable").reset_index(drop=True), source or "catalog")
    rejected = pd.DataFrame(bad, columns=["row", "reason", *cmap.keys()])
    return FlareCatalog(table=table, rejected=rejected, source=source)


def read_catalog(path: str | Path, on_bad_rows: str = "raise") -> FlareCatalog:
    """Read a flare catalog CSV in the SWAN-SF or HEK schema.

    Parameters
    ----------
    path : path-like
        CSV file.
    on_bad_rows : {'raise', 'report'}
        ``'raise'`` (default): any malformed row raises :class:`CatalogError`
        naming the file, the count and the first examples. ``'report'``: the
        rows are kept out of the table, listed in ``FlareCatalog.rejected`` and
        a warning gives the same summary.

    Raises
    ------
    CatalogError
        Missing file, unknown schema, or malformed rows with ``on_bad_rows='raise'``.
    """
    path = Path(path)
    if on_bad_rows not in {"raise", "report"}:
        raise InputError(f"on_bad_rows must be 'raise' or 'report', got {on_bad_rows!r}")
    if not path.is_file():
        raise CatalogError(f"{path}: no such catalog file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({exc})") from exc
    try:
        cat = catalog_from_frame(raw, source=str(path))
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from exc
    if len(cat.rejected):
        if on_bad_rows == "raise":
            raise CatalogError(cat.rejected_summary() + " (use on_bad_rows='report' to skip them with a report)")
        warnings.warn(cat.rejected_summary(), stacklevel=2)
    return cat
