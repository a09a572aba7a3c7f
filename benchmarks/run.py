#!/usr/bin/env python
"""`make bench`: speed (and peak memory) of every stage, written to bench-results/ and printed as a table.

Each benchmark is a function returning rows ``{"benchmark", "case", "value", "unit", "note"}``; the machine
is recorded with every row. Run one with ``python benchmarks/run.py NAME``.
"""
from __future__ import annotations

import csv
import os
import platform
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flarelib.io.download import fetch_reference  # noqa: E402

REGISTRY = {}


def bench(fn):
    REGISTRY[fn.__name__] = fn
    return fn


def machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # pragma: no cover
        gpu = "no torch"
    return f"{platform.node()} {os.cpu_count()} cores {platform.machine()} {gpu}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timeit(fn, min_s=1.0, min_n=3):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < min_n or time.perf_counter() - t0 < min_s:
        fn()
        n += 1
    return (time.perf_counter() - t0) / n


@bench
def decode():
    """Reduced-resolution JP2 decode against a full decode then a resize, on the real HMI JP2."""
    import glymur
    import numpy as np
    from PIL import Image

    from flarelib.io.magnetogram import read_magnetogram

    path = fetch_reference("helioviewer/2022_08_02__10_47_53_000__SDO_HMI_HMI_magnetogram.jp2")
    t_reduced = timeit(lambda: read_magnetogram(path, 512))

    def full():
        a = glymur.Jp2k(str(path))[:]
        return np.asarray(Image.fromarray(a).resize((512, 512), Image.Resampling.BOX))

    t_full = timeit(full)
    return [
        {"benchmark": "decode", "case": "reduced-resolution JP2 -> 512 px", "value": 1 / t_reduced, "unit": "images/s"},
        {"benchmark": "decode", "case": "full 4096 px decode + resize", "value": 1 / t_full, "unit": "images/s"},
        {"benchmark": "decode", "case": "speed-up (reduced / full)", "value": t_full / t_reduced, "unit": "x"},
    ]


@bench
def simulator():
    """Simulated frames per second at 512 px (one process) and peak memory."""
    from flarelib.sim.simulator import SimConfig, Simulator

    sim = Simulator(SimConfig(start="2012-06-01", end="2012-06-10", size_px=512))
    i = iter(range(10_000))
    t = timeit(lambda: sim.frame(next(i) % len(sim.times)), min_s=2.0)
    return [{"benchmark": "simulator", "case": "frame 512 px, 1 process", "value": 1 / t, "unit": "frames/s",
             "note": f"one simulated year hourly: {8784 * t / 60 / min(2, os.cpu_count() or 1):.1f} min on {min(2, os.cpu_count() or 1)} cores"},
            {"benchmark": "simulator", "case": "peak memory", "value": peak_rss_mb(), "unit": "MB"}]


def _bench_store(size_px: int, n: int):
    """A small simulated store for loader and training benchmarks (cached under benchmarks/.cache)."""
    from flarelib.sim.simulator import SimConfig, simulate_to_store

    out = ROOT / "benchmarks" / ".cache" / f"store{size_px}_{n}"
    hours = max(1, int(24 * 365 / n))
    cfg = SimConfig(start="2012-01-01", end=str(pd_ts("2012-01-01") + (n - 1) * pd_td(hours)), cadence_h=hours, size_px=size_px)
    return simulate_to_store(cfg, out, progress=False)


def pd_ts(s):
    import pandas as pd

    return pd.Timestamp(s)


def pd_td(h):
    import pandas as pd

    return pd.Timedelta(hours=h)


class _FileDataset:
    """A per-sample image-file loader like the reference study's: PIL decode + per-sample torchvision transforms."""

    def __init__(self, files, targets):
        import torchvision.transforms as T

        self.files, self.targets = files, targets
        self.tf = T.Compose([T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.RandomRotation(5), T.ToTensor()])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        return self.tf(Image.open(self.files[i]).convert("L")) * 255.0, int(self.targets[i])


def _file_loader(store, batch_size, workers):
    import torch
    from PIL import Image

    d = store.path / "png"
    if not d.is_dir():
        d.mkdir()
        for k in range(len(store)):
            Image.fromarray(store.image(k)).save(d / f"{k:06d}.png")
    files = sorted(d.glob("*.png"))
    ds = _FileDataset(files, store.index["target"].to_numpy())
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers)


@bench
def loader():
    """Images/s the training data pipeline delivers: our uint8 store + batched tensor augmentation vs per-sample files."""
    from flarelib.data.dataset import BatchLoader, StoreDataset
    from flarelib.data.store import open_store

    rows = []
    for size in (128, 512):
        st = open_store(_bench_store(size, 512))
        ds = StoreDataset(st)
        dl = _file_loader(st, 64, workers=min(2, os.cpu_count() or 1))

        def ours_epoch(epoch):
            return sum(len(y) for _, y, _ in BatchLoader(ds, 64, epoch=epoch, augment=True))

        def theirs_epoch():
            return sum(len(y) for _, y in dl)

        ours_epoch(0), theirs_epoch()  # warm the page cache and the worker start-up for both
        t0 = time.perf_counter()
        n = sum(ours_epoch(e) for e in (1, 2, 3))
        ours = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = sum(theirs_epoch() for _ in range(3))
        theirs = n / (time.perf_counter() - t0)
        rows += [{"benchmark": "loader", "case": f"{size} px store + batched augmentation", "value": ours, "unit": "images/s",
                  "note": "uint8 batches, read and augmented by 2 reader threads"},
                 {"benchmark": "loader", "case": f"{size} px per-sample PNG files + transforms", "value": theirs, "unit": "images/s",
                  "note": f"like the reference study's loader, {min(2, os.cpu_count() or 1)} worker processes"},
                 {"benchmark": "loader", "case": f"{size} px speed-up", "value": ours / theirs, "unit": "x"}]
    rows.append({"benchmark": "loader", "case": "peak memory", "value": peak_rss_mb(), "unit": "MB"})
    return rows


@bench
def training():
    """Training and inference images/s of FullDiskAlexNet at 128 and 512 px on this machine (store-backed pipeline)."""
    import torch
    import torch.nn.functional as F

    from flarelib.data.dataset import BatchLoader, StoreDataset
    from flarelib.data.store import open_store
    from flarelib.model.network import ModelConfig, build_model
    from flarelib.model.training import pick_device

    dev = pick_device("auto")
    rows = []
    for size in (128, 512):
        st = open_store(_bench_store(size, 512))
        ds = StoreDataset(st)
        nb = 6 if dev.type == "cpu" else 60
        loaders = {"store + batched augmentation": lambda: BatchLoader(ds, 64, augment=True, device=dev, max_batches=nb + 1),
                   "per-sample PNG files": lambda: ((x.to(dev), y.to(dev), None) for k, (x, y) in
                                                    zip(range(nb + 1), _file_loader(st, 64, workers=min(2, os.cpu_count() or 1))))}
        for name, make in loaders.items():
            torch.manual_seed(0)
            model = build_model(ModelConfig(init="kaiming", input_scaling="centered")).to(dev)
            opt = torch.optim.AdamW(model.parameters(), 3e-4)
            n, t0 = 0, None
            for k, (x, y, _) in enumerate(make()):
                if k == 1:
                    t0, n = time.perf_counter(), 0
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    loss = F.cross_entropy(model(x).float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n += len(y)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            rows.append({"benchmark": "training", "case": f"train {size} px, {name} ({dev.type})", "value": n / (time.perf_counter() - t0),
                         "unit": "images/s", "note": "same model, loader included"})
        model.eval()
        with torch.no_grad():
            x = torch.rand(64, 1, size, size, device=dev) * 255
            t = timeit(lambda: model(x).sum().item(), min_s=1.0)
        rows.append({"benchmark": "training", "case": f"inference {size} px ({dev.type})", "value": 64 / t, "unit": "images/s"})
    if dev.type != "cuda":
        rows.append({"benchmark": "training", "case": "GPU (bf16, channels_last)", "value": float("nan"), "unit": "images/s",
                     "note": "not measured: no GPU on this machine"})
    rows.append({"benchmark": "training", "case": "peak memory", "value": peak_rss_mb(), "unit": "MB"})
    return rows


@bench
def cpu_mixed_precision():
    """bf16 autocast + channels_last against fp32, training steps on this CPU, interleaved in the same run.

    Rounds alternate between the two settings so that any contention from other processes hits both alike;
    the median over rounds is reported. Adopting bf16 for the CPU profile would also need the book's skill
    unchanged within the fold spread, which this speed benchmark does not measure.
    """
    import statistics

    import torch
    import torch.nn.functional as F

    from flarelib.model.network import ModelConfig, build_model

    rows = []
    for size in (128, 256):
        x = torch.rand(32, 1, size, size) * 255
        y = torch.randint(0, 2, (32,))
        times = {"fp32": [], "bf16 + channels_last": []}
        models = {}
        for name in times:
            torch.manual_seed(0)
            m = build_model(ModelConfig(init="kaiming", input_scaling="centered"))
            if name != "fp32":
                m = m.to(memory_format=torch.channels_last)
            models[name] = (m, torch.optim.AdamW(m.parameters(), 3e-4))

        def step(name):
            m, opt = models[name]
            xx = x.contiguous(memory_format=torch.channels_last) if name != "fp32" else x
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name != "fp32"):
                loss = F.cross_entropy(m(xx).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for name in times:
            step(name)  # warm-up
        for _ in range(5):
            for name in times:
                t0 = time.perf_counter()
                step(name)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, s in med.items():
            rows.append({"benchmark": "cpu_mixed_precision", "case": f"train step {size} px, {name}", "value": 32 / s, "unit": "images/s",
                         "note": "median of 5 interleaved rounds, batch 32"})
        rows.append({"benchmark": "cpu_mixed_precision", "case": f"speed-up of bf16 + channels_last at {size} px",
                     "value": med["fp32"] / med["bf16 + channels_last"], "unit": "x", "note": "same run, same batches"})
    return rows


@bench
def architectures():
    """Training images/s of FlareRateNet (the headline network) and FullDiskAlexNet at 128, 256 and 512 px on this CPU.

    One training step (forward, backward, AdamW) on a batch of 32 uint8 images, fp32 and bf16 + channels_last,
    median of 3 rounds; the loader is not included (``training`` measures it with the loader).
    """
    import statistics

    import torch
    import torch.nn.functional as F

    from flarelib.model.network import FromStem, ModelConfig, build_model

    nets = {"FlareRateNet (Schrijver stem, width 16)": ModelConfig(arch="ratenet", stem="schrijver", width=16, disk=(0.5, 0.5, 0.38)),
            "FullDiskAlexNet (gap head)": ModelConfig(init="kaiming", input_scaling="centered", head="gap")}
    rows = []
    for size in (128, 256, 512):
        x = torch.randint(0, 256, (32, 1, size, size), dtype=torch.uint8)
        y = torch.randint(0, 2, (32,))
        for net, cfg in nets.items():
            for bf16 in (False, True):
                torch.manual_seed(0)
                m = build_model(cfg)
                if bf16:
                    m = m.to(memory_format=torch.channels_last)
                opt = torch.optim.AdamW(m.parameters(), 3e-4)
                xx = x.contiguous(memory_format=torch.channels_last) if bf16 else x

                def step():
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        loss = F.cross_entropy(m(xx).float(), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

                step()
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t0)
                rows.append({"benchmark": "architectures", "case": f"{net}, train {size} px, {'bf16 + channels_last' if bf16 else 'fp32'}",
                             "value": 32 / statistics.median(times), "unit": "images/s", "note": "median of 3 steps, batch 32, no loader"})
        # the fixed stem computed once per image (train_independent's path): the learned layers alone, and the stem pass
        torch.manual_seed(0)
        m = build_model(nets["FlareRateNet (Schrijver stem, width 16)"]).to(memory_format=torch.channels_last)
        with torch.no_grad():
            t0 = time.perf_counter()
            z = m.stem_features(x).contiguous(memory_format=torch.channels_last)
            stem_s = time.perf_counter() - t0
        head = FromStem(m)
        opt = torch.optim.AdamW(m.parameters(), 3e-4)

        def head_step():
            loss = F.cross_entropy(head(z), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        head_step()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            head_step()
            times.append(time.perf_counter() - t0)
        rows.append({"benchmark": "architectures", "case": f"FlareRateNet from its cached stem, train {size} px, fp32 + channels_last",
                     "value": 32 / statistics.median(times), "unit": "images/s", "note": "learned layers only; the stem once per image"})
        rows.append({"benchmark": "architectures", "case": f"FlareRateNet stem pass, {size} px", "value": 32 / stem_s, "unit": "images/s",
                     "note": "once per image and Sun, shared by every epoch and model seed"})
    return rows


def _rss_anon_mb() -> float:
    """Anonymous resident memory of this process (MB): what cannot be dropped like page cache."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class _PeakSampler:
    """Samples the anonymous RSS every 20 ms in a thread; ``peak`` after the block."""

    def __enter__(self):
        import threading

        self.peak, self._stop = _rss_anon_mb(), threading.Event()

        def run():
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, _rss_anon_mb())

        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss_anon_mb())


@bench
def memory():
    """The real archive's scale: a 63,649 x 512 x 512 store (16.7 GB, sparse zeros) with the published labels.

    The loader walks training batches over it and the model trains on a few;
    the anonymous memory (not the reclaimable page cache of the memory map)
    is what a 16 GB machine must hold.
    """
    import json

    import pandas as pd
    import torch

    from flarelib.data.dataset import BatchLoader, StoreDataset
    from flarelib.data.labels import read_published_index, write_index
    from flarelib.data.store import FORMAT_VERSION, MANIFEST, open_store
    from flarelib.io.download import shared_data_dir
    from flarelib.model.network import ModelConfig, build_model

    labels = (shared_data_dir() or Path("/nonexistent")) / "pandey2023" / "labels"
    if not labels.is_dir():
        return [{"benchmark": "memory", "case": "real-archive scale", "value": float("nan"), "unit": "MB",
                 "note": "not measured: the published labels (../shared/data/pandey2023) are not here"}]
    out = ROOT / "benchmarks" / ".cache" / "archive512_sparse"
    if not (out / MANIFEST).is_file():
        out.mkdir(parents=True, exist_ok=True)
        index = pd.concat([read_published_index(p) for p in sorted(labels.glob("Fold*_val.csv"))], ignore_index=True)
        index["slot"], index["ok"] = range(len(index)), 1
        with open(out / "images.u8", "wb") as fh:  # sparse: no disk used, reads give zeros
            fh.truncate(len(index) * 512 * 512)
        write_index(index, out / "index.csv")
        (out / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION, "complete": True, "n": len(index), "n_ok": len(index),
                                                "n_failed": 0, "size_px": 512, "dtype": "uint8", "source": "benchmark"}))
    st = open_store(out)
    base = _rss_anon_mb()
    ds = StoreDataset(st, (1, 2, 3))
    with _PeakSampler() as loader_mem:
        n = sum(len(y) for _, y, _ in BatchLoader(ds, 64, augment=True, max_batches=150))
    torch.manual_seed(0)
    model = build_model(ModelConfig(weights=None, init="kaiming", input_scaling="centered"))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    with _PeakSampler() as train_mem:
        for x, y, _ in BatchLoader(ds, 64, augment=True, max_batches=2):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    size_gb = st.images.nbytes / 1e9
    return [{"benchmark": "memory", "case": "real-archive store (memory-mapped)", "value": size_gb, "unit": "GB",
             "note": f"{len(st)} x 512 x 512 uint8, the published labels"},
            {"benchmark": "memory", "case": "loader over it, peak anonymous RSS", "value": loader_mem.peak, "unit": "MB",
             "note": f"{n} images in batches of 64; process baseline {base:.0f} MB"},
            {"benchmark": "memory", "case": "training at 512 px, batch 64, peak anonymous RSS", "value": train_mem.peak, "unit": "MB",
             "note": "FullDiskAlexNet + AdamW + loader (CPU); fits a 16 GB machine"}]


@bench
def attribution():
    """Seconds per image per attribution method (128 px model, 50 IG steps, 8 background images)."""
    import torch

    from flarelib.data.store import open_store
    from flarelib.explain.attribution import explain
    from flarelib.model.network import ModelConfig, build_model

    st = open_store(_bench_store(128, 512))
    x = torch.from_numpy(st.images[:4].astype("float32"))[:, None]
    bg = torch.from_numpy(st.images[4:12].astype("float32"))[:, None]
    model = build_model(ModelConfig(init="kaiming", input_scaling="centered")).eval()
    rows = []
    for m in ("gradcam", "deepshap", "ig"):
        t = timeit(lambda: explain(model, x, methods=(m,), background=bg, n_steps=50), min_s=1.0, min_n=1)
        rows.append({"benchmark": "attribution", "case": f"{m} (cpu, 128 px)", "value": t / len(x), "unit": "s/image"})
    return rows


@bench
def explanation_evaluation():
    """Seconds per instance of `explain --evaluate` (3 methods, 3 controls, deletion curves; 128 px, 32 IG steps)."""
    import time

    import torch

    from flarelib.data.store import open_store
    from flarelib.explain.evaluation import ExplanationEvalConfig, evaluate_explanations, simulator_truth, validation_predictions
    from flarelib.model.network import ModelConfig, build_model

    st = open_store(_bench_store(128, 512))
    torch.manual_seed(0)
    model = build_model(ModelConfig(init="kaiming", input_scaling="centered", head="gap")).eval()
    preds = validation_predictions(model, st, 1, 128)
    sim, cat = simulator_truth(st)
    cfg = ExplanationEvalConfig(n_per_kind=8, n_boot=200, n_randomisation=4)
    t0 = time.perf_counter()
    ev = evaluate_explanations(model, st, preds, cfg, fold=1, size_px=128, sim=sim, catalog=cat, progress=False)
    t = time.perf_counter() - t0
    n = len(ev.instances)
    return [{"benchmark": "explanations", "case": "evaluate, per instance (cpu, 128 px)", "value": t / n, "unit": "s/instance",
             "note": f"{n} instances incl. the randomisation test; 50 per stratum (300 instances) ~ {300 * t / n / 60:.0f} min"}]


def main(argv=None) -> int:
    names = (argv or sys.argv[1:]) or list(REGISTRY)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    rows = []
    m = machine()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in names:
        for r in REGISTRY[name]():
            rows.append({"benchmark": r["benchmark"], "case": r["case"], "value": f"{r['value']:.4g}", "unit": r["unit"],
                         "note": r.get("note", ""), "machine": m, "date": stamp})
    old = []
    if (out_dir / "latest.csv").is_file():  # keep rows of benchmarks not rerun now (e.g. GPU rows from a lent device)
        with open(out_dir / "latest.csv") as fh:
            old = [r for r in csv.DictReader(fh) if r["benchmark"] not in names]
    rows = old + rows
    with open(out_dir / "latest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["| benchmark | case | value | unit | note | machine | date |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['benchmark']} | {r['case']} | {r['value']} | {r['unit']} | {r['note']} | {r['machine']} | {r['date']} |" for r in rows]
    (out_dir / "summary.md").write_text("\n".join(md) + "\n")
    width = max(len(r["case"]) for r in rows)
    print(f"machine: {m}")
    for r in rows:
        print(f"{r['benchmark']:<12} {r['case']:<{width}} {r['value']:>10} {r['unit']:<10} {r['note']}")
    print(f"written: {out_dir / 'latest.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
