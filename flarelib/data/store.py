"""The image store: one memory-mapped uint8 array of N x S x S magnetograms and its index.

Layout of a store directory::

    images.u8     raw uint8 array, N x S x S, C order (memory-mapped)
    index.csv     the label index, one row per slot, plus ``slot`` and ``ok``
    progress.npy  per-slot done flags while the store is being written
    failures.csv  files that could not be read (path, error)
    store.json    manifest, written last: a store without it is incomplete

A store is valid only once ``store.json`` says ``"complete": true``; it is
written atomically after all images are flushed to disk, so a run killed at
any moment never leaves a store that reads as valid. Re-running
:func:`prepare_store` resumes from ``progress.npy`` (flags are saved only after
the images they cover have been flushed).
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .._fileio import atomic_write_bytes, atomic_write_text, sha256_file
from ..errors import InputError, MagnetogramError, StoreError
from ..io.magnetogram import read_jp2_header, read_magnetogram
from .labels import INDEX_COLUMNS, read_index, write_index

__all__ = [
    "Store",
    "StoreWriter",
    "prepare_store",
    "fill_store",
    "worker_pool",
    "open_store",
    "DISK_COLUMNS",
    "disk_from_extent",
]

MANIFEST = "store.json"
#: The write lock of a store folder (see :func:`_lock_folder`).
LOCK = ".lock"
FORMAT_VERSION = 1
#: What a store was made from (its fingerprint), written before any image: a resume must match it.
INPUTS = "inputs.json"
#: Index columns of each image's disk geometry in store pixels (from the image header).
DISK_COLUMNS = ("disk_x_px", "disk_y_px", "disk_r_px")


def store_inputs(index: pd.DataFrame, size_px: int, extra: dict | None = None) -> dict:
    """The fingerprint of a store's inputs: the index content (SHA-256 of its declared columns), the size and ``extra``.

    ``extra`` names the rest of what the images come from: the root folder of
    relative paths for ``prepare``, the configuration and seed for the simulator.
    """
    cols = [c for c in INDEX_COLUMNS if c in index.columns]
    body = index[cols].to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S").encode()
    return {"index_sha256": hashlib.sha256(body).hexdigest(), "n": int(len(index)), "size_px": int(size_px),
            **json.loads(json.dumps(extra or {}, default=str))}


def disk_from_extent(image: np.ndarray) -> tuple[float, float, float]:
    """Disk centre (x, y) and radius in pixels estimated from the bounding box of non-zero pixels."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    if rows.size == 0:
        raise StoreError("blank image: no disk to locate")
    return ((cols[0] + cols[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0, (cols[-1] - cols[0] + rows[-1] - rows[0] + 2) / 4.0)


@dataclass
class Store:
    """A complete image store opened for reading.

    Attributes
    ----------
    path : Path
    images : numpy.memmap
        Read-only uint8 array (N, S, S); only the rows in ``index`` are valid.
    index : pandas.DataFrame
        The usable rows (``ok``), with column ``slot`` giving the row in ``images``.
    manifest : dict
    """

    path: Path
    images: np.ndarray
    index: pd.DataFrame
    manifest: dict

    @property
    def size_px(self) -> int:
        return int(self.manifest["size_px"])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the store's index file and image size: which instants, labels and pixels a model saw."""
        return hashlib.sha256(f"{sha256_file(self.path / 'index.csv')}:{self.size_px}".encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        """The i-th usable image (by position in ``index``)."""
        return np.asarray(self.images[int(self.index["slot"].iloc[i])])

    def disk(self, i: int) -> tuple[float, float, float]:
        """Disk centre x, y and radius in store pixels of the i-th usable image, from its header.

        Stores written before the geometry was recorded (no ``disk_*`` columns)
        get an estimate from the image's extent: the bounding box of the
        non-zero pixels (the sky is 0; a saturated umbra inside the disk does
        not move the box).
        """
        row = self.index.iloc[i]
        if all(c in self.index for c in DISK_COLUMNS) and np.isfinite(row[list(DISK_COLUMNS)].to_numpy(float)).all():
            return tuple(float(row[c]) for c in DISK_COLUMNS)
        return disk_from_extent(self.image(i))


def open_store(path: str | Path) -> Store:
    """Open a complete store read-only (memory-mapped).

    Raises
    ------
    StoreError
        When the folder is missing, incomplete (interrupted preparation) or inconsistent.
    """

    path = Path(path)
    man_path = path / MANIFEST
    if not path.is_dir():
        raise StoreError(f"{path}: no such store folder")
    if not man_path.is_file():
        raise StoreError(f"{path}: incomplete store (no {MANIFEST}); rerun the preparation to finish it")
    manifest = json.loads(man_path.read_text())
    if not manifest.get("complete"):
        raise StoreError(f"{path}: store is not complete")
    n, s = int(manifest["n"]), int(manifest["size_px"])
    img_path = path / "images.u8"
    expected = n * s * s
    if not img_path.is_file() or img_path.stat().st_size != expected:
        raise StoreError(f"{img_path}: size {img_path.stat().st_size if img_path.exists() else 'missing'} != {expected} bytes for {n} x {s} x {s}")
    images = np.memmap(img_path, dtype=np.uint8, mode="r", shape=(n, s, s))
    index = read_index(path / "index.csv")
    head = pd.read_csv(path / "index.csv", nrows=0).columns
    extra = pd.read_csv(path / "index.csv", usecols=["slot", "ok", *[c for c in DISK_COLUMNS if c in head]])
    index["slot"] = extra["slot"].to_numpy()
    index["ok"] = extra["ok"].astype(bool).to_numpy()
    for c in DISK_COLUMNS:
        if c in extra:
            index[c] = extra[c].to_numpy(float)
    index = index[index["ok"]].reset_index(drop=True)
    return Store(path=path, images=images, index=index, manifest=manifest)


class StoreWriter:
    """Writes images into a new or partly written store, resumably.

    Parameters
    ----------
    path : path-like
        Store folder.
    index : pandas.DataFrame
        One row per image to store (columns of :data:`flarelib.labels.INDEX_COLUMNS`).
    size_px : int
        Image width and height.
    extra_manifest : dict, optional
        Stored in ``store.json`` (for example the simulator configuration).
    """

    def __init__(self, path: str | Path, index: pd.DataFrame, size_px: int, extra_manifest: dict | None = None,
                 inputs: dict | None = None, overwrite: bool = False, retry_failed: bool = False) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_folder(self.path)  # held until finish (or the process ends): one writer per store
        self.index = index.reset_index(drop=True).copy()
        self.n = len(self.index)
        self.size_px = int(size_px)
        self.extra = extra_manifest or {}
        self.inputs = store_inputs(self.index, self.size_px, inputs)
        self._check_inputs(overwrite)
        if (self.path / MANIFEST).is_file():
            man = json.loads((self.path / MANIFEST).read_text())
            if man.get("complete") and not retry_failed:
                self.done = np.ones(self.n, bool)
                self.failed = {}
                self._images = None
                self.finished = True
                return
            os.unlink(self.path / MANIFEST)  # about to change it: no longer valid
        img_path = self.path / "images.u8"
        nbytes = self.n * self.size_px * self.size_px
        prog = self.path / "progress.npy"
        resumable = img_path.is_file() and img_path.stat().st_size == nbytes and prog.is_file()
        if not resumable:
            with open(img_path, "wb") as fh:
                fh.truncate(nbytes)
        self._images = np.memmap(img_path, dtype=np.uint8, mode="r+", shape=(self.n, self.size_px, self.size_px)) if self.n else None
        self.done = np.load(prog) if resumable else np.zeros(self.n, bool)
        if len(self.done) != self.n:
            self.done = np.zeros(self.n, bool)
        self.finished = False
        self.geometry = np.full((self.n, 3), np.nan)
        if resumable and (self.path / "disk.npy").is_file():
            g = np.load(self.path / "disk.npy")
            if g.shape == self.geometry.shape:
                self.geometry = g
        self.failed: dict[int, str] = {}
        fail_path = self.path / "failures.csv"
        if resumable and fail_path.is_file():
            f = pd.read_csv(fail_path)
            self.failed = dict(zip(f["slot"].astype(int), f["error"].astype(str)))
        if retry_failed and self.failed:
            self.done[list(self.failed)] = False  # read them again
            self.failed = {}
            fail_path.unlink()

    def _check_inputs(self, overwrite: bool) -> None:
        """Refuse to continue a store made from other inputs; with ``overwrite``, start it afresh."""
        rec = self.path / INPUTS
        has_store = any((self.path / f).exists() for f in (MANIFEST, "images.u8", "progress.npy"))
        if rec.is_file() or has_store:
            old = json.loads(rec.read_text()) if rec.is_file() else {}
            if old != self.inputs:
                if not overwrite:
                    what = sorted(k for k in set(old) | set(self.inputs) if old.get(k) != self.inputs.get(k)) or ["unrecorded inputs"]
                    raise StoreError(f"{self.path}: holds a store made from other inputs ({', '.join(what)} differ); "
                                     "pass --overwrite to start it afresh, or choose another folder")
                for f in (MANIFEST, "images.u8", "progress.npy", "disk.npy", "failures.csv", "index.csv", INPUTS):
                    (self.path / f).unlink(missing_ok=True)
        atomic_write_text(rec, json.dumps(self.inputs, indent=2))

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def todo(self) -> np.ndarray:
        """Slots still to write."""
        return np.flatnonzero(~self.done)

    def put(self, slot: int, image: np.ndarray, disk: tuple[float, float, float] | None = None) -> None:
        """Store one image and, when known, its disk centre x, y and radius in pixels (from its header)."""
        if image.shape != (self.size_px, self.size_px) or image.dtype != np.uint8:
            raise StoreError(f"slot {slot}: image {image.shape} {image.dtype}, expected ({self.size_px}, {self.size_px}) uint8")
        self._images[slot] = image
        if disk is not None:
            self.geometry[slot] = disk
        self.done[slot] = True

    def fail(self, slot: int, error: str) -> None:
        self.failed[int(slot)] = error
        self.done[slot] = True

    def checkpoint(self) -> None:
        """Flush images, then record progress (never the other way round); nothing to do for a finished store."""
        if self.finished:
            return
        if self._images is not None:
            self._images.flush()
        atomic_write_bytes(self.path / "disk.npy", _npy_bytes(self.geometry))
        atomic_write_bytes(self.path / "progress.npy", _npy_bytes(self.done))
        if self.failed:
            f = pd.DataFrame({"slot": list(self.failed), "error": list(self.failed.values())})
            f["path"] = self.index.loc[f["slot"], "path"].to_numpy()
            atomic_write_text(self.path / "failures.csv", f.to_csv(index=False))

    def finish(self) -> Path:
        """Write index and manifest once everything is done; returns the store path."""
        if not self.complete:
            raise StoreError(f"{self.path}: {int((~self.done).sum())} images still to write")
        if self.n and len(self.failed) == self.n:
            self.checkpoint()
            first = next(iter(self.failed.values()))
            raise StoreError(f"{self.path}: none of the {self.n} images could be read (first: {first}); "
                             "check the index's paths and --root, then rerun with --retry-failed")
        if (self.path / MANIFEST).is_file():
            self.release()
            return self.path
        self.checkpoint()

        out = self.index.copy()
        out["slot"] = np.arange(self.n)
        out["ok"] = [int(i not in self.failed) for i in range(self.n)]
        for k, c in enumerate(DISK_COLUMNS):
            out[c] = np.round(self.geometry[:, k], 3)
        write_index(out, self.path / "index.csv")
        manifest = {
            "format_version": FORMAT_VERSION,
            "complete": True,
            "n": self.n,
            "n_ok": int(self.n - len(self.failed)),
            "n_failed": len(self.failed),
            "size_px": self.size_px,
            "dtype": "uint8",
            **self.extra,
        }
        atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, default=str))
        self.release()
        return self.path

    def release(self) -> None:
        """Give up the folder's write lock (another writer may open it)."""
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)
            self._lock = None


def _lock_folder(path: Path) -> int:
    """An exclusive advisory lock on ``path/.lock`` (a POSIX record lock), released when the process ends.

    The lock is the process's (an abandoned writer of this process, say after an exception, does not block a new
    one); another process's writer is refused.

    Raises
    ------
    StoreError
        Another process holds it: two writers into one store would interleave their images.
    """
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EAGAIN / EACCES: held by another process
        holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StoreError(f"{path}: being written by {holder}; wait for it to finish, or write another folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()}".encode())
    return fd


def _npy_bytes(a: np.ndarray) -> bytes:

    bio = io.BytesIO()
    np.save(bio, a)
    return bio.getvalue()


def _exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Worker initializer: end this process when the parent that started it is gone (killed, even with SIGKILL).

    A daemon thread polls the parent's id; when the process is re-parented the worker exits at once, so no
    orphan keeps writing into a store nobody will finish.
    """
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="flarelib-parent-watch", daemon=True).start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers end with this process."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent, initargs=(os.getpid(),))


def fill_store(writer: StoreWriter, work, jobs: list, workers: int | None = None, desc: str = "store", progress: bool = True,
               on_error: str = "skip", checkpoint_every: int = 8) -> None:
    """The one store-filling loop: run ``work`` over ``jobs`` on all cores, put results, checkpoint as it goes.

    The caller finishes the store (:meth:`StoreWriter.finish`) once everything
    that belongs with it is written.

    Parameters
    ----------
    writer : StoreWriter
    work : callable
        Picklable function of one job returning a list of ``(slot, image or None,
        disk or None, error or None)``.
    jobs : list
        Chunks of work (each a few slots), in slot order.
    workers : int, optional
        Processes (all cores by default; 1 runs in this process).
    on_error : {'skip', 'raise'}
        ``'skip'`` records a failed slot in ``failures.csv``; ``'raise'`` checkpoints and stops.
    checkpoint_every : int
        Jobs between checkpoints (progress is saved in every mode).
    """
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=writer.n, initial=int(writer.done.sum()), desc=desc, unit="img", disable=not progress)
    pool = worker_pool(workers) if workers > 1 and len(jobs) > 1 else None
    try:
        results = pool.map(work, jobs) if pool is not None else map(work, jobs)
        for k, res in enumerate(results):
            for slot, img, disk, err in res:
                if err is not None:
                    if on_error == "raise":
                        writer.checkpoint()
                        raise MagnetogramError(str(writer.index["path"].iloc[slot]), err.split(": ", 1)[-1])
                    writer.fail(slot, err)
                else:
                    writer.put(slot, img, disk)
            bar.update(len(res))
            if k % checkpoint_every == checkpoint_every - 1:
                writer.checkpoint()
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
        writer.checkpoint()


def _read_chunk(job) -> list[tuple[int, np.ndarray | None, tuple | None, str | None]]:
    out = []
    for slot, path, size_px in job:
        try:
            m = read_magnetogram(path, size_px=size_px)
        except MagnetogramError as exc:
            out.append((slot, None, None, str(exc)))
            continue
        out.append((slot, m.data, (*m.meta.disk_center_px, m.meta.disk_radius_px), None))
    return out


def _instrument(paths: list[str]) -> str:
    """The observatory/instrument named by the header of the first readable JP2 among ``paths`` ('' if none reads).

    Recorded in the store's manifest: a model card says what data a model was trained on, and a forecast refuses a
    magnetogram of another domain (a simulated one for a model trained on HMI, or the reverse).
    """
    for p in paths[:20]:
        if not str(p).lower().endswith(".jp2"):
            continue
        try:
            h = read_jp2_header(p)
        except (MagnetogramError, OSError):  # an unreadable file goes to the store's failure record, not here
            continue
        return "/".join(str(h.get(k, "")).strip() for k in ("TELESCOP", "INSTRUME") if str(h.get(k, "")).strip())
    return ""


def prepare_store(
    index: pd.DataFrame,
    out: str | Path,
    size_px: int = 512,
    root: str | Path | None = None,
    workers: int | None = None,
    chunk: int = 16,
    on_error: str = "skip",
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    overwrite: bool = False,
    retry_failed: bool = False,
) -> Path:
    """Read every image of an index into a store, with all cores, resumably.

    Parameters
    ----------
    index : pandas.DataFrame
        Label index whose ``path`` column names JP2/FITS files.
    out : path-like
        Store folder (created; a partial one is resumed).
    size_px : int
        Output image size (512).
    root : path-like, optional
        Folder that relative paths in ``index`` are relative to.
    workers : int, optional
        Processes (all cores by default).
    chunk : int
        Images per job.
    on_error : {'skip', 'raise'}
        ``'skip'``: an unreadable file is recorded in ``failures.csv`` with its
        error and left out of the usable index; ``'raise'``: stop at once.
    shard : (k, n), optional
        Only process rows with ``position % n == k``: separate machines can
        each prepare one shard of the same index (each into its own folder).
    progress : bool
        Show a progress bar.
    overwrite : bool
        Start afresh when ``out`` holds a store made from other inputs (index, size, root); otherwise that is refused.
    retry_failed : bool
        Read the images recorded as unreadable again.

    Raises
    ------
    StoreError
        ``out`` holds a store of other inputs, or no image at all could be read.
    """
    idx = index.reset_index(drop=True)
    if shard is not None:
        k, n = shard
        if not 0 <= k < n:
            raise InputError(f"--shard {k}/{n}: need 0 <= k < n")
        idx = idx.iloc[k::n].reset_index(drop=True)
    root = Path(root) if root is not None else None
    paths = [str(root / p) if root is not None and not Path(p).is_absolute() else str(p) for p in idx["path"]]
    inputs = {"root": str(root.resolve()) if root is not None else None, "shard": list(shard) if shard else None}
    manifest = {"source": "prepare", "shard": list(shard) if shard else None, "instrument": _instrument(paths)}
    writer = StoreWriter(out, idx, size_px, manifest, inputs=inputs, overwrite=overwrite, retry_failed=retry_failed)
    todo = writer.todo()
    jobs = [[(int(s), paths[s], size_px) for s in todo[i : i + chunk]] for i in range(0, len(todo), chunk)]
    fill_store(writer, _read_chunk, jobs, workers=workers, desc="prepare", progress=progress, on_error=on_error)
    return writer.finish()
