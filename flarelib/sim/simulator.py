"""A physical simulator of full-disk HMI line-of-sight magnetograms and GOES flares.

The embedded default data set of the compendium. It simulates the Sun as HMI
and GOES see it, with a ground truth that real data never gives: which active
region produced each flare, and the flare rate of every region at every hour,
hence the best possible forecast (the *oracle*).

Physics, in brief (each knob is a field of :class:`SimConfig`):

* **Observer**: Earth at 1 AU; the B0 angle follows the annual cycle
  (+/-7.25 deg, zero near 6 June and 7 December); solar north up; the disk
  radius and centre in pixels as in Helioviewer's HMI images (196.96 px at
  512 px).
* **Active regions** emerge as a Poisson process over the whole sphere (so
  they also rotate in at the east limb), in the activity belts (5-35 deg),
  as bipoles obeying Hale's polarity law and Joy's tilt law, with log-normal
  total flux, growth over days and decay over weeks, and differential
  rotation (Snodgrass). A flux-dependent fraction are *complex*: an
  opposite-polarity intrusion next to the leading spot (a delta spot) makes
  a sheared, strong-gradient polarity inversion line (PIL).
* **Field**: each polarity is a Gaussian flux concentration on the sphere
  (umbra/penumbra kernel plus a broad plage kernel); the line-of-sight field
  is the radial field times mu = cos(heliocentric angle), evaluated on the
  sphere, so regions are foreshortened and weakened toward the limb. Quiet Sun:
  a mixed-polarity network rotating with the Sun plus instrument noise that
  grows toward the limb.
* **Rendering**: Helioviewer's 8-bit scale (clip +/-250 G, IDL ``bytscl``),
  off-disk 0, the rim anti-aliased as in a wavelet-reduced image.
* **Flares**: each region flares as a Poisson process whose rate grows with
  Schrijver's R (unsigned flux near strong-gradient PILs, computed from the
  overlap of opposite-polarity kernels) and with its total flux; peak fluxes
  follow a power law (index 1.9 by default) from C1.0 up to a cap set by the
  region's flux and R. GOES sees flares from regions up to 10 deg behind the
  limb. The catalog has the real GOES catalog's schema plus ``region_id``;
  labels are made by :func:`flarelib.labels.make_index` from it, never here.
* **Oracle**: p*(t) = 1 - exp(-Lambda(t)), Lambda the expected number of
  >= M1.0 flares seen from Earth in (t, t + 24 h].

Every frame is a pure function of (configuration, frame number): frames can be
made in parallel, resumed, and re-made later for ground-truth masks.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from .._fileio import atomic_write_text
from ..data.labels import LabelConfig, make_index, partition_summary
from ..data.store import StoreWriter, fill_store
from ..errors import InputError
from ..io.catalog import COLUMNS, FlareCatalog
from ..io.geometry import AU_M
from ..io.goes import format_goes_class, parse_goes_class
from ..io.magnetogram import GAUSS_CLIP, MagnetogramMeta
from ..verify.metrics import best_threshold, skill_scores

__all__ = ["SimConfig", "Simulator", "simulate_to_store", "simulate_to_jp2", "b0_annual_deg", "DEFAULT_RADIUS_512"]

#: Disk radius in pixels of a 512 px Helioviewer HMI image (RSUN_OBS / CDELT / 8 near 1 AU).
DEFAULT_RADIUS_512 = 196.96
_MX_PER_G_DEG2 = (6.96e10 * math.pi / 180.0) ** 2  # Mx per (G * deg^2) on the solar surface
_M1 = 1e-5
_C1 = 1e-6


def b0_annual_deg(times) -> np.ndarray:
    """B0 angle (deg) of the Earth's view: +/-7.25 deg, zero near 6 June and 7 December."""
    t = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(times)))
    doy = (t - pd.Timestamp("2000-06-06")).total_seconds().to_numpy() / 86400.0
    return 7.25 * np.sin(2 * np.pi * doy / 365.2422)


def _snodgrass_synodic_deg_day(lat_deg) -> np.ndarray:
    s2 = np.sin(np.radians(lat_deg)) ** 2
    return 14.713 - 2.396 * s2 - 1.787 * s2**2 - 0.9856


@dataclass(frozen=True)
class SimConfig:
    """Configuration of the simulated Sun and its observation.

    Attributes
    ----------
    start, end : str
        Period of the frames (ISO times), inclusive.
    cadence_h : float
        Hours between frames (1).
    size_px : int
        Image width and height (512).
    seed : int
        Random seed: same seed, same bytes.
    activity : float
        Solar-cycle phase as a multiplier of the emergence rate (1 = the
        default, a moderately active Sun like 2011-2015 in the reference data).
    emergence_per_day : float
        Mean number of new active regions per day over the whole sphere at activity 1.
    flux_median_mx, flux_sigma_ln : float
        Log-normal total unsigned flux of a region.
    complex_fraction : float
        Probability that a region of median flux is complex (delta spot);
        larger regions are complex more often.
    flare_rate_per_day : float
        >= C1.0 flares per day of a region with R = R0 and flux = median.
    rate_r_exponent, rate_flux_exponent : float
        Exponents of R/R0 and flux/median in the flare rate.
    max_rate_per_day : float
        The rate saturates at this many >= C1.0 flares per day.
    flare_index : float
        Power-law index of the peak-flux distribution (dN/dF ~ F^-index).
    behind_limb_deg : float
        Flares from up to this far behind the limb are still seen by GOES.
    noise_gauss : float
        Instrument noise at disk centre, in Gauss.
    network_gauss : float
        Typical quiet-Sun network field, in Gauss.
    hale_north_leading : int
        Sign of the leading polarity in the north (-1 for cycle 24, 2008-2019).
    """

    start: str = "2012-01-01T00:00:00"
    end: str = "2012-12-31T23:00:00"
    cadence_h: float = 1.0
    size_px: int = 512
    seed: int = 0
    activity: float = 1.0
    emergence_per_day: float = 0.55
    flux_median_mx: float = 6e21
    flux_sigma_ln: float = 0.75
    complex_fraction: float = 0.22
    flare_rate_per_day: float = 0.0001
    rate_r_exponent: float = 4.0
    rate_flux_exponent: float = 1.5
    max_rate_per_day: float = 30.0
    flare_index: float = 1.9
    behind_limb_deg: float = 10.0
    noise_gauss: float = 3.2
    network_gauss: float = 5.5
    hale_north_leading: int = -1

    def times(self) -> pd.DatetimeIndex:
        return pd.date_range(pd.Timestamp(self.start), pd.Timestamp(self.end), freq=pd.Timedelta(hours=self.cadence_h))

    @property
    def radius_px(self) -> float:
        return DEFAULT_RADIUS_512 * self.size_px / 512.0

    @property
    def center_px(self) -> tuple[float, float]:
        c = (self.size_px - 1) / 2.0
        return (c, c)


@dataclass
class Simulator:
    """A simulated Sun: its regions, flares and frames for one :class:`SimConfig`.

    Build it with ``Simulator(config)``; regions and flares are drawn at once
    (cheap), frames are rendered on demand with :meth:`frame`.
    """

    config: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        cfg = self.config
        self.times = cfg.times()
        if len(self.times) == 0:
            raise InputError(f"empty period {cfg.start} .. {cfg.end}")
        self._t0 = self.times[0]
        self.regions = self._draw_regions()
        self.kernels = self._kernels()
        self._hours = np.arange(self._n_hours() + 48)  # hourly grid for rates and flares
        self.rates_c1 = self._region_rates()  # (n_regions, n_hours) >= C1 flares per hour
        self.flares = self._draw_flares()
        self._network = self._network_map()

    # ------------------------------------------------------------------ regions
    def _n_hours(self) -> int:
        return int(math.ceil((self.times[-1] - self._t0).total_seconds() / 3600.0)) + 1

    def _draw_regions(self) -> pd.DataFrame:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 1])
        lead_days = 60.0  # regions born before the start are still alive at the start
        span = self._n_hours() / 24.0 + 2 + lead_days
        n = rng.poisson(cfg.emergence_per_day * cfg.activity * span)
        t_emerge = rng.uniform(-lead_days, span - lead_days, n)  # days from the first frame
        hemi = rng.choice([-1.0, 1.0], n)
        lat = hemi * np.clip(rng.normal(17.0, 7.0, n), 5.0, 35.0)
        lon0 = rng.uniform(-180.0, 180.0, n)  # Stonyhurst longitude at emergence
        flux = np.minimum(cfg.flux_median_mx * np.exp(rng.normal(0.0, cfg.flux_sigma_ln, n)), 1.5e23)
        f22 = flux / 1e22
        tilt = 0.5 * np.abs(lat) + rng.normal(0.0, 8.0, n)  # Joy's law, degrees
        growth_d = rng.uniform(1.0, 3.0, n) * (1 + 0.5 * np.sqrt(f22))
        plateau_d = rng.uniform(1.0, 4.0, n) * (1 + np.sqrt(f22))
        decay_d = rng.uniform(4.0, 10.0, n) * (1 + np.sqrt(f22))
        p_complex = np.clip(cfg.complex_fraction * (flux / cfg.flux_median_mx) ** 0.7, 0.0, 0.9)
        is_complex = rng.uniform(size=n) < p_complex
        complexity = np.where(is_complex, rng.uniform(0.35, 1.0, n), 0.0)
        # complexity develops some time after emergence (new flux emerging into the region)
        t_complex = t_emerge + np.where(is_complex, rng.uniform(0.3, 1.5, n) * growth_d, np.inf)
        sep_deg = 2.5 + 3.5 * np.sqrt(f22)
        return pd.DataFrame(
            {
                "region_id": np.arange(1, n + 1),
                "t_emerge_d": t_emerge,
                "lat_deg": lat,
                "lon0_deg": lon0,
                "flux_mx": flux,
                "tilt_deg": tilt,
                "growth_d": growth_d,
                "plateau_d": plateau_d,
                "decay_d": decay_d,
                "complexity": complexity,
                "t_complex_d": t_complex,
                "sep_deg": sep_deg,
                "hemisphere": hemi,
                "delta_angle": rng.uniform(0, 2 * np.pi, n),
            }
        )

    def _kernels(self) -> list[dict]:
        """Per region: offsets (deg, in the region's frame), signed flux fractions and widths."""
        cfg = self.config
        out = []
        for r in self.regions.itertuples():
            lead_sign = cfg.hale_north_leading * (1 if r.hemisphere > 0 else -1)
            half = r.sep_deg / 2
            tilt = math.radians(r.tilt_deg)
            # leading spot is westward (+lon) and equatorward by the tilt
            dx, dy = half * math.cos(tilt), -half * math.sin(tilt) * r.hemisphere
            f22 = r.flux_mx / 1e22
            w_spot = 0.62 + 0.46 * math.sqrt(f22)
            krng = np.random.default_rng([cfg.seed, 5, int(r.region_id)])
            ks = [  # (x offset, y offset, signed fraction of the region's flux, sigma deg, complex?)
                (dx, dy, lead_sign * 0.35, w_spot, False),
                (-dx, -dy, -lead_sign * 0.25, w_spot * 1.1, False),
            ]
            # plage: fragmented small flux elements around each polarity (the rest of the flux)
            n_frag = 20
            for cx_, cy_, sign, share in ((dx, dy, lead_sign, 0.65), (-dx, -dy, -lead_sign, 0.75)):
                spread = 1.2 + 0.9 * math.sqrt(f22)
                fx = cx_ + krng.normal(0, spread, n_frag)
                fy = cy_ + krng.normal(0, spread * 0.7, n_frag)
                w = krng.dirichlet(np.ones(n_frag)) * share
                for a_, b_, c_ in zip(fx, fy, w):
                    ks.append((a_, b_, sign * c_, krng.uniform(0.45, 0.8), False))
            if r.complexity > 0:
                # delta spot: opposite polarity pushed against the leading umbra
                d = w_spot * (1.7 - 0.5 * r.complexity)
                ks.append((dx + d * math.cos(r.delta_angle), dy + d * math.sin(r.delta_angle), -lead_sign * 0.9 * r.complexity, w_spot * 1.0, True))
                ks.append((dx - 0.4 * d * math.cos(r.delta_angle), dy - 0.4 * d * math.sin(r.delta_angle), lead_sign * 0.3 * r.complexity, w_spot * 0.7, True))
            out.append({"x": np.array([k[0] for k in ks]), "y": np.array([k[1] for k in ks]), "frac": np.array([k[2] for k in ks]),
                        "sigma": np.array([k[3] for k in ks]), "complex": np.array([k[4] for k in ks])})
        return out

    def region_state(self, hours_from_start) -> dict[str, np.ndarray]:
        """Amplitude (0-1), complexity amplitude, Stonyhurst lon/lat of every region at given hours.

        Returns arrays of shape (n_regions, n_times).
        """
        t_d = np.atleast_1d(np.asarray(hours_from_start, float))[None, :] / 24.0
        R = self.regions
        dt = t_d - R["t_emerge_d"].to_numpy()[:, None]
        alive = dt >= 0
        grow = 1.0 - np.exp(-np.clip(dt, 0, None) / R["growth_d"].to_numpy()[:, None])
        past = np.clip(dt - R["plateau_d"].to_numpy()[:, None] - 2 * R["growth_d"].to_numpy()[:, None], 0, None)
        amp = np.where(alive, grow * np.exp(-past / R["decay_d"].to_numpy()[:, None]), 0.0)
        dtc = t_d - R["t_complex_d"].to_numpy()[:, None]
        camp = np.where(dtc >= 0, 1.0 - np.exp(-np.clip(dtc, 0, None) / 0.7), 0.0)
        lat = np.broadcast_to(R["lat_deg"].to_numpy()[:, None], amp.shape)
        lon = R["lon0_deg"].to_numpy()[:, None] + _snodgrass_synodic_deg_day(lat) * dt
        lon = (lon + 180.0) % 360.0 - 180.0
        return {"amp": amp, "camp": camp, "lon": lon, "lat": lat}

    def schrijver_r(self, amp: np.ndarray, camp: np.ndarray) -> np.ndarray:
        """Schrijver's R (Mx) of every region: flux near strong-gradient PILs, from kernel overlaps.

        For each pair of opposite-polarity kernels i, j with fluxes Phi_i, Phi_j
        at separation s, R += sqrt(Phi_i Phi_j) exp(-s^2 / (sigma_i^2 + sigma_j^2)):
        only concentrations pushed together (a delta spot) give a large R.
        """
        out = np.zeros_like(amp)
        for i, k in enumerate(self.kernels):
            flux = self.regions["flux_mx"].iat[i] / 2.0
            base = 0.0
            comp = 0.0
            n = len(k["x"])
            for a in range(n):
                for b in range(a + 1, n):
                    if k["frac"][a] * k["frac"][b] >= 0:
                        continue
                    s2 = (k["x"][a] - k["x"][b]) ** 2 + (k["y"][a] - k["y"][b]) ** 2
                    w = math.sqrt(abs(k["frac"][a] * k["frac"][b])) * flux * math.exp(-s2 / (k["sigma"][a] ** 2 + k["sigma"][b] ** 2))
                    if k["complex"][a] or k["complex"][b]:
                        comp += w
                    else:
                        base += w
            out[i] = amp[i] * (base + comp * camp[i])
        return out

    def _region_rates(self) -> np.ndarray:
        cfg = self.config
        st = self.region_state(self._hours)
        R = self.schrijver_r(st["amp"], st["camp"])
        flux = self.regions["flux_mx"].to_numpy()[:, None] * st["amp"]
        r0 = 0.1 * cfg.flux_median_mx
        x = cfg.flare_rate_per_day * (R / r0) ** cfg.rate_r_exponent * (flux / cfg.flux_median_mx) ** cfg.rate_flux_exponent
        # saturates at max_rate_per_day: even the most productive regions flare a few times a day
        rate_day = cfg.max_rate_per_day * x / (cfg.max_rate_per_day + x)
        self._state = st
        return rate_day / 24.0

    def flux_cap_wm2(self) -> np.ndarray:
        """Largest possible peak flux (W m^-2) of each region's flares: grows with flux and complexity."""
        f22 = self.regions["flux_mx"].to_numpy() / 1e22
        c = self.regions["complexity"].to_numpy()
        return np.clip(2e-5 * f22 ** 1.5 * (1 + 8 * c), 2e-6, 2e-3)

    def seen_from_earth(self, lon_deg: np.ndarray) -> np.ndarray:
        """Whether GOES sees a flare at this Stonyhurst longitude (up to ``behind_limb_deg`` past the limb)."""
        return np.abs(lon_deg) <= 90.0 + self.config.behind_limb_deg

    def _draw_flares(self) -> pd.DataFrame:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 2])
        counts = rng.poisson(self.rates_c1)
        ri, hi = np.nonzero(counts)
        reps = counts[ri, hi]
        ri, hi = np.repeat(ri, reps), np.repeat(hi, reps)
        a = cfg.flare_index - 1.0
        cap = self.flux_cap_wm2()[ri]
        u = rng.uniform(size=len(ri))
        # inverse CDF of a power law truncated to [C1, cap]
        peak = (_C1 ** -a - u * (_C1 ** -a - cap ** -a)) ** (-1.0 / a)
        start_h = hi + rng.uniform(0, 1, len(ri))
        lon = self._state["lon"][ri, hi]
        lat = self._state["lat"][ri, hi]
        seen = self.seen_from_earth(lon)
        rise = rng.uniform(4, 20, len(ri)) * (1 + np.log10(peak / _C1))
        decay = rise * rng.uniform(1.5, 3.0, len(ri))
        t0 = self._t0
        start = (t0 + pd.to_timedelta(start_h, unit="h")).floor("min")
        df = pd.DataFrame(
            {
                "start": start,
                "peak": (start + pd.to_timedelta(rise, unit="min")).floor("min"),
                "end": (start + pd.to_timedelta(rise + decay, unit="min")).floor("min"),
                "peak_flux_wm2": peak,
                "lon_deg": lon,
                "lat_deg": lat,
                "region_id": self.regions["region_id"].to_numpy()[ri],
            }
        )[seen]

        # the catalog's class is what GOES reports (one decimal); its flux is that class's flux
        df["goes_class"] = [format_goes_class(f) for f in df["peak_flux_wm2"]]
        df["peak_flux_wm2"] = [parse_goes_class(c) for c in df["goes_class"]]
        df["noaa_ar"] = 0
        return df.sort_values("start", kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ catalog and oracle
    def catalog(self):
        """The flares seen from Earth as a :class:`~flarelib.catalog.FlareCatalog` (GOES schema + region_id)."""

        t = self.flares[COLUMNS + ["region_id"]].copy()
        return FlareCatalog(table=t, source=f"simulator(seed={self.config.seed})")

    def _frame_hours(self) -> np.ndarray:
        """Index of every frame time on the hourly grid of rates and region states."""
        return np.round((self.times - self._t0).total_seconds().to_numpy() / 3600.0).astype(int)

    def _on_visible_disk(self, hours: np.ndarray) -> np.ndarray:
        """(n_regions, n_times) whether each region's centre is on the Earth-facing hemisphere."""
        return np.abs(self._state["lon"][:, hours]) <= 90.0

    def oracle(self, window_h: float = 24.0, threshold_wm2: float = _M1) -> pd.DataFrame:
        """The best possible forecasts at every frame time, with and without knowledge of the future.

        Returns
        -------
        pandas.DataFrame
            ``timestamp``;
            ``expected_n``, the expected number of >= threshold flares seen from
            Earth in (t, t + window], from the regions' actual rates over the
            window (including regions that emerge, grow or rotate into view), and
            ``p_oracle`` = 1 - exp(-expected_n): the ceiling of any forecast;
            ``expected_n_present`` and ``p_present``: the same from the rates at t
            of the regions on the visible disk at t, held for the window - the
            ceiling of a forecast made from what the Sun shows at t.
        """
        a = self.config.flare_index - 1.0
        cap = self.flux_cap_wm2()
        frac = np.clip(threshold_wm2 ** -a - cap ** -a, 0, None) / (_C1 ** -a - cap ** -a)
        seen = self.seen_from_earth(self._state["lon"])
        lam = (self.rates_c1 * frac[:, None] * seen).sum(axis=0)  # per hour
        cum = np.concatenate([[0.0], np.cumsum(lam)])
        h = self._frame_hours()
        w = int(round(window_h))
        # flares in hour bin k start in (k, k+1]; window (t, t+w] covers bins h .. h+w-1
        hi = np.minimum(h + w, len(lam))
        expected = cum[hi] - cum[h]
        present = w * (self.rates_c1[:, h] * frac[:, None] * self._on_visible_disk(h)).sum(axis=0)
        return pd.DataFrame({"timestamp": self.times, "expected_n": expected, "p_oracle": 1.0 - np.exp(-expected),
                             "expected_n_present": present, "p_present": 1.0 - np.exp(-present)})

    def disk_scores(self, flux_exponent: float = 4.0) -> pd.DataFrame:
        """Diagnostic scores of the visible disk at every frame time: how much does each property explain?

        ``flux_score`` sums (Phi / 1e22 Mx)^k over the regions on the visible
        disk (Phi their present total unsigned flux, k = ``flux_exponent``): what
        a forecaster that sees each region's size but not its delta spots could
        know. ``flux_complexity_score`` weights each term by 0.05 + its developed
        delta-spot complexity (0-1): the same forecaster seeing the delta spots
        too. Ranking scores, not probabilities: compare them by their TSS at the
        best threshold, like the oracles.
        """
        h = self._frame_hours()
        st = self._state
        flux = self.regions["flux_mx"].to_numpy()[:, None] * st["amp"][:, h] / 1e22
        cplx = (self.regions["complexity"].to_numpy() > 0)[:, None] * st["camp"][:, h]
        term = flux ** flux_exponent * self._on_visible_disk(h)
        return pd.DataFrame({"timestamp": self.times, "flux_score": term.sum(axis=0),
                             "flux_complexity_score": (term * (0.05 + cplx)).sum(axis=0)})

    # ------------------------------------------------------------------ rendering
    def _network_map(self) -> np.ndarray:
        """Quiet-Sun network: a mixed-polarity radial field on a Carrington-like lon/lat grid (G)."""

        rng = np.random.default_rng([self.config.seed, 3])
        grid = rng.standard_normal((360, 720))  # 0.5 deg cells
        sparse = np.where(rng.uniform(size=grid.shape) < 0.08, rng.standard_normal(grid.shape) * 6.0, 0.0)
        net = gaussian_filter(grid, 0.7, mode="wrap") + gaussian_filter(sparse, 0.5, mode="wrap")
        return (net / net.std() * self.config.network_gauss).astype(np.float32)

    @property
    def render_px(self) -> int:
        """Size the field is rendered at: at least 512 px, then averaged down (as a wavelet-reduced JP2)."""
        return max(self.config.size_px, 512) if self.config.size_px < 512 else self.config.size_px

    def _pixel_geometry(self, b0_deg: float, n: int | None = None):
        cfg = self.config
        n = n or cfg.size_px
        c = (n - 1) / 2.0
        R = DEFAULT_RADIUS_512 * n / 512.0
        yy, xx = np.mgrid[:n, :n].astype(np.float64)
        x = (xx - c) / R
        y = -(yy - c) / R
        r2 = x * x + y * y
        on = r2 < 1.0
        z = np.sqrt(np.clip(1.0 - r2, 0.0, None))
        b0 = math.radians(b0_deg)
        # observer frame (x west, y north, z to observer) -> Stonyhurst cartesian (X to lon 0 on equator, Z north)
        X = z * math.cos(b0) - y * math.sin(b0)
        Y = x
        Z = z * math.sin(b0) + y * math.cos(b0)
        dist = np.sqrt(r2) * R
        cover = np.clip(R - dist + 0.5, 0.0, 1.0)  # fraction of the pixel on the disk
        return {"X": X, "Y": Y, "Z": Z, "mu": z * on, "on": on, "cover": cover, "xx": xx, "yy": yy}

    def frame_b0(self, i: int) -> float:
        return float(b0_annual_deg(self.times[i])[0])

    def field(self, i: int, return_regions: bool = False):
        """Line-of-sight field (G, float32) of frame ``i`` at :attr:`render_px`; optionally per-region B_r maps for masks."""
        cfg = self.config
        t = self.times[i]
        hours = (t - self._t0).total_seconds() / 3600.0
        b0 = self.frame_b0(i)
        n = self.render_px
        g = self._pixel_geometry(b0, n)
        st = self.region_state([hours])
        R = DEFAULT_RADIUS_512 * n / 512.0
        centre = (n - 1) / 2.0
        br = np.zeros((n, n), np.float64)
        region_maps = {}
        rng = np.random.default_rng([cfg.seed, 4, i])
        for k_i, (amp, camp, lon, lat) in enumerate(zip(st["amp"][:, 0], st["camp"][:, 0], st["lon"][:, 0], st["lat"][:, 0])):
            if amp < 0.02 or abs(lon) > 100:
                continue
            k = self.kernels[k_i]
            flux = self.regions["flux_mx"].iat[k_i] * amp / 2.0
            local = np.zeros((n, n), np.float64) if return_regions else None
            for x_off, y_off, frac, sig, is_c in zip(k["x"], k["y"], k["frac"], k["sigma"], k["complex"]):
                weight = frac * (camp if is_c else 1.0)
                if weight == 0:
                    continue
                klat = lat + y_off
                klon = lon + x_off / max(math.cos(math.radians(lat)), 0.2)
                peak_g = weight * flux / (2 * math.pi * sig**2 * _MX_PER_G_DEG2)
                cl, sl = math.cos(math.radians(klat)), math.sin(math.radians(klat))
                kv = (cl * math.cos(math.radians(klon)), cl * math.sin(math.radians(klon)), sl)
                # bounding box in pixels around the kernel's projection
                ox = R * kv[1]
                oy = R * (kv[2] * math.cos(math.radians(b0)) - kv[0] * math.sin(math.radians(b0)))
                oz = kv[2] * math.sin(math.radians(b0)) + kv[0] * math.cos(math.radians(b0))
                if oz < -0.35:
                    continue
                half = int(4 * math.radians(sig) * R) + 2
                cx, cy = int(centre + ox), int(centre - oy)
                x0, x1 = max(cx - half, 0), min(cx + half + 1, n)
                y0, y1 = max(cy - half, 0), min(cy + half + 1, n)
                if x0 >= x1 or y0 >= y1:
                    continue
                sl_ = (slice(y0, y1), slice(x0, x1))
                d2 = (g["X"][sl_] - kv[0]) ** 2 + (g["Y"][sl_] - kv[1]) ** 2 + (g["Z"][sl_] - kv[2]) ** 2
                contrib = peak_g * np.exp(-d2 / (2 * math.radians(sig) ** 2))
                br[sl_] += contrib
                if local is not None:
                    local[sl_] += contrib
            if local is not None:
                region_maps[int(self.regions["region_id"].iat[k_i])] = local
        # quiet-Sun network, co-rotating with the photosphere: a pixel at Stonyhurst longitude L and latitude b
        # shows the network cell that was at L - omega(b) t at the start (omega: Snodgrass & Ulrich 1990, synodic),
        # so the pattern moves west (+x) with the regions
        lat_pix = np.degrees(np.arcsin(np.clip(g["Z"], -1, 1)))
        lon_pix = np.degrees(np.arctan2(g["Y"], g["X"])) - _snodgrass_synodic_deg_day(lat_pix) * hours / 24.0
        li = ((lon_pix % 360.0) * 2).astype(np.int32) % 720
        bi = np.clip(((lat_pix + 90.0) * 2).astype(np.int32), 0, 359)
        br += self._network[bi, li]
        mu = g["mu"]
        blos = br * mu
        noise = cfg.noise_gauss * (1.0 + 1.5 * (1.0 - mu) ** 2)
        blos += rng.standard_normal((n, n)) * noise
        blos = np.where(g["on"] | (g["cover"] > 0), blos, np.nan)
        if return_regions:
            return blos.astype(np.float32), g, region_maps
        return blos.astype(np.float32), g

    def _factor(self) -> int:
        return self.render_px // self.config.size_px

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as an 8-bit Helioviewer-style image (uint8, north up, off-disk 0)."""
        blos, g = self.field(i)
        f = self._factor()
        if f > 1:
            n = self.config.size_px
            with np.errstate(invalid="ignore"):

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    blos = np.nanmean(blos.reshape(n, f, n, f), axis=(1, 3))
            g = self._pixel_geometry(self.frame_b0(i), n)
        return render_uint8(blos, g["cover"])

    def region_masks(self, i: int, threshold_gauss: float = 40.0) -> np.ndarray:
        """Label image of frame ``i`` at the output size.

        Each pixel holds the id of the visible region whose absolute radial field
        exceeds the threshold and dominates there, else 0.
        """
        _, g, maps = self.field(i, return_regions=True)
        n = self.render_px
        best = np.zeros((n, n), np.float64)
        lab = np.zeros((n, n), np.int32)
        for rid, m in maps.items():
            a = np.abs(m)
            take = (a > threshold_gauss) & (a > best) & g["on"]
            lab[take] = rid
            best[take] = a[take]
        f = self._factor()
        if f > 1:
            out = self.config.size_px
            low = np.zeros((out, out), np.int32)
            share = np.zeros((out, out))
            for rid in np.unique(lab[lab > 0]):
                frac = (lab == rid).reshape(out, f, out, f).mean(axis=(1, 3))
                take = (frac >= 0.25) & (frac > share)
                low[take] = rid
                share[take] = frac[take]
            lab = low
        return lab

    def region_table(self) -> pd.DataFrame:
        """Per-region parameters (the ground truth behind the flares)."""
        t = self.regions.copy()
        t["flare_cap_wm2"] = self.flux_cap_wm2()
        t["emerge_time"] = self._t0 + pd.to_timedelta(t["t_emerge_d"], unit="D")
        return t


def render_uint8(blos_gauss: np.ndarray, cover: np.ndarray, clip_gauss: float = GAUSS_CLIP) -> np.ndarray:
    """Helioviewer's IDL ``bytscl`` of a field clipped to +/-clip, times the pixel's disk coverage."""
    b = np.nan_to_num(blos_gauss, nan=0.0)
    v = np.floor(255.9999 * (np.clip(b, -clip_gauss, clip_gauss) + clip_gauss) / (2 * clip_gauss))
    v = v * cover
    return np.clip(np.round(v), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- outputs
def _render_chunk(args):
    cfg_dict, idx = args
    sim = _cached_sim(json.dumps(cfg_dict, sort_keys=True))
    disk = (*sim.config.center_px, sim.config.radius_px)
    return [(i, sim.frame(i), disk, None) for i in idx]


_SIM_CACHE: dict[str, Simulator] = {}


def _cached_sim(key: str) -> Simulator:
    if key not in _SIM_CACHE:
        _SIM_CACHE.clear()
        _SIM_CACHE[key] = Simulator(SimConfig(**json.loads(key)))
    return _SIM_CACHE[key]


def _frame_index(sim: Simulator):

    index, report = make_index(sim.times, sim.catalog(), LabelConfig(cadence_h=sim.config.cadence_h))
    index["path"] = [f"sim/{t:%Y/%m/%d}/{t:%Y_%m_%d__%H_%M_%S}_000__SIM_HMI_magnetogram.jp2" for t in index["timestamp"]]
    return index, report


def simulate_to_store(config: SimConfig, out: str | Path, workers: int | None = None, progress: bool = True,
                      overwrite: bool = False) -> Path:
    """Simulate frames straight into an image store, with catalog, regions, oracle and a report.

    Writes into ``out``: the store (``images.u8``, ``index.csv``, ``store.json``),
    ``catalog.csv`` (GOES schema + region_id), ``regions.csv``, ``oracle.csv``
    and ``report.json`` (FL:NF ratio, counts per partition, oracle skill).
    Resumes an interrupted run; same configuration, same bytes. A folder that
    holds a simulation of another configuration (seed, period, size ...) is
    refused unless ``overwrite``: two runs are never mixed.
    """
    out = Path(out)
    sim = Simulator(config)
    index, label_report = _frame_index(sim)
    writer = StoreWriter(out, index, config.size_px, {"source": "simulator", "simulator": asdict(config)},
                         inputs={"simulator": asdict(config)}, overwrite=overwrite)
    todo = writer.todo()
    chunk = 16
    jobs = [(asdict(config), todo[s : s + chunk].tolist()) for s in range(0, len(todo), chunk)]
    fill_store(writer, _render_chunk, jobs, workers=workers, desc="simulate", progress=progress, checkpoint_every=4)
    sim.catalog().to_csv(out / "catalog.csv")
    reg = sim.region_table()
    atomic_write_text(out / "regions.csv", reg.to_csv(index=False))
    oracle = sim.oracle()
    atomic_write_text(out / "oracle.csv", oracle.to_csv(index=False))
    report = simulation_report(sim, index, oracle)
    report["labels"] = label_report
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    return writer.finish()


def simulation_report(sim: Simulator, index: pd.DataFrame, oracle: pd.DataFrame) -> dict:
    """FL:NF ratio, counts per partition and the oracle's skill on the indexed instants."""

    y = index["target"].to_numpy()
    o = oracle.set_index("timestamp").loc[index["timestamp"]]
    p = o["p_oracle"].to_numpy()
    best = best_threshold(y, p)  # NaN skill when the period has no flare instance (nothing to forecast)
    present = best_threshold(y, o["p_present"].to_numpy())
    fl, nf = int(y.sum()), int((1 - y).sum())
    flares = sim.flares
    letters = flares["goes_class"].astype(str).str[0] if len(flares) else pd.Series([], dtype=str)
    return {
        "n_frames": int(len(index)),
        "FL": fl,
        "NF": nf,
        "nf_per_fl": nf / fl if fl else None,
        "partitions": partition_summary(index)["partitions"],
        "n_regions": int(len(sim.regions)),
        "n_flares": {c: int((letters == c).sum()) for c in "CMX"},
        "oracle": {
            "threshold": best["threshold"],
            "tss": best["tss"],
            "hss": best["hss"],
            "at_0.5": skill_scores(y, p >= 0.5),
            "at_climatology": skill_scores(y, p >= y.mean()) if len(y) else None,
        },
        "oracle_present": {"threshold": present["threshold"], "tss": present["tss"], "hss": present["hss"]},
    }


def simulate_to_jp2(config: SimConfig, out: str | Path, progress: bool = True) -> pd.DataFrame:
    """Write frames as Helioviewer-style JP2 files (with a FITS-like XML header) plus ``catalog.csv``.

    The files go to ``out/YYYY/MM/DD/`` with Helioviewer's naming; they read
    with :func:`flarelib.magnetogram.read_magnetogram` like real ones, so the
    real ingest path (labels make -> prepare) can be exercised end to end.
    """
    import glymur
    from lxml import etree as ET

    out = Path(out)
    sim = Simulator(config)
    rows = []
    for i, t in enumerate(tqdm(sim.times, desc="simulate jp2", unit="frame", disable=not progress)):
        rel = Path(f"{t:%Y/%m/%d}") / f"{t:%Y_%m_%d__%H_%M_%S}_000__SDO_HMI_HMI_magnetogram.jp2"
        path = out / rel
        rows.append({"time": t, "path": str(rel)})
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        img = sim.frame(i)
        tmp = path.with_name("." + path.name)
        jp2 = glymur.Jp2k(str(tmp), data=img, numres=min(6, int(math.log2(config.size_px)) - 2))
        root = ET.Element("meta")
        fits = ET.SubElement(root, "fits")
        hdr = _fits_header(config, t, sim.frame_b0(i))
        for k, v in hdr.items():
            ET.SubElement(fits, k).text = str(v)
        hv = ET.SubElement(root, "helioviewer")
        ET.SubElement(hv, "HV_ROTATION").text = "0.0"
        ET.SubElement(hv, "HV_COMMENT").text = "simulated by flarelib.simulator"
        jp2.append(glymur.jp2box.XMLBox(xml=ET.ElementTree(root)))
        os.replace(tmp, path)
    sim.catalog().to_csv(out / "catalog.csv")
    return pd.DataFrame(rows)


def _fits_header(config: SimConfig, t: pd.Timestamp, b0: float) -> dict:
    n = config.size_px
    rsun_arcsec = 945.0
    cdelt = rsun_arcsec / config.radius_px
    return {
        "NAXIS1": n,
        "NAXIS2": n,
        "DATE-OBS": t.strftime("%Y-%m-%dT%H:%M:%S.000"),
        "TELESCOP": "SIM",
        "INSTRUME": "HMI-SIM",
        "CONTENT": "MAGNETOGRAM",
        "BUNIT": "Gauss",
        "CRPIX1": (n + 1) / 2.0,
        "CRPIX2": (n + 1) / 2.0,
        "CDELT1": cdelt,
        "CDELT2": cdelt,
        "RSUN_OBS": rsun_arcsec,
        "DSUN_OBS": AU_M,
        "CRLT_OBS": round(b0, 5),
        "CRLN_OBS": 0.0,
        "SIM_SEED": config.seed,
    }


def largest_flare_regions(catalog: pd.DataFrame, timestamps, window_h: float = 24.0) -> np.ndarray:
    """Region id of the largest flare starting in (t, t + window] for each t (0 when none).

    ``catalog`` is a simulator catalog table (columns ``start``, ``peak_flux_wm2``, ``region_id``).
    """
    starts = pd.to_datetime(catalog["start"]).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    flux = catalog["peak_flux_wm2"].to_numpy(float)[order]
    rid = catalog["region_id"].to_numpy(int)[order]
    t = pd.to_datetime(pd.Series(timestamps)).to_numpy(dtype="datetime64[ns]")
    lo = np.searchsorted(starts, t, side="right")
    hi = np.searchsorted(starts, t + np.timedelta64(int(window_h * 3600e9), "ns"), side="right")
    return np.array([rid[a + int(np.argmax(flux[a:b]))] if b > a else 0 for a, b in zip(lo, hi)])


def simulator_of_store(store_manifest: dict) -> Simulator:
    """Re-create the simulator that made a store (for ground-truth region masks)."""
    if store_manifest.get("source") != "simulator":
        raise InputError("not a simulated store: no ground truth")
    return Simulator(SimConfig(**store_manifest["simulator"]))


def simulated_meta(sim: Simulator, i: int):
    """Header-like metadata of simulated frame ``i`` (for coordinate conversions through sunpy)."""

    cfg = sim.config
    hdr = _fits_header(cfg, sim.times[i], sim.frame_b0(i))
    return MagnetogramMeta(path=f"simulated frame {i}", date_obs=sim.times[i].to_pydatetime(), instrument="SIM/HMI-SIM",
                           product="MAGNETOGRAM", naxis=cfg.size_px, crpix1=hdr["CRPIX1"], crpix2=hdr["CRPIX2"],
                           cdelt_arcsec=hdr["CDELT1"], rsun_arcsec=hdr["RSUN_OBS"], b0_deg=hdr["CRLT_OBS"], l0_deg=0.0,
                           dsun_m=hdr["DSUN_OBS"], rotation_deg=0.0, size_px=cfg.size_px, disk_center_px=cfg.center_px,
                           disk_radius_px=cfg.radius_px)
