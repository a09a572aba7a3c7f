"""Geometry of the solar disk as seen in a full-disk image.

Conversions between Stonyhurst heliographic coordinates and image pixels go
through sunpy/astropy coordinate frames (:func:`stonyhurst_to_pixel`), with
the observer's real B0 angle and distance from the image header.
:func:`orthographic_project` is the fast vectorised counterpart used by the
simulator for whole frames; a test checks that the two agree.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "disk_mask",
    "mu_map",
    "stonyhurst_to_pixel",
    "orthographic_project",
    "b0_angle_deg",
]


def disk_mask(size_px: int, center_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """Boolean (size, size) mask of pixels whose centres lie on the disk."""
    yy, xx = np.mgrid[:size_px, :size_px]
    return (xx - center_px[0]) ** 2 + (yy - center_px[1]) ** 2 <= radius_px**2


def mu_map(size_px: int, center_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """mu = cos(heliocentric angle) per pixel (0 off the disk), orthographic approximation."""
    yy, xx = np.mgrid[:size_px, :size_px].astype(np.float64)
    r2 = ((xx - center_px[0]) ** 2 + (yy - center_px[1]) ** 2) / radius_px**2
    return np.sqrt(np.clip(1.0 - r2, 0.0, None)) * (r2 <= 1.0)


def b0_angle_deg(times) -> np.ndarray:
    """Heliographic latitude of the disk centre (B0) seen from Earth at the given times, degrees.

    Uses sunpy's ephemeris (:func:`sunpy.coordinates.sun.B0`).
    """
    from astropy.time import Time
    from sunpy.coordinates import sun

    t = Time(np.atleast_1d(np.asarray(times, dtype="datetime64[s]")))
    return np.asarray(sun.B0(t).to_value("deg"), dtype=float)


def orthographic_project(lon_deg, lat_deg, b0_deg: float, center_px, radius_px: float):
    """Stonyhurst lon/lat to pixel (x, y, mu) by orthographic projection with tilt B0.

    Row y increases southward (north up). ``mu`` is cos(heliocentric angle);
    ``mu <= 0`` means behind the limb.
    """
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    b0 = np.radians(b0_deg)
    # unit vector in observer-aligned frame: z toward observer, x west, y north
    x = np.cos(lat) * np.sin(lon)
    y = np.sin(lat) * np.cos(b0) - np.cos(lat) * np.cos(lon) * np.sin(b0)
    z = np.sin(lat) * np.sin(b0) + np.cos(lat) * np.cos(lon) * np.cos(b0)
    return center_px[0] + radius_px * x, center_px[1] - radius_px * y, z


def stonyhurst_to_pixel(lon_deg, lat_deg, meta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel position of Stonyhurst heliographic coordinates in an image, through sunpy.

    Parameters
    ----------
    lon_deg, lat_deg : array-like
        Stonyhurst longitude and latitude in degrees.
    meta : MagnetogramMeta
        The image's metadata (time, B0, observer distance, disk centre and
        radius in output pixels, plate scale).

    Returns
    -------
    x_px, y_px : numpy.ndarray
        Output-pixel column and row (row 0 at the top, north up).
    visible : numpy.ndarray of bool
        False for points behind the limb.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from sunpy.coordinates import frames

    dsun = meta.dsun_m if np.isfinite(meta.dsun_m) else 1.496e11
    observer = SkyCoord(
        lon=0 * u.deg, lat=meta.b0_deg * u.deg, radius=dsun * u.m, frame=frames.HeliographicStonyhurst, obstime=meta.date_obs
    )
    pts = SkyCoord(
        lon=np.atleast_1d(lon_deg) * u.deg,
        lat=np.atleast_1d(lat_deg) * u.deg,
        radius=1.0 * u.R_sun,
        frame=frames.HeliographicStonyhurst,
        obstime=meta.date_obs,
    )
    hpc = pts.transform_to(frames.Helioprojective(observer=observer, obstime=meta.date_obs))
    scale = meta.cdelt_arcsec * meta.naxis / meta.size_px  # arcsec per output pixel
    tx = hpc.Tx.to_value(u.arcsec)
    ty = hpc.Ty.to_value(u.arcsec)
    x = meta.disk_center_px[0] + tx / scale
    y = meta.disk_center_px[1] - ty / scale
    # visible side: angle between the point's normal and the observer direction
    obs_vec = observer.cartesian.xyz.to_value(u.m)
    p_vec = pts.cartesian.xyz.to_value(u.m)
    n = p_vec / np.linalg.norm(p_vec, axis=0)
    visible = np.einsum("i,i...->...", obs_vec, n) - np.linalg.norm(p_vec, axis=0) > 0
    return np.asarray(x), np.asarray(y), np.asarray(visible)

