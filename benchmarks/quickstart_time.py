"""Time `make quickstart` and record it, with the machine's flags, in benchmarks/quickstart.json (read by run.py into
results.json's `quickstart_seconds` and reported in RESULTS.md).

    python benchmarks/quickstart_time.py --fresh-clone                      # as a user: clone HEAD, new venv and model cache
    python benchmarks/quickstart_time.py --fresh-clone --emulate-avx2       # a CPU without native bf16 (see below)
    python benchmarks/quickstart_time.py --fresh-clone -- make quickstart MODEL=smollm2-135m

`--fresh-clone` clones this repository's HEAD next to it (so that `../shared` is beside the clone as in CI), with an
empty `IA2_CACHE_DIR`, so the time includes creating the venv (from pip's cache) and converting the model. HEAD must
be committed: what is timed is what a user clones.

`--emulate-avx2` runs the command as a CPU without AVX-512 and without native bfloat16 would: float32 weights (as
`ia2.models.default_dtype` picks there) and PyTorch's kernels limited to AVX2 (`ATEN_CPU_CAPABILITY=avx2`,
`MKL_ENABLE_INSTRUCTIONS=AVX2`, `ONEDNN_MAX_CPU_ISA=AVX2`). It is an approximation: clock, caches and memory bandwidth
stay this machine's. Each timing is kept under its label; timing again with the same label replaces it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_atomic  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def cpu_flags() -> dict:
    "The CPU model, core count and the flags that decide ia2's default dtype and matmul speed."
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), platform.processor())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)),
            "flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma"}),
            "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"})}


def read_timings(path: Path) -> list[dict]:
    "The timings recorded so far (a file from before labels held one timing: it becomes a list of one)."
    if not path.is_file(): return []
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def fresh_clone() -> Path:
    "A clone of HEAD beside this repository (HEAD must carry no uncommitted change to tracked files)."
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    if dirty.strip():
        sys.exit(f"quickstart_time.py: {REPO} has uncommitted changes:\n{dirty}commit them first: a fresh clone times HEAD")
    folder = Path(tempfile.mkdtemp(prefix="ia2-quickstart-clone-", dir=REPO.parent))
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(folder)], check=True)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "quickstart.json"))
    p.add_argument("--label", help="what this timing is (default: made from the command and the options)")
    p.add_argument("--note", default="", help="what is special about this run (shared cores ...)")
    p.add_argument("--fresh-clone", action="store_true", help="run in a new clone of HEAD with an empty model cache")
    p.add_argument("--emulate-avx2", action="store_true", help="float32 and AVX2-only kernels: a CPU without native bf16")
    p.add_argument("--keep-clone", action="store_true", help="keep the fresh clone afterwards (default: remove it)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to time, after -- (default: make quickstart)")
    args = p.parse_args(argv)
    command = [c for c in args.command if c != "--"] or ["make", "quickstart"]
    env, where = dict(os.environ), REPO
    if args.emulate_avx2:
        env.update(AVX2_ONLY)
        command += ["QUICKSTART_ARGS=--dtype float32"] if command[:2] == ["make", "quickstart"] else []
    if args.fresh_clone:
        where = fresh_clone()
        env["IA2_CACHE_DIR"] = str(where / ".ia2-cache")  # the model is converted again, as on a new machine
    commit = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    load_before, start, started = os.getloadavg(), time.perf_counter(), time.time()
    done = subprocess.run(command, cwd=where, env=env)
    seconds = time.perf_counter() - start
    label = args.label or " ".join(command) + (" (fresh clone)" if args.fresh_clone else "") + (" (AVX2 emulated)" if args.emulate_avx2 else "")
    record = {"label": label, "seconds": round(seconds, 1), "command": " ".join(command), "returncode": done.returncode,
              "commit": commit, "fresh_clone": args.fresh_clone, "machine": cpu_flags(),
              "emulated": ({"dtype": "float32", **AVX2_ONLY} if args.emulate_avx2 else None),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "note": args.note, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    results = sorted((r for r in where.glob("runs/quickstart/*/results.json") if r.stat().st_mtime >= started), key=lambda r: r.stat().st_mtime)
    if results:  # the quickstart's own stage profile, to see where the time went
        saved = json.loads(results[-1].read_text())
        record["ia2_quickstart_seconds"], record["profile"] = saved.get("seconds"), saved.get("profile")
        record["dtype"], record["config"] = saved.get("dtype"), {k: saved["config"].get(k) for k in ("model", "task", "n", "eval_rows", "ood")}
    timings = [t for t in read_timings(Path(args.out)) if t.get("label") != label] + [record]
    write_atomic(Path(args.out), json.dumps(timings, indent=2))
    print(json.dumps(record, indent=2))
    if args.fresh_clone and not args.keep_clone: shutil.rmtree(where, ignore_errors=True)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
