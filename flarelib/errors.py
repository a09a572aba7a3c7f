"""Exceptions raised by flarelib.

Every error about a file names the file and says what is wrong with it, so a
long job that meets one bad input can report it and go on (or stop) cleanly.
"""
from __future__ import annotations

from pathlib import Path

__all__ = [
    "FlarelibError",
    "MagnetogramError",
    "CorruptFileError",
    "WrongProductError",
    "HeaderError",
    "GoesClassError",
    "CatalogError",
    "StoreError",
    "DownloadError",
    "CheckpointError",
    "InputError",
]


class FlarelibError(Exception):
    """Base class of all flarelib errors."""


class MagnetogramError(FlarelibError):
    """A magnetogram file cannot be used.

    Parameters
    ----------
    path : path-like
        The offending file.
    problem : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CorruptFileError(MagnetogramError):
    """The file is truncated, corrupt or not an image format we read."""


class WrongProductError(MagnetogramError):
    """The file is a valid image, but not a line-of-sight magnetogram."""


class HeaderError(MagnetogramError):
    """The image's metadata header is missing or cannot be parsed."""


class GoesClassError(FlarelibError, ValueError):
    """A GOES X-ray class string is not valid (for example 'Z1' or 'M-1')."""


class CatalogError(FlarelibError):
    """A flare catalog cannot be read, or has rows that cannot be parsed."""


class StoreError(FlarelibError):
    """An image store is missing, incomplete or inconsistent."""


class DownloadError(FlarelibError):
    """A download failed after all retries, or returned an unusable file."""


class CheckpointError(FlarelibError):
    """A model checkpoint cannot be loaded."""


class InputError(FlarelibError, ValueError):
    """A value given by the user (an option, a parameter, a column) is not acceptable.

    The command line turns it into one line and exit code 2; other exceptions
    keep their traceback, so that a bug stays visible.
    """
