"""Model cards: what a checkpoint is, what it was trained on, and how well it verified.

Every checkpoint that reports a model carries a :class:`ModelCard` in its metadata record, written when the
model is chosen, and every forecast prints it (text: one line; JSON: an object). It says what an operations desk
needs before it trusts a number: the architecture and profile, the image size, the training data (simulated or
real, the instrument, the period, the store's fingerprint), the event forecast, the calibration, the decision
threshold and how it was chosen, and the model's verified skill on instants it never trained on (fold-mean TSS
and the BSS, with 95 % 7-day block-bootstrap intervals).

The *domain* of the training data (:func:`store_domain`) is what the forecast's domain guard compares with the
input magnetogram's: a model trained on the simulator's Sun is not a forecast of the real one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..data.store import Store
from ..verify.metrics import brier_skill_score, roc_auc, skill_scores
from ..verify.uncertainty import bootstrap_scores

__all__ = ["ModelCard", "make_card", "store_domain", "SIMULATED", "REAL", "CARD_BOOTSTRAP"]

#: Training-data domains.
SIMULATED, REAL = "simulated", "real"
#: Bootstrap resamples of the card's intervals (a quarter of a second on a fold of 5,000 instants).
CARD_BOOTSTRAP = 200
ARCHITECTURES = {"alexnet": "FullDiskAlexNet", "ratenet": "FlareRateNet"}


def store_domain(store: Store) -> tuple[str, str]:
    """(domain, instrument) of a store's images: ``("simulated", "SIM")``, ``("real", <instrument>)`` or ``("unknown", "")``.

    A store written by the simulator, or prepared from files whose header names the simulator (their instrument,
    recorded by ``prepare``, holds "SIM"), is simulated; one prepared from files of a named instrument is real; a
    store that records no instrument (prepared before stores recorded it) is of unknown domain, which a forecast
    refuses unless the domain shift is allowed.
    """
    man = store.manifest
    if man.get("source") == "simulator":
        return SIMULATED, "SIM"
    instrument = str(man.get("instrument", "") or "")
    if not instrument:  # prepared before stores recorded it, or from files whose headers name none
        return "unknown", ""
    return (SIMULATED if "SIM" in instrument.upper() else REAL), instrument


@dataclass(frozen=True)
class ModelCard:
    """The record a forecast carries about its model.

    Attributes
    ----------
    architecture, profile : str
    image_size_px : int
        The input size the model was trained on.
    training_data : {'simulated', 'real'}
    instrument : str
    period_start, period_end : str
        First and last training instant (ISO, UTC).
    store_fingerprint : str
        The training store's fingerprint (first 16 hex digits).
    event : str
        The event forecast, in words.
    calibration : str or None
        The calibrator's kind, or None (the network's probabilities as trained).
    decision_threshold : float
        Probability at and above which the forecast says "yes".
    threshold_rule : str
        How that threshold was chosen, in words.
    validation : str
        Which instants the skill below was measured on.
    n_validation : int
    tss, tss_ci, bss, bss_ci, auc
        Fold-mean TSS at ``decision_threshold``, the Brier skill score against the validation instants' own base
        rate, ROC AUC; 95 % 7-day block-bootstrap intervals.
    """

    architecture: str
    profile: str
    image_size_px: int
    training_data: str
    instrument: str
    period_start: str
    period_end: str
    store_fingerprint: str
    event: str
    calibration: str | None
    decision_threshold: float
    threshold_rule: str
    validation: str
    n_validation: int
    tss: float
    tss_ci: list = field(default_factory=list)
    bss: float = float("nan")
    bss_ci: list = field(default_factory=list)
    auc: float = float("nan")

    def one_line(self) -> str:
        """The card in one line, for the text output of a forecast."""
        cal = f"calibrated ({self.calibration})" if self.calibration else "uncalibrated"
        ci = lambda v: f" [{v[0]:.2f}, {v[1]:.2f}]" if len(v) == 2 and np.all(np.isfinite(v)) else ""  # noqa: E731
        source = self.training_data if self.instrument in ("SIM", "") else f"{self.training_data} {self.instrument}"
        return (f"model: {self.architecture} ({self.profile}, {self.image_size_px} px), trained on {source} data "
                f"{self.period_start[:10]} to {self.period_end[:10]} (store {self.store_fingerprint}); "
                f"{cal}; yes at P >= {self.decision_threshold:.3g} ({self.threshold_rule}); verified on {self.validation}: "
                f"TSS {self.tss:.2f}{ci(self.tss_ci)}, BSS {self.bss:+.2f}{ci(self.bss_ci)}, AUC {self.auc:.2f}")

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("tss", "bss", "auc", "decision_threshold"):
            d[k] = _round(d[k])
        d["tss_ci"], d["bss_ci"] = [_round(v) for v in d["tss_ci"]], [_round(v) for v in d["bss_ci"]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelCard:
        d = dict(d)
        for k in ("tss", "bss", "auc"):
            d[k] = float("nan") if d.get(k) is None else float(d[k])
        d["tss_ci"] = [float("nan") if v is None else float(v) for v in d.get("tss_ci", [])]
        d["bss_ci"] = [float("nan") if v is None else float(v) for v in d.get("bss_ci", [])]
        return cls(**d)


def _round(v, digits: int = 4):
    """A number for JSON: rounded, and None where it is not finite (bare NaN is not valid JSON)."""
    v = float(v)
    return round(v, digits) if np.isfinite(v) else None


def make_card(*, arch: str, profile: str, image_size_px: int, store: Store, train_index: pd.DataFrame, event: str,
              calibration: str | None, decision_threshold: float, threshold_rule: str, validation: str,
              frames: list[pd.DataFrame], n_boot: int = CARD_BOOTSTRAP, seed: int = 0) -> ModelCard:
    """A model card from the model's validation predictions.

    Parameters
    ----------
    store : Store
        The training store (its domain, instrument and fingerprint).
    train_index : DataFrame
        The training instants (their period).
    frames : list of DataFrame
        Validation predictions, one per fold (``timestamp, flare_prob, target``): the issued probabilities
        (calibrated ones when the model carries a calibrator), scored at ``decision_threshold``.
    """
    domain, instrument = store_domain(store)
    t = pd.to_datetime(train_index["timestamp"])
    y = np.concatenate([f["target"].to_numpy(int) for f in frames])
    p = np.concatenate([f["flare_prob"].to_numpy(float) for f in frames])
    tss = [skill_scores(f["target"].to_numpy(int), f["flare_prob"].to_numpy(float) >= decision_threshold)["tss"] for f in frames]
    ci = bootstrap_scores(frames, decision_threshold, n_boot=n_boot, seed=seed) if n_boot and len(np.unique(y)) == 2 else {}
    nan2 = [float("nan"), float("nan")]
    return ModelCard(architecture=ARCHITECTURES.get(arch, arch), profile=profile, image_size_px=int(image_size_px),
                     training_data=domain, instrument=instrument, period_start=f"{t.min():%Y-%m-%dT%H:%M:%SZ}",
                     period_end=f"{t.max():%Y-%m-%dT%H:%M:%SZ}", store_fingerprint=store.fingerprint[:16], event=event,
                     calibration=calibration, decision_threshold=float(decision_threshold), threshold_rule=threshold_rule,
                     validation=validation, n_validation=int(len(y)), tss=float(np.nanmean(tss)), tss_ci=ci.get("tss_ci", nan2),
                     bss=brier_skill_score(y, p), bss_ci=ci.get("bss_ci", nan2), auc=roc_auc(y, p))

