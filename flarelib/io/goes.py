"""GOES soft X-ray flare classes.

A GOES class is a letter (A, B, C, M, X) and a multiplier: the 1-8 A peak
flux in W m^-2 is ``multiplier * 10**exponent(letter)``, with A = 1e-8 ...
X = 1e-4. X-class flares above X9.9 are written with a larger multiplier
(``X10``, ``X28``).
"""
from __future__ import annotations

import math
import re

from ..errors import GoesClassError

__all__ = ["CLASS_EXPONENT", "parse_goes_class", "format_goes_class", "goes_letter", "M1_FLUX_WM2"]

#: Base-10 exponent of the 1-8 A peak flux (W m^-2) of each class letter.
CLASS_EXPONENT: dict[str, int] = {"A": -8, "B": -7, "C": -6, "M": -5, "X": -4}

#: Peak flux of an M1.0 flare, the operational threshold, in W m^-2.
M1_FLUX_WM2 = 1e-5

_CLASS_RE = re.compile(r"^\s*([ABCMX])\s*(\d+(?:\.\d*)?|\.\d+)?\s*$", re.IGNORECASE)


def parse_goes_class(text: str) -> float:
    """Peak 1-8 A X-ray flux in W m^-2 of a GOES class string.

    Parameters
    ----------
    text : str
        A class such as ``'M1.0'``, ``'x9.3'``, ``'X10'``, ``' c 2.5 '``.
        A bare letter (``'M'``) means multiplier 1.

    Returns
    -------
    float
        The peak flux in W m^-2 (``'M1.0'`` -> ``1e-5``).

    Raises
    ------
    GoesClassError
        For an empty string, an unknown letter (``'Z1'``), a negative or zero
        multiplier (``'M-1'``, ``'M0'``) or anything that is not a class (``'MX'``).
    """
    if not isinstance(text, str):
        raise GoesClassError(f"GOES class must be a string, got {type(text).__name__}: {text!r}")
    m = _CLASS_RE.match(text)
    if m is None:
        raise GoesClassError(f"not a GOES class: {text!r} (expected a letter A/B/C/M/X and a multiplier, e.g. 'M1.0')")
    letter, mult = m.group(1).upper(), m.group(2)
    value = float(mult) if mult is not None else 1.0
    if not value > 0 or not math.isfinite(value):
        raise GoesClassError(f"not a GOES class: {text!r} (multiplier must be positive)")
    return value * 10.0 ** CLASS_EXPONENT[letter]


def format_goes_class(flux_wm2: float, digits: int = 1) -> str:
    """GOES class string of a peak flux in W m^-2 (``1.2e-5`` -> ``'M1.2'``).

    Fluxes of X10 and above keep the letter X with a multiplier >= 10.

    Raises
    ------
    GoesClassError
        For a flux that is not positive and finite, or below A1.0.
    """
    if not (isinstance(flux_wm2, (int, float)) and math.isfinite(flux_wm2) and flux_wm2 > 0):
        raise GoesClassError(f"flux must be positive and finite, got {flux_wm2!r}")
    letters = ("A", "B", "C", "M", "X")
    if flux_wm2 < 10.0 ** CLASS_EXPONENT["A"] * (1 - 0.5 * 10.0**-digits):
        raise GoesClassError(f"flux {flux_wm2!r} W/m^2 is below A1.0")
    k = max(i for i, L in enumerate(letters) if i == 0 or flux_wm2 >= 10.0 ** CLASS_EXPONENT[L] * (1 - 1e-9))
    mult = round(flux_wm2 / 10.0 ** CLASS_EXPONENT[letters[k]], digits)
    if mult >= 10.0 and letters[k] != "X":  # 9.99e-6 rounds to M1.0, not C10.0
        k, mult = k + 1, round(mult / 10.0, digits)
    return f"{letters[k]}{max(mult, 1.0):.{digits}f}"


def goes_letter(flux_wm2: float) -> str:
    """Class letter (A, B, C, M or X) of a peak flux in W m^-2; '' for NaN (no flare)."""
    if flux_wm2 is None or not math.isfinite(flux_wm2):
        return ""
    return format_goes_class(flux_wm2)[0]
