"""The ``flarelib`` command line (``python -m flarelib`` or the ``flarelib`` script)."""
from .main import build_parser, main

__all__ = ["main", "build_parser"]
