"""Attributions: three methods, one shape, the model untouched, a neutral baseline, measures that can fail."""
import json

import numpy as np
import pytest
import torch

from flarelib.explain.attribution import (
    agreement,
    attribution_copy,
    cascading_randomisation,
    explain,
    field_free_baseline,
    localisation,
    peak_distance_px,
)
from flarelib.model.network import ModelConfig, build_model

from .conftest import run_cli
from .test_model_training import tiny_store  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(init="kaiming", input_scaling="centered")).eval()


@pytest.fixture(scope="module")
def images():
    yy, xx = np.mgrid[:128, :128]
    disk = (xx - 63.5) ** 2 + (yy - 63.5) ** 2 <= 49**2
    x = np.where(disk, 127.5, 0.0)
    x[40:46, 70:76] = 250.0  # a bipole
    x[40:46, 77:83] = 5.0
    return torch.from_numpy(np.stack([x, x[:, ::-1].copy()])[:, None].astype(np.float32))


def test_three_maps_of_input_shape_and_model_unchanged(model, images):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out_before = model(images)
    ex = explain(model, images, n_steps=16)
    assert set(ex.maps) == {"gradcam", "deepshap", "ig"}
    assert all(a.shape == (2, 128, 128) for a in ex.maps.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(model(images), out_before)
    # the user's model keeps its inplace ReLUs; the copy has none
    assert any(getattr(m, "inplace", False) for m in model.modules())
    assert not any(getattr(m, "inplace", False) for m in attribution_copy(model).modules())


def test_integrated_gradients_is_complete_from_a_field_free_disk(model, images):
    base = field_free_baseline(images)
    assert float(base[0, 0, 64, 64]) == 127.5 and float(base[0, 0, 0, 0]) == 0.0
    ex = explain(model, images, methods=("ig",), n_steps=64)
    with torch.no_grad():
        diff = (model(images)[:, 1] - model(base)[:, 1]).numpy()
    # completeness: the attributions add up to the change of the flare logit from the baseline
    assert np.allclose(ex.maps["ig"].sum((1, 2)), diff, rtol=0.05, atol=0.05 * np.abs(diff).max())
    assert np.all(np.abs(ex.ig_delta) <= 0.05 * np.abs(diff).max() + 1e-3)


def test_unknown_method_is_refused(model, images):
    with pytest.raises(ValueError, match="unknown attribution"):
        explain(model, images, methods=("lime",))


def test_measures_can_fail():
    disk = np.ones((20, 20), bool)
    a = np.zeros((20, 20))
    a[2:4, 2:4] = 1.0
    region = np.zeros((20, 20), bool)
    region[2:5, 2:5] = True
    loc = localisation(a, region, disk)
    assert loc["pointing"] and loc["share_inside"] == 1.0 and loc["lift"] == pytest.approx(400 / 9)
    far = np.zeros((20, 20), bool)
    far[15:18, 15:18] = True
    bad = localisation(a, far, disk)
    assert not bad["pointing"] and bad["lift"] == 0.0
    assert agreement(a, a, disk)["iou_top1"] == 1.0
    assert agreement(a, -a, disk)["spearman"] < 0
    assert peak_distance_px(a, disk, (2, 2)) == 0.0


def test_cascading_randomisation_changes_gradient_maps(model, images):
    noisy = images[:1] + (images[:1] > 0) * torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(1)) * 8
    rows = cascading_randomisation(model, noisy, methods=("gradcam", "ig"), n_steps=8)
    assert rows[0]["layer"].startswith("classifier") and rows[-1]["layer"] == "stem.0"
    last = {r["method"]: r["spearman"] for r in rows if r["layers_randomised"] == max(x["layers_randomised"] for x in rows)}
    assert last["gradcam"] < 0.9  # fully randomised: no longer the model's map
    assert len(rows) == 2 * 9  # 9 weight layers (stem, 5 conv, 3 linear) x 2 methods


def test_cli_explain_on_the_real_magnetogram(tiny_store, tmp_path, real_magnetogram):  # noqa: F811
    from flarelib.model.training import TrainConfig, train_fold

    train_fold(tiny_store, 1, TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=1, threads=1), tmp_path, progress=False)
    r = run_cli("explain", "--checkpoint", tmp_path / "fold1" / "model.pt", "--methods", "gradcam,deepshap,ig", "--steps", "8",
                real_magnetogram, "--out", tmp_path / "ex", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for m in ("gradcam", "deepshap", "ig"):
        assert np.load(d["maps"][m]).shape == (128, 128)  # the model's input size
    assert (tmp_path / "ex" / "2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.png").is_file()


def test_field_free_baseline_uses_the_header_disk_not_pixel_values():
    """A saturated negative umbra is 0 on Helioviewer's byte scale, like the sky: only the header's disk keeps it on the disk."""
    from flarelib.io.geometry import disk_mask

    img = torch.full((1, 1, 32, 32), 127.0)
    disk = disk_mask(32, (15.5, 15.5), 14.0)
    img[0, 0][~torch.from_numpy(disk)] = 0.0
    img[0, 0, 15, 15] = 0.0  # the umbra, at disk centre
    by_pixels = field_free_baseline(img)
    by_header = field_free_baseline(img, disks=disk[None])
    assert float(by_pixels[0, 0, 15, 15]) == 0.0  # wrongly treated as sky
    assert float(by_header[0, 0, 15, 15]) == 127.5 and float(by_header[0, 0, 0, 0]) == 0.0


def test_gradcam_upsampling_is_bilinear_unless_asked(model, images):
    # this untrained model's flare-class Grad-CAM is empty (all rectified away): explain the other class
    smooth = explain(model, images[:1], methods=("gradcam",), target=0).maps["gradcam"][0]
    blocky = explain(model, images[:1], methods=("gradcam",), target=0, gradcam_interpolation="nearest").maps["gradcam"][0]
    scale = np.abs(blocky).max()
    assert scale > 0 and np.abs(smooth - blocky).max() > 0.05 * scale
    with pytest.raises(ValueError, match="gradcam_interpolation"):
        explain(model, images[:1], methods=("gradcam",), gradcam_interpolation="area")


def test_deep_shap_background_is_reduced_by_whole_blocks_only(tiny_store):  # noqa: F811
    """The background is area-averaged like every model input; a size that does not divide the store's is refused
    (it once averaged partial blocks and dropped the disk's rim)."""
    from flarelib.data.store import open_store
    from flarelib.errors import InputError
    from flarelib.explain.attribution import deepshap_background

    store = open_store(tiny_store)
    full = deepshap_background(store, 1, 2)
    half = deepshap_background(store, 1, 2, size_px=store.size_px // 2)
    assert half.shape[-1] == store.size_px // 2
    assert torch.allclose(half, torch.nn.functional.avg_pool2d(full, 2))
    with pytest.raises(InputError, match="whole blocks"):
        deepshap_background(store, 1, 2, size_px=store.size_px // 2 + 1)
