"""Fault injection: bad files, bad options, stores reused with other inputs, overwrites. Each is a clear refusal
(exit 2, one line naming the file or flag and the problem) or a correct result; nothing is mixed or lost."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from flarelib._fileio import atomic_write_text, default_file_mode
from flarelib.errors import CorruptFileError, WrongProductError
from flarelib.io.magnetogram import read_jp2_header, read_magnetogram
from flarelib.sim.simulator import SimConfig, simulate_to_jp2

from .conftest import cli_in_process as run_cli


def _one_line_refusal(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-1500:])
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def _write_jp2(path, data, header):
    import glymur
    from lxml import etree as ET

    jp2 = glymur.Jp2k(str(path), data=data, numres=4)
    root = ET.Element("meta")
    fits = ET.SubElement(root, "fits")
    for k, v in header.items():
        ET.SubElement(fits, k).text = str(v)
    jp2.append(glymur.jp2box.XMLBox(xml=ET.ElementTree(root)))
    return path


@pytest.fixture(scope="module")
def hmi_header(real_magnetogram):
    h = dict(read_jp2_header(real_magnetogram))
    h.update(NAXIS1="128", NAXIS2="128", CRPIX1="64.5", CRPIX2="64.5", CDELT1=str(0.6 * 32), CDELT2=str(0.6 * 32))
    return h


# --------------------------------------------------------------------------- files


def test_a_jp2_that_decodes_to_noise_is_refused(tmp_path, hmi_header):
    noise = np.random.default_rng(0).integers(0, 256, (128, 128), dtype=np.uint8)
    f = _write_jp2(tmp_path / "noise.jp2", noise, hmi_header)
    with pytest.raises(CorruptFileError, match="noise|sky"):
        read_magnetogram(f, size_px=128)
    _one_line_refusal(run_cli("inspect", f, "--size", "128"), "noise.jp2")


def test_an_all_nan_fits_is_refused(tmp_path):
    from astropy.io import fits

    hdr = fits.Header({"CONTENT": "MAGNETOGRAM", "BUNIT": "Gauss", "DATE-OBS": "2014-01-01T00:00:00", "CRPIX1": 32.5, "CRPIX2": 32.5,
                       "CDELT1": 30.0, "CDELT2": 30.0, "RSUN_OBS": 960.0, "DSUN_OBS": 1.47e11, "CRLT_OBS": -3.0, "CRLN_OBS": 10.0,
                       "CROTA2": 0.0, "TELESCOP": "SDO/HMI", "INSTRUME": "HMI_SIDE1"})
    f = tmp_path / "blank.fits"
    fits.PrimaryHDU(np.full((64, 64), np.nan, np.float32), header=hdr).writeto(f)
    with pytest.raises(CorruptFileError, match="blank"):
        read_magnetogram(f, size_px=64)


@pytest.mark.parametrize("instrument", [
    {"TELESCOP": "SDO/AIA", "INSTRUME": "AIA_3", "WAVELNTH": "193", "WAVEUNIT": "angstrom"},
    {"TELESCOP": "SOHO", "INSTRUME": "LASCO", "DETECTOR": "C3"},
])
def test_other_instruments_are_named(tmp_path, hmi_header, instrument):
    h = {k: v for k, v in hmi_header.items() if k not in ("CONTENT", "INSTRUME", "TELESCOP", "WAVELNTH")}
    h.update(instrument)
    f = _write_jp2(tmp_path / "other.jp2", np.zeros((128, 128), np.uint8), h)
    with pytest.raises(WrongProductError) as e:
        read_magnetogram(f, size_px=128)
    assert instrument["INSTRUME"] in str(e.value) and "not an HMI line-of-sight magnetogram" in str(e.value)


# --------------------------------------------------------------------------- options and columns


@pytest.mark.parametrize("args, flag", [
    (["inspect", "x.jp2", "--size", "100000"], "--size"),
    (["inspect", "x.jp2", "--size", "0"], "--size"),
    (["simulate", "--out", "s", "--cadence", "0"], "--cadence"),
    (["simulate", "--out", "s", "--start", "yesterday-ish"], "--start"),
    (["evaluate", "p.csv", "--threshold", "1.5"], "--threshold"),
    (["evaluate", "p.csv", "--bootstrap", "-3"], "--bootstrap"),
    (["explain", "f.jp2", "--checkpoint", "c", "--out", "o", "--steps", "0"], "--steps"),
    # sizes that would allocate without bound stop before anything is allocated
    (["simulate", "--out", "s", "--cadence", "1e-7"], "--cadence"),
    (["simulate", "--out", "s", "--activity", "1e6", "--end", "2012-01-07"], "--activity"),
    (["simulate", "--out", "s", "--start", "2300-01-01", "--end", "2300-01-02"], "--start"),
    (["simulate", "--out", "s", "--start", "2012-02-01", "--end", "2012-01-01"], "--end"),
])
def test_impossible_options_are_refused_at_the_door(args, flag, tmp_path):
    r = run_cli(*args)
    assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr


def test_training_options_and_devices_are_checked(tmp_path):
    _one_line_refusal(run_cli("train", "--store", tmp_path, "--out", tmp_path / "r", "--batch-size", "0"), "batch_size")
    if not __import__("torch").cuda.is_available():
        st = tmp_path / "st"
        from flarelib.sim.simulator import simulate_to_store

        simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=96, size_px=32, seed=1), st, workers=1, progress=False)
        _one_line_refusal(run_cli("train", "--store", st, "--out", tmp_path / "r", "--device", "cuda"), "--device", "CUDA")


@pytest.mark.parametrize("column, values, word", [
    ("flare_prob", [0.2, float("nan")], "flare_prob"),
    ("flare_prob", [0.2, -0.7], "flare_prob"),
    ("target", [0, 2], "target"),
])
def test_impossible_prediction_values_are_refused(tmp_path, column, values, word):
    df = pd.DataFrame({"timestamp": ["2012-01-01 00:00:00", "2012-01-01 01:00:00"], "flare_prob": [0.1, 0.9], "target": [0, 1]})
    df[column] = values
    f = tmp_path / "p.csv"
    df.to_csv(f, index=False)
    _one_line_refusal(run_cli("evaluate", f), "p.csv", word, "row 2")


@pytest.mark.parametrize("threshold", ["-1", "0", "nan", "inf", "1e3"])
def test_impossible_label_thresholds_are_refused(tmp_path, threshold, jp2_tree):
    cat = jp2_tree / "catalog.csv"
    _one_line_refusal(run_cli("labels", "make", "--catalog", cat, "--out", tmp_path / "i.csv", "--threshold", threshold,
                              "--start", "2012-01-01", "--end", "2012-01-02"), "--threshold")
    assert not (tmp_path / "i.csv").exists()


@pytest.mark.parametrize("extra, word", [(["--cadence-h", "1e-7"], "--cadence-h"), (["--start", "2012-02-01"], "--start")])
def test_impossible_label_instants_are_refused(tmp_path, extra, word, jp2_tree):
    cat = jp2_tree / "catalog.csv"
    args = ["labels", "make", "--catalog", cat, "--out", tmp_path / "i.csv", "--start", "2012-01-01", "--end", "2012-01-02", *extra]
    _one_line_refusal(run_cli(*args), word)


@pytest.mark.parametrize("change, word", [
    (lambda df: df.assign(fl_lon=df["fl_lon"] + 400.0), "fl_lon"),
    (lambda df: pd.concat([df, df], ignore_index=True), "timestamp"),
    (lambda df: df.assign(partition=[3, 3]), "partition"),
])
def test_prediction_files_are_range_checked(tmp_path, change, word):
    df = pd.DataFrame({"timestamp": ["2012-01-01 00:00:00", "2012-01-01 01:00:00"], "flare_prob": [0.1, 0.9], "target": [0, 1],
                       "max_class": ["", "M1.0"], "fl_lon": [np.nan, 75.0], "fl_lat": [np.nan, 10.0], "partition": [1, 1]})
    f = tmp_path / "p.csv"
    change(df).to_csv(f, index=False)
    _one_line_refusal(run_cli("evaluate", f), "p.csv", word)


# --------------------------------------------------------------------------- nothing mixed, nothing lost


@pytest.fixture(scope="module")
def jp2_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    simulate_to_jp2(SimConfig(start="2012-03-01", end="2012-03-31", cadence_h=24, size_px=64, seed=2), root, progress=False)
    return root


def _index(tmp_path, jp2_tree, threshold="M1.0"):
    out = tmp_path / f"index_{threshold}.csv"
    r = run_cli("labels", "make", "--catalog", jp2_tree / "catalog.csv", "--images", jp2_tree, "--out", out, "--threshold", threshold,
                "--start", "2012-03-01", "--end", "2012-03-31")
    assert r.returncode == 0, r.stderr
    return out


def test_a_store_is_never_mixed_with_other_inputs(tmp_path, jp2_tree):
    idx_m = _index(tmp_path, jp2_tree, "M1.0")
    idx_c = _index(tmp_path, jp2_tree, "C1.0")
    assert pd.read_csv(idx_c)["target"].sum() > pd.read_csv(idx_m)["target"].sum()  # the relabelling changes targets
    store = tmp_path / "store"
    assert run_cli("prepare", "--index", idx_m, "--root", jp2_tree, "--out", store, "--size", "64", "--quiet").returncode == 0
    before = (store / "index.csv").read_bytes()
    # a relabelled index into the same folder: refused, the store untouched
    _one_line_refusal(run_cli("prepare", "--index", idx_c, "--root", jp2_tree, "--out", store, "--size", "64", "--quiet"),
                      "other inputs", "--overwrite")
    assert (store / "index.csv").read_bytes() == before
    # with --overwrite it is rebuilt with the new targets
    assert run_cli("prepare", "--index", idx_c, "--root", jp2_tree, "--out", store, "--size", "64", "--quiet", "--overwrite").returncode == 0
    assert pd.read_csv(store / "index.csv")["target"].tolist() == pd.read_csv(idx_c)["target"].tolist()


def test_a_misspelt_root_is_not_a_complete_store(tmp_path, jp2_tree):
    idx = _index(tmp_path, jp2_tree)
    store = tmp_path / "store"
    _one_line_refusal(run_cli("prepare", "--index", idx, "--root", tmp_path / "no-such-root", "--out", store, "--quiet"),
                      "none of the", "--retry-failed")
    assert not (store / "store.json").exists()
    r = run_cli("prepare", "--index", idx, "--root", jp2_tree, "--out", store, "--size", "64", "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert json.loads((store / "store.json").read_text())["n_ok"] == len(pd.read_csv(idx))


def test_a_simulation_of_another_seed_is_not_mixed_in(tmp_path):
    args = ["simulate", "--start", "2012-03-01", "--end", "2012-03-04", "--cadence", "24", "--size", "32", "--quiet", "--workers", "1"]
    assert run_cli(*args, "--seed", "7", "--out", tmp_path / "s").returncode == 0
    before = (tmp_path / "s" / "images.u8").read_bytes()
    _one_line_refusal(run_cli(*args, "--seed", "10", "--out", tmp_path / "s"), "other inputs")
    assert (tmp_path / "s" / "images.u8").read_bytes() == before


def test_a_period_without_flares_gives_a_report(tmp_path):
    r = run_cli("simulate", "--start", "2012-03-01", "--end", "2012-03-10", "--cadence", "24", "--size", "32", "--seed", "0",
                "--activity", "0.01", "--out", tmp_path / "quiet", "--json", "--quiet", "--workers", "1")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["n_frames"] == 10 and rep["FL"] == 0 and rep["nf_per_fl"] is None


def test_labels_never_overwrite_the_catalog(tmp_path, jp2_tree):
    cat = tmp_path / "catalog.csv"
    cat.write_bytes((jp2_tree / "catalog.csv").read_bytes())
    before = cat.read_bytes()
    _one_line_refusal(run_cli("labels", "make", "--catalog", cat, "--out", cat), "--out", "catalog")
    empty = tmp_path / "empty.csv"
    empty.write_text(cat.read_text().splitlines()[0] + "\n")
    _one_line_refusal(run_cli("labels", "make", "--catalog", empty, "--out", tmp_path / "i.csv"), "--start", "no flares")
    assert cat.read_bytes() == before


def test_atomic_writes_keep_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "meta.json", "{}")
        with open(tmp_path / "plain.json", "w") as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "meta.json").stat().st_mode & 0o777 == (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o644
    assert default_file_mode() == 0o666 & ~old


def test_worker_processes_end_with_a_killed_parent(tmp_path):
    """SIGKILL the command while its worker pool renders: no worker outlives it."""
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    proc = subprocess.Popen([sys.executable, "-m", "flarelib", "simulate", "--start", "2012-01-01", "--end", "2012-12-31", "--cadence", "6",
                             "--size", "64", "--workers", "2", "--quiet", "--out", str(tmp_path / "s")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    t0 = time.time()
    while len(children) < 2 and time.time() - t0 < 60:
        time.sleep(0.1)
        try:
            children = [int(c) for c in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()]
        except FileNotFoundError:
            break
    assert len(children) >= 2, "the pool never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid):
        try:
            return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
        except FileNotFoundError:
            return False

    t0 = time.time()
    while any(alive(c) for c in children) and time.time() - t0 < 5:
        time.sleep(0.1)
    assert not any(alive(c) for c in children)


def test_downloads_without_a_network_stop_fast_and_say_what_is_left(tmp_path):
    """A server that refuses connections: the run stops after three failures in a row, in seconds, with one line."""
    import socket
    import time

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    t0 = time.time()
    r = run_cli("download", "helioviewer", "--start", "2014-01-01", "--end", "2014-01-02", "--out", tmp_path / "jp2",
                "--api", f"http://127.0.0.1:{port}", "--quiet")
    assert time.time() - t0 < 20
    _one_line_refusal(r, "in a row failed", "not tried", "rerun to resume")
    assert (tmp_path / "jp2" / "download_report.csv").is_file()


def test_explanations_never_swap_in_a_synthetic_background_silently(tmp_path, real_magnetogram):
    import torch

    from flarelib.errors import StoreError
    from flarelib.explain.attribution import explain_files
    from flarelib.model.checkpoint import CheckpointMeta, save_checkpoint
    from flarelib.model.network import ModelConfig, build_model

    cfg = ModelConfig(init="kaiming", input_scaling="centered")
    torch.manual_seed(0)
    ck = tmp_path / "model.pt"
    save_checkpoint(ck, {"model": build_model(cfg).state_dict(),
                         "meta": CheckpointMeta(model=cfg, image_size_px=64, fold=1, store_path=str(tmp_path / "moved-away")).to_json()})
    with pytest.raises(StoreError, match="synthetic-background"):
        explain_files(ck, [real_magnetogram], methods=("deepshap",), out=tmp_path / "ex")
    res = explain_files(ck, [real_magnetogram], methods=("deepshap",), out=tmp_path / "ex", synthetic_background=True)
    assert res[0]["background"] == "synthetic"


def test_explaining_a_file_takes_the_disk_from_its_header(tmp_path, real_magnetogram):
    import torch

    from flarelib.explain.attribution import explain, explain_files
    from flarelib.io.geometry import disk_coverage
    from flarelib.io.magnetogram import read_magnetogram
    from flarelib.model.checkpoint import CheckpointMeta, save_checkpoint
    from flarelib.model.network import ModelConfig, build_model

    cfg = ModelConfig(init="kaiming", input_scaling="centered")
    torch.manual_seed(0)
    model = build_model(cfg)
    ck = tmp_path / "model.pt"
    save_checkpoint(ck, {"model": model.state_dict(), "meta": CheckpointMeta(model=cfg, image_size_px=64, fold=1).to_json()})
    res = explain_files(ck, [real_magnetogram], methods=("ig",), out=tmp_path / "ex", n_steps=4)
    saved = np.load(res[0]["maps"]["ig"])
    m = read_magnetogram(real_magnetogram, size_px=64)
    x = torch.from_numpy(m.data.astype(np.float32))[None, None]
    cover = disk_coverage(64, m.meta.disk_center_px, m.meta.disk_radius_px).astype(np.float32)[None]
    model.eval()
    assert np.allclose(saved, explain(model, x, ("ig",), n_steps=4, disks=cover).maps["ig"][0], atol=1e-6)


def test_two_inputs_of_one_name_get_maps_of_their_own():
    from pathlib import Path

    from flarelib.explain.attribution import output_stems

    stems = output_stems([Path("a/x.jp2"), Path("b/x.jp2"), Path("c/y.fits.gz")])
    assert stems[2] == "y" and stems[0] != stems[1] and all(s.startswith("x_") for s in stems[:2])
    assert output_stems([Path("a/x.jp2")]) == ["x"]


def test_a_checkpoint_whose_image_size_is_unbounded_is_refused_before_allocating(tmp_path):
    import json as _json

    from flarelib.model.checkpoint import CheckpointMeta, save_checkpoint
    from flarelib.model.network import ModelConfig, build_model

    meta = CheckpointMeta(model=ModelConfig(), image_size_px=100000)
    save_checkpoint(tmp_path / "big.pt", {"model": build_model(ModelConfig()).state_dict(), "config": _json.dumps({}), "meta": meta.to_json()})
    _one_line_refusal(run_cli("forecast", tmp_path / "x.jp2", "--checkpoint", tmp_path / "big.pt"), "big.pt", "image_size_px")


def test_jp2_frames_of_another_seed_are_never_mixed_in(tmp_path):
    out = tmp_path / "jp2"
    a = SimConfig(start="2012-03-01", end="2012-03-02", cadence_h=24, size_px=32, seed=1)
    simulate_to_jp2(a, out, progress=False)
    before = sorted(p.name for p in out.rglob("*.jp2")), (out / "catalog.csv").read_bytes()
    simulate_to_jp2(a, out, progress=False)  # the same configuration: resumed, nothing changes
    assert (sorted(p.name for p in out.rglob("*.jp2")), (out / "catalog.csv").read_bytes()) == before
    _one_line_refusal(run_cli("simulate", "--format", "jp2", "--out", out, "--start", "2012-03-01", "--end", "2012-03-02",
                              "--cadence", "24", "--size", "32", "--seed", "2", "--quiet"), str(out), "--overwrite")
    assert (out / "catalog.csv").read_bytes() == before[1]  # refused: the old frames and catalog untouched
    r = run_cli("simulate", "--format", "jp2", "--out", out, "--start", "2012-03-05", "--end", "2012-03-05", "--cadence", "24",
                "--size", "32", "--seed", "2", "--overwrite", "--quiet")
    assert r.returncode == 0, r.stderr
    assert [p.name[:10] for p in out.rglob("*.jp2")] == ["2012_03_05"]  # only the new simulation's frame


def test_an_overwritten_training_run_never_keeps_the_old_runs_files(tmp_path):
    from flarelib.model.training import RUN_FILES, TrainConfig, train_fold
    from flarelib.sim.simulator import simulate_to_store

    st = simulate_to_store(SimConfig(start="2012-01-01", end="2012-12-31", cadence_h=96, size_px=128, seed=1), tmp_path / "st",
                           workers=1, progress=False)
    cfg = TrainConfig.offline(epochs=1, batch_size=8, max_batches_per_epoch=1, threads=1)
    train_fold(st, 1, cfg, tmp_path / "run", progress=False)
    fold = tmp_path / "run" / "fold1"
    assert all((fold / n).is_file() for n in RUN_FILES)
    old_log = (fold / "log.csv").read_bytes()
    # a 2-epoch run over it stopped (killed) after its first epoch, before it reports a model
    train_fold(st, 1, TrainConfig.offline(epochs=2, batch_size=8, max_batches_per_epoch=1, threads=1), tmp_path / "run", overwrite=True,
               progress=False, stop_after_epoch=1)
    assert not any((fold / n).is_file() for n in ("model.pt", "predictions.csv"))  # no old reported model beside the new run
    assert (fold / "last.pt").is_file() and (fold / "log.csv").read_bytes() != old_log
