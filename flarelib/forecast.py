"""Operational forecasts: the probability of a >= M1.0 flare in the next 24 h for a magnetogram.

The output is modelled on the CCMC Flare Scoreboard's full-disk forecast
submissions: issue time, prediction window, the event definition (threshold
class), the probability, a yes/no decision at a decision threshold, and
identifiers of the model and of the input.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import torch

from ._fileio import sha256_file
from .errors import InputError
from .io.magnetogram import read_magnetogram
from .model.checkpoint import model_from_checkpoint

__all__ = ["Forecaster", "forecast_files"]

MAGNETOGRAM_SUFFIXES = (".jp2", ".fits", ".fits.gz", ".fts")


class Forecaster:
    """A trained model ready to forecast.

    The event definition, input size and scaling, and the calibrator come
    from the checkpoint's metadata record; nothing is assumed.

    Parameters
    ----------
    checkpoint : path-like
        A ``model.pt`` (or ``last.pt``) written by :func:`flarelib.model.training.train_fold`.
    decision_threshold : float
        Probability at and above which the decision is "yes" (0.5, as in the paper).
    """

    def __init__(self, checkpoint: str | Path, decision_threshold: float = 0.5) -> None:
        if not 0.0 <= decision_threshold <= 1.0:
            raise InputError(f"--decision-threshold must be in [0, 1], got {decision_threshold}")
        self.checkpoint = Path(checkpoint)
        self.model, self.meta = model_from_checkpoint(self.checkpoint)
        self.calibrator = self.meta.get_calibrator()
        self.size_px = self.meta.image_size_px
        self.decision_threshold = decision_threshold
        self.sha256 = sha256_file(self.checkpoint)

    def image_tensor(self, path: str | Path):
        """The magnetogram as the model's input (1, 1, S, S) and its metadata."""
        m = read_magnetogram(path, size_px=self.size_px)
        return torch.from_numpy(m.data.astype(np.float32))[None, None], m

    def probability(self, x: torch.Tensor) -> tuple[float, float]:
        """(issued, raw) flare probability of a model input: the calibrated one when the checkpoint has a calibrator."""
        raw = float(self.model.predict_proba(x)[0])
        return (float(self.calibrator(raw)) if self.calibrator else raw), raw

    def forecast(self, path: str | Path, issue_time: datetime | None = None) -> dict:
        """Forecast for one magnetogram file (JP2 or FITS)."""
        path = Path(path)
        x, m = self.image_tensor(path)
        p, raw = self.probability(x)
        obs = m.meta.date_obs.replace(tzinfo=timezone.utc)
        issue = issue_time or obs
        ev = self.meta.event
        iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
        return {
            "forecast_type": "full_disk",
            "issue_time": iso(issue),
            "prediction_window_start": iso(issue),
            "prediction_window_end": iso(issue + timedelta(hours=ev.window_h)),
            "event": {"threshold_class": ev.threshold_class, "threshold_flux_wm2": ev.threshold_flux_wm2, "window_h": ev.window_h,
                      "definition": ev.text},
            "probability": p,
            "probability_raw": raw,
            "calibrated": self.calibrator is not None,
            "calibration": self.calibrator.kind if self.calibrator else None,
            "decision_threshold": self.decision_threshold,
            "decision": bool(p >= self.decision_threshold),
            "model": {"name": "FullDiskAlexNet", "package": "flarelib", "checkpoint": str(self.checkpoint),
                      "checkpoint_sha256": self.sha256, "fold": self.meta.fold, "epoch": self.meta.epoch,
                      "selection": self.meta.selection, "profile": self.meta.profile, "input_size_px": self.size_px,
                      "input_scaling": self.meta.model.input_scaling, "trained_on": self.meta.store_path,
                      "training_store_fingerprint": self.meta.store_fingerprint},
            "input": {"path": str(path), "sha256": sha256_file(path), "date_obs": m.meta.date_obs.isoformat(),
                      "instrument": m.meta.instrument, "product": m.meta.product},
        }


def forecast_files(checkpoint: str | Path, paths, decision_threshold: float = 0.5) -> list[dict]:
    """Forecasts for files and directories of files (one row per magnetogram, sorted by name)."""
    fc = Forecaster(checkpoint, decision_threshold)
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.name.lower().endswith(MAGNETOGRAM_SUFFIXES)))
        else:
            files.append(p)
    return [fc.forecast(f) for f in files]
