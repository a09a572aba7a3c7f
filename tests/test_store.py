"""The image store: prepare from files, resume, refuse incomplete stores, report bad files."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from flarelib.data.labels import write_index
from flarelib.data.store import StoreWriter, open_store, prepare_store
from flarelib.errors import MagnetogramError, StoreError

from .conftest import run_cli


def _index(paths):
    t = pd.date_range("2022-08-02", periods=len(paths), freq="h")
    return pd.DataFrame({"timestamp": t, "path": paths, "partition": 3, "target": 0, "max_class": "", "peak_flux_wm2": np.nan,
                         "fl_lon": np.nan, "fl_lat": np.nan, "n_flares": 0, "flares": "[]"})


@pytest.fixture
def image_tree(tmp_path, real_magnetogram, real_continuum):
    root = tmp_path / "images"
    root.mkdir()
    names = []
    for k in range(3):
        shutil.copy(real_magnetogram, root / f"m{k}.jp2")
        names.append(f"m{k}.jp2")
    shutil.copy(real_continuum, root / "cont.jp2")
    (root / "trunc.jp2").write_bytes(real_magnetogram.read_bytes()[:100_000])
    return root, names + ["cont.jp2", "trunc.jp2"]


def test_prepare_stores_good_images_and_reports_bad_ones(image_tree, tmp_path):
    root, names = image_tree
    out = prepare_store(_index(names), tmp_path / "store", size_px=128, root=root, workers=2, progress=False)
    st = open_store(out)
    assert len(st) == 3 and st.images.shape == (5, 128, 128) and st.size_px == 128
    assert st.image(0).max() > 200 and np.array_equal(st.image(0), st.image(2))
    fails = pd.read_csv(out / "failures.csv")
    assert sorted(fails["path"].str.split("/").str[-1]) == ["cont.jp2", "trunc.jp2"]
    assert fails["error"].str.contains("not a line-of-sight magnetogram").any()
    man = json.loads((out / "store.json").read_text())
    assert man["n_ok"] == 3 and man["n_failed"] == 2


def test_strict_mode_stops_with_the_file_named(image_tree, tmp_path):
    root, names = image_tree
    with pytest.raises(MagnetogramError, match="cont.jp2"):
        prepare_store(_index(names), tmp_path / "s", size_px=128, root=root, workers=1, on_error="raise", progress=False)
    with pytest.raises(StoreError, match="incomplete"):
        open_store(tmp_path / "s")


def test_an_interrupted_store_is_invalid_and_resumes(tmp_path):
    idx = _index([f"x{k}" for k in range(6)])
    w = StoreWriter(tmp_path / "s", idx, 16)
    for k in range(3):
        w.put(k, np.full((16, 16), k, np.uint8))
    w.checkpoint()
    del w  # "killed" here
    with pytest.raises(StoreError, match="incomplete"):
        open_store(tmp_path / "s")
    w = StoreWriter(tmp_path / "s", idx, 16)
    assert w.todo().tolist() == [3, 4, 5]
    for k in w.todo():
        w.put(int(k), np.full((16, 16), k, np.uint8))
    st = open_store(w.finish())
    assert [int(st.image(k)[0, 0]) for k in range(6)] == [0, 1, 2, 3, 4, 5]


def test_rerun_skips_finished_work(image_tree, tmp_path):
    root, names = image_tree
    idx = _index(names[:2])
    out = prepare_store(idx, tmp_path / "s", size_px=128, root=root, workers=1, progress=False)
    mtime = (out / "images.u8").stat().st_mtime_ns
    prepare_store(idx, tmp_path / "s", size_px=128, root=root, workers=1, progress=False)
    assert (out / "images.u8").stat().st_mtime_ns == mtime


def test_shards_split_the_index(image_tree, tmp_path):
    root, names = image_tree
    idx = _index(names[:3])
    a = open_store(prepare_store(idx, tmp_path / "a", size_px=64, root=root, workers=1, shard=(0, 2), progress=False))
    b = open_store(prepare_store(idx, tmp_path / "b", size_px=64, root=root, workers=1, shard=(1, 2), progress=False))
    assert len(a) + len(b) == 3 and set(a.index["path"]) | set(b.index["path"]) == set(names[:3])


def test_cli_prepare(image_tree, tmp_path):
    root, names = image_tree
    write_index(_index(names), tmp_path / "idx.csv")
    r = run_cli("prepare", "--index", tmp_path / "idx.csv", "--root", root, "--out", tmp_path / "st", "--size", "64", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "3 images of 64 px stored, 2 unreadable" in r.stdout
    r = run_cli("prepare", "--index", tmp_path / "missing.csv", "--out", tmp_path / "st2")
    assert r.returncode == 2 and "missing.csv" in r.stderr


def test_two_writers_of_one_store_folder_are_refused(tmp_path):
    """One writer per folder: while another process writes a store, a second writer is refused in one line."""
    import subprocess
    import sys
    import time

    import numpy as np
    import pandas as pd
    import pytest

    from flarelib.data.store import StoreWriter
    from flarelib.errors import StoreError

    idx = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=2, freq="h"), "path": ["a", "b"], "partition": 1, "target": 0,
                        "max_class": "", "peak_flux_wm2": float("nan"), "fl_lon": float("nan"), "fl_lat": float("nan"), "n_flares": 0,
                        "flares": "[]"})
    idx.to_pickle(tmp_path / "idx.pkl")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, pandas as pd; from flarelib.data.store import StoreWriter; "
                               f"w = StoreWriter({str(tmp_path / 's')!r}, pd.read_pickle({str(tmp_path / 'idx.pkl')!r}), 16); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="being written by process"):
            StoreWriter(tmp_path / "s", idx, 16)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    w = StoreWriter(tmp_path / "s", idx, 16)  # the killed writer's lock went with its process; its store resumes
    for k in range(2):
        w.put(k, np.zeros((16, 16), np.uint8))
    w.finish()
