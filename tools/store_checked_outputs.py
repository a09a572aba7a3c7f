#!/usr/bin/env python
"""Store the outputs of the ``# NBVAL_CHECK_OUTPUT`` cells in the paired .ipynb files.

nbval compares those cells' fresh outputs with the stored ones; every other
cell is run without comparison (``--nbval-lax``). Run after changing a checked
cell: ``python tools/store_checked_outputs.py notebooks/03_near_limb_analysis.ipynb``.
"""
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill as pm


def main(paths):
    for p in map(Path, paths):
        nb = nbformat.read(p, as_version=4)
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / p.name
            pm.execute_notebook(str(p), str(out), cwd=str(p.parent), kernel_name="python3", progress_bar=False)
            ex = nbformat.read(out, as_version=4)
        done = {c.source: c.outputs for c in ex.cells if c.cell_type == "code"}
        count = 0
        for c in nb.cells:
            if c.cell_type == "code":
                count += 1
                checked = "NBVAL_CHECK_OUTPUT" in c.source
                c.outputs = done[c.source] if checked else []
                # nbval treats a cell without an execution count as unrun: keep one on the checked cells
                c.execution_count = count if checked else None
        nbformat.write(nb, p)
        print(f"{p}: stored the checked outputs")


if __name__ == "__main__":
    main(sys.argv[1:])
