"""Post hoc explanations of the full-disk model: Guided Grad-CAM, Deep SHAP and Integrated Gradients.

One verb, :func:`explain`, returns maps of one shape (N, H, W) for every
method, toward the flare class, at the input resolution:

* **Guided Grad-CAM** on the last convolutional layer of the AlexNet features
  (its rectified output, the ReLU that follows the convolution: Grad-CAM's
  feature maps are non-negative activations), upsampled to the input and
  multiplied by guided backpropagation;
* **Deep SHAP** (captum's ``DeepLiftShap``) against a background of N no-flare
  images;
* **Integrated Gradients** from a physically neutral baseline: a field-free
  disk (127.5, i.e. 0 G, on the disk and 0 off it), not a black image, with
  the completeness delta reported.

Attribution runs on a converted copy of the model (every ReLU non-inplace,
as DeepLift requires); the copy's outputs are checked against the original's
and the user's model is never modified.

Measures: agreement between methods (Spearman rank correlation on the disk,
intersection over union of the top 1 % and 5 % pixels), localisation against
region masks (share of positive attribution inside the flaring region against
the region's share of the disk, the *lift*, and the pointing game), the
distance from the attribution peak to the flare, and the cascading
randomisation sanity check of Adebayo et al. (2018).
"""
from __future__ import annotations

import copy
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from scipy.ndimage import binary_dilation
from scipy.stats import spearmanr

from ..data.labels import FOLDS
from ..data.store import Store, open_store
from ..errors import InputError, StoreError
from ..io.geometry import disk_coverage
from ..io.magnetogram import ZERO_GAUSS_VALUE, read_magnetogram
from ..model.checkpoint import model_from_checkpoint
from ..model.network import FLARE, FullDiskAlexNet
from ..plots import plot_attribution

__all__ = [
    "METHODS",
    "attribution_copy",
    "field_free_baseline",
    "explain",
    "agreement",
    "localisation",
    "pointing",
    "peak_distance_px",
    "cascading_randomisation",
    "explain_files",
    "deepshap_background",
]

METHODS = ("gradcam", "deepshap", "ig")


def attribution_copy(model: FullDiskAlexNet, check_input: torch.Tensor | None = None) -> FullDiskAlexNet:
    """A deep copy of the model (it returns logits) with every ReLU non-inplace, in eval mode.

    When ``check_input`` is given, the copy's outputs must equal the original's.
    """
    m = copy.deepcopy(model).cpu().eval()
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    if check_input is not None:
        with torch.no_grad():
            was = model.training
            model.eval()
            ref = model(check_input)
            model.train(was)
            got = m(check_input)
        if not torch.allclose(ref, got, atol=1e-5, rtol=1e-5):
            raise RuntimeError("the attribution copy's outputs differ from the model's")
    return m


def field_free_baseline(images: torch.Tensor, disks: np.ndarray | None = None) -> torch.Tensor:
    """A field-free disk for each image: 0 G (:data:`~flarelib.io.magnetogram.ZERO_GAUSS_VALUE`) on the disk, 0 (sky) off it.

    ``disks`` (N, H, W) are the images' disks from their header geometry: boolean masks, or the float coverage of
    each pixel by the disk (:func:`~flarelib.io.geometry.disk_coverage`), which gives the limb pixels the value a
    field-free Sun has there at this resolution (a mix of 0 G and sky). Without ``disks`` the disk is taken as the
    non-zero pixels, which misses saturated negative umbrae (0 on Helioviewer's byte scale, like the sky).
    """
    if disks is not None and np.asarray(disks).dtype.kind == "f":
        cov = torch.as_tensor(np.asarray(disks, np.float32))[:, None].expand_as(images)
        return (ZERO_GAUSS_VALUE * cov).to(images.dtype)
    on = images > 0 if disks is None else torch.as_tensor(np.asarray(disks, bool))[:, None].expand_as(images)
    return torch.where(on, torch.full_like(images, ZERO_GAUSS_VALUE), torch.zeros_like(images))


@dataclass
class Explanation:
    """Maps per method, (N, H, W) float32, and diagnostics."""

    maps: dict
    ig_delta: np.ndarray | None
    probabilities: np.ndarray


def explain(model: FullDiskAlexNet, images: torch.Tensor, methods=METHODS, target: int = FLARE,
            background: torch.Tensor | None = None, n_steps: int = 50, internal_batch_size: int = 16,
            gradcam_interpolation: str = "bilinear", disks: np.ndarray | None = None) -> Explanation:
    """Attributions toward ``target`` for a batch of images (N, 1, H, W) in 8-bit units.

    Parameters
    ----------
    model : FullDiskAlexNet
        Left unchanged (attribution runs on a converted copy).
    methods : sequence of {'gradcam', 'deepshap', 'ig'}
    background : tensor (B, 1, H, W), optional
        Deep SHAP background (no-flare images). Default: the field-free disks
        of the inputs with 2 G of noise, 4 samples.
    n_steps : int
        Integrated Gradients steps (50).
    gradcam_interpolation : {'bilinear', 'nearest', 'bicubic'}
        How Grad-CAM's coarse map (the last convolutional layer's grid) is upsampled to the input before the
        product with guided backpropagation: bilinear by default (captum's default is nearest, which paints
        blocks of the last layer's cell size).
    disks : array (N, H, W) of bool or float, optional
        The images' disks from their header geometry (masks, or pixel coverage), for Integrated Gradients'
        field-free baseline (and the default Deep SHAP background): see :func:`field_free_baseline`. Without
        them the disk is the non-zero pixels, which misses saturated negative umbrae (0 on Helioviewer's byte
        scale, like the sky).

    Returns
    -------
    Explanation
    """
    if gradcam_interpolation not in ("bilinear", "nearest", "bicubic"):
        raise InputError(f"gradcam_interpolation must be 'bilinear', 'nearest' or 'bicubic', got {gradcam_interpolation!r}")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise InputError(f"unknown attribution method(s) {sorted(unknown)}; choose from {METHODS}")
    x = images.detach().float().cpu()
    net = attribution_copy(model, check_input=x[:2])
    with warnings.catch_warnings():
        # captum announces the hooks it sets and removes on every call: expected, not a problem
        warnings.filterwarnings("ignore", message=r"Setting (forward|backward)", category=UserWarning)
        return _explain(net, x, methods, target, background, n_steps, internal_batch_size, gradcam_interpolation, disks)


def _explain(net, x, methods, target, background, n_steps, internal_batch_size, gradcam_interpolation, disks) -> Explanation:
    from captum.attr import DeepLiftShap, GuidedGradCam, IntegratedGradients

    maps, delta = {}, None
    if "gradcam" in methods:
        feats = list(net.features)
        last_conv = max(i for i, m in enumerate(feats) if isinstance(m, nn.Conv2d))
        layer = feats[last_conv + 1] if last_conv + 1 < len(feats) and isinstance(feats[last_conv + 1], nn.ReLU) else feats[last_conv]
        a = GuidedGradCam(net, layer).attribute(x.clone().requires_grad_(True), target=target, interpolate_mode=gradcam_interpolation)
        maps["gradcam"] = a.detach()[:, 0].numpy()
    if "deepshap" in methods:
        if background is None:
            g = torch.Generator().manual_seed(0)
            base = field_free_baseline(x[:1], None if disks is None else np.asarray(disks)[:1])
            background = base.repeat(4, 1, 1, 1) + (base > 0) * torch.randn(4, *x.shape[1:], generator=g) * (2.0 * 255 / 500)
        a = DeepLiftShap(net).attribute(x.clone().requires_grad_(True), baselines=background.float().cpu(), target=target)
        maps["deepshap"] = a.detach()[:, 0].numpy()
    if "ig" in methods:
        ig = IntegratedGradients(net)
        a, d = ig.attribute(x.clone().requires_grad_(True), baselines=field_free_baseline(x, disks), target=target, n_steps=n_steps,
                            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        maps["ig"] = a.detach()[:, 0].numpy()
        delta = d.detach().numpy()
    with torch.no_grad():
        prob = torch.softmax(net(x), 1)[:, target].numpy()
    return Explanation(maps={k: v.astype(np.float32) for k, v in maps.items()}, ig_delta=delta, probabilities=prob)


# --------------------------------------------------------------------------- measures
def _spearman(u: np.ndarray, v: np.ndarray) -> float:
    """Spearman rank correlation; 0 when either map is constant (it ranks nothing)."""

    if np.ptp(u) == 0 or np.ptp(v) == 0:
        return 0.0
    return float(spearmanr(u, v).statistic)


def _top_mask(a: np.ndarray, disk: np.ndarray, frac: float) -> np.ndarray:
    v = a[disk]
    k = max(1, int(round(frac * v.size)))
    thr = np.partition(v, v.size - k)[v.size - k]
    return disk & (a >= thr)


def agreement(a: np.ndarray, b: np.ndarray, disk: np.ndarray) -> dict:
    """Spearman rank correlation on the disk and IoU of the top 1 % and 5 % pixels of two maps."""
    out = {"spearman": _spearman(a[disk], b[disk])}
    for frac in (0.01, 0.05):
        ta, tb = _top_mask(a, disk, frac), _top_mask(b, disk, frac)
        out[f"iou_top{int(frac * 100)}"] = float((ta & tb).sum() / max((ta | tb).sum(), 1))
    return out


def pointing(a: np.ndarray, region: np.ndarray, disk: np.ndarray) -> float:
    """Pointing game: 1 when the map's maximum on the disk falls inside ``region``, else 0.

    Ties count fractionally (the share of the tied maxima inside the region, the expected hit of a random
    tie-break), so a constant map scores the region's share of the disk rather than whatever pixel comes first.
    """
    v = np.where(disk, a, -np.inf)
    top = v == v.max()
    return float((top & region).sum() / top.sum())


def localisation(a: np.ndarray, region: np.ndarray, disk: np.ndarray, tolerance_px: int = 0) -> dict:
    """Share of positive attribution inside a region mask, the region's share of the disk, their ratio (lift), pointing game.

    ``tolerance_px`` widens the region by that many pixels (binary dilation) for the pointing game only: a peak on the
    region's edge at the input's resolution still counts.
    """
    pos = np.clip(a, 0, None) * disk
    total = pos.sum()
    share = float(pos[region].sum() / total) if total > 0 else 0.0
    area = float(region.sum() / max(disk.sum(), 1))
    target = binary_dilation(region, iterations=tolerance_px) if tolerance_px > 0 else region
    return {"share_inside": share, "area_share": area, "lift": share / area if area > 0 else float("nan"),
            "pointing": pointing(a, target, disk)}


def peak_distance_px(a: np.ndarray, disk: np.ndarray, target_xy: tuple[float, float]) -> float:
    """Distance in pixels from the attribution maximum on the disk to a point (x, y)."""
    y, x = np.unravel_index(np.argmax(np.where(disk, a, -np.inf)), a.shape)
    return float(np.hypot(x - target_xy[0], y - target_xy[1]))


def _layers_top_down(model: FullDiskAlexNet) -> list[tuple[str, nn.Module]]:
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return named[::-1]


def _randomise_layer(layer: nn.Module, generator: torch.Generator) -> None:
    """Re-draw a layer's weights (normal, the trained weights' spread) and zero its bias, in place."""
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * layer.weight.std())
        if layer.bias is not None:
            layer.bias.zero_()


def _mean_abs_spearman(a: np.ndarray, b: np.ndarray, disks: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| on each image's disk, averaged over images (N, H, W)."""
    return float(np.mean([_spearman(np.abs(a[i][disks[i]]), np.abs(b[i][disks[i]])) for i in range(len(a))]))


def _all_empty(a: np.ndarray, disks: np.ndarray) -> bool:
    """Every map (N, H, W) is constant on its disk: it explains nothing."""
    return bool(all(np.ptp(a[i][disks[i]]) == 0 for i in range(len(a))))


def cascading_randomisation(model: FullDiskAlexNet, images: torch.Tensor, methods=METHODS, background=None, n_steps: int = 20,
                            seed: int = 0, disks: np.ndarray | None = None) -> list[dict]:
    """Adebayo et al. (2018): randomise the layers from the top down and compare the maps with the original ones.

    Returns rows ``{"layers_randomised", "layer", "method", "spearman"}`` with the Spearman
    rank correlation (on the disk, absolute values, averaged over images) between
    the map of the progressively randomised model and the trained model's map.
    ``disks`` (N, H, W) are the images' disk masks from their header geometry.
    A method whose similarity stays high does not depend on what the model learned.
    """
    ref = explain(model, images, methods, background=background, n_steps=n_steps, disks=disks).maps
    # the disk from the images' header geometry when given; else non-zero pixels (which misses saturated negative umbrae)
    disk = np.asarray(disks, bool) if disks is not None else (images[:, 0] > 0).numpy()
    work = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for k, (name, layer) in enumerate(_layers_top_down(work), start=1):
        _randomise_layer(layer, g)
        maps = explain(work, images, methods, background=background, n_steps=n_steps, disks=disks).maps
        for m in methods:
            rows.append({"layers_randomised": k, "layer": name, "method": m, "spearman": _mean_abs_spearman(ref[m], maps[m], disk),
                         "original_map_empty": _all_empty(ref[m], disk)})
    return rows


# --------------------------------------------------------------------------- files
def block_factor(from_px: int, to_px: int | None, what) -> int:
    """How many pixels of a ``from_px`` image make one pixel of ``to_px`` (1: no reduction).

    Raises
    ------
    InputError
        ``to_px`` is larger than ``from_px`` or does not divide it: an image is reduced by whole blocks only (a
        partial block would average pixels of two places, or drop a rim of the disk).
    """
    if not to_px or to_px == from_px:
        return 1
    if to_px > from_px or from_px % to_px:
        raise InputError(f"{what}: images of {from_px} px cannot be reduced to {to_px} px by whole blocks")
    return from_px // to_px


def area_reduce(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Images (N, 1, S, S) reduced by averaging ``factor`` x ``factor`` blocks, as a wavelet-reduced JP2 is."""
    return torch.nn.functional.avg_pool2d(x, factor) if factor > 1 else x


def deepshap_background(store: Store, fold: int, n: int, size_px: int | None = None) -> torch.Tensor:
    """Deep SHAP background: ``n`` no-flare images of the training partitions of ``fold``, evenly spread in time.

    Returns a tensor (n, 1, S, S) in 8-bit units, reduced to ``size_px`` by area averaging when smaller than the store's.

    Raises
    ------
    StoreError
        The training partitions hold no no-flare instance.
    InputError
        ``size_px`` does not divide the store's image size.
    """
    factor = block_factor(store.size_px, size_px, store.path)
    idx = store.index[(store.index["target"] == 0) & store.index["partition"].isin(FOLDS.get(fold, (1, 2, 3, 4)))]
    if len(idx) == 0:
        raise StoreError(f"{store.path}: no no-flare training instance of fold {fold} for a Deep SHAP background")
    take = np.sort(idx.iloc[np.linspace(0, len(idx) - 1, n).astype(int)]["slot"].to_numpy())
    return area_reduce(torch.from_numpy(np.asarray(store.images[take]).astype(np.float32))[:, None], factor)


def output_stems(paths) -> list[str]:
    """A file-name stem per input, unique among the inputs: the name without its suffixes, and where two inputs share
    it (``a/x.jp2`` and ``b/x.jp2``) the first 8 hex digits of the SHA-1 of each one's resolved path after it, so no
    input's maps overwrite another's."""
    paths = [Path(p) for p in paths]
    stems = [p.name.split(".")[0] for p in paths]
    seen = {s: stems.count(s) for s in stems}
    return [s if seen[s] == 1 else f"{s}_{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}" for s, p in zip(stems, paths)]


def explain_files(checkpoint, paths, methods=METHODS, out: Path = Path("explanations"), background_store=None,
                  n_background: int = 8, n_steps: int = 50, synthetic_background: bool = False) -> list[dict]:
    """Explain magnetogram files with a checkpoint: writes ``NAME_METHOD.npy`` and ``NAME.png`` per input.

    Deep SHAP's background is ``n_background`` no-flare training images of
    ``background_store``, or of the training store recorded (by absolute path)
    in the checkpoint. The result never depends on the working directory.

    Raises
    ------
    StoreError
        Deep SHAP is asked for and no background store can be opened, unless
        ``synthetic_background`` allows field-free disks with noise instead.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, meta = model_from_checkpoint(checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    background = None
    if "deepshap" in methods:
        try:
            store = open_store(background_store or meta.store_path)
            background = deepshap_background(store, meta.fold or 1, n_background, meta.image_size_px)
        except StoreError as exc:
            if not synthetic_background:
                raise StoreError(f"{exc} (Deep SHAP background; pass --background STORE, or --synthetic-background "
                                 "for field-free disks)") from None
    results = []
    paths = [Path(p) for p in paths]
    stems = output_stems(paths)
    for p, stem in zip(paths, stems):
        m = read_magnetogram(p, size_px=meta.image_size_px)
        x = torch.from_numpy(m.data.astype(np.float32))[None, None]
        # the disk from the header's geometry, as region_forecasts has it: never "pixel > 0" (a saturated negative
        # umbra is 0 on Helioviewer's byte scale, like the sky)
        cover = disk_coverage(x.shape[-1], m.meta.disk_center_px, m.meta.disk_radius_px).astype(np.float32)[None]
        ex = explain(model, x, methods, background=background, n_steps=n_steps, disks=cover)
        files = {}
        for k, a in ex.maps.items():
            f = out / f"{stem}_{k}.npy"
            np.save(f, a[0])
            files[k] = str(f)
        fig, axes = plt.subplots(1, len(ex.maps), figsize=(4.2 * len(ex.maps), 4.4))
        axes = np.atleast_1d(axes)
        for ax, (k, a) in zip(axes, ex.maps.items()):
            plot_attribution(m.data, a[0], ax=ax, title=k, center_px=m.meta.disk_center_px, radius_px=m.meta.disk_radius_px)
        fig.suptitle(f"{m.meta.date_obs:%Y-%m-%d %H:%M} UT  P(\u2265M1.0, 24 h) = {ex.probabilities[0]:.2f}")
        fig.tight_layout()
        png = out / f"{stem}.png"
        fig.savefig(png, dpi=90)
        plt.close(fig)
        results.append({"input": str(p), "maps": files, "figure": str(png), "probability": float(ex.probabilities[0]),
                        "background": "store" if background is not None else "synthetic",
                        "ig_completeness_delta": float(ex.ig_delta[0]) if ex.ig_delta is not None else None,
                        "shape": list(next(iter(ex.maps.values())).shape[1:])})
    return results
