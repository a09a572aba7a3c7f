"""The book's headline forecast, end to end: FlareRateNet on independent simulated Suns, plus the regional flare record.

On a simulated store (the *reported* Sun), :func:`train_headline`

1. simulates further Suns of the same configuration with other seeds (:func:`independent_suns`): the
   ``train_seeds`` to train on and one ``calibration_seed`` Sun that is neither trained on nor reported;
2. trains one :class:`~flarelib.model.network.FlareRateNet` per model seed on the training Suns
   (:func:`~flarelib.model.training.train_independent`: final epoch, its level refitted on the calibration Sun) and
   scores it on every fold of the reported Sun, which it never saw;
3. fits the regional flare record's :class:`~flarelib.model.history.HistoryHead` on the calibration Sun in each
   design of :data:`~flarelib.model.history.HEAD_DESIGNS`, the reported design chosen by cross-validation there,
   and the **no-image control** (the same head on a flat map: the regional flare record alone).

Nothing is chosen on the reported Sun. The result holds per-fold prediction frames in
:func:`~flarelib.verify.evaluation.read_predictions`' format, ready for
:func:`~flarelib.verify.evaluation.score_table`. A rerun with ``resume`` reuses the Suns, the trained networks and
their rate maps when their configuration matches, and retrains what does not.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.store import open_store
from ..errors import CheckpointError, InputError
from ..sim.simulator import SimConfig, simulate_to_store
from ..verify.evaluation import read_predictions
from ..verify.metrics import hss, roc_auc, tss
from .checkpoint import load_checkpoint, model_from_checkpoint
from .history import (
    HEAD_DESIGNS,
    HistoryHead,
    cached_log_rate_maps,
    calibration_cv_tss,
    cell_flare_history,
    fit_history_head,
    flat_log_rates,
    frames_with_probabilities,
)
from .training import TrainConfig, train_independent

__all__ = ["HeadlineConfig", "HeadlineModel", "Headline", "independent_suns", "train_headline", "score_run", "record_control",
           "check_rate_maps", "FOLDS", "FLARE_RECORD"]

FOLDS = (1, 2, 3, 4)
#: Name of the no-image control: the history head on a flat map (every on-disk cell alike).
FLARE_RECORD = "regional flare record alone (flat map, no image)"


def _seeds(value) -> tuple[int, ...]:
    """Seeds from a tuple or a comma-separated string (papermill parameters are strings)."""
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    elif isinstance(value, (int, np.integer)):  # papermill passes "-p headline_model_seeds 0" as an int
        value = [value]
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class HeadlineConfig:
    """What the headline forecast is trained on and how long.

    Attributes
    ----------
    train_seeds : tuple of int
        Simulator seeds of the Suns trained on (same configuration as the reported store, other seeds).
    train_cadence_h : float, optional
        Hours between the training Suns' frames (``None``: the reported store's cadence). Consecutive frames of a
        region a few hours apart add little, and a Sun simulated at four times the cadence costs a quarter as much
        as subsampling one: the same regions and flares, a quarter of the frames.
    calibration_seed : int
        Seed of the Sun the rate level and the flare-record head are fitted on (neither trained on nor reported).
    model_seeds : tuple of int
        One network per seed (initialisation and shuffle); every seed is reported, none chosen.
    epochs : int
        Training epochs; the final epoch is reported.
    width : int
        Channels of the network's first learned stage (doubling at each of its stages).
    max_batches_per_epoch : int, optional
        Cut epochs short (smoke runs only); ``None`` for full epochs.
    score_every_epoch : bool
        Score every epoch on the reported Sun for the training report (scores only: nothing is chosen by them);
        ``False`` scores the final epoch only, one pass over the reported Sun per epoch less.
    device : str
        ``"auto"`` (CUDA, then MPS, else CPU) or a torch device name.
    """

    train_seeds: tuple[int, ...] = (1, 2, 3)
    train_cadence_h: float | None = None
    calibration_seed: int = 4
    model_seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 4
    width: int = 16
    max_batches_per_epoch: int | None = None
    score_every_epoch: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_seeds", _seeds(self.train_seeds))
        object.__setattr__(self, "model_seeds", _seeds(self.model_seeds))
        for ok, msg in ((len(self.train_seeds) > 0, "train_seeds: give at least one seed"),
                        (len(set(self.train_seeds)) == len(self.train_seeds), f"train_seeds {self.train_seeds}: a seed twice"),
                        (len(self.model_seeds) > 0, "model_seeds: give at least one seed"),
                        (self.calibration_seed not in self.train_seeds, f"calibration_seed {self.calibration_seed}: also a training seed"),
                        (self.train_cadence_h is None or float(self.train_cadence_h) > 0,
                         f"train_cadence_h must be > 0 hours, got {self.train_cadence_h}"),
                        (int(self.epochs) >= 1, f"epochs must be >= 1, got {self.epochs}")):
            if not ok:
                raise InputError(f"HeadlineConfig: {msg}")

    def train_config(self, seed: int) -> TrainConfig:
        """The :meth:`~flarelib.model.training.TrainConfig.ratenet` recipe of one model seed."""
        cfg = TrainConfig.ratenet(seed=int(seed), epochs=int(self.epochs), device=self.device,
                                  max_batches_per_epoch=self.max_batches_per_epoch)
        return replace(cfg, model=replace(cfg.model, width=int(self.width)))

    def describe(self) -> str:
        """One line for tables: what the networks were trained on."""
        every = "" if self.train_cadence_h is None else f" ({float(self.train_cadence_h):g}-h cadence)"
        return (f"ratenet, trained on {len(self.train_seeds)} independent Suns{every}, {self.epochs} epochs, "
                "level refitted on a further Sun")


@dataclass
class HeadlineModel:
    """One model seed of the headline: the network alone and with the flare record, fold by fold."""

    seed: int
    run_dir: Path
    image_only: list[pd.DataFrame]
    designs: dict[str, list[pd.DataFrame]]
    heads: dict[str, HistoryHead]
    calibration_cv_tss: dict[str, float]
    chosen: str
    log: pd.DataFrame
    train_frames: int = 0
    wall_s: float = 0.0
    log_rates: np.ndarray | None = None
    class_weights: tuple[float, float] = (1.0, 1.0)

    @property
    def with_record(self) -> list[pd.DataFrame]:
        """The chosen design's per-fold predictions."""
        return self.designs[self.chosen]


@dataclass
class Headline:
    """:func:`train_headline`'s result: every model seed and the no-image control, on the reported Sun's folds."""

    config: HeadlineConfig
    store_fingerprint: str
    size_px: int
    models: list[HeadlineModel]
    record_alone: list[pd.DataFrame]
    record_head: HistoryHead
    suns: dict[str, list[str]] = field(default_factory=dict)
    history: np.ndarray | None = None

    def _head(self, model: HeadlineModel, record: bool) -> tuple[HistoryHead, np.ndarray]:
        """The chosen head and the flare record, or the identity head and no record (the network alone)."""
        return (model.heads[model.chosen], self.history) if record else (HistoryHead(), np.zeros_like(self.history))

    def rate_maps(self, model: HeadlineModel, record: bool = True) -> np.ndarray:
        """(N, G, G) cell log-rates of one model seed on every instant of the reported store (rows of its index),
        with the flare record through its chosen head, or the network's alone."""
        head, hist = self._head(model, record)
        return head.log_rate_maps(model.log_rates, hist)

    def probabilities(self, model: HeadlineModel, record: bool = True) -> np.ndarray:
        """(N,) full-disk probabilities of one model seed on every instant of the reported store."""
        head, hist = self._head(model, record)
        return head.probability(model.log_rates, hist)

    def forecasts(self, designs: bool = False) -> dict[str, tuple[list[pd.DataFrame], list[float]]]:
        """``{name: (frames, thresholds)}`` for :func:`~flarelib.verify.evaluation.score_table`, all at 0.5.

        Per model seed: the network alone and with the flare record (the chosen design; every design with
        ``designs``); then the flare record alone.
        """
        out = {}
        for m in self.models:
            out[f"FlareRateNet alone, model seed {m.seed}"] = (m.image_only, [0.5] * len(m.image_only))
            for d, frames in m.designs.items():
                if designs or d == m.chosen:
                    out[f"FlareRateNet + flare record ({d}), model seed {m.seed}"] = (frames, [0.5] * len(frames))
        out[FLARE_RECORD] = (self.record_alone, [0.5] * len(self.record_alone))
        return out

    def seed_rows(self) -> pd.DataFrame:
        """Per model seed and fold, at 0.5: TSS, HSS, AUC, share forecast "flare", in ``seeds.csv``'s columns."""
        rows = []
        for m in self.models:
            for kind, frames, conf in (("image", m.image_only, self.config.describe()),
                                       ("record", m.with_record, self.config.describe()
                                        + ", + regional 24-h flare history fitted on that Sun (design chosen there)")):
                for f in frames:
                    y, p = f["target"].to_numpy(int), f["flare_prob"].to_numpy(float)
                    yes = (p >= 0.5).astype(int)
                    rows.append({"configuration": f"{conf}, {self.size_px} px", "store": self.store_fingerprint, "seed": m.seed,
                                 "fold": int(f["partition"].iloc[0]), "epochs": self.config.epochs, "tss": tss(y, yes),
                                 "hss": hss(y, yes), "forecast_positive": float(yes.mean()), "collapsed": bool(yes.all() or not yes.any()),
                                 "auc": roc_auc(y, p), "kind": kind})
        return pd.DataFrame(rows)


def independent_suns(store, seeds, work_dir, cadence_h: float | None = None, progress: bool = True) -> list[Path]:
    """Simulate the reported store's configuration with other ``seeds`` into ``work_dir/sun{seed}`` (resumed when there).

    ``cadence_h`` simulates the same period at another cadence (folder ``sun{seed}_{cadence}h``); ``None`` keeps the
    store's.

    Raises
    ------
    InputError
        ``store`` is not a simulated store, or a seed is the store's own.
    """
    st = open_store(store)
    made = json.loads((st.path / "inputs.json").read_text()) if (st.path / "inputs.json").is_file() else {}
    if "simulator" not in made:
        raise InputError(f"{st.path}: not a simulated store (independent Suns need the simulator's configuration)")
    sim = SimConfig(**made["simulator"])
    if cadence_h is not None:
        sim = replace(sim, cadence_h=float(cadence_h))
    tag = "" if sim.cadence_h == float(made["simulator"]["cadence_h"]) else f"_{sim.cadence_h:g}h"
    out = []
    for s in _seeds(seeds):
        if s == sim.seed:
            raise InputError(f"seed {s}: the reported store's own seed (its Sun would be trained on)")
        path = Path(work_dir) / f"sun{s}{tag}"
        want = asdict(replace(sim, seed=s))
        done = path / "store.json"
        complete = done.is_file() and json.loads(done.read_text()).get("complete")
        inputs = json.loads((path / "inputs.json").read_text()).get("simulator") if (path / "inputs.json").is_file() else None
        if not (complete and inputs == want):  # missing, unfinished, or made with another configuration: simulated afresh
            simulate_to_store(replace(sim, seed=s), path, progress=progress, overwrite=inputs is not None and inputs != want)
        out.append(path)
    return out


def _finished_run(run: Path, cfg: TrainConfig, cal_fingerprint: str, train_fps: set[str], ev_fingerprint: str) -> bool:
    """A finished run of this configuration, trained on these Suns, refitted on this calibration Sun, scored on this store."""
    try:
        ck = load_checkpoint(run / "model.pt")
        refit = json.loads((run / "rate_refit.json").read_text())
        info = json.loads((run / "headline_run.json").read_text())
    except (OSError, ValueError, KeyError, CheckpointError):  # missing or unreadable: retrained
        return False
    saved, want = json.loads(ck["config"]), json.loads(json.dumps(cfg.to_dict()))
    if want["model"].get("disk") is None:  # training fills in the evaluated store's disk
        saved["model"]["disk"] = None
    return (saved == want and refit.get("calibration_fingerprint") == cal_fingerprint and info.get("reported_fingerprint") == ev_fingerprint
            and set(info.get("train_fingerprints", [])) == train_fps and all((run / f"fold{k}" / "predictions.csv").is_file() for k in FOLDS))


def train_headline(store, config: HeadlineConfig, work_dir, resume: bool = True, progress: bool = True) -> Headline:
    """Train and score the headline forecast on ``store`` (simulated); see the module docstring.

    Parameters
    ----------
    store : str or Path
        The reported Sun's store (simulated: its configuration is re-simulated with other seeds).
    config : HeadlineConfig
    work_dir : str or Path
        Where the Suns (``sun{seed}/``) and the runs (``model{seed}/``) go.
    resume : bool
        Reuse Suns, runs and rate maps that match (else every network is retrained).
    """
    t_all = time.perf_counter()
    ev = open_store(store)
    work = Path(work_dir)
    train_paths = independent_suns(ev.path, config.train_seeds, work, cadence_h=config.train_cadence_h, progress=progress)
    cal_path, = independent_suns(ev.path, (config.calibration_seed,), work, progress=progress)
    trains, cal = [open_store(p) for p in train_paths], open_store(cal_path)
    train_fps = {t.fingerprint for t in trains}
    hist_ev, hist_cal = (cell_flare_history(s.index, pd.read_csv(s.path / "catalog.csv"), s.size_px) for s in (ev, cal))
    n_train = int(sum(len(t.index) for t in trains))
    models, control = [], None
    stems: dict = {}  # the fixed stem's output on every Sun, computed once for all model seeds
    for seed in config.model_seeds:
        cfg = config.train_config(seed)
        run = work / f"model{seed}"
        t0 = time.perf_counter()
        if not (resume and _finished_run(run, cfg, cal.fingerprint, train_fps, ev.fingerprint)):
            (run / "headline_run.json").unlink(missing_ok=True)  # written again only when this run is complete
            train_independent(train_paths, ev.path, cfg, run, overwrite=True, progress=progress, calibration_store=cal_path,
                              score_every_epoch=config.score_every_epoch, stem_cache=stems)
            (run / "headline_run.json").write_text(json.dumps({"headline": asdict(config), "train_fingerprints": sorted(train_fps),
                                                                "reported_fingerprint": ev.fingerprint, "train_frames": n_train}, indent=1))
        m = score_run(run, int(seed), ev, cal, hist_ev, hist_cal, progress=progress)
        m.train_frames, m.wall_s = n_train, time.perf_counter() - t0
        models.append(m)
        if control is None:
            control, record_alone = record_control(ev, cal, hist_ev, hist_cal, m.class_weights, m.image_only)
    headline = Headline(config=config, store_fingerprint=ev.fingerprint[:16], size_px=ev.size_px, models=models,
                        record_alone=record_alone, record_head=control,
                        suns={"train": [str(p) for p in train_paths], "calibration": [str(cal_path)]}, history=hist_ev)
    (work / "headline.json").write_text(json.dumps({"config": asdict(config), "store": ev.fingerprint[:16],
                                                   "seconds": round(time.perf_counter() - t_all, 1),
                                                   "models": [{"seed": m.seed, "chosen": m.chosen, "calibration_cv_tss": m.calibration_cv_tss,
                                                               "heads": {d: h.to_dict() for d, h in m.heads.items()}} for m in models],
                                                   "record_head": control.to_dict()}, indent=1))
    return headline


def score_run(run: Path, seed: int, ev, cal, hist_ev: np.ndarray, hist_cal: np.ndarray, progress: bool = True) -> HeadlineModel:
    """One trained run (``train_independent`` with a calibration Sun) with the flare-record head in every design.

    Reads the run's predictions, rate maps (:func:`~flarelib.model.history.cached_log_rate_maps`, checked against the
    predictions) and class weights; fits each design of :data:`~flarelib.model.history.HEAD_DESIGNS` on the
    calibration store ``cal``, the reported one chosen by cross-validation there, and applies them to ``ev``.
    ``hist_ev``, ``hist_cal``: :func:`~flarelib.model.history.cell_flare_history` of the two stores.

    Raises
    ------
    InputError
        The run's level was refitted on another store than ``cal``.
    """
    refit = json.loads((run / "rate_refit.json").read_text())
    if refit["calibration_fingerprint"] != cal.fingerprint:
        raise InputError(f"{run}: its level was refitted on another Sun than {cal.path}")
    weights = tuple(refit["class_weights"])
    template = [read_predictions(run / f"fold{k}" / "predictions.csv") for k in FOLDS]
    model, _ = model_from_checkpoint(run / "model.pt")
    lr_ev, lr_cal = cached_log_rate_maps(model, ev, run, progress=progress), cached_log_rate_maps(model, cal, run, progress=progress)
    check_rate_maps(run, lr_ev, ev, template)
    y_cal = cal.index["target"].to_numpy(int)
    # the design is chosen on the calibration Sun (heads fitted on three of its partitions, scored on the fourth)
    cv = {d: calibration_cv_tss(lr_cal, hist_cal, cal.index, weights, fit) for d, fit in HEAD_DESIGNS.items()}
    heads = {d: fit_history_head(lr_cal, hist_cal, y_cal, weights, fit_image_weight=fit) for d, fit in HEAD_DESIGNS.items()}
    designs = {d: frames_with_probabilities(ev, h.probability(lr_ev, hist_ev), template) for d, h in heads.items()}
    return HeadlineModel(seed=seed, run_dir=run, image_only=template, designs=designs, heads=heads, calibration_cv_tss=cv,
                         chosen=max(cv, key=cv.get), log=pd.read_csv(run / "log.csv"), log_rates=lr_ev, class_weights=weights)


def record_control(ev, cal, hist_ev: np.ndarray, hist_cal: np.ndarray, class_weights, template: list[pd.DataFrame]
                   ) -> tuple[HistoryHead, list[pd.DataFrame]]:
    """The no-image control: the flare-record head on a flat map, fitted on ``cal``, and its per-fold predictions on ``ev``."""
    g = hist_ev.shape[-1]
    head = fit_history_head(flat_log_rates(cal, g, cal.size_px // g), hist_cal, cal.index["target"].to_numpy(int), class_weights,
                            fit_image_weight=False)
    return head, frames_with_probabilities(ev, head.probability(flat_log_rates(ev, g, ev.size_px // g), hist_ev), template)


def check_rate_maps(run: Path, log_rates: np.ndarray, store, template: list[pd.DataFrame]) -> None:
    """The rate maps must reproduce the run's written predictions (else they belong to another network or store)."""
    alone = frames_with_probabilities(store, HistoryHead().probability(log_rates, np.zeros((len(log_rates), 2) + log_rates.shape[1:])),
                                      template)
    gap = np.abs(pd.concat(alone)["flare_prob"].to_numpy() - pd.concat(template)["flare_prob"].to_numpy())
    # written predictions may come from bfloat16 training (measured: mean 2e-4, max 4e-3 against fp32 maps)
    if gap.mean() > 1e-3 or gap.max() > 1e-2:
        raise RuntimeError(f"{run}: the rate maps give probabilities {gap.mean():.4f} (mean), {gap.max():.4f} (max) "
                           "away from its written predictions")
