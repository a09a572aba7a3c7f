"""Operational forecasts: the probability of a >= M1.0 flare in the next 24 h for a magnetogram.

The output is modelled on the CCMC Flare Scoreboard's full-disk forecast
submissions: issue time, prediction window, the event definition (threshold
class), the probability, a yes/no decision at a decision threshold, and
identifiers of the model and of the input.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import torch

from .magnetogram import read_magnetogram
from .training import model_from_checkpoint

__all__ = ["Forecaster", "forecast_files"]

MAGNETOGRAM_SUFFIXES = (".jp2", ".fits", ".fits.gz", ".fts")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Forecaster:
    """A trained model ready to forecast.

    Parameters
    ----------
    checkpoint : path-like
        A ``best.pt`` or ``last.pt`` written by :func:`flarelib.training.train_fold`.
    decision_threshold : float
        Probability at and above which the decision is "yes" (0.5, as in the paper).
    """

    def __init__(self, checkpoint: str | Path, decision_threshold: float = 0.5) -> None:
        self.checkpoint = Path(checkpoint)
        self.model, ck = model_from_checkpoint(self.checkpoint)
        self.config = json.loads(ck["config"])
        self.store = json.loads(ck.get("store", "{}"))
        self.size_px = int(self.config.get("image_size") or self.store.get("size_px") or 512)
        self.decision_threshold = decision_threshold
        self.ck_info = {"fold": int(ck.get("fold", 0)), "epoch": int(ck["epoch"]) + 1, "best_tss": float(ck.get("best_tss", float("nan")))}
        self.sha256 = _sha256(self.checkpoint)

    def image_tensor(self, path: str | Path):
        """The magnetogram as the model's input (1, 1, S, S) and its metadata."""
        m = read_magnetogram(path, size_px=self.size_px)
        return torch.from_numpy(m.data.astype(np.float32))[None, None], m

    def forecast(self, path: str | Path, issue_time: datetime | None = None) -> dict:
        """Forecast for one magnetogram file (JP2 or FITS)."""
        path = Path(path)
        x, m = self.image_tensor(path)
        p = float(self.model.predict_proba(x)[0])
        obs = m.meta.date_obs.replace(tzinfo=timezone.utc)
        issue = issue_time or obs
        return {
            "forecast_type": "full_disk",
            "issue_time": issue.isoformat().replace("+00:00", "Z"),
            "prediction_window_start": issue.isoformat().replace("+00:00", "Z"),
            "prediction_window_end": (issue + timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
            "event": {"threshold_class": "M1.0", "threshold_flux_wm2": 1e-5, "definition": "a GOES flare of class >= M1.0 starts in the window"},
            "probability": p,
            "decision_threshold": self.decision_threshold,
            "decision": bool(p >= self.decision_threshold),
            "model": {"name": "FullDiskAlexNet", "package": "flarelib", "checkpoint": str(self.checkpoint),
                      "checkpoint_sha256": self.sha256, **self.ck_info, "trained_on": self.store.get("source"),
                      "input_size_px": self.size_px},
            "input": {"path": str(path), "sha256": _sha256(path), "date_obs": m.meta.date_obs.isoformat(),
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
