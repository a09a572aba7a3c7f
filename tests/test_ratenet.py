"""FlareRateNet: the rate-map network, its Schrijver stem and disk, and its training profile; the image-R baseline."""
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from flarelib.data.dataset import ConcatStoreDataset, StoreDataset
from flarelib.data.store import open_store
from flarelib.errors import CheckpointError, InputError
from flarelib.io.magnetogram import ZERO_GAUSS_VALUE
from flarelib.model.checkpoint import model_from_checkpoint
from flarelib.model.network import FlareRateNet, FromStem, ModelConfig, SchrijverStem, build_model
from flarelib.model.training import TrainConfig, cpu_has_native_bf16, store_disk_fraction, train_fold, train_independent
from flarelib.sim.simulator import SimConfig, simulate_to_store
from flarelib.verify.baselines import schrijver_r
from flarelib.verify.calibration import fit_rate_scale, scale_rate


def _bytes(gauss: np.ndarray) -> torch.Tensor:
    """Gauss to the 8-bit scale (+/-250 G), as a (1, 1, S, S) uint8 tensor."""
    u8 = np.floor(255.9999 * (np.clip(gauss, -250, 250) + 250) / 500).astype(np.uint8)
    return torch.from_numpy(u8)[None, None]


def test_logits_are_the_log_probabilities_of_the_summed_rates():
    torch.manual_seed(0)
    net = FlareRateNet(width=4, stem="schrijver").eval()
    x = torch.randint(0, 256, (3, 1, 128, 128), dtype=torch.uint8)
    logits = net(x)
    assert logits.shape == (3, 2)
    # exact log-probabilities: they need no normalising
    assert torch.allclose(logits.exp().sum(1), torch.ones(3), atol=1e-5)
    rates = net.rate_map(x)
    assert rates.shape == (3, 1, 4, 4) and (rates > 0).all()
    p = net.predict_proba(x)
    assert torch.allclose(p, 1 - torch.exp(-rates.sum((1, 2, 3))), atol=1e-5)


def test_starts_at_the_base_rate():
    net = FlareRateNet(width=4, stem="learned", base_rate=0.25).eval()
    p = net.predict_proba(torch.full((2, 1, 512, 512), 128, dtype=torch.uint8))
    # 256 cells of rate -log(0.75)/200 each: a little above the base rate on a 512 px image, never near 0 or 1
    assert ((p > 0.2) & (p < 0.45)).all()


def test_the_stem_finds_a_strong_field_inversion_line_and_only_on_the_disk():
    g = np.zeros((64, 64))
    g[30:33, 20] = 1000.0   # umbra of positive field ...
    g[30:33, 21] = -1000.0  # ... next to one of negative field: an inversion line
    g[10:13, 40] = 1000.0   # a lone umbra: strong field, no inversion line
    stem = SchrijverStem()
    f = stem(_bytes(g)) / stem.gain  # the areas as fractions of a 4 x 4 block
    assert f.shape == (1, SchrijverStem.channels, 16, 16)
    pil_max = f[0, 5]
    assert pil_max[7, 5] > 0.9 and pil_max[2, 10] < 0.01
    # the sky reads as saturated negative field (byte 0): the disk mask blanks it to 0 G
    net = FlareRateNet(width=4, stem="schrijver", disk=(0.5, 0.5, 0.3))
    sky = torch.zeros((1, 1, 64, 64), dtype=torch.uint8)
    blank = net.blank_sky(sky)
    assert blank[0, 0, 0, 0] == ZERO_GAUSS_VALUE and blank[0, 0, 32, 32] == 0
    # strong negative area in the corner cell (sky only): 0 once blanked, full before
    assert (stem(blank) / stem.gain)[0, 3, 0, 0] < 0.01 and (stem(sky) / stem.gain)[0, 3, 0, 0] > 0.9


def test_the_network_read_from_its_stem_gives_the_same_logits():
    net = FlareRateNet(width=4, stem="schrijver", disk=(0.5, 0.5, 0.4)).eval()
    x = torch.randint(0, 256, (3, 1, 128, 128), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(FromStem(net)(net.stem_features(x)), net(x), atol=1e-6)
    assert net.has_fixed_stem and not FlareRateNet(width=4, stem="learned").has_fixed_stem


def test_build_model_dispatches_and_refuses_bad_options():
    assert isinstance(build_model(ModelConfig(arch="ratenet", width=4)), FlareRateNet)
    with pytest.raises(InputError, match="arch"):
        build_model(ModelConfig(arch="resnet"))
    with pytest.raises(InputError, match="stem"):
        build_model(ModelConfig(arch="ratenet", stem="magic"))
    with pytest.raises(InputError, match="weights"):
        build_model(ModelConfig(arch="ratenet", weights="imagenet"))
    assert ModelConfig(disk=[0.5, 0.5, 0.4]).disk == (0.5, 0.5, 0.4)


def test_schrijver_r_needs_opposite_strong_polarities_side_by_side():
    disk = (32.0, 32.0, 30.0)
    g = np.zeros((64, 64))
    g[30:33, 20] = 1000.0
    lone = schrijver_r(_bytes(g)[0, 0].numpy(), disk)
    g[30:33, 21] = -1000.0
    pair = schrijver_r(_bytes(g)[0, 0].numpy(), disk)
    g2 = np.zeros((64, 64))
    g2[30:33, 20], g2[30:33, 26] = 1000.0, -1000.0  # the same umbrae 6 px apart: no inversion line
    apart = schrijver_r(_bytes(g2)[0, 0].numpy(), disk)
    assert lone == 0 and apart == 0 and pair > 1e18


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("store") / "sim"
    return simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=3), out, workers=1,
                             progress=False)


def test_the_ratenet_profile_trains_records_its_disk_and_reloads(store, tmp_path):
    cfg = TrainConfig.ratenet(epochs=1, batch_size=8, max_batches_per_epoch=3, threads=1,
                              model=ModelConfig(arch="ratenet", stem="schrijver", width=4))
    assert cfg.cpu_bf16 and not cfg.augment and cfg.deviations_from_paper()["model.arch"] == ("alexnet", "ratenet")
    train_fold(store, 3, cfg, tmp_path, progress=False)
    model, meta = model_from_checkpoint(tmp_path / "fold3" / "model.pt")
    assert isinstance(model, FlareRateNet) and meta.model.disk == store_disk_fraction(open_store(store))
    pred = pd.read_csv(tmp_path / "fold3" / "predictions.csv")
    assert pred["flare_prob"].between(0, 1).all() and pred["flare_prob"].nunique() > 1


def test_training_on_independent_suns_scores_every_fold_of_another(store, tmp_path):
    other = simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=4), tmp_path / "sun4",
                              workers=1, progress=False)
    cfg = TrainConfig.ratenet(epochs=2, batch_size=8, max_batches_per_epoch=2, threads=1,
                              model=ModelConfig(arch="ratenet", stem="schrijver", width=4))
    res = train_independent([other], store, cfg, tmp_path / "run", progress=False)
    assert [r.fold for r in res] == [1, 2, 3, 4]
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert len(log) == 2 * 4 and {"val_auc", "val_bss", "val_mean_prob"} <= set(log.columns)
    for k in (1, 2, 3, 4):
        pred = pd.read_csv(tmp_path / "run" / f"fold{k}" / "predictions.csv")
        assert set(pred["partition"]) == {k}
    # the evaluated Sun is never a training Sun, and a run is not silently replaced
    with pytest.raises(InputError, match="also a training store"):
        train_independent([store], store, cfg, tmp_path / "run2", progress=False)
    with pytest.raises(CheckpointError):
        train_independent([other], store, cfg, tmp_path / "run", progress=False)
    # a learning curve's smaller training set: every k-th instant, scored at the final epoch only
    res = train_independent([other], store, replace(cfg, max_batches_per_epoch=None), tmp_path / "every3", progress=False,
                            train_every=3, score_every_epoch=False)
    log = pd.read_csv(tmp_path / "every3" / "log.csv")
    assert list(log["epoch"]) == [2] * 4 and log["train_images"].iloc[0] == len(range(0, len(open_store(other).index), 3))
    with pytest.raises(InputError, match="train_every"):
        train_independent([other], store, cfg, tmp_path / "every0", progress=False, train_every=0)


def test_the_rate_refit_moves_the_level_not_the_ranking(store, tmp_path):
    sun4 = simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=4), tmp_path / "sun4",
                             workers=1, progress=False)
    sun5 = simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=5), tmp_path / "sun5",
                             workers=1, progress=False)
    cfg = TrainConfig.ratenet(epochs=1, batch_size=8, max_batches_per_epoch=2, threads=1,
                              model=ModelConfig(arch="ratenet", stem="schrijver", width=4))
    res = train_independent([sun4], store, cfg, tmp_path / "run", progress=False, calibration_store=sun5)
    info = json.loads((tmp_path / "run" / "rate_refit.json").read_text())
    assert info["calibration_fingerprint"] == open_store(sun5).fingerprint and info["scale"] > 0
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert log["refit"].sum() == 4 and len(log) == 8
    before, after = log[~log["refit"]].set_index("fold"), log[log["refit"]].set_index("fold")
    assert np.allclose(before["val_auc"], after["val_auc"], atol=1e-6)  # a monotone map: the ranking is kept
    assert res[0].log["refit"].iloc[-1]
    # the checkpoint carries the refit: the reloaded network reproduces the written probabilities
    model, _ = model_from_checkpoint(tmp_path / "run" / "model.pt")
    pred = pd.read_csv(tmp_path / "run" / "fold1" / "predictions.csv")
    xs = StoreDataset(open_store(store), (1,)).images(np.arange(3))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_native_bf16()):  # as training predicted
        p = model.eval().predict_proba(xs.contiguous(memory_format=torch.channels_last)).float().numpy()
    assert np.allclose(p, pred["flare_prob"].to_numpy()[:3], atol=2e-3)
    # a calibration Sun must be a third Sun, and the refit needs rates
    with pytest.raises(InputError, match="calibration store"):
        train_independent([sun4], store, cfg, tmp_path / "run3", progress=False, calibration_store=sun4)
    with pytest.raises(InputError, match="needs a network with rates"):
        train_independent([sun4], store, TrainConfig.offline(epochs=1), tmp_path / "run4", progress=False, calibration_store=sun5)


def test_the_fitted_rate_scale_balances_a_compressed_forecast():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.25).astype(int)
    lam = np.exp(rng.normal(-1.5 + 0.8 * y, 0.5))  # ranks well, rates too low
    p = 1 - np.exp(-lam)
    w = (4000 / (2 * (y == 0).sum()), 4000 / (2 * (y == 1).sum()))
    s = fit_rate_scale(y, p, w)
    q = scale_rate(p, s)
    assert s > 1 and np.mean(q >= 0.5) > np.mean(p >= 0.5)
    assert np.allclose(q, 1 - np.exp(-s * lam))
    # at the optimum the weighted loss is flat: a nudge either way is no better
    def loss(f):
        pp = np.clip(scale_rate(p, f), 1e-12, 1 - 1e-12)
        ww = np.where(y == 1, w[1], w[0])
        return np.sum(ww * -(y * np.log(pp) + (1 - y) * np.log(1 - pp)))
    assert loss(s) <= min(loss(s * 1.05), loss(s / 1.05))
    with pytest.raises(InputError):
        fit_rate_scale(np.zeros(5), np.full(5, 0.3))


def test_joined_datasets_read_the_right_images(store, tmp_path):
    st = open_store(store)
    a, b = StoreDataset(st, (1,)), StoreDataset(st, (3, 4))
    both = ConcatStoreDataset([a, b])
    assert len(both) == len(a) + len(b) and np.array_equal(both.targets, np.concatenate([a.targets, b.targets]))
    pos = np.array([len(a) + 2, 0, len(a) - 1, len(a)])
    x = both.images(pos, dtype=torch.uint8)
    assert torch.equal(x[0], b.images(np.array([2]), torch.uint8)[0]) and torch.equal(x[1], a.images(np.array([0]), torch.uint8)[0])
    assert torch.equal(x[3], b.images(np.array([0]), torch.uint8)[0])
    with pytest.raises(InputError, match="image sizes"):
        ConcatStoreDataset([a, StoreDataset(st, (2,), image_size=64)])


def test_image_r_baseline_on_the_command_line(store):
    from .conftest import run_cli

    res = run_cli("baseline", "image-r", "--store", store, "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "image-r" in res.stdout
    bad = run_cli("baseline", "image-r")
    assert bad.returncode == 2 and "--store" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_training_batches_are_shuffled_without_augmentation_and_evaluation_is_in_order(store):
    from flarelib.data.dataset import BatchLoader

    ds = StoreDataset(open_store(store))

    def order(**kw):
        return np.concatenate([pos for _, _, pos in BatchLoader(ds, 16, augment=False, **kw)])

    e0, e1 = order(epoch=0, seed=1, shuffle=True), order(epoch=1, seed=1, shuffle=True)
    assert sorted(e0) == list(range(len(ds))) and not (e0 == np.arange(len(ds))).all() and not (e0 == e1).all()
    assert (order(epoch=0, seed=1, shuffle=True) == e0).all()  # reproducible
    assert (order() == np.arange(len(ds))).all()  # evaluation walks the store in order
