"""Explanations measured over hundreds of instances, against model-free controls.

:func:`evaluate_explanations` attributes a stratified sample of validation instances — outcomes TP, FP, FN, TN
and, within flares, central vs near-limb — with every method of :mod:`flarelib.explain.attribution` and scores,
with exactly the same code, three model-free **controls**:

* ``abs_field``: |B| of the magnetogram (where the field is strong);
* ``field_gradient``: the magnitude of the gradient of the smoothed field, a proxy for strong-gradient
  polarity-inversion lines;
* ``uniform``: a constant on-disk map (what chance scores).

Measures, per instance and map (tables with 95 % intervals from :func:`flarelib.verify.uncertainty.cluster_interval`,
resampling whole flaring regions — the windows of one region's flares are not independent — and days for
instances without a flare):

* **localisation** against the simulator's region masks: the pointing game (the map's on-disk maximum inside the
  region that produced the window's largest flare, widened by ``pointing_tolerance_px``), the share of positive
  attribution inside that region, and the lift (that share over the region's share of the disk);
* **faithfulness**: a deletion curve — the top ``k`` % attributed on-disk pixels replaced by 0 G, k = 1, 2, 5, 10,
  20 % — and the drop of the model's flare log-odds, against deleting random on-disk pixels of the same area;
* **agreement** between methods and with |B| (Spearman on the disk, IoU of the top 1 % and 5 % pixels);
* the **near-limb question** of the reference study: the share of positive attribution within ``limb_band_deg``
  of the limb, and whether the flaring region ranks first among the visible regions by attribution;
* **region-level forecasts**: each visible region gets the full-disk probability times its share of the positive
  attribution; scored against which regions produced a >= M1.0 flare in the window (ROC AUC; TSS of "the
  top region of a yes forecast");
* **sanity**: :func:`randomisation_reference` compares maps of the trained model with maps of fully randomised
  models, against the similarity of randomised models to each other (the reference level).

Every on-disk test uses the disk from the image's header geometry (the store's disk record), never pixel > 0: on
Helioviewer's +/-250 G byte scale a saturated negative umbra is 0, like the sky.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import binary_dilation, gaussian_filter
from tqdm.auto import tqdm

from ..data.labels import FOLDS
from ..data.store import Store
from ..errors import InputError
from ..io.geometry import disk_coverage, disk_mask, mu_map
from ..io.goes import parse_goes_class
from ..io.magnetogram import ZERO_GAUSS_VALUE, uint8_to_gauss
from ..model.network import FLARE
from ..sim.simulator import flaring_regions, largest_flare_regions, simulator_of_store
from ..verify.metrics import LIMB_DEG
from ..verify.uncertainty import cluster_interval, interval_verdict
from .attribution import (
    METHODS,
    _all_empty,
    _layers_top_down,
    _mean_abs_spearman,
    _randomise_layer,
    agreement,
    area_reduce,
    attribution_copy,
    block_factor,
    deepshap_background,
    explain,
    localisation,
)
from .region_scores import region_level_scores
from .regions import attribution_components

__all__ = [
    "CONTROLS",
    "OUTCOMES",
    "ExplanationEvalConfig",
    "ExplanationEvaluation",
    "control_maps",
    "sample_instances",
    "deletion_drops",
    "infidelity_scores",
    "sensitivity_scores",
    "validation_predictions",
    "load_instances",
    "simulated_region_labels",
    "simulator_truth",
    "randomisation_reference",
    "randomisation_flag",
    "evaluate_explanations",
]

CONTROLS = ("abs_field", "field_gradient", "uniform")
OUTCOMES = ("TP", "FP", "FN", "TN")
#: How far (Spearman) the trained-vs-randomised similarity must lie above the randomised models' mutual
#: similarity, on average, before a method is flagged: a margin set a priori so that the verdict does not turn on the
#: noise of a few images and models (a Spearman difference below 0.1 is a weak effect by any convention).
FLAG_MARGIN = 0.1
#: Strata of the sample: flares split by where the window's largest flare is, other outcomes whole.
STRATA = ("TP central", "TP near-limb", "FN central", "FN near-limb", "FP", "TN")


@dataclass(frozen=True)
class ExplanationEvalConfig:
    """Everything an explanation evaluation depends on (``flarelib explain --evaluate`` flags and notebook parameters).

    Attributes
    ----------
    n_per_kind : int
        Instances per stratum (:data:`STRATA`), fewer where a stratum has fewer.
    methods, controls : tuple of str
        Attribution methods and model-free controls to score.
    ig_steps, n_background : int
        Integrated Gradients steps; Deep SHAP background size (no-flare training images).
    gradcam_interpolation : str
        Upsampling of Grad-CAM's coarse map ('bilinear').
    deletion_fractions : tuple of float
        Shares of the on-disk pixels deleted (set to 0 G), most attributed first.
    pointing_tolerance_px : int
        The region is widened by this many pixels for the pointing game.
    limb_deg, limb_band_deg : float
        A flare is near-limb beyond ``limb_deg`` longitude (the reference study's 70 deg); the limb band is the
        pixels within ``limb_band_deg`` heliocentric angle of the limb.
    control_smooth_px : float
        Gaussian smoothing (pixels) of the field before its gradient is taken.
    decision_threshold : float
        Probability at and above which a forecast is "yes".
    n_randomisation, n_random_models : int
        Images and independently randomised models of the randomisation test.
    n_perturb, infidelity_noise_bytes : int, float
        captum's ``infidelity`` (Yeh et al. 2019) per instance and map: Gaussian perturbations of the disk (sigma in
        byte units; 10 is about 20 G), the map's dot product with them against the change of the flare logit,
        with the map's optimal scale (``normalize=True``), so maps in any unit compare.
    n_sensitivity, sensitivity_radius_bytes : int, float
        captum's ``sensitivity_max`` on ``n_sensitivity`` instances spread evenly through the sample, methods only
        (each perturbation re-attributes): uniform on-disk noise of this radius, the largest change of the map
        relative to its norm.
    n_boot : int
        Resamples of the intervals.
    batch_size, seed : int
    """

    n_per_kind: int = 50
    methods: tuple = METHODS
    controls: tuple = CONTROLS
    ig_steps: int = 32
    n_background: int = 8
    gradcam_interpolation: str = "bilinear"
    deletion_fractions: tuple = (0.01, 0.02, 0.05, 0.10, 0.20)
    pointing_tolerance_px: int = 1
    limb_deg: float = LIMB_DEG
    limb_band_deg: float = 10.0
    control_smooth_px: float = 1.0
    decision_threshold: float = 0.5
    n_randomisation: int = 4
    n_random_models: int = 3
    n_perturb: int = 10
    infidelity_noise_bytes: float = 10.0
    n_sensitivity: int = 8
    sensitivity_radius_bytes: float = 2.0
    n_boot: int = 1000
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.n_per_kind >= 1, f"n_per_kind must be >= 1, got {self.n_per_kind}"),
            (set(self.methods) <= set(METHODS), f"methods must be among {METHODS}, got {self.methods}"),
            (set(self.controls) <= set(CONTROLS), f"controls must be among {CONTROLS}, got {self.controls}"),
            (all(0 < f < 1 for f in self.deletion_fractions), f"deletion_fractions must be in (0, 1), got {self.deletion_fractions}"),
            (self.pointing_tolerance_px >= 0, f"pointing_tolerance_px must be >= 0, got {self.pointing_tolerance_px}"),
            (0 < self.limb_band_deg < 90, f"limb_band_deg must be in (0, 90), got {self.limb_band_deg}"),
            (self.n_random_models >= 2, f"n_random_models must be >= 2 (the reference is their mutual similarity), got {self.n_random_models}"),
            (self.n_boot >= 0 and self.batch_size >= 1 and self.ig_steps >= 1, "n_boot >= 0, batch_size >= 1 and ig_steps >= 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InputError(msg)

    @property
    def maps(self) -> tuple:
        return tuple(self.methods) + tuple(self.controls)


# --------------------------------------------------------------------------- controls
def control_maps(images: np.ndarray, disks: np.ndarray, controls=CONTROLS, smooth_px: float = 1.0,
                 coverage: np.ndarray | None = None) -> dict:
    """Model-free maps of 8-bit magnetograms (N, H, W) on their header disks (N, H, W): |B|, smoothed-field gradient, uniform.

    The field is in gauss (bin centres of the byte scale) and 0 G off the disk, so the limb is not an edge.
    ``coverage`` (N, H, W), each pixel's share on the disk (:func:`~flarelib.io.geometry.disk_coverage`), undoes the
    limb's mix of disk and sky before the field is read: without it a reduced image's outermost ring reads as
    strong negative field (sky is the byte of -250 G) and |B| piles up on the limb.
    """
    disks = np.asarray(disks, bool)
    img = np.asarray(images, np.float64)
    if coverage is not None:
        cov = np.asarray(coverage, np.float64)
        img = np.where(cov > 0, np.clip(img / np.maximum(cov, 1e-6), 0, 255), img)
    b = np.where(disks, uint8_to_gauss(img), 0.0)
    out = {}
    if "abs_field" in controls:
        out["abs_field"] = (np.abs(b) * disks).astype(np.float32)
    if "field_gradient" in controls:
        sm = np.stack([gaussian_filter(bi, smooth_px) for bi in b])
        gy, gx = np.gradient(sm, axis=(1, 2))
        out["field_gradient"] = (np.hypot(gx, gy) * disks).astype(np.float32)
    if "uniform" in controls:
        out["uniform"] = disks.astype(np.float32)
    return out


# --------------------------------------------------------------------------- sampling
def outcomes(prob, target, threshold: float = 0.5) -> np.ndarray:
    """TP/FP/FN/TN of each forecast at a decision threshold."""
    yes = np.asarray(prob) >= threshold
    y = np.asarray(target).astype(bool)
    return np.select([yes & y, yes & ~y, ~yes & y], ["TP", "FP", "FN"], "TN")


def sample_instances(preds: pd.DataFrame, n_per_kind: int, threshold: float = 0.5, limb_deg: float = LIMB_DEG,
                     seed: int = 0) -> pd.DataFrame:
    """A stratified random sample of validation instances: ``n_per_kind`` per stratum of :data:`STRATA`.

    ``preds`` has ``timestamp``, ``flare_prob``, ``target`` and ``fl_lon`` (longitude of the window's largest
    flare, NaN without one). Instances are drawn at random (never the most confident), sorted by time.
    """
    p = preds.copy()
    p["outcome"] = outcomes(p["flare_prob"], p["target"], threshold)
    near = pd.to_numeric(p["fl_lon"], errors="coerce").abs() > limb_deg
    p["where"] = np.where(p["target"].astype(bool), np.where(near, "near-limb", "central"), "")
    p["stratum"] = np.where(p["outcome"].isin(["TP", "FN"]), p["outcome"] + " " + p["where"], p["outcome"])
    rng = np.random.default_rng(seed)
    parts = []
    for s in STRATA:
        sub = p[p["stratum"] == s]
        if len(sub):
            parts.append(sub.iloc[np.sort(rng.choice(len(sub), min(n_per_kind, len(sub)), replace=False))])
    if not parts:
        raise InputError("no validation instance to explain")
    return pd.concat(parts).sort_values("timestamp").reset_index(drop=True)


def validation_predictions(model, store: Store, fold: int, size_px: int | None = None, batch_size: int = 32) -> pd.DataFrame:
    """The model's flare probability for every instance of ``fold``'s validation partition of a store."""
    val = sorted(set((1, 2, 3, 4)) - set(FOLDS[fold]))
    pos = np.flatnonzero(store.index["partition"].isin(val).to_numpy())
    if len(pos) == 0:
        raise InputError(f"{store.path}: no instance in the validation partition of fold {fold}")
    probs = []
    model = model.eval()
    with torch.no_grad():
        for a in range(0, len(pos), batch_size):
            x = _images(store, pos[a:a + batch_size], size_px)
            probs.append(model.predict_proba(x).numpy())
    out = store.index.iloc[pos].reset_index(drop=True)
    cols = [c for c in ("timestamp", "target", "max_class", "fl_lon", "fl_lat", "partition") if c in out]
    out = out[cols].copy()
    out["flare_prob"] = np.concatenate(probs)
    out["store_pos"] = pos
    return out


def _factor(store: Store, size_px: int | None) -> int:
    return block_factor(store.size_px, size_px, store.path)


def _images(store: Store, positions, size_px: int | None) -> torch.Tensor:
    x = torch.from_numpy(np.stack([store.image(int(i)) for i in positions]).astype(np.float32))[:, None]
    return area_reduce(x, _factor(store, size_px))


def _disk_geometry(store: Store, pos: int, k: int) -> tuple[tuple[float, float], float]:
    """The header disk of a store image at 1/k of its size (pixel centres: (c + 0.5) / k - 0.5)."""
    cx, cy, r = store.disk(int(pos))
    return ((cx + 0.5) / k - 0.5, (cy + 0.5) / k - 0.5), r / k


def load_instances(store: Store, positions, size_px: int | None = None) -> tuple[torch.Tensor, list, np.ndarray, np.ndarray]:
    """Store images as model inputs at ``size_px`` (area-averaged), with their header disks at that size.

    Returns
    -------
    x : tensor (N, 1, S, S) in 8-bit units
    geometry : list of ((cx, cy), radius) in pixels of the reduced image
    disks : (N, S, S) bool, the header disks (pixel centres on the disk)
    coverage : (N, S, S) float, each pixel's share on the disk (for baselines and controls at the limb)
    """
    x = _images(store, positions, size_px)
    k = _factor(store, size_px)
    geometry = [_disk_geometry(store, p, k) for p in positions]
    S = x.shape[-1]
    return (x, geometry, np.stack([disk_mask(S, c, r) for c, r in geometry]),
            np.stack([disk_coverage(S, c, r) for c, r in geometry]).astype(np.float32))


def simulated_region_labels(sim, timestamp, size_px: int) -> np.ndarray:
    """The simulator's region-id mask (0: no region) of the frame at ``timestamp``, at ``size_px`` (nearest sample)."""
    lab = sim.region_masks(int(sim.times.searchsorted(pd.Timestamp(timestamp))))
    k = lab.shape[-1] // size_px
    return lab[k // 2::k, k // 2::k] if k > 1 else lab


def simulator_truth(store: Store):
    """The simulator that made a store and its flare catalog (``start``, ``peak_flux_wm2``, ``region_id``), or (None, None)
    for a store of real magnetograms (no region masks, no ground truth of where flares come from)."""
    if store.manifest.get("source") != "simulator":
        return None, None
    catalog = pd.read_csv(store.path / "catalog.csv")
    catalog["peak_flux_wm2"] = catalog["goes_class"].map(parse_goes_class)
    return simulator_of_store(store.manifest), catalog.rename(columns={"start_time": "start"})


# --------------------------------------------------------------------------- faithfulness
def _log_odds(net, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        z = net(x)
    return (z[:, FLARE] - z[:, 1 - FLARE]).numpy()


def deletion_drops(net, image: torch.Tensor, maps: dict, disk: np.ndarray, fractions, rng: np.random.Generator) -> dict:
    """Drop of the flare log-odds when the most attributed on-disk pixels are set to 0 G, and when random ones are.

    Parameters
    ----------
    net : module returning logits
    image : tensor (1, H, W) in 8-bit units
    maps : dict name -> (H, W) attribution
    disk : (H, W) bool, the header disk
    fractions : shares of the on-disk pixels deleted
    rng : the random deletions' generator (ties in a map are broken at random too)

    Returns
    -------
    dict name -> {"top": array, "random": array} of drops (original minus deleted log-odds), one per fraction.
    """
    ys, xs = np.nonzero(disk)
    n = len(ys)
    ks = [max(1, int(round(f * n))) for f in fractions]
    base = _log_odds(net, image[None])[0]
    stack, keys = [], []
    rand_order = rng.permutation(n)
    for name, a in maps.items():
        order = np.lexsort((rng.random(n), -a[ys, xs]))  # descending attribution, random among ties
        for kind, ordr in (("top", order), ("random", rand_order)):
            for k in ks:
                xi = image.clone()
                xi[0, ys[ordr[:k]], xs[ordr[:k]]] = ZERO_GAUSS_VALUE
                stack.append(xi)
                keys.append((name, kind))
    lo = np.concatenate([_log_odds(net, torch.stack(stack[a:a + 64])) for a in range(0, len(stack), 64)])
    out: dict = {name: {"top": [], "random": []} for name in maps}
    for (name, kind), v in zip(keys, lo):
        out[name][kind].append(base - v)
    return {name: {k: np.asarray(v) for k, v in d.items()} for name, d in out.items()}


def infidelity_scores(net, image: torch.Tensor, maps: dict, disk: np.ndarray, n_perturb: int = 10, noise_bytes: float = 10.0,
                      seed: int = 0) -> dict:
    """captum's ``infidelity`` of each map for one image (1, H, W), with Gaussian noise on the disk only (normalised:
    the map's best scale is fitted, so maps in gauss and in logit units compare). Lower is more faithful."""
    from captum.metrics import infidelity

    on = torch.from_numpy(np.asarray(disk, np.float32))

    def perturb(inputs):
        noise = torch.randn(inputs.shape, generator=g) * noise_bytes * on
        return noise, inputs - noise

    out = {}
    for name, a in maps.items():
        g = torch.Generator().manual_seed(seed)  # the same perturbations for every map
        attr = torch.from_numpy(np.asarray(a, np.float32))[None, None]
        out[name] = float(infidelity(net, perturb, image[None], attr, target=FLARE, n_perturb_samples=n_perturb, normalize=True)[0])
    return out


def sensitivity_scores(model, image: torch.Tensor, methods, coverage: np.ndarray, background=None, n_steps: int = 16,
                       radius_bytes: float = 2.0, n_perturb: int = 5, seed: int = 0, gradcam_interpolation: str = "bilinear") -> dict:
    """captum's ``sensitivity_max`` of each method for one image (1, H, W): the largest change of the map (Frobenius norm,
    relative to the map's) under uniform on-disk noise of ``radius_bytes``. Lower is more stable."""
    from captum.metrics import sensitivity_max

    cov = np.asarray(coverage, np.float32)
    on = torch.from_numpy((cov > 0).astype(np.float32))
    out = {}
    for m in methods:
        g = torch.Generator().manual_seed(seed)

        def perturb(inputs, radius, g=g):
            inputs = inputs[0] if isinstance(inputs, tuple) else inputs
            return inputs + (torch.rand(inputs.shape, generator=g) * 2 - 1) * radius * on

        def attribute(inputs, m=m):
            inputs = inputs[0] if isinstance(inputs, tuple) else inputs  # captum passes a tuple of inputs
            a = explain(model, inputs, (m,), background=background, n_steps=n_steps, gradcam_interpolation=gradcam_interpolation,
                        disks=np.repeat(cov[None], len(inputs), 0)).maps[m]
            return torch.from_numpy(a)[:, None]

        out[m] = float(sensitivity_max(attribute, image[None], perturb_func=perturb, perturb_radius=radius_bytes,
                                       n_perturb_samples=n_perturb)[0])
    return out


# --------------------------------------------------------------------------- sanity
def _randomised(model, seed: int):
    """A copy of the model with every layer re-drawn (as cascading randomisation's last step)."""
    work = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    for _, layer in _layers_top_down(work):
        _randomise_layer(layer, g)
    return work


def randomisation_reference(model, images: torch.Tensor, disks: np.ndarray, methods=METHODS, background=None, n_steps: int = 16,
                            n_random_models: int = 3, seed: int = 0, gradcam_interpolation: str = "bilinear",
                            coverage: np.ndarray | None = None) -> pd.DataFrame:
    """Model-randomisation test with a reference level (after Adebayo et al. 2018).

    Maps of the trained model are compared (Spearman of |map| on the header disk, mean over images) with maps of
    ``n_random_models`` models whose every layer is re-drawn at random. A fixed threshold cannot say whether a
    similarity of, say, 0.3 is "kept" or "lost": two randomised models' maps of the same images already share
    what the input alone imposes (strong-field pixels get large gradients whatever the weights). That mutual
    similarity of the randomised models is the **reference**: the level at which nothing model-specific is left.

    A method is **flagged** when every trained-vs-randomised similarity lies above the randomised models' own
    spread (above the highest random-random similarity, and on average by :data:`FLAG_MARGIN`): the trained map is then closer to the randomised maps
    than they are to each other — it shows the structure all models share, the input, more than what this model
    learned. A method whose trained-vs-randomised similarity falls within or below the reference passes: after
    randomisation nothing is left beyond what any two models share. With a reference near 0 (maps of random
    models unrelated to each other) the test passes a method whose maps change completely.

    Returns
    -------
    DataFrame, one row per method: ``trained_vs_random`` (mean, and ``trained_vs_random_min``/``_max`` over models),
    ``reference_lo``/``reference_mean``/``reference_hi`` (random-random pairs), ``flagged``.
    """
    kw = dict(methods=methods, background=background, n_steps=n_steps, disks=disks if coverage is None else coverage,
              gradcam_interpolation=gradcam_interpolation)
    disks = np.asarray(disks, bool)
    trained = explain(model, images, **kw).maps
    rand = [explain(_randomised(model, seed + 1000 * (j + 1)), images, **kw).maps for j in range(n_random_models)]

    rows = []
    for m in methods:
        tv = [_mean_abs_spearman(trained[m], r[m], disks) for r in rand]
        rr = [_mean_abs_spearman(rand[i][m], rand[j][m], disks) for i, j in combinations(range(n_random_models), 2)]
        empty = _all_empty(trained[m], disks)
        flagged = randomisation_flag(tv, rr, empty)
        rows.append({"method": m, "trained_vs_random": float(np.mean(tv)), "trained_vs_random_min": float(np.min(tv)),
                     "trained_vs_random_max": float(np.max(tv)), "reference_lo": float(np.min(rr)),
                     "reference_mean": float(np.mean(rr)), "reference_hi": float(np.max(rr)), "original_map_empty": empty,
                     "flagged": flagged})
    return pd.DataFrame(rows)


def randomisation_flag(trained_vs_random, random_vs_random, empty: bool = False, margin: float = FLAG_MARGIN) -> bool:
    """The verdict of :func:`randomisation_reference`: flagged when the map is empty, or when every trained-vs-randomised
    similarity lies above the randomised models' spread and their mean exceeds the reference mean by ``margin``."""
    tv, rr = np.asarray(trained_vs_random, float), np.asarray(random_vs_random, float)
    return bool(empty or (tv.min() > rr.max() and tv.mean() - rr.mean() > margin))


# --------------------------------------------------------------------------- the evaluation
@dataclass
class ExplanationEvaluation:
    """Per-instance measurements of an explanation evaluation, and their summaries with intervals.

    Attributes
    ----------
    instances : DataFrame
        The sample: timestamp, outcome, stratum, flare_prob, target, fl_lon, region_id (largest flare's region,
        0 without one), cluster (the resampling unit).
    scores : DataFrame
        One row per instance and map: ``map``, ``kind`` ('method'/'control'), localisation (``pointing``,
        ``share_inside``, ``lift``, NaN when the flaring region is not visible), ``limb_share``, ``flaring_rank``,
        ``top_component_hit`` (the first component of :func:`~flarelib.explain.regions.attribution_components`
        touches the flaring region), ``infidelity`` and ``sensitivity_max`` (captum; NaN where not computed), and
        ``del_top_K`` / ``del_random_K`` (log-odds drop when K % of the disk is deleted).
    agreement : DataFrame
        One row per instance and pair of maps.
    regions : DataFrame
        One row per instance, map and visible region: ``share``, ``p_region``, ``flared``, ``top``.
    randomisation : DataFrame
        :func:`randomisation_reference`'s table.
    mean_maps : dict
        ``(outcome, map) -> (H, W)`` mean over the instances of the map's positive part normalised to unit sum on
        the disk: where each method puts its evidence, on average, for TP, FP, FN and TN.
    """

    config: ExplanationEvalConfig
    instances: pd.DataFrame
    scores: pd.DataFrame
    agreement: pd.DataFrame
    regions: pd.DataFrame
    randomisation: pd.DataFrame
    has_truth: bool = True
    notes: list = field(default_factory=list)
    mean_maps: dict = field(default_factory=dict)

    def _interval(self, frame: pd.DataFrame, column: str, seed_offset: int = 0) -> tuple[float, float, float]:
        v = frame[column].to_numpy(float)
        ok = np.isfinite(v)
        if not ok.any():
            return float("nan"), float("nan"), float("nan")
        v, groups = v[ok], frame["cluster"].to_numpy()[ok]
        return cluster_interval(lambda r: float(np.mean(v[r])), groups, self.config.n_boot, self.config.seed + seed_offset)

    def _with_cluster(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.merge(self.instances[["instance", "cluster"]], on="instance")

    def _restrict(self, frame: pd.DataFrame, where: str | None) -> pd.DataFrame:
        """Rows of ``frame`` whose instance is of stratum or outcome ``where`` (all rows when None)."""
        if not where:
            return frame
        inst = self.instances
        return frame[frame["instance"].isin(inst.loc[(inst["stratum"] == where) | (inst["outcome"] == where), "instance"])]

    def summary(self, where: str | None = None) -> pd.DataFrame:
        """Per map: pointing game, lift, share inside, deletion drop at 5 % (top, random, difference), with 95 % intervals.

        ``where`` restricts to one stratum (e.g. 'TP near-limb') or outcome (e.g. 'TP').
        """
        s = self._with_cluster(self._restrict(self.scores, where))
        k5 = _pct(0.05 if 0.05 in self.config.deletion_fractions else self.config.deletion_fractions[0])
        s = s.assign(del_diff=s[f"del_top_{k5}"] - s[f"del_random_{k5}"])
        rows = []
        for m in self.config.maps:
            g = s[s["map"] == m]
            row = {"map": m, "kind": "method" if m in METHODS else "control", "n": int(g["instance"].nunique()),
                   "n_localised": int(np.isfinite(g["lift"]).sum())}
            for col, name in (("pointing", "pointing"), ("lift", "lift"), ("share_inside", "share_inside"),
                              ("top_component_hit", "top_component_hit"), ("infidelity", "infidelity"),
                              ("sensitivity_max", "sensitivity_max"),
                              (f"del_top_{k5}", f"deletion_{k5}pct_top"), (f"del_random_{k5}", f"deletion_{k5}pct_random"),
                              ("del_diff", f"deletion_{k5}pct_top_minus_random")):
                est, lo, hi = self._interval(g, col)
                row.update({name: est, f"{name}_lo": lo, f"{name}_hi": hi})
            rows.append(row)
        return pd.DataFrame(rows)

    def paired_difference(self, map_a: str, map_b: str, column: str, where: str | None = None) -> tuple[float, float, float]:
        """Mean per-instance difference ``column`` of ``map_a`` minus ``map_b`` (same instances) and its 95 % interval.

        ``column`` is a per-instance score (``lift``, ``pointing``, ``share_inside``, ``del_top_5`` ...); ``where`` an
        optional stratum or outcome. The comparison a reader needs: does a method beat a control on the same images?
        """
        s = self._restrict(self.scores, where)
        w = s.pivot_table(index="instance", columns="map", values=column, dropna=False)
        if map_a not in w or map_b not in w:
            return float("nan"), float("nan"), float("nan")
        d = (w[map_a] - w[map_b]).rename("diff").reset_index()
        return self._interval(self._with_cluster(d), "diff")

    def verdict(self, map_a: str, map_b: str, column: str, where: str | None = None) -> str:
        """'higher than', 'lower than' or 'not distinguishable from': the paired difference's interval against 0."""
        est, lo, hi = self.paired_difference(map_a, map_b, column, where)
        return interval_verdict(lo, hi, above="higher than", below="lower than", missing="not measured against")

    def deletion_curves(self) -> pd.DataFrame:
        """Mean drop of the flare log-odds per map and deleted fraction, most-attributed vs random, with intervals."""
        s = self._with_cluster(self.scores)
        rows = []
        for m in self.config.maps:
            g = s[s["map"] == m]
            for f in self.config.deletion_fractions:
                for kind in ("top", "random"):
                    est, lo, hi = self._interval(g, f"del_{kind}_{_pct(f)}")
                    rows.append({"map": m, "fraction": f, "deleted": kind, "drop": est, "lo": lo, "hi": hi})
        return pd.DataFrame(rows)

    def agreement_summary(self) -> pd.DataFrame:
        """Mean Spearman and top-k IoU per pair of maps, with intervals."""
        a = self._with_cluster(self.agreement)
        rows = []
        for pair, g in a.groupby("pair", sort=False):
            row = {"pair": pair}
            for col in ("spearman", "iou_top1", "iou_top5"):
                est, lo, hi = self._interval(g, col)
                row.update({col: est, f"{col}_lo": lo, f"{col}_hi": hi})
            rows.append(row)
        return pd.DataFrame(rows)

    def near_limb(self) -> pd.DataFrame:
        """Near-limb flares, TP vs FN, per map: attribution share within the limb band, and the flaring region ranked first."""
        s = self._with_cluster(self.scores).merge(self.instances[["instance", "stratum"]], on="instance")
        rows = []
        for stratum in ("TP near-limb", "FN near-limb"):
            for m in self.config.maps:
                g = s[(s["stratum"] == stratum) & (s["map"] == m)]
                if not len(g):
                    continue
                g = g.assign(rank_first=np.where(np.isfinite(g["flaring_rank"]), (g["flaring_rank"] == 1).astype(float), np.nan))
                row = {"stratum": stratum, "map": m, "n": len(g), "n_region_visible": int(np.isfinite(g["flaring_rank"]).sum())}
                for col in ("limb_share", "rank_first"):
                    est, lo, hi = self._interval(g, col)
                    row.update({col: est, f"{col}_lo": lo, f"{col}_hi": hi})
                rows.append(row)
        return pd.DataFrame(rows)

    def region_scores(self) -> pd.DataFrame:
        """Region-level forecasts per map: ROC AUC of the regions' probabilities, TSS of "the top region of a yes
        forecast", and the hit rate of the top region on flare instances, with intervals
        (:func:`~flarelib.explain.region_scores.region_level_scores`)."""
        return region_level_scores(self.regions, self.instances, self.config.maps, self.config.decision_threshold,
                                   self.config.n_boot, self.config.seed)

    def to_json(self) -> dict:
        """Everything a reader needs, JSON-ready: configuration, sample sizes, and every summary table."""
        rec = json_records
        return {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.config).items()},
                "n_instances": int(len(self.instances)),
                "strata": {k: int(v) for k, v in self.instances["stratum"].value_counts().items()},
                "ground_truth": self.has_truth, "notes": self.notes,
                "summary": rec(self.summary()), "deletion_curves": rec(self.deletion_curves()),
                "agreement": rec(self.agreement_summary()), "near_limb": rec(self.near_limb()),
                "regions": rec(self.region_scores()), "randomisation": rec(self.randomisation)}


def json_records(df: pd.DataFrame) -> list[dict]:
    """Rows of a table as JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
    out = []
    for row in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v.item() if hasattr(v, "item") else v)
                    for k, v in row.items()})
    return out


def _pct(f: float) -> int:
    return int(round(f * 100))


def evaluate_explanations(model, store: Store, preds: pd.DataFrame, config: ExplanationEvalConfig = ExplanationEvalConfig(),
                          fold: int = 1, size_px: int | None = None, sim=None, catalog: pd.DataFrame | None = None,
                          progress: bool = True) -> ExplanationEvaluation:
    """Attribute a stratified sample of a fold's validation instances and measure every method against the controls.

    Parameters
    ----------
    model : FullDiskAlexNet
        Left unchanged.
    store : Store
        The images (and their header disks).
    preds : DataFrame
        Validation predictions (``timestamp``, ``flare_prob``, ``target``, ``fl_lon``), e.g. a run's
        ``predictions.csv`` or :func:`validation_predictions`.
    fold : int
        Which fold's training partitions give the Deep SHAP background.
    size_px : int, optional
        The model's input size (the checkpoint's); store images are reduced to it by area averaging.
    sim : Simulator, optional
        The simulator that made the store: region masks, the ground truth of localisation and region-level
        forecasts. Without it those measures are left out (noted in the result).
    catalog : DataFrame, optional
        The simulator's flare catalog (``start``, ``peak_flux_wm2``, ``region_id``); needed with ``sim``.
    progress : bool
        A progress bar over the batches.
    """
    cfg = config
    _factor(store, size_px)  # refuse a size that does not divide the store's before any work
    pos_of = dict(zip(pd.to_datetime(store.index["timestamp"]), range(len(store))))
    inst = sample_instances(preds, cfg.n_per_kind, cfg.decision_threshold, cfg.limb_deg, cfg.seed)
    inst["instance"] = np.arange(len(inst))
    inst["store_pos"] = [pos_of[pd.Timestamp(t)] for t in inst["timestamp"]]
    has_truth = sim is not None and catalog is not None
    notes = []
    if has_truth:
        inst["region_id"] = largest_flare_regions(catalog, inst["timestamp"])
        flared_sets = flaring_regions(catalog, inst["timestamp"])
    else:
        inst["region_id"] = 0
        flared_sets = [set() for _ in range(len(inst))]
        notes.append("no simulator ground truth: localisation, the near-limb ranking and region-level forecasts are left out")
    day = pd.to_datetime(inst["timestamp"]).dt.strftime("d%Y%m%d")
    inst["cluster"] = np.where(inst["region_id"] > 0, "r" + inst["region_id"].astype(str), day)

    background = deepshap_background(store, fold, cfg.n_background, size_px) if "deepshap" in cfg.methods else None
    net = attribution_copy(model)
    rng = np.random.default_rng(cfg.seed)
    band_mu = np.cos(np.radians(90.0 - cfg.limb_band_deg))
    score_rows, agree_rows, region_rows = [], [], []
    # sensitivity_max re-attributes: on n_sensitivity instances spread evenly through the (time-sorted) sample
    sens_set = set(np.linspace(0, len(inst) - 1, min(cfg.n_sensitivity, len(inst))).astype(int).tolist()) if cfg.n_sensitivity else set()
    sums: dict = {}
    counts: dict = {}
    batches = range(0, len(inst), cfg.batch_size)
    first = None
    for a in tqdm(batches, desc="explanations", unit="batch", disable=not progress):
        b = inst.iloc[a:a + cfg.batch_size]
        x, geo, disks, cover = load_instances(store, b["store_pos"].to_numpy(), size_px)
        S = x.shape[-1]
        if first is None:
            first = (x[: cfg.n_randomisation], cover[: cfg.n_randomisation], disks[: cfg.n_randomisation])
        maps = explain(model, x, cfg.methods, background=background, n_steps=cfg.ig_steps,
                       gradcam_interpolation=cfg.gradcam_interpolation, disks=cover).maps if cfg.methods else {}
        maps.update(control_maps(x[:, 0].numpy(), disks, cfg.controls, cfg.control_smooth_px, coverage=cover))
        for j, r in enumerate(b.itertuples()):
            disk = disks[j]
            limb = disk & (mu_map(S, *geo[j]) <= band_mu)
            labels = None
            if has_truth:
                labels = np.where(disk, simulated_region_labels(sim, r.timestamp, S), 0)
            maps_j = {m: maps[m][j] for m in cfg.maps}
            drops = deletion_drops(net, x[j], maps_j, disk, cfg.deletion_fractions, rng)
            infid = infidelity_scores(net, x[j], maps_j, disk, cfg.n_perturb, cfg.infidelity_noise_bytes,
                                      cfg.seed + int(r.instance)) if cfg.n_perturb else {}
            sens = sensitivity_scores(model, x[j], cfg.methods, cover[j], background=background, n_steps=max(4, cfg.ig_steps // 2),
                                      radius_bytes=cfg.sensitivity_radius_bytes, seed=cfg.seed + int(r.instance),
                                      gradcam_interpolation=cfg.gradcam_interpolation) if r.instance in sens_set else {}
            ids = region = reach = None
            if labels is not None:
                ids = np.unique(labels[labels > 0])
                if r.region_id > 0 and r.region_id in ids:
                    region = labels == r.region_id
                    reach = binary_dilation(region, iterations=cfg.pointing_tolerance_px) if cfg.pointing_tolerance_px else region
            for m in cfg.maps:
                amap = maps_j[m]
                pos = np.clip(amap, 0, None) * disk
                total = pos.sum()
                if total > 0:
                    key = (r.outcome, m)
                    sums[key] = sums.get(key, 0.0) + pos / total
                    counts[key] = counts.get(key, 0) + 1
                row = {"instance": r.instance, "map": m, "kind": "method" if m in METHODS else "control",
                       "limb_share": float(pos[limb].sum() / total) if total > 0 else 0.0,
                       "pointing": np.nan, "share_inside": np.nan, "area_share": np.nan, "lift": np.nan, "flaring_rank": np.nan,
                       "top_component_hit": np.nan, "infidelity": infid.get(m, np.nan), "sensitivity_max": sens.get(m, np.nan)}
                for f, dt, dr in zip(cfg.deletion_fractions, drops[m]["top"], drops[m]["random"]):
                    row[f"del_top_{_pct(f)}"] = float(dt)
                    row[f"del_random_{_pct(f)}"] = float(dr)
                if labels is not None:
                    mass = np.bincount(labels.ravel(), weights=pos.ravel(), minlength=int(labels.max()) + 1)
                    if region is not None:
                        row.update(localisation(amap, region, disk, cfg.pointing_tolerance_px))
                        if total > 0:  # an empty map ranks nothing (every region would tie "first")
                            row["flaring_rank"] = float(1 + (mass[ids] > mass[r.region_id]).sum())
                        # the region-level split of `flarelib forecast --regions`: does its first component touch the region?
                        # (not for the uniform map: it has no structure to split, its "component" is the whole disk)
                        if m != "uniform":
                            comp, table = attribution_components(amap, disk, geo[j][1])
                            row["top_component_hit"] = float(bool(len(table)) and bool(((comp == 1) & reach).any()))
                    if len(ids):
                        shares = mass[ids] / total if total > 0 else np.zeros(len(ids))
                        top = ids[np.argmax(shares)] if total > 0 else -1
                        for rid, sh in zip(ids, shares):
                            region_rows.append({"instance": r.instance, "map": m, "region_id": int(rid), "share": float(sh),
                                                "flare_prob": float(r.flare_prob), "p_region": float(r.flare_prob * sh),
                                                "flared": int(rid in flared_sets[r.instance]), "top": bool(rid == top)})
                score_rows.append(row)
            pairs = list(combinations(cfg.methods, 2)) + [(m, "abs_field") for m in cfg.methods if "abs_field" in cfg.controls]
            for u, v in pairs:
                agree_rows.append({"instance": r.instance, "pair": f"{u} / {v}", **agreement(maps[u][j], maps[v][j], disk)})
    if cfg.methods and first is not None and len(first[0]):
        rand = randomisation_reference(model, first[0], first[2], cfg.methods, background, max(4, cfg.ig_steps // 2),
                                       cfg.n_random_models, cfg.seed, cfg.gradcam_interpolation, coverage=first[1])
    else:
        rand = pd.DataFrame()
    return ExplanationEvaluation(config=cfg, instances=inst, scores=pd.DataFrame(score_rows), agreement=pd.DataFrame(agree_rows),
                                 regions=pd.DataFrame(region_rows), randomisation=rand, has_truth=has_truth, notes=notes,
                                 mean_maps={k: (v / counts[k]).astype(np.float32) for k, v in sums.items()})
