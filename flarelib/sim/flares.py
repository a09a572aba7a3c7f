"""The flare process: each region's flare rate from what its magnetogram shows, the flares, the oracle.

A region flares as a Poisson process whose rate (>= C1.0 flares per day)
grows with two quantities a magnetogram at the paper's 512 px shows:

    rate = r0 (Phi / Phi_med)^a (1 + R / R0)^b,   saturating at ``max_rate_per_day``,

where Phi is the region's present total unsigned flux and R Schrijver's
(2007) measure of the flux near strong-field, high-gradient polarity
inversion lines (PILs): pixels of each polarity with |B| >= 150 G, dilated
by 3 x 3 pixels, overlap on the PIL; R sums |B| weighted by that PIL map
spread by a 15 Mm Gaussian. R is measured on the region's own field rendered
on pixels of a 512 px full-disk image (0.29 deg, 3.5 Mm at disk centre),
each pixel the mean of the field over it (:func:`pil_flux_table`,
tabulated over the region's growth and delta-spot development): structure the
paper's input cannot resolve does not count, and a test checks the table
against R measured on rendered 512 px frames. Simple bipoles almost never
have such PILs at 512 px; delta spots (opposite umbrae 4-7 Mm apart) do.

The flux exponent ``a`` = 1.2 follows Fisher et al. (1998), whose
active-region X-ray luminosity grows as Phi^1.19. R0, the PIL exponent ``b``
= 1.8 and the base rate are calibrated, not taken from the literature: with
them the simulated 2011-2018 reproduces the real record's 24-hour persistence
skill (TSS 0.42 on the published labels) and its share of flare-positive
instants. Measured on 12 seeds: b = 1.4 gives persistence TSS 0.32 and too
few positive instants, b = 2.2 gives 0.49 and too many. Delta spots last
days (``delta_life_days``; Künzel 1960, Zirin & Liggett 1987), so about 10 %
of the visible region-days show one, yet most (about three quarters) of the
>= M flares start during one: the rest come from large regions' flux.

Peak fluxes follow a power law dN/dF ~ F^-alpha from C1.0 up to a cap that
grows with the region's flux and delta spot; alpha = 1.75 (GOES peak-flux
distributions have alpha of 1.7-2.1: Hudson 1991, Veronig et al. 2002,
Aschwanden & Freeland 2012) with the caps gives an X:M ratio near the real
record's (45 X and 689 M distinct flares in the published labels, 2010-12 to
2018, counted by :func:`flarelib.data.labels.distinct_published_flares`). GOES
sees flares from regions up to 10 deg behind the limb.

The oracle is p*(t) = 1 - exp(-Lambda(t)), Lambda the expected number of
>= M1.0 flares seen from Earth in (t, t + 24 h]. Everything is computed over
the regions alive in chunks of ``CHUNK_H`` hours, so memory does not grow with
the length of the period.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter, maximum_filter, minimum_filter
from scipy.signal import lfilter
from scipy.special import erf

from ..io.goes import format_goes_class, parse_goes_class
from .population import RegionPopulation, RegionState, peak_field_gauss

__all__ = ["FlareParams", "FlareProcess", "C1_WM2", "M1_WM2", "PIXEL_512_DEG", "CHUNK_H", "patch_fields", "schrijver_r_of_amplitude",
           "pil_flux_table", "interpolate_r"]

C1_WM2, M1_WM2 = 1e-6, 1e-5
#: Size of one pixel of a 512 px full-disk image at disk centre, heliographic degrees (180 / pi / 196.96 px).
PIXEL_512_DEG = 180.0 / math.pi / 196.96
#: Hours of region states computed at once (and the unit of the flare draws' random streams).
CHUNK_H = 24 * 30
#: Flare cap of a region of 1e22 Mx without a delta spot (W m^-2; M1.0 needs about 1.4e22 Mx), its growth with flux
#: (exponent) and with a fully developed delta spot (gain): most regions never make an M flare, big and delta ones do.
CAP_WM2, CAP_FLUX_EXPONENT, CAP_DELTA_GAIN = 5e-6, 2.0, 10.0


@dataclass(frozen=True)
class FlareParams:
    """Parameters of the flare process (filled from :class:`~flarelib.sim.simulator.SimConfig`)."""

    seed: int
    flux_median_mx: float
    flare_rate_per_day: float
    rate_flux_exponent: float
    rate_r_exponent: float
    r0_mx: float
    max_rate_per_day: float
    flare_index: float
    behind_limb_deg: float
    episode_sigma_ln: float = 0.0
    episode_days: float = 1.0


#: Schrijver (2007): a pixel is strong-field above this |B| (G); the strong-field PIL map (3 x 3 dilations of both
#: polarities overlapping) is spread by a normalised Gaussian of this FWHM (Mm) and R sums |B| over it.
SCHRIJVER_THRESHOLD_G, SCHRIJVER_FWHM_MM = 150.0, 15.0
#: Megametres per heliographic degree on the surface (R_sun = 696 Mm).
MM_PER_DEG = 696.0 * math.pi / 180.0
#: The developed delta-spot fractions at which R is tabulated (linear in between).
CAMP_NODES = np.linspace(0.0, 1.0, 5)
#: The amplitudes (fraction of the region's flux present) at which R is tabulated (linear in between).
AMP_NODES = np.linspace(0.0, 1.0, 41)


def patch_fields(kernels: dict, half_flux_mx: float, pixel_deg: float, phase=(0.5, 0.5)) -> tuple[np.ndarray, np.ndarray]:
    """A region's radial field (G) at full amplitude on a flat patch of pixels ``pixel_deg`` wide, each pixel the mean
    of the field over it (as a reduced image's pixel is): (without, the delta spot's part).

    The patch is the region's own frame at disk centre (x west, y north, deg);
    ``phase`` places the pixel grid (fractions of a pixel) relative to the
    region's centre. Gaussian kernels integrate over a pixel exactly
    (differences of error functions), and are separable, so the patch is a
    product of two small matrices.
    """
    x, y, sig = kernels["x"], kernels["y"], kernels["sigma"]
    peak = peak_field_gauss(half_flux_mx * kernels["frac"], sig)  # G

    def edges(c):
        lo, hi = np.min(c - 4 * sig), np.max(c + 4 * sig)
        return (np.arange(math.floor(lo / pixel_deg) - 1, math.ceil(hi / pixel_deg) + 2) + 0.5 - np.asarray(phase)[0]) * pixel_deg

    def mean_over_pixels(c, e):  # (n_pixels, n_kernels): the 1-D Gaussian's mean over each pixel
        z = (e[:, None] - c[None, :]) / (math.sqrt(2) * sig[None, :])
        return np.diff(erf(z), axis=0) * (sig * math.sqrt(math.pi / 2))[None, :] / pixel_deg

    gx = mean_over_pixels(x, edges(x))
    ex = edges(y) + (phase[0] - phase[1]) * pixel_deg  # edges() places the grid by phase[0]; the y grid by phase[1]
    gy = mean_over_pixels(y, ex)
    d = kernels["delta"]
    base = gy[:, ~d] @ (peak[~d, None] * gx[:, ~d].T)
    delta = gy[:, d] @ (peak[d, None] * gx[:, d].T) if d.any() else np.zeros_like(base)
    return base[::-1], delta[::-1]  # rows north up


def schrijver_r_of_amplitude(field_g: np.ndarray, pixel_deg: float, amps: np.ndarray = AMP_NODES) -> np.ndarray:
    """Schrijver's (2007) R (Mx) of the field ``amp * field_g`` for each ``amp`` in ``amps``, on pixels ``pixel_deg``
    wide.

    Strong-field pixels of each polarity (|B| >= 150 G), each mask dilated by
    3 x 3 pixels; their overlap is the strong-gradient PIL map; R is the sum of
    |B| times that map convolved with a normalised Gaussian of FWHM 15 Mm,
    times the pixel area. The PIL map at amplitude a is where min(max3x3 B,
    -min3x3 B) >= 150 G / a, and the Gaussian is symmetric, so
    R(a) = a * sum over those pixels of (Gaussian * |B|): one sort gives every
    amplitude.
    """
    strength = np.minimum(maximum_filter(field_g, 3, mode="constant"), -minimum_filter(field_g, 3, mode="constant"))
    sigma_px = SCHRIJVER_FWHM_MM / (2 * math.sqrt(2 * math.log(2))) / (MM_PER_DEG * pixel_deg)
    spread = gaussian_filter(np.abs(field_g), sigma_px, mode="constant", truncate=3.0)
    area_cm2 = (pixel_deg * MM_PER_DEG * 1e8) ** 2
    order = np.argsort(-strength, axis=None)
    s_sorted = strength.ravel()[order]
    csum = np.concatenate([[0.0], np.cumsum(spread.ravel()[order])])
    amps = np.asarray(amps, float)
    with np.errstate(divide="ignore"):
        need = np.where(amps > 0, SCHRIJVER_THRESHOLD_G / amps, np.inf)
    n_on = np.searchsorted(-s_sorted, -need, side="right")  # pixels with strength >= need
    return amps * csum[n_on] * area_cm2


def pil_flux_table(population: RegionPopulation, pixel_deg: float = PIXEL_512_DEG) -> np.ndarray:
    """Schrijver's R (Mx) of every region as an image of ``pixel_deg`` pixels shows it, tabulated at the amplitudes
    :data:`AMP_NODES` and delta-spot developments :data:`CAMP_NODES`: shape (n_regions, n_camp, n_amp).

    The region is rendered at disk centre on its own pixel grid (a phase drawn
    per region) with :func:`patch_fields`; R is measured with
    :func:`schrijver_r_of_amplitude`. Structure finer than a pixel is averaged
    away before the 150 G threshold, so close opposite umbrae count only when
    the image resolves them.
    """
    out = np.zeros((len(population), len(CAMP_NODES), len(AMP_NODES)))
    half = population.table["flux_mx"].to_numpy() / 2.0
    ids = population.table["region_id"].to_numpy()
    for i, k in enumerate(population.kernels):
        phase = np.random.default_rng([population.params.seed, 8, int(ids[i])]).uniform(0, 1, 2)
        base, delta = patch_fields(k, half[i], pixel_deg, phase)
        if not k["delta"].any():
            out[i] = schrijver_r_of_amplitude(base, pixel_deg)[None, :]
            continue
        for j, c in enumerate(CAMP_NODES):
            out[i, j] = schrijver_r_of_amplitude(base + c * delta, pixel_deg)
    return out


def interpolate_r(table: np.ndarray, amp: np.ndarray, camp: np.ndarray) -> np.ndarray:
    """R (Mx) at amplitudes ``amp`` and delta developments ``camp`` (n_rows, n_times) from a :func:`pil_flux_table`
    (n_rows, n_camp, n_amp), bilinear between the nodes."""
    fa = np.clip(amp, 0, 1) * (len(AMP_NODES) - 1)
    fc = np.clip(camp, 0, 1) * (len(CAMP_NODES) - 1)
    ia, ic = np.minimum(fa.astype(int), len(AMP_NODES) - 2), np.minimum(fc.astype(int), len(CAMP_NODES) - 2)
    wa, wc = fa - ia, fc - ic
    r = np.arange(table.shape[0])[:, None]
    lo = table[r, ic, ia] * (1 - wa) + table[r, ic, ia + 1] * wa
    hi = table[r, ic + 1, ia] * (1 - wa) + table[r, ic + 1, ia + 1] * wa
    return lo * (1 - wc) + hi * wc


class FlareProcess:
    """Rates, flares and oracle of a :class:`RegionPopulation` (explicit state in, arrays out)."""

    def __init__(self, params: FlareParams, population: RegionPopulation):
        self.params = params
        self.population = population
        #: Schrijver's R of every region, tabulated (:func:`pil_flux_table`).
        self.r_table = pil_flux_table(population)
        f22 = population.table["flux_mx"].to_numpy() / 1e22
        c = population.table["complexity"].to_numpy()
        #: Largest possible peak flux (W m^-2) of each region's flares: grows with flux and complexity.
        self.cap_wm2 = np.clip(CAP_WM2 * f22**CAP_FLUX_EXPONENT * (1 + CAP_DELTA_GAIN * c), 2e-6, 2e-3)
        self._episode_cache: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ rates
    def schrijver_r(self, state: RegionState, rows=None) -> np.ndarray:
        """R (Mx) of the regions ``rows`` (default all) in ``state``."""
        table = self.r_table if rows is None else self.r_table[np.asarray(rows)]
        return interpolate_r(table, state.amp, state.camp)

    def episodes(self, hours: np.ndarray, rows=None) -> np.ndarray:
        """Each region's flaring-episode factor at ``hours`` (mean 1): exp(sigma z - sigma^2 / 2), z an
        Ornstein-Uhlenbeck process of correlation time ``episode_days``, drawn once per region over its life."""
        p = self.params
        rows = np.arange(len(self.population)) if rows is None else np.asarray(rows)
        hours = np.asarray(hours, int)
        out = np.ones((len(rows), len(hours)))
        if p.episode_sigma_ln <= 0:
            return out
        t = self.population.table
        for j, r in enumerate(rows):
            z = self._episode_cache.get(int(r))
            first = int(math.floor(t["t_emerge_d"].iat[r] * 24))
            if z is None:
                n = int(math.ceil(t["t_end_d"].iat[r] * 24)) - first + 1
                rng = np.random.default_rng([p.seed, 6, int(t["region_id"].iat[r])])
                rho = math.exp(-1.0 / (24.0 * p.episode_days))
                e = rng.standard_normal(n) * math.sqrt(1 - rho * rho)
                e[0] = rng.standard_normal()
                z = self._episode_cache[int(r)] = lfilter([1.0], [1.0, -rho], e)
            k = np.clip(hours - first, 0, len(z) - 1)
            out[j] = np.exp(p.episode_sigma_ln * z[k] - p.episode_sigma_ln**2 / 2)
        return out

    def rate_c1_per_h(self, state: RegionState, rows=None, hours=None) -> np.ndarray:
        """Expected >= C1.0 flares per hour of the regions ``rows`` in ``state`` (at ``hours``, for the episodes)."""
        p = self.params
        t = self.population.table if rows is None else self.population.table.iloc[np.asarray(rows)]
        flux = t["flux_mx"].to_numpy()[:, None] * state.amp
        x = p.flare_rate_per_day * (flux / p.flux_median_mx) ** p.rate_flux_exponent * \
            (1.0 + self.schrijver_r(state, rows) / p.r0_mx) ** p.rate_r_exponent
        if hours is not None:
            x = x * self.episodes(hours, rows)
        x = np.where(state.amp > 0, x, 0.0)
        # saturates at max_rate_per_day: even the most productive regions flare a few times a day
        return p.max_rate_per_day * x / (p.max_rate_per_day + x) / 24.0

    def fraction_above(self, threshold_wm2: float, rows=None) -> np.ndarray:
        """Share of each region's >= C1.0 flares that reach ``threshold_wm2`` (truncated power law)."""
        a = self.params.flare_index - 1.0
        cap = self.cap_wm2 if rows is None else self.cap_wm2[np.asarray(rows)]
        return np.clip(threshold_wm2**-a - cap**-a, 0, None) / (C1_WM2**-a - cap**-a)

    def seen_from_earth(self, lon_deg: np.ndarray) -> np.ndarray:
        """Whether GOES sees a flare at this Stonyhurst longitude (up to ``behind_limb_deg`` past the limb)."""
        return np.abs(lon_deg) <= 90.0 + self.params.behind_limb_deg

    # ------------------------------------------------------------------ flares and oracle
    def draw(self, n_hours: int) -> pd.DataFrame:
        """The flares of hours [0, n_hours) from t0 seen from Earth, in the GOES catalog's schema plus ``region_id``."""
        p = self.params
        a = p.flare_index - 1.0
        parts = []
        all_hours = np.arange(n_hours)
        for chunk, sl, rows, st in self.population.iter_states(all_hours, CHUNK_H):
            hours = all_hours[sl]
            rng = np.random.default_rng([p.seed, 2, chunk])
            counts = rng.poisson(self.rate_c1_per_h(st, rows, hours))
            ri, hi = np.nonzero(counts)
            reps = counts[ri, hi]
            ri, hi = np.repeat(ri, reps), np.repeat(hi, reps)
            cap = self.cap_wm2[rows[ri]]
            u = rng.uniform(size=len(ri))
            peak = (C1_WM2**-a - u * (C1_WM2**-a - cap**-a)) ** (-1.0 / a)  # inverse CDF, power law on [C1, cap]
            start_h = hours[hi] + rng.uniform(0, 1, len(ri))
            rise = rng.uniform(4, 20, len(ri)) * (1 + np.log10(peak / C1_WM2))  # minutes
            decay = rise * rng.uniform(1.5, 3.0, len(ri))
            parts.append(pd.DataFrame({"start_h": start_h, "rise_min": rise, "decay_min": decay, "peak_flux_wm2": peak,
                                       "lon_deg": st.lon[ri, hi], "lat_deg": st.lat[ri, hi],
                                       "region_id": self.population.table["region_id"].to_numpy()[rows[ri]]}))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["start_h", "rise_min", "decay_min", "peak_flux_wm2", "lon_deg", "lat_deg", "region_id"])
        df = df[self.seen_from_earth(df["lon_deg"].to_numpy(float))]
        t0 = self.population.t0
        start = (t0 + pd.to_timedelta(df["start_h"].to_numpy(float), unit="h")).floor("min")
        rise = pd.to_timedelta(df["rise_min"].to_numpy(float), unit="min")
        out = pd.DataFrame({"start": start, "peak": (start + rise).floor("min"),
                            "end": (start + rise + pd.to_timedelta(df["decay_min"].to_numpy(float), unit="min")).floor("min"),
                            "peak_flux_wm2": df["peak_flux_wm2"].to_numpy(float), "lon_deg": df["lon_deg"].to_numpy(float),
                            "lat_deg": df["lat_deg"].to_numpy(float), "region_id": df["region_id"].to_numpy(np.int64)})
        # the catalog's class is what GOES reports (one decimal); its flux is that class's flux
        out["goes_class"] = pd.Series([format_goes_class(f) for f in out["peak_flux_wm2"]], dtype=object)
        out["peak_flux_wm2"] = np.array([parse_goes_class(c) for c in out["goes_class"]], float)
        out["noaa_ar"] = 0
        return out.sort_values("start", kind="stable").reset_index(drop=True)

    def expected_per_hour(self, n_hours: int, threshold_wm2: float = M1_WM2) -> np.ndarray:
        """Expected number of flares >= threshold seen from Earth starting in each hour [k, k+1)."""
        hours = np.arange(n_hours)
        lam = np.zeros(n_hours)
        for _, sl, rows, st in self.population.iter_states(hours, CHUNK_H):
            rate = self.rate_c1_per_h(st, rows, hours[sl]) * self.fraction_above(threshold_wm2, rows)[:, None]
            lam[sl] = (rate * self.seen_from_earth(st.lon)).sum(axis=0)
        return lam

    def present_disk_rate(self, frame_hours: np.ndarray, threshold_wm2: float = M1_WM2) -> np.ndarray:
        """Per frame, the expected flares >= threshold per hour of the regions on the visible disk at that hour."""
        out = np.zeros(len(frame_hours))
        for _, sl, rows, st in self.population.iter_states(frame_hours, 512):
            rate = self.rate_c1_per_h(st, rows, frame_hours[sl]) * self.fraction_above(threshold_wm2, rows)[:, None]
            out[sl] = (rate * (np.abs(st.lon) <= 90.0)).sum(axis=0)
        return out
