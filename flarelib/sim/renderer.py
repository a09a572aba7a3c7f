"""The renderer: the regions' flux and the quiet Sun -> line-of-sight field -> Helioviewer's 8-bit image, and masks.

Each flux kernel of a region is a Gaussian on the sphere; the radial field
is their sum plus a quiet-Sun network that co-rotates with the photosphere;
the line-of-sight field is the radial field times mu = cos(heliocentric
angle) plus instrument noise that grows toward the limb. Images smaller than
512 px are rendered at 512 px and averaged down, as a wavelet-reduced JP2
is; the byte scale is :func:`flarelib.io.magnetogram.gauss_to_uint8`, the
reader's own, with the rim anti-aliased by each pixel's disk coverage.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ..io.magnetogram import gauss_to_uint8
from .observer import Observer, PixelGeometry, synodic_rotation_deg_day
from .population import RegionPopulation, peak_field_gauss

__all__ = ["RenderParams", "Renderer", "NETWORK_CELL_DEG"]

#: Resolution of the quiet-Sun network map (0.5 deg cells on a 720 x 360 longitude-latitude grid).
NETWORK_CELL_DEG = 0.5
#: Kernels are skipped when their amplitude is below this, or when their centre is this far behind the limb (mu).
MIN_AMPLITUDE, MIN_MU = 0.02, -0.35


@dataclass(frozen=True)
class RenderParams:
    """``noise_gauss``: instrument noise at disk centre (G), growing as 1 + 1.5 (1 - mu)^2 toward the limb;
    ``network_gauss``: standard deviation of the quiet-Sun network field (G); both calibrated so that the on-disk
    percentiles of a frame match the real JP2's within 2 counts."""

    seed: int
    noise_gauss: float
    network_gauss: float


class Renderer:
    """Frames and region masks of a population seen by an observer."""

    def __init__(self, params: RenderParams, observer: Observer, population: RegionPopulation):
        self.params = params
        self.observer = observer
        self.population = population
        self.network = self._network_map()

    @property
    def render_px(self) -> int:
        """Size the field is rendered at: at least 512 px, then averaged down."""
        return max(self.observer.size_px, 512)

    def _network_map(self) -> np.ndarray:
        """Quiet-Sun network: a mixed-polarity radial field (G) on a co-rotating longitude-latitude grid."""
        rng = np.random.default_rng([self.params.seed, 3])
        n_lat, n_lon = int(180 / NETWORK_CELL_DEG), int(360 / NETWORK_CELL_DEG)
        grid = rng.standard_normal((n_lat, n_lon))
        sparse = np.where(rng.uniform(size=grid.shape) < 0.08, rng.standard_normal(grid.shape) * 6.0, 0.0)
        net = gaussian_filter(grid, 0.7, mode="wrap") + gaussian_filter(sparse, 0.5, mode="wrap")
        return (net / net.std() * self.params.network_gauss).astype(np.float32)

    def field(self, hours: float, b0_deg: float, frame_seed: int, return_regions: bool = False):
        """Line-of-sight field (G, float32, NaN off the disk) at :attr:`render_px`, ``hours`` after t0.

        Returns (field, geometry) or, with ``return_regions``, (field, geometry, {region_id: radial field map}).
        """
        n = self.render_px
        g = self.observer.pixel_geometry(b0_deg, n)
        rows = self.population.alive_rows(hours, hours)
        st = self.population.state([hours], rows)
        br = np.zeros((n, n), np.float64)
        region_maps = {}
        for j, row in enumerate(rows):
            amp, camp, lon, lat = st.amp[j, 0], st.camp[j, 0], st.lon[j, 0], st.lat[j, 0]
            if amp < MIN_AMPLITUDE or abs(lon) > 100:
                continue
            local = np.zeros((n, n), np.float64) if return_regions else None
            self._add_region(br, local, g, row, amp, camp, lon, lat, b0_deg)
            if local is not None:
                region_maps[int(self.population.table["region_id"].iat[row])] = local
        br += self._network_at(g, hours)
        mu = g.mu
        blos = br * mu
        noise = self.params.noise_gauss * (1.0 + 1.5 * (1.0 - mu) ** 2)
        blos += np.random.default_rng([self.params.seed, 4, frame_seed]).standard_normal((n, n)) * noise
        blos = np.where(g.on | (g.cover > 0), blos, np.nan).astype(np.float32)
        return (blos, g, region_maps) if return_regions else (blos, g)

    def _add_region(self, br, local, g: PixelGeometry, row: int, amp, camp, lon, lat, b0_deg: float) -> None:
        n = br.shape[0]
        radius = self.observer.radius_px * n / self.observer.size_px
        centre = (n - 1) / 2.0
        k = self.population.kernels[row]
        flux = self.population.table["flux_mx"].iat[row] * amp / 2.0
        cb, sb = math.cos(math.radians(b0_deg)), math.sin(math.radians(b0_deg))
        for x_off, y_off, frac, sig, is_delta in zip(k["x"], k["y"], k["frac"], k["sigma"], k["delta"]):
            weight = frac * (camp if is_delta else 1.0)
            if weight == 0:
                continue
            klat = lat + y_off
            klon = lon + x_off / max(math.cos(math.radians(lat)), 0.2)
            peak_g = peak_field_gauss(weight * flux, sig)
            cl, sl = math.cos(math.radians(klat)), math.sin(math.radians(klat))
            kv = (cl * math.cos(math.radians(klon)), cl * math.sin(math.radians(klon)), sl)
            if kv[2] * sb + kv[0] * cb < MIN_MU:
                continue
            half = int(4 * math.radians(sig) * radius) + 2  # bounding box of the kernel's projection
            cx, cy = int(centre + radius * kv[1]), int(centre - radius * (kv[2] * cb - kv[0] * sb))
            x0, x1 = max(cx - half, 0), min(cx + half + 1, n)
            y0, y1 = max(cy - half, 0), min(cy + half + 1, n)
            if x0 >= x1 or y0 >= y1:
                continue
            sl_ = (slice(y0, y1), slice(x0, x1))
            d2 = (g.X[sl_] - kv[0]) ** 2 + (g.Y[sl_] - kv[1]) ** 2 + (g.Z[sl_] - kv[2]) ** 2
            contrib = peak_g * np.exp(-d2 / (2 * math.radians(sig) ** 2))
            br[sl_] += contrib
            if local is not None:
                local[sl_] += contrib

    def _network_at(self, g: PixelGeometry, hours: float) -> np.ndarray:
        """The network co-rotating with the photosphere: a pixel at Stonyhurst (L, b) shows the cell that was at
        L - omega(b) t at t0, so the pattern moves west (+x) with the regions."""
        lon, lat = g.lon_lat_deg()
        lon = lon - synodic_rotation_deg_day(lat) * hours / 24.0
        li = ((lon % 360.0) / NETWORK_CELL_DEG).astype(np.int32) % self.network.shape[1]
        bi = np.clip(((lat + 90.0) / NETWORK_CELL_DEG).astype(np.int32), 0, self.network.shape[0] - 1)
        return self.network[bi, li]

    def _factor(self) -> int:
        return self.render_px // self.observer.size_px

    def image(self, hours: float, b0_deg: float, frame_seed: int) -> np.ndarray:
        """The 8-bit Helioviewer-style image (uint8, north up, off-disk 0) at the observer's size."""
        blos, g = self.field(hours, b0_deg, frame_seed)
        f = self._factor()
        if f > 1:
            n = self.observer.size_px
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks off the disk
                blos = np.nanmean(blos.reshape(n, f, n, f), axis=(1, 3))
            g = self.observer.pixel_geometry(b0_deg, n)
        return gauss_to_uint8(blos, cover=g.cover)

    def region_masks(self, hours: float, b0_deg: float, frame_seed: int, threshold_gauss: float = 40.0) -> np.ndarray:
        """Label image at the observer's size: the id of the visible region whose |B_r| > threshold dominates, else 0."""
        _, g, maps = self.field(hours, b0_deg, frame_seed, return_regions=True)
        n = self.render_px
        best = np.zeros((n, n), np.float64)
        lab = np.zeros((n, n), np.int32)
        for rid, m in maps.items():
            a = np.abs(m)
            take = (a > threshold_gauss) & (a > best) & g.on
            lab[take] = rid
            best[take] = a[take]
        f = self._factor()
        if f > 1:
            out = self.observer.size_px
            low = np.zeros((out, out), np.int32)
            share = np.zeros((out, out))
            for rid in np.unique(lab[lab > 0]):
                frac = (lab == rid).reshape(out, f, out, f).mean(axis=(1, 3))
                take = (frac >= 0.25) & (frac > share)
                low[take] = rid
                share[take] = frac[take]
            lab = low
        return lab
