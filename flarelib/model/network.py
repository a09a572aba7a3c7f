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
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from ..errors import InputError
from ..io.magnetogram import GAUSS_CLIP, ZERO_GAUSS_VALUE

__all__ = ["ModelConfig", "FullDiskAlexNet", "FlareRateNet", "build_model", "FLARE", "imagenet_weights_path", "ARCHITECTURES"]

log = logging.getLogger("flarelib.model")

#: Index of the flare class in the model's output.
FLARE = 1
#: The networks :func:`build_model` makes: the paper's AlexNet, and the CPU-budget rate-map network.
STAGE2 = 1
#: First layers of :class:`FlareRateNet`: learned from the bytes, or Schrijver's masks (:class:`SchrijverStem`).
STEMS = ("learned", "schrijver")
#: Fixed gains of the Schrijver stem's channels: mean B, mean |B|, strong +, strong -, inversion-line area, its maximum.
STEM_GAINS = (1.0, 1.0, 10.0, 10.0, 300.0, 30.0)
#: Largest log-rate of a cell (e^6: 400 flares a day), a guard against overflow.
MAX_LOG_RATE = 6.0
ARCHITECTURES = ("alexnet", "ratenet")


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
    arch : {'alexnet', 'ratenet'}
        :class:`FullDiskAlexNet` (the paper's network) or :class:`FlareRateNet` (a full-resolution network for CPU
        budgets whose full-disk probability is built from a local map of flare rates); ``weights``, ``init``,
        ``classifier_init`` and ``head`` apply to AlexNet only.
    width : int
        Channels of :class:`FlareRateNet`'s first stage (doubled at every stage after it).
    stem : {'learned', 'schrijver'}
        :class:`FlareRateNet`'s first layer: learned from the bytes, or the fixed :class:`SchrijverStem`.
    disk : (float, float, float) or None
        :class:`FlareRateNet`'s disk: centre x, y and radius as fractions of the image width, from the store's
        header geometry (training fills it in). Off-disk pixels are set to 0 G before the first layer: the sky
        is byte 0, which reads as saturated negative field.
    """

    weights: str | None = None
    init: str = "torchvision"
    input_scaling: str = "unit"
    classifier_init: str = "torchvision"
    dropout: float = 0.5
    head: str = "alexnet"
    allow_download: bool = False
    arch: str = "alexnet"
    width: int = 8
    stem: str = "learned"
    disk: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.disk is not None:  # from JSON a list: one value, one form
            object.__setattr__(self, "disk", tuple(float(v) for v in self.disk))


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


def _scale_u8(x: torch.Tensor, input_scaling: str) -> torch.Tensor:
    if not x.is_floating_point():
        x = x.float()
    return x / 255.0 if input_scaling == "unit" else (x - ZERO_GAUSS_VALUE) / ZERO_GAUSS_VALUE


def _dilate3(m: torch.Tensor) -> torch.Tensor:
    """3 x 3 grey dilation (maximum over the 8-neighbourhood), as two separable passes (much faster than max_pool2d)."""
    p = F.pad(m, (1, 1, 1, 1))
    h = torch.maximum(torch.maximum(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return torch.maximum(torch.maximum(h[..., :-2, :], h[..., 1:-1, :]), h[..., 2:, :])


class SchrijverStem(nn.Module):
    """A fixed (not learned) first layer: Schrijver's (2007) strong-field masks at full resolution, pooled 4 x 4.

    At full resolution (512 px: 2.9 Mm per pixel on the simulated disk) it forms soft masks of strong positive and
    strong negative field, ``sigmoid((+-B - 150 G) / 25 G)``, and the soft strong-field polarity-inversion mask:
    strong field of one sign within one pixel (a 3 x 3 dilation, as Schrijver's R) of strong field of the other.
    Pooled over 4 x 4 pixels it returns six channels: the mean of ``B / 250 G`` and of ``|B| / 250 G``, the strong
    positive and negative areas, the inversion-line area and its maximum, each times a fixed gain
    (:data:`STEM_GAINS`). Soft thresholds keep the stem
    differentiable, so gradient attributions pass through it. This is where the stem differs from a learned one:
    it knows what a polarity-inversion line is; everything after it is learned.
    """

    channels = 6
    stride = 4

    def __init__(self, strong_gauss: float = 150.0, softness_gauss: float = 25.0) -> None:
        super().__init__()
        self.strong_gauss = strong_gauss
        self.softness_gauss = softness_gauss
        # fixed gains that bring each channel's active-region values near 1 (the inversion-line area of a 4 x 4 block
        # is a few thousandths on average): measured, without them the learned layers found the inversion lines later
        self.register_buffer("gain", torch.tensor(STEM_GAINS).view(1, -1, 1, 1), persistent=False)

    def forward(self, x_u8: torch.Tensor) -> torch.Tensor:
        b = (x_u8.float() - ZERO_GAUSS_VALUE) * (GAUSS_CLIP / ZERO_GAUSS_VALUE)
        pos = torch.sigmoid((b - self.strong_gauss) / self.softness_gauss)
        neg = torch.sigmoid((-b - self.strong_gauss) / self.softness_gauss)
        pil = torch.maximum(pos * _dilate3(neg), neg * _dilate3(pos))
        k = self.stride
        # pooled one map at a time: a concatenation at full resolution costs more than the pooling
        maps = (b / GAUSS_CLIP, b.abs() / GAUSS_CLIP, pos, neg, pil)
        pooled = torch.cat([F.avg_pool2d(m, k) for m in maps] + [F.max_pool2d(pil, k)], dim=1)
        return pooled * self.gain.to(pooled.device)


class FlareRateNet(nn.Module):
    """A full-disk network whose probability is built from a local map of flare rates (region forecasts by construction).

    Kilogauss umbrae of opposite sign a few megametres apart, the polarity-inversion lines that drive the flares, are
    one or two pixels apart at 512 px, so the first layer works at full resolution (3 x 3, stride 2). Five stages of
    3 x 3 convolutions, batch norm and ReLU, each halving the size and doubling the channels (``width`` first), bring
    the image to a grid of cells of 32 input pixels (16 x 16 at 512 px, about 90 Mm per cell on the simulated disk).
    A 1 x 1 convolution gives each cell a log-rate ``l_i``; its rate ``lambda_i = exp(l_i)`` is the expected number
    of >= M1.0 flares the cell starts in the next 24 h. (The log of the disk's rate is then the log-sum-exp of the
    cells' log-rates, whose gradient never vanishes; a softplus rate stalled: measured, every cell driven far
    below zero, where its gradient is nil, and folds collapsed.) Flares from the cells are independent Poisson events, so the
    full-disk probability is ``p = 1 - exp(-sum_i lambda_i)``, the noisy-OR ``1 - prod_i (1 - p_i)`` of the cells'
    own probabilities ``p_i = 1 - exp(-lambda_i)``.

    As :class:`FullDiskAlexNet`, ``forward`` returns two-class logits, here the exact log-probabilities
    ``(-Lambda, log(1 - exp(-Lambda)))``, so that the cross-entropy, the attribution methods and
    :meth:`predict_proba` work unchanged; :meth:`rate_map` returns the cells' rates.
    """

    #: Input pixels per cell of the rate map (five stride-2 stages).
    CELL_PX = 32

    def __init__(self, input_scaling: str = "centered", width: int = 8, base_rate: float = 0.25, stem: str = "learned",
                 disk: tuple[float, float, float] | None = None) -> None:
        super().__init__()
        self.disk = None if disk is None else tuple(float(v) for v in disk)
        if stem not in STEMS:
            raise InputError(f"stem must be one of {STEMS}, got {stem!r}")
        if input_scaling not in ("unit", "centered"):
            raise InputError(f"input_scaling must be 'unit' or 'centered', got {input_scaling!r}")
        if not 1 <= width <= 256:
            raise InputError(f"width must be 1 to 256 channels, got {width}")
        self.input_scaling = input_scaling
        self.stem = SchrijverStem() if stem == "schrijver" else None
        layers, c_in = [], 1 if self.stem is None else SchrijverStem.channels
        n_stages = 5 if self.stem is None else 3  # down to cells of 32 input pixels
        for stage in range(n_stages):
            c_out = width * 2 ** min(stage, 3)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if stage >= STAGE2 or self.stem is not None:  # a second, stride-1 convolution where the maps are small enough to afford it
                layers += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.rate = nn.Conv2d(c_in, 1, 1)
        # start at the base rate spread over the disk's cells: no early drift of the 0.5 threshold
        # (measured: started at 0.5, the class-weighted loss's prior, one run trained to loss 0.64 yet scored AUC 0.55)
        nn.init.zeros_(self.rate.weight)
        nn.init.constant_(self.rate.bias, math.log(-math.log1p(-base_rate) / 200.0))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """8-bit units (uint8 or float) to the network's input scale."""
        return _scale_u8(x, self.input_scaling)

    def on_disk(self, size_px: int, device=None) -> torch.Tensor:
        """Boolean mask (S, S) of the pixels inside the disk (all True without a disk)."""
        if self.disk is None:
            return torch.ones(size_px, size_px, dtype=torch.bool, device=device)
        cx, cy, r = (v * size_px for v in self.disk)
        c = torch.arange(size_px, device=device, dtype=torch.float32)
        return (c.view(1, -1) - cx) ** 2 + (c.view(-1, 1) - cy) ** 2 <= r * r

    def blank_sky(self, x: torch.Tensor) -> torch.Tensor:
        """The image with off-disk pixels set to 0 G (8-bit units, float)."""
        x = x.float()
        if self.disk is None:
            return x
        return torch.where(self.on_disk(x.shape[-1], x.device), x, torch.full_like(x, ZERO_GAUSS_VALUE))

    @property
    def has_fixed_stem(self) -> bool:
        """Whether the first layer is fixed (the Schrijver stem): its output can then be computed once per image."""
        return self.stem is not None

    def stem_features(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed part of the network: the sky blanked, then the stem (or the input scaling without one)."""
        x = self.blank_sky(x)
        return self.scale(x) if self.stem is None else self.stem(x)

    def log_rates_from_stem(self, z: torch.Tensor) -> torch.Tensor:
        """The learned part: cell log-rates (N, 1, H/32, W/32) of :meth:`stem_features` ``z``."""
        h = self.features(z)
        with torch.autocast(h.device.type, enabled=False):  # the log-rates in float32: bfloat16 rounds away their differences
            return self.rate(h.float()).clamp(max=MAX_LOG_RATE)

    def log_rate_map(self, x: torch.Tensor) -> torch.Tensor:
        """Each cell's log-rate ``l_i`` (N, 1, H/32, W/32), natural log of its expected number of flares."""
        return self.log_rates_from_stem(self.stem_features(x))

    def rate_map(self, x: torch.Tensor) -> torch.Tensor:
        """Expected number of >= M1.0 flares starting in the next 24 h in each cell (N, 1, H/32, W/32)."""
        return torch.exp(self.log_rate_map(x))

    @staticmethod
    def logits_from_log_rates(log_rates: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) of cell log-rates: the log-probabilities of no flare and of a flare on the whole disk."""
        log_total = torch.logsumexp(log_rates.flatten(1), dim=1)
        total = torch.exp(log_total)
        # log(1 - exp(-L)) without cancellation: log(L) + log(expm1(L)/L) for small L
        log_p = torch.where(total < 1e-3, log_total - total / 2, torch.log(-torch.expm1(-total.clamp(min=1e-3))))
        return torch.stack([-total, log_p], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2): the log-probabilities of no flare and of a flare on the whole disk."""
        return self.logits_from_log_rates(self.log_rate_map(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Probability of a flare on the disk, ``1 - exp(-sum of the rates)``."""
        return torch.softmax(self(x), dim=1)[:, FLARE]


class FromStem(nn.Module):
    """A :class:`FlareRateNet` read from its :meth:`~FlareRateNet.stem_features` (the fixed stem computed once).

    Shares the network's parameters: training it trains the network. Its logits equal the network's on the images
    the features were computed from.
    """

    def __init__(self, net: FlareRateNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.logits_from_log_rates(self.net.log_rates_from_stem(z))


def imagenet_weights_path() -> Path:
    """Where torchvision's ImageNet AlexNet weights live in the torch hub cache."""
    url = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _kaiming(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def build_model(config: ModelConfig = ModelConfig()) -> nn.Module:
    """Build a :class:`FullDiskAlexNet` or a :class:`FlareRateNet` (``config.arch``) as configured.

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
    if config.arch == "ratenet":
        if config.weights:
            raise InputError("weights: pretrained weights exist for arch 'alexnet' only")
        return FlareRateNet(input_scaling=config.input_scaling, width=config.width, stem=config.stem, disk=config.disk)
    if config.arch != "alexnet":
        raise InputError(f"arch must be one of {ARCHITECTURES}, got {config.arch!r}")
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

