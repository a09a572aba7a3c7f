"""Training with four-fold tri-monthly cross-validation, resumable checkpoints and per-epoch logs.

Two profiles (see :class:`TrainConfig`):

* ``paper``: the reference study's recipe for a **pretrained** (ImageNet) model:
  SGD without momentum, lr 0.0099, weight decay 0.01, batch 64, weighted NLL,
  ReduceLROnPlateau on the validation loss (patience 4, factor 0.03), 40 epochs,
  inputs in [0, 1], torchvision's initialisation.
* ``offline``: for **random initialisation** (no ImageNet weights on these
  machines). The paper's recipe does not learn from scratch in a few CPU
  epochs: the network ranks instances (validation AUC rises) but SGD with
  weight decay keeps the logits so small that every probability stays near
  0.5. This profile therefore deviates, each deviation an explicit option:
  Kaiming-normal convolutions (``model.init``), inputs centred on 0 G
  (``model.input_scaling``) and AdamW with lr 3e-4 (``optimizer``, ``lr``).

A checkpoint is written atomically after every epoch (model, optimiser,
scheduler, epoch, configuration, log): a killed run never leaves an
unreadable checkpoint and ``resume=True`` continues exactly, since the shuffle,
the augmentation draws and dropout are seeded from (seed, epoch). Checkpoints
hold only tensors and plain values and load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import io
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
import torch.nn.functional as F

from .dataset import BatchLoader, StoreDataset, class_weights
from .errors import CheckpointError
from .metrics import skill_scores
from .model import ModelConfig, build_model
from .store import atomic_write_bytes, atomic_write_text, open_store

__all__ = ["TrainConfig", "train_fold", "cross_validate", "load_checkpoint", "save_checkpoint", "pick_device", "predict_dataset", "FOLDS"]

log = logging.getLogger("flarelib.training")

#: Fold k validates on partition k and trains on the other three.
FOLDS = {1: (2, 3, 4), 2: (1, 3, 4), 3: (1, 2, 4), 4: (1, 2, 3)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (mirrored by ``flarelib train`` flags and notebook parameters)."""

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
    model: ModelConfig = field(default_factory=ModelConfig)

    @classmethod
    def paper(cls, **kw) -> "TrainConfig":
        """The reference study's recipe (for ImageNet-pretrained weights)."""
        model = kw.pop("model", ModelConfig(weights="imagenet", init="torchvision", input_scaling="unit"))
        return cls(model=model, **kw)

    @classmethod
    def offline(cls, **kw) -> "TrainConfig":
        """Random initialisation: Kaiming init, centred inputs, AdamW lr 3e-4 (documented deviations)."""
        model = kw.pop("model", ModelConfig(weights=None, init="kaiming", input_scaling="centered"))
        kw.setdefault("optimizer", "adamw")
        kw.setdefault("lr", 3e-4)
        return cls(model=model, **kw)

    def deviations_from_paper(self) -> dict:
        """Settings that differ from the reference study's recipe, {name: (paper, ours)}."""
        paper = TrainConfig.paper()
        out = {}
        for k in ("optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs", "plateau_patience", "plateau_factor",
                  "augment", "image_size"):
            if getattr(self, k) != getattr(paper, k):
                out[k] = (getattr(paper, k), getattr(self, k))
        for k in ("weights", "init", "input_scaling"):
            if getattr(self.model, k) != getattr(paper.model, k):
                out[f"model.{k}"] = (getattr(paper.model, k), getattr(self.model, k))
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["model"] = ModelConfig(**d.get("model", {}))
        return cls(**d)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when available, then Apple MPS, else CPU (or the named device)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write a checkpoint atomically (serialise in memory, then temp file + rename)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``: no code can run).

    Raises
    ------
    CheckpointError
        Missing, truncated or not a flarelib checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise CheckpointError(f"{path}: not a flarelib checkpoint")
    return ck


def model_from_checkpoint(path: str | Path):
    """The trained model (eval mode, CPU) and its checkpoint dict."""
    ck = load_checkpoint(path)
    cfg = TrainConfig.from_dict(json.loads(ck["config"]))
    model = build_model(replace(cfg.model, weights=None))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def _dist():
    """(rank, world) of a torchrun launch, initialising the process group once; (0, 1) otherwise."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _gather_probs(probs: np.ndarray, filled: np.ndarray, world: int) -> np.ndarray:
    """Combine per-rank validation probabilities (each rank filled its own positions)."""
    if world == 1:
        return probs
    import torch.distributed as dist

    t = torch.from_numpy(np.where(filled, probs, 0.0).astype(np.float64))
    dist.all_reduce(t)
    return t.numpy().astype(np.float32)


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # cuDNN picks the fastest convolution algorithms for the fixed input size (not bit-reproducible)
    torch.backends.cudnn.benchmark = not cfg.deterministic


@torch.no_grad()
def predict_dataset(model, dataset: StoreDataset, batch_size: int = 128, device=torch.device("cpu"), max_batches=None,
                    amp: bool = False) -> np.ndarray:
    """Flare probabilities of every instance of a dataset, in order."""
    model.eval()
    out = np.zeros(len(dataset), np.float32)
    for x, _, pos in BatchLoader(dataset, batch_size, augment=False, device=device, max_batches=max_batches):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            p = torch.softmax(model.logits(x).float(), 1)[:, 1]
        out[pos] = p.cpu().numpy()
    return out


def _val_loss(model, dataset, weights, cfg, device, rank: int = 0, world: int = 1) -> tuple[float, np.ndarray]:
    """Weighted validation loss and flare probabilities of every validation instance (gathered across ranks)."""
    model.eval()
    total, wsum = 0.0, 0.0
    probs = np.zeros(len(dataset), np.float32)
    filled = np.zeros(len(dataset), bool)
    with torch.no_grad():
        for x, y, pos in BatchLoader(dataset, cfg.batch_size * 2, augment=False, device=device,
                                     max_batches=cfg.max_batches_per_epoch, rank=rank, world=world):
            if len(y) == 0:
                continue
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp and device.type == "cuda"):
                logits = model.logits(x).float()
            lp = F.log_softmax(logits, 1)
            total += F.nll_loss(lp, y, weight=weights, reduction="sum").item()
            wsum += weights[y].sum().item()
            probs[pos] = lp.exp()[:, 1].cpu().numpy()
            filled[pos] = True
    if world > 1:
        import torch.distributed as dist

        t = torch.tensor([total, wsum], dtype=torch.float64)
        dist.all_reduce(t)
        total, wsum = t.tolist()
    return total / max(wsum, 1e-12), _gather_probs(probs, filled, world)


def train_fold(store_path: str | Path, fold: int, config: TrainConfig, out_dir: str | Path, resume: bool = False,
               progress: bool = True, stop_after_epoch: int | None = None) -> dict:
    """Train on three partitions and validate on partition ``fold``.

    Writes into ``out_dir/fold{k}/``: ``last.pt`` (every epoch), ``best.pt`` (best
    validation TSS), ``log.csv`` (epoch, losses, TSS, HSS, lr, seconds) and
    ``predictions.csv`` (validation predictions of the best epoch: ``timestamp,
    flare_prob, target`` and the class and location columns).

    Returns
    -------
    dict
        ``fold``, ``best_epoch``, ``best_tss``, ``log`` (DataFrame), paths.
    """
    from tqdm import tqdm

    if fold not in FOLDS:
        raise ValueError(f"fold must be 1-4, got {fold}")
    _set_threads(config)
    out = Path(out_dir) / f"fold{fold}"
    out.mkdir(parents=True, exist_ok=True)
    store = open_store(store_path)
    train_ds = StoreDataset(store, FOLDS[fold], config.image_size)
    val_ds = StoreDataset(store, (fold,), config.image_size)
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ValueError(f"{store_path}: fold {fold} has {len(train_ds)} training and {len(val_ds)} validation instances")
    rank, world = _dist()
    device = pick_device(config.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)
    if config.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {config.optimizer!r}")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", patience=config.plateau_patience, factor=config.plateau_factor)
    weights = class_weights(train_ds.targets, config.augment).to(device)
    rows: list[dict] = []
    start_epoch, best_tss, best_epoch = 0, -math.inf, -1
    last = out / "last.pt"
    if resume and last.is_file():
        ck = load_checkpoint(last)
        saved = TrainConfig.from_dict(json.loads(ck["config"]))
        if replace(saved, epochs=config.epochs) != replace(config, epochs=config.epochs):
            raise CheckpointError(f"{last}: trained with another configuration; start afresh without --resume")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(json.loads(ck["scheduler"]))
        start_epoch = int(ck["epoch"]) + 1
        best_tss, best_epoch = float(ck["best_tss"]), int(ck["best_epoch"])
        rows = json.loads(ck["log"])
        log.info("fold %d: resuming after epoch %d", fold, start_epoch - 1)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        step = lambda x: ddp(x)  # noqa: E731  (log-probabilities through the DDP wrapper: gradients are averaged)
    else:
        fwd = torch.compile(model) if config.compile else model
        step = lambda x: fwd(x)  # noqa: E731
    for epoch in range(start_epoch, config.epochs):
        t0 = time.time()
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout draws, reproducible on resume
        model.train()
        loader = BatchLoader(train_ds, config.batch_size, epoch=epoch, seed=config.seed, augment=config.augment, device=device,
                             max_batches=config.max_batches_per_epoch, rank=rank, world=world)
        total, n = 0.0, 0
        bar = tqdm(loader, desc=f"fold {fold} epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False,
                   disable=not progress or rank != 0)
        for x, y, _ in bar:
            if config.channels_last and device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda"):
                log_probs = step(x)
            loss = F.nll_loss(log_probs.float(), y, weight=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        if world > 1:
            import torch.distributed as dist

            t = torch.tensor([total, float(n)], dtype=torch.float64)
            dist.all_reduce(t)
            total, n = t[0].item(), int(t[1].item())
        val_loss, probs = _val_loss(model, val_ds, weights, config, device, rank, world)
        sched.step(val_loss)
        s = skill_scores(val_ds.targets, probs >= 0.5)
        row = {"fold": fold, "epoch": epoch + 1, "train_loss": total / max(n, 1), "val_loss": val_loss, "val_tss": s["tss"],
               "val_hss": s["hss"], "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0, "train_images": n}
        rows.append(row)
        improved = s["tss"] > best_tss
        if improved:
            best_tss, best_epoch = s["tss"], epoch + 1
        payload = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": json.dumps(sched.state_dict(), default=float),
            "epoch": epoch,
            "best_tss": best_tss,
            "best_epoch": best_epoch,
            "config": json.dumps(config.to_dict()),
            "fold": fold,
            "log": json.dumps(rows),
            "store": json.dumps({"path": str(store_path), "n": len(store), "size_px": store.size_px,
                                 "source": store.manifest.get("source")}),
        }
        if rank == 0:  # one writer: rank 0 checkpoints and logs
            if improved:
                save_checkpoint(out / "best.pt", payload)
                _write_predictions(out / "predictions.csv", val_ds, probs)
            save_checkpoint(last, payload)  # written last: 'last' is never ahead of 'best'
            atomic_write_text(out / "log.csv", pd.DataFrame(rows).to_csv(index=False))
        log.info("fold %d epoch %d: train %.4f val %.4f TSS %.3f HSS %.3f", fold, epoch + 1, row["train_loss"], val_loss, s["tss"], s["hss"])
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return {"fold": fold, "best_epoch": best_epoch, "best_tss": best_tss, "log": pd.DataFrame(rows), "dir": out}


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
    atomic_write_text(path, df.to_csv(index=False))


def cross_validate(store_path, config: TrainConfig, out_dir, folds=(1, 2, 3, 4), resume: bool = False, progress: bool = True) -> pd.DataFrame:
    """Train the given folds one after the other; returns the concatenated per-epoch log."""
    logs = [train_fold(store_path, k, config, out_dir, resume=resume, progress=progress)["log"] for k in folds]
    return pd.concat(logs, ignore_index=True)
