# nasrepro: one entry point. `make test` and every job install what they need first.
#   make setup              create .venv with the pinned versions (done by every target)
#   make test               the test suite (what CI runs)
#   make verify-results     every reported number: static checks + collected runs/ results
#   make bench              training images/s and peak memory of the paper networks on this machine
#   make <job>              a system's job, PROFILE=mini by default (see `make help`)
#   make <job> PROFILE=paper DATA=/path/to/dataset     the published configuration
#   make enas-search DATASET=CIFAR100                 another dataset the job supports

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.nasrepro-installed
# `make setup TF_EXTRA=tf-gpu` installs TensorFlow with CUDA instead of the CPU build.
TF_EXTRA ?= tf
PROFILE ?= mini
DATA ?=
# DATASET=CIFAR100: the job on another dataset it supports (ENAS).
DATASET ?=
RESULTS ?=
ARGS ?=

JOBS := enas-search enas-final enas-macro-search enas-macro-final enas-ptb-search enas-ptb-final \
        nao-search nao-cifar10-final nao-cifar100-final nao-test nao-test-cifar100 \
        nao-ptb-final nao-wt2-final nao-imagenet \
        naows-search naows-final naows-test naows-ptb-search naows-ptb-final \
        naov2-search naov2-cifar naov2-imagenet gaea-imagenet \
        asha-search asha-const asha-retrain

.PHONY: help setup test verify-results bench clean-runs $(JOBS)

help:
	@sed -n 's/^#   //p' Makefile
	@echo "jobs: $(JOBS)"

setup: $(STAMP)

# Refreshed whenever pyproject.toml changes. triton is removed: it crashes the process when it
# is loaded after TensorFlow (both bundle LLVM), and no system here uses torch.compile.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e '.[$(TF_EXTRA),dev]'
	-@$(PIP) uninstall --quiet -y triton 2>/dev/null
	@$(PY) -c "import tensorflow, torch, torchvision, nasrepro" 2>/dev/null || { echo "setup:" \
	  "importing the frameworks failed; see: $(PY) -c 'import tensorflow, torch, torchvision'"; exit 1; }
	@touch $@

test: $(STAMP)
	$(PY) -m pytest -q

# The verifier and the runner print what they do themselves; make's echo would only come first.
verify-results: $(STAMP)
	@$(PY) -m reproduce.verify $(if $(RESULTS),--results $(RESULTS))

bench: $(STAMP)
	@$(PY) -m benchmarks.run

$(JOBS): $(STAMP)
	@$(PY) -m reproduce.run $@ --profile $(PROFILE) $(if $(DATA),--data $(DATA)) \
	  $(if $(DATASET),--dataset $(DATASET)) $(if $(ARGS),-- $(ARGS))

clean-runs:
	rm -rf runs/
