"""The solar cycle: how many active regions emerge, where, and how productive of flares, at any date.

Activity profiles follow Hathaway, Wilson & Reichmann (1994),

    F(t) = a t^3 / (exp(t^2 / b^2) - c),   t in months since the profile's start, c = 0.71.

Regions emerge in two populations (:meth:`SolarCycle.activity`):

* *ordinary* regions follow one profile for the whole Sun, split evenly
  between the hemispheres, and never develop delta spots;
* *productive* regions, which may develop delta spots, follow each
  hemisphere's flare productivity. Cycle 24 was double-peaked because its
  hemispheres were out of phase: the north peaked first (2011-2012), the
  south two years later (2014), as hemispheric sunspot numbers show
  (Svalgaard & Kamide 2013; WDC-SILSO's hemispheric series). The reference
  study's published labels show it too: the largest flare of a positive
  window lies in the north in 75 % of 2011's positive instants and in the
  south in 77 % of 2014's.

For cycle 24 the whole-Sun profile is fitted (:func:`fit_cycle_profile`) to
the quarterly fraction of flare-positive instants (a >= M1.0 flare within
24 h) in those labels, 2010-12 to 2018-12, and the hemispheres' profiles
(:func:`fit_hemispheric_profiles`) to the same fraction and its split by the
hemisphere of each window's largest flare; a test re-fits them all. One
profile for the whole Sun peaks in 2013 and misses 2014 by 0.09; the two
hemispheres follow every year within 0.05. The price: the fitted productive
south starts only in 2012.9 and the north ends in 2015, where the real Sun
had flaring regions in both hemispheres from 2011 to 2017 (the south made
60 % of 2012's positive instants) - the ordinary population keeps regions
in both hemispheres throughout (a test), and ``productive_share`` (the
simulator's configuration) sets the mix. The profiles' Gaussian tails also
end cycle 24 too early: simulated 2017 has a tenth of the real record's
flare-positive instants. Activity is in units of the whole-Sun profile's
maximum (2013.5).

Cycles 22, 23 and 25, for dates outside the record, have cycle 24's
whole-Sun shape from their minima, scaled by their smoothed maximum sunspot
numbers (WDC-SILSO, version 2, Royal Observatory of Belgium) relative to
cycle 24's 116.4, with productive regions in both hemispheres alike: rough,
and marked so.

Active regions of a cycle emerge at latitudes that drift toward the equator
(Spörer's law) as Hathaway (2011) measured it: the centroid of the sunspot
zones is at 28 deg exp(-t / 90 months), t from the cycle's minimum. The
leading polarity follows Hale's law and alternates from cycle to cycle
(negative in the north for cycle 24).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize_scalar

__all__ = ["Profile", "SolarCycle", "CYCLES", "cycle_activity", "sporer_latitude_deg", "positive_fractions",
           "fit_cycle_profile", "fit_hemispheric_profiles", "HATHAWAY_C", "YEAR_D"]

#: Shape constant of the Hathaway, Wilson & Reichmann (1994) profile.
HATHAWAY_C = 0.71
#: Days in a (tropical) year; a month is a twelfth of it.
YEAR_D = 365.2422
#: Spörer's law (Hathaway 2011): centroid latitude of emergence at a cycle's minimum (deg) and its e-folding time (months).
SPORER_START_DEG, SPORER_EFOLD_MONTHS = 28.0, 90.0
#: Spread of the emergence latitudes about the centroid (deg): about half the width of a butterfly wing.
SPORER_SPREAD_DEG = 6.0
#: Cycle 24's minimum (SILSO) and its whole-Sun profile fitted to the published labels (:func:`fit_cycle_profile`:
#: t0 2009.716, b 41.42 months, peak lambda 0.3095 - the unit of activity); other cycles take its shape.
CYCLE24_MINIMUM_YEAR = 2008.96
CYCLE24_SPOTS_T0_YEAR, CYCLE24_SPOTS_B_MONTHS = 2009.716, 41.42
#: Weight of the north/south split against the whole-Sun fraction in :func:`fit_hemispheric_profiles`.
SPLIT_WEIGHT = 0.5


@dataclass(frozen=True)
class Profile:
    """A Hathaway profile: start (decimal year), width ``b`` (months) and peak ``amplitude``."""

    start_year: float
    b_months: float
    amplitude: float

    def __call__(self, years) -> np.ndarray:
        """The profile at decimal years."""
        return self.amplitude * _unit_profile(12.0 * (np.asarray(years, float) - self.start_year), self.b_months)


@dataclass(frozen=True)
class SolarCycle:
    """One cycle: its number; its minimum (decimal year; Spörer's law counts from it); ``spots``, the whole Sun's
    emergence activity (1 at cycle 24's maximum; the hemispheres share it); the sign of the northern leading polarity
    (Hale's law); and, where the flare record gives them, ``productivity``: each hemisphere's flare productivity in
    the same units (north, south)."""

    number: int
    minimum_year: float
    spots: Profile
    north_leading: int
    productivity: tuple[Profile, Profile] | None = None

    def activity(self, years, productive_share: float) -> np.ndarray:
        """Emergence activity at decimal years: shape (..., 2, 2), hemispheres (north, south) by populations
        (ordinary, productive).

        ``1 - productive_share`` of the whole-Sun profile emerges as ordinary
        regions, split evenly between the hemispheres; productive regions emerge
        at ``productive_share`` times each hemisphere's productivity where the
        flare record gives it (cycle 24), else at that share of half the
        whole-Sun profile.
        """
        years = np.asarray(years, float)
        half = 0.5 * self.spots(years)
        productive = [p(years) for p in self.productivity] if self.productivity is not None else [half, half]
        m = productive_share
        return np.stack([np.stack([(1 - m) * half, m * q], axis=-1) for q in productive], axis=-2)

    @classmethod
    def scaled(cls, number: int, minimum_year: float, max_sunspot_number: float, north_leading: int) -> SolarCycle:
        """A cycle of cycle 24's whole-Sun shape from its minimum, scaled by its maximum sunspot number against cycle
        24's; its productive regions emerge in both hemispheres alike."""
        lag = CYCLE24_SPOTS_T0_YEAR - CYCLE24_MINIMUM_YEAR
        return cls(number, minimum_year, Profile(minimum_year + lag, CYCLE24_SPOTS_B_MONTHS, max_sunspot_number / 116.4),
                   north_leading)


#: Cycle 24 fitted to the published labels: the whole-Sun profile (the unit) and the hemispheres'
#: (:func:`fit_hemispheric_profiles`: peak lambdas 0.2384 and 0.3855 over 0.3095). The others scaled from their minima
#: (SILSO: 1986.7, 1996.6, 2019.96) by their smoothed maxima (212.5, 180.3, 160.9; cycle 24: 116.4).
CYCLES = (
    SolarCycle.scaled(22, 1986.7, 212.5, -1),
    SolarCycle.scaled(23, 1996.6, 180.3, +1),
    SolarCycle(24, CYCLE24_MINIMUM_YEAR, Profile(CYCLE24_SPOTS_T0_YEAR, CYCLE24_SPOTS_B_MONTHS, 1.0), -1,
               (Profile(2010.323, 19.93, 0.7703), Profile(2012.881, 17.61, 1.2456))),
    SolarCycle.scaled(25, 2019.96, 160.9, +1),
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


def cycle_activity(times, productive_share: float, cycles=CYCLES) -> np.ndarray:
    """Emergence activity of each cycle at each time (1 at the maximum of cycle 24's whole-Sun profile), per
    hemisphere and population (:meth:`SolarCycle.activity`): shape (n_times, n_cycles, 2, 2)."""
    y = decimal_year(times)
    return np.stack([c.activity(y, productive_share) for c in cycles], axis=1)


def sporer_latitude_deg(months_since_minimum) -> np.ndarray:
    """Centroid latitude (deg, unsigned) of the regions a cycle emerges ``months_since_minimum`` after its minimum."""
    return SPORER_START_DEG * np.exp(-np.clip(np.asarray(months_since_minimum, float), 0, None) / SPORER_EFOLD_MONTHS)


def positive_fractions(timestamps, target, latitude_deg=None, period: str = "Q") -> pd.DataFrame:
    """Share of flare-positive instants per period (``total``) and, given the latitude of each window's largest flare,
    its northern and southern parts (``north``: latitude > 0, ``south``: the rest); indexed by period, in order."""
    t = pd.to_datetime(pd.Series(timestamps)).reset_index(drop=True)
    pos = pd.Series(np.asarray(target, float))
    per = t.dt.to_period(period)
    out = {"total": pos}
    if latitude_deg is not None:
        lat = pd.Series(np.asarray(latitude_deg, float))
        out.update(north=pos * (lat > 0), south=pos * (lat <= 0))
    return pd.DataFrame(out).groupby(per).mean().sort_index()


def _period_grid(periods: pd.PeriodIndex) -> np.ndarray:
    """Per period, 60 decimal years spread evenly through it."""
    starts = decimal_year(periods.to_timestamp(how="start"))
    ends = decimal_year(periods.to_timestamp(how="end"))
    return starts[:, None] + (ends - starts)[:, None] * (np.arange(60) + 0.5)[None, :] / 60.0


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
    fractions = positive_fractions(timestamps, target, period=period)
    grid = _period_grid(fractions.index)
    frac = fractions["total"].to_numpy()

    def resid(p):
        return (1 - np.exp(-_hathaway(12.0 * (grid - p[0]), p[1] * 1e-6, p[2]))).mean(axis=1) - frac

    lo = float(decimal_year(pd.to_datetime(pd.Series(timestamps)).min())[0])
    fit = least_squares(resid, [lo - 1.5, 5.0, 45.0], bounds=([lo - 15, 0, 10], [lo + 5, 1e4, 200]))
    return _profile_summary(*fit.x)


def _profile_summary(t0: float, a: float, b: float) -> dict:
    return {"t0_year": float(t0), "a": float(a * 1e-6), "b_months": float(b), "peak_year": float(t0 + b * _u_peak() / 12),
            "peak_lambda": float(_hathaway(b * _u_peak(), a * 1e-6, b))}


def fit_hemispheric_profiles(timestamps, target, latitude_deg, period: str = "Q", split_weight: float = SPLIT_WEIGHT) -> dict:
    """Fit one Hathaway profile per hemisphere to a record of binary targets and the latitude of each window's largest
    flare (the published labels' ``target`` and ``fl_lat``).

    With lambda_N, lambda_S the hemispheres' profiles (Poisson rates per day
    window), a period's expected fraction of positive instants is the mean over
    its days of 1 - exp(-(lambda_N + lambda_S)), and the share of it whose
    largest flare is northern is lambda_N / (lambda_N + lambda_S). The six
    parameters are least-squares fits of the whole-Sun fraction per period and,
    weighted by ``split_weight``, of its northern and southern parts (latitude >
    0 and <= 0), from a few starting points.

    Returns
    -------
    dict
        ``north`` and ``south``: each ``t0_year``, ``a``, ``b_months``, ``peak_year``, ``peak_lambda``.
    """
    fractions = positive_fractions(timestamps, target, latitude_deg, period)
    grid = _period_grid(fractions.index)
    frac, north, south = (fractions[c].to_numpy() for c in ("total", "north", "south"))

    def rates(p):
        return _hathaway(12.0 * (grid - p[0]), p[1] * 1e-6, p[2]), _hathaway(12.0 * (grid - p[3]), p[4] * 1e-6, p[5])

    def resid(p):
        ln, ls = rates(p)
        total = ln + ls
        pr = 1 - np.exp(-total)
        share = np.divide(ln, total, out=np.full_like(total, 0.5), where=total > 0)
        return np.concatenate([pr.mean(axis=1) - frac, split_weight * ((pr * share).mean(axis=1) - north),
                               split_weight * ((pr * (1 - share)).mean(axis=1) - south)])

    lo = float(decimal_year(pd.to_datetime(pd.Series(timestamps)).min())[0])
    bounds = ([lo - 15, 0, 8] * 2, [lo + 5, 1e5, 200] * 2)
    fits = [least_squares(resid, [lo + dn, 5.0, b, lo + ds, 5.0, b], bounds=bounds)
            for dn in (-3.0, -2.0, -1.0) for ds in (-1.0, 0.0, 1.0) for b in (20.0, 40.0)]
    best = min(fits, key=lambda f: f.cost).x
    return {"north": _profile_summary(*best[:3]), "south": _profile_summary(*best[3:])}
