"""CLI subcommands of the model side: train, evaluate, baseline, forecast and explain."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..data.labels import read_index
from ..data.store import open_store
from ..errors import InputError
from ..explain.attribution import explain_files
from ..forecast import forecast_files
from ..io.download import download_helioviewer
from ..model.network import ModelConfig
from ..model.training import TrainConfig, cross_validate
from ..verify import baselines
from ..verify.calibration import CALIBRATION_KINDS
from ..verify.evaluation import evaluate, read_predictions, summarise
from ..verify.uncertainty import DEFAULT_BLOCK_DAYS
from .options import add_dataclass_options, dataclass_overrides, float_in, int_in, timestamp

_TRAIN_SKIP = ("profile", "model")


def _cmd_train(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TrainConfig.for_profile(args.profile, **dataclass_overrides(args, TrainConfig, _TRAIN_SKIP))
    model_kw = dataclass_overrides(args, ModelConfig)
    if model_kw:
        cfg = replace(cfg, model=replace(cfg.model, **model_kw))
    folds = (1, 2, 3, 4) if args.fold == "all" else (int(args.fold),)
    results = cross_validate(args.store, cfg, args.out, folds=folds, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    rows = []
    for r in results:
        last = r.log.iloc[-1] if len(r.log) else None
        rep = r.log[r.log["epoch"] == r.reported_epoch]
        rows.append({"fold": r.fold, "reported_epoch": r.reported_epoch, "selection": r.selection,
                     "val_tss": float(rep["val_tss"].iloc[0]) if len(rep) else float("nan"),
                     "val_hss": float(rep["val_hss"].iloc[0]) if len(rep) else float("nan"),
                     "epochs_run": int(last["epoch"]) if last is not None else 0, "collapsed": r.collapsed})
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def _cmd_evaluate(args) -> int:
    labels = args.labels or [None] * len(args.predictions)
    if len(labels) != len(args.predictions):
        raise InputError(f"--labels: {len(args.predictions)} prediction files but {len(labels)} label files")
    frames = [read_predictions(p, lab) for p, lab in zip(args.predictions, labels)]
    res = evaluate(frames, threshold=args.threshold, bootstrap=args.bootstrap, seed=args.seed, block_days=args.block_days,
                   calibrate=args.calibrate)
    print(json.dumps(res, indent=2, default=float) if args.json else summarise(res))
    return 0


def _cmd_baseline(args) -> int:
    if args.kind == "image-features":
        if not args.store:
            raise InputError("--store: image-features measures the magnetograms of a store; give one")
        bf = baselines.image_features(open_store(args.store), progress=not args.quiet)
    else:
        if args.labels:
            index = pd.concat([read_index(p) for p in args.labels], ignore_index=True)
        elif args.store:
            index = open_store(args.store).index
        else:
            raise InputError("--labels: give the label index files (or --store)")
        fn = {"climatology": baselines.climatology, "persistence": baselines.persistence,
              "graded-persistence": baselines.graded_persistence}[args.kind]
        bf = fn(index)
    names = [f"partition{int(f['partition'].iloc[0])}" for f in bf.frames]
    res = evaluate(bf.frames, threshold=bf.thresholds, names=names, bootstrap=args.bootstrap, seed=args.seed, block_days=args.block_days)
    res["baseline"] = bf.name
    res["n_left_out"] = bf.n_left_out
    print(json.dumps(res, indent=2, default=float) if args.json else f"baseline {bf.name} ({bf.n_left_out} instants without "
          f"a previous window left out)\n{summarise(res)}")
    return 0


def _cmd_forecast(args) -> int:
    paths = list(args.paths)
    if args.time:
        rep = download_helioviewer(args.time, args.time, Path(args.cache), progress=False)
        if rep["status"].iloc[0] not in ("downloaded", "exists"):
            raise InputError(f"--time: no Helioviewer magnetogram near {args.time}: {rep['error'].iloc[0]}")
        paths.append(rep["path"].iloc[0])
    if not paths:
        raise InputError("give a magnetogram file, a directory, or --time")
    rows = forecast_files(args.checkpoint, paths, args.decision_threshold)
    if args.explain:
        maps = explain_files(args.checkpoint, [r["input"]["path"] for r in rows], methods=args.methods.split(","),
                             out=Path(args.explain_out), synthetic_background=args.synthetic_background)
        for r, m in zip(rows, maps):
            r["explanations"] = m
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
    else:
        for r in rows:
            cal = " (calibrated)" if r["calibrated"] else ""
            print(f"{r['input']['date_obs']}  P(>={r['event']['threshold_class']} in {r['event']['window_h']:g} h) = "
                  f"{r['probability']:.3f}{cal}  -> {'YES' if r['decision'] else 'no'}  ({Path(r['input']['path']).name})")
    return 0


def _cmd_explain(args) -> int:
    res = explain_files(args.checkpoint, args.inputs, methods=args.methods.split(","), out=Path(args.out),
                        background_store=args.background, n_background=args.n_background, n_steps=args.steps,
                        synthetic_background=args.synthetic_background)
    if args.json:
        print(json.dumps(res if len(res) > 1 else res[0], indent=2))
    else:
        for r in res:
            print(f"{r['figure']}: P={r['probability']:.3f}  maps {', '.join(Path(v).name for v in r['maps'].values())}"
                  + (f"  IG completeness delta {r['ig_completeness_delta']:.2e}" if r["ig_completeness_delta"] is not None else ""))
    return 0


def _add_uncertainty(s) -> None:
    s.add_argument("--bootstrap", type=int_in(0, 100_000), default=0, metavar="N", help="resamples for 95 %% intervals (0: none)")
    s.add_argument("--seed", type=int_in(0), default=0, help="bootstrap seed")
    s.add_argument("--block-days", type=int_in(1, 366), default=DEFAULT_BLOCK_DAYS, help="bootstrap block length in days (%(default)s)")
    s.add_argument("--json", action="store_true")


def add_commands(sub) -> None:
    """Register the model-side subcommands on the ``flarelib`` parser."""
    s = sub.add_parser("train", help="train FullDiskAlexNet with tri-monthly cross-validation")
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True, help="run folder (fold{k}/ with checkpoints, log, predictions)")
    s.add_argument("--fold", default="all", choices=["1", "2", "3", "4", "all"])
    s.add_argument("--profile", choices=["paper", "offline"], default="offline",
                   help="paper: the authors' recipe (ImageNet convolutions, SGD); offline: random init with documented deviations")
    add_dataclass_options(s, TrainConfig, _TRAIN_SKIP)
    add_dataclass_options(s, ModelConfig, help_prefix="model.")
    s.add_argument("--resume", action="store_true", help="continue from fold{k}/last.pt")
    s.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("evaluate", help="skill scores, near-limb analysis and reliability of prediction files")
    s.add_argument("predictions", nargs="+", help="CSV with timestamp,flare_prob,target (one per fold)")
    s.add_argument("--labels", nargs="+", help="label files matching the predictions row by row (published format)")
    s.add_argument("--threshold", type=float_in(0, 1), default=0.5)
    s.add_argument("--calibrate", choices=CALIBRATION_KINDS, help="also score probabilities calibrated across folds")
    _add_uncertainty(s)
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("baseline", help="free baselines scored like the model: climatology, persistence, graded persistence, image features")
    s.add_argument("kind", choices=baselines.BASELINES)
    s.add_argument("--labels", nargs="+", help="label index files (ours or the published Fold*_val.csv)")
    s.add_argument("--store", help="image store (image-features; or the labels of its index)")
    s.add_argument("--quiet", action="store_true")
    _add_uncertainty(s)
    s.set_defaults(func=_cmd_baseline)

    s = sub.add_parser("forecast", help="probability of a >= M1.0 flare in the next 24 h for magnetograms")
    s.add_argument("paths", nargs="*", help="magnetogram files or directories")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--time", type=timestamp, help="download the Helioviewer magnetogram nearest this time and forecast for it")
    s.add_argument("--cache", default=str(Path.home() / ".cache" / "flarelib" / "forecast"))
    s.add_argument("--decision-threshold", type=float_in(0, 1), default=0.5)
    s.add_argument("--explain", action="store_true", help="add attribution maps (gradcam, deepshap, ig)")
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--explain-out", default="explanations")
    s.add_argument("--synthetic-background", action="store_true", help="Deep SHAP on field-free disks when no store is at hand")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_forecast)

    s = sub.add_parser("explain", help="Guided Grad-CAM, Deep SHAP and Integrated Gradients maps for magnetograms")
    s.add_argument("inputs", nargs="+", help="magnetogram files")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--out", required=True, help="folder for NAME_METHOD.npy and NAME.png")
    s.add_argument("--background", help="store for the Deep SHAP background (default: the checkpoint's training store)")
    s.add_argument("--synthetic-background", action="store_true", help="field-free disks when no background store opens")
    s.add_argument("--n-background", type=int_in(1, 1024), default=8)
    s.add_argument("--steps", type=int_in(1, 10_000), default=50, help="Integrated Gradients steps")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_explain)
