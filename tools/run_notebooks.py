#!/usr/bin/env python
"""Execute the compendium's notebooks in order with papermill.

Usage::

    python tools/run_notebooks.py --out book/executed [-p NAME VALUE ...] [--only 02]

Each ``notebooks/NN_name.py`` (jupytext percent format, the source of truth)
is converted to a notebook, executed with the given parameters injected after
its ``parameters`` cell, and written to ``OUT/NN_name.ipynb``, which the book
is built from. A notebook that fails stops the run with its name and error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parent.parent


def parse_value(text: str):
    """papermill -p semantics: YAML scalars (numbers, booleans, null) else strings."""
    if text in ("None", "none"):
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # numbers, booleans and null only: dates and everything else stay strings, as papermill's -p does
    return value if isinstance(value, (int, float, bool)) or value is None else text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="book/executed")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--only", help="run only notebooks whose name starts with this")
    args = ap.parse_args(argv)
    params = {k: parse_value(v) for k, v in args.parameter}
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    if args.only:
        sources = [s for s in sources if s.name.startswith(args.only)]
    for src in sources:
        nb = jupytext.read(src)
        tmp = out / f".{src.stem}.input.ipynb"
        jupytext.write(nb, tmp)
        accepted = _parameter_names(nb)
        used = {k: v for k, v in params.items() if k in accepted}
        t0 = time.time()
        print(f"[{src.stem}] parameters {used}", flush=True)
        try:
            pm.execute_notebook(str(tmp), str(out / f"{src.stem}.ipynb"), parameters=used, cwd=str(ROOT / "notebooks"),
                                kernel_name="python3", progress_bar=False)
        except pm.PapermillExecutionError as exc:
            print(f"[{src.stem}] FAILED: {exc.ename}: {exc.evalue}", file=sys.stderr)
            return 1
        finally:
            tmp.unlink(missing_ok=True)
        print(f"[{src.stem}] done in {time.time() - t0:.0f} s", flush=True)
    return 0


def _parameter_names(nb) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters``."""
    import ast

    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    return set()


if __name__ == "__main__":
    sys.exit(main())
