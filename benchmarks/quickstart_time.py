"""Time a quickstart command and record it, with the machine's flags, in benchmarks/quickstart.json (read by run.py
into results.json's `quickstart_seconds`).

    python benchmarks/quickstart_time.py -- make quickstart
    python benchmarks/quickstart_time.py --dtype-forced float32 --note "approximates a CPU without bf16" -- <the quickstart forced to float32>
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_atomic  # noqa: E402


def cpu_flags() -> dict:
    "The CPU model, core count and the flags that decide ia2's default dtype and matmul speed."
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), platform.processor())
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)),
            "flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma"}),
            "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"})}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "quickstart.json"))
    p.add_argument("--note", default="", help="what is special about this run (shared cores ...)")
    p.add_argument("--dtype-forced", help="the dtype the command forces, if it does (e.g. float32 on a bf16 CPU)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to time, after --")
    args = p.parse_args(argv)
    command = [c for c in args.command if c != "--"] or ["make", "quickstart"]
    load_before, start = os.getloadavg(), time.perf_counter()
    done = subprocess.run(command)
    seconds = time.perf_counter() - start
    record = {"seconds": round(seconds, 1), "command": " ".join(command), "returncode": done.returncode,
              "machine": cpu_flags(), "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "dtype_forced": args.dtype_forced, "note": args.note,
              "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    write_atomic(Path(args.out), json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
