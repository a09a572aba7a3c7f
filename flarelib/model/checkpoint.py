"""Checkpoints: written atomically, loaded safely, carrying what a forecast needs to know.

A checkpoint is a dict of tensors and plain values (``torch.load(...,
weights_only=True)`` reads it; no code can run). Beside the weights and the
training state it carries a :class:`CheckpointMeta` record: the event it
forecasts (>= M1.0 within 24 h), the input scaling and image size, the
training store (absolute path and fingerprint), the profile, the epoch and how
it was selected, a calibrator when one was fitted, and the reported model's
:class:`~flarelib.model.card.ModelCard`. :func:`model_from_checkpoint`
rebuilds the model from that record alone.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from .._fileio import atomic_write_bytes
from ..errors import CheckpointError
from ..io.goes import M1_FLUX_WM2
from ..verify.calibration import Calibrator
from .card import ModelCard
from .network import FullDiskAlexNet, ModelConfig, build_model

#: Bounds of a checkpoint's input size (pixels), the CLI's own --size bounds.
MIN_SIZE_PX, MAX_SIZE_PX = 16, 4096

__all__ = ["EventDefinition", "CheckpointMeta", "save_checkpoint", "load_checkpoint", "model_from_checkpoint", "checkpoint_meta"]


@dataclass(frozen=True)
class EventDefinition:
    """What a forecast is a probability of: a flare of at least ``threshold_class`` starting within ``window_h`` hours."""

    threshold_class: str = "M1.0"
    threshold_flux_wm2: float = M1_FLUX_WM2
    window_h: float = 24.0

    @property
    def text(self) -> str:
        return f"a GOES flare of class >= {self.threshold_class} starts within {self.window_h:g} h"


@dataclass(frozen=True)
class CheckpointMeta:
    """The record a checkpoint carries about the model it holds.

    Attributes
    ----------
    model : ModelConfig
        How to build the network (input scaling included).
    image_size_px : int
        Input size the model was trained on.
    event : EventDefinition
    fold : int
        Validation fold (the partition the model never trained on).
    epoch : int
        1-based epoch of these weights.
    selection : {'final', 'inner'}
        How the reported epoch was chosen: the final one, or the best on the
        inner validation split of the training partitions.
    profile : str
    store_path : str
        Absolute path of the training store.
    store_fingerprint : str
        SHA-256 of the training store's index (content, not name).
    calibrator : dict or None
        A :class:`~flarelib.verify.calibration.Calibrator` as a dict.
    card : dict or None
        The :class:`~flarelib.model.card.ModelCard` of a reported model (None in resume checkpoints and in
        checkpoints written before cards).
    """

    model: ModelConfig
    image_size_px: int
    event: EventDefinition = field(default_factory=EventDefinition)
    fold: int = 0
    epoch: int = 0
    selection: str = "final"
    profile: str = ""
    store_path: str = ""
    store_fingerprint: str = ""
    calibrator: dict | None = None
    card: dict | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CheckpointMeta:
        d = json.loads(text)
        d["model"] = ModelConfig(**d["model"])
        d["event"] = EventDefinition(**d.get("event", {}))
        return cls(**d)

    def get_calibrator(self) -> Calibrator | None:
        return Calibrator.from_dict(self.calibrator) if self.calibrator else None

    def get_card(self) -> ModelCard | None:
        return ModelCard.from_dict(self.card) if self.card else None


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write a checkpoint atomically (serialise in memory, then temporary file + rename)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``).

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
    except Exception as exc:  # torch raises many kinds on a damaged file
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from exc
    if not isinstance(ck, dict) or "model" not in ck or "meta" not in ck:
        raise CheckpointError(f"{path}: not a flarelib checkpoint (no model weights and metadata record)")
    return ck


def checkpoint_meta(ck: dict) -> CheckpointMeta:
    """The metadata record of a loaded checkpoint."""
    return CheckpointMeta.from_json(ck["meta"])


def model_from_checkpoint(path: str | Path) -> tuple[FullDiskAlexNet, CheckpointMeta]:
    """The trained model (eval mode, CPU) and its metadata record."""
    ck = load_checkpoint(path)
    meta = checkpoint_meta(ck)
    if not MIN_SIZE_PX <= int(meta.image_size_px) <= MAX_SIZE_PX:  # before any image of that size is allocated
        raise CheckpointError(f"{path}: its record's image_size_px {meta.image_size_px} is outside [{MIN_SIZE_PX}, {MAX_SIZE_PX}]")
    model = build_model(replace(meta.model, weights=None))
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the model its record describes ({str(exc).splitlines()[0]})") from exc
    model.eval()
    return model, meta
