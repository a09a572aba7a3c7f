"""From the store to training batches: a torch Dataset and a batched, augmenting loader.

The store's uint8 images are memory-mapped; nothing is decoded per sample
and no per-sample image files exist. Augmentation follows the reference
study: every flare instance appears four times per epoch (original,
horizontal flip, vertical flip, random rotation within +/-5 deg) and every
no-flare instance twice (original and one random augmentation). Class
weights are inverse to the class frequencies after augmentation. Augmenting
happens on uint8 tensors, a batch at a time (on the GPU when training there),
and reader threads prepare the next batches while the model works.
"""
from __future__ import annotations

import collections
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .store import Store

__all__ = ["StoreDataset", "ConcatStoreDataset", "FeatureDataset",
           "epoch_plan", "class_weights", "augment_batch", "rotate_nearest", "BatchLoader", "AUG_NONE", "AUG_HFLIP", "AUG_VFLIP", "AUG_ROT"]

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
    rows : array of bool, optional
        A further selection over ``store.index`` (for example an inner
        validation split carved from the training partitions).

    Items are pairs: a float32 image of shape (1, S, S) in 8-bit units, and the integer target.
    """

    def __init__(self, store: Store, partitions=(1, 2, 3, 4), image_size: int | None = None, rows: np.ndarray | None = None) -> None:
        self.store = store
        keep = store.index["partition"].isin(list(partitions)).to_numpy()
        if rows is not None:
            keep = keep & np.asarray(rows, bool)
        self.index = store.index[keep].reset_index(drop=True)
        self.slots = self.index["slot"].to_numpy()
        self.targets = self.index["target"].to_numpy().astype(np.int64)
        self.image_size = image_size or store.size_px
        if store.size_px % self.image_size:
            raise InputError(f"image_size {self.image_size} must divide the store's {store.size_px}")

    def __len__(self) -> int:
        return len(self.slots)

    def images(self, positions: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Images at dataset positions as a tensor (N, 1, S, S) in 8-bit units, read in slot order.

        ``dtype=torch.uint8`` returns the stored bytes without conversion (4x less
        memory traffic; the model converts on its device). Reduced sizes
        (``image_size`` smaller than the store's) are area averages and always float.
        """
        slots = self.slots[positions]
        order = np.argsort(slots, kind="stable")
        raw = np.asarray(self.store.images[slots[order]])
        out = np.empty_like(raw)
        out[order] = raw
        x = torch.from_numpy(out).unsqueeze(1)
        f = self.store.size_px // self.image_size
        if f > 1:
            return F.avg_pool2d(x.float(), f)
        return x.to(dtype)

    def __getitem__(self, i: int):
        return self.images(np.array([i]))[0], int(self.targets[i])


class FeatureDataset(torch.utils.data.Dataset):
    """Precomputed per-image inputs (a fixed first layer's output) with their targets, read like a
    :class:`StoreDataset` by :class:`BatchLoader` (without augmentation).

    Parameters
    ----------
    features : torch.Tensor
        (N, C, H, W), one row per image of the dataset it was computed from, in its order.
    targets : numpy.ndarray
        (N,) int64 targets of those images.
    """

    def __init__(self, features: torch.Tensor, targets: np.ndarray) -> None:
        if len(features) != len(targets):
            raise InputError(f"{len(features)} feature rows for {len(targets)} targets")
        self.features = features
        self.targets = np.asarray(targets, np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def images(self, positions: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The features at dataset positions (``dtype`` is ignored: features keep theirs)."""
        return self.features[torch.as_tensor(np.asarray(positions), dtype=torch.long)]

    def subset(self, keep: np.ndarray) -> FeatureDataset:
        """The rows where ``keep`` (bool, one per row) holds, in order."""
        keep = np.asarray(keep, bool)
        return FeatureDataset(self.features[torch.from_numpy(keep)], self.targets[keep])

    def __getitem__(self, i: int):
        return self.features[i], int(self.targets[i])


class ConcatStoreDataset(torch.utils.data.Dataset):
    """Several :class:`StoreDataset` (for example independent simulated Suns) read as one.

    Parameters
    ----------
    parts : sequence of StoreDataset
        Of one image size.
    """

    def __init__(self, parts) -> None:
        self.parts = list(parts)
        if not self.parts:
            raise InputError("ConcatStoreDataset: no datasets to join")
        sizes = {p.image_size for p in self.parts}
        if len(sizes) > 1:
            raise InputError(f"ConcatStoreDataset: datasets of different image sizes {sorted(sizes)}")
        self.image_size = sizes.pop()
        self.targets = np.concatenate([p.targets for p in self.parts])
        self._starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def images(self, positions: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """As :meth:`StoreDataset.images`, over the joined positions (in the order given)."""
        positions = np.asarray(positions)
        which = np.searchsorted(self._starts, positions, side="right") - 1
        out = None
        for k in np.unique(which):
            sel = np.flatnonzero(which == k)
            x = self.parts[k].images(positions[sel] - self._starts[k], dtype)
            if out is None:
                out = torch.empty((len(positions), *x.shape[1:]), dtype=x.dtype)
            out[torch.from_numpy(sel)] = x
        return out

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


def _rotation_sources(size: int, angles_deg: torch.Tensor, pad: int, device) -> torch.Tensor:
    """Flat source index of every output pixel in the zero-padded input, for rotations about the image centre.

    Counter-clockwise for positive angles on a north-up image (row 0 at the
    top), as :func:`torchvision.transforms.functional.rotate`. The padding is
    wide enough that every source pixel exists, so no masks are needed.
    """
    c0 = (size - 1) / 2.0 + pad
    width = size + 2 * pad
    coords = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2.0
    th = torch.deg2rad(angles_deg.to(device=device, dtype=torch.float32)).view(-1, 1, 1)
    c, s = torch.cos(th), torch.sin(th)
    xx, yy = coords.view(1, 1, -1), coords.view(1, -1, 1)
    # inverse mapping: output pixel (x, y) comes from input (c x - s y, s x + c y), centred
    sx = (c * xx + c0) - s * yy
    sy = (s * xx + c0) + c * yy
    sx.round_()
    sy.round_().mul_(width).add_(sx)
    return sy.long()


def rotate_nearest(x: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Rotate each image of a batch (N, 1, S, S) by its own angle, nearest neighbour, 0 fill.

    Works on any dtype (uint8 included) and device; nearest-neighbour is the
    interpolation of torchvision's ``RandomRotation``, the reference study's
    augmentation.
    """
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"square images expected, got {h} x {w}")
    if n == 0:
        return x.clone()
    th = torch.deg2rad(angles_deg.float().abs().clamp(max=45.0)).max()
    # farthest a corner pixel's source can fall outside the image, plus rounding
    pad = int(math.ceil((h - 1) / 2.0 * (float(torch.cos(th)) + float(torch.sin(th)) - 1.0))) + 2
    padded = F.pad(x, (pad, pad, pad, pad)).reshape(n, -1)
    out = torch.empty((n, h * w), dtype=x.dtype, device=x.device)
    # a few images at a time keeps the index arithmetic in cache on a CPU
    step = n if x.device.type != "cpu" else 2
    for i in range(0, n, step):
        idx = _rotation_sources(h, angles_deg[i : i + step], pad, x.device)
        torch.gather(padded[i : i + step], 1, idx.view(idx.shape[0], -1), out=out[i : i + step])
    return out.view(n, 1, h, w)


def augment_batch(x: torch.Tensor, codes: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Apply per-sample augmentation codes to a batch (N, 1, S, S) on its device, in its dtype.

    Horizontal and vertical flips, and rotations about the image centre with
    nearest-neighbour interpolation and 0 (off-disk) fill, as torchvision's
    ``RandomRotation`` does by default. uint8 batches stay uint8.
    """
    out = x.clone()
    ops = ((AUG_HFLIP, lambda t, a: torch.flip(t, dims=[3])),
           (AUG_VFLIP, lambda t, a: torch.flip(t, dims=[2])),
           (AUG_ROT, rotate_nearest))
    codes, angles_deg = codes.to(x.device), angles_deg.to(x.device)
    for code, op in ops:
        sel = torch.nonzero(codes == code).flatten()
        if sel.numel():
            out.index_copy_(0, sel, op(x.index_select(0, sel), angles_deg.index_select(0, sel)))
    return out


@dataclass
class BatchLoader:
    """Iterates over one epoch in batches, reading ahead in reader threads.

    Batches are (images, targets, dataset positions); images stay in the
    store's uint8 (float when ``image_size`` reduces them) and the model
    converts them on its device. On the CPU the reader threads also
    augment; on a GPU augmentation runs on the device after a pinned,
    non-blocking copy of the bytes.

    Parameters
    ----------
    dataset : StoreDataset
    batch_size : int
    epoch, seed : int
        Define the shuffle and the augmentation draws (reproducible).
    augment : bool
        Augment (and shuffle) as in training; False: no augmentation.
    shuffle : bool, optional
        Shuffle the positions reproducibly from (seed, epoch); default: as ``augment`` (evaluation walks the
        dataset in order). Training without augmentation passes True.
    device : torch.device
        Where batches go (augmentation runs there); pinned memory and
        non-blocking copies on CUDA.
    max_batches : int, optional
        Stop early (for tests and benchmarks).
    prefetch, workers : int
        Batches read ahead, and reader threads (the byte copies and the
        tensor operations release the GIL, so threads run in parallel).
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
    shuffle: bool | None = None
    prefetch: int = 2
    workers: int = 2
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.augment or self.shuffle:
            self.positions, self.codes = epoch_plan(self.dataset.targets, self.epoch, self.seed, augment=self.augment)
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
        x = self.dataset.images(pos, dtype=torch.uint8)
        y = torch.from_numpy(self.dataset.targets[pos])
        codes = torch.from_numpy(self.codes[s])
        ang = torch.from_numpy(self.angles[s]).float()
        if self.augment and self.device.type == "cpu":
            # on the CPU the reader threads augment too, overlapping the model's work
            x = augment_batch(x, codes, ang)
        if self.device.type == "cuda":
            x = x.pin_memory()
        return x, y, codes, ang, pos

    def __iter__(self):
        n = len(self)
        pool = ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="flarelib-reader")
        pending: collections.deque = collections.deque()
        nxt = 0
        try:
            # batches are read (and, on the CPU, augmented) ahead by the reader threads, handed out in order
            while nxt < n and len(pending) < self.prefetch + self.workers:
                pending.append(pool.submit(self._read, nxt))
                nxt += 1
            while pending:
                x, y, codes, ang, pos = pending.popleft().result()
                if nxt < n:
                    pending.append(pool.submit(self._read, nxt))
                    nxt += 1
                nb = self.device.type == "cuda"
                x = x.to(self.device, non_blocking=nb)
                y = y.to(self.device, non_blocking=nb)
                if self.augment and self.device.type != "cpu":
                    x = augment_batch(x, codes.to(self.device), ang.to(self.device))
                yield x, y, pos
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
