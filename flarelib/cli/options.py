"""Command-line options generated from configuration dataclasses, so flags and notebook parameters cannot drift apart."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import types
import typing

import numpy as np
import pandas as pd

__all__ = ["add_dataclass_options", "dataclass_overrides", "json_ready", "json_text"]


def _base_type(tp):
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def add_dataclass_options(parser: argparse.ArgumentParser, cls, skip=(), help_prefix: str = "") -> None:
    """One ``--field-name`` option per scalar field of ``cls`` (default ``None``: the profile's value is kept)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        if tp not in (int, float, str, bool):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f"{help_prefix}{f.name} (profile default; {cls.__name__} default {default!r})"
        if tp is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(flag, dest=f.name, type=tp, default=None, metavar=f.name.upper(), help=text)


def dataclass_overrides(args: argparse.Namespace, cls, skip=()) -> dict:
    """The fields of ``cls`` given on the command line (not ``None``)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}


def int_in(lo: int, hi: int | None = None):
    """An argparse type: a whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {lo} to {hi if hi is not None else 'any'}")
        return v
    return parse


def float_in(lo: float, hi: float | None = None, lo_open: bool = False):
    """An argparse type: a finite number in [lo, hi] (or (lo, hi] when ``lo_open``)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if v != v or v in (float("inf"), float("-inf")) or v < lo or (lo_open and v == lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{text} is outside {'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}]")
        return v
    return parse


def json_ready(obj):
    """``obj`` with every number JSON can carry: non-finite floats as null (bare NaN is not JSON), NumPy scalars as
    Python numbers, tuples as lists, other objects as their text."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    return str(obj)


def json_text(obj) -> str:
    """Valid JSON of ``obj`` (:func:`json_ready`), indented."""
    return json.dumps(json_ready(obj), indent=2, allow_nan=False)


def timestamp(text: str) -> str:
    """An argparse type: a date or time pandas can read (returned as given)."""
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (e.g. 2012-01-01 or 2012-01-01T12:00)") from None
    return text


#: Image sizes a user may ask for, in pixels.
SIZE_PX = int_in(16, 4096)
