"""The real-data path end to end, with no simulator metadata: a real-format archive served on loopback.

Simulated frames written as Helioviewer JP2s (FITS keywords in the XML box) and their GOES flare list are served
by an emulator of Helioviewer's ``getJP2Image`` and of the HEK event search on 127.0.0.1. The archive goes through
``download -> labels make -> prepare -> train -> evaluate -> baseline -> explain -> forecast`` as a user runs them,
then through the book's notebooks with ``data_source real``. Nothing downstream can see the simulator: the store is
made by ``prepare`` from the downloaded files.
"""
import http.server
import json
import subprocess
import sys
import threading
import urllib.parse

import numpy as np
import pandas as pd
import pytest

from flarelib.data.labels import read_index
from flarelib.data.store import DISK_COLUMNS, open_store
from flarelib.io.magnetogram import read_magnetogram
from flarelib.sim.simulator import SimConfig, simulate_to_jp2

from .conftest import ROOT, run_cli

START, END = "2012-01-01", "2012-12-31"


class _Archive(http.server.BaseHTTPRequestHandler):
    """Helioviewer's getJP2Image (nearest image to ``date``) and HEK's flare search (paginated JSON)."""

    frames: pd.DataFrame = pd.DataFrame()
    root = None
    hek_rows: list = []

    def log_message(self, *a):
        pass

    def _send(self, body: bytes, ctype: str = "application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/v2/getJP2Image/":
            t = pd.Timestamp(q["date"][0]).tz_localize(None)
            k = int(np.argmin(np.abs((self.frames["time"] - t).to_numpy())))
            self._send((self.root / self.frames["path"].iloc[k]).read_bytes())
        elif url.path == "/her":
            page, size = int(q["page"][0]), int(q["result_limit"][0])
            self._send(json.dumps({"result": self.hek_rows[(page - 1) * size: page * size]}).encode(), "application/json")
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    frames = simulate_to_jp2(SimConfig(start=START, end=END, cadence_h=48, size_px=128, seed=3), root, progress=False)
    cat = pd.read_csv(root / "catalog.csv")
    _Archive.frames = frames.assign(time=pd.to_datetime(frames["time"]))
    _Archive.root = root
    # the flare list as HEK serves it (GOES events: start, peak, end, class, Stonyhurst position, NOAA number)
    _Archive.hek_rows = [{"event_starttime": r.start_time, "event_peaktime": r.peak_time, "event_endtime": r.end_time,
                          "fl_goescls": r.goes_class, "hgs_x": r.fl_lon, "hgs_y": r.fl_lat, "ar_noaanum": ""}
                         for r in cat.itertuples()]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Archive)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def chain(archive, tmp_path_factory):
    """The command-line chain a user runs on real data; returns the working folder."""
    url, _ = archive
    w = tmp_path_factory.mktemp("chain")
    steps = [
        ("download", "flares", "--start", START, "--end", "2013-01-02", "--out", w / "flares.csv", "--api", url + "/her"),
        ("download", "helioviewer", "--start", START, "--end", END, "--cadence-h", "48", "--out", w / "jp2", "--api", url,
         "--quiet"),
        ("labels", "make", "--catalog", w / "flares.csv", "--images", w / "jp2", "--out", w / "index.csv", "--start", START,
         "--end", END),
        ("prepare", "--index", w / "index.csv", "--root", w / "jp2", "--out", w / "store", "--size", "128", "--workers", "2",
         "--quiet"),
        ("train", "--store", w / "store", "--out", w / "run", "--epochs", "1", "--batch-size", "8", "--max-batches-per-epoch", "2",
         "--threads", "2", "--quiet"),
    ]
    for args in steps:
        r = run_cli(*args)
        assert r.returncode == 0, f"{args[:2]}: {r.stderr[-2000:]}"
    return w


def test_the_chain_builds_a_store_without_simulator_metadata(chain):
    st = open_store(chain / "store")
    assert st.manifest["source"] == "prepare" and "simulator" not in st.manifest
    assert not (chain / "store" / "oracle.csv").exists() and not (chain / "store" / "catalog.csv").exists()
    idx = read_index(chain / "index.csv")
    assert len(st) == len(idx) > 150 and idx["target"].sum() > 0  # the served flares labelled the downloaded images
    # each image's disk comes from its header, as read_magnetogram gives it
    first = chain / "jp2" / st.index["path"].iloc[0]
    meta = read_magnetogram(first, size_px=128).meta
    assert st.disk(0) == pytest.approx((*meta.disk_center_px, meta.disk_radius_px), abs=1e-3)
    assert all(c in st.index for c in DISK_COLUMNS)


def test_evaluate_and_baselines_on_the_chain(chain):
    preds = sorted(chain.glob("run/fold*/predictions.csv"))
    assert len(preds) == 4
    r = run_cli("evaluate", *preds, "--bootstrap", "20", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["folds"]) == 4 and len(d["tss_ci"]) == 2
    r = run_cli("baseline", "image-features", "--store", chain / "store", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["baseline"] == "image-features" and len(b["folds"]) == 4 and b["auc"] > 0.5
    # the images are 48 h apart: no instant has its previous 24-h window, and persistence says so in one line
    r = run_cli("baseline", "persistence", "--labels", chain / "index.csv", "--json")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "cadence" in r.stderr


def test_explain_and_forecast_from_the_chains_checkpoint(chain, real_magnetogram, tmp_path):
    ck = chain / "run" / "fold1" / "model.pt"
    some = sorted((chain / "jp2").rglob("*.jp2"))[40]
    # run from another working directory: the checkpoint's store reference is absolute
    r = subprocess.run([sys.executable, "-m", "flarelib", "explain", "--checkpoint", str(ck), str(some), str(real_magnetogram),
                        "--out", str(tmp_path / "ex"), "--steps", "4", "--n-background", "2", "--json"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert [x["background"] for x in res] == ["store", "store"] and all(x["shape"] == [128, 128] for x in res)
    r = run_cli("forecast", some, real_magnetogram, "--checkpoint", ck, "--json", "--allow-domain-shift")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["input"]["product"] for x in rows] == ["MAGNETOGRAM", "MAGNETOGRAM"]
    # the chain's store was prepared from simulated JP2s: the simulated file is in the model's domain, the real one not
    assert rows[0]["domain_shift"] is None and "real" in rows[1]["domain_shift"]
    assert rows[0]["model"]["training_store_fingerprint"] == open_store(chain / "store").fingerprint
    # the evaluation on real data: no ground truth of flaring regions, said so; deletion and randomisation remain
    r = run_cli("explain", "--evaluate", "--checkpoint", ck, "--store", chain / "store", "--n-per-kind", "1", "--steps", "4",
                "--n-background", "2", "--n-boot", "20", "--n-randomisation", "1", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert not ev["ground_truth"] and any("no simulator ground truth" in n for n in ev["notes"]) and ev["regions"] == []
    ig = next(row for row in ev["summary"] if row["map"] == "ig")
    assert ig["lift"] is None and ig["deletion_5pct_top"] is not None


def test_the_books_notebooks_run_on_the_real_format_store(chain, tmp_path, real_magnetogram, pandey):
    # the notebooks also show the real JP2 and re-score the published predictions: skipped without the reference data
    args = [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(tmp_path / "nb"), "-p", "data_source", "real",
            "-p", "data_path", str(chain / "store"), "-p", "run_dir", str(tmp_path / "run"), "-p", "n_boot", "20",
            "-p", "n_per_kind", "1", "-p", "n_randomisation", "1"]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert (tmp_path / "nb" / "04_results.ipynb").is_file()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "oracle" not in {row["forecast"] for row in summary["table"]}  # no ground truth on real data
