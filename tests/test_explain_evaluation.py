"""Explanations evaluated at scale: controls, header disks, deletion curves, clustered intervals, randomisation verdicts,
region-level forecasts — each measure with a case that must fail."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from flarelib.errors import InputError
from flarelib.explain.attribution import explain, field_free_baseline, localisation, pointing
from flarelib.explain.evaluation import (
    STRATA,
    ExplanationEvalConfig,
    control_maps,
    deletion_drops,
    evaluate_explanations,
    randomisation_flag,
    sample_instances,
    simulator_truth,
    validation_predictions,
)
from flarelib.explain.regions import attribution_components, match_components
from flarelib.io.geometry import disk_mask
from flarelib.io.magnetogram import ZERO_GAUSS_VALUE
from flarelib.model.network import ModelConfig, build_model
from flarelib.sim.simulator import flaring_regions
from flarelib.verify.uncertainty import cluster_interval

from .conftest import run_cli
from .test_model_training import tiny_store  # noqa: F401  (fixture)

S = 64
CENTRE, RADIUS = (31.5, 31.5), 26.0


def _disk_image(umbra_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A 64 px field-free disk with a bipole whose negative umbra is saturated (0: the same byte as the sky)."""
    disk = disk_mask(S, CENTRE, RADIUS)
    img = np.where(disk, 127.5, 0.0).astype(np.float32)
    img[28:32, 24:28] = umbra_value  # saturated negative umbra, inside the disk
    img[28:32, 30:34] = 255.0  # its positive partner
    return img, disk


def test_saturated_negative_umbra_is_on_the_header_disk():
    img, disk = _disk_image()
    umbra = np.zeros_like(disk)
    umbra[28:32, 24:28] = True
    assert disk[umbra].all() and (img[umbra] == 0).all()
    # controls: with the header disk the umbra is the strongest field (|B| = 250 G), not sky
    c = control_maps(img[None], disk[None])
    assert c["abs_field"][0][umbra].min() == pytest.approx(c["abs_field"][0].max(), rel=1e-3)
    assert c["uniform"][0][umbra].all()
    # the pixel > 0 rule would have thrown the umbra off the disk: the IG baseline there is sky, and IG exactly 0
    x = torch.from_numpy(img)[None, None]
    assert float(field_free_baseline(x)[0, 0, 29, 25]) == 0.0
    assert float(field_free_baseline(x, disk[None])[0, 0, 29, 25]) == ZERO_GAUSS_VALUE
    torch.manual_seed(0)
    model = build_model(ModelConfig(init="kaiming", input_scaling="centered")).eval()
    xr = torch.nn.functional.interpolate(x, size=128)
    dr = disk_mask(128, (63.5, 63.5), 52.0)[None]
    ig_pixel_rule = explain(model, xr, ("ig",), n_steps=8).maps["ig"][0]
    ig_header = explain(model, xr, ("ig",), n_steps=8, disks=dr).maps["ig"][0]
    um = torch.nn.functional.interpolate(torch.from_numpy(umbra[None, None].astype(np.float32)), size=128)[0, 0].numpy() > 0.5
    assert np.all(ig_pixel_rule[um] == 0) and np.abs(ig_header[um]).sum() > 0
    # localisation on the header disk counts the umbra; the region's area share does not depend on its pixel values
    loc = localisation(c["abs_field"][0], umbra, disk)
    assert loc["pointing"] > 0 and loc["area_share"] == pytest.approx(umbra.sum() / disk.sum())


def test_limb_pixels_are_read_through_their_disk_coverage():
    """A reduced image's limb pixels mix disk and sky (the byte of -250 G): without the coverage, |B| and the IG baseline
    see a ring of strong negative field on the limb."""
    from flarelib.io.geometry import disk_coverage

    cov = disk_coverage(S, CENTRE, RADIUS)
    disk = disk_mask(S, CENTRE, RADIUS)
    assert cov.sum() == pytest.approx(np.pi * RADIUS**2, rel=0.01) and cov[disk].min() >= 0.5
    blank = np.round(127.5 * cov)[None]  # a field-free Sun at this resolution, its rim anti-aliased
    ring = disk & (cov < 1)
    naive = control_maps(blank, disk[None], ("abs_field",))["abs_field"][0]
    fixed = control_maps(blank, disk[None], ("abs_field",), coverage=cov[None])["abs_field"][0]
    assert naive[ring].max() > 100 and fixed.max() < 5  # gauss
    # IG from the coverage baseline attributes nothing to a field-free Sun; from the mask baseline, the ring
    x = torch.from_numpy(blank.astype(np.float32))[:, None]
    assert torch.allclose(field_free_baseline(x, cov[None].astype(np.float32)), x, atol=0.51)


def test_gradient_control_peaks_on_the_polarity_inversion_line():
    img, disk = _disk_image(umbra_value=0.0)
    g = control_maps(img[None], disk[None], ("field_gradient",), smooth_px=1.0)["field_gradient"][0]
    y, x = np.unravel_index(np.argmax(g), g.shape)
    assert 28 <= y < 32 and 26 <= x <= 31  # between the umbra (24-27) and its partner (30-33)
    # the limb is not an edge: off-disk sky is 0 G, like a field-free disk
    blank = np.where(disk, 127.5, 0.0)[None]
    assert control_maps(blank, disk[None], ("field_gradient",))["field_gradient"].max() < 1e-6


def test_pointing_counts_ties_fractionally():
    disk = np.ones((10, 10), bool)
    region = np.zeros((10, 10), bool)
    region[:2] = True
    assert pointing(np.ones((10, 10)), region, disk) == pytest.approx(0.2)  # a constant map scores the area share
    a = np.zeros((10, 10))
    a[0, 0] = 1
    assert pointing(a, region, disk) == 1.0 and pointing(-a, region, disk) == pytest.approx(19 / 99)
    # tolerance widens the region for the pointing game only
    a2 = np.zeros((10, 10))
    a2[2, 5] = 1
    assert localisation(a2, region, disk)["pointing"] == 0 and localisation(a2, region, disk, tolerance_px=1)["pointing"] == 1


class _RegionLogOdds(nn.Module):
    """Logits whose flare log-odds is the summed |B| (byte distance from 0 G) inside one region: a known answer."""

    def __init__(self, region: np.ndarray):
        super().__init__()
        self.register_buffer("region", torch.from_numpy(region.astype(np.float32)))

    def forward(self, x):
        s = ((x[:, 0] - ZERO_GAUSS_VALUE).abs() * self.region).sum((1, 2)) / 100.0
        return torch.stack([torch.zeros_like(s), s], 1)


def test_deletion_of_the_right_pixels_drops_the_log_odds_and_random_deletion_does_not():
    img, disk = _disk_image()
    region = np.zeros_like(disk)
    region[28:32, 24:34] = True
    net = _RegionLogOdds(region)
    right = region.astype(float)
    wrong = (disk & ~region).astype(float) * np.random.default_rng(0).random(disk.shape)
    d = deletion_drops(net, torch.from_numpy(img)[None], {"right": right, "wrong": wrong}, disk, (0.02, 0.05, 0.2),
                       np.random.default_rng(0))
    full = float(net(torch.from_numpy(img)[None, None])[0, 1])
    # 2 % of the disk covers the whole region: deleting it removes all the evidence
    assert d["right"]["top"][0] == pytest.approx(full, rel=1e-5)
    assert np.all(d["wrong"]["top"] == 0)
    assert np.all(d["right"]["random"] < 0.5 * full)
    assert np.array_equal(d["right"]["random"], d["wrong"]["random"])  # one random deletion for every map


class _Linear(nn.Module):
    """Flare logit linear in the field: its exact attribution is the weight map."""

    def __init__(self, w: np.ndarray):
        super().__init__()
        self.register_buffer("w", torch.from_numpy(w.astype(np.float32)))

    def forward(self, x):
        s = ((x[:, 0] - ZERO_GAUSS_VALUE) * self.w).sum((1, 2))
        return torch.stack([torch.zeros_like(s), s], 1)


def test_infidelity_is_lowest_for_the_true_attribution():
    from flarelib.explain.evaluation import infidelity_scores

    img, disk = _disk_image()
    rng = np.random.default_rng(0)
    w = np.where(disk, rng.normal(size=disk.shape), 0.0) * 0.01
    scores = infidelity_scores(_Linear(w), torch.from_numpy(img)[None], {"true": w, "scaled": 7 * w, "random": rng.normal(size=w.shape),
                                                                          "uniform": disk.astype(float)}, disk, n_perturb=20)
    worst = min(scores["random"], scores["uniform"])
    # normalised: the scale of a map does not matter; the exact map's infidelity is float32 round-off
    assert scores["true"] < 1e-3 * worst and scores["scaled"] < 1e-3 * worst


def test_cluster_interval_resamples_groups_not_rows():
    v = np.r_[np.zeros(50), np.ones(50)]
    groups = np.r_[np.zeros(50), np.ones(50)]
    est, lo, hi = cluster_interval(lambda r: float(v[r].mean()), groups, n_boot=400, seed=0)
    assert est == 0.5 and lo == 0.0 and hi == 1.0  # two flares: the interval spans them
    est, lo, hi = cluster_interval(lambda r: float(v[r].mean()), np.arange(100), n_boot=400, seed=0)
    assert 0.35 < lo < 0.5 < hi < 0.65  # a hundred independent rows: narrow


def test_randomisation_verdict_uses_the_reference_level():
    assert randomisation_flag([0.80, 0.85], [0.30, 0.40])  # keeps far more than random models share: flagged
    assert not randomisation_flag([0.32, 0.30], [0.45, 0.47])  # below the reference: nothing model-specific is left
    assert not randomisation_flag([0.06, -0.02], [-0.03, 0.04])  # unrelated maps all round: passes
    assert not randomisation_flag([0.45, 0.50], [0.40, 0.44])  # above, but within the margin
    assert randomisation_flag([0.1], [0.1], empty=True)


def test_sample_is_stratified_and_random():
    rng = np.random.default_rng(1)
    n = 2000
    target = rng.random(n) < 0.3
    prob = np.clip(target * 0.4 + rng.random(n) * 0.6, 0, 1)
    lon = np.where(target, rng.uniform(-90, 90, n), np.nan)
    preds = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=n, freq="h"), "flare_prob": prob, "target": target.astype(int),
                          "fl_lon": lon})
    s = sample_instances(preds, 20, seed=0)
    assert s["stratum"].value_counts().to_dict() == {k: 20 for k in STRATA}
    assert (s.loc[s["stratum"].str.endswith("near-limb"), "fl_lon"].abs() > 70).all()
    tp = s[s["outcome"] == "TP"]
    assert tp["flare_prob"].min() < 0.9  # not the most confident ones
    assert not s.equals(sample_instances(preds, 20, seed=1))


def test_components_split_the_attribution_largest_first():
    disk = disk_mask(S, CENTRE, RADIUS)
    a = np.zeros((S, S))
    a[10:14, 30:34] = 1.0
    a[40:46, 20:26] = 1.0
    a[50, 50] = -5  # negative attribution is not evidence for a flare
    labels, t = attribution_components(a, disk, RADIUS, quantile=0.9)
    assert list(t["component"]) == [1, 2] and t["share"].iloc[0] == pytest.approx(36 / 52, abs=0.02)
    assert 40 <= t["y_px"].iloc[0] <= 46 and labels[42, 22] == 1 and labels[11, 31] == 2
    assert attribution_components(np.zeros((S, S)), disk, RADIUS)[1].empty
    truth = np.zeros((S, S), int)
    truth[38:44, 18:24] = 7  # overlaps component 1
    truth[44:48, 24:28] = 9  # overlaps component 1 too
    truth[60:62, 60:62] = 3  # overlaps nothing
    m = match_components(labels, t, truth, {9, 3})
    assert m["true_regions"].tolist() == [[7, 9], []] and m["flared"].tolist() == [True, False]
    with pytest.raises(InputError, match="differ in shape"):
        match_components(labels, t, truth[:-1], set())


def test_flaring_regions_in_the_window():
    cat = pd.DataFrame({"start": pd.to_datetime(["2012-01-01 05:00", "2012-01-01 20:00", "2012-01-02 03:00"]),
                        "peak_flux_wm2": [2e-5, 5e-6, 1e-4], "region_id": [3, 4, 5]})
    out = flaring_regions(cat, pd.to_datetime(["2012-01-01 00:00", "2012-01-01 06:00"]))
    assert out == [{3}, {5}]  # C-class flares do not count; (t, t + 24 h]


@pytest.fixture(scope="module")
def tiny_run(tiny_store, tmp_path_factory):  # noqa: F811
    from flarelib.model.training import TrainConfig, train_fold

    out = tmp_path_factory.mktemp("run")
    train_fold(tiny_store, 1, TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=2, threads=1), out, progress=False)
    return out / "fold1" / "model.pt"


def test_evaluation_end_to_end_on_the_simulator(tiny_store, tiny_run):  # noqa: F811
    from flarelib.data.store import open_store
    from flarelib.model.checkpoint import model_from_checkpoint

    model, meta = model_from_checkpoint(tiny_run)
    store = open_store(tiny_store)
    preds = validation_predictions(model, store, 1, meta.image_size_px)
    assert len(preds) and preds["flare_prob"].between(0, 1).all()
    sim, cat = simulator_truth(store)
    cfg = ExplanationEvalConfig(n_per_kind=2, ig_steps=4, n_background=2, n_boot=50, n_randomisation=2, deletion_fractions=(0.05, 0.2),
                                n_sensitivity=1, n_perturb=4)
    ev = evaluate_explanations(model, store, preds, cfg, fold=1, size_px=meta.image_size_px, sim=sim, catalog=cat, progress=False)
    summ = ev.summary().set_index("map")
    assert list(summ.index) == list(cfg.maps)
    loc = ev.scores[np.isfinite(ev.scores["lift"])]
    assert len(loc) and ev.has_truth
    # the uniform control: lift exactly 1, pointing = the region's share of the disk (ties), deletion = random deletion
    u = loc[loc["map"] == "uniform"]
    assert np.allclose(u["lift"], 1.0) and np.allclose(u["pointing"], u["area_share"], atol=0.02)
    assert set(ev.randomisation["method"]) == set(cfg.methods)
    # captum's measures: infidelity for every map and instance, sensitivity for the methods on the first instance only
    assert np.isfinite(ev.scores["infidelity"]).all()
    sens = ev.scores[np.isfinite(ev.scores["sensitivity_max"])]
    assert set(sens["map"]) <= set(cfg.methods) and set(sens["instance"]) == {0} and (sens["sensitivity_max"] >= 0).all()
    assert {"auc", "tss_top_region", "top_region_hit"} <= set(ev.region_scores().columns)
    # paired comparisons on the same instances: a map against itself differs by exactly 0
    assert ev.paired_difference("ig", "ig", "lift") == (0.0, 0.0, 0.0)
    assert ev.verdict("ig", "ig", "lift") == "not distinguishable from"
    est, lo, hi = ev.paired_difference("ig", "uniform", "lift")
    assert lo <= est <= hi
    # mean maps: unit mass on the disk per outcome and map
    some = next(iter(ev.mean_maps.values()))
    assert some.shape == (meta.image_size_px,) * 2 and some.sum() == pytest.approx(1.0, rel=1e-4)
    json.dumps(ev.to_json())  # JSON-ready


def test_localisation_agrees_with_quantus():
    """Our pointing game and share inside the region are Quantus's PointingGame and RelevanceMassAccuracy on the same maps."""
    quantus = pytest.importorskip("quantus", reason="quantus is in the test extra")
    rng = np.random.default_rng(0)
    disk = disk_mask(S, CENTRE, RADIUS)
    maps = rng.random((6, S, S)).astype(np.float32) * disk
    regions = np.zeros((6, S, S), bool)
    for i in range(6):
        y, x = rng.integers(15, 45, 2)
        regions[i, y:y + 6, x:x + 6] = True
        if i % 2 == 0:
            maps[i, y + 2, x + 2] = 3.0  # half the maps peak inside their region
    ours = [localisation(maps[i], regions[i], disk) for i in range(6)]
    kw = dict(model=None, x_batch=maps[:, None], y_batch=np.ones(6, int), a_batch=maps[:, None], s_batch=regions[:, None].astype(np.float32))
    pg = quantus.PointingGame(disable_warnings=True)(**kw)
    rma = quantus.RelevanceMassAccuracy(disable_warnings=True)(**kw)
    assert [bool(p) for p in pg] == [o["pointing"] == 1.0 for o in ours] == [True, False] * 3
    assert np.allclose(rma, [o["share_inside"] for o in ours], atol=1e-5)


def test_cli_explain_evaluate_json(tiny_store, tiny_run, tmp_path):  # noqa: F811
    r = run_cli("explain", "--evaluate", "--checkpoint", tiny_run, "--store", tiny_store, "--n-per-kind", "1", "--steps", "4",
                "--n-background", "2", "--n-boot", "20", "--n-randomisation", "1", "--json", "--quiet", "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    maps = {row["map"] for row in res["summary"]}
    assert maps == {"gradcam", "deepshap", "ig", "abs_field", "field_gradient", "uniform"}
    row = res["summary"][0]
    assert {"pointing", "pointing_lo", "pointing_hi", "lift", "deletion_5pct_top", "deletion_5pct_random",
            "deletion_5pct_top_minus_random_lo"} <= set(row)
    assert {"trained_vs_random", "reference_lo", "reference_hi", "flagged"} <= set(res["randomisation"][0])
    assert (tmp_path / "ev" / "scores.csv").is_file() and (tmp_path / "ev" / "evaluation.json").is_file()
    # bad input: one line, exit 2
    bad = run_cli("explain", "--evaluate", "--checkpoint", tiny_run)
    assert bad.returncode == 2 and "--store" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_forecast_regions_on_a_simulated_jp2(tiny_run, tmp_path):
    from flarelib.io.geometry import stonyhurst_to_pixel
    from flarelib.io.magnetogram import read_magnetogram
    from flarelib.sim.simulator import SimConfig, simulate_to_jp2

    files = simulate_to_jp2(SimConfig(start="2012-03-05", end="2012-03-05 01:00", cadence_h=1, size_px=512, seed=2), tmp_path / "jp2",
                            progress=False)
    jp2 = tmp_path / "jp2" / files["path"].iloc[0]
    r = run_cli("forecast", jp2, "--checkpoint", tiny_run, "--regions", "--explain", "--methods", "ig",
                "--explain-out", tmp_path / "maps", "--synthetic-background", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    regs = res["regions"]
    assert regs["method"] == "ig" and 0 <= regs["elsewhere"] <= 1
    assert regs["regions"], "no region found"
    assert sum(g["share"] for g in regs["regions"]) + regs["elsewhere"] == pytest.approx(1, abs=1e-3)
    assert all(g["probability"] == pytest.approx(res["probability"] * g["share"], abs=1e-3) for g in regs["regions"])
    # each region's Stonyhurst centre maps back onto its pixel through the header's WCS
    meta = read_magnetogram(jp2, size_px=128).meta
    g = regs["regions"][0]
    x, y, vis = stonyhurst_to_pixel([g["lon_deg"]], [g["lat_deg"]], meta)
    assert vis[0] and abs(x[0] - g["x_px"]) < 1.5 and abs(y[0] - g["y_px"]) < 1.5
    assert (tmp_path / "maps").is_dir() and regs["figure"].endswith("_regions.png")
    txt = run_cli("forecast", jp2, "--checkpoint", tiny_run, "--regions")
    assert txt.returncode == 0 and "lon" in txt.stdout and "share" in txt.stdout
