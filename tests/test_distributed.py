"""Distributed data-parallel training: 2 processes with gloo on loopback match one process."""
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from .conftest import ROOT, run_cli
from .test_model_training import tiny_store  # noqa: F401  (fixture)


def test_two_gloo_processes_match_one(tiny_store, tmp_path):  # noqa: F811
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    args = ["train", "--store", str(tiny_store), "--fold", "3", "--epochs", "2", "--batch-size", "16", "--max-batches", "6",
            "--threads", "1", "--seed", "4", "--quiet"]
    one = run_cli(*args, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    two = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "flarelib", *args, "--out", str(tmp_path / "two")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a = pd.read_csv(tmp_path / "one" / "fold3" / "log.csv")
    b = pd.read_csv(tmp_path / "two" / "fold3" / "log.csv")
    # every rank saw its share, all instances were seen, and validation covered every instance on both
    assert (a["train_images"] == b["train_images"]).all()
    assert b["train_loss"].to_numpy() == pytest.approx(a["train_loss"].to_numpy(), rel=0.05)
    assert b["val_loss"].to_numpy() == pytest.approx(a["val_loss"].to_numpy(), rel=0.05)
    pa = pd.read_csv(tmp_path / "one" / "fold3" / "predictions.csv")
    pb = pd.read_csv(tmp_path / "two" / "fold3" / "predictions.csv")
    assert len(pa) == len(pb) and (pb["flare_prob"] > 0).all()
    assert (pb["flare_prob"] - pa["flare_prob"]).abs().max() < 0.1
    # rank 0 wrote the checkpoints: they load safely
    ck = torch.load(tmp_path / "two" / "fold3" / "last.pt", weights_only=True)
    assert ck["epoch"] == 1
