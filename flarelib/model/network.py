"""The full-disk model: AlexNet with a 1 -> 3 channel convolution in front.

As in the reference study: ``Conv2d(1, 3, 3x3, padding=1) + ReLU`` maps the
one-channel magnetogram onto AlexNet's three input channels, followed by
torchvision's AlexNet features, ``AdaptiveAvgPool2d(6 x 6)`` (so any input
from 128 to 512 px works) and the AlexNet classifier ending in 2 classes.
As torchvision's classifiers, the forward pass returns **logits** (N, 2):
the loss is the class-weighted cross-entropy, attribution methods explain the
flare logit directly, and :meth:`FullDiskAlexNet.predict_proba` gives the
flare probability (softmax).

The model takes images in **8-bit units** (float, 0-255, 127.5 = 0 G) and
scales them itself (``input_scaling``), so a checkpoint carries its own
preprocessing:

* ``"unit"``: x / 255, the reference study's [0, 1] inputs;
* ``"centered"``: (x - 127.5) / 127.5, inputs centred on 0 G (offline profile).

ImageNet weights are loaded through torchvision's weights API only from the
torch hub cache or a file, never from the network unless asked.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from ..errors import InputError
from ..io.magnetogram import ZERO_GAUSS_VALUE

__all__ = ["ModelConfig", "FullDiskAlexNet", "build_model", "FLARE", "imagenet_weights_path"]

log = logging.getLogger("flarelib.model")

#: Index of the flare class in the model's output.
FLARE = 1


@dataclass(frozen=True)
class ModelConfig:
    """How the model is built.

    Attributes
    ----------
    weights : str or None
        ``None``: random initialisation; ``"imagenet"``: torchvision's ImageNet
        AlexNet weights from the torch hub cache; otherwise a path to a weights file.
    init : {'torchvision', 'kaiming'}
        Initialisation of a randomly initialised model: torchvision's default
        (the reference study) or Kaiming-normal convolutions (offline profile).
    input_scaling : {'unit', 'centered'}
    classifier_init : {'torchvision', 'normal'}
        The fully connected layers: torchvision's initialisation (and
        ImageNet's FC1/FC2 when ImageNet weights are loaded), or fresh
        normal(0, 0.01) weights and zero biases, as the reference study's code
        does (ImageNet weights then go into the convolutions only).
    dropout : float
    head : {'alexnet', 'gap'}
        AlexNet's classifier on a 6 x 6 pooled map (9216 -> 4096 -> 4096 -> 2, the paper's), or a light head for
        CPU budgets: global average pooling of the 256 feature maps, dropout and one linear layer (514 weights
        instead of about 54 million).
    allow_download : bool
        Let torchvision fetch the ImageNet weights when they are not cached.
    """

    weights: str | None = None
    init: str = "torchvision"
    input_scaling: str = "unit"
    classifier_init: str = "torchvision"
    dropout: float = 0.5
    head: str = "alexnet"
    allow_download: bool = False


class FullDiskAlexNet(nn.Module):
    """AlexNet for one-channel full-disk magnetograms with a 2-class head (logits)."""

    def __init__(self, input_scaling: str = "unit", dropout: float = 0.5, head: str = "alexnet") -> None:
        super().__init__()
        if input_scaling not in ("unit", "centered"):
            raise InputError(f"input_scaling must be 'unit' or 'centered', got {input_scaling!r}")
        if head not in ("alexnet", "gap"):
            raise InputError(f"head must be 'alexnet' or 'gap', got {head!r}")
        self.input_scaling = input_scaling
        self.stem = nn.Sequential(nn.Conv2d(1, 3, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        alex = torchvision.models.alexnet(weights=None, dropout=dropout)
        self.features = alex.features
        if head == "alexnet":
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = alex.classifier
            self.classifier[-1] = nn.Linear(4096, 2)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(256, 2))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """8-bit units (uint8 or float) to the network's input scale."""
        if not x.is_floating_point():
            x = x.float()
        return x / 255.0 if self.input_scaling == "unit" else (x - ZERO_GAUSS_VALUE) / ZERO_GAUSS_VALUE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) of images (N, 1, H, W) in 8-bit units (index :data:`FLARE` is the flare class)."""
        x = self.stem(self.scale(x))
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Probability of the flare class, softmax of the logits."""
        return torch.softmax(self(x), dim=1)[:, FLARE]


def imagenet_weights_path() -> Path:
    """Where torchvision's ImageNet AlexNet weights live in the torch hub cache."""
    url = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _kaiming(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def build_model(config: ModelConfig = ModelConfig()) -> FullDiskAlexNet:
    """Build a :class:`FullDiskAlexNet` as configured.

    ImageNet weights (``weights="imagenet"`` or a file of AlexNet's state dict)
    go into the AlexNet features, and into the classifier except its last
    layer unless ``classifier_init="normal"``.
    When ``"imagenet"`` is asked for but not cached and downloads are not
    allowed, the model is randomly initialised and the log says so once.

    Raises
    ------
    FileNotFoundError
        ``weights`` names a file that does not exist.
    """
    model = FullDiskAlexNet(input_scaling=config.input_scaling, dropout=config.dropout, head=config.head)
    if config.init == "kaiming":
        _kaiming(model)
    elif config.init != "torchvision":
        raise InputError(f"init must be 'torchvision' or 'kaiming', got {config.init!r}")
    if config.classifier_init == "normal":
        for m in model.classifier.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
    elif config.classifier_init != "torchvision":
        raise InputError(f"classifier_init must be 'torchvision' or 'normal', got {config.classifier_init!r}")
    state = None
    if config.weights == "imagenet":
        path = imagenet_weights_path()
        if path.is_file():
            state = torch.load(path, map_location="cpu", weights_only=True)
        elif config.allow_download:
            state = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
        else:
            log.warning("ImageNet AlexNet weights not in the torch hub cache (%s): random initialisation "
                        "(pass a weights file, or allow the download)", path)
    elif config.weights:
        path = Path(config.weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        log.info("random initialisation (%s)", config.init)
    if state is not None:
        keep_fc = config.classifier_init == "torchvision"
        own = {k: v for k, v in state.items()
               if k.startswith("features.") or (keep_fc and k.startswith("classifier.") and not k.startswith("classifier.6."))}
        missing = model.load_state_dict(own, strict=False)
        log.info("loaded ImageNet weights into %d tensors (%d left at initialisation)", len(own), len(missing.missing_keys))
    return model

