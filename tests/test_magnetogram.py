"""Reading magnetograms: the real Helioviewer JP2, wrong products, damaged files, FITS."""
import json

import numpy as np
import pytest
from astropy.io import fits

from flarelib import read_magnetogram
from flarelib.errors import CorruptFileError, HeaderError, MagnetogramError, WrongProductError
from flarelib.io.magnetogram import gauss_to_uint8, read_jp2_header, uint8_to_gauss

from .conftest import run_cli


def test_real_jp2_is_decoded_at_512_with_typed_metadata(real_magnetogram):
    m = read_magnetogram(real_magnetogram)
    assert m.data.shape == (512, 512) and m.data.dtype == np.uint8
    meta = m.meta
    assert meta.date_obs.isoformat() == "2022-08-02T10:47:53"
    assert meta.product == "MAGNETOGRAM"
    assert "HMI" in meta.instrument
    assert meta.b0_deg == pytest.approx(5.86, abs=0.01)
    assert meta.l0_deg == pytest.approx(204.451)
    assert meta.rsun_arcsec == pytest.approx(945.42, abs=0.01)
    assert meta.dsun_m == pytest.approx(1.5185e11, rel=1e-3)
    assert meta.disk_radius_px == pytest.approx(197, abs=0.5)
    assert meta.disk_center_px == pytest.approx((255.5, 255.5))


def test_geometry_goes_through_the_maps_wcs(real_magnetogram):
    """Disk centre and radius come from sunpy's map of the header rescaled to the output size."""
    import astropy.constants as const
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from flarelib.io.geometry import AU_M, RSUN_M, stonyhurst_to_pixel

    assert RSUN_M == const.R_sun.to_value(u.m) and AU_M == const.au.to_value(u.m)
    for size in (128, 512):
        m = read_magnetogram(real_magnetogram, size_px=size)
        mp = m.to_map()
        assert mp.data.shape == (size, size) and mp.date.isot.startswith("2022-08-02T10:47:53")
        assert mp.observer_coordinate.lat.to_value(u.deg) == pytest.approx(5.86, abs=0.01)
        assert float((mp.rsun_obs / mp.scale.axis1).to_value(u.pix)) == pytest.approx(m.meta.disk_radius_px)
        # the disk centre is where the map's WCS puts helioprojective (0, 0); rows flip (map: row 0 south)
        cx, cy = mp.wcs.world_to_pixel(SkyCoord(0 * u.arcsec, 0 * u.arcsec, frame=mp.coordinate_frame))
        assert (float(cx), size - 1 - float(cy)) == pytest.approx(m.meta.disk_center_px)
        assert m.meta.disk_radius_px == pytest.approx(197 * size / 512, rel=2e-3)
    # the sub-observer point (longitude 0, latitude B0) is the disk centre; a point at 90 deg west is on the limb
    x, y, vis = stonyhurst_to_pixel([0.0, 90.0], [m.meta.b0_deg, 0.0], m.meta)
    assert (x[0], y[0]) == pytest.approx(m.meta.disk_center_px, abs=0.05) and vis[0]
    assert x[1] - m.meta.disk_center_px[0] == pytest.approx(m.meta.disk_radius_px, rel=0.01)


def test_disk_outline_from_header_matches_the_pixels(real_magnetogram):
    m = read_magnetogram(real_magnetogram)
    on = m.data > 0
    yy, xx = np.nonzero(on)
    # the non-zero pixels are the disk: centroid and area agree with the header geometry
    assert xx.mean() == pytest.approx(m.meta.disk_center_px[0], abs=1.0)
    assert yy.mean() == pytest.approx(m.meta.disk_center_px[1], abs=1.0)
    assert np.sqrt(on.sum() / np.pi) == pytest.approx(m.meta.disk_radius_px, rel=0.02)
    # 0 G sits at about 127 on the disk
    assert 126 <= np.median(m.data[m.disk_mask]) <= 129


def test_other_output_sizes_are_power_of_two_reductions(real_magnetogram):
    m = read_magnetogram(real_magnetogram, size_px=128)
    assert m.data.shape == (128, 128)
    assert m.meta.disk_radius_px == pytest.approx(197 / 4, abs=0.2)


def test_continuum_is_refused_as_wrong_product(real_continuum):
    with pytest.raises(WrongProductError, match="not a line-of-sight magnetogram") as e:
        read_magnetogram(real_continuum)
    assert real_continuum.name in str(e.value)


def test_truncated_jp2_names_the_file(real_magnetogram, tmp_path):
    bad = tmp_path / "truncated.jp2"
    bad.write_bytes(real_magnetogram.read_bytes()[:200_000])
    with pytest.raises(CorruptFileError) as e:
        read_magnetogram(bad)
    assert "truncated.jp2" in str(e.value)


def test_garbage_file_is_corrupt(tmp_path):
    bad = tmp_path / "noise.jp2"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CorruptFileError, match="noise.jp2"):
        read_magnetogram(bad)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MagnetogramError, match="no such file"):
        read_magnetogram(tmp_path / "nope.jp2")


def test_header_keywords_are_read(real_magnetogram):
    h = read_jp2_header(real_magnetogram)
    assert h["CONTENT"] == "MAGNETOGRAM" and h["HV_ROTATION"] == "0.00000"


def test_gauss_scale_is_helioviewers():
    v = gauss_to_uint8(np.array([-1000.0, -250.0, -0.01, 0.0, 0.01, 1.96, 250.0, 1000.0, np.nan]))
    # IDL bytscl: 0 G is the upper edge of 127 (bins of 500/256 G)
    assert v.tolist() == [0, 0, 127, 127, 128, 129, 255, 255, 0]
    assert abs(uint8_to_gauss(np.array([127.5]))[0]) < 1e-3
    assert np.array_equal(gauss_to_uint8(uint8_to_gauss(np.arange(256))), np.arange(256))  # bin centres round-trip


def test_zero_level_is_the_real_jp2s(real_magnetogram):
    """The scale's zero (127.5 counts, the edge between 127 and 128) is where the real magnetogram's quiet disk is
    symmetric: counts 127 and 128 within 2 % of each other, and the mean of the central counts maps to 0 G."""
    m = read_magnetogram(real_magnetogram)
    d = m.data[m.disk_mask]
    n127, n128 = (d == 127).sum(), (d == 128).sum()
    assert abs(n127 - n128) / (n127 + n128) < 0.02
    core = d[(d > 117) & (d < 138)]
    assert abs(float(uint8_to_gauss(np.array([core.mean()]))[0])) < 0.2


def _hmi_fits(path, content="MAGNETOGRAM", crota=180.0, n=1024):
    yy, xx = np.mgrid[:n, :n]
    c = (n + 1) / 2 - 1
    r = np.hypot(xx - c, yy - c)
    data = np.where(r < 400, 0.0, np.nan).astype(np.float32)
    data[(np.abs(xx - c - 100) < 20) & (np.abs(yy - c - 50) < 20)] = 800.0  # a positive spot
    hdr = fits.Header()
    for k, v in dict(CONTENT=content, BUNIT="Gauss", DATE_OBS="2014-01-01T00:00:00.000", INSTRUME="HMI_SIDE1", TELESCOP="SDO/HMI",
                     CRPIX1=(n + 1) / 2, CRPIX2=(n + 1) / 2, CDELT1=2.4, CDELT2=2.4, RSUN_OBS=960.0, CRLT_OBS=-3.0,
                     CRLN_OBS=10.0, DSUN_OBS=1.47e11, CROTA2=crota).items():
        hdr[k] = v
    fits.PrimaryHDU(data=data, header=hdr).writeto(path)
    return path


def test_hmi_fits_is_mapped_to_the_same_8bit_scale_north_up(tmp_path):
    p = _hmi_fits(tmp_path / "hmi.fits")
    m = read_magnetogram(p, size_px=512)
    assert m.data.shape == (512, 512)
    assert m.meta.b0_deg == -3.0 and m.meta.disk_radius_px == pytest.approx(200.0)
    # the spot sat at +x, +y in the rotated (CROTA2=180) FITS frame: after turning north up and
    # flipping rows it is at -x (east) and upper half -> row < centre, column < centre
    ys, xs = np.nonzero(m.data == 255)
    assert xs.mean() < 255.5 and ys.mean() > 255.5
    assert m.data[0, 0] == 0 and 126 <= np.median(m.data[m.disk_mask]) <= 129


def test_fits_continuum_is_wrong_product(tmp_path):
    p = _hmi_fits(tmp_path / "cont.fits", content="CONTINUUM INTENSITY")
    with pytest.raises(WrongProductError, match="cont.fits"):
        read_magnetogram(p)


def test_jp2_without_xml_header_is_a_header_error(tmp_path):
    import glymur

    p = tmp_path / "plain.jp2"
    glymur.Jp2k(str(p), data=np.zeros((64, 64), np.uint8))
    with pytest.raises(HeaderError, match="plain.jp2"):
        read_magnetogram(p, size_px=64)


def test_cli_inspect_json(real_magnetogram):
    r = run_cli("inspect", real_magnetogram, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["date_obs"] == "2022-08-02T10:47:53"
    assert d["b0_deg"] == pytest.approx(5.86, abs=0.01)
    assert d["disk_radius_px"] == pytest.approx(197, abs=0.5)
    assert d["disk_center_px"] == pytest.approx([255.5, 255.5], abs=1e-9)
    assert d["rsun_arcsec"] == pytest.approx(945.42, abs=0.01)
    assert d["instrument"] and d["product"] == "MAGNETOGRAM"


def test_cli_refuses_continuum_with_one_line(real_continuum):
    r = run_cli("inspect", real_continuum, "--json")
    assert r.returncode == 2
    assert "not a line-of-sight magnetogram" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
