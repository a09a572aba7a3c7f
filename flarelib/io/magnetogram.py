"""Reading full-disk line-of-sight magnetograms: Helioviewer JPEG 2000 and HMI FITS.

One front door, :func:`read_magnetogram`, returns a :class:`Magnetogram`:
an 8-bit image, north up (row 0 is the solar north side, column 0 the east
limb side, as the Sun is seen from Earth) and its typed metadata.

The 8-bit scale is Helioviewer's for HMI magnetograms (jp2gen,
``hvs_default_hmi.pro``): the field in Gauss is clipped to
[-250 G, +250 G] and byte-scaled with IDL's ``bytscl``, so

    value = floor(255.9999 * (B + 250 G) / 500 G),

256 bins of 1.95 G; 0 G is the edge between 127 (slightly negative) and 128
(slightly positive), so the zero level in counts is 127.5, where the real
JP2's on-disk histogram is symmetric. Pixels off the disk (NaN in the FITS
data) are 0. :func:`gauss_to_uint8` is that one scale, used by the FITS reader
and by the simulator's renderer alike; :func:`uint8_to_gauss` gives each
count's bin centre.

A JP2 is decoded straight at reduced resolution (JPEG 2000 wavelet levels):
a 4096 px image read at 512 px decodes only 1/64 of the coefficients, never
the full image then a resize.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, HeaderError, MagnetogramError, WrongProductError
from .geometry import AU_M, RSUN_M, disk_from_wcs, disk_mask, header_map

__all__ = [
    "Magnetogram",
    "MagnetogramMeta",
    "read_magnetogram",
    "read_jp2_header",
    "gauss_to_uint8",
    "uint8_to_gauss",
    "GAUSS_CLIP",
    "ZERO_GAUSS_VALUE",
    "check_pixels",
]

#: Helioviewer's clipping range for HMI magnetograms, in Gauss.
GAUSS_CLIP = 250.0
#: 8-bit value of 0 G on the Helioviewer scale.
ZERO_GAUSS_VALUE = 127.5


def gauss_to_uint8(b_gauss: np.ndarray, clip_gauss: float = GAUSS_CLIP, cover: np.ndarray | None = None) -> np.ndarray:
    """Map a field in Gauss onto Helioviewer's 8-bit scale (IDL ``bytscl`` of the clipped field).

    Parameters
    ----------
    b_gauss : numpy.ndarray
        Line-of-sight field, G; NaN off the disk (-> 0).
    clip_gauss : float
        The scale's range is +/- this (250 G for HMI).
    cover : numpy.ndarray, optional
        Fraction of each pixel on the disk (0-1): rim pixels are scaled by it, as in a wavelet-reduced image.
    """
    b = np.asarray(b_gauss, dtype=np.float64)
    v = np.floor(255.9999 * (np.clip(np.nan_to_num(b, nan=0.0), -clip_gauss, clip_gauss) + clip_gauss) / (2 * clip_gauss))
    v = np.where(np.isfinite(b), v, 0.0)
    if cover is not None:
        v = np.round(v * cover)
    return np.clip(v, 0, 255).astype(np.uint8)


def uint8_to_gauss(values: np.ndarray, clip_gauss: float = GAUSS_CLIP) -> np.ndarray:
    """Field in Gauss at the centre of each 8-bit value's bin (inverse of :func:`gauss_to_uint8`; 127.5 -> 0 G;
    saturated values stay near the clip)."""
    return ((np.asarray(values, dtype=np.float32) + 0.5) * (2 * clip_gauss / 256.0) - clip_gauss).astype(np.float32)


@dataclass(frozen=True)
class MagnetogramMeta:
    """Metadata of a full-disk magnetogram, in the units named by each field.

    ``disk_center_px`` is (x, y) = (column, row) in the *output* image, 0-based,
    row 0 at the top (north); ``disk_radius_px`` is in output pixels.
    """

    path: str
    date_obs: datetime
    instrument: str
    product: str
    naxis: int
    crpix1: float
    crpix2: float
    cdelt_arcsec: float
    rsun_arcsec: float
    b0_deg: float
    l0_deg: float
    dsun_m: float
    rotation_deg: float
    size_px: int
    disk_center_px: tuple[float, float]
    disk_radius_px: float

    def map_header(self) -> dict:
        """The FITS header of the output image (NAXIS = ``size_px``; CRPIX and CDELT rescaled), as numbers."""
        factor = self.naxis / self.size_px
        telescope, _, instrument = self.instrument.partition("/")
        return {"NAXIS": 2, "NAXIS1": self.size_px, "NAXIS2": self.size_px, "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN",
                "CUNIT1": "arcsec", "CUNIT2": "arcsec", "CRVAL1": 0.0, "CRVAL2": 0.0, "CROTA2": self.rotation_deg,
                "CRPIX1": (self.crpix1 - 0.5) / factor + 0.5, "CRPIX2": (self.crpix2 - 0.5) / factor + 0.5,
                "CDELT1": self.cdelt_arcsec * factor, "CDELT2": self.cdelt_arcsec * factor, "DATE-OBS": self.date_obs.isoformat(),
                "RSUN_OBS": self.rsun_arcsec, "DSUN_OBS": self.dsun_m if math.isfinite(self.dsun_m) else AU_M, "CRLT_OBS": self.b0_deg,
                # the observer in Stonyhurst coordinates (sunpy reads these first): Earth/SDO at longitude 0 by definition of
                # the frame; without them sunpy places the observer at Carrington longitude CRLN_OBS, which is 0 (unknown)
                # for simulated frames, a date-dependent Stonyhurst longitude
                "HGLN_OBS": 0.0, "HGLT_OBS": self.b0_deg,
                "CRLN_OBS": self.l0_deg if math.isfinite(self.l0_deg) else 0.0, "TELESCOP": telescope, "INSTRUME": instrument or telescope,
                "CONTENT": self.product, "BUNIT": "Gauss"}

    def to_json(self) -> dict:
        """A JSON-ready dict (times as ISO strings)."""
        d = asdict(self)
        d["date_obs"] = self.date_obs.isoformat()
        d["disk_center_px"] = [float(v) for v in self.disk_center_px]
        return d


@dataclass
class Magnetogram:
    """An 8-bit full-disk magnetogram, north up, and its metadata."""

    data: np.ndarray
    meta: MagnetogramMeta

    def to_map(self):
        """The image as a ``sunpy.map.Map`` (header rescaled to this size; data in FITS order, row 0 south)."""
        return header_map(self.meta.map_header(), np.ascontiguousarray(self.data[::-1]))

    @property
    def disk_mask(self) -> np.ndarray:
        """Boolean mask of the pixels on the solar disk (from the header's geometry, never from pixel values)."""

        return disk_mask(self.data.shape[0], self.meta.disk_center_px, self.meta.disk_radius_px)


# ---------------------------------------------------------------------------
# header handling shared by JP2 and FITS


def _describe_product(header: dict) -> str:
    """Words for the image a header describes, from its observatory, instrument, detector and wavelength ('' if unknown)."""
    parts = [str(_first(header, k, default="")).strip() for k in ("OBSRVTRY", "TELESCOP", "INSTRUME", "DETECTOR")]
    parts = list(dict.fromkeys(p for p in parts if p))
    wave = str(_first(header, "WAVELNTH", default="")).strip()
    if wave:
        unit = str(_first(header, "WAVEUNIT", default="")).strip()
        parts.append(f"{float(wave):g}" + (f" {unit}" if unit else "") if wave.replace(".", "", 1).isdigit() else wave)
    return ("an " if parts else "") + " ".join(parts) + (" image" if parts else "")


def check_pixels(data: np.ndarray, meta: MagnetogramMeta, path: Path) -> None:
    """Refuse pixels that are not a magnetogram on Helioviewer's byte scale.

    A magnetogram is 0 off the disk given by its header, has an on-disk median
    near the zero level (127), and varies smoothly between neighbouring
    quiet-Sun pixels (a few counts). A damaged code stream that decodes to
    noise, or a blank (all-NaN) disk, fails one of these.

    Raises
    ------
    CorruptFileError
        Naming the file and what is wrong with its pixels.
    """
    n = data.shape[0]
    cx, cy = meta.disk_center_px
    on = disk_mask(n, (cx, cy), meta.disk_radius_px * 0.98)
    off = ~disk_mask(n, (cx, cy), meta.disk_radius_px * 1.05)
    d = data.astype(np.int16)
    disk = d[on]
    if disk.size == 0:
        raise CorruptFileError(path, "the header's disk lies outside the image")
    if (disk == 0).all() or np.ptp(disk) == 0:
        raise CorruptFileError(path, "blank disk: every on-disk pixel has the same value (no data)")
    if off.any() and (d[off] > 0).mean() > 0.2:
        raise CorruptFileError(path, f"{(d[off] > 0).mean():.0%} of the pixels off the header's disk are not 0: "
                                     "not a magnetogram's sky (damaged or mis-scaled image)")
    med = float(np.median(disk))
    if abs(med - ZERO_GAUSS_VALUE) > 20:
        raise CorruptFileError(path, f"on-disk median {med:.0f}, far from the zero level {ZERO_GAUSS_VALUE} of a magnetogram")
    both = on[:, 1:] & on[:, :-1]
    step = float(np.median(np.abs(np.diff(d, axis=1))[both]))
    if step > 12:
        raise CorruptFileError(path, f"on-disk pixels vary like noise (median difference of neighbours {step:.0f} counts, "
                                     "a magnetogram's is a few): damaged code stream?")


def _first(header: dict, *keys, default=None):
    for k in keys:
        if k in header and str(header[k]).strip() != "":
            return header[k]
    return default


def _parse_date(value: str) -> datetime:
    s = str(value).strip().replace("Z", "")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y.%m.%d_%H:%M:%S.%f", "%Y.%m.%d_%H:%M:%S"):
        try:
            return datetime.strptime(s.replace("_TAI", ""), fmt)
        except ValueError:
            continue
    raise ValueError(f"unreadable date {value!r}")


def _meta_from_header(path: Path, header: dict, size_px: int, rotation_deg: float, flipped_to_north_up: bool) -> MagnetogramMeta:
    """Build typed metadata from a FITS-like header dict (values as text or numbers)."""
    try:
        content = str(_first(header, "CONTENT", default="")).strip()
        if not content:
            what = _describe_product(header)
            if what:
                raise WrongProductError(path, f"{what}, not an HMI line-of-sight magnetogram")
            raise HeaderError(path, "header has no CONTENT keyword: cannot tell which product this is")
        if "MAGNETOGRAM" not in content.upper():
            raise WrongProductError(
                path, f"not a line-of-sight magnetogram: CONTENT is {content!r} (expected 'MAGNETOGRAM')"
            )
        bunit = str(_first(header, "BUNIT", default="Gauss")).strip().lower()
        if bunit and bunit not in {"gauss", "g", "mx/cm^2", "mx/cm2"}:
            raise WrongProductError(path, f"not a magnetogram: BUNIT is {bunit!r} (expected Gauss)")
        date_obs = _parse_date(_first(header, "DATE-OBS", "DATE_OBS", "T_OBS"))
        naxis = int(float(_first(header, "NAXIS1")))
        crpix1 = float(_first(header, "CRPIX1"))
        crpix2 = float(_first(header, "CRPIX2"))
        cdelt = float(_first(header, "CDELT1"))
        rsun = float(_first(header, "RSUN_OBS", default="nan"))
        dsun = float(_first(header, "DSUN_OBS", default="nan"))
        if not math.isfinite(rsun):
            if not math.isfinite(dsun):
                raise KeyError("RSUN_OBS and DSUN_OBS")
            rsun = math.degrees(math.asin(RSUN_M / dsun)) * 3600.0
        b0 = float(_first(header, "CRLT_OBS", "HGLT_OBS", "SOLAR_B0", default="nan"))
        l0 = float(_first(header, "CRLN_OBS", "HGLN_OBS", default="nan"))
        instrument = str(_first(header, "INSTRUME", default="")).strip()
        telescope = str(_first(header, "TELESCOP", default="")).strip()
    except MagnetogramError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise HeaderError(path, f"unreadable or missing header keyword ({exc})") from exc
    if not math.isfinite(b0):
        raise HeaderError(path, "header has no B0 angle (CRLT_OBS/HGLT_OBS)")
    factor = naxis / size_px
    out_header = {
        "NAXIS": 2, "NAXIS1": size_px, "NAXIS2": size_px, "CTYPE1": "HPLN-TAN", "CTYPE2": "HPLT-TAN", "CUNIT1": "arcsec",
        "CUNIT2": "arcsec", "CRVAL1": 0.0, "CRVAL2": 0.0, "CROTA2": rotation_deg,
        # FITS pixel centres (1-based) rescaled: pixel edges 0.5 ... naxis + 0.5 map onto 0.5 ... size + 0.5
        "CRPIX1": (crpix1 - 0.5) / factor + 0.5, "CRPIX2": (crpix2 - 0.5) / factor + 0.5,
        "CDELT1": cdelt * factor, "CDELT2": cdelt * factor, "DATE-OBS": date_obs.isoformat(), "RSUN_OBS": rsun,
        "DSUN_OBS": dsun if math.isfinite(dsun) else AU_M, "CRLT_OBS": b0, "CRLN_OBS": l0 if math.isfinite(l0) else 0.0,
        "TELESCOP": telescope, "INSTRUME": instrument, "CONTENT": content, "BUNIT": "Gauss",
    }
    (x, y_from_bottom), radius = disk_from_wcs(out_header)
    y = (size_px - 1) - y_from_bottom if flipped_to_north_up else y_from_bottom
    return MagnetogramMeta(
        path=str(path),
        date_obs=date_obs,
        instrument=(telescope + "/" + instrument).strip("/") or "unknown",
        product=content,
        naxis=naxis,
        crpix1=crpix1,
        crpix2=crpix2,
        cdelt_arcsec=cdelt,
        rsun_arcsec=rsun,
        b0_deg=b0,
        l0_deg=l0,
        dsun_m=dsun,
        rotation_deg=rotation_deg,
        size_px=size_px,
        disk_center_px=(x, y),
        disk_radius_px=radius,
    )


# ---------------------------------------------------------------------------
# JPEG 2000


def _open_jp2(path: Path):
    import glymur

    if not path.is_file():
        raise MagnetogramError(path, "no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # glymur warns on damaged boxes; make them errors
            jp2 = glymur.Jp2k(str(path))
            shape = jp2.shape
    except Exception as exc:  # glymur raises many types for damaged files
        raise CorruptFileError(path, f"not a readable JPEG 2000 file ({exc})") from exc
    if len(shape) < 2:
        raise CorruptFileError(path, f"unexpected image shape {shape}")
    return jp2


def read_jp2_header(path: str | Path) -> dict:
    """The FITS keywords of a Helioviewer JP2's XML box, as a dict of strings.

    Helioviewer keywords (``HV_ROTATION`` ...) are included too.

    Raises
    ------
    CorruptFileError, HeaderError
    """
    path = Path(path)
    return _xml_header(_open_jp2(path), path)


def _xml_header(jp2, path: Path) -> dict:
    """FITS and Helioviewer keywords from an opened JP2's XML box."""
    xml_boxes = [b for b in jp2.box if type(b).__name__ == "XMLBox"]
    if not xml_boxes:
        raise HeaderError(path, "no XML header box: not a Helioviewer JP2")
    xml = xml_boxes[0].xml
    root = xml.getroot() if hasattr(xml, "getroot") else xml
    fits = root.find("fits") if root.tag != "fits" else root
    if fits is None:
        raise HeaderError(path, "XML header has no <fits> element")
    header = {child.tag: (child.text or "").strip() for child in fits}
    hv = root.find("helioviewer")
    if hv is not None:
        header.update({child.tag: (child.text or "").strip() for child in hv})
    return header


def _read_jp2(path: Path, size_px: int) -> Magnetogram:
    jp2 = _open_jp2(path)
    header = _xml_header(jp2, path)
    naxis = int(jp2.shape[0])
    if jp2.shape[0] != jp2.shape[1]:
        raise CorruptFileError(path, f"image is not square: {jp2.shape}")
    # product check first: a wrong product is refused before any decoding
    meta = _meta_from_header(path, header, size_px, float(header.get("HV_ROTATION", 0.0) or 0.0), True)
    if meta.naxis != naxis:
        raise HeaderError(path, f"header NAXIS1={meta.naxis} but the image is {naxis} px")
    ratio = naxis / size_px
    level = int(math.floor(math.log2(ratio))) if ratio >= 1 else 0
    step = 2**level
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = jp2[::step, ::step] if step > 1 else jp2[:]
    except Exception as exc:
        raise CorruptFileError(path, f"JPEG 2000 code stream cannot be decoded, truncated or corrupt ({exc})") from exc
    if data.ndim == 3:
        data = data[..., 0]
    if data.shape[0] != size_px:
        data = _resize_uint8(data, size_px)
    data = np.ascontiguousarray(data, dtype=np.uint8)
    check_pixels(data, meta, path)
    return Magnetogram(data=data, meta=meta)


def _resize_uint8(data: np.ndarray, size_px: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(data).resize((size_px, size_px), Image.Resampling.BOX), dtype=np.uint8)


# ---------------------------------------------------------------------------
# FITS


def _read_fits(path: Path, size_px: int) -> Magnetogram:
    from astropy.io import fits

    if not path.is_file():
        raise MagnetogramError(path, "no such file")
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if getattr(h, "data", None) is not None and h.data.ndim == 2), None)
            if hdu is None:
                raise CorruptFileError(path, "no 2-D image in the FITS file")
            header = {k: hdu.header[k] for k in hdu.header if k not in ("COMMENT", "HISTORY", "")}
            b = np.asarray(hdu.data, dtype=np.float32)
    except MagnetogramError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"not a readable FITS file ({exc})") from exc
    rot = float(header.get("CROTA2", 0.0) or 0.0)
    naxis = b.shape[0]
    # product check before any processing
    _meta_from_header(path, {**header, "NAXIS1": naxis}, size_px, rot, True)
    if abs(((rot + 180) % 360) - 180) > 90:  # HMI level 1.5 is ~180 deg rotated: turn north up
        b = b[::-1, ::-1]
        header["CRPIX1"] = naxis + 1 - float(header["CRPIX1"])
        header["CRPIX2"] = naxis + 1 - float(header["CRPIX2"])
        rot = rot - 180.0
    b = b[::-1]  # FITS row 0 is south; ours is north
    factor = naxis // size_px
    if naxis % size_px:
        raise MagnetogramError(path, f"image size {naxis} px is not a multiple of the output size {size_px}")
    if factor > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks off the disk
            b = np.nanmean(b.reshape(size_px, factor, size_px, factor), axis=(1, 3))
    meta = _meta_from_header(path, {**header, "NAXIS1": naxis}, size_px, rot, True)
    data = gauss_to_uint8(b)
    check_pixels(data, meta, path)
    return Magnetogram(data=data, meta=meta)


def read_magnetogram(path: str | Path, size_px: int = 512) -> Magnetogram:
    """Read a full-disk line-of-sight magnetogram as an 8-bit, north-up image.

    Parameters
    ----------
    path : path-like
        A Helioviewer JPEG 2000 (``.jp2``) or an HMI FITS magnetogram
        (``.fits``, ``.fits.gz``, ``.fts``).
    size_px : int
        Output width and height in pixels (512). For JP2 a power-of-two
        fraction of the original is decoded directly at that resolution.

    Returns
    -------
    Magnetogram

    Raises
    ------
    MagnetogramError
        Missing file (base class).
    CorruptFileError
        Truncated, corrupt or unknown format.
    WrongProductError
        A valid image that is not a line-of-sight magnetogram (e.g. HMI continuum).
    HeaderError
        Metadata missing or unreadable.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".jp2", ".j2k", ".jpx")):
        return _read_jp2(path, size_px)
    if name.endswith((".fits", ".fits.gz", ".fts", ".fit", ".fz")):
        return _read_fits(path, size_px)
    if not path.exists():
        raise MagnetogramError(path, "no such file")
    raise CorruptFileError(path, "unknown file type (expected .jp2 or .fits)")
