# flarelib: the two commands are `make book` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# The book's parameters (papermill -p NAME VALUE), passed to every notebook that has them.
# Override any of them, e.g.  make book BOOK_EXTRA="-p epochs 40 -p device cuda"
# or on real data:           make book BOOK_EXTRA="-p data_source real -p data_path /data/store"
BOOK_PARAMS ?= -p data_path ../runs/book/data -p run_dir ../runs/book/train \
	-p sim_start 2012-01-01T00:00:00 -p sim_end 2014-12-31T12:00:00 -p sim_cadence_h 12 -p image_size 512 \
	-p train_image_size 128 -p epochs 2 -p batch_size 32 -p max_batches_per_epoch None -p resume True \
	-p headline_dir ../runs/book/headline -p headline_train_seeds 1,2,3 -p headline_train_cadence_h 48 \
	-p headline_calibration_seed 4 -p headline_model_seeds 0,1,2 -p headline_epochs 4 -p headline_region_every 6 \
	-p n_per_kind 25 -p ig_steps 32 -p n_background 8 -p n_randomisation 4 -p n_sensitivity 8 -p n_boot 500 \
	-p out_dir ../runs/book/operational
BOOK_EXTRA ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.py))
EXECUTED  := book/executed

.PHONY: setup book test test-unit test-notebooks bench gpu-check notebooks-sync clean

setup:
	@tools/setup.sh

book: setup
	@mkdir -p $(EXECUTED)
	$(PY) tools/run_notebooks.py --out $(EXECUTED) $(BOOK_PARAMS) $(BOOK_EXTRA)
	$(VENV)/bin/jupyter-book build . --quiet 2>&1 | tail -n 5
	@test -f _build/html/index.html && echo "book: _build/html/index.html"

# unit tests, the notebooks under nbval, then the built book in headless Chromium (a quick book with the
# notebooks' own small parameters is built first when none is there). The unit tests run in two processes, one
# per core, whole files per process (module fixtures are built once): measured 857 s against 1293 s in one process
test: setup
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/python -m pytest tests -q -p no:cacheprovider -n 2 --dist loadfile --durations=12
	$(VENV)/bin/python -m pytest --nbval-lax notebooks -q -p no:cacheprovider
	@test -f _build/html/index.html || $(MAKE) --no-print-directory book BOOK_PARAMS=
	$(VENV)/bin/python -m pytest tests_book -q -p no:cacheprovider

bench: setup
	$(PY) benchmarks/run.py

# the paper's setting on a GPU in one prepared shot (8 minutes); `make test` rehearses it on the CPU
gpu-check:
	python3 benchmarks/gpu_check.py --out benchmarks/results/gpu

notebooks-sync: setup
	$(VENV)/bin/jupytext --sync notebooks/*.py

clean:
	rm -rf _build $(EXECUTED)
