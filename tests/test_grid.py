"""The grid runner survives SIGKILL: a killed and restarted run ends with the same records as an uninterrupted one."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

IA2 = shutil.which("ia2", path=str(Path(sys.executable).parent))
VOLATILE = {"seconds", "finished_at", "environment", "eval_seconds"}  # wall times and versions, nothing computed

GRID = """
    name: resume
    models: [tiny:llama]
    tasks: [sst2]
    n: [4]
    methods: [base, ICL, sft, ia2, ia2→sft]
    learning_rates: [1.0e-2]
    runs: [0, 1]
    eval_rows: 8
    ood: false
    max_epochs: 40
    batch_size: 4
    similarity_rows: 4
    store: store
"""

pytestmark = pytest.mark.skipif(not os.environ.get("IA2_DATA_DIR"), reason="needs IA2_DATA_DIR (real SST-2 rows)")


def _grid(folder: Path) -> Path:
    folder.mkdir()
    (folder / "grid.yaml").write_text(textwrap.dedent(GRID))
    return folder / "grid.yaml"


def _run(grid: Path, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([IA2, "run", str(grid), "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _records(folder: Path) -> dict:
    def strip(value):
        if isinstance(value, dict): return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
        if isinstance(value, list): return [strip(v) for v in value]
        return value
    return {p.name: strip(json.loads(p.read_text())) for p in sorted((folder / "results" / "resume" / "tiny-llama").glob("*.json"))}


def test_sigkill_mid_cell_then_restart_gives_the_same_records(tmp_path):
    clean = _grid(tmp_path / "clean")
    assert _run(clean).wait(timeout=900) == 0

    killed = _grid(tmp_path / "killed")
    records = killed.parent / "results" / "resume" / "tiny-llama"
    process = _run(killed)
    victim, deadline = None, time.time() + 900
    while victim is None and time.time() < deadline and process.poll() is None:
        # the first trained cell whose adapter folder exists but whose record does not is mid-training
        for folder in sorted((records / "adapters").glob("*_sft_*")) if (records / "adapters").exists() else []:
            if any(folder.rglob("checkpoint-*")) and not (records / f"{folder.name}.json").exists():
                victim = folder.name
                process.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    process.wait(timeout=60)
    assert victim is not None, "the runner finished before it could be killed mid-cell"
    assert not (records / f"{victim}.json").exists()  # killed mid-cell: no record, no partial record
    assert not list(records.glob("*.tmp")) and not list(records.glob(".*.tmp"))

    restart = _run(killed)
    assert restart.wait(timeout=900) == 0, restart.stderr.read()
    done, expected = _records(killed.parent), _records(clean.parent)
    assert len(expected) == 9 and sorted(done) == sorted(expected)  # base, ICL x 2 runs, 3 trained methods x 2 runs
    for name in expected:
        assert done[name] == expected[name], name
