"""Shared fixtures: the real reference files in ../shared/data (skipped, with the reason, when absent)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the offline reference data: $FLARELIB_DATA when set (as flarelib.io.download.shared_data_dir reads it), else ../shared/data
SHARED = Path(os.environ["FLARELIB_DATA"]) if os.environ.get("FLARELIB_DATA") else ROOT.parent / "shared" / "data"
REAL_MAG = SHARED / "helioviewer" / "2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2"
REAL_CONT = SHARED / "helioviewer" / "2010_12_06__18_56_41_105__SDO_HMI_HMI_continuum.jp2"
PANDEY = SHARED / "pandey2023"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


@pytest.fixture(scope="session")
def real_magnetogram() -> Path:
    return _need(REAL_MAG)


@pytest.fixture(scope="session")
def real_continuum() -> Path:
    return _need(REAL_CONT)


@pytest.fixture(scope="session")
def pandey() -> Path:
    return _need(PANDEY)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the flarelib command line as a user does (a separate process)."""
    return subprocess.run([sys.executable, "-m", "flarelib", *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT)


def cli_in_process(*args: str) -> subprocess.CompletedProcess:
    """Run the command line in this process (no interpreter start-up): the same result object as :func:`run_cli`.

    An unexpected exception propagates (a test sees the traceback); anticipated errors return exit code 2.
    """
    import contextlib
    import io

    from flarelib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse refusals
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
