# Two commands do everything on a fresh machine with Python 3.11:
#   make book   virtual environment, synthetic data, chapters on the cpu profile, HTML in _build/html
#   make test   unit tests, every chapter on the smoke profile, a -W build, a headless-browser check
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Which Python runs everything (README: "Which Python make uses"):
#   SGMA_ENV=auto   (default) the active Python when it already has this checkout installed with every pinned
#              requirement (a conda environment from environment.yml, your own venv, a course image);
#              otherwise .venv, created and filled on first use
#   SGMA_ENV=active the active Python, or a list of what it lacks
#   SGMA_ENV=venv   .venv, always
SGMA_ENV ?= auto
ACTIVE_PYTHON ?= $(shell command -v python || command -v python3)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
ifeq ($(SGMA_ENV),venv)
  USE_ACTIVE :=
else ifeq ($(SGMA_ENV),active)
  USE_ACTIVE := yes
else ifeq ($(SGMA_ENV),auto)
  USE_ACTIVE := $(shell $(ACTIVE_PYTHON) -P sgma_core/envcheck.py --quiet >/dev/null 2>&1 && echo yes)
else
  $(error SGMA_ENV=$(SGMA_ENV): choose auto, active or venv)
endif
ifeq ($(USE_ACTIVE),yes)
  PY := $(ACTIVE_PYTHON)
  SETUP := active-env
  DATA_SETUP := active-env
  TRAIN_SETUP := active-env
else
  PY := $(VENV)/bin/python
  SETUP := $(VENV)/.installed
  DATA_SETUP := $(VENV)/.data-ready
  TRAIN_SETUP := $(VENV)/.train-ready
  # .venv is installed without byte-compiling its 6 GB (PIP_COMPILE; pip install -e '.[test]' in a new venv took
  # 54 s so, 76 s compiling); Python compiles each module the first time something imports it, which it can only
  # do where it may write its caches
  PIP_COMPILE ?= --no-compile
  unexport PYTHONDONTWRITEBYTECODE
endif
JUPYTER_BOOK := $(PY) -c "import sys; from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"
PROFILE ?= cpu
# Chapters executed at a time by `make chapters` (each in its own process, an equal share of the cores)
JOBS ?= 2
# Where datasets are looked up (os.pathsep-separated); the synthetic set is generated in ./data.
# The second folder is where a checkout's sibling shared/ keeps the real metadata, if any.
SGMA_DATA_ROOT ?= $(CURDIR)/data:$(abspath $(CURDIR)/../shared/data)
export SGMA_DATA_ROOT
export PYTHONUNBUFFERED := 1

.PHONY: help book warm first-run training-chapters other-chapters test test-fast ablations power looking code-check run-times real-start venv active-env pdf data data-cub data-awa2 data-flo chapters html browser clean sync

help:
	@echo "make book   - set up, generate data, execute chapters (PROFILE=$(PROFILE)), build _build/html"
	@echo "make test   - the whole test suite, including a smoke build of the book"
	@echo "make test-fast - unit tests only (no chapters, no book build, no browser): under a minute"
	@echo "make data   - generate the synthetic dataset into data/SYN"
	@echo "make warm   - decode the data and pretrain the backbone the training chapters start from (PROFILE=$(PROFILE))"
	@echo "make first-run - make warm, then chapter 04's first SGMA run (make book trains it beside the chapters)"
	@echo "make data-cub / data-awa2 / data-flo - download, verify and install a real dataset (needs internet)"
	@echo "make chapters PROFILE=smoke - execute the chapters only"
	@echo "make html   - build the HTML from the executed chapters"
	@echo "make pdf    - the executed book as one PDF, _build/pdf/sgma-book.pdf, and without solutions, sgma-book-student.pdf"
	@echo "make run-times - time every chapter on the smoke and cpu profiles from scratch, into book/run_times.json"
	@echo "make real-start - the cpu profile with ImageNet Lite0 as backbone (3 seeds), into results/ for chapter 07"
	@echo "make ablations - decide the open choices on validation classes (PROFILE=$(PROFILE)), write results/"
	@echo "make power  - more seeds for the decisions whose gains are uncertain (after make ablations), write results/"
	@echo "make looking - SGMA beside controls of where its squares go, 5 paired seeds (PROFILE=$(PROFILE)), write results/"
	@echo "make code-check - train every setting of the studies' ledgers shortened, at its commit and at this one, and compare the bits"
	@echo "make device-bundle - the wheels a GPU machine without a registry needs (<= 64 MiB), into device-bundle/"
	@echo "make gpu-day - the GPU hour on a lent card (DRY_RUN=1 OUT=dir: the same at tiny sizes on this CPU)"

# What `python -m data_prep.synthetic` imports, installed first: make book generates the data while the rest installs
DATA_PACKAGES := numpy scipy pillow tqdm pyyaml
$(VENV)/.data-ready: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_COMPILE) $$($(PY) -P sgma_core/envcheck.py --pins $(DATA_PACKAGES))
	@touch $@

# What pretraining a backbone imports besides those, installed next: make book pretrains the backbone the training
# chapters start from (make warm) while the rest installs
TRAIN_PACKAGES := torch torchvision filelock
# torch's CUDA build takes about 6 GB in the venv: where it is not there yet and the disk has less than NEED_GB free,
# stop with what to do instead of a pip error half-way through the install
NEED_GB ?= 7
$(VENV)/.train-ready: $(VENV)/.data-ready
	@$(PY) -c "import torch" 2>/dev/null || { free=$$(df -Pk $(VENV) | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	  [ "$$free" -ge $(NEED_GB) ] || { echo "$(VENV) needs about $(NEED_GB) GB free for torch and torchvision and" \
	  "its disk has $$free GB (df -h $(VENV)): free some space, or install them and use SGMA_ENV=active" >&2; exit 1; }; }
	$(PY) -m pip install --quiet $(PIP_COMPILE) $$($(PY) -P sgma_core/envcheck.py --pins $(TRAIN_PACKAGES))
	@touch $@

$(VENV)/.installed: $(VENV)/.train-ready
	$(PY) -m pip install --quiet $(PIP_COMPILE) -e '.[test]'
	@touch $@

venv: $(SETUP)

# The active Python, checked (SGMA_ENV=active, or SGMA_ENV=auto when it passed the check)
active-env:
	@$(PY) -P sgma_core/envcheck.py || { echo "use SGMA_ENV=venv for a .venv of its own, or install what is listed"; exit 1; }

data: $(DATA_SETUP)
	$(PY) -m data_prep.synthetic --out data/SYN

# Real datasets into the first folder of SGMA_DATA_ROOT (./data): python -m data_prep.fetch --help
data-cub: $(SETUP)
	$(PY) -m data_prep.fetch cub

data-awa2: $(SETUP)
	$(PY) -m data_prep.fetch awa2

data-flo: $(SETUP)
	$(PY) -m data_prep.fetch flo

chapters: data $(SETUP)
	$(PY) -m bookkit.chapters --all --jobs $(JOBS) -p profile $(PROFILE) --out book/_executed

html: $(SETUP)
	@test -f book/_executed/04_sgma_training.ipynb || { echo "no executed chapters: run make chapters first"; exit 1; }
	rm -rf _build/html
	$(JUPYTER_BOOK) build . -W --quiet
	@echo "open _build/html/index.html"

# The decoded images and the pretrained backbone the training chapters start from, made as they will ask for them
# (python -m sgma_core.experiment.warm); the chapters read them instead of making them
warm: data $(TRAIN_SETUP)
	$(PY) -m sgma_core.experiment.warm --profile $(PROFILE)

# Chapter 04's first SGMA run, the longest job of make book, started as soon as its backbone is there: the chapter,
# started beside it, reaches the run about 30 s later (its kernel, its cells before the run) and waits on the run's
# lock, then reads it as any stored run
first-run: warm
	$(PY) -m sgma_core.experiment.warm --profile $(PROFILE) --sgma

# make book: the data are generated, then the backbone pretrained, while the rest of the set-up installs. The
# chapters that train start from that backbone; the others need only the data and the set-up, so they run on the
# core make warm leaves free, on one thread (two threads of each on a core shared with the training: 6 s of
# chapter 07 took 113 s) and at a lower priority once the training starts, their kernels too (SGMA_NICENESS;
# none of them takes a profile).
# Beside them, make first-run trains chapter 04's first run. Then the HTML is built.
TRAINING_CHAPTERS := 04_sgma_training 02_baseline
training-chapters: warm $(SETUP)
	$(PY) -m bookkit.chapters $(TRAINING_CHAPTERS) --jobs 2 -p profile $(PROFILE) --out book/_executed

other-chapters: data $(SETUP)
	SGMA_NICENESS=5 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 5 $(PY) -m bookkit.chapters --all --except $(TRAINING_CHAPTERS) --out book/_executed

book:
	@$(MAKE) --no-print-directory -j3 training-chapters other-chapters first-run
	@$(MAKE) --no-print-directory html

# The run times every chapter's opening and the course guide show: each chapter on the smoke and cpu profiles,
# from an empty runs folder (nothing reused), then the papermill exercises (the chapters' runs reused), recorded
# in book/run_times.json. About 20 minutes on 2 cores (the cpu profile trains on one thread).
run-times: data $(SETUP)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; for p in smoke cpu; do \
	  $(PY) -m bookkit.chapters --all -p profile $$p -p runs_dir "$$tmp/runs-$$p" --out "$$tmp/$$p" \
	    --exercises --record-times book/run_times.json || exit 1; done

# One PDF of the whole book for handouts (headless Chromium prints the single-page build of the executed chapters).
pdf: $(SETUP)
	@test -f book/_executed/04_sgma_training.ipynb || { echo "no executed chapters: run make chapters (or make book) first"; exit 1; }
	rm -rf _build/singlehtml
	$(JUPYTER_BOOK) build . --builder singlehtml --quiet
	$(PY) -m bookkit.pdf _build/singlehtml _build/pdf/sgma-book.pdf
	$(PY) -m bookkit.pdf _build/singlehtml _build/pdf/sgma-book-student.pdf --no-solutions

# Headless Chromium for the browser check (Debian/Ubuntu package; needs root, as on CI).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: install it (apt-get install chromium) for the browser check"; fi; }

test: $(SETUP) browser
	$(PY) -m pytest

# The edit-test loop: the unit tests and the sources' pairing, without the chapters, the book build, the browser
# check and the tests marked slow (those stay in make test)
test-fast: $(SETUP)
	$(PY) -m pytest -m "not book and not slow" -q

clean:
	rm -rf _build book/_executed

# Every choice the paper leaves open, decided on validation classes; writes results/ablations-$(PROFILE).json
# (results/ablations-$(PROFILE)-$(ABLATE_DATASET).json for a real dataset),
# which chapter 05 renders. Resumable: stored runs and the ledger are reused (the README says how long it took).
# RETRAIN=1: train again every run of the ledger that another library trained (its row replaced; resumable too).
ABLATE_DATASET ?= SYN
RETRAIN ?=
ablations: data $(SETUP)
	$(PY) -m sgma_core.studies.ablate --profile $(PROFILE) --dataset $(ABLATE_DATASET) --jobs $(JOBS) $(if $(RETRAIN),--retrain)

# More seeds for each gain a decision of the ablation rests on whose paired standard error is above 2 points (a value
# adopted, or an admissible value not adopted where the reference was kept), one seed at a time until it is not
# (or 30 seeds); writes results/power-$(PROFILE).json after each comparison (chapter 05).
# Resumable: its runs go into the ablation's ledger (RETRAIN=1: as for ablations).
power: data $(SETUP)
	$(PY) -m sgma_core.studies.power --profile $(PROFILE) --jobs $(JOBS) $(if $(RETRAIN),--retrain)

# Does SGMA learn where to look? The book's configuration beside controls of where the squares go (image centre,
# random places, the whole image, what trains the attention), 5 paired seeds; writes results/looking-$(PROFILE).json
# after every run, so an interrupted study keeps what it measured; stored runs are reused (RETRAIN=1: as above).
looking: data $(SETUP)
	$(PY) -m sgma_core.studies.looking --profile $(PROFILE) --jobs $(JOBS) $(if $(RETRAIN),--retrain)

# Does this commit's library compute what the studies' runs were trained with? Every setting in the looking and ablation
# ledgers trained shortened at the commit that trained it (a git worktree) and at this one, compared bit for bit;
# writes results/code-check-$(PROFILE).json after each comparison, which chapters 05 and 06 cite; resumable.
code-check: data $(SETUP)
	$(PY) -m sgma_core.studies.code_check --profile $(PROFILE) --jobs $(JOBS)

# The synthetic birds with a real start: the cpu profile with ImageNet EfficientNet-Lite0 as the backbone, 3 seeds;
# writes results/real-start-$(PROFILE).json, which chapter 07 renders (155 minutes of training epochs measured on 2 cores shared with other work; stored runs reused).
real-start: data $(SETUP)
	$(PY) -m sgma_core.studies.real_start --profile $(PROFILE)

# After editing a chapter's .md (or .py), bring its pair up to date.
sync: $(SETUP)
	$(PY) -m jupytext --sync book/[0-9]*.md

# ---- GPU work (see README: "Running the paper's experiments" and "The GPU hour in one command") ----
.PHONY: gpu-check gpu-day device-bundle train-paper
BUNDLE ?= device-bundle
OUT ?= benchmarks/results
DRY_RUN ?=
WORK ?=
# On the card: its own Python (torch and the scientific stack, no Jupyter, no registry); the dry run: this checkout's
GPU_PY ?= $(if $(DRY_RUN),$(PY),$(ACTIVE_PYTHON))

# The wheels papermill and the chapters need on a GPU machine without a registry (<= 64 MiB, CPython 3.10-3.13)
device-bundle: $(SETUP)
	$(PY) benchmarks/device_bundle.py build --out $(BUNDLE)

# The GPU hour: step benchmarks (eager, compiled, CUDA graphs), VGG19's seen-class start, chapters 02 and 04 by
# papermill from it, a CUB-sized epoch; writes $(OUT)/gpu_day-<card>-<date>.{json,md} section by section.
# DRY_RUN=1: the same at tiny sizes on this CPU (the test suite runs it).
gpu-day: $(if $(DRY_RUN),$(SETUP))
	@test -f $(BUNDLE)/MANIFEST.json || { echo "no $(BUNDLE)/MANIFEST.json: run make device-bundle where PyPI is reachable and carry $(BUNDLE)/ to the GPU machine"; exit 1; }
	$(GPU_PY) benchmarks/gpu_day.py --out $(OUT) --bundle $(BUNDLE) $(if $(DRY_RUN),--dry-run) $(if $(WORK),--work $(WORK))
DATASET ?= cub
NGPU ?= 1
DATASET_NAME = $(shell echo $(DATASET) | tr a-z A-Z)

# Benchmark + short paper-profile training on synthetic data; writes benchmarks/results/gpu_check-<card>-<date>.*
gpu-check: $(SETUP)
	$(PY) benchmarks/gpu_check.py --out benchmarks/results

# The paper's settings on real data: ImageNet VGG19 into the torch cache, training on NGPU GPUs
# (torchrun when NGPU > 1), then both training chapters executed with the paper profile.
train-paper: $(SETUP)
	$(PY) -m data_prep.imagenet_weights vgg19
	@if [ "$(NGPU)" -gt 1 ]; then \
	  for model in baseline sgma; do \
	    $(PY) -m torch.distributed.run --standalone --nproc_per_node=$(NGPU) -m sgma_core.train --model $$model \
	      --profile paper --dataset $(DATASET_NAME) || exit 1; \
	  done; fi
	$(PY) -m bookkit.chapters 02_baseline 04_sgma_training -p profile paper -p dataset $(DATASET_NAME) \
	  --out book/_executed
	@echo "executed with the paper profile on $(DATASET_NAME); make html renders them"
