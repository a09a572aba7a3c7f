"""The GPU check's rehearsal: the one prepared shot runs end to end on the CPU, with only what the GPU machine has."""
import json
import subprocess
import sys

import pandas as pd

from .conftest import ROOT

#: Not on the lent GPU machine (captum may travel as a wheel; without it the attribution rows say "not measured").
ABSENT = ("glymur", "astropy", "sunpy", "papermill", "jupyter_core", "matplotlib", "seaborn", "captum", "lxml")


def test_gpu_check_rehearsal_runs_without_the_optional_packages(tmp_path):
    code = ("import sys, runpy\n"
            f"for m in {ABSENT!r}:\n    sys.modules[m] = None\n"
            f"sys.argv = ['gpu_check.py', '--rehearse', '--out', {str(tmp_path / 'out')!r}, '--work', {str(tmp_path / 'work')!r}]\n"
            f"runpy.run_path({str(ROOT / 'benchmarks' / 'gpu_check.py')!r}, run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    df = pd.read_csv(tmp_path / "out" / "gpu_check.csv")
    assert {"host", "gpu", "torch", "device", "step", "case", "value", "unit", "note"} <= set(df.columns)
    assert {"simulate", "pipeline", "train", "score", "attribution", "total"} <= set(df["step"])
    pipe = df[df["step"] == "pipeline"].set_index("case")["value"]
    assert (pipe[["loader alone", "fp32", "bf16 + channels_last"]] > 0).all()
    scores = df[df["step"] == "score"].set_index("case")
    for name in ("FullDiskAlexNet, reference recipe", "persistence", "image-features", "oracle", "present-disk oracle", "model / oracle"):
        assert name in scores.index, name
    assert scores.loc["oracle", "value"] > scores.loc["climatology", "value"]
    assert df[df["step"] == "attribution"]["note"].str.contains("not measured").all()  # captum absent here
    meta = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert meta["rehearsal"] is True and meta["machine"]["torch"]
