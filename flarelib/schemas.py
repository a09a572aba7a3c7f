"""Declared schemas of the tables that cross stages: the label index, the flare catalog, prediction files.

Each :class:`TableSchema` names its columns, their kind and whether they may be
empty, and the allowed values where they are bounded. :meth:`TableSchema.validate`
is called by every reader and writer of the table, so a bad file is refused at
the door with one message naming the file, the column, the first offending row
and the problem, instead of failing (or silently scoring) later.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["Column", "TableSchema", "INDEX", "CATALOG", "PREDICTIONS"]


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` in {'time', 'int', 'float', 'str'}, whether it may be empty, and bounds or allowed values."""

    name: str
    kind: str
    nullable: bool = False
    values: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    """A table's declared columns (extra columns are allowed and kept)."""

    name: str
    columns: tuple
    unique: tuple = ()
    doc: str = ""
    #: columns checked (and coerced) only where a table has them
    optional: tuple = ()
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def validate(self, df: pd.DataFrame, source: str = "table") -> pd.DataFrame:
        """Check and coerce ``df`` in place of a copy; returns it.

        Raises
        ------
        InputError
            Missing columns, values of the wrong kind, empty where not allowed, out of bounds, or duplicates in a unique column.
        """
        missing = [c for c in self.names if c not in df.columns]
        if missing:
            raise InputError(f"{source}: not a {self.name} table, missing columns {missing}")
        out = df.copy()
        for c in self.columns + tuple(c for c in self.optional if c.name in out.columns):
            out[c.name] = self._coerce(out[c.name], c, source)
        for u in self.unique:
            dup = out[u].duplicated(keep=False)
            if dup.any():
                i = int(np.flatnonzero(dup.to_numpy())[0])
                raise InputError(f"{source}: column {u}: {int(dup.sum())} rows share a value (first at row {i + 1}: {out[u].iloc[i]!s})")
        return out

    @staticmethod
    def _coerce(s: pd.Series, c: Column, source: str) -> pd.Series:
        empty = s.isna() | (s.astype(str).str.strip() == "")
        if c.kind == "time":
            v = pd.to_datetime(s.where(~empty), errors="coerce", format="mixed")
        elif c.kind in ("int", "float"):
            v = pd.to_numeric(s.where(~empty), errors="coerce")
        else:
            v = s.where(~empty, "").astype(str)
        bad = v.isna() & ~empty if c.kind != "str" else pd.Series(False, index=s.index)
        problem = "not a " + {"time": "time", "int": "whole number", "float": "number", "str": "text"}[c.kind]
        if not c.nullable:
            bad |= empty
            problem = problem if not empty.any() else f"empty or {problem}"
        if c.values is not None:
            out_of = ~empty & ~v.isin(c.values)
            bad |= out_of
            problem = f"not one of {list(c.values)}" if out_of.any() else problem
        if c.lo is not None or c.hi is not None:
            num = pd.to_numeric(v, errors="coerce")
            oob = ~empty & ((num < (c.lo if c.lo is not None else -np.inf)) | (num > (c.hi if c.hi is not None else np.inf)))
            bad |= oob.fillna(False)
            problem = f"outside [{c.lo}, {c.hi}]" if oob.any() else problem
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{source}: column {c.name}: {int(bad.sum())} value(s) {problem} (first at row {i + 1}: {s.iloc[i]!r})")
        if c.kind == "int" and not c.nullable:
            return v.astype(np.int64)
        if c.kind == "float":
            return v.astype(float)
        return v


INDEX = TableSchema("label index", (
    Column("timestamp", "time", doc="forecast issue time, UTC"),
    Column("path", "str", nullable=True, doc="image file, relative to the archive root (empty without images)"),
    Column("partition", "int", values=(1, 2, 3, 4), doc="tri-monthly partition: 1 Jan-Mar ... 4 Oct-Dec"),
    Column("target", "int", values=(0, 1), doc="1 when a flare >= the threshold starts in the window"),
    Column("max_class", "str", nullable=True, doc="GOES class of the window's largest flare, empty for none"),
    Column("peak_flux_wm2", "float", nullable=True, lo=0.0, doc="its peak 1-8 A flux, W m^-2"),
    Column("fl_lon", "float", nullable=True, lo=-180.0, hi=180.0, doc="its Stonyhurst longitude, deg"),
    Column("fl_lat", "float", nullable=True, lo=-90.0, hi=90.0, doc="its Stonyhurst latitude, deg"),
    Column("n_flares", "int", lo=0, doc="flares starting in the window"),
    Column("flares", "str", doc="their GOES classes, largest first (JSON list)"),
), unique=("timestamp",), doc="one row per forecast instant: the hand-over from labels to the store")

CATALOG = TableSchema("flare catalog", (
    Column("start", "time"), Column("peak", "time", nullable=True), Column("end", "time", nullable=True),
    Column("goes_class", "str"), Column("peak_flux_wm2", "float", lo=0.0),
    Column("lon_deg", "float", nullable=True, lo=-180.0, hi=180.0), Column("lat_deg", "float", nullable=True, lo=-90.0, hi=90.0),
    Column("noaa_ar", "int", lo=0, doc="NOAA active region number, 0 when unknown"),
), doc="GOES flares, normalised from the SWAN-SF or HEK schema")

PREDICTIONS = TableSchema("prediction", (
    Column("timestamp", "time"),
    Column("flare_prob", "float", lo=0.0, hi=1.0, doc="forecast probability of the event"),
    Column("target", "int", values=(0, 1)),
), unique=("timestamp",), doc="validation predictions (the published schema; ours add the window's class and location)",
    optional=(Column("max_class", "str", nullable=True), Column("fl_lon", "float", nullable=True, lo=-180.0, hi=180.0),
              Column("fl_lat", "float", nullable=True, lo=-90.0, hi=90.0), Column("partition", "int", nullable=True, values=(1, 2, 3, 4))))
