"""Operational forecasts: the probability of a >= M1.0 flare in the next 24 h for a magnetogram.

Three outputs of one forecast: the native record (:meth:`Forecaster.forecast`: issue time, prediction window,
event definition, probability, decision at a stated threshold, the model card, the model and the input's
identifiers), the CCMC Flare Scoreboard's submission JSON (:func:`scoreboard_submission`, the format the reference
study's deployment emits), and a forecast *series* over a store's instants (:func:`forecast_store`), an archive
that ``flarelib evaluate`` scores.

A model is a forecast of the data it was trained on. Its card says which domain that is (the simulator's Sun or
an instrument's); a magnetogram of another domain is refused (:class:`~flarelib.errors.InputError`, exit 2 from
the CLI) unless the caller allows the domain shift, and then every output says so.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import __version__
from ._fileio import atomic_write_text, sha256_file
from .data.dataset import StoreDataset
from .data.store import open_store
from .errors import InputError, StoreError
from .io.magnetogram import read_magnetogram
from .model.card import REAL, SIMULATED, ModelCard, store_domain
from .model.checkpoint import model_from_checkpoint
from .model.network import FLARE
from .schemas import PREDICTIONS

__all__ = ["Forecaster", "forecast_inputs", "forecast_store", "scoreboard_submission", "scoreboard_submissions", "magnetogram_domain", "PROBABILITY_DIGITS",
           "SERIES_COLUMNS"]

MAGNETOGRAM_SUFFIXES = (".jp2", ".fits", ".fits.gz", ".fts")
#: Decimals of an issued probability: the model's verified skill carries intervals of about +/-0.05, so a third
#: decimal is already finer than anything it can resolve.
PROBABILITY_DIGITS = 3
#: Columns of a forecast series (:func:`forecast_store`): the prediction-file schema ``flarelib evaluate`` reads,
#: then the raw probability and the decision.
SERIES_COLUMNS = ("timestamp", "flare_prob", "target", "max_class", "fl_lon", "fl_lat", "partition", "flare_prob_raw", "decision")
#: The Scoreboard's class of the >= M1.0 event (as the reference study's deployment labels it).
SCOREBOARD_CLASS = "M"


def magnetogram_domain(instrument: str) -> str:
    """``"simulated"`` for the simulator's frames (their header's telescope or instrument names SIM), ``"unknown"``
    for a file whose header names no instrument, else ``"real"``."""
    text = str(instrument or "").strip().upper()
    if text in ("", "UNKNOWN"):
        return "unknown"
    return SIMULATED if "SIM" in text else REAL


def _observatory(instrument: str) -> str:
    """The observatory of a TELESCOP/INSTRUME string (``SDO`` of ``SDO/HMI_FRONT2``)."""
    return str(instrument or "").split("/")[0].strip().upper()


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Forecaster:
    """A trained model ready to forecast.

    The event definition, input size and scaling, the calibrator, the model card and its decision threshold come
    from the checkpoint's metadata record; nothing is assumed.

    Parameters
    ----------
    checkpoint : path-like
        A ``model.pt`` written by :func:`flarelib.model.training.train_fold` or ``train_independent``.
    decision_threshold : float, optional
        Probability at and above which the decision is "yes". Default: the model card's (0.5 for an uncalibrated
        model, as in the paper; chosen on training data for a calibrated one), or 0.5 without a card.
    allow_domain_shift : bool
        Forecast magnetograms of another domain than the training data's (real for a model trained on the
        simulator, or the reverse); the output says so. Without it they are refused.
    """

    def __init__(self, checkpoint: str | Path, decision_threshold: float | None = None, allow_domain_shift: bool = False) -> None:
        if decision_threshold is not None and not 0.0 <= decision_threshold <= 1.0:
            raise InputError(f"--decision-threshold must be in [0, 1], got {decision_threshold}")
        self.checkpoint = Path(checkpoint)
        self.model, self.meta = model_from_checkpoint(self.checkpoint)
        self.calibrator = self.meta.get_calibrator()
        self.card: ModelCard | None = self.meta.get_card()
        self.size_px = self.meta.image_size_px
        if decision_threshold is not None:
            self.decision_threshold, self.threshold_source = float(decision_threshold), "given (--decision-threshold)"
        elif self.card is not None:
            self.decision_threshold, self.threshold_source = self.card.decision_threshold, f"model card: {self.card.threshold_rule}"
        else:
            self.decision_threshold, self.threshold_source = 0.5, "0.5 (the checkpoint has no model card)"
        self.allow_domain_shift = allow_domain_shift
        self.domain, self.instrument = self._training_domain()
        self.sha256 = sha256_file(self.checkpoint)

    def _training_domain(self) -> tuple[str, str]:
        if self.card is not None:
            return self.card.training_data, self.card.instrument
        try:  # a checkpoint written before model cards: its training store, where it is still at hand
            return store_domain(open_store(self.meta.store_path))
        except (StoreError, OSError):
            return "unknown", ""

    def domain_shift(self, instrument: str, where: str) -> str | None:
        """None when a magnetogram of ``instrument`` is in the model's domain; else the words for the shift.

        Raises
        ------
        InputError
            The domains differ (or the model's is unknown) and the shift is not allowed.
        """
        seen = magnetogram_domain(instrument)
        same_source = seen != REAL or _observatory(instrument) == _observatory(self.instrument)
        if self.domain == seen and seen != "unknown" and same_source:
            return None
        if seen == "unknown":
            words = f"{where}: the file's header names no instrument, so whether it is the model's kind of data is unknown"
        elif self.domain == "unknown":
            words = (f"{where}: the checkpoint {self.checkpoint} has no model card and its training store {self.meta.store_path} "
                     f"is not here, so its training data's domain is unknown")
        else:
            words = (f"{where}: a {seen} magnetogram ({instrument}), but the model was trained on {self.domain} data "
                     f"({self.instrument or 'instrument unknown'}, store {self.meta.store_fingerprint[:16]})")
        if not self.allow_domain_shift:
            raise InputError(words + "; --allow-domain-shift forecasts it anyway")
        return words + " (forecast with --allow-domain-shift: its skill there is not verified)"

    def image_tensor(self, path: str | Path):
        """The magnetogram as the model's input (1, 1, S, S) and its metadata."""
        m = read_magnetogram(path, size_px=self.size_px)
        return torch.from_numpy(m.data.astype(np.float32))[None, None], m

    def issued(self, raw: np.ndarray) -> np.ndarray:
        """The issued probabilities of raw network probabilities: calibrated when the checkpoint has a calibrator."""
        raw = np.asarray(raw, float)
        return np.asarray(self.calibrator(raw), float) if self.calibrator else raw

    def probability(self, x: torch.Tensor) -> tuple[float, float]:
        """(issued, raw) flare probability of a model input."""
        raw = float(self.model.predict_proba(x)[0])
        p = float(self.issued(np.array([raw]))[0])
        if not (np.isfinite(p) and 0.0 <= p <= 1.0):
            raise InputError(f"{self.checkpoint}: the model gives probability {p!r} (damaged weights?); no forecast issued")
        return p, raw

    def forecast(self, path: str | Path, issue_time: datetime | None = None) -> dict:
        """Forecast for one magnetogram file (JP2 or FITS): the native record, numbers rounded, units in names."""
        path = Path(path)
        x, m = self.image_tensor(path)
        shift = self.domain_shift(m.meta.instrument, str(path))
        p, raw = self.probability(x)
        obs = m.meta.date_obs.replace(tzinfo=timezone.utc)
        issue = issue_time or obs
        ev = self.meta.event
        return {
            "forecast_type": "full_disk",
            "issue_time": _iso(issue),
            "prediction_window_start": _iso(issue),
            "prediction_window_end": _iso(issue + timedelta(hours=ev.window_h)),
            "event": {"threshold_class": ev.threshold_class, "threshold_flux_wm2": ev.threshold_flux_wm2, "window_h": ev.window_h,
                      "definition": ev.text},
            "probability": round(p, PROBABILITY_DIGITS),
            "probability_raw": round(raw, PROBABILITY_DIGITS),
            "calibrated": self.calibrator is not None,
            "calibration": self.calibrator.kind if self.calibrator else None,
            "decision_threshold": round(self.decision_threshold, PROBABILITY_DIGITS),
            "decision_threshold_source": self.threshold_source,
            "decision": bool(p >= self.decision_threshold),
            "domain_shift": shift,
            "model_card": self.card.to_dict() if self.card else None,
            "model": {"name": self.card.architecture if self.card else type(self.model).__name__, "package": "flarelib",
                      "version": __version__, "checkpoint": str(self.checkpoint), "checkpoint_sha256": self.sha256,
                      "fold": self.meta.fold, "epoch": self.meta.epoch, "selection": self.meta.selection, "profile": self.meta.profile,
                      "input_size_px": self.size_px, "input_scaling": self.meta.model.input_scaling, "trained_on": self.meta.store_path,
                      "training_store_fingerprint": self.meta.store_fingerprint},
            "input": {"path": str(path), "sha256": sha256_file(path), "date_obs": m.meta.date_obs.isoformat(),
                      "instrument": m.meta.instrument, "product": m.meta.product},
        }

    def card_line(self) -> str:
        """The model card in one line (or what is known without one)."""
        if self.card is not None:
            return self.card.one_line()
        return (f"model: {type(self.model).__name__} ({self.meta.profile}, {self.size_px} px), no model card (checkpoint written "
                f"before cards); trained on {self.domain} data, store {self.meta.store_fingerprint[:16]}; skill not recorded")


def forecast_inputs(paths) -> list[Path]:
    """The magnetogram files of files and directories (a directory's files sorted by path)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.name.lower().endswith(MAGNETOGRAM_SUFFIXES)))
        else:
            files.append(p)
    return files


def forecast_store(checkpoint: str | Path, store_path: str | Path, out: str | Path, folds=(1, 2, 3, 4), batch_size: int = 32,
                   resume: bool = True, progress: bool = True, allow_domain_shift: bool = False, chunk: int = 512,
                   decision_threshold: float | None = None) -> pd.DataFrame:
    """A forecast series: the model's forecast for every instant of some folds of a store, written to a CSV archive.

    The rows have :data:`SERIES_COLUMNS`; ``flarelib evaluate`` reads the file as a prediction file. Forecasts are
    issued exactly as the training's validation predictions are made (the store's frames reduced to the model's
    size by area averaging), so a series over a model's validation fold reproduces its validation scores. The
    archive is written every ``chunk`` instants, beside a record (``<out>.json``: the checkpoint's SHA-256, the
    store's fingerprint, the folds and the decision threshold); with ``resume`` a rerun of the same record
    continues after the instants already there, and a rerun of another is refused.

    Raises
    ------
    InputError
        The store's domain is not the model's (unless ``allow_domain_shift``); ``out`` holds a series of another
        model, store, fold or threshold; the model gives a probability that is not a number in [0, 1].
    """
    fc = Forecaster(checkpoint, decision_threshold, allow_domain_shift=allow_domain_shift)
    store = open_store(store_path)
    domain, instrument = store_domain(store)
    fc.domain_shift({SIMULATED: "SIM", "unknown": ""}.get(domain, instrument), str(store_path))
    folds = tuple(int(k) for k in folds)
    ds = StoreDataset(store, folds, fc.size_px)
    idx = ds.index
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give the CSV file of the series")
    record = {"checkpoint_sha256": fc.sha256, "store_fingerprint": store.fingerprint, "folds": list(folds),
              "decision_threshold": fc.decision_threshold, "columns": list(SERIES_COLUMNS)}
    record_path = out.with_name(out.name + ".json")
    done = pd.DataFrame(columns=list(SERIES_COLUMNS))
    if out.is_file() and resume:
        had = json.loads(record_path.read_text()) if record_path.is_file() else None
        if had != record:
            what = "no record of what made it" if had is None else \
                ", ".join(k.replace("_", " ") for k in record if had.get(k) != record[k]) + " differ"
            raise InputError(f"{out}: a series of another forecast ({what}); give another --out or --overwrite")
        done = pd.read_csv(out)
    start = len(done)
    atomic_write_text(record_path, json.dumps(record, indent=2))
    raw = np.full(len(ds), np.nan)
    parts = [done]
    bar = tqdm(total=len(ds), initial=start, desc="forecast series", unit="instant", disable=not progress)
    fc.model.eval()
    for c0 in range(start, len(ds), chunk):
        sub = np.arange(c0, min(c0 + chunk, len(ds)))
        with torch.no_grad():
            for b0 in range(0, len(sub), batch_size):
                pos = sub[b0 : b0 + batch_size]  # the stored bytes, as the training's evaluation reads them
                raw[pos] = torch.softmax(fc.model(ds.images(pos, dtype=torch.uint8)).float(), 1)[:, FLARE].numpy()
                bar.update(len(pos))
        p = fc.issued(raw[sub])
        if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
            raise InputError(f"{checkpoint}: the model gives probabilities that are not numbers in [0, 1] (damaged weights?); "
                             f"the series stops at instant {c0 + 1}")
        part = idx.iloc[sub]
        parts.append(pd.DataFrame({"timestamp": pd.to_datetime(part["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
                                   "flare_prob": p, "target": part["target"].to_numpy(int),
                                   "max_class": part["max_class"].fillna("").astype(str).to_numpy(),
                                   "fl_lon": part["fl_lon"].to_numpy(float), "fl_lat": part["fl_lat"].to_numpy(float),
                                   "partition": part["partition"].to_numpy(int), "flare_prob_raw": raw[sub],
                                   "decision": (p >= fc.decision_threshold).astype(int)}))
        series = PREDICTIONS.validate(pd.concat([q for q in parts if len(q)], ignore_index=True), str(out))
        atomic_write_text(out, series.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S"))
    bar.close()
    if not out.is_file():
        atomic_write_text(out, done.to_csv(index=False))
    return pd.read_csv(out)


def scoreboard_submission(forecasts: list[dict], short_name: str = "flarelib", mode: str = "forecast") -> dict:
    """The CCMC Flare Scoreboard submission of native forecasts of one issue time (:meth:`Forecaster.forecast` records).

    Forecasts of several issue times are several submissions (:func:`scoreboard_submissions`).

    ``forecast_submission``: ``model`` (``short_name``, at most 16 characters, and a ``spase_id``), ``issue_time``
    (the latest forecast's), ``mode``, and ``full_disk_forecasts``: per forecast a ``prediction_window``
    (``start_time``, ``end_time``) and ``flare_probabilities`` (``class``, ``probability``, ``uncertainty``,
    ``uncertainty_low``, ``uncertainty_high``; no per-forecast uncertainty is estimated, so those are null). A
    forecast with regions adds ``region_forecasts``: each region's Stonyhurst longitude and latitude (deg) and
    its probability. Times in minutes, UTC, as the Scoreboard writes them.

    Raises
    ------
    InputError
        No forecast, or a ``short_name`` longer than 16 characters.
    """
    if not 0 < len(short_name) <= 16:
        raise InputError(f"scoreboard short_name {short_name!r}: 1 to 16 characters")
    if not forecasts:
        raise InputError("no forecast to submit")
    if len({f["issue_time"] for f in forecasts}) > 1:
        raise InputError("forecasts of several issue times: one Scoreboard submission each (scoreboard_submissions)")
    minute = lambda s: pd.Timestamp(s).strftime("%Y-%m-%dT%H:%MZ")  # noqa: E731

    def probs(p: float) -> list[dict]:
        return [{"class": SCOREBOARD_CLASS, "probability": round(float(p), PROBABILITY_DIGITS), "uncertainty": None,
                 "uncertainty_low": None, "uncertainty_high": None}]

    full, regions = [], []
    for f in forecasts:
        window = {"start_time": minute(f["prediction_window_start"]), "end_time": minute(f["prediction_window_end"])}
        full.append({"prediction_window": window, "flare_probabilities": probs(f["probability"])})
        for g in (f.get("regions") or {}).get("regions", []):
            # an attribution map's component (chapter 5 scores these splits), not a NOAA active region number
            regions.append({"prediction_window": window, "attribution_component": g.get("component"),
                            "lon_deg": round(float(g["lon_deg"]), 1),
                            "lat_deg": round(float(g["lat_deg"]), 1), "coordinates": "Stonyhurst heliographic",
                            "flare_probabilities": probs(g["probability"])})
    sub = {"model": {"short_name": short_name, "spase_id": f"spase://CCMC/SimulationModel/flarelib/{__version__}"},
           "issue_time": minute(max(f["issue_time"] for f in forecasts)), "mode": mode, "full_disk_forecasts": full}
    if regions:
        sub["region_forecasts"] = regions
    return {"forecast_submission": sub}


def scoreboard_submissions(forecasts: list[dict], short_name: str = "flarelib", mode: str = "forecast") -> list[dict]:
    """One Scoreboard submission per issue time (in time order), each from :func:`scoreboard_submission`."""
    by_time: dict[str, list[dict]] = {}
    for f in forecasts:
        by_time.setdefault(f["issue_time"], []).append(f)
    return [scoreboard_submission(by_time[t], short_name, mode) for t in sorted(by_time)]
