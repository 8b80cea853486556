"""How long `ia2 --help` and `ia2 --version` take to answer, from a fresh process each time (issue 25's target:
under 2 s on an idle machine). Writes benchmarks/cli_startup.json with the median, every repeat, the CPU and the load
average around the runs, so that a busy machine shows as such.

    .venv/bin/python benchmarks/cli_startup.py [--repeats 7] [--out benchmarks/cli_startup.json]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_name() -> str:
    try:
        return next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def time_command(command: list[str], repeats: int) -> list[float]:
    "Wall seconds of `command` in a fresh process, `repeats` times; fails if the command does."
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0: sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes per command (the median is reported)")
    parser.add_argument("--out", type=Path, default=HERE / "cli_startup.json", help="where the results go")
    args = parser.parse_args()
    ia2 = shutil.which("ia2", path=str(Path(sys.executable).parent)) or shutil.which("ia2")
    if ia2 is None: sys.exit("no `ia2` command next to this Python or on PATH: install the package first (make install)")
    load_before = os.getloadavg()
    results = {}
    for name, command in (("help", [ia2, "--help"]), ("version", [ia2, "--version"]), ("python_only", [sys.executable, "-c", "pass"])):
        seconds = time_command(command, args.repeats)
        results[name] = {"median_s": round(statistics.median(seconds), 3), "runs_s": [round(s, 3) for s in seconds]}
    record = {"cli_help_seconds": results["help"]["median_s"], "cli_version_seconds": results["version"]["median_s"],
              "target_s": 2.0, "commands": results, "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n"); os.replace(tmp, args.out)
    for name, r in results.items(): print(f"{name:12s} median {r['median_s']:.2f} s  ({', '.join(f'{s:.2f}' for s in r['runs_s'])})")
    print(f"load average before {load_before[0]:.2f}, after {record['load_average_after'][0]:.2f}; {record['cpu']}, {record['cores']} cores")


if __name__ == "__main__":
    main()
