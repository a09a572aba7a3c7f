"""The observer: Earth's view of the Sun, and the Sun's rotation.

Everything that depends on where the Sun is seen from and how it turns:
the B0 angle of each date, the disk's size and centre in pixels, the
orthographic geometry of every pixel, and differential rotation. No state:
pure functions of their arguments and a frozen :class:`Observer`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..io.geometry import disk_coverage

__all__ = ["DEFAULT_RADIUS_512", "B0_MAX_DEG", "EARTH_ORBIT_DEG_DAY", "Observer", "PixelGeometry", "b0_annual_deg",
           "synodic_rotation_deg_day"]

#: Disk radius in pixels of a 512 px Helioviewer HMI image (RSUN_OBS / CDELT / 8 near 1 AU; 196.96 px measured on
#: the real JP2 in ../shared/data/helioviewer).
DEFAULT_RADIUS_512 = 196.96
#: Inclination of the solar equator to the ecliptic (Carrington's 7.25 deg): the amplitude of B0.
B0_MAX_DEG = 7.25
#: Mean angular speed of the Earth on its orbit (360 deg / 365.2422 d): sidereal minus synodic rotation.
EARTH_ORBIT_DEG_DAY = 360.0 / 365.2422
#: Snodgrass & Ulrich (1990) sidereal rotation of small magnetic features, omega = A + B sin^2 + C sin^4 (deg/day).
#: (sunpy's ``differential_rotation(model='snodgrass')`` is Snodgrass (1983): 14.11 deg/day at the equator, 0.6 lower.)
SNODGRASS_DEG_DAY = (14.713, -2.396, -1.787)


def b0_annual_deg(times) -> np.ndarray:
    """B0 angle (deg) of the Earth's view: +/-7.25 deg, zero near 6 June and 7 December (within 0.3 deg of sunpy's)."""
    t = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(times)))
    doy = (t - pd.Timestamp("2000-06-06")).total_seconds().to_numpy() / 86400.0
    return B0_MAX_DEG * np.sin(2 * np.pi * doy / 365.2422)


def synodic_rotation_deg_day(lat_deg) -> np.ndarray:
    """Synodic (seen from Earth) differential rotation rate at a latitude, deg/day (Snodgrass & Ulrich 1990).

    About 13.3 deg/day at the equator and 11.3 deg/day at 40 deg: features move west (+longitude).
    """
    a, b, c = SNODGRASS_DEG_DAY
    s2 = np.sin(np.radians(lat_deg)) ** 2
    return a + b * s2 + c * s2**2 - EARTH_ORBIT_DEG_DAY


@dataclass(frozen=True)
class PixelGeometry:
    """Per-pixel geometry of an n x n image: Stonyhurst unit vector (X to lon 0, Y west, Z north), mu, disk cover."""

    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    mu: np.ndarray
    on: np.ndarray
    cover: np.ndarray

    def lon_lat_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """Stonyhurst longitude and latitude (deg) of every pixel (meaningful on the disk)."""
        lat = np.degrees(np.arcsin(np.clip(self.Z, -1, 1)))
        return np.degrees(np.arctan2(self.Y, self.X)), lat


@dataclass(frozen=True)
class Observer:
    """Earth at 1 AU looking at the Sun, north up, imaged on ``size_px`` pixels as Helioviewer's HMI images are."""

    size_px: int = 512

    @property
    def radius_px(self) -> float:
        return DEFAULT_RADIUS_512 * self.size_px / 512.0

    @property
    def center_px(self) -> tuple[float, float]:
        c = (self.size_px - 1) / 2.0
        return (c, c)

    def b0_deg(self, time) -> float:
        return float(b0_annual_deg(time)[0])

    def pixel_geometry(self, b0_deg: float, n: int | None = None) -> PixelGeometry:
        """Geometry of an n x n image (n defaults to ``size_px``) seen with latitude ``b0_deg`` at disk centre."""
        n = n or self.size_px
        c = (n - 1) / 2.0
        radius = DEFAULT_RADIUS_512 * n / 512.0
        yy, xx = np.mgrid[:n, :n].astype(np.float64)
        x = (xx - c) / radius
        y = -(yy - c) / radius
        r2 = x * x + y * y
        on = r2 < 1.0
        z = np.sqrt(np.clip(1.0 - r2, 0.0, None))
        b0 = math.radians(b0_deg)
        cover = disk_coverage(n, (c, c), radius)  # fraction of the pixel on the disk
        # observer frame (x west, y north, z to the observer) -> Stonyhurst cartesian
        return PixelGeometry(X=z * math.cos(b0) - y * math.sin(b0), Y=x, Z=z * math.sin(b0) + y * math.cos(b0),
                             mu=z * on, on=on, cover=cover)
