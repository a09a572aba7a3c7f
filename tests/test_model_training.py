"""The model, the data pipeline, training with exact resume, evaluation and forecasts."""
import json
import logging
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from flarelib import read_magnetogram
from flarelib.data.dataset import (
    AUG_HFLIP,
    AUG_ROT,
    AUG_VFLIP,
    BatchLoader,
    StoreDataset,
    augment_batch,
    class_weights,
    epoch_plan,
    rotate_nearest,
)
from flarelib.data.store import open_store
from flarelib.model.checkpoint import load_checkpoint, model_from_checkpoint
from flarelib.model.network import FullDiskAlexNet, ModelConfig, build_model
from flarelib.model.training import TrainConfig, train_fold
from flarelib.sim.simulator import SimConfig, simulate_to_store

from .conftest import ROOT, run_cli

TINY = dict(epochs=2, batch_size=8, max_batches_per_epoch=3, threads=1)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("store") / "sim"
    return simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=48, size_px=128, seed=2), out, workers=1,
                             progress=False)


@pytest.mark.parametrize("size", [128, 256, 512])
def test_model_accepts_128_to_512(size):
    m = FullDiskAlexNet().eval()
    x = torch.rand(2, 1, size, size) * 255
    out = m(x)
    assert out.shape == (2, 2)
    # forward gives logits (as torchvision's classifiers); predict_proba is their softmax
    assert not torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-3)
    assert torch.allclose(m.predict_proba(x), torch.softmax(out, 1)[:, 1])
    assert isinstance(m.stem[0], torch.nn.Conv2d) and m.stem[0].in_channels == 1 and m.stem[0].out_channels == 3
    assert isinstance(m.avgpool, torch.nn.AdaptiveAvgPool2d) and m.classifier[-1].out_features == 2


def test_no_weights_means_random_init_and_no_network(monkeypatch, tmp_path, caplog):
    def no_net(*a, **k):
        raise AssertionError("network call")

    monkeypatch.setattr(socket.socket, "connect", no_net)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="flarelib.model.network"):
        build_model(ModelConfig(weights="imagenet"))
    assert sum("random initialisation" in r.message for r in caplog.records) == 1


def test_imagenet_weights_from_a_file_or_the_hub_cache(monkeypatch, tmp_path):
    ref = torchvision.models.alexnet(weights=None)
    f = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), f)
    m = build_model(ModelConfig(weights=str(f)))
    assert torch.equal(m.features[0].weight, ref.features[0].weight)
    assert torch.equal(m.classifier[1].weight, ref.classifier[1].weight)
    assert m.classifier[6].out_features == 2
    # the torch hub cache is where torchvision's weights API keeps them
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    from flarelib.model.network import imagenet_weights_path

    p = imagenet_weights_path()
    p.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), p)
    m2 = build_model(ModelConfig(weights="imagenet"))
    assert torch.equal(m2.features[3].weight, ref.features[3].weight)
    with pytest.raises(FileNotFoundError):
        build_model(ModelConfig(weights=str(tmp_path / "none.pth")))


def test_augmentation_plan_follows_the_paper():
    y = np.array([1, 0, 0, 1, 0, 0, 0])
    pos, codes = epoch_plan(y, epoch=0, seed=0)
    assert len(pos) == 2 * 4 + 5 * 2
    for i in np.flatnonzero(y == 1):
        assert sorted(codes[pos == i]) == [0, AUG_HFLIP, AUG_VFLIP, AUG_ROT]
    for i in np.flatnonzero(y == 0):
        c = sorted(codes[pos == i])
        assert c[0] == 0 and c[1] in (AUG_HFLIP, AUG_VFLIP, AUG_ROT)
    w = class_weights(y)
    assert w[1] / w[0] == pytest.approx(10 / 8)  # inverse to 10 NF and 8 FL samples after augmentation
    p2, _ = epoch_plan(y, epoch=1, seed=0)
    assert not np.array_equal(pos, p2) and np.array_equal(pos, epoch_plan(y, 0, 0)[0])


def test_batched_augmentation_on_tensors():
    x = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    out = augment_batch(x, torch.tensor([AUG_HFLIP, AUG_VFLIP]), torch.zeros(2))
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1].flip(-2))
    disk = torch.zeros(1, 1, 33, 33)
    disk[..., 10:23, 10:23] = 100.0
    r = augment_batch(disk, torch.tensor([AUG_ROT]), torch.tensor([4.0]))
    assert float(r[0, 0, 16, 16]) == pytest.approx(100.0) and float(r.sum()) == pytest.approx(float(disk.sum()), rel=0.02)


@pytest.mark.parametrize("angle", [-5.0, -2.3, 0.7, 4.0])
def test_batched_rotation_is_torchvisions_nearest_rotation(angle):
    import torchvision.transforms.functional as TF

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.integers(0, 256, (1, 1, 64, 64), dtype=np.uint8))
    ours = rotate_nearest(x, torch.tensor([angle]))
    theirs = TF.rotate(x, angle, interpolation=TF.InterpolationMode.NEAREST, fill=0)
    assert ours.dtype == torch.uint8
    # the same pixels, up to rounding ties at a handful of positions
    assert (ours == theirs).float().mean() > 0.99


def test_uint8_augmentation_keeps_the_bytes():
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8))
    out = augment_batch(x, torch.tensor([AUG_HFLIP, AUG_VFLIP, AUG_ROT]), torch.tensor([0.0, 0.0, 0.0]))
    assert out.dtype == torch.uint8
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1].flip(-2)) and torch.equal(out[2], x[2])


def test_loader_reads_the_memory_mapped_store(tiny_store):
    st = open_store(tiny_store)
    ds = StoreDataset(st, (1, 2, 3))
    batches = list(BatchLoader(ds, batch_size=16, augment=False))
    assert sum(len(b[1]) for b in batches) == len(ds)
    x, y, pos = batches[0]
    # the stored bytes, unconverted: the model scales them on its device
    assert x.dtype == torch.uint8 and x.shape == (16, 1, 128, 128)
    assert torch.equal(x[3, 0], torch.from_numpy(np.array(st.images[ds.slots[pos[3]]])))


def test_training_writes_safe_checkpoints_logs_and_predictions(tiny_store, tmp_path):
    r = train_fold(tiny_store, 2, TrainConfig.offline(**TINY), tmp_path, progress=False)
    d = tmp_path / "fold2"
    ck = torch.load(d / "last.pt", weights_only=True)  # never a pickle that can run code
    assert ck["epoch"] == 1 and json.loads(ck["config"])["epochs"] == 2
    log = pd.read_csv(d / "log.csv")
    assert list(log.columns[:8]) == ["fold", "epoch", "train_loss", "val_loss", "val_tss", "val_hss", "val_forecast_positive", "lr"]
    assert len(log) == 2 and (log["grad_norm"] > 0).all()
    pred = pd.read_csv(d / "predictions.csv")
    assert list(pred.columns[:3]) == ["timestamp", "flare_prob", "target"] and set(pred["partition"]) == {2}
    assert {"max_class", "fl_lon", "fl_lat"} <= set(pred.columns)
    # the reported model is the final epoch's (as the reference study), whatever the validation fold scored
    assert r.reported_epoch == 2 and r.selection == "final"
    model, meta = model_from_checkpoint(d / "model.pt")
    assert meta.epoch == 2 and meta.fold == 2 and meta.event.threshold_class == "M1.0" and meta.event.window_h == 24
    assert meta.model.input_scaling == "centered" and meta.image_size_px == 128 and meta.store_path == str(tiny_store.resolve())
    last = torch.load(d / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())


def test_killed_training_resumes_to_the_same_weights(tiny_store, tmp_path):
    args = ["train", "--store", tiny_store, "--fold", "1", "--epochs", "3", "--batch-size", "8", "--max-batches", "12",
            "--threads", "1", "--seed", "5", "--quiet"]
    full = run_cli(*args, "--out", tmp_path / "full")
    assert full.returncode == 0, full.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "flarelib", *map(str, args), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "fold1" / "last.pt"
    t0 = time.time()
    while not last.exists() and time.time() - t0 < 120:
        time.sleep(0.02)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(last)["epoch"] < 2  # the run really was cut short and its checkpoint reads
    res = run_cli(*args, "--out", out, "--resume")
    assert res.returncode == 0, res.stderr
    a = torch.load(tmp_path / "full" / "fold1" / "last.pt", weights_only=True)["model"]
    b = torch.load(last, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_reproduces_the_papers_numbers(pandey):
    preds = [pandey / "predictions" / f"fold{k}_res.csv" for k in (1, 2, 3, 4)]
    labels = [pandey / "labels" / f"Fold{k}_val.csv" for k in (1, 2, 3, 4)]
    r = run_cli("evaluate", *preds, "--labels", *labels, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert round(d["tss_mean"], 2) == 0.51 and round(d["tss_sd"], 2) == 0.05
    assert round(d["hss_mean"], 2) == 0.38 and round(d["hss_sd"], 2) == 0.08
    assert [round(f["tss"], 3) for f in d["folds"]] == [0.581, 0.494, 0.484, 0.474]
    assert d["near_limb"]["X"]["limb_recall"] == pytest.approx(0.74, abs=0.01)
    assert d["near_limb"]["M"]["limb_recall"] == pytest.approx(0.50, abs=0.01)
    assert d["near_limb"]["X"]["n_limb"] + d["near_limb"]["X"]["n_central"] == 880
    assert 0.8 < d["auc"] < 0.9 and len(d["reliability"]) == 20 and len(d["by_longitude"]) > 10
    # the standard set beyond the paper, against an independent count of the published files (issue 24)
    assert [round(f["apss"], 2) for f in d["folds"]] == [-0.10, -1.20, -0.46, -0.20]
    assert all(0.53 <= round(f["false_alarm_ratio"], 2) <= 0.73 for f in d["folds"])
    assert [round(f["bss"], 2) for f in d["folds"]] == [0.14, -0.56, -0.16, -0.08]
    x = d["near_limb"]["X"]
    assert (x["n_east"], x["n_west"], x["n_behind"]) == (129, 83, 0)
    assert round(x["east_recall"], 2) == 0.91 and round(x["west_recall"], 2) == 0.47
    assert d["events"]["all"]["n_flares"] >= d["events"]["all"]["detected"] > 0 and sum(r["n"] for r in d["by_year"]) == 63649
    r = run_cli("evaluate", *preds, "--labels", *labels, "--json", "--threshold-rule", "train-optimal")
    d = json.loads(r.stdout)
    assert d["threshold_rule"] == "train-optimal" and round(d["tss_mean"], 3) == 0.516 and round(d["tss_sd"], 3) == 0.043
    r = run_cli("evaluate", str(preds[0]), "--labels", str(labels[0]), "--threshold-rule", "train-optimal")
    assert r.returncode == 2 and "--threshold-rule" in r.stderr


def test_a_score_is_thresholded_on_the_training_folds_only():
    """A perfect ranking score gets TSS 1 on every fold from thresholds chosen on the other folds; a blind one gets 0."""
    from flarelib.verify.baselines import from_scores
    from flarelib.verify.evaluation import evaluate

    t = pd.date_range("2012-01-01", periods=16, freq="45D")
    index = pd.DataFrame({"timestamp": t, "target": [0, 1] * 8, "max_class": "", "fl_lon": np.nan, "fl_lat": np.nan})
    index["partition"] = (t.month - 1) // 3 + 1
    perfect = pd.Series(np.where(index["target"] == 1, 0.9, 0.1), index=t)
    bf = from_scores("perfect", index, perfect)
    assert all(0.1 < th <= 0.9 for th in bf.thresholds)
    assert [f["tss"] for f in evaluate(bf.frames, bf.thresholds)["folds"]] == [1.0] * len(bf.frames)
    blind = from_scores("blind", index, pd.Series(0.5, index=t))
    assert all(f["tss"] == pytest.approx(0.0) for f in evaluate(blind.frames, blind.thresholds)["folds"])


def test_evaluate_rejects_mismatched_labels(pandey):
    r = run_cli("evaluate", pandey / "predictions" / "fold1_res.csv", "--labels", pandey / "labels" / "Fold2_val.csv")
    assert r.returncode == 2 and "fold1_res.csv" in r.stderr


def test_forecast_json_for_the_real_magnetogram(tiny_store, tmp_path, real_magnetogram):
    train_fold(tiny_store, 1, TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=1, threads=1), tmp_path, progress=False)
    # a model of the simulated Sun applied to the real one: allowed here, and said so
    r = run_cli("forecast", real_magnetogram, "--checkpoint", tmp_path / "fold1" / "model.pt", "--json", "--allow-domain-shift")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    # the issued probability is the model's on the magnetogram read at the checkpoint's size, uncalibrated here
    model, meta = model_from_checkpoint(tmp_path / "fold1" / "model.pt")
    x = torch.from_numpy(read_magnetogram(real_magnetogram, size_px=meta.image_size_px).data.astype(np.float32))[None, None]
    assert d["probability"] == pytest.approx(float(model.predict_proba(x)[0]), abs=5e-4)  # rounded to 3 decimals
    assert d["calibrated"] is False and d["probability_raw"] == d["probability"]
    assert d["decision"] == (d["probability"] >= 0.5) and d["model"]["input_size_px"] == 128
    assert d["event"]["definition"] == "a GOES flare of class >= M1.0 starts within 24 h"
    assert d["issue_time"] == "2022-08-02T10:47:53Z" and d["prediction_window_end"] == "2022-08-03T10:47:53Z"
    assert d["event"]["threshold_class"] == "M1.0" and len(d["model"]["checkpoint_sha256"]) == 64 and d["domain_shift"]
    assert d["input"]["sha256"] == "8aa98c0e81145c54d797ffac7051a90a8f76416c1bb37910fcdd1158e8259a9b"
    bad = run_cli("forecast", real_magnetogram, "--checkpoint", tmp_path / "nope.pt")
    assert bad.returncode == 2 and "nope.pt" in bad.stderr


def test_paper_profile_follows_the_authors_initialisation():
    """The authors' code: Kaiming convolutions (the stem stays Kaiming under ImageNet), a fresh normal(0, 0.01) classifier."""
    cfg = TrainConfig.paper()
    assert cfg.model.classifier_init == "normal" and cfg.model.init == "kaiming" and cfg.select == "final"
    torch.manual_seed(0)
    m = build_model(cfg.model)  # no ImageNet weights cached here: random features, but the classifier is the authors'
    fc = [x for x in m.classifier if isinstance(x, torch.nn.Linear)]
    assert all(abs(float(x.weight.detach().std()) - 0.01) < 0.002 and float(x.bias.detach().abs().max()) == 0.0 for x in fc)
    dev = TrainConfig.offline().deviations_from_paper()
    assert dev["optimizer"] == ("sgd", "adamw") and dev["model.classifier_init"] == ("normal", "torchvision")
    assert {"scheduler steps", "label window", "flare catalog"} <= set(dev)


def test_the_light_head_and_the_training_options():
    gap = build_model(ModelConfig(head="gap"))
    assert sum(p.numel() for p in gap.classifier.parameters()) == 256 * 2 + 2
    assert gap(torch.rand(2, 1, 64, 64) * 255).shape == (2, 2)
    with pytest.raises(ValueError, match="head"):
        build_model(ModelConfig(head="resnet"))
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig(grad_clip=0.0)
    dev = TrainConfig.offline(label_smoothing=0.1, model=ModelConfig(head="gap")).deviations_from_paper()
    assert dev["label_smoothing"] == (0.0, 0.1) and dev["model.head"] == ("alexnet", "gap")
