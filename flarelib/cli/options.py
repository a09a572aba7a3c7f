"""Command-line options generated from configuration dataclasses, so flags and notebook parameters cannot drift apart."""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing

__all__ = ["add_dataclass_options", "dataclass_overrides"]


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
