"""The active-region population: when and where regions emerge, how they grow, decay and rotate.

A region is a bipole on the sphere (Hale's polarity law, Joy's tilt law),
emerging at a rate and latitude set by the solar cycle
(:mod:`flarelib.sim.cycle`), with a log-normal total unsigned flux, growth
over days and decay over weeks, and differential rotation
(:func:`~flarelib.sim.observer.synodic_rotation_deg_day`). A flux-dependent
fraction of the *productive* regions (:mod:`flarelib.sim.cycle`) become
*complex*: some time after emergence an opposite-polarity umbra is pushed
against the leading umbra (a delta spot), which makes a strong-gradient
polarity inversion line; the delta spot lasts days (``delta_life_days``,
uniform within +/- 50 %), then dissolves over a day.

The field of a region is a set of Gaussian flux kernels in the region's own
frame (offsets in heliographic degrees): a compact umbra and a wider
penumbra per spot, fragmented plage around each polarity, and for complex
regions the delta intrusion. :meth:`RegionPopulation.state` gives, for any
hours, every region's amplitude, the amplitude of its delta spot and its
Stonyhurst position, as a :class:`RegionState` - a pure function of its
arguments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cycle import CYCLES, SPORER_SPREAD_DEG, cycle_activity, decimal_year, sporer_latitude_deg
from .observer import synodic_rotation_deg_day

__all__ = ["PopulationParams", "RegionPopulation", "RegionState", "MX_PER_G_DEG2", "LIFE_EFOLDS", "peak_field_gauss"]

#: Mx per (G deg^2) on the solar surface: (R_sun in cm * pi / 180)^2, R_sun = 6.96e10 cm.
MX_PER_G_DEG2 = (6.96e10 * math.pi / 180.0) ** 2
#: A region is gone after this many e-folding times of its decay (amplitude < 1 %).
LIFE_EFOLDS = 4.6
#: Regions born up to this many days before the first frame are still alive at it.
LEAD_DAYS = 90.0
#: Distance of a delta spot's intruding umbra from the leading umbra (deg): first + second * (1 - complexity), i.e.
#: 0.33-0.55 deg (4-7 Mm) for complexities 1-0.35, less than the 2 deg of the delta-spot definition.
DELTA_SEPARATION_DEG = (0.33, 0.34)
#: Largest total unsigned flux of a region (Mx): the largest regions of cycles 23-24 held ~1e23 Mx.
MAX_FLUX_MX = 1.5e23


@dataclass(frozen=True)
class PopulationParams:
    """Parameters of the region population (the simulator's :class:`~flarelib.sim.simulator.SimConfig` fills them).

    ``emergence_per_day``: new regions per day over the whole sphere at the
    cycle's maximum (activity 1) times ``activity``; ``productive_share``: the
    share of the emergence in productive regions
    (:meth:`~flarelib.sim.cycle.SolarCycle.activity`); ``flux_median_mx`` and
    ``flux_sigma_ln``: the log-normal total flux; ``complex_fraction``: the
    chance that a productive region of median flux develops a delta spot
    (growing with flux as (flux / median)^0.7, at most 0.9);
    ``delta_life_days``: how long a delta spot lasts, on average.
    """

    seed: int
    activity: float
    emergence_per_day: float
    flux_median_mx: float
    flux_sigma_ln: float
    complex_fraction: float
    delta_life_days: float
    productive_share: float


@dataclass(frozen=True)
class RegionState:
    """Every region at some hours: arrays of shape (n_regions, n_times).

    ``amp``: the fraction of the region's flux that has emerged and not yet
    decayed (0-1); ``camp``: how far its delta spot has developed (0-1; it
    grows in over about a day and dissolves after its lifetime);
    ``lon``, ``lat``: Stonyhurst position of its centre (deg).
    """

    amp: np.ndarray
    camp: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def peak_field_gauss(flux_mx, sigma_deg):
    """Peak radial field (G) of a Gaussian flux concentration of total flux ``flux_mx`` (Mx) and width ``sigma_deg``."""
    return flux_mx / (2 * math.pi * sigma_deg**2 * MX_PER_G_DEG2)


def _umbra_sigma_deg(f22):
    """Gaussian width (deg) of a spot's umbra: 0.135 deg (1.6 Mm) for a 1e22 Mx region, growing slowly with flux."""
    return 0.10 + 0.035 * np.sqrt(f22)


def _penumbra_sigma_deg(f22):
    """Width (deg) of a spot with its penumbra and moat: 0.7 deg for a 1e21 Mx region, 1.1 deg for 1e22 Mx, 3 deg for
    the largest (1.5e23 Mx)."""
    return 0.62 + 0.46 * f22**0.6


class RegionPopulation:
    """All regions alive in a period: their parameters (``table``) and flux kernels (``kernels``).

    Parameters
    ----------
    params : PopulationParams
    t0 : pandas.Timestamp
        The first frame: times are counted in hours (and days) from it.
    span_h : float
        Hours from ``t0`` to the last instant that needs regions.
    """

    def __init__(self, params: PopulationParams, t0: pd.Timestamp, span_h: float):
        self.params = params
        self.t0 = pd.Timestamp(t0)
        self.table = self._draw(span_h)
        self.kernels = [self._kernels(r) for r in self.table.itertuples()]

    # ------------------------------------------------------------------ drawing
    def emergence_rate_per_day(self, days_from_t0: np.ndarray) -> np.ndarray:
        """Expected new regions per day at these days, per cycle, hemisphere and population: shape (n_days, n_cycles,
        2, 2) (:meth:`~flarelib.sim.cycle.SolarCycle.activity`)."""
        times = self.t0 + pd.to_timedelta(np.asarray(days_from_t0, float), unit="D")
        return self.params.emergence_per_day * self.params.activity * cycle_activity(times, self.params.productive_share)

    def _draw(self, span_h: float) -> pd.DataFrame:
        p = self.params
        rng = np.random.default_rng([p.seed, 1])
        days = np.arange(-LEAD_DAYS, span_h / 24.0 + 2.0)
        counts = rng.poisson(self.emergence_rate_per_day(days + 0.5))  # (n_days, n_cycles, 2 hemispheres, 2 populations)
        di, ci, hi, pi = np.nonzero(counts)
        reps = counts[di, ci, hi, pi]
        di, ci, hi, pi = (np.repeat(v, reps) for v in (di, ci, hi, pi))
        n = len(di)
        t_emerge = days[di] + rng.uniform(0, 1, n)
        cycles = [CYCLES[j] for j in ci]
        months = 12.0 * (decimal_year(self.t0 + pd.to_timedelta(t_emerge, unit="D")) - np.array([c.minimum_year for c in cycles]))
        hemi = np.where(hi == 0, 1.0, -1.0)
        lat = hemi * np.clip(rng.normal(sporer_latitude_deg(months), SPORER_SPREAD_DEG), 2.0, 45.0)
        lon0 = rng.uniform(-180.0, 180.0, n)  # Stonyhurst longitude at emergence
        flux = np.minimum(p.flux_median_mx * np.exp(rng.normal(0.0, p.flux_sigma_ln, n)), MAX_FLUX_MX)
        f22 = flux / 1e22
        tilt = 0.5 * np.abs(lat) + rng.normal(0.0, 8.0, n)  # Joy's law: tilt ~ lat / 2 (Hale et al. 1919), +/- 8 deg scatter
        growth_d = rng.uniform(1.0, 3.0, n) * (1 + 0.5 * np.sqrt(f22))
        plateau_d = rng.uniform(1.0, 4.0, n) * (1 + np.sqrt(f22))
        decay_d = rng.uniform(4.0, 10.0, n) * (1 + np.sqrt(f22))
        productive = pi == 1  # only productive regions develop delta spots
        p_complex = np.where(productive, np.clip(p.complex_fraction * (flux / p.flux_median_mx) ** 0.7, 0.0, 0.9), 0.0)
        is_complex = rng.uniform(size=n) < p_complex
        complexity = np.where(is_complex, rng.uniform(0.35, 1.0, n), 0.0)
        # complexity develops some time after emergence (new flux emerging into the region)
        t_complex = t_emerge + np.where(is_complex, rng.uniform(0.3, 1.5, n) * growth_d, np.inf)
        delta_angle = rng.uniform(0, 2 * np.pi, n)
        delta_life = np.random.default_rng([p.seed, 7]).uniform(0.5, 1.5, n) * p.delta_life_days  # a stream of its own
        order = np.argsort(t_emerge, kind="stable")
        north = np.array([c.north_leading for c in cycles], float)
        t = pd.DataFrame({
            "t_emerge_d": t_emerge, "cycle": [c.number for c in cycles], "lat_deg": lat, "lon0_deg": lon0, "flux_mx": flux,
            "tilt_deg": tilt, "growth_d": growth_d, "plateau_d": plateau_d, "decay_d": decay_d, "complexity": complexity,
            "t_complex_d": t_complex, "sep_deg": 2.5 + 3.5 * np.sqrt(f22), "hemisphere": hemi, "productive": productive,
            "delta_life_d": delta_life,
            "lead_sign": north * hemi, "delta_angle": delta_angle,
        }).iloc[order].reset_index(drop=True)
        t["t_end_d"] = t["t_emerge_d"] + 2 * t["growth_d"] + t["plateau_d"] + LIFE_EFOLDS * t["decay_d"]
        t.insert(0, "region_id", np.arange(1, n + 1))
        return t

    def _kernels(self, r) -> dict:
        """Offsets (deg, region frame: x west, y north), signed flux fractions, widths (deg), delta flags."""
        lead = r.lead_sign
        half = r.sep_deg / 2
        tilt = math.radians(r.tilt_deg)
        # the leading spot is westward (+x) and equatorward by the tilt
        dx, dy = half * math.cos(tilt), -half * math.sin(tilt) * r.hemisphere
        f22 = r.flux_mx / 1e22
        w_u, w_p = float(_umbra_sigma_deg(f22)), float(_penumbra_sigma_deg(f22))
        krng = np.random.default_rng([self.params.seed, 5, int(r.region_id)])
        # flux shares of the umbrae and penumbrae, calibrated so that a simulated year's frames saturate (|B| >= 250 G at
        # 512 px) as the real JP2 does, within a factor of 2 in area and blob count (tests)
        lead_u, lead_p, follow_u, follow_p = 0.045, 0.2, 0.025, 0.15
        ks = [  # (x, y, signed fraction of the region's flux per polarity, sigma deg, delta?)
            (dx, dy, lead * lead_u, w_u, False), (dx, dy, lead * lead_p, w_p, False),  # leading umbra, penumbra
            (-dx, -dy, -lead * follow_u, w_u * 1.1, False), (-dx, -dy, -lead * follow_p, w_p * 1.1, False),  # following
        ]
        # plage: the rest of each polarity's flux in small elements (2-4e20 Mx, 0.45-0.8 deg) spread over an area that
        # grows with the flux, so that plage stays at 100-150 G whatever the region's size (real plage: 100-200 G)
        n_frag = int(round(20 * max(f22, 1.0) ** 0.7))
        for cx_, cy_, sign, share in ((dx, dy, lead, 1 - lead_u - lead_p), (-dx, -dy, -lead, 1 - follow_u - follow_p)):
            spread = 1.2 + 0.9 * f22**0.75
            fx = cx_ + krng.normal(0, spread, n_frag)
            fy = cy_ + krng.normal(0, spread * 0.7, n_frag)
            w = krng.dirichlet(np.ones(n_frag)) * share
            ks += [(a_, b_, sign * c_, krng.uniform(0.45, 0.8), False) for a_, b_, c_ in zip(fx, fy, w)]
        if r.complexity > 0:
            # delta spot: an opposite-polarity umbra in contact with the leading umbra, inside a common penumbra (the
            # definition of a delta spot: umbrae of opposite polarity within 2 deg; Künzel 1960), closer and stronger
            # as the complexity grows: 4-7 Mm apart, a kilogauss umbra with its own penumbra
            d = DELTA_SEPARATION_DEG[0] + DELTA_SEPARATION_DEG[1] * (1.0 - r.complexity)
            ca, sa = math.cos(r.delta_angle), math.sin(r.delta_angle)
            ux, uy = dx + d * ca, dy + d * sa
            ks.append((ux, uy, -lead * 0.10 * r.complexity, w_u * 1.2, True))  # intruding umbra
            ks.append((ux + 0.5 * d * ca, uy + 0.5 * d * sa, -lead * 0.3 * r.complexity, w_p, True))  # its penumbra
            ks.append((dx - 0.4 * d * ca, dy - 0.4 * d * sa, lead * 0.15 * r.complexity, w_p * 0.7, True))  # new same-sign flux
        a = np.array(ks, dtype=object)
        return {"x": a[:, 0].astype(float), "y": a[:, 1].astype(float), "frac": a[:, 2].astype(float),
                "sigma": a[:, 3].astype(float), "delta": a[:, 4].astype(bool)}

    # ------------------------------------------------------------------ state
    def __len__(self) -> int:
        return len(self.table)

    def alive_rows(self, h_lo: float, h_hi: float) -> np.ndarray:
        """Rows of the regions alive at some time in [h_lo, h_hi] (hours from t0)."""
        t = self.table
        return np.flatnonzero((t["t_emerge_d"].to_numpy() * 24 <= h_hi) & (t["t_end_d"].to_numpy() * 24 >= h_lo))

    def iter_states(self, hours, chunk: int):
        """The regions alive over consecutive chunks of ``hours`` (ascending) and their state, so that memory does not
        grow with the period: yields (chunk number, slice of ``hours``, rows, :class:`RegionState` of those rows)."""
        hours = np.asarray(hours)
        for k, s in enumerate(range(0, len(hours), chunk)):
            h = hours[s:s + chunk]
            rows = self.alive_rows(h[0], h[-1] + 1)
            yield k, slice(s, s + len(h)), rows, self.state(h, rows)

    def state(self, hours, rows=None) -> RegionState:
        """The :class:`RegionState` of the regions ``rows`` (default all) at ``hours`` from t0."""
        t = self.table if rows is None else self.table.iloc[np.asarray(rows)]
        col = lambda c: t[c].to_numpy()[:, None]  # noqa: E731
        t_d = np.atleast_1d(np.asarray(hours, float))[None, :] / 24.0
        dt = t_d - col("t_emerge_d")
        alive = (dt >= 0) & (t_d <= col("t_end_d"))
        grow = 1.0 - np.exp(-np.clip(dt, 0, None) / col("growth_d"))
        past = np.clip(dt - col("plateau_d") - 2 * col("growth_d"), 0, None)
        amp = np.where(alive, grow * np.exp(-past / col("decay_d")), 0.0)
        dtc = t_d - col("t_complex_d")
        camp = np.where(alive & (dtc >= 0), (1.0 - np.exp(-np.clip(dtc, 0, None) / 0.7))
                        * np.exp(-np.clip(dtc - col("delta_life_d"), 0, None) / 1.0), 0.0)
        lat = np.broadcast_to(col("lat_deg"), amp.shape)
        lon = (col("lon0_deg") + synodic_rotation_deg_day(lat) * dt + 180.0) % 360.0 - 180.0
        return RegionState(amp=amp, camp=camp, lon=lon, lat=lat)

    def region_table(self) -> pd.DataFrame:
        """Per-region parameters with their emergence time."""
        t = self.table.copy()
        t["emerge_time"] = self.t0 + pd.to_timedelta(t["t_emerge_d"], unit="D")
        return t
