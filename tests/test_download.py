"""Downloads against a local HTTP server on 127.0.0.1 serving real files, errors, hangs and truncated bodies."""
import http.server
import json
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from flarelib._fileio import sha256_file as sha256_of
from flarelib.errors import DownloadError
from flarelib.io.download import DownloadConfig, download_hek_flares, download_helioviewer, fetch_reference, http_download

FAST = DownloadConfig(retries=3, backoff_s=0.01, timeout_s=1.0)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        self.hits[path] = self.hits.get(path, 0) + 1
        route = self.routes.get(path)
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        route(self, self.hits[path], query)


def _send(h, body: bytes, status=200, declared=None, start=0):
    h.send_response(status)
    h.send_header("Content-Length", str(declared if declared is not None else len(body)))
    if status == 206:
        h.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/*")
    h.end_headers()
    h.wfile.write(body)


def _ranged(h, data: bytes):
    rng = h.headers.get("Range")
    if rng:
        start = int(rng.split("=")[1].split("-")[0])
        _send(h, data[start:], 206, start=start)
    else:
        _send(h, data)


@pytest.fixture
def server():
    _Handler.routes = {}
    _Handler.hits = {}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Handler
    srv.shutdown()
    srv.server_close()


def test_download_with_checksum(server, tmp_path, real_magnetogram):
    url, h = server
    data = real_magnetogram.read_bytes()
    h.routes["/f.jp2"] = lambda s, n, q: _ranged(s, data)
    p = http_download(url + "/f.jp2", tmp_path / "f.jp2", sha256=sha256_of(real_magnetogram), config=FAST)
    assert p.read_bytes() == data
    # skip existing: no second request
    http_download(url + "/f.jp2", tmp_path / "f.jp2", sha256=sha256_of(real_magnetogram), config=FAST)
    assert h.hits["/f.jp2"] == 1


def test_truncated_body_is_resumed_with_range(server, tmp_path, real_magnetogram):
    url, h = server
    data = real_magnetogram.read_bytes()

    def route(s, n, q):
        if n == 1:  # first answer promises everything, sends 100 kB, then closes
            _send(s, data[:100_000], declared=len(data))
        else:
            assert s.headers.get("Range") == "bytes=100000-"
            _ranged(s, data)

    h.routes["/t.jp2"] = route
    p = http_download(url + "/t.jp2", tmp_path / "t.jp2", sha256=sha256_of(real_magnetogram), config=FAST)
    assert p.read_bytes() == data and h.hits["/t.jp2"] == 2


def test_server_errors_are_retried_then_reported(server, tmp_path):
    url, h = server
    h.routes["/e"] = lambda s, n, q: _send(s, b"busy", status=503) if n < 3 else _send(s, b"ok")
    assert http_download(url + "/e", tmp_path / "e", config=FAST).read_bytes() == b"ok"
    h.routes["/always"] = lambda s, n, q: _send(s, b"busy", status=500)
    with pytest.raises(DownloadError, match="after 4 attempt"):
        http_download(url + "/always", tmp_path / "a", config=FAST)
    assert not (tmp_path / "a").exists()


def test_not_found_is_not_retried(server, tmp_path):
    url, h = server
    with pytest.raises(DownloadError, match="404"):
        http_download(url + "/missing", tmp_path / "m", config=FAST)
    assert h.hits["/missing"] == 1


def test_hanging_server_times_out(server, tmp_path):
    url, h = server

    def hang(s, n, q):
        time.sleep(2.5)
        _send(s, b"late")

    h.routes["/hang"] = hang
    with pytest.raises(DownloadError):
        http_download(url + "/hang", tmp_path / "h", config=DownloadConfig(retries=1, backoff_s=0.01, timeout_s=0.5))
    assert not (tmp_path / "h").exists()


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    url, h = server
    h.routes["/x"] = lambda s, n, q: _send(s, b"tampered")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        http_download(url + "/x", tmp_path / "x", sha256="0" * 64, config=FAST)
    assert not list(tmp_path.iterdir())


def test_helioviewer_download_checks_time_and_product(server, tmp_path, real_magnetogram):
    url, h = server
    data = real_magnetogram.read_bytes()
    asked = []

    def jp2(s, n, q):
        asked.append((q["date"][0], q["sourceId"][0]))
        if q["date"][0] == "2022-08-02T12:00:00Z":
            _send(s, b"<html>error page</html>")  # not an image
        else:
            _ranged(s, data)

    h.routes["/v2/getJP2Image/"] = jp2
    rep = download_helioviewer("2022-08-02T10:00", "2022-08-02T12:00", tmp_path / "hv", cadence_h=1, api=url, config=FAST,
                               progress=False)
    assert [a[1] for a in asked] == ["19"] * len(asked)
    st = dict(zip(rep["time"].str[11:16], rep["status"]))
    # the real image is from 10:47:53: 11:00 is 12.1 min away (refused at the 12 min default), 10:00 far too
    assert st == {"10:00": "too_far", "11:00": "too_far", "12:00": "failed"}
    rep = download_helioviewer("2022-08-02T10:50", "2022-08-02T10:50", tmp_path / "hv", api=url, config=FAST, progress=False)
    assert rep["status"].tolist() == ["downloaded"]
    f = Path(rep["path"].iloc[0])
    assert f.name == "2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2" and f.parent.parts[-3:] == ("2022", "08", "02")
    rep = download_helioviewer("2022-08-02T10:50", "2022-08-02T10:50", tmp_path / "hv", api=url, config=FAST, progress=False)
    assert rep["status"].tolist() == ["exists"]


def test_hek_flares_paginate_into_a_catalog(server, tmp_path):
    from flarelib.io.catalog import read_catalog

    url, h = server
    rows = [{"event_starttime": f"2017-09-0{d}T10:00:00", "event_peaktime": f"2017-09-0{d}T10:10:00",
             "event_endtime": f"2017-09-0{d}T10:20:00", "fl_goescls": c, "hgs_x": 30 + d, "hgs_y": -9, "ar_noaanum": 12673}
            for d, c in zip(range(1, 6), ["M1.0", "X9.3", "C2.0", "M5.5", "X8.2"])]
    h.routes["/her"] = lambda s, n, q: _send(s, json.dumps({"result": rows[(int(q["page"][0]) - 1) * 2:int(q["page"][0]) * 2]}).encode())
    p = download_hek_flares("2017-09-01", "2017-09-10", tmp_path / "flares.csv", api=url + "/her", page_size=2, config=FAST)
    cat = read_catalog(p)
    assert list(cat.table["goes_class"]) == ["M1.0", "X9.3", "C2.0", "M5.5", "X8.2"] and h.hits["/her"] == 3


def test_reference_files_offline_and_from_a_mirror(server, tmp_path, pandey, monkeypatch):
    url, h = server
    monkeypatch.setenv("FLARELIB_DATA", str(tmp_path / "nothing"))
    name = "pandey2023/predictions/fold1_res.csv"
    with pytest.raises(DownloadError, match="allow_download"):
        fetch_reference(name, cache_dir=tmp_path / "cache")
    data = (pandey / "predictions" / "fold1_res.csv").read_bytes()
    h.routes["/mirror/" + name] = lambda s, n, q: _ranged(s, data)
    p = fetch_reference(name, cache_dir=tmp_path / "cache", allow_download=True, base_url=url + "/mirror")
    assert p.read_bytes() == data
    h.routes["/bad/" + name] = lambda s, n, q: _send(s, b"timestamp,flare_prob,target\n")
    with pytest.raises(DownloadError, match="checksum"):
        fetch_reference(name, cache_dir=tmp_path / "cache2", allow_download=True, base_url=url + "/bad")
    monkeypatch.setenv("FLARELIB_DATA", str(pandey.parent))
    assert fetch_reference(name) == pandey / "predictions" / "fold1_res.csv"


def test_a_trickling_server_is_cut_off_by_the_transfer_budget(server, tmp_path):
    url, h = server

    def trickle(s, n, q):
        s.send_response(200)
        s.send_header("Content-Length", str(64 * 1000))
        s.end_headers()
        try:
            for _ in range(1000):
                s.wfile.write(b"x" * 64)
                s.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    h.routes["/trickle"] = trickle
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="longer than"):
        http_download(url + "/trickle", tmp_path / "t", config=DownloadConfig(retries=0, timeout_s=2, transfer_timeout_s=1.5))
    assert time.monotonic() - t0 < 10 and not (tmp_path / "t").exists()


def test_a_server_that_always_answers_full_pages_is_stopped(server, tmp_path):
    url, h = server
    row = {"event_starttime": "2017-09-01T10:00:00", "event_peaktime": "2017-09-01T10:10:00", "event_endtime": "2017-09-01T10:20:00",
           "fl_goescls": "M1.0", "hgs_x": 30, "hgs_y": -9, "ar_noaanum": 12673}
    h.routes["/her"] = lambda s, n, q: _send(s, json.dumps({"result": [row, row]}).encode())
    with pytest.raises(DownloadError, match="more than 5 pages"):
        download_hek_flares("2017-09-01", "2017-09-10", tmp_path / "flares.csv", api=url + "/her", page_size=2, config=FAST, max_pages=5)
    assert h.hits["/her"] == 5 and not (tmp_path / "flares.csv").exists()
