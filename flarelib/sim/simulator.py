"""A physical simulator of full-disk HMI line-of-sight magnetograms and GOES flares.

The embedded default data set of the compendium. It simulates the Sun as HMI
and GOES see it, with a ground truth that real data never gives: which active
region produced each flare, and the flare rate of every region at every hour,
hence the best possible forecast (the *oracle*).

The simulator is four parts with one job each, passing explicit state:

* :mod:`~flarelib.sim.observer` - Earth's view: B0, disk size and centre, pixel geometry, differential rotation;
* :mod:`~flarelib.sim.population` (with :mod:`~flarelib.sim.cycle`) - the active regions: emergence over the solar
  cycle (Hathaway profile, Spörer's law, Hale's and Joy's laws), growth, decay, delta spots;
* :mod:`~flarelib.sim.flares` - flare rates from each region's flux and polarity-inversion-line flux as a 512 px
  image shows them, the flare catalog, the oracle;
* :mod:`~flarelib.sim.renderer` - field -> Helioviewer's 8-bit image, region masks.

:class:`Simulator` assembles them for one :class:`SimConfig`; the functions
below write stores, JP2 files and reports. Every frame is a pure function of
(configuration, frame number): frames can be made in parallel, resumed, and
re-made later for ground-truth masks. Labels are made by
:func:`flarelib.data.labels.make_index` from the catalog, never here.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .._fileio import atomic_write_text
from ..data.labels import LabelConfig, make_index, partition_summary
from ..data.store import StoreWriter, fill_store
from ..errors import InputError
from ..io.catalog import COLUMNS, FlareCatalog
from ..io.geometry import RSUN_M
from ..io.magnetogram import MagnetogramMeta
from ..verify.baselines import persistence
from ..verify.evaluation import evaluate
from ..verify.metrics import best_threshold, skill_scores
from .flares import M1_WM2, FlareParams, FlareProcess
from .observer import DEFAULT_RADIUS_512, Observer, b0_annual_deg
from .population import PopulationParams, RegionPopulation, RegionState
from .renderer import Renderer, RenderParams

__all__ = ["SIMULATOR_VERSION", "SimConfig", "Simulator", "simulate_to_store", "simulate_to_jp2", "simulation_report", "b0_annual_deg",
           "DEFAULT_RADIUS_512", "frame_index", "largest_flare_regions", "flaring_regions", "simulator_of_store", "simulated_meta"]


#: Version of the simulator's physics, recorded in the stores it makes: a store of another version is not re-created
#: (its ground truth would differ). 2: cycle 24 per hemisphere, ordinary and productive regions, R from 512 px images.
SIMULATOR_VERSION = 2


#: The shortest cadence a simulation can have (hours): one minute, HMI's own 45 s rounded up.
MIN_CADENCE_H = 1.0 / 60.0
#: The most frames one simulation can have (30 years at one frame per 15 minutes).
MAX_FRAMES = 1_100_000
#: The largest activity multiplier: 100 times the solar cycle's emergence rate fills the disk already.
MAX_ACTIVITY = 100.0


@dataclass(frozen=True)
class SimConfig:
    """Configuration of the simulated Sun and its observation.

    Attributes
    ----------
    start, end : str
        Period of the frames (ISO times), inclusive.
    cadence_h : float
        Hours between frames (1).
    size_px : int
        Image width and height (512).
    seed : int
        Random seed: same seed, same bytes.
    activity : float
        Multiplier of the solar cycle's emergence rate (1: the cycle as fitted to cycle 24).
    emergence_per_day : float
        New active regions per day over the whole sphere at the cycle's maximum.
    productive_share : float
        Share of the emergence in productive regions, which follow each hemisphere's flare productivity (fitted to
        cycle 24) and can develop delta spots; the rest are ordinary regions in both hemispheres alike
        (:mod:`flarelib.sim.cycle`). Measured on 2011-2018 (12 seeds): 0 gives no delta spots and a fifth of the
        real flare-positive instants; 1 gives 1.6 times them and empties the south before 2012.9.
    flux_median_mx, flux_sigma_ln : float
        Log-normal total unsigned flux of a region.
    complex_fraction : float
        Probability that a productive region of median flux develops a delta spot (more for larger regions).
    delta_life_days : float
        Mean lifetime of a delta spot (days). Measured on 2011-2018 (12 seeds): 3 days lowers 24-hour persistence's
        TSS to 0.31, 12 days raises it to 0.50 (the real record: 0.42).
    flare_rate_per_day : float
        >= C1.0 flares per day of a region of median flux without PIL flux (R = 0).
    rate_flux_exponent, rate_r_exponent, r0_mx : float
        Exponents of flux / median and of 1 + R / R0, and R0 (Mx), in the flare rate (:mod:`flarelib.sim.flares`).
    max_rate_per_day : float
        The rate saturates at this many >= C1.0 flares per day.
    flare_index : float
        Power-law index of the peak-flux distribution (dN/dF ~ F^-index).
    behind_limb_deg : float
        Flares from up to this far behind the limb are still seen by GOES.
    episode_sigma_ln, episode_days : float
        Optional flaring episodes: each region's rate is modulated by a log-normal factor of this spread whose
        logarithm has this correlation time (an Ornstein-Uhlenbeck process). Off by default: measured on
        2011-2018, a spread of 1.5 lowers 24-hour persistence's TSS from about 0.4 to 0.25, below the real 0.42.
    noise_gauss : float
        Instrument noise at disk centre, in Gauss.
    network_gauss : float
        Typical quiet-Sun network field, in Gauss.
    """

    start: str = "2012-01-01T00:00:00"
    end: str = "2012-12-31T23:00:00"
    cadence_h: float = 1.0
    size_px: int = 512
    seed: int = 0
    activity: float = 1.0
    emergence_per_day: float = 1.0
    productive_share: float = 0.5
    flux_median_mx: float = 6e21
    flux_sigma_ln: float = 0.75
    complex_fraction: float = 0.6
    delta_life_days: float = 6.0
    flare_rate_per_day: float = 0.06
    rate_flux_exponent: float = 1.2
    rate_r_exponent: float = 1.8
    r0_mx: float = 3e19
    max_rate_per_day: float = 14.0
    flare_index: float = 1.75
    behind_limb_deg: float = 10.0
    episode_sigma_ln: float = 0.0
    episode_days: float = 1.5
    noise_gauss: float = 3.2
    network_gauss: float = 5.5

    def __post_init__(self) -> None:
        # a whole number given for a float field (papermill passes ``12`` for 12 hours) is stored as a float, so one
        # configuration has one fingerprint however it was typed
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "float" and isinstance(v, int) and not isinstance(v, bool):
                object.__setattr__(self, f.name, float(v))
        self._check()

    def _check(self) -> None:
        """Refuse what cannot be simulated (one line naming the field), before anything is allocated."""
        try:
            t0, t1 = pd.Timestamp(self.start).as_unit("ns"), pd.Timestamp(self.end).as_unit("ns")  # the frames' time unit
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(f"start/end (--start/--end) {self.start!r} .. {self.end!r}: not a time pandas can hold ({exc})") from None
        if t1 < t0:
            raise InputError(f"end (--end) {self.end} is before start (--start) {self.start}")
        if not (math.isfinite(self.cadence_h) and self.cadence_h >= MIN_CADENCE_H):
            raise InputError(f"cadence_h (--cadence) {self.cadence_h:g}: at least {MIN_CADENCE_H * 60:g} minute")
        n = int((t1 - t0) / pd.Timedelta(hours=self.cadence_h)) + 1
        if n > MAX_FRAMES:
            raise InputError(f"{n:,} frames from {self.start} to {self.end} every {self.cadence_h:g} h: more than {MAX_FRAMES:,}; "
                             "a longer cadence or a shorter period")
        if not (math.isfinite(self.activity) and 0 < self.activity <= MAX_ACTIVITY):
            raise InputError(f"activity (--activity) {self.activity:g}: must be in (0, {MAX_ACTIVITY:g}] (1 is the solar cycle's level)")
        if not 16 <= int(self.size_px) <= 4096:
            raise InputError(f"size_px (--size) {self.size_px}: must be in [16, 4096]")

    def times(self) -> pd.DatetimeIndex:
        return pd.date_range(pd.Timestamp(self.start), pd.Timestamp(self.end), freq=pd.Timedelta(hours=self.cadence_h))

    @property
    def radius_px(self) -> float:
        return Observer(self.size_px).radius_px

    @property
    def center_px(self) -> tuple[float, float]:
        return Observer(self.size_px).center_px


def _part_params(cls, config: SimConfig):
    """A part's parameter dataclass filled from the configuration's fields of the same names."""
    return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass
class Simulator:
    """A simulated Sun for one :class:`SimConfig`: observer, region population, flare process and renderer.

    Regions and flares are drawn when it is built (cheap); frames are rendered on demand with :meth:`frame`.
    """

    config: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        cfg = self.config
        self.times = cfg.times()
        if len(self.times) == 0:
            raise InputError(f"empty period {cfg.start} .. {cfg.end}")
        self.t0 = self.times[0]
        #: hourly grid of rates and flares: every frame's hour plus the 24 h after the last frame (and a margin)
        self.n_hours = int(math.ceil((self.times[-1] - self.t0).total_seconds() / 3600.0)) + 1 + 48
        self.observer = Observer(cfg.size_px)
        self.population = RegionPopulation(
            _part_params(PopulationParams, cfg), self.t0, self.n_hours)
        self.flare_process = FlareProcess(_part_params(FlareParams, cfg), self.population)
        self.renderer = Renderer(_part_params(RenderParams, cfg), self.observer, self.population)
        self.flares = self.flare_process.draw(self.n_hours)

    # ------------------------------------------------------------------ the parts' views, by frame
    @property
    def regions(self) -> pd.DataFrame:
        """Per-region parameters (one row per region, ``region_id`` from 1)."""
        return self.population.table

    def frame_hours(self) -> np.ndarray:
        """Hour of every frame from the first one (the index on the hourly grid of rates)."""
        return np.round((self.times - self.t0).total_seconds().to_numpy() / 3600.0).astype(int)

    def region_state(self, hours) -> RegionState:
        """Every region's :class:`~flarelib.sim.population.RegionState` at ``hours`` from the first frame."""
        return self.population.state(hours)

    def frame_b0(self, i: int) -> float:
        return self.observer.b0_deg(self.times[i])

    def _frame_args(self, i: int) -> tuple[float, float, int]:
        return (self.times[i] - self.t0).total_seconds() / 3600.0, self.frame_b0(i), i

    def field(self, i: int, return_regions: bool = False):
        """Line-of-sight field (G) of frame ``i`` at the render size, with its geometry (and per-region maps)."""
        return self.renderer.field(*self._frame_args(i), return_regions=return_regions)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as an 8-bit Helioviewer-style image (uint8, north up, off-disk 0)."""
        return self.renderer.image(*self._frame_args(i))

    def region_masks(self, i: int, threshold_gauss: float = 40.0) -> np.ndarray:
        """Label image of frame ``i``: the id of the visible region that dominates each pixel, else 0."""
        return self.renderer.region_masks(*self._frame_args(i), threshold_gauss=threshold_gauss)

    # ------------------------------------------------------------------ catalog and oracle
    def catalog(self) -> FlareCatalog:
        """The flares seen from Earth as a :class:`~flarelib.io.catalog.FlareCatalog` (GOES schema + region_id)."""
        return FlareCatalog(table=self.flares[COLUMNS + ["region_id"]].copy(), source=f"simulator(seed={self.config.seed})")

    def oracle(self, window_h: float = 24.0, threshold_wm2: float = M1_WM2) -> pd.DataFrame:
        """The best possible forecasts at every frame time, with and without knowledge of the future.

        Returns
        -------
        pandas.DataFrame
            ``timestamp``; ``expected_n``, the expected number of >= threshold
            flares seen from Earth in (t, t + window] from the regions' actual
            rates (including regions that emerge, grow or rotate into view), and
            ``p_oracle`` = 1 - exp(-expected_n): the ceiling of any forecast;
            ``expected_n_present`` and ``p_present``: the same from the rates at t
            of the regions on the visible disk at t, held for the window - the
            ceiling of a forecast made from what the Sun shows at t.
        """
        lam = self.flare_process.expected_per_hour(self.n_hours, threshold_wm2)
        cum = np.concatenate([[0.0], np.cumsum(lam)])
        h = self.frame_hours()
        w = int(round(window_h))
        # flares in hour bin k start in (k, k+1]; the window (t, t+w] covers bins h .. h+w-1
        expected = cum[np.minimum(h + w, len(lam))] - cum[h]
        present = w * self.flare_process.present_disk_rate(h, threshold_wm2)
        return pd.DataFrame({"timestamp": self.times, "expected_n": expected, "p_oracle": 1.0 - np.exp(-expected),
                             "expected_n_present": present, "p_present": 1.0 - np.exp(-present)})

    def disk_scores(self, flux_exponent: float = 4.0) -> pd.DataFrame:
        """Diagnostic scores of the visible disk at every frame time: how much does each property explain?

        ``flux_score`` sums (Phi / 1e22 Mx)^k over the regions on the visible
        disk (Phi their present total unsigned flux, k = ``flux_exponent``): what
        a forecaster that sees each region's size but not its delta spots could
        know. ``flux_complexity_score`` weights each term by 0.05 + its developed
        delta-spot complexity (0-1): the same forecaster seeing the delta spots
        too. Ranking scores, not probabilities: compare them by their TSS at the
        best threshold, like the oracles.
        """
        hours = self.frame_hours()
        flux_score = np.zeros(len(hours))
        cplx_score = np.zeros(len(hours))
        complex_ = self.regions["complexity"].to_numpy() > 0
        for _, sl, rows, st in self.population.iter_states(hours, 512):
            flux = self.regions["flux_mx"].to_numpy()[rows, None] * st.amp / 1e22
            term = flux**flux_exponent * (np.abs(st.lon) <= 90.0)
            flux_score[sl] = term.sum(axis=0)
            cplx_score[sl] = (term * (0.05 + complex_[rows, None] * st.camp)).sum(axis=0)
        return pd.DataFrame({"timestamp": self.times, "flux_score": flux_score, "flux_complexity_score": cplx_score})

    def region_table(self) -> pd.DataFrame:
        """Per-region parameters (the ground truth behind the flares) with their flare caps and emergence times."""
        t = self.population.region_table()
        t["flare_cap_wm2"] = self.flare_process.cap_wm2
        return t


# ---------------------------------------------------------------------- outputs
def _render_chunk(args):
    cfg_dict, idx = args
    sim = _cached_sim(json.dumps(cfg_dict, sort_keys=True))
    disk = (*sim.config.center_px, sim.config.radius_px)
    return [(i, sim.frame(i), disk, None) for i in idx]


_SIM_CACHE: dict[str, Simulator] = {}


def _cached_sim(key: str) -> Simulator:
    if key not in _SIM_CACHE:
        _SIM_CACHE.clear()
        _SIM_CACHE[key] = Simulator(SimConfig(**json.loads(key)))
    return _SIM_CACHE[key]


def frame_index(sim: Simulator):

    index, report = make_index(sim.times, sim.catalog(), LabelConfig(cadence_h=sim.config.cadence_h))
    index["path"] = [f"sim/{t:%Y/%m/%d}/{t:%Y_%m_%d__%H_%M_%S}_000__SIM_HMI_magnetogram.jp2" for t in index["timestamp"]]
    return index, report


def simulate_to_store(config: SimConfig, out: str | Path, workers: int | None = None, progress: bool = True,
                      overwrite: bool = False) -> Path:
    """Simulate frames straight into an image store, with catalog, regions, oracle and a report.

    Writes into ``out``: the store (``images.u8``, ``index.csv``, ``store.json``),
    ``catalog.csv`` (GOES schema + region_id), ``regions.csv``, ``oracle.csv``
    and ``report.json`` (FL:NF ratio, counts per partition, oracle skill).
    Resumes an interrupted run; same configuration, same bytes. A folder that
    holds a simulation of another configuration (seed, period, size ...) is
    refused unless ``overwrite``: two runs are never mixed.
    """
    out = Path(out)
    sim = Simulator(config)
    index, label_report = frame_index(sim)
    made_by = {"simulator": asdict(config), "simulator_version": SIMULATOR_VERSION}
    writer = StoreWriter(out, index, config.size_px, {"source": "simulator", **made_by}, inputs=made_by, overwrite=overwrite)
    todo = writer.todo()
    chunk = 16
    jobs = [(asdict(config), todo[s : s + chunk].tolist()) for s in range(0, len(todo), chunk)]
    fill_store(writer, _render_chunk, jobs, workers=workers, desc="simulate", progress=progress, checkpoint_every=4)
    sim.catalog().to_csv(out / "catalog.csv")
    reg = sim.region_table()
    atomic_write_text(out / "regions.csv", reg.to_csv(index=False))
    oracle = sim.oracle()
    atomic_write_text(out / "oracle.csv", oracle.to_csv(index=False))
    report = simulation_report(sim, index, oracle)
    report["labels"] = label_report
    atomic_write_text(out / "report.json", json.dumps(report, indent=2))
    return writer.finish()


def simulation_report(sim: Simulator, index: pd.DataFrame, oracle: pd.DataFrame) -> dict:
    """FL:NF ratio, counts per partition and the oracle's skill on the indexed instants, with the simulator's version
    (``benchmarks/simulator_versions.py`` measures how these change from one version to the next)."""

    y = index["target"].to_numpy()
    o = oracle.set_index("timestamp").loc[index["timestamp"]]
    p = o["p_oracle"].to_numpy()
    best = best_threshold(y, p)  # NaN skill when the period has no flare instance (nothing to forecast)
    present = best_threshold(y, o["p_present"].to_numpy())
    n_m = int((sim.flares["peak_flux_wm2"] >= 1e-5).sum())
    fl, nf = int(y.sum()), int((1 - y).sum())
    letters = sim.flares["goes_class"].astype(str).str[0]
    years = pd.to_datetime(index["timestamp"]).dt.year
    try:
        pers = persistence(index)
        pers_tss = float(evaluate(pers.frames, pers.thresholds)["tss_mean"]) if pers.frames else None
    except InputError:  # a cadence that does not divide 24 h: no previous windows
        pers_tss = None
    return {
        "simulator_version": SIMULATOR_VERSION,
        "n_frames": int(len(index)),
        "FL": fl,
        "NF": nf,
        "nf_per_fl": nf / fl if fl else None,
        "partitions": partition_summary(index)["partitions"],
        "n_regions": int(len(sim.regions)),
        "n_flares": {c: int((letters == c).sum()) for c in "CMX"},
        "x_per_m": float((letters == "X").sum() / (letters == "M").sum()) if (letters == "M").any() else None,
        "n_m_or_above": n_m,
        "oracle": {
            "threshold": best["threshold"],
            "tss": best["tss"],
            "hss": best["hss"],
            "at_0.5": skill_scores(y, p >= 0.5),
            "at_climatology": skill_scores(y, p >= y.mean()) if len(y) else None,
        },
        "oracle_present": {"threshold": present["threshold"], "tss": present["tss"], "hss": present["hss"]},
        "yearly_positive_fraction": {int(y): float(v) for y, v in index["target"].groupby(years).mean().items()},
        "persistence_tss": pers_tss,
    }


def simulate_to_jp2(config: SimConfig, out: str | Path, progress: bool = True, overwrite: bool = False) -> pd.DataFrame:
    """Write frames as Helioviewer-style JP2 files (with a FITS-like XML header) plus ``catalog.csv``.

    The files go to ``out/YYYY/MM/DD/`` with Helioviewer's naming, SIM in place of SDO_HMI; they read
    with :func:`flarelib.magnetogram.read_magnetogram` like real ones, so the
    real ingest path (labels make -> prepare) can be exercised end to end.
    """
    import glymur
    from lxml import etree as ET

    out = Path(out)
    _claim_jp2_folder(out, config, overwrite)
    sim = Simulator(config)
    rows = []
    for i, t in enumerate(tqdm(sim.times, desc="simulate jp2", unit="frame", disable=not progress)):
        rel = Path(f"{t:%Y/%m/%d}") / f"{t:%Y_%m_%d__%H_%M_%S}_000__SIM_HMI_magnetogram.jp2"  # SIM: never mistaken for SDO data
        path = out / rel
        rows.append({"time": t, "path": str(rel)})
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        img = sim.frame(i)
        tmp = path.with_name("." + path.name)
        jp2 = glymur.Jp2k(str(tmp), data=img, numres=min(6, int(math.log2(config.size_px)) - 2))
        root = ET.Element("meta")
        fits = ET.SubElement(root, "fits")
        hdr = _fits_header(config, t, sim.frame_b0(i))
        for k, v in hdr.items():
            ET.SubElement(fits, k).text = str(v)
        hv = ET.SubElement(root, "helioviewer")
        ET.SubElement(hv, "HV_ROTATION").text = "0.0"
        ET.SubElement(hv, "HV_COMMENT").text = "simulated by flarelib.simulator"
        jp2.append(glymur.jp2box.XMLBox(xml=ET.ElementTree(root)))
        os.replace(tmp, path)
    sim.catalog().to_csv(out / "catalog.csv")
    return pd.DataFrame(rows)


#: The record of which configuration a JP2 folder holds.
JP2_RECORD = "simulation.json"


def _claim_jp2_folder(out: Path, config: SimConfig, overwrite: bool) -> None:
    """Make ``out`` a JP2 folder of ``config``: resume one of the same configuration, refuse one of another.

    Frames of another seed or period beside this one's would be labelled by this one's catalog: the folder records
    its configuration (``simulation.json``) and a folder of another one (or JP2s of unknown origin) is refused,
    unless ``overwrite``, which removes its frames and catalog first.

    Raises
    ------
    InputError
        ``out`` holds frames of another configuration and ``overwrite`` is not given.
    """
    want = {"simulator": asdict(config), "simulator_version": SIMULATOR_VERSION}
    record = out / JP2_RECORD
    have = json.loads(record.read_text()) if record.is_file() else None
    frames = list(out.rglob("*.jp2")) if out.is_dir() else []
    if have == want:
        return
    if have is not None or frames:
        if not overwrite:
            what = "another simulation" if have is not None else f"{len(frames)} JP2 files of unknown origin"
            raise InputError(f"{out}: holds {what}; its frames would be mixed with these and labelled by this catalog "
                             "(--overwrite replaces them)")
        for f in frames:
            f.unlink()
        (out / "catalog.csv").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps(want, indent=2, default=str))


def _fits_header(config: SimConfig, t: pd.Timestamp, b0: float) -> dict:
    n = config.size_px
    rsun_arcsec = 945.0
    cdelt = rsun_arcsec / config.radius_px
    return {
        "NAXIS1": n,
        "NAXIS2": n,
        "DATE-OBS": t.strftime("%Y-%m-%dT%H:%M:%S.000"),
        "TELESCOP": "SIM",
        "INSTRUME": "HMI-SIM",
        "CONTENT": "MAGNETOGRAM",
        "BUNIT": "Gauss",
        "CRPIX1": (n + 1) / 2.0,
        "CRPIX2": (n + 1) / 2.0,
        "CDELT1": cdelt,
        "CDELT2": cdelt,
        "RSUN_OBS": rsun_arcsec,
        # the distance at which the Sun's radius subtends RSUN_OBS, so that sunpy's projections (which use DSUN_OBS and
        # the IAU radius) and the disk drawn at RSUN_OBS agree (at 1 AU the radius is 959", not 945": points at 40 deg
        # longitude landed 1.2 % of a radius off)
        "DSUN_OBS": RSUN_M / math.sin(math.radians(rsun_arcsec / 3600.0)),
        "CRLT_OBS": round(b0, 5),
        "CRLN_OBS": 0.0,
        "SIM_SEED": config.seed,
    }


def _window_rows(catalog: pd.DataFrame, timestamps, window_h: float):
    """The catalog sorted by start, and for each t the slice [lo, hi) of its flares starting in (t, t + window_h]."""
    starts = pd.to_datetime(catalog["start"]).to_numpy(dtype="datetime64[ns]")
    order = np.argsort(starts, kind="stable")
    t = pd.to_datetime(pd.Series(timestamps)).to_numpy(dtype="datetime64[ns]")
    lo = np.searchsorted(starts[order], t, side="right")
    hi = np.searchsorted(starts[order], t + np.timedelta64(int(window_h * 3600e9), "ns"), side="right")
    return catalog.iloc[order], lo, hi


def largest_flare_regions(catalog: pd.DataFrame, timestamps, window_h: float = 24.0) -> np.ndarray:
    """Region id of the largest flare starting in (t, t + window] for each t (0 when none).

    ``catalog`` is a simulator catalog table (columns ``start``, ``peak_flux_wm2``, ``region_id``).
    """
    cat, lo, hi = _window_rows(catalog, timestamps, window_h)
    flux, rid = cat["peak_flux_wm2"].to_numpy(float), cat["region_id"].to_numpy(int)
    return np.array([rid[a + int(np.argmax(flux[a:b]))] if b > a else 0 for a, b in zip(lo, hi)])


def flaring_regions(catalog: pd.DataFrame, timestamps, window_h: float = 24.0, threshold_wm2: float = M1_WM2) -> list[set]:
    """For each instant, the ids of the regions with a flare >= ``threshold_wm2`` starting in (t, t + window_h]."""
    cat, lo, hi = _window_rows(catalog[catalog["peak_flux_wm2"] >= threshold_wm2], timestamps, window_h)
    rid = cat["region_id"].to_numpy(int)
    return [set(rid[a:b].tolist()) for a, b in zip(lo, hi)]


def simulator_of_store(store_manifest: dict) -> Simulator:
    """Re-create the simulator that made a store (for ground-truth region masks)."""
    if store_manifest.get("source") != "simulator":
        raise InputError("not a simulated store: no ground truth")
    params = dict(store_manifest["simulator"])
    unknown = sorted(set(params) - {f.name for f in fields(SimConfig)})
    if store_manifest.get("simulator_version") != SIMULATOR_VERSION:
        raise InputError(f"the store was made by another version of the simulator ({store_manifest.get('simulator_version', 'before 2')}, "
                         f"this is {SIMULATOR_VERSION}): its ground truth cannot be re-created; simulate the store again")
    if unknown:
        raise InputError(f"the store was made by another version of the simulator (parameters {', '.join(unknown)} are not this "
                         "version's): its ground truth cannot be re-created; simulate the store again")
    return Simulator(SimConfig(**params))


def simulated_meta(sim: Simulator, i: int, size_px: int | None = None):
    """Header-like metadata of simulated frame ``i`` (for coordinate conversions through sunpy).

    ``size_px``: the metadata of the frame reduced to that size (as :func:`~flarelib.io.magnetogram.read_magnetogram`
    describes a reduced image: same header, output size, disk centre and radius in output pixels).
    """

    cfg = sim.config
    out = size_px or cfg.size_px
    f = cfg.size_px / out
    hdr = _fits_header(cfg, sim.times[i], sim.frame_b0(i))
    return MagnetogramMeta(path=f"simulated frame {i}", date_obs=sim.times[i].to_pydatetime(), instrument="SIM/HMI-SIM",
                           product="MAGNETOGRAM", naxis=cfg.size_px, crpix1=hdr["CRPIX1"], crpix2=hdr["CRPIX2"],
                           cdelt_arcsec=hdr["CDELT1"], rsun_arcsec=hdr["RSUN_OBS"], b0_deg=hdr["CRLT_OBS"], l0_deg=0.0,
                           dsun_m=hdr["DSUN_OBS"], rotation_deg=0.0, size_px=out,
                           disk_center_px=tuple((c + 0.5) / f - 0.5 for c in cfg.center_px), disk_radius_px=cfg.radius_px / f)
