"""Geometry of the solar disk as seen in a full-disk image.

Conversions between Stonyhurst heliographic coordinates and image pixels go
through sunpy/astropy coordinate frames (:func:`stonyhurst_to_pixel`), with
the observer's real B0 angle and distance from the image header.
:func:`orthographic_project` is the fast vectorised counterpart used by the
simulator for whole frames; a test checks that the two agree.
"""
from __future__ import annotations

import warnings

import numpy as np

#: Solar radius in metres, the IAU 2015 nominal value (``astropy.constants.R_sun``; a test checks they agree).
RSUN_M = 6.957e8
#: The astronomical unit in metres (IAU 2012, exact; ``astropy.constants.au``).
AU_M = 1.495978707e11

__all__ = [
    "header_map",
    "disk_from_wcs",
    "RSUN_M",
    "AU_M",
    "disk_mask",
    "disk_coverage",
    "mu_map",
    "stonyhurst_to_pixel",
    "pixel_to_stonyhurst",
    "orthographic_project",
    "b0_angle_deg",
]


def disk_mask(size_px: int, center_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """Boolean (size, size) mask of pixels whose centres lie on the disk."""
    yy, xx = np.mgrid[:size_px, :size_px]
    return (xx - center_px[0]) ** 2 + (yy - center_px[1]) ** 2 <= radius_px**2


def disk_coverage(size_px: int, center_px: tuple[float, float], radius_px: float) -> np.ndarray:
    """Fraction of each pixel's area on the disk, (size, size) float in [0, 1] (a linear ramp across the limb).

    A reduced image's limb pixels hold a mix of disk and sky (0, the same byte as -250 G): their value over their
    coverage is what the disk alone shows there. 1 inside, 0 outside, 0.5 for a pixel centred on the limb.
    """
    yy, xx = np.mgrid[:size_px, :size_px].astype(np.float64)
    dist = np.hypot(xx - center_px[0], yy - center_px[1])
    return np.clip(radius_px - dist + 0.5, 0.0, 1.0)


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
    """Pixel position of Stonyhurst heliographic coordinates in an image, through the image's WCS (sunpy, astropy).

    Parameters
    ----------
    lon_deg, lat_deg : array-like
        Stonyhurst longitude and latitude in degrees.
    meta : MagnetogramMeta
        The image's metadata; its :meth:`~flarelib.io.magnetogram.MagnetogramMeta.map_header`
        (time, observer, plate scale and reference pixel at the output size) defines the WCS.

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

    m = header_map(meta.map_header())
    pts = SkyCoord(lon=np.atleast_1d(lon_deg) * u.deg, lat=np.atleast_1d(lat_deg) * u.deg, radius=1.0 * u.R_sun,
                   frame=frames.HeliographicStonyhurst, obstime=m.date)
    x, y_fits = m.wcs.world_to_pixel(pts)
    y = (meta.size_px - 1) - np.asarray(y_fits)
    # visible side: the point's outward normal has a positive component toward the observer
    obs_vec = m.observer_coordinate.cartesian.xyz.to_value(u.m)
    p_vec = pts.cartesian.xyz.to_value(u.m)
    n = p_vec / np.linalg.norm(p_vec, axis=0)
    visible = np.einsum("i,i...->...", obs_vec, n) - np.linalg.norm(p_vec, axis=0) > 0
    return np.asarray(x), np.asarray(y), np.asarray(visible)


def pixel_to_stonyhurst(x_px, y_px, meta) -> tuple[np.ndarray, np.ndarray]:
    """Stonyhurst longitude and latitude (degrees) of image pixels, through the image's WCS (sunpy, astropy).

    The inverse of :func:`stonyhurst_to_pixel` for points on the visible disk; pixels off the disk give NaN.

    Parameters
    ----------
    x_px, y_px : array-like
        Output-pixel column and row (row 0 at the top, north up).
    meta : MagnetogramMeta
        The image's metadata (its :meth:`~flarelib.io.magnetogram.MagnetogramMeta.map_header`).
    """
    import astropy.units as u
    from sunpy.coordinates import frames

    m = header_map(meta.map_header())
    y_fits = (meta.size_px - 1) - np.atleast_1d(np.asarray(y_px, float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # off-disk pixels: NaN, by design
        hpc = m.wcs.pixel_to_world(np.atleast_1d(np.asarray(x_px, float)), y_fits)
        hgs = hpc.transform_to(frames.HeliographicStonyhurst(obstime=m.date))
    return np.asarray(hgs.lon.wrap_at(180 * u.deg).to_value(u.deg), float), np.asarray(hgs.lat.to_value(u.deg), float)


def disk_from_wcs(header: dict) -> tuple[tuple[float, float], float]:
    """Disk centre (x, y: 0-based FITS pixel, row 0 at the bottom) and radius in pixels of an image, through its WCS.

    The Sun's centre is helioprojective (0", 0"); sunpy's map turns it into a
    pixel with the header's WCS, and the radius is the observed solar radius
    over the plate scale.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    m = header_map(header)
    c = m.wcs.world_to_pixel(SkyCoord(0 * u.arcsec, 0 * u.arcsec, frame=m.coordinate_frame))
    return (float(c[0]), float(c[1])), float((m.rsun_obs / m.scale.axis1).to_value(u.pix))


def header_map(header: dict, data: np.ndarray | None = None):
    """A ``sunpy.map.Map`` of an image (FITS row order, row 0 south) described by ``header`` (sunpy imported here: optional)."""
    import sunpy.map

    n = int(header["NAXIS1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sunpy notes missing optional keywords (WAVELNTH ...): not ours to fix
        return sunpy.map.Map(np.zeros((n, n), np.uint8) if data is None else data, dict(header))

