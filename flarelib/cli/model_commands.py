"""CLI subcommands of the model side: train, evaluate, baseline, forecast and explain."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..data.labels import read_index
from ..data.store import open_store
from ..errors import InputError
from ..explain.attribution import METHODS, explain_files
from ..explain.evaluation import ExplanationEvalConfig, evaluate_explanations, simulator_truth, validation_predictions
from ..explain.regions import region_forecasts
from ..forecast import Forecaster, forecast_inputs, forecast_store, scoreboard_submissions
from ..io.download import download_helioviewer
from ..model.checkpoint import model_from_checkpoint
from ..model.network import ModelConfig
from ..model.training import TrainConfig, cross_validate
from ..verify import baselines
from ..verify.calibration import CALIBRATION_KINDS
from ..verify.evaluation import THRESHOLD_RULES, evaluate, read_predictions, summarise, train_optimal_thresholds
from ..verify.uncertainty import DEFAULT_BLOCK_DAYS
from .options import add_dataclass_options, dataclass_overrides, float_in, int_in, json_text, timestamp

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
    if args.threshold_rule == "train-optimal" and len(frames) < 2:
        raise InputError("--threshold-rule train-optimal: needs two or more prediction files (each fold is thresholded on the others)")
    threshold = train_optimal_thresholds(frames) if args.threshold_rule == "train-optimal" else args.threshold
    res = evaluate(frames, threshold=threshold, bootstrap=args.bootstrap, seed=args.seed, block_days=args.block_days,
                   calibrate=args.calibrate)
    res["threshold_rule"] = args.threshold_rule
    print(json_text(res) if args.json else summarise(res))
    return 0


def _cmd_baseline(args) -> int:
    if args.kind in ("image-features", "image-r"):
        if not args.store:
            raise InputError(f"--store: {args.kind} measures the magnetograms of a store; give one")
        make = baselines.image_features if args.kind == "image-features" else baselines.image_r
        bf = make(open_store(args.store), progress=not args.quiet)
    else:
        if args.labels:
            index = pd.concat([read_index(p) for p in args.labels], ignore_index=True)
        elif args.store:
            index = open_store(args.store).index
        else:
            raise InputError("--labels: give the label index files (or --store)")
        fn = {"climatology": baselines.climatology, "persistence": baselines.persistence,
              "graded-persistence": baselines.graded_persistence, "lagged-activity": baselines.lagged_activity}[args.kind]
        bf = fn(index)
    names = [f"partition{int(f['partition'].iloc[0])}" for f in bf.frames]
    res = evaluate(bf.frames, threshold=bf.thresholds, names=names, bootstrap=args.bootstrap, seed=args.seed, block_days=args.block_days)
    res["baseline"] = bf.name
    res["n_left_out"] = bf.n_left_out
    print(json_text(res) if args.json else f"baseline {bf.name} ({bf.n_left_out} instants without "
          f"a previous window left out)\n{summarise(res)}")
    return 0


def _cmd_forecast(args) -> int:
    fmt = "json" if args.json and args.format == "text" else args.format
    if args.store:
        return _forecast_series(args)
    if args.out:
        raise InputError("--out: a forecast series needs --store (and --fold); single forecasts print to stdout")
    paths = list(args.paths)
    if args.time:
        rep = download_helioviewer(args.time, args.time, Path(args.cache), progress=False)
        if rep["status"].iloc[0] not in ("downloaded", "exists"):
            raise InputError(f"--time: no Helioviewer magnetogram near {args.time}: {rep['error'].iloc[0]}")
        paths.append(rep["path"].iloc[0])
    if not paths:
        raise InputError("give a magnetogram file, a directory, --time, or --store for a forecast series")
    fc = Forecaster(args.checkpoint, args.decision_threshold, args.allow_domain_shift)
    files = forecast_inputs(paths)
    rows = [fc.forecast(f) for f in tqdm(files, desc="forecast", unit="file", disable=len(files) < 2 or fmt != "text")]
    if args.explain:
        maps = explain_files(args.checkpoint, [r["input"]["path"] for r in rows], methods=args.methods.split(","),
                             out=Path(args.explain_out), synthetic_background=args.synthetic_background)
        for r, m in zip(rows, maps):
            r["explanations"] = m
    if args.regions:
        regs = region_forecasts(args.checkpoint, [r["input"]["path"] for r in rows], method=args.region_method,
                                out=Path(args.explain_out) if args.explain else None)
        for r, g in zip(rows, regs):
            # the regions split the issued probability (calibrated when the checkpoint has a calibrator)
            for reg in g["regions"]:
                reg["probability"] = round(r["probability"] * reg["share"], 4)
            r["regions"] = {k: v for k, v in g.items() if k not in ("input", "date_obs", "probability")}
    if fmt == "scoreboard":
        subs = scoreboard_submissions(rows, short_name=args.short_name, mode=args.scoreboard_mode)
        print(json_text(subs[0] if len(subs) == 1 else subs))
    elif fmt == "json":
        print(json_text(rows[0] if len(rows) == 1 else rows))
    else:
        print(fc.card_line())
        for r in rows:
            cal = " (calibrated)" if r["calibrated"] else ""
            print(f"{r['input']['date_obs']}  P(>={r['event']['threshold_class']} in {r['event']['window_h']:g} h) = "
                  f"{r['probability']:.3f}{cal}  -> {'YES' if r['decision'] else 'no'} at {r['decision_threshold']:.3g}  "
                  f"({Path(r['input']['path']).name})")
            if r["domain_shift"]:
                print(f"  DOMAIN SHIFT: {r['domain_shift']}")
            if "regions" in r:
                reg = r["regions"]
                print(f"  regions from {reg['method']} attribution (share of the probability; {reg['elsewhere']:.0%} elsewhere):")
                for g in reg["regions"]:
                    print(f"  {g['component']:>3}  lon {g['lon_deg']:+6.1f}  lat {g['lat_deg']:+6.1f}  share {g['share']:.2f}  "
                          f"P {g['probability']:.3f}")
                if "figure" in reg:
                    print(f"  figure: {reg['figure']}")
    return 0


def _forecast_series(args) -> int:
    if args.paths or args.time:
        raise InputError("--store: a forecast series is made from the store's instants; give no magnetogram files or --time")
    for flag, given in (("--explain", args.explain), ("--regions", args.regions), ("--json", args.json),
                        ("--format", args.format != "text")):
        if given:
            raise InputError(f"{flag}: not for a forecast series (--store writes a CSV archive; forecast files for {flag})")
    if not args.out:
        raise InputError("--store: give --out, the CSV archive of the series")
    if args.resume and args.overwrite:
        raise InputError("--resume and --overwrite: one or the other")
    try:
        folds = tuple(int(k) for k in str(args.fold).split(",")) if args.fold else (1, 2, 3, 4)
    except ValueError:
        raise InputError(f"--fold {args.fold}: comma-separated folds 1 to 4, e.g. 1 or 1,3") from None
    if not folds or any(k not in (1, 2, 3, 4) for k in folds) or len(set(folds)) < len(folds):
        raise InputError(f"--fold {args.fold}: comma-separated folds 1 to 4, each once")
    out = Path(args.out)
    if out.is_file() and not (args.resume or args.overwrite):
        raise InputError(f"--out {out}: exists; pass --resume to continue it or --overwrite to replace it")
    series = forecast_store(args.checkpoint, args.store, out, folds=folds, resume=not args.overwrite, progress=not args.quiet,
                            allow_domain_shift=args.allow_domain_shift, decision_threshold=args.decision_threshold)
    if not args.quiet:
        th = json.loads(out.with_name(out.name + ".json").read_text())["decision_threshold"]
        print(f"{len(series)} forecasts of fold(s) {','.join(map(str, folds))} in {out}, decided at {th:.3g}: score them with "
              f"`flarelib evaluate {out} --threshold {th:.6g}`")
    return 0


def _cmd_explain_evaluate(args) -> int:
    if args.inputs:
        raise InputError("--evaluate: takes a --store, not magnetogram files")
    if not args.store:
        raise InputError("--evaluate: give the --store whose validation instances are explained")
    methods = tuple(m for m in args.methods.split(",") if m)
    cfg = ExplanationEvalConfig(n_per_kind=args.n_per_kind, methods=methods, ig_steps=args.steps, n_background=args.n_background,
                                gradcam_interpolation=args.gradcam_interpolation, n_boot=args.n_boot, seed=args.seed,
                                n_randomisation=args.n_randomisation, n_random_models=args.n_random_models,
                                n_sensitivity=args.n_sensitivity)
    model, meta = model_from_checkpoint(args.checkpoint)
    store = open_store(args.store)
    fold = meta.fold or 1
    if args.predictions:
        preds = pd.read_csv(args.predictions, parse_dates=["timestamp"])
        missing = {"timestamp", "flare_prob", "target", "fl_lon"} - set(preds.columns)
        if missing:
            raise InputError(f"{args.predictions}: missing column(s) {sorted(missing)}")
    else:
        preds = validation_predictions(model, store, fold, meta.image_size_px)
    sim, catalog = simulator_truth(store)
    ev = evaluate_explanations(model, store, preds, cfg, fold=fold, size_px=meta.image_size_px, sim=sim, catalog=catalog,
                               progress=not args.quiet)
    res = ev.to_json()
    res.update({"checkpoint": str(args.checkpoint), "store": str(store.path), "fold": fold})
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("instances", "scores", "agreement", "regions", "randomisation"):
            getattr(ev, name).to_csv(out / f"{name}.csv", index=False)
        (out / "evaluation.json").write_text(json_text(res))
    if args.json:
        print(json_text(res))
    else:
        print(f"{res['n_instances']} instances of fold {fold} ({', '.join(f'{k} {v}' for k, v in res['strata'].items())})")
        for note in res["notes"]:
            print(f"note: {note}")
        cols = ["map", "n", "pointing", "pointing_lo", "pointing_hi", "lift", "lift_lo", "lift_hi",
                "deletion_5pct_top", "deletion_5pct_random", "deletion_5pct_top_minus_random",
                "deletion_5pct_top_minus_random_lo", "deletion_5pct_top_minus_random_hi"]
        print(ev.summary()[[c for c in cols if c in ev.summary()]].round(3).to_string(index=False))
        if len(ev.randomisation):
            print(ev.randomisation[["method", "trained_vs_random", "reference_lo", "reference_hi", "flagged"]].round(3).to_string(index=False))
    return 0


def _cmd_explain(args) -> int:
    if args.evaluate:
        return _cmd_explain_evaluate(args)
    if not args.inputs:
        raise InputError("give magnetogram files to explain (or --evaluate --store STORE)")
    if not args.out:
        raise InputError("--out: give the folder for the maps and figures")
    res = explain_files(args.checkpoint, args.inputs, methods=args.methods.split(","), out=Path(args.out),
                        background_store=args.background, n_background=args.n_background, n_steps=args.steps,
                        synthetic_background=args.synthetic_background)
    if args.json:
        print(json_text(res if len(res) > 1 else res[0]))
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
    s.add_argument("--profile", choices=["paper", "offline", "ratenet"], default="offline",
                   help="paper: the authors' recipe (ImageNet convolutions, SGD); offline: random init with documented deviations; "
                        "ratenet: FlareRateNet at full resolution (the CPU headline model)")
    add_dataclass_options(s, TrainConfig, _TRAIN_SKIP)
    add_dataclass_options(s, ModelConfig, help_prefix="model.")
    s.add_argument("--resume", action="store_true", help="continue from fold{k}/last.pt")
    s.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("evaluate", help="skill scores, near-limb analysis and reliability of prediction files")
    s.add_argument("predictions", nargs="+", help="CSV with timestamp,flare_prob,target (one per fold)")
    s.add_argument("--labels", nargs="+", help="label files matching the predictions row by row (published format)")
    s.add_argument("--threshold", type=float_in(0, 1), default=0.5, help="the fixed rule's threshold (%(default)s)")
    s.add_argument("--threshold-rule", choices=THRESHOLD_RULES, default="fixed",
                   help="fixed: --threshold on every fold; train-optimal: each fold thresholded where the other folds' TSS "
                        "is largest (the fitted baselines' rule; needs two or more files)")
    s.add_argument("--calibrate", choices=CALIBRATION_KINDS, help="also score probabilities calibrated across folds")
    _add_uncertainty(s)
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("baseline", help="free baselines scored like the model: climatology, (graded) persistence, lagged activity, image features, image R")
    s.add_argument("kind", choices=baselines.BASELINES)
    s.add_argument("--labels", nargs="+", help="label index files (ours or the published Fold*_val.csv)")
    s.add_argument("--store", help="image store (image-features, image-r; or the labels of its index)")
    s.add_argument("--quiet", action="store_true")
    _add_uncertainty(s)
    s.set_defaults(func=_cmd_baseline)

    s = sub.add_parser("forecast", help="probability of a >= M1.0 flare in the next 24 h for magnetograms, or a series over a store")
    s.add_argument("paths", nargs="*", help="magnetogram files or directories")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--time", type=timestamp, help="download the Helioviewer magnetogram nearest this time and forecast for it")
    s.add_argument("--cache", default=str(Path.home() / ".cache" / "flarelib" / "forecast"))
    s.add_argument("--decision-threshold", type=float_in(0, 1), default=None,
                   help="yes at and above this probability (default: the model card's; 0.5 without a card)")
    s.add_argument("--allow-domain-shift", action="store_true",
                   help="forecast magnetograms of another domain than the training data's (real for a model trained on the "
                        "simulator, or the reverse); the output says so")
    s.add_argument("--format", choices=("text", "json", "scoreboard"), default="text",
                   help="text (with the model card in one line), native JSON, or the CCMC Flare Scoreboard submission JSON")
    s.add_argument("--short-name", default="flarelib", help="the Scoreboard's model short_name (at most 16 characters)")
    s.add_argument("--scoreboard-mode", choices=("forecast", "historical"), default="forecast",
                   help="the Scoreboard's mode: a real-time forecast, or a historical one (issued after the fact)")
    s.add_argument("--store", help="a forecast series: every instant of --fold of this store, written to --out")
    s.add_argument("--fold", help="folds of the series, e.g. 1 or 1,2 (default: all four)")
    s.add_argument("--out", help="CSV archive of the series (flarelib evaluate reads it)")
    s.add_argument("--resume", action="store_true", help="continue a series in --out")
    s.add_argument("--overwrite", action="store_true", help="replace the series in --out")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--explain", action="store_true", help="add attribution maps (gradcam, deepshap, ig)")
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--explain-out", default="explanations")
    s.add_argument("--synthetic-background", action="store_true", help="Deep SHAP on field-free disks when no store is at hand")
    s.add_argument("--regions", action="store_true",
                   help="split the probability over regions of the attribution map (Stonyhurst centre, share per region)")
    s.add_argument("--region-method", choices=METHODS, default="ig", help="attribution method of --regions (%(default)s)")
    s.add_argument("--json", action="store_true", help="the same as --format json")
    s.set_defaults(func=_cmd_forecast)

    s = sub.add_parser("explain", help="Guided Grad-CAM, Deep SHAP and Integrated Gradients maps for magnetograms, "
                       "or (--evaluate) their evaluation over a store's validation instances against controls")
    s.add_argument("inputs", nargs="*", help="magnetogram files")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--methods", default="gradcam,deepshap,ig")
    s.add_argument("--out", help="folder for NAME_METHOD.npy and NAME.png (with --evaluate: the tables and evaluation.json)")
    s.add_argument("--evaluate", action="store_true",
                   help="attribute a stratified sample of the checkpoint fold's validation instances of --store and score "
                        "localisation, deletion, agreement and randomisation against |B|, gradient and uniform controls")
    s.add_argument("--store", help="with --evaluate: the store whose validation instances are explained")
    s.add_argument("--predictions", help="with --evaluate: the fold's predictions.csv (default: computed from the checkpoint)")
    s.add_argument("--n-per-kind", type=int_in(1, 100_000), default=50, help="instances per stratum (%(default)s)")
    s.add_argument("--n-boot", type=int_in(0, 100_000), default=1000, help="resamples of the 95 %% intervals (%(default)s)")
    s.add_argument("--n-randomisation", type=int_in(1, 1000), default=4, help="images of the randomisation test")
    s.add_argument("--n-random-models", type=int_in(2, 100), default=3, help="independently randomised models (the reference)")
    s.add_argument("--n-sensitivity", type=int_in(0, 100_000), default=8,
                   help="instances whose maps are re-attributed under noise for captum's sensitivity_max (%(default)s)")
    s.add_argument("--gradcam-interpolation", choices=["bilinear", "nearest", "bicubic"], default="bilinear")
    s.add_argument("--seed", type=int_in(0), default=0)
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--background", help="store for the Deep SHAP background (default: the checkpoint's training store)")
    s.add_argument("--synthetic-background", action="store_true", help="field-free disks when no background store opens")
    s.add_argument("--n-background", type=int_in(1, 1024), default=8)
    s.add_argument("--steps", type=int_in(1, 10_000), default=50, help="Integrated Gradients steps")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_explain)
