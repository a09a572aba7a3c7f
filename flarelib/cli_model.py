"""CLI subcommands of the model side: train, evaluate, forecast (and explain, when attribution is available)."""
from __future__ import annotations

import json
import logging
from pathlib import Path


def _cmd_train(args) -> int:
    from .training import TrainConfig, cross_validate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = TrainConfig.paper if args.profile == "paper" else TrainConfig.offline
    model_kw = {}
    if args.weights:
        model_kw["weights"] = args.weights
    kw = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "momentum": args.momentum,
                            "optimizer": args.optimizer, "image_size": args.image_size, "seed": args.seed, "device": args.device,
                            "threads": args.threads, "max_batches_per_epoch": args.max_batches, "deterministic": args.deterministic,
                            "compile": args.compile}.items() if v is not None}
    cfg = base(**kw)
    if model_kw:
        from dataclasses import replace

        cfg = replace(cfg, model=replace(cfg.model, **model_kw, allow_download=args.download_weights))
    folds = (1, 2, 3, 4) if args.fold == "all" else (int(args.fold),)
    log = cross_validate(args.store, cfg, args.out, folds=folds, resume=args.resume, progress=not args.quiet)
    best = log.loc[log.groupby("fold")["val_tss"].idxmax()]
    print(best[["fold", "epoch", "val_tss", "val_hss"]].to_string(index=False))
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluation import evaluate, read_predictions, summarise

    labels = args.labels or [None] * len(args.predictions)
    if len(labels) != len(args.predictions):
        raise ValueError(f"{len(args.predictions)} prediction files but {len(labels)} label files")
    frames = [read_predictions(p, lab) for p, lab in zip(args.predictions, labels)]
    res = evaluate(frames, threshold=args.threshold)
    if args.json:
        print(json.dumps(res, indent=2, default=float))
    else:
        print(summarise(res))
    return 0


def _cmd_forecast(args) -> int:
    from .forecast import forecast_files

    paths = list(args.paths)
    if args.time:
        from .download import download_helioviewer

        rep = download_helioviewer(args.time, args.time, Path(args.cache), progress=False)
        if rep["status"].iloc[0] not in ("downloaded", "exists"):
            raise ValueError(f"no Helioviewer magnetogram near {args.time}: {rep['error'].iloc[0]}")
        paths.append(rep["path"].iloc[0])
    if not paths:
        raise ValueError("give a magnetogram file, a directory, or --time")
    rows = forecast_files(args.checkpoint, paths, args.decision_threshold)
    if args.explain:
        from .attribution import explain_files

        maps = explain_files(args.checkpoint, [r["input"]["path"] for r in rows], methods=args.methods.split(","),
                             out=Path(args.explain_out))
        for r, m in zip(rows, maps):
            r["explanations"] = m
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
    else:
        for r in rows:
            print(f"{r['input']['date_obs']}  P(>=M1.0 in 24 h) = {r['probability']:.3f}  -> {'YES' if r['decision'] else 'no'}  ({Path(r['input']['path']).name})")
    return 0


def _cmd_explain(args) -> int:
    from .attribution import explain_files

    res = explain_files(args.checkpoint, args.inputs, methods=args.methods.split(","), out=Path(args.out),
                        background_store=args.background, n_background=args.n_background, n_steps=args.steps)
    if args.json:
        print(json.dumps(res if len(res) > 1 else res[0], indent=2))
    else:
        for r in res:
            print(f"{r['figure']}: P={r['probability']:.3f}  maps {', '.join(Path(v).name for v in r['maps'].values())}"
                  + (f"  IG completeness delta {r['ig_completeness_delta']:.2e}" if r["ig_completeness_delta"] is not None else ""))
    return 0


def add_commands(sub) -> None:
    """Register the model-side subcommands on the ``flarelib`` parser."""
    s = sub.add_parser("train", help="train FullDiskAlexNet with tri-monthly cross-validation")
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True, help="run folder (fold{k}/ with checkpoints, log, predictions)")
    s.add_argument("--fold", default="all", choices=["1", "2", "3", "4", "all"])
    s.add_argument("--profile", choices=["paper", "offline"], default="offline",
                   help="paper: ImageNet weights + the paper's SGD recipe; offline: random init with documented deviations")
    s.add_argument("--weights", help="'imagenet' (torch hub cache) or a weights file")
    s.add_argument("--download-weights", action="store_true", help="allow torchvision to download ImageNet weights")
    s.add_argument("--epochs", type=int), s.add_argument("--batch-size", type=int), s.add_argument("--lr", type=float)
    s.add_argument("--momentum", type=float), s.add_argument("--optimizer", choices=["sgd", "adamw"])
    s.add_argument("--image-size", type=int), s.add_argument("--seed", type=int), s.add_argument("--device")
    s.add_argument("--threads", type=int), s.add_argument("--max-batches", type=int)
    s.add_argument("--deterministic", action="store_true", default=None)
    s.add_argument("--compile", action="store_true", default=None)
    s.add_argument("--resume", action="store_true", help="continue from fold{k}/last.pt")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("evaluate", help="skill scores, near-limb analysis and reliability of prediction files")
    s.add_argument("predictions", nargs="+", help="CSV with timestamp,flare_prob,target (one per fold)")
    s.add_argument("--labels", nargs="+", help="label files matching the predictions row by row (published format)")
    s.add_argument("--threshold", type=float, default=0.5)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("forecast", help="probability of a >= M1.0 flare in the next 24 h for magnetograms")
    s.add_argument("paths", nargs="*", help="magnetogram files or directories")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--time", help="download the Helioviewer magnetogram nearest this time and forecast for it")
    s.add_argument("--cache", default=str(Path.home() / ".cache" / "flarelib" / "forecast"))
    s.add_argument("--decision-threshold", type=float, default=0.5)
    s.add_argument("--explain", action="store_true", help="add attribution maps (gradcam, deepshap, ig)")
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--explain-out", default="explanations")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_forecast)

    s = sub.add_parser("explain", help="Guided Grad-CAM, Deep SHAP and Integrated Gradients maps for magnetograms")
    s.add_argument("inputs", nargs="+", help="magnetogram files")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--out", required=True, help="folder for NAME_METHOD.npy and NAME.png")
    s.add_argument("--background", help="store for the Deep SHAP background (default: the checkpoint's)")
    s.add_argument("--n-background", type=int, default=8)
    s.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_explain)
