"""The simulator: geometry, calibration against the real magnetogram, flares, oracle, outputs."""
import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from flarelib import read_magnetogram
from flarelib.data.store import open_store
from flarelib.io.geometry import disk_mask, mu_map, orthographic_project, stonyhurst_to_pixel
from flarelib.io.magnetogram import uint8_to_gauss
from flarelib.sim.simulator import SimConfig, Simulator, b0_annual_deg, simulate_to_jp2, simulate_to_store

from .conftest import ROOT, run_cli

YEAR = SimConfig()  # the default: 2012, hourly, 512 px, seed 0


@pytest.fixture(scope="module")
def year_sim():
    return Simulator(YEAR)


def _saturated_fraction(img, center, radius):
    d = img[mu_map(img.shape[0], center, radius) > 0.2]
    return float(((d >= 255) | (d <= 0)).mean())


def test_b0_follows_the_annual_cycle():
    b0 = b0_annual_deg(pd.to_datetime(["2012-03-07", "2012-06-06", "2012-09-08", "2012-12-07"]))
    assert b0[0] == pytest.approx(-7.25, abs=0.1) and abs(b0[1]) < 0.1 and b0[2] == pytest.approx(7.25, abs=0.1)
    # and agrees with sunpy's ephemeris to a few tenths of a degree
    from flarelib.io.geometry import b0_angle_deg

    assert np.allclose(b0, b0_angle_deg(pd.to_datetime(["2012-03-07", "2012-06-06", "2012-09-08", "2012-12-07"])), atol=0.3)


def test_orthographic_projection_agrees_with_sunpy(real_magnetogram):
    meta = read_magnetogram(real_magnetogram).meta
    lon, lat = np.array([0.0, 45.0, -70.0, 85.0]), np.array([0.0, 20.0, -15.0, 30.0])
    x, y, vis = stonyhurst_to_pixel(lon, lat, meta)
    ox, oy, mu = orthographic_project(lon, lat, meta.b0_deg, meta.disk_center_px, meta.disk_radius_px)
    assert vis.all() and (mu > 0).all()
    assert np.allclose(x, ox, atol=0.6) and np.allclose(y, oy, atol=0.6)
    # north is up and B0 > 0 shows the north pole: the disk centre point (0, 0) lies below the image centre
    assert y[0] > meta.disk_center_px[1]


def test_histogram_matches_the_real_magnetogram(real_magnetogram, year_sim):
    real = read_magnetogram(real_magnetogram)
    rd = real.data[real.disk_mask]
    # one simulated frame at the real image's time of day: on-disk percentiles within 2 counts
    frame = year_sim.frame(5000)
    sd = frame[disk_mask(512, YEAR.center_px, YEAR.radius_px)]
    q = [5, 25, 50, 75, 95]
    assert np.all(np.abs(np.percentile(sd, q) - np.percentile(rd, q)) <= 2), (np.percentile(sd, q), np.percentile(rd, q))
    # saturated fraction (inside mu > 0.2): the median over a year of frames within a factor of 2 of the real one
    real_sat = _saturated_fraction(real.data, real.meta.disk_center_px, real.meta.disk_radius_px)
    sim_sat = np.median([_saturated_fraction(year_sim.frame(i), YEAR.center_px, YEAR.radius_px) for i in range(0, 8784, 366)])
    assert real_sat / 2 <= sim_sat <= real_sat * 2, (sim_sat, real_sat)
    # off-disk pixels are 0 and the radius is the real one
    assert frame[0, 0] == 0 and YEAR.radius_px == pytest.approx(real.meta.disk_radius_px, abs=0.1)


def test_default_year_is_hard_but_predictable(year_sim):
    from flarelib.sim.simulator import _frame_index, simulation_report

    idx, _ = _frame_index(year_sim)
    rep = simulation_report(year_sim, idx, year_sim.oracle())
    assert 4.5 <= rep["nf_per_fl"] <= 8.0, rep["nf_per_fl"]  # about 1 flare instance for 6 no-flare ones
    assert 0.6 <= rep["oracle"]["tss"] <= 0.85, rep["oracle"]
    assert all(v["FL"] > 0 and v["NF"] > 0 for v in rep["partitions"].values())


def test_flares_follow_a_power_law_and_come_from_regions(year_sim):
    f = year_sim.flares
    assert (f["peak_flux_wm2"] >= 1e-6).all() and set(f["goes_class"].str[0]) <= set("CMX")
    # cumulative distribution slope between C1 and M1 is about -(index - 1) = -0.9
    n_c1, n_m1 = len(f), (f["peak_flux_wm2"] >= 1e-5).sum()
    assert 0.6 < -np.log10(n_m1 / n_c1) < 1.3
    assert f["region_id"].isin(year_sim.regions["region_id"]).all()
    # GOES sees flares only up to 10 deg behind the limb
    assert f["lon_deg"].abs().max() <= 100.0 and (f["lon_deg"].abs() > 90).any()


def test_hale_and_joy_on_the_rendered_magnetograms():
    """Measured on the images, not the parameters: the westward (leading) polarity has the sign Hale's law gives
    each hemisphere, and sits closer to the equator than the following one (Joy's law)."""
    cfg = SimConfig(start="2012-03-01", end="2012-08-31", cadence_h=96, size_px=256, seed=1)
    sim = Simulator(cfg)
    hale, joy = [], []
    for i in range(len(sim.times)):
        b = uint8_to_gauss(sim.frame(i))
        lab = sim.region_masks(i)
        state = sim.region_state(sim._frame_hours()[i:i + 1])
        for rid in np.unique(lab[lab > 0]):
            k = int(np.flatnonzero(sim.regions["region_id"].to_numpy() == rid)[0])
            if abs(state["lon"][k, 0]) > 45 or state["amp"][k, 0] < 0.5:
                continue  # near the limb, or too young or old to show its spots
            yy, xx = np.nonzero(lab == rid)
            v = b[yy, xx]
            pos, neg = v > 100, v < -100
            if pos.sum() < 3 or neg.sum() < 3:
                continue
            (xp, yp), (xn, yn) = [(np.average(xx[m], weights=np.abs(v[m])), np.average(yy[m], weights=np.abs(v[m]))) for m in (pos, neg)]
            leading_sign, lead_y, follow_y = (1, yp, yn) if xp > xn else (-1, yn, yp)  # west is to the right
            north = sim.regions["hemisphere"].iloc[k] > 0
            hale.append(leading_sign == (cfg.hale_north_leading if north else -cfg.hale_north_leading))
            # rows grow southward: equatorward is down in the north, up in the south
            joy.append(lead_y > follow_y if north else lead_y < follow_y)
    assert len(hale) >= 40
    assert np.mean(hale) > 0.85
    assert np.mean(joy) > 0.6
    assert sim.regions["lat_deg"].abs().between(5, 35).all()


def test_complex_regions_have_larger_r_and_flare_more(year_sim):
    amp = np.ones((len(year_sim.regions), 1))
    R = year_sim.schrijver_r(amp, amp)[:, 0] / year_sim.regions["flux_mx"].to_numpy()
    cplx = year_sim.regions["complexity"].to_numpy() > 0
    assert np.median(R[cplx]) > 3 * np.median(R[~cplx])
    m = year_sim.flares[year_sim.flares["peak_flux_wm2"] >= 1e-5]
    share = m["region_id"].isin(year_sim.regions.loc[cplx, "region_id"]).mean()
    assert share > 0.5 and cplx.mean() < 0.5


def test_oracle_is_one_minus_exp_of_expected_count(year_sim):
    o = year_sim.oracle()
    assert np.allclose(o["p_oracle"], 1 - np.exp(-o["expected_n"]))
    assert np.allclose(o["p_present"], 1 - np.exp(-o["expected_n_present"]))
    assert len(o) == len(year_sim.times) and o["p_oracle"].between(0, 1).all() and o["p_present"].between(0, 1).all()


def test_present_disk_oracle_knows_less_than_the_full_oracle(year_sim):
    """From the visible disk at t alone (no emergence, no regions behind the limb) less skill is attainable."""
    from flarelib.sim.simulator import _frame_index, simulation_report

    idx, _ = _frame_index(year_sim)
    rep = simulation_report(year_sim, idx, year_sim.oracle())
    assert 0.3 < rep["oracle_present"]["tss"] < rep["oracle"]["tss"]


def test_region_masks_cover_the_flaring_regions(year_sim):
    f = year_sim.flares
    big = f[(f["peak_flux_wm2"] >= 1e-5) & (f["lon_deg"].abs() < 50)].iloc[0]
    i = int(year_sim.times.searchsorted(big["start"]) - 1)
    lab = year_sim.region_masks(i)
    assert (lab == big["region_id"]).sum() > 20
    x, y, _ = orthographic_project(big["lon_deg"], big["lat_deg"], year_sim.frame_b0(i), YEAR.center_px, YEAR.radius_px)
    near = lab[int(y) - 15:int(y) + 15, int(x) - 15:int(x) + 15]
    assert (near == big["region_id"]).any()


def test_same_seed_same_bytes_other_seed_other_sun():
    a = Simulator(SimConfig(start="2012-05-01", end="2012-05-01T03:00", size_px=128, seed=7))
    b = Simulator(SimConfig(start="2012-05-01", end="2012-05-01T03:00", size_px=128, seed=7))
    c = Simulator(SimConfig(start="2012-05-01", end="2012-05-01T03:00", size_px=128, seed=8))
    assert np.array_equal(a.frame(2), b.frame(2)) and a.flares.equals(b.flares)
    assert not np.array_equal(a.frame(2), c.frame(2))


def test_store_output_is_deterministic_and_resumable(tmp_path):
    cfg = SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=96, size_px=64, seed=3)
    p1 = simulate_to_store(cfg, tmp_path / "a", workers=2, progress=False)
    p2 = simulate_to_store(cfg, tmp_path / "b", workers=1, progress=False)
    h = lambda p: hashlib.sha256((p / "images.u8").read_bytes()).hexdigest()  # noqa: E731
    assert h(p1) == h(p2)
    st = open_store(p1)
    assert len(st) == len(cfg.times()) and (st.index["partition"].unique().size == 4)
    rep = json.loads((p1 / "report.json").read_text())
    assert {"FL", "NF", "nf_per_fl", "partitions", "oracle"} <= set(rep)
    for f in ("catalog.csv", "regions.csv", "oracle.csv"):
        assert (p1 / f).is_file()


def test_a_killed_simulation_resumes_to_the_same_bytes(tmp_path):
    args = ["simulate", "--start", "2012-01-01", "--end", "2012-12-31", "--cadence", "48", "--size", "64", "--seed", "3",
            "--workers", "1", "--quiet"]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "flarelib", *args, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (out / "progress.npy").exists() and time.time() - t0 < 120 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "store.json").exists()  # cut short: not a store yet
    done_before = int(np.load(out / "progress.npy").sum())
    assert 0 < done_before < 183
    r = run_cli(*args, "--out", out)
    assert r.returncode == 0, r.stderr
    whole = simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=64, seed=3), tmp_path / "whole",
                              workers=2, progress=False)
    h = lambda p: hashlib.sha256((p / "images.u8").read_bytes()).hexdigest()  # noqa: E731
    assert h(out) == h(whole)
    assert (out / "index.csv").read_bytes() == (whole / "index.csv").read_bytes()


def test_jp2_output_reads_like_real_data(tmp_path):
    cfg = SimConfig(start="2012-09-08T00:00", end="2012-09-08T02:00", size_px=128, seed=1)
    rows = simulate_to_jp2(cfg, tmp_path / "jp2", progress=False)
    f = tmp_path / "jp2" / rows["path"].iloc[1]
    r = run_cli("inspect", f, "--size", "128", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["date_obs"] == "2012-09-08T01:00:00" and d["product"] == "MAGNETOGRAM"
    assert d["b0_deg"] == pytest.approx(7.25, abs=0.1) and d["disk_radius_px"] == pytest.approx(cfg.radius_px, abs=0.01)
    m = read_magnetogram(f, size_px=128)
    assert np.array_equal(m.data, Simulator(cfg).frame(1))
    from flarelib.io.catalog import read_catalog

    assert "region_id" in read_catalog(tmp_path / "jp2" / "catalog.csv").table


def test_cli_simulate_store_report(tmp_path):
    r = run_cli("simulate", "--start", "2012-01-01", "--end", "2012-12-31", "--cadence", "48", "--size", "64", "--out",
                tmp_path / "s", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "oracle TSS" in r.stdout and "partition 4" in r.stdout


def test_disk_scores_weigh_the_visible_regions_by_size_and_delta_spots(year_sim):
    sc = year_sim.disk_scores()
    assert list(sc.columns) == ["timestamp", "flux_score", "flux_complexity_score"] and len(sc) == len(year_sim.times)
    assert (sc["flux_score"] >= 0).all() and (sc["flux_complexity_score"] >= 0.05 * sc["flux_score"] - 1e-12).all()
    # the complexity weight is at most 1.05: delta spots can only raise a region's term that far
    assert (sc["flux_complexity_score"] <= 1.05 * sc["flux_score"] + 1e-12).all()
    # the flaring instants have the bigger visible regions
    from flarelib.sim.simulator import _frame_index

    idx, _ = _frame_index(year_sim)
    s = sc.set_index("timestamp").loc[idx["timestamp"], "flux_score"].to_numpy()
    assert np.median(s[idx["target"].to_numpy() == 1]) > 2 * np.median(s[idx["target"].to_numpy() == 0])


def test_the_quiet_sun_network_rotates_with_the_photosphere():
    """Cross-correlating two frames 12 h apart: the network near disk centre moves west by the synodic rate."""
    sim = Simulator(SimConfig(start="2012-03-01T00:00", end="2012-03-01T12:00", cadence_h=12, size_px=512, seed=3, activity=1e-3))
    a, b = (sim.field(i)[0] for i in (0, 1))
    c, half = 255, 40
    ref = a[c - half:c + half, c - half:c + half]
    shifts = range(-25, 26)
    score = [float(np.corrcoef(ref.ravel(), b[c - half:c + half, c - half + s:c + half + s].ravel())[0, 1]) for s in shifts]
    best = list(shifts)[int(np.argmax(score))]
    expected = sim.config.radius_px * np.sin(np.radians(13.2 * 0.5))  # px in 12 h at the centre
    assert best > 0 and abs(best - expected) <= 2, (best, expected)
    assert max(score) > 0.5
