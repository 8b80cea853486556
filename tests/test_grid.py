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
    runs: [0]
    eval_rows: 8
    ood: false
    max_epochs: 12
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
    assert len(expected) == 5 and sorted(done) == sorted(expected)  # base, ICL, sft, ia2, ia2→sft
    for name in expected:
        assert done[name] == expected[name], name


def test_accelerate_launch_shards_a_grid_over_processes(tmp_path):
    """`accelerate launch ... ia2 run --shard auto`: each process takes its rank's shard; together they finish the grid."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    grid = _grid(tmp_path / "shared")
    text = grid.read_text().replace("max_epochs: 12", "max_epochs: 2").replace("methods: [base, ICL, sft, ia2, ia2→sft]",
                                                                               "methods: [ICL, sft]")
    grid.write_text(text.replace("n: [4]", "n: [4, 6]"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", "--no_python",
                    IA2, "run", str(grid), "--shard", "auto", "--quiet"], check=True, env=env, timeout=900)
    status = subprocess.run([IA2, "status", str(grid)], capture_output=True, text=True, check=True).stdout
    records = sorted(p.name for p in (grid.parent / "results" / "resume" / "tiny-llama").glob("*.json"))
    assert len(records) == 4, (records, status)  # 2 N x (ICL, sft): every cell once
    assert "FAILED" not in status
