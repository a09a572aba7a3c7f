"""File writing shared by every stage: atomic writes that respect the umask, and SHA-256 digests.

A long job that is killed never leaves a half-written metadata file: the text
goes to a temporary file in the same folder, is flushed to disk, then renamed
over the target. ``tempfile.mkstemp`` creates files 0600; the final file gets
the permissions a plain ``open(path, "w")`` would have given (0666 minus the
umask), so colleagues on a shared cluster can read indexes, manifests and
checkpoints as they read the images.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "sha256_file", "default_file_mode"]


def default_file_mode() -> int:
    """Permission bits a newly created file gets under the current umask (0o666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file atomically: a temporary file in the same folder, fsync, chmod to the umask's mode, rename.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created when missing.
    data : bytes
        The whole content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (UTF-8); see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path, block_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in blocks of ``block_bytes``."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(block_bytes), b""):
            h.update(block)
    return h.hexdigest()
