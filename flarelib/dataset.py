"""From the store to training batches: a torch Dataset and a batched, augmenting loader.

The store's uint8 images are memory-mapped; nothing is decoded per sample
and no per-sample image files exist. Augmentation follows the reference
study: every flare instance appears four times per epoch (original,
horizontal flip, vertical flip, random rotation within +/-5 deg) and every
no-flare instance twice (original and one random augmentation). Class
weights are inverse to the class frequencies after augmentation. Augmenting
happens on tensors, a batch at a time (on the GPU when training there), and
a background thread reads the next batch while the model works.
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .store import Store

__all__ = ["StoreDataset", "epoch_plan", "class_weights", "augment_batch", "BatchLoader", "AUG_NONE", "AUG_HFLIP", "AUG_VFLIP", "AUG_ROT"]

AUG_NONE, AUG_HFLIP, AUG_VFLIP, AUG_ROT = 0, 1, 2, 3


class StoreDataset(torch.utils.data.Dataset):
    """Images and targets of selected partitions of a store.

    Parameters
    ----------
    store : Store
    partitions : sequence of int
        Which tri-monthly partitions (1-4) to use.
    image_size : int, optional
        Output size; smaller than the store's by an integer factor (area average).

    Items are pairs: a float32 image of shape (1, S, S) in 8-bit units, and the integer target.
    """

    def __init__(self, store: Store, partitions=(1, 2, 3, 4), image_size: int | None = None) -> None:
        self.store = store
        self.index = store.index[store.index["partition"].isin(list(partitions))].reset_index(drop=True)
        self.slots = self.index["slot"].to_numpy()
        self.targets = self.index["target"].to_numpy().astype(np.int64)
        self.image_size = image_size or store.size_px
        if store.size_px % self.image_size:
            raise ValueError(f"image_size {self.image_size} must divide the store's {store.size_px}")

    def __len__(self) -> int:
        return len(self.slots)

    def images(self, positions: np.ndarray) -> torch.Tensor:
        """Images at dataset positions as a float tensor (N, 1, S, S), read in slot order."""
        slots = self.slots[positions]
        order = np.argsort(slots, kind="stable")
        raw = np.asarray(self.store.images[slots[order]])
        out = np.empty_like(raw)
        out[order] = raw
        x = torch.from_numpy(out).unsqueeze(1).float()
        f = self.store.size_px // self.image_size
        return F.avg_pool2d(x, f) if f > 1 else x

    def __getitem__(self, i: int):
        return self.images(np.array([i]))[0], int(self.targets[i])


def epoch_plan(targets: np.ndarray, epoch: int, seed: int, augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Positions and augmentation codes of one epoch, shuffled reproducibly from (seed, epoch).

    With ``augment``: flare instances x4 (none, hflip, vflip, rotation), no-flare
    instances x2 (none, one random augmentation).
    """
    rng = np.random.default_rng([seed, epoch, 11])
    pos = np.arange(len(targets))
    if augment:
        fl = pos[targets == 1]
        nf = pos[targets == 0]
        p = np.concatenate([np.repeat(fl, 4), nf, nf])
        a = np.concatenate([np.tile([AUG_NONE, AUG_HFLIP, AUG_VFLIP, AUG_ROT], len(fl)),
                            np.zeros(len(nf), int), rng.integers(1, 4, len(nf))])
    else:
        p, a = pos, np.zeros(len(pos), int)
    perm = rng.permutation(len(p))
    return p[perm], a[perm]


def class_weights(targets: np.ndarray, augment: bool = True) -> torch.Tensor:
    """Inverse-frequency weights of (no-flare, flare) after augmentation: N / (2 N_c)."""
    n_fl = int((targets == 1).sum()) * (4 if augment else 1)
    n_nf = int((targets == 0).sum()) * (2 if augment else 1)
    n = n_fl + n_nf
    return torch.tensor([n / (2.0 * max(n_nf, 1)), n / (2.0 * max(n_fl, 1))], dtype=torch.float32)


def augment_batch(x: torch.Tensor, codes: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Apply per-sample augmentation codes to a batch (N, 1, S, S) on its device.

    Rotations are about the image centre, bilinear, with 0 (off-disk) fill.
    """
    out = x.clone()
    h = codes == AUG_HFLIP
    v = codes == AUG_VFLIP
    r = codes == AUG_ROT
    if h.any():
        out[h] = torch.flip(x[h], dims=[3])
    if v.any():
        out[v] = torch.flip(x[v], dims=[2])
    if r.any():
        th = torch.deg2rad(angles_deg[r].to(x.dtype))
        c, s = torch.cos(th), torch.sin(th)
        z = torch.zeros_like(c)
        mat = torch.stack([torch.stack([c, -s, z], 1), torch.stack([s, c, z], 1)], 1)
        grid = F.affine_grid(mat, list(x[r].shape), align_corners=False)
        out[r] = F.grid_sample(x[r], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out


@dataclass
class BatchLoader:
    """Iterates over one epoch in batches, reading ahead in a background thread.

    Parameters
    ----------
    dataset : StoreDataset
    batch_size : int
    epoch, seed : int
        Define the shuffle and the augmentation draws (reproducible).
    augment : bool
        Training (True) or evaluation order (False: no augmentation, no shuffle).
    device : torch.device
        Where batches go (augmentation runs there); pinned memory and
        non-blocking copies on CUDA.
    max_batches : int, optional
        Stop early (for tests and benchmarks).
    rank, world : int
        Distributed data parallel: every rank walks the same global batches and
        takes its own contiguous share of each, so the union over the ranks of
        batch k is exactly the single-process batch k.
    """

    dataset: StoreDataset
    batch_size: int = 64
    epoch: int = 0
    seed: int = 0
    augment: bool = True
    device: torch.device = torch.device("cpu")
    max_batches: int | None = None
    prefetch: int = 2
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.augment:
            self.positions, self.codes = epoch_plan(self.dataset.targets, self.epoch, self.seed, augment=True)
        else:
            self.positions = np.arange(len(self.dataset))
            self.codes = np.zeros(len(self.dataset), int)
        rng = np.random.default_rng([self.seed, self.epoch, 13])
        self.angles = rng.uniform(-5.0, 5.0, len(self.positions))

    def __len__(self) -> int:
        n = math.ceil(len(self.positions) / self.batch_size)
        return min(n, self.max_batches) if self.max_batches else n

    def _read(self, b: int):
        lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, len(self.positions))
        if self.world > 1:
            bounds = np.linspace(lo, hi, self.world + 1).astype(int)
            lo, hi = bounds[self.rank], bounds[self.rank + 1]
        s = slice(lo, hi)
        pos = self.positions[s]
        x = self.dataset.images(pos)
        y = torch.from_numpy(self.dataset.targets[pos])
        codes = torch.from_numpy(self.codes[s])
        ang = torch.from_numpy(self.angles[s]).float()
        if self.device.type == "cuda":
            x = x.pin_memory()
        return x, y, codes, ang, pos

    def __iter__(self):
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        n = len(self)
        stop = threading.Event()

        def producer():
            try:
                for b in range(n):
                    if stop.is_set():
                        return
                    q.put(self._read(b))
            except BaseException as exc:  # hand errors to the consumer
                q.put(exc)
            q.put(None)

        t = threading.Thread(target=producer, daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                x, y, codes, ang, pos = item
                nb = self.device.type == "cuda"
                x = x.to(self.device, non_blocking=nb)
                y = y.to(self.device, non_blocking=nb)
                if self.augment:
                    x = augment_batch(x, codes.to(self.device), ang.to(self.device))
                yield x, y, pos
        finally:
            stop.set()
            while t.is_alive():
                try:
                    q.get_nowait()
                except queue.Empty:
                    t.join(timeout=0.05)
