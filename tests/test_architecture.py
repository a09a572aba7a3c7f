"""The package's architecture: one subpackage per stage, imports flowing one way, no cycles, no hidden imports."""
import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "flarelib"

#: Stages in the order data flows; a module may import only from its own stage or earlier ones.
LAYERS = {
    "errors": 0, "_fileio": 0, "schemas": 0,
    "io": 1,
    "data": 2,
    "verify": 3, "plots": 3,
    "sim": 4,
    "model": 5,
    "forecast": 6,
    "explain": 7,
    "cli": 8, "__main__": 8,
}
#: Third-party packages that may be imported inside a function: optional or heavy (file formats, coordinates, attribution,
#: plotting), not needed on the training path, which must import on the bare GPU machine.
LAZY_OK = ("glymur", "astropy", "sunpy", "captum", "matplotlib", "seaborn", "lxml", "PIL")


def _modules():
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG).with_suffix("").parts
        yield p, parts


def _stage(parts) -> str:
    return parts[0]


def _resolve(parts, node: ast.ImportFrom) -> tuple[str, ...]:
    """Module path (inside flarelib) named by a relative import."""
    pkg = list(parts[:-1]) if parts[-1] != "__init__" else list(parts[:-1])
    base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
    mod = tuple(base) + (tuple(node.module.split(".")) if node.module else ())
    return mod


def _flarelib_imports():
    for p, parts in _modules():
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                target = _resolve(parts, node)
                if node.module is None:  # "from . import x": x is a module
                    for alias in node.names:
                        yield p, parts, node, target + (alias.name,)
                else:
                    yield p, parts, node, target
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flarelib"):
                yield p, parts, node, tuple(node.module.split(".")[1:])


def test_every_module_belongs_to_a_stage():
    for _, parts in _modules():
        if parts == ("__init__",):
            continue
        assert _stage(parts) in LAYERS, f"flarelib/{'/'.join(parts)}.py belongs to no stage of the architecture test"


def test_imports_flow_one_way():
    bad = []
    for p, parts, node, target in _flarelib_imports():
        if parts == ("__init__",) or not target:
            continue
        src, dst = LAYERS[_stage(parts)], LAYERS.get(target[0], 0)
        if dst > src:
            bad.append(f"{p.relative_to(ROOT)}:{node.lineno} imports flarelib.{'.'.join(target)} from a later stage")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {}
    known = {".".join(parts) for _, parts in _modules()}
    for _, parts, _node, target in _flarelib_imports():
        me = ".".join(parts)
        t = ".".join(target)
        if t not in known and t + ".__init__" in known:
            t += ".__init__"
        if t in known and t != me:
            graph.setdefault(me, set()).add(t)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_no_imports_hidden_inside_functions():
    bad = []
    for p, _parts in _modules():
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset > 0:
                name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if isinstance(node, ast.ImportFrom) and node.level > 0 or not (name or "").startswith(LAZY_OK):
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}: import of {name or '.'} inside a function")
    assert not bad, "\n".join(bad)


def test_the_training_path_imports_without_optional_packages():
    """The GPU check machine has torch, numpy, pandas, scipy, scikit-learn, tqdm only: the training path must import there."""
    code = ("import sys\n"
            "for m in ('glymur', 'astropy', 'sunpy', 'captum', 'papermill', 'jupyter_core', 'matplotlib'):\n"
            "    sys.modules[m] = None\n"
            "import flarelib.model.training, flarelib.sim.simulator, flarelib.verify.baselines, flarelib.data.dataset\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]

