"""The solar cycle: how many active regions emerge, and where, at any date.

Each cycle's activity follows the profile of Hathaway, Wilson & Reichmann (1994),

    F(t) = a t^3 / (exp(t^2 / b^2) - c),   t in months since the cycle's start, c = 0.71.

For cycle 24, ``t0`` and ``b`` are fitted (:func:`fit_cycle_profile`) to the
quarterly fraction of flare-positive instants (a >= M1.0 flare within 24 h) in
the reference study's published labels, 2010-12 to 2018-12 — the record the
simulator must imitate; a test re-fits them. The activity is that profile
normalised to 1 at its maximum (2013.5). Cycles 22, 23 and 25, for dates
outside the record, have the same shape, shifted by the dates of their
minima and scaled by their smoothed maximum sunspot numbers (WDC-SILSO,
version 2, Royal Observatory of Belgium) relative to cycle 24's 116.4: rough,
and marked so.

Active regions of a cycle emerge at latitudes that drift toward the equator
(Spörer's law) as Hathaway (2011) measured it: the centroid of the sunspot
zones is at 28 deg exp(-t / 90 months), t from the cycle's start. The leading
polarity follows Hale's law and alternates from cycle to cycle (negative in
the north for cycle 24).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize_scalar

__all__ = ["SolarCycle", "CYCLES", "cycle_activity", "sporer_latitude_deg", "fit_cycle_profile", "HATHAWAY_C", "YEAR_D"]

#: Shape constant of the Hathaway, Wilson & Reichmann (1994) profile.
HATHAWAY_C = 0.71
#: Days in a (tropical) year; a month is a twelfth of it.
YEAR_D = 365.2422
#: Spörer's law (Hathaway 2011): centroid latitude of emergence at a cycle's start (deg) and its e-folding time (months).
SPORER_START_DEG, SPORER_EFOLD_MONTHS = 28.0, 90.0
#: Spread of the emergence latitudes about the centroid (deg): about half the width of a butterfly wing.
SPORER_SPREAD_DEG = 6.0


@dataclass(frozen=True)
class SolarCycle:
    """One cycle's activity profile: start (decimal year), width ``b`` (months), amplitude relative to cycle 24."""

    number: int
    start_year: float
    b_months: float
    amplitude: float
    north_leading: int  # sign of the leading polarity of the northern hemisphere (Hale's law)

    def profile(self, years: np.ndarray) -> np.ndarray:
        """Activity of this cycle at decimal years (1 at cycle 24's maximum)."""
        return self.amplitude * _unit_profile(12.0 * (np.asarray(years, float) - self.start_year), self.b_months)


#: Cycle 24 fitted to the published labels (t0 2009.716, b 41.42 months: see the module docstring); the others shifted by
#: their minima (SILSO: 1986.7, 1996.6, 2008.96, 2019.96) and scaled by their maxima (212.5, 180.3, 116.4, 160.9).
CYCLES = (
    SolarCycle(22, 1987.46, 41.42, 212.5 / 116.4, -1),
    SolarCycle(23, 1997.36, 41.42, 180.3 / 116.4, +1),
    SolarCycle(24, 2009.716, 41.42, 1.0, -1),
    SolarCycle(25, 2020.72, 41.42, 160.9 / 116.4, +1),
)


@cache
def _u_peak() -> float:
    """Where u^3 / (exp(u^2) - c) peaks (about 1.08): a profile's maximum is at t = b u_peak."""
    res = minimize_scalar(lambda u: -(u**3) / (math.exp(u * u) - HATHAWAY_C), bounds=(0.1, 3.0), method="bounded",
                          options={"xatol": 1e-9})
    return float(res.x)


def _hathaway(months: np.ndarray, a: float, b: float) -> np.ndarray:
    m = np.clip(np.asarray(months, float), 0.0, None)
    with np.errstate(over="ignore"):
        return np.where(m > 0, a * m**3 / (np.exp((m / b) ** 2) - HATHAWAY_C), 0.0)


def _unit_profile(months: np.ndarray, b: float) -> np.ndarray:
    """The Hathaway profile of width ``b`` normalised to 1 at its maximum."""
    u = _u_peak()
    return _hathaway(months, 1.0, b) / (b**3 * u**3 / (math.exp(u * u) - HATHAWAY_C))


def decimal_year(times) -> np.ndarray:
    t = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(times)))
    return 2000.0 + (t - pd.Timestamp("2000-01-01")).total_seconds().to_numpy() / 86400.0 / YEAR_D


def cycle_activity(times, cycles=CYCLES) -> np.ndarray:
    """Activity of each cycle at each time, 1 at cycle 24's maximum: shape (n_times, n_cycles)."""
    y = decimal_year(times)
    return np.stack([c.profile(y) for c in cycles], axis=1)


def sporer_latitude_deg(months_since_start) -> np.ndarray:
    """Centroid latitude (deg, unsigned) of the regions a cycle emerges ``months_since_start`` after its start."""
    return SPORER_START_DEG * np.exp(-np.clip(np.asarray(months_since_start, float), 0, None) / SPORER_EFOLD_MONTHS)


def fit_cycle_profile(timestamps, target, period: str = "Q") -> dict:
    """Fit one Hathaway profile to a record of binary targets (e.g. the published labels' ``target``).

    The expected fraction of positive instants in a period is the mean over its
    days of 1 - exp(-lambda(t)), lambda = the profile (a Poisson rate per day
    window); start ``t0`` (decimal year), amplitude ``a`` and width ``b`` (months)
    are least-squares fits of the fractions per period (quarters by default).

    Returns
    -------
    dict
        ``t0_year``, ``a``, ``b_months``, ``peak_year``, ``peak_lambda``.
    """
    t = pd.to_datetime(pd.Series(timestamps)).reset_index(drop=True)
    y = pd.Series(np.asarray(target, float))
    per = t.dt.to_period(period)
    frac = y.groupby(per).mean()
    starts = decimal_year(frac.index.to_timestamp(how="start"))
    ends = decimal_year(frac.index.to_timestamp(how="end"))
    grid = starts[:, None] + (ends - starts)[:, None] * (np.arange(60) + 0.5)[None, :] / 60.0

    def resid(p):
        return (1 - np.exp(-_hathaway(12.0 * (grid - p[0]), p[1] * 1e-6, p[2]))).mean(axis=1) - frac.to_numpy()

    lo = float(decimal_year(t.min())[0])
    fit = least_squares(resid, [lo - 1.5, 5.0, 45.0], bounds=([lo - 15, 0, 10], [lo + 5, 1e4, 200]))
    t0, a, b = fit.x
    return {"t0_year": float(t0), "a": float(a * 1e-6), "b_months": float(b), "peak_year": float(t0 + b * _u_peak() / 12),
            "peak_lambda": float(_hathaway(b * _u_peak(), a * 1e-6, b))}
