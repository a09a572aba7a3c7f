"""Training with four-fold tri-monthly cross-validation, honest epoch selection and resumable checkpoints.

Two profiles (see :class:`TrainConfig`):

* ``paper``: the reference study's recipe for an ImageNet-pretrained model:
  ImageNet convolutions, a Kaiming stem, a freshly initialised classifier
  (normal, std 0.01), SGD without momentum, lr 0.0099, weight decay 0.01,
  batch 64, class-weighted cross-entropy, ReduceLROnPlateau (patience 4,
  factor 0.03), 40 epochs, inputs in [0, 1].
* ``offline``: for **random initialisation** (no ImageNet weights on these
  machines). The paper's recipe does not learn from scratch in a few CPU
  epochs; this profile deviates, each deviation an explicit option:
  Kaiming-normal convolutions, torchvision's classifier initialisation,
  inputs centred on 0 G and AdamW with lr 3e-4.

**Selection never sees the reported fold.** By default (``select="final"``)
the reported model and its predictions are those of the final epoch, as in
the reference study, and the learning-rate scheduler steps on the training
loss. With ``select="inner"`` an inner validation split is carved from the
*training* partitions (:func:`flarelib.data.labels.inner_split`: 5-day
blocks, 20 %); the epoch, early stopping, the scheduler and an optional
calibrator use it. The validation fold's labels are only ever used to score
and log.

A checkpoint is written atomically after every epoch (``last.pt``) and the
reported model once chosen (``model.pt``); ``resume=True`` continues exactly,
since the shuffle, the augmentation draws and dropout are seeded from
(seed, epoch).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .._fileio import atomic_write_text
from ..data.dataset import BatchLoader, ConcatStoreDataset, FeatureDataset, StoreDataset, class_weights
from ..data.labels import FOLDS, inner_split
from ..data.store import Store, open_store
from ..errors import CheckpointError, InputError
from ..schemas import PREDICTIONS
from ..verify.calibration import CALIBRATION_KINDS, Calibrator, fit_calibrator, fit_rate_scale, scale_rate
from ..verify.metrics import best_threshold, brier_skill_score, roc_auc, skill_scores
from .card import make_card
from .checkpoint import CheckpointMeta, EventDefinition, load_checkpoint, save_checkpoint
from .network import FromStem, ModelConfig, build_model

__all__ = ["TrainConfig", "FoldResult", "train_fold", "cross_validate", "train_independent", "pick_device", "PAPER_DEVIATIONS_FIXED", "predict",
           "cpu_has_native_bf16"]

log = logging.getLogger("flarelib.training")

#: Differences from the authors' code that no option of ours removes: (what, paper, ours).
PAPER_DEVIATIONS_FIXED = (
    ("scheduler steps", "ReduceLROnPlateau stepped twice per epoch, on the validation fold's loss and TSS",
     "stepped once per epoch, on the training loss (select=final) or the inner split's loss (select=inner)"),
    ("scheduler factor", "differs per fold in the authors' logs (0.03, 0.5, 0.5, 0.3)", "one factor for every fold (plateau_factor)"),
    ("label window", "(t, t + 23:59:59]", "(t, t + 24 h]"),
    ("flare catalog", "SWAN-SF integrated GOES flare list", "HEK GOES events (download flares), or any catalog in either schema"),
    ("epoch selection", "final epoch reported", "final epoch (default) or best on an inner split of the training partitions"),
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (``flarelib train`` flags and notebook parameters come from it).

    Attributes
    ----------
    profile : {'paper', 'offline', 'ratenet'}
        Name of the recipe the other fields started from.
    select : {'final', 'inner'}
        How the reported epoch is chosen (see the module docstring).
    early_stop_patience : int or None
        With ``select="inner"``: stop after this many epochs without a better inner TSS.
    calibrate : {'isotonic', 'platt'} or None
        Fit a calibrator on the inner split's predictions of the reported
        epoch and store it in the checkpoint (needs ``select="inner"``).
    label_smoothing : float
        Cross-entropy label smoothing (0: none, the paper's).
    grad_clip : float or None
        Clip the gradients' global norm (None: no clipping, the paper's). The log records each epoch's mean
        gradient norm either way.
    cpu_bf16 : bool
        On a CPU, train and predict in bfloat16 autocast with channels-last tensors (``amp`` and
        ``channels_last`` apply to CUDA). Measured: 1.15x at 128 px for FullDiskAlexNet (``make bench``); for
        :class:`~flarelib.model.network.FlareRateNet` at 512 px, two 4-epoch runs on three Suns (same network and
        data, not interleaved) took 372 s in bf16 and 644 s in fp32 (1.7x), on a CPU with native bfloat16.
        Where the CPU has none (:func:`cpu_has_native_bf16`) fp32 is used instead, with a warning: emulated
        bfloat16 is several times slower (about 400 s per epoch of the same run on an AVX2-only CPU).
    """

    profile: str = "paper"
    epochs: int = 40
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.0099
    momentum: float = 0.0
    weight_decay: float = 0.01
    plateau_patience: int = 4
    plateau_factor: float = 0.03
    augment: bool = True
    image_size: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    deterministic: bool = False
    compile: bool = False
    threads: int | None = None
    max_batches_per_epoch: int | None = None
    select: str = "final"
    early_stop_patience: int | None = None
    calibrate: str | None = None
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    cpu_bf16: bool = False
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (self.optimizer in ("sgd", "adamw"), f"optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}"),
            (self.select in ("final", "inner"), f"select must be 'final' or 'inner', got {self.select!r}"),
            (self.calibrate in (None, *CALIBRATION_KINDS), f"calibrate must be one of {CALIBRATION_KINDS}, got {self.calibrate!r}"),
            (self.calibrate is None or self.select == "inner", "calibrate needs select='inner' (the calibrator is fitted on the inner split)"),
            (self.image_size is None or 16 <= self.image_size <= 4096, f"image_size must be 16 to 4096 px, got {self.image_size}"),
            (0.0 <= self.label_smoothing < 1.0, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}"),
            (self.max_batches_per_epoch is None or self.max_batches_per_epoch >= 1,
             f"max_batches_per_epoch must be >= 1, got {self.max_batches_per_epoch}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise InputError(msg)

    @classmethod
    def paper(cls, **kw) -> TrainConfig:
        """The reference study's recipe (ImageNet convolutions, fresh classifier, SGD)."""
        model = kw.pop("model", ModelConfig(weights="imagenet", init="kaiming", classifier_init="normal", input_scaling="unit"))
        return cls(profile="paper", model=model, **kw)

    @classmethod
    def offline(cls, **kw) -> TrainConfig:
        """The CPU profile: random Kaiming init, centred inputs, AdamW lr 3e-4 and the light head (documented deviations).

        The light head (global average pooling into one linear layer, ``head='gap'``) replaces AlexNet's 37 M
        parameter classifier here only: measured on the book's store with the AlexNet head, folds collapsed to
        "never a flare" on some CPUs and seeds; with the light head 0 of 12 folds collapsed (3 seeds x 4 folds,
        ``benchmarks/seeds.py``) at a quarter of the time. The paper profile keeps the authors' head.
        """
        model = kw.pop("model", ModelConfig(weights=None, init="kaiming", input_scaling="centered", head="gap"))
        kw.setdefault("optimizer", "adamw")
        kw.setdefault("lr", 3e-4)
        return cls(profile="offline", model=model, **kw)

    @classmethod
    def ratenet(cls, **kw) -> TrainConfig:
        """The CPU headline model: :class:`~flarelib.model.network.FlareRateNet` at full resolution.

        The Schrijver stem, width 16, AdamW lr 3e-4 and weight decay 1e-4, batch 32, bfloat16 on the CPU, no
        augmentation copies (the class weights balance the classes; the paper's x4 / x2 copies cost 2.5 times
        the images per epoch on a budget that cannot afford them).
        """
        model = kw.pop("model", ModelConfig(arch="ratenet", stem="schrijver", width=16, input_scaling="centered"))
        for k, v in (("optimizer", "adamw"), ("lr", 3e-4), ("weight_decay", 1e-4), ("batch_size", 32), ("augment", False),
                     ("cpu_bf16", True), ("epochs", 4)):
            kw.setdefault(k, v)
        return cls(profile="ratenet", model=model, **kw)

    @classmethod
    def for_profile(cls, profile: str, **kw) -> TrainConfig:
        """The named profile with fields overridden (``None`` values are ignored)."""
        builders = {"paper": cls.paper, "offline": cls.offline, "ratenet": cls.ratenet}
        if profile not in builders:
            raise InputError(f"profile must be one of {sorted(builders)}, got {profile!r}")
        return builders[profile](**{k: v for k, v in kw.items() if v is not None})

    def deviations_from_paper(self) -> dict:
        """Every difference from the authors' recipe, ``{name: (paper, ours)}``: our settings, then the fixed ones."""
        paper = TrainConfig.paper()
        out = {}
        for k in ("optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "plateau_patience", "plateau_factor",
                  "augment", "image_size", "select", "label_smoothing", "grad_clip"):
            if getattr(self, k) != getattr(paper, k):
                out[k] = (getattr(paper, k), getattr(self, k))
        for k in ("weights", "init", "classifier_init", "input_scaling", "dropout", "head", "arch", "stem"):
            if getattr(self.model, k) != getattr(paper.model, k):
                out[f"model.{k}"] = (getattr(paper.model, k), getattr(self.model, k))
        for what, theirs, ours in PAPER_DEVIATIONS_FIXED:
            out.setdefault(what, (theirs, ours))
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["model"] = ModelConfig(**d.get("model", {}))
        return cls(**d)


@dataclass
class FoldResult:
    """What :func:`train_fold` returns.

    Attributes
    ----------
    fold : int
    reported_epoch : int
        1-based epoch of ``model.pt`` and ``predictions.csv`` (0 when not reached yet).
    selection : str
    log : pandas.DataFrame
        One row per epoch: losses, the validation fold's TSS/HSS (scored, never
        used to choose), the inner split's TSS when there is one, the share of
        validation instances forecast positive, its AUC, its Brier skill score against the training partitions' base
        rate and its mean probability (all scored, never used to choose), lr, seconds.
    dir : Path
    collapsed : bool
        The reported model forecasts one class for every validation instance.
    """

    fold: int
    reported_epoch: int
    selection: str
    log: pd.DataFrame
    dir: Path
    collapsed: bool


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when available, then Apple MPS, else CPU (or the named device, checked).

    Raises
    ------
    ValueError
        A CUDA or MPS device is named but not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"--device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available on this machine")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"--device {name}: Apple MPS is not available on this machine")
    return dev


def _dist() -> tuple[int, int]:
    """(rank, world) of a torchrun launch, initialising the process group once; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _all_reduce_sum(values: list[float], world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # cuDNN picks the fastest convolution algorithms for the fixed input size (not bit-reproducible)
    torch.backends.cudnn.benchmark = not cfg.deterministic


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), as oneDNN sees it.

    Without it bfloat16 is emulated: measured on a 2-core AMD EPYC with AVX2 only, one FlareRateNet epoch on three
    512 px Suns took about 400 s in emulated bf16 (a CPU with native bf16 ran four in 372 s).
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or a stripped build: ask the CPU flags
        return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


_BF16_WARNED = False


def _use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bfloat16 autocast: on CUDA with ``amp``, on a CPU with ``cpu_bf16`` where it has native bfloat16 (else fp32)."""
    global _BF16_WARNED
    if device.type == "cuda":
        return cfg.amp
    if cfg.cpu_bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        if not _BF16_WARNED:
            log.warning("cpu_bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); training in fp32, "
                        "which is faster than emulated bfloat16 here")
            _BF16_WARNED = True
        return False
    return cfg.cpu_bf16 and device.type == "cpu"


def _channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    return (cfg.channels_last and device.type == "cuda") or (cfg.cpu_bf16 and device.type == "cpu")


def predict(model, dataset: StoreDataset, weights: torch.Tensor, cfg: TrainConfig, device: torch.device, rank: int = 0,
            world: int = 1) -> tuple[float, np.ndarray]:
    """Class-weighted cross-entropy and flare probability of every instance of a dataset (gathered across ranks).

    Every instance is scored, also in smoke runs: ``max_batches_per_epoch`` cuts training epochs, never a prediction
    (a cut one would leave instances at probability 0 in ``predictions.csv``).
    """
    model.eval()
    total, wsum = 0.0, 0.0
    probs = np.zeros(len(dataset), np.float64)
    with torch.no_grad():
        for x, y, pos in BatchLoader(dataset, cfg.batch_size * 2, augment=False, device=device, rank=rank, world=world):
            if len(y) == 0:
                continue
            if _channels_last(cfg, device):
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=_use_bf16(cfg, device)):
                logits = model(x).float()
            total += F.cross_entropy(logits, y, weight=weights, reduction="sum").item()
            wsum += weights[y].sum().item()
            probs[pos] = torch.softmax(logits, 1)[:, 1].cpu().numpy()
    total, wsum = _all_reduce_sum([total, wsum], world)
    if world > 1:  # every rank filled its own positions, zeros elsewhere
        t = torch.from_numpy(probs)
        dist.all_reduce(t)
        probs = t.numpy()
    return total / max(wsum, 1e-12), probs.astype(np.float32)


@dataclass
class _Run:
    """The state of one fold's training: built by :func:`_setup`, advanced by :func:`_train_one_epoch`."""

    config: TrainConfig
    fold: int
    out: Path
    store: Store
    train_ds: StoreDataset
    val_ds: StoreDataset
    inner_ds: StoreDataset | None
    model: torch.nn.Module
    step: object
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.ReduceLROnPlateau
    weights: torch.Tensor
    device: torch.device
    rank: int
    world: int
    rows: list = field(default_factory=list)
    start_epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    reported_epoch: int = 0


def store_disk_fraction(store: Store) -> tuple[float, float, float]:
    """The store's median disk centre x, y and radius as fractions of its image size (from the header geometry)."""
    geo = np.array([store.disk(i) for i in range(0, len(store), max(1, len(store) // 50))], float)
    return tuple(round(float(v) / store.size_px, 5) for v in np.median(geo, axis=0))


def _setup(store_path, fold: int, config: TrainConfig, out: Path) -> _Run:
    if fold not in FOLDS:
        raise InputError(f"fold must be 1-4, got {fold}")
    _set_threads(config)
    store = open_store(store_path)
    parts = FOLDS[fold]
    inner_rows = None
    if config.select == "inner":
        inner_rows = inner_split(store.index["timestamp"]) & store.index["partition"].isin(parts).to_numpy()
    train_ds = StoreDataset(store, parts, config.image_size, rows=None if inner_rows is None else ~inner_rows)
    val_ds = StoreDataset(store, (fold,), config.image_size)
    inner_ds = None if inner_rows is None else StoreDataset(store, parts, config.image_size, rows=inner_rows)
    if len(train_ds) == 0 or len(val_ds) == 0 or (inner_ds is not None and len(inner_ds) == 0):
        raise InputError(f"{store_path}: fold {fold} has {len(train_ds)} training, {len(val_ds)} validation"
                         + ("" if inner_ds is None else f" and {len(inner_ds)} inner-validation") + " instances")
    if config.model.arch == "ratenet" and config.model.disk is None:
        config = replace(config, model=replace(config.model, disk=store_disk_fraction(store)))
    rank, world = _dist()
    device = pick_device(config.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    if _channels_last(config, device):
        model = model.to(memory_format=torch.channels_last)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=config.plateau_patience, factor=config.plateau_factor)
    if world > 1:
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        step = ddp  # gradients are averaged across ranks
    else:
        step = torch.compile(model) if config.compile else model
    weights = class_weights(train_ds.targets, config.augment).to(device)
    return _Run(config, fold, out, store, train_ds, val_ds, inner_ds, model, step, opt, sched, weights, device, rank, world)


def _restore(run: _Run, last: Path) -> None:
    """Continue from ``last.pt`` (same configuration only)."""
    ck = load_checkpoint(last)
    saved = TrainConfig.from_dict(json.loads(ck["config"]))
    if replace(saved, epochs=run.config.epochs) != replace(run.config, epochs=run.config.epochs):
        raise CheckpointError(f"{last}: trained with another configuration; start afresh with --overwrite")
    run.model.load_state_dict(ck["model"])
    run.opt.load_state_dict(ck["optimizer"])
    run.sched.load_state_dict(json.loads(ck["scheduler"]))
    run.start_epoch = int(ck["epoch"]) + 1
    run.best_score, run.best_epoch = float(ck["best_score"]), int(ck["best_epoch"])
    run.reported_epoch = int(ck["reported_epoch"])
    run.rows = json.loads(ck["log"])
    log.info("fold %d: resuming after epoch %d", run.fold, run.start_epoch)


def _train_one_epoch(run: _Run, epoch: int, progress: bool) -> tuple[float, int, float]:
    """One pass over the (augmented) training partitions; returns the mean loss, the images seen and the mean gradient norm."""
    cfg, device = run.config, run.device
    torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout draws, reproducible on resume
    run.model.train()
    loader = BatchLoader(run.train_ds, cfg.batch_size, epoch=epoch, seed=cfg.seed, augment=cfg.augment, device=device,
                         max_batches=cfg.max_batches_per_epoch, rank=run.rank, world=run.world, shuffle=True)
    total, n, norms, steps = 0.0, 0, 0.0, 0
    bar = tqdm(loader, desc=f"fold {run.fold} epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
               disable=not progress or run.rank != 0)
    for x, y, _ in bar:
        if _channels_last(cfg, device):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=_use_bf16(cfg, device)):
            logits = run.step(x)
        loss = F.cross_entropy(logits.float(), y, weight=run.weights, label_smoothing=cfg.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip if cfg.grad_clip else float("inf"))
        run.opt.step()
        total += loss.item() * len(y)
        n += len(y)
        norms += float(norm)
        steps += 1
        bar.set_postfix(loss=f"{total / n:.4f}")
    total, n = _all_reduce_sum([total, float(n)], run.world)
    return total / max(n, 1), int(n), norms / max(steps, 1)


def _meta(run: _Run, epoch: int, calibrator: dict | None, card: dict | None = None) -> CheckpointMeta:
    return CheckpointMeta(model=run.config.model, image_size_px=int(run.config.image_size or run.store.size_px), fold=run.fold,
                          epoch=epoch, selection=run.config.select, profile=run.config.profile,
                          store_path=str(run.store.path.resolve()), store_fingerprint=run.store.fingerprint, calibrator=calibrator,
                          card=card)


#: The files of a fold's run (what ``overwrite`` removes before training again).
RUN_FILES = ("model.pt", "predictions.csv", "last.pt", "log.csv")

#: How the decision threshold of a model card is chosen, in words.
FIXED_RULE = "fixed at 0.5, the paper's rule"
INNER_RULE = "TSS-optimal on the inner split of the training partitions (calibrated probabilities)"


def _fold_card(run: _Run, probs: np.ndarray, calibrator: dict | None, inner_probs: np.ndarray | None) -> dict:
    """The model card of a fold's reported model: its validation skill at the decision threshold it will issue with.

    Uncalibrated, the threshold is the paper's 0.5. Calibrated, 0.5 would rarely be reached by the probability of
    a rare event, so the threshold is where the calibrated probabilities of the inner split (training partitions,
    never the validation fold) have their largest TSS.
    """
    cal = Calibrator.from_dict(calibrator) if calibrator else None
    issued = cal(probs) if cal else probs
    if cal is not None and inner_probs is not None:
        threshold, rule = best_threshold(run.inner_ds.targets, cal(inner_probs))["threshold"], INNER_RULE
    else:
        threshold, rule = 0.5, FIXED_RULE
    frame = pd.DataFrame({"timestamp": pd.to_datetime(run.val_ds.index["timestamp"]).to_numpy(), "flare_prob": issued,
                          "target": run.val_ds.targets})
    return make_card(arch=run.config.model.arch, profile=run.config.profile, image_size_px=int(run.config.image_size or run.store.size_px),
                     store=run.store, train_index=run.train_ds.index, event=EventDefinition().text,
                     calibration=cal.kind if cal else None, decision_threshold=threshold, threshold_rule=rule,
                     validation=f"fold {run.fold} ({len(frame)} instants of a partition it never trained on)", frames=[frame]).to_dict()


def _payload(run: _Run, epoch: int) -> dict:
    """Everything ``--resume`` needs to continue after ``epoch`` (0-based)."""
    return {
        "model": run.model.state_dict(),
        "optimizer": run.opt.state_dict(),
        "scheduler": json.dumps(run.sched.state_dict(), default=float),
        "epoch": epoch,
        "best_score": run.best_score,
        "best_epoch": run.best_epoch,
        "reported_epoch": run.reported_epoch,
        "config": json.dumps(run.config.to_dict()),
        "log": json.dumps(run.rows),
        "meta": _meta(run, epoch + 1, None).to_json(),
    }


def _fit_calibrator(run: _Run, inner_probs: np.ndarray | None) -> dict | None:
    if run.config.calibrate is None or inner_probs is None:
        return None
    try:
        return fit_calibrator(run.inner_ds.targets, inner_probs, run.config.calibrate).to_dict()
    except ValueError as exc:
        log.warning("fold %d: no calibrator (%s)", run.fold, exc)
        return None


def train_fold(store_path: str | Path, fold: int, config: TrainConfig, out_dir: str | Path, resume: bool = False,
               overwrite: bool = False, progress: bool = True, stop_after_epoch: int | None = None) -> FoldResult:
    """Train on three partitions and validate on partition ``fold``.

    Writes into ``out_dir/fold{k}/``: ``last.pt`` (every epoch, for resuming),
    ``model.pt`` (the reported model: final epoch, or best on the inner split),
    ``log.csv`` and ``predictions.csv`` (the reported model's validation
    predictions: ``timestamp, flare_prob, target`` and the class and location
    columns).

    Raises
    ------
    CheckpointError
        The folder already holds a run and neither ``resume`` nor ``overwrite`` is given.
    """
    out = Path(out_dir) / f"fold{fold}"
    last = out / "last.pt"
    if last.is_file() and not resume and not overwrite:
        raise CheckpointError(f"{out}: holds a training run already; pass --resume to continue it or --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and not resume:  # the old run goes before the new one writes: never two runs mixed in one folder
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    run = _setup(store_path, fold, config, out)
    if resume and last.is_file():
        _restore(run, last)
    patience_left = True
    for epoch in range(run.start_epoch, config.epochs):
        t0 = time.time()
        train_loss, n, grad_norm = _train_one_epoch(run, epoch, progress)
        val_loss, probs = predict(run.model, run.val_ds, run.weights, config, run.device, run.rank, run.world)
        s = skill_scores(run.val_ds.targets, probs >= 0.5)
        row = {"fold": fold, "epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_tss": s["tss"],
               "val_hss": s["hss"], "val_forecast_positive": float(np.mean(probs >= 0.5)), "lr": run.opt.param_groups[0]["lr"],
               "train_images": n, "grad_norm": grad_norm, "val_auc": roc_auc(run.val_ds.targets, probs),
               # BSS against the training partitions' base rate (the climatology a forecaster has), and the mean forecast
               "val_bss": brier_skill_score(run.val_ds.targets, probs, float(np.mean(run.train_ds.targets))),
               "val_mean_prob": float(np.mean(probs))}
        inner_probs = None
        if run.inner_ds is not None:
            inner_loss, inner_probs = predict(run.model, run.inner_ds, run.weights, config, run.device, run.rank, run.world)
            row.update(inner_loss=inner_loss, inner_tss=skill_scores(run.inner_ds.targets, inner_probs >= 0.5)["tss"])
            run.sched.step(inner_loss)
            report_now = row["inner_tss"] > run.best_score
            if report_now:
                run.best_score, run.best_epoch = row["inner_tss"], epoch + 1
            patience_left = (config.early_stop_patience is None or epoch + 1 - run.best_epoch < config.early_stop_patience)
        else:
            run.sched.step(train_loss)
            report_now = epoch + 1 == config.epochs
        row["seconds"] = time.time() - t0
        run.rows.append(row)
        if report_now:
            run.reported_epoch = epoch + 1
        if run.rank == 0:  # one writer: rank 0 checkpoints and logs
            if report_now:
                # the reported model: weights and its record only (no optimiser state: a third of the size)
                calibrator = _fit_calibrator(run, inner_probs)
                card = _fold_card(run, probs, calibrator, inner_probs)
                save_checkpoint(out / "model.pt", {"model": run.model.state_dict(), "config": json.dumps(run.config.to_dict()),
                                                   "meta": _meta(run, epoch + 1, calibrator, card).to_json()})
                _write_predictions(out / "predictions.csv", run.val_ds, probs)
            save_checkpoint(last, _payload(run, epoch))  # written last: 'last' is never ahead of 'model'
            atomic_write_text(out / "log.csv", pd.DataFrame(run.rows).to_csv(index=False))
        log.info("fold %d epoch %d: train %.4f val %.4f TSS %.3f HSS %.3f", fold, epoch + 1, train_loss, val_loss, s["tss"], s["hss"])
        if (stop_after_epoch is not None and epoch + 1 >= stop_after_epoch) or not patience_left:
            break
    collapsed = False
    if (out / "predictions.csv").is_file() and run.reported_epoch:
        p = pd.read_csv(out / "predictions.csv")["flare_prob"].to_numpy()
        collapsed = bool((p >= 0.5).all() or (p < 0.5).all())
        if collapsed:
            log.warning("fold %d: COLLAPSED - the reported model forecasts one class for every validation instance", fold)
    return FoldResult(fold, run.reported_epoch, config.select, pd.DataFrame(run.rows), out, collapsed)


def _write_predictions(path: Path, ds: StoreDataset, probs: np.ndarray) -> None:
    idx = ds.index
    df = pd.DataFrame({
        "timestamp": pd.to_datetime(idx["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
        "flare_prob": probs,
        "target": idx["target"].to_numpy(),
        "max_class": idx["max_class"].to_numpy(),
        "fl_lon": idx["fl_lon"].to_numpy(),
        "fl_lat": idx["fl_lat"].to_numpy(),
        "partition": idx["partition"].to_numpy(),
        "path": idx["path"].to_numpy(),
    })
    atomic_write_text(path, PREDICTIONS.validate(df, str(path)).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S"))


def cross_validate(store_path, config: TrainConfig, out_dir, folds=(1, 2, 3, 4), resume: bool = False, overwrite: bool = False,
                   progress: bool = True) -> list[FoldResult]:
    """Train the given folds one after the other."""
    return [train_fold(store_path, k, config, out_dir, resume=resume, overwrite=overwrite, progress=progress) for k in folds]


def stem_inputs(model, dataset, device: torch.device, batch_size: int = 64, progress: bool = False) -> FeatureDataset:
    """A fixed-stem network's :meth:`~flarelib.model.network.FlareRateNet.stem_features` of every image of ``dataset``.

    The stem is not learned, so without augmentation its output is the same in every epoch and for every model of
    one disk: computed once, training reads it instead of the 512 px images (measured on 2 cores: the stem is most
    of a training step's time; the learned layers train at about 290 images/s on its output).
    """
    out = []
    model.eval()
    with torch.no_grad():
        for x, _, _ in tqdm(BatchLoader(dataset, batch_size, augment=False, device=device), desc="stem", unit="batch",
                            disable=not progress, leave=False):
            out.append(model.stem_features(x).float().cpu())
    feats = torch.cat(out) if out else torch.zeros(0)
    return FeatureDataset(feats.contiguous(memory_format=torch.channels_last) if feats.ndim == 4 else feats, dataset.targets)


def _stem_cached(model, dataset, key: tuple, cache: dict | None, device, progress: bool) -> FeatureDataset:
    """:func:`stem_inputs`, kept in ``cache`` under ``key`` (with the model's disk) when a cache is given."""
    key = key + (tuple(model.disk) if model.disk is not None else None,)
    if cache is not None and key in cache:
        return cache[key]
    feats = stem_inputs(model, dataset, device, progress=progress)
    if cache is not None:
        cache[key] = feats
    return feats


@torch.no_grad()
def _log_rates(net, dataset: FeatureDataset, batch_size: int = 256) -> np.ndarray:
    """(N, G, G) float32 cell log-rates of a fixed-stem network on precomputed stem inputs."""
    net.eval()
    dev = next(net.parameters()).device
    out = [net.log_rates_from_stem(dataset.images(np.arange(i, min(i + batch_size, len(dataset)))).to(dev))[:, 0].float().cpu().numpy()
           for i in range(0, len(dataset), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0, 0), np.float32)


def train_independent(train_stores, eval_store, config: TrainConfig, out_dir, folds=(1, 2, 3, 4), overwrite: bool = False,
                      progress: bool = True, calibration_store=None, train_every: int = 1,
                      score_every_epoch: bool = True, stem_cache: dict | None = None) -> list[FoldResult]:
    """Train one model on other, independent Suns and score it on every fold of ``eval_store``.

    The simulator makes as many independent Suns (seeds) as a study needs. A model trained on all partitions of
    ``train_stores`` never sees ``eval_store``, so each of its folds is an honest validation set and one model
    serves all four (a quarter of the cost of cross-validation). The reported model is the final epoch's
    (``select="final"``: the evaluated Sun is never used to choose). Writes ``out_dir/model.pt``, ``log.csv``
    (per epoch and fold: losses, TSS, HSS, AUC, BSS, the share forecast "flare") and
    ``out_dir/fold{k}/predictions.csv`` in :func:`train_fold`'s format, so ``flarelib evaluate`` reads the run.

    With ``calibration_store`` (a further Sun, neither trained on nor evaluated) a
    :class:`~flarelib.model.network.FlareRateNet`'s level is refitted after the final epoch: one factor on every
    cell's rate, chosen on that Sun's predictions to minimise the training loss
    (:func:`~flarelib.verify.calibration.fit_rate_scale`), is folded into the rate layer's bias of ``model.pt``,
    and the predictions written are the refitted model's. ``log.csv`` then ends with one row per fold marked
    ``refit`` (the refitted model's scores) and ``rate_refit.json`` records the factor and what it was fitted on.

    ``train_every`` > 1 keeps every k-th instant of each training store (in time order): the smaller training sets of
    a learning curve, spread over the same Suns and regions. With ``score_every_epoch=False`` only the final epoch is
    scored (the training is the same: scoring draws no random numbers), which saves one pass over the evaluated Sun
    per epoch.

    A :class:`~flarelib.model.network.FlareRateNet` with its fixed Schrijver stem and no augmentation is trained on
    the stem's output, computed once per image (:func:`stem_inputs`; the same logits, a fraction of the time);
    ``stem_cache`` (a dict) keeps those inputs for the next call with the same stores, e.g. the next model seed.
    Such a run also writes ``log_rates_{fingerprint}.npy``, the final model's cell log-rates on the evaluated and
    the calibration store, where :func:`~flarelib.model.history.cached_log_rate_maps` finds them.

    Raises
    ------
    CheckpointError
        ``out_dir`` holds a run and ``overwrite`` is not given.
    InputError
        ``select`` is not ``"final"``, no training store is given, the stores differ in image size, the
        calibration store is a training or the evaluated store, a refit is asked of a network without rates, or
        ``train_every`` is below 1.
    """
    out = Path(out_dir)
    if int(train_every) < 1:
        raise InputError(f"train_every must be >= 1, got {train_every}")
    if config.select != "final":
        raise InputError("train_independent: select must be 'final' (the evaluated Sun is never used to choose)")
    if not train_stores:
        raise InputError("train_independent: give at least one training store")
    if (out / "model.pt").is_file() and not overwrite:
        raise CheckpointError(f"{out}: holds a run already; pass overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    _set_threads(config)
    ev = open_store(eval_store)
    trains = [open_store(p) for p in train_stores]
    if ev.fingerprint in {t.fingerprint for t in trains}:
        raise InputError(f"{eval_store}: the evaluated store is also a training store")
    cal = None if calibration_store is None else open_store(calibration_store)
    if cal is not None:
        if cal.fingerprint in {ev.fingerprint} | {t.fingerprint for t in trains}:
            raise InputError(f"{calibration_store}: the calibration store is also a training or the evaluated store")
        if config.model.arch != "ratenet":
            raise InputError(f"{calibration_store}: a rate refit needs a network with rates (arch 'ratenet'), got {config.model.arch!r}")
    train_ds = ConcatStoreDataset([StoreDataset(t, (1, 2, 3, 4), config.image_size,
                                                rows=np.arange(len(t.index)) % int(train_every) == 0) for t in trains])
    vals = {k: StoreDataset(ev, (k,), config.image_size) for k in folds}
    if config.model.arch == "ratenet" and config.model.disk is None:
        config = replace(config, model=replace(config.model, disk=store_disk_fraction(ev)))
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    if _channels_last(config, device):
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay) if config.optimizer == "adamw" else \
        torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=config.plateau_patience, factor=config.plateau_factor)
    weights = class_weights(train_ds.targets, config.augment).to(device)
    fixed = bool(getattr(model, "has_fixed_stem", False)) and not config.augment
    net, train_in, val_in = model, train_ds, vals
    if fixed:  # the fixed stem once per image; the learned layers train on its output
        size = config.image_size or ev.size_px
        train_in = _stem_cached(model, train_ds, ("train", tuple(t.fingerprint for t in trains), int(train_every), size), stem_cache,
                                device, progress)
        ev_ds = StoreDataset(ev, (1, 2, 3, 4), config.image_size)
        ev_in = _stem_cached(model, ev_ds, ("eval", ev.fingerprint, size), stem_cache, device, progress)
        val_in = {k: ev_in.subset(ev_ds.index["partition"].to_numpy() == k) for k in folds}
        net = FromStem(model)
    run = _Run(config, 0, out, ev, train_in, val_in[folds[0]], None, model, net, opt, sched, weights, device, 0, 1)
    rows, probs = [], {}
    for epoch in range(config.epochs):
        t0 = time.time()
        train_loss, n, grad_norm = _train_one_epoch(run, epoch, progress)
        sched.step(train_loss)
        if not score_every_epoch and epoch + 1 < config.epochs:
            continue
        for k, ds in val_in.items():  # every instant scored, also in smoke runs (their cut applies to training)
            val_loss, probs[k] = predict(net, ds, weights, config, device)
            sc = skill_scores(ds.targets, probs[k] >= 0.5)
            rows.append({"fold": k, "epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_tss": sc["tss"],
                         "val_hss": sc["hss"], "val_forecast_positive": float(np.mean(probs[k] >= 0.5)), "lr": opt.param_groups[0]["lr"],
                         "train_images": n, "grad_norm": grad_norm, "val_auc": roc_auc(ds.targets, probs[k]),
                         "val_bss": brier_skill_score(ds.targets, probs[k], float(np.mean(train_ds.targets))),
                         "val_mean_prob": float(np.mean(probs[k])), "seconds": time.time() - t0})
        atomic_write_text(out / "log.csv", pd.DataFrame(rows).to_csv(index=False))
        log.info("independent epoch %d: train %.4f, fold TSS %s", epoch + 1, train_loss,
                 " ".join(f"{r['val_tss']:.3f}" for r in rows[-len(vals):]))
    cal_in = None
    if cal is not None:
        cal_ds = StoreDataset(cal, (1, 2, 3, 4), config.image_size)
        cal_in = _stem_cached(model, cal_ds, ("calibration", cal.fingerprint, config.image_size or cal.size_px), stem_cache, device,
                              progress) if fixed else cal_ds
        probs = _refit_rate(model, cal, config, device, weights, out, vals, probs, rows, train_ds, net=net, cal_inputs=cal_in)
        atomic_write_text(out / "log.csv", pd.DataFrame(rows).to_csv(index=False))
    for stale in out.glob("log_rates_*.npy"):  # rate maps of a network this run replaces
        stale.unlink()
    if fixed:  # the final model's rate maps, for the flare-record head (rows of each store's index)
        np.save(out / f"log_rates_{ev.fingerprint[:16]}.npy", _log_rates(model, ev_in))
        if cal_in is not None:
            np.save(out / f"log_rates_{cal.fingerprint[:16]}.npy", _log_rates(model, cal_in))
    frames = [pd.DataFrame({"timestamp": pd.to_datetime(ds.index["timestamp"]).to_numpy(), "flare_prob": probs[k], "target": ds.targets})
              for k, ds in vals.items()]
    card = make_card(arch=config.model.arch, profile=config.profile, image_size_px=int(config.image_size or ev.size_px), store=trains[0],
                     train_index=pd.concat([t.index for t in trains]), event=EventDefinition().text, calibration=None,
                     decision_threshold=0.5, threshold_rule=FIXED_RULE + "; the rate level refitted on a further Sun" if cal is not None
                     else FIXED_RULE, validation=f"the {len(vals)} folds of store {ev.fingerprint[:16]}, never trained on", frames=frames)
    meta = CheckpointMeta(model=config.model, image_size_px=int(config.image_size or ev.size_px), fold=0, epoch=config.epochs,
                          selection="final", profile=config.profile, store_path=str(trains[0].path.resolve()),
                          store_fingerprint=trains[0].fingerprint, calibrator=None, card=card.to_dict())
    save_checkpoint(out / "model.pt", {"model": model.state_dict(), "config": json.dumps(config.to_dict()), "meta": meta.to_json()})
    results, table = [], pd.DataFrame(rows)
    for k, ds in vals.items():
        (out / f"fold{k}").mkdir(exist_ok=True)
        _write_predictions(out / f"fold{k}" / "predictions.csv", ds, probs[k])
        p = probs[k]
        results.append(FoldResult(k, config.epochs, "final", table[table["fold"] == k].reset_index(drop=True), out / f"fold{k}",
                                  bool((p >= 0.5).all() or (p < 0.5).all())))
    return results


def _refit_rate(model, cal: Store, config: TrainConfig, device, weights, out: Path, vals: dict, probs: dict, rows: list,
                train_ds, *, net, cal_inputs) -> dict:
    """Refit a FlareRateNet's level on ``cal`` (see :func:`train_independent`); returns the refitted fold probabilities.

    ``net`` predicts the calibration store from ``cal_inputs``: ``model`` on its images, or the network read from
    precomputed stem inputs.
    """
    cal_ds = cal_inputs
    _, cal_probs = predict(net, cal_ds, weights, config, device)
    w = tuple(float(v) for v in weights.cpu())
    scale = fit_rate_scale(cal_ds.targets, cal_probs, w)
    with torch.no_grad():
        model.rate.bias += math.log(scale)
    refitted = {k: scale_rate(p, scale) for k, p in probs.items()}  # float64: a float32 cast can tie neighbours and move the AUC
    last = {r["fold"]: r for r in rows if r["epoch"] == config.epochs}
    for k, ds in vals.items():
        p, sc = refitted[k], skill_scores(ds.targets, refitted[k] >= 0.5)
        rows.append({**last[k], "val_tss": sc["tss"], "val_hss": sc["hss"], "val_forecast_positive": float(np.mean(p >= 0.5)),
                     "val_auc": roc_auc(ds.targets, p), "val_bss": brier_skill_score(ds.targets, p, float(np.mean(train_ds.targets))),
                     "val_mean_prob": float(np.mean(p)), "seconds": 0.0, "refit": True})
    for r in rows:
        r.setdefault("refit", False)
    cal_sc = skill_scores(cal_ds.targets, scale_rate(cal_probs, scale) >= 0.5)
    info = {"scale": scale, "log_scale": math.log(scale), "calibration_store": str(cal.path.resolve()),
            "calibration_fingerprint": cal.fingerprint, "n_fit": len(cal_ds), "class_weights": list(w),
            "calibration_forecast_positive_before": float(np.mean(cal_probs >= 0.5)),
            "calibration_forecast_positive_after": float(np.mean(scale_rate(cal_probs, scale) >= 0.5)),
            "calibration_tss_after": cal_sc["tss"], "calibration_base_rate": float(np.mean(cal_ds.targets))}
    atomic_write_text(out / "rate_refit.json", json.dumps(info, indent=1))
    log.info("rate refit on %s: x%.3f (forecast 'flare' %.1f %% -> %.1f %% of its instants)", cal.path, scale,
             100 * info["calibration_forecast_positive_before"], 100 * info["calibration_forecast_positive_after"])
    return refitted
