"""The ``flarelib`` command line.

Every subcommand has ``--help``; bad input ends with exit code 2 and one line
on standard error naming the file and the problem.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.labels import LabelConfig, hourly_instants, make_index, partition_summary, read_index, timestamp_from_path, write_index
from ..data.store import prepare_store
from ..errors import FlarelibError, InputError
from ..io.catalog import read_catalog
from ..io.download import REFERENCE_FILES, DownloadConfig, download_hek_flares, download_helioviewer, fetch_reference
from ..io.goes import parse_goes_class
from ..io.magnetogram import read_magnetogram
from ..sim.simulator import SimConfig, simulate_to_jp2, simulate_to_store
from . import model_commands as cli_model
from .options import SIZE_PX, float_in, int_in, json_text, timestamp

__all__ = ["main", "build_parser"]


def _print_json(obj) -> None:
    print(json_text(obj))


# --------------------------------------------------------------------------- inspect
def _cmd_inspect(args) -> int:

    out = []
    for p in args.paths:
        m = read_magnetogram(p, size_px=args.size)
        d = m.meta.to_json()
        d["on_disk_median_value"] = float(_median_on_disk(m))
        out.append(d)
    if args.json:
        _print_json(out[0] if len(out) == 1 else out)
    else:
        for d in out:
            print(f"{d['path']}: {d['product']} {d['instrument']} {d['date_obs']}  B0={d['b0_deg']:.2f} deg  "
                  f"disk centre=({d['disk_center_px'][0]:.1f}, {d['disk_center_px'][1]:.1f}) px  radius={d['disk_radius_px']:.1f} px")
    return 0


def _median_on_disk(m):

    return np.median(m.data[m.disk_mask])


# --------------------------------------------------------------------------- labels
def _cmd_labels_summary(args) -> int:


    index = pd.concat([read_index(p) for p in args.index], ignore_index=True)
    summary = partition_summary(index)
    if args.json:
        _print_json(summary)
    else:
        print("partition     FL      NF   FL:NF")
        for k, v in summary["partitions"].items():
            ratio = f"1:{v['NF'] / v['FL']:.1f}" if v["FL"] else "-"
            print(f"{k:>9} {v['FL']:>6} {v['NF']:>7}   {ratio}")
        print(f"total {summary['total']}")
    return 0


def _cmd_labels_make(args) -> int:


    if Path(args.out).resolve() == Path(args.catalog).resolve():
        raise InputError(f"--out {args.out}: is the catalog itself; writing the index there would destroy it")
    cfg = LabelConfig(window_h=args.window_h, threshold_wm2=_threshold(args.threshold), cadence_h=args.cadence_h)  # checked first
    cat = read_catalog(args.catalog, on_bad_rows="report" if args.skip_bad_rows else "raise")
    lookup = None
    if args.images:
        root = Path(args.images)
        files = sorted([*root.rglob("*.jp2"), *root.rglob("*.fits")])
        by_hour = {}
        tol = pd.Timedelta(minutes=args.tolerance_min)
        for f in files:
            try:
                t = timestamp_from_path(f.name)
            except ValueError:
                continue
            key = t.round(f"{int(args.cadence_h * 60)}min")
            if abs(t - key) <= tol and (key not in by_hour or abs(t - key) < abs(by_hour[key][0] - key)):
                by_hour[key] = (t, str(f.relative_to(root)))
        lookup = lambda t: by_hour.get(t, (None, None))[1]  # noqa: E731
    if len(cat.table) == 0 and not (args.start and args.end):
        raise InputError(f"--start/--end: the catalog {args.catalog} has no flares to take the period from; give both")
    start = args.start or cat.table["start"].min().floor("D")
    end = args.end or cat.table["start"].max().ceil("D")
    index, report = make_index(hourly_instants(start, end, cfg.cadence_h), cat, cfg, image_paths=lookup)
    write_index(index, args.out)
    report["catalog_rejected_rows"] = int(len(cat.rejected))
    print(json.dumps(report) if args.json else
          f"{args.out}: {report['n_indexed']} instants ({report['n_flare']} FL, {report['n_noflare']} NF); "
          f"{report['n_missing_image']} without an image left out; {report['catalog_rejected_rows']} malformed catalog rows")
    return 0


def _threshold(text: str) -> float:

    try:
        return float(text)
    except ValueError:
        return parse_goes_class(text)


# --------------------------------------------------------------------------- prepare / download
def _cmd_prepare(args) -> int:

    index = read_index(args.index)
    shard = None
    if args.shard:
        try:
            shard = tuple(int(x) for x in args.shard.split("/"))
        except ValueError:
            raise InputError(f"--shard {args.shard!r}: expected k/n, e.g. 0/4") from None
    path = prepare_store(index, args.out, size_px=args.size, root=args.root, workers=args.workers,
                         on_error="raise" if args.strict else "skip", shard=shard, progress=not args.quiet,
                         overwrite=args.overwrite, retry_failed=args.retry_failed)
    man = json.loads((path / "store.json").read_text())
    print(f"{path}: {man['n_ok']} images of {man['size_px']} px stored, {man['n_failed']} unreadable (see failures.csv)")
    return 0


def _cmd_download(args) -> int:

    cfg = DownloadConfig(retries=args.retries, backoff_s=args.backoff_s, timeout_s=args.timeout_s)
    if args.what == "helioviewer":
        kw = {"api": args.api} if args.api else {}
        rep = download_helioviewer(args.start, args.end, args.out, cadence_h=args.cadence_h,
                                   tolerance_min=args.tolerance_min, config=cfg, progress=not args.quiet, **kw)
        print(rep["status"].value_counts().to_string())
        failed = rep[rep["status"] == "failed"]
        if len(failed):
            print(f"flarelib download: {len(failed)} of {len(rep)} images failed (first: {failed['error'].iloc[0][:200]}); "
                  f"see {Path(args.out) / 'download_report.csv'}; rerun to retry them", file=sys.stderr)
            return 1
        return 0
    if args.what == "flares":
        kw = {"api": args.api} if args.api else {}
        p = download_hek_flares(args.start, args.end, args.out, config=cfg, **kw)
        print(p)
        return 0
    names = sorted(REFERENCE_FILES) if args.what == "reference" else [args.what]
    for n in names:
        print(fetch_reference(n, cache_dir=args.out, allow_download=True, base_url=args.api))
    return 0


# --------------------------------------------------------------------------- simulate
def _cmd_simulate(args) -> int:

    cfg = SimConfig(start=args.start, end=args.end, cadence_h=args.cadence, size_px=args.size, seed=args.seed, activity=args.activity)
    if args.format == "jp2":
        rows = simulate_to_jp2(cfg, args.out, progress=not args.quiet, overwrite=args.overwrite)
        print(f"{args.out}: {len(rows)} JP2 frames and catalog.csv")
        return 0
    path = simulate_to_store(cfg, args.out, workers=args.workers, progress=not args.quiet, overwrite=args.overwrite)
    rep = json.loads((Path(path) / "report.json").read_text())
    if args.json:
        _print_json(rep)
    else:
        o = rep["oracle"]
        ratio = f"1:{rep['nf_per_fl']:.1f}" if rep["nf_per_fl"] else "no flare instance"
        print(f"{path}: {rep['n_frames']} frames, FL {rep['FL']} : NF {rep['NF']} ({ratio}); "
              f"flares C/M/X {rep['n_flares']['C']}/{rep['n_flares']['M']}/{rep['n_flares']['X']}; "
              f"oracle TSS {o['tss']:.3f} HSS {o['hss']:.3f} (threshold {o['threshold']:.2f}); "
              f"from the present disk: TSS {rep['oracle_present']['tss']:.3f}")
        if rep.get("persistence_tss") is not None:
            print(f"  24-h persistence TSS {rep['persistence_tss']:.3f}")
        for k, v in rep["partitions"].items():
            print(f"  partition {k}: FL {v['FL']} NF {v['NF']}")
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flarelib", description="Explainable full-disk solar flare forecasting.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="metadata of magnetogram files (JP2/FITS)")
    s.add_argument("paths", nargs="+")
    s.add_argument("--size", type=SIZE_PX, default=512, help="output size in px, 16 to 4096 (512)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_inspect)

    lab = sub.add_parser("labels", help="label indexes: make, summary")
    lsub = lab.add_subparsers(dest="labels_command", required=True)
    s = lsub.add_parser("summary", help="FL/NF counts per partition of one or more index files")
    s.add_argument("index", nargs="+", help="index CSV (ours or the published Fold*_val.csv)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_labels_summary)
    s = lsub.add_parser("make", help="label hourly instants from a GOES flare catalog")
    s.add_argument("--catalog", required=True, help="flare catalog CSV (SWAN-SF or HEK schema)")
    s.add_argument("--out", required=True, help="index CSV to write")
    s.add_argument("--images", help="folder of JP2/FITS files; instants without an image are left out")
    s.add_argument("--start", type=timestamp), s.add_argument("--end", type=timestamp)
    s.add_argument("--cadence-h", type=float_in(0, lo_open=True), default=1.0)
    s.add_argument("--window-h", type=float_in(0, lo_open=True), default=24.0)
    s.add_argument("--threshold", default="M1.0", help="GOES class or flux in W/m^2 (M1.0)")
    s.add_argument("--tolerance-min", type=float_in(0), default=12.0, help="image time tolerance around an instant")
    s.add_argument("--skip-bad-rows", action="store_true", help="report malformed catalog rows and go on")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_labels_make)

    s = sub.add_parser("prepare", help="read the images of an index into a memory-mapped uint8 store")
    s.add_argument("--index", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--root", help="folder that relative image paths are relative to")
    s.add_argument("--size", type=SIZE_PX, default=512)
    s.add_argument("--workers", type=int_in(1), default=None, help="processes (all cores)")
    s.add_argument("--shard", help="k/n: process only shard k of n")
    s.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    s.add_argument("--overwrite", action="store_true", help="start afresh when --out holds a store of other inputs")
    s.add_argument("--retry-failed", action="store_true", help="read the images recorded as unreadable again")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_prepare)

    s = sub.add_parser("download", help="download Helioviewer JP2s, the HEK flare list or the reference data")
    s.add_argument("what", help="helioviewer | flares | reference | a reference file name")
    s.add_argument("--start", type=timestamp), s.add_argument("--end", type=timestamp)
    s.add_argument("--out", required=True)
    s.add_argument("--cadence-h", type=float_in(0, lo_open=True), default=1.0)
    s.add_argument("--tolerance-min", type=float_in(0), default=12.0)
    s.add_argument("--api", help="alternative API / mirror base URL")
    s.add_argument("--retries", type=int_in(0, 20), default=4)
    s.add_argument("--backoff-s", type=float_in(0), default=1.0)
    s.add_argument("--timeout-s", type=float_in(0, lo_open=True), default=60.0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_download)

    s = sub.add_parser("simulate", help="simulate full-disk magnetograms and GOES flares (the embedded data set)")
    s.add_argument("--start", type=timestamp, default="2012-01-01T00:00:00")
    s.add_argument("--end", type=timestamp, default="2012-12-31T23:00:00")
    s.add_argument("--cadence", type=float_in(0, lo_open=True), default=1.0, help="hours between frames (1)")
    s.add_argument("--size", type=SIZE_PX, default=512)
    s.add_argument("--seed", type=int_in(0), default=0)
    s.add_argument("--activity", type=float_in(0, lo_open=True), default=1.0, help="emergence-rate multiplier (solar-cycle phase)")
    s.add_argument("--format", choices=["store", "jp2"], default="store")
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int_in(1), default=None)
    s.add_argument("--overwrite", action="store_true", help="start afresh when --out holds a simulation of another configuration (store or JP2 folder)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_simulate)


    cli_model.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FlarelibError, FileNotFoundError) as exc:  # anticipated: one line, exit 2; anything else keeps its traceback
        print(f"flarelib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (`flarelib evaluate ... | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
