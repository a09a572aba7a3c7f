"""The compendium's layout: install files agree, notebooks are paired, the CI runs the README's test command."""
import re
from pathlib import Path

import jupytext
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PIP = {"pytorch": "torch", "python": None, "pip": None}


def _name(spec: str) -> str:
    return re.split(r"[<>=!\[ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(d) for d in py["dependencies"]}
    for extra in py["optional-dependencies"].values():
        pip_names |= {_name(d) for d in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_names = set()
    for d in env["dependencies"]:
        if isinstance(d, str):
            n = CONDA_TO_PIP.get(_name(d), _name(d))
            if n:
                conda_names.add(n)
        else:  # the pip section: packages conda-forge does not carry (and flarelib itself, "-e .")
            conda_names |= {_name(p) for p in d.get("pip", []) if not p.startswith("-")}
    assert conda_names == pip_names


def test_torch_is_pinned_in_both():
    py = (ROOT / "pyproject.toml").read_text()
    env = (ROOT / "environment.yml").read_text()
    assert '"torch==2.14.1"' in py and '"torchvision==0.29.1"' in py
    assert "pytorch=2.14.1" in env and "torchvision=0.29.1" in env


def test_notebooks_are_paired_and_in_sync():
    for src in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        ipynb = src.with_suffix(".ipynb")
        assert ipynb.is_file(), f"{src.name} has no paired .ipynb (run make notebooks-sync)"
        a = [c.source for c in jupytext.read(src).cells]
        b = [c.source for c in jupytext.read(ipynb).cells]
        assert a == b, f"{src.name} and {ipynb.name} differ (run make notebooks-sync)"
        tags = [c.metadata.get("tags", []) for c in jupytext.read(src).cells]
        assert sum("parameters" in t for t in tags) == 1, f"{src.name}: one cell must be tagged 'parameters'"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_notebook_is_in_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    for src in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"):
        assert f"book/executed/{src.stem}" in toc


def test_licence_and_citation_metadata():
    licence = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 3, 29 June 2007" in licence and "TERMS AND CONDITIONS" in licence
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] and cff["license"] == "GPL-3.0-or-later"
    ref = cff["references"][0]
    assert [a["family-names"] for a in ref["authors"]] == ["Pandey", "Angryk", "Georgoulis", "Aydin"]
    assert "2308.02682" in ref["identifiers"][0]["value"]


def test_citations_of_the_same_first_author_and_year_are_distinguishable():
    bib = (ROOT / "book" / "references.bib").read_text()
    entries = re.findall(r"@\w+\{([^,]+),(.*?)\n\}", bib, flags=re.S)
    seen = {}
    for key, body in entries:
        first = re.search(r"author\s*=\s*\{([^,]+),", body).group(1).strip()
        year = re.search(r"year\s*=\s*\{([^}]+)\}", body).group(1).strip()
        assert (first, year) not in seen, f"{key} and {seen.get((first, year))} would both cite as {first} et al. {year}"
        seen[(first, year)] = key
    assert "Georgoulis" in dict(entries)["pandey2023explainable"]
