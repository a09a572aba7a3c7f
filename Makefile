# flarelib: the two commands are `make book` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# papermill parameter overrides for `make book`, e.g.
#   make book BOOK_PARAMS="-p data_source real -p data_path /data/store -p epochs 40"
BOOK_PARAMS ?= -p profile book
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.py))
EXECUTED  := book/executed

.PHONY: setup book test test-unit test-notebooks bench notebooks-sync clean

setup:
	@tools/setup.sh

book: setup
	@mkdir -p $(EXECUTED)
	$(PY) tools/run_notebooks.py --out $(EXECUTED) $(BOOK_PARAMS)
	$(VENV)/bin/jupyter-book build . --quiet 2>&1 | tail -n 5
	@test -f _build/html/index.html && echo "book: _build/html/index.html"

test: setup
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider
	$(VENV)/bin/python -m pytest --nbval-lax notebooks -q -p no:cacheprovider

bench: setup
	$(PY) benchmarks/run.py

notebooks-sync: setup
	$(VENV)/bin/jupytext --sync notebooks/*.py

clean:
	rm -rf _build $(EXECUTED)
