# Two commands do everything on a fresh machine with Python 3.11:
#   make book   virtual environment, synthetic data, chapters on the cpu profile, HTML in _build/html
#   make test   unit tests, every chapter on the smoke profile, a -W build, a headless-browser check
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
# Where datasets are looked up (os.pathsep-separated); the synthetic set is generated in ./data.
# The second folder is where a checkout's sibling shared/ keeps the real metadata, if any.
SGMA_DATA_ROOT ?= $(CURDIR)/data:$(abspath $(CURDIR)/../shared/data)
export SGMA_DATA_ROOT
export PYTHONUNBUFFERED := 1

.PHONY: help book test test-fast ablations venv data data-cub data-awa2 data-flo chapters html browser clean sync

help:
	@echo "make book   - set up, generate data, execute chapters (PROFILE=$(PROFILE)), build _build/html"
	@echo "make test   - the whole test suite, including a smoke build of the book"
	@echo "make test-fast - unit tests only (no chapters, no book build, no browser): under a minute"
	@echo "make data   - generate the synthetic dataset into data/SYN"
	@echo "make data-cub / data-awa2 / data-flo - download, verify and install a real dataset (needs internet)"
	@echo "make chapters PROFILE=smoke - execute the chapters only"
	@echo "make html   - build the HTML from the executed chapters"
	@echo "make ablations - decide the open choices on validation classes (PROFILE=$(PROFILE)), write results/"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

data: $(VENV)/.installed
	$(PY) -m data_prep.synthetic --out data/SYN

# Real datasets into the first folder of SGMA_DATA_ROOT (./data): python -m data_prep.fetch --help
data-cub: $(VENV)/.installed
	$(PY) -m data_prep.fetch cub

data-awa2: $(VENV)/.installed
	$(PY) -m data_prep.fetch awa2

data-flo: $(VENV)/.installed
	$(PY) -m data_prep.fetch flo

chapters: data
	$(PY) -m sgma_core.chapters --all -p profile $(PROFILE) --out book/_executed

html: $(VENV)/.installed
	@test -f book/_executed/04_sgma_training.ipynb || { echo "no executed chapters: run make chapters first"; exit 1; }
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . -W --quiet
	@echo "open _build/html/index.html"

book: chapters html

# Headless Chromium for the browser check (Debian/Ubuntu package; needs root, as on CI).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: install it (apt-get install chromium) for the browser check"; fi; }

test: $(VENV)/.installed browser
	$(PY) -m pytest

# The edit-test loop: everything but the chapters, the book build and the browser check.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not book" -q

clean:
	rm -rf _build book/_executed

# Every choice the paper leaves open, decided on validation classes; writes results/ablations-$(PROFILE).json
# (results/ablations-$(PROFILE)-$(ABLATE_DATASET).json for a real dataset),
# which chapter 05 renders. Resumable: stored runs are reused (about an hour on 2 cores for the cpu profile).
ABLATE_DATASET ?= SYN
ablations: data
	$(PY) -m sgma_core.experiment.ablate --profile $(PROFILE) --dataset $(ABLATE_DATASET)

# After editing a chapter's .md (or .py), bring its pair up to date.
sync: $(VENV)/.installed
	$(VENV)/bin/jupytext --sync book/[0-9]*.md

# ---- GPU work (see README: "Running the paper's experiments") ----
.PHONY: gpu-check train-paper
DATASET ?= cub
NGPU ?= 1
DATASET_NAME = $(shell echo $(DATASET) | tr a-z A-Z)

# Benchmark + short paper-profile training on synthetic data; writes benchmarks/results/gpu_check-<card>-<date>.*
gpu-check: $(VENV)/.installed
	$(PY) benchmarks/gpu_check.py --out benchmarks/results

# The paper's settings on real data: ImageNet VGG19 into the torch cache, training on NGPU GPUs
# (torchrun when NGPU > 1), then both training chapters executed with the paper profile.
train-paper: $(VENV)/.installed
	$(PY) -m data_prep.weights vgg19
	@if [ "$(NGPU)" -gt 1 ]; then \
	  for model in baseline sgma; do \
	    $(VENV)/bin/torchrun --standalone --nproc_per_node=$(NGPU) -m sgma_core.train --model $$model \
	      --profile paper --dataset $(DATASET_NAME) || exit 1; \
	  done; fi
	$(PY) -m sgma_core.chapters 02_baseline 04_sgma_training -p profile paper -p dataset $(DATASET_NAME) \
	  --out book/_executed
	@echo "executed with the paper profile on $(DATASET_NAME); make html renders them"
