#!/usr/bin/env python
"""The paper's setting on a GPU in one prepared shot: 512 px, the reference recipe, four folds, measured.

On a CUDA machine (``make gpu-check``), within a wall-time budget (8 minutes by default) and with only PyTorch,
torchvision, NumPy, pandas, SciPy, scikit-learn and tqdm (captum optional, for the attribution timings):

1. simulates the book's data set (its period and cadence) at 512 px on all CPU cores, to local disk;
2. measures the training pipeline at 512 px (store -> pinned batches -> on-device augmentation ->
   forward/backward) in images/s: fp32, bf16 + channels_last, each with and without ``torch.compile``, and the
   loader alone;
3. trains the four folds with the reference recipe (``TrainConfig.paper``) for 40 epochs or as many as the budget
   allows (it says how many), and scores them beside the baselines and the simulator's two oracles;
4. times Guided Grad-CAM, Deep SHAP and Integrated Gradients per 512 px image;
5. writes every row (machine, GPU, torch version, settings) to ``OUT/gpu_check.csv`` and ``OUT/gpu_check.json``
   and prints a short table.

``--rehearse`` runs the same steps tiny (a few weeks, 64 px, one epoch, the CPU) so that the one GPU shot cannot
fail on a typo; ``make test`` runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from flarelib.data.dataset import BatchLoader, StoreDataset  # noqa: E402
from flarelib.data.store import open_store  # noqa: E402
from flarelib.model.network import build_model  # noqa: E402
from flarelib.model.training import TrainConfig, cross_validate, pick_device  # noqa: E402
from flarelib.sim.simulator import SimConfig, simulate_to_store  # noqa: E402
from flarelib.verify import baselines  # noqa: E402
from flarelib.verify.evaluation import read_predictions, score_table  # noqa: E402

#: The book's data set (Makefile BOOK_PARAMS): its period and cadence.
BOOK_PERIOD = ("2012-01-01T00:00:00", "2014-12-31T12:00:00", 12.0)
REHEARSAL_PERIOD = ("2012-01-01T00:00:00", "2012-12-31T00:00:00", 24.0)


def machine() -> dict:
    return {"host": platform.node(), "cpu_cores": os.cpu_count(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "torch": torch.__version__, "cuda": torch.version.cuda or "none"}


def simulate(out: Path, size: int, period, workers: int) -> tuple[Path, float]:
    t0 = time.perf_counter()
    start, end, cadence = period
    path = simulate_to_store(SimConfig(start=start, end=end, cadence_h=cadence, size_px=size, seed=0), out, workers=workers,
                             progress=False, overwrite=True)
    return path, time.perf_counter() - t0


def pipeline_rate(store, device, batch: int, n_batches: int, amp: bool, channels_last: bool, compile_: bool, train: bool = True) -> float:
    """Images per second of training steps (or of the loader alone with ``train=False``) over ``n_batches``."""
    ds = StoreDataset(store, (1, 2, 3))
    torch.manual_seed(0)
    model = build_model(TrainConfig.paper().model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step = torch.compile(model) if compile_ else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    warm = 2 if train else 1
    seen, t0 = 0, None
    for b, (x, y, _) in enumerate(BatchLoader(ds, batch, augment=True, device=device, max_batches=n_batches + warm)):
        if b == warm:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        if train:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(step(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / max(time.perf_counter() - t0, 1e-9) if t0 is not None else float("nan")


def attribution_times(store, device, steps: int) -> list[dict]:
    try:
        from flarelib.explain.attribution import explain
    except ImportError as exc:  # pragma: no cover
        return [{"step": "attribution", "case": "all", "value": float("nan"), "unit": "s/image", "note": f"not measured: {exc}"}]
    model = build_model(TrainConfig.paper().model).eval()
    x = torch.from_numpy(np.asarray(store.images[:1]).astype(np.float32))[:, None]
    bg = torch.from_numpy(np.asarray(store.images[1:5]).astype(np.float32))[:, None]
    rows = []
    for m in ("gradcam", "deepshap", "ig"):
        try:
            t0 = time.perf_counter()
            explain(model, x, methods=(m,), background=bg, n_steps=steps)
            rows.append({"step": "attribution", "case": m, "value": time.perf_counter() - t0, "unit": "s/image",
                         "note": f"{store.size_px} px, IG {steps} steps, captum on the CPU copy"})
        except ImportError as exc:
            rows.append({"step": "attribution", "case": m, "value": float("nan"), "unit": "s/image", "note": f"not measured: {exc}"})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/gpu", help="folder for gpu_check.csv/json")
    ap.add_argument("--work", default=None, help="local scratch folder for the store and runs (default: OUT/../.gpu_work)")
    ap.add_argument("--rehearse", action="store_true", help="tiny, on the CPU: check the script end to end")
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall-time budget of the whole check (480)")
    ap.add_argument("--epochs", type=int, default=40, help="the reference recipe's epochs (fewer when the budget says so)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out.parent / ".gpu_work"
    device = torch.device("cpu") if args.rehearse else pick_device("auto")
    size, period = (64, REHEARSAL_PERIOD) if args.rehearse else (512, BOOK_PERIOD)
    batch = 8 if args.rehearse else 64
    mach = machine()
    rows = []

    def add(step, case, value, unit, note=""):
        rows.append({**mach, "device": str(device), "step": step, "case": case, "value": float(value), "unit": unit, "note": note})

    store_path, sim_s = simulate(work / f"store{size}", size, period, os.cpu_count() or 1)
    store = open_store(store_path)
    add("simulate", f"{len(store)} frames at {size} px", sim_s, "s", f"{os.cpu_count()} processes")

    n_b = 2 if args.rehearse else 30
    use_amp = device.type == "cuda"
    settings = [("loader alone", False, False, False, False), ("fp32", False, False, False, True),
                ("bf16 + channels_last", use_amp, True, False, True)]
    if not args.rehearse:
        settings += [("fp32 + torch.compile", False, False, True, True), ("bf16 + channels_last + torch.compile", True, True, True, True)]
    rates = {}
    for name, amp, cl, comp, train in settings:
        try:
            rates[name] = pipeline_rate(store, device, batch, n_b, amp, cl, comp, train)
            add("pipeline", name, rates[name], "images/s", f"batch {batch}, {size} px, {n_b} batches after warm-up")
        except Exception as exc:  # a compile failure is a result to report, not a reason to lose the rest
            add("pipeline", name, float("nan"), "images/s", f"failed: {type(exc).__name__}: {str(exc)[:150]}")

    # training: as many epochs of the reference recipe as the remaining budget allows
    best_rate = np.nanmax([v for k, v in rates.items() if k != "loader alone"] or [float("nan")])
    amp_best = rates.get("bf16 + channels_last", 0) >= rates.get("fp32", 0)
    n_train = 4 * int((store.index["target"] == 1).sum()) + 2 * int((store.index["target"] == 0).sum())
    epoch_s = 0.75 * n_train / best_rate + 0.25 * len(store) / (3 * best_rate) if np.isfinite(best_rate) else float("inf")
    left = args.budget_s - (time.perf_counter() - t_start) - 60.0  # keep a minute for scoring and attribution
    epochs = 1 if args.rehearse else int(max(1, min(args.epochs, left / max(4 * epoch_s, 1e-9))))
    cfg = TrainConfig.paper(epochs=epochs, batch_size=batch, device=str(device), amp=amp_best and use_amp, channels_last=amp_best,
                            max_batches_per_epoch=2 if args.rehearse else None, threads=2 if args.rehearse else None)
    t0 = time.perf_counter()
    results = cross_validate(store_path, cfg, work / "run", overwrite=True, progress=False)
    add("train", f"reference recipe, 4 folds x {epochs} epochs", time.perf_counter() - t0, "s",
        f"{epochs} of {args.epochs} epochs fit the budget; estimated {epoch_s:.0f} s per epoch; collapsed folds "
        f"{[r.fold for r in results if r.collapsed] or 'none'}")

    frames = [read_predictions(r.dir / "predictions.csv") for r in results]
    forecasts = {"FullDiskAlexNet, reference recipe": (frames, [0.5] * len(frames))}
    idx = store.index
    for name, make in (("climatology", baselines.climatology), ("persistence", baselines.persistence),
                       ("graded-persistence", baselines.graded_persistence), ("image-features", None)):
        try:
            bf = make(idx) if make is not None else baselines.image_features(store, progress=False)
            forecasts[bf.name] = (bf.frames, bf.thresholds)
        except ValueError as exc:
            add("score", f"{name} left out", float("nan"), "", str(exc))
    oracle = pd.read_csv(store_path / "oracle.csv", parse_dates=["timestamp"]).set_index("timestamp")
    for col, name in (("p_present", "present-disk oracle"), ("p_oracle", "oracle")):
        bf = baselines.from_scores(name, idx, oracle[col])
        forecasts[name] = (bf.frames, bf.thresholds)
    table = score_table(forecasts, n_boot=50 if args.rehearse else 300)
    for r in table.itertuples():
        add("score", r.forecast, r.tss, "TSS", f"[{r.tss_lo:.2f}, {r.tss_hi:.2f}] HSS {r.hss:.2f} AUC {r.auc:.2f}")
    model_tss = float(table["tss"].iloc[0])
    for name in ("oracle", "present-disk oracle"):
        ref = float(table.set_index("forecast").loc[name, "tss"])
        add("score", f"model / {name}", model_tss / ref if ref > 0 else float("nan"), "fraction")
    per_fold = {f"fold {r.fold}": float(r.log[r.log["epoch"] == r.reported_epoch]["val_tss"].iloc[0]) for r in results}
    for k, v in per_fold.items():
        add("score", f"model {k}", v, "TSS", "final epoch")

    for r in attribution_times(store, torch.device("cpu"), steps=4 if args.rehearse else 50):
        add(r["step"], r["case"], r["value"], r["unit"], r["note"])
    add("total", "wall time", time.perf_counter() - t_start, "s", "rehearsal" if args.rehearse else f"budget {args.budget_s:.0f} s")

    df = pd.DataFrame(rows)
    df.to_csv(out / "gpu_check.csv", index=False)
    (out / "gpu_check.json").write_text(json.dumps({"machine": mach, "rehearsal": args.rehearse, "rows": rows}, indent=2, default=float))
    with pd.option_context("display.width", 160, "display.max_colwidth", 70):
        print(df[["step", "case", "value", "unit", "note"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
