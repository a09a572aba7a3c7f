"""Downloads for users with internet: Helioviewer JP2s, GOES flare lists, reference data.

Nothing here runs unless asked. Every download goes to a ``.part`` file that
is resumed with an HTTP Range request after a failure, checked (expected size,
SHA-256 when known, a JP2 signature for images) and renamed into place
atomically; failures are retried with exponential back-off. Existing files
are skipped.
"""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .._fileio import atomic_write_text, sha256_file
from ..errors import DownloadError, InputError, MagnetogramError
from .magnetogram import read_magnetogram

__all__ = [
    "HELIOVIEWER_API",
    "HMI_MAGNETOGRAM_SOURCE_ID",
    "REFERENCE_FILES",
    "DownloadConfig",
    "http_download",
    "helioviewer_jp2_url",
    "download_helioviewer",
    "download_hek_flares",
    "fetch_reference",
    "shared_data_dir",
]

#: Helioviewer API root.
HELIOVIEWER_API = "https://api.helioviewer.org"
#: Helioviewer source id of SDO/HMI line-of-sight magnetograms.
HMI_MAGNETOGRAM_SOURCE_ID = 19
#: HEK event search endpoint.
HEK_API = "https://www.lmsal.com/hek/her"

_PANDEY = "https://raw.githubusercontent.com/chetrajpandey/explainingFullDisk/main"
_HV_TEST = "https://raw.githubusercontent.com/Helioviewer-Project/api/main/tests/unit_tests/jpeg2000/test_data"

def _per_fold(local: str, remote: str, sha256: tuple[str, str, str, str]) -> dict[str, tuple[str, str]]:
    """Reference-study files of the four folds: ``local`` and ``remote`` are patterns with ``{k}``."""
    return {local.format(k=k): (f"{_PANDEY}/{remote.format(k=k)}", h) for k, h in zip((1, 2, 3, 4), sha256)}


#: Public reference files: relative path (as in ``../shared/data``) -> (URL, SHA-256).
REFERENCE_FILES: dict[str, tuple[str, str]] = {
    "helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2": (
        f"{_HV_TEST}/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2",
        "8aa98c0e81145c54d797ffac7051a90a8f76416c1bb37910fcdd1158e8259a9b",
    ),
    "helioviewer/2010_12_06__18_56_41_105__SDO_HMI_HMI_continuum.jp2": (
        f"{_HV_TEST}/2010_12_06__18_56_41_105__SDO_HMI_HMI_continuum.jp2",
        "e665ae6dcf5d2743351e0c09e5ef2df8fd37f5c8db5b11caa70194d386ec3969",
    ),
    **_per_fold("pandey2023/labels/Fold{k}_val.csv", "labeling/data_labels/Fold{k}_val.csv", (
        "c932c3c4d7bb85fc023c3dff4389d984a72c77f7df45513249107cabea26427f",
        "ee2d6f3727a7d018a783fdb34b13ce0dbd496120b8f3952a26ff652db5bed460",
        "ce93483ff72ac7591429e331cac6def3234e28b1954b7920d1505117cbd66922",
        "68bb9b6e52af927813661f9c1aa8b0518c33c5d061135e13934a00deb319f2f8")),
    **_per_fold("pandey2023/predictions/fold{k}_res.csv", "modeling/trained_models/validation_preds/fold{k}_res.csv", (
        "a9d63055bac0f89cd180fbfc885e6aed2f75c205607431adfccab47cf58e0914",
        "d5b249ed455f66f40ad836827a2098b273f94d394b379daa83af08aad1bbbd0c",
        "ad685f8ffc42d3ac604d1ddc5349ce242f9aaef9b127a185085067d92b2eb620",
        "f25ba0b49612bf40fdc325d44a431d7ecde13aa31807b11773e07d074d9c48bb")),
    **_per_fold("pandey2023/training_logs/fold{k}_log.csv", "modeling/trained_models/results/fold{k}_new.csv", (
        "1d804a4beba727d6f2ce5ce3866c8fc97dadd436b6011f52f4e71001f31fca3b",
        "d5724362c37617b192e3832dfc160ce6b8349a77bab9e851fcc5a78e504a040d",
        "9308280574a50574df8d3f3c142596f3800980ffd9d33b74452e047f3361505d",
        "1344da7ecd27e5938449aa05f016be1bef9aa9bccf0a8a395a7f151ec479eb58")),
}


@dataclass(frozen=True)
class DownloadConfig:
    """Retry policy and limits of :func:`http_download`.

    Attributes
    ----------
    retries : int
        Further attempts after the first (4).
    backoff_s : float
        First wait between attempts; doubles each time (1 s).
    timeout_s : float
        Socket timeout of one attempt (60 s): a hung server counts as a failure. It bounds each read; the
        whole transfer is bounded by ``transfer_timeout_s``.
    transfer_timeout_s : float
        Wall-clock budget of one attempt's transfer (600 s): a server that trickles bytes (each read within
        ``timeout_s``) is cut off there and the attempt fails.
    user_agent : str
    """

    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    transfer_timeout_s: float = 600.0
    user_agent: str = "flarelib (https://github.com/) research download"


def _attempt(url: str, part: Path, cfg: DownloadConfig) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": cfg.user_agent})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
        status = resp.status
        if have and status != 206:  # server ignored the range: start over
            have = 0
        length = resp.headers.get("Content-Length")
        expected_total = have + int(length) if length is not None else None
        deadline = time.monotonic() + cfg.transfer_timeout_s
        with open(part, "ab" if have else "wb") as fh:
            while True:  # in blocks, each read bounded by timeout_s, the whole transfer by the deadline
                block = resp.read1(1 << 16)  # what has arrived (one read of the socket), not a full megabyte
                if not block:
                    break
                fh.write(block)
                if time.monotonic() > deadline:
                    raise DownloadError(f"{url}: transfer took longer than {cfg.transfer_timeout_s:g} s "
                                        f"({fh.tell()} bytes so far); the server is too slow")
    got = part.stat().st_size
    if expected_total is not None and got != expected_total:
        raise DownloadError(f"{url}: truncated body ({got} of {expected_total} bytes)")


def _unreachable(exc: Exception) -> bool:
    """Whether a failure means the host cannot be reached at all (name resolution, no route, refused)."""
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, (socket.gaierror, ConnectionRefusedError)) or "Name or service not known" in str(reason) or (
        isinstance(reason, OSError) and getattr(reason, "errno", None) in (101, 113))  # network / host unreachable


def http_download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    config: DownloadConfig = DownloadConfig(),
    validate=None,
) -> Path:
    """Download ``url`` to ``dest`` with resume, retries, checks and an atomic rename.

    Parameters
    ----------
    url : str
    dest : path-like
        Final file; skipped when it exists (and matches ``sha256`` if given).
    sha256 : str, optional
        Expected SHA-256 of the whole file.
    config : DownloadConfig
    validate : callable, optional
        Called with the ``.part`` path before the rename; raises to reject the file.

    Raises
    ------
    DownloadError
        After all attempts failed (HTTP errors, time-outs, truncated bodies),
        or on a checksum mismatch (the bad file is removed).
    """
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(config.retries + 1):
        try:
            _attempt(url, part, config)
            last = None
            break
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code in (400, 401, 403, 404, 410):  # permanent
                break
            if exc.code == 416:  # range not satisfiable: restart from zero
                part.unlink(missing_ok=True)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, DownloadError) as exc:
            last = exc
            if _unreachable(exc):  # no name resolution or no route: retrying in seconds will not help
                break
        if attempt < config.retries:
            time.sleep(config.backoff_s * 2**attempt)
    if last is not None:
        raise DownloadError(f"{url}: download failed after {attempt + 1} attempt(s): {last}") from last
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: checksum mismatch (got {got}, expected {sha256})")
    if validate is not None:
        try:
            validate(part)
        except Exception:
            part.unlink(missing_ok=True)
            raise
    os.replace(part, dest)
    return dest


def helioviewer_jp2_url(time, source_id: int = HMI_MAGNETOGRAM_SOURCE_ID, api: str = HELIOVIEWER_API) -> str:
    """URL of Helioviewer's getJP2Image for the image nearest ``time``."""
    t = pd.Timestamp(time).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{api.rstrip('/')}/v2/getJP2Image/?" + urllib.parse.urlencode({"date": t, "sourceId": source_id})


def _jp2_signature(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head != b"\x00\x00\x00\x0cjP  \r\n\x87\n":
        raise DownloadError(f"{path}: not a JPEG 2000 file (the server sent something else)")


def download_helioviewer(
    start,
    end,
    out: str | Path,
    cadence_h: float = 1.0,
    tolerance_min: float = 12.0,
    api: str = HELIOVIEWER_API,
    config: DownloadConfig = DownloadConfig(),
    progress: bool = True,
    max_consecutive_failures: int = 3,
) -> pd.DataFrame:
    """Download HMI magnetogram JP2s at a cadence from Helioviewer.

    Files go to ``out/YYYY/MM/DD/<Helioviewer file name>``. An image whose
    observation time (from its header) is more than ``tolerance_min`` from the
    requested time is refused and reported, never kept.

    Returns
    -------
    pandas.DataFrame
        One row per requested time: ``time``, ``path`` (empty when none),
        ``date_obs``, ``status`` (``downloaded``, ``exists``, ``too_far``, ``failed``)
        and ``error``. Also written as ``out/download_report.csv``.

    Raises
    ------
    DownloadError
        After ``max_consecutive_failures`` requested times in a row failed to
        download (no network, a server down): the report so far is written,
        the message says what was fetched and what is left, and a rerun resumes.
    """
    out = Path(out)
    state_path = out / "download_state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    times = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=pd.Timedelta(hours=cadence_h))
    rows = []
    consecutive = 0
    for t in tqdm(times, desc="helioviewer", unit="img", disable=not progress):
        key = t.isoformat()
        if key in state and state[key]["status"] in {"downloaded", "exists"} and Path(state[key]["path"]).is_file():
            rows.append({**state[key], "status": "exists"})
            continue
        tmp = out / ".incoming" / f"{t:%Y%m%dT%H%M%S}.jp2"
        rec = {"time": key, "path": "", "date_obs": "", "status": "failed", "error": ""}
        try:
            http_download(helioviewer_jp2_url(t, api=api), tmp, config=config, validate=_jp2_signature)
            m = read_magnetogram(tmp, size_px=512)
            dt = abs((pd.Timestamp(m.meta.date_obs) - t).total_seconds()) / 60.0
            rec["date_obs"] = m.meta.date_obs.isoformat()
            if dt > tolerance_min:
                tmp.unlink()
                rec.update(status="too_far", error=f"observed {m.meta.date_obs.isoformat()}, {dt:.1f} min from the requested time")
            else:
                d = pd.Timestamp(m.meta.date_obs)
                name = f"{d:%Y_%m_%d__%H_%M_%S}_{d.microsecond // 1000:03d}__SDO_HMI_HMI_magnetogram.jp2"
                final = out / f"{d:%Y/%m/%d}" / name
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
                rec.update(path=str(final), status="downloaded")
        except (DownloadError, MagnetogramError) as exc:
            tmp.unlink(missing_ok=True)
            rec["error"] = str(exc)
        rows.append(rec)
        state[key] = rec
        atomic_write_text(state_path, json.dumps(state, indent=1))
        consecutive = consecutive + 1 if rec["status"] == "failed" and rec["error"].startswith("http") else 0
        if consecutive >= max_consecutive_failures:
            report = pd.DataFrame(rows, columns=["time", "path", "date_obs", "status", "error"])
            atomic_write_text(out / "download_report.csv", report.to_csv(index=False))
            got = int(report["status"].isin(["downloaded", "exists"]).sum())
            raise DownloadError(f"{consecutive} downloads in a row failed, stopping (last: {rec['error'][:200]}); "
                                f"{got} of {len(times)} images fetched, {len(times) - len(rows)} not tried: rerun to resume")
    report = pd.DataFrame(rows, columns=["time", "path", "date_obs", "status", "error"])
    atomic_write_text(out / "download_report.csv", report.to_csv(index=False))
    return report


_HEK_FIELDS = ["event_starttime", "event_peaktime", "event_endtime", "fl_goescls", "hgs_x", "hgs_y", "ar_noaanum"]


def download_hek_flares(
    start,
    end,
    out: str | Path,
    api: str = HEK_API,
    page_size: int = 500,
    config: DownloadConfig = DownloadConfig(),
    max_pages: int = 400,
) -> Path:
    """GOES flares with locations from the HEK, written as a HEK-schema CSV.

    Pages through the HEK's JSON search (event type FL, observatory GOES)
    until a short page, at most ``max_pages`` pages (400 pages of 500 are 200,000 flares: GOES records about
    1,500 flares >= C1.0 in a year of solar maximum, so a server still answering full pages beyond that is
    broken). The result reads with :func:`flarelib.catalog.read_catalog`.
    """

    rows, page = [], 1
    while True:
        if page > max_pages:
            raise DownloadError(f"{api}: more than {max_pages} pages of {page_size} flares from {start} to {end} (the server "
                                "keeps answering full pages); ask for a shorter period or raise max_pages")
        params = {
            "cosec": 2,
            "cmd": "search",
            "type": "column",
            "event_type": "FL",
            "event_starttime": pd.Timestamp(start).strftime("%Y-%m-%dT%H:%M:%S"),
            "event_endtime": pd.Timestamp(end).strftime("%Y-%m-%dT%H:%M:%S"),
            "event_coordsys": "helioprojective",
            "x1": -5000,
            "x2": 5000,
            "y1": -5000,
            "y2": 5000,
            "param0": "OBS_Observatory",
            "op0": "=",
            "value0": "GOES",
            "return": ",".join(_HEK_FIELDS),
            "result_limit": page_size,
            "page": page,
        }
        url = f"{api}?{urllib.parse.urlencode(params)}"
        tmp = Path(out).with_name(Path(out).name + f".page{page}.json")
        http_download(url, tmp, config=config)
        try:
            result = json.loads(tmp.read_text())["result"]
        except (ValueError, KeyError) as exc:
            raise DownloadError(f"{url}: not a HEK JSON answer ({exc})") from exc
        finally:
            tmp.unlink(missing_ok=True)
        rows.extend({k: r.get(k, "") for k in _HEK_FIELDS} for r in result)
        if len(result) < page_size:
            break
        page += 1
    atomic_write_text(out, pd.DataFrame(rows, columns=_HEK_FIELDS).to_csv(index=False))
    return Path(out)


def shared_data_dir() -> Path | None:
    """The offline reference-data folder: ``$FLARELIB_DATA``, else ``../shared/data`` above the project, else None."""
    env = os.environ.get("FLARELIB_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the project folder (flarelib/io/download.py)
    for cand in (here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return None


def fetch_reference(name: str, cache_dir: str | Path | None = None, allow_download: bool = False, base_url: str | None = None) -> Path:
    """Path of a public reference file, checked against its SHA-256.

    Looks in the shared offline folder (:func:`shared_data_dir`), then in
    ``cache_dir`` (default ``~/.cache/flarelib``); downloads it only when
    ``allow_download`` is true.

    Raises
    ------
    KeyError
        Unknown name.
    DownloadError
        Not found offline and downloads not allowed, or a checksum mismatch.
    """
    if name not in REFERENCE_FILES:
        raise InputError(f"unknown reference file {name!r}; known: {sorted(REFERENCE_FILES)}")
    url, digest = REFERENCE_FILES[name]
    shared = shared_data_dir()
    if shared is not None and (shared / name).is_file():
        return shared / name
    cache = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "flarelib"
    dest = cache / name
    if dest.is_file() and sha256_file(dest) == digest:
        return dest
    if not allow_download:
        raise DownloadError(f"{name}: not in the offline data folder nor in {cache}; pass allow_download=True (CLI: --download) to fetch it")
    if base_url is not None:
        url = f"{base_url.rstrip('/')}/{name}"
    return http_download(url, dest, sha256=digest)
